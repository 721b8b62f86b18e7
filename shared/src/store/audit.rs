//! The audit log (issue 8): every change's entry, written in the same transaction as the
//! change (`Tx::audit`), read by the household's owner and admins. Entries live in the
//! household's partition (a member's own changes in theirs), apart from the chores they
//! describe, so they outlive them; they expire by TTL after [`AUDIT_RETENTION_DAYS`] (reads
//! filter expired ones themselves: TTL deletion may lag by days).

use chrono::{DateTime, Utc};

use super::{KeyRange, Store, StoreError, classify, from_item, keys, n, page_key, s, start_key};
pub use crate::domain::audit::AUDIT_RETENTION_DAYS;
use crate::domain::audit::AuditEntry;
use crate::platform::clock::rfc3339;
use crate::platform::pagination::PageKey;

/// Which entries a page of the audit log holds: a time range `[from, to)`, optionally one
/// actor's, optionally one action's.
#[derive(Debug, Clone, Copy)]
pub struct AuditFilter<'a> {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub actor_id: Option<&'a str>,
    pub action: Option<&'a str>,
}

impl Store {
    /// A page of a household's audit log, newest first. One Query on the time range (the
    /// sort key); actor and action filter within it, so a page may hold fewer than `limit`
    /// entries and still have a next one.
    pub async fn list_audit(
        &self,
        household_id: &str,
        filter: &AuditFilter<'_>,
        limit: i32,
        start: Option<PageKey>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<AuditEntry>, Option<PageKey>), StoreError> {
        let (low, high) = (keys::audit(&rfc3339(filter.from), ""), keys::audit(&rfc3339(filter.to), ""));
        let Some(start) = (KeyRange { sort_key: keys::SK, low: &low, high: &high }).start(start)? else {
            return Ok((vec![], None));
        };
        // Entries written before they had a TTL have none: they are live.
        let mut filters = vec!["(attribute_not_exists(#ttl) OR #ttl > :now)"];
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":pk", s(keys::household(household_id)))
            .expression_attribute_values(":low", s(low.clone()))
            .expression_attribute_values(":high", s(high.clone()))
            .expression_attribute_values(":now", n(now.timestamp()))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start.map(start_key));
        if let Some(actor) = filter.actor_id {
            filters.push("actorId = :actor");
            query = query.expression_attribute_values(":actor", s(actor));
        }
        if let Some(action) = filter.action {
            filters.push("#action = :action");
            query =
                query.expression_attribute_names("#action", "action").expression_attribute_values(":action", s(action));
        }
        let out = query.filter_expression(filters.join(" AND ")).send().await.map_err(classify)?;
        let next = out.last_evaluated_key.as_ref().map(page_key);
        let entries = out.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok((entries, next))
    }
}
