//! The change notification through the handler, in memory: one message for a run that changed or failed
//! anything, none for a run with nothing to do, a failed publish counted and never failing the sync, and a run
//! stopped before any write told as one failure.

use super::organization_tests::schedule;
use super::tests::{config, doc};
use crate::domain::ip_ranges::Scope;
use crate::domain::notification::Status;
use crate::handler::App;
use crate::testing::{FakeEc2, FakeSource, FakeTopic};

fn app(
    topic: FakeTopic,
    source: FakeSource,
) -> App<FakeSource, FakeEc2, crate::ports::NoIpSets, crate::ports::NoOrganization, FakeTopic> {
    let ec2 = FakeEc2::default();
    ec2.add_set_group("sg-1", "vpc-1", Scope::Global);
    App {
        config: config(&[]),
        source,
        accounts: vec![crate::ports::Account::own(ec2)],
        organization: crate::ports::NoOrganization,
        notifications: topic,
    }
}

#[tokio::test]
async fn a_run_that_changed_something_publishes_once_and_the_same_run_again_publishes_nothing() {
    let app = app(
        FakeTopic::default(),
        FakeSource::new([doc(2, &["11.0.1.0/24", "11.0.3.0/24"], &[])]),
    );
    app.handle(&schedule(), None).await.unwrap();
    app.handle(&schedule(), None).await.unwrap();
    let published = app.notifications.published();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].status, Status::Changed);
    assert_eq!(published[0].sync_token, 2);
    assert!(
        published[0]
            .body
            .contains("security group set sg-1 (vpc-1 cloudfront_g port 443)\n  + 11.0.1.0/24\n  + 11.0.3.0/24\n"),
        "{}",
        published[0].body
    );
}

#[tokio::test]
async fn a_publish_that_fails_is_counted_in_the_summary_and_the_metric_and_the_sync_succeeds() {
    let app = app(FakeTopic::failing(), FakeSource::new([doc(2, &["11.0.1.0/24"], &[])]));
    let summary = app.handle(&schedule(), None).await.unwrap();
    assert_eq!(summary.notifications_failed, 1);
    assert_eq!(crate::metrics::emf(&summary, 0)["NotificationsFailed"], 1);
}

#[tokio::test]
async fn a_run_stopped_before_any_write_is_told_as_one_failure() {
    // A document that is not one: the run stops at the parse.
    let app = app(FakeTopic::default(), FakeSource::new([b"not json".to_vec()]));
    assert!(app.handle(&schedule(), None).await.is_err());
    let published = app.notifications.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].status, Status::Failed);
    let (subject, body) = (&published[0].subject, &published[0].body);
    assert!(body.starts_with("Failed: 1\n  the run stopped: "), "{body}");
    assert!(body.ends_with("\nNo file was applied.\n"), "{body}");
    assert_eq!(subject, "cloudfront-sg-sync: 1 failed, no file applied");
}

/// A topic that never answers.
struct SilentTopic;

impl crate::ports::Notifications for SilentTopic {
    async fn publish(&self, _message: &crate::domain::notification::Message) -> crate::error::Result<()> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_topic_that_does_not_answer_is_given_up_on_within_the_time_left_and_counted() {
    let outcome = crate::domain::notification::RunOutcome {
        failures: vec!["a failure".into()],
        ..Default::default()
    };
    let started = tokio::time::Instant::now();
    let deadline = started + std::time::Duration::from_secs(3);
    assert!(
        super::notify(&SilentTopic, || outcome.clone(), Some(deadline)).await,
        "counted as failed"
    );
    assert_eq!(
        started.elapsed(),
        std::time::Duration::from_secs(3),
        "no later than the deadline"
    );
    let started = tokio::time::Instant::now();
    assert!(super::notify(&SilentTopic, || outcome.clone(), None).await);
    assert_eq!(started.elapsed(), super::notification::PUBLISH_TIMEOUT);
}
