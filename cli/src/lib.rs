//! The CLI's own adapters: the origin audit's reads of CloudFront ([`adapters::cloudfront`]) and Elastic Load
//! Balancing ([`adapters::load_balancers`]). They live in this crate, not the library, so their SDKs never
//! reach the Lambda function's zip. Everything else (the core, the ports, the wiring in
//! [`cloudfront_sg_sync::sync::audit`]) is the library's; `src/main.rs` is the thin binary.

pub mod adapters;
