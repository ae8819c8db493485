//! `sync` against the in-memory ports: ordering, partial failure, the deadline (on a paused clock), lagging and
//! older files, the record of the file applied. Milliseconds each, no emulator.

use crate::domain::cidr::Cidr;
use crate::domain::security_groups::{PrefixListWeights, RuleSource};
use crate::report::TargetStatus;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::*;
use crate::domain::event::Notification;
use crate::domain::security_groups::{DESCRIPTION_PREFIX, SYNC_TOKEN_TAG};
use crate::ports::Account;
use crate::testing::{FakeEc2, FakeSource, Op, our_rule};

/// The function's own account, held by `ec2` (a clone sharing its state).
pub(super) fn own(ec2: &FakeEc2) -> [Account<FakeEc2>; 1] {
    [Account::own(ec2.clone())]
}

pub(super) fn c(s: &str) -> Cidr {
    s.parse().unwrap()
}

pub(super) fn cidrs(list: &[&str]) -> BTreeSet<Cidr> {
    list.iter().map(|s| c(s)).collect()
}

/// A small ip-ranges.json: CLOUDFRONT `global` and `regional` (us-east-1) prefixes, IPv4 or IPv6.
pub(super) fn doc(token: u64, global: &[&str], regional: &[&str]) -> Vec<u8> {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let all = global
        .iter()
        .map(|p| (p, "GLOBAL"))
        .chain(regional.iter().map(|p| (p, "us-east-1")));
    for (prefix, region) in all {
        if prefix.contains(':') {
            v6.push(json!({"ipv6_prefix": prefix, "region": region, "service": "CLOUDFRONT"}));
        } else {
            v4.push(json!({"ip_prefix": prefix, "region": region, "service": "CLOUDFRONT"}));
        }
    }
    serde_json::to_vec(&json!({"syncToken": token.to_string(), "prefixes": v4, "ipv6_prefixes": v6})).unwrap()
}

/// The settings of these tests: every range as the document gives it (`AGGREGATE=false`: they count ranges and
/// rules one for one; aggregation has its own tests), unless `extra` says otherwise.
pub(super) fn config(extra: &[(&str, &str)]) -> Config {
    let mut vars = vec![
        ("AWS_REGION", "us-east-1"),
        ("MAX_RULES_PER_GROUP", "4"),
        ("AGGREGATE", "false"),
    ];
    vars.extend_from_slice(extra);
    Config::from_pairs(&vars).unwrap()
}

pub(super) fn description() -> String {
    format!("{DESCRIPTION_PREFIX}: CLOUDFRONT GLOBAL")
}

fn notification_for(body: &[u8], token: u64) -> Trigger {
    Trigger::Notification(Notification {
        sync_token: token,
        md5: crate::domain::ip_ranges::md5_hex(body),
        create_time: None,
        url: None,
    })
}

/// A GLOBAL set of two groups (sg-a holds one stale and one wanted range) and a regional set of one group
/// (sg-r holds one stale range).
fn two_sets() -> FakeEc2 {
    let ec2 = FakeEc2::default();
    ec2.add_set_group("sg-a", "vpc-1", Scope::Global);
    ec2.add_set_group("sg-b", "vpc-1", Scope::Global);
    ec2.add_set_group("sg-r", "vpc-1", Scope::Regional);
    let d = description();
    ec2.add_rules(
        "sg-a",
        [our_rule(c("11.0.0.0/24"), 443, &d), our_rule(c("11.0.1.0/24"), 443, &d)],
    );
    ec2.add_rules("sg-r", [our_rule(c("11.8.0.0/24"), 443, &d)]);
    ec2
}

/// A scheduled run over `body` with the settings `extra`, as it answers.
pub(super) async fn scheduled(ec2: &FakeEc2, body: Vec<u8>, extra: &[(&str, &str)]) -> Summary {
    run(
        &config(extra),
        &Trigger::Scheduled,
        &FakeSource::new([body]),
        &own(ec2),
        None,
    )
    .await
    .unwrap()
}

/// A scheduled run over [`change`] with `deadline_s` seconds to the deadline and a margin of `margin_s`.
async fn with_deadline(ec2: &FakeEc2, deadline_s: u64, margin_s: &str) -> Summary {
    let deadline = Instant::now() + Duration::from_secs(deadline_s);
    let config = config(&[("DEADLINE_MARGIN_SECONDS", margin_s)]);
    run(
        &config,
        &Trigger::Scheduled,
        &FakeSource::new([change()]),
        &own(ec2),
        Some(deadline),
    )
    .await
    .unwrap()
}

/// The set failed, and its error says `phrase`.
fn assert_failed(set: &SetReport, phrase: &str) {
    assert_eq!(set.status, TargetStatus::Failed, "{set:?}");
    let error = set.error.as_deref().unwrap_or_default();
    assert!(error.contains(phrase), "{phrase:?} not in {error:?}");
}

/// A prefix list or WAF IP set failed, saying `phrase`.
#[track_caller]
pub(super) fn assert_entries_failed(changes: &crate::report::EntryChanges, phrase: &str) {
    assert_eq!(changes.status, TargetStatus::Failed, "{changes:?}");
    let error = changes.error.as_deref().unwrap_or_default();
    assert!(error.contains(phrase), "{phrase:?} not in {error:?}");
}

/// The summary's text holds `text`.
#[track_caller]
fn assert_says(summary: &Summary, text: &str) {
    let said = summary.to_string();
    assert!(said.contains(text), "{text:?} not in:\n{said}");
}

fn change() -> Vec<u8> {
    doc(2, &["11.0.1.0/24", "11.0.2.0/24", "11.0.3.0/24"], &["11.9.0.0/24"])
}

#[tokio::test]
async fn authorizations_come_first_and_a_failed_one_revokes_nothing_in_its_set_while_others_sync() {
    let ec2 = two_sets();
    // sg-b has the most room, so it gets the GLOBAL set's new ranges: fail it.
    ec2.fail(Op::Authorize, Some("sg-b"), "UnauthorizedOperation");
    let summary = scheduled(&ec2, change(), &[]).await;

    assert_failed(&summary.sets[0], "UnauthorizedOperation");
    assert_eq!(
        ec2.ours("sg-a", 443),
        cidrs(&["11.0.0.0/24", "11.0.1.0/24"]),
        "nothing revoked"
    );
    // The regional set: authorized, then revoked, then recorded.
    let regional: Vec<Op> = ec2
        .calls()
        .iter()
        .filter(|c| c.group.as_deref() == Some("sg-r"))
        .map(|c| c.op)
        .collect();
    assert_eq!(regional, [Op::Authorize, Op::Revoke, Op::Tag]);
    assert_eq!(ec2.ours("sg-r", 443), cidrs(&["11.9.0.0/24"]));
    assert_eq!(ec2.tag("sg-a", SYNC_TOKEN_TAG), None, "a failed set records nothing");
    let Err(Error::SetsFailed { sets_failed, sets, .. }) = summary.into_result() else {
        panic!("the run must answer an error");
    };
    assert_eq!((sets_failed, sets), (1, 2));
}

#[tokio::test]
async fn a_failed_revocation_keeps_the_authorizations_made() {
    let ec2 = two_sets();
    ec2.fail(Op::Revoke, Some("sg-a"), "InternalError");
    let summary = scheduled(&ec2, change(), &[]).await;
    let global = &summary.sets[0];
    assert_failed(global, "InternalError");
    assert_eq!((global.added, global.removed), (2, 0));
    assert_eq!(ec2.ours("sg-b", 443), cidrs(&["11.0.2.0/24", "11.0.3.0/24"]));
    assert!(ec2.ours("sg-a", 443).contains(&c("11.0.0.0/24")));
}

#[tokio::test(start_paused = true)]
async fn a_call_still_running_at_the_margin_is_cut_off_and_nothing_after_it_starts() {
    let ec2 = two_sets();
    ec2.delay(Op::Authorize, Duration::from_secs(100));
    let started = Instant::now();
    let summary = with_deadline(&ec2, 60, "10").await;
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(50),
        "answered at the margin, not the deadline"
    );
    assert!(ec2.calls_of(Op::Revoke).is_empty());
    assert!(ec2.calls_of(Op::Tag).is_empty());
    for set in &summary.sets {
        assert_eq!(set.status, TargetStatus::Failed);
        assert!(set.error.as_deref().unwrap().contains("deadline margin"), "{set:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn no_write_starts_inside_the_margin() {
    let ec2 = two_sets();
    ec2.delay(Op::Describe, Duration::from_secs(55));
    // The describe ends exactly at the margin: no write may start.
    let summary = with_deadline(&ec2, 60, "5").await;
    assert!(ec2.calls_of(Op::Authorize).is_empty() && ec2.calls_of(Op::Revoke).is_empty());
    let global = &summary.sets[0];
    let error = global.error.as_deref().unwrap();
    assert!(
        error.contains("2 write(s) of set") && error.contains("not started"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_file_older_than_its_notification_is_fetched_again_with_backoff_until_the_new_one_is_served() {
    let ec2 = two_sets();
    let old = doc(1, &["11.0.1.0/24"], &["11.8.0.0/24"]);
    let new = change();
    let source = FakeSource::new([old.clone(), old, new.clone()]);
    let started = Instant::now();
    let summary = run(&config(&[]), &notification_for(&new, 2), &source, &own(&ec2), None)
        .await
        .unwrap();
    let waits: Vec<Duration> = source.fetches().iter().map(|t| t.duration_since(started)).collect();
    assert_eq!(waits, [Duration::ZERO, Duration::from_secs(5), Duration::from_secs(15)]);
    assert_eq!(summary.sync_token, 2);
    assert!(!summary.late_notification);
}

#[tokio::test(start_paused = true)]
async fn a_file_that_stays_older_fails_after_the_wait_and_within_the_deadline() {
    let old = doc(1, &["11.0.1.0/24"], &[]);
    let trigger = notification_for(&change(), 2);

    let source = FakeSource::new([old.clone()]);
    let ec2 = two_sets();
    let err = run(
        &config(&[("LAGGING_FILE_WAIT_SECONDS", "30")]),
        &trigger,
        &source,
        &own(&ec2),
        None,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Md5Mismatch {
                notified_token: 2,
                file_token: 1,
                ..
            }
        ),
        "{err:?}"
    );
    // 5 + 10 + 15 (the rest of the 30 s).
    assert_eq!(source.fetches().len(), 4);
    assert!(ec2.calls().is_empty(), "nothing read or written");

    // A deadline 20 s away with a 10 s margin leaves room for one pause only.
    let source = FakeSource::new([old]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let config = config(&[("DEADLINE_MARGIN_SECONDS", "10")]);
    let err = run(&config, &trigger, &source, &own(&ec2), Some(deadline))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Md5Mismatch { .. }), "{err:?}");
    assert_eq!(source.fetches().len(), 2);
}

#[tokio::test]
async fn the_file_applied_is_recorded_once_and_an_older_one_is_then_kept_out() {
    let ec2 = two_sets();
    scheduled(&ec2, change(), &[]).await;
    assert_eq!(ec2.tag("sg-a", SYNC_TOKEN_TAG).as_deref(), Some("2 ipv4"));
    assert_eq!(ec2.calls_of(Op::Tag).len(), 2, "one per set");

    // The same file again: nothing written, not even the tag.
    let again = scheduled(&ec2, change(), &[]).await;
    assert_eq!(ec2.calls_of(Op::Tag).len(), 2);
    assert!(again.sets.iter().all(|s| s.status == TargetStatus::InSync));

    // An older file: every set keeps what it holds, and the run succeeds.
    let writes_before = ec2.calls().len();
    let older = doc(1, &["11.0.0.0/24"], &["11.8.0.0/24"]);
    let summary = scheduled(&ec2, older, &[]).await;
    assert!(
        summary
            .sets
            .iter()
            .all(|s| s.status == TargetStatus::OlderFile && s.previous_sync_token == Some(2))
    );
    let mut ops: Vec<Op> = ec2.calls()[writes_before..].iter().map(|c| c.op).collect();
    ops.sort();
    assert_eq!(ops, [Op::Describe, Op::Interfaces, Op::Lists], "reads only, no write");
    // Not planned: no counts, and its room is not known (not zero).
    let text = summary.to_string();
    assert!(
        text.contains("[sg-a,sg-b] kept: holds a newer file room left: unknown\n"),
        "{text}"
    );
    assert!(summary.into_result().is_ok());
}

#[tokio::test]
async fn a_new_group_in_a_set_gets_the_tag_without_the_others_being_rewritten() {
    let ec2 = two_sets();
    scheduled(&ec2, change(), &[]).await;
    ec2.add_set_group("sg-c", "vpc-1", Scope::Global);
    scheduled(&ec2, change(), &[]).await;
    let tags = ec2.calls_of(Op::Tag);
    assert_eq!(tags.len(), 3);
    assert_eq!(tags[2].group.as_deref(), Some("sg-c"));
    assert_eq!(ec2.tag("sg-c", SYNC_TOKEN_TAG).as_deref(), Some("2 ipv4"));
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_records_nothing() {
    let ec2 = two_sets();
    let summary = scheduled(&ec2, change(), &[("DRY_RUN", "true")]).await;
    let mut ops: Vec<Op> = ec2.calls().iter().map(|c| c.op).collect();
    ops.sort();
    assert_eq!(ops, [Op::Describe, Op::Interfaces, Op::Lists]);
    assert_eq!(
        (summary.sets[0].status, summary.sets[0].added, summary.sets[0].removed),
        (TargetStatus::Planned, 2, 1)
    );
}

#[tokio::test]
async fn prefix_lists_are_weighed_once_per_region_and_a_failed_lookup_fails_only_the_sets_that_reference_one() {
    let reference = |id: &str| crate::domain::security_groups::Rule {
        source: RuleSource::PrefixList(id.into()),
        ..our_rule(c("11.0.0.0/24"), 443, "office")
    };
    let ec2 = two_sets();
    ec2.add_rules("sg-r", [reference("pl-office")]);
    ec2.set_weights(PrefixListWeights::from([(
        "pl-office".to_string(),
        crate::domain::security_groups::PrefixListWeight {
            version: IpVersion::Ipv4,
            weight: 3,
        },
    )]));
    let summary = scheduled(&ec2, change(), &[]).await;
    assert_eq!(ec2.calls_of(Op::PrefixLists).len(), 1);
    // sg-r: 4 slots, the list weighs 3, one wanted range.
    assert_eq!(summary.sets[1].room_left[&IpVersion::Ipv4], 0);

    let ec2 = two_sets();
    ec2.add_rules("sg-r", [reference("pl-office")]);
    ec2.fail(Op::PrefixLists, None, "UnauthorizedOperation");
    let summary = scheduled(&ec2, change(), &[]).await;
    assert_eq!(summary.sets[0].status, TargetStatus::Synced);
    let regional = &summary.sets[1];
    assert_eq!(regional.status, TargetStatus::Failed);
    assert!(
        regional.error.as_deref().unwrap().contains("UnauthorizedOperation"),
        "{regional:?}"
    );
    assert_eq!(ec2.ours("sg-r", 443), cidrs(&["11.8.0.0/24"]), "left as it was");
}

#[tokio::test]
async fn a_set_changed_by_another_writer_is_re_read_and_re_planned_and_ends_exact() {
    let ec2 = two_sets();
    // Between our read and our write, another run put the two new GLOBAL ranges in sg-b, filling it for
    // us: EC2 answers our authorization with the limit error.
    let theirs = ["11.0.2.0/24", "11.0.3.0/24"].map(|r| our_rule(c(r), 443, &description()));
    ec2.interfere(
        Op::Authorize,
        "sg-b",
        theirs.to_vec(),
        "RulesPerSecurityGroupLimitExceeded",
    );
    let summary = scheduled(&ec2, change(), &[]).await;
    let global = &summary.sets[0];
    assert_eq!(
        (global.status, global.replans, summary.replans),
        (TargetStatus::Synced, 1, 1)
    );
    assert!(global.error.is_none(), "{global:?}");
    let held: BTreeSet<Cidr> = ec2.ours("sg-a", 443).union(&ec2.ours("sg-b", 443)).copied().collect();
    assert_eq!(held, cidrs(&["11.0.1.0/24", "11.0.2.0/24", "11.0.3.0/24"]));
    assert_eq!(
        ec2.ours("sg-a", 443),
        cidrs(&["11.0.1.0/24"]),
        "the stale range revoked after the re-plan"
    );
    assert!(summary.into_result().is_ok());
}

#[tokio::test]
async fn a_set_that_keeps_changing_fails_after_the_re_plans_allowed() {
    for (attempts, replans) in [("3", 3), ("0", 0)] {
        let ec2 = two_sets();
        ec2.fail(Op::Authorize, Some("sg-b"), "InvalidPermission.Duplicate");
        let summary = scheduled(&ec2, change(), &[("REPLAN_ATTEMPTS", attempts)]).await;
        let global = &summary.sets[0];
        assert_failed(global, "InvalidPermission.Duplicate");
        assert_eq!(global.replans, replans);
        assert_eq!(
            ec2.calls_of(Op::Authorize)
                .iter()
                .filter(|c| c.group.as_deref() == Some("sg-b"))
                .count(),
            replans + 1
        );
        assert!(ec2.ours("sg-a", 443).contains(&c("11.0.0.0/24")), "nothing revoked");
    }
}

#[tokio::test]
async fn a_group_refused_more_rules_that_no_one_filled_is_the_accounts_quota_named_without_a_re_plan() {
    let ec2 = two_sets();
    ec2.fail(Op::Authorize, Some("sg-b"), "RulesPerSecurityGroupLimitExceeded");
    let summary = scheduled(&ec2, change(), &[("MAX_RULES_PER_GROUP", "100")]).await;
    let global = &summary.sets[0];
    assert_eq!(global.replans, 0, "the quota is no other writer: no re-plan");
    let error = global.error.as_deref().unwrap();
    for named in ["sg-b", "MAX_RULES_PER_GROUP (100)", "L-0EA8095F"] {
        assert!(error.contains(named), "{named} not in {error}");
    }
    assert!(!error.contains("another writer?"), "{error}");
    let tried = ec2.calls_of(Op::Authorize);
    assert_eq!(tried.iter().filter(|c| c.group.as_deref() == Some("sg-b")).count(), 1);
    assert!(ec2.ours("sg-a", 443).contains(&c("11.0.0.0/24")), "nothing revoked");
    let Err(e) = summary.into_result() else {
        panic!("the set failed")
    };
    assert!(e.to_string().contains("L-0EA8095F"), "{e}");
}

#[tokio::test]
async fn a_set_that_fails_after_a_re_plan_counts_its_own_additions_once() {
    let ec2 = two_sets();
    // Five new GLOBAL ranges at 4 rules a group: sg-b takes 4 (and fails each time), sg-a the fifth.
    let body = doc(
        2,
        &[
            "11.0.1.0/24",
            "11.0.2.0/24",
            "11.0.3.0/24",
            "11.0.4.0/24",
            "11.0.5.0/24",
            "11.0.6.0/24",
        ],
        &["11.9.0.0/24"],
    );
    ec2.fail(Op::Authorize, Some("sg-b"), "InvalidPermission.Duplicate");
    let summary = scheduled(&ec2, body, &[("MAX_RULES_PER_GROUP", "4"), ("REPLAN_ATTEMPTS", "1")]).await;
    let global = &summary.sets[0];
    assert_failed(global, "InvalidPermission.Duplicate");
    let ours_in_a = ec2.ours("sg-a", 443);
    // Held before the run and still wanted: 11.0.1.0/24 alone. What sg-a gained is what the run added.
    let gained = ours_in_a
        .iter()
        .filter(|c| !["11.0.0.0/24", "11.0.1.0/24"].contains(&c.to_string().as_str()))
        .count();
    assert!(gained > 0, "sg-a took a range: {ours_in_a:?}");
    assert_eq!((global.added, global.unchanged), (gained, 1), "{global:?}");
    assert!(
        summary.to_string().contains(&format!("failed: +{gained} -0 =1 ")),
        "{summary}"
    );
}

#[tokio::test]
async fn other_errors_are_not_re_planned() {
    let ec2 = two_sets();
    ec2.fail(Op::Authorize, Some("sg-b"), "UnauthorizedOperation");
    let summary = scheduled(&ec2, change(), &[]).await;
    assert_eq!(summary.sets[0].replans, 0);
    assert_failed(&summary.sets[0], "UnauthorizedOperation");
}

#[tokio::test]
async fn an_interface_carrying_part_of_a_set_is_reported_with_the_missing_group_and_the_sync_still_succeeds() {
    let ec2 = two_sets();
    ec2.add_interface("eni-part", "load balancer app/web/1", &["sg-a", "sg-web"]);
    ec2.add_interface("eni-whole", "instance i-1", &["sg-a", "sg-b"]);
    // The regional set has one group: it cannot be attached in part.
    ec2.add_interface("eni-r", "instance i-2", &["sg-r"]);
    let summary = scheduled(&ec2, change(), &[]).await;

    let global = &summary.sets[0];
    assert_eq!(global.status, TargetStatus::Synced);
    assert_eq!(
        global.partly_attached,
        [crate::domain::attachment::PartlyAttached {
            interface: "eni-part".into(),
            attachment: "load balancer app/web/1".into(),
            missing: vec!["sg-b".into()],
        }]
    );
    assert_eq!(summary.sets[1].partly_attached, []);
    assert_eq!(ec2.calls_of(Op::Interfaces).len(), 1, "one describe for the region");
    assert_says(&summary, "warning: eni-part (load balancer app/web/1) lacks sg-b");
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["sets"][0]["partly_attached"][0]["missing"], json!(["sg-b"]));
    assert!(summary.into_result().is_ok(), "a warning, not a failure");
}

#[tokio::test]
async fn when_the_interfaces_cannot_be_read_the_run_warns_and_still_succeeds() {
    let ec2 = two_sets();
    ec2.fail(Op::Interfaces, None, "UnauthorizedOperation");
    let summary = scheduled(&ec2, change(), &[]).await;
    assert_eq!(summary.attachment_unchecked.len(), 1);
    assert_eq!(summary.attachment_unchecked[0].region, "us-east-1");
    assert!(summary.attachment_unchecked[0].error.contains("UnauthorizedOperation"));
    assert!(summary.sets.iter().all(|s| s.status == TargetStatus::Synced));
    assert_says(&summary, "warning: attachment not checked in us-east-1");
    assert!(summary.into_result().is_ok());
}

#[tokio::test]
async fn no_interface_is_read_when_no_set_has_two_groups() {
    let ec2 = FakeEc2::default();
    ec2.add_set_group("sg-r", "vpc-1", Scope::Regional);
    ec2.add_interface("eni-r", "instance i-2", &["sg-r"]);
    let summary = scheduled(&ec2, change(), &[]).await;
    assert_eq!(summary.sets.len(), 1);
    assert!(ec2.calls_of(Op::Interfaces).is_empty());
}

fn account(id: &str, ec2: &FakeEc2) -> Account<FakeEc2> {
    Account {
        id: Some(id.to_owned()),
        ..Account::own(ec2.clone())
    }
}

#[tokio::test]
async fn each_account_syncs_with_its_own_ports_and_one_that_cannot_be_read_fails_alone_named() {
    let (a, b) = (two_sets(), two_sets());
    b.fail(Op::Describe, None, "AccessDenied");
    let accounts = [account("111111111111", &a), account("222222222222", &b)];
    let source = FakeSource::new([change()]);
    let summary = run(&config(&[]), &Trigger::Scheduled, &source, &accounts, None)
        .await
        .unwrap();

    assert_eq!(summary.sets.len(), 2);
    for set in &summary.sets {
        assert_eq!(set.key.account.as_deref(), Some("111111111111"));
        assert_eq!(set.status, TargetStatus::Synced);
    }
    assert_eq!(
        a.ours("sg-a", 443).len() + a.ours("sg-b", 443).len(),
        3,
        "the readable account synced"
    );
    assert!(b.calls_of(Op::Authorize).is_empty() && b.calls_of(Op::Revoke).is_empty());
    assert_eq!(summary.failed_regions[0].account.as_deref(), Some("222222222222"));
    assert_says(
        &summary,
        "failed region us-east-1 of account 222222222222 (security groups): AccessDenied: ",
    );
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["sets"][0]["account"], "111111111111");
    assert!(
        summary.sets[0].key.to_string().starts_with("111111111111/us-east-1/"),
        "{}",
        summary.sets[0].key
    );
    let Err(Error::SetsFailed { messages, .. }) = summary.into_result() else {
        panic!("a failed account fails the run");
    };
    assert!(
        messages[0].contains("account 222222222222") && messages[0].contains("AccessDenied"),
        "{messages:?}"
    );
}

#[tokio::test]
async fn the_functions_own_account_has_no_account_in_its_answer() {
    let summary = scheduled(&two_sets(), change(), &[]).await;
    assert_eq!(summary.sets[0].key.account, None);
    let json = serde_json::to_value(&summary).unwrap();
    assert!(json["sets"][0].get("account").is_none(), "{}", json["sets"][0]);
}

/// Three accounts with one set each, whose authorization takes 10 s: when each authorization started.
async fn authorizations_started(max_concurrency: &str) -> Vec<Duration> {
    let fakes: Vec<FakeEc2> = (0..3)
        .map(|_| {
            let ec2 = FakeEc2::default();
            ec2.add_set_group("sg-a", "vpc-1", Scope::Global);
            ec2.delay(Op::Authorize, Duration::from_secs(10));
            ec2
        })
        .collect();
    let accounts: Vec<Account<FakeEc2>> = fakes
        .iter()
        .enumerate()
        .map(|(i, ec2)| account(&format!("{i}{i}{i}{i}{i}{i}{i}{i}{i}{i}{i}{i}"), ec2))
        .collect();
    let config = config(&[("MAX_CONCURRENCY", max_concurrency)]);
    let started = Instant::now();
    let source = FakeSource::new([change()]);
    let summary = run(&config, &Trigger::Scheduled, &source, &accounts, None)
        .await
        .unwrap();
    assert_eq!(summary.sets.len(), 3);
    let mut at: Vec<Duration> = fakes
        .iter()
        .flat_map(|f| f.calls_of(Op::Authorize))
        .map(|c| c.at.duration_since(started))
        .collect();
    at.sort();
    at
}

#[tokio::test(start_paused = true)]
async fn max_concurrency_bounds_the_whole_run_not_each_account() {
    let secs = |s: &[u64]| s.iter().map(|s| Duration::from_secs(*s)).collect::<Vec<_>>();
    assert_eq!(
        authorizations_started("1").await,
        secs(&[0, 10, 20]),
        "one set at a time"
    );
    assert_eq!(authorizations_started("3").await, secs(&[0, 0, 0]));
}

/// When each read of the regions eu-west-1 and us-east-1 (its groups, prefix lists and WAF IP sets, with the
/// CLOUDFRONT scope) started, each read taking 10 s: (seconds, what, region), in that order.
async fn reads_started(max_concurrency: &str) -> Vec<(u64, Op, String)> {
    let ec2 = FakeEc2::default();
    for op in [Op::Describe, Op::Lists, Op::IpSets] {
        ec2.delay(op, Duration::from_secs(10));
    }
    let accounts = [Account::own(ec2.clone()).with_ip_sets(ec2.clone())];
    let vars = [
        ("REGIONS", "eu-west-1,us-east-1"),
        ("WAF_CLOUDFRONT_SCOPE", "true"),
        ("MAX_CONCURRENCY", max_concurrency),
    ];
    let started = Instant::now();
    let source = FakeSource::new([change()]);
    run(&config(&vars), &Trigger::Scheduled, &source, &accounts, None)
        .await
        .unwrap();
    let mut reads: Vec<(u64, Op, String)> = ec2
        .calls()
        .into_iter()
        .map(|c| (c.at.duration_since(started).as_secs(), c.op, c.region))
        .collect();
    reads.sort();
    reads
}

#[tokio::test(start_paused = true)]
async fn a_regions_groups_lists_and_ip_sets_are_read_at_once_in_one_unit_after_the_first_regions_groups_alone() {
    let read = |at: u64, op: Op, region: &str| (at, op, region.to_owned());
    // The first region's groups alone (they get the account's credentials), then the rest of its unit (its
    // lists, its REGIONAL IP sets and the CLOUDFRONT ones, in us-east-1), then the next region's unit.
    let one_unit = vec![
        read(0, Op::Describe, "eu-west-1"),
        read(10, Op::Lists, "eu-west-1"),
        read(10, Op::IpSets, "eu-west-1"),
        read(10, Op::IpSets, "us-east-1"),
        read(20, Op::Describe, "us-east-1"),
        read(20, Op::Lists, "us-east-1"),
        read(20, Op::IpSets, "us-east-1"),
    ];
    assert_eq!(reads_started("1").await, one_unit, "one unit at a time");
    let two_units = vec![
        read(0, Op::Describe, "eu-west-1"),
        read(10, Op::Describe, "us-east-1"),
        read(10, Op::Lists, "eu-west-1"),
        read(10, Op::Lists, "us-east-1"),
        read(10, Op::IpSets, "eu-west-1"),
        read(10, Op::IpSets, "us-east-1"),
        read(10, Op::IpSets, "us-east-1"),
    ];
    assert_eq!(reads_started("2").await, two_units);
}

#[tokio::test]
async fn a_range_another_writer_placed_in_another_group_meanwhile_is_found_on_read_back_and_held_once() {
    for (attempts, replans) in [("3", 1), ("0", 0)] {
        let ec2 = two_sets();
        // While we add the new GLOBAL ranges to sg-b, another run (which read the set at another moment) adds
        // one of them to sg-a. Every write of ours succeeds: only reading the set back shows the second copy.
        let theirs = vec![our_rule(c("11.0.2.0/24"), 443, &description())];
        ec2.meanwhile(Op::Authorize, "sg-b", "sg-a", theirs);
        let summary = scheduled(&ec2, change(), &[("REPLAN_ATTEMPTS", attempts)]).await;
        let global = &summary.sets[0];
        assert_eq!(global.replans, replans, "REPLAN_ATTEMPTS={attempts}");
        if replans == 0 {
            assert_failed(global, "changed by another writer");
            assert_eq!(
                ec2.ours("sg-b", 443),
                cidrs(&["11.0.2.0/24", "11.0.3.0/24"]),
                "left for the next run"
            );
            continue;
        }
        assert_eq!((global.status, global.error.as_deref()), (TargetStatus::Synced, None));
        assert_eq!(ec2.ours("sg-a", 443), cidrs(&["11.0.1.0/24", "11.0.2.0/24"]));
        assert_eq!(
            ec2.ours("sg-b", 443),
            cidrs(&["11.0.3.0/24"]),
            "the second copy revoked, the first (in group id order) kept"
        );
        assert_eq!((global.added, global.removed), (2, 2));
        assert!(summary.into_result().is_ok());
    }
}

#[tokio::test]
async fn a_set_written_is_read_back_once_and_a_set_in_sync_is_not() {
    let ec2 = two_sets();
    scheduled(&ec2, change(), &[]).await;
    let describes = ec2.calls_of(Op::Describe);
    assert_eq!(
        describes.len(),
        3,
        "one discovery, one read-back per set written: {describes:?}"
    );

    let ec2 = two_sets();
    let first = doc(1, &["11.0.0.0/24", "11.0.1.0/24"], &["11.8.0.0/24"]);
    scheduled(&ec2, first, &[]).await;
    assert_eq!(
        ec2.calls_of(Op::Describe).len(),
        1,
        "nothing written, nothing read back"
    );
}

#[tokio::test]
async fn a_set_holding_more_rules_than_max_rules_per_group_is_reported_over_its_quota() {
    // MAX_RULES_PER_GROUP is 4 here; the group holds 6 wanted ranges of ours (EC2's quota let it).
    let ec2 = FakeEc2::default();
    ec2.add_set_group("sg-a", "vpc-1", Scope::Global);
    let held: Vec<&str> = vec![
        "11.0.0.0/24",
        "11.0.1.0/24",
        "11.0.2.0/24",
        "11.0.3.0/24",
        "11.0.4.0/24",
        "11.0.5.0/24",
    ];
    ec2.add_rules(
        "sg-a",
        held.iter().map(|c| our_rule(super::tests::c(c), 443, &description())),
    );
    let summary = scheduled(&ec2, doc(2, &held, &[]), &[]).await;
    let set = &summary.sets[0];
    assert_eq!(set.over_quota, std::collections::BTreeMap::from([(IpVersion::Ipv4, 2)]));
    assert!(set.near_full, "counted as near full: its alarm fires");
    assert_says(
        &summary,
        "warning: over its quota: its groups hold 2 ipv4 rule(s) beyond MAX_RULES_PER_GROUP",
    );
}

#[tokio::test]
async fn a_region_whose_every_read_fails_is_counted_once() {
    let ec2 = FakeEc2::default();
    ec2.add_set_group("sg-a", "vpc-1", Scope::Global);
    for op in [Op::Describe, Op::Lists, Op::IpSets] {
        ec2.fail(op, None, "UnauthorizedOperation");
    }
    let accounts = [Account::own(ec2.clone()).with_ip_sets(ec2.clone())];
    let summary = run(
        &config(&[]),
        &Trigger::Scheduled,
        &FakeSource::new([change()]),
        &accounts,
        None,
    )
    .await
    .unwrap();
    let failed: Vec<(&str, Vec<&str>, &str)> = (summary.failed_regions.iter())
        .map(|r| {
            (
                r.region.as_str(),
                r.reads.iter().map(String::as_str).collect(),
                r.error.as_str(),
            )
        })
        .collect();
    let denied = "UnauthorizedOperation: UnauthorizedOperation injected by the fake; the caller's role needs";
    assert_eq!(
        failed,
        [
            (
                "us-east-1",
                vec!["security groups", "prefix lists"],
                format!("{denied} ec2:fake").as_str()
            ),
            (
                "us-east-1",
                vec!["WAF IP sets"],
                format!("{denied} wafv2:fake").as_str()
            ),
        ],
        "one line per cause: EC2's two reads say theirs once, and so do WAF's two scopes"
    );
    assert_says(
        &summary,
        &format!("failed region us-east-1 (security groups, prefix lists): {denied} ec2:fake\n"),
    );
    let err = summary.into_result().unwrap_err();
    assert!(err.to_string().starts_with("1 region(s) unreadable: "), "{err}");
}

#[tokio::test]
async fn with_aggregation_a_hand_made_rule_counts_only_for_the_cidr_it_matches_and_is_left_alone() {
    let ec2 = FakeEc2::default();
    ec2.add_set_group("sg-1", "vpc-1", crate::domain::ip_ranges::Scope::Global);
    // A hand-made rule for one of two halves that aggregation merges, and one for a whole merged prefix.
    let hand_made = |cidr| our_rule(c(cidr), 443, "added by hand");
    ec2.add_rules("sg-1", [hand_made("11.0.0.0/24"), hand_made("11.0.4.0/23")]);
    let body = doc(2, &["11.0.0.0/24", "11.0.1.0/24", "11.0.4.0/24", "11.0.5.0/24"], &[]);
    let summary = scheduled(&ec2, body, &[("AGGREGATE", "true")]).await;
    assert!(summary.failures().is_empty(), "{:?}", summary.failures());
    // The /23 of the first pair is added beside the hand-made /24; the second pair's /23 is held by hand.
    assert_eq!(ec2.ours("sg-1", 443), BTreeSet::from([c("11.0.0.0/23")]));
    assert_eq!((summary.added(), summary.sets[0].unchanged), (1, 1));
    let groups = crate::ports::SecurityGroups::tagged_groups(&ec2, "us-east-1")
        .await
        .unwrap();
    let held = &groups.tagged[0].group.rules;
    assert!(held.contains(&hand_made("11.0.0.0/24")) && held.contains(&hand_made("11.0.4.0/23")));
}

#[tokio::test]
async fn the_summary_says_which_regions_it_read_also_when_it_found_nothing() {
    let ec2 = FakeEc2::default();
    let summary = scheduled(
        &ec2,
        doc(2, &["11.0.1.0/24"], &[]),
        &[("REGIONS", "eu-west-1,us-east-1")],
    )
    .await;
    assert_eq!(summary.regions, ["eu-west-1", "us-east-1"]);
    let text = summary.to_string();
    let mut lines = text.lines();
    assert!(
        lines.next().unwrap().ends_with("syncToken 2, in eu-west-1,us-east-1"),
        "{text}"
    );
    assert_eq!(
        lines.next(),
        Some(
            "no tagged security groups found in eu-west-1,us-east-1 (Name=cloudfront_g|cloudfront_r, AutoUpdate=true)"
        )
    );
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["regions"], serde_json::json!(["eu-west-1", "us-east-1"]));
}
