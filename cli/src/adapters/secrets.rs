//! [`SecretStore`] over `aws-sdk-secretsmanager`: DescribeSecret, GetSecretValue, PutSecretValue and
//! UpdateSecretVersionStage, on one secret. Values pass through, never into a log or an error.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use cloudfront_sg_sync::adapters::aws::service_error;
use cloudfront_sg_sync::domain::rotation::OriginSecret;
use cloudfront_sg_sync::ports::{PENDING, SecretStore, SecretVersions};
use cloudfront_sg_sync::{Error, Result};

/// Secrets Manager in the function's region.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: Client,
}

impl SecretsManager {
    /// A client from `shared` (its region, credentials, endpoint, retries and timeouts).
    pub fn from_shared(shared: &SdkConfig) -> SecretsManager {
        SecretsManager {
            client: Client::new(shared),
        }
    }
}

/// A Secrets Manager call that failed.
fn failed<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
) -> impl FnOnce(SdkError<E>) -> Error {
    move |e| {
        service_error(&e, |code, message| Error::RotationCall {
            service: "SecretsManager",
            operation,
            code,
            message,
        })
    }
}

impl SecretStore for SecretsManager {
    async fn describe(&self, id: &str) -> Result<SecretVersions> {
        let out = (self.client.describe_secret().secret_id(id).send().await).map_err(failed("DescribeSecret"))?;
        let stages = (out.version_ids_to_stages().into_iter().flatten())
            .map(|(version, stages)| (version.clone(), stages.clone()))
            .collect::<BTreeMap<_, _>>();
        Ok(SecretVersions {
            arn: out.arn().unwrap_or_default().to_owned(),
            name: out.name().unwrap_or_default().to_owned(),
            rotation_enabled: out.rotation_enabled().unwrap_or(false),
            stages,
        })
    }

    async fn value(&self, id: &str, version: &str) -> Result<Option<String>> {
        match self
            .client
            .get_secret_value()
            .secret_id(id)
            .version_id(version)
            .send()
            .await
        {
            Ok(out) => Ok(out.secret_string().map(str::to_owned)),
            // A version Secrets Manager made for a rotation holds no value until one is put there.
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(failed("GetSecretValue")(e)),
        }
    }

    async fn put_pending(&self, id: &str, version: &str, value: &OriginSecret) -> Result<()> {
        let put = (self
            .client
            .put_secret_value()
            .secret_id(id)
            .client_request_token(version))
        .secret_string(value.to_stored())
        .version_stages(PENDING);
        put.send().await.map_err(failed("PutSecretValue"))?;
        Ok(())
    }

    async fn make_current(&self, id: &str, version: &str, from: &str) -> Result<()> {
        let update = (self
            .client
            .update_secret_version_stage()
            .secret_id(id)
            .version_stage("AWSCURRENT"))
        .move_to_version_id(version)
        .remove_from_version_id(from);
        update.send().await.map_err(failed("UpdateSecretVersionStage"))?;
        Ok(())
    }
}
