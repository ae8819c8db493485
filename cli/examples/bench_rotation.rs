//! The rotation's `setSecret` at scale: 100 tagged distributions over 20 ALBs (one rule each checking the
//! secret) and 5 web ACLs (on 5 of the ALBs), every call answered after 100 ms. In-memory ports that make, per
//! operation, the calls the real adapters make (CloudFront: ListDistributions, ListTagsForResource and
//! GetDistribution per distribution, 10 at once; GetDistributionConfig and UpdateDistribution per update; ELBv2:
//! DescribeLoadBalancers per region, DescribeListeners and DescribeRules per load balancer, DescribeRules and
//! ModifyRule per rule; WAFv2: GetWebACLForResource, then GetWebACL and UpdateWebACL where one is associated).
//! Prints the calls made and the wall time against its floor, as a Markdown row.
//!
//! `cargo run -p cloudfront-sg-sync-cli --example bench_rotation`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cloudfront_sg_sync::config::Config;
use cloudfront_sg_sync::deadline::Budget;
use cloudfront_sg_sync::domain::origin_side::Secret;
use cloudfront_sg_sync::domain::rotation::OriginSecret;
use cloudfront_sg_sync::ports::{
    HeaderRule, SecretChecks, SecretDistribution, SecretSenders, SecretStore, SecretVersions, SendingOrigin,
};
use cloudfront_sg_sync::sync::{self, RotationPorts, RotationRequest};
use cloudfront_sg_sync::{Error, Result};
use futures::stream::{self, StreamExt, TryStreamExt};

const LATENCY: Duration = Duration::from_millis(100);
const DISTRIBUTIONS: usize = 100;
const LOAD_BALANCERS: usize = 20;
const WEB_ACLS: usize = 5;
const OLD: &str = "old-value-of-the-origin-secret-0123456789";
const NEW: &str = "new-value-of-the-origin-secret-0123456789";

/// Every call: counted, answered after [`LATENCY`].
static CALLS: AtomicUsize = AtomicUsize::new(0);

async fn call(n: usize) {
    for _ in 0..n {
        CALLS.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(LATENCY).await;
    }
}

fn secret(value: &str) -> String {
    OriginSecret {
        header: "X-Origin-Verify".to_owned(),
        value: Secret::new(value),
    }
    .to_stored()
}

struct Store;

impl SecretStore for Store {
    async fn describe(&self, _id: &str) -> Result<SecretVersions> {
        call(1).await;
        Ok(SecretVersions {
            arn: "arn:aws:secretsmanager:us-east-1:111111111111:secret:origin-AbCdEf".to_owned(),
            name: "origin".to_owned(),
            rotation_enabled: true,
            stages: [("old", "AWSCURRENT"), ("new", "AWSPENDING")]
                .into_iter()
                .map(|(v, s)| (v.to_owned(), vec![s.to_owned()]))
                .collect(),
        })
    }

    async fn value(&self, _id: &str, version: &str) -> Result<Option<String>> {
        call(1).await;
        Ok(Some(secret(if version == "old" { OLD } else { NEW })))
    }

    async fn put_pending(&self, _: &str, _: &str, _: &OriginSecret) -> Result<()> {
        call(1).await;
        Ok(())
    }

    async fn make_current(&self, _: &str, _: &str, _: &str) -> Result<()> {
        call(1).await;
        Ok(())
    }
}

fn dns(i: usize) -> String {
    format!("alb-{i}.us-east-1.elb.amazonaws.com")
}

struct Senders;

impl SecretSenders for Senders {
    async fn tagged(&self, _names: &[&str], _header: &str) -> Result<Vec<SecretDistribution>> {
        call(1).await;
        // ListTagsForResource and GetDistribution per distribution, 10 at once (as the adapter reads them).
        stream::iter(0..DISTRIBUTIONS)
            .map(|i| async move {
                call(2).await;
                Ok::<_, Error>(SecretDistribution {
                    id: format!("E{i:03}"),
                    status: "Deployed".to_owned(),
                    origins: vec![SendingOrigin {
                        domain_name: dns(i % LOAD_BALANCERS),
                        value: Secret::new(OLD),
                    }],
                })
            })
            .buffered(10)
            .try_collect()
            .await
    }

    async fn send(&self, _: &str, _: &str, _: &Secret, _: &Secret) -> Result<bool> {
        call(2).await;
        Ok(true)
    }
}

struct Checks;

impl SecretChecks for Checks {
    async fn named_load_balancers(&self, _region: &str) -> Result<Vec<(String, String)>> {
        call(1).await;
        Ok((0..LOAD_BALANCERS).map(|i| (dns(i), format!("arn:alb/{i}"))).collect())
    }

    async fn header_rules(&self, _region: &str, arn: &str, _header: &str) -> Result<Vec<HeaderRule>> {
        call(2).await;
        Ok(vec![HeaderRule {
            arn: format!("{arn}/rule"),
            values: vec![Secret::new(OLD)],
        }])
    }

    async fn set_rule_values(&self, _: &str, _: &str, _: &str, _: &[Secret]) -> Result<()> {
        call(2).await;
        Ok(())
    }

    async fn acl_checking(&self, _: &str, _: &str, _: &str, _: &Secret) -> Result<Option<String>> {
        call(1).await;
        Ok(None)
    }

    async fn accept_in_acl(&self, _: &str, arn: &str, _: &str, _: (&Secret, &Secret), _: bool) -> Result<bool> {
        let index: usize = arn.rsplit('/').next().and_then(|i| i.parse().ok()).unwrap_or(0);
        let has_acl = index < WEB_ACLS;
        call(if has_acl { 3 } else { 1 }).await;
        Ok(has_acl)
    }
}

#[tokio::main]
async fn main() {
    let config = Config::from_pairs(&[("AWS_REGION", "us-east-1"), ("ORIGIN_SECRET_PROPAGATION_SECONDS", "0")])
        .unwrap_or_else(|e| panic!("{e}"));
    let ports = RotationPorts {
        store: &Store,
        senders: &Senders,
        checks: &Checks,
    };
    let request = RotationRequest {
        secret_id: "origin".to_owned(),
        token: "new".to_owned(),
        step: "setSecret".to_owned(),
    };
    let started = Instant::now();
    let report = sync::rotate(&config, &ports, &request, Budget::unbounded(), || {
        Err(Error::NoCredentials)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let wall = started.elapsed();
    let bound = config.max_concurrency;
    // The floor: each phase's calls one after another where they must be, the rest at once within the bound.
    let waves = |n: usize| n.div_ceil(bound);
    let floor_calls = 3 // describe, the two values
        + 1 + waves(DISTRIBUTIONS).max(DISTRIBUTIONS.div_ceil(10)) * 2 // list, then tags and reads 10 at once
        + 1 // the load balancers
        + waves(LOAD_BALANCERS) * (2 + 2 + 3) // rules read and written, then the web ACL, per load balancer
        + waves(DISTRIBUTIONS) * 2; // each distribution read and updated
    let floor = LATENCY * u32::try_from(floor_calls).unwrap_or(u32::MAX);
    println!(
        "| setSecret over {DISTRIBUTIONS} distributions, {LOAD_BALANCERS} ALBs, {WEB_ACLS} web ACLs, {} ms a call, MAX_CONCURRENCY {bound}, no propagation wait | {} calls; {} rules, {} web ACLs, {} distributions updated | {:.1} s against a floor of {:.1} s | `cargo run -p cloudfront-sg-sync-cli --example bench_rotation` |",
        LATENCY.as_millis(),
        CALLS.load(Ordering::SeqCst),
        report.rules_changed,
        report.web_acls_changed,
        report.distributions_updated,
        wall.as_secs_f64(),
        floor.as_secs_f64(),
    );
}
