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
//! The one place the layout is described (the README points here). Arrows only run downwards: the core knows
//! nothing of the ports, the ports nothing of the adapters, and only [`sync`] wires them together.
//!
//! **Core** (pure: no I/O, no async, no SDK types; unit-tested without mocks):
//! - [`cidr`]: canonical CIDR blocks.
//! - [`event`]: what started a run: SNS notification or schedule.
//! - [`ip_ranges`]: parse `ip-ranges.json`, MD5, select the wanted prefixes per scope.
//! - [`plan`]: rule ownership, prefix-list weights, the per-version empty guard, the record of the file
//!   applied, placement over a set's groups within the quota, the plan of writes.
//! - [`attachment`]: is a set attached whole? Which network interfaces carry only some of its groups.
//! - [`prefix_list`]: customer-managed prefix lists as a target: entries to add and remove, the size check and
//!   the empty guard, the ModifyManagedPrefixList calls (100 entries each).
//! - [`ip_set`]: AWS WAF IP sets as a target: wholly managed, the addresses each gets and loses, the guard.
//! - [`audit`]: the origin audit's checks (protocol, TLS, proof of the distribution, S3 access, the load
//!   balancer's groups) and its report.
//! - [`config`]: typed settings, read once; [`config::SETTINGS`] is the one list of them.
//! - [`report`]: what a run answers (the summary, text and JSON).
//! - [`error`]: the one error enum.
//!
//! **Ports** ([`ports`]: traits over core types, SDK-free):
//! - [`ports::RangesSource`]: where `ip-ranges.json` comes from.
//! - [`ports::SecurityGroups`]: where security groups live.
//! - [`ports::NetworkInterfaces`]: which network interfaces carry them (read-only).
//! - [`ports::PrefixLists`]: where the customer-managed prefix lists tagged for the sync live.
//! - [`ports::IpSets`]: where the WAF IP sets tagged for the sync live.
//! - [`ports::Account`]: one account's ports; a run syncs every account it is given.
//! - [`ports::Distributions`], [`ports::LoadBalancers`], [`ports::OriginGroups`]: what the origin audit reads
//!   (read-only).
//!
//! **Adapters** ([`adapters`]: each implements one port over real I/O):
//! - [`adapters::source`]: HTTP(S), or a local file for the CLI.
//! - [`adapters::ec2`]: `aws-sdk-ec2`, one client per region, built one way for production and mocks; every SDK
//!   client of a run shares one HTTPS client ([`adapters::ec2::loader`]).
//! - [`adapters::interfaces`]: DescribeNetworkInterfaces on the same clients.
//! - [`adapters::prefix_lists`]: Describe/GetEntries/ModifyManagedPrefixList on the same clients.
//! - [`adapters::ip_sets`]: `aws-sdk-wafv2` (ListIPSets, ListTagsForResource, GetIPSet, UpdateIPSet), one client
//!   per region (and us-east-1 for the `CLOUDFRONT` scope).
//! - [`adapters::accounts`]: one EC2 and one WAF adapter per account, the listed ones through their role (STS
//!   AssumeRole).
//! - [`adapters::origin_groups`]: the audit's EC2 reads (any group's rules, AWS's CloudFront prefix lists). The
//!   audit's CloudFront and ELBv2 adapters are in the CLI crate (`cli/src/adapters`): their SDKs stay out of the
//!   Lambda's zip.
//!
//! **Wiring**:
//! - [`sync`]: one run end to end (fetch, discover, check and plan, apply, read back, record; beside it, the
//!   prefix lists, the WAF IP sets and the attachment check), shared by the handler and the CLI; the only
//!   module that uses ports and core together. [`sync::audit`] wires the origin audit the same way.
//! - [`deadline`]: every call bounded by the time left before the invocation deadline, less a margin.
//! - [`metrics`]: the CloudWatch Embedded Metric Format line of a run.
//! - [`handler`]: the Lambda function; turns [`Error`] into a Lambda error, once.
//! - `src/bin/lambda.rs`: the Lambda's thin binary. The CLI's is `cli/src/main.rs`, in its own workspace crate
//!   (`cli/`), which `cargo build --bins` and `cargo test` at the top build too.
//! - `src/testing.rs` (tests only): in-memory ports, for fast tests of [`sync`] on a paused clock.
//!
//! **Around the crate**: `tests/` (emulator, mocked-EC2, fault and binary tests; `tests/common/` the harness:
//! moto per test, loopback file server, Runtime API, fault-injection proxy; `tests/fixtures/` real snapshots,
//! exact bytes, gzip), `cli/tests/` (the CLI, its audit against moto, concurrent CLI processes), `events/` (a real-shaped SNS notification and a scheduled event), `fuzz/` (cargo fuzz
//! targets of the core), `bench/` (criterion benchmarks of the core), `examples/bench_ec2.rs` (EC2 calls,
//! scale, cold start, memory, size), `scripts/` (the demo and fuzz drivers), `template.yaml` (the SAM stack).

#[cfg(feature = "runtime")]
pub mod adapters;
pub mod config;
#[cfg(feature = "runtime")]
pub mod deadline;
pub mod domain;
pub mod error;
#[cfg(feature = "runtime")]
pub mod handler;
#[cfg(feature = "runtime")]
pub mod metrics;
pub mod ports;
pub mod report;
#[cfg(feature = "runtime")]
pub mod sync;
#[cfg(all(test, feature = "runtime"))]
mod testing;

pub use error::{Error, Result};
