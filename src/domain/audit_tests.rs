//! The audit's checks, one behaviour each, on facts built in memory.

use super::*;
use crate::domain::ip_ranges::{Scope, Selection};
use crate::domain::origin_side::{AclAction, AclRule, Condition, ListenerRule, Statement};
use crate::domain::security_groups::{Rule, RuleProtocol};

const REGION: &str = "us-east-1";
const VPC: &str = "vpc-1";
const ALB_DNS: &str = "web-123.us-east-1.elb.amazonaws.com";
/// The value the good origin's distribution sends (never printed: findings name headers, not values).
const SECRET: &str = "Zq8vN2kLp4Rt7wXy9Bc3Df6Gh1Jm5Ks0";
const HEADER: &str = "X-Origin-Verify";

fn custom(policy: &str, ssl: &[&str]) -> OriginKind {
    OriginKind::Custom(CustomOrigin {
        protocol_policy: policy.to_owned(),
        http_port: 80,
        https_port: 443,
        ssl_protocols: ssl.iter().map(|p| (*p).to_owned()).collect(),
        mutual_tls: false,
        ip_address_type: None,
    })
}

fn origin(domain: &str, kind: OriginKind, secret_header: bool) -> Origin {
    Origin {
        id: "o1".to_owned(),
        domain_name: domain.to_owned(),
        kind,
        access_control: None,
        headers: vec![CustomHeader {
            name: HEADER.to_owned(),
            secret_like: secret_header,
            value: Secret::new(SECRET),
        }],
    }
}

/// A rule that forwards when `conditions` hold.
fn forwarding(priority: &str, conditions: Vec<Condition>) -> ListenerRule {
    ListenerRule {
        priority: priority.to_owned(),
        forwards: true,
        conditions,
    }
}

/// An `http-header` condition on `name` with `values`.
fn header_is(name: &str, values: &[&str]) -> Condition {
    Condition::Header {
        name: name.to_owned(),
        values: values.iter().map(|v| Secret::new(*v)).collect(),
        regex: false,
    }
}

/// A listener on `port` whose default action is a fixed response and whose one rule forwards requests carrying
/// the good origin's header value.
fn checking_listener(port: u16) -> Listener {
    Listener {
        arn: format!("arn:listener/{port}"),
        port,
        protocol: if port == 443 { "HTTPS" } else { "HTTP" }.to_owned(),
        default_forwards: false,
        rules: vec![forwarding("10", vec![header_is("x-origin-verify", &[SECRET])])],
        mutual_authentication: None,
        trust_store: false,
    }
}

/// A good custom origin: https-only, TLSv1.2, a secret header, at the ALB.
fn good_origin() -> Origin {
    origin(ALB_DNS, custom("https-only", &["TLSv1.2"]), true)
}

fn rule(protocol: RuleProtocol, ports: Option<(i32, i32)>, source: RuleSource) -> Rule {
    Rule {
        protocol,
        from_port: ports.map(|p| p.0),
        to_port: ports.map(|p| p.1),
        source,
        description: None,
    }
}

fn set(scope: Scope, port: u16, groups: &[&str]) -> SyncedSet {
    SyncedSet {
        key: SetKey {
            account: None,
            region: REGION.to_owned(),
            vpc: VPC.to_owned(),
            scope,
            port,
        },
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    }
}

/// A rule of ours: a CloudFront range on `port`, as the sync writes it.
fn synced_rule(port: i32) -> Rule {
    Rule {
        description: Some(crate::domain::security_groups::rule_description(
            Scope::Global,
            "CLOUDFRONT",
        )),
        ..rule(
            RuleProtocol::Tcp,
            Some((port, port)),
            RuleSource::Cidr("13.32.0.0/15".parse().unwrap()),
        )
    }
}

/// One distribution with `origin`; an ALB carrying `carried` (each group with `rules`, and synced: one rule of
/// ours on 80 and on 443), and the sets `sets`.
fn facts(origin: Origin, carried: &[&str], rules: &[Rule], sets: Vec<SyncedSet>) -> Facts {
    let groups = carried
        .iter()
        .map(|id| {
            let synced = [synced_rule(80), synced_rule(443)];
            let group = Group {
                id: (*id).to_owned(),
                rules: rules.iter().cloned().chain(synced).collect(),
            };
            ((*id).to_owned(), group)
        })
        .collect();
    let region = RegionFacts {
        load_balancers: vec![LoadBalancer {
            name: "web".to_owned(),
            dns_name: ALB_DNS.to_owned(),
            kind: "application".to_owned(),
            vpc: VPC.to_owned(),
            security_groups: carried.iter().map(|g| (*g).to_owned()).collect(),
            ip_address_type: "ipv4".to_owned(),
            arn: "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/app/web/1".to_owned(),
            listeners: vec![checking_listener(443), checking_listener(80)],
            web_acl: None,
        }],
        sets,
        groups,
        cloudfront_lists: BTreeSet::from(["pl-cf".to_owned()]),
    };
    Facts {
        distributions: vec![Distribution {
            id: "E1".to_owned(),
            domain_name: "d1.cloudfront.net".to_owned(),
            origins: vec![origin],
        }],
        regions: BTreeMap::from([(REGION.to_owned(), region)]),
        file: None,
    }
}

/// The good origin behind an ALB carrying the complete global and regional sets for 443.
fn clean() -> Facts {
    let sets = vec![
        set(Scope::Global, 443, &["sg-g1", "sg-g2"]),
        set(Scope::Regional, 443, &["sg-r1"]),
    ];
    facts(good_origin(), &["sg-g1", "sg-g2", "sg-r1"], &[], sets)
}

/// The verdicts of `check`: (status, why).
fn verdicts(facts: &Facts, check: Check) -> Vec<(Status, String)> {
    let report = audit(facts);
    let findings = report.distributions.iter().flat_map(|d| &d.findings);
    findings
        .filter(|f| f.check == check)
        .map(|f| (f.status, f.why.clone()))
        .collect()
}

/// `verdict` has `status` and its why says `says`.
fn assert_verdict(verdict: &(Status, String), status: Status, says: &str) {
    assert_eq!(verdict.0, status, "{}", verdict.1);
    assert!(verdict.1.contains(says), "{}", verdict.1);
}

fn statuses(facts: &Facts, check: Check) -> Vec<Status> {
    verdicts(facts, check).into_iter().map(|v| v.0).collect()
}

#[test]
fn a_clean_origin_passes_every_check_and_names_both_complete_sets() {
    let report = audit(&clean());
    assert_eq!(report.status(), Status::Pass);
    let checks: Vec<Check> = report.distributions[0].findings.iter().map(|f| f.check).collect();
    assert_eq!(
        checks,
        [
            Check::OriginProtocol,
            Check::OriginTls,
            Check::OriginProof,
            Check::SyncedSet,
            Check::OpenToWorld
        ]
    );
    let why = &verdicts(&clean(), Check::SyncedSet)[0].1;
    assert!(
        why.contains("the complete cloudfront_g set and the complete cloudfront_r set for port 443"),
        "{why}"
    );
}

#[test]
fn the_origin_protocol_policy_passes_warns_or_fails() {
    for (policy, expected) in [
        ("https-only", Status::Pass),
        ("match-viewer", Status::Warn),
        ("http-only", Status::Fail),
    ] {
        let mut f = clean();
        f.distributions[0].origins[0].kind = custom(policy, &["TLSv1.2"]);
        assert_eq!(statuses(&f, Check::OriginProtocol), [expected], "{policy}");
    }
}

#[test]
fn weak_tls_versions_fail_by_name_and_http_only_has_no_tls_check() {
    let mut f = clean();
    f.distributions[0].origins[0].kind = custom("https-only", &["SSLv3", "TLSv1.1", "TLSv1.2"]);
    assert_eq!(
        verdicts(&f, Check::OriginTls),
        [(Status::Fail, "allows SSLv3, TLSv1.1".to_owned())]
    );
    f.distributions[0].origins[0].kind = custom("http-only", &["TLSv1"]);
    assert!(verdicts(&f, Check::OriginTls).is_empty());
}

#[test]
fn match_viewer_checks_the_groups_on_both_ports() {
    let mut f = clean();
    f.distributions[0].origins[0].kind = custom("match-viewer", &["TLSv1.2"]);
    let sets = verdicts(&f, Check::SyncedSet);
    assert_eq!(sets.len(), 2);
    assert_verdict(&sets[0], Status::Fail, "no synced set for port 80");
    assert_eq!(sets[1].0, Status::Pass);
    assert_eq!(statuses(&f, Check::OpenToWorld), [Status::Pass, Status::Pass]);
}

#[test]
fn what_proves_the_distribution_passes_and_nothing_warns() {
    let mut f = clean();
    assert_eq!(statuses(&f, Check::OriginProof), [Status::Pass]);
    f.distributions[0].origins[0].headers[0].secret_like = false;
    assert_eq!(statuses(&f, Check::OriginProof), [Status::Warn]);
    f.distributions[0].origins[0].access_control = Some("E2OAC".to_owned());
    assert_eq!(statuses(&f, Check::OriginProof), [Status::Pass]);
    f.distributions[0].origins[0].access_control = None;
    f.distributions[0].origins[0].headers.clear();
    if let OriginKind::Custom(c) = &mut f.distributions[0].origins[0].kind {
        c.mutual_tls = true;
    }
    assert_verdict(
        &verdicts(&f, Check::OriginProof)[0],
        Status::Warn,
        "CloudFront presents a client certificate, but load balancer web does not verify it: listener HTTPS:443 (off)",
    );
    let listener = &mut alb(&mut f).listeners[0];
    (listener.mutual_authentication, listener.trust_store) = (Some("verify".to_owned()), true);
    assert_verdict(
        &verdicts(&f, Check::OriginProof)[0],
        Status::Pass,
        "origin mutual TLS, verified by load balancer web with a trust store",
    );
    alb(&mut f).listeners[0].mutual_authentication = Some("passthrough".to_owned());
    assert_verdict(
        &verdicts(&f, Check::OriginProof)[0],
        Status::Warn,
        "listener HTTPS:443 (passthrough)",
    );
}

/// The ALB of `facts`.
fn alb(facts: &mut Facts) -> &mut LoadBalancer {
    let region = facts.regions.get_mut(REGION).unwrap();
    &mut region.load_balancers[0]
}

/// The one origin-proof verdict of `facts`, checked to hold no secret value in its why or fix (nor in the
/// whole report's JSON and text).
fn proof_of(facts: &Facts) -> (Status, String) {
    let report = audit(facts);
    let json = serde_json::to_string(&report).unwrap();
    let text = report.to_string();
    for secret in [SECRET, OTHER_SECRET, "Zq8vN2kLp4"] {
        assert!(
            !json.contains(secret) && !text.contains(secret),
            "a secret value was shown"
        );
    }
    let proofs = verdicts(facts, Check::OriginProof);
    assert_eq!(proofs.len(), 1);
    proofs.into_iter().next().unwrap()
}

/// A value no distribution sends.
const OTHER_SECRET: &str = "Wr4eT6yU8iO0pA2sD4fG6hJ8kL0zX2cV";

#[test]
fn a_header_required_by_a_listener_rule_passes_naming_where() {
    let v = proof_of(&clean());
    assert_verdict(
        &v,
        Status::Pass,
        "custom header X-Origin-Verify is required at load balancer web: listener HTTPS:443 rule 10",
    );
}

#[test]
fn a_header_nobody_checks_warns_naming_the_listener_that_forwards_everything() {
    let mut f = clean();
    let listener = &mut alb(&mut f).listeners[0];
    (listener.default_forwards, listener.rules) = (true, Vec::new());
    let v = proof_of(&f);
    assert_verdict(
        &v,
        Status::Warn,
        "sent but not required at load balancer web: requests without it get through listener HTTPS:443 default action",
    );
}

#[test]
fn a_rule_that_requires_a_value_cloudfront_does_not_send_fails_counting_its_values() {
    let mut f = clean();
    alb(&mut f).listeners[0].rules = vec![forwarding("10", vec![header_is(HEADER, &[OTHER_SECRET])])];
    let v = proof_of(&f);
    assert_verdict(
        &v,
        Status::Fail,
        "listener HTTPS:443 rule 10 requires X-Origin-Verify to be one of 1 value(s), none of them the one CloudFront sends",
    );
    assert!(v.1.contains("CloudFront's own requests are refused"), "{}", v.1);
}

#[test]
fn a_rule_that_forwards_a_path_without_the_header_before_the_check_warns_naming_its_conditions() {
    let mut f = clean();
    let health = forwarding("5", vec![Condition::Other("path /health".to_owned())]);
    alb(&mut f).listeners[0].rules.insert(0, health);
    assert_verdict(
        &proof_of(&f),
        Status::Warn,
        "get through listener HTTPS:443 rule 5 (path /health)",
    );
}

#[test]
fn a_rule_accepting_any_value_or_a_short_pattern_proves_nothing_and_a_long_wildcard_or_another_case_does() {
    let mut f = clean();
    let with = |f: &mut Facts, values: &[&str]| {
        alb(f).listeners[0].rules = vec![forwarding("10", vec![header_is(HEADER, values)])];
        proof_of(f).0
    };
    assert_eq!(with(&mut f, &["*"]), Status::Warn, "any value");
    assert_eq!(with(&mut f, &["Zq8v*"]), Status::Warn, "4 fixed characters are guessed");
    assert_eq!(
        with(&mut f, &["zq8vn2klp4rt7wxy9bc3df6gh1jm5ks0"]),
        Status::Pass,
        "ALB compares without case"
    );
    assert_eq!(
        with(&mut f, &["Zq8vN2kLp4Rt7wXy9Bc3*"]),
        Status::Pass,
        "20 fixed characters and a star"
    );
    assert_eq!(
        with(&mut f, &["Zq8vN2kLp4Rt7wXy9Bc3Df6Gh1Jm5Ks?"]),
        Status::Pass,
        "? is one character"
    );
    assert_eq!(
        with(&mut f, &[OTHER_SECRET, SECRET]),
        Status::Pass,
        "both values of a rotation"
    );
}

#[test]
fn match_viewer_needs_the_header_required_on_both_ports() {
    let mut f = facts(
        origin(ALB_DNS, custom("match-viewer", &["TLSv1.2"]), true),
        &["sg-g1"],
        &[],
        vec![set(Scope::Global, 443, &["sg-g1"])],
    );
    assert_eq!(proof_of(&f).0, Status::Pass);
    alb(&mut f).listeners[1].default_forwards = true;
    assert_verdict(
        &proof_of(&f),
        Status::Warn,
        "get through listener HTTP:80 default action",
    );
}

/// A web ACL named `protect` with `rules` and the default action.
fn web_acl(default_allow: bool, rules: Vec<AclRule>) -> WebAcl {
    WebAcl {
        name: "protect".to_owned(),
        default_allow,
        rules,
    }
}

fn acl_rule(name: &str, action: AclAction, statement: Statement) -> AclRule {
    AclRule {
        name: name.to_owned(),
        action,
        statement,
    }
}

fn header_equals(value: &str) -> Statement {
    Statement::HeaderEquals {
        header: "x-origin-verify".to_owned(),
        value: Secret::new(value),
    }
}

#[test]
fn a_web_acl_that_lets_through_only_the_value_passes_in_front_of_a_listener_that_forwards_everything() {
    let mut f = clean();
    let listener = &mut alb(&mut f).listeners[0];
    (listener.default_forwards, listener.rules) = (true, Vec::new());
    alb(&mut f).web_acl = Some(web_acl(
        false,
        vec![acl_rule("origin", AclAction::Allow, header_equals(SECRET))],
    ));
    assert_verdict(
        &proof_of(&f),
        Status::Pass,
        "web ACL protect rule origin (default Block)",
    );

    let not = Statement::NotHeaderEquals {
        header: HEADER.to_owned(),
        value: Secret::new(SECRET),
    };
    let count = acl_rule(
        "count",
        AclAction::Count,
        Statement::Other("another statement".to_owned()),
    );
    alb(&mut f).web_acl = Some(web_acl(
        true,
        vec![count, acl_rule("origin", AclAction::Block, not.clone())],
    ));
    assert_verdict(&proof_of(&f), Status::Pass, "web ACL protect rule origin");

    let other = Statement::NotHeaderEquals {
        header: HEADER.to_owned(),
        value: Secret::new(OTHER_SECRET),
    };
    alb(&mut f).web_acl = Some(web_acl(true, vec![acl_rule("origin", AclAction::Block, other)]));
    assert_verdict(
        &proof_of(&f),
        Status::Fail,
        "web ACL protect rule origin blocks every request",
    );

    let health = acl_rule(
        "health",
        AclAction::Allow,
        Statement::Other("another statement".to_owned()),
    );
    alb(&mut f).web_acl = Some(web_acl(true, vec![health, acl_rule("origin", AclAction::Block, not)]));
    assert_verdict(
        &proof_of(&f),
        Status::Warn,
        "default action, web ACL protect rule health (an Allow on another statement)",
    );
}

#[test]
fn a_web_acl_the_audit_cannot_judge_warns_saying_so_and_one_refusing_cloudfront_fails() {
    let mut f = clean();
    let listener = &mut alb(&mut f).listeners[0];
    (listener.default_forwards, listener.rules) = (true, Vec::new());
    let managed = acl_rule(
        "AWS-AWSManagedRulesCommonRuleSet",
        AclAction::RuleGroup,
        Statement::Other("a rule group".to_owned()),
    );
    alb(&mut f).web_acl = Some(web_acl(
        false,
        vec![managed, acl_rule("origin", AclAction::Allow, header_equals(SECRET))],
    ));
    assert_verdict(
        &proof_of(&f),
        Status::Warn,
        "web ACL protect rule AWS-AWSManagedRulesCommonRuleSet is a rule group",
    );

    alb(&mut f).web_acl = Some(web_acl(
        false,
        vec![acl_rule("origin", AclAction::Allow, header_equals(OTHER_SECRET))],
    ));
    assert_verdict(
        &proof_of(&f),
        Status::Fail,
        "web ACL protect blocks by default and no rule allows the value of X-Origin-Verify CloudFront sends",
    );
}

#[test]
fn an_origin_that_is_no_load_balancer_of_the_scanned_regions_keeps_its_verdict_saying_it_cannot_be_verified() {
    let f = facts(
        origin("origin.example.com", custom("https-only", &["TLSv1.2"]), true),
        &[],
        &[],
        Vec::new(),
    );
    assert_verdict(
        &proof_of(&f),
        Status::Pass,
        "custom header X-Origin-Verify looks like a shared secret (cannot verify at the origin: it is no load balancer of the scanned regions; the origin must require it)",
    );
}

#[test]
fn a_vpc_origin_passes_on_its_own() {
    let f = facts(
        origin("internal.example", OriginKind::Vpc { id: "vo_1".to_owned() }, false),
        &[],
        &[],
        Vec::new(),
    );
    let report = audit(&f);
    let findings = &report.distributions[0].findings;
    assert_eq!(findings.len(), 1);
    assert_eq!(
        (findings[0].check, findings[0].status),
        (Check::OriginProof, Status::Pass)
    );
}

#[test]
fn s3_origins_pass_with_oac_warn_with_oai_and_fail_without_either_or_as_a_website() {
    let s3 = |identity: Option<&str>, oac: Option<&str>| {
        let mut o = origin(
            "bucket.s3.us-east-1.amazonaws.com",
            OriginKind::S3 {
                access_identity: identity.map(str::to_owned),
            },
            false,
        );
        o.access_control = oac.map(str::to_owned);
        statuses(&facts(o, &[], &[], Vec::new()), Check::S3Access)
    };
    assert_eq!(s3(None, Some("E2OAC")), [Status::Pass]);
    assert_eq!(s3(Some("origin-access-identity/cloudfront/E3"), None), [Status::Warn]);
    assert_eq!(s3(None, None), [Status::Fail]);
    let website = origin(
        "bucket.s3-website-us-east-1.amazonaws.com",
        custom("http-only", &[]),
        false,
    );
    let report = audit(&facts(website, &[], &[], Vec::new()));
    let findings = &report.distributions[0].findings;
    assert_eq!(findings.len(), 1);
    assert_eq!((findings[0].check, findings[0].status), (Check::S3Access, Status::Fail));
}

#[test]
fn a_set_attached_in_part_fails_naming_the_missing_groups_even_beside_a_complete_one() {
    let sets = vec![
        set(Scope::Global, 443, &["sg-1", "sg-2", "sg-3", "sg-4", "sg-5"]),
        set(Scope::Regional, 443, &["sg-r"]),
    ];
    let f = facts(good_origin(), &["sg-1", "sg-3", "sg-5", "sg-r"], &[], sets);
    let found = verdicts(&f, Check::SyncedSet);
    assert_eq!(found.len(), 2, "{found:?}");
    let missing = "carries 3 of the 5 groups of the cloudfront_g set for port 443; missing: sg-2, sg-4";
    assert_verdict(&found[0], Status::Fail, missing);
    assert_eq!(found[1].0, Status::Pass);
    assert_eq!(audit(&f).status(), Status::Fail);
}

#[test]
fn a_load_balancer_without_room_for_the_missing_groups_is_advised_another_way() {
    // 4 groups carried (3 of the set's 5, and the regional set's one): 2 more would make 6, over the 5 allowed.
    let sets = vec![
        set(Scope::Global, 443, &["sg-1", "sg-2", "sg-3", "sg-4", "sg-5"]),
        set(Scope::Regional, 443, &["sg-r"]),
    ];
    let crowded = facts(good_origin(), &["sg-1", "sg-3", "sg-5", "sg-r"], &[], sets.clone());
    let report = audit(&crowded);
    let fix = &report.distributions[0]
        .findings
        .iter()
        .find(|x| x.status == Status::Fail)
        .unwrap()
        .fix;
    assert!(
        fix.contains("takes 5 by default") && fix.contains("prefix list") && !fix.starts_with("attach"),
        "{fix}"
    );
    // With room for them (3 carried, 2 missing: 5), attaching them is the advice.
    let roomy = facts(good_origin(), &["sg-1", "sg-3", "sg-5"], &[], sets);
    let report = audit(&roomy);
    let fix = &report.distributions[0]
        .findings
        .iter()
        .find(|x| x.status == Status::Fail)
        .unwrap()
        .fix;
    assert_eq!(fix, "attach sg-2, sg-4 to the load balancer too");
}

#[test]
fn sets_of_another_port_or_vpc_do_not_count() {
    let mut other_vpc = set(Scope::Global, 443, &["sg-v"]);
    other_vpc.key.vpc = "vpc-2".to_owned();
    let sets = vec![set(Scope::Global, 80, &["sg-80"]), other_vpc];
    let f = facts(good_origin(), &["sg-80", "sg-v"], &[], sets);
    assert_eq!(statuses(&f, Check::SyncedSet), [Status::Fail]);
}

#[test]
fn the_managed_cloudfront_prefix_list_on_the_port_passes() {
    let on = |ports| {
        let list = rule(
            RuleProtocol::Tcp,
            Some(ports),
            RuleSource::PrefixList("pl-cf".to_owned()),
        );
        verdicts(&facts(good_origin(), &["sg-lb"], &[list], Vec::new()), Check::SyncedSet)
    };
    let found = on((443, 443));
    assert_verdict(&found[0], Status::Pass, "AWS's managed CloudFront prefix list");
    assert_eq!(on((80, 80))[0].0, Status::Fail);
    let other = rule(
        RuleProtocol::Tcp,
        Some((443, 443)),
        RuleSource::PrefixList("pl-other".to_owned()),
    );
    let found = verdicts(
        &facts(good_origin(), &["sg-lb"], &[other], Vec::new()),
        Check::SyncedSet,
    );
    assert_eq!(found[0].0, Status::Fail);
}

#[test]
fn a_rule_open_to_the_world_on_the_port_fails_naming_the_group_and_cidr() {
    let world4 = RuleSource::Cidr("0.0.0.0/0".parse().unwrap());
    let world6 = RuleSource::Cidr("::/0".parse().unwrap());
    let cases = [
        (
            rule(RuleProtocol::Tcp, Some((443, 443)), world4.clone()),
            Some("sg-g1 0.0.0.0/0"),
        ),
        (
            rule(RuleProtocol::Tcp, Some((0, 65535)), world6.clone()),
            Some("sg-g1 ::/0"),
        ),
        (rule(RuleProtocol::All, None, world4.clone()), Some("sg-g1 0.0.0.0/0")),
        (rule(RuleProtocol::Tcp, Some((22, 22)), world4), None),
        (rule(RuleProtocol::Other("udp".into()), Some((443, 443)), world6), None),
    ];
    for (open, named) in cases {
        let mut f = clean();
        f.regions
            .get_mut(REGION)
            .unwrap()
            .groups
            .get_mut("sg-g1")
            .unwrap()
            .rules = vec![open.clone()];
        let found = verdicts(&f, Check::OpenToWorld);
        match named {
            Some(named) => assert_verdict(&found[0], Status::Fail, named),
            None => assert_eq!(found[0].0, Status::Pass, "{open:?}"),
        }
    }
}

#[test]
fn a_load_balancer_without_security_groups_fails() {
    let f = facts(good_origin(), &[], &[], Vec::new());
    let found = verdicts(&f, Check::SyncedSet);
    assert_verdict(&found[0], Status::Fail, "has no security groups");
}

#[test]
fn an_origin_matches_its_load_balancer_without_case_trailing_dot_or_dualstack() {
    for domain in ["DUALSTACK.Web-123.us-east-1.elb.amazonaws.com.", ALB_DNS] {
        let mut f = clean();
        f.distributions[0].origins[0].domain_name = domain.to_owned();
        assert_eq!(statuses(&f, Check::SyncedSet), [Status::Pass], "{domain}");
    }
    let mut f = clean();
    f.distributions[0].origins[0].domain_name = "api.example.com".to_owned();
    let found = verdicts(&f, Check::SyncedSet);
    assert_verdict(
        &found[0],
        Status::Warn,
        "not a load balancer of the scanned regions (us-east-1)",
    );
    assert!(verdicts(&f, Check::OpenToWorld).is_empty());
}

#[test]
fn the_table_fits_120_columns_and_its_rows_read_back_whole() {
    let sets = vec![set(Scope::Global, 443, &["sg-1", "sg-2", "sg-3", "sg-4", "sg-5"])];
    let report = audit(&facts(good_origin(), &["sg-1", "sg-3", "sg-5", "sg-r"], &[], sets));
    let table = report.to_string();
    assert!(table.lines().all(|l| l.chars().count() <= TABLE_WIDTH), "{table}");
    // A row's next lines begin with spaces: joined, they give its why and fix whole.
    let rows = joined_rows(&table);
    let failed = report.distributions[0]
        .findings
        .iter()
        .find(|x| x.status == Status::Fail)
        .unwrap();
    assert!(
        rows.iter()
            .any(|r| r.contains(&failed.why) && r.contains(&format!("fix: {}", failed.fix))),
        "{table}"
    );
    assert_eq!(wrap("a bb ccc", 4), ["a bb", "ccc"]);
    assert_eq!(wrap("", 10), [""]);
    assert_eq!(wrap("unbreakable-word x", 5), ["unbreakable-word", "x"]);
}

/// The table's rows, each with its next lines (those that begin with spaces) joined to it.
fn joined_rows(table: &str) -> Vec<String> {
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
    rows
}

#[test]
fn only_tokens_in_non_standard_headers_look_like_secrets() {
    assert!(secret_like("X-Origin-Verify", "9f86d081884c7d659a2feaa0c55ad015"));
    assert!(!secret_like("X-Origin-Verify", "true"));
    assert!(!secret_like("X-Origin-Verify", "aaaaaaaaaaaaaaaaaaaaaaaa"));
    assert!(!secret_like("X-Note", "served by the production fleet"));
    assert!(!secret_like("User-Agent", "9f86d081884c7d659a2feaa0c55ad015"));
    assert!(!secret_like("X-Forwarded-Host", "9f86d081884c7d659a2feaa0c55ad015"));
}

#[test]
fn the_report_names_every_distribution_and_its_worst_status() {
    let mut f = clean();
    f.distributions.push(Distribution {
        id: "E2".to_owned(),
        domain_name: "d2.cloudfront.net".to_owned(),
        origins: vec![origin(ALB_DNS, custom("http-only", &[]), false)],
    });
    f.distributions.push(Distribution {
        id: "E3".to_owned(),
        domain_name: "d3.cloudfront.net".to_owned(),
        origins: Vec::new(),
    });
    let report = audit(&f);
    let statuses: Vec<(&str, Status)> = report.distributions.iter().map(|d| (d.id.as_str(), d.status)).collect();
    assert_eq!(
        statuses,
        [("E1", Status::Pass), ("E2", Status::Fail), ("E3", Status::Pass)]
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["distributions"][1]["findings"][0]["check"], "origin-protocol");
    assert_eq!(json["distributions"][1]["findings"][0]["status"], "fail");
    let table = report.to_string();
    assert!(table.starts_with("DISTRIBUTION"), "{table}");
    assert!(
        joined_rows(&table)
            .iter()
            .any(|l| l.starts_with("E2") && l.contains("http-only")),
        "{table}"
    );
    assert!(
        table.ends_with("3 distribution(s), regions us-east-1: 2 fail, 1 warn, 6 pass"),
        "{table}"
    );
}

#[test]
fn a_complete_set_whose_groups_hold_none_of_our_ranges_fails_as_emptied() {
    let mut facts = clean();
    // `remove --apply` took back every rule of ours from the GLOBAL set's groups.
    let region = facts.regions.get_mut(REGION).unwrap();
    for id in ["sg-g1", "sg-g2"] {
        region.groups.get_mut(id).unwrap().rules.retain(|r| r.ours().is_none());
    }
    let found = verdicts(&facts, Check::SyncedSet);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_verdict(
        &found[0],
        Status::Fail,
        "carries the complete cloudfront_g set for port 443, but its groups hold none of CloudFront's ranges",
    );
    // The regional set, still synced, passes on its own.
    assert_verdict(
        &found[1],
        Status::Pass,
        "holds the complete cloudfront_r set for port 443",
    );
    assert_eq!(audit(&facts).status(), Status::Fail);
}

/// The clean world with the origin's IP address type `origin`, the load balancer's `lb`, and (when `ipv6`) an
/// IPv6 rule of ours on 443 in every carried group.
fn dual(origin: &str, lb: &str, ipv6: bool) -> Facts {
    let mut facts = clean();
    if let OriginKind::Custom(custom) = &mut facts.distributions[0].origins[0].kind {
        custom.ip_address_type = Some(origin.to_owned());
    }
    let region = facts.regions.get_mut(REGION).unwrap();
    region.load_balancers[0].ip_address_type = lb.to_owned();
    if ipv6 {
        let v6 = Rule {
            source: RuleSource::Cidr("2600:9000::/28".parse().unwrap()),
            ..synced_rule(443)
        };
        region.groups.values_mut().for_each(|g| g.rules.push(v6.clone()));
    }
    facts
}

#[test]
fn an_origin_cloudfront_may_reach_over_ipv6_needs_a_dualstack_load_balancer_holding_the_ipv6_ranges() {
    let ipv6 = |facts: &Facts| {
        let found = verdicts(facts, Check::SyncedSet);
        found
            .into_iter()
            .filter(|v| v.1.contains("over IPv6"))
            .collect::<Vec<_>>()
    };
    let cases = [
        ("ipv4", "dualstack", false, None),
        // No AAAA record: reached over IPv4.
        ("dualstack", "ipv4", false, None),
        (
            "ipv6",
            "ipv4",
            false,
            Some((
                Status::Fail,
                "only over IPv6, and application load balancer web (us-east-1) has no IPv6 address (ipv4)",
            )),
        ),
        (
            "dualstack",
            "dualstack",
            false,
            Some((
                Status::Fail,
                "is dualstack, but its groups hold none of CloudFront's IPv6 ranges for port 443: those connections are dropped",
            )),
        ),
        (
            "dualstack",
            "dualstack",
            true,
            Some((
                Status::Pass,
                "is dualstack and its groups hold CloudFront's IPv6 ranges for port 443",
            )),
        ),
    ];
    for (origin, lb, held, expected) in cases {
        let found = ipv6(&dual(origin, lb, held));
        match expected {
            None => assert!(found.is_empty(), "{origin} on {lb}: nothing to judge: {found:?}"),
            Some((status, says)) => {
                assert_eq!(found.len(), 1, "{origin} on {lb}: {found:?}");
                assert_verdict(&found[0], status, says);
            }
        }
    }
    assert_eq!(audit(&dual("dualstack", "dualstack", false)).status(), Status::Fail);
}

#[test]
fn a_group_open_to_the_world_and_nothing_else_frees_its_slot_for_a_missing_group() {
    // 5 carried: 3 of a set of 4, the regional set's one, and sg-open (only 0.0.0.0/0 on 443). The missing
    // sg-4 fits once sg-open, which the audit says to detach, is gone.
    let sets = vec![
        set(Scope::Global, 443, &["sg-1", "sg-2", "sg-3", "sg-4"]),
        set(Scope::Regional, 443, &["sg-r"]),
    ];
    let mut f = facts(good_origin(), &["sg-1", "sg-2", "sg-3", "sg-r", "sg-open"], &[], sets);
    let world = rule(
        RuleProtocol::Tcp,
        Some((443, 443)),
        RuleSource::Cidr("0.0.0.0/0".parse().unwrap()),
    );
    f.regions
        .get_mut(REGION)
        .unwrap()
        .groups
        .get_mut("sg-open")
        .unwrap()
        .rules = vec![world];
    let findings: Vec<(Check, Status, String)> = audit(&f).distributions[0]
        .findings
        .iter()
        .filter(|x| x.status == Status::Fail)
        .map(|x| (x.check, x.status, x.fix.clone()))
        .collect();
    let fix_of = |check| &findings.iter().find(|x| x.0 == check).unwrap().2;
    assert_eq!(
        fix_of(Check::SyncedSet),
        "detach sg-open (open to the world, nothing else) and attach sg-4 to the load balancer"
    );
    assert!(
        fix_of(Check::OpenToWorld).ends_with("sg-open hold nothing else: detach them from the load balancer"),
        "{}",
        fix_of(Check::OpenToWorld)
    );
}

/// A file whose GLOBAL ranges are `global` (and no regional one).
fn file_of(global: &[&str]) -> Selection {
    Selection {
        sync_token: 1_765_000_000,
        create_date: None,
        ranges: BTreeMap::from([
            (Scope::Global, global.iter().map(|c| c.parse().unwrap()).collect()),
            (Scope::Regional, BTreeSet::new()),
        ]),
    }
}

#[test]
fn a_set_carried_whole_that_lacks_ranges_of_the_file_published_now_fails_as_stale_naming_some() {
    // Every group of the clean world holds 13.32.0.0/15 of ours on 80 and 443.
    let mut f = clean();
    f.file = Some(file_of(&["13.32.0.0/16", "13.33.128.0/17"]));
    assert_eq!(
        statuses(&f, Check::SyncedSet),
        [Status::Pass],
        "covered, however aggregated"
    );
    f.file = Some(file_of(&[
        "13.32.0.0/16",
        "99.84.0.0/16",
        "99.86.0.0/16",
        "52.46.0.0/18",
        "3.160.0.0/14",
    ]));
    let sets = verdicts(&f, Check::SyncedSet);
    assert_eq!(sets.len(), 2, "{sets:?}");
    assert_verdict(
        &sets[0],
        Status::Fail,
        "carries the complete cloudfront_g set for port 443, but its groups lack 4 of the 5 ranges of the file \
         published now (syncToken 1765000000), e.g. 3.160.0.0/14, 52.46.0.0/18, 99.84.0.0/16",
    );
    assert_verdict(&sets[1], Status::Pass, "the complete cloudfront_r set");
}

#[test]
fn a_set_whose_groups_reference_a_prefix_list_is_not_held_to_the_file() {
    let list = rule(
        RuleProtocol::Tcp,
        Some((443, 443)),
        RuleSource::PrefixList("pl-ours".to_owned()),
    );
    let sets = vec![set(Scope::Global, 443, &["sg-g1"])];
    let mut f = facts(good_origin(), &["sg-g1"], &[list], sets);
    f.file = Some(file_of(&["99.84.0.0/16"]));
    assert_eq!(statuses(&f, Check::SyncedSet), [Status::Pass]);
}
