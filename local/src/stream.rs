//! Feeds the table's stream to its consumers the way Lambda's event source mapping does:
//! DynamoDB Local serves the stream (DescribeStream, GetShardIterator, GetRecords); each
//! record becomes the event record Lambda would build, the template's `FilterCriteria` pick
//! which reach the function, and a reported failure makes the batch retry from that record.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use base64::Engine;
use serde_json::{Map, Value, json};
use shared::lambda::{StreamEvent, StreamWorker};

use crate::LocalFunction;

/// DynamoDB's JSON form of an attribute value (`{"S": "x"}`), as Lambda hands it over.
fn attribute_json(v: &AttributeValue) -> Value {
    let b64 =
        |b: &aws_sdk_dynamodbstreams::primitives::Blob| base64::engine::general_purpose::STANDARD.encode(b.as_ref());
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::M(m) => json!({ "M": item_json(m) }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(attribute_json).collect::<Vec<_>>() }),
        AttributeValue::Ss(ss) => json!({ "SS": ss }),
        AttributeValue::Ns(ns) => json!({ "NS": ns }),
        AttributeValue::Bs(bs) => json!({ "BS": bs.iter().map(b64).collect::<Vec<_>>() }),
        _ => Value::Null,
    }
}

fn item_json(item: &HashMap<String, AttributeValue>) -> Map<String, Value> {
    item.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect()
}

/// A stream record as Lambda's event record.
pub fn event_record(r: &Record, stream_arn: &str) -> Value {
    let d = r.dynamodb();
    let mut change = Map::new();
    if let Some(d) = d {
        if let Some(k) = d.keys() {
            change.insert("Keys".into(), Value::Object(item_json(k)));
        }
        if let Some(n) = d.new_image() {
            change.insert("NewImage".into(), Value::Object(item_json(n)));
        }
        if let Some(o) = d.old_image() {
            change.insert("OldImage".into(), Value::Object(item_json(o)));
        }
        change.insert("SequenceNumber".into(), json!(d.sequence_number()));
        change.insert("SizeBytes".into(), json!(d.size_bytes()));
        change.insert("StreamViewType".into(), json!(d.stream_view_type().map(|t| t.as_str())));
        if let Some(t) = d.approximate_creation_date_time() {
            change.insert("ApproximateCreationDateTime".into(), json!(t.secs()));
        }
    }
    json!({
        "eventID": r.event_id(),
        "eventName": r.event_name().map(|n| n.as_str()),
        "eventVersion": r.event_version(),
        "eventSource": "aws:dynamodb",
        "awsRegion": crate::provision::REGION,
        "eventSourceARN": stream_arn,
        "dynamodb": change,
    })
}

/// Whether `value` matches an event filter pattern (the subset the template uses: nested
/// objects; at the leaves, a list of literal values or `{"prefix": "..."}`).
pub fn matches(pattern: &Value, value: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields.iter().all(|(k, p)| value.get(k).is_some_and(|v| matches(p, v))),
        Value::Array(options) => options.iter().any(|o| match o {
            Value::Object(rule) => match rule.get("prefix").and_then(Value::as_str) {
                Some(prefix) => value.as_str().is_some_and(|v| v.starts_with(prefix)),
                None => false,
            },
            literal => literal == value,
        }),
        _ => false,
    }
}

/// Where each shard of the stream of `table` ends now (`StartingPosition: LATEST`): taken
/// before the stack serves its first request, so no change after that is missed.
pub async fn open(
    ddb: &aws_sdk_dynamodb::Client,
    streams: &aws_sdk_dynamodbstreams::Client,
    table: &str,
) -> Result<HashMap<String, Option<String>>, String> {
    let mut iterators = HashMap::new();
    shards(ddb, streams, table, &mut iterators, ShardIteratorType::Latest).await?;
    Ok(iterators)
}

/// Reads on from `iterators` and feeds `worker`, until the task is dropped; shards that
/// appear later are read from their start.
pub async fn run(
    function: LocalFunction,
    ddb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    table: String,
    patterns: Vec<Value>,
    worker: StreamWorker,
    mut iterators: HashMap<String, Option<String>>,
) {
    loop {
        if let Err(e) = poll(&function, &ddb, &streams, &table, &patterns, &worker, &mut iterators).await {
            tracing::warn!(worker = worker.function, error = %e, "stream poll failed");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Adds an iterator of `kind` for every shard not yet known; the stream's ARN.
async fn shards(
    ddb: &aws_sdk_dynamodb::Client,
    streams: &aws_sdk_dynamodbstreams::Client,
    table: &str,
    iterators: &mut HashMap<String, Option<String>>,
    kind: ShardIteratorType,
) -> Result<String, String> {
    let err = |e: &dyn std::error::Error| aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string();
    let described = ddb.describe_table().table_name(table).send().await.map_err(|e| err(&e))?;
    let arn = described.table().and_then(|t| t.latest_stream_arn()).ok_or("the table has no stream")?.to_string();
    let stream = streams.describe_stream().stream_arn(&arn).send().await.map_err(|e| err(&e))?;
    for shard in stream.stream_description().map(|d| d.shards()).unwrap_or_default() {
        let id = shard.shard_id().unwrap_or_default().to_string();
        if iterators.contains_key(&id) {
            continue;
        }
        let open = |kind: ShardIteratorType| {
            streams.get_shard_iterator().stream_arn(&arn).shard_id(&id).shard_iterator_type(kind).send()
        };
        // DynamoDB Local refuses TRIM_HORIZON on some shards (TrimmedDataAccessException):
        // then from the shard's end; a shard that cannot be opened is tried next time.
        let it = match open(kind.clone()).await {
            Ok(it) => it,
            Err(_) if kind == ShardIteratorType::TrimHorizon => match open(ShardIteratorType::Latest).await {
                Ok(it) => it,
                Err(e) => {
                    tracing::warn!(shard = %id, error = %err(&e), "stream shard not opened");
                    continue;
                }
            },
            Err(e) => return Err(err(&e)),
        };
        iterators.insert(id, it.shard_iterator);
    }
    Ok(arn)
}

async fn poll(
    function: &LocalFunction,
    ddb: &aws_sdk_dynamodb::Client,
    streams: &aws_sdk_dynamodbstreams::Client,
    table: &str,
    patterns: &[Value],
    worker: &StreamWorker,
    iterators: &mut HashMap<String, Option<String>>,
) -> Result<(), String> {
    let err = |e: &dyn std::error::Error| aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string();
    let arn = shards(ddb, streams, table, iterators, ShardIteratorType::TrimHorizon).await?;
    let mut stale = Vec::new();
    for (shard, iterator) in iterators.iter_mut() {
        let Some(current) = iterator.clone() else { continue };
        let out = match streams.get_records().shard_iterator(&current).limit(100).send().await {
            Ok(out) => out,
            Err(e) => {
                // An expired or trimmed iterator: this shard is read on from a new one.
                tracing::warn!(error = %err(&e), "stream read failed; reopening the shard");
                stale.push(shard.clone());
                continue;
            }
        };
        let records: Vec<Value> = out.records().iter().map(|r| event_record(r, &arn)).collect();
        let chosen: Vec<Value> =
            records.into_iter().filter(|r| patterns.is_empty() || patterns.iter().any(|p| matches(p, r))).collect();
        if !chosen.is_empty() && !deliver(function, worker, chosen).await {
            // Retried from this batch next time (Lambda retries from the failed record; the
            // consumer here is idempotent, so the records before it may come again).
            continue;
        }
        *iterator = out.next_shard_iterator;
    }
    // Reopened on the next poll (a closed shard keeps its `None` and is not read again).
    for shard in stale {
        iterators.remove(&shard);
    }
    Ok(())
}

/// One handler call; `true` when no record failed.
async fn deliver(function: &LocalFunction, worker: &StreamWorker, records: Vec<Value>) -> bool {
    let event: StreamEvent = match serde_json::from_value(json!({ "Records": records })) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "stream records do not make a Lambda event");
            return true;
        }
    };
    match tokio::time::timeout(function.timeout, (worker.handler)(function.app.clone(), event)).await {
        Ok(response) if response.batch_item_failures.is_empty() => true,
        Ok(_) => false,
        Err(_) => {
            tracing::error!(worker = worker.function, "Task timed out");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_patterns_match_as_lambda_filters_do() {
        let pattern: Value = serde_json::from_str(
            r#"{"eventName": ["INSERT"], "dynamodb": {"Keys": {"PK": {"S": [{"prefix": "HOUSEHOLD#"}]}, "SK": {"S": [{"prefix": "AUDIT#"}]}}}}"#,
        )
        .unwrap();
        let record = |name: &str, pk: &str, sk: &str| json!({ "eventName": name, "dynamodb": { "Keys": { "PK": { "S": pk }, "SK": { "S": sk } } } });
        assert!(matches(&pattern, &record("INSERT", "HOUSEHOLD#H", "AUDIT#2026#x")));
        assert!(!matches(&pattern, &record("MODIFY", "HOUSEHOLD#H", "AUDIT#2026#x")));
        assert!(!matches(&pattern, &record("INSERT", "USER#u", "AUDIT#2026#x")));
        assert!(!matches(&pattern, &record("INSERT", "HOUSEHOLD#H", "TASK#t")));
        assert!(!matches(&pattern, &json!({ "eventName": "INSERT" })));
    }
}
