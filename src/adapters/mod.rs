//! The adapters: each implements a [port](crate::ports) over real I/O, in a file of the port's name.
//!
//! - [`source`]: `ip-ranges.json` over HTTP(S), or from a local file ([`crate::ports::RangesSource`]).
//! - [`aws`]: what every AWS client starts from: the [`aws::loader`] (one HTTPS client, so one pool of
//!   connections, for them all), the retry and timeout settings, the retry log, [`aws::service_error`].
//! - [`ec2`]: [`ec2::Ec2`], an account's EC2 clients (one per region), the adapter of every EC2-backed
//!   port below.
//! - [`security_groups`]: tagged groups, their rules, authorize and revoke ([`crate::ports::SecurityGroups`]).
//! - [`prefix_lists`]: customer-managed prefix lists tagged for the sync ([`crate::ports::PrefixLists`]).
//! - [`ip_sets`]: WAF IP sets tagged for the sync, through `aws-sdk-wafv2` ([`crate::ports::IpSets`]).
//! - [`network_interfaces`]: the network interfaces that carry a set's groups
//!   ([`crate::ports::NetworkInterfaces`]).
//! - [`origin_groups`]: what the origin audit reads of security groups and AWS's CloudFront prefix lists
//!   ([`crate::ports::OriginGroups`]). The audit's CloudFront and ELBv2 adapters live in the CLI crate
//!   (`cli/src/adapters`), to keep their SDKs out of the Lambda function.
//! - [`accounts`]: one EC2 and one WAF adapter per account of the run, with the account's credentials (its
//!   role); an account found in the organization is connected once and kept ([`crate::ports::Connect`]).
//! - [`organization`]: the OUs and accounts of the organization, through `aws-sdk-organizations`
//!   ([`crate::ports::Organization`]).

pub mod accounts;
pub mod aws;
pub mod ec2;
pub mod ip_sets;
pub mod network_interfaces;
pub mod notification;
pub mod organization;
pub mod origin_groups;
pub mod prefix_lists;
pub mod security_groups;
pub mod source;
