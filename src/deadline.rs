//! The time a run may spend: every call is bounded by what is left before the invocation deadline, less the
//! margin kept for answering (the summary and the metrics line must still go out).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, Result};

/// The invocation deadline and the margin kept before it. Without a deadline (the CLI, a local emulator)
/// nothing is bounded.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Option<Instant>,
    margin: Duration,
}

impl Budget {
    /// The time before `deadline`, less `margin`.
    pub fn new(deadline: Option<Instant>, margin: Duration) -> Budget {
        Budget { deadline, margin }
    }

    /// No deadline.
    pub fn unbounded() -> Budget {
        Budget::new(None, Duration::ZERO)
    }

    /// Time left before the margin; `None` when there is no deadline.
    pub fn left(&self) -> Option<Duration> {
        let deadline = self.deadline?;
        Some(
            deadline
                .saturating_duration_since(Instant::now())
                .saturating_sub(self.margin),
        )
    }

    /// Time left before the deadline itself, for messages.
    pub fn until_deadline(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether there is time left to start something (and wait `pause` first).
    pub fn allows(&self, pause: Duration) -> bool {
        self.left().is_none_or(|left| left > pause)
    }

    /// Run `call`, cut off when the margin is reached. `what` names it in the error.
    pub async fn bound<T>(&self, what: impl FnOnce() -> String, call: impl Future<Output = Result<T>>) -> Result<T> {
        let Some(left) = self.left() else {
            return call.await;
        };
        if left.is_zero() {
            return Err(Error::TimedOut {
                what: what(),
                waited: Duration::ZERO,
            });
        }
        match tokio::time::timeout(left, call).await {
            Ok(result) => result,
            Err(_) => Err(Error::TimedOut {
                what: what(),
                waited: left,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_call_is_cut_off_at_the_margin() {
        let budget = Budget::new(Some(Instant::now() + Duration::from_secs(30)), Duration::from_secs(10));
        let slow = async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        };
        let started = Instant::now();
        let err = budget.bound(|| "the slow call".into(), slow).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(20));
        assert!(
            matches!(&err, Error::TimedOut { what, waited } if what == "the slow call" && *waited == Duration::from_secs(20)),
            "{err:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_starts_inside_the_margin_and_without_a_deadline_nothing_is_cut() {
        let budget = Budget::new(Some(Instant::now() + Duration::from_secs(5)), Duration::from_secs(10));
        assert!(!budget.allows(Duration::ZERO));
        let err = budget.bound(|| "x".into(), async { Ok(()) }).await.unwrap_err();
        assert!(matches!(err, Error::TimedOut { waited, .. } if waited.is_zero()));

        let slow = async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(7)
        };
        assert_eq!(Budget::unbounded().bound(|| "x".into(), slow).await.unwrap(), 7);
        assert!(Budget::unbounded().allows(Duration::from_secs(3600)));
    }
}
