//! The CLI's own adapters: the origin audit's reads of CloudFront ([`adapters::cloudfront`]) and Elastic Load
//! Balancing ([`adapters::load_balancers`]). They live in this crate, not the library, so their SDKs never
//! reach the Lambda function's zip. Everything else (the core, the ports, the wiring in
//! [`cloudfront_sg_sync::sync::audit`]) is the library's; `src/main.rs` is the thin binary.
//!
//! The rotation function of the origin secret ([`rotation`]: `src/bin/rotate.rs`, its own zip) lives here too,
//! with its adapters of Secrets Manager ([`adapters::secrets`]), CloudFront, ELBv2 and WAFv2 (the
//! [`cloudfront_sg_sync::sync::rotate`] wiring and the [`cloudfront_sg_sync::domain::rotation`] core are the
//! library's).

pub mod adapters;
pub mod rotation;
