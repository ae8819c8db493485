//! The one run of a target, whatever its kind: [`sync_target`] takes a unit of the run's limit, starts the
//! target's report, leaves a target that holds a newer file as it is, converges it (plan, write, read back,
//! re-plan), records the file applied unless it is a dry run, and folds an error into the report. A kind of
//! target says only what differs, by implementing [`Target`]: its report, its mark, its converge and how it
//! records the file applied.
//!
//! The kinds: a set of security groups (`security_groups.rs`), a prefix list (`prefix_lists.rs`), a WAF IP set
//! (`ip_sets.rs`).

use futures::future::join_all;

use super::Limit;
use crate::config::Config;
use crate::deadline::Budget;
use crate::domain::TargetKind;
use crate::domain::ip_ranges::Selection;
use crate::error::{Error, Result};
use crate::report::{IpSetReport, ListReport, SetReport, TargetStatus};

/// What every unit of work of one command shares, in every account: the settings, `SERVICE` as our rule and
/// entry descriptions name it, the deadline and the bound on concurrent work.
pub(super) struct Run<'a> {
    pub(super) config: &'a Config,
    pub(super) services: &'a str,
    pub(super) budget: Budget,
    pub(super) limit: &'a Limit,
}

impl Run<'_> {
    /// Run `call` within the run's deadline.
    pub(super) async fn bound<T>(
        &self,
        what: impl FnOnce() -> String,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        self.budget.bound(what, call).await
    }
}

/// What the targets of one kind in one account share: the run, the port they are read and written through,
/// and the account (`None`: the function's own).
pub(super) struct Context<'a, P> {
    pub(super) run: &'a Run<'a>,
    pub(super) port: &'a P,
    pub(super) account: Option<&'a str>,
}

impl<P> Context<'_, P> {
    /// The run's settings.
    pub(super) fn config(&self) -> &Config {
        self.run.config
    }

    /// Run `call` within the run's deadline.
    pub(super) async fn bound<T>(
        &self,
        what: impl FnOnce() -> String,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        self.run.bound(what, call).await
    }
}

/// What a run says of one target: its name and kind, how it ended.
pub(super) trait TargetReport {
    /// The kind of target reported.
    const KIND: TargetKind;
    /// The target, as logs and messages name it.
    fn name(&self) -> String;
    /// The target ended so.
    fn settle(&mut self, status: TargetStatus);
    /// The target failed so (the report keeps what was done before).
    fn fail(&mut self, error: String);
}

/// One kind of target, synced through the port `P`: what differs between kinds. The rest is [`sync_target`].
pub(super) trait Target<P>: Sized {
    /// What a run says of a target of the kind.
    type Report: TargetReport;

    /// The report of the target as read, nothing done yet.
    fn report(&self, account: Option<&str>) -> Self::Report;

    /// Why the target is left as it is before its mark is even judged (a prefix list that rules opening other
    /// ports reference); `None` for most.
    fn refused(&self, _report: &Self::Report) -> Option<String> {
        None
    }

    /// Judge the target's mark of the file applied, record it in `report`, and say whether it holds a newer
    /// file than `file` (then it is left as it is: never backwards).
    fn holds_newer(&self, file: &Selection, report: &mut Self::Report) -> bool;

    /// Bring the target to `file` (unless a dry run, which only plans): plan, write, read back and re-plan
    /// until it holds the file, counting in `report`. Returns how it ended and the target as last read.
    async fn converge(
        self,
        cx: &Context<'_, P>,
        file: &Selection,
        report: &mut Self::Report,
    ) -> Result<(TargetStatus, Self)>;

    /// Record `file` as applied on the target (as last read), unless it carries that mark already.
    async fn record_applied(&self, cx: &Context<'_, P>, file: &Selection, report: &Self::Report) -> Result<()>;
}

/// Check, plan and (unless a dry run) write one target, as a unit of the run's limit, then record the file
/// applied on it. A target that holds a newer file is left as it is. Never fails as a whole: the report
/// carries the error.
pub(super) async fn sync_target<P, T: Target<P>>(cx: &Context<'_, P>, file: &Selection, target: T) -> T::Report {
    let _unit = cx.run.limit.acquire().await;
    let mut report = target.report(cx.account);
    if let Some(error) = target.refused(&report) {
        report.fail(error);
        return report;
    }
    if target.holds_newer(file, &mut report) {
        report.settle(TargetStatus::OlderFile);
        return report;
    }
    let synced = match target.converge(cx, file, &mut report).await {
        Ok((status @ (TargetStatus::Synced | TargetStatus::InSync), now)) if !cx.config().dry_run => {
            now.record_applied(cx, file, &report).await.map(|()| status)
        }
        other => other.map(|(status, _)| status),
    };
    match synced {
        Ok(status) => report.settle(status),
        Err(e) => {
            let kind = T::Report::KIND.as_str();
            tracing::error!(kind, target = %report.name(), error = %e, "target not synced");
            report.fail(e.to_string());
        }
    }
    report
}

/// Sync every target of `targets`, each a unit of the run's limit. The reports come back in their order.
pub(super) async fn sync_all<P, T: Target<P>>(
    cx: &Context<'_, P>,
    file: &Selection,
    targets: Vec<T>,
) -> Vec<T::Report> {
    join_all(targets.into_iter().map(|t| sync_target(cx, file, t))).await
}

/// Whether `error` is EC2's or WAF's answer with one of `codes`.
pub(super) fn answered(error: &Error, codes: &[&str]) -> bool {
    match error {
        Error::Ec2 { code, .. } | Error::Waf { code, .. } => codes.contains(&code.as_str()),
        _ => false,
    }
}

impl TargetReport for SetReport {
    const KIND: TargetKind = TargetKind::SecurityGroupSet;

    fn name(&self) -> String {
        format!("set {}", self.key)
    }

    fn settle(&mut self, status: TargetStatus) {
        self.status = status;
    }

    fn fail(&mut self, error: String) {
        self.error = Some(error);
    }
}

impl TargetReport for ListReport {
    const KIND: TargetKind = TargetKind::PrefixList;

    fn name(&self) -> String {
        ListReport::name(self)
    }

    fn settle(&mut self, status: TargetStatus) {
        self.changes.status = status;
    }

    fn fail(&mut self, error: String) {
        self.changes.error = Some(error);
    }
}

impl TargetReport for IpSetReport {
    const KIND: TargetKind = TargetKind::WafIpSet;

    fn name(&self) -> String {
        IpSetReport::name(self)
    }

    fn settle(&mut self, status: TargetStatus) {
        self.changes.status = status;
    }

    fn fail(&mut self, error: String) {
        self.changes.error = Some(error);
    }
}
