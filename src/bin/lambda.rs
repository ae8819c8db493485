//! `cloudfront-sg-sync-lambda`: the Lambda function (custom runtime, `provided.al2023`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    cloudfront_sg_sync::handler::serve().await
}
