//! `ReminderDispatcher`: every minute (an EventBridge schedule), sends the reminders that
//! have come due to the notification queue and moves each chore's pending reminder on.
//!
//! Exactly once, even with overlapping runs and a run that dies halfway: each reminder is
//! claimed with a conditional write before it is sent (a live claim of another run, or a
//! reminder that moved meanwhile, is left alone), and moved on with a write conditional on
//! that claim after it is sent. A run that dies after claiming leaves the claim to expire
//! ([`CLAIM_LEASE`]), and a later run sends it then; one that dies after sending, before
//! moving on, makes that later run send it again, which the notification worker's dedupe
//! record (one per notification and channel) absorbs. Nothing is lost, nothing delivered
//! twice.

use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde::Serialize;
use shared::App;
use shared::domain::reminder::{ReminderKind, dispatch_window};
use shared::store::keys;
use shared::store::reminders::{CLAIM_LEASE, PendingReminder};
use shared::store::{Item, StoreError};

/// How long one run claims: well inside the lease (claims must not expire before they are
/// sent) and inside the function's 60 s `Timeout` (the last batch and the checkpoint must
/// be written). What it leaves, the next run (a minute later) takes up from the checkpoint.
pub const RUN_BUDGET: chrono::Duration = chrono::Duration::seconds(25);

/// What one reminder message tells the notification worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReminderMessage {
    pub household_id: String,
    pub task_id: String,
    /// The occurrence: the worker sends nothing if the chore has moved past it.
    pub due: DateTime<Utc>,
    pub step_at: DateTime<Utc>,
    pub kind: ReminderKind,
    /// Sent later than it should have been (after an outage).
    pub late: bool,
}

impl ReminderMessage {
    /// The notification's identity, for the worker's dedupe record.
    pub fn notification_id(&self) -> String {
        format!("{}#{}#{}#{}", self.household_id, self.task_id, self.due.timestamp(), self.step_at.timestamp())
    }
}

/// A reminder this run claimed and will send: the message, and where the chore's reminder
/// goes once it is sent (decided once, at the claim).
struct Claimed {
    reminder: PendingReminder,
    message: ReminderMessage,
    next: Option<PendingReminder>,
}

/// What one run did (logged, and what the benchmark prints).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DispatchReport {
    pub hours: usize,
    pub queries: u32,
    pub found: u32,
    pub claimed: u32,
    pub sent: u32,
    pub late: u32,
    /// Too old to send (see `STALE_AFTER`): moved on without a message.
    pub stale: u32,
    pub sqs_calls: u32,
    /// Moved on (or removed): after sending, or at once when stale.
    pub advanced: u32,
    /// Notifications quiet hours held back, queued again.
    pub requeued: u32,
    pub checkpoint: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub enum DispatchError {
    Store(StoreError),
    Queue(String),
}

impl From<StoreError> for DispatchError {
    fn from(e: StoreError) -> Self {
        DispatchError::Store(e)
    }
}

impl std::fmt::Display for DispatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DispatchError::Store(e) => write!(f, "store: {e:?}"),
            DispatchError::Queue(e) => write!(f, "queue: {e}"),
        }
    }
}

/// The scheduled job: one run at the clock's now, named by the schedule event's id (a
/// retried invocation keeps its id, so it may take over its own claims).
pub async fn run_dispatcher(app: App, event: shared::lambda::ScheduledEvent) -> Result<(), shared::lambda::Error> {
    let run = event.id.clone().filter(|id| !id.is_empty()).unwrap_or_else(|| ulid::Ulid::new().to_string());
    let queue_url = app.config.notification_queue_url.clone();
    if queue_url.is_empty() {
        return Err(format!("{} is not set", shared::platform::config::env::NOTIFICATION_QUEUE_URL).into());
    }
    let report = dispatch_reminders(&app, &queue_url, &run, app.now()).await.map_err(|e| e.to_string())?;
    tracing::info!(run, ?report, "reminders dispatched");
    Ok(())
}

/// One dispatcher run at `now`, as `run` (its id: the claim's owner and the messages'
/// correlation id), sending to `queue_url`. Claimed reminders from all buckets are sent
/// ten to a `SendMessageBatch`: at most one SQS call per 10 messages (plus one partial).
pub async fn dispatch_reminders(
    app: &App,
    queue_url: &str,
    run: &str,
    now: DateTime<Utc>,
) -> Result<DispatchReport, DispatchError> {
    let window = dispatch_window(app.store.dispatch_checkpoint().await?, now);
    let mut report = DispatchReport { hours: window.hours.len(), ..Default::default() };
    let mut ready: Vec<Claimed> = Vec::new();
    // The earliest hour that may still hold a due reminder after this run: one another
    // run holds a live claim on (or that moved meanwhile: then merely re-read), or whose
    // message SQS did not take. The checkpoint stops there, so a later run reads it again.
    let mut unfinished: Option<DateTime<Utc>> = None;
    // Claims carry the time they are made (a long run's claims must not start out
    // expired), and a run stops claiming well inside the lease: what it leaves, the next
    // run (a minute later) takes up from the checkpoint held at that hour.
    let started = std::time::Instant::now();
    let clock = |at: DateTime<Utc>| at + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
    'hours: for hour in &window.hours {
        for shard in 0..keys::REMINDER_SHARDS {
            let bucket = keys::reminder_bucket_of_hour(*hour, shard);
            let mut start: Option<Item> = None;
            loop {
                let page = app.store.due_reminders(&bucket, now, start).await?;
                let (due, next) = (page.reminders, page.next);
                report.queries += 1;
                report.found += due.len() as u32;
                if !page.deferred.is_empty()
                    && requeue_deferred(app, queue_url, run, page.deferred, &mut report).await?
                {
                    unfinished = Some(unfinished.map_or(*hour, |u| u.min(*hour)));
                }
                if clock(now) - now > RUN_BUDGET {
                    unfinished = Some(unfinished.map_or(*hour, |u| u.min(*hour)));
                    break 'hours;
                }
                let (claimed, refused) = claim(app, run, clock(now), due, &mut report).await?;
                if refused {
                    unfinished = Some(unfinished.map_or(*hour, |u| u.min(*hour)));
                }
                for p in claimed {
                    ready.push(p);
                    if ready.len() == 10 {
                        let batch = std::mem::take(&mut ready);
                        // A batch may hold reminders of earlier hours too: a refused entry
                        // stops the checkpoint at the window's first hour.
                        if send_and_advance(app, queue_url, run, now, batch, &mut report).await? {
                            unfinished = window.hours.first().copied();
                        }
                    }
                }
                match next {
                    Some(n) => start = Some(n),
                    None => break,
                }
            }
        }
    }
    if !ready.is_empty() && send_and_advance(app, queue_url, run, now, ready, &mut report).await? {
        unfinished = window.hours.first().copied();
    }
    let checkpoint = match unfinished {
        Some(hour) => window.next_checkpoint.min(hour),
        None => window.next_checkpoint,
    };
    app.store.save_dispatch_checkpoint(checkpoint).await?;
    report.checkpoint = Some(checkpoint);
    Ok(report)
}

/// Claims a page of due reminders (concurrently) and returns those with a message to send,
/// and whether any claim was refused; a stale one is moved on at once, without a message.
async fn claim(
    app: &App,
    run: &str,
    now: DateTime<Utc>,
    due: Vec<PendingReminder>,
    report: &mut DispatchReport,
) -> Result<(Vec<Claimed>, bool), DispatchError> {
    let claims = join_all(due.iter().map(|p| app.store.claim_reminder(p, run, now))).await;
    let mut out = Vec::new();
    let mut refused = false;
    for c in claims {
        let Some(p) = c? else {
            refused = true;
            continue;
        };
        report.claimed += 1;
        let d = p.plan.on_dispatch(p.due, p.remind_at, now);
        let next = d.next.map(|step| p.at_step(step));
        match d.send {
            Some(step) => {
                let m = ReminderMessage {
                    household_id: p.household_id.clone(),
                    task_id: p.task_id.clone(),
                    due: p.due,
                    step_at: step.at,
                    kind: step.kind,
                    late: d.late,
                };
                out.push(Claimed { reminder: p, message: m, next });
            }
            None => {
                report.stale += 1;
                if app.store.advance_reminder(&p, run, next.as_ref(), now).await? {
                    report.advanced += 1;
                }
            }
        }
    }
    Ok((out, refused))
}

/// Queues the deferred notifications of one page again, ten to a call, and removes each
/// once SQS took it. Overlapping runs may both queue one: the worker's delivery records
/// absorb the second. `true`: SQS refused some, which stay for a later run.
async fn requeue_deferred(
    app: &App,
    queue_url: &str,
    run: &str,
    deferred: Vec<shared::store::reminders::DeferredMessage>,
    report: &mut DispatchReport,
) -> Result<bool, DispatchError> {
    let mut refused = false;
    for chunk in deferred.chunks(10) {
        let bodies = chunk.iter().map(|d| d.body.clone()).collect();
        let failed = send_batch(app, queue_url, run, bodies, report).await?;
        refused |= !failed.is_empty();
        let queued = chunk.iter().enumerate().filter(|(i, _)| !failed.contains(i)).map(|(_, d)| d);
        for removed in join_all(queued.map(|d| app.store.delete_deferred(d))).await {
            removed?;
            report.requeued += 1;
        }
    }
    Ok(refused)
}

/// Up to ten bodies in one `SendMessageBatch`, each carrying the run's id as correlation
/// id. Returns the positions SQS refused.
async fn send_batch(
    app: &App,
    queue_url: &str,
    run: &str,
    bodies: Vec<String>,
    report: &mut DispatchReport,
) -> Result<std::collections::HashSet<usize>, DispatchError> {
    let correlation = aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(run)
        .build()
        .expect("data type and value are set");
    let entries = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .message_attributes(crate::CORRELATION_ATTRIBUTE, correlation.clone())
                .build()
                .expect("id and body are set")
        })
        .collect();
    let out = app
        .sqs
        .send_message_batch()
        .queue_url(queue_url)
        .set_entries(Some(entries))
        .send()
        .await
        .map_err(|e| DispatchError::Queue(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
    report.sqs_calls += 1;
    Ok(out.failed.iter().filter_map(|f| f.id.parse().ok()).collect())
}

/// Up to 10 claimed reminders: sent in one `SendMessageBatch`, then moved on. `true`: SQS
/// refused some, which stay claimed for a later run.
async fn send_and_advance(
    app: &App,
    queue_url: &str,
    run: &str,
    now: DateTime<Utc>,
    batch: Vec<Claimed>,
    report: &mut DispatchReport,
) -> Result<bool, DispatchError> {
    let bodies = batch
        .iter()
        .map(|c| {
            serde_json::to_string(&crate::NotificationMessage::Reminder(c.message.clone()))
                .expect("a reminder message serializes")
        })
        .collect();
    // A failed entry stays claimed: a later run sends it once the claim expires.
    let failed = send_batch(app, queue_url, run, bodies, report).await?;
    if !failed.is_empty() {
        tracing::warn!(
            failed = failed.len(),
            lease_seconds = CLAIM_LEASE.num_seconds(),
            "reminders not queued; retried after the lease"
        );
    }
    let sent: Vec<_> = batch.iter().enumerate().filter(|(i, _)| !failed.contains(i)).map(|(_, b)| b).collect();
    report.sent += sent.len() as u32;
    report.late += sent.iter().filter(|c| c.message.late).count() as u32;
    let moves =
        sent.iter().map(|c| async move { app.store.advance_reminder(&c.reminder, run, c.next.as_ref(), now).await });
    for moved in join_all(moves).await {
        if moved? {
            report.advanced += 1;
        }
    }
    Ok(!failed.is_empty())
}
