//! Settings, read once at start into a typed [`Config`]. A bad value is an error naming the variable.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use crate::cidr::IpVersion;
use crate::error::{Error, Result};
use crate::ip_ranges::Filter;

/// Where AWS publishes the ranges.
pub const DEFAULT_IP_RANGES_URL: &str = "https://ip-ranges.amazonaws.com/ip-ranges.json";

/// The services this tool knows how to select.
pub const SERVICES: [&str; 2] = ["CLOUDFRONT", "CLOUDFRONT_ORIGIN_FACING"];

/// Every setting, with its environment variable, default and meaning (the README's table is this one).
pub const SETTINGS: &[(&str, &str, &str)] = &[
    (
        "REGIONS",
        "the function's own region (AWS_REGION)",
        "Comma list of regions whose tagged groups are synced.",
    ),
    (
        "SERVICE",
        "CLOUDFRONT",
        "CLOUDFRONT, CLOUDFRONT_ORIGIN_FACING, or both (comma list; merged and de-duplicated).",
    ),
    (
        "IP_VERSIONS",
        "ipv4,ipv6",
        "Which prefix lists to sync: ipv4, ipv6 or both.",
    ),
    (
        "MAX_RULES_PER_GROUP",
        "60",
        "Ingress rules a group may hold per IP version (your account's quota), 1-1000.",
    ),
    ("DRY_RUN", "false", "true: compute and log the plan, write nothing."),
    (
        "IP_RANGES_URL",
        DEFAULT_IP_RANGES_URL,
        "Where ip-ranges.json is downloaded from (never from the event).",
    ),
    (
        "MAX_CONCURRENCY",
        "50",
        "Sets synced at the same time in each region (regions run in parallel), 1-200; EC2 allows bursts of 100-200 calls per API.",
    ),
    (
        "EC2_MAX_ATTEMPTS",
        "10",
        "Attempts per EC2 call, with backoff, on throttling and transient errors, 1-50.",
    ),
    (
        "DOWNLOAD_TIMEOUT_SECONDS",
        "30",
        "Timeout of one download attempt, 1-600.",
    ),
    (
        "DOWNLOAD_ATTEMPTS",
        "3",
        "Attempts on a 5xx answer or a connection error, 1-10.",
    ),
    (
        "DOWNLOAD_MAX_BYTES",
        "33554432",
        "Largest body accepted (32 MiB; the file is about 2.6 MB).",
    ),
    (
        "DEADLINE_MARGIN_SECONDS",
        "10",
        "No call starts, and none runs on, with less than this left before the Lambda deadline.",
    ),
    (
        "LAGGING_FILE_WAIT_SECONDS",
        "60",
        "How long to keep fetching a file older than the notification (the CDN lags), within the deadline, 0-840.",
    ),
];

/// The typed settings of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub regions: Vec<String>,
    pub filter: Filter,
    pub max_rules_per_group: usize,
    pub dry_run: bool,
    pub ip_ranges_url: String,
    pub max_concurrency: usize,
    pub ec2_max_attempts: u32,
    pub download_timeout: Duration,
    pub download_attempts: u32,
    pub download_max_bytes: u64,
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

        let regions = match get("REGIONS") {
            Some(list) => list_of("REGIONS", &list, |r| {
                let ok = r
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                ok.then(|| r.to_owned())
                    .ok_or("a region name is lower-case letters, digits and '-'")
            })?,
            None => {
                let own = get("AWS_REGION")
                    .or_else(|| get("AWS_DEFAULT_REGION"))
                    .ok_or_else(|| Error::Config {
                        variable: "REGIONS",
                        value: String::new(),
                        reason: "not set, and neither is AWS_REGION to default to".into(),
                    })?;
                vec![own]
            }
        };
        let regions: Vec<String> = regions.into_iter().collect::<BTreeSet<_>>().into_iter().collect();

        let services = list_of("SERVICE", &get("SERVICE").unwrap_or_else(|| SERVICES[0].into()), |s| {
            let s = s.to_ascii_uppercase();
            SERVICES
                .contains(&s.as_str())
                .then_some(s)
                .ok_or("expected CLOUDFRONT or CLOUDFRONT_ORIGIN_FACING")
        })?;
        let versions = list_of(
            "IP_VERSIONS",
            &get("IP_VERSIONS").unwrap_or_else(|| "ipv4,ipv6".into()),
            |v| match v.to_ascii_lowercase().as_str() {
                "ipv4" => Ok(IpVersion::Ipv4),
                "ipv6" => Ok(IpVersion::Ipv6),
                _ => Err("expected ipv4, ipv6 or both"),
            },
        )?;

        let ip_ranges_url = get("IP_RANGES_URL").unwrap_or_else(|| DEFAULT_IP_RANGES_URL.into());
        if !(ip_ranges_url.starts_with("https://") || ip_ranges_url.starts_with("http://")) {
            return Err(Error::Config {
                variable: "IP_RANGES_URL",
                value: ip_ranges_url,
                reason: "expected an http:// or https:// URL".into(),
            });
        }

        Ok(Config {
            regions,
            filter: Filter {
                services: services.into_iter().collect(),
                versions: versions.into_iter().collect(),
            },
            max_rules_per_group: number(&get, "MAX_RULES_PER_GROUP", 60, 1..=1000)?,
            dry_run: boolean(&get, "DRY_RUN", false)?,
            ip_ranges_url,
            max_concurrency: number(&get, "MAX_CONCURRENCY", 50, 1..=200)?,
            ec2_max_attempts: number(&get, "EC2_MAX_ATTEMPTS", 10, 1..=50)?,
            download_timeout: Duration::from_secs(number(&get, "DOWNLOAD_TIMEOUT_SECONDS", 30, 1..=600)?),
            download_attempts: number(&get, "DOWNLOAD_ATTEMPTS", 3, 1..=10)?,
            download_max_bytes: number(&get, "DOWNLOAD_MAX_BYTES", 32 << 20, 1..=(1 << 30))?,
            deadline_margin: Duration::from_secs(number(&get, "DEADLINE_MARGIN_SECONDS", 10, 0..=900)?),
            lagging_file_wait: Duration::from_secs(number(&get, "LAGGING_FILE_WAIT_SECONDS", 60, 0..=840)?),
        })
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

fn list_of<T>(
    variable: &'static str,
    value: &str,
    item: impl Fn(&str) -> std::result::Result<T, &'static str>,
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

fn number<T>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T>
where
    T: FromStr + PartialOrd + Display + Copy,
{
    let Some(value) = get(variable) else {
        return Ok(default);
    };
    match value.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(Error::Config {
            variable,
            value,
            reason: format!("expected a whole number from {} to {}", range.start(), range.end()),
        }),
    }
}

fn boolean(get: &impl Fn(&str) -> Option<String>, variable: &'static str, default: bool) -> Result<bool> {
    let Some(value) = get(variable) else {
        return Ok(default);
    };
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(Error::Config {
            variable,
            value,
            reason: "expected true or false".into(),
        }),
    }
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
        ])
        .unwrap();
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
            ("MAX_CONCURRENCY", "0"),
            ("EC2_MAX_ATTEMPTS", "-3"),
            ("DOWNLOAD_MAX_BYTES", "0"),
            ("LAGGING_FILE_WAIT_SECONDS", "841"),
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
    fn the_settings_table_names_every_variable_read() {
        let names: BTreeSet<&str> = SETTINGS.iter().map(|(n, _, _)| *n).collect();
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
