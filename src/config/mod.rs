//! Settings, read once at start into a typed [`Config`]. A bad value is an error naming the variable.
//!
//! - `settings.rs`: [`SETTINGS`], the one list of them (variable, default, meaning).
//! - `values.rs`: each value read and checked.
//! - `aws.rs`: what the function's region says of the AWS side (partition, the STS region, the session name).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::domain::ip_ranges::Filter;
use crate::domain::organization::AccountEntry;
use crate::error::Result;
use crate::ports::WafScope;

/// Where AWS publishes the ranges.
pub const DEFAULT_IP_RANGES_URL: &str = "https://ip-ranges.amazonaws.com/ip-ranges.json";

/// The services this tool knows how to select.
pub const SERVICES: [&str; 2] = ["CLOUDFRONT", "CLOUDFRONT_ORIGIN_FACING"];
mod aws;
mod settings;
mod values;

pub use aws::DEFAULT_REGIONS;
pub use settings::{SETTINGS, Setting, setting_of};
pub use values::DOWNLOAD_MAX_BYTES_LIMIT;

use aws::{partition, session_name, sts_region};
use values::{Value, accounts, excluded, filter, organization_role, regions, role_name, topic, url};

/// The typed settings of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `REGIONS`, sorted, without duplicates.
    pub regions: Vec<String>,
    /// `ACCOUNTS`, sorted (account ids first); empty: the function's own account.
    pub accounts: Vec<AccountEntry>,
    /// `EXCLUDE_ACCOUNTS`: never synced, whatever entry of `ACCOUNTS` holds them.
    pub exclude_accounts: BTreeSet<String>,
    /// `ORGANIZATION_ROLE_ARN`: the role AWS Organizations is read through; `None`: the function's own
    /// credentials.
    pub organization_role_arn: Option<String>,
    /// `NOTIFY_TOPIC_ARN`: the SNS topic a run that changed or failed anything is told to; `None`: no message.
    pub notify_topic_arn: Option<String>,
    /// `ASSUME_ROLE_NAME`.
    pub assume_role_name: String,
    /// `ASSUME_ROLE_EXTERNAL_ID`, if set.
    pub assume_role_external_id: Option<String>,
    /// The function's own region (`AWS_REGION`, else the first of `REGIONS`).
    pub home_region: String,
    /// Where STS is called for a member account's role: the home region if every account has it enabled (see
    /// [`DEFAULT_REGIONS`]), else us-east-1.
    pub sts_region: String,
    /// The partition of the function's region (`aws`, `aws-cn`, `aws-us-gov`), for role ARNs.
    pub partition: &'static str,
    /// The session name of an assumed role: the function's name (`AWS_LAMBDA_FUNCTION_NAME`), else
    /// `cloudfront-sg-sync`, so CloudTrail in the member account says who acted.
    pub session_name: String,
    /// `SERVICE` and `IP_VERSIONS`.
    pub filter: Filter,
    /// `MAX_RULES_PER_GROUP`.
    pub max_rules_per_group: usize,
    /// `DRY_RUN`.
    pub dry_run: bool,
    /// `PREFIX_LIST_GROW`.
    pub prefix_list_grow: bool,
    /// `WAF_CLOUDFRONT_SCOPE`, resolved (empty: us-east-1 is one of `REGIONS`).
    pub waf_cloudfront_scope: bool,
    /// `IP_RANGES_URL`.
    pub ip_ranges_url: String,
    /// `MAX_CONCURRENCY`.
    pub max_concurrency: usize,
    /// `REPLAN_ATTEMPTS`.
    pub replan_attempts: usize,
    /// `EC2_MAX_ATTEMPTS`.
    pub ec2_max_attempts: u32,
    /// `DOWNLOAD_TIMEOUT_SECONDS`.
    pub download_timeout: Duration,
    /// `DOWNLOAD_ATTEMPTS`.
    pub download_attempts: u32,
    /// `DOWNLOAD_MAX_BYTES`.
    pub download_max_bytes: u64,
    /// `DEADLINE_MARGIN_SECONDS`.
    pub deadline_margin: Duration,
    /// How long to keep fetching a file that is older than its notification before failing.
    pub lagging_file_wait: Duration,
    /// `ORIGIN_SECRET_PROPAGATION_SECONDS`: the rotation's wait between the origins accepting a new value and any
    /// distribution sending it.
    pub origin_secret_propagation: Duration,
}

impl Config {
    /// Read the settings from the process environment.
    pub fn from_env() -> Result<Config> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read the settings from `(variable, value)` pairs, as if they were the environment (tests, benchmarks).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<Config> {
        Config::from_lookup(|name| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    /// Read the settings from `lookup` (the environment, or the CLI's flags over it).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let value = |name: &'static str| Value {
            variable: name,
            text: get(name).unwrap_or_else(|| setting_of(name).map_or("", |s| s.default).to_owned()),
        };
        let own_region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION"));
        let regions = regions(&get, own_region.as_ref())?;
        let home_region = own_region.or_else(|| regions.first().cloned()).unwrap_or_default();
        let waf_cloudfront_scope = match get("WAF_CLOUDFRONT_SCOPE") {
            None => regions.iter().any(|r| r == WafScope::CLOUDFRONT_REGION),
            Some(_) => value("WAF_CLOUDFRONT_SCOPE").boolean()?,
        };
        Ok(Config {
            partition: partition(&home_region),
            sts_region: sts_region(&home_region),
            home_region,
            session_name: session_name(get("AWS_LAMBDA_FUNCTION_NAME")),
            regions,
            accounts: accounts(get("ACCOUNTS"))?,
            exclude_accounts: excluded(get("EXCLUDE_ACCOUNTS"))?,
            organization_role_arn: organization_role(get("ORGANIZATION_ROLE_ARN"))?,
            notify_topic_arn: topic(get("NOTIFY_TOPIC_ARN"))?,
            assume_role_name: role_name(value("ASSUME_ROLE_NAME"))?,
            assume_role_external_id: get("ASSUME_ROLE_EXTERNAL_ID"),
            filter: filter(&value)?,
            max_rules_per_group: value("MAX_RULES_PER_GROUP").number(1..=1000)?,
            dry_run: value("DRY_RUN").boolean()?,
            prefix_list_grow: value("PREFIX_LIST_GROW").boolean()?,
            waf_cloudfront_scope,
            ip_ranges_url: url(value("IP_RANGES_URL"))?,
            max_concurrency: value("MAX_CONCURRENCY").number(1..=200)?,
            replan_attempts: value("REPLAN_ATTEMPTS").number(0..=10)?,
            ec2_max_attempts: value("EC2_MAX_ATTEMPTS").number(1..=50)?,
            download_timeout: Duration::from_secs(value("DOWNLOAD_TIMEOUT_SECONDS").number(1..=600)?),
            download_attempts: value("DOWNLOAD_ATTEMPTS").number(1..=10)?,
            download_max_bytes: value("DOWNLOAD_MAX_BYTES").number(1..=DOWNLOAD_MAX_BYTES_LIMIT)?,
            deadline_margin: Duration::from_secs(value("DEADLINE_MARGIN_SECONDS").number(0..=900)?),
            lagging_file_wait: Duration::from_secs(value("LAGGING_FILE_WAIT_SECONDS").number(0..=840)?),
            origin_secret_propagation: Duration::from_secs(value("ORIGIN_SECRET_PROPAGATION_SECONDS").number(0..=600)?),
        })
    }

    /// Where WAF IP sets are read, each with its scopes: every region of `REGIONS` (`REGIONAL`), and
    /// us-east-1 (`CLOUDFRONT`) when that scope is synced.
    pub fn ip_set_scopes(&self) -> Vec<(String, WafScope)> {
        let regional = self.regions.iter().map(|r| (r.clone(), WafScope::Regional));
        let cloudfront = self
            .waf_cloudfront_scope
            .then(|| (WafScope::CLOUDFRONT_REGION.to_owned(), WafScope::Cloudfront));
        regional.chain(cloudfront).collect()
    }

    /// The regions a WAF client is needed in: those of [`Config::ip_set_scopes`].
    pub fn ip_set_regions(&self) -> BTreeSet<String> {
        self.ip_set_scopes().into_iter().map(|(region, _)| region).collect()
    }

    /// The role assumed in `account`.
    pub fn role_arn(&self, account: &str) -> String {
        format!("arn:{}:iam::{account}:role/{}", self.partition, self.assume_role_name)
    }

    /// The services, as one string for logs and messages.
    pub fn service_names(&self) -> String {
        self.filter.services.iter().cloned().collect::<Vec<_>>().join(",")
    }

    /// The IP versions, as one string for logs and messages.
    pub fn version_names(&self) -> String {
        self.filter
            .versions
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::aws::*;
    use super::settings::*;
    use super::values::*;
    use super::*;
    use crate::domain::cidr::IpVersion;
    use crate::error::Error;

    fn config(vars: &[(&str, &str)]) -> Result<Config> {
        Config::from_pairs(vars)
    }

    #[test]
    fn defaults_follow_the_function_region() {
        let c = config(&[("AWS_REGION", "eu-west-1")]).unwrap();
        assert_eq!(c.regions, ["eu-west-1"]);
        assert_eq!(c.filter.services, BTreeSet::from(["CLOUDFRONT".to_string()]));
        assert_eq!(c.filter.versions, BTreeSet::from(IpVersion::ALL));
        assert_eq!(c.max_rules_per_group, 60);
        assert!(!c.dry_run);
        assert_eq!(c.ip_ranges_url, DEFAULT_IP_RANGES_URL);
        assert!(c.accounts.is_empty(), "the function's own account");
        assert_eq!(
            c.role_arn("111111111111"),
            "arn:aws:iam::111111111111:role/cloudfront-sg-sync"
        );
        assert_eq!(c.assume_role_external_id, None);
        assert_eq!(
            (c.home_region.as_str(), c.session_name.as_str()),
            ("eu-west-1", "cloudfront-sg-sync")
        );
    }

    #[test]
    fn the_templates_region_rule_allows_exactly_the_default_regions() {
        let template = include_str!("../../template.yaml");
        let rule = template
            .split("DefaultRegionOnly:")
            .nth(1)
            .and_then(|r| r.split("- [").nth(1))
            .and_then(|r| r.split(']').next())
            .unwrap();
        let listed: BTreeSet<&str> = rule.split(',').map(str::trim).collect();
        assert_eq!(listed, BTreeSet::from(DEFAULT_REGIONS));
    }

    #[test]
    fn the_settings_chapter_has_every_parameter_of_the_template() {
        let template = include_str!("../../template.yaml");
        let readme = include_str!("../../docs/settings.md");
        let parameters = template.split("\nParameters:\n").nth(1).unwrap();
        let parameters = parameters.split("\nRules:\n").next().unwrap();
        let names: Vec<&str> = parameters
            .lines()
            .filter_map(|l| l.strip_prefix("  ")?.strip_suffix(':'))
            .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric()))
            .collect();
        assert!(names.len() > 10, "{names:?}");
        for name in names {
            assert!(
                readme.contains(&format!("| `{name}` |")),
                "template parameter {name} is not in docs/settings.md's table"
            );
        }
    }

    #[test]
    fn regions_must_look_like_region_names() {
        for good in [
            "us-east-1",
            "us-gov-west-1",
            "ap-southeast-7",
            "cn-north-1",
            "eusc-de-east-1",
        ] {
            assert!(region_name(good), "{good}");
        }
        for bad in [
            "us-east-1a",
            "useast1",
            "us-east",
            "us--east-1",
            "US-EAST-1",
            "east-1",
            "us-east-1-",
            "",
        ] {
            assert!(!region_name(bad), "{bad}");
        }
        let err = Config::from_pairs(&[("AWS_REGION", "us-east-1"), ("REGIONS", "us-east-1,eu-west-1a")]).unwrap_err();
        assert!(
            err.to_string().contains("REGIONS") && err.to_string().contains("availability zone"),
            "{err}"
        );
    }

    #[test]
    fn member_roles_are_assumed_in_a_region_every_account_has() {
        for (home, sts) in [
            ("eu-west-1", "eu-west-1"),
            ("ap-east-1", "us-east-1"),
            ("me-central-1", "us-east-1"),
            ("cn-north-1", "cn-north-1"),
            ("us-gov-west-1", "us-gov-west-1"),
        ] {
            let c = Config::from_pairs(&[("AWS_REGION", home)]).unwrap();
            assert_eq!((c.home_region.as_str(), c.sts_region.as_str()), (home, sts));
        }
    }

    #[test]
    fn the_session_name_is_the_functions_name() {
        let c = config(&[
            ("AWS_REGION", "us-east-1"),
            ("AWS_LAMBDA_FUNCTION_NAME", "stack-SyncFunction-1AB"),
        ])
        .unwrap();
        assert_eq!(c.session_name, "stack-SyncFunction-1AB");
    }

    #[test]
    fn role_arns_are_in_the_partition_of_the_functions_region() {
        let china = config(&[("AWS_REGION", "cn-north-1")]).unwrap();
        assert_eq!(
            china.role_arn("111111111111"),
            "arn:aws-cn:iam::111111111111:role/cloudfront-sg-sync"
        );
        let gov = config(&[("AWS_REGION", "us-gov-west-1"), ("REGIONS", "us-gov-east-1")]).unwrap();
        assert_eq!(gov.partition, "aws-us-gov");
    }

    #[test]
    fn every_setting_is_read() {
        let c = config(&[
            ("REGIONS", "us-west-2, eu-west-1,us-west-2"),
            ("SERVICE", "cloudfront_origin_facing"),
            ("IP_VERSIONS", "ipv6"),
            ("MAX_RULES_PER_GROUP", "200"),
            ("DRY_RUN", "TRUE"),
            ("IP_RANGES_URL", "http://127.0.0.1:1/x.json"),
            ("MAX_CONCURRENCY", "2"),
            ("EC2_MAX_ATTEMPTS", "20"),
            ("DOWNLOAD_TIMEOUT_SECONDS", "5"),
            ("DOWNLOAD_ATTEMPTS", "1"),
            ("DOWNLOAD_MAX_BYTES", "1000"),
            ("DEADLINE_MARGIN_SECONDS", "0"),
            ("LAGGING_FILE_WAIT_SECONDS", "7"),
            ("REPLAN_ATTEMPTS", "0"),
            ("ACCOUNTS", "222222222222, 111111111111"),
            ("ASSUME_ROLE_NAME", "org-sync@ops"),
            ("ASSUME_ROLE_EXTERNAL_ID", "ext-1"),
        ])
        .unwrap();
        let ids = |ids: &[&str]| ids.iter().map(|a| AccountEntry::parse(a).unwrap()).collect::<Vec<_>>();
        assert_eq!(c.accounts, ids(&["111111111111", "222222222222"]));
        assert_eq!(
            c.role_arn("111111111111"),
            "arn:aws:iam::111111111111:role/org-sync@ops"
        );
        assert_eq!(c.assume_role_external_id.as_deref(), Some("ext-1"));
        assert_eq!(c.regions, ["eu-west-1", "us-west-2"]);
        assert_eq!(c.service_names(), "CLOUDFRONT_ORIGIN_FACING");
        assert_eq!(c.version_names(), "ipv6");
        assert_eq!(
            (c.max_rules_per_group, c.dry_run, c.max_concurrency, c.ec2_max_attempts),
            (200, true, 2, 20)
        );
        assert_eq!(c.ip_ranges_url, "http://127.0.0.1:1/x.json");
        assert_eq!(
            (c.download_timeout, c.download_attempts, c.download_max_bytes),
            (Duration::from_secs(5), 1, 1000)
        );
        assert_eq!(c.deadline_margin, Duration::ZERO);
        assert_eq!(c.lagging_file_wait, Duration::from_secs(7));
        assert_eq!(c.replan_attempts, 0);
    }

    #[test]
    fn plain_http_is_accepted_only_to_a_loopback_address() {
        for url in [
            "http://127.0.0.1:8000/ip-ranges.json",
            "http://127.1.2.3/x",
            "http://localhost:9/x",
            "http://[::1]:8080/x",
            "https://mirror.example.com/ip-ranges.json",
        ] {
            let c = config(&[("AWS_REGION", "us-east-1"), ("IP_RANGES_URL", url)]).unwrap();
            assert_eq!(c.ip_ranges_url, url);
        }
        let err = config(&[
            ("AWS_REGION", "us-east-1"),
            ("IP_RANGES_URL", "http://mirror.example.com/ip-ranges.json"),
        ]);
        let err = err.unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("invalid setting IP_RANGES_URL=\"http://mirror.example.com/ip-ranges.json\"")
                && text.contains("only to a loopback address")
                && text.contains("use https://"),
            "{text}"
        );
    }

    #[test]
    fn a_bad_value_is_an_error_naming_the_variable() {
        let cases = [
            ("MAX_RULES_PER_GROUP", "0"),
            ("MAX_RULES_PER_GROUP", "sixty"),
            ("MAX_RULES_PER_GROUP", "1001"),
            ("DRY_RUN", "maybe"),
            ("SERVICE", "AMAZON"),
            ("SERVICE", "CLOUDFRONT,"),
            ("IP_VERSIONS", "ipv5"),
            ("REGIONS", "US EAST"),
            ("IP_RANGES_URL", "ftp://example.com/x"),
            ("IP_RANGES_URL", "http://ip-ranges.amazonaws.com/ip-ranges.json"),
            ("IP_RANGES_URL", "http://127.0.0.1.example.com/x"),
            ("IP_RANGES_URL", "http://10.0.0.1/x"),
            ("IP_RANGES_URL", "http://[::2]/x"),
            ("IP_RANGES_URL", "http://127.0.0.1@example.com/x"),
            ("MAX_CONCURRENCY", "0"),
            ("EC2_MAX_ATTEMPTS", "-3"),
            ("DOWNLOAD_MAX_BYTES", "0"),
            ("DOWNLOAD_MAX_BYTES", "67108865"),
            ("LAGGING_FILE_WAIT_SECONDS", "841"),
            ("REPLAN_ATTEMPTS", "11"),
            ("ACCOUNTS", "12345"),
            ("ACCOUNTS", "11111111111a"),
            ("ACCOUNTS", "111111111111,222222222222,111111111111"),
            ("ACCOUNTS", "111111111111,"),
            ("ACCOUNTS", "ou-nope"),
            ("ACCOUNTS", "ou-ab12-cd34ef56,ou-ab12-cd34ef56"),
            ("EXCLUDE_ACCOUNTS", "ou-ab12-cd34ef56"),
            ("EXCLUDE_ACCOUNTS", "12345"),
            ("ORGANIZATION_ROLE_ARN", "org-reader"),
            ("ORGANIZATION_ROLE_ARN", "arn:aws:iam::12345:role/reader"),
            ("NOTIFY_TOPIC_ARN", "my-topic"),
            ("NOTIFY_TOPIC_ARN", "arn:aws:sns:us-east-1:12345:changes"),
            ("ASSUME_ROLE_NAME", "no spaces"),
        ];
        for (variable, value) in cases {
            let err = config(&[("AWS_REGION", "us-east-1"), (variable, value)]).unwrap_err();
            match &err {
                Error::Config {
                    variable: v,
                    value: got,
                    ..
                } => {
                    assert_eq!((*v, got.as_str()), (variable, value), "{err}");
                }
                other => panic!("{other:?}"),
            }
            assert!(err.to_string().contains(variable), "{err}");
        }
    }

    #[test]
    fn no_region_at_all_is_an_error_naming_regions() {
        let err = config(&[]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config {
                    variable: "REGIONS",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn the_settings_chapters_table_is_the_settings_list() {
        let readme = include_str!("../../docs/settings.md");
        let header = "| variable | default | meaning |";
        let start = readme.find(header).expect("docs/settings.md has a settings table");
        let rows: Vec<&str> = readme[start..]
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .collect();
        let expected: Vec<String> = SETTINGS.iter().map(markdown_row).collect();
        assert_eq!(
            rows,
            expected,
            "docs/settings.md settings table, expected:\n{}",
            expected.join("\n")
        );
    }

    #[test]
    fn every_default_in_the_list_is_a_valid_value() {
        let c = config(&[("AWS_REGION", "us-east-1")]).unwrap();
        assert_eq!(
            c.max_concurrency.to_string(),
            setting_of("MAX_CONCURRENCY").unwrap().default
        );
        assert_eq!(
            c.lagging_file_wait.as_secs().to_string(),
            setting_of("LAGGING_FILE_WAIT_SECONDS").unwrap().default
        );
        assert_eq!(c.download_max_bytes, 32 << 20);
    }

    #[test]
    fn the_settings_table_names_every_variable_read() {
        let names: BTreeSet<&str> = SETTINGS.iter().map(|s| s.variable).collect();
        let read = std::cell::RefCell::new(BTreeSet::new());
        let _ = Config::from_lookup(|k| {
            read.borrow_mut().insert(k.to_owned());
            (k == "AWS_REGION").then(|| "us-east-1".to_owned())
        });
        let read: BTreeSet<String> = read.into_inner();
        let read: BTreeSet<&str> = read
            .iter()
            .map(String::as_str)
            .filter(|k| !k.starts_with("AWS_"))
            .collect();
        assert_eq!(read, names);
    }
}
