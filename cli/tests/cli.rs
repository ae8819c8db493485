//! The CLI as users run it: its help, plan, apply and adopt against `moto_server`.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../tests/common/organizations.rs"]
mod organizations;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use cloudfront_sg_sync::domain::ip_ranges::Scope;
use common::*;

/// What a run printed on stdout.
fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cli(moto: &Moto, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync"));
    emulator_env(&mut cmd, moto);
    cmd.args(args).output().unwrap()
}

/// Each flag `command --help` shows, with its help text (continuation lines joined).
fn flags_of(command: &str) -> BTreeMap<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync"))
        .args([command, "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut flags = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in String::from_utf8(out.stdout).unwrap().lines().map(str::trim) {
        if line.starts_with("--") {
            let flag: String = line
                .chars()
                .take_while(|c| *c == '-' || c.is_ascii_alphanumeric())
                .collect();
            flags.insert(flag.clone(), line[flag.len()..].to_owned());
            current = Some(flag);
        } else if line.starts_with('-') {
            current = None;
        } else if let Some(flag) = &current {
            flags.get_mut(flag).unwrap().push_str(&format!(" {line}"));
        }
    }
    flags
}

#[test]
fn each_command_shows_only_the_flags_it_uses_each_naming_its_variable_and_default() {
    let place = [
        "--regions",
        "--accounts",
        "--exclude-accounts",
        "--organization-role-arn",
        "--assume-role-name",
        "--assume-role-external-id",
    ];
    let service = ["--service", "--waf-cloudfront-scope"];
    let ranges = ["--ip-versions", "--aggregate", "--ip-ranges-url", "--ip-ranges-file"];
    let filling = ["--max-rules-per-group", "--prefix-list-grow", "--verbose"];
    let rotate = [
        "--secret",
        "--apply",
        "--regions",
        "--origin-secret-propagation-seconds",
        "--json",
    ];
    let expected: [(&str, Vec<&str>); 7] = [
        ("rotate-origin-secret", rotate.to_vec()),
        ("plan", [&place[..], &service, &ranges, &filling, &["--json"]].concat()),
        ("apply", [&place[..], &service, &ranges, &filling, &["--json"]].concat()),
        (
            "adopt",
            [&place[..], &service, &ranges, &["--json", "--apply"]].concat(),
        ),
        ("unmark", [&place[..], &service, &["--json", "--apply"]].concat()),
        ("remove", [&place[..], &service, &["--json", "--apply"]].concat()),
        ("audit", [&place[..], &["--service"], &ranges, &["--json"]].concat()),
    ];
    for (command, wanted) in expected {
        let flags = flags_of(command);
        let shown: BTreeSet<&str> = flags.keys().map(String::as_str).filter(|f| *f != "--help").collect();
        assert_eq!(shown, wanted.iter().copied().collect::<BTreeSet<&str>>(), "{command}");
        for (flag, help) in &flags {
            assert!(
                !help.contains("function"),
                "{command} {flag}: written for the Lambda: {help}"
            );
            let variable = flag.trim_start_matches("--").replace('-', "_").to_uppercase();
            let Some(setting) = cloudfront_sg_sync::config::setting_of(&variable) else {
                continue;
            };
            assert!(help.contains(&format!("[env: {variable}")), "{command} {flag}: {help}");
            if !setting.default.is_empty() && !setting.default.starts_with('$') {
                let default = format!("[default: {}]", setting.default);
                assert!(help.contains(&default), "{command} {flag}: {help}");
            }
        }
    }
    let version = Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("cloudfront-sg-sync {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_with_dry_run_true_in_the_environment_is_refused_and_writes_nothing() {
    let (moto, client, groups) = global_groups(4).await;
    let dir = std::env::temp_dir().join(format!("cfsg-cli-dry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ip-ranges.json");
    std::fs::write(&file, fixture(NEWEST)).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync"));
    emulator_env(&mut cmd, &moto);
    let out = cmd
        .env("DRY_RUN", "true")
        .args(["apply", "--ip-ranges-file", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("invalid setting DRY_RUN=\"true\"") && stderr.contains("unset DRY_RUN"),
        "{stderr}"
    );
    assert!(set_state(&client, &groups, 443, 30).await.is_empty(), "nothing written");
}

/// Tag every group of `groups` with the mark `value`.
async fn tag_marks(client: &aws_sdk_ec2::Client, groups: &[String], value: &str) {
    let tag = aws_sdk_ec2::types::Tag::builder()
        .key("cloudfront-sg-sync:synctoken")
        .value(value)
        .build();
    let request = client.create_tags().set_resources(Some(groups.to_vec())).tags(tag);
    request.send().await.unwrap();
}

/// The mark tag of group `id`.
async fn mark_of(client: &aws_sdk_ec2::Client, id: &str) -> Option<String> {
    let out = client.describe_security_groups().group_ids(id).send().await.unwrap();
    let group = &out.security_groups()[0];
    let tag = group
        .tags()
        .iter()
        .find(|t| t.key() == Some("cloudfront-sg-sync:synctoken"));
    tag.and_then(|t| t.value()).map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_mark_is_overridden_and_unmark_clears_a_newer_one_so_apply_syncs_again() {
    let (moto, client, groups) = global_groups(5).await;
    let dir = std::env::temp_dir().join(format!("cfsg-cli-unmark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ip-ranges.json");
    std::fs::write(&file, fixture(NEWEST)).unwrap();
    let file = file.to_str().unwrap();
    let text = |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).into_owned();

    // A mark from 2100 on one group (anyone with ec2:CreateTags): not trusted, the file is applied over it.
    tag_marks(&client, &groups[..1], "4102444800 ipv4 ipv6").await;
    let synced = cli(&moto, &["apply", "--ip-ranges-file", file]);
    let out = text(&synced);
    assert!(synced.status.success() && out.contains("synced: +150"), "{out}");
    assert!(
        out.contains(&format!(
            "warning: forged mark on {}: \"4102444800 ipv4 ipv6\"",
            groups[0]
        )) && out.contains("replaced with the file applied"),
        "{out}"
    );
    assert_eq!(
        set_state(&client, &groups, 443, 30).await,
        *selection(&fixture(NEWEST)).ranges(Scope::Global)
    );
    assert_eq!(
        mark_of(&client, &groups[0]).await.as_deref(),
        Some("1787411825 ipv4 ipv6")
    );

    // A mark within the hour ahead of the clock is trusted: the set keeps it until `unmark --apply` clears it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ahead = (now + 1800).to_string();
    tag_marks(&client, &groups, &format!("{ahead} ipv4 ipv6")).await;
    let kept = cli(&moto, &["apply", "--ip-ranges-file", file]);
    assert!(text(&kept).contains("kept: holds a newer file"), "{}", text(&kept));
    // Said once, in the summary: no log line repeats it on stderr (logs only with RUST_LOG).
    let stderr = String::from_utf8_lossy(&kept.stderr);
    assert!(
        !stderr.contains("holds a newer file") && !stderr.contains('\u{1b}'),
        "{stderr:?}"
    );
    let listed = cli(&moto, &["unmark"]);
    assert!(listed.status.success());
    assert!(
        text(&listed).contains("security-group-set")
            && text(&listed).contains(&format!("syncToken {ahead}: recorded (--apply clears it)")),
        "{}",
        text(&listed)
    );
    let cleared = cli(&moto, &["unmark", "--apply"]);
    assert!(
        cleared.status.success() && text(&cleared).contains(": cleared"),
        "{}",
        text(&cleared)
    );
    let again = cli(&moto, &["unmark"]);
    assert_eq!(
        text(&again),
        "nothing to clear: no tagged target records a file applied\n",
        "no record left"
    );

    let in_sync = cli(&moto, &["apply", "--ip-ranges-file", file]);
    assert!(
        in_sync.status.success() && text(&in_sync).contains("in sync: +0 -0 =150"),
        "{}",
        text(&in_sync)
    );
    assert_eq!(
        mark_of(&client, &groups[4]).await.as_deref(),
        Some("1787411825 ipv4 ipv6")
    );
}

#[test]
fn the_cli_chapter_lists_every_flag_of_every_command() {
    let section = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/cli.md")).unwrap();
    let mut flags = std::collections::BTreeSet::new();
    for command in [
        None,
        Some("plan"),
        Some("apply"),
        Some("adopt"),
        Some("unmark"),
        Some("remove"),
        Some("audit"),
    ] {
        let mut help = Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync"));
        help.args(command).arg("--help");
        let out = String::from_utf8(help.output().unwrap().stdout).unwrap();
        for line in out.lines().map(str::trim_start).filter(|l| l.starts_with("--")) {
            let flag: String = line
                .chars()
                .take_while(|c| *c == '-' || c.is_ascii_alphanumeric())
                .collect();
            flags.insert(flag);
        }
    }
    flags.remove("--help");
    assert!(flags.len() > 10, "{flags:?}");
    let missing: Vec<&String> = flags.iter().filter(|f| !section.contains(&format!("`{f}`"))).collect();
    assert!(missing.is_empty(), "flags missing from docs/cli.md: {missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_takes_back_every_rule_of_ours_and_leaves_hand_made_rules() {
    let (moto, client, groups) = global_groups(5).await;
    let vpc = client
        .describe_security_groups()
        .group_ids(&groups[0])
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .vpc_id()
        .unwrap()
        .to_owned();
    let other = create_group(&client, &vpc, "referenced", &[]).await;
    add_hand_made_rules(&client, &groups[0], &other).await;
    let hand_made = |rules: BTreeSet<SeenRule>| rules.into_iter().filter(|r| !r.is_ours()).collect::<BTreeSet<_>>();
    let before = hand_made(rules(&client, &groups[0]).await);
    let dir = std::env::temp_dir().join(format!("cfsg-cli-remove-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ip-ranges.json");
    std::fs::write(&file, fixture(NEWEST)).unwrap();
    let applied = cli(&moto, &["apply", "--ip-ranges-file", file.to_str().unwrap()]);
    assert!(applied.status.success());
    assert_eq!(
        set_state(&client, &groups, 443, 30).await,
        *selection(&fixture(NEWEST)).ranges(Scope::Global)
    );

    let listed = cli(&moto, &["remove"]);
    let text = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.status.success() && text.contains("150 of ours: to remove (--apply removes them)"),
        "{text}"
    );
    assert_eq!(
        set_state(&client, &groups, 443, 30).await,
        *selection(&fixture(NEWEST)).ranges(Scope::Global),
        "listing removes nothing"
    );
    let removed = cli(&moto, &["remove", "--apply"]);
    let text = String::from_utf8_lossy(&removed.stdout).into_owned();
    assert!(
        removed.status.success() && text.contains("150 removed, record cleared"),
        "{text}"
    );
    assert!(set_state(&client, &groups, 443, 30).await.is_empty());
    assert_eq!(
        hand_made(rules(&client, &groups[0]).await),
        before,
        "hand-made rules intact"
    );
    let again = cli(&moto, &["remove"]);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        "nothing to remove: no tagged target holds a rule, entry or address of ours\n"
    );
}

// Multi-threaded: the CLI runs as a blocking child process while the file server answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_plan_writes_nothing_and_apply_syncs() {
    let (moto, client, groups) = global_groups(4).await;
    let dir = std::env::temp_dir().join(format!("cfsg-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ip-ranges.json");
    std::fs::write(&file, fixture(NEWEST)).unwrap();
    let file = file.to_str().unwrap();

    let plan = cli(&moto, &["plan", "--ip-ranges-file", file]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success(), "{text}{}", String::from_utf8_lossy(&plan.stderr));
    assert!(text.starts_with("plan of CLOUDFRONT"), "{text}");
    // Which regions were read, so a misspelt REGIONS (or none) shows.
    assert!(text.lines().next().unwrap().ends_with(", in us-east-1"), "{text}");
    // By default (and with --summary, kept for scripts): the header, one line for the one set and its warning
    // (4 groups of 30 rules for 150 ranges of two versions: 98% of its IPv4 slots), no CIDR.
    for brief in [
        text.clone().into_owned(),
        stdout(&cli(&moto, &["plan", "--summary", "--ip-ranges-file", file])),
    ] {
        let lines: Vec<&str> = brief.lines().collect();
        assert_eq!(lines.len(), 3, "{brief}");
        assert!(
            lines[1].ends_with("planned: +150 -0 =0 room left: ipv4 2, ipv6 88"),
            "{brief}"
        );
        assert!(lines[2].starts_with("  warning: 98% full: add a group"), "{brief}");
    }
    // --verbose: every CIDR under its group.
    let verbose = stdout(&cli(&moto, &["plan", "--verbose", "--ip-ranges-file", file]));
    assert!(verbose.contains("planned: +150 -0 =0"), "{verbose}");
    assert_eq!(
        verbose
            .lines()
            .filter(|l| l.contains(" + ") && l.ends_with(" tcp/443"))
            .count(),
        150
    );
    assert!(verbose.contains(" + 13.32.0.0/15 tcp/443"), "{verbose}");
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
    let (moto, _client, _groups) = global_groups(1).await;
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
    let (moto, client, groups) = global_groups(4).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_adopt_take_an_ou_in_accounts_and_name_each_account_with_its_entry() {
    let moto = Moto::start();
    let org = organizations::Org::create(&moto.endpoint).await;
    let unit = org.unit(&org.root, "prod").await;
    let member = org.account(&unit, "member").await;
    let client = moto.client_in(&member, "us-east-1").await;
    let vpc = create_vpc(&client, "10.0.0.0/16").await;
    tagged_group(&client, &vpc, "web", Scope::Global, "https").await;
    let server = FileServer::start(Reply::Body(fixture(NEWEST))).await;
    let url = server.url.as_str();

    let plan = cli(
        &moto,
        &[
            "plan",
            "--accounts",
            &unit,
            "--ip-versions",
            "ipv6",
            "--max-rules-per-group",
            "60",
            "--ip-ranges-url",
            url,
            "--json",
        ],
    );
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(summary["sets"][0]["account"], member.as_str());
    assert_eq!(summary["accounts"][0]["entry"], unit.as_str());
    assert_eq!(summary["accounts"][0]["status"], "synced");

    let adopt = cli(&moto, &["adopt", "--accounts", &unit, "--ip-ranges-url", url]);
    assert!(adopt.status.success(), "{}", String::from_utf8_lossy(&adopt.stderr));
    let excluded = cli(
        &moto,
        &[
            "plan",
            "--accounts",
            &unit,
            "--exclude-accounts",
            &member,
            "--ip-ranges-url",
            url,
        ],
    );
    let text = String::from_utf8_lossy(&excluded.stdout);
    assert!(
        text.contains(&format!("account {member} (from {unit}): skipped, excluded")),
        "{text}"
    );
    assert!(text.contains("accounts: 0 synced, 0 failed, 1 skipped"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_into_a_closed_pipe_neither_panics_nor_changes_the_exit_code() {
    let (moto, _client, _groups) = global_groups(4).await;
    let dir = std::env::temp_dir().join(format!("cfsg-cli-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ip-ranges.json");
    std::fs::write(&file, fixture(NEWEST)).unwrap();
    // As `plan | head -3` where head has already gone: the read end is closed before anything is written.
    for args in [&["plan"][..], &["plan", "--json"], &["plan", "--summary"]] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync"));
        emulator_env(&mut cmd, &moto);
        let mut child = cmd
            .args(args)
            .args(["--ip-ranges-file", file.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
    }
}

/// The CLI run with only `vars` (and PATH) in its environment, an empty home and no instance metadata: no
/// credentials unless `vars` bring some, and no call leaves 127.0.0.1.
fn bare_cli(vars: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let home = std::env::temp_dir().join(format!("cfsg-cli-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .envs(vars.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn every_failure_a_person_meets_is_one_line_per_cause_once_without_a_debug_dump() {
    let dir = std::env::temp_dir().join(format!("cfsg-cli-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ip-ranges.json");
    std::fs::write(&file, fixture(NEWEST)).unwrap();
    let file = file.to_str().unwrap();
    let plan = ["plan", "--regions", "us-east-1,eu-west-1", "--ip-ranges-file", file];

    // No credentials anywhere: one line on stderr, nothing else, naming the sources and AWS_PROFILE.
    let none = bare_cli(&[], &plan);
    let audit = bare_cli(&[], &["audit", "--regions", "us-east-1"]);
    for out in [&none, &audit] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0));
        assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: no AWS credentials found: ")
                && stderr.contains("AWS_PROFILE")
                && stderr.trim_end().ends_with("(NoCredentials)"),
            "{stderr}"
        );
    }

    // An endpoint where nothing listens (a misspelt AWS_ENDPOINT_URL): at once, one line for both regions and
    // every read, naming the setting; then the count, once.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let keys = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", closed.as_str()),
    ];
    let refused = bare_cli(&keys, &plan);
    let stdout = String::from_utf8_lossy(&refused.stdout);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1));
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("failed")).collect();
    assert_eq!(failed.len(), 1, "{stdout}");
    assert!(
        failed[0].starts_with("failed regions eu-west-1, us-east-1 (security groups, prefix lists, WAF IP sets): ")
            && failed[0].ends_with(&format!("nothing answers at {closed}: is AWS_ENDPOINT_URL right?")),
        "{stdout}"
    );
    assert_eq!(stderr, "error: 2 region(s) unreadable (RegionsUnreadable)\n");

    for out in [&none, &audit, &refused] {
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for dump in ["{ ", "Some(", "DispatchFailure", "CredentialsNotLoaded"] {
            assert!(!said.contains(dump), "{dump} in {said}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
