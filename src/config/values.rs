//! Each setting's value read and checked: a bad one is an error naming its variable.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::str::FromStr;

use super::SERVICES;
use crate::domain::cidr::IpVersion;
use crate::domain::ip_ranges::Filter;
use crate::domain::organization::AccountEntry;
use crate::error::{Error, Result};

pub(super) fn list_of<T, R: Display>(
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
pub(super) struct Value {
    pub(super) variable: &'static str,
    pub(super) text: String,
}

impl Value {
    pub(super) fn error(self, reason: impl Into<String>) -> Error {
        Error::Config {
            variable: self.variable,
            value: self.text,
            reason: reason.into(),
        }
    }

    pub(super) fn number<T>(self, range: std::ops::RangeInclusive<T>) -> Result<T>
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

    pub(super) fn boolean(self) -> Result<bool> {
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
pub(super) fn region_name(name: &str) -> bool {
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
pub(super) fn regions(get: &impl Fn(&str) -> Option<String>, own: Option<&String>) -> Result<Vec<String>> {
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
pub(super) fn accounts(list: Option<String>) -> Result<Vec<AccountEntry>> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let entries = list_of("ACCOUNTS", &list, AccountEntry::parse)?;
    unique("ACCOUNTS", &list, entries)
}

/// `EXCLUDE_ACCOUNTS`: 12-digit account ids, none twice.
pub(super) fn excluded(list: Option<String>) -> Result<BTreeSet<String>> {
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
pub(super) fn unique<T: Ord + Clone + Display>(variable: &'static str, list: &str, items: Vec<T>) -> Result<Vec<T>> {
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
pub(super) fn organization_role(value: Option<String>) -> Result<Option<String>> {
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
pub(super) fn topic(value: Option<String>) -> Result<Option<String>> {
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
pub(super) fn role_name(value: Value) -> Result<String> {
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

/// `SERVICE` and `IP_VERSIONS`.
pub(super) fn filter(value: &impl Fn(&'static str) -> Value) -> Result<Filter> {
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
pub(super) fn url(value: Value) -> Result<String> {
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
