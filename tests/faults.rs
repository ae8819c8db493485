//! Fault injection: the real handler and adapter talk to `moto_server` through a loopback proxy that throttles,
//! drops, delays or fails calls, and records every call in order. Each test asserts the groups' final state and,
//! where it matters, the order of the calls the proxy saw.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cloudfront_sg_sync::Error;
use cloudfront_sg_sync::domain::cidr::Cidr;
use cloudfront_sg_sync::domain::event::Trigger;
use cloudfront_sg_sync::domain::ip_ranges::Scope;
use cloudfront_sg_sync::report::TargetStatus;
use cloudfront_sg_sync::sync;
use common::proxy::{FaultProxy, Faults, Outcome};
use common::*;

/// `file` with its `syncToken` replaced by `token` (and nothing else changed).
fn with_sync_token(file: &[u8], token: &str) -> Vec<u8> {
    let text = String::from_utf8(file.to_vec()).unwrap();
    let token_line = text.lines().find(|l| l.contains("\"syncToken\"")).unwrap().to_owned();
    text.replacen(&token_line, &format!("  \"syncToken\": \"{token}\","), 1)
        .into_bytes()
}

/// Put a proxy in front of the world's moto; the function's calls go through it.
async fn through_proxy(w: &mut World, faults: Faults) -> FaultProxy {
    let proxy = FaultProxy::start(&w.moto.endpoint, faults).await;
    w.endpoint = proxy.endpoint.clone();
    proxy
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_throttling_still_converges_exactly_with_bounded_logged_retries() {
    let mut w = world(OLDEST, 5, 4).await;
    let untouchable = add_untouchables(&w).await;
    let proxy = through_proxy(
        &mut w,
        Faults {
            throttle_percent: 30,
            seed: 7,
            ..Faults::default()
        },
    )
    .await;

    // First sync from empty, then a change with adds and removes (2021 → 2026), both at 30% throttling.
    let app = w.app(&[]).await;
    let first = app.handle(&schedule(), None).await.unwrap();
    w.server.set(Reply::Body(fixture(NEWEST)));
    let second = w.app(&[]).await.handle(&schedule(), None).await.unwrap();

    let newest = selection(&fixture(NEWEST));
    assert_eq!(w.state(&w.global).await, *newest.ranges(Scope::Global));
    assert_eq!(w.state(&w.regional).await, *newest.ranges(Scope::Regional));
    assert_untouched(&w, &untouchable).await;

    let calls = proxy.calls();
    let throttled = calls.iter().filter(|c| c.outcome == Outcome::Throttled).count();
    assert!(
        throttled * 100 >= calls.len() * 20,
        "only {throttled} of {} calls throttled",
        calls.len()
    );
    // Every throttled call was retried, and the summaries report it.
    assert_eq!((first.api_retries + second.api_retries) as usize, throttled);
    // Bounded: no logical call took more than EC2_MAX_ATTEMPTS (10) attempts. Consecutive throttles of the
    // same action and group are one call's attempts.
    let mut run = 0;
    for pair in calls.windows(2) {
        let same = pair[0].action == pair[1].action && pair[0].group == pair[1].group;
        run = if pair[0].outcome == Outcome::Throttled && same {
            run + 1
        } else {
            0
        };
        assert!(run < 10, "more than 10 attempts for {:?}", pair[1]);
    }
}

#[tokio::test]
async fn when_every_revoke_fails_every_wanted_range_is_authorized_and_a_clean_run_finishes() {
    let mut w = world(PAIR_A_OLD, 5, 4).await;
    let untouchable = add_untouchables(&w).await;
    let proxy = through_proxy(&mut w, Faults::default()).await;
    w.app(&[]).await.handle(&schedule(), None).await.unwrap();

    proxy.set_faults(Faults {
        fail: Some(("RevokeSecurityGroupIngress".into(), None, "InternalError".into())),
        ..Faults::default()
    });
    w.server.set(Reply::Body(fixture(PAIR_A_NEW)));
    let err = w
        .app(&[("EC2_MAX_ATTEMPTS", "2")])
        .await
        .handle(&schedule(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "SetsFailed");
    assert!(err.to_string().contains("RevokeSecurityGroupIngress"), "{err}");

    let new = selection(&fixture(PAIR_A_NEW));
    let old = selection(&fixture(PAIR_A_OLD));
    let state = w.state(&w.global).await;
    assert!(
        state.is_superset(new.ranges(Scope::Global)),
        "a wanted range is missing"
    );
    let stale: BTreeSet<Cidr> = old
        .ranges(Scope::Global)
        .difference(new.ranges(Scope::Global))
        .copied()
        .collect();
    assert_eq!(stale.len(), 3);
    assert!(
        state.is_superset(&stale),
        "the stale ranges could not have been revoked"
    );

    proxy.set_faults(Faults::default());
    w.app(&[]).await.handle(&schedule(), None).await.unwrap();
    assert_eq!(w.state(&w.global).await, *new.ranges(Scope::Global));
    assert_untouched(&w, &untouchable).await;
}

#[tokio::test]
async fn when_authorize_fails_for_one_group_no_group_ever_holds_fewer_wanted_ranges() {
    // 2021 → 2026 moves many ranges: every group gets authorizations and revocations.
    let mut w = world(OLDEST, 5, 4).await;
    let untouchable = add_untouchables(&w).await;
    let proxy = through_proxy(&mut w, Faults::default()).await;
    w.app(&[]).await.handle(&schedule(), None).await.unwrap();

    let initial: BTreeMap<String, BTreeSet<Cidr>> = {
        let mut m = BTreeMap::new();
        for g in w.global.iter().chain(&w.regional) {
            m.insert(g.clone(), managed(&w.client, g, 443).await.into_iter().collect());
        }
        m
    };
    w.server.set(Reply::Body(fixture(NEWEST)));
    let app = w.app(&[]).await;
    // The group that gets authorizations in the plan, chosen from a dry run.
    let dry = sync::run(
        &config(&w.vars(&[("DRY_RUN", "true")])),
        &Trigger::Scheduled,
        &app.source,
        &app.accounts,
        None,
    )
    .await
    .unwrap();
    let victim = dry.sets[0]
        .changes
        .iter()
        .find(|(_, p)| !p.authorize.is_empty())
        .map(|(g, _)| g.clone())
        .unwrap();
    proxy.clear();
    proxy.set_faults(Faults {
        fail: Some((
            "AuthorizeSecurityGroupIngress".into(),
            Some(victim.clone()),
            "UnauthorizedOperation".into(),
        )),
        ..Faults::default()
    });
    let err = app.handle(&schedule(), None).await.unwrap_err();
    assert!(err.to_string().contains(&victim), "{err}");

    // Replay the calls that succeeded, in the order the proxy saw them, over the initial state: no group ever
    // holds fewer wanted ranges than it did before the run.
    let newest = selection(&fixture(NEWEST));
    let wanted = |g: &str| {
        if w.global.iter().any(|x| x == g) {
            newest.ranges(Scope::Global)
        } else {
            newest.ranges(Scope::Regional)
        }
    };
    let mut held = initial.clone();
    let calls = proxy.writes();
    assert!(
        calls
            .iter()
            .all(|c| !(c.action == "RevokeSecurityGroupIngress" && c.group.as_deref() == Some(&victim)))
    );
    // CreateTags (the file applied, recorded after a set synced) changes no rule.
    for call in calls.iter().filter(|c| c.action != "CreateTags") {
        let group = call.group.clone().unwrap();
        let cidrs: BTreeSet<Cidr> = call.cidrs.iter().map(|c| c.parse().unwrap()).collect();
        let set = held.get_mut(&group).unwrap();
        match call.action.as_str() {
            "AuthorizeSecurityGroupIngress" => set.extend(cidrs),
            "RevokeSecurityGroupIngress" => set.retain(|c| !cidrs.contains(c)),
            other => panic!("unexpected write {other}"),
        }
        for (g, cidrs) in &held {
            let now = cidrs.intersection(wanted(g)).count();
            let before = initial[g].intersection(wanted(g)).count();
            assert!(
                now >= before,
                "after {call:?}, {g} holds {now} wanted ranges, fewer than {before}"
            );
        }
    }
    // The failing group's set revoked nothing at all; the other set synced.
    assert!(
        calls
            .iter()
            .all(|c| !(c.action == "RevokeSecurityGroupIngress" && w.global.contains(c.group.as_ref().unwrap())))
    );
    assert_eq!(w.state(&w.regional).await, *newest.ranges(Scope::Regional));

    proxy.set_faults(Faults::default());
    w.app(&[]).await.handle(&schedule(), None).await.unwrap();
    assert_eq!(w.state(&w.global).await, *newest.ranges(Scope::Global));
    assert_untouched(&w, &untouchable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_the_deadline_no_call_runs_past_the_margin_and_the_next_run_finishes() {
    let mut w = world(PAIR_A_OLD, 4, 0).await;
    let proxy = through_proxy(&mut w, Faults::default()).await;
    w.app(&[]).await.handle(&schedule(), None).await.unwrap();
    w.server.set(Reply::Body(fixture(PAIR_A_NEW)));

    // Authorizations take 2.5 s; with a 2 s margin and 4 s to the deadline, the run has 2 s: the
    // authorizations are cut off there, and no revocation starts.
    proxy.set_faults(Faults {
        latency: Duration::from_millis(2500),
        latency_action: Some("AuthorizeSecurityGroupIngress".into()),
        ..Faults::default()
    });
    proxy.clear();
    let app = w.app(&[("DEADLINE_MARGIN_SECONDS", "2")]).await;
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    let summary = sync::run(
        &app.config,
        &Trigger::Scheduled,
        &app.source,
        &app.accounts,
        Some(deadline),
    )
    .await
    .unwrap();
    let answered = started.elapsed();
    assert!(answered < Duration::from_millis(2600), "answered after {answered:?}");
    let set = &summary.sets[0];
    assert_eq!(set.status, TargetStatus::Failed);
    assert_eq!((set.added, set.removed), (0, 0), "nothing is known to be done");
    let error = set.error.as_deref().unwrap();
    assert!(error.contains("deadline margin"), "what stopped: {error}");
    let revokes = proxy
        .calls()
        .iter()
        .filter(|c| c.action == "RevokeSecurityGroupIngress")
        .count();
    assert_eq!(revokes, 0);
    assert!(matches!(summary.into_result(), Err(Error::SetsFailed { .. })));
    // Every range of the old file is still held: nothing was revoked.
    let old = selection(&fixture(PAIR_A_OLD));
    assert!(w.state(&w.global).await.is_superset(old.ranges(Scope::Global)));

    proxy.set_faults(Faults::default());
    w.app(&[]).await.handle(&schedule(), None).await.unwrap();
    assert_eq!(
        w.state(&w.global).await,
        *selection(&fixture(PAIR_A_NEW)).ranges(Scope::Global)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_and_latency_are_survived() {
    let mut w = world(NEWEST, 4, 4).await;
    let proxy = through_proxy(
        &mut w,
        Faults {
            drop_percent: 20,
            latency: Duration::from_millis(50),
            seed: 11,
            ..Faults::default()
        },
    )
    .await;
    let summary = w.app(&[]).await.handle(&schedule(), None).await.unwrap();
    let newest = selection(&fixture(NEWEST));
    assert_eq!(w.state(&w.global).await, *newest.ranges(Scope::Global));
    assert_eq!(w.state(&w.regional).await, *newest.ranges(Scope::Regional));
    let dropped = proxy.calls().iter().filter(|c| c.outcome == Outcome::Dropped).count();
    assert!(dropped > 0);
    assert_eq!(summary.api_retries as usize, dropped);
}

#[tokio::test]
async fn every_hostile_input_gets_a_clear_error_and_no_write_reaches_ec2() {
    let mut w = world(NEWEST, 4, 4).await;
    let untouchable = add_untouchables(&w).await;
    let proxy = through_proxy(&mut w, Faults::default()).await;
    let newest = fixture(NEWEST);
    let older = fixture(PAIR_A_NEW);
    let good = notification_for(&newest);
    let sched = schedule();
    let doc = |s: &str| Reply::Body(s.as_bytes().to_vec());
    let sns = sns_event;
    let without_message = |mut event: serde_json::Value| {
        event["Records"][0]["Sns"].as_object_mut().unwrap().remove("Message");
        event
    };
    let msg = |v: serde_json::Value| sns(serde_json::Value::String(v.to_string()));
    let md5 = "63431d35877fa5386ded1a7df9cfa971";
    // (what is served, the event, the error kind, a phrase the message must hold)
    let cases: Vec<(Reply, serde_json::Value, &str, &str)> = vec![
        // Events.
        (
            Reply::Body(newest.clone()),
            serde_json::json!(null),
            "UnsupportedEvent",
            "null",
        ),
        (
            Reply::Body(newest.clone()),
            serde_json::json!("not an object"),
            "UnsupportedEvent",
            "a string",
        ),
        (
            Reply::Body(newest.clone()),
            serde_json::json!({}),
            "UnsupportedEvent",
            "neither Records nor detail-type",
        ),
        (
            Reply::Body(newest.clone()),
            serde_json::json!({"Records": []}),
            "UnsupportedEvent",
            "Records is empty",
        ),
        (
            Reply::Body(newest.clone()),
            serde_json::json!({"Records": [{"Sns": {}}]}),
            "InvalidNotification",
            "the record has no Sns.Type",
        ),
        (
            Reply::Body(newest.clone()),
            without_message(sns(serde_json::json!("{}"))),
            "InvalidNotification",
            "the record has no Sns.Message",
        ),
        (
            Reply::Body(newest.clone()),
            sns(serde_json::json!("{not json")),
            "InvalidNotification",
            "not JSON",
        ),
        (
            Reply::Body(newest.clone()),
            msg(serde_json::json!({"md5": md5})),
            "InvalidNotification",
            "no \"synctoken\"",
        ),
        (
            Reply::Body(newest.clone()),
            msg(serde_json::json!({"synctoken": 1787411825u64, "md5": md5})),
            "InvalidNotification",
            "not a string",
        ),
        (
            Reply::Body(newest.clone()),
            msg(serde_json::json!({"synctoken": "1787411825", "md5": "not-hex-not-hex-not-hex-not-hex!"})),
            "InvalidNotification",
            "32 hex digits",
        ),
        // Downloads.
        (Reply::Status(404), good.clone(), "DownloadFailed", "404"),
        (Reply::Status(500), good.clone(), "DownloadFailed", "500"),
        (
            Reply::Redirect("https://elsewhere.invalid/ip-ranges.json".into()),
            good.clone(),
            "DownloadFailed",
            "not followed",
        ),
        (
            Reply::Truncated {
                body: newest[..100_000].to_vec(),
                declared: newest.len(),
            },
            good.clone(),
            "DownloadFailed",
            "failed after 2 attempt",
        ),
        (
            doc("not json at all"),
            sched.clone(),
            "InvalidIpRanges",
            "not an ip-ranges.json document",
        ),
        (
            doc(r#"{"syncToken": "1790000000", "prefixes": [], "ipv6_prefixes": []}"#),
            sched.clone(),
            "EmptySelection",
            "is empty",
        ),
        (
            doc(r#"{"syncToken": "1790000000"}"#),
            sched.clone(),
            "EmptySelection",
            "is empty",
        ),
        (
            doc(
                r#"{"syncToken": "1790000000", "prefixes": [{"ip_prefix": "300.1.2.0/24", "region": "GLOBAL", "service": "CLOUDFRONT"}]}"#,
            ),
            sched.clone(),
            "InvalidIpRanges",
            "300.1.2.0/24",
        ),
        (Reply::Body(older), good.clone(), "Md5Mismatch", "not newer"),
        // The newest real file, its syncToken edited: to 2100 (it would pin every target), and a year back
        // (it disagrees with its own createDate).
        (
            Reply::Body(with_sync_token(&newest, "4102444800")),
            sched.clone(),
            "UntrustedFile",
            "ahead of the clock",
        ),
        (
            Reply::Body(with_sync_token(&newest, "1755875825")),
            sched.clone(),
            "UntrustedFile",
            "from the syncToken",
        ),
    ];
    for (reply, event, kind, phrase) in cases {
        w.server.set(reply.clone());
        let app = w.app(&[]).await;
        let err = app.handle(&event, None).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{reply:?} {event}: {err}");
        assert!(err.to_string().contains(phrase), "{event}: {err}");
    }
    // A body over the cap.
    w.server.set(Reply::Body(newest.clone()));
    let err = w
        .app(&[("DOWNLOAD_MAX_BYTES", "2000000")])
        .await
        .handle(&good, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "DownloadTooLarge");

    assert_eq!(proxy.write_attempts(), 0, "a write reached EC2");
    assert!(w.state(&w.global).await.is_empty());
    assert_untouched(&w, &untouchable).await;
}

/// Writes of a first sync of two sets (5 GLOBAL and 4 regional groups, from empty) and of a real change (pair
/// A), through a proxy whose describes lag each rule write by `lag` reads: (first sync, change) write calls
/// that reached moto, with the end state checked exact after each; and the describes of the groups made.
async fn writes_with_lagging_reads(lag: usize) -> (usize, usize, usize) {
    let mut w = world(PAIR_A_OLD, 5, 4).await;
    let proxy = through_proxy(
        &mut w,
        Faults {
            lag_reads: lag,
            ..Faults::default()
        },
    )
    .await;
    let mut writes = Vec::new();
    let mut describes = 0;
    for file in [PAIR_A_OLD, PAIR_A_NEW] {
        proxy.clear();
        let summary = w.notify(file).await.unwrap();
        assert!(summary.failures().is_empty(), "{:?}", summary.failures());
        let wanted = selection(&fixture(file));
        assert_eq!(w.state(&w.global).await, *wanted.ranges(Scope::Global), "{file}");
        assert_eq!(w.state(&w.regional).await, *wanted.ranges(Scope::Regional), "{file}");
        writes.push(proxy.write_attempts());
        describes += proxy
            .calls()
            .iter()
            .filter(|c| c.action == "DescribeSecurityGroups")
            .count();
    }
    (writes[0], writes[1], describes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_that_lag_our_writes_cost_at_most_half_again_the_writes_and_end_exact() {
    let (first, change, describes) = writes_with_lagging_reads(0).await;
    let (first_lagging, change_lagging, describes_lagging) = writes_with_lagging_reads(2).await;
    assert!(describes_lagging > describes, "the lagging reads were read again");
    println!(
        "writes without lag: first sync {first}, change {change}; with two lagging reads: {first_lagging}, {change_lagging}"
    );
    assert!(first_lagging * 2 <= first * 3, "{first_lagging} writes against {first}");
    assert!(
        change_lagging * 2 <= change * 3,
        "{change_lagging} writes against {change}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_refuses_connections_fails_the_region_at_once_without_retries() {
    // Nothing listens on this port (a wrong AWS_ENDPOINT_URL): retrying cannot help.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let server = FileServer::start(Reply::Body(fixture(NEWEST))).await;
    let config = config(&[
        ("AWS_REGION", "us-east-1"),
        ("IP_RANGES_URL", server.url.as_str()),
        ("WAF_CLOUDFRONT_SCOPE", "false"),
    ]);
    let accounts = [cloudfront_sg_sync::ports::Account::own(
        groups_at(&closed, &config).await,
    )];
    let source = cloudfront_sg_sync::adapters::source::HttpSource::new(&config).unwrap();
    let summary = sync::run(&config, &Trigger::Scheduled, &source, &accounts, None)
        .await
        .unwrap();
    assert_eq!(summary.api_retries, 0, "no retry of a refused connection");
    let failed = &summary.failed_regions[0];
    assert_eq!(
        failed.reads,
        ["security groups", "prefix lists"],
        "one cause, said once"
    );
    assert!(
        failed.error.to_lowercase().contains("connection refused")
            && failed
                .error
                .contains("nothing answers at the endpoint: is AWS_ENDPOINT_URL"),
        "{}",
        failed.error
    );
    assert!(
        !failed.error.contains("{ ") && !failed.error.contains("Some("),
        "{}",
        failed.error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_answering_no_aws_answer_is_said_in_one_line_without_a_debug_dump() {
    // moto answers a region it does not know with an HTML error page (HTTP 500).
    let moto = Moto::start();
    let server = FileServer::start(Reply::Body(fixture(NEWEST))).await;
    let config = config(&[
        ("AWS_REGION", "us-east-1"),
        ("REGIONS", "mars-east-1"),
        ("IP_RANGES_URL", server.url.as_str()),
        ("EC2_MAX_ATTEMPTS", "1"),
        ("WAF_CLOUDFRONT_SCOPE", "false"),
    ]);
    let accounts = [cloudfront_sg_sync::ports::Account::own(
        groups_at(&moto.endpoint, &config).await,
    )];
    let source = cloudfront_sg_sync::adapters::source::HttpSource::new(&config).unwrap();
    let summary = sync::run(&config, &Trigger::Scheduled, &source, &accounts, None)
        .await
        .unwrap();
    let error = &summary.failed_regions[0].error;
    assert!(
        error.contains("answered HTTP 500 with no AWS answer") && error.contains("AWS_ENDPOINT_URL"),
        "{error}"
    );
    for dump in ["SdkBody", "ServiceError(", "StatusCode(", "headers:"] {
        assert!(!error.contains(dump), "{dump} in {error}");
    }
}
