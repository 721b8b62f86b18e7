//! Exports (issue 8): the export record, the household's (or, for a personal export, the
//! member's) one running export (a lock item
//! that expires, so a worker that died does not block the household for long), and the
//! count of exports started per day. Starting one writes all three in one transaction.

use chrono::{DateTime, Duration, Utc};

use super::{Expr, Store, StoreError, Tx, key, keys, n, s, to_item};
use crate::domain::audit::AuditEntry;
use crate::domain::export::{Export, ExportState};
use crate::platform::clock::rfc3339;

/// A running export holds the household's lock at most this long (the worker's timeout is
/// 5 minutes); after that a new export may start.
pub const EXPORT_LOCK: Duration = Duration::minutes(15);

/// Why an export may not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportRefused {
    /// Another export of the household is running: try again in this many seconds.
    Running { retry_after: u32 },
    /// The household started its exports for today: tomorrow (UTC), in this many seconds.
    DailyCap { retry_after: u32 },
}

/// The lock an export holds while it runs, and the count it adds to: the household's for
/// its owners' and admins' exports; a member's own for their history (so a member cannot
/// use up the household's); the member's for a personal export (in their partition).
fn member_scope(export: &Export) -> Option<&str> {
    export.only_user.as_deref().filter(|_| export.user_id.is_none())
}

/// What the worker found when it came to start an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportStart {
    /// It is this worker's now (the lock taken again, or refreshed).
    Started,
    /// Ready or failed already (a redelivered message), or gone.
    Settled,
    /// Another export holds the lock (this one's lapsed meanwhile): later.
    Busy,
}

/// The partition an export lives in: its household's, or (a personal export) its member's.
fn partition(export: &Export) -> String {
    match &export.user_id {
        Some(user) => keys::user(user),
        None => keys::household(&export.household_id),
    }
}

impl Store {
    /// Starts `export` (queued) if no other export of the household runs and today's count
    /// is under `per_day`, with the audit entry.
    pub async fn start_export(
        &self,
        export: &Export,
        per_day: u32,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<Result<(), ExportRefused>, StoreError> {
        let pk = partition(export);
        let mut tx = Tx::new(self);
        tx.put(lock_item(export, now), Some(lock_free(now)));
        let day = now.date_naive();
        let tomorrow = day.succ_opt().unwrap_or(day).and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        tx.update(
            key(pk.clone(), keys::export_day(&day.to_string(), member_scope(export))),
            Expr::new("ADD #count :one SET #ttl = :expires")
                .name("#count", "count")
                .name("#ttl", keys::TTL)
                .value(":one", n(1))
                .value(":expires", n((tomorrow + Duration::days(1)).timestamp())),
            Some(
                Expr::new("attribute_not_exists(#count) OR #count < :cap")
                    .name("#count", "count")
                    .value(":cap", n(per_day)),
            ),
        );
        let mut item = to_item(pk.clone(), keys::export(&export.export_id), export)?;
        item.insert(keys::TTL.into(), n(export.expires_at.timestamp()));
        tx.put_new(item);
        tx.audit(pk, audit)?;
        match tx.commit(self, None).await {
            Ok(()) => Ok(Ok(())),
            Err(e) => match e.failed_condition() {
                Some(0) => {
                    // When the running one's lock ends at the latest (it usually ends sooner).
                    let held = self.get(partition(export), keys::export_running(member_scope(export))).await?;
                    let until = held
                        .and_then(|i| i.get("until").and_then(|v| v.as_s().ok()).cloned())
                        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                        .map(|t| t.to_utc());
                    let wait = until.map_or(30, |u| (u - now).num_seconds().clamp(1, 900)) as u32;
                    // A short wait is honest: exports usually finish within a minute.
                    Ok(Err(ExportRefused::Running { retry_after: wait.min(60) }))
                }
                Some(1) => {
                    Ok(Err(ExportRefused::DailyCap { retry_after: (tomorrow - now).num_seconds().max(1) as u32 }))
                }
                _ => Err(e),
            },
        }
    }

    pub async fn get_export(&self, household_id: &str, export_id: &str) -> Result<Option<Export>, StoreError> {
        self.get_as(keys::household(household_id), keys::export(export_id)).await
    }

    /// The export records among a page of a partition's items.
    pub fn exports_of(&self, items: Vec<super::Item>) -> Result<Vec<Export>, StoreError> {
        items.into_iter().map(super::from_item).collect()
    }

    /// Removes an export's record (its file is deleted first).
    pub async fn delete_export(&self, export: &Export) -> Result<(), StoreError> {
        let pk = match &export.user_id {
            Some(user) => keys::user(user),
            None => keys::household(&export.household_id),
        };
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(super::key(pk, keys::export(&export.export_id))))
            .send()
            .await
            .map_err(super::classify)?;
        Ok(())
    }

    /// A member's personal export.
    pub async fn get_personal_export(&self, user_id: &str, export_id: &str) -> Result<Option<Export>, StoreError> {
        self.get_as(keys::user(user_id), keys::export(export_id)).await
    }

    /// Moves `export` to `running` and takes its lock again (a retry after the worker died
    /// may come after the lock lapsed), unless it is settled or another export holds the lock.
    pub async fn export_running(&self, export: &Export, now: DateTime<Utc>) -> Result<ExportStart, StoreError> {
        let mut tx = Tx::new(self);
        tx.update(
            key(partition(export), keys::export(&export.export_id)),
            Expr::new("SET #state = :running, updatedAt = :now")
                .name("#state", "state")
                .value(":running", s("running"))
                .value(":now", state_time(now)?),
            Some(
                Expr::new("#state IN (:queued, :running)")
                    .name("#state", "state")
                    .value(":queued", s("queued"))
                    .value(":running", s("running")),
            ),
        );
        tx.put(
            lock_item(export, now),
            Some(
                Expr::new("exportId = :id OR attribute_not_exists(#pk) OR #until < :at")
                    .name("#pk", keys::PK)
                    .name("#until", "until")
                    .value(":id", s(&export.export_id))
                    .value(":at", s(rfc3339(now))),
            ),
        );
        match tx.commit(self, None).await {
            Ok(()) => Ok(ExportStart::Started),
            Err(e) => match e.failed_condition() {
                Some(0) => Ok(ExportStart::Settled),
                Some(_) => Ok(ExportStart::Busy),
                None if e.is_conflict() => Ok(ExportStart::Busy),
                None => Err(e),
            },
        }
    }

    /// Ends `export` as `state` (ready, with its row count; or failed, with why), and frees
    /// the household's lock if it still names this export.
    pub async fn finish_export(
        &self,
        export: &Export,
        state: ExportState,
        rows: Option<u64>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let pk = partition(export);
        let mut tx = Tx::new(self);
        let state_name = match state {
            ExportState::Queued => "queued",
            ExportState::Running => "running",
            ExportState::Ready => "ready",
            ExportState::Failed => "failed",
        };
        let mut set = Expr::new("SET #state = :state, updatedAt = :now, #rows = :rows, #error = :error")
            .name("#state", "state")
            .name("#rows", "rows")
            .name("#error", "error")
            .value(":state", s(state_name))
            .value(":now", state_time(now)?);
        set = set.value(":rows", rows.map_or(aws_sdk_dynamodb::types::AttributeValue::Null(true), n));
        set = set.value(":error", error.map_or(aws_sdk_dynamodb::types::AttributeValue::Null(true), s));
        let exists = || Expr::new("attribute_exists(#pk)").name("#pk", keys::PK);
        tx.update(key(pk.clone(), keys::export(&export.export_id)), set.clone(), Some(exists()));
        tx.delete(
            key(pk, keys::export_running(member_scope(export))),
            Some(Expr::new("exportId = :id OR attribute_not_exists(exportId)").value(":id", s(&export.export_id))),
        );
        match tx.commit(self, None).await {
            Ok(()) => Ok(()),
            // The lock went to another export after it lapsed: this one's end is still
            // recorded, as fully (and only while the record is there).
            Err(e) if e.failed_condition() == Some(1) => {
                let mut tx = Tx::new(self);
                tx.update(key(partition(export), keys::export(&export.export_id)), set, Some(exists()));
                match tx.commit(self, None).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.failed_condition().is_some() => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e.any_condition_failed()),
        }
    }
}

/// The lock item `export` holds until `now` + [`EXPORT_LOCK`].
fn lock_item(export: &Export, now: DateTime<Utc>) -> super::Item {
    let mut lock = super::Item::new();
    lock.insert(keys::PK.into(), s(partition(export)));
    lock.insert(keys::SK.into(), s(keys::export_running(member_scope(export))));
    lock.insert("exportId".into(), s(&export.export_id));
    lock.insert("until".into(), s(rfc3339(now + EXPORT_LOCK)));
    lock.insert(keys::TTL.into(), n((now + EXPORT_LOCK).timestamp()));
    lock
}

/// The lock is free for a new export: nobody holds it, or its holder's time ran out.
fn lock_free(now: DateTime<Utc>) -> Expr {
    Expr::new("attribute_not_exists(#pk) OR #until < :now")
        .name("#pk", keys::PK)
        .name("#until", "until")
        .value(":now", s(rfc3339(now)))
}

/// A time as serde stores it in the record.
fn state_time(t: DateTime<Utc>) -> Result<aws_sdk_dynamodb::types::AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(t).map_err(|e| StoreError::Other(e.to_string()))
}
