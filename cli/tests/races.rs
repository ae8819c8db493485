//! Concurrent writers: CLI processes applying the same file at the same time, each with its own clients and
//! retry budget as concurrent Lambda invocations have, straight to moto and through a fault proxy.

#[path = "../../tests/common/mod.rs"]
mod common;

use cloudfront_sg_sync::domain::ip_ranges::Scope;
use common::proxy::{Faults, Outcome};
use common::*;

/// `n` CLI processes applying the same file at the same time through `endpoint`; their outputs.
async fn race(w: &World, endpoint: &str, n: usize) -> Vec<std::process::Output> {
    let run = || {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync"));
        cmd.args(["apply", "--ip-ranges-url", &w.server.url, "--json"])
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("MAX_RULES_PER_GROUP", MAX)
            // Every range one for one, as the settling run of `w.app` (tests/common's `config`).
            .env("AGGREGATE", "false")
            .env_remove("REGIONS");
        cmd.output()
    };
    futures::future::join_all((0..n).map(|_| run()))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

/// The runs raced: `processes` reads were answered before the first write went on to moto, and the losers met
/// the winners' rules (EC2 refused an authorization as a duplicate, or a read-back was re-planned).
fn assert_raced(calls: &[common::proxy::Call], processes: usize, replans: u64, what: &str) {
    let first_write = calls
        .iter()
        .filter(|c| c.is_write())
        .filter_map(|c| c.released)
        .min()
        .unwrap();
    let read = |c: &&common::proxy::Call| c.action == "DescribeSecurityGroups" && c.succeeded();
    let reads_before = calls
        .iter()
        .filter(read)
        .filter(|c| c.done.is_some_and(|d| d <= first_write))
        .count();
    assert_eq!(reads_before, processes, "{what}: every run read before any wrote");
    let refused = calls
        .iter()
        .filter(|c| c.action == "AuthorizeSecurityGroupIngress" && matches!(c.outcome, Outcome::Forwarded(400)))
        .count();
    assert!(
        refused + usize::try_from(replans).unwrap() > 0,
        "{what}: {refused} refused, {replans} re-plans"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_syncs_at_once_both_succeed_and_leave_the_exact_state() {
    let w = world(NEWEST, 5, 4).await;
    let untouchable = add_untouchables(&w).await;
    // Every write waits until both runs have read the groups: they plan from the same read, and race.
    let faults = Faults {
        hold_writes_until_reads: 2,
        ..Faults::default()
    };
    let proxy = common::proxy::FaultProxy::start(&w.moto.endpoint, faults).await;
    let mut replans = 0;
    for out in race(&w, &proxy.endpoint, 2).await {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        replans += summary["replans"].as_u64().unwrap();
    }
    assert_raced(&proxy.calls(), 2, replans, "no faults");
    // The race itself left the exact state, with no CIDR twice in a set (set_state checks that).
    let newest = selection(&fixture(NEWEST));
    assert_eq!(w.state(&w.global).await, *newest.ranges(Scope::Global));
    assert_eq!(w.state(&w.regional).await, *newest.ranges(Scope::Regional));
    let settled = w.app(&[]).await.handle(&schedule(), None).await.unwrap();
    assert_eq!(settled.added() + settled.removed(), 0);
    assert_untouched(&w, &untouchable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_and_three_concurrent_runs_under_throttling_and_drops_all_succeed_for_20_seeds_in_a_row() {
    let newest = selection(&fixture(NEWEST));
    let mut replans = 0;
    for seed in 0..20u64 {
        let w = world(NEWEST, 5, 4).await;
        let processes = 2 + usize::from(seed % 2 == 1);
        let faults = Faults {
            throttle_percent: 15,
            drop_percent: 10,
            hold_writes_until_reads: processes,
            seed,
            ..Faults::default()
        };
        let proxy = common::proxy::FaultProxy::start(&w.moto.endpoint, faults).await;
        let replans_before = replans;
        for out in race(&w, &proxy.endpoint, processes).await {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "seed {seed}, {processes} processes: {}\n{stdout}",
                String::from_utf8_lossy(&out.stderr)
            );
            let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            replans += summary["replans"].as_u64().unwrap();
        }
        let what = format!("seed {seed}, {processes} processes");
        assert_raced(&proxy.calls(), processes, replans - replans_before, &what);
        assert_eq!(w.state(&w.global).await, *newest.ranges(Scope::Global), "seed {seed}");
        assert_eq!(
            w.state(&w.regional).await,
            *newest.ranges(Scope::Regional),
            "seed {seed}"
        );
    }
    eprintln!("re-plans over the 20 races: {replans}");
}
