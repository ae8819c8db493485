//! The audit's adapters over `aws-sdk-cloudfront` and `aws-sdk-elasticloadbalancingv2`, built from the same
//! shared SDK configuration (credentials, endpoint, retries, timeouts) as the library's EC2 adapter.

pub mod cloudfront;
pub mod load_balancers;
