//! The files in events/ are real-shaped: they deserialize as the AWS event types, and as our triggers.

use cloudfront_sg_sync::domain::event::{Notification, Trigger};

fn read(path: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

#[test]
fn the_sns_event_is_an_sns_event_for_the_amazon_ip_space_changed_topic() {
    let bytes = read("events/sns-notification.json");
    let sns: aws_lambda_events::event::sns::SnsEvent = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        sns.records[0].sns.topic_arn,
        "arn:aws:sns:us-east-1:806199016981:AmazonIpSpaceChanged"
    );
    assert_eq!(
        Trigger::from_slice(&bytes).unwrap(),
        Trigger::Notification(Notification {
            sync_token: 1_787_411_825,
            md5: "63431d35877fa5386ded1a7df9cfa971".into(),
            create_time: Some("2026-08-22-15-17-05".into()),
            url: Some("https://ip-ranges.amazonaws.com/ip-ranges.json".into()),
        })
    );
}

#[test]
fn the_scheduled_event_is_an_eventbridge_scheduled_event() {
    let bytes = read("events/scheduled.json");
    let event: aws_lambda_events::event::eventbridge::EventBridgeEvent = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(event.detail_type, "Scheduled Event");
    assert_eq!(Trigger::from_slice(&bytes).unwrap(), Trigger::Scheduled);
}
