//! `HouseholdChangesWorker`: brings a household's chores along with a change to the whole
//! household (`HouseholdChange`, from the table's stream): a member who left, one who set
//! away dates, a new escalation setting.
//!
//! Idempotent: each chore is compared with the change as it stands now, so a redelivered
//! message (or a second run after a timeout) changes only what is still to change. Each
//! chore's write is guarded by the version it was read at; a chore changed meanwhile is read
//! again (the API's change wins, and this one is applied on top of it).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use shared::App;
use shared::domain::audit::AuditEntry;
use shared::domain::household_change::{Change, HouseholdChange};
use shared::domain::task::{RosterEntry, Task, TaskState};
use shared::store::tasks::{TaskRange, TaskWriteConflict};

/// Who the audit log names for what the household-changes worker does on its own.
pub const SYSTEM_ACTOR: &str = "system";

/// How often one chore is read again after losing a race to the API before the message is
/// left to SQS's redelivery.
const ATTEMPTS: usize = 5;

pub async fn handle_batch(app: App, event: SqsEvent) -> SqsBatchResponse {
    let app = &app;
    shared::lambda::each_message(&event, "household change", |m| async move {
        let body = m.body.as_deref().unwrap_or_default();
        // An unreadable message fails every time: it reaches the DLQ after maxReceiveCount.
        let change: HouseholdChange = serde_json::from_str(body).map_err(|e| format!("unreadable message: {e}"))?;
        let changed =
            apply(app, &change).await.map_err(|e| format!("{e} (correlation id {})", change.correlation_id))?;
        tracing::info!(correlation_id = %change.correlation_id, ?change.change, changed, "household change applied");
        Ok(())
    })
    .await
}

/// Applies one change to every chore it reaches; returns how many chores it changed.
pub async fn apply(app: &App, change: &HouseholdChange) -> Result<usize, String> {
    let household_id = change.household_id.as_str();
    let err = |e: shared::store::StoreError| format!("{e:?}");
    let Some(household) = app.store.get_household(household_id).await.map_err(err)? else {
        return Ok(0);
    };
    let roster: Vec<RosterEntry> =
        app.store.roster(household_id).await.map_err(err)?.into_iter().map(RosterEntry::from).collect();
    let escalate_after = household.escalate_after_minutes;
    // Which chores the change can reach: every open one (and its pool) for a member who
    // left; the active ones assigned to them for away dates; every active one for a new
    // escalation setting.
    let ranges: Vec<TaskRange> = match &change.change {
        Change::MemberLeft { .. } => [TaskState::Active, TaskState::Paused]
            .into_iter()
            .map(|state| TaskRange::State { state, after: None, before: None })
            .collect(),
        Change::MemberAway { user_id } => {
            vec![TaskRange::Assignee { user_id: user_id.clone(), after: None, before: None }]
        }
        Change::Escalation => vec![TaskRange::State { state: TaskState::Active, after: None, before: None }],
    };
    let mut changed = 0;
    for range in &ranges {
        let mut start = None;
        loop {
            let (tasks, next) = app.store.list_tasks(household_id, range, None, 100, start).await.map_err(err)?;
            for task in tasks {
                if bring_along(app, change, task, &roster, escalate_after).await? {
                    changed += 1;
                }
            }
            match next {
                Some(n) => start = Some(n),
                None => break,
            }
        }
    }
    Ok(changed)
}

/// The chore as the change leaves it at `now`, if it changes it.
fn changed_task(change: &Change, task: Task, roster: &[RosterEntry], now: DateTime<Utc>) -> Option<Task> {
    match change {
        Change::MemberLeft { user_id } => task.without_member(user_id, roster, now),
        Change::MemberAway { user_id } => task.cover_absence(user_id, roster, now),
        Change::Escalation => None,
    }
}

/// Brings one chore along, reading it again after each lost race. `true`: it changed it.
async fn bring_along(
    app: &App,
    change: &HouseholdChange,
    mut task: Task,
    roster: &[RosterEntry],
    escalate_after: Option<u32>,
) -> Result<bool, String> {
    let err = |e: shared::store::StoreError| format!("{e:?}");
    for _ in 0..ATTEMPTS {
        let now = app.now();
        let written = if change.change == Change::Escalation {
            app.store.replan_reminder(&task, escalate_after, now).await.map_err(err)?
        } else {
            let Some(after) = changed_task(&change.change, task.clone(), roster, now) else { return Ok(false) };
            let reason = match &change.change {
                Change::MemberLeft { .. } => "member.leave",
                _ => "member.away",
            };
            let audit = AuditEntry::new(
                SYSTEM_ACTOR,
                "task.reassign",
                format!("task/{}", task.task_id),
                &change.correlation_id,
                now,
            )
            .details(serde_json::json!({
                "reason": reason,
                "change": change.audit_id,
                "from": task.assignee,
                "to": after.assignee,
            }));
            match app.store.save_task(&task, &after, &audit, escalate_after).await.map_err(err)? {
                Ok(()) => true,
                Err(TaskWriteConflict::TaskChanged | TaskWriteConflict::KeyTaken | TaskWriteConflict::MemberGone) => {
                    false
                }
            }
        };
        if written {
            return Ok(true);
        }
        match app.store.get_task(&task.household_id, &task.task_id).await.map_err(err)? {
            Some(t) => task = t,
            None => return Ok(false),
        }
    }
    Err(format!("chore {} kept changing; SQS will deliver the change again", task.task_id))
}
