//! Chores and their history. A chore is one item with its position in the household's task
//! index (GSI1: state, due time), so every list is a Query on an index range. "My chores"
//! is the active range filtered on `assignedTo`, which lists everyone the current
//! occurrence is for: one assignee, or an `anyone`/`everyone` pool.

use chrono::{DateTime, Utc};

use super::reminders::Was;
use super::{
    Expr, Item, KeyRange, Store, StoreError, Tx, from_item, key, keys, n, page_key, s, start_key, to_item, version_is,
};
use crate::domain::audit::AuditEntry;
use crate::domain::task::{Completion, Task, TaskState, week_key};
use crate::platform::clock::rfc3339;
use crate::platform::pagination::PageKey;

/// Which chores a list wants. Every variant is one index range.
#[derive(Debug, Clone)]
pub enum TaskRange {
    /// Chores in a state, optionally due within `[after, before)`.
    State { state: TaskState, after: Option<DateTime<Utc>>, before: Option<DateTime<Utc>> },
    /// Active chores whose current occurrence is (also) one member's, pools included,
    /// optionally due within `[after, before)`.
    Assignee { user_id: String, after: Option<DateTime<Utc>>, before: Option<DateTime<Utc>> },
}

/// A completion as stored: with the chore as it was before, so it can be undone.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletionRecord {
    pub completion: Completion,
    /// Copies of `completion.userId` and `completion.taskId` at the top level, for filters.
    pub user_id: String,
    pub task_id: String,
    pub previous: Task,
    /// The chore's version right after this completion: undo requires nothing changed since.
    pub task_version_after: u64,
    #[serde(default)]
    pub undone: bool,
}

/// Which part of the history to read: a time range, then member and chore filters.
#[derive(Debug, Clone, Copy)]
pub struct HistoryFilter<'a> {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub user_id: Option<&'a str>,
    pub task_id: Option<&'a str>,
}

/// Why a task write failed, when it was a condition.
#[derive(Debug, PartialEq, Eq)]
pub enum TaskWriteConflict {
    /// The Idempotency-Key was taken meanwhile: replay its response.
    KeyTaken,
    /// The task changed since it was read.
    TaskChanged,
    /// The member to credit left the household.
    MemberGone,
    /// The proof photo was used by another completion meanwhile (or deleted).
    PhotoTaken,
}

/// Where a page that ends at `task` continues: its keys in the table and in GSI1.
fn task_page_key(task: &Task) -> PageKey {
    let due = task.next_due.map(rfc3339);
    PageKey::from([
        (keys::PK.to_string(), keys::household(&task.household_id)),
        (keys::SK.to_string(), keys::task(&task.task_id)),
        (keys::GSI1PK.to_string(), keys::household(&task.household_id)),
        (keys::GSI1SK.to_string(), keys::task_by_state(task.state().key(), due.as_deref(), &task.task_id)),
    ])
}

/// The attribute listing who an active chore's current occurrence is for.
const ASSIGNED_TO: &str = "assignedTo";

fn task_item(task: &Task) -> Result<Item, StoreError> {
    let mut item = to_item(keys::household(&task.household_id), keys::task(&task.task_id), task)?;
    let due = task.next_due.map(rfc3339);
    let state = task.state();
    item.insert(keys::GSI1PK.into(), s(keys::household(&task.household_id)));
    item.insert(keys::GSI1SK.into(), s(keys::task_by_state(state.key(), due.as_deref(), &task.task_id)));
    // Who the current occurrence is for, pools included: "my chores" filters on it.
    if state == TaskState::Active {
        let people = task.assigned_to().into_iter().map(s).collect();
        item.insert(ASSIGNED_TO.into(), aws_sdk_dynamodb::types::AttributeValue::L(people));
    }
    Ok(item)
}

/// Points, and effort in the completion's week (in the chore's zone), for the member:
/// negative amounts take them back.
fn credit(c: &Completion, points: i64, effort: i64, task: &Task) -> Expr {
    let local = c.at.with_timezone(&task.schedule().timezone).date_naive();
    Expr::new("ADD points :p, #week :e")
        .name("#week", keys::effort_attribute(&week_key(local)))
        .value(":p", n(points))
        .value(":e", n(effort))
}

/// The completion is not undone and its approval is still what `c` says: the points undo
/// takes back are the points it has (an approval that lands first makes undo fail).
fn still_as_read(c: &Completion) -> Expr {
    use crate::domain::task::Approval;
    let (approval, seen) = match c.approval {
        None => ("(attribute_not_exists(#c.#a) OR attribute_type(#c.#a, :seen))", "NULL"),
        Some(Approval::Pending) => ("#c.#a = :seen", "pending"),
        Some(Approval::Approved) => ("#c.#a = :seen", "approved"),
        Some(Approval::Rejected) => ("#c.#a = :seen", "rejected"),
    };
    Expr::new(format!("undone = :false AND {approval}"))
        .name("#c", "completion")
        .name("#a", "approval")
        .value(":false", aws_sdk_dynamodb::types::AttributeValue::Bool(false))
        .value(":seen", s(seen))
}

fn member_exists() -> Expr {
    Expr::new("attribute_exists(#pk)").name("#pk", keys::PK)
}

fn conflict(e: StoreError, with_key: bool) -> Result<TaskWriteConflict, StoreError> {
    let offset = usize::from(with_key);
    match e.failed_condition() {
        Some(0) if with_key => Ok(TaskWriteConflict::KeyTaken),
        Some(i) if i == offset => Ok(TaskWriteConflict::TaskChanged),
        Some(_) => Ok(TaskWriteConflict::MemberGone),
        None => match e {
            StoreError::ConditionFailed => Ok(TaskWriteConflict::TaskChanged),
            other => Err(other),
        },
    }
}

pub use super::idempotency::Idempotent;

impl Store {
    pub async fn get_task(&self, household_id: &str, task_id: &str) -> Result<Option<Task>, StoreError> {
        self.get_as(keys::household(household_id), keys::task(task_id)).await
    }

    pub async fn create_task(
        &self,
        task: &Task,
        audit: &AuditEntry,
        idempotent: Option<Idempotent<'_>>,
        escalate_after: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Result<(), TaskWriteConflict>, StoreError> {
        let mut tx = Tx::new(self);
        tx.idempotent(idempotent.as_ref(), now)?;
        tx.put_new(task_item(task)?);
        tx.audit(keys::household(&task.household_id), audit)?;
        tx.follow_reminder(Was::New, task, escalate_after, now)?;
        match tx.commit(self, None).await {
            Ok(()) => Ok(Ok(())),
            Err(e) => conflict(e, idempotent.is_some()).map(Err),
        }
    }

    /// Saves a task the caller changed from `before` (read at version `task.version - 1`).
    pub async fn save_task(
        &self,
        before: &Task,
        task: &Task,
        audit: &AuditEntry,
        escalate_after: Option<u32>,
    ) -> Result<Result<(), TaskWriteConflict>, StoreError> {
        let mut tx = Tx::new(self);
        tx.put(task_item(task)?, Some(version_is(task.version - 1)));
        tx.audit(keys::household(&task.household_id), audit)?;
        tx.follow_reminder(Was::Task(before), task, escalate_after, audit.at)?;
        match tx.commit(self, None).await {
            Ok(()) => Ok(Ok(())),
            Err(e) => conflict(e, false).map(Err),
        }
    }

    /// Records a completed or skipped occurrence: the task's new state (guarded by the
    /// version it was read at), the history entry, the member's points and the audit
    /// entry, all or nothing. Of concurrent completions of one occurrence exactly one wins.
    pub async fn record_occurrence(
        &self,
        task: &Task,
        previous: &Task,
        completion: &Completion,
        audit: &AuditEntry,
        idempotent: Option<Idempotent<'_>>,
        escalate_after: Option<u32>,
    ) -> Result<Result<(), TaskWriteConflict>, StoreError> {
        let pk = keys::household(&task.household_id);
        let mut tx = Tx::new(self);
        tx.idempotent(idempotent.as_ref(), completion.at)?;
        tx.put(task_item(task)?, Some(version_is(previous.version)));
        let record = CompletionRecord {
            completion: completion.clone(),
            user_id: completion.user_id.clone(),
            task_id: completion.task_id.clone(),
            previous: previous.clone(),
            task_version_after: task.version,
            undone: false,
        };
        tx.put_new(to_item(pk.clone(), keys::completion(&rfc3339(completion.at), &completion.completion_id), &record)?);
        let effort = if completion.points_now() > 0 { i64::from(task.effort) } else { 0 };
        tx.update(
            key(pk.clone(), keys::member(&completion.user_id)),
            credit(completion, i64::from(completion.points_now()), effort, task),
            Some(member_exists()),
        );
        tx.audit(pk.clone(), audit)?;
        tx.follow_reminder(Was::Task(previous), task, escalate_after, completion.at)?;
        // The proof photo is claimed in the same write: one photo proves one completion, and
        // only the one who uploaded it records with it.
        let photo_at = match &completion.photo {
            Some(photo_id) => {
                tx.update(
                    key(pk, keys::photo(photo_id)),
                    Expr::new("SET usedBy = :completion").value(":completion", s(completion.completion_id.clone())),
                    Some(
                        Expr::new("#state = :ready AND uploadedBy = :recorder AND attribute_not_exists(usedBy)")
                            .name("#state", "state")
                            .value(":ready", s("ready"))
                            .value(":recorder", s(completion.recorded_by.clone())),
                    ),
                );
                Some(tx.len() - 1)
            }
            None => None,
        };
        match tx.commit(self, None).await {
            Ok(()) => Ok(Ok(())),
            Err(e) if photo_at.is_some() && e.failed_condition() == photo_at => Ok(Err(TaskWriteConflict::PhotoTaken)),
            Err(e) => conflict(e, idempotent.is_some()).map(Err),
        }
    }

    /// Decides a pending approval: approving awards the points; rejecting puts the chore
    /// back as it was (when nothing changed it since). `Err(TaskChanged)`: not pending.
    pub async fn decide_approval(
        &self,
        record: &CompletionRecord,
        approve: bool,
        restored: Option<(&Task, &Task)>,
        audit: &AuditEntry,
        escalate_after: Option<u32>,
    ) -> Result<Result<(), TaskWriteConflict>, StoreError> {
        let c = &record.completion;
        let pk = keys::household(&c.household_id);
        let mut tx = Tx::new(self);
        let decision = if approve { "approved" } else { "rejected" };
        tx.update(
            key(pk.clone(), keys::completion(&rfc3339(c.at), &c.completion_id)),
            Expr::new("SET #c.#a = :decision")
                .name("#c", "completion")
                .name("#a", "approval")
                .value(":decision", s(decision)),
            // Not undone meanwhile: approving an undone completion would award points
            // for nothing (undo takes back only what it saw).
            Some(
                Expr::new("#c.#a = :pending AND undone = :false")
                    .value(":pending", s("pending"))
                    .value(":false", aws_sdk_dynamodb::types::AttributeValue::Bool(false)),
            ),
        );
        if approve {
            let effort = i64::from(record.previous.effort);
            tx.update(
                key(pk.clone(), keys::member(&c.user_id)),
                credit(c, i64::from(c.points), effort, &record.previous),
                Some(member_exists()),
            );
        } else if let Some((_, task)) = restored {
            tx.put(task_item(task)?, Some(version_is(record.task_version_after)));
        }
        tx.audit(pk, audit)?;
        if let Some((current, task)) = restored {
            tx.follow_reminder(Was::Task(current), task, escalate_after, audit.at)?;
        }
        match tx.commit(self, None).await {
            Ok(()) => Ok(Ok(())),
            Err(e) => match e.failed_condition() {
                Some(0) => Ok(Err(TaskWriteConflict::TaskChanged)),
                Some(_) if approve => Ok(Err(TaskWriteConflict::MemberGone)),
                Some(_) => Ok(Err(TaskWriteConflict::KeyTaken)),
                None => Err(e),
            },
        }
    }

    pub async fn get_completion(
        &self,
        household_id: &str,
        completion_id: &str,
    ) -> Result<Option<CompletionRecord>, StoreError> {
        match keys::completion_of_id(completion_id) {
            Some(sk) => self.get_as(keys::household(household_id), sk).await,
            None => Ok(None),
        }
    }

    /// Undoes a completion: the chore as it was before (if it has not changed since), the
    /// points taken back, the record marked undone, all or nothing.
    pub async fn undo_occurrence(
        &self,
        record: &CompletionRecord,
        restored: &Task,
        audit: &AuditEntry,
        escalate_after: Option<u32>,
    ) -> Result<Result<(), TaskWriteConflict>, StoreError> {
        let c = &record.completion;
        let pk = keys::household(&c.household_id);
        let mut tx = Tx::new(self);
        tx.put(task_item(restored)?, Some(version_is(record.task_version_after)));
        tx.update(
            key(pk.clone(), keys::completion(&rfc3339(c.at), &c.completion_id)),
            Expr::new("SET undone = :true").value(":true", aws_sdk_dynamodb::types::AttributeValue::Bool(true)),
            Some(still_as_read(c)),
        );
        let effort = if c.points_now() > 0 { -i64::from(record.previous.effort) } else { 0 };
        tx.update(
            key(pk.clone(), keys::member(&c.user_id)),
            credit(c, -i64::from(c.points_now()), effort, &record.previous),
            Some(member_exists()),
        );
        tx.audit(pk, audit)?;
        tx.follow_reminder(Was::Replaced, restored, escalate_after, audit.at)?;
        match tx.commit(self, None).await {
            Ok(()) => Ok(Ok(())),
            // The chore or the completion (approved, rejected or undone meanwhile) changed.
            Err(e) if matches!(e.failed_condition(), Some(0 | 1)) => Ok(Err(TaskWriteConflict::TaskChanged)),
            Err(e) => conflict(e, false).map(Err),
        }
    }

    /// A page of the household's history, newest first, within `[from, to)`; member and
    /// chore filters apply within the time range.
    pub async fn list_completions(
        &self,
        household_id: &str,
        filter: &HistoryFilter<'_>,
        limit: i32,
        start: Option<PageKey>,
    ) -> Result<(Vec<Completion>, Option<PageKey>), StoreError> {
        let HistoryFilter { from, to, user_id, task_id } = *filter;
        let (low, high) =
            (format!("{}{}", keys::DONE_PREFIX, rfc3339(from)), format!("{}{}", keys::DONE_PREFIX, rfc3339(to)));
        let Some(start) = (KeyRange { sort_key: keys::SK, low: &low, high: &high }).start(start)? else {
            return Ok((vec![], None));
        };
        let mut filters = vec!["undone = :false"];
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(keys::household(household_id)))
            .expression_attribute_values(":from", s(low))
            .expression_attribute_values(":to", s(high))
            .expression_attribute_values(":false", aws_sdk_dynamodb::types::AttributeValue::Bool(false))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start.map(start_key));
        if let Some(u) = user_id {
            filters.push("userId = :user");
            query = query.expression_attribute_values(":user", s(u));
        }
        if let Some(t) = task_id {
            filters.push("taskId = :task");
            query = query.expression_attribute_values(":task", s(t));
        }
        let out = query.filter_expression(filters.join(" AND ")).send().await.map_err(super::classify)?;
        let next = out.last_evaluated_key.as_ref().map(page_key);
        let records: Vec<CompletionRecord> =
            out.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok((records.into_iter().map(|r| r.completion).collect(), next))
    }

    /// One page of chores in a range, soonest due first; `label` (and, for a member's
    /// chores, `assignedTo`) filter within the range. A filtered page is filled by at most
    /// four Queries, so a member with few chores in a big household still gets a page.
    pub async fn list_tasks(
        &self,
        household_id: &str,
        range: &TaskRange,
        label: Option<&str>,
        limit: i32,
        start: Option<PageKey>,
    ) -> Result<(Vec<Task>, Option<PageKey>), StoreError> {
        let time = |t: &Option<DateTime<Utc>>| t.map(rfc3339);
        let (state, after, before, member) = match range {
            TaskRange::State { state, after, before } => (*state, after, before, None),
            TaskRange::Assignee { user_id, after, before } => (TaskState::Active, after, before, Some(user_id)),
        };
        let prefix = keys::task_state_prefix(state.key());
        let low = format!("{prefix}{}", time(after).unwrap_or_default());
        let high = format!("{prefix}{}", time(before).unwrap_or_else(|| "~".into()));
        let Some(start) = (KeyRange { sort_key: keys::GSI1SK, low: &low, high: &high }).start(start)? else {
            return Ok((vec![], None));
        };
        let mut filters = Vec::new();
        if label.is_some() {
            filters.push("contains(#labels, :label)");
        }
        if member.is_some() {
            filters.push("contains(#assigned, :member)");
        }
        let mut tasks: Vec<Task> = Vec::new();
        let mut next = start;
        for _ in 0..4 {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::GSI1)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
                .expression_attribute_names("#pk", keys::GSI1PK)
                .expression_attribute_names("#sk", keys::GSI1SK)
                .expression_attribute_values(":pk", s(keys::household(household_id)))
                .expression_attribute_values(":low", s(low.clone()))
                .expression_attribute_values(":high", s(high.clone()))
                .limit(limit)
                .set_exclusive_start_key(next.take().map(start_key));
            if let Some(label) = label {
                query = query
                    .expression_attribute_names("#labels", "labels")
                    .expression_attribute_values(":label", s(label));
            }
            if let Some(member) = member {
                query = query
                    .expression_attribute_names("#assigned", ASSIGNED_TO)
                    .expression_attribute_values(":member", s(member.as_str()));
            }
            if !filters.is_empty() {
                query = query.filter_expression(filters.join(" AND "));
            }
            let out = query.send().await.map_err(super::classify)?;
            for item in out.items.unwrap_or_default() {
                if tasks.len() == limit as usize {
                    // The page is full: the next one starts after the last chore on it.
                    let key = task_page_key(tasks.last().expect("a full page"));
                    return Ok((tasks, Some(key)));
                }
                tasks.push(from_item(item)?);
            }
            next = out.last_evaluated_key.as_ref().map(page_key);
            if next.is_none() || tasks.len() == limit as usize || filters.is_empty() {
                break;
            }
        }
        Ok((tasks, next))
    }
}
