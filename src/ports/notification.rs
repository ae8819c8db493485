//! The port through which a run sends its change notification (see [`crate::domain::notification`]). The
//! adapter is [`crate::adapters::notification`].

use std::future::Future;

use crate::domain::notification::Message;
use crate::error::Result;

/// Where a run's message goes (`NOTIFY_TOPIC_ARN`).
pub trait Notifications: Send + Sync {
    /// Send `message` once.
    fn publish(&self, message: &Message) -> impl Future<Output = Result<()>> + Send;

    /// Whether messages go anywhere: without a topic, none is even composed.
    fn enabled(&self) -> bool {
        true
    }
}

/// No topic: nothing is sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNotifications;

impl Notifications for NoNotifications {
    async fn publish(&self, _message: &Message) -> Result<()> {
        Ok(())
    }

    fn enabled(&self) -> bool {
        false
    }
}

/// A topic or none (`NOTIFY_TOPIC_ARN` empty).
impl<N: Notifications> Notifications for Option<N> {
    async fn publish(&self, message: &Message) -> Result<()> {
        match self {
            Some(notifications) => notifications.publish(message).await,
            None => Ok(()),
        }
    }

    fn enabled(&self) -> bool {
        self.as_ref().is_some_and(Notifications::enabled)
    }
}
