//! The purge worker: removes what remains of deleted households. Idempotent (a repeated
//! message finds nothing to do) and reports failures per message, so one bad household
//! does not make SQS redeliver the whole batch; after maxReceiveCount a message moves to
//! the dead-letter queue.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use serde::Deserialize;
use shared::App;
use shared::store::households::PurgeOutcome;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurgeRequest {
    pub household_id: String,
}

pub async fn handle_batch(app: App, event: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for message in event.records {
        if let Err(reason) = purge_one(&app, &message).await {
            tracing::error!(message_id = ?message.message_id, %reason, "purge failed; SQS will retry");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message.message_id.clone().unwrap_or_default();
            failures.push(failure);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

async fn purge_one(app: &App, message: &SqsMessage) -> Result<PurgeOutcome, String> {
    let body = message.body.as_deref().unwrap_or_default();
    let request: PurgeRequest = serde_json::from_str(body).map_err(|e| format!("unreadable message: {e}"))?;
    if request.household_id.parse::<ulid::Ulid>().is_err() {
        return Err(format!("not a household id: {}", request.household_id));
    }
    // The household's photos first (files, then records), while their records still say
    // where the files are.
    if app.store.household_deleted(&request.household_id).await.map_err(|e| e.to_string())? == Some(true) {
        crate::photos::delete_photos(app, &request.household_id, |_| true).await?;
        // Its API keys: API Gateway's keys go, and the lookup items outside the household's
        // partition are marked revoked (their TTL removes them).
        shared::api_keys::revoke_keys(app, &request.household_id, None, None).await?;
    }
    let outcome = app.store.purge_household(&request.household_id).await.map_err(|e| e.to_string())?;
    tracing::info!(household_id = %request.household_id, ?outcome, "purge");
    if outcome == PurgeOutcome::StillActive && is_young(app, message) {
        // The delete that queued this message may still be marking the household deleted:
        // look again after the visibility timeout. An old message for an active household
        // means that delete failed; it is dropped.
        return Err(format!("household {} is still active; retrying later", request.household_id));
    }
    Ok(outcome)
}

/// Younger than the delete request could still be in flight.
fn is_young(app: &App, message: &SqsMessage) -> bool {
    let sent = message.attributes.get("SentTimestamp").and_then(|t| t.parse::<i64>().ok());
    sent.is_some_and(|ms| app.now().timestamp_millis() - ms < YOUNG_MILLIS)
}

const YOUNG_MILLIS: i64 = 5 * 60 * 1000;
