//! The summary and the reports as a person reads them: the CLI's text (every target, every CIDR) and its brief
//! (a line per target, its notes), each written from the data, nothing parsed back.

use std::fmt;

use super::{
    AccountReport, AccountStatus, EntryChanges, FailedRegion, IpSetReport, ListReport, SetReport, Summary, TargetStatus,
};
use crate::domain::security_groups::ForgedMark;

impl EntryChanges {
    /// `status: +added -removed =unchanged`, as the target's line says it.
    fn counts(&self) -> String {
        counts(self.status, self.added, self.removed, self.unchanged)
    }

    /// The lines under the target's line: each CIDR added and removed, then its notes.
    fn write_details(&self, f: &mut fmt::Formatter<'_>, id: &str) -> fmt::Result {
        for (sign, cidrs) in [('+', &self.add), ('-', &self.remove)] {
            for cidr in cidrs {
                writeln!(f, "  {id} {sign} {cidr}")?;
            }
        }
        self.write_notes(f)
    }

    /// What the brief keeps under the target's line: a forged mark, then the error.
    fn write_notes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_forged(f, &self.forged_marks, self.status)?;
        write_error(f, self.error.as_deref())
    }
}

/// `status: +added -removed =unchanged`; a target kept for a newer file was not planned: its status alone.
fn counts(status: TargetStatus, added: usize, removed: usize, unchanged: usize) -> String {
    match status {
        TargetStatus::OlderFile => status.as_str().to_owned(),
        _ => format!("{}: +{added} -{removed} ={unchanged}", status.as_str()),
    }
}

impl ListReport {
    /// The list's line: where, what, its status and counts.
    fn write_line(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let grew = self
            .grew_to
            .map(|n| format!(", MaxEntries {} -> {n}", self.max_entries))
            .unwrap_or_default();
        writeln!(
            f,
            "{} prefix list {} {}: {} room left: {}{grew}",
            self.name(),
            self.target.scope,
            self.target.family,
            self.changes.counts(),
            self.room_left,
        )
    }
}

impl fmt::Display for ListReport {
    /// The list's line, its changes, its notes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_line(f)?;
        self.changes.write_details(f, &self.target.id)
    }
}

impl IpSetReport {
    /// The IP set's line: where, what, its status and counts.
    fn write_line(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} WAF IP set {} {}: {}",
            self.name(),
            self.target.scope,
            self.target.family,
            self.changes.counts(),
        )
    }
}

impl fmt::Display for IpSetReport {
    /// The IP set's line, its changes, its notes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_line(f)?;
        self.changes.write_details(f, &self.name)
    }
}

impl fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for AccountReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "account {} (from {}): {}", self.account, self.entry, self.status)?;
        match &self.reason {
            Some(reason) => writeln!(f, ", {reason}"),
            None => writeln!(f),
        }
    }
}

impl Summary {
    fn write_header(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.dry_run { "plan" } else { "sync" };
        let date = self
            .create_date
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        let late = if self.late_notification {
            ", newer than the notification"
        } else {
            ""
        };
        writeln!(
            f,
            "{what} of {} ({}) syncToken {}{date}{late}, in {}",
            self.service,
            self.ip_versions,
            self.sync_token,
            self.regions.join(",")
        )?;
        if self.sets.is_empty() && self.failed_regions.is_empty() {
            writeln!(
                f,
                "no tagged security groups found in {} (Name=cloudfront_g|cloudfront_r, AutoUpdate=true)",
                self.regions.join(",")
            )?;
        }
        Ok(())
    }
}

impl Summary {
    /// The plan or result in brief: the header, one line per target (the first line of its report, which says
    /// its status and counts) and its error if any, then what was skipped or unreadable; no per-CIDR lines.
    pub fn brief(&self) -> String {
        Brief(self).to_string()
    }
}

/// A summary in brief (see [`Summary::brief`]).
struct Brief<'a>(&'a Summary);

impl fmt::Display for Brief<'_> {
    /// Each target's line and notes (a forged mark, the error), from the data: no per-CIDR line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let summary = self.0;
        summary.write_header(f)?;
        for set in &summary.sets {
            set.write_line(f)?;
            set.write_notes(f)?;
        }
        for list in &summary.prefix_lists {
            list.write_line(f)?;
            list.changes.write_notes(f)?;
        }
        for ip_set in &summary.ip_sets {
            ip_set.write_line(f)?;
            ip_set.changes.write_notes(f)?;
        }
        summary.write_trailer(f)
    }
}

impl fmt::Display for Summary {
    /// A plan or a result a person can read: one line per set, then each group's changes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_header(f)?;
        self.sets.iter().try_for_each(|s| write!(f, "{s}"))?;
        self.prefix_lists.iter().try_for_each(|l| write!(f, "{l}"))?;
        self.ip_sets.iter().try_for_each(|s| write!(f, "{s}"))?;
        let mut synced = self.accounts.iter().filter(|a| a.status == AccountStatus::Synced);
        synced.try_for_each(|a| write!(f, "{a}"))?;
        self.write_trailer(f)
    }
}

impl Summary {
    fn write_trailer(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.accounts.is_empty() {
            let mut others = self.accounts.iter().filter(|a| a.status != AccountStatus::Synced);
            others.try_for_each(|a| write!(f, "{a}"))?;
            let (synced, failed, skipped) = self.account_counts();
            writeln!(f, "accounts: {synced} synced, {failed} failed, {skipped} skipped")?;
        }
        for g in &self.skipped_groups {
            writeln!(f, "skipped {} in {}: {}", g.group, g.place(), g.reason)?;
        }
        // Regions that failed alike (an endpoint nobody answers at, no credentials) are one line.
        let mut alike: Vec<(&FailedRegion, Vec<&str>)> = Vec::new();
        for r in &self.failed_regions {
            let same = |(first, _): &&mut (&FailedRegion, Vec<&str>)| {
                (&first.account, &first.reads, &first.error) == (&r.account, &r.reads, &r.error)
            };
            match alike.iter_mut().find(|a| same(a)) {
                Some((_, regions)) => regions.push(&r.region),
                None => alike.push((r, vec![&r.region])),
            }
        }
        for (r, regions) in alike {
            writeln!(f, "failed {}", r.message_of(&regions))?;
        }
        for r in &self.attachment_unchecked {
            writeln!(f, "warning: attachment not checked in {}: {}", r.place(), r.error)?;
        }
        for n in &self.not_synced {
            writeln!(f, "{}", n.line())?;
        }
        Ok(())
    }
}

impl SetReport {
    /// The set's line: its key, its groups, its status and counts.
    fn write_line(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let room: Vec<String> = self.room_left.iter().map(|(v, n)| format!("{v} {n}")).collect();
        // A set kept, or failed before it was planned, has no room counted: unknown, not zero.
        let room = match room.is_empty() {
            true => "unknown".to_owned(),
            false => room.join(", "),
        };
        writeln!(
            f,
            "{} [{}] {} room left: {room}",
            self.key,
            self.groups.join(","),
            counts(self.status, self.added, self.removed, self.unchanged),
        )
    }

    /// The lines under the set's line, one each: its warnings (attached in part, over the quota, near full), a
    /// group gone, its forged marks, its error.
    fn write_notes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.partly_attached {
            writeln!(
                f,
                "  warning: {} ({}) lacks {}: the set is attached only in part, its ranges there are blocked",
                p.interface,
                p.attachment,
                p.missing.join(",")
            )?;
        }
        for (version, over) in &self.over_quota {
            writeln!(
                f,
                "  warning: over its quota: its groups hold {over} {version} rule(s) beyond MAX_RULES_PER_GROUP; set it to your account's rules per security group (Service Quotas)"
            )?;
        }
        if self.near_full {
            writeln!(
                f,
                "  warning: {}% full: add a group with the same tags before CloudFront publishes more ranges",
                self.percent_full
            )?;
        }
        if !self.gone_groups.is_empty() {
            writeln!(
                f,
                "  note: {} went away during the run; the set was synced with the groups left",
                self.gone_groups.join(",")
            )?;
        }
        write_forged(f, &self.forged_marks, self.status)?;
        write_error(f, self.error.as_deref())
    }
}

impl fmt::Display for SetReport {
    /// The set's line, its groups' changes, its warnings and notes, its error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_line(f)?;
        let port = self.key.port;
        for (group, p) in &self.changes {
            let adds = p.authorize.iter().map(|c| ('+', *c, port, ""));
            let revokes = p
                .revoke
                .iter()
                .flat_map(|(port, cidrs)| cidrs.iter().map(move |c| ('-', *c, *port, "")));
            let after = p
                .authorize_after_revoke
                .iter()
                .map(|c| ('+', *c, port, " (after the revokes)"));
            for (sign, cidr, port, note) in adds.chain(revokes).chain(after) {
                writeln!(f, "  {group} {sign} {cidr} tcp/{port}{note}")?;
            }
        }
        self.write_notes(f)
    }
}

/// A warning line per forged mark of a target: the value it carried, why it was not trusted, and what became
/// of it (replaced when the target synced; kept by a dry run or a failure).
fn write_forged(f: &mut fmt::Formatter<'_>, forged: &[ForgedMark], status: TargetStatus) -> fmt::Result {
    let fate = match status {
        TargetStatus::Synced | TargetStatus::InSync => "replaced with the file applied",
        TargetStatus::Planned => "would be replaced (dry run)",
        _ => "not replaced yet",
    };
    for m in forged {
        writeln!(
            f,
            "  warning: forged mark on {}: {:?} ({}): not trusted, {fate}; who may tag it? (docs/targets.md: Who may tag)",
            m.target, m.value, m.reason
        )?;
    }
    Ok(())
}

/// The error line of a set, if it has one.
pub(super) fn write_error(f: &mut fmt::Formatter<'_>, error: Option<&str>) -> fmt::Result {
    match error {
        Some(e) => writeln!(f, "  error: {e}"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::ip_ranges::Scope;
    use crate::domain::security_groups::{GroupPlan, SetKey};

    /// A plan of one set whose group gains one CIDR and loses one, and a second set that failed.
    fn summary() -> Summary {
        let key = |vpc: &str| SetKey {
            account: None,
            region: "eu-west-1".into(),
            vpc: vpc.into(),
            scope: Scope::Global,
            port: 443,
        };
        let mut planned = SetReport::new(key("vpc-1"), vec!["sg-1".into()], Some(7));
        (planned.added, planned.removed, planned.unchanged) = (1, 1, 40);
        planned.status = TargetStatus::Planned;
        planned.room_left = BTreeMap::from([(crate::domain::cidr::IpVersion::Ipv4, 18)]);
        let plan = GroupPlan {
            authorize: ["192.0.2.0/24".parse().unwrap()].into(),
            revoke: BTreeMap::from([(443, ["198.51.100.0/24".parse().unwrap()].into())]),
            ..GroupPlan::default()
        };
        planned.changes = BTreeMap::from([("sg-1".to_owned(), plan)]);
        let mut failed = SetReport::new(key("vpc-2"), vec!["sg-2".into()], None);
        failed.error = Some("EC2 said no".into());
        Summary {
            sync_token: 9,
            service: "CLOUDFRONT".into(),
            ip_versions: "ipv4".into(),
            regions: vec!["eu-west-1".into()],
            dry_run: true,
            sets: vec![planned, failed],
            ..Summary::default()
        }
    }

    #[test]
    fn the_text_shows_every_cidr_of_a_plan_and_the_brief_only_each_target_and_its_error() {
        let header = "plan of CLOUDFRONT (ipv4) syncToken 9, in eu-west-1\n";
        let first = "eu-west-1/vpc-1/cloudfront_g/https [sg-1] planned: +1 -1 =40 room left: ipv4 18\n";
        let second =
            "eu-west-1/vpc-2/cloudfront_g/https [sg-2] failed: +0 -0 =0 room left: unknown\n  error: EC2 said no\n";
        let changes = "  sg-1 + 192.0.2.0/24 tcp/443\n  sg-1 - 198.51.100.0/24 tcp/443\n";
        assert_eq!(summary().to_string(), format!("{header}{first}{changes}{second}"));
        assert_eq!(summary().brief(), format!("{header}{first}{second}"));
    }

    #[test]
    fn a_target_kept_for_a_newer_file_says_so_without_counts() {
        let mut summary = summary();
        summary.sets.truncate(1);
        summary.sets[0].status = TargetStatus::OlderFile;
        summary.sets[0].changes.clear();
        let brief = summary.brief();
        assert!(
            brief.contains("[sg-1] kept: holds a newer file room left: ipv4 18\n"),
            "{brief}"
        );
    }
}
