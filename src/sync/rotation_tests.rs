//! The rotation's steps on in-memory ports: what moto cannot show (a distribution still deploying), on a paused
//! clock.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::rotation::{RotationPorts, RotationRequest, rotate};
use crate::config::Config;
use crate::deadline::Budget;
use crate::domain::origin_side::Secret;
use crate::domain::rotation::OriginSecret;
use crate::error::{Error, Result};
use crate::ports::{
    HeaderRule, SecretChecks, SecretDistribution, SecretSenders, SecretStore, SecretVersions, SendingOrigin,
};

/// One secret: versions `old` (current) and `new` (pending), each with its value.
struct Store(Mutex<BTreeMap<String, (Vec<String>, String)>>);

impl Store {
    fn new() -> Store {
        let value =
            |v: &str| OriginSecret::parse(&format!(r#"{{"header": "X-Origin-Verify", "value": "{v}"}}"#)).unwrap();
        Store(Mutex::new(BTreeMap::from([
            (
                "old".to_owned(),
                (
                    vec!["AWSCURRENT".to_owned()],
                    value("old-value-of-the-secret").to_stored(),
                ),
            ),
            (
                "new".to_owned(),
                (
                    vec!["AWSPENDING".to_owned()],
                    value("new-value-of-the-secret").to_stored(),
                ),
            ),
        ])))
    }
}

impl SecretStore for Store {
    async fn describe(&self, _id: &str) -> Result<SecretVersions> {
        let versions = self.0.lock().unwrap();
        Ok(SecretVersions {
            arn: "arn:aws:secretsmanager:us-east-1:111111111111:secret:origin-AbCdEf".to_owned(),
            name: "origin".to_owned(),
            rotation_enabled: true,
            stages: versions
                .iter()
                .map(|(id, (stages, _))| (id.clone(), stages.clone()))
                .collect(),
        })
    }

    async fn value(&self, _id: &str, version: &str) -> Result<Option<String>> {
        // An empty value: a version Secrets Manager made for the rotation, holding nothing yet.
        let versions = self.0.lock().unwrap();
        Ok(versions.get(version).map(|(_, v)| v.clone()).filter(|v| !v.is_empty()))
    }

    async fn put_pending(&self, _id: &str, version: &str, value: &OriginSecret) -> Result<()> {
        let pending = (vec!["AWSPENDING".to_owned()], value.to_stored());
        self.0.lock().unwrap().insert(version.to_owned(), pending);
        Ok(())
    }

    async fn make_current(&self, _id: &str, _version: &str, _from: &str) -> Result<()> {
        Ok(())
    }
}

/// One distribution sending the new value, `InProgress` for its first `looks` reads, then `Deployed`.
struct Deploying {
    looks: Mutex<usize>,
}

impl SecretSenders for Deploying {
    async fn tagged(&self, _names: &[&str], _header: &str) -> Result<Vec<SecretDistribution>> {
        let mut looks = self.looks.lock().unwrap();
        let status = if *looks == 0 { "Deployed" } else { "InProgress" };
        *looks = looks.saturating_sub(1);
        Ok(vec![SecretDistribution {
            id: "E1".to_owned(),
            status: status.to_owned(),
            origins: vec![SendingOrigin {
                domain_name: "web.example.com".to_owned(),
                value: Secret::new("new-value-of-the-secret"),
            }],
        }])
    }

    async fn send(&self, _id: &str, _header: &str, _from: &Secret, _to: &Secret) -> Result<bool> {
        Ok(false)
    }
}

/// No load balancer at all.
struct NoChecks;

impl SecretChecks for NoChecks {
    async fn named_load_balancers(&self, _region: &str) -> Result<Vec<(String, String)>> {
        Ok(Vec::new())
    }

    async fn header_rules(&self, _region: &str, _arn: &str, _header: &str) -> Result<Vec<HeaderRule>> {
        Ok(Vec::new())
    }

    async fn set_rule_values(&self, _region: &str, _rule: &str, _header: &str, _values: &[Secret]) -> Result<()> {
        Ok(())
    }

    async fn acl_checking(&self, _: &str, _: &str, _: &str, _: &Secret) -> Result<Option<String>> {
        Ok(None)
    }

    async fn accept_in_acl(&self, _: &str, _: &str, _: &str, _: (&Secret, &Secret), _: bool) -> Result<bool> {
        Ok(false)
    }
}

/// Secrets Manager's request of `step` on the pending version.
fn request(step: &str) -> RotationRequest {
    RotationRequest {
        secret_id: "origin".to_owned(),
        token: "new".to_owned(),
        step: step.to_owned(),
    }
}

async fn test_step(looks: usize, deadline: Instant) -> (Result<()>, Duration) {
    let config = Config::from_pairs(&[("AWS_REGION", "us-east-1"), ("DEADLINE_MARGIN_SECONDS", "10")]).unwrap();
    let (store, senders) = (
        Store::new(),
        Deploying {
            looks: Mutex::new(looks),
        },
    );
    let ports = RotationPorts {
        store: &store,
        senders: &senders,
        checks: &NoChecks,
    };
    let request = request("testSecret");
    let started = Instant::now();
    let budget = Budget::new(Some(deadline), config.deadline_margin);
    let unused = || Err(Error::NoCredentials);
    let done = rotate(&config, &ports, &request, budget, unused).await.map(|_| ());
    (done, started.elapsed())
}

#[tokio::test(start_paused = true)]
async fn test_secret_waits_for_a_distribution_still_deploying_and_fails_naming_it_at_the_deadline() {
    // Deployed at the third look: 5 s, then 10 s of pauses.
    let (done, waited) = test_step(2, Instant::now() + Duration::from_secs(300)).await;
    assert!(done.is_ok(), "{done:?}");
    assert_eq!(waited, Duration::from_secs(15));

    // Never deployed before the deadline (60 s, less the 10 s margin): pauses of 5, 10 and 20 s, then a fail
    // naming the distribution and its status; Secrets Manager retries the step.
    let (done, waited) = test_step(100, Instant::now() + Duration::from_secs(60)).await;
    let error = done.unwrap_err();
    assert_eq!(error.kind(), "RotationNotDeployed");
    assert_eq!(
        error.to_string(),
        "distributions not deployed with the pending value yet: E1 (InProgress); the step is retried"
    );
    assert_eq!(waited, Duration::from_secs(35));
}

#[tokio::test]
async fn create_secret_fills_an_empty_pending_version_as_aws_leaves_it_and_keeps_the_header() {
    let config = Config::from_pairs(&[("AWS_REGION", "us-east-1")]).unwrap();
    let store = Store::new();
    store.0.lock().unwrap().get_mut("new").unwrap().1 = String::new();
    let senders = Deploying { looks: Mutex::new(0) };
    let ports = RotationPorts {
        store: &store,
        senders: &senders,
        checks: &NoChecks,
    };
    let request = request("createSecret");
    let fresh = || Ok(Secret::new("a-fresh-value-from-the-csprng-0123456789"));
    let report = rotate(&config, &ports, &request, Budget::unbounded(), fresh)
        .await
        .unwrap();
    assert!(report.created);
    let stored = store.0.lock().unwrap().get("new").unwrap().1.clone();
    let pending = OriginSecret::parse(&stored).unwrap();
    assert_eq!(pending.header, "X-Origin-Verify");
    assert!(
        pending
            .value
            .equals(&Secret::new("a-fresh-value-from-the-csprng-0123456789"))
    );
}
