//! Invites: a short code that lets someone join a household with a given role.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::{Role, policy};
use crate::platform::error::{ApiError, ErrorCode, FieldError, FieldIssue};
use crate::platform::validate::Checks;

/// Crockford base32 without I, L, O, U: easy to read aloud and type on a phone.
const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const CODE_LEN: usize = 10;
pub const DEFAULT_EXPIRY_HOURS: i64 = 72;
pub const MAX_EXPIRY_HOURS: i64 = 24 * 30;
pub const MAX_USES_LIMIT: u32 = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invite {
    pub code: String,
    pub household_id: String,
    pub role: Role,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub max_uses: u32,
    pub uses: u32,
    pub revoked: bool,
}

/// 50 random bits as 10 characters; the code is also the invite's key, and collisions
/// are caught by a conditional write.
pub fn new_code() -> String {
    let random = ulid::Ulid::new().random();
    (0..CODE_LEN).map(|i| ALPHABET[((random >> (i * 5)) & 31) as usize] as char).collect()
}

/// Codes are case-insensitive for people; the stored form is upper case.
pub fn normalize_code(raw: &str) -> Option<String> {
    let code = raw.trim().to_ascii_uppercase();
    (code.len() == CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// `POST /v1/households/{householdId}/invites`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewInvite {
    pub role: Option<Role>,
    pub expires_in_hours: Option<i64>,
    pub max_uses: Option<u32>,
}

impl NewInvite {
    pub fn create(self, household_id: &str, created_by: &str, now: DateTime<Utc>) -> Result<Invite, ApiError> {
        let role = self.role.unwrap_or(Role::Member);
        let hours = self.expires_in_hours.unwrap_or(DEFAULT_EXPIRY_HOURS);
        let max_uses = self.max_uses.unwrap_or(1);
        let mut checks = Checks::new();
        if !policy::invitable(role) {
            checks.push(FieldError::new("role", FieldIssue::InvalidValue).with("allowed", "admin, member, child"));
        }
        checks.range("expiresInHours", hours, 1, MAX_EXPIRY_HOURS);
        checks.range("maxUses", max_uses.into(), 1, MAX_USES_LIMIT.into());
        checks.finish()?;
        Ok(Invite {
            code: new_code(),
            household_id: household_id.to_string(),
            role,
            created_by: created_by.to_string(),
            created_at: now,
            expires_at: now + Duration::hours(hours),
            max_uses,
            uses: 0,
            revoked: false,
        })
    }
}

impl Invite {
    /// Whether the invite can still be accepted at `now`, and why not.
    pub fn check_usable(&self, now: DateTime<Utc>) -> Result<(), ApiError> {
        if self.revoked {
            Err(ApiError::new(ErrorCode::InviteRevoked))
        } else if now >= self.expires_at {
            Err(ApiError::new(ErrorCode::InviteExpired))
        } else if self.uses >= self.max_uses {
            Err(ApiError::new(ErrorCode::InviteUsedUp))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_short_readable_and_normalized() {
        let code = new_code();
        assert_eq!(code.len(), CODE_LEN);
        assert_eq!(normalize_code(&code.to_lowercase()), Some(code.clone()));
        assert_eq!(normalize_code("short"), None);
        assert_eq!(normalize_code("OOOOOOOOOO"), None);
        assert_ne!(new_code(), new_code());
    }

    #[test]
    fn invites_are_validated() {
        let now = Utc::now();
        let err = NewInvite { role: Some(Role::Owner), expires_in_hours: Some(0), max_uses: Some(0) }
            .create("h", "u", now)
            .unwrap_err();
        let fields: Vec<_> = err.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["role", "expiresInHours", "maxUses"]);
        let inv = NewInvite::default().create("h", "u", now).unwrap();
        assert_eq!((inv.role, inv.max_uses, inv.uses), (Role::Member, 1, 0));
        assert_eq!(inv.expires_at - now, Duration::hours(DEFAULT_EXPIRY_HOURS));
    }

    #[test]
    fn usability_explains_why_not() {
        let now = Utc::now();
        let inv = NewInvite { max_uses: Some(2), ..Default::default() }.create("h", "u", now).unwrap();
        assert!(inv.check_usable(now).is_ok());
        let code = |i: &Invite, t| i.check_usable(t).unwrap_err().code;
        assert_eq!(code(&inv, inv.expires_at), ErrorCode::InviteExpired);
        assert_eq!(code(&Invite { uses: 2, ..inv.clone() }, now), ErrorCode::InviteUsedUp);
        assert_eq!(code(&Invite { revoked: true, ..inv.clone() }, now), ErrorCode::InviteRevoked);
    }
}
