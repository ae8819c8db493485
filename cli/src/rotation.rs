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
use cloudfront_sg_sync::sync::{self, RotationPorts, RotationRequest, StepReport};
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
