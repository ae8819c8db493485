//! # cloudfront-sg-sync
//!
//! Keeps EC2 security groups open only to the address ranges Amazon CloudFront publishes.
//!
//! AWS announces every change of `ip-ranges.json` on the SNS topic `AmazonIpSpaceChanged`. The Lambda function
//! receives it (or a daily schedule), downloads the file, checks its MD5, keeps the CloudFront prefixes and
//! authorizes and revokes ingress rules until every tagged set of security groups matches them. A CLI runs
//! the same core from a laptop or a CI job.
//!
//! ## Layout
//!
//! Pure core (no I/O, no SDK types, unit-tested without mocks):
//! - [`cidr`]: canonical CIDR blocks.
//! - [`event`]: what started a run: SNS notification or schedule.
//! - [`ip_ranges`]: parse `ip-ranges.json`, MD5, select the wanted prefixes per scope.
//! - [`plan`]: rule ownership, placement over a set's groups within the quota, the plan of writes.
//! - [`config`]: typed settings, read once.
//!
//! The two I/O boundaries:
//! - [`source`]: where `ip-ranges.json` comes from (HTTP, or a file for the CLI).
//! - [`ec2`]: where security groups live (the `aws-sdk-ec2` adapter).
//!
//! Wiring:
//! - [`sync`]: one run end to end, shared by the handler and the CLI.
//! - [`deadline`]: every call bounded by the time left before the invocation deadline, less a margin.
//! - [`metrics`]: the CloudWatch Embedded Metric Format line of a run.
//! - [`handler`]: the Lambda function.
//! - `src/bin/lambda.rs` and `src/bin/cli.rs`: thin binaries.
//!
//! All errors are one enum, [`Error`], turned into a Lambda error once, in [`handler`].

#[cfg(feature = "runtime")]
pub mod adapters;
pub mod cidr;
pub mod config;
#[cfg(feature = "runtime")]
pub mod deadline;
pub mod error;
pub mod event;
#[cfg(feature = "runtime")]
pub mod handler;
pub mod ip_ranges;
#[cfg(feature = "runtime")]
pub mod metrics;
pub mod plan;
pub mod ports;
pub mod report;
#[cfg(feature = "runtime")]
pub mod sync;
#[cfg(all(test, feature = "runtime"))]
mod testing;

pub use error::{Error, Result};
