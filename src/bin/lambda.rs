//! `cloudfront-sg-sync-lambda`: the Lambda function (custom runtime, `provided.al2023`).

// The run's futures nest deeply (a generic Lambda function over its ports): the release build computes their
// layout past the default query depth.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> std::process::ExitCode {
    cloudfront_sg_sync::handler::serve().await
}
