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
use shared::store::notifications::DigestLine;

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
    /// A member's daily digest is due (from the reminder index, where the first line of
    /// it put this message).
    Digest(DigestMessage),
}

/// The daily digest of `user_id` that goes out at `send_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestMessage {
    pub user_id: String,
    /// The household whose notification scheduled it (the member's partition holds the
    /// schedule: a household's purge leaves it).
    pub household_id: String,
    pub send_at: DateTime<Utc>,
}

impl DigestMessage {
    /// One schedule per member and digest, however many lines it collects.
    fn key(&self) -> String {
        format!("digest#{}#{}", self.user_id, shared::platform::clock::rfc3339(self.send_at))
    }
}

/// The message attribute that carries the correlation id from the API request (or the
/// dispatcher run) into the worker's logs.
pub const CORRELATION_ATTRIBUTE: &str = "correlationId";

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Told `in_app` recipients in-app, sent `emails` (new ones only) and put `digest`
    /// lines into digests; some email waits for quiet hours to end until `later`.
    Delivered { recipients: usize, in_app: usize, emails: usize, digest: usize, later: Option<DateTime<Utc>> },
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
        NotificationMessage::Digest(d) => deliver_digest(app, d).await?,
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
        NotificationMessage::Digest(d) => (d.household_id.clone(), d.key()),
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
        let deferred =
            shared::store::reminders::DeferredMessage { household_id, user_id: None, key, body, release_at: at };
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
    /// Lines put into digests.
    digest: usize,
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
                // Into the digest, which the reminder index brings back when it is due.
                Channel::Digest => {
                    collect_for_digest(app, t, user_id, &body, d.at).await?;
                    told.digest += 1;
                }
                // Quiet hours hold it: the message comes back then.
                Channel::Email if d.at > now => {
                    told.later = Some(told.later.map_or(d.at, |l: DateTime<Utc>| l.min(d.at)));
                }
                Channel::Email => {
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
        total.digest += t.digest;
        total.later = match (total.later, t.later) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(Outcome::Delivered {
        recipients: recipients.len(),
        in_app: total.in_app,
        emails: total.emails,
        digest: total.digest,
        later: total.later,
    })
}

/// Puts what `t` tells into `user_id`'s digest that goes out at `send_at`, and makes sure
/// that digest is scheduled: a deferred message in the reminder index, one per member and
/// digest (its key), which the dispatcher queues when it is due.
async fn collect_for_digest(
    app: &App,
    t: &Telling<'_>,
    user_id: &str,
    text: &str,
    send_at: DateTime<Utc>,
) -> Result<(), String> {
    let line = DigestLine {
        user_id: user_id.to_string(),
        line_id: notification_id(&t.key, user_id, t.occurred_at),
        send_at,
        household_id: t.household.household_id.clone(),
        task_id: t.task_id.clone(),
        due: t.when,
        text: text.to_string(),
    };
    // The line first: a digest that goes out finds every line scheduled before it. A line
    // collected before is not collected again (nor sent twice); the schedule is put anyway,
    // in case an earlier attempt died between the two (a digest with nothing left sends
    // nothing).
    app.store.put_digest_line(&line).await.map_err(|e| format!("digest: {e:?}"))?;
    let digest = DigestMessage { user_id: user_id.to_string(), household_id: line.household_id.clone(), send_at };
    let deferred = shared::store::reminders::DeferredMessage {
        household_id: digest.household_id.clone(),
        user_id: Some(digest.user_id.clone()),
        key: digest.key(),
        body: serde_json::to_string(&NotificationMessage::Digest(digest.clone())).expect("a digest serializes"),
        release_at: send_at,
    };
    app.store.put_deferred(&deferred, app.now()).await.map_err(|e| format!("digest: {e:?}"))
}

/// Sends a member's daily digest: the lines collected for it (and any an earlier digest
/// left), in one email per fifty lines, in their language. A line whose chore has moved on
/// since (done, skipped, snoozed, paused, gone with its household) is left out. Each email's
/// identity is the lines it holds, so a redelivered message sends none twice.
pub async fn deliver_digest(app: &App, m: &DigestMessage) -> Result<Outcome, String> {
    let err = |e: shared::store::StoreError| format!("digest: {e:?}");
    let profile = app.store.get_profile(&m.user_id).await.map_err(err)?;
    let (locale, email_on) = match &profile {
        Some(p) => (Locale::negotiate(Some(&p.locale)), p.notifications.email),
        None => (Locale::En, true),
    };
    let (mut emails, mut told) = (0, 0);
    loop {
        let lines = app.store.digest_lines(&m.user_id, m.send_at).await.map_err(err)?;
        if lines.is_empty() {
            break;
        }
        let still_due = join_all(lines.iter().map(|l| still_due(app, l))).await;
        let items: Vec<String> = lines
            .iter()
            .zip(still_due)
            .filter_map(|(l, due)| match due {
                Ok(true) => Some(Ok(l.text.clone())),
                Ok(false) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<_, _>>()
            .map_err(err)?;
        // Turned email off since: the lines go unsent (they were in-app at once).
        if email_on && !items.is_empty() {
            let (title, intro) = Catalogue::get(locale).notification("digest", &[("count", items.len().to_string())]);
            let e = shared::domain::notification::email_with_list(locale.tag(), &title, &intro, &items);
            let ids: Vec<&str> = lines.iter().map(|l| l.line_id.as_str()).collect();
            let key = format!("{}#{}", m.key(), notification_id(&ids.join(","), &m.user_id, m.send_at));
            let sent = crate::email::send_once(app, &m.user_id, &key, &e).await.map_err(|e| format!("email: {e:?}"))?;
            if sent == crate::email::EmailOutcome::Sent {
                emails += 1;
            }
        }
        told += items.len();
        app.store.digest_lines_sent(&lines, app.now()).await.map_err(err)?;
    }
    if emails == 0 && told == 0 {
        return Ok(Outcome::Dropped("nothing left for the digest"));
    }
    Ok(Outcome::Delivered { recipients: 1, in_app: 0, emails, digest: told, later: None })
}

/// Whether what a digest line reminds of is still the chore's current occurrence.
async fn still_due(app: &App, line: &DigestLine) -> Result<bool, shared::store::StoreError> {
    let (Some(task_id), Some(due)) = (&line.task_id, line.due) else { return Ok(true) };
    let task = app.store.get_task(&line.household_id, task_id).await?;
    Ok(task.is_some_and(|t| t.state() == TaskState::Active && t.next_due == Some(due)))
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
