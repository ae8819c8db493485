//! Benchmarks of what users pay for beyond CPU: EC2 calls per sync, scale over many sets and regions, cold
//! start, peak memory and artifact size. Prints a Markdown table (medians of `BENCH_RUNS`, default 5).
//!
//! `make bench` runs it after building the deployable zip; the numbers are recorded in BENCHMARKS.md.
//! Everything runs on 127.0.0.1: a fresh `moto_server` per measurement, a counting proxy in front of it, and a
//! tiny Lambda Runtime API for the release binary.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/organizations.rs"]
mod organizations;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cloudfront_sg_sync::adapters::accounts::accounts_with_loader;
use cloudfront_sg_sync::adapters::source::HttpSource;
use cloudfront_sg_sync::domain::event::Trigger;
use cloudfront_sg_sync::domain::ip_ranges::Scope;
use cloudfront_sg_sync::ports::Account;
use cloudfront_sg_sync::sync;
use common::proxy::{FaultProxy, Faults};
use common::*;

fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Row {
    figure: String,
    target: String,
    measured: String,
}

/// EC2 calls of a first sync, the same notification again, and a small real change.
async fn calls(rows: &mut Vec<Row>) {
    let mut w = world(NEWEST, 4, 4).await;
    let tagged = [("Name", "cloudfront_g"), ("AutoUpdate", "true")];
    sized_list(&w.client, "IPv4", &tagged, 150, &[]).await;
    let proxy = FaultProxy::start(&w.moto.endpoint, Faults::default()).await;
    w.endpoint = proxy.endpoint.clone();
    let event = notification_for(&fixture(NEWEST));
    w.app(&[]).await.handle(&event, None).await.unwrap();
    let writes = proxy.rule_writes().len();
    rows.push(Row {
        figure: "first sync from empty (newest file, 8 groups, a GLOBAL IPv4 prefix list): rule write calls per group".into(),
        target: "≤ 2".into(),
        measured: format!(
            "{:.2} ({writes} writes / 8 groups), + {} CreateTags (1 per set and list), + {} ModifyManagedPrefixList (100 entries a call)",
            writes as f64 / 8.0,
            proxy.tag_writes(),
            proxy.list_writes()
        ),
    });
    proxy.clear();
    w.app(&[]).await.handle(&event, None).await.unwrap();
    let calls = proxy.calls();
    let count = |action: &str| calls.iter().filter(|c| c.action == action).count();
    rows.push(Row {
        figure: "same notification again (1 region, 2 sets and 1 prefix list): writes, calls".into(),
        target: "0 writes; per region 1 DescribeSecurityGroups (+ 1 of every group where a list is tagged), 1 DescribeNetworkInterfaces and 1 DescribeManagedPrefixLists, 1 GetManagedPrefixListEntries per list".into(),
        measured: format!(
            "{} writes; {} DescribeSecurityGroups, {} DescribeNetworkInterfaces, {} DescribeManagedPrefixLists, {} GetManagedPrefixListEntries, {} calls in all",
            calls.iter().filter(|c| c.is_write()).count(),
            count("DescribeSecurityGroups"),
            count("DescribeNetworkInterfaces"),
            count("DescribeManagedPrefixLists"),
            count("GetManagedPrefixListEntries"),
            calls.len()
        ),
    });

    let mut w = world(PAIR_A_OLD, 4, 4).await;
    let proxy = FaultProxy::start(&w.moto.endpoint, Faults::default()).await;
    w.endpoint = proxy.endpoint.clone();
    w.app(&[]).await.handle(&schedule(), None).await.unwrap();
    let before: Vec<BTreeSet<_>> = {
        let mut v = Vec::new();
        for g in w.global.iter().chain(&w.regional) {
            v.push(managed(&w.client, g, 443).await.into_iter().collect());
        }
        v
    };
    proxy.clear();
    w.server.set(Reply::Body(fixture(PAIR_A_NEW)));
    w.app(&[])
        .await
        .handle(&notification_for(&fixture(PAIR_A_NEW)), None)
        .await
        .unwrap();
    let mut changed = BTreeSet::new();
    for (g, b) in w.global.iter().chain(&w.regional).zip(&before) {
        let now: BTreeSet<_> = managed(&w.client, g, 443).await.into_iter().collect();
        if &now != b {
            changed.insert(g.clone());
        }
    }
    let written: BTreeSet<String> = proxy.rule_writes().iter().filter_map(|c| c.group.clone()).collect();
    assert_eq!(written, changed);
    rows.push(Row {
        figure: "small real change (2025-11-17 pair, GLOBAL +6/-3): groups written / groups changed / groups".into(),
        target: "writes only on the groups that change".into(),
        measured: format!(
            "{} / {} / 8 ({} rule write calls, + {} CreateTags: 1 per set, the new syncToken)",
            written.len(),
            changed.len(),
            proxy.rule_writes().len(),
            proxy.tag_writes()
        ),
    });
}

/// Wall time and calls of a first sync of `n` sets spread over 3 regions, one group each, with `latency` added
/// to every EC2 call (moto answers in milliseconds; AWS takes longer).
async fn scale_once(n: usize, latency: Duration, answer_writes: bool) -> (f64, usize) {
    let server = FileServer::start(Reply::Body(fixture(NEWEST))).await;
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
    // One emulator per region, as each AWS region is its own endpoint: one Python process would serialize
    // the regions' calls.
    let motos: Vec<Moto> = regions.iter().map(|_| Moto::start()).collect();
    for (i, region) in regions.iter().enumerate() {
        let client = motos[i].client(region).await;
        let vpc = create_vpc(&client, "10.0.0.0/16").await;
        for s in (0..n).filter(|s| s % regions.len() == i) {
            // Each port is its own set.
            tagged_group(
                &client,
                &vpc,
                &format!("set-{s}"),
                Scope::Global,
                &(8000 + s).to_string(),
            )
            .await;
        }
    }
    let routes: Vec<(&str, &str)> = regions
        .iter()
        .zip(&motos)
        .map(|(r, m)| (*r, m.endpoint.as_str()))
        .collect();
    let proxy = FaultProxy::start_routed(
        &routes,
        Faults {
            latency,
            answer_writes,
            ..Faults::default()
        },
    )
    .await;
    let cfg = config(&[
        ("REGIONS", &regions.join(",")),
        // 3 ranges per group: the emulator's own work per call stays small, so the figure shows the sync's
        // concurrency rather than moto's single Python process.
        ("SERVICE", "CLOUDFRONT_ORIGIN_FACING"),
        ("IP_VERSIONS", "ipv6"),
        ("IP_RANGES_URL", &server.url),
    ]);
    let own = [Account::own(groups_at(&proxy.endpoint, &cfg).await)];
    let source = HttpSource::new(&cfg).unwrap();
    let started = Instant::now();
    let summary = sync::run(&cfg, &Trigger::Scheduled, &source, &own, None).await.unwrap();
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(summary.sets.len(), n);
    assert!(summary.failures().is_empty(), "{:?}", summary.failures());
    (elapsed, proxy.calls().len())
}

async fn scale(rows: &mut Vec<Row>) {
    let latency = Duration::from_millis(
        std::env::var("BENCH_LATENCY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100),
    );
    // Once with every call going to moto, once with the writes answered by the proxy after the same latency:
    // on this 2-core machine the three emulators' own CPU is part of the first figure.
    for (answer_writes, how) in [
        (false, "moto answers every call"),
        (true, "writes answered by the proxy"),
    ] {
        let mut results = Vec::new();
        for n in [1, 10, 100] {
            let mut times = Vec::new();
            let mut calls = 0;
            for _ in 0..runs() {
                let (ms, c) = scale_once(n, latency, answer_writes).await;
                times.push(ms);
                calls = c;
            }
            results.push((n, median(times), calls));
        }
        let one = results[0].1;
        for (n, ms, calls) in &results {
            rows.push(Row {
                figure: format!(
                    "first sync of {n} set(s) over 3 regions, {} ms per EC2 call, {how}: wall time, calls",
                    latency.as_millis()
                ),
                target: if *n == 100 {
                    "≤ 2× the 1-set sync".into()
                } else {
                    "-".into()
                },
                measured: format!("{ms:.0} ms ({:.2}× 1 set), {calls} calls", ms / one),
            });
        }
    }
}

/// Wall time and calls of a first sync of `n` accounts × 3 regions, one set (one group) in each, through the
/// accounts' roles, with `latency` added to every call, every call answered by the proxy: the run's own
/// concurrency, with no emulator CPU in it (a moto behind it would serialize the calls of 600 regions).
async fn accounts_once(n: usize, latency: Duration) -> (f64, Vec<common::proxy::Call>) {
    let server = FileServer::start(Reply::Body(fixture(NEWEST))).await;
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
    // Nothing should reach it: every call is answered by the proxy.
    let moto = Moto::start();
    let ids: Vec<String> = (0..n).map(|i| format!("{:012}", 100_000_000_000 + i)).collect();
    let faults = Faults {
        latency,
        answer_writes: true,
        answer_reads: true,
        ..Faults::default()
    };
    let proxy = FaultProxy::start(&moto.endpoint, faults).await;
    let cfg = config(&[
        ("AWS_REGION", "us-east-1"),
        ("REGIONS", &regions.join(",")),
        ("ACCOUNTS", &ids.join(",")),
        ("SERVICE", "CLOUDFRONT_ORIGIN_FACING"),
        ("IP_VERSIONS", "ipv6"),
        ("IP_RANGES_URL", &server.url),
    ]);
    let loader = cloudfront_sg_sync::adapters::aws::loader()
        .endpoint_url(&proxy.endpoint)
        .test_credentials();
    let accounts = accounts_with_loader(&cfg, loader).await;
    let source = HttpSource::new(&cfg).unwrap();
    let started = Instant::now();
    let summary = sync::run(&cfg, &Trigger::Scheduled, &source, &accounts, None)
        .await
        .unwrap();
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(summary.sets.len(), n * regions.len());
    assert!(summary.failures().is_empty(), "{:?}", summary.failures());
    (elapsed, proxy.calls())
}

async fn many_accounts(rows: &mut Vec<Row>) {
    let latency = Duration::from_millis(100);
    let mut results = Vec::new();
    for n in [1, 200] {
        let mut times = Vec::new();
        let mut calls = Vec::new();
        for _ in 0..runs() {
            let (ms, c) = accounts_once(n, latency).await;
            times.push(ms);
            calls = c;
        }
        assert!(
            calls
                .iter()
                .all(|c| c.outcome == common::proxy::Outcome::Forwarded(200))
        );
        let sts = calls.iter().filter(|c| c.action == "AssumeRole").count();
        let ec2 = calls.len() - sts;
        results.push((n, median(times), sts, ec2));
    }
    let one = results[0].1;
    for (n, ms, sts, ec2) in results {
        rows.push(Row {
            figure: format!(
                "first sync of {n} account(s) × 3 regions, one set each, through their roles, 100 ms per call \
                 (every call answered by the proxy): wall time; STS and EC2 calls per account"
            ),
            target: if n == 1 {
                "-".into()
            } else {
                "≤ 10× 1 account; 1 STS call per account".into()
            },
            measured: format!(
                "{ms:.0} ms ({:.2}× 1 account); {:.2} STS + {:.2} EC2 calls per account",
                ms / one,
                sts as f64 / n as f64,
                ec2 as f64 / n as f64
            ),
        });
    }
}

/// An organization in moto: 40 OUs (4 under the root, 9 under each of them) holding `n` accounts, spread evenly;
/// its root id.
async fn organization_of(moto: &Moto, n: usize) -> String {
    let org = organizations::Org::create(&moto.endpoint).await;
    let mut units = Vec::new();
    for top in 0..4 {
        let parent = org.unit(&org.root, &format!("top-{top}")).await;
        for child in 0..9 {
            units.push(org.unit(&parent, &format!("unit-{top}-{child}")).await);
        }
        units.push(parent);
    }
    for i in 0..n {
        org.account(&units[i % units.len()], &format!("account-{i}")).await;
    }
    org.root.clone()
}

/// The proxy of an organization benchmark: every call 100 ms; AWS Organizations answered by moto the first
/// time a request is made, then from the proxy's record of it (moto's time in Python out of the measurement);
/// every other call answered by the proxy itself.
async fn organization_proxy(moto: &Moto) -> FaultProxy {
    let faults = Faults {
        latency: Duration::from_millis(100),
        answer_writes: true,
        answer_reads: true,
        replay: ORGANIZATION_CALLS.map(str::to_owned).to_vec(),
        ..Faults::default()
    };
    FaultProxy::start(&moto.endpoint, faults).await
}

const ORGANIZATION_CALLS: [&str; 3] = ["ListChildren", "ListAccountsForParent", "ListAccounts"];

/// The settings of an organization benchmark: `ACCOUNTS` = the root, 4 regions, at `concurrency`.
fn organization_settings(root: &str, concurrency: usize, ranges_url: &str) -> Vec<(&'static str, String)> {
    let regions = "us-east-1,eu-west-1,ap-southeast-2,eu-central-1";
    vec![
        ("AWS_REGION", "us-east-1".into()),
        ("REGIONS", regions.into()),
        ("ACCOUNTS", root.into()),
        // The management account (moto's default) is under the root too.
        ("EXCLUDE_ACCOUNTS", "123456789012".into()),
        ("MAX_CONCURRENCY", concurrency.to_string()),
        ("SERVICE", "CLOUDFRONT_ORIGIN_FACING".into()),
        ("IP_VERSIONS", "ipv6".into()),
        ("IP_RANGES_URL", ranges_url.into()),
    ]
}

/// What one organization benchmark measured.
struct OrgRun {
    first: f64,
    noop: f64,
    /// The organization read, and its calls.
    read: f64,
    read_calls: usize,
    first_calls: Vec<common::proxy::Call>,
    noop_calls: Vec<common::proxy::Call>,
}

/// A first sync and a no-op of an organization of `n` accounts in 40 nested OUs (`ACCOUNTS` = its root) × 4
/// regions, one set each, at `concurrency`, 100 ms per call (see [`organization_proxy`]), in this process.
async fn organization_once(moto: &Moto, root: &str, concurrency: usize, ranges_url: &str) -> OrgRun {
    let proxy = organization_proxy(moto).await;
    let settings = organization_settings(root, concurrency, ranges_url);
    let cfg = config(&settings.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>());
    let loader = cloudfront_sg_sync::adapters::aws::loader()
        .endpoint_url(&proxy.endpoint)
        .test_credentials();
    let (accounts, organization) = cloudfront_sg_sync::adapters::accounts::with_loader(&cfg, loader).await;
    // Recorded from moto once, then measured as replayed.
    sync::members(&cfg, &organization).await.unwrap();
    proxy.clear();
    let started = Instant::now();
    let members = sync::members(&cfg, &organization).await.unwrap();
    let read = started.elapsed().as_secs_f64() * 1000.0;
    let read_calls = proxy.calls().len();
    proxy.clear();
    let n = members.synced.len();
    let app = cloudfront_sg_sync::handler::App {
        notifications: cloudfront_sg_sync::ports::NoNotifications,
        source: HttpSource::new(&cfg).unwrap(),
        config: cfg,
        accounts,
        organization,
    };
    let mut times = Vec::new();
    let mut calls = Vec::new();
    for _ in 0..2 {
        let started = Instant::now();
        let summary = app.handle(&schedule(), None).await.unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(summary.sets.len(), n * 4);
        assert_eq!(summary.account_counts(), (n, 0, 1));
        calls.push(proxy.calls());
        proxy.clear();
    }
    let noop_calls = calls.pop().unwrap_or_default();
    OrgRun {
        first: times[0],
        noop: times[1],
        read,
        read_calls,
        first_calls: calls.pop().unwrap_or_default(),
        noop_calls,
    }
}

/// CPU time a process has used (user + system), in seconds (Linux counts it in ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0
}

/// Peak RSS and CPU seconds of the function alone (the release zip's bootstrap) over a first sync and a no-op
/// of the same organization, as Lambda runs it (two scheduled invocations), and how long each took by its own
/// summary.
async fn organization_function(moto: &Moto, root: &str, concurrency: usize, ranges_url: &str) -> (f64, f64, Vec<u64>) {
    let proxy = organization_proxy(moto).await;
    let event = serde_json::to_vec(&schedule()).unwrap();
    let runtime = RuntimeApi::start(vec![event.clone(), event]).await;
    let mut command = std::process::Command::new(bootstrap());
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "cloudfront-sg-sync")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .envs(organization_settings(root, concurrency, ranges_url))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = command.spawn().unwrap();
    let answers = runtime.wait_answers(2, Duration::from_secs(600)).await;
    let peak = peak_rss_mb(child.id());
    let cpu = cpu_seconds(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    let durations = answers
        .iter()
        .map(|(_, kind, body)| {
            assert_eq!(kind, "response", "{body}");
            body["duration_ms"].as_u64().unwrap_or_default()
        })
        .collect();
    (peak, cpu, durations)
}

/// Calls per account of `calls`, by action, in one line.
fn per_account(calls: &[common::proxy::Call], n: usize) -> String {
    let mut by: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for call in calls {
        *by.entry(call.action.as_str()).or_default() += 1;
    }
    let each: Vec<String> = by
        .iter()
        .map(|(a, c)| format!("{a} {:.2}", *c as f64 / n as f64))
        .collect();
    each.join(", ")
}

async fn organization_scale(rows: &mut Vec<Row>) {
    let n: usize = std::env::var("BENCH_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let server = FileServer::start(Reply::Body(fixture(NEWEST))).await;
    let moto = Moto::start();
    let root = organization_of(&moto, n).await;
    for concurrency in [50, 200] {
        let run = organization_once(&moto, &root, concurrency, &server.url).await;
        let (peak, cpu, durations) = organization_function(&moto, &root, concurrency, &server.url).await;
        // The floor as for many accounts: call times per account × 100 ms × accounts / the bound. A first sync:
        // the first region's unit 3 (the role, the groups, then its lists and IP sets), 3 more regions 1 each,
        // 4 sets 3 each (authorize, read-back, CreateTags) = 18; a no-op: 2 + 3 = 5.
        let floor = |call_times: f64| call_times * 100.0 * n as f64 / concurrency as f64;
        rows.push(Row {
            figure: format!(
                "organization of {n} accounts in 40 nested OUs (ACCOUNTS=r-…) × 4 regions, one set each, \
                 MAX_CONCURRENCY {concurrency}, 100 ms per call: first sync, no-op, the organization read, the \
                 function's peak RSS"
            ),
            target: "within 20% of the floor; the organization in a few call times; ≤ 128 MB".into(),
            measured: format!(
                "first sync {:.0} ms ({:.2}× the floor of {:.0} ms); no-op {:.0} ms ({:.2}× the floor of {:.0} \
                 ms); organization read {:.0} ms ({:.1} call times, {} calls); the function alone: peak RSS \
                 {peak:.0} MB, first sync {} ms, no-op {} ms, {cpu:.1} CPU-seconds for both; calls per account, first sync: {}; no-op: {}",
                run.first,
                run.first / floor(18.0),
                floor(18.0),
                run.noop,
                run.noop / floor(5.0),
                floor(5.0),
                run.read,
                run.read / 100.0,
                run.read_calls,
                durations[0],
                durations[1],
                per_account(&run.first_calls, n),
                per_account(&run.noop_calls, n),
            ),
        });
    }
}

fn bootstrap() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_file("target"));
    let path = target.join("lambda/cloudfront-sg-sync-lambda/bootstrap");
    assert!(path.exists(), "{} not found: run `make package` first", path.display());
    path
}

/// Peak RSS of a process (VmHWM), in MB.
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

/// Time from process start to the first Runtime API poll, and peak RSS over a full sync of the newest file.
async fn cold_start_and_memory(rows: &mut Vec<Row>) {
    let binary = bootstrap();
    let mut inits = Vec::new();
    let mut peaks = Vec::new();
    for _ in 0..runs() {
        let w = world(NEWEST, 4, 4).await;
        let runtime = RuntimeApi::start(vec![serde_json::to_vec(&notification_for(&fixture(NEWEST))).unwrap()]).await;
        let started = Instant::now();
        let mut child = std::process::Command::new(&binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "cloudfront-sg-sync")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_ENDPOINT_URL", &w.moto.endpoint)
            .env("IP_RANGES_URL", &w.server.url)
            .env("MAX_RULES_PER_GROUP", MAX)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let answers = runtime.wait_answers(1, Duration::from_secs(60)).await;
        assert_eq!(answers[0].1, "response", "{:?}", answers[0]);
        // Aggregated (the default): 97 + 31 CIDRs for the 118 + 32 GLOBAL ranges.
        assert_eq!(answers[0].2["sets"][0]["added"], 128);
        let first_poll = runtime.first_poll.lock().unwrap().unwrap();
        inits.push(first_poll.duration_since(started).as_secs_f64() * 1000.0);
        peaks.push(peak_rss_mb(child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    rows.push(Row {
        figure: "cold start: process start → first Runtime API `next` poll (release zip's bootstrap)".into(),
        target: "≤ 30 ms".into(),
        measured: format!("{:.1} ms", median(inits)),
    });
    rows.push(Row {
        figure: "peak RSS over a full first sync of the newest file (243 ranges, aggregated by default to 211 CIDRs, 8 groups)".into(),
        target: "≤ 32 MB".into(),
        measured: format!("{:.1} MB", median(peaks)),
    });
}

fn artifact(rows: &mut Vec<Row>) {
    let zip = bootstrap().with_file_name("bootstrap.zip");
    let bytes = std::fs::metadata(&zip).unwrap().len();
    rows.push(Row {
        figure: "deployable zip (`cargo lambda build --release --x86-64 --output-format zip`)".into(),
        target: "≤ 6 MB".into(),
        measured: format!("{:.2} MB ({bytes} bytes)", bytes as f64 / 1_048_576.0),
    });
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut rows = Vec::new();
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    if which == "all" || which == "calls" {
        calls(&mut rows).await;
    }
    if which == "all" || which == "scale" {
        scale(&mut rows).await;
    }
    if which == "all" || which == "accounts" {
        many_accounts(&mut rows).await;
    }
    if which == "all" || which == "organization" {
        organization_scale(&mut rows).await;
    }
    if which == "all" || which == "cold" {
        cold_start_and_memory(&mut rows).await;
        artifact(&mut rows);
    }
    println!("| figure | target | measured (median of {}) |", runs());
    println!("|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} |", r.figure, r.target, r.measured);
    }
}
