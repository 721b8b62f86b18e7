//! `NotificationWorker`: reads the notification queue and tells each recipient, on the
//! channels their preferences choose, in their language and time zone.
//!
//! Idempotent: an in-app notification's id comes from the event and the recipient, so a
//! redelivered message stores it once; what cannot be taken back (email) is claimed in a
//! delivery record first. A message fails alone (`ReportBatchItemFailures`): SQS delivers
//! it again after the visibility timeout, and after `maxReceiveCount` it waits in the DLQ,
//! whose alarm tells the team.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
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
use crate::events::HouseholdEvent;

/// What the notification queue carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum NotificationMessage {
    /// A chore's reminder step came due (from the dispatcher).
    Reminder(ReminderMessage),
    /// Something happened in a household (from the table's stream).
    Event(HouseholdEvent),
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
    let app = &app;
    shared::lambda::each_message(&event, "notification", |m| async move {
        handle_message(app, m).await.map_err(|reason| format!("{reason} (correlation id {})", correlation_id(m)))
    })
    .await
}

fn correlation_id(message: &SqsMessage) -> &str {
    message.message_attributes.get(CORRELATION_ATTRIBUTE).and_then(|a| a.string_value.as_deref()).unwrap_or("")
}

async fn handle_message(app: &App, message: &SqsMessage) -> Result<(), String> {
    let body = message.body.as_deref().unwrap_or_default();
    // An unreadable message fails every time: it reaches the DLQ after maxReceiveCount.
    let parsed: NotificationMessage = serde_json::from_str(body).map_err(|e| format!("unreadable message: {e}"))?;
    let outcome = match &parsed {
        NotificationMessage::Reminder(m) => deliver_reminder(app, m).await?,
        NotificationMessage::Event(e) => deliver_event(app, e).await?,
    };
    if let Outcome::Delivered { later: Some(at), .. } = outcome {
        defer(app, &parsed, correlation_id(message), at).await?;
    }
    tracing::info!(correlation_id = correlation_id(message), ?outcome, "notification handled");
    Ok(())
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
    let (household_id, key) = match message {
        NotificationMessage::Reminder(m) => (m.household_id.clone(), m.notification_id()),
        NotificationMessage::Event(e) => (e.household_id.clone(), e.notification_id()),
    };
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
        let deferred = shared::store::reminders::DeferredMessage { household_id, key, body, release_at: at };
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
    let telling = Telling {
        event: EventType::from(m.kind),
        key: m.notification_id(),
        household: &household,
        task_id: Some(m.task_id.clone()),
        occurred_at: m.step_at,
        late: m.late,
        args: vec![("task", task.title.clone()), ("assignees", assignees)],
        when: Some(m.due),
    };
    tell(app, &telling, &recipients).await
}

/// What the recipients of one event are told (each in their language and zone).
struct Telling<'a> {
    event: EventType,
    /// The notification's identity.
    key: String,
    household: &'a Household,
    task_id: Option<String>,
    occurred_at: DateTime<Utc>,
    late: bool,
    /// The catalogue's placeholders, but `when`.
    args: Vec<(&'static str, String)>,
    /// The time `{when}` tells, in each recipient's zone.
    when: Option<DateTime<Utc>>,
}

/// Tells each recipient on the channels their preferences choose: in-app at once, email
/// now or when their quiet hours end (`later` in the outcome).
async fn tell(app: &App, t: &Telling<'_>, recipients: &[&str]) -> Result<Outcome, String> {
    let now = app.now();
    let told = join_all(recipients.iter().map(|user_id| async move {
        let user_id: &str = user_id;
        let profile = app.store.get_profile(user_id).await.map_err(|e| format!("profile: {e:?}"))?;
        let (locale, tz, prefs) = match &profile {
            Some(p) => (Locale::negotiate(Some(&p.locale)), zone(&p.timezone, t.household), p.notifications.clone()),
            None => (Locale::En, zone(&t.household.timezone, t.household), NotificationPreferences::default()),
        };
        let mut args = t.args.clone();
        if let Some(when) = t.when {
            args.push(("when", local_when(when, tz)));
        }
        let (title, body) = Catalogue::get(locale).notification(t.event.name(), &args);
        let mut told = Told::default();
        // The daily digest is not built yet: until it is, a member who chose it gets each
        // email on its own (quiet hours still hold them), rather than none.
        let prefs = NotificationPreferences { daily_digest: false, ..prefs };
        for d in prefs.deliveries(t.event, now, tz) {
            match d.channel {
                Channel::InApp => {
                    let n = InAppNotification {
                        notification_id: notification_id(&t.key, user_id, t.occurred_at),
                        user_id: user_id.to_string(),
                        event: t.event,
                        household_id: t.household.household_id.clone(),
                        task_id: t.task_id.clone(),
                        title: title.clone(),
                        body: body.clone(),
                        occurred_at: t.occurred_at,
                        created_at: now,
                        read_at: None,
                        late: t.late,
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
                        crate::email::send_once(app, user_id, &t.key, &e).await.map_err(|e| format!("email: {e:?}"))?;
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

/// Who is told of a household event: never the member who did it.
pub fn event_recipients<'a>(e: &HouseholdEvent, members: &'a [Member]) -> Vec<&'a str> {
    let not_actor = |m: &&Member| m.user_id != e.actor_id;
    let is_subject = |m: &Member| e.subject_id.as_deref() == Some(m.user_id.as_str());
    let ids = |it: Vec<&'a Member>| it.into_iter().map(|m| m.user_id.as_str()).collect();
    match e.event {
        // Completion alerts: everyone else (their preferences choose the channels).
        EventType::Completed | EventType::MemberJoined | EventType::MemberLeft => {
            ids(members.iter().filter(not_actor).filter(|m| !is_subject(m)).collect())
        }
        EventType::ApprovalRequested => {
            ids(members.iter().filter(not_actor).filter(|m| matches!(m.role, Role::Owner | Role::Admin)).collect())
        }
        EventType::ApprovalDecided => ids(members.iter().filter(not_actor).filter(|m| is_subject(m)).collect()),
        EventType::Reminder | EventType::Overdue | EventType::Escalation => Vec::new(),
    }
}

/// Tells a household event (from the stream) and hands it to the webhooks.
pub async fn deliver_event(app: &App, e: &HouseholdEvent) -> Result<Outcome, String> {
    let task = async {
        match &e.task_id {
            Some(id) => app.store.get_task(&e.household_id, id).await,
            None => Ok(None),
        }
    };
    let (household, (members, _), task) = tokio::try_join!(
        app.store.get_household(&e.household_id),
        app.store.list_members(&e.household_id, 100, None),
        task,
    )
    .map_err(|x| format!("{x:?}"))?;
    let Some(household) = household else {
        return Ok(Outcome::Dropped("the household is gone"));
    };
    let subject_name = e
        .subject_id
        .as_deref()
        .and_then(|s| members.iter().find(|m| m.user_id == s).map(|m| m.display_name.clone()))
        .or_else(|| e.subject_name.clone())
        .unwrap_or_default();
    let title = task.as_ref().map(|t| t.title.clone()).unwrap_or_default();
    let data = serde_json::json!({
        "householdId": e.household_id,
        "taskId": e.task_id,
        "title": title,
        "memberId": e.subject_id,
        "decision": e.decision,
        "at": shared::platform::clock::rfc3339(e.at),
    });
    let key = e.notification_id();
    crate::webhooks::fan_out(app, &e.household_id, e.event, &key, e.at, data).await?;
    let recipients = event_recipients(e, &members);
    let telling = Telling {
        event: e.event,
        key,
        household: &household,
        task_id: e.task_id.clone(),
        occurred_at: e.at,
        late: false,
        args: vec![("task", title), ("member", subject_name), ("household", household.name.clone())],
        when: None,
    };
    tell(app, &telling, &recipients).await
}

/// A member's time zone, or the household's when theirs is not one we know.
fn zone(name: &str, household: &Household) -> Tz {
    name.parse().or_else(|_| household.timezone.parse()).unwrap_or(Tz::UTC)
}
