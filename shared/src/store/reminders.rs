//! A chore's one pending reminder item (issue 7): the next step of its current occurrence,
//! in the sparse, hour-bucketed, sharded reminder index (GSI2) the dispatcher queries.
//!
//! Every change of a chore moves the item in the same transaction as the change
//! (`Tx::follow_reminder`): a new occurrence, a changed plan or state puts the item at the
//! first step after now (or deletes it: paused, archived, finished, no reminders); a change
//! that leaves the occurrence, the plan and the state as they were (a rename, a ticked
//! subtask, a reassignment) leaves the item alone, because from then on the dispatcher owns
//! where it stands.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Item, Store, StoreError, Tx, key, keys, s, to_item};
use crate::domain::reminder::{ReminderKind, Step};
use crate::domain::task::Task;

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
}

impl PendingReminder {
    pub fn new(task: &Task, due: DateTime<Utc>, step: Step) -> PendingReminder {
        PendingReminder {
            household_id: task.household_id.clone(),
            task_id: task.task_id.clone(),
            due,
            remind_at: step.at,
            kind: step.kind,
        }
    }

    /// The item, in the bucket a writer whose clock says `now` puts it in.
    pub(crate) fn item(&self, now: DateTime<Utc>) -> Result<Item, StoreError> {
        let mut item = to_item(keys::household(&self.household_id), keys::reminder(&self.task_id), self)?;
        let shard = keys::reminder_shard(&self.task_id);
        item.insert(keys::GSI2PK.into(), s(keys::reminder_bucket(self.remind_at, now, shard)));
        item.insert(keys::GSI2SK.into(), s(keys::reminder_at(self.remind_at, &self.household_id, &self.task_id)));
        Ok(item)
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
            after.next_reminder(escalate_after, now).map(|step| PendingReminder::new(after, due, step))
        });
        Ok(match (pending, was) {
            (Some(p), _) => self.put(p.item(now)?, None),
            (None, Was::New) => self,
            (None, _) => self.delete(key(keys::household(&after.household_id), keys::reminder(&after.task_id)), None),
        })
    }
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
