//! The crate's one error type.
//!
//! Every variant carries the context a person needs to act on it: which variable, which URL, which security
//! group, what EC2 said. It is turned into a Lambda error once, at the boundary ([`Error::kind`] is the Lambda
//! `errorType`, `Display` its `errorMessage`).

use std::time::Duration;

/// Everything that can go wrong in a sync.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting (environment variable or CLI flag) has a value we cannot use.
    #[error("invalid setting {variable}={value:?}: {reason}")]
    Config {
        /// The environment variable.
        variable: &'static str,
        /// The value given.
        value: String,
        /// Why it is wrong, or what went wrong.
        reason: String,
    },

    /// The Lambda event is not one we know how to handle.
    #[error(
        "unsupported event: {reason}; expected an SNS notification (Records[].Sns.Message) or an EventBridge \"Scheduled Event\""
    )]
    Event {
        /// Why it is wrong, or what went wrong.
        reason: String,
    },

    /// The SNS message is not the AmazonIpSpaceChanged notification we expect.
    #[error("invalid AmazonIpSpaceChanged notification in record {record}: {reason}")]
    Notification {
        /// The index of the SNS record.
        record: usize,
        /// Why it is wrong, or what went wrong.
        reason: String,
    },

    /// Downloading ip-ranges.json failed.
    #[error("download of {url} failed after {attempts} attempt(s): {reason}")]
    Download {
        /// The URL downloaded from.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// Why it is wrong, or what went wrong.
        reason: String,
    },

    /// The HTTP client could not be built (TLS setup, proxy settings).
    #[error("cannot build the HTTP client for downloads: {reason}")]
    HttpClient {
        /// Why it is wrong, or what went wrong.
        reason: String,
    },

    /// A local copy of ip-ranges.json (the CLI's `--ip-ranges-file`) could not be read.
    #[error("cannot read {path}: {reason}")]
    ReadFile {
        /// The file.
        path: String,
        /// Why it is wrong, or what went wrong.
        reason: String,
    },

    /// The downloaded body is larger than the configured cap.
    #[error("download of {url} is larger than the cap of {limit} bytes")]
    TooLarge {
        /// The URL downloaded from.
        url: String,
        /// `DOWNLOAD_MAX_BYTES`.
        limit: u64,
    },

    /// The body is not a valid ip-ranges.json document.
    #[error("invalid ip-ranges document: {reason}")]
    Document {
        /// Why it is wrong, or what went wrong.
        reason: String,
    },

    /// The file cannot be from AWS at this time: its `syncToken` lies ahead of the clock, or disagrees with its
    /// own `createDate`. Applied, it would mark every target with a token no real file reaches, and every real
    /// file after it would be refused as older.
    #[error(
        "refusing the file with syncToken {sync_token}: {reason}; nothing was written (a hand-edited or forged file? AWS's syncToken is its createDate in Unix seconds, never ahead of the clock)"
    )]
    UntrustedFile {
        /// Its `syncToken`.
        sync_token: u64,
        /// What is wrong with it.
        reason: String,
    },

    /// The file lists, under a selected service, a range CloudFront never publishes (too broad, or special-use
    /// space): applied, it would open every target to addresses no edge of CloudFront holds. Whatever the MD5
    /// says: the MD5 only ties the file to its notification.
    #[error(
        "refusing the file with syncToken {sync_token}: it lists {range} under {service} (region {region}), which {reason}; CloudFront never publishes such a range, so nothing was written to any target (a tampered or forged file?)"
    )]
    ImplausibleRange {
        /// The file's `syncToken`.
        sync_token: u64,
        /// The first such range, in the file's order.
        range: String,
        /// Its service.
        service: String,
        /// Its region.
        region: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The file's MD5 differs from the notification and the file is not newer than it.
    #[error(
        "MD5 mismatch: the notification (synctoken {notified_token}) says {expected}, the file (syncToken {file_token}) has {actual}, and the file is not newer than the notification"
    )]
    Md5Mismatch {
        /// The MD5 the notification announced.
        expected: String,
        /// The MD5 of the file served.
        actual: String,
        /// The notification's `synctoken`.
        notified_token: u64,
        /// The file's `syncToken`.
        file_token: u64,
    },

    /// The file has no range at all of the selected services and IP versions: refusing to touch any set.
    #[error(
        "the selection of {service} prefixes ({versions}) is empty for every scope; refusing to revoke every rule of {sets} set(s): nothing was written"
    )]
    EmptySelection {
        /// The services selected.
        service: String,
        /// The IP versions selected.
        versions: String,
        /// Sets found.
        sets: usize,
    },

    /// The file has no range at all of an IP version (in any scope, for the selected services) that a set holds
    /// rules for (or that the file applied before had), or that a prefix list or IP set holds entries of: a cut
    /// or reformatted file; refusing to remove them.
    #[error(
        "the file has no {version} range at all (in any scope: a cut or reformatted file?), but {target} {}; refusing to remove them: nothing was written to it",
        match (held, previous_token) {
            (0, Some(token)) => format!("had some from the file applied before (syncToken {token})"),
            (n, _) => format!("holds {n} of our {version} rule(s) or entries"),
        }
    )]
    EmptyRanges {
        /// `set …` or `prefix list …`.
        target: String,
        /// The IP version.
        version: &'static str,
        /// Our rules (entries) of that version it holds.
        held: usize,
        /// The `syncToken` of the file applied before, when it had ranges of that version.
        previous_token: Option<u64>,
    },

    /// A group references a prefix list whose weight EC2 did not tell: its room cannot be counted.
    #[error(
        "set {set}: group {group} references prefix list {prefix_list}, whose size is unknown (not returned by DescribeManagedPrefixLists), so the room left in the group cannot be counted; nothing was written to this set"
    )]
    PrefixListUnknown {
        /// The set (region/vpc/name/protocol).
        set: String,
        /// The group.
        group: String,
        /// The prefix list's id.
        prefix_list: String,
    },

    /// The sizes of the prefix lists a set's groups reference could not be read.
    #[error(
        "set {set}: cannot read the sizes of the prefix lists its groups reference, so the room left cannot be counted; nothing was written to this set: {reason}"
    )]
    PrefixListSizes {
        /// The set (region/vpc/name/protocol).
        set: String,
        /// Why it is wrong, or what went wrong.
        reason: String,
    },

    /// A call was cut off by the invocation deadline margin.
    #[error(
        "{what} stopped at the invocation deadline margin after {:.1} s: the next run finishes the work",
        waited.as_secs_f64()
    )]
    TimedOut {
        /// The call.
        what: String,
        /// How long it ran.
        waited: Duration,
    },

    /// A region was asked for that no client was built for (not in `REGIONS`).
    #[error("region {region} is not one of the configured REGIONS: no client was built for it")]
    RegionNotConfigured {
        /// The region.
        region: String,
    },

    /// An EC2 API call failed.
    #[error("EC2 {operation} in {region}{} failed: {}", group.as_deref().map(|g| format!(" on {g}")).unwrap_or_default(), answer("ec2", operation, code, message))]
    Ec2 {
        /// The EC2 API action.
        operation: &'static str,
        /// The region.
        region: String,
        /// The group, for calls on one.
        group: Option<String>,
        /// EC2's error code (`Unknown` for transport errors).
        code: String,
        /// EC2's message, or the transport error's chain.
        message: String,
    },

    /// An AWS WAF API call failed.
    #[error("WAF {operation} in {region}{} failed: {}", ip_set.as_deref().map(|s| format!(" on IP set {s}")).unwrap_or_default(), answer("wafv2", operation, code, message))]
    Waf {
        /// The WAF API action.
        operation: &'static str,
        /// The region called (us-east-1 for the `CLOUDFRONT` scope).
        region: String,
        /// The IP set, for calls on one.
        ip_set: Option<String>,
        /// WAF's error code (`Unknown` for transport errors).
        code: String,
        /// WAF's message, or the transport error's chain.
        message: String,
    },

    /// The change notification could not be published (logged and counted; it never fails the sync).
    #[error("SNS Publish to {topic} failed: {code}: {message}")]
    Publish {
        /// The topic's ARN.
        topic: String,
        /// SNS's error code (`Unknown` for transport errors).
        code: String,
        /// SNS's message, or the transport error's chain.
        message: String,
    },
    /// An AWS Organizations call failed.
    #[error("AWS Organizations {operation} of {parent} failed: {code}: {message}")]
    Organization {
        /// The Organizations API action.
        operation: &'static str,
        /// What was listed: a root or OU id, or `the organization`.
        parent: String,
        /// Organizations' error code (`Unknown` for transport errors).
        code: String,
        /// Organizations' message, or the transport error's chain.
        message: String,
    },

    /// An entry of `ACCOUNTS` could not be made into accounts: the run stops before any write.
    #[error("ACCOUNTS entry {entry} cannot be listed, so no account was synced: {error}")]
    AccountsUnresolved {
        /// The entry (an OU id, a root id, `organization`).
        entry: String,
        /// What failed.
        error: Box<Error>,
    },

    /// A read of the origin audit failed (CloudFront, Elastic Load Balancing).
    #[error("{service} {operation} in {region} failed: {code}: {message}")]
    Audit {
        /// `CloudFront` or `ELBv2`.
        service: &'static str,
        /// The API action.
        operation: &'static str,
        /// The region called (us-east-1 for CloudFront).
        region: String,
        /// The service's error code (`Unknown` for transport errors).
        code: String,
        /// The service's message, or the transport error's chain.
        message: String,
    },

    /// A call of the rotation of the origin secret failed (Secrets Manager, CloudFront, ELBv2, WAFv2).
    #[error("{service} {operation} failed: {code}: {message}")]
    RotationCall {
        /// `SecretsManager`, `CloudFront`, `ELBv2` or `WAFv2`.
        service: &'static str,
        /// The API action.
        operation: &'static str,
        /// The service's error code (`Unknown` for transport errors).
        code: String,
        /// The service's message, or the transport error's chain.
        message: String,
    },

    /// A rotation step refused before any change: the secret, its version or its value is not one this function
    /// rotates.
    #[error("rotation of secret {secret} refused, nothing changed: {reason}")]
    RotationRefused {
        /// The secret's id as given.
        secret: String,
        /// Why.
        reason: String,
    },

    /// `testSecret` found distributions that do not send the pending value yet, or have not deployed it: Secrets
    /// Manager retries the step; nothing was left half-way unsafe.
    #[error("distributions not deployed with the pending value yet: {distributions}; the step is retried")]
    RotationNotDeployed {
        /// Each, with its status.
        distributions: String,
    },

    /// A tagged WAF IP set would hold more addresses than an IP set may.
    #[error(
        "WAF IP set {ip_set} would hold {needed} addresses, more than an IP set may ({max}); it was left as it was"
    )]
    IpSetTooMany {
        /// `[account/]region/SCOPE/name`.
        ip_set: String,
        /// The wanted CIDRs of its IP version.
        needed: usize,
        /// AWS WAF's limit.
        max: usize,
    },

    /// No source of the default credentials chain had credentials (the CLI run with no AWS login).
    #[error(
        "no AWS credentials found: none in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), the profile (AWS_PROFILE, or `default`, in ~/.aws/config and ~/.aws/credentials), a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE), the ECS container or EC2 instance metadata; set AWS_PROFILE to a profile you are logged in to (`aws sso login --profile …`), or export the keys"
    )]
    NoCredentials,

    /// The credentials of an account could not be had: none in the environment (the function's or the CLI's
    /// own), or a listed account's role not assumed (denied, missing). None of the account's regions is read.
    #[error(
        "cannot get AWS credentials: {code}: {message}; none of the account's regions is read (a listed account: check that its role exists and trusts the caller; else the caller's own credentials: AWS_PROFILE, the environment, the function's role)"
    )]
    Credentials {
        /// STS's error code (`CredentialsError` when STS did not answer).
        code: String,
        /// STS's message, or the credentials error's chain.
        message: String,
    },

    /// EC2 refused more rules for a group that no other writer filled: the account's rules-per-group quota is
    /// below `MAX_RULES_PER_GROUP`.
    #[error(
        "set {set}: EC2 refused more rules for group {group} (RulesPerSecurityGroupLimitExceeded), which no other writer had filled: the account's quota of rules per security group is below MAX_RULES_PER_GROUP ({max_rules}); set MAX_RULES_PER_GROUP to the quota, or raise the quota (Service Quotas, Amazon VPC, code L-0EA8095F: inbound or outbound rules per security group)"
    )]
    RulesQuota {
        /// The set (region/vpc/name/protocol).
        set: String,
        /// The group refused.
        group: String,
        /// `MAX_RULES_PER_GROUP`.
        max_rules: usize,
    },

    /// A set cannot hold its ranges within the rules quota.
    #[error(
        "set {set} needs {needed} more {version} rule(s) than its {groups} group(s) can hold at {max_rules} rules per group: add {more_groups} more group(s) with the same tags, or raise the quota and MAX_RULES_PER_GROUP"
    )]
    SetTooSmall {
        /// The set (region/vpc/name/protocol).
        set: String,
        /// The IP version.
        version: &'static str,
        /// Rules of that version that do not fit.
        needed: usize,
        /// Groups in the set.
        groups: usize,
        /// `MAX_RULES_PER_GROUP`.
        max_rules: usize,
        /// Groups to add to make room.
        more_groups: usize,
    },

    /// The invocation deadline came before every write was made.
    #[error(
        "stopped before the invocation deadline with {:.1} s left: {pending} write(s) of set {set} not started; the next run finishes them",
        remaining.as_secs_f64()
    )]
    Deadline {
        /// The set (region/vpc/name/protocol).
        set: String,
        /// Write calls not started.
        pending: usize,
        /// Time left before the deadline.
        remaining: Duration,
    },

    /// Another writer kept changing the set: read back after our writes, it still needed changes after every
    /// re-plan allowed.
    #[error(
        "set {set} was changed by another writer during the run and still differs from the file after {replans} re-plan(s) (REPLAN_ATTEMPTS): the next run settles it"
    )]
    Unsettled {
        /// The set (region/vpc/name/protocol).
        set: String,
        /// Re-plans made.
        replans: usize,
    },

    /// A prefix list cannot hold its wanted CIDRs and its hand-made entries, and may not grow.
    #[error(
        "prefix list {list} needs {needed} entries (its wanted CIDRs and its hand-made entries) but its MaxEntries is {max_entries}: raise its MaxEntries to {needed} (every security group that references it counts MaxEntries rules against its quota), or set PREFIX_LIST_GROW=true; it was left as it was"
    )]
    ListTooSmall {
        /// The list (region/pl-…).
        list: String,
        /// Entries it needs.
        needed: usize,
        /// Its `MaxEntries`.
        max_entries: usize,
    },

    /// A tagged prefix list is referenced by security-group rules that open what CloudFront never connects to:
    /// filling it would open them to every CloudFront address.
    #[error(
        "prefix list {list} is referenced by rules that open what CloudFront never connects to ({rules}): whoever may tag the list would open them to every CloudFront address; it was left as it was (make those rules tcp on 80, 443 or 1024-65535, or remove the list's tags)"
    )]
    ListOpensPorts {
        /// The list (region/pl-…).
        list: String,
        /// Each such rule: `sg-… tcp 22`.
        rules: String,
    },

    /// A prefix list raised to a larger `MaxEntries` still reads its old size after every re-read allowed.
    #[error(
        "prefix list {list} still reads MaxEntries {max_entries} after it was raised to {grow_to} ({replans} re-read(s), REPLAN_ATTEMPTS): EC2 has not applied the resize yet, or another writer shrank it; nothing else was written, and the next run tries again"
    )]
    ListNotGrown {
        /// The list (region/pl-…).
        list: String,
        /// `MaxEntries` as read.
        max_entries: usize,
        /// What it was raised to.
        grow_to: usize,
        /// Re-reads made.
        replans: usize,
    },

    /// A prefix list stayed in a `…-in-progress` state (or its reads behind our change) longer than the run
    /// could wait.
    #[error(
        "prefix list {list} still read {state} at version {version} after {:.1} s, waiting for it to be applied at version {awaited} or later: {}; the next run finishes the work",
        waited.as_secs_f64(),
        if state.ends_with("-in-progress") { "a change of it is still being applied" } else { "EC2's reads still lag our change" }
    )]
    ListBusy {
        /// The list (region/pl-…).
        list: String,
        /// Its state, as last read.
        state: String,
        /// Its version, as last read.
        version: i64,
        /// The version the run waited for.
        awaited: i64,
        /// How long the run waited.
        waited: Duration,
    },

    /// Between two of our modifications, another writer changed the prefix list (its version moved on).
    #[error(
        "prefix list {list} was changed by another writer during the run: version {found} where our last modification made {expected}"
    )]
    ListChanged {
        /// The list (region/pl-…).
        list: String,
        /// The version our last modification made.
        expected: i64,
        /// The version found.
        found: i64,
    },

    /// EC2 could not apply a modification of a prefix list (it ended in a `…-failed` state).
    #[error(
        "prefix list {list} ended in state {state} after our modification: EC2 did not apply it{}",
        message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
    )]
    ListFailed {
        /// The list (region/pl-…).
        list: String,
        /// Its state.
        state: String,
        /// EC2's `StateMessage`: why (for example the resources that cannot take the new size).
        message: Option<String>,
    },

    /// Some sets, prefix lists or WAF IP sets failed, groups were skipped or regions could not be read;
    /// everything else was synced. Carries each failure's message, and its errorType says what failed.
    #[error("{}: {}", self.headline(), messages.join("; "))]
    SetsFailed {
        /// Sets that failed.
        sets_failed: usize,
        /// Sets found.
        sets: usize,
        /// Prefix lists that failed.
        lists_failed: usize,
        /// Prefix lists found.
        lists: usize,
        /// WAF IP sets that failed.
        ip_sets_failed: usize,
        /// WAF IP sets found.
        ip_sets: usize,
        /// Tagged groups that could not be put in a set.
        groups_skipped: usize,
        /// Regions whose groups could not be read.
        regions_failed: usize,
        /// Each failure's message.
        messages: Vec<String>,
        /// The errorType: what failed, when it is one thing (`SetsFailed`, `PrefixListsFailed`,
        /// `IpSetsFailed`, `GroupsSkipped`, `RegionsUnreadable`, `NoCredentials`, `CredentialsError`), else
        /// `TargetsFailed`.
        kind: &'static str,
    },
}

/// What failed, counted: only the kinds with a failure (`1 of 4 set(s) failed, 1 tagged group(s) skipped`); each
/// count is `(failed, of, what)`, `of` 0 when there is no total to give.
fn failed_counts(counts: &[(usize, usize, &str)]) -> String {
    let said: Vec<String> = counts
        .iter()
        .filter(|(failed, _, _)| *failed > 0)
        .map(|(failed, of, what)| match of {
            0 => format!("{failed} {what}"),
            of => format!("{failed} of {of} {what}"),
        })
        .collect();
    match said.is_empty() {
        true => "something failed".to_owned(),
        false => said.join(", "),
    }
}

/// The codes AWS answers a caller whose policy does not allow the call.
const DENIED: [&str; 3] = ["UnauthorizedOperation", "AccessDenied", "AccessDeniedException"];

/// What an AWS service answered: its code and message, and for a call the caller may not make, the action its
/// role needs (`service:operation`).
fn answer(service: &str, operation: &str, code: &str, message: &str) -> String {
    match DENIED.contains(&code) {
        true => format!("{code}: {message}; the caller's role needs {service}:{operation}"),
        false => format!("{code}: {message}"),
    }
}

impl Error {
    /// The empty guard refused a prefix list or WAF IP set (`kind`, `name`) of `family` that holds `held` entries
    /// of ours: the file has no range of that version.
    pub fn emptied(
        kind: crate::domain::TargetKind,
        name: &str,
        family: crate::domain::cidr::IpVersion,
        held: usize,
    ) -> Error {
        Error::EmptyRanges {
            target: format!("{} {name}", kind.describe()),
            version: family.as_str(),
            held,
            previous_token: None,
        }
    }

    /// What went wrong, without the call that met it (for an AWS call, what the service answered): two reads
    /// of a region that failed for one cause show it once.
    pub fn cause(&self) -> String {
        match self {
            Error::Ec2 {
                operation,
                code,
                message,
                ..
            } => answer("ec2", operation, code, message),
            Error::Waf {
                operation,
                code,
                message,
                ..
            } => answer("wafv2", operation, code, message),
            other => other.to_string(),
        }
    }

    /// The error in one line for a person who has read the summary above it: what failed, counted, for a run
    /// whose failures the summary lists one by one; else the whole message.
    pub fn headline(&self) -> String {
        match self {
            Error::SetsFailed {
                sets_failed,
                sets,
                lists_failed,
                lists,
                ip_sets_failed,
                ip_sets,
                groups_skipped,
                regions_failed,
                ..
            } => failed_counts(&[
                (*sets_failed, *sets, "set(s) failed"),
                (*lists_failed, *lists, "prefix list(s) failed"),
                (*ip_sets_failed, *ip_sets, "WAF IP set(s) failed"),
                (*groups_skipped, 0, "tagged group(s) skipped"),
                (*regions_failed, 0, "region(s) unreadable"),
            ]),
            other => other.to_string(),
        }
    }

    /// A short, stable name for the error, used as the Lambda `errorType`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config { .. } => "InvalidConfig",
            Error::Event { .. } => "UnsupportedEvent",
            Error::Notification { .. } => "InvalidNotification",
            Error::Download { .. } => "DownloadFailed",
            Error::TooLarge { .. } => "DownloadTooLarge",
            Error::HttpClient { .. } => "HttpClientSetup",
            Error::ReadFile { .. } => "ReadFileFailed",
            Error::Document { .. } => "InvalidIpRanges",
            Error::Md5Mismatch { .. } => "Md5Mismatch",
            Error::UntrustedFile { .. } => "UntrustedFile",
            Error::ImplausibleRange { .. } => "ImplausibleRange",
            Error::EmptySelection { .. } => "EmptySelection",
            Error::EmptyRanges { .. } => "EmptyRanges",
            Error::PrefixListUnknown { .. } => "PrefixListUnknown",
            Error::PrefixListSizes { .. } => "PrefixListSizes",
            Error::TimedOut { .. } => "DeadlineReached",
            Error::RegionNotConfigured { .. } => "RegionNotConfigured",
            Error::Ec2 { .. } => "Ec2Error",
            Error::Waf { .. } => "WafError",
            Error::Audit { .. } => "AuditReadFailed",
            Error::Organization { .. } => "OrganizationsError",
            Error::Publish { .. } => "PublishFailed",
            Error::AccountsUnresolved { .. } => "AccountsUnresolved",
            Error::IpSetTooMany { .. } => "IpSetTooMany",
            Error::RotationCall { .. } => "RotationCallFailed",
            Error::RotationRefused { .. } => "RotationRefused",
            Error::RotationNotDeployed { .. } => "RotationNotDeployed",
            Error::Credentials { .. } => "CredentialsError",
            Error::NoCredentials => "NoCredentials",
            Error::SetTooSmall { .. } => "SetTooSmall",
            Error::RulesQuota { .. } => "RulesQuotaReached",
            Error::Deadline { .. } => "DeadlineReached",
            Error::Unsettled { .. } => "SetUnsettled",
            Error::ListTooSmall { .. } => "PrefixListTooSmall",
            Error::ListOpensPorts { .. } => "PrefixListOpensPorts",
            Error::ListNotGrown { .. } => "PrefixListNotGrown",
            Error::ListBusy { .. } => "PrefixListBusy",
            Error::ListChanged { .. } => "PrefixListChanged",
            Error::ListFailed { .. } => "PrefixListModifyFailed",
            Error::SetsFailed { kind, .. } => kind,
        }
    }

    pub(crate) fn document(reason: impl Into<String>) -> Self {
        Error::Document { reason: reason.into() }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_names_only_what_failed() {
        let only_skipped = Error::SetsFailed {
            sets_failed: 0,
            sets: 2,
            lists_failed: 0,
            lists: 0,
            ip_sets_failed: 0,
            ip_sets: 0,
            groups_skipped: 1,
            regions_failed: 0,
            messages: vec!["group sg-9 in us-east-1 skipped: no Protocol tag".into()],
            kind: "GroupsSkipped",
        };
        assert_eq!(
            only_skipped.to_string(),
            "1 tagged group(s) skipped: group sg-9 in us-east-1 skipped: no Protocol tag"
        );
        let sets = Error::SetsFailed {
            sets_failed: 1,
            sets: 4,
            lists_failed: 0,
            lists: 1,
            ip_sets_failed: 0,
            ip_sets: 0,
            groups_skipped: 0,
            regions_failed: 2,
            messages: vec!["x".into()],
            kind: "TargetsFailed",
        };
        assert!(
            sets.to_string()
                .starts_with("1 of 4 set(s) failed, 2 region(s) unreadable: "),
            "{sets}"
        );
        assert_eq!(sets.headline(), "1 of 4 set(s) failed, 2 region(s) unreadable");
    }

    #[test]
    fn access_denied_names_the_action_the_callers_role_needs() {
        let denied = Error::Ec2 {
            operation: "DescribeManagedPrefixLists",
            region: "eu-west-1".into(),
            group: None,
            code: "UnauthorizedOperation".into(),
            message: "You are not authorized to perform this operation.".into(),
        };
        assert_eq!(
            denied.to_string(),
            "EC2 DescribeManagedPrefixLists in eu-west-1 failed: UnauthorizedOperation: You are not authorized to perform this operation.; the caller's role needs ec2:DescribeManagedPrefixLists"
        );
        let waf = Error::Waf {
            operation: "ListIPSets",
            region: "us-east-1".into(),
            ip_set: None,
            code: "AccessDeniedException".into(),
            message: "denied".into(),
        };
        assert!(
            waf.cause().ends_with("; the caller's role needs wafv2:ListIPSets"),
            "{}",
            waf.cause()
        );
    }
}
