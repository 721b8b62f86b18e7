//! Structured JSON logs. Each request runs in a span carrying the Lambda request id and
//! the correlation id, so every line a handler logs can be joined to the response.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once; later calls (tests, the local gateway) are no-ops.
pub fn init() {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .try_init();
}
