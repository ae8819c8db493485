//! WAF IP sets in a run, against the in-memory ports: family and scope, wholly managed sets, the `CLOUDFRONT`
//! scope, lock conflicts, the guard, dry runs, an unreadable region.

use std::collections::BTreeSet;

use crate::domain::cidr::Cidr;
use crate::report::TargetStatus;

use serde_json::json;

use super::tests::{assert_entries_failed, cidrs, config, doc};
use super::*;
use crate::ports::WafScope;
use crate::report::IpSetReport;
use crate::testing::{FakeEc2, FakeSource, Op};

const TAGGED_G: [(&str, &str); 2] = [("Name", "cloudfront_g"), ("AutoUpdate", "true")];
const TAGGED_R: [(&str, &str); 2] = [("Name", "cloudfront_r"), ("AutoUpdate", "true")];
const REGIONAL: (&str, WafScope) = ("us-east-1", WafScope::Regional);
const CLOUDFRONT: (&str, WafScope) = ("us-east-1", WafScope::Cloudfront);

/// GLOBAL 11.0.1-3 and 2600:9000::/28, regional 11.9.0.0/24.
fn file() -> Vec<u8> {
    doc(
        2,
        &["11.0.1.0/24", "11.0.2.0/24", "11.0.3.0/24", "2600:9000::/28"],
        &["11.9.0.0/24"],
    )
}

/// A scheduled run of the function's own account, its IP sets (and everything else) held by `ec2`.
pub(super) async fn run_with(ec2: &FakeEc2, body: Vec<u8>, vars: &[(&str, &str)]) -> Summary {
    let accounts = [Account::own(ec2.clone()).with_ip_sets(ec2.clone())];
    let source = FakeSource::new([body]);
    run(&config(vars), &Trigger::Scheduled, &source, &accounts, None)
        .await
        .unwrap()
}

fn report<'a>(summary: &'a Summary, name: &str) -> &'a IpSetReport {
    summary.ip_sets.iter().find(|s| s.name == name).unwrap()
}

fn addresses(ec2: &FakeEc2, name: &str) -> BTreeSet<Cidr> {
    ec2.ip_set(name).unwrap().addresses
}

/// A GLOBAL IPv4 set holding a stale range and a hand-added address, a GLOBAL IPv6 set, a regional IPv4 set,
/// an untagged one, and a GLOBAL IPv4 set of scope CLOUDFRONT.
fn world() -> FakeEc2 {
    let ec2 = FakeEc2::default();
    let v4 = IpVersion::Ipv4;
    ec2.add_ip_set(
        "g4",
        REGIONAL,
        &TAGGED_G,
        v4,
        cidrs(&["11.0.1.0/24", "11.0.0.0/24", "198.51.100.7/32"]),
    );
    ec2.add_ip_set("g6", REGIONAL, &TAGGED_G, IpVersion::Ipv6, cidrs(&[]));
    ec2.add_ip_set("r4", REGIONAL, &TAGGED_R, v4, cidrs(&[]));
    ec2.add_ip_set(
        "untagged",
        REGIONAL,
        &[("Name", "cloudfront_g")],
        v4,
        cidrs(&["192.0.2.0/24"]),
    );
    ec2.add_ip_set("edge", CLOUDFRONT, &TAGGED_G, v4, cidrs(&[]));
    ec2
}

#[tokio::test]
async fn each_tagged_ip_set_ends_holding_exactly_the_ranges_of_its_scope_and_family() {
    let ec2 = world();
    let summary = run_with(&ec2, file(), &[]).await;
    let global_v4 = cidrs(&["11.0.1.0/24", "11.0.2.0/24", "11.0.3.0/24"]);
    assert_eq!(
        addresses(&ec2, "g4"),
        global_v4,
        "the stale range and the hand-added address are gone"
    );
    assert_eq!(addresses(&ec2, "g6"), cidrs(&["2600:9000::/28"]));
    assert_eq!(addresses(&ec2, "r4"), cidrs(&["11.9.0.0/24"]));
    assert_eq!(
        addresses(&ec2, "edge"),
        global_v4,
        "the CLOUDFRONT scope is synced: us-east-1 is in REGIONS"
    );
    assert_eq!(
        addresses(&ec2, "untagged"),
        cidrs(&["192.0.2.0/24"]),
        "untagged: never written"
    );
    assert_eq!(ec2.ip_set("g4").unwrap().description.as_deref(), Some("g4 set"), "kept");

    let g4 = report(&summary, "g4");
    assert_eq!(
        (
            g4.changes.status,
            g4.changes.added,
            g4.changes.removed,
            g4.changes.unchanged
        ),
        (TargetStatus::Synced, 2, 2, 1)
    );
    assert_eq!(g4.changes.remove, cidrs(&["11.0.0.0/24", "198.51.100.7/32"]));
    assert_eq!(report(&summary, "edge").waf_scope, WafScope::Cloudfront);
    assert!(summary.ip_sets.iter().all(|s| s.name != "untagged"));
    assert_eq!(ec2.calls_of(Op::IpSetUpdate).len(), 4, "one update per changed set");
    assert_eq!(
        ec2.calls_of(Op::IpSets).len(),
        2,
        "REGIONAL and CLOUDFRONT, each read once"
    );
    assert_eq!(summary.added(), 3 + 1 + 1 + 3 - 1);
    let json = serde_json::to_value(&summary).unwrap();
    let g4 = json["ip_sets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "g4")
        .unwrap();
    assert_eq!(
        (&g4["kind"], &g4["waf_scope"], &g4["family"]),
        (&json!("waf-ip-set"), &json!("REGIONAL"), &json!("ipv4"))
    );
    assert!(
        summary.to_string().contains("us-east-1/REGIONAL/g4 WAF IP set"),
        "{summary}"
    );
}

#[tokio::test]
async fn the_same_file_again_updates_no_ip_set() {
    let ec2 = world();
    run_with(&ec2, file(), &[]).await;
    let before = ec2.calls_of(Op::IpSetUpdate).len();
    let again = run_with(&ec2, file(), &[]).await;
    assert_eq!(
        ec2.calls_of(Op::IpSetUpdate).len(),
        before,
        "the same file again updates nothing"
    );
    assert!(again.ip_sets.iter().all(|s| s.changes.status == TargetStatus::InSync));
}

#[tokio::test]
async fn the_cloudfront_scope_is_left_out_when_switched_off_or_us_east_1_is_not_synced() {
    let ec2 = world();
    let summary = run_with(&ec2, file(), &[("WAF_CLOUDFRONT_SCOPE", "false")]).await;
    assert!(summary.ip_sets.iter().all(|s| s.waf_scope == WafScope::Regional));
    assert!(addresses(&ec2, "edge").is_empty());
    assert_eq!(ec2.calls_of(Op::IpSets).len(), 1);

    let elsewhere = run_with(&ec2, file(), &[("REGIONS", "eu-west-1")]).await;
    assert!(
        elsewhere.ip_sets.is_empty(),
        "nothing tagged in eu-west-1, and no CLOUDFRONT scope"
    );
    let on = run_with(
        &ec2,
        file(),
        &[("REGIONS", "eu-west-1"), ("WAF_CLOUDFRONT_SCOPE", "true")],
    )
    .await;
    assert_eq!(on.ip_sets.len(), 1, "{on}");
    assert_eq!(report(&on, "edge").changes.status, TargetStatus::Synced);
}

#[tokio::test]
async fn a_set_changed_by_another_writer_is_read_again_and_updated_at_its_new_lock_token() {
    let ec2 = world();
    ec2.interfere_with_ip_set("g4", cidrs(&["203.0.113.0/24"]));
    let summary = run_with(&ec2, file(), &[]).await;
    let g4 = report(&summary, "g4");
    assert_eq!((g4.changes.status, g4.changes.replans), (TargetStatus::Synced, 1));
    assert_eq!(
        g4.changes.remove,
        cidrs(&["11.0.0.0/24", "198.51.100.7/32", "203.0.113.0/24"])
    );
    assert_eq!(
        addresses(&ec2, "g4"),
        cidrs(&["11.0.1.0/24", "11.0.2.0/24", "11.0.3.0/24"])
    );
    assert_eq!(ec2.calls_of(Op::IpSetRead).len(), 1);
    assert_eq!(summary.replans, 1);
    assert!(summary.into_result().is_ok());
}

#[tokio::test]
async fn a_set_that_keeps_changing_fails_alone_after_the_re_plans_allowed() {
    let ec2 = world();
    for _ in 0..2 {
        ec2.interfere_with_ip_set("g4", cidrs(&["203.0.113.0/24"]));
    }
    let summary = run_with(&ec2, file(), &[("REPLAN_ATTEMPTS", "1")]).await;
    let g4 = report(&summary, "g4");
    assert_eq!(g4.changes.replans, 1);
    assert_entries_failed(&g4.changes, "WAFOptimisticLockException");
    assert_eq!(
        addresses(&ec2, "g4"),
        cidrs(&["203.0.113.0/24"]),
        "the other writer's, untouched by us"
    );
    assert_eq!(
        report(&summary, "r4").changes.status,
        TargetStatus::Synced,
        "the others sync"
    );
    let err = summary.into_result().unwrap_err();
    assert!(err.to_string().contains("1 of 4 WAF IP set(s) failed"), "{err}");
}

#[tokio::test]
async fn a_file_without_ipv6_ranges_never_empties_an_ipv6_set() {
    let ec2 = world();
    run_with(&ec2, file(), &[]).await;
    let v4_only = doc(3, &["11.0.1.0/24"], &["11.9.0.0/24"]);
    let summary = run_with(&ec2, v4_only, &[]).await;
    let g6 = report(&summary, "g6");
    assert_entries_failed(&g6.changes, "WAF IP set us-east-1/REGIONAL/g6");
    assert_eq!(addresses(&ec2, "g6"), cidrs(&["2600:9000::/28"]), "left as it was");
    assert_eq!(
        addresses(&ec2, "g4"),
        cidrs(&["11.0.1.0/24"]),
        "the IPv4 sets still sync"
    );
}

#[tokio::test]
async fn a_dry_run_plans_every_set_and_writes_none() {
    let ec2 = world();
    let summary = run_with(&ec2, file(), &[("DRY_RUN", "true")]).await;
    assert!(ec2.calls_of(Op::IpSetUpdate).is_empty());
    let g4 = report(&summary, "g4");
    assert_eq!(
        (g4.changes.status, g4.changes.added, g4.changes.removed),
        (TargetStatus::Planned, 2, 2)
    );
    assert_eq!(
        addresses(&ec2, "g4"),
        cidrs(&["11.0.1.0/24", "11.0.0.0/24", "198.51.100.7/32"])
    );
}

#[tokio::test]
async fn ip_sets_that_cannot_be_read_fail_their_region_while_the_rest_syncs() {
    let ec2 = world();
    ec2.add_set_group("sg-g", "vpc-1", crate::domain::ip_ranges::Scope::Global);
    ec2.fail(Op::IpSets, None, "WAFInvalidPermissionPolicyException");
    let summary = run_with(&ec2, file(), &[]).await;
    assert!(summary.ip_sets.is_empty());
    assert_eq!(
        summary.failed_regions.len(),
        1,
        "the REGIONAL and CLOUDFRONT reads failed alike: one line"
    );
    assert_eq!(summary.failed_regions[0].reads, ["WAF IP sets"]);
    assert!(
        summary.failed_regions[0]
            .error
            .starts_with("WAFInvalidPermissionPolicyException: "),
        "{:?}",
        summary.failed_regions
    );
    assert_eq!(
        summary.sets[0].status,
        TargetStatus::Synced,
        "the security groups still sync"
    );
    assert_eq!(ec2.ours("sg-g", 443).len(), 3 + 1);
}
