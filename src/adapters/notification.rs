//! The change notification through `aws-sdk-sns` ([`Notifications`]): one Publish to `NOTIFY_TOPIC_ARN`, in
//! the topic's region, with the function's own credentials, and the message attributes `status` and
//! `sync_token` for subscription filters.

use aws_config::SdkConfig;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;

use super::aws::{NoRetryWhenUnreachable, service_error};
use crate::domain::notification::Message;
use crate::error::{Error, Result};
use crate::ports::Notifications;

/// [`Notifications`] over the real SNS API (or anything at `AWS_ENDPOINT_URL`, such as moto).
#[derive(Debug, Clone)]
pub struct SnsTopic {
    client: Client,
    topic: String,
}

impl SnsTopic {
    /// A client of `topic`'s region (its ARN's fourth field) with `shared`'s credentials and settings.
    pub fn from_shared(shared: &SdkConfig, topic: &str) -> SnsTopic {
        let region = topic.split(':').nth(3).unwrap_or("us-east-1").to_owned();
        // Three attempts (not EC2_MAX_ATTEMPTS): the message is worth a retry, not a long wait.
        let config = aws_sdk_sns::config::Builder::from(shared)
            .region(aws_config::Region::new(region))
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
            .retry_classifier(NoRetryWhenUnreachable)
            .build();
        SnsTopic {
            client: Client::from_conf(config),
            topic: topic.to_owned(),
        }
    }
}

/// A string message attribute.
fn attribute(value: &str) -> Result<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| Error::Publish {
            topic: String::new(),
            code: "InvalidParameter".to_owned(),
            message: e.to_string(),
        })
}

impl Notifications for SnsTopic {
    async fn publish(&self, message: &Message) -> Result<()> {
        self.client
            .publish()
            .topic_arn(&self.topic)
            .subject(&message.subject)
            .message(&message.body)
            .message_attributes("status", attribute(message.status.as_str())?)
            .message_attributes("sync_token", attribute(&message.sync_token.to_string())?)
            .send()
            .await
            .map_err(|e| {
                service_error(&e, |code, text| Error::Publish {
                    topic: self.topic.clone(),
                    code,
                    message: text,
                })
            })?;
        Ok(())
    }
}
