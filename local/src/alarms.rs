//! The alarms template.yaml must have, derived from what it declares: for every dead-letter
//! queue its depth; for every queue with a dead-letter queue the age of its oldest message;
//! for every function its errors and its throttles, and for a stream consumer how far it
//! lags; for every API its 5xx rate and p99 latency; for the table its throttled reads and
//! writes. Each must notify the alarm topic.
//! A contract test runs [`missing`] on the template (nothing may be missing) and on a
//! template with a queue added without alarms (it must be named).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::template::{Template, referenced};

/// One alarmed metric: (namespace, metric name, the dimension's logical id or name).
type Watched = (String, String, String);

/// Every (namespace, metric, resource) an alarm of the template watches, single-metric and
/// metric-math alike, counting only alarms that notify someone.
fn watched(t: &Template) -> BTreeSet<Watched> {
    let mut out = BTreeSet::new();
    for (_, a) in t.resources_of("AWS::CloudWatch::Alarm") {
        // Only alarms that reach someone: the alarm topic.
        let notifies =
            a["AlarmActions"].as_array().into_iter().flatten().any(|t| referenced(t).as_deref() == Some("AlarmTopic"));
        if !notifies {
            continue;
        }
        let mut add = |m: &Value| {
            let namespace = m["Namespace"].as_str().unwrap_or_default().to_string();
            let name = m["MetricName"].as_str().unwrap_or_default().to_string();
            for d in m["Dimensions"].as_array().into_iter().flatten() {
                let value = referenced(&d["Value"])
                    .or_else(|| d["Value"].get("Fn::Sub").and_then(Value::as_str).map(str::to_string))
                    .or_else(|| d["Value"].as_str().map(str::to_string))
                    .unwrap_or_default();
                out.insert((namespace.clone(), name.clone(), value));
            }
        };
        add(&a);
        for query in a["Metrics"].as_array().into_iter().flatten() {
            if let Some(m) = query.pointer("/MetricStat/Metric") {
                add(m);
            }
        }
    }
    out
}

/// What alarms the template lacks, one line each (empty: none).
pub fn missing(t: &Template) -> Vec<String> {
    let have = watched(t);
    let mut missing = Vec::new();
    let mut need = |namespace: &str, metric: &str, resource: &str, what: String| {
        if !have.contains(&(namespace.to_string(), metric.to_string(), resource.to_string())) {
            missing.push(what);
        }
    };
    let queues = t.queues();
    let mut dlqs: BTreeSet<String> = queues.iter().filter_map(|q| q.redrive.as_ref().map(|(d, _)| d.clone())).collect();
    for f in t.functions() {
        let events =
            t.root.pointer(&format!("/Resources/{}/Properties/Events", f.logical_id)).and_then(Value::as_object);
        for (_, e) in events.into_iter().flatten() {
            if let Some(d) = e.pointer("/Properties/DestinationConfig/OnFailure/Destination").and_then(referenced) {
                dlqs.insert(d);
            }
        }
        for metric in ["Errors", "Throttles"] {
            need("AWS/Lambda", metric, &f.logical_id, format!("no alarm on the {metric} of {}", f.logical_id));
        }
        if f.stream.is_some() {
            need(
                "AWS/Lambda",
                "IteratorAge",
                &f.logical_id,
                format!("no alarm on how far {} lags its stream", f.logical_id),
            );
        }
    }
    for dlq in &dlqs {
        need("AWS/SQS", "ApproximateNumberOfMessagesVisible", dlq, format!("no alarm on the depth of {dlq}"));
    }
    for q in queues.iter().filter(|q| q.redrive.is_some()) {
        let id = &q.logical_id;
        need("AWS/SQS", "ApproximateAgeOfOldestMessage", id, format!("no alarm on the age of {id}'s oldest message"));
    }
    for (id, api) in t.resources_of("AWS::Serverless::Api") {
        let name = api["Name"].get("Fn::Sub").and_then(Value::as_str).unwrap_or_default().to_string();
        if name.is_empty() {
            // Its metrics are named by the API's Name: without one no alarm can watch them.
            need("AWS/ApiGateway", "5XXError", "", format!("{id} has no Name (!Sub): its metrics' ApiName"));
            continue;
        }
        need("AWS/ApiGateway", "5XXError", &name, format!("no alarm on {id}'s 5xx rate"));
        need("AWS/ApiGateway", "Latency", &name, format!("no alarm on {id}'s latency"));
    }
    if let Ok((table, _)) = t.table() {
        for metric in ["ReadThrottleEvents", "WriteThrottleEvents"] {
            need("AWS/DynamoDB", metric, &table, format!("no alarm on the {metric} of {table}"));
        }
    }
    missing
}
