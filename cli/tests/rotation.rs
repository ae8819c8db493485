//! The rotation of the origin secret against moto's Secrets Manager, CloudFront, ELBv2 and WAFv2: the four steps
//! driven as Secrets Manager drives them, the state checked after each (values compared, never printed), and
//! the requests refused before any change.

mod alb;
#[path = "../../tests/common/mod.rs"]
mod common;

use aws_sdk_cloudfront::types::{
    CustomHeaders, CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, DistributionConfigWithTags, Origin,
    OriginCustomHeader, OriginProtocolPolicy, Origins, Tag, Tags, TrustedSigners, ViewerProtocolPolicy,
};
use aws_sdk_elasticloadbalancingv2::types::{Certificate, HttpHeaderConditionConfig, ProtocolEnum, RuleCondition};
use aws_sdk_wafv2::primitives::Blob;
use aws_sdk_wafv2::types::{
    AllowAction, BlockAction, ByteMatchStatement, DefaultAction, FieldToMatch, PositionalConstraint, Rule as WafRule,
    RuleAction, Scope as WafScope, SingleHeader, Statement, TextTransformation, TextTransformationType,
    VisibilityConfig,
};
use cloudfront_sg_sync::config::Config;
use cloudfront_sg_sync::sync::RotationRequest;
use cloudfront_sg_sync_cli::rotation::RotationFunction;
use common::*;

const REGION: &str = "us-east-1";
const HEADER: &str = "X-Origin-Verify";
/// The value every origin starts with.
const OLD: &str = "0ldValue0fTheOriginSecretThirtyTwoChars";
const SECRET: &str = "origin-verify";

/// moto with a VPC, its clients, and the rotation function over it.
struct World {
    moto: Moto,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    waf: aws_sdk_wafv2::Client,
    cloudfront: aws_sdk_cloudfront::Client,
    secrets: aws_sdk_secretsmanager::Client,
    vpc: String,
    subnets: Vec<String>,
}

async fn world() -> World {
    let moto = Moto::start();
    let shared = moto.sdk_config(REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&shared);
    let (vpc, subnets) = alb::vpc_with_two_subnets(&ec2).await;
    World {
        elb: aws_sdk_elasticloadbalancingv2::Client::new(&shared),
        waf: aws_sdk_wafv2::Client::new(&shared),
        cloudfront: aws_sdk_cloudfront::Client::new(&shared),
        secrets: aws_sdk_secretsmanager::Client::new(&shared),
        moto,
        vpc,
        subnets,
    }
}

impl World {
    /// An ALB with an HTTPS listener on 443: a rule forwarding requests whose header is `required`, behind a
    /// default 403; or (`None`) a default that forwards everything. Its DNS name and ARN.
    async fn alb(&self, name: &str, required: Option<&str>) -> (String, String) {
        let lb = (self
            .elb
            .create_load_balancer()
            .name(name)
            .set_subnets(Some(self.subnets.clone()))
            .send()
            .await)
            .unwrap();
        let lb = &lb.load_balancers()[0];
        let (dns, arn) = (
            lb.dns_name().unwrap().to_owned(),
            lb.load_balancer_arn().unwrap().to_owned(),
        );
        let (forward, refuse) = alb::forward_and_refuse(&self.elb, &self.vpc, &format!("tg-{name}")).await;
        let certificate = Certificate::builder().certificate_arn("arn:aws:iam::123456789012:server-certificate/web");
        let listener = (self
            .elb
            .create_listener()
            .load_balancer_arn(&arn)
            .protocol(ProtocolEnum::Https)
            .port(443))
        .certificates(certificate.build())
        .default_actions(if required.is_some() { refuse } else { forward.clone() })
        .send()
        .await
        .unwrap();
        if let Some(value) = required {
            let header = HttpHeaderConditionConfig::builder()
                .http_header_name(HEADER)
                .values(value)
                .build();
            let condition = RuleCondition::builder()
                .field("http-header")
                .http_header_config(header)
                .build();
            (self
                .elb
                .create_rule()
                .listener_arn(listener.listeners()[0].listener_arn().unwrap())
                .priority(10))
            .conditions(condition)
            .actions(forward)
            .send()
            .await
            .unwrap();
        }
        (dns, arn)
    }

    /// The values the rules of ALB `arn` compare the header with.
    async fn rule_values(&self, arn: &str) -> Vec<Vec<String>> {
        let listeners = self
            .elb
            .describe_listeners()
            .load_balancer_arn(arn)
            .send()
            .await
            .unwrap();
        let mut found = Vec::new();
        for listener in listeners.listeners() {
            let rules = self
                .elb
                .describe_rules()
                .listener_arn(listener.listener_arn().unwrap())
                .send()
                .await
                .unwrap();
            for rule in rules.rules() {
                for c in rule.conditions().iter().filter_map(|c| c.http_header_config()) {
                    found.push(c.values().to_vec());
                }
            }
        }
        found
    }

    /// A web ACL (default Block, Allow when the header is exactly `value`) associated with ALB `arn`.
    async fn web_acl(&self, arn: &str, value: &str) {
        let visibility = |n: &str| {
            (VisibilityConfig::builder()
                .sampled_requests_enabled(false)
                .cloud_watch_metrics_enabled(false))
            .metric_name(n)
            .build()
            .unwrap()
        };
        let header =
            FieldToMatch::builder().single_header(SingleHeader::builder().name("x-origin-verify").build().unwrap());
        let none = TextTransformation::builder()
            .priority(0)
            .r#type(TextTransformationType::None)
            .build()
            .unwrap();
        let matches = (ByteMatchStatement::builder()
            .search_string(Blob::new(value))
            .field_to_match(header.build()))
        .text_transformations(none)
        .positional_constraint(PositionalConstraint::Exactly)
        .build()
        .unwrap();
        let rule = (WafRule::builder().name("origin-verify").priority(0))
            .statement(Statement::builder().byte_match_statement(matches).build())
            .action(RuleAction::builder().allow(AllowAction::builder().build()).build())
            .visibility_config(visibility("origin-verify"))
            .build()
            .unwrap();
        let acl = (self.waf.create_web_acl().name("origin").scope(WafScope::Regional))
            .default_action(DefaultAction::builder().block(BlockAction::builder().build()).build())
            .rules(rule)
            .visibility_config(visibility("origin"))
            .send()
            .await
            .unwrap();
        let acl = acl.summary().unwrap().arn().unwrap().to_owned();
        self.waf
            .associate_web_acl()
            .web_acl_arn(acl)
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
    }

    /// The values the web ACL of ALB `arn` lets through (its Allow rule's byte matches, OR-ed or not).
    async fn acl_values(&self, arn: &str) -> Vec<String> {
        let acl = self
            .waf
            .get_web_acl_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        let statement = acl.web_acl().unwrap().rules()[0].statement().unwrap().clone();
        let statements = match statement.or_statement() {
            Some(or) => or.statements().to_vec(),
            None => vec![statement],
        };
        let value = |s: &Statement| {
            let bytes = s.byte_match_statement().unwrap().search_string().as_ref().to_vec();
            String::from_utf8(bytes).unwrap()
        };
        statements.iter().map(value).collect()
    }

    /// A distribution whose one origin is `domain`, sending the header with `value`, tagged for the secret or not;
    /// its id.
    async fn distribution(&self, domain: &str, value: &str, tagged: bool) -> String {
        let header = OriginCustomHeader::builder()
            .header_name(HEADER)
            .header_value(value)
            .build()
            .unwrap();
        let custom = (CustomOriginConfig::builder().http_port(80).https_port(443))
            .origin_protocol_policy(OriginProtocolPolicy::HttpsOnly)
            .build()
            .unwrap();
        let origin = (Origin::builder()
            .id("origin")
            .domain_name(domain)
            .custom_origin_config(custom))
        .custom_headers(CustomHeaders::builder().quantity(1).items(header).build().unwrap())
        .build()
        .unwrap();
        let behavior = (DefaultCacheBehavior::builder().target_origin_id("origin"))
            .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
            .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
            .trusted_signers(TrustedSigners::builder().enabled(false).quantity(0).build().unwrap())
            .build()
            .unwrap();
        let config = (DistributionConfig::builder()
            .caller_reference(domain)
            .comment("rotation test")
            .enabled(true))
        .origins(Origins::builder().quantity(1).items(origin).build().unwrap())
        .default_cache_behavior(behavior)
        .build()
        .unwrap();
        let tags = match tagged {
            true => vec![
                Tag::builder()
                    .key("cloudfront-sg-sync:origin-secret")
                    .value(SECRET)
                    .build()
                    .unwrap(),
            ],
            false => Vec::new(),
        };
        let with_tags = (DistributionConfigWithTags::builder().distribution_config(config))
            .tags(Tags::builder().set_items(Some(tags)).build())
            .build();
        let out = self
            .cloudfront
            .create_distribution_with_tags()
            .distribution_config_with_tags(with_tags)
            .send()
            .await;
        out.unwrap().distribution().unwrap().id().to_owned()
    }

    /// The header values distribution `id` sends.
    async fn sent(&self, id: &str) -> Vec<String> {
        let out = self.cloudfront.get_distribution_config().id(id).send().await.unwrap();
        let origins = out.distribution_config().unwrap().origins().unwrap().items().to_vec();
        let headers = origins
            .iter()
            .flat_map(|o| o.custom_headers().unwrap().items().to_vec());
        headers.map(|h| h.header_value().to_owned()).collect()
    }

    /// The secret, holding `OLD`, with rotation on and a pending version `token` holding a copy of the current
    /// value (as moto's RotateSecret leaves it; AWS leaves it empty).
    async fn secret(&self, token: &str) {
        let value = serde_json::json!({"header": HEADER, "value": OLD}).to_string();
        self.secrets
            .create_secret()
            .name(SECRET)
            .secret_string(&value)
            .send()
            .await
            .unwrap();
        let rules = aws_sdk_secretsmanager::types::RotationRulesType::builder()
            .automatically_after_days(30)
            .build();
        (self
            .secrets
            .rotate_secret()
            .secret_id(SECRET)
            .rotation_rules(rules)
            .rotate_immediately(false))
        .send()
        .await
        .unwrap();
        (self
            .secrets
            .put_secret_value()
            .secret_id(SECRET)
            .client_request_token(token)
            .secret_string(value))
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    }

    /// The value of the secret's version staged `stage`.
    async fn staged(&self, stage: &str) -> (String, String) {
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(SECRET)
            .version_stage(stage)
            .send()
            .await
            .unwrap();
        let value: serde_json::Value = serde_json::from_str(out.secret_string().unwrap()).unwrap();
        (
            out.version_id().unwrap().to_owned(),
            value["value"].as_str().unwrap().to_owned(),
        )
    }

    async fn function(&self) -> RotationFunction {
        let config = Config::from_pairs(&[
            ("AWS_REGION", REGION),
            ("REGIONS", REGION),
            ("ORIGIN_SECRET_PROPAGATION_SECONDS", "0"),
        ])
        .unwrap();
        RotationFunction::with_shared(config, &self.moto.sdk_config(REGION).await)
    }
}

fn request(token: &str, step: &str) -> RotationRequest {
    RotationRequest {
        secret_id: SECRET.to_owned(),
        token: token.to_owned(),
        step: step.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_four_steps_rotate_every_tagged_distribution_rule_and_web_acl_with_both_values_accepted_between() {
    let w = world().await;
    let (rule_dns, rule_alb) = w.alb("by-rule", Some(OLD)).await;
    let (acl_dns, acl_alb) = w.alb("by-acl", None).await;
    w.web_acl(&acl_alb, OLD).await;
    let (other_dns, other_alb) = w.alb("untagged", Some(OLD)).await;
    let by_rule = w.distribution(&rule_dns, OLD, true).await;
    let by_acl = w.distribution(&acl_dns, OLD, true).await;
    let untagged = w.distribution(&other_dns, OLD, false).await;
    let token = "2f7c1d7e-0a9b-4c1d-9e8f-7a6b5c4d3e2f";
    w.secret(token).await;
    let function = w.function().await;

    // createSecret: a new value in the pending version, the header kept; again, the same value.
    let created = function.handle(&request(token, "createSecret"), None).await.unwrap();
    assert!(created.created);
    let pending = w.staged("AWSPENDING").await;
    assert!(
        pending.0 == token && pending.1 != OLD && pending.1.len() == 40,
        "a new 40-character value"
    );
    let again = function.handle(&request(token, "createSecret"), None).await.unwrap();
    assert!(
        !again.created && w.staged("AWSPENDING").await.1 == pending.1,
        "kept when retried"
    );
    let new = pending.1;

    // setSecret: every check of the tagged origins accepts both; then the tagged distributions send the new one.
    let set = function.handle(&request(token, "setSecret"), None).await.unwrap();
    assert_eq!(
        (set.rules_changed, set.web_acls_changed, set.distributions_updated),
        (1, 1, 2)
    );
    assert!(
        w.rule_values(&rule_alb).await == [vec![OLD.to_owned(), new.clone()]],
        "the rule accepts both"
    );
    assert!(
        w.acl_values(&acl_alb).await == [OLD.to_owned(), new.clone()],
        "the web ACL accepts both"
    );
    for id in [&by_rule, &by_acl] {
        assert!(w.sent(id).await == [new.clone()], "{id} sends the new value");
    }
    let again = function.handle(&request(token, "setSecret"), None).await.unwrap();
    assert_eq!(
        (again.rules_changed, again.web_acls_changed, again.distributions_updated),
        (0, 0, 0)
    );

    // testSecret: every tagged distribution sends it (moto deploys at once).
    function.handle(&request(token, "testSecret"), None).await.unwrap();

    // finishSecret: the new version is current, the old one previous; every check accepts only the new one.
    let finished = function.handle(&request(token, "finishSecret"), None).await.unwrap();
    assert_eq!((finished.rules_changed, finished.web_acls_changed), (1, 1));
    assert!(w.staged("AWSCURRENT").await == (token.to_owned(), new.clone()));
    assert!(w.staged("AWSPREVIOUS").await.1 == OLD);
    assert!(
        w.rule_values(&rule_alb).await == [vec![new.clone()]],
        "the rule accepts only the new value"
    );
    assert!(
        w.acl_values(&acl_alb).await == [new.clone()],
        "the web ACL accepts only the new value"
    );
    let again = function.handle(&request(token, "finishSecret"), None).await.unwrap();
    assert_eq!(
        (again.rules_changed, again.web_acls_changed),
        (0, 0),
        "retried: nothing more"
    );

    // What is not tagged for the secret is never changed.
    assert!(w.sent(&untagged).await == [OLD.to_owned()]);
    assert!(w.rule_values(&other_alb).await == [vec![OLD.to_owned()]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_step_a_token_not_pending_or_a_secret_without_rotation_is_refused_before_any_change() {
    let w = world().await;
    let token = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
    w.secret(token).await;
    let function = w.function().await;
    let current = w.staged("AWSCURRENT").await;
    let refused = |step: &str, token: &str| {
        let function = &function;
        let request = request(token, step);
        async move { function.handle(&request, None).await.unwrap_err() }
    };
    let unknown = refused("deleteSecret", token).await;
    assert_eq!(unknown.kind(), "RotationRefused");
    assert!(
        unknown.to_string().contains("unknown rotation step \"deleteSecret\""),
        "{unknown}"
    );
    let stranger = refused("createSecret", "00000000-0000-4000-8000-000000000000").await;
    assert!(
        stranger
            .to_string()
            .contains("it has no version 00000000-0000-4000-8000-000000000000"),
        "{stranger}"
    );
    let not_pending = refused("setSecret", &current.0).await;
    assert!(
        not_pending.to_string().contains("is not staged AWSPENDING")
            || not_pending.to_string().contains("holds no value"),
        "{not_pending}"
    );

    let plain = serde_json::json!({"header": HEADER, "value": OLD}).to_string();
    w.secrets
        .create_secret()
        .name("no-rotation")
        .secret_string(plain)
        .send()
        .await
        .unwrap();
    let off = function
        .handle(
            &RotationRequest {
                secret_id: "no-rotation".to_owned(),
                token: token.to_owned(),
                step: "createSecret".to_owned(),
            },
            None,
        )
        .await
        .unwrap_err();
    assert!(off.to_string().contains("rotation is not enabled on it"), "{off}");
    assert!(w.staged("AWSPENDING").await.1 == OLD, "nothing changed");
    for error in [unknown, stranger, not_pending, off] {
        assert!(!error.to_string().contains(OLD), "a secret value in an error");
    }
}

/// `command` against moto at `endpoint`, scanning us-east-1, with no propagation wait.
fn at_moto<'a>(command: &'a mut std::process::Command, endpoint: &str) -> &'a mut std::process::Command {
    aws_at(command, endpoint)
        .env("REGIONS", REGION)
        .env("ORIGIN_SECRET_PROPAGATION_SECONDS", "0")
}

/// `cloudfront-sg-sync rotate-origin-secret ARGS` against moto.
fn cli(endpoint: &str, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync"));
    command.arg("rotate-origin-secret").args(args);
    at_moto(&mut command, endpoint).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_what_a_rotation_changes_then_rotates_with_apply_never_printing_a_value() {
    let w = world().await;
    let (dns, alb) = w.alb("by-rule", Some(OLD)).await;
    let id = w.distribution(&dns, OLD, true).await;
    let value = serde_json::json!({"header": HEADER, "value": OLD}).to_string();
    w.secrets
        .create_secret()
        .name(SECRET)
        .secret_string(value)
        .send()
        .await
        .unwrap();

    let plan = cli(&w.moto.endpoint, &["--secret", SECRET]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success(), "{text}{}", String::from_utf8_lossy(&plan.stderr));
    assert!(text.contains(&format!("tagged distributions: {id} (")), "{text}");
    assert!(
        text.contains("listener rules that check the current value: arn:aws:elasticloadbalancing:"),
        "{text}"
    );
    assert!(text.ends_with("nothing changed: --apply rotates it\n"), "{text}");
    assert!(w.sent(&id).await == [OLD.to_owned()], "a plan changes nothing");

    let applied = cli(&w.moto.endpoint, &["--secret", SECRET, "--apply"]);
    let text = String::from_utf8_lossy(&applied.stdout).into_owned();
    assert!(
        applied.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let steps: Vec<&str> = text.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        steps,
        ["createSecret", "setSecret", "testSecret", "finishSecret"],
        "{text}"
    );
    let (_, new) = w.staged("AWSCURRENT").await;
    assert!(new != OLD && w.sent(&id).await == [new.clone()] && w.rule_values(&alb).await == [vec![new.clone()]]);
    for shown in [text, String::from_utf8_lossy(&applied.stderr).into_owned()] {
        assert!(
            !shown.contains(OLD) && !shown.contains(&new),
            "a secret value was printed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rotation_function_answers_each_step_secrets_manager_sends_and_refuses_any_other_event() {
    let w = world().await;
    let (dns, alb) = w.alb("by-rule", Some(OLD)).await;
    let id = w.distribution(&dns, OLD, true).await;
    let token = "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a";
    w.secret(token).await;
    let step = |name: &str| {
        serde_json::json!({"SecretId": SECRET, "ClientRequestToken": token, "Step": name})
            .to_string()
            .into_bytes()
    };
    let mut events: Vec<Vec<u8>> = ["createSecret", "setSecret", "testSecret", "finishSecret"]
        .map(step)
        .to_vec();
    events.push(br#"{"hello": "world"}"#.to_vec());
    let runtime = RuntimeApi::start(events).await;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cloudfront-sg-sync-rotate"));
    at_moto(&mut command, &w.moto.endpoint)
        .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "cloudfront-sg-sync-rotate")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = Running::spawn(&mut command);
    let answers = runtime.wait_answers(5, std::time::Duration::from_secs(60)).await;
    let output = child.stop();
    for (answer, expected) in answers
        .iter()
        .zip(["createSecret", "setSecret", "testSecret", "finishSecret"])
    {
        assert_eq!(
            (answer.1.as_str(), answer.2["step"].as_str()),
            ("response", Some(expected)),
            "{answer:?}"
        );
    }
    let (_, kind, refused) = &answers[4];
    assert_eq!(
        (kind.as_str(), refused["errorType"].as_str()),
        ("error", Some("RotationRefused")),
        "{refused}"
    );
    let (_, new) = w.staged("AWSCURRENT").await;
    assert!(new != OLD && w.sent(&id).await == [new.clone()] && w.rule_values(&alb).await == [vec![new.clone()]]);
    let logs = [output.stdout, output.stderr].concat();
    let logs = String::from_utf8_lossy(&logs);
    assert!(logs.contains("rotation step done"), "JSON logs of each step");
    assert!(
        !logs.contains(OLD) && !logs.contains(&new),
        "a secret value in the function's logs"
    );
}
