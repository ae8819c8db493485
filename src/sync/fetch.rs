//! Download `ip-ranges.json` and decide whether to apply it.

use std::time::Duration;

use crate::config::Config;
use crate::deadline::{Backoff, Budget};
use crate::domain::event::Trigger;
use crate::domain::ip_ranges::{self, Selection};
use crate::error::{Error, Result};
use crate::ports::RangesSource;

/// Fetch the file and decide whether to apply it: the MD5 must match the notification, or the file must be
/// newer than the notification (it came late). A file older than the notification is a copy the CDN has not
/// refreshed yet: it is fetched again, with backoff, for up to `LAGGING_FILE_WAIT_SECONDS` and while the
/// deadline allows, before failing. Returns the selection and whether the notification was late.
pub async fn fetch_verified(
    config: &Config,
    trigger: &Trigger,
    source: &impl RangesSource,
    budget: Budget,
) -> Result<(Selection, bool)> {
    let wait = config.lagging_file_wait;
    let mut backoff = Backoff::new(LAGGING_FILE_FIRST_PAUSE, wait, wait).clipped();
    loop {
        let body = budget
            .bound(|| format!("download of {}", source.location()), source.fetch())
            .await?;
        let error = match verify(config, trigger, &body)? {
            Verified::Apply { selection, late } => return Ok((selection, late)),
            Verified::Lagging(error) => error,
        };
        tracing::warn!(
            error = %error,
            waited_s = backoff.waited().as_secs(),
            "the file published is older than the notification; fetching it again after a pause"
        );
        if !backoff.pause(budget).await {
            return Err(error);
        }
    }
}

/// The first pause before fetching a lagging file again; each next pause doubles, the last one clipped to the wait left.
const LAGGING_FILE_FIRST_PAUSE: Duration = Duration::from_secs(5);

enum Verified {
    Apply {
        selection: Selection,
        late: bool,
    },
    /// Older than the notification: may be fetched again.
    Lagging(Error),
}

/// Check one fetched body against the trigger.
fn verify(config: &Config, trigger: &Trigger, body: &[u8]) -> Result<Verified> {
    let md5 = ip_ranges::md5_hex(body);
    let selection = ip_ranges::parse(body, &config.filter)?;
    ip_ranges::check_in_time(&selection, super::unix_now())?;
    let Trigger::Notification(notification) = trigger else {
        tracing::info!(
            md5,
            sync_token = selection.sync_token,
            "scheduled run: applying the file published now"
        );
        return Ok(Verified::Apply { selection, late: false });
    };
    if md5 == notification.md5 {
        tracing::info!(md5, sync_token = selection.sync_token, "MD5 matches the notification");
        return Ok(Verified::Apply { selection, late: false });
    }
    if selection.sync_token > notification.sync_token {
        tracing::warn!(
            notified_sync_token = notification.sync_token,
            file_sync_token = selection.sync_token,
            notified_md5 = %notification.md5,
            md5,
            "the notification came late: a newer file is published; applying it"
        );
        return Ok(Verified::Apply { selection, late: true });
    }
    let error = Error::Md5Mismatch {
        expected: notification.md5.clone(),
        actual: md5,
        notified_token: notification.sync_token,
        file_token: selection.sync_token,
    };
    if selection.sync_token < notification.sync_token {
        Ok(Verified::Lagging(error))
    } else {
        Err(error)
    }
}
