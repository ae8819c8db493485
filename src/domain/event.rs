//! What started a run: an `AmazonIpSpaceChanged` SNS notification or an EventBridge schedule.
//!
//! Pure: event bytes in, a [`Trigger`] out. The envelopes are `aws_lambda_events`' types ([`SnsRecord`],
//! [`EventBridgeEvent`]): an event must carry every field Lambda sends, and an error names the one missing or
//! wrong by its path (`Sns.Timestamp`). The message AWS publishes inside is strict about what we use
//! (`synctoken`, `md5`) and treats `create-time` and `url` as opaque text that is only logged.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sns::SnsRecord;
use serde::Deserialize;
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

/// The `EventSource` of a record SNS delivers to Lambda.
const SNS_SOURCE: &str = "aws:sns";

/// Where a record that is not as Lambda sends it is told what is.
const LIKE_LAMBDA: &str = "a record as Lambda sends it is in events/sns-notification.json";

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

    /// Recognize the event's shape: `Records` is an SNS event (several records: the newest `synctoken` wins),
    /// `detail-type` an EventBridge event.
    pub fn from_value(event: &Value) -> Result<Trigger> {
        let Some(object) = event.as_object() else {
            return Err(event_error(format!("the event is {}, not an object", kind_of(event))));
        };
        if let Some(records) = object.get("Records") {
            return newest_notification(records).map(Trigger::Notification);
        }
        if !object.contains_key("detail-type") {
            return Err(event_error("it has neither Records nor detail-type"));
        }
        let event: EventBridgeEvent = typed(event, "the event").map_err(event_error)?;
        match event.detail_type.as_str() {
            "Scheduled Event" => Ok(Trigger::Scheduled),
            other => Err(event_error(format!("detail-type {other:?} is not \"Scheduled Event\""))),
        }
    }
}

fn event_error(reason: impl Into<String>) -> Error {
    Error::Event { reason: reason.into() }
}

/// The notification of the record with the newest `synctoken`; any bad record fails the event.
fn newest_notification(records: &Value) -> Result<Notification> {
    let records = records
        .as_array()
        .ok_or_else(|| event_error("Records is not an array"))?;
    let mut newest: Option<Notification> = None;
    for (index, record) in records.iter().enumerate() {
        let notification = parse_record(index, record)?;
        if newest.as_ref().is_none_or(|n| notification.sync_token > n.sync_token) {
            newest = Some(notification);
        }
    }
    newest.ok_or_else(|| event_error("Records is empty"))
}

/// `value` as a `T`, or what is missing or wrong in it, by path: "the record has no Sns.Message",
/// "Sns.Timestamp: input contains invalid characters". `what` names `value` ("the record").
fn typed<'de, T: Deserialize<'de>>(value: &'de Value, what: &str) -> std::result::Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let prefix = if path == "." { String::new() } else { format!("{path}.") };
        match inner.strip_prefix("missing field `").and_then(|f| f.strip_suffix('`')) {
            Some(field) => format!("{what} has no {prefix}{field}"),
            None if path == "." => format!("{what}: {inner}"),
            None => format!("{path}: {inner}"),
        }
    })
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

/// One SNS record: the envelope Lambda sends, then the `AmazonIpSpaceChanged` message it carries.
fn parse_record(record: usize, value: &Value) -> Result<Notification> {
    let err = |reason: String| Error::Notification { record, reason };
    let sns: SnsRecord = typed(value, "the record").map_err(|reason| err(format!("{reason}; {LIKE_LAMBDA}")))?;
    if sns.event_source != SNS_SOURCE {
        return Err(err(format!("EventSource {:?} is not {SNS_SOURCE:?}", sns.event_source)));
    }
    let message: Value =
        serde_json::from_str(&sns.sns.message).map_err(|e| err(format!("Sns.Message is not JSON ({e})")))?;
    parse_message(&message).map_err(err)
}

/// The message AWS publishes: `{"create-time", "synctoken", "md5", "url"}`, every value a string.
fn parse_message(message: &Value) -> std::result::Result<Notification, String> {
    if !message.is_object() {
        return Err(format!("Sns.Message is {}, not an object", kind_of(message)));
    }
    let text = |field: &str, required: bool| -> std::result::Result<Option<String>, String> {
        match message.get(field) {
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => Err(format!("the message has no {field:?}")),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!("{field:?} is {}, not a string", kind_of(other))),
        }
    };
    let token = text("synctoken", true)?.unwrap_or_default();
    let sync_token = parse_sync_token(&token).ok_or_else(|| format!("synctoken {token:?} is not a number"))?;
    let md5 = text("md5", true)?.unwrap_or_default();
    if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("md5 {md5:?} is not 32 hex digits"));
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

    /// The record of the bundled real-shaped SNS event (`events/sns-notification.json`), carrying `message`.
    fn record(message: Value) -> Value {
        let mut event: Value = serde_json::from_str(include_str!("../../events/sns-notification.json")).unwrap();
        let mut record = event["Records"][0].take();
        record["Sns"]["Message"] = message;
        record
    }

    fn sns(message: Value) -> Value {
        json!({"Records": [record(message)]})
    }

    /// The bundled real-shaped scheduled event (`events/scheduled.json`).
    fn scheduled() -> Value {
        serde_json::from_str(include_str!("../../events/scheduled.json")).unwrap()
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
            record(json!(message("20", "11111111111111111111111111111111"))),
            record(json!(message("300", "33333333333333333333333333333333"))),
            record(json!(message("100", "22222222222222222222222222222222"))),
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
        assert_eq!(Trigger::from_value(&scheduled()).unwrap(), Trigger::Scheduled);
    }

    #[test]
    fn fields_lambda_may_leave_out_or_null_are_not_required() {
        let mut event = sns(json!(message("7", "d41d8cd98f00b204e9800998ecf8427e")));
        let sns = event["Records"][0]["Sns"].as_object_mut().unwrap();
        sns.remove("Subject");
        sns.insert("MessageAttributes".into(), Value::Null);
        assert!(matches!(Trigger::from_value(&event), Ok(Trigger::Notification(_))));
        let mut schedule = scheduled();
        for field in ["version", "id", "account", "time", "region", "resources"] {
            schedule.as_object_mut().unwrap().remove(field);
        }
        assert_eq!(Trigger::from_value(&schedule).unwrap(), Trigger::Scheduled);
    }

    /// An SNS event whose message is `message`, as bytes.
    fn sns_bytes(message: Value) -> Vec<u8> {
        sns(json!(message.to_string())).to_string().into_bytes()
    }

    /// The bundled SNS event with `edit` applied to its record, as bytes.
    fn edited_record(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Vec<u8> {
        let mut record = record(json!(message("1", "d41d8cd98f00b204e9800998ecf8427e")));
        edit(record.as_object_mut().unwrap());
        json!({"Records": [record]}).to_string().into_bytes()
    }

    /// The bundled scheduled event with `edit` applied, as bytes.
    fn edited_schedule(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Vec<u8> {
        let mut event = scheduled();
        edit(event.as_object_mut().unwrap());
        event.to_string().into_bytes()
    }

    fn sns_field(field: &'static str, value: Option<Value>) -> impl FnOnce(&mut serde_json::Map<String, Value>) {
        move |record| {
            let sns = record["Sns"].as_object_mut().unwrap();
            match value {
                Some(v) => sns.insert(field.into(), v),
                None => sns.remove(field),
            };
        }
    }

    /// Bad envelopes and a phrase the error must hold.
    fn bad_envelopes() -> Vec<(Vec<u8>, &'static str)> {
        let raw = |s: &str| s.as_bytes().to_vec();
        vec![
            (raw(""), "the event is empty"),
            (raw("  \n"), "the event is empty"),
            (raw("{not json"), "not JSON"),
            (raw("null"), "null, not an object"),
            (raw("[]"), "an array, not an object"),
            (raw("{}"), "neither Records nor detail-type"),
            (raw(r#"{"Records": {}}"#), "Records is not an array"),
            (raw(r#"{"Records": []}"#), "Records is empty"),
            (raw(r#"{"Records": [5]}"#), "the record: invalid type: integer `5`"),
            (raw(r#"{"Records": [{}]}"#), "the record has no EventSource"),
            (
                raw(r#"{"Records": [{"Sns": {"Message": "{}"}}]}"#),
                "the record has no Sns.Type",
            ),
            (edited_record(|r| drop(r.remove("Sns"))), "the record has no Sns"),
            (
                edited_record(sns_field("Message", None)),
                "the record has no Sns.Message",
            ),
            (
                edited_record(sns_field("TopicArn", None)),
                "the record has no Sns.TopicArn",
            ),
            (
                edited_record(sns_field("Message", Some(json!(5)))),
                "Sns.Message: invalid type: integer `5`, expected a string",
            ),
            (
                edited_record(sns_field("Timestamp", Some(json!("yesterday")))),
                "Sns.Timestamp: ",
            ),
            (
                edited_record(|r| drop(r.insert("EventSource".into(), json!("aws:sqs")))),
                "EventSource \"aws:sqs\" is not \"aws:sns\"",
            ),
            (
                edited_schedule(|e| drop(e.insert("detail-type".into(), json!("AWS API Call via CloudTrail")))),
                "detail-type \"AWS API Call via CloudTrail\" is not \"Scheduled Event\"",
            ),
            (raw(r#"{"detail-type": "Scheduled Event"}"#), "the event has no source"),
            (edited_schedule(|e| drop(e.remove("detail"))), "the event has no detail"),
            (
                edited_schedule(|e| drop(e.insert("detail-type".into(), json!(7)))),
                "detail-type: invalid type: integer `7`, expected a string",
            ),
            (
                edited_schedule(|e| drop(e.insert("time".into(), json!("noon")))),
                "time: ",
            ),
        ]
    }

    /// Good envelopes carrying bad messages, and a phrase the error must hold.
    fn bad_messages() -> Vec<(Vec<u8>, &'static str)> {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let text = |m: String| sns(json!(m)).to_string().into_bytes();
        vec![
            (text("hello".into()), "Sns.Message is not JSON"),
            (text("[1]".into()), "Sns.Message is an array, not an object"),
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
        for (input, expected) in bad_envelopes().into_iter().chain(bad_messages()) {
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
            record(json!(message("20", "11111111111111111111111111111111"))),
            record(json!("oops")),
        ]});
        let err = Trigger::from_value(&event).unwrap_err();
        assert!(err.to_string().contains("record 1"), "{err}");
    }
}
