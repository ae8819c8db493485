//! CloudFront's real history and EC2's real consistency, against the in-memory ports: a scope that empties
//! while the file keeps that IP version elsewhere, never backwards on every target, reads that lag writes,
//! targets deleted during a run, EC2's state message. Milliseconds each (paused clock), no emulator.

use std::collections::BTreeSet;

use crate::domain::cidr::Cidr;
use crate::report::TargetStatus;

use std::time::Duration;

use crate::domain::prefix_lists::Entry;
use crate::domain::security_groups::SYNC_TOKEN_TAG;
use crate::ports::WafScope;
use crate::testing::{FakeEc2, Op, our_rule};

use super::ip_sets_tests::run_with;
use super::tests::{c, cidrs, description, doc};
use super::*;

const TAGGED_G: [(&str, &str); 2] = [("Name", "cloudfront_g"), ("AutoUpdate", "true")];
const TAGGED_R: [(&str, &str); 2] = [("Name", "cloudfront_r"), ("AutoUpdate", "true")];
const REGIONAL: (&str, WafScope) = ("us-east-1", WafScope::Regional);

fn ours(cidr: &str) -> Entry {
    Entry {
        cidr: c(cidr),
        description: Some(description()),
    }
}

fn list_cidrs(ec2: &FakeEc2, id: &str) -> BTreeSet<Cidr> {
    ec2.list(id).unwrap().entries.iter().map(|e| e.cidr).collect()
}

/// Writes to rules, lists and IP sets (not the tags that record the file).
fn writes(ec2: &FakeEc2) -> usize {
    let kinds = [Op::Authorize, Op::Revoke, Op::Modify, Op::Grow, Op::IpSetUpdate];
    kinds.iter().map(|op| ec2.calls_of(*op).len()).sum()
}

/// Regional IPv4 and IPv6 held by a set, a regional IPv6 list and a regional IPv6 IP set, from a file applied
/// before (syncToken 1) that had regional IPv6 ranges.
fn regional_v6_world() -> FakeEc2 {
    let ec2 = FakeEc2::default();
    ec2.add_set_group("sg-r", "vpc-1", Scope::Regional);
    let d = description();
    ec2.add_rules(
        "sg-r",
        [
            our_rule(c("11.9.0.0/24"), 443, &d),
            our_rule(c("2600:9000:5200::/48"), 443, &d),
        ],
    );
    let mark = [
        ("Name", "cloudfront_r"),
        ("AutoUpdate", "true"),
        (SYNC_TOKEN_TAG, "1 ipv4 ipv6"),
    ];
    ec2.add_list("pl-r6", &mark, IpVersion::Ipv6, 10, vec![ours("2600:9000:5200::/48")]);
    ec2.add_ip_set("r6", REGIONAL, &mark, IpVersion::Ipv6, cidrs(&["2600:9000:5200::/48"]));
    ec2
}

#[tokio::test]
async fn a_scope_that_loses_every_range_of_a_version_is_emptied_on_every_target_while_the_file_keeps_it() {
    // As on 2024-05-29 (pair C): no regional IPv6 range left, GLOBAL IPv6 ones still listed.
    let ec2 = regional_v6_world();
    let summary = run_with(&ec2, doc(2, &["2600:9000::/28"], &["11.9.0.0/24"]), &[]).await;
    assert!(summary.failures().is_empty(), "{:?}", summary.failures());
    assert_eq!(
        (summary.sets[0].status, summary.sets[0].removed),
        (TargetStatus::Synced, 1)
    );
    assert_eq!(ec2.ours("sg-r", 443), cidrs(&["11.9.0.0/24"]));
    assert!(list_cidrs(&ec2, "pl-r6").is_empty());
    assert!(ec2.ip_set("r6").unwrap().addresses.is_empty());
    assert_eq!(ec2.tag("sg-r", SYNC_TOKEN_TAG).as_deref(), Some("2 ipv4"));

    // A file with no IPv6 range at all, in any scope (cut, reformatted), is still refused on every target.
    let ec2 = regional_v6_world();
    let summary = run_with(&ec2, doc(2, &["11.0.0.0/24"], &["11.9.0.0/24"]), &[]).await;
    assert_eq!(summary.sets[0].status, TargetStatus::Failed);
    assert_eq!(summary.prefix_lists[0].changes.status, TargetStatus::Failed);
    assert_eq!(summary.ip_sets[0].changes.status, TargetStatus::Failed);
    assert_eq!(ec2.ours("sg-r", 443), cidrs(&["11.9.0.0/24", "2600:9000:5200::/48"]));
    assert_eq!(list_cidrs(&ec2, "pl-r6"), cidrs(&["2600:9000:5200::/48"]));
}

#[tokio::test]
async fn an_older_file_after_a_newer_one_is_refused_by_lists_and_ip_sets_and_writes_nothing() {
    let ec2 = FakeEc2::default();
    ec2.add_list("pl-g4", &TAGGED_G, IpVersion::Ipv4, 10, Vec::new());
    ec2.add_ip_set("g4", REGIONAL, &TAGGED_G, IpVersion::Ipv4, cidrs(&[]));
    let newer = run_with(&ec2, doc(5, &["11.0.1.0/24", "11.0.2.0/24"], &[]), &[]).await;
    assert_eq!(newer.prefix_lists[0].changes.status, TargetStatus::Synced);
    assert_eq!(ec2.list("pl-g4").unwrap().tags[SYNC_TOKEN_TAG], "5 ipv4");
    assert_eq!(ec2.ip_set("g4").unwrap().tags[SYNC_TOKEN_TAG], "5 ipv4");

    let before = writes(&ec2);
    let older = run_with(&ec2, doc(3, &["11.0.1.0/24", "11.0.9.0/24"], &[]), &[]).await;
    let list = &older.prefix_lists[0].changes;
    let ip_set = &older.ip_sets[0].changes;
    assert_eq!(
        (list.status, list.previous_sync_token),
        (TargetStatus::OlderFile, Some(5))
    );
    assert_eq!(
        (ip_set.status, ip_set.previous_sync_token),
        (TargetStatus::OlderFile, Some(5))
    );
    assert_eq!(writes(&ec2), before, "nothing written");
    assert!(older.failures().is_empty());
    assert_eq!(list_cidrs(&ec2, "pl-g4"), cidrs(&["11.0.1.0/24", "11.0.2.0/24"]));
    assert_eq!(
        ec2.ip_set("g4").unwrap().addresses,
        cidrs(&["11.0.1.0/24", "11.0.2.0/24"])
    );
    assert!(older.to_string().contains("kept: holds a newer file"), "{older}");

    // The same file again writes no tag either: the mark is already there.
    let tags = ec2.calls_of(Op::Tag).len();
    run_with(&ec2, doc(5, &["11.0.1.0/24", "11.0.2.0/24"], &[]), &[]).await;
    assert_eq!(ec2.calls_of(Op::Tag).len(), tags);
}

/// Two sets (GLOBAL over two groups, regional over one) brought to a file, with every read of a group just
/// written lagging `lag` reads behind; the writes made and the run's report.
async fn two_sets_first_sync(lag: usize) -> (FakeEc2, usize, Summary) {
    let ec2 = FakeEc2::default();
    for (id, scope) in [
        ("sg-a", Scope::Global),
        ("sg-b", Scope::Global),
        ("sg-r", Scope::Regional),
    ] {
        ec2.add_set_group(id, "vpc-1", scope);
    }
    ec2.add_rules("sg-a", [our_rule(c("11.8.0.0/24"), 443, &description())]);
    ec2.lag_reads(lag);
    let global = [
        "11.0.0.0/24",
        "11.0.1.0/24",
        "11.0.2.0/24",
        "11.0.3.0/24",
        "11.0.4.0/24",
    ];
    let summary = run_with(&ec2, doc(2, &global, &["11.9.0.0/24"]), &[]).await;
    (ec2.clone(), writes(&ec2), summary)
}

#[tokio::test(start_paused = true)]
async fn reads_that_lag_our_writes_are_waited_out_and_never_re_planned() {
    let (_, without_lag, _) = two_sets_first_sync(0).await;
    let started = Instant::now();
    let (ec2, with_lag, summary) = two_sets_first_sync(2).await;
    assert_eq!(with_lag, without_lag, "no write made twice");
    assert!(summary.failures().is_empty(), "{:?}", summary.failures());
    assert!(
        summary
            .sets
            .iter()
            .all(|s| s.status == TargetStatus::Synced && s.replans == 0)
    );
    let global: BTreeSet<Cidr> = ec2.ours("sg-a", 443).union(&ec2.ours("sg-b", 443)).copied().collect();
    assert_eq!(global.len(), 5);
    assert!(!global.contains(&c("11.8.0.0/24")));
    assert_eq!(ec2.ours("sg-r", 443), cidrs(&["11.9.0.0/24"]));
    // Two lagging reads: pauses of 0.5 and 1 s, then the read that shows the writes.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_read_lagging_longer_than_the_backoff_is_planned_from_and_still_ends_exact() {
    let (_, without_lag, _) = two_sets_first_sync(0).await;
    let (ec2, with_lag, summary) = two_sets_first_sync(4).await;
    assert!(summary.failures().is_empty(), "{:?}", summary.failures());
    let global: BTreeSet<Cidr> = ec2.ours("sg-a", 443).union(&ec2.ours("sg-b", 443)).copied().collect();
    assert_eq!(global.len(), 5);
    assert!(with_lag > without_lag, "re-planned from the lagging read");
}

#[tokio::test(start_paused = true)]
async fn a_list_read_that_lags_our_write_is_never_taken_as_settled() {
    let ec2 = FakeEc2::default();
    ec2.add_list("pl-big", &TAGGED_G, IpVersion::Ipv4, 300, Vec::new());
    ec2.lag_reads(2);
    let wanted: Vec<String> = (0..150).map(|i| format!("11.{}.{}.0/24", i / 256, i % 256)).collect();
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let summary = run_with(&ec2, doc(2, &wanted, &[]), &[]).await;
    let list = &summary.prefix_lists[0].changes;
    assert_eq!(
        (list.status, list.added, list.replans),
        (TargetStatus::Synced, 150, 0),
        "{list:?}"
    );
    // Two calls (100 + 50), the second at the version the first made, each waited until a read showed it.
    assert_eq!(ec2.calls_of(Op::Modify).len(), 2);
    assert_eq!(ec2.list("pl-big").unwrap().version, 3);
    assert_eq!(list_cidrs(&ec2, "pl-big").len(), 150);
}

#[tokio::test]
async fn a_group_deleted_before_the_first_write_drops_out_and_the_set_syncs_with_the_groups_left() {
    let ec2 = FakeEc2::default();
    for id in ["sg-a", "sg-b", "sg-c"] {
        ec2.add_set_group(id, "vpc-1", Scope::Global);
    }
    ec2.delete_before(Op::Authorize, "sg-c");
    let wanted = [
        "11.0.0.0/24",
        "11.0.1.0/24",
        "11.0.2.0/24",
        "11.0.3.0/24",
        "11.0.4.0/24",
        "11.0.5.0/24",
    ];
    let summary = run_with(&ec2, doc(2, &wanted, &[]), &[]).await;
    let set = &summary.sets[0];
    assert!(summary.failures().is_empty(), "{:?}", summary.failures());
    assert_eq!(
        (set.status, set.gone_groups.clone()),
        (TargetStatus::Synced, vec!["sg-c".to_owned()])
    );
    let held: BTreeSet<Cidr> = ec2.ours("sg-a", 443).union(&ec2.ours("sg-b", 443)).copied().collect();
    assert_eq!(held, cidrs(&wanted));
    assert!(
        summary.to_string().contains("note: sg-c went away during the run"),
        "{summary}"
    );
    assert_eq!(ec2.tag("sg-a", SYNC_TOKEN_TAG).as_deref(), Some("2 ipv4"));
}

#[tokio::test]
async fn a_set_whose_every_group_is_deleted_during_the_run_is_gone_not_failed() {
    let ec2 = FakeEc2::default();
    ec2.add_set_group("sg-a", "vpc-1", Scope::Global);
    ec2.delete_before(Op::Authorize, "sg-a");
    let summary = run_with(&ec2, doc(2, &["11.0.0.0/24"], &[]), &[]).await;
    assert_eq!(summary.sets[0].status, TargetStatus::Gone);
    assert_eq!(summary.sets[0].gone_groups, ["sg-a"]);
    assert!(summary.into_result().is_ok());
}

#[tokio::test]
async fn a_list_or_ip_set_deleted_during_the_run_is_reported_gone_alone() {
    let ec2 = FakeEc2::default();
    ec2.add_list("pl-g4", &TAGGED_G, IpVersion::Ipv4, 10, Vec::new());
    ec2.add_list("pl-r4", &TAGGED_R, IpVersion::Ipv4, 10, Vec::new());
    ec2.add_ip_set("g4", REGIONAL, &TAGGED_G, IpVersion::Ipv4, cidrs(&[]));
    ec2.delete_before(Op::Modify, "pl-g4");
    ec2.delete_before(Op::IpSetUpdate, "g4");
    let summary = run_with(&ec2, doc(2, &["11.0.1.0/24"], &["11.9.0.0/24"]), &[]).await;
    let status = |id: &str| {
        summary
            .prefix_lists
            .iter()
            .find(|l| l.target.id == id)
            .unwrap()
            .changes
            .status
    };
    assert_eq!(summary.ip_sets[0].changes.status, TargetStatus::Gone);
    assert!(summary.failures().is_empty(), "{:?}", summary.failures());
    // pl-g4 is deleted when the first modification starts, its own or the other list's: gone either way.
    assert_eq!(
        (status("pl-g4"), status("pl-r4")),
        (TargetStatus::Gone, TargetStatus::Synced)
    );
    assert!(
        summary.to_string().contains("gone: deleted during the run"),
        "{summary}"
    );
}

#[tokio::test]
async fn a_list_modification_ec2_fails_says_what_ec2_said() {
    let ec2 = FakeEc2::default();
    ec2.add_list("pl-g4", &TAGGED_G, IpVersion::Ipv4, 10, Vec::new());
    let message = "The following VPC resources cannot accommodate the new size: sg-0abc (rules quota)";
    ec2.fail_next_list_write("pl-g4", message);
    let summary = run_with(&ec2, doc(2, &["11.0.1.0/24"], &[]), &[]).await;
    let error = summary.prefix_lists[0].changes.error.clone().unwrap_or_default();
    assert!(error.contains("modify-failed") && error.contains(message), "{error}");
    assert!(summary.to_string().contains(message), "{summary}");
}

#[tokio::test]
async fn unmark_lists_every_target_recording_a_file_and_clears_the_records_only_with_apply() {
    // A newer file than the run's (syncToken 1000, in the past: trusted) recorded on a set, a list and an IP set.
    let ec2 = FakeEc2::default();
    ec2.add_group(
        "sg-a",
        "vpc-1",
        &[
            ("Name", "cloudfront_g"),
            ("AutoUpdate", "true"),
            ("Protocol", "https"),
            (SYNC_TOKEN_TAG, "1000 ipv4"),
        ],
    );
    let future = [
        ("Name", "cloudfront_g"),
        ("AutoUpdate", "true"),
        (SYNC_TOKEN_TAG, "1000 ipv4"),
    ];
    ec2.add_list("pl-g4", &future, IpVersion::Ipv4, 10, Vec::new());
    ec2.add_ip_set("g4", REGIONAL, &future, IpVersion::Ipv4, cidrs(&[]));
    let kept = run_with(&ec2, doc(2, &["11.0.1.0/24"], &[]), &[]).await;
    assert_eq!(statuses(&kept), [TargetStatus::OlderFile; 3], "frozen by the record");

    let accounts = [Account::own(ec2.clone()).with_ip_sets(ec2.clone())];
    let config = super::tests::config(&[]);
    let listed = unmark(&config, &accounts, false).await.unwrap();
    let kinds: Vec<(&str, u64, bool)> = listed
        .iter()
        .map(|m| (m.kind.as_str(), m.sync_token, m.cleared))
        .collect();
    assert_eq!(
        kinds,
        [
            ("security-group-set", 1000, false),
            ("prefix-list", 1000, false),
            ("waf-ip-set", 1000, false)
        ]
    );
    assert!(ec2.calls_of(Op::Untag).is_empty(), "listing clears nothing");
    assert!(
        listed[0]
            .to_string()
            .contains("syncToken 1000: recorded (--apply clears it)")
    );

    let cleared = unmark(&config, &accounts, true).await.unwrap();
    assert!(cleared.iter().all(|m| m.cleared && m.error.is_none()), "{cleared:?}");
    assert_eq!(ec2.tag("sg-a", SYNC_TOKEN_TAG), None);
    let synced = run_with(&ec2, doc(2, &["11.0.1.0/24"], &[]), &[]).await;
    assert_eq!(
        statuses(&synced),
        [TargetStatus::Synced; 3],
        "the real file is applied again"
    );
    assert_eq!(ec2.tag("sg-a", SYNC_TOKEN_TAG).as_deref(), Some("2 ipv4"));
}

#[tokio::test]
async fn marks_from_the_future_or_unreadable_are_not_trusted_the_file_is_applied_and_the_marks_replaced() {
    let now = super::unix_now();
    let future = (now + 2 * 3600).to_string();
    let within = (now + 600).to_string();
    let ec2 = FakeEc2::default();
    ec2.add_set_group("sg-a", "vpc-1", Scope::Global);
    ec2.add_set_group("sg-b", "vpc-1", Scope::Global);
    ec2.add_list("pl-g4", &TAGGED_G, IpVersion::Ipv4, 10, Vec::new());
    ec2.add_ip_set("g4", REGIONAL, &TAGGED_G, IpVersion::Ipv4, cidrs(&[]));
    let file = doc(2, &["11.0.1.0/24"], &[]);
    run_with(&ec2, file.clone(), &[]).await;
    // A tagger forges marks: two hours ahead on one group of the set, a value we never write on the list, 2100 on
    // the IP set.
    ec2.set_tag("sg-a", SYNC_TOKEN_TAG, &format!("{future} ipv4"));
    ec2.set_tag("pl-g4", SYNC_TOKEN_TAG, "latest");
    ec2.set_tag("g4", SYNC_TOKEN_TAG, "4102444800 ipv4");
    let newer = doc(3, &["11.0.2.0/24"], &[]);

    let planned = run_with(&ec2, newer.clone(), &[("DRY_RUN", "true")]).await;
    assert_eq!(statuses(&planned), [TargetStatus::Planned; 3], "counted as absent");
    assert_eq!(
        ec2.tag("sg-a", SYNC_TOKEN_TAG),
        Some(format!("{future} ipv4")),
        "a dry run writes nothing"
    );
    assert!(planned.to_string().contains("would be replaced (dry run)"), "{planned}");

    let synced = run_with(&ec2, newer, &[]).await;
    assert_eq!(statuses(&synced), [TargetStatus::Synced; 3]);
    let forged: Vec<(String, &str, &str)> = (synced.forged_marks())
        .map(|(place, m)| (place, m.target.as_str(), m.value.as_str()))
        .collect();
    let expected_future = format!("{future} ipv4");
    assert_eq!(
        forged,
        [
            ("us-east-1".to_owned(), "sg-a", expected_future.as_str()),
            ("us-east-1".to_owned(), "pl-g4", "latest"),
            ("us-east-1".to_owned(), "REGIONAL/g4", "4102444800 ipv4"),
        ]
    );
    for target in ["sg-a", "sg-b", "pl-g4", "g4"] {
        assert_eq!(ec2.tag(target, SYNC_TOKEN_TAG).as_deref(), Some("3 ipv4"), "{target}");
    }
    assert_eq!(
        ec2.ours("sg-a", 443)
            .into_iter()
            .chain(ec2.ours("sg-b", 443))
            .collect::<BTreeSet<_>>(),
        cidrs(&["11.0.2.0/24"])
    );
    assert_eq!(list_cidrs(&ec2, "pl-g4"), cidrs(&["11.0.2.0/24"]));
    assert_eq!(ec2.ip_set("g4").unwrap().addresses, cidrs(&["11.0.2.0/24"]));
    let text = synced.to_string();
    assert!(
        text.contains("warning: forged mark on sg-a") && text.contains("replaced with the file applied"),
        "{text}"
    );
    assert!(
        synced.brief().contains("warning: forged mark on pl-g4"),
        "{}",
        synced.brief()
    );
    assert!(synced.clone().into_result().is_ok(), "not a failure");

    // A mark less than MAX_AHEAD_SECS ahead is trusted: the set keeps it, nothing forged.
    ec2.set_tag("sg-b", SYNC_TOKEN_TAG, &format!("{within} ipv4"));
    let kept = run_with(&ec2, file, &[]).await;
    assert_eq!(kept.sets[0].status, TargetStatus::OlderFile);
    assert_eq!(kept.forged_marks().count(), 0);
}

/// The statuses of a run's set, prefix list and IP set, in that order.
fn statuses(summary: &Summary) -> Vec<TargetStatus> {
    let sets = summary.sets.iter().map(|s| s.status);
    sets.chain(summary.entry_changes().map(|c| c.status)).collect()
}

#[tokio::test]
async fn remove_takes_back_every_rule_entry_and_address_of_ours_and_only_with_apply() {
    let ec2 = FakeEc2::default();
    ec2.add_set_group("sg-a", "vpc-1", Scope::Global);
    ec2.add_list("pl-g4", &TAGGED_G, IpVersion::Ipv4, 10, vec![hand_made("192.0.2.0/24")]);
    ec2.add_ip_set("g4", REGIONAL, &TAGGED_G, IpVersion::Ipv4, cidrs(&[]));
    run_with(&ec2, doc(2, &["11.0.1.0/24", "11.0.2.0/24"], &[]), &[]).await;
    ec2.add_rules("sg-a", [hand_rule("198.51.100.0/24")]);

    let accounts = [Account::own(ec2.clone()).with_ip_sets(ec2.clone())];
    let config = super::tests::config(&[]);
    let listed = remove(&config, &accounts, false).await.unwrap();
    let held: Vec<(&str, usize, bool)> = listed.iter().map(|r| (r.kind.as_str(), r.held, r.done)).collect();
    assert_eq!(
        held,
        [
            ("security-group-set", 2, false),
            ("prefix-list", 2, false),
            ("waf-ip-set", 2, false)
        ]
    );
    assert_eq!(ec2.ours("sg-a", 443).len(), 2, "listing removes nothing");

    let removed = remove(&config, &accounts, true).await.unwrap();
    assert!(removed.iter().all(|r| r.done && r.removed == r.held), "{removed:?}");
    assert!(ec2.ours("sg-a", 443).is_empty());
    assert_eq!(ec2.tag("sg-a", SYNC_TOKEN_TAG), None);
    assert_eq!(
        list_cidrs(&ec2, "pl-g4"),
        cidrs(&["192.0.2.0/24"]),
        "the hand-made entry stays"
    );
    assert!(ec2.ip_set("g4").unwrap().addresses.is_empty());
    assert!(!ec2.list("pl-g4").unwrap().tags.contains_key(SYNC_TOKEN_TAG));
    assert_eq!(
        ec2.calls_of(Op::Revoke).len(),
        1,
        "one revoke call for the group's rules of ours"
    );
}

fn hand_made(cidr: &str) -> Entry {
    Entry {
        cidr: c(cidr),
        description: Some("office".into()),
    }
}

/// A hand-made rule on 443 (any description but ours).
fn hand_rule(cidr: &str) -> crate::domain::security_groups::Rule {
    crate::domain::security_groups::Rule {
        description: Some("office".into()),
        ..our_rule(c(cidr), 443, "x")
    }
}
