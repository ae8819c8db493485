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

/// Pauses between tries of something that is catching up or failing for a while (a list being modified, a read
/// that does not show our writes yet: EC2 is eventually consistent, and AWS advises retrying reads with
/// backoff; a download that failed; a file not refreshed yet): `first`, then each pause doubles up to
/// `max_pause`, for at most `max_wait` in all and never past the budget.
///
/// [`Backoff::jittered`] draws each pause between half of it and all of it, so that many callers retrying one
/// server at once (every subscriber of the notification downloads the file at the same moment) spread out;
/// [`Backoff::clipped`] shortens the last pause to what is left of `max_wait` instead of stopping before it.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    started: Instant,
    pause: Duration,
    max_pause: Duration,
    max_wait: Duration,
    jitter: bool,
    clip: bool,
}

impl Backoff {
    /// Start waiting now: exact doubling pauses, none past `max_wait`.
    pub fn new(first: Duration, max_pause: Duration, max_wait: Duration) -> Backoff {
        Backoff {
            started: Instant::now(),
            pause: first,
            max_pause,
            max_wait,
            jitter: false,
            clip: false,
        }
    }

    /// Each pause drawn between half of it and all of it.
    pub fn jittered(self) -> Backoff {
        Backoff { jitter: true, ..self }
    }

    /// The last pause shortened to what is left of `max_wait`.
    pub fn clipped(self) -> Backoff {
        Backoff { clip: true, ..self }
    }

    /// Sleep the next pause and say `true`; or say `false` at once when that pause would go past `max_wait`
    /// (clipped: when nothing of it is left) or the budget.
    pub async fn pause(&mut self, budget: Budget) -> bool {
        let Some(pause) = self.next_pause() else {
            return false;
        };
        if !budget.allows(pause) {
            return false;
        }
        tokio::time::sleep(pause).await;
        self.pause = (self.pause * 2).min(self.max_pause);
        true
    }

    /// The next pause, jittered and clipped as set; `None` when there is none left.
    fn next_pause(&self) -> Option<Duration> {
        let pause = match self.jitter {
            true => self.pause / 2 + self.pause.mul_f64(random_fraction() / 2.0),
            false => self.pause,
        };
        let left = self.max_wait.saturating_sub(self.waited());
        match (pause <= left, self.clip) {
            (true, _) => Some(pause),
            (false, true) if !left.is_zero() => Some(left),
            _ => None,
        }
    }

    /// Time since the first look.
    pub fn waited(&self) -> Duration {
        self.started.elapsed()
    }
}

/// A number in `[0, 1)` that differs from call to call (the standard library's per-process random hash keys: no
/// generator crate for the jitter of a few pauses).
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new().build_hasher().finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_backoff_doubles_its_pauses_and_stops_before_its_limit_or_the_budget() {
        let mut backoff = Backoff::new(
            Duration::from_millis(500),
            Duration::from_secs(2),
            Duration::from_secs(4),
        );
        let mut pauses = Vec::new();
        let mut before = Instant::now();
        while backoff.pause(Budget::unbounded()).await {
            pauses.push(before.elapsed());
            before = Instant::now();
        }
        let secs = |ms: u64| Duration::from_millis(ms);
        assert_eq!(pauses, [secs(500), secs(1000), secs(2000)]);

        let budget = Budget::new(Some(Instant::now() + secs(900)), secs(500));
        let mut backoff = Backoff::new(secs(500), secs(2000), secs(60_000));
        assert!(!backoff.pause(budget).await, "500 ms would reach the margin");
    }

    /// The pauses `backoff` sleeps until it stops, on the paused clock.
    async fn pauses_of(mut backoff: Backoff) -> Vec<Duration> {
        let mut pauses = Vec::new();
        let mut before = Instant::now();
        while backoff.pause(Budget::unbounded()).await {
            pauses.push(before.elapsed());
            before = Instant::now();
        }
        pauses
    }

    #[tokio::test(start_paused = true)]
    async fn a_jittered_backoff_sleeps_between_half_and_all_of_each_pause_and_its_pauses_differ() {
        let ms = Duration::from_millis;
        let mut drawn = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let pauses = pauses_of(Backoff::new(ms(400), ms(1600), ms(10_000)).jittered()).await;
            assert!(pauses.len() >= 4, "{pauses:?}");
            for (pause, full) in pauses
                .iter()
                .zip([400, 800, 1600, 1600, 1600, 1600, 1600, 1600, 1600, 1600, 1600])
            {
                assert!(*pause >= ms(full / 2) && *pause <= ms(full), "{pause:?} of {full} ms");
            }
            drawn.insert(pauses[0]);
        }
        assert!(drawn.len() > 1, "the first pause was the same 20 times: {drawn:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_clipped_backoff_shortens_its_last_pause_to_the_wait_left() {
        let secs = Duration::from_secs;
        let pauses = pauses_of(Backoff::new(secs(5), secs(30), secs(30)).clipped()).await;
        assert_eq!(pauses, [secs(5), secs(10), secs(15)]);
        let unclipped = pauses_of(Backoff::new(secs(5), secs(30), secs(30))).await;
        assert_eq!(unclipped, [secs(5), secs(10)]);
    }

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
