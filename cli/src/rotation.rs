//! The rotation function (`cloudfront-sg-sync-rotate`): Secrets Manager invokes it with one step of its rotation
//! protocol; it runs [`sync::rotate`] over Secrets Manager, CloudFront, ELBv2 and WAFv2. Its own binary and zip:
//! the sync function's zip holds none of these SDKs.

use aws_config::SdkConfig;
use cloudfront_sg_sync::adapters::aws::{loader, shared_config};
use cloudfront_sg_sync::config::Config;
use cloudfront_sg_sync::deadline::Budget;
use cloudfront_sg_sync::domain::origin_side::Secret;
use cloudfront_sg_sync::domain::rotation::value_from;
use cloudfront_sg_sync::handler::{Diagnostic, Function, LambdaEvent, deadline_of};
use cloudfront_sg_sync::sync::{self, RotationPlan, RotationPorts, RotationRequest, StepReport};
use cloudfront_sg_sync::{Error, Result};
use serde_json::Value;

use crate::adapters::cloudfront::CloudFrontDistributions;
use crate::adapters::load_balancers::ElbLoadBalancers;
use crate::adapters::secrets::SecretsManager;

/// What the rotation function keeps between invocations: its settings and clients.
pub struct RotationFunction {
    config: Config,
    store: SecretsManager,
    senders: CloudFrontDistributions,
    checks: ElbLoadBalancers,
}

impl RotationFunction {
    /// Read the settings and build the clients.
    pub async fn from_env() -> Result<RotationFunction> {
        let config = Config::from_env()?;
        let shared = shared_config(&config, loader()).await;
        Ok(RotationFunction::with_shared(config, &shared))
    }

    /// The function of `config`, its clients from `shared`.
    pub fn with_shared(config: Config, shared: &SdkConfig) -> RotationFunction {
        RotationFunction {
            store: SecretsManager::from_shared(shared),
            senders: CloudFrontDistributions::from_shared(shared),
            checks: ElbLoadBalancers::from_shared(&config, shared),
            config,
        }
    }

    /// Run one step of `request`, within the time before `deadline` (less `DEADLINE_MARGIN_SECONDS`).
    pub async fn handle(
        &self,
        request: &RotationRequest,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<StepReport> {
        let ports = RotationPorts {
            store: &self.store,
            senders: &self.senders,
            checks: &self.checks,
        };
        let budget = Budget::new(deadline, self.config.deadline_margin);
        sync::rotate(&self.config, &ports, request, budget, fresh_value).await
    }
}

impl RotationFunction {
    /// What rotating `secret` would change, read now.
    pub async fn plan(&self, secret: &str) -> Result<RotationPlan> {
        sync::plan_rotation(&self.config, &self.ports(), secret).await
    }

    /// Rotate `secret` now, the four steps at once, with no deadline.
    pub async fn rotate_now(&self, secret: &str) -> Result<Vec<StepReport>> {
        let token = new_token()?;
        sync::rotate_now(
            &self.config,
            &self.ports(),
            (secret, &token),
            Budget::unbounded(),
            fresh_value,
        )
        .await
    }

    fn ports(&self) -> RotationPorts<'_, SecretsManager, CloudFrontDistributions, ElbLoadBalancers> {
        RotationPorts {
            store: &self.store,
            senders: &self.senders,
            checks: &self.checks,
        }
    }
}

/// What the CLI's rotation answers: a plan, or what each step did.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Rotated {
    /// What would change.
    Plan(RotationPlan),
    /// What each step did.
    Steps(Vec<StepReport>),
}

impl std::fmt::Display for Rotated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rotated::Plan(plan) => {
                let none = |list: &[String]| match list.is_empty() {
                    true => "none".to_owned(),
                    false => list.join(", "),
                };
                writeln!(f, "rotation of secret {} (header {}): plan", plan.secret, plan.header)?;
                writeln!(f, "tagged distributions: {}", none(&plan.distributions))?;
                writeln!(f, "listener rules that check the current value: {}", none(&plan.rules))?;
                writeln!(f, "web ACLs that check it: {}", none(&plan.web_acls))?;
                writeln!(f, "nothing changed: --apply rotates it")
            }
            Rotated::Steps(steps) => steps.iter().try_for_each(|s| writeln!(f, "{}", step_line(s))),
        }
    }
}

/// What one step did, in a line.
fn step_line(s: &StepReport) -> String {
    match s.step {
        "createSecret" => format!(
            "createSecret: a new value stored as the pending version of {}",
            s.secret
        ),
        "setSecret" => format!(
            "setSecret: {} rule(s) and {} web ACL(s) accept both values; after {} s, {} of {} tagged distribution(s) send the new one",
            s.rules_changed, s.web_acls_changed, s.waited_s, s.distributions_updated, s.distributions
        ),
        "testSecret" => format!(
            "testSecret: {} tagged distribution(s) deployed with the new value",
            s.distributions
        ),
        _ => format!(
            "finishSecret: the new value is current; {} rule(s) and {} web ACL(s) accept only it",
            s.rules_changed, s.web_acls_changed
        ),
    }
}

/// A new version id (a random UUID, as Secrets Manager's tokens are).
pub fn new_token() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).map_err(|e| Error::RotationRefused {
        secret: "(new version)".to_owned(),
        reason: format!("no random bytes from the operating system: {e}"),
    })?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

impl Function for RotationFunction {
    type Answer = StepReport;

    async fn answer(&self, event: LambdaEvent<Value>) -> std::result::Result<StepReport, Diagnostic> {
        let deadline = deadline_of(event.context.deadline);
        let request = serde_json::from_value::<RotationRequest>(event.payload).map_err(|e| Error::RotationRefused {
            secret: "(none)".to_owned(),
            reason: format!(
                "the event is not Secrets Manager's rotation request (SecretId, ClientRequestToken, Step): {e}"
            ),
        });
        let answered = match request {
            Ok(request) => self.handle(&request, deadline).await,
            Err(e) => Err(e),
        };
        answered.map_err(|e| {
            tracing::error!(error_type = e.kind(), error = %e, "rotation step failed");
            Diagnostic::from(e)
        })
    }
}

/// A new value from the operating system's CSPRNG.
pub fn fresh_value() -> Result<Secret> {
    loop {
        let mut bytes = [0u8; 128];
        getrandom::getrandom(&mut bytes).map_err(|e| Error::RotationRefused {
            secret: "(new value)".to_owned(),
            reason: format!("no random bytes from the operating system: {e}"),
        })?;
        if let Some(value) = value_from(&bytes) {
            return Ok(value);
        }
    }
}
