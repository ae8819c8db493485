//! [`Distributions`] over `aws-sdk-cloudfront`: ListDistributions, every page. A custom header's value is judged
//! here ([`secret_like`]) and kept as a [`Secret`]: compared with what the origin requires, never shown.

use aws_config::SdkConfig;
use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudfront::types::{DistributionConfig, DistributionSummary, Origin as SdkOrigin};
use cloudfront_sg_sync::adapters::aws::service_error;
use cloudfront_sg_sync::domain::audit::{CustomHeader, CustomOrigin, Distribution, Origin, OriginKind, secret_like};
use cloudfront_sg_sync::domain::origin_side::Secret;
use cloudfront_sg_sync::domain::rotation::ORIGIN_SECRET_TAG;
use cloudfront_sg_sync::ports::{Distributions, SecretDistribution, SecretSenders, SendingOrigin};
use cloudfront_sg_sync::{Error, Result};
use futures::stream::{self, StreamExt, TryStreamExt};

/// CloudFront's API is global, served from us-east-1.
const CLOUDFRONT_REGION: &str = "us-east-1";

/// The account's distributions, through CloudFront's API.
#[derive(Debug, Clone)]
pub struct CloudFrontDistributions {
    client: Client,
}

impl CloudFrontDistributions {
    /// A client from `shared` (its credentials, endpoint, retry and timeout settings), in us-east-1.
    pub fn from_shared(shared: &SdkConfig) -> CloudFrontDistributions {
        let config = aws_sdk_cloudfront::config::Builder::from(shared)
            .region(aws_config::Region::new(CLOUDFRONT_REGION))
            .build();
        CloudFrontDistributions {
            client: Client::from_conf(config),
        }
    }
}

impl CloudFrontDistributions {
    /// Over `client` as it is (tests: a client answered by mocks).
    pub fn from_client(client: Client) -> CloudFrontDistributions {
        CloudFrontDistributions { client }
    }
}

impl Distributions for CloudFrontDistributions {
    async fn distributions(&self) -> Result<Vec<Distribution>> {
        let pages = self
            .client
            .list_distributions()
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| {
                service_error(&e, |code, message| Error::Audit {
                    service: "CloudFront",
                    operation: "ListDistributions",
                    region: CLOUDFRONT_REGION.to_owned(),
                    code,
                    message,
                })
            })?;
        let summaries = pages.iter().filter_map(|page| page.distribution_list());
        Ok(summaries.flat_map(|list| list.items()).map(distribution_of).collect())
    }
}

fn distribution_of(summary: &DistributionSummary) -> Distribution {
    Distribution {
        id: summary.id().to_owned(),
        domain_name: summary.domain_name().to_owned(),
        origins: summary
            .origins()
            .map(|o| o.items().iter().map(origin_of).collect())
            .unwrap_or_default(),
    }
}

/// An origin as the audit sees it. CloudFront gives every origin exactly one of a VPC, an S3 or a custom
/// config; one with none (seen from emulators) is an S3 origin when its domain is a bucket's, else a custom one
/// whose protocol policy is unknown.
pub fn origin_of(origin: &SdkOrigin) -> Origin {
    let domain = origin.domain_name();
    let kind = if let Some(vpc) = origin.vpc_origin_config() {
        OriginKind::Vpc {
            id: vpc.vpc_origin_id().to_owned(),
        }
    } else if let Some(custom) = origin.custom_origin_config() {
        OriginKind::Custom(CustomOrigin {
            protocol_policy: custom.origin_protocol_policy().as_str().to_owned(),
            http_port: port(custom.http_port()),
            https_port: port(custom.https_port()),
            ssl_protocols: custom
                .origin_ssl_protocols()
                .map(|p| p.items().iter().map(|v| v.as_str().to_owned()).collect())
                .unwrap_or_default(),
            mutual_tls: custom.origin_mtls_config().is_some(),
            ip_address_type: custom.ip_address_type().map(|t| t.as_str().to_owned()),
        })
    } else if let Some(s3) = origin.s3_origin_config() {
        OriginKind::S3 {
            access_identity: Some(s3.origin_access_identity())
                .filter(|i| !i.is_empty())
                .map(str::to_owned),
        }
    } else if domain.contains(".s3.") {
        OriginKind::S3 { access_identity: None }
    } else {
        tracing::warn!(origin = origin.id(), domain, "CloudFront reported no origin config");
        OriginKind::Custom(CustomOrigin {
            protocol_policy: "unknown".to_owned(),
            http_port: 80,
            https_port: 443,
            ssl_protocols: Vec::new(),
            mutual_tls: false,
            ip_address_type: None,
        })
    };
    Origin {
        id: origin.id().to_owned(),
        domain_name: domain.to_owned(),
        kind,
        access_control: origin
            .origin_access_control_id()
            .filter(|id| !id.is_empty())
            .map(str::to_owned),
        headers: origin
            .custom_headers()
            .map(|h| h.items())
            .unwrap_or_default()
            .iter()
            .map(|h| CustomHeader {
                name: h.header_name().to_owned(),
                secret_like: secret_like(h.header_name(), h.header_value()),
                value: Secret::new(h.header_value()),
            })
            .collect(),
    }
}

fn port(value: i32) -> u16 {
    u16::try_from(value).unwrap_or_default()
}

/// A CloudFront call of the rotation that failed.
fn rotation_failed<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
) -> impl FnOnce(SdkError<E>) -> Error {
    move |e| {
        service_error(&e, |code, message| Error::RotationCall {
            service: "CloudFront",
            operation,
            code,
            message,
        })
    }
}

/// The custom origins of `config` that send `header`, each with the value it sends.
fn sending(config: &DistributionConfig, header: &str) -> Vec<SendingOrigin> {
    let origins = config.origins().map(|o| o.items()).unwrap_or_default();
    (origins.iter().filter(|o| o.custom_origin_config().is_some()))
        .flat_map(|o| {
            let headers = o.custom_headers().map(|h| h.items()).unwrap_or_default();
            (headers.iter().filter(|h| h.header_name().eq_ignore_ascii_case(header))).map(|h| SendingOrigin {
                domain_name: o.domain_name().to_owned(),
                value: Secret::new(h.header_value()),
            })
        })
        .collect()
}

impl CloudFrontDistributions {
    /// Whether distribution `arn` is tagged for the secret (`names`: its name or ARN).
    async fn tagged_for(&self, arn: &str, names: &[&str]) -> Result<bool> {
        let tags = (self.client.list_tags_for_resource().resource(arn).send().await)
            .map_err(rotation_failed("ListTagsForResource"))?;
        let items = tags.tags().map(|t| t.items()).unwrap_or_default();
        Ok(items
            .iter()
            .any(|t| t.key() == ORIGIN_SECRET_TAG && t.value().is_some_and(|v| names.contains(&v))))
    }
}

/// How many distributions' tags and configurations are read at once (CloudFront throttles its API per account).
const READS_AT_ONCE: usize = 10;

impl CloudFrontDistributions {
    /// Distribution `id` as read now, with its custom origins that send `header`.
    async fn sending(&self, id: &str, header: &str) -> Result<Option<SecretDistribution>> {
        let read = (self.client.get_distribution().id(id).send().await).map_err(rotation_failed("GetDistribution"))?;
        Ok(read.distribution().map(|d| SecretDistribution {
            id: d.id().to_owned(),
            status: d.status().to_owned(),
            origins: d.distribution_config().map(|c| sending(c, header)).unwrap_or_default(),
        }))
    }
}

impl SecretSenders for CloudFrontDistributions {
    async fn tagged(&self, names: &[&str], header: &str) -> Result<Vec<SecretDistribution>> {
        let pages = (self
            .client
            .list_distributions()
            .into_paginator()
            .send()
            .try_collect()
            .await)
            .map_err(rotation_failed("ListDistributions"))?;
        let summaries: Vec<(String, String)> = (pages.iter().filter_map(|p| p.distribution_list()))
            .flat_map(|l| l.items())
            .map(|d| (d.arn().to_owned(), d.id().to_owned()))
            .collect();
        let found: Vec<Option<SecretDistribution>> = stream::iter(summaries)
            .map(|(arn, id)| async move {
                match self.tagged_for(&arn, names).await? {
                    true => self.sending(&id, header).await,
                    false => Ok(None),
                }
            })
            .buffered(READS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn send(&self, id: &str, header: &str, from: &Secret, to: &Secret) -> Result<bool> {
        // A distribution another writer changed (`PreconditionFailed`) is read again twice; a third is the error.
        let mut attempt = 0;
        loop {
            let read = (self.client.get_distribution_config().id(id).send().await)
                .map_err(rotation_failed("GetDistributionConfig"))?;
            let (Some(mut config), Some(etag)) = (read.distribution_config().cloned(), read.e_tag().map(str::to_owned))
            else {
                return Ok(false);
            };
            let mut changed = false;
            let origins = config.origins.iter_mut().flat_map(|o| o.items.iter_mut());
            for origin in origins.filter(|o| o.custom_origin_config.is_some()) {
                let headers = origin
                    .custom_headers
                    .iter_mut()
                    .flat_map(|h| h.items.iter_mut().flatten());
                for h in headers.filter(|h| h.header_name.eq_ignore_ascii_case(header)) {
                    if Secret::new(h.header_value.as_str()).equals(from) {
                        h.header_value = to.reveal().to_owned();
                        changed = true;
                    }
                }
            }
            if !changed {
                return Ok(false);
            }
            let update = self
                .client
                .update_distribution()
                .id(id)
                .if_match(etag)
                .distribution_config(config);
            match update.send().await {
                // Another writer changed the distribution since it was read: read it again.
                Err(e) if e.code() == Some("PreconditionFailed") && attempt < 2 => attempt += 1,
                Err(e) => return Err(rotation_failed("UpdateDistribution")(e)),
                Ok(_) => return Ok(true),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudfront::types::{
        CustomHeaders, CustomOriginConfig, OriginCustomHeader, OriginMtlsConfig, OriginProtocolPolicy,
        OriginSslProtocols, S3OriginConfig, SslProtocol, VpcOriginConfig,
    };

    use super::*;

    fn base(id: &str, domain: &str) -> aws_sdk_cloudfront::types::builders::OriginBuilder {
        SdkOrigin::builder().id(id).domain_name(domain)
    }

    #[test]
    fn each_kind_of_origin_is_read_with_what_protects_it() {
        let s3 = base("s3", "b.s3.us-east-1.amazonaws.com")
            .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
            .origin_access_control_id("E2OAC")
            .build()
            .unwrap();
        let read = origin_of(&s3);
        assert_eq!(read.kind, OriginKind::S3 { access_identity: None });
        assert_eq!(read.access_control.as_deref(), Some("E2OAC"));

        let oai = base("oai", "b.s3.us-east-1.amazonaws.com")
            .s3_origin_config(
                S3OriginConfig::builder()
                    .origin_access_identity("origin-access-identity/cloudfront/E3")
                    .build(),
            )
            .origin_access_control_id("")
            .build()
            .unwrap();
        let read = origin_of(&oai);
        let identity = Some("origin-access-identity/cloudfront/E3".to_owned());
        assert_eq!(
            read.kind,
            OriginKind::S3 {
                access_identity: identity
            }
        );
        assert_eq!(read.access_control, None);

        let vpc = base("vpc", "internal.example")
            .vpc_origin_config(VpcOriginConfig::builder().vpc_origin_id("vo_1").build().unwrap())
            .build()
            .unwrap();
        assert_eq!(origin_of(&vpc).kind, OriginKind::Vpc { id: "vo_1".to_owned() });
    }

    #[test]
    fn a_custom_origin_keeps_its_policy_ports_tls_mtls_and_ip_address_type_and_its_header_value_unshown() {
        let custom = CustomOriginConfig::builder()
            .ip_address_type(aws_sdk_cloudfront::types::IpAddressType::DualStack)
            .http_port(8080)
            .https_port(8443)
            .origin_protocol_policy(OriginProtocolPolicy::MatchViewer)
            .origin_ssl_protocols(
                OriginSslProtocols::builder()
                    .quantity(2)
                    .items(SslProtocol::TlSv11)
                    .items(SslProtocol::TlSv12)
                    .build()
                    .unwrap(),
            )
            .origin_mtls_config(
                OriginMtlsConfig::builder()
                    .client_certificate_arn("arn:aws:acm:us-east-1:1:certificate/x")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let header = OriginCustomHeader::builder()
            .header_name("X-Origin-Verify")
            .header_value("9f86d081884c7d659a2feaa0c55ad015")
            .build()
            .unwrap();
        let origin = base("alb", "web.example.com")
            .custom_origin_config(custom)
            .custom_headers(CustomHeaders::builder().quantity(1).items(header).build().unwrap())
            .build()
            .unwrap();
        let read = origin_of(&origin);
        let expected = CustomOrigin {
            protocol_policy: "match-viewer".to_owned(),
            http_port: 8080,
            https_port: 8443,
            ssl_protocols: vec!["TLSv1.1".to_owned(), "TLSv1.2".to_owned()],
            mutual_tls: true,
            ip_address_type: Some("dualstack".to_owned()),
        };
        assert_eq!(read.kind, OriginKind::Custom(expected));
        let headers = vec![CustomHeader {
            name: "X-Origin-Verify".to_owned(),
            secret_like: true,
            value: Secret::new("9f86d081884c7d659a2feaa0c55ad015"),
        }];
        assert_eq!(read.headers, headers, "the value kept, to compare with the origin's");
        assert!(!format!("{read:?}").contains("9f86d081"), "never shown");
    }

    /// A client answered by `rules`, in order, and nothing else.
    fn answered_by(rules: &[&aws_smithy_mocks::Rule]) -> Client {
        let mut answers =
            aws_smithy_mocks::MockResponseInterceptor::new().rule_mode(aws_smithy_mocks::RuleMode::Sequential);
        for rule in rules {
            answers = answers.with_rule(rule);
        }
        let credentials = aws_credential_types::Credentials::new("AKID", "secret", None, None, "tests");
        let config = aws_sdk_cloudfront::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(answers)
            .build();
        Client::from_conf(config)
    }

    #[tokio::test]
    async fn a_distribution_changed_by_another_writer_is_read_again_and_updated_at_its_new_etag() {
        use aws_sdk_cloudfront::operation::get_distribution_config::GetDistributionConfigOutput;
        use aws_sdk_cloudfront::operation::update_distribution::{UpdateDistributionError, UpdateDistributionOutput};
        use aws_sdk_cloudfront::types::error::PreconditionFailed;
        use aws_sdk_cloudfront::types::{DefaultCacheBehavior, Origins};
        use aws_smithy_mocks::mock;

        let header = OriginCustomHeader::builder()
            .header_name("X-Origin-Verify")
            .header_value("old-value")
            .build()
            .unwrap();
        let custom = CustomOriginConfig::builder()
            .http_port(80)
            .https_port(443)
            .origin_protocol_policy(OriginProtocolPolicy::HttpsOnly)
            .build()
            .unwrap();
        let origin = base("web", "web.example.com")
            .custom_origin_config(custom)
            .custom_headers(CustomHeaders::builder().quantity(1).items(header).build().unwrap())
            .build()
            .unwrap();
        let config = DistributionConfig::builder()
            .caller_reference("ref")
            .comment("")
            .enabled(true)
            .origins(Origins::builder().quantity(1).items(origin).build().unwrap())
            .default_cache_behavior(
                DefaultCacheBehavior::builder()
                    .target_origin_id("web")
                    .viewer_protocol_policy(aws_sdk_cloudfront::types::ViewerProtocolPolicy::HttpsOnly)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let read = |etag: &'static str| {
            let config = config.clone();
            mock!(Client::get_distribution_config).then_output(move || {
                GetDistributionConfigOutput::builder()
                    .distribution_config(config.clone())
                    .e_tag(etag)
                    .build()
            })
        };
        let sends_new = |r: &aws_sdk_cloudfront::operation::update_distribution::UpdateDistributionInput| {
            let origins = r
                .distribution_config()
                .and_then(|c| c.origins())
                .map(|o| o.items().to_vec())
                .unwrap_or_default();
            let values: Vec<String> = (origins
                .iter()
                .flat_map(|o| o.custom_headers().map(|h| h.items().to_vec()).unwrap_or_default()))
            .map(|h| h.header_value().to_owned())
            .collect();
            values == ["new-value"]
        };
        let moved = mock!(Client::update_distribution)
            .match_requests(move |r| r.if_match() == Some("E1") && sends_new(r))
            .then_error(|| {
                let meta = aws_smithy_types::error::ErrorMetadata::builder()
                    .code("PreconditionFailed")
                    .build();
                UpdateDistributionError::PreconditionFailed(PreconditionFailed::builder().meta(meta).build())
            });
        let updated = mock!(Client::update_distribution)
            .match_requests(move |r| r.if_match() == Some("E2") && sends_new(r))
            .then_output(|| UpdateDistributionOutput::builder().build());
        let (first, second) = (read("E1"), read("E2"));
        let cloudfront = CloudFrontDistributions::from_client(answered_by(&[&first, &moved, &second, &updated]));
        let (old, new) = (Secret::new("old-value"), Secret::new("new-value"));
        let sent = cloudfront.send("E123", "x-origin-verify", &old, &new).await.unwrap();
        assert!(sent, "updated at the second ETag");
        assert_eq!(
            (
                first.num_calls(),
                moved.num_calls(),
                second.num_calls(),
                updated.num_calls()
            ),
            (1, 1, 1, 1)
        );
    }
}
