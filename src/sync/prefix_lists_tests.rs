//! Prefix lists in a run, against the in-memory ports: family and scope, ownership, the size check and growth,
//! the 100-entry cap, waiting out `modify-in-progress`, version conflicts, the deadline.

use crate::domain::cidr::Cidr;
use crate::report::TargetStatus;

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use super::tests::{assert_entries_failed, c, cidrs, config, description, doc, own, scheduled};
use super::*;
use crate::domain::prefix_lists::Entry;
use crate::domain::security_groups::SYNC_TOKEN_TAG;
use crate::report::ListReport;
use crate::testing::{FakeEc2, FakeSource, Op};

const TAGGED_G: [(&str, &str); 2] = [("Name", "cloudfront_g"), ("AutoUpdate", "true")];
const TAGGED_R: [(&str, &str); 2] = [("Name", "cloudfront_r"), ("AutoUpdate", "true")];

fn ours(cidr: &str) -> Entry {
    Entry {
        cidr: c(cidr),
        description: Some(description()),
    }
}

fn hand_made(cidr: &str) -> Entry {
    Entry {
        cidr: c(cidr),
        description: Some("office".into()),
    }
}

/// The CIDRs list `id` holds, and those of them that are ours.
fn held(ec2: &FakeEc2, id: &str) -> (BTreeSet<Cidr>, BTreeSet<Cidr>) {
    let list = ec2.list(id).unwrap();
    let all = list.entries.iter().map(|e| e.cidr).collect();
    let ours = list.entries.iter().filter(|e| e.ours()).map(|e| e.cidr).collect();
    (all, ours)
}

fn report<'a>(summary: &'a Summary, id: &str) -> &'a ListReport {
    summary.prefix_lists.iter().find(|l| l.target.id == id).unwrap()
}

/// GLOBAL 11.0.1-3 and 2600:9000::/28, regional 11.9.0.0/24.
fn file() -> Vec<u8> {
    doc(
        2,
        &["11.0.1.0/24", "11.0.2.0/24", "11.0.3.0/24", "2600:9000::/28"],
        &["11.9.0.0/24"],
    )
}

#[tokio::test]
async fn each_tagged_list_gets_the_ranges_of_its_scope_and_family_and_loses_only_our_stale_entries() {
    let ec2 = FakeEc2::default();
    let g4 = vec![
        ours("11.0.0.0/24"),
        hand_made("11.0.1.0/24"),
        hand_made("192.168.0.0/24"),
    ];
    ec2.add_list("pl-g4", &TAGGED_G, IpVersion::Ipv4, 10, g4);
    ec2.add_list("pl-g6", &TAGGED_G, IpVersion::Ipv6, 10, Vec::new());
    ec2.add_list("pl-r4", &TAGGED_R, IpVersion::Ipv4, 10, Vec::new());
    let off = [("Name", "cloudfront_g"), ("AutoUpdate", "false")];
    ec2.add_list("pl-off", &off, IpVersion::Ipv4, 10, Vec::new());
    ec2.add_list("pl-other", &[("Name", "office")], IpVersion::Ipv4, 10, Vec::new());
    let summary = scheduled(&ec2, file(), &[]).await;

    let (all, ours) = held(&ec2, "pl-g4");
    assert_eq!(
        all,
        cidrs(&["11.0.1.0/24", "11.0.2.0/24", "11.0.3.0/24", "192.168.0.0/24"])
    );
    assert_eq!(
        ours,
        cidrs(&["11.0.2.0/24", "11.0.3.0/24"]),
        "the hand-made entries keep theirs"
    );
    assert_eq!(held(&ec2, "pl-g6").0, cidrs(&["2600:9000::/28"]));
    assert_eq!(held(&ec2, "pl-r4").0, cidrs(&["11.9.0.0/24"]));
    for untouched in ["pl-off", "pl-other"] {
        assert!(held(&ec2, untouched).0.is_empty());
        assert!(summary.prefix_lists.iter().all(|l| l.target.id != untouched));
    }
    let g4 = report(&summary, "pl-g4");
    assert_eq!(
        (
            g4.changes.status,
            g4.changes.added,
            g4.changes.removed,
            g4.changes.unchanged,
            g4.room_left
        ),
        (TargetStatus::Synced, 2, 1, 1, 10 - 4)
    );
    assert_eq!(
        (g4.target.kind.as_str(), g4.target.family, g4.target.scope),
        ("prefix-list", IpVersion::Ipv4, Scope::Global)
    );
    let modified: Vec<Option<String>> = ec2.calls_of(Op::Modify).into_iter().map(|c| c.group).collect();
    assert_eq!(modified.len(), 3, "one call per list: {modified:?}");
    assert!(summary.into_result().is_ok());

    // The same file again: one describe for the region, no modification.
    let again = scheduled(&ec2, file(), &[]).await;
    assert_eq!(ec2.calls_of(Op::Lists).len(), 2);
    assert_eq!(ec2.calls_of(Op::Modify).len(), 3);
    assert!(
        again
            .prefix_lists
            .iter()
            .all(|l| l.changes.status == TargetStatus::InSync)
    );
}

#[tokio::test(start_paused = true)]
async fn a_list_too_small_fails_alone_unchanged_with_the_size_it_needs_and_grows_only_when_allowed() {
    let ec2 = FakeEc2::default();
    // Three wanted GLOBAL IPv4 ranges and one hand-made entry: it needs 4.
    ec2.add_list(
        "pl-small",
        &TAGGED_G,
        IpVersion::Ipv4,
        3,
        vec![hand_made("192.168.0.0/24")],
    );
    ec2.add_list("pl-r4", &TAGGED_R, IpVersion::Ipv4, 10, Vec::new());
    let summary = scheduled(&ec2, file(), &[]).await;
    let small = report(&summary, "pl-small");
    assert_eq!(small.changes.status, TargetStatus::Failed);
    let error = small.changes.error.as_deref().unwrap();
    assert!(
        error.contains("needs 4 entries") && error.contains("MaxEntries is 3") && error.contains("PREFIX_LIST_GROW"),
        "{error}"
    );
    assert_eq!(held(&ec2, "pl-small").0, cidrs(&["192.168.0.0/24"]), "left as it was");
    assert_eq!(
        report(&summary, "pl-r4").changes.status,
        TargetStatus::Synced,
        "the other list syncs"
    );
    assert!(ec2.calls_of(Op::Grow).is_empty());
    let Err(Error::SetsFailed {
        lists_failed: 1,
        lists: 2,
        ..
    }) = summary.into_result()
    else {
        panic!("one list failed")
    };

    // A resize makes no new version (as AWS and moto): the run goes on as soon as the list is settled at the
    // version it had, on the paused clock without a pause, instead of waiting out MAX_WAIT for one more.
    let started = Instant::now();
    let summary = scheduled(&ec2, file(), &[("PREFIX_LIST_GROW", "true")]).await;
    assert_eq!(started.elapsed(), Duration::ZERO, "no pause");
    let grown = report(&summary, "pl-small");
    assert_eq!(
        (grown.changes.status, grown.grew_to, grown.changes.added),
        (TargetStatus::Synced, Some(4), 3)
    );
    assert_eq!(ec2.list("pl-small").unwrap().max_entries, 4);
    let ops: Vec<Op> = ec2
        .calls()
        .into_iter()
        .filter(|c| c.group.as_deref() == Some("pl-small") && matches!(c.op, Op::Grow | Op::Modify | Op::ListState))
        .map(|c| c.op)
        .collect();
    assert_eq!(
        ops,
        [Op::Grow, Op::ListState, Op::Modify, Op::ListState],
        "the size in a call of its own, first, each call looked at once"
    );
}

#[tokio::test(start_paused = true)]
async fn over_100_changes_go_in_calls_of_100_adds_first_each_made_once_the_last_has_settled() {
    let ec2 = FakeEc2::default();
    let stale: Vec<Entry> = (0..120).map(|i| ours(&format!("11.200.{i}.0/24"))).collect();
    ec2.add_list("pl-big", &TAGGED_G, IpVersion::Ipv4, 400, stale);
    ec2.busy_after_write(2);
    let wanted: Vec<String> = (0..250)
        .map(|i| format!("11.{}.{}.0/24", 1 + i / 256, i % 256))
        .collect();
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let summary = scheduled(&ec2, doc(2, &wanted, &[]), &[]).await;

    let big = report(&summary, "pl-big");
    assert_eq!(
        (big.changes.status, big.changes.added, big.changes.removed),
        (TargetStatus::Synced, 250, 120)
    );
    assert_eq!(held(&ec2, "pl-big").0, cidrs(&wanted));
    // 250 adds in 3 calls, the last with 100 of the 120 removes, then the other 20; after every call the list
    // is watched until it leaves modify-in-progress (two busy looks, then a settled one).
    let ops: Vec<Op> = ec2
        .calls()
        .into_iter()
        .map(|c| c.op)
        .filter(|op| *op != Op::Describe)
        .collect();
    let per_call = [Op::Modify, Op::ListState, Op::ListState, Op::ListState];
    // First the rules that reference the region's lists are read (one describe); then the file applied is
    // recorded on the list (one CreateTags).
    let expected: Vec<Op> = [Op::Lists, Op::ListReferences]
        .into_iter()
        .chain(per_call.iter().copied().cycle().take(4 * per_call.len()))
        .chain([Op::Tag])
        .collect();
    assert_eq!(ops, expected);
}

#[tokio::test]
async fn another_writer_moving_the_version_on_makes_the_list_re_read_and_re_planned_within_the_bound() {
    for (attempts, replans) in [("3", 1), ("0", 0)] {
        let ec2 = FakeEc2::default();
        ec2.add_list("pl-g4", &TAGGED_G, IpVersion::Ipv4, 10, vec![ours("11.0.0.0/24")]);
        // Another run adds one of the ranges first: our call, at the version we read, is refused.
        ec2.interfere_with_list("pl-g4", vec![ours("11.0.2.0/24")]);
        let summary = scheduled(&ec2, file(), &[("REPLAN_ATTEMPTS", attempts)]).await;
        let list = report(&summary, "pl-g4");
        assert_eq!(list.changes.replans, replans);
        if replans == 0 {
            assert_entries_failed(&list.changes, "PrefixListVersionMismatch");
            assert_eq!(
                held(&ec2, "pl-g4").0,
                cidrs(&["11.0.0.0/24", "11.0.2.0/24"]),
                "ours unchanged"
            );
            continue;
        }
        assert_eq!(
            (list.changes.status, list.changes.error.as_deref()),
            (TargetStatus::Synced, None)
        );
        assert_eq!(
            held(&ec2, "pl-g4").0,
            cidrs(&["11.0.1.0/24", "11.0.2.0/24", "11.0.3.0/24"])
        );
        assert_eq!(
            (list.changes.added, list.changes.removed),
            (2, 1),
            "what the other writer added is not counted"
        );
        assert_eq!(ec2.calls_of(Op::ListRead).len(), 1);
        assert_eq!(summary.replans, 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_list_found_being_modified_is_waited_for_and_one_that_stays_busy_fails_within_the_deadline() {
    let ec2 = FakeEc2::default();
    ec2.add_list("pl-g4", &TAGGED_G, IpVersion::Ipv4, 10, Vec::new());
    ec2.set_list_state("pl-g4", "modify-in-progress", 3);
    let summary = scheduled(&ec2, file(), &[]).await;
    assert_eq!(report(&summary, "pl-g4").changes.status, TargetStatus::Synced);
    assert_eq!(
        held(&ec2, "pl-g4").0,
        cidrs(&["11.0.1.0/24", "11.0.2.0/24", "11.0.3.0/24"])
    );

    let ec2 = FakeEc2::default();
    ec2.add_list("pl-g4", &TAGGED_G, IpVersion::Ipv4, 10, Vec::new());
    ec2.set_list_state("pl-g4", "modify-in-progress", usize::MAX);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    let config = config(&[("DEADLINE_MARGIN_SECONDS", "10")]);
    let summary = run(
        &config,
        &Trigger::Scheduled,
        &FakeSource::new([file()]),
        &own(&ec2),
        Some(deadline),
    )
    .await
    .unwrap();
    let list = report(&summary, "pl-g4");
    let error = list.changes.error.as_deref().unwrap();
    assert!(
        error.contains("still read modify-in-progress at version ")
            && error.contains("a change of it is still being applied"),
        "{error}"
    );
    assert!(ec2.calls_of(Op::Modify).is_empty());
    assert!(started.elapsed() <= Duration::from_secs(50), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_dry_run_plans_every_list_and_writes_nothing() {
    let ec2 = FakeEc2::default();
    ec2.add_list("pl-g4", &TAGGED_G, IpVersion::Ipv4, 3, vec![ours("11.0.0.0/24")]);
    let summary = scheduled(&ec2, file(), &[("DRY_RUN", "true"), ("PREFIX_LIST_GROW", "true")]).await;
    let list = report(&summary, "pl-g4");
    assert_eq!(
        (
            list.changes.status,
            list.changes.added,
            list.changes.removed,
            list.grew_to
        ),
        (TargetStatus::Planned, 3, 1, None)
    );
    assert_eq!(list.changes.add, cidrs(&["11.0.1.0/24", "11.0.2.0/24", "11.0.3.0/24"]));
    assert!(ec2.calls_of(Op::Modify).is_empty() && ec2.calls_of(Op::Grow).is_empty());
    let text = summary.to_string();
    assert!(
        text.contains("us-east-1/pl-g4 prefix list cloudfront_g ipv4: planned: +3 -1 =0")
            && text.contains("  pl-g4 - 11.0.0.0/24"),
        "{text}"
    );
}

#[tokio::test]
async fn a_file_without_the_lists_family_does_not_empty_it() {
    let ec2 = FakeEc2::default();
    ec2.add_list("pl-g6", &TAGGED_G, IpVersion::Ipv6, 10, vec![ours("2600:9000::/28")]);
    let summary = scheduled(&ec2, doc(2, &["11.0.1.0/24"], &[]), &[]).await;
    let list = report(&summary, "pl-g6");
    assert_entries_failed(
        &list.changes,
        "no ipv6 range at all (in any scope: a cut or reformatted file?), but prefix list us-east-1/pl-g6",
    );
    assert_eq!(held(&ec2, "pl-g6").0, cidrs(&["2600:9000::/28"]));

    // Switching IPv6 off removes our entries, as it revokes our rules.
    scheduled(&ec2, doc(2, &["11.0.1.0/24"], &[]), &[("IP_VERSIONS", "ipv4")]).await;
    assert!(held(&ec2, "pl-g6").0.is_empty());
}

#[tokio::test]
async fn an_account_whose_lists_cannot_be_read_reports_the_region_and_its_sets_still_sync() {
    let ec2 = FakeEc2::default();
    ec2.add_set_group("sg-a", "vpc-1", Scope::Global);
    ec2.add_list("pl-g4", &TAGGED_G, IpVersion::Ipv4, 10, Vec::new());
    ec2.fail(Op::Lists, None, "UnauthorizedOperation");
    let summary = scheduled(&ec2, file(), &[]).await;
    assert_eq!(summary.sets[0].status, TargetStatus::Synced);
    assert!(summary.prefix_lists.is_empty());
    assert_eq!(summary.failed_regions.len(), 1);
    assert!(summary.failed_regions[0].error.contains("UnauthorizedOperation"));
}

/// An inbound rule of tcp `from`..=`to` from prefix list `list`, hand-made.
fn list_rule(list: &str, from: i32, to: i32) -> crate::domain::security_groups::Rule {
    use crate::domain::security_groups::{Rule, RuleProtocol, RuleSource};
    Rule {
        protocol: RuleProtocol::Tcp,
        from_port: Some(from),
        to_port: Some(to),
        source: RuleSource::PrefixList(list.into()),
        description: None,
    }
}

#[tokio::test]
async fn a_list_a_rule_opens_port_22_to_is_left_as_it_was_and_named_while_a_list_on_443_syncs() {
    let ec2 = FakeEc2::default();
    ec2.add_list("pl-g4", &TAGGED_G, IpVersion::Ipv4, 10, Vec::new());
    ec2.add_list("pl-r4", &TAGGED_R, IpVersion::Ipv4, 10, Vec::new());
    ec2.add_group("sg-ssh", "vpc-1", &[("Name", "bastion")]);
    ec2.add_rules("sg-ssh", [list_rule("pl-g4", 22, 22)]);
    ec2.add_group("sg-web", "vpc-1", &[("Name", "web")]);
    ec2.add_rules("sg-web", [list_rule("pl-g4", 443, 443), list_rule("pl-r4", 443, 443)]);
    let summary = scheduled(&ec2, file(), &[]).await;

    let g4 = report(&summary, "pl-g4");
    let error = g4.changes.error.clone().unwrap_or_default();
    assert_eq!(g4.changes.status, TargetStatus::Failed);
    assert!(
        error.starts_with("prefix list us-east-1/pl-g4 is referenced by rules that open what CloudFront never connects to (sg-ssh tcp 22)"),
        "{error}"
    );
    assert!(held(&ec2, "pl-g4").0.is_empty(), "left as it was");
    assert!(ec2.tag("pl-g4", SYNC_TOKEN_TAG).is_none(), "not marked");
    assert_eq!(held(&ec2, "pl-r4").0, cidrs(&["11.9.0.0/24"]));
    assert_eq!(report(&summary, "pl-r4").changes.status, TargetStatus::Synced);
    let modified: Vec<Option<String>> = ec2.calls_of(Op::Modify).into_iter().map(|c| c.group).collect();
    assert_eq!(modified, [Some("pl-r4".to_owned())]);
    assert_eq!(
        ec2.calls_of(Op::ListReferences).len(),
        1,
        "one read for the region's lists"
    );
    assert!(summary.failures().iter().any(|f| f.contains("sg-ssh tcp 22")));
}

#[tokio::test]
async fn when_the_rules_referencing_lists_cannot_be_read_no_list_of_the_region_is_written() {
    let ec2 = FakeEc2::default();
    ec2.add_list("pl-g4", &TAGGED_G, IpVersion::Ipv4, 10, Vec::new());
    ec2.fail(Op::ListReferences, None, "UnauthorizedOperation");
    let summary = scheduled(&ec2, file(), &[]).await;
    let error = report(&summary, "pl-g4").changes.error.clone().unwrap_or_default();
    assert!(
        error.starts_with("cannot read which rules reference the list, so it was left as it was: ")
            && error.contains("UnauthorizedOperation"),
        "{error}"
    );
    assert!(ec2.calls_of(Op::Modify).is_empty() && held(&ec2, "pl-g4").0.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_resize_that_never_shows_fails_the_list_within_the_re_plans_instead_of_looping() {
    let ec2 = FakeEc2::default();
    ec2.add_list("pl-small", &TAGGED_G, IpVersion::Ipv4, 2, Vec::new());
    ec2.ignore_resizes();
    let summary = scheduled(&ec2, file(), &[("PREFIX_LIST_GROW", "true"), ("REPLAN_ATTEMPTS", "2")]).await;
    let small = report(&summary, "pl-small");
    let error = small.changes.error.clone().unwrap_or_default();
    assert_eq!((small.changes.status, small.changes.replans), (TargetStatus::Failed, 2));
    assert!(
        error.starts_with(
            "prefix list us-east-1/pl-small still reads MaxEntries 2 after it was raised to 3 (2 re-read(s)"
        ),
        "{error}"
    );
    assert_eq!(ec2.calls_of(Op::Grow).len(), 3, "the first resize and one per re-plan");
    assert!(ec2.calls_of(Op::Modify).is_empty() && held(&ec2, "pl-small").0.is_empty());
}

#[tokio::test]
async fn a_list_kept_for_a_newer_file_or_failed_before_its_plan_shows_the_room_it_has_and_no_counts() {
    let ec2 = FakeEc2::default();
    // MaxEntries 10 with 3 entries: 7 free, whatever the run does with it.
    let entries = vec![ours("11.0.0.0/24"), ours("11.0.1.0/24"), hand_made("198.51.100.0/24")];
    let newer = [
        ("Name", "cloudfront_g"),
        ("AutoUpdate", "true"),
        (SYNC_TOKEN_TAG, "3 ipv4"),
    ];
    ec2.add_list("pl-kept", &newer, IpVersion::Ipv4, 10, entries.clone());
    ec2.add_list("pl-ssh", &TAGGED_R, IpVersion::Ipv4, 10, entries);
    ec2.add_group("sg-ssh", "vpc-1", &[("Name", "bastion")]);
    ec2.add_rules("sg-ssh", [list_rule("pl-ssh", 22, 22)]);
    let summary = scheduled(&ec2, file(), &[]).await;

    let kept = report(&summary, "pl-kept");
    assert_eq!((kept.changes.status, kept.room_left), (TargetStatus::OlderFile, 7));
    let failed = report(&summary, "pl-ssh");
    assert_eq!((failed.changes.status, failed.room_left), (TargetStatus::Failed, 7));
    let text = summary.to_string();
    assert!(
        text.contains("us-east-1/pl-kept prefix list cloudfront_g ipv4: kept: holds a newer file room left: 7\n"),
        "{text}"
    );
    assert!(
        text.contains("us-east-1/pl-ssh prefix list cloudfront_r ipv4: failed: +0 -0 =0 room left: 7\n"),
        "{text}"
    );
}
