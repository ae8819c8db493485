//! `cloudfront-sg-sync-rotate`: the rotation function of the origin secret (custom runtime, `provided.al2023`),
//! invoked by Secrets Manager with each step of its rotation protocol.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let start = cloudfront_sg_sync_cli::rotation::RotationFunction::from_env();
    cloudfront_sg_sync::handler::serve_function(start).await
}
