//! The change notification (`NOTIFY_TOPIC_ARN`) on moto: an SNS topic with an SQS queue subscribed, read back
//! as a relay to chat or e-mail would read it.

mod common;

use cloudfront_sg_sync::adapters::aws::loader;
use cloudfront_sg_sync::handler::App;
use common::*;
use serde_json::{Value, json};

/// One call of SQS's JSON protocol to moto (the tests need no SQS SDK for four calls).
async fn sqs(endpoint: &str, action: &str, body: Value) -> Value {
    let answer = reqwest::Client::new()
        .post(endpoint)
        .header("X-Amz-Target", format!("AmazonSQS.{action}"))
        // moto picks the service by the credential scope (it checks no signature).
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
        )
        .header("Content-Type", "application/x-amz-json-1.0")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{action}: {}", answer.status());
    let bytes = answer.bytes().await.unwrap();
    match bytes.is_empty() {
        true => Value::Null,
        false => serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{action}: {e}: {bytes:?}")),
    }
}

/// A topic with a queue subscribed: (topic ARN, queue URL).
async fn topic_with_queue(endpoint: &str) -> (String, String) {
    let sns = aws_sdk_sns::Client::new(&sdk_config_at(endpoint, "us-east-1").await);
    let topic = sns.create_topic().name("changes").send().await.unwrap();
    let topic = topic.topic_arn().unwrap().to_owned();
    let queue = sqs(endpoint, "CreateQueue", json!({"QueueName": "relay"})).await;
    let url = queue["QueueUrl"].as_str().unwrap().to_owned();
    let attributes = json!({"QueueUrl": url, "AttributeNames": ["QueueArn"]});
    let arn = sqs(endpoint, "GetQueueAttributes", attributes).await["Attributes"]["QueueArn"].clone();
    let subscribe = sns.subscribe().topic_arn(&topic).protocol("sqs");
    subscribe.endpoint(arn.as_str().unwrap()).send().await.unwrap();
    (topic, url)
}

/// The SNS envelopes waiting in the queue (and taken from it).
async fn received(endpoint: &str, queue: &str) -> Vec<Value> {
    let answer = sqs(
        endpoint,
        "ReceiveMessage",
        json!({"QueueUrl": queue, "MaxNumberOfMessages": 10}),
    )
    .await;
    let messages = answer["Messages"].as_array().cloned().unwrap_or_default();
    for m in &messages {
        sqs(
            endpoint,
            "DeleteMessage",
            json!({"QueueUrl": queue, "ReceiptHandle": m["ReceiptHandle"]}),
        )
        .await;
    }
    (messages.iter())
        .map(|m| serde_json::from_str(m["Body"].as_str().unwrap()).unwrap())
        .collect()
}

/// The function as deployed, with `vars`, against the world's moto.
async fn function(
    w: &World,
    vars: &[(&str, &str)],
) -> App<
    cloudfront_sg_sync::adapters::source::HttpSource,
    cloudfront_sg_sync::adapters::ec2::Ec2,
    cloudfront_sg_sync::adapters::ip_sets::WafIpSets,
    cloudfront_sg_sync::adapters::accounts::AwsOrganization,
    Option<cloudfront_sg_sync::adapters::notification::SnsTopic>,
> {
    let config = config(&w.vars(vars));
    App::with_loader(config, loader().endpoint_url(&w.moto.endpoint).test_credentials())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_run_that_changes_or_fails_sends_one_message_and_a_run_with_nothing_to_do_sends_none() {
    let w = world(NEWEST, 5, 4).await;
    let (topic, queue) = topic_with_queue(&w.moto.endpoint).await;
    let app = function(&w, &[("NOTIFY_TOPIC_ARN", &topic), ("AGGREGATE", "true")]).await;
    let event = notification_for(&fixture(NEWEST));

    let first = app.handle(&event, None).await.unwrap();
    assert_eq!(first.notifications_failed, 0);
    let messages = received(&w.moto.endpoint, &queue).await;
    assert_eq!(messages.len(), 1, "one message for the whole run");
    let m = &messages[0];
    assert_eq!(
        m["Subject"],
        "cloudfront-sg-sync: 2 targets changed (+211 -0), syncToken 1787411825"
    );
    assert_eq!(m["MessageAttributes"]["status"]["Value"], "changed");
    assert_eq!(m["MessageAttributes"]["sync_token"]["Value"], "1787411825");
    let body = m["Message"].as_str().unwrap();
    assert!(
        body.starts_with("Changed: 2 targets\n\nown account us-east-1 security group set sg-"),
        "{body}"
    );
    assert!(
        body.contains(&format!("({} cloudfront_g port 443)\n  + ", w.vpc)),
        "{body}"
    );
    assert_eq!(
        body.lines().filter(|l| l.starts_with("  + ")).count(),
        211,
        "every CIDR added"
    );
    assert!(
        body.ends_with("\nsyncToken 1787411825, createDate 2026-08-22-15-17-05\n"),
        "{body}"
    );

    // Nothing to do: no message.
    app.handle(&event, None).await.unwrap();
    assert!(received(&w.moto.endpoint, &queue).await.is_empty());

    // A prefix list too small for its ranges fails alone: the run's message says so, status failed.
    let tags = [("Name", "cloudfront_r"), ("AutoUpdate", "true")];
    let list = sized_list(&w.client, "IPv4", &tags, 5, &[]).await;
    assert!(app.handle(&event, None).await.is_err());
    let messages = received(&w.moto.endpoint, &queue).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["MessageAttributes"]["status"]["Value"], "failed");
    assert_eq!(
        messages[0]["Subject"],
        "cloudfront-sg-sync: 1 failed, syncToken 1787411825"
    );
    let body = messages[0]["Message"].as_str().unwrap();
    assert!(body.starts_with("Failed: 1\n  "), "{body}");
    assert!(body.contains(&list), "{body}");
}

#[tokio::test]
async fn a_publish_that_fails_is_counted_and_never_fails_the_sync() {
    let w = world(NEWEST, 5, 4).await;
    let missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic";
    let app = function(&w, &[("NOTIFY_TOPIC_ARN", missing)]).await;
    let summary = app.handle(&notification_for(&fixture(NEWEST)), None).await.unwrap();
    assert_eq!(summary.notifications_failed, 1);
    assert!(summary.failures().is_empty());
    assert!(summary.added() > 0);
}
