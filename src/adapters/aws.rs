//! What every AWS client of a run starts from: the SDK's loader with one HTTPS client for all, our retry and
//! timeout settings, the retry log, and what a failed call answered ([`service_error`]). Shared by the EC2 and
//! WAF adapters here and the CLI's CloudFront and ELBv2 adapters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ec2::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_ec2::config::{ConfigBag, IdentityCache, Intercept, RuntimeComponents, SharedIdentityCache};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::{ConnectorBuilder, tls};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction, RetryClassifierPriority};
use aws_smithy_types::error::ErrorMetadata;

use crate::config::Config;
use crate::error::Error;

/// The items of every page of a paged call, one page after another: `page(token)` asks for the page after
/// `token` (`None`: the first), `next` reads the token of the page after it (none, or empty: that one was the
/// last), `items` takes a page's items. The SDK's own paginators drop a call's `config_override`, which carries
/// an account's credentials.
pub(super) async fn every_page<T, I, F, Fut>(
    mut page: F,
    next: impl Fn(&T) -> Option<&str>,
    mut items: impl FnMut(T) -> Option<Vec<I>>,
) -> Result<Vec<I>, Error>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let this = page(token.take()).await?;
        token = next(&this).filter(|t| !t.is_empty()).map(str::to_owned);
        all.extend(items(this).unwrap_or_default());
        if token.is_none() {
            return Ok(all);
        }
    }
}

/// What every call of an account reached through its role carries: the role's credentials, and the account's
/// own identity cache. (A call whose override brings credentials but no cache gets a cache of its own, for that
/// call only: STS would be asked at every call.)
#[derive(Debug, Clone)]
pub struct AccountCredentials {
    pub(super) provider: SharedCredentialsProvider,
    pub(super) cache: SharedIdentityCache,
}

impl AccountCredentials {
    /// `provider`'s credentials, cached until shortly before they expire.
    pub fn new(provider: SharedCredentialsProvider) -> AccountCredentials {
        AccountCredentials {
            provider,
            cache: IdentityCache::lazy().max_partitions(1).build(),
        }
    }
}

/// Logs every retried AWS call (EC2 and WAF alike) and counts them, so throttling shows in the logs and the
/// summary.
#[derive(Debug)]
pub(super) struct RetryLog {
    retries: Arc<AtomicU64>,
}

impl RetryLog {
    /// A log whose retries are counted in `retries`.
    pub(super) fn counting(retries: &Arc<AtomicU64>) -> RetryLog {
        RetryLog {
            retries: retries.clone(),
        }
    }
}

impl Intercept for RetryLog {
    fn name(&self) -> &'static str {
        "cloudfront-sg-sync retry log"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let attempt = cfg.load::<RequestAttempts>().map_or(1, RequestAttempts::attempts);
        if attempt > 1 {
            self.retries.fetch_add(1, Ordering::Relaxed);
            let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
            tracing::warn!(
                operation,
                attempt,
                "retrying an AWS call after throttling or a transient error"
            );
        }
        Ok(())
    }
}

/// The loader every client of the function and the CLI starts from: the SDK's defaults (credential chain,
/// endpoint from the environment) with one HTTPS client for them all. Without it each client (one per account,
/// region and service) builds its own: its own TLS setup, which parses every root certificate, and its own
/// connection pool, so no connection to a regional endpoint is reused from one account to the next. (Tests
/// that answer with a mocked HTTP client set theirs.)
pub fn loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client())
}

/// The SDK's default HTTPS client (rustls with aws-lc, a proxy from the environment), made once: its connectors
/// (one per timeout setting) and their connection pools are shared by every client configured with it.
fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let rustls = tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc);
        let mut connector = ConnectorBuilder::default().tls_provider(rustls);
        connector.set_connector_settings(settings.cloned());
        connector.set_sleep_impl(components.and_then(RuntimeComponents::sleep_impl));
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// The SDK configuration every client starts from: `loader`'s credentials and endpoint, in the first configured
/// region, with our retry and timeout settings (STS too, for an account's role).
pub async fn shared_config(config: &Config, loader: aws_config::ConfigLoader) -> SdkConfig {
    let first = config.regions.first().cloned().unwrap_or_else(|| "us-east-1".into());
    loader
        .region(aws_config::Region::new(first))
        .retry_config(retry_config(config))
        .timeout_config(timeout_config())
        .load()
        .await
}

/// No retry when retrying cannot help: the endpoint refused the connection (nothing listens there: a wrong
/// `AWS_ENDPOINT_URL`, a proxy that is down) or its name does not exist (a region name that is not one). The
/// SDK would otherwise retry such a call for tens of seconds, `EC2_MAX_ATTEMPTS` times, before saying why.
/// Every other connection error (reset, timeout, a name server that did not answer) is retried as before.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct NoRetryWhenUnreachable;

impl ClassifyRetry for NoRetryWhenUnreachable {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(error)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        match error.as_connector_error().is_some_and(|e| unreachable(e).is_some()) {
            true => RetryAction::RetryForbidden,
            false => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "cloudfront-sg-sync: no retry when the endpoint cannot be reached"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// Why an endpoint is unreachable for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unreachable {
    /// It refused the connection: nothing listens there.
    Refused,
    /// Its name does not exist.
    NoSuchName,
    /// It did not answer in time, at every attempt (retried: it may answer later).
    NoAnswer,
}

impl Unreachable {
    /// What to check, for a person: the endpoint set (`AWS_ENDPOINT_URL`), or else what AWS's own depends on.
    fn hint(self, endpoint: Option<&str>) -> String {
        match (self, endpoint) {
            (Unreachable::Refused, Some(endpoint)) => {
                format!("nothing answers at {endpoint}: is AWS_ENDPOINT_URL right?")
            }
            (Unreachable::Refused, None) => {
                "nothing answers at the endpoint: is AWS_ENDPOINT_URL (or the proxy) right?".to_owned()
            }
            (Unreachable::NoSuchName, Some(endpoint)) => {
                format!("no host has the name of {endpoint}: is AWS_ENDPOINT_URL right?")
            }
            (Unreachable::NoSuchName, None) => {
                "no AWS endpoint has that name: is the region name (REGIONS) right?".to_owned()
            }
            (Unreachable::NoAnswer, Some(endpoint)) => {
                format!("no answer from {endpoint} in time, at every attempt: is AWS_ENDPOINT_URL right?")
            }
            (Unreachable::NoAnswer, None) => {
                "no answer in time, at every attempt: is the network (or HTTPS_PROXY) right?".to_owned()
            }
        }
    }
}

/// Whether a connection error says the endpoint is unreachable for good, and why: refused, or a name that does
/// not exist.
fn unreachable(error: &(dyn std::error::Error + 'static)) -> Option<Unreachable> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        let refused = e.downcast_ref::<std::io::Error>().map(std::io::Error::kind);
        if refused == Some(std::io::ErrorKind::ConnectionRefused) {
            return Some(Unreachable::Refused);
        }
        let text = e.to_string();
        if text.contains("Name or service not known") || text.contains("nodename nor servname provided") {
            return Some(Unreachable::NoSuchName);
        }
        source = e.source();
    }
    None
}

/// Throttling (`RequestLimitExceeded`) and transient errors are retried with exponential backoff and jitter,
/// `EC2_MAX_ATTEMPTS` times in all: the SDK's default of 3 does not converge at 30% throttling.
fn retry_config(config: &Config) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(config.ec2_max_attempts)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(5))
}

/// A dropped or stalled connection fails the attempt (and is retried) instead of hanging the run.
fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(20))
        .build()
}

/// What an AWS service answered a failed call, as `answered(code, message)`: its code and message, or
/// (`Unknown`) the transport error's chain in one line; [`Error::NoCredentials`] when no source had credentials,
/// [`Error::Credentials`] when the call's credentials could not be had otherwise (a role not assumed).
pub fn service_error<E>(error: &SdkError<E>, answered: impl FnOnce(String, String) -> Error) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let Some(code) = error.code() {
        return answered(code.to_owned(), error.message().unwrap_or("").to_owned());
    }
    match credentials_failure(error) {
        Some(Credentials::None) => Error::NoCredentials,
        Some(Credentials::Failed { code, message }) => Error::Credentials { code, message },
        None => answered("Unknown".to_owned(), unanswered(error)),
    }
}

/// What a failed call with no AWS error code said, in one line: an answer that is no AWS answer (an HTML error
/// page: a wrong endpoint, or a region the endpoint does not serve) by its status and the start of its body;
/// an endpoint that cannot be reached or did not answer in time with what to check; anything else (a reset) by
/// its chain of causes.
fn unanswered<E>(error: &SdkError<E>) -> String
where
    E: std::error::Error + 'static,
{
    let Some(response) = error.raw_response() else {
        let chain = one_line(error);
        let timed_out = match error {
            SdkError::TimeoutError(_) => true,
            SdkError::DispatchFailure(failure) => failure.is_timeout(),
            _ => false,
        };
        let why = unreachable(error).or(timed_out.then_some(Unreachable::NoAnswer));
        return match why {
            Some(why) => format!(
                "{chain}: {}",
                why.hint(std::env::var("AWS_ENDPOINT_URL").ok().as_deref())
            ),
            None => chain,
        };
    };
    let body = response.body().bytes().map(String::from_utf8_lossy).unwrap_or_default();
    let body: String = body
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(120)
        .collect();
    format!(
        "the endpoint answered HTTP {} with no AWS answer (\"{body}…\"): is AWS_ENDPOINT_URL right, and is the region one it serves?",
        response.status().as_u16()
    )
}

/// An error and its causes as one line a person reads: each cause's own text once (a cause that repeats the
/// text before it is dropped), `: ` between them, every run of white space (line breaks) one space. Never the
/// `Debug` form the SDK's `DisplayErrorContext` appends.
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut said: Vec<String> = Vec::new();
    let mut source = Some(error);
    while let Some(e) = source {
        let text = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() && !said.last().is_some_and(|last| last.contains(&text)) {
            said.push(text);
        }
        source = e.source();
    }
    said.join(": ")
}

/// Why a call's credentials could not be had.
enum Credentials {
    /// No source of the default chain had any.
    None,
    /// STS answered `code` (an account's role not assumed), or a source failed (`CredentialsError`).
    Failed { code: String, message: String },
}

/// When a call failed because its credentials could not be loaded: none found, or an account's role that
/// cannot be assumed (the code and message STS answered, or the credentials error itself).
fn credentials_failure(error: &(dyn std::error::Error + 'static)) -> Option<Credentials> {
    let mut source = error.source();
    let mut failure = None;
    while let Some(e) = source {
        if failure.is_none() {
            match e.downcast_ref::<CredentialsError>() {
                Some(CredentialsError::CredentialsNotLoaded(_)) => return Some(Credentials::None),
                Some(credentials) => {
                    let (code, message) = ("CredentialsError".to_owned(), one_line(credentials));
                    failure = Some(Credentials::Failed { code, message });
                }
                None => {}
            }
        }
        let answered = e
            .downcast_ref::<ErrorMetadata>()
            .and_then(|m| m.code().map(|c| (c, m.message())));
        if let (Some(_), Some((code, message))) = (&failure, answered) {
            let (code, message) = (code.to_owned(), message.unwrap_or("").to_owned());
            return Some(Credentials::Failed { code, message });
        }
        source = e.source();
    }
    failure
}

/// Whether `base` has credentials: `Err(NoCredentials)` when no source of the default chain has any (before
/// any call, so the CLI says so once instead of per region), or the one-line reason another source failed.
pub async fn check_credentials(base: &SdkConfig) -> Result<(), Error> {
    use aws_credential_types::provider::ProvideCredentials;
    let Some(provider) = base.credentials_provider() else {
        return Err(Error::NoCredentials);
    };
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(CredentialsError::CredentialsNotLoaded(_)) => Err(Error::NoCredentials),
        Err(e) => Err(Error::Credentials {
            code: "CredentialsError".to_owned(),
            message: one_line(&e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_with_no_answer_in_time_names_what_to_check_in_one_line() {
        let timeout: SdkError<std::io::Error> = SdkError::timeout_error(std::io::Error::other("attempt timed out"));
        let said = unanswered(&timeout);
        assert!(said.starts_with("request has timed out: attempt timed out: "), "{said}");
        assert!(
            said.ends_with("in time, at every attempt: is AWS_ENDPOINT_URL right?")
                || said.ends_with("is the network (or HTTPS_PROXY) right?"),
            "{said}"
        );
        assert!(!said.contains("TimeoutError") && !said.contains("{ "), "{said}");
        assert_eq!(
            Unreachable::NoAnswer.hint(Some("http://10.0.0.9:5000")),
            "no answer from http://10.0.0.9:5000 in time, at every attempt: is AWS_ENDPOINT_URL right?"
        );
        assert_eq!(
            Unreachable::NoAnswer.hint(None),
            "no answer in time, at every attempt: is the network (or HTTPS_PROXY) right?"
        );
    }

    #[test]
    fn a_refused_connection_or_a_name_that_does_not_exist_is_unreachable_and_a_reset_is_not() {
        use std::io::{Error as Io, ErrorKind};
        assert_eq!(
            unreachable(&Io::from(ErrorKind::ConnectionRefused)),
            Some(Unreachable::Refused)
        );
        let dns = Io::other("dns error: failed to lookup address information: Name or service not known");
        assert_eq!(unreachable(&dns), Some(Unreachable::NoSuchName));
        assert_eq!(unreachable(&Io::from(ErrorKind::ConnectionReset)), None);
        let temporary =
            Io::other("dns error: failed to lookup address information: Temporary failure in name resolution");
        assert!(
            unreachable(&temporary).is_none(),
            "a name server that did not answer may answer next time"
        );
    }
}
