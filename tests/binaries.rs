//! The Lambda binary as users run it: under a Runtime API with the bundled events/, against `moto_server`.
//! The CLI (its own crate) has its tests in `cli/tests/`.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use cloudfront_sg_sync::domain::ip_ranges::Scope;
use common::*;

#[tokio::test]
async fn the_lambda_binary_answers_the_bundled_events_unchanged() {
    let (moto, client, groups) = global_groups(4).await;
    let server = FileServer::start(Reply::Body(fixture(NEWEST))).await;
    let events = vec![
        std::fs::read(repo_file("events/sns-notification.json")).unwrap(),
        std::fs::read(repo_file("events/scheduled.json")).unwrap(),
        b"{\"hello\": \"world\"}".to_vec(),
    ];
    let runtime = RuntimeApi::start(events).await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync-lambda"));
    emulator_env(&mut cmd, &moto);
    // The default: aggregated.
    cmd.env_remove("AGGREGATE");
    let child = Running::spawn(
        cmd.env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "cloudfront-sg-sync")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("IP_RANGES_URL", &server.url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let answers = runtime.wait_answers(3, Duration::from_secs(60)).await;
    let output = child.stop();

    let (id, kind, first) = &answers[0];
    assert_eq!((id.as_str(), kind.as_str()), ("req-1", "response"), "{first}");
    assert_eq!(first["sync_token"], 1_787_411_825u64);
    // Aggregated by default: 97 IPv4 + 31 IPv6 CIDRs for the 118 + 32 GLOBAL ranges published.
    assert_eq!(first["sets"][0]["added"], 128);
    let (_, kind, second) = &answers[1];
    assert_eq!(kind, "response", "{second}");
    assert_eq!(second["trigger"], "schedule");
    assert_eq!(second["sets"][0]["added"], 0);
    assert_eq!(second["sets"][0]["status"], "in_sync");
    let (_, kind, third) = &answers[2];
    assert_eq!(kind, "error");
    assert_eq!(third["errorType"], "UnsupportedEvent");
    assert!(
        third["errorMessage"].as_str().unwrap().contains("Scheduled Event"),
        "{third}"
    );

    assert_eq!(
        set_state(&client, &groups, 443, 30).await,
        aggregated(&fixture(NEWEST)).ranges(Scope::Global).clone()
    );
    // JSON logs: every line parses, and the summary was logged.
    let logs = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<serde_json::Value> = logs.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "sync finished" && l["fields"]["added"] == 128),
        "{logs}"
    );
    // One Embedded Metric Format line per run.
    let metrics: Vec<&serde_json::Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert_eq!(metrics.len(), 2, "{logs}");
    assert_eq!(
        (&metrics[0]["RangesAdded"], &metrics[1]["RangesAdded"]),
        (&serde_json::json!(128), &serde_json::json!(0))
    );
}

/// What Lambda sets in a function's environment, which the runtime reads.
const LAMBDA_ENV: [(&str, &str); 3] = [
    ("AWS_LAMBDA_FUNCTION_NAME", "cloudfront-sg-sync"),
    ("AWS_LAMBDA_FUNCTION_VERSION", "1"),
    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_setting_at_start_is_answered_to_every_invocation_as_its_error_type_and_one_line() {
    let schedule = std::fs::read(repo_file("events/scheduled.json")).unwrap();
    let runtime = RuntimeApi::start(vec![schedule.clone(), schedule]).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync-lambda"))
        .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
        .envs(LAMBDA_ENV)
        .env("AWS_REGION", "us-east-1")
        .env("ACCOUNTS", "ou-nope")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let answers = runtime.wait_answers(2, Duration::from_secs(30)).await;
    child.start_kill().unwrap();
    let output = child.wait_with_output().await.unwrap();
    for (_, kind, body) in &answers {
        assert_eq!(kind, "error", "{body}");
        assert_eq!(body["errorType"], "InvalidConfig", "{body}");
        let message = body["errorMessage"].as_str().unwrap();
        assert!(
            message.starts_with("invalid setting ACCOUNTS=\"ou-nope\": "),
            "{message}"
        );
        assert!(!message.contains('\n') && !message.contains("Config {"), "{message}");
    }
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("cannot start")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("invalid setting ACCOUNTS=\"ou-nope\""), "{log}");
    assert!(
        !log.contains('\u{1b}') && !log.contains("Config {"),
        "no colours, no Debug dump: {log:?}"
    );
}

#[tokio::test]
async fn the_lambda_binary_without_a_runtime_api_exits_1_with_one_line() {
    let closed = format!("127.0.0.1:{}", free_port());
    let output = Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync-lambda"))
        .env("AWS_LAMBDA_RUNTIME_API", &closed)
        .envs(LAMBDA_ENV)
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let log = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].contains("the Lambda runtime stopped"),
        "{log}"
    );
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// `cargo lambda watch` (its local Lambda runtime) and `cargo lambda invoke --data-file events/…`, as the README
/// and `make demo` use them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundled_events_invoke_unchanged_through_cargo_lambda() {
    let cargo_lambda = repo_file(".venv/bin/cargo-lambda");
    assert!(
        cargo_lambda.exists(),
        "{} not found (run `make venv`)",
        cargo_lambda.display()
    );
    let (moto, client, groups) = global_groups(4).await;
    let server = FileServer::start(Reply::Body(fixture(NEWEST))).await;
    let port = free_port().to_string();
    let watch = Running::spawn(
        Command::new(&cargo_lambda)
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "cargo lambda watch did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync-lambda"));
    emulator_env(&mut cmd, &moto);
    let function = Running::spawn(
        cmd.env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("IP_RANGES_URL", &server.url)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let invoke = |file: &str| {
        let out = Command::new(&cargo_lambda)
            .args([
                "lambda",
                "invoke",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port,
            ])
            .args(["--output-format", "json", "--data-file"])
            .arg(repo_file(file))
            .output()
            .unwrap();
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = invoke("events/sns-notification.json");
    let second = invoke("events/scheduled.json");
    drop((function, watch));

    assert_eq!(
        (&first["trigger"], &first["sets"][0]["added"]),
        (&serde_json::json!("notification"), &serde_json::json!(150))
    );
    assert_eq!(
        (&second["trigger"], &second["sets"][0]["status"]),
        (&serde_json::json!("schedule"), &serde_json::json!("in_sync"))
    );
    assert_eq!(
        set_state(&client, &groups, 443, 30).await,
        *selection(&fixture(NEWEST)).ranges(Scope::Global)
    );
}
