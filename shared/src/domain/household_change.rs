//! Household-wide changes that reach into every chore: a member who left, one who went
//! away, the household's escalation setting. The API commits the change with its audit
//! entry; the stream consumer turns that entry into a message for the household-changes
//! worker, which brings the chores and their pending reminders along: late by seconds,
//! never lost (the audit entry is the outbox, as for notifications).

use serde::{Deserialize, Serialize};

use super::audit::AuditEntry;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Change {
    /// Left or was removed: their occurrences go to others, and they leave every pool.
    MemberLeft { user_id: String },
    /// Their away dates changed: occurrences due while they are away go to others.
    MemberAway { user_id: String },
    /// The household turned escalation on or off, or changed its delay: pending reminders
    /// take the new plan.
    Escalation,
}

/// What the household-changes queue carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HouseholdChange {
    pub household_id: String,
    pub change: Change,
    /// The audit entry's id: the change's identity.
    pub audit_id: String,
    pub correlation_id: String,
}

impl HouseholdChange {
    /// The change an audit entry of household `household_id` records, if it reaches into
    /// the chores.
    pub fn from_audit(household_id: &str, a: &AuditEntry) -> Option<HouseholdChange> {
        let detail = |k: &str| a.details.as_ref().and_then(|d| d.get(k));
        let member = || a.target.strip_prefix("member/").map(str::to_string);
        let change = match a.action.as_str() {
            "member.leave" | "member.remove" => Change::MemberLeft { user_id: member()? },
            // Only a change that set away dates can take an occurrence off someone.
            "member.update" | "member.role_change"
                if detail("away").and_then(|v| v.as_array()).is_some_and(|a| !a.is_empty()) =>
            {
                Change::MemberAway { user_id: member()? }
            }
            "household.update" if detail("escalationChanged").and_then(|v| v.as_bool()) == Some(true) => {
                Change::Escalation
            }
            _ => return None,
        };
        Some(HouseholdChange {
            household_id: household_id.to_string(),
            change,
            audit_id: a.id.clone(),
            correlation_id: a.correlation_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use serde_json::json;

    fn audit(action: &str, target: &str, details: serde_json::Value) -> AuditEntry {
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z").unwrap().to_utc();
        AuditEntry::new("actor", action, target.into(), "corr-1", at).details(details)
    }

    fn change(action: &str, target: &str, details: serde_json::Value) -> Option<Change> {
        HouseholdChange::from_audit("H", &audit(action, target, details)).map(|c| c.change)
    }

    #[test]
    fn the_changes_that_reach_into_the_chores_are_read_from_their_audit_entries() {
        let left = Change::MemberLeft { user_id: "ben".into() };
        assert_eq!(change("member.leave", "member/ben", json!({})), Some(left.clone()));
        assert_eq!(change("member.remove", "member/ben", json!({ "displayName": "Ben" })), Some(left));
        let away = json!({ "away": [{ "from": "2026-12-24", "to": "2026-12-27" }] });
        assert_eq!(change("member.update", "member/ben", away), Some(Change::MemberAway { user_id: "ben".into() }));
        assert_eq!(change("member.update", "member/ben", json!({ "away": [] })), None, "back: nothing to take off");
        assert_eq!(
            change("household.update", "household/H", json!({ "escalationChanged": true })),
            Some(Change::Escalation)
        );
        assert_eq!(change("household.update", "household/H", json!({ "escalationChanged": false })), None);
        assert_eq!(change("task.complete", "task/T", json!({})), None);
        let c = HouseholdChange::from_audit("H", &audit("member.leave", "member/ben", json!({}))).unwrap();
        assert_eq!((c.household_id.as_str(), c.correlation_id.as_str()), ("H", "corr-1"));
    }
}
