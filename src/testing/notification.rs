//! The fake of [`Notifications`]: every message published kept, in order; a publish may be made to fail.

use std::sync::Mutex;

use crate::domain::notification::Message;
use crate::error::{Error, Result};
use crate::ports::Notifications;

/// A topic in memory.
#[derive(Debug, Default)]
pub struct FakeTopic {
    published: Mutex<Vec<Message>>,
    failing: bool,
}

impl FakeTopic {
    /// A topic whose every publish fails (as SNS answering `NotFound`).
    pub fn failing() -> FakeTopic {
        FakeTopic {
            failing: true,
            ..FakeTopic::default()
        }
    }

    /// The messages published so far.
    pub fn published(&self) -> Vec<Message> {
        self.published.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Notifications for FakeTopic {
    async fn publish(&self, message: &Message) -> Result<()> {
        if self.failing {
            return Err(Error::Publish {
                topic: "arn:aws:sns:us-east-1:123456789012:fake".to_owned(),
                code: "NotFound".to_owned(),
                message: "Topic does not exist".to_owned(),
            });
        }
        if let Ok(mut published) = self.published.lock() {
            published.push(message.clone());
        }
        Ok(())
    }
}
