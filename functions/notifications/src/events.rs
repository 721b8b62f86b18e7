//! Events from the API, through the table's stream: the audit entry each transaction writes
//! is the outbox. A function that dies after its commit loses nothing (the entry is in the
//! stream), and one that fails before it sends nothing (there is no entry). The stream
//! consumer turns the entries worth telling into notification messages, and the changes
//! that reach into every chore (a member left or went away, a new escalation setting) into
//! messages for the household-changes worker, carrying the request's correlation id on in
//! the message attributes.

use aws_lambda_events::event::streams::DynamoDbBatchItemFailure;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::App;
use shared::domain::audit::AuditEntry;
use shared::domain::household_change::HouseholdChange;
use shared::domain::notification::EventType;
use shared::lambda::{StreamEvent, StreamResponse};

use crate::{CORRELATION_ATTRIBUTE, NotificationMessage};

/// Something that happened in a household that members (and webhooks) may be told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HouseholdEvent {
    pub household_id: String,
    pub event: EventType,
    /// The audit entry's id: the event's identity.
    pub audit_id: String,
    pub actor_id: String,
    /// Whom it is about: the member who completed, joined or left.
    pub subject_id: Option<String>,
    /// Their name, where the member list no longer has it (one who left).
    #[serde(default)]
    pub subject_name: Option<String>,
    pub task_id: Option<String>,
    /// `approved` or `rejected` (approval decided).
    pub decision: Option<String>,
    pub at: DateTime<Utc>,
    pub correlation_id: String,
}

impl HouseholdEvent {
    /// The event an audit entry of household `household_id` tells, if any.
    pub fn from_audit(household_id: &str, a: &AuditEntry) -> Option<HouseholdEvent> {
        let detail = |k: &str| a.details.as_ref().and_then(|d| d.get(k)).and_then(|v| v.as_str()).map(str::to_string);
        let target_id = || a.target.split_once('/').map(|(_, id)| id.to_string());
        let (event, subject_id, task_id, decision) = match a.action.as_str() {
            "task.complete" => {
                let pending = a.details.as_ref().and_then(|d| d.get("pendingApproval")).and_then(|v| v.as_bool());
                let event = if pending == Some(true) { EventType::ApprovalRequested } else { EventType::Completed };
                (event, detail("userId"), target_id(), None)
            }
            "completion.approve" | "completion.reject" => {
                let decision = if a.action.ends_with("approve") { "approved" } else { "rejected" };
                (EventType::ApprovalDecided, detail("userId"), detail("taskId"), Some(decision.to_string()))
            }
            "invite.accept" => (EventType::MemberJoined, Some(a.actor_id.clone()), None, None),
            "member.leave" | "member.remove" => (EventType::MemberLeft, target_id(), None, None),
            _ => return None,
        };
        Some(HouseholdEvent {
            household_id: household_id.to_string(),
            event,
            audit_id: a.id.clone(),
            actor_id: a.actor_id.clone(),
            subject_id,
            subject_name: detail("displayName"),
            task_id,
            decision,
            at: a.at,
            correlation_id: a.correlation_id.clone(),
        })
    }

    /// The notification's identity, for the worker's records.
    pub fn notification_id(&self) -> String {
        format!("{}#event#{}", self.household_id, self.audit_id)
    }
}

/// The household an audit item belongs to, from its partition key.
fn household_of(item: &serde_dynamo::Item) -> Option<String> {
    let pk: String = item.get("PK").and_then(|v| serde_dynamo::from_attribute_value(v.clone()).ok())?;
    pk.strip_prefix(shared::store::keys::HOUSEHOLD_PREFIX).map(str::to_string)
}

/// The stream consumer: audit entries in, notification messages out, in stream order. On a
/// failure it names that record: Lambda retries from there (records before it are done).
pub async fn handle_stream(app: App, event: StreamEvent) -> StreamResponse {
    let mut response = StreamResponse::default();
    for record in &event.records {
        if record.event_name != "INSERT" {
            continue;
        }
        let item = &record.change.new_image;
        let Some(household_id) = household_of(item) else { continue };
        let audit: AuditEntry = match serde_dynamo::from_item(item.clone()) {
            Ok(a) => a,
            Err(e) => {
                // Not an audit entry this version reads: nothing to tell, and retrying
                // would not change that.
                tracing::warn!(error = %e, "stream record skipped");
                continue;
            }
        };
        let event = HouseholdEvent::from_audit(&household_id, &audit);
        let change = HouseholdChange::from_audit(&household_id, &audit);
        if event.is_none() && change.is_none() {
            continue;
        }
        let correlation_id = if audit.correlation_id.is_empty() { "stream" } else { audit.correlation_id.as_str() };
        let sent = async {
            if let Some(e) = &event {
                let body = serde_json::to_string(&NotificationMessage::Event(e.clone())).expect("an event serializes");
                send(&app, &app.config.notification_queue_url, body, correlation_id).await?;
            }
            if let Some(c) = &change {
                let body = serde_json::to_string(c).expect("a change serializes");
                send(&app, &app.config.household_changes_queue_url, body, correlation_id).await?;
            }
            Ok::<_, String>(())
        };
        // Sent again on a retry, both are harmless twice: the worker's notifications have
        // ids of their own, and a change applied already changes nothing.
        if let Err(error) = sent.await {
            tracing::error!(correlation_id, %error, "event not queued; the stream retries");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
            return response;
        }
        tracing::info!(
            correlation_id,
            event = event.as_ref().map(|e| e.event.name()),
            change = ?change.as_ref().map(|c| &c.change),
            "queued"
        );
    }
    response
}

async fn send(app: &App, queue_url: &str, body: String, correlation_id: &str) -> Result<(), String> {
    app.sqs
        .send_message()
        .queue_url(queue_url)
        .message_body(body)
        .message_attributes(
            CORRELATION_ATTRIBUTE,
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(correlation_id)
                .build()
                .expect("data type and value are set"),
        )
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit(action: &str, target: &str, details: serde_json::Value) -> AuditEntry {
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z").unwrap().to_utc();
        AuditEntry::new("actor", action, target.into(), "corr-1", at).details(details)
    }

    #[test]
    fn the_audit_entries_worth_telling_become_events() {
        let done = audit("task.complete", "task/T1", serde_json::json!({ "userId": "ben", "pendingApproval": false }));
        let e = HouseholdEvent::from_audit("H", &done).unwrap();
        assert_eq!(
            (e.event, e.subject_id.as_deref(), e.task_id.as_deref()),
            (EventType::Completed, Some("ben"), Some("T1"))
        );
        assert_eq!(e.correlation_id, "corr-1", "the request's correlation id travels on");

        let asks = audit("task.complete", "task/T1", serde_json::json!({ "userId": "ben", "pendingApproval": true }));
        assert_eq!(HouseholdEvent::from_audit("H", &asks).unwrap().event, EventType::ApprovalRequested);

        let rejected =
            audit("completion.reject", "completion/C1", serde_json::json!({ "userId": "ben", "taskId": "T1" }));
        let e = HouseholdEvent::from_audit("H", &rejected).unwrap();
        assert_eq!(
            (e.event, e.decision.as_deref(), e.task_id.as_deref()),
            (EventType::ApprovalDecided, Some("rejected"), Some("T1"))
        );

        let joined = audit("invite.accept", "invite/CODE", serde_json::json!({}));
        assert_eq!(HouseholdEvent::from_audit("H", &joined).unwrap().subject_id.as_deref(), Some("actor"));
        let left = audit("member.remove", "member/ben", serde_json::json!({}));
        let e = HouseholdEvent::from_audit("H", &left).unwrap();
        assert_eq!((e.event, e.subject_id.as_deref()), (EventType::MemberLeft, Some("ben")));

        for quiet in ["task.create", "task.skip", "household.update", "member.role_change"] {
            assert!(HouseholdEvent::from_audit("H", &audit(quiet, "x/y", serde_json::json!({}))).is_none(), "{quiet}");
        }
    }
}
