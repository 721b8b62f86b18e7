//! Audit entries: who changed what, written in the same transaction as the change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How long the audit log keeps an entry (two years), whatever became of what it
/// describes; then DynamoDB's TTL removes it. A deleted household's log goes with its purge.
pub const AUDIT_RETENTION_DAYS: i64 = 730;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: String,
    pub actor_id: String,
    /// A dotted verb, e.g. `household.update`, `member.role_change`.
    pub action: String,
    /// What was changed, e.g. `household/01H…` or `member/<userId>`.
    pub target: String,
    pub correlation_id: String,
    pub at: DateTime<Utc>,
    /// A small, non-sensitive summary of the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl AuditEntry {
    pub fn new(actor_id: &str, action: &str, target: String, correlation_id: &str, at: DateTime<Utc>) -> Self {
        AuditEntry {
            id: ulid::Ulid::new().to_string(),
            actor_id: actor_id.to_string(),
            action: action.to_string(),
            target,
            correlation_id: correlation_id.to_string(),
            at,
            details: None,
        }
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
}
