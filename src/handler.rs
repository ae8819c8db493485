//! The Lambda function: build the clients once, then sync on every event.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tokio::time::Instant;

use crate::adapters::accounts::{self, AwsOrganization};
use crate::adapters::aws::loader;
use crate::adapters::ec2::Ec2;
use crate::adapters::ip_sets::WafIpSets;
use crate::adapters::notification::SnsTopic;
use crate::adapters::source::HttpSource;
use crate::config::Config;
use crate::domain::event::Trigger;
use crate::error::{Error, Result};
use crate::ports::{
    Account, Connect, IpSets, NetworkInterfaces, NoIpSets, NoNotifications, NoOrganization, Notifications,
    Organization, PrefixLists, RangesSource, SecurityGroups,
};
use crate::report::Summary;
use crate::sync;

/// What the function keeps between invocations: settings and clients, built once at start (and the clients of
/// an account found in an OU, the first time it is found).
pub struct App<S, G, W = NoIpSets, O = NoOrganization, N = NoNotifications> {
    /// The settings.
    pub config: Config,
    /// Where ip-ranges.json comes from.
    pub source: S,
    /// Every account known at start (the function's own, or the account ids of `ACCOUNTS`): where its security
    /// groups, the network interfaces that carry them, its prefix lists and its WAF IP sets live.
    pub accounts: Vec<Account<G, W>>,
    /// Where the accounts of the OUs, roots or organization of `ACCOUNTS` are listed at the start of every run,
    /// and connected.
    pub organization: O,
    /// Where the message of a run that changed or failed anything goes (`NOTIFY_TOPIC_ARN`).
    pub notifications: N,
}

impl App<HttpSource, Ec2, WafIpSets, AwsOrganization, Option<SnsTopic>> {
    /// Read the settings and build the clients. No network I/O: cold start stays short.
    pub async fn from_env() -> Result<Self> {
        let config = Config::from_env()?;
        App::with_loader(config, loader()).await
    }

    /// The function of `config`, its clients from `loader` (tests: an emulator's endpoint and test credentials).
    pub async fn with_loader(config: Config, loader: aws_config::ConfigLoader) -> Result<Self> {
        let source = HttpSource::new(&config)?;
        let (accounts, organization, shared) = accounts::with_loader_shared(&config, loader).await;
        let notifications = (config.notify_topic_arn.as_deref()).map(|topic| SnsTopic::from_shared(&shared, topic));
        Ok(App {
            config,
            source,
            accounts,
            organization,
            notifications,
        })
    }
}

impl<S, G, W, O, N> App<S, G, W, O, N>
where
    S: RangesSource,
    G: SecurityGroups + NetworkInterfaces + PrefixLists,
    W: IpSets,
    O: Organization + Connect<G, W>,
    N: Notifications,
{
    /// Handle one event: recognize it, sync, log the summary, answer it (or the error).
    pub async fn handle(&self, event: &Value, deadline: Option<Instant>) -> Result<Summary> {
        let trigger = Trigger::from_value(event)?;
        if let Trigger::Notification(n) = &trigger {
            tracing::info!(
                sync_token = n.sync_token,
                md5 = %n.md5,
                create_time = n.create_time.as_deref().unwrap_or(""),
                event_url = n.url.as_deref().unwrap_or(""),
                download_url = %self.source.location(),
                "AmazonIpSpaceChanged notification"
            );
        }
        let mut summary = match self.run(&trigger, deadline).await {
            Ok(summary) => summary,
            Err(e) => {
                sync::notify(&self.notifications, || sync::stopped(&e), deadline).await;
                return Err(e);
            }
        };
        let failed = sync::notify(&self.notifications, || sync::outcome(&summary), deadline).await;
        summary.notifications_failed = usize::from(failed);
        let fields = serde_json::to_string(&summary).unwrap_or_default();
        tracing::info!(
            sync_token = summary.sync_token,
            sets = summary.sets.len(),
            added = summary.added(),
            removed = summary.removed(),
            dry_run = summary.dry_run,
            duration_ms = summary.duration_ms,
            summary = %fields,
            "sync finished"
        );
        emit_metrics(&summary);
        summary.into_result()
    }

    /// One run over the accounts of `ACCOUNTS`, listed now.
    /// One sync on `trigger`, with no notification and no log of the summary: the accounts of the run (OUs
    /// listed now), synced, each named in the summary. The CLI's plan and apply are this run.
    pub async fn run(&self, trigger: &Trigger, deadline: Option<Instant>) -> Result<Summary> {
        let accounts = sync::run_accounts(&self.config, &self.organization, &self.accounts).await?;
        let of_run = accounts.of(&self.accounts);
        let mut summary = sync::run(&self.config, trigger, &self.source, &of_run, deadline).await?;
        summary.set_accounts(&accounts.members);
        Ok(summary)
    }

    /// The Lambda runtime's entry point.
    pub async fn invoke(&self, event: LambdaEvent<Value>) -> Result<Summary, Diagnostic> {
        let deadline = deadline_of(event.context.deadline);
        self.handle(&event.payload, deadline).await.map_err(|e| {
            tracing::error!(error_type = e.kind(), error = %e, "invocation failed");
            Diagnostic::from(e)
        })
    }
}

/// One Embedded Metric Format line on stdout, where CloudWatch Logs picks it up.
fn emit_metrics(summary: &Summary) {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    println!("{}", crate::metrics::emf(summary, now_ms));
}

/// The invocation deadline (milliseconds since the epoch) as an `Instant`. A deadline already past when the
/// invocation starts is not a real one (local emulators send a duration): the run then has none.
pub fn deadline_of(deadline_ms: u64) -> Option<Instant> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    let Some(left) = Duration::from_millis(deadline_ms).checked_sub(now) else {
        tracing::warn!(
            deadline_ms,
            "the invocation deadline is already past; running without one"
        );
        return None;
    };
    Instant::now().checked_add(left)
}

/// A Lambda function: what it answers to one invocation.
pub trait Function: Send + Sync {
    /// Its answer.
    type Answer: serde::Serialize + Send;
    /// Answer one invocation; an error is converted once, here, into Lambda's `errorType` and message.
    fn answer(&self, event: LambdaEvent<Value>) -> impl Future<Output = Result<Self::Answer, Diagnostic>> + Send;
}

impl Function for App<HttpSource, Ec2, WafIpSets, AwsOrganization, Option<SnsTopic>> {
    type Answer = Summary;

    fn answer(&self, event: LambdaEvent<Value>) -> impl Future<Output = Result<Summary, Diagnostic>> + Send {
        self.invoke(event)
    }
}

/// The Lambda function end to end, for its binary: logging, the settings and clients, then every invocation.
/// A start error (a bad setting) is logged in one line and answered to every invocation as its `errorType` and
/// one line, so whoever invokes the function reads why (not "Runtime exited" and a `Debug` dump). If the
/// runtime itself stops (no Runtime API), that is one line in the log and exit code 1.
pub async fn serve() -> std::process::ExitCode {
    serve_function(App::from_env()).await
}

/// A Lambda function's binary end to end, as [`serve`] says, for any [`Function`] that `start` makes.
pub async fn serve_function<F: Function>(start: impl Future<Output = Result<F>>) -> std::process::ExitCode {
    init_logging();
    let served = match start.await {
        Ok(function) => {
            let function = &function;
            lambda_runtime::run(lambda_runtime::service_fn(move |event| function.answer(event))).await
        }
        Err(e) => refuse_every_invocation(e).await,
    };
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the Lambda runtime stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Answer every invocation with `error`, the reason the function could not start.
async fn refuse_every_invocation(error: Error) -> std::result::Result<(), lambda_runtime::Error> {
    tracing::error!(error_type = error.kind(), error = %error, "cannot start: every invocation answers this error until the setting is fixed");
    let diagnostic = Diagnostic::from(error);
    let refuse = move |_: LambdaEvent<Value>| {
        let diagnostic = diagnostic.clone();
        async move { std::result::Result::<Value, Diagnostic>::Err(diagnostic) }
    };
    lambda_runtime::run(lambda_runtime::service_fn(refuse)).await
}

/// Logs as Lambda's advanced logging controls ask (`AWS_LAMBDA_LOG_FORMAT=JSON` for JSON lines; the level from
/// `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, else INFO), on stdout, without ANSI colours unless stdout is a
/// terminal (CloudWatch Logs shows escape codes as text).
fn init_logging() {
    use lambda_runtime::tracing::subscriber::{EnvFilter, filter::LevelFilter, fmt};
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG"));
    let level = level
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy();
    let logs = fmt()
        .with_target(false)
        .without_time()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(filter);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json { logs.json().init() } else { logs.init() }
}

impl From<Error> for Diagnostic {
    fn from(e: Error) -> Self {
        Diagnostic {
            error_type: e.kind().to_owned(),
            error_message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_in_the_future_is_kept_and_one_in_the_past_is_ignored() {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let d = deadline_of(now_ms + 60_000).unwrap();
        let left = d.saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(55) && left <= Duration::from_secs(60),
            "{left:?}"
        );
        assert_eq!(deadline_of(600_000), None);
    }
}
