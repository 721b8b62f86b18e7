//! Runs SQS-triggered workers locally the way Lambda's event source mapping does: receive a
//! batch, hand it over as an SQS event, delete the messages that succeeded, and leave the
//! reported failures to reappear after the visibility timeout (and reach the DLQ after
//! maxReceiveCount, which the emulator enforces).

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use serde_json::json;
use shared::lambda::Worker;

use crate::LocalFunction;

use crate::provision::REGION;

/// One receive, one handler call, deletes for the successes. Returns how many messages
/// were handled and how many failed.
pub async fn poll_once(
    function: &LocalFunction,
    sqs: &aws_sdk_sqs::Client,
    worker: &Worker,
    queue_url: &str,
    queue_arn: &str,
    visibility_timeout: i32,
    wait_seconds: i32,
) -> Result<(usize, usize), String> {
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_seconds)
        .visibility_timeout(visibility_timeout)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
    let messages = out.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok((0, 0));
    }
    let records: Vec<_> = messages
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, serde_json::Value> = m
                .attributes()
                .map(|a| a.iter().map(|(k, v)| (k.as_str().to_string(), json!(v))).collect())
                .unwrap_or_default();
            // As Lambda hands them over: camelCase, with the list fields present.
            let message_attributes: serde_json::Map<String, serde_json::Value> = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                json!({
                                    "stringValue": v.string_value(),
                                    "dataType": v.data_type(),
                                    "stringListValues": [],
                                    "binaryListValues": [],
                                }),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "md5OfBody": m.md5_of_body(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            })
        })
        .collect();
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).map_err(|e| e.to_string())?;
    // Past its Timeout, Lambda stops the function and the whole batch comes back later.
    let started = std::time::Instant::now();
    let failed: Vec<&str> =
        match tokio::time::timeout(function.timeout, (worker.handler)(function.app.clone(), event)).await {
            Ok(response) if started.elapsed() <= function.timeout => response
                .batch_item_failures
                .iter()
                .filter_map(|f| messages.iter().find(|m| m.message_id() == Some(f.item_identifier.as_str())))
                .filter_map(|m| m.message_id())
                .collect(),
            _ => {
                tracing::error!(worker = worker.function, timeout = ?function.timeout, "Task timed out");
                messages.iter().filter_map(|m| m.message_id()).collect()
            }
        };
    let done: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .filter(|m| !failed.contains(&m.message_id().unwrap_or_default()))
        .enumerate()
        .map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
                .expect("entry")
        })
        .collect();
    let handled = done.len();
    if !done.is_empty() {
        sqs.delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(done))
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
    }
    Ok((handled, failed.len()))
}

/// Polls forever (until the task is dropped).
pub async fn run(
    function: LocalFunction,
    sqs: aws_sdk_sqs::Client,
    worker: Worker,
    queue_url: String,
    queue_arn: String,
) {
    loop {
        match poll_once(&function, &sqs, &worker, &queue_url, &queue_arn, 5, 1).await {
            Ok((0, 0)) => {}
            Ok((ok, failed)) => tracing::info!(worker = worker.function, ok, failed, "worker batch"),
            Err(e) => {
                tracing::warn!(worker = worker.function, error = %e, "poll failed");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}
