//! Settings, read once at start into a typed [`Config`]. A bad value is an error naming the variable.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use crate::domain::cidr::IpVersion;
use crate::domain::ip_ranges::Filter;
use crate::domain::organization::AccountEntry;
use crate::error::{Error, Result};
use crate::ports::WafScope;

/// Where AWS publishes the ranges.
pub const DEFAULT_IP_RANGES_URL: &str = "https://ip-ranges.amazonaws.com/ip-ranges.json";

/// The services this tool knows how to select.
pub const SERVICES: [&str; 2] = ["CLOUDFRONT", "CLOUDFRONT_ORIGIN_FACING"];

/// One setting: its environment variable, default and meaning. [`SETTINGS`] is the one list of them: the
/// README's settings table and the CLI's help are tested against it, and [`Config`] reads defaults from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The environment variable (and, lower-case with dashes, the CLI flag where there is one).
    pub variable: &'static str,
    /// The value when it is not set.
    pub default: &'static str,
    /// What it does, in one or two sentences.
    pub meaning: &'static str,
}

const fn setting(variable: &'static str, default: &'static str, meaning: &'static str) -> Setting {
    Setting {
        variable,
        default,
        meaning,
    }
}

/// Every setting.
pub const SETTINGS: &[Setting] = &[
    setting(
        "REGIONS",
        "$AWS_REGION",
        "Comma list of regions whose tagged groups are synced. Default: the function's own region.",
    ),
    setting(
        "ACCOUNTS",
        "",
        "Comma list of the accounts to sync, each through the role `ASSUME_ROLE_NAME` in it: 12-digit account ids, OU ids (`ou-…`: every ACTIVE account under it, nested OUs included), root ids (`r-…`) or `organization` (every ACTIVE account), mixed freely. OUs are read again at the start of every run. Empty: the function's own account, with its own credentials.",
    ),
    setting(
        "EXCLUDE_ACCOUNTS",
        "",
        "Comma list of 12-digit account ids never synced, whatever entry of `ACCOUNTS` holds them (for example the management account).",
    ),
    setting(
        "ORGANIZATION_ROLE_ARN",
        "",
        "The role AWS Organizations is read through, for `ACCOUNTS` entries that are OUs, roots or `organization`: a read-only role in the management account (`templates/organization-role.yaml`). Empty: the function's own credentials (it runs in the management account or a delegated administrator).",
    ),
    setting(
        "NOTIFY_TOPIC_ARN",
        "",
        "The SNS topic told of every run that added or removed anything, or in which anything failed: one message for the whole run, with each target's CIDRs added and removed and every failure (attributes `status`: `changed` or `failed`, and `sync_token`). Empty: no message.",
    ),
    setting(
        "ASSUME_ROLE_NAME",
        "cloudfront-sg-sync",
        "The role assumed in each of `ACCOUNTS` (`arn:<partition>:iam::<account>:role/<name>`).",
    ),
    setting(
        "ASSUME_ROLE_EXTERNAL_ID",
        "",
        "The external id the member roles require, if they require one.",
    ),
    setting(
        "SERVICE",
        "CLOUDFRONT",
        "`CLOUDFRONT`, `CLOUDFRONT_ORIGIN_FACING`, or both (comma list; merged and de-duplicated).",
    ),
    setting(
        "IP_VERSIONS",
        "ipv4,ipv6",
        "Which prefix lists to sync: `ipv4`, `ipv6` or both. Switching one off revokes our rules of it.",
    ),
    setting(
        "AGGREGATE",
        "true",
        "`true`: each target gets the fewest CIDRs that cover exactly the selected ranges of its scope and IP version (adjacent and nested prefixes merged: fewer rules, entries and addresses, the same addresses let in). `false`: every range as AWS publishes it. Switching converges like any change, authorizing first.",
    ),
    setting(
        "MAX_RULES_PER_GROUP",
        "60",
        "Ingress rules a group may hold per IP version (your account's quota), 1-1000. Every rule of the group counts.",
    ),
    setting("DRY_RUN", "false", "`true`: compute and log the plan, write nothing."),
    setting(
        "PREFIX_LIST_GROW",
        "false",
        "`true`: a tagged prefix list too small for its wanted CIDRs and hand-made entries has its MaxEntries raised to exactly what it needs (logged, and `grew_to` in the summary). Off by default because every security group that references a list counts its MaxEntries against the group's rules quota: such a list then fails alone, unchanged, with the size it needs.",
    ),
    setting(
        "WAF_CLOUDFRONT_SCOPE",
        "",
        "`true`: also sync the tagged WAF IP sets of scope `CLOUDFRONT` (they live in us-east-1; a web ACL on a distribution sees viewers, so only for a distribution whose viewers are other CloudFront distributions); `false`: only `REGIONAL` ones, in `REGIONS`. Empty: on when us-east-1 is one of `REGIONS`.",
    ),
    setting(
        "IP_RANGES_URL",
        DEFAULT_IP_RANGES_URL,
        "Where the file is downloaded from: `https://`, or plain `http://` to a loopback address only (tests, a local mirror). Redirects are followed on the same host and never down to `http://`. A URL in the event is only logged, never fetched.",
    ),
    setting(
        "MAX_CONCURRENCY",
        "50",
        "Units of work at the same time over the whole run (every account, region and target), 1-200: one region's reads (its groups, prefix lists and WAF IP sets, at once: each is another API), or one set's, prefix list's or IP set's sync (its calls one after another). EC2 throttles per API, account and region with token buckets of 100-200 calls: a burst of 50 stays inside them.",
    ),
    setting(
        "REPLAN_ATTEMPTS",
        "3",
        "When a write finds a set changed by another writer (a duplicate, a rule already gone, no room left), or the set read back after the writes still differs from the file, re-read the set and re-plan it up to this many times before failing it, 0-10.",
    ),
    setting(
        "EC2_MAX_ATTEMPTS",
        "10",
        "Attempts per EC2 call, with exponential backoff, on throttling and transient errors, 1-50.",
    ),
    setting(
        "DOWNLOAD_TIMEOUT_SECONDS",
        "30",
        "Timeout of one download attempt, 1-600.",
    ),
    setting(
        "DOWNLOAD_ATTEMPTS",
        "3",
        "Download attempts on a 5xx answer or a connection error, 1-10.",
    ),
    setting(
        "DOWNLOAD_MAX_BYTES",
        "33554432",
        "Largest body accepted (the file is about 2.6 MB), at most 67108864 (64 MiB): the function holds the whole body, and at 128 MB of memory a 64 MiB body peaks at about 96 MB (BENCHMARKS.md).",
    ),
    setting(
        "DEADLINE_MARGIN_SECONDS",
        "10",
        "No call starts, and none runs on, with less than this left before the Lambda deadline: the summary and metrics still go out, and the next run finishes.",
    ),
    setting(
        "LAGGING_FILE_WAIT_SECONDS",
        "60",
        "How long to keep fetching a file that is older than its notification (a CDN copy not yet refreshed), within the deadline, 0-840.",
    ),
];

/// The setting of `variable`.
pub fn setting_of(variable: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.variable == variable)
}

/// The README's row for a setting (its test holds the README's table to [`SETTINGS`]).
#[cfg(test)]
fn markdown_row(s: &Setting) -> String {
    let default = match s.default {
        "" => "empty".to_owned(),
        d => format!("`{d}`"),
    };
    format!("| `{}` | {default} | {} |", s.variable, s.meaning)
}

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

fn list_of<T, R: Display>(
    variable: &'static str,
    value: &str,
    item: impl Fn(&str) -> std::result::Result<T, R>,
) -> Result<Vec<T>> {
    let err = |reason: String| Error::Config {
        variable,
        value: value.to_owned(),
        reason,
    };
    let items: Vec<&str> = value.split(',').map(str::trim).collect();
    if items.iter().any(|i| i.is_empty()) {
        return Err(err("an item of the comma list is empty".into()));
    }
    items
        .into_iter()
        .map(|i| item(i).map_err(|r| err(format!("{i:?}: {r}"))))
        .collect()
}

/// A setting's value as given, or its default.
struct Value {
    variable: &'static str,
    text: String,
}

impl Value {
    fn error(self, reason: impl Into<String>) -> Error {
        Error::Config {
            variable: self.variable,
            value: self.text,
            reason: reason.into(),
        }
    }

    fn number<T>(self, range: std::ops::RangeInclusive<T>) -> Result<T>
    where
        T: FromStr + PartialOrd + Display + Copy,
    {
        match self.text.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(self.error(format!(
                "expected a whole number from {} to {}",
                range.start(),
                range.end()
            ))),
        }
    }

    fn boolean(self) -> Result<bool> {
        match self.text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(self.error("expected true or false")),
        }
    }
}

/// Whether `name` has the shape of a region name: two or more lower-case words and a number, joined by '-'
/// (`us-east-1`, `us-gov-west-1`, `ap-southeast-7`). A typo or an availability zone (`us-east-1a`) is refused
/// at start, instead of every call to it being retried until it fails.
fn region_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let (Some(number), words) = (parts.last(), &parts[..parts.len().saturating_sub(1)]) else {
        return false;
    };
    let number_ok = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
    let words_ok = words.len() >= 2
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()));
    number_ok && words_ok
}

/// `REGIONS`, or the function's own region (`own`); sorted, without duplicates.
fn regions(get: &impl Fn(&str) -> Option<String>, own: Option<&String>) -> Result<Vec<String>> {
    let regions = match get("REGIONS") {
        Some(list) => list_of("REGIONS", &list, |r| {
            region_name(r).then(|| r.to_owned()).ok_or(
                "a region name is like us-east-1 or eu-central-2: lower-case words and a number, joined by '-' (not an availability zone like us-east-1a)",
            )
        })?,
        None => {
            let own = own.ok_or_else(|| Error::Config {
                variable: "REGIONS",
                value: String::new(),
                reason: "not set, and neither is AWS_REGION to default to".into(),
            })?;
            vec![own.clone()]
        }
    };
    Ok(regions.into_iter().collect::<BTreeSet<_>>().into_iter().collect())
}

/// `ACCOUNTS`: account ids, OU ids, root ids or `organization`, none twice; sorted (account ids first).
fn accounts(list: Option<String>) -> Result<Vec<AccountEntry>> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let entries = list_of("ACCOUNTS", &list, AccountEntry::parse)?;
    unique("ACCOUNTS", &list, entries)
}

/// `EXCLUDE_ACCOUNTS`: 12-digit account ids, none twice.
fn excluded(list: Option<String>) -> Result<BTreeSet<String>> {
    let Some(list) = list else {
        return Ok(BTreeSet::new());
    };
    let ids = list_of("EXCLUDE_ACCOUNTS", &list, |a| match AccountEntry::parse(a) {
        Ok(AccountEntry::Account(id)) => Ok(id),
        _ => Err("an account id is 12 digits"),
    })?;
    Ok(unique("EXCLUDE_ACCOUNTS", &list, ids)?.into_iter().collect())
}

/// `items`, sorted, or an error naming the first one listed twice.
fn unique<T: Ord + Clone + Display>(variable: &'static str, list: &str, items: Vec<T>) -> Result<Vec<T>> {
    let set: BTreeSet<T> = items.iter().cloned().collect();
    if set.len() == items.len() {
        return Ok(set.into_iter().collect());
    }
    let twice = items.iter().find(|a| items.iter().filter(|b| b == a).count() > 1);
    Err(Error::Config {
        variable,
        value: list.to_owned(),
        reason: format!(
            "{:?} is listed twice",
            twice.map(ToString::to_string).unwrap_or_default()
        ),
    })
}

/// `ORGANIZATION_ROLE_ARN`: an IAM role's ARN.
fn organization_role(value: Option<String>) -> Result<Option<String>> {
    let Some(arn) = value else {
        return Ok(None);
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = matches!(parts.as_slice(), ["arn", partition, "iam", "", account, role]
        if partition.starts_with("aws")
            && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
            && role.strip_prefix("role/").is_some_and(|name| !name.is_empty()));
    match ok {
        true => Ok(Some(arn)),
        false => Err(Error::Config {
            variable: "ORGANIZATION_ROLE_ARN",
            value: arn,
            reason: "expected a role's ARN: arn:<partition>:iam::<management account>:role/<name>".into(),
        }),
    }
}

/// `NOTIFY_TOPIC_ARN`: an SNS topic's ARN.
fn topic(value: Option<String>) -> Result<Option<String>> {
    let Some(arn) = value else {
        return Ok(None);
    };
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = matches!(parts.as_slice(), ["arn", partition, "sns", region, account, name]
        if partition.starts_with("aws")
            && !region.is_empty()
            && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
            && !name.is_empty());
    match ok {
        true => Ok(Some(arn)),
        false => Err(Error::Config {
            variable: "NOTIFY_TOPIC_ARN",
            value: arn,
            reason: "expected an SNS topic's ARN: arn:<partition>:sns:<region>:<account>:<name>".into(),
        }),
    }
}

/// `ASSUME_ROLE_NAME`: an IAM role name (letters, digits and `+=,.@_-`, at most 64).
fn role_name(value: Value) -> Result<String> {
    let ok = (1..=64).contains(&value.text.len())
        && value
            .text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        Ok(value.text)
    } else {
        Err(value.error("expected an IAM role name: letters, digits and +=,.@_- (at most 64)"))
    }
}

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
fn sts_region(home_region: &str) -> String {
    let default = DEFAULT_REGIONS.contains(&home_region) || partition(home_region) != "aws";
    match default || home_region.is_empty() {
        true => home_region.to_owned(),
        false => "us-east-1".to_owned(),
    }
}

fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// An STS session name (2-64 of letters, digits and `+=,.@_-`) from the function's name.
fn session_name(function: Option<String>) -> String {
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

/// `SERVICE` and `IP_VERSIONS`.
fn filter(value: &impl Fn(&'static str) -> Value) -> Result<Filter> {
    let services = list_of("SERVICE", &value("SERVICE").text, |s| {
        let s = s.to_ascii_uppercase();
        SERVICES
            .contains(&s.as_str())
            .then_some(s)
            .ok_or("expected CLOUDFRONT or CLOUDFRONT_ORIGIN_FACING")
    })?;
    let versions = list_of("IP_VERSIONS", &value("IP_VERSIONS").text, |v| {
        match v.to_ascii_lowercase().as_str() {
            "ipv4" => Ok(IpVersion::Ipv4),
            "ipv6" => Ok(IpVersion::Ipv6),
            _ => Err("expected ipv4, ipv6 or both"),
        }
    })?;
    Ok(Filter {
        services: services.into_iter().collect(),
        versions: versions.into_iter().collect(),
        aggregate: value("AGGREGATE").boolean()?,
    })
}

/// The most `DOWNLOAD_MAX_BYTES` may be: the function holds the whole body, about 29 MB beside it, and it must fit
/// in the smallest memory the template allows (128 MB). Measured: a 64 MiB body peaks at 96 MB, 100 MiB at 133 MB.
pub const DOWNLOAD_MAX_BYTES_LIMIT: u64 = 64 << 20;

/// `IP_RANGES_URL`: https, or plain http to a loopback address only (tests, a local mirror): over plain http
/// anyone on the path could serve any file, and its MD5 to match.
fn url(value: Value) -> Result<String> {
    if value.text.starts_with("https://") {
        return Ok(value.text);
    }
    let Some(rest) = value.text.strip_prefix("http://") else {
        return Err(value.error("expected an https:// URL"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback()) {
        return Ok(value.text);
    }
    Err(value.error(
        "plain http:// is allowed only to a loopback address (127.0.0.0/8, [::1], localhost: tests, a local mirror); anyone on the way could serve any ranges: use https://",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let template = include_str!("../template.yaml");
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
    fn the_readme_parameter_table_has_every_parameter_of_the_template() {
        let template = include_str!("../template.yaml");
        let readme = include_str!("../README.md");
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
                "template parameter {name} is not in the README's table"
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
    fn the_readme_settings_table_is_the_settings_list() {
        let readme = include_str!("../README.md");
        let header = "| variable | default | meaning |";
        let start = readme.find(header).expect("the README has a settings table");
        let rows: Vec<&str> = readme[start..]
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .collect();
        let expected: Vec<String> = SETTINGS.iter().map(markdown_row).collect();
        assert_eq!(
            rows,
            expected,
            "README settings table, expected:\n{}",
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
