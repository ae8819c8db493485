//! The fake of [`RangesSource`]: a queue of `ip-ranges.json` bodies.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::time::Instant;

use crate::error::Result;
use crate::ports::RangesSource;

/// A source that answers each fetch with the next body of a queue (the last one again once it is empty).
pub struct FakeSource {
    bodies: Mutex<VecDeque<Vec<u8>>>,
    fetches: Mutex<Vec<Instant>>,
}

impl FakeSource {
    pub fn new(bodies: impl IntoIterator<Item = Vec<u8>>) -> FakeSource {
        FakeSource {
            bodies: Mutex::new(bodies.into_iter().collect()),
            fetches: Mutex::new(Vec::new()),
        }
    }

    /// When each fetch happened.
    pub fn fetches(&self) -> Vec<Instant> {
        self.fetches.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

impl RangesSource for FakeSource {
    async fn fetch(&self) -> Result<Vec<u8>> {
        if let Ok(mut f) = self.fetches.lock() {
            f.push(Instant::now());
        }
        let mut bodies = self.bodies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let body = if bodies.len() > 1 {
            bodies.pop_front()
        } else {
            bodies.front().cloned()
        };
        Ok(body.unwrap_or_default())
    }

    fn location(&self) -> &str {
        "memory"
    }
}
