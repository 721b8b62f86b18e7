//! A chore's one pending reminder item (issue 7): the next step of its current occurrence,
//! in the sparse, hour-bucketed, sharded reminder index (GSI2) the dispatcher queries.
//!
//! Every change of a chore moves the item in the same transaction as the change
//! (`Tx::follow_reminder`): a new occurrence, a changed plan or state puts the item at the
//! first step after now (or deletes it: paused, archived, finished, no reminders); a change
//! that leaves the occurrence, the plan and the state as they were (a rename, a ticked
//! subtask, a reassignment) leaves the item alone, because from then on the dispatcher owns
//! where it stands.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Item, Store, StoreError, Tx, classify, from_item, key, keys, s, to_item, version_is, written};
use crate::domain::reminder::{ReminderKind, ReminderPlan, Step};
use crate::domain::task::Task;
use crate::platform::clock::rfc3339;

/// What a pending reminder item holds besides its keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingReminder {
    pub household_id: String,
    pub task_id: String,
    /// The occurrence it is about: a reminder for an occurrence that is no longer the
    /// chore's current one is never sent.
    pub due: DateTime<Utc>,
    pub remind_at: DateTime<Utc>,
    pub kind: ReminderKind,
    /// The chore's plan when the item was written (the household's escalation included).
    #[serde(default)]
    pub plan: ReminderPlan,
}

impl PendingReminder {
    pub fn new(task: &Task, due: DateTime<Utc>, step: Step, plan: ReminderPlan) -> PendingReminder {
        PendingReminder {
            household_id: task.household_id.clone(),
            task_id: task.task_id.clone(),
            due,
            remind_at: step.at,
            kind: step.kind,
            plan,
        }
    }

    /// The same chore's pending reminder at its next step.
    pub fn at_step(&self, step: Step) -> PendingReminder {
        PendingReminder { remind_at: step.at, kind: step.kind, ..self.clone() }
    }

    /// The item, in the bucket a writer whose clock says `now` puts it in.
    pub fn item(&self, now: DateTime<Utc>) -> Result<Item, StoreError> {
        let mut item = to_item(keys::household(&self.household_id), keys::reminder(&self.task_id), self)?;
        let shard = keys::reminder_shard(&self.task_id);
        item.insert(keys::GSI2PK.into(), s(keys::reminder_bucket(self.remind_at, now, shard)));
        item.insert(keys::GSI2SK.into(), s(keys::reminder_at(self.remind_at, &self.household_id, &self.task_id)));
        Ok(item)
    }
}

/// A notification message that quiet hours hold back longer than SQS can delay one: it
/// waits in the reminder index, and the dispatcher queues it again at `release_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeferredMessage {
    pub household_id: String,
    /// Set for what belongs to one member rather than to the household (their daily
    /// digest): kept in the member's partition, so a household's purge does not take it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The notification's identity: the same message deferred twice is one item.
    pub key: String,
    /// The queue message, as it will be sent again.
    pub body: String,
    pub release_at: DateTime<Utc>,
}

impl DeferredMessage {
    /// The partition that holds it: the member's, or the household's.
    fn partition(&self) -> String {
        match &self.user_id {
            Some(u) => keys::user(u),
            None => keys::household(&self.household_id),
        }
    }
}

/// Whether a change from `before` to `after` leaves the pending reminder where it is.
fn reminder_unchanged(before: &Task, after: &Task) -> bool {
    before.next_due == after.next_due
        && before.state() == after.state()
        && before.reminder_offsets == after.reminder_offsets
        && before.overdue_offsets == after.overdue_offsets
        && before.reminder_repeat == after.reminder_repeat
}

/// What a chore was before a change, as far as its pending reminder is concerned.
#[derive(Debug, Clone, Copy)]
pub enum Was<'a> {
    /// A new chore: it has no item yet.
    New,
    /// As read before the change (the write is guarded by its version).
    Task(&'a Task),
    /// Some stored state not at hand (an undo replaces the chore as it is).
    Replaced,
}

impl Tx {
    /// Moves the chore's pending reminder along with the change from `was` to `after`, in
    /// this transaction. Call it after every other item: it adds no condition, so the
    /// positions of the others' cancellation reasons stay as they are.
    pub fn follow_reminder(
        &mut self,
        was: Was<'_>,
        after: &Task,
        escalate_after: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<&mut Tx, StoreError> {
        if let Was::Task(before) = was
            && reminder_unchanged(before, after)
        {
            return Ok(self);
        }
        let pending = after.next_due.and_then(|due| {
            let step = after.next_reminder(escalate_after, now)?;
            Some(PendingReminder::new(after, due, step, after.reminder_plan(escalate_after)))
        });
        Ok(match (pending, was) {
            (Some(p), _) => self.put(p.item(now)?, None),
            (None, Was::New) => self,
            (None, _) => self.delete(key(keys::household(&after.household_id), keys::reminder(&after.task_id)), None),
        })
    }
}

/// One page of a bucket of the reminder index.
#[derive(Debug, Default)]
pub struct DuePage {
    pub reminders: Vec<PendingReminder>,
    pub deferred: Vec<DeferredMessage>,
    /// Where the next page starts.
    pub next: Option<Item>,
}

/// How long a dispatcher run's claim on a reminder holds: a run that died after claiming
/// (before or after sending) leaves it to a later run once this has passed.
pub const CLAIM_LEASE: Duration = Duration::minutes(2);

const CLAIMED_BY: &str = "claimedBy";
const CLAIMED_AT: &str = "claimedAt";

/// A time as the item stores it (serde's form, which a condition must match exactly).
fn stored(t: DateTime<Utc>) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(t).map_err(|e| StoreError::Other(e.to_string()))
}

impl Store {
    /// A chore's pending reminder, if it has one.
    pub async fn pending_reminder(
        &self,
        household_id: &str,
        task_id: &str,
    ) -> Result<Option<PendingReminder>, StoreError> {
        self.get_as(keys::household(household_id), keys::reminder(task_id)).await
    }

    /// One page of one bucket of the reminder index, due by `due_by`, oldest first: the
    /// chores' pending reminders and the deferred notifications.
    pub async fn due_reminders(
        &self,
        bucket: &str,
        due_by: DateTime<Utc>,
        start: Option<Item>,
    ) -> Result<DuePage, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI2)
            .key_condition_expression("#pk = :bucket AND #sk <= :due")
            .expression_attribute_names("#pk", keys::GSI2PK)
            .expression_attribute_names("#sk", keys::GSI2SK)
            .expression_attribute_values(":bucket", s(bucket))
            .expression_attribute_values(":due", s(keys::reminder_due_by(due_by)))
            .limit(100)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        let mut page = DuePage { next: out.last_evaluated_key, ..Default::default() };
        // An item this version cannot read is skipped with a log line: one bad item must
        // not stop every reminder behind it in its bucket.
        for item in out.items.unwrap_or_default() {
            let deferred =
                item.get(keys::SK).and_then(|v| v.as_s().ok()).is_some_and(|k| k.starts_with(keys::DEFERRED_PREFIX));
            let read = if deferred {
                from_item::<DeferredMessage>(item).map(|d| page.deferred.push(d))
            } else {
                from_item::<PendingReminder>(item).map(|p| page.reminders.push(p))
            };
            if let Err(e) = read {
                tracing::error!(bucket, error = ?e, "unreadable item in the reminder index skipped");
            }
        }
        Ok(page)
    }

    /// Holds `d` in the reminder index until its release (written by a clock at `now`).
    pub async fn put_deferred(&self, d: &DeferredMessage, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut item = to_item(d.partition(), keys::deferred(&d.key), d)?;
        let shard = keys::reminder_shard(&d.key);
        item.insert(keys::GSI2PK.into(), s(keys::reminder_bucket(d.release_at, now, shard)));
        item.insert(keys::GSI2SK.into(), s(keys::reminder_at(d.release_at, &d.household_id, &keys::deferred(&d.key))));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(classify)?;
        Ok(())
    }

    /// Removes a deferred message once it is queued again, unless it was deferred anew
    /// meanwhile (another recipient's quiet hours end later): that one stays.
    pub async fn delete_deferred(&self, d: &DeferredMessage) -> Result<(), StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(d.partition(), keys::deferred(&d.key))))
            .condition_expression("releaseAt = :at")
            .expression_attribute_values(":at", stored(d.release_at)?)
            .send()
            .await
            .map_err(classify);
        written(deleted).map(|_| ())
    }

    /// Claims `p` for the dispatcher run `run`: only while it is still at this step (the
    /// index is eventually consistent, and a chore's change may have moved it) and no other
    /// run holds a live claim (a retried invocation of the same run takes its own claims
    /// back). Returns the item as stored (the index's copy may carry a
    /// plan that a change has since rewritten at the same step), or `None`: someone else
    /// has it, or it moved.
    pub async fn claim_reminder(
        &self,
        p: &PendingReminder,
        run: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingReminder>, StoreError> {
        let claimed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::household(&p.household_id), keys::reminder(&p.task_id))))
            .update_expression("SET #by = :run, #at = :now")
            .condition_expression(
                "remindAt = :step AND due = :due AND (attribute_not_exists(#at) OR #at < :expired OR #by = :run)",
            )
            .expression_attribute_names("#by", CLAIMED_BY)
            .expression_attribute_names("#at", CLAIMED_AT)
            .expression_attribute_values(":run", s(run))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":expired", s(rfc3339(now - CLAIM_LEASE)))
            .expression_attribute_values(":step", stored(p.remind_at)?)
            .expression_attribute_values(":due", stored(p.due)?)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(classify);
        match claimed {
            Ok(out) => Ok(Some(from_item(out.attributes.unwrap_or_default())?)),
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Moves a reminder the run `run` claimed (and sent) on to `next`, or deletes it when
    /// none is left. `false`: the chore changed meanwhile, and its change placed the item.
    pub async fn advance_reminder(
        &self,
        p: &PendingReminder,
        run: &str,
        next: Option<&PendingReminder>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let claim = "#by = :run AND remindAt = :step";
        let names = [("#by".to_string(), CLAIMED_BY.to_string())].into();
        let values = [(":run".to_string(), s(run)), (":step".to_string(), stored(p.remind_at)?)].into();
        let done: Result<(), StoreError> = match next {
            Some(n) => self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(n.item(now)?))
                .condition_expression(claim)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .send()
                .await
                .map(|_| ())
                .map_err(classify),
            None => self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(keys::household(&p.household_id), keys::reminder(&p.task_id))))
                .condition_expression(claim)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .send()
                .await
                .map(|_| ())
                .map_err(classify),
        };
        written(done)
    }

    /// Gives a chore's pending reminder the household's new escalation setting
    /// `escalate_after`, if the chore is still at `task.version`. A reminder already due
    /// keeps its step (it still goes out) and only takes the new plan for the steps after
    /// it, unless a dispatcher run holds it (that run moves it on by the plan it claimed):
    /// then `false`, and the caller tries again. One not yet due is put at the first step
    /// of the new plan after `now` (a shorter delay brings an escalation forward), as is one
    /// for a chore whose steps all went out, if the new plan has a step left. `false`: the
    /// chore or its item changed meanwhile; read it again.
    pub async fn replan_reminder(
        &self,
        task: &Task,
        escalate_after: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let pending = self.pending_reminder(&task.household_id, &task.task_id).await?;
        let mut tx = Tx::new(self);
        tx.check(key(keys::household(&task.household_id), keys::task(&task.task_id)), version_is(task.version));
        match pending.filter(|p| Some(p.due) == task.next_due && p.remind_at <= now) {
            Some(p) => {
                let plan = serde_dynamo::to_attribute_value(task.reminder_plan(escalate_after))
                    .map_err(|e| StoreError::Other(e.to_string()))?;
                tx.update(
                    key(keys::household(&task.household_id), keys::reminder(&task.task_id)),
                    super::Expr::new("SET #plan = :plan").name("#plan", "plan").value(":plan", plan),
                    Some(
                        super::Expr::new(
                            "remindAt = :step AND due = :due AND (attribute_not_exists(#at) OR #at < :expired)",
                        )
                        .name("#at", CLAIMED_AT)
                        .value(":step", stored(p.remind_at)?)
                        .value(":due", stored(p.due)?)
                        .value(":expired", s(rfc3339(now - CLAIM_LEASE))),
                    ),
                );
            }
            None => {
                tx.follow_reminder(Was::Replaced, task, escalate_after, now)?;
            }
        }
        written(tx.commit(self, None).await.map_err(StoreError::any_condition_failed))
    }

    /// Where the reminder dispatcher stands: the oldest hour that may still hold a due
    /// reminder.
    pub async fn dispatch_checkpoint(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let item = self.get(keys::DISPATCH.into(), keys::DISPATCH_REMINDERS).await?;
        Ok(item
            .and_then(|i| i.get("checkpoint").and_then(|v| v.as_s().ok()).cloned())
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.to_utc()))
    }

    /// Moves the checkpoint forward (never back: of two overlapping runs the later wins).
    pub async fn save_dispatch_checkpoint(&self, checkpoint: DateTime<Utc>) -> Result<(), StoreError> {
        let saved = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::DISPATCH))
            .item(keys::SK, s(keys::DISPATCH_REMINDERS))
            .item("checkpoint", s(rfc3339(checkpoint)))
            .condition_expression("attribute_not_exists(checkpoint) OR checkpoint <= :at")
            .expression_attribute_values(":at", AttributeValue::S(rfc3339(checkpoint)))
            .send()
            .await
            .map_err(classify);
        written(saved).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_item_sits_in_its_hour_and_shard_and_sorts_by_time() {
        let p = PendingReminder {
            household_id: "H".into(),
            task_id: "01KB0000000000000000000000".into(),
            due: utc("2026-12-01T18:00:00Z"),
            remind_at: utc("2026-12-01T17:30:00Z"),
            kind: ReminderKind::Reminder,
            plan: ReminderPlan::default(),
        };
        let item = p.item(utc("2026-12-01T09:00:00Z")).unwrap();
        let shard = keys::reminder_shard("01KB0000000000000000000000");
        assert_eq!(item[keys::GSI2PK].as_s().unwrap(), &format!("REMIND#2026-12-01T17#{shard}"));
        assert_eq!(item[keys::GSI2SK].as_s().unwrap(), "2026-12-01T17:30:00.000Z#H#01KB0000000000000000000000");
        assert_eq!(item[keys::SK].as_s().unwrap(), "REMINDER#01KB0000000000000000000000");
        // Written late (a missed step): into the writer's hour, which the dispatcher still reads.
        let late = p.item(utc("2026-12-01T19:10:00Z")).unwrap();
        assert_eq!(late[keys::GSI2PK].as_s().unwrap(), &format!("REMIND#2026-12-01T19#{shard}"));
    }
}
