//! The rotation of the origin secret, one step of Secrets Manager's protocol per call ([`rotate`]), over the
//! [ports](crate::ports) of the secret ([`SecretStore`]), the distributions that send it ([`SecretSenders`]) and
//! the checks that require it at their origins ([`SecretChecks`]). Every step is idempotent: Secrets Manager
//! retries a step that failed, and a step run twice changes nothing the second time.
//!
//! At every moment every value an edge may send is one its origin accepts: `setSecret` widens every check to the
//! current and the pending value, waits `ORIGIN_SECRET_PROPAGATION_SECONDS`, and only then makes each distribution
//! send the pending value; `testSecret` passes only once every distribution sends it and is deployed;
//! `finishSecret` makes it current, then narrows every check to it.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::config::Config;
use crate::deadline::{Backoff, Budget};
use crate::domain::audit::same_domain;
use crate::domain::origin_side::Secret;
use crate::domain::rotation::{OriginSecret, Step, accept_both, accept_only};
use crate::error::{Error, Result};
use crate::ports::{CURRENT, PENDING, SecretChecks, SecretDistribution, SecretSenders, SecretStore, SecretVersions};

/// The first pause of `testSecret` before it looks at the distributions again; each next one doubles.
const TEST_FIRST_PAUSE: Duration = Duration::from_secs(5);
/// The longest pause of `testSecret` between two looks.
const TEST_MAX_PAUSE: Duration = Duration::from_secs(30);
/// How long `testSecret` waits for CloudFront without a deadline (the CLI): a deployment takes minutes.
const TEST_MAX_WAIT: Duration = Duration::from_secs(900);

/// What Secrets Manager sends the rotation function.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RotationRequest {
    /// The secret's name or ARN.
    #[serde(rename = "SecretId")]
    pub secret_id: String,
    /// The version being made (its id).
    #[serde(rename = "ClientRequestToken")]
    pub token: String,
    /// `createSecret`, `setSecret`, `testSecret` or `finishSecret`.
    #[serde(rename = "Step")]
    pub step: String,
}

/// What a step did (no value in it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StepReport {
    /// The step.
    pub step: &'static str,
    /// The secret's name.
    pub secret: String,
    /// A new value was stored as the pending version.
    pub created: bool,
    /// Listener rules whose values changed.
    pub rules_changed: usize,
    /// Web ACLs that changed.
    pub web_acls_changed: usize,
    /// Distributions made to send the pending value.
    pub distributions_updated: usize,
    /// Distributions tagged for the secret.
    pub distributions: usize,
    /// Seconds waited for the origins to apply their change.
    pub waited_s: u64,
}

/// The ports of a rotation.
pub struct RotationPorts<'a, S, D, C> {
    /// The secret.
    pub store: &'a S,
    /// The distributions that send it.
    pub senders: &'a D,
    /// The checks that require it.
    pub checks: &'a C,
}

/// Run one step of the rotation of `request`'s secret. A step, a version or a secret this function does not
/// rotate is refused before any change, naming it. `new_value` draws a new value (createSecret).
pub async fn rotate<S: SecretStore, D: SecretSenders, C: SecretChecks>(
    config: &Config,
    ports: &RotationPorts<'_, S, D, C>,
    request: &RotationRequest,
    budget: Budget,
    new_value: impl FnOnce() -> Result<Secret>,
) -> Result<StepReport> {
    let refused = |reason: String| Error::RotationRefused {
        secret: request.secret_id.clone(),
        reason,
    };
    let step: Step = request
        .step
        .parse()
        .map_err(|e: crate::domain::rotation::RotationError| refused(e.to_string()))?;
    let versions = ports.store.describe(&request.secret_id).await?;
    check_request(&versions, &request.token, step).map_err(refused)?;
    let step = StepOf {
        request,
        versions: &versions,
        step,
    };
    run_step(config, ports, step, budget, new_value).await
}

/// One step of one request on a secret as described.
struct StepOf<'a> {
    request: &'a RotationRequest,
    versions: &'a SecretVersions,
    step: Step,
}

/// Run `step`, its request checked.
async fn run_step<S: SecretStore, D: SecretSenders, C: SecretChecks>(
    config: &Config,
    ports: &RotationPorts<'_, S, D, C>,
    StepOf {
        request,
        versions,
        step,
    }: StepOf<'_>,
    budget: Budget,
    new_value: impl FnOnce() -> Result<Secret>,
) -> Result<StepReport> {
    let mut report = StepReport {
        step: step.as_str(),
        secret: versions.name.clone(),
        ..StepReport::default()
    };
    let secret = Rotation { request, versions };
    match step {
        Step::Create => secret.create(ports.store, new_value, &mut report).await?,
        Step::Set => secret.set(config, ports, &mut report).await?,
        Step::Test => secret.test(ports, budget, &mut report).await?,
        Step::Finish => secret.finish(config, ports, &mut report).await?,
    }
    tracing::info!(step = report.step, secret = %report.secret, rules = report.rules_changed, web_acls = report.web_acls_changed, distributions = report.distributions_updated, "rotation step done");
    Ok(report)
}

/// What a rotation of a secret would change, read now (the CLI's plan).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RotationPlan {
    /// The secret's name.
    pub secret: String,
    /// The header its value is sent in.
    pub header: String,
    /// The distributions tagged for it, each with its status.
    pub distributions: Vec<String>,
    /// The listener rules (ARNs) that compare the header with the current value.
    pub rules: Vec<String>,
    /// The web ACLs (names) that compare it.
    pub web_acls: Vec<String>,
}

/// What rotating `secret_id` would change, read now: nothing is written.
pub async fn plan_rotation<S: SecretStore, D: SecretSenders, C: SecretChecks>(
    config: &Config,
    ports: &RotationPorts<'_, S, D, C>,
    secret_id: &str,
) -> Result<RotationPlan> {
    let versions = ports.store.describe(secret_id).await?;
    let request = RotationRequest {
        secret_id: secret_id.to_owned(),
        token: String::new(),
        step: String::new(),
    };
    let rotation = Rotation {
        request: &request,
        versions: &versions,
    };
    let current = rotation.staged(ports.store, CURRENT).await?;
    let distributions = rotation.senders(ports.senders, &current.header).await?;
    let mut plan = RotationPlan {
        secret: versions.name.clone(),
        header: current.header.clone(),
        distributions: distributions
            .iter()
            .map(|d| format!("{} ({})", d.id, d.status))
            .collect(),
        ..RotationPlan::default()
    };
    for (region, arn) in origin_load_balancers(config, ports.checks, &distributions).await? {
        let rules = ports.checks.header_rules(&region, &arn, &current.header).await?;
        let checking = rules
            .into_iter()
            .filter(|r| r.values.iter().any(|v| v.equals(&current.value)));
        plan.rules.extend(checking.map(|r| r.arn));
        let acl = ports
            .checks
            .acl_checking(&region, &arn, &current.header, &current.value)
            .await?;
        plan.web_acls.extend(acl);
    }
    Ok(plan)
}

/// Rotate `secret_id` now, the four steps at once, as a person does from the CLI (a first rotation, a person in
/// a hurry): `token` becomes a pending version holding a new value, then `setSecret`, `testSecret` and
/// `finishSecret` run on it as the rotation function runs them. Rotation need not be enabled on the secret.
pub async fn rotate_now<S: SecretStore, D: SecretSenders, C: SecretChecks>(
    config: &Config,
    ports: &RotationPorts<'_, S, D, C>,
    (secret_id, token): (&str, &str),
    budget: Budget,
    new_value: impl FnOnce() -> Result<Secret>,
) -> Result<Vec<StepReport>> {
    let versions = ports.store.describe(secret_id).await?;
    let request = RotationRequest {
        secret_id: secret_id.to_owned(),
        token: token.to_owned(),
        step: Step::Create.as_str().to_owned(),
    };
    let rotation = Rotation {
        request: &request,
        versions: &versions,
    };
    let current = rotation.staged(ports.store, CURRENT).await?;
    ports
        .store
        .put_pending(secret_id, token, &current.with_value(new_value()?))
        .await?;
    let mut reports = vec![StepReport {
        step: Step::Create.as_str(),
        secret: versions.name.clone(),
        created: true,
        ..StepReport::default()
    }];
    for step in [Step::Set, Step::Test, Step::Finish] {
        let versions = ports.store.describe(secret_id).await?;
        let step = StepOf {
            request: &request,
            versions: &versions,
            step,
        };
        let unused = || {
            Err(Error::RotationRefused {
                secret: secret_id.to_owned(),
                reason: "a new value was already made".to_owned(),
            })
        };
        reports.push(run_step(config, ports, step, budget, unused).await?);
    }
    Ok(reports)
}

/// Refuse a secret without rotation, or a token that is not its pending version (`createSecret` and
/// `finishSecret` also take it once current: a step retried after the rotation finished, which then changes
/// nothing more).
fn check_request(versions: &SecretVersions, token: &str, step: Step) -> std::result::Result<(), String> {
    if !versions.rotation_enabled {
        return Err("rotation is not enabled on it".to_owned());
    }
    if !versions.stages.contains_key(token) {
        return Err(format!("it has no version {token}"));
    }
    let done = matches!(step, Step::Create | Step::Finish) && versions.holds(token, CURRENT);
    if !versions.holds(token, PENDING) && !done {
        return Err(format!("version {token} is not staged AWSPENDING"));
    }
    Ok(())
}

/// One request on one secret, as described.
struct Rotation<'a> {
    request: &'a RotationRequest,
    versions: &'a SecretVersions,
}

impl Rotation<'_> {
    fn id(&self) -> &str {
        &self.request.secret_id
    }

    fn token(&self) -> &str {
        &self.request.token
    }

    /// The value of `version`, read; `None` when it holds none.
    async fn value_of(&self, store: &impl SecretStore, version: &str) -> Result<Option<OriginSecret>> {
        let Some(text) = store.value(self.id(), version).await? else {
            return Ok(None);
        };
        let secret = OriginSecret::parse(&text).map_err(|e| Error::RotationRefused {
            secret: self.id().to_owned(),
            reason: format!("version {version}: {e}"),
        })?;
        Ok(Some(secret))
    }

    /// The value of the version staged `stage`.
    async fn staged(&self, store: &impl SecretStore, stage: &str) -> Result<OriginSecret> {
        let version = self.versions.version_at(stage).unwrap_or_default().to_owned();
        self.value_of(store, &version)
            .await?
            .ok_or_else(|| Error::RotationRefused {
                secret: self.id().to_owned(),
                reason: format!("its {stage} version holds no value"),
            })
    }

    /// The current value and the pending one (the token's), which `createSecret` made.
    async fn both(&self, store: &impl SecretStore) -> Result<(OriginSecret, OriginSecret)> {
        let current = self.staged(store, CURRENT).await?;
        let pending = self
            .value_of(store, self.token())
            .await?
            .ok_or_else(|| Error::RotationRefused {
                secret: self.id().to_owned(),
                reason: format!("version {} holds no value: createSecret first", self.token()),
            })?;
        Ok((current, pending))
    }

    /// `createSecret`: unless the pending version already holds a value other than the current one, store a
    /// new value there, the header kept.
    async fn create(
        &self,
        store: &impl SecretStore,
        new_value: impl FnOnce() -> Result<Secret>,
        report: &mut StepReport,
    ) -> Result<()> {
        if self.versions.holds(self.token(), CURRENT) {
            return Ok(());
        }
        let current = self.staged(store, CURRENT).await?;
        let pending = self.value_of(store, self.token()).await.ok().flatten();
        if pending.is_some_and(|p| !p.value.equals(&current.value) && p.header == current.header) {
            return Ok(());
        }
        let pending = current.with_value(new_value()?);
        store.put_pending(self.id(), self.token(), &pending).await?;
        report.created = true;
        Ok(())
    }

    /// The distributions tagged for this secret, each with its origins that send its header.
    async fn senders(&self, senders: &impl SecretSenders, header: &str) -> Result<Vec<SecretDistribution>> {
        let names = [self.versions.name.as_str(), self.versions.arn.as_str()];
        senders.tagged(&names, header).await
    }
}

impl Rotation<'_> {
    /// `setSecret`: every check accepts both values; after the propagation wait, every distribution sends the
    /// pending value.
    async fn set<S: SecretStore, D: SecretSenders, C: SecretChecks>(
        &self,
        config: &Config,
        ports: &RotationPorts<'_, S, D, C>,
        report: &mut StepReport,
    ) -> Result<()> {
        let (current, pending) = self.both(ports.store).await?;
        let header = current.header.as_str();
        let distributions = self.senders(ports.senders, header).await?;
        report.distributions = distributions.len();
        let values = (&current.value, &pending.value);
        widen_or_narrow(config, ports.checks, &distributions, header, values, true, report).await?;
        let to_update: Vec<&SecretDistribution> = (distributions.iter())
            .filter(|d| d.origins.iter().any(|o| o.value.equals(&current.value)))
            .collect();
        if to_update.is_empty() {
            return Ok(());
        }
        // The origins may apply their change later than they answer (WAF: up to a minute): wait before any edge
        // sends the new value, also when an earlier try of this step made the change.
        tracing::info!(
            seconds = config.origin_secret_propagation.as_secs(),
            "waiting for the origins to accept the new value"
        );
        tokio::time::sleep(config.origin_secret_propagation).await;
        report.waited_s = config.origin_secret_propagation.as_secs();
        // Each distribution's read and update at once, within MAX_CONCURRENCY.
        let (from, to) = (&current.value, &pending.value);
        let ids: Vec<String> = to_update.iter().map(|d| d.id.clone()).collect();
        let updated: Vec<bool> = stream::iter(ids)
            .map(|id: String| async move { ports.senders.send(&id, header, from, to).await })
            .buffer_unordered(config.max_concurrency)
            .try_collect()
            .await?;
        report.distributions_updated = updated.into_iter().filter(|u| *u).count();
        Ok(())
    }

    /// `testSecret`: every tagged distribution sends the pending value and is deployed; waited for with backoff
    /// within the invocation's deadline, else the step fails naming those still in progress.
    async fn test<S: SecretStore, D: SecretSenders, C>(
        &self,
        ports: &RotationPorts<'_, S, D, C>,
        budget: Budget,
        report: &mut StepReport,
    ) -> Result<()> {
        let (current, pending) = self.both(ports.store).await?;
        let mut backoff = Backoff::new(TEST_FIRST_PAUSE, TEST_MAX_PAUSE, TEST_MAX_WAIT);
        loop {
            let distributions = self.senders(ports.senders, &current.header).await?;
            report.distributions = distributions.len();
            let waiting = not_deployed(&distributions, &pending.value);
            if waiting.is_empty() {
                return Ok(());
            }
            if !backoff.pause(budget).await {
                return Err(Error::RotationNotDeployed {
                    distributions: waiting.into_iter().collect::<Vec<_>>().join(", "),
                });
            }
        }
    }

    /// `finishSecret`: the pending version becomes current (the old one `AWSPREVIOUS`), then every check
    /// accepts only it.
    async fn finish<S: SecretStore, D: SecretSenders, C: SecretChecks>(
        &self,
        config: &Config,
        ports: &RotationPorts<'_, S, D, C>,
        report: &mut StepReport,
    ) -> Result<()> {
        let new = self.value_of(ports.store, self.token()).await?;
        let previous = match self.versions.holds(self.token(), CURRENT) {
            // Retried after the move: the old value is the previous version's.
            true => self.staged(ports.store, "AWSPREVIOUS").await?,
            false => {
                let current = self.staged(ports.store, CURRENT).await?;
                let from = self.versions.version_at(CURRENT).unwrap_or_default();
                ports.store.make_current(self.id(), self.token(), from).await?;
                current
            }
        };
        let Some(new) = new else {
            return Ok(());
        };
        let distributions = self.senders(ports.senders, &new.header).await?;
        report.distributions = distributions.len();
        let values = (&previous.value, &new.value);
        widen_or_narrow(config, ports.checks, &distributions, &new.header, values, false, report).await
    }
}

/// The distributions of `distributions` that are not deployed, or whose origins do not all send `pending`, each
/// with its status.
fn not_deployed(distributions: &[SecretDistribution], pending: &Secret) -> BTreeSet<String> {
    (distributions.iter())
        .filter(|d| d.status != "Deployed" || d.origins.iter().any(|o| !o.value.equals(pending)))
        .map(|d| format!("{} ({})", d.id, d.status))
        .collect()
}

/// Widen (`widen`: accept `to` beside `from`) or narrow (accept only `to`, no longer `from`) every check of the
/// header at the load balancers the origins of `distributions` are, in the configured regions: the load balancers
/// at once, within `MAX_CONCURRENCY`.
async fn widen_or_narrow(
    config: &Config,
    checks: &impl SecretChecks,
    distributions: &[SecretDistribution],
    header: &str,
    values: (&Secret, &Secret),
    widen: bool,
    report: &mut StepReport,
) -> Result<()> {
    let origins = origin_load_balancers(config, checks, distributions).await?;
    let changed: Vec<(usize, bool)> = stream::iter(origins)
        .map(|(region, arn): (String, String)| async move {
            rotate_at(checks, (&region, &arn), header, values, widen).await
        })
        .buffer_unordered(config.max_concurrency)
        .try_collect()
        .await?;
    report.rules_changed += changed.iter().map(|(rules, _)| rules).sum::<usize>();
    report.web_acls_changed += changed.iter().filter(|(_, acl)| *acl).count();
    Ok(())
}

/// The load balancers of the configured regions (region, ARN) that are origins of `distributions`.
async fn origin_load_balancers(
    config: &Config,
    checks: &impl SecretChecks,
    distributions: &[SecretDistribution],
) -> Result<Vec<(String, String)>> {
    let domains: BTreeSet<&str> = (distributions.iter())
        .flat_map(|d| &d.origins)
        .map(|o| o.domain_name.as_str())
        .collect();
    let mut origins = Vec::new();
    for region in &config.regions {
        let found = checks.named_load_balancers(region).await?;
        let used = found
            .into_iter()
            .filter(|(dns, _)| domains.iter().any(|d| same_domain(d, dns)));
        origins.extend(used.map(|(_, arn)| (region.clone(), arn)));
    }
    Ok(origins)
}

/// Widen or narrow the checks of one load balancer: its listener rules on the header, then its web ACL. How many
/// rules changed, and whether the web ACL did.
async fn rotate_at(
    checks: &impl SecretChecks,
    (region, arn): (&str, &str),
    header: &str,
    (from, to): (&Secret, &Secret),
    widen: bool,
) -> Result<(usize, bool)> {
    let mut rules = 0;
    for rule in checks.header_rules(region, arn, header).await? {
        let values = match widen {
            true => accept_both(&rule.values, from, to),
            false => accept_only(&rule.values, from, to),
        };
        if let Some(values) = values {
            checks.set_rule_values(region, &rule.arn, header, &values).await?;
            rules += 1;
        }
    }
    let acl = checks.accept_in_acl(region, arn, header, (from, to), widen).await?;
    Ok((rules, acl))
}
