//! `NotificationWorker`: reads the notification queue and tells each recipient, on the
//! channels their preferences choose, in their language and time zone.
//!
//! Idempotent: an in-app notification's id comes from the event and the recipient, so a
//! redelivered message stores it once; what cannot be taken back (email) is claimed in a
//! delivery record first. A message fails alone (`ReportBatchItemFailures`): SQS delivers
//! it again after the visibility timeout, and after `maxReceiveCount` it waits in the DLQ,
//! whose alarm tells the team.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono_tz::Tz;
use futures::future::join_all;
use serde::{Deserialize, Serialize};
use shared::App;
use shared::auth::Role;
use shared::domain::household::{Household, Member};
use shared::domain::notification::{Channel, EventType, InAppNotification, local_when, notification_id};
use shared::domain::reminder::ReminderKind;
use shared::domain::task::{Task, TaskState};
use shared::domain::user::NotificationPreferences;
use shared::platform::i18n::{Catalogue, Locale};
use shared::store::StoreError;

use crate::ReminderMessage;

/// What the notification queue carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum NotificationMessage {
    /// A chore's reminder step came due (from the dispatcher).
    Reminder(ReminderMessage),
}

/// The message attribute that carries the correlation id from the API request (or the
/// dispatcher run) into the worker's logs.
pub const CORRELATION_ATTRIBUTE: &str = "correlationId";

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Told `in_app` recipients in-app (new ones only).
    Delivered { recipients: usize, in_app: usize },
    /// Nothing to tell: the chore moved on, was paused, archived or deleted.
    Dropped(&'static str),
}

pub async fn handle_batch(app: App, event: SqsEvent) -> SqsBatchResponse {
    let results = join_all(event.records.iter().map(|m| handle_message(&app, m))).await;
    let mut response = SqsBatchResponse::default();
    for (message, result) in event.records.iter().zip(results) {
        if let Err(reason) = result {
            tracing::error!(message_id = ?message.message_id, correlation_id = correlation_id(message), %reason, "notification failed; SQS will retry");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

fn correlation_id(message: &SqsMessage) -> &str {
    message.message_attributes.get(CORRELATION_ATTRIBUTE).and_then(|a| a.string_value.as_deref()).unwrap_or("")
}

async fn handle_message(app: &App, message: &SqsMessage) -> Result<Outcome, String> {
    let body = message.body.as_deref().unwrap_or_default();
    // An unreadable message fails every time: it reaches the DLQ after maxReceiveCount.
    let parsed: NotificationMessage = serde_json::from_str(body).map_err(|e| format!("unreadable message: {e}"))?;
    let outcome = match parsed {
        NotificationMessage::Reminder(m) => deliver_reminder(app, &m).await.map_err(|e| format!("{e:?}"))?,
    };
    tracing::info!(correlation_id = correlation_id(message), ?outcome, "notification handled");
    Ok(outcome)
}

/// Who is told of a reminder step: the people the occurrence is for; for an escalation,
/// the household's owners and admins (if the household still escalates).
pub fn reminder_recipients<'a>(
    kind: ReminderKind,
    task: &'a Task,
    household: &Household,
    members: &'a [Member],
) -> Vec<&'a str> {
    let is_member = |u: &str| members.iter().any(|m| m.user_id == u);
    match kind {
        ReminderKind::Reminder | ReminderKind::Overdue => {
            task.assigned_to().into_iter().filter(|u| is_member(u)).collect()
        }
        ReminderKind::Escalation if household.escalate_after_minutes.is_some() => {
            members.iter().filter(|m| matches!(m.role, Role::Owner | Role::Admin)).map(|m| m.user_id.as_str()).collect()
        }
        ReminderKind::Escalation => Vec::new(),
    }
}

/// Tells the recipients of one reminder step, unless the chore has moved past it.
pub async fn deliver_reminder(app: &App, m: &ReminderMessage) -> Result<Outcome, StoreError> {
    let (task, household, (members, _)) = tokio::try_join!(
        app.store.get_task(&m.household_id, &m.task_id),
        app.store.get_household(&m.household_id),
        app.store.list_members(&m.household_id, 100, None),
    )?;
    let (Some(task), Some(household)) = (task, household) else {
        return Ok(Outcome::Dropped("the chore or its household is gone"));
    };
    // Completed, skipped, snoozed or rescheduled since the dispatcher sent it: the item
    // moved with the change, and this step is no longer the chore's.
    if task.state() != TaskState::Active || task.next_due != Some(m.due) {
        return Ok(Outcome::Dropped("the chore moved on"));
    }
    let recipients = reminder_recipients(m.kind, &task, &household, &members);
    let names: HashMap<&str, &str> = members.iter().map(|x| (x.user_id.as_str(), x.display_name.as_str())).collect();
    let assignees = task.assigned_to().iter().filter_map(|u| names.get(u).copied()).collect::<Vec<_>>().join(", ");
    let event = EventType::from(m.kind);
    let key = m.notification_id();
    let now = app.now();
    let told = join_all(recipients.iter().map(|user_id| async {
        let profile = app.store.get_profile(user_id).await?;
        let (locale, tz, prefs) = match &profile {
            Some(p) => (Locale::negotiate(Some(&p.locale)), zone(&p.timezone, &household), p.notifications.clone()),
            None => (Locale::En, zone(&household.timezone, &household), NotificationPreferences::default()),
        };
        let args = [("task", task.title.clone()), ("when", local_when(m.due, tz)), ("assignees", assignees.clone())];
        let (title, body) = Catalogue::get(locale).notification(event.name(), &args);
        let mut stored = 0;
        for d in prefs.deliveries(event, now, tz) {
            if d.channel == Channel::InApp {
                let n = InAppNotification {
                    notification_id: notification_id(&key, user_id, m.step_at),
                    user_id: user_id.to_string(),
                    event,
                    household_id: m.household_id.clone(),
                    task_id: Some(m.task_id.clone()),
                    title: title.clone(),
                    body: body.clone(),
                    occurred_at: m.step_at,
                    created_at: now,
                    read_at: None,
                    late: m.late,
                };
                if app.store.put_notification(&n).await? {
                    stored += 1;
                }
            }
        }
        Ok::<_, StoreError>(stored)
    }))
    .await;
    let mut in_app = 0;
    for t in told {
        in_app += t?;
    }
    Ok(Outcome::Delivered { recipients: recipients.len(), in_app })
}

/// A member's time zone, or the household's when theirs is not one we know.
fn zone(name: &str, household: &Household) -> Tz {
    name.parse().or_else(|_| household.timezone.parse()).unwrap_or(Tz::UTC)
}
