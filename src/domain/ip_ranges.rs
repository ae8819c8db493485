//! Parse `ip-ranges.json`, check its MD5 and select the prefixes of the wanted services.
//!
//! Pure: bytes in, a [`Selection`] out. Only the fields the job needs are read (`syncToken`, and `ip_prefix` /
//! `ipv6_prefix`, `region`, `service` of each entry); unknown fields are ignored and strings are borrowed from
//! the input where they hold no escapes.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use md5::{Digest, Md5};
use serde::Deserialize;

use crate::domain::aggregate::aggregate;
use crate::domain::cidr::{Cidr, IpVersion};
use crate::error::{Error, Result};

/// Which kind of security group set a prefix belongs to: `region == "GLOBAL"` or any other region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Scope {
    /// `region == "GLOBAL"`: groups tagged `Name=cloudfront_g`.
    #[serde(rename = "cloudfront_g")]
    Global,
    /// Any other region: groups tagged `Name=cloudfront_r`.
    #[serde(rename = "cloudfront_r")]
    Regional,
}

impl Scope {
    /// Both, in order.
    pub const ALL: [Scope; 2] = [Scope::Global, Scope::Regional];

    /// The value of the `Name` tag that marks a group of this scope.
    pub fn tag_value(self) -> &'static str {
        Scope::NAMES[self as usize].0
    }

    /// The scope whose `Name` tag value this is.
    pub fn from_tag_value(value: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.tag_value() == value)
    }

    fn of_region(region: &str) -> Scope {
        if region == "GLOBAL" {
            Scope::Global
        } else {
            Scope::Regional
        }
    }

    /// How the scope is named in messages.
    pub fn describe(self) -> &'static str {
        Scope::NAMES[self as usize].1
    }

    /// (tag value, name in messages), in declaration order.
    const NAMES: [(&'static str, &'static str); 2] = [("cloudfront_g", "GLOBAL"), ("cloudfront_r", "regional")];
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag_value())
    }
}

/// Lower-case hex MD5 of the exact bytes, as the notification's `md5` field has it.
pub fn md5_hex(bytes: &[u8]) -> String {
    let digest = Md5::digest(bytes);
    let mut out = String::with_capacity(32);
    for b in digest.iter() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[derive(Deserialize)]
struct RawDocument<'a> {
    #[serde(rename = "syncToken", borrow)]
    sync_token: Cow<'a, str>,
    #[serde(rename = "createDate", default, borrow)]
    create_date: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    prefixes: CloudFrontOnly<'a>,
    #[serde(default, borrow)]
    ipv6_prefixes: CloudFrontOnly<'a>,
}

/// The entries of a prefix list whose service is a CloudFront one; the others (about 98% of the file) are
/// dropped as they are read instead of being collected.
#[derive(Default)]
struct CloudFrontOnly<'a>(Vec<RawEntry<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for CloudFrontOnly<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = CloudFrontOnly<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of prefixes")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
                let mut kept = Vec::new();
                while let Some(entry) = seq.next_element::<RawEntry<'a>>()? {
                    if entry.service().starts_with(CLOUDFRONT) {
                        kept.push(entry);
                    }
                }
                Ok(CloudFrontOnly(kept))
            }
        }
        deserializer.deserialize_seq(Visit(std::marker::PhantomData))
    }
}

/// Every service this module selects starts with this.
const CLOUDFRONT: &str = "CLOUDFRONT";

/// An entry of `prefixes` (`ip_prefix`) or `ipv6_prefixes` (`ipv6_prefix`). Every field is optional here:
/// entries of services that are not selected are skipped whatever they hold; a selected entry must have its
/// prefix and region (checked in [`parse`]).
#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(rename = "ip_prefix", alias = "ipv6_prefix", borrow, default)]
    prefix: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    region: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    service: Option<Cow<'a, str>>,
}

impl RawEntry<'_> {
    fn service(&self) -> &str {
        self.service.as_deref().unwrap_or("")
    }
}

/// What to keep from the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Service names, compared exactly: CloudFront ones (`CLOUDFRONT`, `CLOUDFRONT_ORIGIN_FACING`); entries of
    /// other services are dropped while parsing.
    pub services: BTreeSet<String>,
    /// The IP versions kept.
    pub versions: BTreeSet<IpVersion>,
    /// `AGGREGATE`: each scope's ranges merged into the fewest CIDRs covering exactly the same addresses
    /// ([`aggregate`]).
    pub aggregate: bool,
}

impl Filter {
    /// Keep `services` (exact names) in `versions`, each range as published (not aggregated).
    pub fn new(services: &[&str], versions: &[IpVersion]) -> Filter {
        Filter {
            services: services.iter().map(|s| (*s).to_owned()).collect(),
            versions: versions.iter().copied().collect(),
            aggregate: false,
        }
    }

    /// As [`Filter::new`], each scope's ranges aggregated.
    pub fn aggregated(self) -> Filter {
        Filter {
            aggregate: true,
            ..self
        }
    }
}

/// The canonical, de-duplicated CIDRs of the selected services, per scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// `syncToken` of the document, as a number (it is Unix seconds in every file AWS served).
    pub sync_token: u64,
    /// `createDate`, if the document has one.
    pub create_date: Option<String>,
    /// The selected CIDRs per scope.
    pub ranges: BTreeMap<Scope, BTreeSet<Cidr>>,
}

impl Selection {
    /// The ranges of one scope (empty if none were selected).
    pub fn ranges(&self, scope: Scope) -> &BTreeSet<Cidr> {
        static EMPTY: BTreeSet<Cidr> = BTreeSet::new();
        self.ranges.get(&scope).unwrap_or(&EMPTY)
    }

    /// The IP versions the file has at least one selected range of, in any scope. The empty guards refuse a
    /// version missing here (a cut or reformatted file), never one that only a scope lost: when AWS removes
    /// every regional IPv6 range while GLOBAL ones remain, that is a real change and is applied.
    pub fn versions(&self) -> BTreeSet<IpVersion> {
        self.ranges.values().flatten().map(Cidr::version).collect()
    }
}

/// Parse a `syncToken` / `synctoken`: decimal digits only.
pub fn parse_sync_token(token: &str) -> Option<u64> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

/// How far a file's `syncToken` may lie ahead of the clock, and from its own `createDate`, in seconds: clocks
/// differ a little, and AWS publishes a file right after the moment it names.
pub const MAX_AHEAD_SECS: u64 = 3600;

/// A `createDate` (`YYYY-MM-DD-hh-mm-ss`, UTC) in seconds since the Unix epoch; `None` when it is not one.
pub fn create_date_seconds(text: &str) -> Option<u64> {
    let fields: Vec<u32> = text.split('-').map(|f| f.parse().ok()).collect::<Option<_>>()?;
    let [year, month, day, hour, minute, second] = fields[..] else {
        return None;
    };
    let valid = (1970..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return None;
    }
    // Days from 1970-01-01 to the date, in the proleptic Gregorian calendar (years counted from March).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let days = u64::from(y) * 365 + u64::from(y / 4 - y / 100 + y / 400) + u64::from((153 * m + 2) / 5 + day - 1);
    let days = days.checked_sub(719_468)?;
    Some(days * 86_400 + u64::from(hour * 3600 + minute * 60 + second))
}

/// Refuse a file that cannot have come from AWS by `now` (Unix seconds): a `syncToken` more than
/// [`MAX_AHEAD_SECS`] ahead of the clock, or that far from its own `createDate` (when it has a readable one).
pub fn check_in_time(selection: &Selection, now: u64) -> Result<()> {
    let sync_token = selection.sync_token;
    let refuse = |reason: String| Err(Error::UntrustedFile { sync_token, reason });
    if sync_token > now.saturating_add(MAX_AHEAD_SECS) {
        let ahead = sync_token - now;
        return refuse(format!(
            "it is {ahead} s ({:.1} days) ahead of the clock (now {now})",
            ahead as f64 / 86_400.0
        ));
    }
    let dated = selection
        .create_date
        .as_deref()
        .and_then(|d| Some((d, create_date_seconds(d)?)));
    if let Some((date, seconds)) = dated.filter(|(_, s)| s.abs_diff(sync_token) > MAX_AHEAD_SECS) {
        return refuse(format!(
            "its createDate {date} is {seconds} in Unix seconds, {} s from the syncToken",
            seconds.abs_diff(sync_token)
        ));
    }
    Ok(())
}

/// The scope and CIDR of a selected entry of the `version` list, checked.
fn select(entry: &RawEntry<'_>, version: IpVersion, field: &str) -> Result<(Scope, Cidr)> {
    let service = entry.service();
    let (Some(prefix), Some(region)) = (entry.prefix.as_deref(), entry.region.as_deref()) else {
        let missing = if entry.prefix.is_none() { field } else { "region" };
        return Err(Error::document(format!(
            "a {service} entry of the {version} list has no {missing}"
        )));
    };
    let cidr: Cidr = prefix
        .parse()
        .map_err(|e| Error::document(format!("{e} (region {region})")))?;
    if cidr.version() != version {
        return Err(Error::document(format!(
            "{prefix:?} is listed as {version} but is not an {version} block"
        )));
    }
    Ok((Scope::of_region(region), cidr))
}

/// Parse a document and keep the prefixes `filter` selects, canonical and de-duplicated, per scope. A selected
/// range CloudFront never publishes ([`Cidr::never_published`]) refuses the whole file, before aggregation.
pub fn parse(bytes: &[u8], filter: &Filter) -> Result<Selection> {
    let raw: RawDocument<'_> =
        serde_json::from_slice(bytes).map_err(|e| Error::document(format!("not an ip-ranges.json document: {e}")))?;
    let sync_token = parse_sync_token(&raw.sync_token)
        .ok_or_else(|| Error::document(format!("syncToken {:?} is not a number", raw.sync_token)))?;

    let mut ranges: BTreeMap<Scope, BTreeSet<Cidr>> = BTreeMap::new();
    let lists = [
        (IpVersion::Ipv4, &raw.prefixes, "ip_prefix"),
        (IpVersion::Ipv6, &raw.ipv6_prefixes, "ipv6_prefix"),
    ];
    for (version, list, field) in lists {
        if !filter.versions.contains(&version) {
            continue;
        }
        for entry in list.0.iter().filter(|e| filter.services.contains(e.service())) {
            let (scope, cidr) = select(entry, version, field)?;
            if let Some(reason) = cidr.never_published() {
                return Err(Error::ImplausibleRange {
                    sync_token,
                    range: cidr.to_string(),
                    service: entry.service().to_owned(),
                    region: entry.region.as_deref().unwrap_or_default().to_owned(),
                    reason,
                });
            }
            ranges.entry(scope).or_default().insert(cidr);
        }
    }
    if filter.aggregate {
        ranges.values_mut().for_each(|cidrs| *cidrs = aggregate(cidrs));
    }
    Ok(Selection {
        sync_token,
        create_date: raw.create_date.map(Cow::into_owned),
        ranges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_date_is_read_as_the_unix_seconds_aws_puts_in_the_sync_token() {
        // Pairs from the bundled real files (MANIFEST.md): syncToken == createDate in Unix seconds.
        for (date, token) in [
            ("2021-10-12-17-13-16", 1_634_058_796),
            ("2024-05-29-15-53-09", 1_716_997_989),
            ("2026-08-22-15-17-05", 1_787_411_825),
            ("1970-01-01-00-00-00", 0),
            ("2000-02-29-12-00-00", 951_825_600),
        ] {
            assert_eq!(create_date_seconds(date), Some(token), "{date}");
        }
        for bad in [
            "",
            "2026-08-22",
            "2026-13-01-00-00-00",
            "2026-08-22-24-00-00",
            "x-08-22-15-17-05",
            "1969-12-31-23-59-59",
        ] {
            assert_eq!(create_date_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_file_ahead_of_the_clock_or_of_its_own_create_date_is_refused() {
        let selection = |token: u64, date: Option<&str>| Selection {
            sync_token: token,
            create_date: date.map(str::to_owned),
            ranges: BTreeMap::new(),
        };
        let now = 1_787_411_825 + 600;
        check_in_time(&selection(1_787_411_825, Some("2026-08-22-15-17-05")), now).unwrap();
        check_in_time(&selection(now + MAX_AHEAD_SECS, None), now).unwrap();
        let err = check_in_time(&selection(now + 2 * 86_400, None), now).unwrap_err();
        assert!(
            err.to_string().contains("ahead of the clock") && err.to_string().contains("nothing was written"),
            "{err}"
        );
        // A hand-edited syncToken a year on, its createDate left as AWS wrote it.
        let edited = selection(1_787_411_825 - 365 * 86_400, Some("2026-08-22-15-17-05"));
        let err = check_in_time(&edited, now).unwrap_err();
        assert!(
            matches!(err, Error::UntrustedFile { .. }) && err.to_string().contains("from the syncToken"),
            "{err}"
        );
        // An unreadable createDate is no evidence either way.
        check_in_time(&selection(1_787_411_825, Some("today")), now).unwrap();
    }

    fn both() -> Filter {
        Filter::new(&["CLOUDFRONT"], &IpVersion::ALL)
    }

    const SMALL: &str = r#"{
      "syncToken": "1787411825",
      "createDate": "2026-08-22-15-17-05",
      "prefixes": [
        {"ip_prefix": "13.32.0.0/15", "region": "GLOBAL", "service": "CLOUDFRONT", "network_border_group": "GLOBAL"},
        {"ip_prefix": "13.32.0.0/15", "region": "GLOBAL", "service": "AMAZON", "network_border_group": "GLOBAL"},
        {"ip_prefix": "13.32.0.1/15", "region": "GLOBAL", "service": "CLOUDFRONT"},
        {"ip_prefix": "56.125.47.0/32", "region": "sa-east-1", "service": "CLOUDFRONT", "new_field": [1, 2]},
        {"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2", "service": "AMAZON"},
        {"ip_prefix": "15.158.0.0/16", "region": "GLOBAL", "service": "CLOUDFRONT_ORIGIN_FACING"}
      ],
      "ipv6_prefixes": [
        {"ipv6_prefix": "2600:9000:6000::/36", "region": "GLOBAL", "service": "CLOUDFRONT"},
        {"ipv6_prefix": "2600:9000:6000::/36", "region": "GLOBAL", "service": "CLOUDFRONT_ORIGIN_FACING"},
        {"ipv6_prefix": "2a05:d07a:a000::/40", "region": "eu-south-1", "service": "AMAZON"}
      ],
      "a_future_top_level_field": {"x": 1}
    }"#;

    fn strings(set: &BTreeSet<Cidr>) -> Vec<String> {
        set.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn selects_only_the_exact_service_split_by_scope_canonical_and_deduplicated() {
        let sel = parse(SMALL.as_bytes(), &both()).unwrap();
        assert_eq!(sel.sync_token, 1_787_411_825);
        assert_eq!(sel.create_date.as_deref(), Some("2026-08-22-15-17-05"));
        assert_eq!(
            strings(sel.ranges(Scope::Global)),
            ["13.32.0.0/15", "2600:9000:6000::/36"]
        );
        assert_eq!(strings(sel.ranges(Scope::Regional)), ["56.125.47.0/32"]);
    }

    #[test]
    fn ip_versions_limit_the_selection() {
        let v4 = parse(SMALL.as_bytes(), &Filter::new(&["CLOUDFRONT"], &[IpVersion::Ipv4])).unwrap();
        assert_eq!(strings(v4.ranges(Scope::Global)), ["13.32.0.0/15"]);
        let v6 = parse(SMALL.as_bytes(), &Filter::new(&["CLOUDFRONT"], &[IpVersion::Ipv6])).unwrap();
        assert_eq!(strings(v6.ranges(Scope::Global)), ["2600:9000:6000::/36"]);
        assert!(v6.ranges(Scope::Regional).is_empty());
    }

    #[test]
    fn merged_services_are_deduplicated() {
        let sel = parse(
            SMALL.as_bytes(),
            &Filter::new(&["CLOUDFRONT", "CLOUDFRONT_ORIGIN_FACING"], &IpVersion::ALL),
        )
        .unwrap();
        assert_eq!(
            strings(sel.ranges(Scope::Global)),
            ["13.32.0.0/15", "15.158.0.0/16", "2600:9000:6000::/36"]
        );
    }

    #[test]
    fn missing_prefix_lists_and_create_date_are_optional() {
        let sel = parse(br#"{"syncToken": "1"}"#, &both()).unwrap();
        assert_eq!(sel.sync_token, 1);
        assert_eq!(sel.create_date, None);
        assert!(sel.ranges.is_empty());
    }

    #[test]
    fn escaped_strings_are_accepted() {
        let doc = br#"{"syncToken": "1", "prefixes": [{"ip_prefix": "13.32.0.0\/15", "region": "GLOBAL", "service": "CLOUDFRONT"}]}"#;
        let sel = parse(doc, &both()).unwrap();
        assert_eq!(strings(sel.ranges(Scope::Global)), ["13.32.0.0/15"]);
    }

    #[test]
    fn invalid_documents_are_errors_that_say_why() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "not an ip-ranges.json document"),
            (b"<html>", "not an ip-ranges.json document"),
            (b"[]", "not an ip-ranges.json document"),
            (br#"{"prefixes": []}"#, "syncToken"),
            (br#"{"syncToken": "12a"}"#, "syncToken \"12a\" is not a number"),
            (br#"{"syncToken": 12}"#, "not an ip-ranges.json document"),
            (br#"{"syncToken": "1", "prefixes": {}}"#, "not an ip-ranges.json document"),
            (br#"{"syncToken": "1", "prefixes": [{"ip_prefix": "1.2.3.0/24", "service": "CLOUDFRONT"}]}"#, "a CLOUDFRONT entry of the ipv4 list has no region"),
            (br#"{"syncToken": "1", "ipv6_prefixes": [{"region": "GLOBAL", "service": "CLOUDFRONT"}]}"#, "has no ipv6_prefix"),
            (br#"{"syncToken": "1", "prefixes": [{"ip_prefix": 7, "region": "GLOBAL", "service": "CLOUDFRONT"}]}"#, "not an ip-ranges.json document"),
            (
                br#"{"syncToken": "1", "prefixes": [{"ip_prefix": "1.2.3.0/33", "region": "GLOBAL", "service": "CLOUDFRONT"}]}"#,
                "\"1.2.3.0/33\" is not a CIDR block",
            ),
            (
                br#"{"syncToken": "1", "prefixes": [{"ip_prefix": "2600::/32", "region": "GLOBAL", "service": "CLOUDFRONT"}]}"#,
                "is listed as ipv4",
            ),
            (br#"{"syncToken": "1", "prefixes": [{"ip_prefix": "1.2.3.0/24", "region": "GLOBAL", "service": "CLOUD"#, "not an ip-ranges.json document"),
        ];
        for (input, expected) in cases {
            let err = parse(input, &both()).unwrap_err();
            assert!(matches!(err, Error::Document { .. }), "{err:?}");
            assert!(
                err.to_string().contains(expected),
                "{:?}: {err}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn odd_entries_of_services_not_selected_are_skipped_unchecked() {
        let doc = br#"{"syncToken": "1", "prefixes": [
            {"ip_prefix": "bogus", "region": "GLOBAL", "service": "AMAZON"},
            {"ip_prefix": "10.0.0.0/8", "service": "EC2"},
            {"region": "us-east-1", "service": "S3"},
            {"ip_prefix": "2600::/32", "region": "GLOBAL", "service": "ROUTE53"},
            {"ip_prefix": "15.158.0.0/16", "service": "CLOUDFRONT_ORIGIN_FACING"},
            {"note": "no service at all"},
            {"ip_prefix": "13.32.0.0/15", "region": "GLOBAL", "service": "CLOUDFRONT"}
          ],
          "ipv6_prefixes": [{"ipv6_prefix": "not v6", "service": "AMAZON"}, {}]}"#;
        let sel = parse(doc, &both()).unwrap();
        assert_eq!(strings(sel.ranges(Scope::Global)), ["13.32.0.0/15"]);
        // The same origin-facing entry without a region is an error once that service is selected.
        let err = parse(doc, &Filter::new(&["CLOUDFRONT_ORIGIN_FACING"], &IpVersion::ALL)).unwrap_err();
        assert!(
            err.to_string()
                .contains("CLOUDFRONT_ORIGIN_FACING entry of the ipv4 list has no region"),
            "{err}"
        );
    }

    #[test]
    fn md5_is_lower_case_hex_of_the_raw_bytes() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn sync_tokens_are_digits_only() {
        assert_eq!(parse_sync_token("1787411825"), Some(1_787_411_825));
        for bad in ["", "-1", "+1", "1.5", " 1", "99999999999999999999999"] {
            assert_eq!(parse_sync_token(bad), None, "{bad}");
        }
    }

    /// SMALL with one more entry in `list`.
    fn small_with(list: &str, entry: &str) -> String {
        let field = format!("\"{list}\": [\n");
        SMALL.replacen(&field, &format!("{field}        {entry},\n"), 1)
    }

    #[test]
    fn a_range_cloudfront_never_publishes_refuses_the_whole_file_naming_it_and_the_sync_token() {
        let cases = [
            (
                "prefixes",
                r#"{"ip_prefix": "0.0.0.0/0", "region": "GLOBAL", "service": "CLOUDFRONT"}"#,
                "0.0.0.0/0",
                "broader than /8",
            ),
            (
                "prefixes",
                r#"{"ip_prefix": "10.1.2.0/24", "region": "us-east-1", "service": "CLOUDFRONT"}"#,
                "10.1.2.0/24",
                "private-use space 10.0.0.0/8",
            ),
            (
                "ipv6_prefixes",
                r#"{"ipv6_prefix": "::/0", "region": "GLOBAL", "service": "CLOUDFRONT"}"#,
                "::/0",
                "broader than /16",
            ),
            (
                "ipv6_prefixes",
                r#"{"ipv6_prefix": "fd00::/16", "region": "GLOBAL", "service": "CLOUDFRONT"}"#,
                "fd00::/16",
                "unique-local space fc00::/7",
            ),
        ];
        for (list, entry, range, why) in cases {
            let err = parse(small_with(list, entry).as_bytes(), &both()).unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(
                    err,
                    Error::ImplausibleRange {
                        sync_token: 1_787_411_825,
                        ..
                    }
                ),
                "{err:?}"
            );
            assert!(
                text.contains(range) && text.contains(why) && text.contains("syncToken 1787411825"),
                "{text}"
            );
            assert!(text.contains("nothing was written"), "{text}");
            // Aggregated or not, whatever the MD5: the check runs on the ranges as published.
            assert!(parse(small_with(list, entry).as_bytes(), &both().aggregated()).is_err());
        }
        // The same range under a service not selected is not looked at.
        let other = r#"{"ip_prefix": "10.0.0.0/8", "region": "GLOBAL", "service": "AMAZON"}"#;
        parse(small_with("prefixes", other).as_bytes(), &both()).unwrap();
        let origin_facing = r#"{"ip_prefix": "10.0.0.0/8", "region": "GLOBAL", "service": "CLOUDFRONT_ORIGIN_FACING"}"#;
        parse(small_with("prefixes", origin_facing).as_bytes(), &both()).unwrap();
        let both_services = Filter::new(&["CLOUDFRONT", "CLOUDFRONT_ORIGIN_FACING"], &IpVersion::ALL);
        let err = parse(small_with("prefixes", origin_facing).as_bytes(), &both_services).unwrap_err();
        assert!(
            err.to_string()
                .contains("under CLOUDFRONT_ORIGIN_FACING (region GLOBAL)"),
            "{err}"
        );
    }

    #[test]
    fn every_bundled_real_file_passes_the_published_range_check_for_both_services() {
        use std::io::Read;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.retain(|p| p.extension().is_some_and(|e| e == "gz"));
        assert_eq!(files.len(), 8);
        let services = Filter::new(&["CLOUDFRONT", "CLOUDFRONT_ORIGIN_FACING"], &IpVersion::ALL);
        for file in &files {
            let mut bytes = Vec::new();
            flate2::read::GzDecoder::new(std::fs::File::open(file).unwrap())
                .read_to_end(&mut bytes)
                .unwrap();
            let selection = parse(&bytes, &services).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(selection.ranges(Scope::Global).len() > 80, "{}", file.display());
        }
    }
}
