//! What the worker benchmarks (`chore-bench-exports`, `chore-bench-photos`) share: the app a
//! worker runs with against DynamoDB Local and the emulator's S3, the bucket it writes to,
//! and the peak RSS the child process reports.

use std::sync::Arc;

use shared::App;
use shared::platform::clock::SystemClock;
use shared::platform::config::Config;

use crate::provision::Endpoints;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The S3 client of the emulator (path-style, as the local stack uses it).
pub async fn s3_client(s3_endpoint: &str) -> aws_sdk_s3::Client {
    let moto = Endpoints::sdk_config(s3_endpoint).await;
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&moto).force_path_style(true).build())
}

/// A worker's app on `table`, with `bucket` as the configuration variable `bucket_variable`
/// (`EXPORTS_BUCKET`, `PHOTOS_BUCKET`).
pub async fn worker_app(
    ddb_endpoint: &str,
    s3_endpoint: &str,
    table: &str,
    bucket_variable: &str,
    bucket: &str,
) -> Result<App, BoxError> {
    let config = Config::from_lookup(|k| match k {
        "TABLE_NAME" => Some(table.to_string()),
        k if k == bucket_variable => Some(bucket.to_string()),
        _ => None,
    })?;
    let ddb = aws_sdk_dynamodb::Client::new(&Endpoints::sdk_config(ddb_endpoint).await);
    let sqs = aws_sdk_sqs::Client::new(&Endpoints::sdk_config(s3_endpoint).await);
    Ok(App::with_clients(config, ddb, sqs, Arc::new(SystemClock)).with_s3(s3_client(s3_endpoint).await))
}

/// Creates the bucket unless it is there.
pub async fn ensure_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), BoxError> {
    if let Err(e) = s3.create_bucket().bucket(bucket).send().await {
        let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e).unwrap_or_default().to_string();
        if code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
            return Err(aws_sdk_s3::error::DisplayErrorContext(e).to_string().into());
        }
    }
    Ok(())
}

/// This process's peak resident set, in kB.
pub fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}
