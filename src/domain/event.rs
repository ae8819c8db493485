//! What started a run: an `AmazonIpSpaceChanged` SNS notification or an EventBridge schedule.
//!
//! Pure: a JSON value in, a [`Trigger`] out. Parsing is strict about what we use (`synctoken`, `md5`) and
//! treats `create-time` and `url` as opaque text that is only logged.

use serde_json::Value;

use crate::domain::ip_ranges::parse_sync_token;
use crate::error::{Error, Result};

/// Why the function runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// AWS announced a new `ip-ranges.json`: apply it if its MD5 matches (or it is newer still).
    Notification(Notification),
    /// A scheduled run: apply the file published now, with no MD5 to compare. Repairs drift and missed
    /// notifications.
    Scheduled,
}

/// The message of an `AmazonIpSpaceChanged` notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The message's `synctoken`: the `syncToken` of the file it announces.
    pub sync_token: u64,
    /// Lower-case hex.
    pub md5: String,
    /// Opaque: real messages do not follow the documented format.
    pub create_time: Option<String>,
    /// Only logged: the function always downloads from its configured URL.
    pub url: Option<String>,
}

impl Trigger {
    /// Parse raw event bytes (the Lambda payload).
    pub fn from_slice(bytes: &[u8]) -> Result<Trigger> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(event_error("the event is empty"));
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| event_error(format!("the event is not JSON ({e})")))?;
        Trigger::from_value(&value)
    }

    /// Recognize the event's shape. Several SNS records: the newest `synctoken` wins.
    pub fn from_value(event: &Value) -> Result<Trigger> {
        let Some(object) = event.as_object() else {
            return Err(event_error(format!("the event is {}, not an object", kind_of(event))));
        };
        if let Some(records) = object.get("Records") {
            let records = records
                .as_array()
                .ok_or_else(|| event_error("Records is not an array"))?;
            if records.is_empty() {
                return Err(event_error("Records is empty"));
            }
            let mut newest: Option<Notification> = None;
            for (index, record) in records.iter().enumerate() {
                let notification = parse_record(index, record)?;
                if newest.as_ref().is_none_or(|n| notification.sync_token > n.sync_token) {
                    newest = Some(notification);
                }
            }
            return newest
                .map(Trigger::Notification)
                .ok_or_else(|| event_error("Records is empty"));
        }
        match object.get("detail-type").and_then(Value::as_str) {
            Some("Scheduled Event") => Ok(Trigger::Scheduled),
            Some(other) => Err(event_error(format!("detail-type {other:?} is not \"Scheduled Event\""))),
            None => Err(event_error("it has neither Records nor detail-type")),
        }
    }
}

fn event_error(reason: impl Into<String>) -> Error {
    Error::Event { reason: reason.into() }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_record(record: usize, value: &Value) -> Result<Notification> {
    let err = |reason: String| Error::Notification { record, reason };
    let message = value
        .get("Sns")
        .ok_or_else(|| err("the record has no Sns object".into()))?
        .get("Message")
        .ok_or_else(|| err("the record has no Sns.Message".into()))?;
    let message = message.as_str().ok_or_else(|| {
        err(format!(
            "Sns.Message is {}, not a string holding JSON",
            kind_of(message)
        ))
    })?;
    let message: Value = serde_json::from_str(message).map_err(|e| err(format!("Sns.Message is not JSON ({e})")))?;
    if !message.is_object() {
        return Err(err(format!("Sns.Message is {}, not an object", kind_of(&message))));
    }
    let text = |field: &str, required: bool| -> Result<Option<String>> {
        match message.get(field) {
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => Err(err(format!("the message has no {field:?}"))),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(err(format!("{field:?} is {}, not a string", kind_of(other)))),
        }
    };
    let token = text("synctoken", true)?.unwrap_or_default();
    let sync_token = parse_sync_token(&token).ok_or_else(|| err(format!("synctoken {token:?} is not a number")))?;
    let md5 = text("md5", true)?.unwrap_or_default();
    if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err(format!("md5 {md5:?} is not 32 hex digits")));
    }
    Ok(Notification {
        sync_token,
        md5: md5.to_ascii_lowercase(),
        create_time: text("create-time", false)?,
        url: text("url", false)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sns(message: Value) -> Value {
        json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": message}}]})
    }

    fn message(synctoken: &str, md5: &str) -> String {
        json!({"create-time": "2026-08-22-15-17-05", "synctoken": synctoken, "md5": md5,
               "url": "https://ip-ranges.amazonaws.com/ip-ranges.json"})
        .to_string()
    }

    #[test]
    fn sns_notification_is_parsed_with_md5_lower_cased() {
        let t = Trigger::from_value(&sns(json!(message("1787411825", "63431D35877FA5386DED1A7DF9CFA971")))).unwrap();
        assert_eq!(
            t,
            Trigger::Notification(Notification {
                sync_token: 1_787_411_825,
                md5: "63431d35877fa5386ded1a7df9cfa971".into(),
                create_time: Some("2026-08-22-15-17-05".into()),
                url: Some("https://ip-ranges.amazonaws.com/ip-ranges.json".into()),
            })
        );
    }

    #[test]
    fn create_time_and_url_are_optional_and_opaque() {
        let msg = json!({"synctoken": "5", "md5": "d41d8cd98f00b204e9800998ecf8427e", "create-time": "whenever"});
        let Trigger::Notification(n) = Trigger::from_value(&sns(json!(msg.to_string()))).unwrap() else {
            panic!("not a notification");
        };
        assert_eq!(n.create_time.as_deref(), Some("whenever"));
        assert_eq!(n.url, None);
    }

    #[test]
    fn the_newest_synctoken_of_several_records_wins() {
        let event = json!({"Records": [
            {"Sns": {"Message": message("20", "11111111111111111111111111111111")}},
            {"Sns": {"Message": message("300", "33333333333333333333333333333333")}},
            {"Sns": {"Message": message("100", "22222222222222222222222222222222")}},
        ]});
        let Trigger::Notification(n) = Trigger::from_value(&event).unwrap() else {
            panic!("not a notification");
        };
        assert_eq!(
            (n.sync_token, n.md5.as_str()),
            (300, "33333333333333333333333333333333")
        );
    }

    #[test]
    fn scheduled_event_is_recognized() {
        let event = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
                           "time": "2026-11-21T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
        assert_eq!(Trigger::from_value(&event).unwrap(), Trigger::Scheduled);
    }

    /// An SNS event whose message is `message`, as bytes.
    fn sns_bytes(message: serde_json::Value) -> Vec<u8> {
        sns(json!(message.to_string())).to_string().into_bytes()
    }

    /// Bad events and a phrase the error must hold.
    fn bad_events() -> Vec<(Vec<u8>, &'static str)> {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let raw = |s: &str| s.as_bytes().to_vec();
        let text = |m: String| sns(json!(m)).to_string().into_bytes();
        vec![
            (raw(""), "the event is empty"),
            (raw("  \n"), "the event is empty"),
            (raw("{not json"), "not JSON"),
            (raw("null"), "null, not an object"),
            (raw("[]"), "an array, not an object"),
            (raw("{}"), "neither Records nor detail-type"),
            (raw(r#"{"Records": {}}"#), "Records is not an array"),
            (raw(r#"{"Records": []}"#), "Records is empty"),
            (
                raw(r#"{"detail-type": "AWS API Call via CloudTrail"}"#),
                "is not \"Scheduled Event\"",
            ),
            (raw(r#"{"Records": [{}]}"#), "no Sns object"),
            (raw(r#"{"Records": [{"Sns": {}}]}"#), "no Sns.Message"),
            (
                raw(r#"{"Records": [{"Sns": {"Message": 5}}]}"#),
                "a number, not a string",
            ),
            (
                raw(r#"{"Records": [{"Sns": {"Message": "hello"}}]}"#),
                "Sns.Message is not JSON",
            ),
            (
                raw(r#"{"Records": [{"Sns": {"Message": "[1]"}}]}"#),
                "an array, not an object",
            ),
            (sns_bytes(json!({"md5": md5})), "no \"synctoken\""),
            (sns_bytes(json!({"synctoken": "1"})), "no \"md5\""),
            (
                sns_bytes(json!({"synctoken": 1, "md5": md5})),
                "\"synctoken\" is a number, not a string",
            ),
            (text(message("abc", md5)), "synctoken \"abc\" is not a number"),
            (
                text(message("1", "zz1d8cd98f00b204e9800998ecf8427e")),
                "is not 32 hex digits",
            ),
            (text(message("1", "d41d8cd9")), "is not 32 hex digits"),
            (
                sns_bytes(json!({"synctoken": "1", "md5": md5, "url": 7})),
                "\"url\" is a number, not a string",
            ),
        ]
    }

    #[test]
    fn every_bad_event_is_an_error_that_says_what_was_wrong() {
        for (input, expected) in bad_events() {
            let err = Trigger::from_slice(&input).unwrap_err();
            assert!(
                matches!(err, Error::Event { .. } | Error::Notification { .. }),
                "{err:?}"
            );
            assert!(
                err.to_string().contains(expected),
                "{}: {err}",
                String::from_utf8_lossy(&input)
            );
        }
    }

    #[test]
    fn one_bad_record_among_good_ones_fails_the_event() {
        let event = json!({"Records": [
            {"Sns": {"Message": message("20", "11111111111111111111111111111111")}},
            {"Sns": {"Message": "oops"}},
        ]});
        let err = Trigger::from_value(&event).unwrap_err();
        assert!(err.to_string().contains("record 1"), "{err}");
    }
}
