//! `cloudfront-sg-sync audit` as users run it, against moto's CloudFront, ELBv2 and EC2: a clean world, an
//! http-only distribution whose ALB is open to the world, an ALB carrying part of a set, the JSON document,
//! an audit that cannot finish, and the audit over the accounts of an OU (one of them unreadable).

mod alb;
#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../tests/common/organizations.rs"]
mod organizations;

use std::process::{Command, Output};

use aws_sdk_cloudfront::types::{
    CustomHeaders, CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, Origin, OriginCustomHeader,
    OriginProtocolPolicy, OriginSslProtocols, Origins, SslProtocol, TrustedSigners, ViewerProtocolPolicy,
};
use aws_sdk_ec2::types::{IpPermission, IpRange};
use aws_sdk_elasticloadbalancingv2::types::{
    Certificate, HttpHeaderConditionConfig, PathPatternConditionConfig, ProtocolEnum, RuleCondition,
};
use aws_sdk_wafv2::primitives::Blob;
use aws_sdk_wafv2::types::{
    AllowAction, BlockAction, ByteMatchStatement, DefaultAction, FieldToMatch, PositionalConstraint, Rule as WafRule,
    RuleAction, Scope as Scope3, SingleHeader, Statement, TextTransformation, TextTransformationType, VisibilityConfig,
};
use cloudfront_sg_sync::domain::ip_ranges::Scope;
use common::*;

const REGION: &str = "us-east-1";

/// moto with a VPC of two subnets, and clients of the three services.
struct Origins3 {
    moto: Moto,
    ec2: aws_sdk_ec2::Client,
    cloudfront: aws_sdk_cloudfront::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    vpc: String,
    subnets: Vec<String>,
}

async fn origins_world() -> Origins3 {
    origins_in(Moto::start(), None).await
}

/// As [`origins_world`], every client acting in `account` (through a role: moto's assumed-role credentials act
/// in the role's account), or in moto's default account.
async fn origins_in(moto: Moto, account: Option<&str>) -> Origins3 {
    let mut shared = moto.sdk_config(REGION).await;
    if let Some(account) = account {
        let role = aws_config::sts::AssumeRoleProvider::builder(format!("arn:aws:iam::{account}:role/test-setup"))
            .session_name("test-setup")
            .configure(&shared)
            .build()
            .await;
        shared = shared
            .to_builder()
            .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(role))
            .build();
    }
    let ec2 = aws_sdk_ec2::Client::new(&shared);
    let (vpc, subnets) = alb::vpc_with_two_subnets(&ec2).await;
    Origins3 {
        cloudfront: aws_sdk_cloudfront::Client::new(&shared),
        elb: aws_sdk_elasticloadbalancingv2::Client::new(&shared),
        moto,
        ec2,
        vpc,
        subnets,
    }
}

impl Origins3 {
    /// `n` cloudfront_`scope` groups on https: one set, synced (each group holds a CloudFront range of ours on
    /// 443, as the sync writes it).
    async fn set(&self, scope: Scope, n: usize) -> Vec<String> {
        let mut groups = Vec::new();
        for i in 0..n {
            let name = format!("{}-{i}", scope.tag_value());
            let group = tagged_group(&self.ec2, &self.vpc, &name, scope, "https").await;
            let description = cloudfront_sg_sync::domain::security_groups::rule_description(scope, "CLOUDFRONT");
            let range = IpRange::builder()
                .cidr_ip(format!("13.32.{i}.0/24"))
                .description(description);
            let ours = IpPermission::builder().ip_protocol("tcp").from_port(443).to_port(443);
            self.ec2
                .authorize_security_group_ingress()
                .group_id(&group)
                .ip_permissions(ours.ip_ranges(range.build()).build())
                .send()
                .await
                .unwrap();
            groups.push(group);
        }
        groups
    }

    /// An ALB named `name` with `groups`; its DNS name.
    async fn alb(&self, name: &str, groups: &[String]) -> String {
        let out = self
            .elb
            .create_load_balancer()
            .name(name)
            .set_subnets(Some(self.subnets.clone()))
            .set_security_groups(Some(groups.to_vec()))
            .send()
            .await
            .unwrap();
        out.load_balancers()[0].dns_name().unwrap().to_owned()
    }

    /// A distribution whose one origin is `domain`, reached with `policy`, with a secret header or none; its id.
    async fn distribution(&self, domain: &str, policy: OriginProtocolPolicy, secret: bool) -> String {
        let policy_name = policy.as_str().to_owned();
        let headers: Vec<OriginCustomHeader> = if secret {
            let header = OriginCustomHeader::builder()
                .header_name("X-Origin-Verify")
                .header_value("9f86d081884c7d659a2feaa0c55ad015")
                .build()
                .unwrap();
            vec![header]
        } else {
            Vec::new()
        };
        let custom = CustomOriginConfig::builder()
            .http_port(80)
            .https_port(443)
            .origin_protocol_policy(policy)
            .origin_ssl_protocols(
                OriginSslProtocols::builder()
                    .quantity(1)
                    .items(SslProtocol::TlSv12)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let origin = Origin::builder()
            .id("origin")
            .domain_name(domain)
            .custom_origin_config(custom)
            .custom_headers(
                CustomHeaders::builder()
                    .quantity(headers.len() as i32)
                    .set_items(Some(headers))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let config = DistributionConfig::builder()
            .caller_reference(format!("{domain} {} {secret}", policy_name))
            .comment("audit test")
            .enabled(true)
            .origins(Origins::builder().quantity(1).items(origin).build().unwrap())
            .default_cache_behavior(default_behavior())
            .build()
            .unwrap();
        let out = self
            .cloudfront
            .create_distribution()
            .distribution_config(config)
            .send()
            .await
            .unwrap();
        out.distribution().unwrap().id().to_owned()
    }

    /// Let tcp 443 in from anywhere on `group`.
    async fn open_to_world(&self, group: &str) {
        let rule = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        self.ec2
            .authorize_security_group_ingress()
            .group_id(group)
            .ip_permissions(rule)
            .send()
            .await
            .unwrap();
    }

    fn audit(&self, args: &[&str]) -> Output {
        audit_at(&self.moto.endpoint, args)
    }

    /// The ARN of the load balancer whose DNS name is `dns`.
    async fn alb_arn(&self, dns: &str) -> String {
        let out = self.elb.describe_load_balancers().send().await.unwrap();
        let lb = out
            .load_balancers()
            .iter()
            .find(|lb| lb.dns_name() == Some(dns))
            .unwrap();
        lb.load_balancer_arn().unwrap().to_owned()
    }

    /// An HTTPS listener on 443 of the ALB `dns` (an IAM server certificate: moto checks ACM ones exist), its
    /// default action forwarding to a target group or answering 403; then its `rules`, each forwarding when its
    /// conditions hold (priority 10, 20, …).
    async fn listener(&self, dns: &str, default_forwards: bool, rules: Vec<Vec<RuleCondition>>) {
        let arn = self.alb_arn(dns).await;
        let (forward, refuse) =
            alb::forward_and_refuse(&self.elb, &self.vpc, &format!("tg-{}", &arn[arn.len() - 6..])).await;
        let certificate = Certificate::builder()
            .certificate_arn("arn:aws:iam::123456789012:server-certificate/web")
            .build();
        let listener = self
            .elb
            .create_listener()
            .load_balancer_arn(&arn)
            .protocol(ProtocolEnum::Https)
            .port(443)
            .certificates(certificate)
            .default_actions(if default_forwards { forward.clone() } else { refuse })
            .send()
            .await
            .unwrap();
        let listener = listener.listeners()[0].listener_arn().unwrap().to_owned();
        for (i, conditions) in rules.into_iter().enumerate() {
            self.elb
                .create_rule()
                .listener_arn(&listener)
                .priority(10 * (i as i32 + 1))
                .set_conditions(Some(conditions))
                .actions(forward.clone())
                .send()
                .await
                .unwrap();
        }
    }

    /// A REGIONAL web ACL named `name` associated with the ALB `dns`: default Block, and one rule allowing
    /// requests whose `X-Origin-Verify` is exactly `value`.
    async fn web_acl(&self, dns: &str, name: &str, value: &str) {
        let waf = aws_sdk_wafv2::Client::new(&self.moto.sdk_config(REGION).await);
        let visibility = |n: &str| {
            VisibilityConfig::builder()
                .sampled_requests_enabled(false)
                .cloud_watch_metrics_enabled(false)
                .metric_name(n)
                .build()
                .unwrap()
        };
        let header = FieldToMatch::builder()
            .single_header(SingleHeader::builder().name("x-origin-verify").build().unwrap())
            .build();
        let matches = ByteMatchStatement::builder()
            .search_string(Blob::new(value))
            .field_to_match(header)
            .text_transformations(
                TextTransformation::builder()
                    .priority(0)
                    .r#type(TextTransformationType::None)
                    .build()
                    .unwrap(),
            )
            .positional_constraint(PositionalConstraint::Exactly)
            .build()
            .unwrap();
        let rule = WafRule::builder()
            .name("origin-verify")
            .priority(0)
            .statement(Statement::builder().byte_match_statement(matches).build())
            .action(RuleAction::builder().allow(AllowAction::builder().build()).build())
            .visibility_config(visibility("origin-verify"))
            .build()
            .unwrap();
        let acl = waf
            .create_web_acl()
            .name(name)
            .scope(Scope3::Regional)
            .default_action(DefaultAction::builder().block(BlockAction::builder().build()).build())
            .rules(rule)
            .visibility_config(visibility(name))
            .send()
            .await
            .unwrap();
        let acl = acl.summary().unwrap().arn().unwrap().to_owned();
        waf.associate_web_acl()
            .web_acl_arn(acl)
            .resource_arn(self.alb_arn(dns).await)
            .send()
            .await
            .unwrap();
    }
}

/// The secret header's value every test distribution sends.
const SENT: &str = "9f86d081884c7d659a2feaa0c55ad015";

/// `X-Origin-Verify` must be one of `values`.
fn header_is(values: &[&str]) -> RuleCondition {
    let config = HttpHeaderConditionConfig::builder()
        .http_header_name("X-Origin-Verify")
        .set_values(Some(values.iter().map(|v| (*v).to_owned()).collect()))
        .build();
    RuleCondition::builder()
        .field("http-header")
        .http_header_config(config)
        .build()
}

/// The path is `path`.
fn path_is(path: &str) -> RuleCondition {
    let config = PathPatternConditionConfig::builder().values(path).build();
    RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(config)
        .build()
}

/// The managed CachingOptimized policy, as distributions are made today.
fn default_behavior() -> DefaultCacheBehavior {
    DefaultCacheBehavior::builder()
        .target_origin_id("origin")
        .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
        .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
        .trusted_signers(TrustedSigners::builder().enabled(false).quantity(0).build().unwrap())
        .build()
        .unwrap()
}

/// An ip-ranges.json whose CLOUDFRONT ranges are `global` (GLOBAL) and 13.32.0.0/24 (us-east-1), written once
/// per name in the test's temporary directory: what every test set (each group holds 13.32.i.0/24) covers.
fn ranges_file(name: &str, global: &[&str]) -> std::path::PathBuf {
    let prefix = |cidr: &str, region: &str| serde_json::json!({"ip_prefix": cidr, "region": region, "service": "CLOUDFRONT", "network_border_group": region});
    let prefixes: Vec<serde_json::Value> = (global.iter().map(|c| prefix(c, "GLOBAL")))
        .chain([prefix("13.32.0.0/24", REGION)])
        .collect();
    let doc = serde_json::json!({"syncToken": "1765000000", "createDate": "2025-12-06-05-53-12",
        "prefixes": prefixes, "ipv6_prefixes": []});
    let path = std::env::temp_dir().join(format!("audit-{}-{name}.json", std::process::id()));
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

/// `cloudfront-sg-sync audit ARGS` with `endpoint` as its only AWS, scanning us-east-1, against a file every test
/// set covers.
fn audit_at(endpoint: &str, args: &[&str]) -> Output {
    audit_against(endpoint, args, &ranges_file("covered", &["13.32.0.0/24"]))
}

/// `cloudfront-sg-sync audit ARGS` with `endpoint` as its only AWS, scanning us-east-1, against `file`.
fn audit_against(endpoint: &str, args: &[&str], file: &std::path::Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync"));
    command.arg("audit").arg("--ip-ranges-file").arg(file).args(args);
    aws_at(&mut command, endpoint)
        .env("REGIONS", REGION)
        .env("EC2_MAX_ATTEMPTS", "2")
        .env_remove("ACCOUNTS")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The table's rows of `check`, each with its next lines (those that begin with spaces: the wrapped why and fix)
/// joined to it.
fn rows(table: &str, check: &str) -> Vec<String> {
    let mut rows: Vec<String> = Vec::new();
    for line in table.lines() {
        match (line.starts_with(' '), rows.last_mut()) {
            (true, Some(row)) => {
                row.push(' ');
                row.push_str(line.trim_start());
            }
            _ => rows.push(line.to_owned()),
        }
    }
    rows.retain(|r| r.contains(&format!("  {check}  ")));
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_world_audits_with_exit_0_and_names_the_distribution() {
    let w = origins_world().await;
    let mut groups = w.set(Scope::Global, 2).await;
    groups.extend(w.set(Scope::Regional, 1).await);
    let dns = w.alb("web", &groups).await;
    w.listener(&dns, false, vec![vec![header_is(&[SENT])]]).await;
    let id = w.distribution(&dns, OriginProtocolPolicy::HttpsOnly, true).await;
    let out = w.audit(&[]);
    let table = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every row names the distribution; a row's next lines (its wrapped why and fix) begin with spaces.
    assert!(
        table
            .lines()
            .skip(1)
            .all(|l| l.starts_with(&id) || l.starts_with(' ') || l.contains("distribution(s)")),
        "{table}"
    );
    assert!(table.lines().all(|l| l.chars().count() <= 120), "{table}");
    let set = rows(&table, "synced-set");
    assert_eq!(set.len(), 1, "{table}");
    assert!(
        set[0].contains(" pass ") && set[0].contains("the complete cloudfront_g set and the complete cloudfront_r set")
    );
    assert!(
        table.ends_with("1 distribution(s), regions us-east-1: 0 fail, 0 warn, 5 pass\n"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_only_headerless_distribution_behind_an_alb_open_to_the_world_exits_1_naming_both() {
    let w = origins_world().await;
    let groups = w.set(Scope::Global, 1).await;
    w.open_to_world(&groups[0]).await;
    let dns = w.alb("open-web", &groups).await;
    let id = w.distribution(&dns, OriginProtocolPolicy::HttpOnly, false).await;
    let out = w.audit(&[]);
    let table = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{table}");
    let protocol = rows(&table, "origin-protocol");
    assert!(protocol[0].starts_with(&id) && protocol[0].contains(" fail ") && protocol[0].contains("http-only"));
    assert!(rows(&table, "origin-proof")[0].contains(" warn "), "{table}");
    // http-only: CloudFront connects on 80, where the ALB holds no set.
    let set = rows(&table, "synced-set");
    assert!(
        set[0].contains(" fail ") && set[0].contains("open-web") && set[0].contains("port 80"),
        "{table}"
    );
    assert!(rows(&table, "open-to-world")[0].contains(" pass "), "{table}");

    // The same ALB, reached on 443: its group lets the world in.
    let id = w.distribution(&dns, OriginProtocolPolicy::HttpsOnly, false).await;
    let table = stdout(&w.audit(&[]));
    let open: Vec<String> = rows(&table, "open-to-world")
        .into_iter()
        .filter(|l| l.starts_with(&id))
        .collect();
    assert!(
        open[0].contains(" fail ") && open[0].contains(&format!("{} 0.0.0.0/0", groups[0])),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alb_carrying_3_of_a_sets_5_groups_is_named_with_the_missing_ones() {
    let w = origins_world().await;
    let set = w.set(Scope::Global, 5).await;
    let carried = [set[0].clone(), set[2].clone(), set[4].clone()];
    let dns = w.alb("partial-web", &carried).await;
    w.distribution(&dns, OriginProtocolPolicy::HttpsOnly, true).await;
    let out = w.audit(&[]);
    let table = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{table}");
    let found = rows(&table, "synced-set");
    assert_eq!(found.len(), 1, "{table}");
    let mut missing = [set[1].clone(), set[3].clone()];
    missing.sort();
    let missing = missing.join(", ");
    let expected = format!(
        "partial-web (us-east-1) carries 3 of the 5 groups of the cloudfront_g set for port 443; missing: {missing}"
    );
    assert!(found[0].contains(" fail ") && found[0].contains(&expected), "{table}");
    assert!(
        found[0].contains(&format!("attach {missing} to the load balancer too")),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_is_one_document_naming_every_distribution() {
    let w = origins_world().await;
    let groups = w.set(Scope::Global, 1).await;
    let dns = w.alb("web", &groups).await;
    let mut ids = vec![
        w.distribution(&dns, OriginProtocolPolicy::HttpsOnly, true).await,
        w.distribution("api.example.com", OriginProtocolPolicy::MatchViewer, false)
            .await,
        w.distribution("legacy.example.com", OriginProtocolPolicy::HttpOnly, false)
            .await,
    ];
    let out = w.audit(&["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["regions"], serde_json::json!([REGION]));
    let mut named: Vec<String> = doc["distributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    named.sort();
    ids.sort();
    assert_eq!(named, ids);
    let statuses: Vec<&str> = doc["distributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "fail").count(), 1, "{doc:#}");
    let finding = &doc["distributions"][0]["findings"][0];
    for field in ["distribution", "origin", "check", "status", "why", "fix"] {
        assert!(finding.get(field).is_some(), "{field}: {finding}");
    }
}

#[test]
fn an_audit_that_cannot_read_exits_2_naming_the_call() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let out = audit_at(&closed, &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CloudFront ListDistributions in us-east-1 failed"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alb_allowing_aws_managed_cloudfront_prefix_list_holds_no_set_and_passes() {
    let w = origins_world().await;
    let lists = w
        .ec2
        .describe_managed_prefix_lists()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("prefix-list-name")
                .values("com.amazonaws.global.cloudfront.origin-facing")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let list = lists.prefix_lists()[0].prefix_list_id().unwrap().to_owned();
    let group = create_group(&w.ec2, &w.vpc, "alb-from-cloudfront", &[]).await;
    let rule = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .prefix_list_ids(
            aws_sdk_ec2::types::PrefixListId::builder()
                .prefix_list_id(&list)
                .build(),
        )
        .build();
    w.ec2
        .authorize_security_group_ingress()
        .group_id(&group)
        .ip_permissions(rule)
        .send()
        .await
        .unwrap();
    let dns = w.alb("listed-web", &[group]).await;
    w.distribution(&dns, OriginProtocolPolicy::HttpsOnly, true).await;
    let out = w.audit(&[]);
    let table = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{table}");
    let set = rows(&table, "synced-set");
    assert!(
        set[0].contains(" pass ") && set[0].contains("AWS's managed CloudFront prefix list for port 443"),
        "{table}"
    );
}

/// An OU of two accounts: the first with an http-only distribution behind an ALB (a failing finding), the
/// second with nothing; `deny` makes the second's role refuse to be assumed.
async fn two_accounts(deny: bool) -> (Origins3, String, String, String, common::proxy::FaultProxy) {
    let moto = Moto::start();
    let org = organizations::Org::create(&moto.endpoint).await;
    let unit = org.unit(&org.root, "prod").await;
    let (a, b) = (org.account(&unit, "a").await, org.account(&unit, "b").await);
    let denied = format!("arn:aws:iam::{b}:role/cloudfront-sg-sync");
    let faults = common::proxy::Faults {
        fail: deny.then(|| ("AssumeRole".to_owned(), Some(denied), "AccessDenied".to_owned())),
        ..common::proxy::Faults::default()
    };
    let proxy = common::proxy::FaultProxy::start(&moto.endpoint, faults).await;
    let w = origins_in(moto, Some(&a)).await;
    let groups = w.set(Scope::Global, 1).await;
    let dns = w.alb("web", &groups).await;
    w.distribution(&dns, OriginProtocolPolicy::HttpOnly, false).await;
    (w, unit, a, b, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_over_an_ou_is_one_table_with_an_account_column_and_one_exit_code() {
    let (_w, unit, a, b, proxy) = two_accounts(false).await;
    let out = audit_at(&proxy.endpoint, &["--accounts", &unit]);
    let table = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "a's distribution fails: {table}");
    assert!(table.starts_with("ACCOUNT       DISTRIBUTION"), "{table}");
    let protocol = rows(&table, "origin-protocol");
    assert!(protocol[0].starts_with(&a) && protocol[0].contains(" fail "), "{table}");
    assert!(
        table.ends_with(
            "\n2 account(s), 1 distribution(s): 2 fail, 1 warn, 1 pass; 0 account(s) not audited, 0 skipped\n"
        ),
        "{table}"
    );

    let json: serde_json::Value =
        serde_json::from_slice(&audit_at(&proxy.endpoint, &["--accounts", &unit, "--json"]).stdout).unwrap();
    let accounts = json["accounts"].as_array().unwrap();
    let ids: Vec<&str> = accounts.iter().map(|x| x["account"].as_str().unwrap()).collect();
    let mut expected = vec![a.as_str(), b.as_str()];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(
        accounts
            .iter()
            .all(|x| x["entry"] == unit.as_str() && x["report"].is_object()),
        "{json}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_cannot_be_read_is_named_and_exits_2_while_the_others_are_still_judged() {
    let (_w, unit, a, b, proxy) = two_accounts(true).await;
    let out = audit_at(&proxy.endpoint, &["--accounts", &unit]);
    let table = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{table}");
    assert!(
        rows(&table, "origin-protocol")[0].starts_with(&a),
        "a is still judged: {table}"
    );
    assert!(
        table.contains(&format!("account {b} (from {unit}) could not be audited: ")) && table.contains("AccessDenied"),
        "{table}"
    );
    assert!(table.contains("1 account(s) not audited"), "{table}");
}

#[test]
fn a_malformed_accounts_entry_stops_the_audit_with_exit_2_naming_it() {
    let out = audit_at("http://127.0.0.1:9", &["--accounts", "ou-nope"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ACCOUNTS") && stderr.contains("\"ou-nope\""),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_emptied_by_remove_fails_synced_set_though_it_is_attached_whole() {
    let w = origins_world().await;
    let mut groups = w.set(Scope::Global, 2).await;
    groups.extend(w.set(Scope::Regional, 1).await);
    let dns = w.alb("web", &groups).await;
    w.distribution(&dns, OriginProtocolPolicy::HttpsOnly, true).await;
    let before = w.audit(&[]);
    assert_eq!(before.status.code(), Some(0), "{}", stdout(&before));

    // `remove --apply` takes back every rule of ours: the origin is unreachable through CloudFront.
    let mut remove = Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync"));
    remove.args(["remove", "--apply"]);
    let removed = aws_at(&mut remove, &w.moto.endpoint)
        .env("REGIONS", REGION)
        .env_remove("ACCOUNTS")
        .output()
        .unwrap();
    assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    let after = w.audit(&[]);
    let table = stdout(&after);
    assert_eq!(after.status.code(), Some(1), "{table}");
    let found = rows(&table, "synced-set");
    assert_eq!(found.len(), 2, "one row per set: {table}");
    for scope in ["cloudfront_g", "cloudfront_r"] {
        let expected = format!(
            "web (us-east-1) carries the complete {scope} set for port 443, but its groups hold none of CloudFront's ranges"
        );
        assert!(
            found.iter().any(|r| r.contains(" fail ") && r.contains(&expected)),
            "{scope}: {table}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_proof_is_judged_at_the_load_balancer_and_never_shows_a_secret() {
    let w = origins_world().await;
    let groups = w.set(Scope::Global, 1).await;
    // Enforced by a listener rule; by a web ACL; sent but checked by nobody; required with a value CloudFront
    // does not send; checked, but /health forwarded without it first.
    let by_rule = w.alb("by-rule", &groups).await;
    w.listener(&by_rule, false, vec![vec![header_is(&[SENT])]]).await;
    let by_acl = w.alb("by-acl", &groups).await;
    w.listener(&by_acl, true, Vec::new()).await;
    w.web_acl(&by_acl, "origin-verify", SENT).await;
    let unchecked = w.alb("unchecked", &groups).await;
    w.listener(&unchecked, true, Vec::new()).await;
    let refusing = w.alb("refusing", &groups).await;
    w.listener(
        &refusing,
        false,
        vec![vec![header_is(&["0ther-value-0f-32-characters-xyz"])]],
    )
    .await;
    let health = w.alb("health", &groups).await;
    w.listener(&health, false, vec![vec![path_is("/health")], vec![header_is(&[SENT])]])
        .await;
    let mut ids = Vec::new();
    for dns in [&by_rule, &by_acl, &unchecked, &refusing, &health] {
        ids.push(w.distribution(dns, OriginProtocolPolicy::HttpsOnly, true).await);
    }
    let out = w.audit(&[]);
    let table = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let proof = |id: &str| {
        let rows = rows(&table, "origin-proof");
        rows.into_iter()
            .find(|r| r.starts_with(id))
            .unwrap_or_else(|| panic!("{id}: {table}"))
    };
    let expect = [
        (
            " pass ",
            "required at load balancer by-rule: listener HTTPS:443 rule 10",
        ),
        (
            " pass ",
            "required at load balancer by-acl: web ACL origin-verify rule origin-verify (default Block)",
        ),
        (
            " warn ",
            "not required at load balancer unchecked: requests without it get through listener HTTPS:443 default action",
        ),
        (
            " fail ",
            "to be one of 1 value(s), none of them the one CloudFront sends",
        ),
        (" warn ", "get through listener HTTPS:443 rule 10 (path /health)"),
    ];
    for (id, (status, says)) in ids.iter().zip(expect) {
        let row = proof(id);
        assert!(row.contains(status) && row.contains(says), "{id}: {row}");
    }
    let json = audit_at(&w.moto.endpoint, &["--json"]);
    for shown in [
        stdout(&json),
        table.clone(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ] {
        assert!(
            !shown.contains(SENT) && !shown.contains("0ther-value"),
            "a secret value was shown"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_that_lacks_ranges_of_the_file_published_now_fails_as_stale() {
    let w = origins_world().await;
    let groups = w.set(Scope::Global, 2).await;
    let dns = w.alb("web", &groups).await;
    w.distribution(&dns, OriginProtocolPolicy::HttpsOnly, true).await;
    // Aggregated as the sync does (AGGREGATE): 13.32.0.0/23, which the set's two groups hold, and 99.84.0.0/16.
    let file = ranges_file("newer", &["13.32.0.0/24", "13.32.1.0/24", "99.84.0.0/16"]);
    let out = audit_against(&w.moto.endpoint, &[], &file);
    let table = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set = rows(&table, "synced-set");
    assert!(
        set[0].contains(" fail ")
            && set[0]
                .contains("lack 1 of the 2 ranges of the file published now (syncToken 1765000000), e.g. 99.84.0.0/16"),
        "{table}"
    );
}
