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
        let mut lock = super::Item::new();
        lock.insert(keys::PK.into(), s(pk.clone()));
        lock.insert(keys::SK.into(), s(keys::EXPORT_RUNNING));
        lock.insert("exportId".into(), s(&export.export_id));
        lock.insert("until".into(), s(rfc3339(now + EXPORT_LOCK)));
        lock.insert(keys::TTL.into(), n((now + EXPORT_LOCK).timestamp()));
        tx.put(
            lock,
            Some(
                Expr::new("attribute_not_exists(#pk) OR #until < :now")
                    .name("#pk", keys::PK)
                    .name("#until", "until")
                    .value(":now", s(rfc3339(now))),
            ),
        );
        let day = now.date_naive();
        let tomorrow = day.succ_opt().unwrap_or(day).and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        tx.update(
            key(pk.clone(), keys::export_day(&day.to_string())),
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
                    let held = self.get(partition(export), keys::EXPORT_RUNNING).await?;
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

    /// A member's personal export.
    pub async fn get_personal_export(&self, user_id: &str, export_id: &str) -> Result<Option<Export>, StoreError> {
        self.get_as(keys::user(user_id), keys::export(export_id)).await
    }

    /// Moves `export` from a state it is in to `running`. `false`: it is ready or failed
    /// already (a redelivered message), or gone.
    pub async fn export_running(&self, export: &Export, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(partition(export), keys::export(&export.export_id))))
            .update_expression("SET #state = :running, updatedAt = :now")
            .condition_expression("#state IN (:queued, :running)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":now", state_time(now)?)
            .send()
            .await
            .map_err(super::classify);
        super::written(updated)
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
        tx.update(
            key(pk.clone(), keys::export(&export.export_id)),
            set,
            Some(Expr::new("attribute_exists(#pk)").name("#pk", keys::PK)),
        );
        tx.delete(
            key(pk, keys::EXPORT_RUNNING),
            Some(Expr::new("exportId = :id OR attribute_not_exists(exportId)").value(":id", s(&export.export_id))),
        );
        match tx.commit(self, None).await {
            Ok(()) => Ok(()),
            // The lock went to another export after it lapsed: this one's end is still recorded.
            Err(e) if e.failed_condition() == Some(1) => {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(partition(export), keys::export(&export.export_id))))
                    .update_expression("SET #state = :state, updatedAt = :now")
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_values(":state", s(state_name))
                    .expression_attribute_values(":now", state_time(now)?)
                    .send()
                    .await
                    .map_err(super::classify)?;
                Ok(())
            }
            Err(e) => Err(e.any_condition_failed()),
        }
    }
}

/// A time as serde stores it in the record.
fn state_time(t: DateTime<Utc>) -> Result<aws_sdk_dynamodb::types::AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(t).map_err(|e| StoreError::Other(e.to_string()))
}
