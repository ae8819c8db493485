//! The adapters: each implements a [port](crate::ports) over real I/O.
//!
//! - [`source`]: `ip-ranges.json` over HTTP(S), or from a local file ([`crate::ports::RangesSource`]).
//! - [`ec2`]: security groups through `aws-sdk-ec2` ([`crate::ports::SecurityGroups`]), and the [`ec2::loader`]
//!   every client starts from (one HTTPS client, so one pool of connections, for them all).
//! - [`accounts`]: one [`ec2`] and one [`ip_sets`] adapter per account of the run, with the account's
//!   credentials (its role).
//! - [`prefix_lists`]: customer-managed prefix lists tagged for the sync, through the same clients
//!   ([`crate::ports::PrefixLists`]).
//! - [`ip_sets`]: WAF IP sets tagged for the sync, through `aws-sdk-wafv2` ([`crate::ports::IpSets`]).
//! - [`interfaces`]: the network interfaces that carry them, through the same clients
//!   ([`crate::ports::NetworkInterfaces`]).
//! - [`origin_groups`]: what the origin audit reads of security groups and AWS's CloudFront prefix lists,
//!   through the same clients ([`crate::ports::OriginGroups`]). The audit's CloudFront and ELBv2 adapters live in
//!   the CLI crate (`cli/src/adapters`), to keep their SDKs out of the Lambda function.

pub mod accounts;
pub mod ec2;
pub mod interfaces;
pub mod ip_sets;
pub mod origin_groups;
pub mod prefix_lists;
pub mod source;
