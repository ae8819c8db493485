//! What the function's region says of the AWS side of a run: the partition of role ARNs, the region of STS for
//! the member accounts' roles, and the session name of an assumed role.

/// The partition of a region: `aws-cn` for China, `aws-us-gov` for GovCloud, else `aws`.
/// The regions of the `aws` partition that every account has enabled: those AWS launched before 20 March 2019.
/// Every later region is opt-in (af-south-1, ap-east-1, ap-south-2, ap-southeast-3…7, ca-west-1, eu-central-2,
/// eu-south-1/2, il-central-1, me-central-1, me-south-1, mx-central-1, …): SNS does not deliver the
/// us-east-1 notification to a function there, and an account that has not enabled one cannot call STS in it.
/// `template.yaml` refuses a stack outside this list (a test checks that they agree).
pub const DEFAULT_REGIONS: [&str; 17] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
];

/// Where a member account's STS AssumeRole goes: the function's region when every account has it enabled (a
/// default region, or any region of the China and GovCloud partitions, which have no opt-in regions), else
/// us-east-1.
pub(super) fn sts_region(home_region: &str) -> String {
    let default = DEFAULT_REGIONS.contains(&home_region) || partition(home_region) != "aws";
    match default || home_region.is_empty() {
        true => home_region.to_owned(),
        false => "us-east-1".to_owned(),
    }
}

pub(super) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// An STS session name (2-64 of letters, digits and `+=,.@_-`) from the function's name.
pub(super) fn session_name(function: Option<String>) -> String {
    let name: String = function
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))
        .take(64)
        .collect();
    if name.len() >= 2 {
        name
    } else {
        "cloudfront-sg-sync".to_owned()
    }
}
