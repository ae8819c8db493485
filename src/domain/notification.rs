//! The change notification (`NOTIFY_TOPIC_ARN`): one message for a whole run that added or removed anything,
//! or in which anything failed. A run with nothing to do has none.
//!
//! Pure: what changed and what failed in, the message out. Its subject is one ASCII line of at most 100
//! characters (SNS's rule); its body lists, per target, the CIDRs added and removed, then every failure with its
//! error, then the file's `syncToken` and `createDate`; a body over the limit is cut at a line, with a line
//! saying how much was left out.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::domain::TargetKind;
use crate::domain::cidr::Cidr;

/// The most characters SNS takes in a subject.
pub const SUBJECT_MAX: usize = 100;

/// The most bytes of a message body: SNS takes 262,144 bytes for the body and its attributes together; 1 KB
/// is left for the attributes.
pub const BODY_MAX: usize = 262_144 - 1024;

/// One target the run changed: where it is, what it is, and the CIDRs it gained and lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetChange {
    /// Its account (`None`: the function's own).
    pub account: Option<String>,
    /// Its region.
    pub region: String,
    /// A security group set, a prefix list or a WAF IP set.
    pub kind: TargetKind,
    /// Its id: the set's groups, the list's id, the IP set's id.
    pub id: String,
    /// Its name: the set's VPC, `Name` tag and port, the list's scope and family, the IP set's name.
    pub name: String,
    /// The CIDRs it gained (planned, in a dry run).
    pub added: BTreeSet<Cidr>,
    /// The CIDRs it lost.
    pub removed: BTreeSet<Cidr>,
}

/// What a run did, as the message tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOutcome {
    /// The targets that gained or lost a CIDR (others are left out).
    pub changes: Vec<TargetChange>,
    /// Every failure, with its error.
    pub failures: Vec<String>,
    /// Every mark of the file applied that the run did not trust (a forged tag?): where, the value, why. Not a
    /// failure, but always told.
    pub forged_marks: Vec<String>,
    /// The file applied (0 when the run stopped before applying one: the message says so).
    pub sync_token: u64,
    /// The file's `createDate`.
    pub create_date: Option<String>,
    /// Nothing was written: a dry run, whose changes are planned.
    pub dry_run: bool,
}

/// `changed` (something was added or removed, nothing failed) or `failed`: the message attribute `status`, for
/// subscription filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Targets gained or lost CIDRs; nothing failed.
    Changed,
    /// Something failed (and maybe something changed).
    Failed,
}

impl Status {
    /// `changed` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Changed => "changed",
            Status::Failed => "failed",
        }
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// One ASCII line of at most [`SUBJECT_MAX`] characters.
    pub subject: String,
    /// The targets and their CIDRs, the failures, the file.
    pub body: String,
    /// The message attribute `status`.
    pub status: Status,
    /// The message attribute `sync_token`.
    pub sync_token: u64,
}

/// The message of a run, or `None` when it changed nothing, nothing failed and every mark was trusted. The body
/// is cut to `body_max` bytes.
pub fn message(outcome: &RunOutcome, body_max: usize) -> Option<Message> {
    let changes: Vec<&TargetChange> = (outcome.changes.iter())
        .filter(|c| !c.added.is_empty() || !c.removed.is_empty())
        .collect();
    if changes.is_empty() && outcome.failures.is_empty() && outcome.forged_marks.is_empty() {
        return None;
    }
    let status = match outcome.failures.is_empty() {
        true => Status::Changed,
        false => Status::Failed,
    };
    Some(Message {
        subject: subject(outcome, &changes),
        body: cut(&body(outcome, &changes), body_max),
        status,
        sync_token: outcome.sync_token,
    })
}

/// One line: how many targets changed (CIDRs in and out), how many failures, and the file.
fn subject(outcome: &RunOutcome, changes: &[&TargetChange]) -> String {
    let added: usize = changes.iter().map(|c| c.added.len()).sum();
    let removed: usize = changes.iter().map(|c| c.removed.len()).sum();
    let mut parts = Vec::new();
    if !changes.is_empty() {
        let verb = if outcome.dry_run { "would change" } else { "changed" };
        parts.push(format!(
            "{} {verb} (+{added} -{removed})",
            plural(changes.len(), "target")
        ));
    }
    if !outcome.failures.is_empty() {
        parts.push(format!("{} failed", outcome.failures.len()));
    }
    if !outcome.forged_marks.is_empty() {
        parts.push(plural(outcome.forged_marks.len(), "forged mark"));
    }
    let subject = match outcome.sync_token {
        0 => format!("cloudfront-sg-sync: {}, no file applied", parts.join(", ")),
        token => format!("cloudfront-sg-sync: {}, syncToken {token}", parts.join(", ")),
    };
    ascii_line(&subject, SUBJECT_MAX)
}

/// `n thing` or `n things`.
fn plural(n: usize, thing: &str) -> String {
    match n {
        1 => format!("1 {thing}"),
        _ => format!("{n} {thing}s"),
    }
}

/// `text` as SNS takes a subject: printable ASCII only, one line, at most `max` characters (cut with `...`).
fn ascii_line(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .collect();
    if clean.len() <= max {
        return clean;
    }
    format!("{}...", &clean[..max.saturating_sub(3)])
}

/// The body: each target with its CIDRs, then the failures, then the file.
fn body(outcome: &RunOutcome, changes: &[&TargetChange]) -> String {
    let mut body = String::new();
    if !changes.is_empty() {
        let heading = if outcome.dry_run {
            "Would change (dry run)"
        } else {
            "Changed"
        };
        let _ = writeln!(body, "{heading}: {}", plural(changes.len(), "target"));
        for change in changes {
            let account = change.account.as_deref().unwrap_or("own account");
            let _ = writeln!(
                body,
                "\n{account} {} {} {} ({})",
                change.region,
                change.kind.describe(),
                change.id,
                change.name
            );
            for cidr in &change.added {
                let _ = writeln!(body, "  + {cidr}");
            }
            for cidr in &change.removed {
                let _ = writeln!(body, "  - {cidr}");
            }
        }
    }
    if !outcome.failures.is_empty() {
        let separator = if body.is_empty() { "" } else { "\n" };
        let _ = writeln!(body, "{separator}Failed: {}", outcome.failures.len());
        for failure in &outcome.failures {
            let _ = writeln!(body, "  {failure}");
        }
    }
    if !outcome.forged_marks.is_empty() {
        let separator = if body.is_empty() { "" } else { "\n" };
        let _ = writeln!(
            body,
            "{separator}Forged marks (not trusted, counted as absent; who may tag these targets?): {}",
            outcome.forged_marks.len()
        );
        for forged in &outcome.forged_marks {
            let _ = writeln!(body, "  {forged}");
        }
    }
    let date = outcome.create_date.as_deref().unwrap_or("unknown");
    let _ = match outcome.sync_token {
        0 => write!(body, "\nNo file was applied.\n"),
        token => write!(body, "\nsyncToken {token}, createDate {date}\n"),
    };
    body
}

/// `body` cut at a line so that it and a last line saying how much was left out fit in `max` bytes.
fn cut(body: &str, max: usize) -> String {
    if body.len() <= max {
        return body.to_owned();
    }
    let note = |lines: usize, bytes: usize| {
        format!("... {lines} more lines ({bytes} bytes) left out: the whole summary is in the function's log\n")
    };
    // Room for the note at its longest.
    let room = max.saturating_sub(note(body.lines().count(), body.len()).len());
    let mut kept = 0;
    for line in body.split_inclusive('\n') {
        if kept + line.len() > room {
            break;
        }
        kept += line.len();
    }
    let rest = &body[kept..];
    format!("{}{}", &body[..kept], note(rest.lines().count(), rest.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidrs(list: &[&str]) -> BTreeSet<Cidr> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    fn change(account: Option<&str>, added: &[&str], removed: &[&str]) -> TargetChange {
        TargetChange {
            account: account.map(str::to_owned),
            region: "eu-west-1".into(),
            kind: TargetKind::SecurityGroupSet,
            id: "sg-1,sg-2".into(),
            name: "vpc-1 cloudfront_g port 443".into(),
            added: cidrs(added),
            removed: cidrs(removed),
        }
    }

    fn outcome(changes: Vec<TargetChange>, failures: &[&str]) -> RunOutcome {
        RunOutcome {
            changes,
            failures: failures.iter().map(|f| (*f).to_owned()).collect(),
            forged_marks: Vec::new(),
            sync_token: 1_787_411_825,
            create_date: Some("2026-08-22-15-17-05".into()),
            dry_run: false,
        }
    }

    #[test]
    fn a_run_that_changed_nothing_and_failed_nothing_has_no_message() {
        assert_eq!(message(&outcome(vec![], &[]), BODY_MAX), None);
        assert_eq!(message(&outcome(vec![change(None, &[], &[])], &[]), BODY_MAX), None);
    }

    #[test]
    fn a_forged_mark_alone_is_told_as_a_change_not_a_failure() {
        let mut forged = outcome(vec![], &[]);
        forged.forged_marks = vec!["us-east-1 sg-1: \"9999999999 ipv4\" (ahead of the clock)".into()];
        let message = message(&forged, BODY_MAX).unwrap();
        assert_eq!(message.status, Status::Changed);
        assert_eq!(
            message.subject,
            "cloudfront-sg-sync: 1 forged mark, syncToken 1787411825"
        );
        assert!(
            message.body.starts_with("Forged marks (not trusted, counted as absent; who may tag these targets?): 1\n  us-east-1 sg-1: \"9999999999 ipv4\""),
            "{}",
            message.body
        );
    }

    #[test]
    fn the_body_lists_each_target_with_its_cidrs_then_the_failures_then_the_file() {
        let changes = vec![
            change(
                Some("111111111111"),
                &["10.0.1.0/24", "2600:9000::/28"],
                &["10.0.9.0/24"],
            ),
            change(None, &[], &[]),
        ];
        let m = message(
            &outcome(changes, &["prefix list eu-west-1/pl-1: InvalidPrefixListID"]),
            BODY_MAX,
        )
        .unwrap();
        assert_eq!(m.status, Status::Failed);
        assert_eq!(m.sync_token, 1_787_411_825);
        assert_eq!(
            m.subject,
            "cloudfront-sg-sync: 1 target changed (+2 -1), 1 failed, syncToken 1787411825"
        );
        assert_eq!(
            m.body,
            "Changed: 1 target\n\n\
             111111111111 eu-west-1 security group set sg-1,sg-2 (vpc-1 cloudfront_g port 443)\n\
             \x20 + 10.0.1.0/24\n  + 2600:9000::/28\n  - 10.0.9.0/24\n\n\
             Failed: 1\n  prefix list eu-west-1/pl-1: InvalidPrefixListID\n\n\
             syncToken 1787411825, createDate 2026-08-22-15-17-05\n"
        );
    }

    #[test]
    fn a_change_alone_is_changed_and_a_dry_run_says_it_would_change() {
        let mut run = outcome(vec![change(None, &["10.0.1.0/24"], &[])], &[]);
        let m = message(&run, BODY_MAX).unwrap();
        assert_eq!(m.status, Status::Changed);
        assert!(
            m.body.starts_with("Changed: 1 target\n\nown account eu-west-1"),
            "{}",
            m.body
        );
        run.dry_run = true;
        let m = message(&run, BODY_MAX).unwrap();
        assert!(m.subject.contains("1 target would change (+1 -0)"), "{}", m.subject);
        assert!(m.body.starts_with("Would change (dry run): 1 target"), "{}", m.body);
    }

    #[test]
    fn a_subject_is_one_ascii_line_of_at_most_100_characters() {
        let failures: Vec<String> = (0..3).map(|i| format!("failure {i}")).collect();
        let changes = (0..5000)
            .map(|i| change(Some(&format!("{i:012}")), &["10.0.1.0/24"], &[]))
            .collect();
        let mut run = outcome(changes, &[]);
        run.failures = failures;
        run.sync_token = u64::MAX;
        let m = message(&run, BODY_MAX).unwrap();
        assert!(m.subject.len() <= SUBJECT_MAX, "{}", m.subject);
        assert!(m.subject.chars().all(|c| c.is_ascii_graphic() || c == ' '));
        assert_eq!(ascii_line(&"é\nx".repeat(60), SUBJECT_MAX).len(), SUBJECT_MAX);
        assert!(ascii_line(&"é\nx".repeat(60), SUBJECT_MAX).ends_with("..."));
    }

    #[test]
    fn a_body_over_the_limit_is_cut_at_a_line_and_says_how_much_was_left_out() {
        let changes = (0..2000)
            .map(|i| change(Some(&format!("{i:012}")), &["10.0.1.0/24"], &[]))
            .collect();
        let run = outcome(changes, &["the last failure"]);
        let whole = message(&run, usize::MAX).unwrap().body;
        let m = message(&run, 4096).unwrap();
        assert!(m.body.len() <= 4096, "{}", m.body.len());
        let (kept, note) = m.body.trim_end().rsplit_once('\n').unwrap();
        assert!(whole.starts_with(kept), "cut at a line");
        let left_out = &whole[kept.len() + 1..];
        assert_eq!(
            note,
            format!(
                "... {} more lines ({} bytes) left out: the whole summary is in the function's log",
                left_out.lines().count(),
                left_out.len()
            )
        );
    }
}
