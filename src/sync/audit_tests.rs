//! The audit's wiring on in-memory ports: what it reads, and what stops it.

use std::collections::BTreeMap;

use super::audit;
use crate::config::Config;
use crate::domain::audit::{Check, CustomOrigin, Distribution, LoadBalancer, Origin, OriginKind, Status};
use crate::domain::ip_ranges::Scope;
use crate::domain::origin_side::{Listener, WebAcl};
use crate::domain::security_groups::{Rule, RuleProtocol, RuleSource};
use crate::error::{Error, Result};
use crate::ports::{Distributions, LoadBalancers};
use crate::testing::{FakeEc2, Op};

const WEB_DNS: &str = "web-1.us-east-1.elb.amazonaws.com";

/// CloudFront with these distributions.
struct FakeCloudFront(Vec<Distribution>);

impl Distributions for FakeCloudFront {
    async fn distributions(&self) -> Result<Vec<Distribution>> {
        Ok(self.0.clone())
    }
}

/// ELBv2 with these load balancers per region; a region missing answers `AccessDenied`.
struct FakeElb(BTreeMap<String, Vec<LoadBalancer>>);

impl LoadBalancers for FakeElb {
    async fn load_balancers(&self, region: &str) -> Result<Vec<LoadBalancer>> {
        self.0.get(region).cloned().ok_or_else(|| Error::Audit {
            service: "ELBv2",
            operation: "DescribeLoadBalancers",
            region: region.to_owned(),
            code: "AccessDenied".to_owned(),
            message: "denied".to_owned(),
        })
    }

    async fn listeners(&self, _region: &str, _arn: &str) -> Result<Vec<Listener>> {
        Ok(Vec::new())
    }

    async fn web_acl(&self, _region: &str, _arn: &str) -> Result<Option<WebAcl>> {
        Ok(None)
    }
}

fn distribution(domain: &str) -> Distribution {
    Distribution {
        id: "E1".to_owned(),
        domain_name: "d1.cloudfront.net".to_owned(),
        origins: vec![Origin {
            id: "web".to_owned(),
            domain_name: domain.to_owned(),
            kind: OriginKind::Custom(CustomOrigin {
                protocol_policy: "https-only".to_owned(),
                http_port: 80,
                https_port: 443,
                ssl_protocols: vec!["TLSv1.2".to_owned()],
                mutual_tls: false,
                ip_address_type: None,
            }),
            access_control: None,
            headers: Vec::new(),
        }],
    }
}

fn elb(groups: &[&str]) -> FakeElb {
    let lb = LoadBalancer {
        name: "web".to_owned(),
        dns_name: WEB_DNS.to_owned(),
        kind: "application".to_owned(),
        vpc: "vpc-1".to_owned(),
        security_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        ip_address_type: "ipv4".to_owned(),
        arn: "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/app/web/1".to_owned(),
        listeners: Vec::new(),
        web_acl: None,
    };
    FakeElb(BTreeMap::from([("us-east-1".to_owned(), vec![lb])]))
}

/// Three groups of a cloudfront_g set on 443 in vpc-1, us-east-1.
fn ec2() -> FakeEc2 {
    let ec2 = FakeEc2::default();
    for id in ["sg-1", "sg-2", "sg-3"] {
        ec2.add_set_group(id, "vpc-1", Scope::Global);
    }
    ec2
}

fn config() -> Config {
    Config::from_pairs(&[("AWS_REGION", "us-east-1")]).unwrap()
}

/// The (status, why) of `check` in the only distribution.
fn found(report: &crate::domain::audit::AuditReport, check: Check) -> Vec<(Status, String)> {
    let findings = report.distributions[0].findings.iter().filter(|f| f.check == check);
    findings.map(|f| (f.status, f.why.clone())).collect()
}

#[tokio::test]
async fn a_load_balancer_origin_is_judged_by_its_groups_rules_and_the_tagged_sets() {
    let ec2 = ec2();
    let world = RuleSource::Cidr("0.0.0.0/0".parse().unwrap());
    let open = Rule {
        protocol: RuleProtocol::Tcp,
        from_port: Some(443),
        to_port: Some(443),
        source: world,
        description: None,
    };
    ec2.add_rules("sg-1", [open]);
    let cloudfront = FakeCloudFront(vec![distribution(WEB_DNS)]);
    let report = audit(&config(), None, &cloudfront, &elb(&["sg-1", "sg-3"]), &ec2)
        .await
        .unwrap();
    let set = found(&report, Check::SyncedSet);
    assert_eq!(set.len(), 1);
    assert!(
        set[0]
            .1
            .contains("carries 2 of the 3 groups of the cloudfront_g set for port 443; missing: sg-2")
    );
    assert_eq!(found(&report, Check::OpenToWorld)[0].0, Status::Fail);
    assert_eq!(ec2.calls_of(Op::OriginGroups).len(), 1);
    assert_eq!(ec2.calls_of(Op::Describe).len(), 1);
}

#[tokio::test]
async fn groups_are_read_only_for_load_balancers_that_are_origins() {
    let ec2 = ec2();
    let cloudfront = FakeCloudFront(vec![distribution("api.example.com")]);
    let report = audit(&config(), None, &cloudfront, &elb(&["sg-1"]), &ec2)
        .await
        .unwrap();
    assert!(ec2.calls_of(Op::OriginGroups).is_empty());
    assert_eq!(found(&report, Check::SyncedSet)[0].0, Status::Warn);
    assert_eq!(report.regions, ["us-east-1"]);
}

#[tokio::test]
async fn a_failed_read_stops_the_audit_with_that_error() {
    let cloudfront = FakeCloudFront(vec![distribution(WEB_DNS)]);
    let e = audit(&config(), None, &cloudfront, &FakeElb(BTreeMap::new()), &ec2())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Audit {
                operation: "DescribeLoadBalancers",
                ..
            }
        ),
        "{e}"
    );
    let ec2 = ec2();
    ec2.fail(Op::OriginGroups, None, "UnauthorizedOperation");
    let e = audit(&config(), None, &cloudfront, &elb(&["sg-1"]), &ec2)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("UnauthorizedOperation"), "{e}");
}
