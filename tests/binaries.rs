//! The two binaries as users run them: the Lambda function under a Runtime API with the bundled events/,
//! and the CLI's plan and apply, both against `moto_server`.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use cloudfront_sg_sync::ip_ranges::Scope;
use common::*;

async fn setup(n: usize) -> (Moto, aws_sdk_ec2::Client, Vec<String>) {
    let moto = Moto::start();
    let client = moto.client("us-east-1").await;
    let vpc = create_vpc(&client, "10.0.0.0/16").await;
    let mut groups = Vec::new();
    for i in 0..n {
        groups.push(tagged_group(&client, &vpc, &format!("g{i}"), Scope::Global, "https").await);
    }
    groups.sort();
    (moto, client, groups)
}

fn emulator_env(cmd: &mut Command, moto: &Moto) {
    cmd.env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("MAX_RULES_PER_GROUP", "30")
        .env_remove("REGIONS")
        .env_remove("DRY_RUN");
}

#[tokio::test]
async fn the_lambda_binary_answers_the_bundled_events_unchanged() {
    let (moto, client, groups) = setup(4).await;
    let server = FileServer::start(Reply::Body(fixture(NEWEST))).await;
    let events = vec![
        std::fs::read(repo_file("events/sns-notification.json")).unwrap(),
        std::fs::read(repo_file("events/scheduled.json")).unwrap(),
        b"{\"hello\": \"world\"}".to_vec(),
    ];
    let runtime = RuntimeApi::start(events).await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync-lambda"));
    emulator_env(&mut cmd, &moto);
    let mut child = cmd
        .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "cloudfront-sg-sync")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("IP_RANGES_URL", &server.url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let answers = runtime.wait_answers(3, Duration::from_secs(60)).await;
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();

    let (id, kind, first) = &answers[0];
    assert_eq!((id.as_str(), kind.as_str()), ("req-1", "response"), "{first}");
    assert_eq!(first["sync_token"], 1_787_411_825u64);
    assert_eq!(first["sets"][0]["added"], 150);
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
        *selection(&fixture(NEWEST)).ranges(Scope::Global)
    );
    // JSON logs: every line parses, and the summary was logged.
    let logs = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<serde_json::Value> = logs.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "sync finished" && l["fields"]["added"] == 150),
        "{logs}"
    );
    // One Embedded Metric Format line per run.
    let metrics: Vec<&serde_json::Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert_eq!(metrics.len(), 2, "{logs}");
    assert_eq!(
        (&metrics[0]["RangesAdded"], &metrics[1]["RangesAdded"]),
        (&serde_json::json!(150), &serde_json::json!(0))
    );
}

#[tokio::test]
async fn the_lambda_binary_refuses_to_start_on_a_bad_setting() {
    let runtime = RuntimeApi::start(vec![]).await;
    let output = Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync-lambda"))
        .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
        .env("AWS_REGION", "us-east-1")
        .env("MAX_RULES_PER_GROUP", "lots")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(all.contains("MAX_RULES_PER_GROUP"), "{all}");
}

fn cli(moto: &Moto, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync"));
    emulator_env(&mut cmd, moto);
    cmd.args(args).output().unwrap()
}

#[test]
fn the_cli_help_of_each_setting_flag_is_the_settings_list() {
    let out = Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for (flag, variable) in [
        ("--regions", "REGIONS"),
        ("--service", "SERVICE"),
        ("--ip-versions", "IP_VERSIONS"),
        ("--max-rules-per-group", "MAX_RULES_PER_GROUP"),
        ("--ip-ranges-url", "IP_RANGES_URL"),
    ] {
        let setting = cloudfront_sg_sync::config::setting_of(variable).unwrap();
        let expected = format!(
            "{} [env: {variable}, default: {}]",
            setting.meaning.replace('`', ""),
            setting.default
        );
        let after_flag = help.split(flag).nth(1).unwrap_or_default();
        assert!(
            after_flag.lines().nth(1).unwrap_or_default().trim() == expected,
            "{flag}: {help}"
        );
    }
}

// Multi-threaded: the CLI runs as a blocking child process while the file server answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_plan_writes_nothing_and_apply_syncs() {
    let (moto, client, groups) = setup(4).await;
    let dir = std::env::temp_dir().join(format!("cfsg-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ip-ranges.json");
    std::fs::write(&file, fixture(NEWEST)).unwrap();
    let file = file.to_str().unwrap();

    let plan = cli(&moto, &["plan", "--ip-ranges-file", file]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success(), "{text}{}", String::from_utf8_lossy(&plan.stderr));
    assert!(text.starts_with("plan of CLOUDFRONT"), "{text}");
    assert!(text.contains("planned: +150 -0 =0"), "{text}");
    assert!(text.contains(" + 13.32.0.0/15 tcp/443"), "{text}");
    assert!(set_state(&client, &groups, 443, 30).await.is_empty());

    let server = FileServer::start(Reply::Body(fixture(NEWEST))).await;
    let apply = cli(&moto, &["apply", "--ip-ranges-url", &server.url, "--json"]);
    assert!(apply.status.success(), "{}", String::from_utf8_lossy(&apply.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&apply.stdout).unwrap();
    assert_eq!(summary["sets"][0]["status"], "synced");
    assert_eq!(
        set_state(&client, &groups, 443, 30).await,
        *selection(&fixture(NEWEST)).ranges(Scope::Global)
    );

    let again = cli(&moto, &["plan", "--ip-ranges-file", file]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("in sync: +0 -0 =150"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn cli_errors_name_the_setting_and_exit_non_zero() {
    let (moto, _client, _groups) = setup(1).await;
    let out = cli(
        &moto,
        &["plan", "--max-rules-per-group", "0", "--ip-ranges-file", "/nonexistent"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MAX_RULES_PER_GROUP=\"0\""), "{err}");

    let out = cli(&moto, &["plan", "--ip-ranges-file", "/nonexistent/ip-ranges.json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read /nonexistent/ip-ranges.json") && err.contains("(ReadFileFailed)"),
        "{err}"
    );
}

#[tokio::test]
async fn cli_adopt_lists_then_adopts_rules_left_by_the_python_sample() {
    let (moto, client, groups) = setup(4).await;
    // What AWS's Python sample leaves: tcp 443 rules without our description.
    let sample = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("13.32.0.0/15").build())
        .ip_ranges(
            aws_sdk_ec2::types::IpRange::builder()
                .cidr_ip("198.51.100.0/24")
                .description("office")
                .build(),
        )
        .build();
    client
        .authorize_security_group_ingress()
        .group_id(&groups[0])
        .ip_permissions(sample)
        .send()
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("cfsg-adopt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ip-ranges.json");
    std::fs::write(&file, fixture(NEWEST)).unwrap();
    let file = file.to_str().unwrap();
    let before = rules(&client, &groups[0]).await;

    let list = cli(&moto, &["adopt", "--ip-ranges-file", file]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "{text}{}", String::from_utf8_lossy(&list.stderr));
    assert!(
        text.contains(&format!("{} 13.32.0.0/15: adoptable (a CloudFront range)", groups[0])),
        "{text}"
    );
    assert!(
        text.contains("198.51.100.0/24: left alone (not a CloudFront range)"),
        "{text}"
    );
    assert_eq!(rules(&client, &groups[0]).await, before, "listing changed something");

    let adopt = cli(&moto, &["adopt", "--apply", "--ip-ranges-file", file]);
    assert!(adopt.status.success(), "{}", String::from_utf8_lossy(&adopt.stderr));
    assert_eq!(
        managed(&client, &groups[0], 443).await,
        vec!["13.32.0.0/15".parse().unwrap()]
    );

    let apply = cli(&moto, &["apply", "--ip-ranges-file", file, "--json"]);
    assert!(apply.status.success(), "{}", String::from_utf8_lossy(&apply.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&apply.stdout).unwrap();
    assert_eq!(summary["sets"][0]["unchanged"], 1);
    assert_eq!(
        set_state(&client, &groups, 443, 30).await,
        *selection(&fixture(NEWEST)).ranges(Scope::Global)
    );
    let office = rules(&client, &groups[0]).await;
    assert!(
        office
            .iter()
            .any(|r| r.source == "198.51.100.0/24" && r.description.as_deref() == Some("office"))
    );
    std::fs::remove_dir_all(&dir).unwrap();
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
    let (moto, client, groups) = setup(4).await;
    let server = FileServer::start(Reply::Body(fixture(NEWEST))).await;
    let port = free_port().to_string();
    let mut watch = Command::new(&cargo_lambda)
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
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
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
    let mut function = cmd
        .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("IP_RANGES_URL", &server.url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
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
    function.kill().unwrap();
    function.wait().unwrap();
    watch.kill().unwrap();
    watch.wait().unwrap();

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
