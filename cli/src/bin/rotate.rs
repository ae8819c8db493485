//! `cloudfront-sg-sync-rotate`: the rotation function of the origin secret (custom runtime, `provided.al2023`),
//! invoked by Secrets Manager with each step of its rotation protocol.

// The run's futures nest deeply (a generic Lambda function over its ports): the release build computes their
// layout past the default query depth.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let start = cloudfront_sg_sync_cli::rotation::RotationFunction::from_env();
    cloudfront_sg_sync::handler::serve_function(start).await
}
