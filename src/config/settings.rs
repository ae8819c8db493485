//! [`SETTINGS`]: every setting's variable, default and meaning, the one list docs/settings.md's table, the CLI's help
//! and [`super::Config`]'s defaults come from.

/// One setting: its environment variable, default and meaning. [`SETTINGS`] is the one list of them: the
/// docs/settings.md's table and the CLI's help are tested against it, and [`Config`] reads defaults from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The environment variable (and, lower-case with dashes, the CLI flag where there is one).
    pub variable: &'static str,
    /// The value when it is not set.
    pub default: &'static str,
    /// What it does, in one or two sentences.
    pub meaning: &'static str,
}

use super::DEFAULT_IP_RANGES_URL;

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
    setting(
        "ORIGIN_SECRET_PROPAGATION_SECONDS",
        "60",
        "The rotation function's wait, 0-600, between making every origin-side check accept the new secret value and making any distribution send it (WAF changes take up to a minute to apply).",
    ),
];

/// The setting of `variable`.
pub fn setting_of(variable: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.variable == variable)
}

/// The docs' row for a setting (its test holds docs/settings.md's table to [`SETTINGS`]).
#[cfg(test)]
pub(super) fn markdown_row(s: &Setting) -> String {
    let default = match s.default {
        "" => "empty".to_owned(),
        d => format!("`{d}`"),
    };
    format!("| `{}` | {default} | {} |", s.variable, s.meaning)
}
