//! The audit's adapters over `aws-sdk-cloudfront`, `aws-sdk-elasticloadbalancingv2` and `aws-sdk-wafv2` (the web
//! ACL of a load balancer), built from the same shared SDK configuration (credentials, endpoint, retries,
//! timeouts) as the library's EC2 adapter.

pub mod cloudfront;
pub mod load_balancers;
pub mod secrets;
pub mod web_acls;
