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
use shared::store::tasks::TaskRange;

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

/// Applies one change to every chore it reaches; returns how many chores it changed. A
/// chore that cannot be brought along now (it kept changing, DynamoDB refused) does not hold
/// up the others: the message fails at the end, and its redelivery finds only that one left.
pub async fn apply(app: &App, change: &HouseholdChange) -> Result<usize, String> {
    let household_id = change.household_id.as_str();
    let err = |e: shared::store::StoreError| format!("{e:?}");
    let Some(household) = app.store.get_household(household_id).await.map_err(err)? else {
        return Ok(0);
    };
    let roster: Vec<RosterEntry> =
        app.store.roster(household_id).await.map_err(err)?.into_iter().map(RosterEntry::from).collect();
    // A member who left and came back since (a late or replayed message) keeps what they have.
    if let Change::MemberLeft { user_id } = &change.change {
        if roster.iter().any(|m| &m.user_id == user_id) {
            return Ok(0);
        }
        // The API keys they made acted as them: revoked (they stopped working already, with
        // the membership they needed).
        let revoker = shared::api_keys::Revoker { actor: SYSTEM_ACTOR, correlation_id: &change.correlation_id };
        shared::api_keys::revoke_keys(app, household_id, Some(user_id), Some(revoker)).await?;
    }
    // Which chores the change can reach: every open or archived one (pools, a chore fixed on
    // them) for a member who left; the active ones assigned to them for away dates; every
    // active one for a new escalation setting.
    let ranges: Vec<TaskRange> = match &change.change {
        Change::MemberLeft { .. } => [TaskState::Active, TaskState::Paused, TaskState::Archived]
            .into_iter()
            .map(|state| TaskRange::State { state, after: None, before: None })
            .collect(),
        Change::MemberAway { user_id } => {
            vec![TaskRange::Assignee { user_id: user_id.clone(), after: None, before: None }]
        }
        Change::Escalation => vec![TaskRange::State { state: TaskState::Active, after: None, before: None }],
    };
    let ctx = Context {
        change,
        roster: &roster,
        owner: &household.owner_id,
        escalate_after: household.escalate_after_minutes,
    };
    let (mut changed, mut failed) = (0, Vec::new());
    for range in &ranges {
        let mut start = None;
        loop {
            let (tasks, next) = app.store.list_tasks(household_id, range, None, 100, start).await.map_err(err)?;
            for task in tasks {
                let id = task.task_id.clone();
                match bring_along(app, &ctx, task).await {
                    Ok(true) => changed += 1,
                    Ok(false) => {}
                    Err(e) => failed.push(format!("chore {id}: {e}")),
                }
            }
            match next {
                Some(n) => start = Some(n),
                None => break,
            }
        }
    }
    if failed.is_empty() { Ok(changed) } else { Err(format!("{changed} changed; not yet: {}", failed.join("; "))) }
}

/// What every chore of one change is compared with.
struct Context<'a> {
    change: &'a HouseholdChange,
    roster: &'a [RosterEntry],
    /// Takes a chore whose pool empties.
    owner: &'a str,
    escalate_after: Option<u32>,
}

/// The chore as the change leaves it at `now`, if it changes it.
fn changed_task(ctx: &Context<'_>, task: Task, now: DateTime<Utc>) -> Option<Task> {
    match &ctx.change.change {
        Change::MemberLeft { user_id } => task.without_member(user_id, ctx.roster, ctx.owner, now),
        Change::MemberAway { user_id } => task.cover_absence(user_id, ctx.roster, now),
        Change::Escalation => None,
    }
}

/// Brings one chore along, reading it again after each lost race (a version that moved,
/// or a transaction that ran into another at once). `true`: it changed it.
async fn bring_along(app: &App, ctx: &Context<'_>, mut task: Task) -> Result<bool, String> {
    let change = ctx.change;
    for attempt in 0..ATTEMPTS {
        let now = app.now();
        let written = if change.change == Change::Escalation {
            app.store.replan_reminder(&task, ctx.escalate_after, now).await
        } else {
            let Some(after) = changed_task(ctx, task.clone(), now) else { return Ok(false) };
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
            // Any condition that failed means the chore (or its member) changed: read again.
            app.store.save_task(&task, &after, &audit, ctx.escalate_after).await.map(|r| r.is_ok())
        };
        match written {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(e) if e.is_conflict() => {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            Err(e) => return Err(format!("{e:?}")),
        }
        match app.store.get_task(&task.household_id, &task.task_id).await.map_err(|e| format!("{e:?}"))? {
            Some(t) => task = t,
            None => return Ok(false),
        }
    }
    Err("it kept changing; SQS will deliver the change again".into())
}
