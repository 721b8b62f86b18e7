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
use chrono::{DateTime, Utc};
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
    /// Told `in_app` recipients in-app and sent `emails` (new ones only); some email waits
    /// for quiet hours to end (or the digest) until `later`.
    Delivered { recipients: usize, in_app: usize, emails: usize, later: Option<DateTime<Utc>> },
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
    let outcome = match &parsed {
        NotificationMessage::Reminder(m) => deliver_reminder(app, m).await?,
    };
    if let Outcome::Delivered { later: Some(at), .. } = outcome {
        defer(app, &parsed, correlation_id(message), at).await?;
    }
    tracing::info!(correlation_id = correlation_id(message), ?outcome, "notification handled");
    Ok(outcome)
}

/// SQS delays a message by at most this much.
const MAX_SQS_DELAY: i64 = 900;

/// Brings `message` back at `at` (quiet hours' end): as a delayed SQS message when that is
/// within SQS's 15 minutes, else through the reminder index, which the dispatcher reads
/// every minute (a message kept invisible longer would count receives towards the DLQ).
/// Everything told already stays told: the next pass sends only what waited.
async fn defer(app: &App, message: &NotificationMessage, correlation: &str, at: DateTime<Utc>) -> Result<(), String> {
    let body = serde_json::to_string(message).expect("a notification message serializes");
    let wait = (at - app.now()).num_seconds().max(0);
    let NotificationMessage::Reminder(m) = message;
    if wait <= MAX_SQS_DELAY {
        app.sqs
            .send_message()
            .queue_url(&app.config.notification_queue_url)
            .message_body(body)
            .delay_seconds(wait as i32)
            .message_attributes(
                CORRELATION_ATTRIBUTE,
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(if correlation.is_empty() { "deferred" } else { correlation })
                    .build()
                    .expect("data type and value are set"),
            )
            .send()
            .await
            .map_err(|e| format!("deferring: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    } else {
        let deferred = shared::store::reminders::DeferredMessage {
            household_id: m.household_id.clone(),
            key: m.notification_id(),
            body,
            release_at: at,
        };
        app.store.put_deferred(&deferred, app.now()).await.map_err(|e| format!("deferring: {e:?}"))?;
    }
    tracing::info!(until = %at, "email deferred by quiet hours");
    Ok(())
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

/// What one recipient was told.
#[derive(Debug, Default)]
struct Told {
    in_app: usize,
    emails: usize,
    later: Option<DateTime<Utc>>,
}

/// Tells the recipients of one reminder step, unless the chore has moved past it.
pub async fn deliver_reminder(app: &App, m: &ReminderMessage) -> Result<Outcome, String> {
    let (task, household, (members, _)) = tokio::try_join!(
        app.store.get_task(&m.household_id, &m.task_id),
        app.store.get_household(&m.household_id),
        app.store.list_members(&m.household_id, 100, None),
    )
    .map_err(|e| format!("{e:?}"))?;
    let (Some(task), Some(household)) = (task, household) else {
        return Ok(Outcome::Dropped("the chore or its household is gone"));
    };
    // Completed, skipped, snoozed or rescheduled since the dispatcher sent it: the item
    // moved with the change, and this step is no longer the chore's.
    if task.state() != TaskState::Active || task.next_due != Some(m.due) {
        return Ok(Outcome::Dropped("the chore moved on"));
    }
    if m.kind == ReminderKind::Escalation && household.escalate_after_minutes.is_none() {
        return Ok(Outcome::Dropped("the household no longer escalates"));
    }
    // Webhooks take every reminder step of an active chore, whoever is told.
    let data = serde_json::json!({
        "householdId": m.household_id,
        "taskId": m.task_id,
        "title": task.title,
        "due": shared::platform::clock::rfc3339(m.due),
        "stepAt": shared::platform::clock::rfc3339(m.step_at),
        "late": m.late,
    });
    crate::webhooks::fan_out(app, &m.household_id, EventType::from(m.kind), &m.notification_id(), m.step_at, data)
        .await?;
    let recipients = reminder_recipients(m.kind, &task, &household, &members);
    let names: HashMap<&str, &str> = members.iter().map(|x| (x.user_id.as_str(), x.display_name.as_str())).collect();
    let assignees = task.assigned_to().iter().filter_map(|u| names.get(u).copied()).collect::<Vec<_>>().join(", ");
    let event = EventType::from(m.kind);
    let key = m.notification_id();
    let now = app.now();
    let told = join_all(recipients.iter().map(|user_id| async {
        let user_id: &str = user_id;
        let profile = app.store.get_profile(user_id).await.map_err(|e| format!("profile: {e:?}"))?;
        let (locale, tz, prefs) = match &profile {
            Some(p) => (Locale::negotiate(Some(&p.locale)), zone(&p.timezone, &household), p.notifications.clone()),
            None => (Locale::En, zone(&household.timezone, &household), NotificationPreferences::default()),
        };
        let args = [("task", task.title.clone()), ("when", local_when(m.due, tz)), ("assignees", assignees.clone())];
        let (title, body) = Catalogue::get(locale).notification(event.name(), &args);
        let mut told = Told::default();
        // The daily digest is not built yet: until it is, a member who chose it gets each
        // email on its own (quiet hours still hold them), rather than none.
        let prefs = NotificationPreferences { daily_digest: false, ..prefs };
        for d in prefs.deliveries(event, now, tz) {
            match d.channel {
                Channel::InApp => {
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
                    if app.store.put_notification(&n).await.map_err(|e| format!("in-app: {e:?}"))? {
                        told.in_app += 1;
                    }
                }
                // Quiet hours hold it: the message comes back then.
                Channel::Email | Channel::Digest if d.at > now => {
                    told.later = Some(told.later.map_or(d.at, |l: DateTime<Utc>| l.min(d.at)));
                }
                Channel::Email | Channel::Digest => {
                    let e = shared::domain::notification::email(locale.tag(), &title, &body);
                    let sent =
                        crate::email::send_once(app, user_id, &key, &e).await.map_err(|e| format!("email: {e:?}"))?;
                    tracing::info!(user_id, outcome = ?sent, "email");
                    if sent == crate::email::EmailOutcome::Sent {
                        told.emails += 1;
                    }
                }
            }
        }
        Ok::<_, String>(told)
    }))
    .await;
    let mut total = Told::default();
    for t in told {
        let t = t?;
        total.in_app += t.in_app;
        total.emails += t.emails;
        total.later = match (total.later, t.later) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(Outcome::Delivered {
        recipients: recipients.len(),
        in_app: total.in_app,
        emails: total.emails,
        later: total.later,
    })
}

/// A member's time zone, or the household's when theirs is not one we know.
fn zone(name: &str, household: &Household) -> Tz {
    name.parse().or_else(|_| household.timezone.parse()).unwrap_or(Tz::UTC)
}
