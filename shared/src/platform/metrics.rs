//! CloudWatch metrics as Embedded Metric Format (EMF) records: one JSON line on stdout per
//! record, which CloudWatch Logs turns into data points (namespace [`NAMESPACE`]); no API
//! call in the request path. The correlation id rides along as a property, so a spike can be
//! followed to its log lines. Emitted in Lambda only (or with `CG_METRICS=stdout`): the local
//! stack and the tests would only print noise.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "ChoreGarden";

/// Whether this process has handled anything yet: its first request or batch is a cold start.
static WARM: AtomicBool = AtomicBool::new(false);

/// One EMF record: `metrics` (name, value, unit) under one dimension set, with `properties`.
pub fn record(
    timestamp_ms: i64,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, f64, &str)],
    properties: &[(&str, &str)],
) -> Value {
    let mut out = Map::new();
    out.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": metrics.iter().map(|(name, _, unit)| json!({ "Name": name, "Unit": unit })).collect::<Vec<_>>(),
            }],
        }),
    );
    for (k, v) in dimensions.iter().chain(properties) {
        out.insert((*k).into(), json!(v));
    }
    for (name, value, _) in metrics {
        out.insert((*name).into(), json!(value));
    }
    Value::Object(out)
}

fn enabled() -> bool {
    std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() || std::env::var("CG_METRICS").is_ok_and(|v| v == "stdout")
}

fn emit(record: Value) {
    if enabled() {
        println!("{record}");
    }
}

/// The stack the function belongs to (template.yaml's Globals set `STACK_NAME`).
fn stack() -> String {
    std::env::var(super::config::env::STACK_NAME).unwrap_or_else(|_| "local".to_string())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What one API request measured.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The stack (`STACK_NAME`): dev and prod in one account keep their metrics apart.
    pub stack: &'a str,
    pub function: &'a str,
    pub status: u16,
    pub code: Option<&'a str>,
    pub latency_ms: f64,
    /// DynamoDB capacity units its calls consumed.
    pub consumed: f64,
    pub cold: bool,
    pub correlation_id: &'a str,
}

/// The records for one API request: requests, latency, 5xx, consumed capacity and cold
/// starts by stack and function (each function is one route); errors by stack, function and
/// code.
pub fn request_records(timestamp_ms: i64, r: Request<'_>) -> Vec<Value> {
    let Request { stack, function, status, code, latency_ms, consumed, cold, correlation_id } = r;
    let mut records = vec![record(
        timestamp_ms,
        &[("Stack", stack), ("Function", function)],
        &[
            ("Requests", 1.0, "Count"),
            ("Latency", latency_ms, "Milliseconds"),
            ("ServerErrors", f64::from(u8::from(status >= 500)), "Count"),
            ("ConsumedCapacity", consumed, "None"),
            ("ColdStart", f64::from(u8::from(cold)), "Count"),
        ],
        &[("correlationId", correlation_id), ("status", &status.to_string())],
    )];
    if let Some(code) = code {
        records.push(record(
            timestamp_ms,
            &[("Stack", stack), ("Function", function), ("Code", code)],
            &[("Errors", 1.0, "Count")],
            &[("correlationId", correlation_id)],
        ));
    }
    records
}

/// Emits an API request's records (see [`request_records`]).
pub fn request(
    function: &str,
    status: u16,
    code: Option<&str>,
    latency: std::time::Duration,
    consumed: f64,
    correlation_id: &str,
) {
    let cold = !WARM.swap(true, Ordering::Relaxed);
    let latency_ms = latency.as_secs_f64() * 1000.0;
    let r = Request { stack: &stack(), function, status, code, latency_ms, consumed, cold, correlation_id };
    for record in request_records(now_ms(), r) {
        emit(record);
    }
}

/// Emits a queue worker's batch: messages handled and failed (for the notification worker:
/// notifications sent or failed), and the oldest message's wait since it was sent.
pub fn batch(function: &str, handled: usize, failed: usize, oldest_wait_ms: Option<i64>) {
    let cold = !WARM.swap(true, Ordering::Relaxed);
    let mut metrics = vec![
        ("Messages", handled as f64, "Count"),
        ("MessageFailures", failed as f64, "Count"),
        ("ColdStart", f64::from(u8::from(cold)), "Count"),
    ];
    if let Some(wait) = oldest_wait_ms {
        metrics.push(("QueueLag", wait.max(0) as f64, "Milliseconds"));
    }
    emit(record(now_ms(), &[("Stack", &stack()), ("Function", function)], &metrics, &[]));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_what_cloudwatch_reads_as_emf() {
        let r = record(
            1_764_500_000_000,
            &[("Function", "CompleteTaskFunction")],
            &[("Requests", 1.0, "Count")],
            &[("correlationId", "c-1")],
        );
        assert_eq!(
            r,
            json!({
                "_aws": {
                    "Timestamp": 1_764_500_000_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "ChoreGarden",
                        "Dimensions": [["Function"]],
                        "Metrics": [{ "Name": "Requests", "Unit": "Count" }],
                    }],
                },
                "Function": "CompleteTaskFunction",
                "correlationId": "c-1",
                "Requests": 1.0,
            })
        );
    }

    #[test]
    fn a_refused_request_counts_an_error_by_its_code_and_a_5xx_by_function() {
        let r = Request {
            stack: "cg-dev",
            function: "F",
            status: 200,
            code: None,
            latency_ms: 12.5,
            consumed: 2.5,
            cold: true,
            correlation_id: "c",
        };
        let ok = request_records(0, r);
        assert_eq!(ok.len(), 1);
        let value = |k: &str| ok[0][k].as_f64();
        assert_eq!(
            (value("Latency"), value("ServerErrors"), value("ColdStart"), value("ConsumedCapacity")),
            (Some(12.5), Some(0.0), Some(1.0), Some(2.5))
        );
        assert_eq!(ok[0]["Stack"], "cg-dev", "stacks in one account keep their metrics apart");
        let refused = request_records(0, Request { status: 404, code: Some("household.not_found"), cold: false, ..r });
        assert_eq!(refused.len(), 2);
        assert_eq!(refused[1]["Code"], "household.not_found");
        assert_eq!(refused[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Stack", "Function", "Code"]]));
        assert_eq!(refused[0]["ServerErrors"], 0.0);
        let failed = request_records(0, Request { status: 503, code: Some("dependency.unavailable"), ..r });
        assert_eq!(failed[0]["ServerErrors"], 1.0);
    }
}
