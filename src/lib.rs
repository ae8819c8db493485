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
//! The one place the layout is described (docs/development.md points here). Arrows only run downwards: the core knows
//! nothing of the ports, the ports nothing of the adapters, and only [`sync`] wires them together.
//!
//! **A target's four files carry its one name** in every layer: the planning in [`domain`], the port in
//! [`ports`], the adapter in [`adapters`], the wiring in [`sync`], and its in-memory fake in `src/testing/`:
//!
//! | target | core (pure) | port | adapter | wiring |
//! |---|---|---|---|---|
//! | security groups | `domain/security_groups.rs` | `ports/security_groups.rs` | `adapters/security_groups.rs` | `sync/security_groups.rs` |
//! | prefix lists | `domain/prefix_lists.rs` | `ports/prefix_lists.rs` | `adapters/prefix_lists.rs` | `sync/prefix_lists.rs` |
//! | WAF IP sets | `domain/ip_sets.rs` | `ports/ip_sets.rs` | `adapters/ip_sets.rs` | `sync/ip_sets.rs` |
//! | attachment check | `domain/attachment.rs` | `ports/network_interfaces.rs` | `adapters/network_interfaces.rs` | `sync/attachment.rs` |
//! | origin audit | `domain/audit.rs` | `ports/origins.rs` | `adapters/origin_groups.rs` (CloudFront and ELBv2: `cli/src/adapters/`) | `sync/audit.rs` |
//! | accounts of the organization | `domain/organization.rs` | `ports/organization.rs` | `adapters/organization.rs` (and `adapters/accounts.rs`: each account's adapters) | `sync/organization.rs` |
//! | change notifications | `domain/notification.rs` | `ports/notification.rs` | `adapters/notification.rs` (SNS) | `sync/notification.rs` |
//! | rotation of the origin secret | `domain/rotation.rs` (and `domain/origin_side.rs`: `Secret`) | `ports/rotation.rs` | `cli/src/adapters/` (Secrets Manager, CloudFront, ELBv2, WAFv2) | `sync/rotation.rs` |
//!
//! **Every target runs the same way** (`sync/target.rs`): a unit of the run's limit, the report, the mark judged
//! (never backwards), converge (plan, write, read back, re-plan), the file recorded unless a dry run, the error
//! folded into the report. Each region is read once, in one unit, for every kind (`sync/discover.rs`). Adding
//! a target, by the example of WAF IP sets:
//! 1. its pure plan in `domain/` (`domain/ip_sets.rs`: what to add and remove, the empty guard) and its
//!    [`domain::TargetKind`];
//! 2. its port in `ports/` (`ports/ip_sets.rs`: read the tagged ones of a region, write, read one again, mark);
//! 3. its adapter in `adapters/` (`adapters/ip_sets.rs`), built per account in `adapters/accounts.rs`;
//! 4. its `sync/` file: `impl Target for` the tagged target (report, mark, converge, record) and a
//!    `sync_…` that hands the targets found to `sync_all` (`sync/ip_sets.rs`), and its report in `report/`
//!    (`impl TargetReport` in `sync/target.rs`);
//! 5. one read line in `discover::read_beside` and one `sync_…` call in `sync::sync_account`.
//!
//! **Core** ([`domain`]: no I/O, no async, no SDK types; unit-tested without mocks; builds without the
//! `runtime` feature, as the fuzz targets use it):
//! - [`domain::cidr`]: canonical CIDR blocks.
//! - [`domain::event`]: what started a run: SNS notification or schedule, the envelopes read as
//!   `aws_lambda_events`' types (plain serde types, no runtime).
//! - [`domain::ip_ranges`]: parse `ip-ranges.json`, MD5, select the wanted prefixes per scope.
//! - [`domain::security_groups`]: rule ownership, prefix-list weights, the empty guard, the record of the file
//!   applied, placement over a set's groups within the quota, the plan of writes, what a read-back shows.
//! - [`domain::prefix_lists`]: entries to add and remove, the size check, the ModifyManagedPrefixList calls.
//! - [`domain::ip_sets`]: wholly managed IP sets: the addresses each gets and loses.
//! - [`domain::attachment`]: is a set attached whole? Which network interfaces carry only some of its groups.
//! - [`domain::audit`]: the origin audit's checks and its report (one account's, or every account's).
//! - [`domain::organization`]: the entries of `ACCOUNTS` (ids, OUs, roots, the organization) and which
//!   accounts a run syncs or skips.
//! - [`domain::aggregate`]: the fewest CIDRs covering exactly the selected ranges (`AGGREGATE`), applied as the
//!   file is parsed, so every target gets them.
//! - [`domain::notification`]: the one message of a run that changed or failed anything.
//! - [`domain::TargetKind`]: which kind of target (a set of groups, a prefix list, a WAF IP set) a report, a
//!   removal or a mark is of.
//!
//! Beside the core, also pure: [`config`] (typed settings, read once; [`config::SETTINGS`] is the one list of
//! them; `config/values.rs` reads each, `config/aws.rs` works out the partition and the STS region), [`report`]
//! (what a run answers, as data; `report/text.rs` renders it for a person, `report/commands.rs` holds the
//! reports of adopt, remove and unmark), [`error`] (the one error enum).
//!
//! **Ports** ([`ports`]: traits over core types, SDK-free): [`ports::RangesSource`], [`ports::SecurityGroups`],
//! [`ports::PrefixLists`], [`ports::IpSets`], [`ports::NetworkInterfaces`], [`ports::Distributions`],
//! [`ports::LoadBalancers`], [`ports::OriginGroups`], [`ports::Organization`] (and [`ports::Connect`]: the ports
//! of an account found there), [`ports::Notifications`]; [`ports::Account`]: one account's ports.
//!
//! **Adapters** ([`adapters`]: each implements one port over real I/O): [`adapters::source`] (HTTP(S) or a local
//! file), [`adapters::aws`] (the loader every AWS client starts from: one HTTPS client, retries, timeouts,
//! service errors), [`adapters::ec2`] (the EC2 clients, one per region, shared by every account), the
//! per-target files above, [`adapters::accounts`] (each account's EC2 and WAF adapters over the shared clients,
//! the listed ones through their role, and those found in the organization, kept), [`adapters::organization`]
//! (AWS Organizations' listing), [`adapters::notification`] (SNS).
//!
//! **Wiring**:
//! - [`sync`]: one run end to end (fetch, discover, each target's sync through `sync/target.rs`, the attachment
//!   check), shared by the handler and the CLI; the only module that uses ports and core together. [`sync::audit`] wires the origin
//!   audit the same way.
//! - [`deadline`]: every call bounded by the time left before the invocation deadline, less a margin; the
//!   backoff of reads that catch up.
//! - [`metrics`]: the CloudWatch Embedded Metric Format line of a run.
//! - [`handler`]: the Lambda function; turns [`Error`] into a Lambda error, once.
//! - `src/bin/lambda.rs`: the Lambda's thin binary. The CLI's is `cli/src/main.rs`, in its own workspace crate
//!   (`cli/`), which `cargo build --bins` and `cargo test` at the top build too; so is the rotation function's,
//!   `cli/src/bin/rotate.rs` (both functions served by [`handler::serve_function`] over a [`handler::Function`]).
//! - `src/testing/` (tests only): one in-memory fake per port, in a file of the port's name, over one shared
//!   in-memory account, for fast tests of [`sync`] on a paused clock.
//!
//! **Around the crate**: `tests/` (emulator, mocked-EC2, fault, history and binary tests; `tests/common/` the
//! harness: moto per test, loopback file server, Runtime API, fault-injection proxy; `tests/fixtures/` real
//! snapshots, exact bytes, gzip, and `expected.json`, what the tests expect of them, made by `scripts/oracle.py`
//! with Python's `ipaddress` apart from the code under test), `cli/tests/` (the CLI, its audit against moto,
//! concurrent CLI processes),
//! `events/` (a real-shaped SNS notification and a scheduled event), `fuzz/` (cargo fuzz targets of the core),
//! `bench/` (criterion benchmarks of the core), `examples/bench_ec2.rs` (EC2 calls, scale, cold start, memory,
//! size), `scripts/` (the demo and fuzz drivers; `oracle.py`; `check_templates.py`, the templates' guards in
//! moto's CloudFormation, and `template_facts.py`, what RELIABILITY.md says of the templates, both run by
//! `tests/templates.rs`), `template.yaml` (the SAM stack).

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
