//! `cloudfront-sg-sync-lambda`: the Lambda function (custom runtime, `provided.al2023`).

use cloudfront_sg_sync::handler::App;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // JSON logs when AWS_LAMBDA_LOG_FORMAT=JSON, level from AWS_LAMBDA_LOG_LEVEL or RUST_LOG.
    lambda_runtime::tracing::init_default_subscriber();
    let app = App::from_env().await.inspect_err(|e| {
        tracing::error!(error_type = e.kind(), error = %e, "cannot start");
    })?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| app.invoke(event))).await
}
