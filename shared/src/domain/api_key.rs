//! Household API keys: credentials for third parties (home automation, NFC tags, scripts)
//! on the integration API. A key belongs to a household, acts for the member who created it,
//! and can do only what its scopes name. The key is shown once; the table keeps its SHA-256
//! and a visible prefix.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::platform::error::{ApiError, FieldError, FieldIssue};

/// What every key starts with, so a leaked one is recognised (by people and secret scanners).
pub const KEY_PREFIX: &str = "cgk_";
/// How many characters of a key are kept and shown to recognise it (`cgk_` and 8 more, of 36).
pub const VISIBLE_PREFIX_LEN: usize = 12;
/// Keys a household may have that are not revoked, expired ones included until they are
/// revoked (each is an API Gateway API key, and an account has at most 10,000 of those per
/// region).
pub const MAX_KEYS: u32 = 20;
/// Without `expiresAt`, a key expires after this many days; it may live a year at most.
pub const DEFAULT_DAYS: i64 = 90;
pub const MAX_DAYS: i64 = 366;

/// What a key may do. Each route of the integration API needs one scope (its route table row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "tasks:read")]
    TasksRead,
    #[serde(rename = "tasks:write")]
    TasksWrite,
    #[serde(rename = "tasks:complete")]
    TasksComplete,
    #[serde(rename = "agenda:read")]
    AgendaRead,
    #[serde(rename = "members:read")]
    MembersRead,
}

impl Scope {
    pub const ALL: [Scope; 5] =
        [Scope::TasksRead, Scope::TasksWrite, Scope::TasksComplete, Scope::AgendaRead, Scope::MembersRead];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::TasksRead => "tasks:read",
            Scope::TasksWrite => "tasks:write",
            Scope::TasksComplete => "tasks:complete",
            Scope::AgendaRead => "agenda:read",
            Scope::MembersRead => "members:read",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Scopes as the authorizer passes them to the handlers: space-separated (API Gateway's
    /// authorizer context holds strings only).
    pub fn join(scopes: &[Scope]) -> String {
        scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
    }

    /// The scopes of a joined list; unknown words are dropped (never widened).
    pub fn split(text: &str) -> Vec<Scope> {
        text.split_whitespace().filter_map(Scope::parse).collect()
    }
}

/// A key as stored and listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub key_id: String,
    pub household_id: String,
    pub name: String,
    /// The first characters of the key, to recognise it (`cgk_7hq2xk0p`).
    pub prefix: String,
    pub scopes: Vec<Scope>,
    /// The member the key acts for: who created it. It stops working when they leave.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Why a key is not accepted (beyond not being known at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Revoked,
    Expired,
}

impl ApiKey {
    /// Whether the key may be used at `now`.
    pub fn usable(&self, now: DateTime<Utc>) -> Result<(), Refusal> {
        if self.revoked_at.is_some() {
            Err(Refusal::Revoked)
        } else if now >= self.expires_at {
            Err(Refusal::Expired)
        } else {
            Ok(())
        }
    }
}

/// A new key's secret: `cgk_` and 160 random bits in base32 (32 characters).
pub fn new_key(random_token: String) -> String {
    format!("{KEY_PREFIX}{random_token}")
}

/// The part of a key that is kept and shown.
pub fn visible_prefix(key: &str) -> String {
    key.chars().take(VISIBLE_PREFIX_LEN).collect()
}

/// Whether a presented value can be a key at all (checked before any lookup, so junk costs
/// no read): the prefix, then 32 characters of the base32 alphabet.
pub fn well_formed(key: &str) -> bool {
    key.strip_prefix(KEY_PREFIX).is_some_and(|rest| {
        rest.len() == 32
            && rest
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'h' | b'j' | b'k' | b'm' | b'n' | b'p'..=b't' | b'v'..=b'z'))
    })
}

/// What creating a key takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewApiKey {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub expires_at: Option<String>,
}

/// A valid request: name, scopes (sorted, each once) and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_at: DateTime<Utc>,
}

impl NewApiKey {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<ValidKey, ApiError> {
        let mut errors = Vec::new();
        let name = self.name.as_deref().map(str::trim).unwrap_or_default().to_string();
        if name.is_empty() {
            errors.push(FieldError::new("name", FieldIssue::Required));
        } else if name.chars().count() > 80 {
            errors.push(FieldError::new("name", FieldIssue::TooLong).with("max", 80));
        } else if name.chars().any(char::is_control) {
            errors.push(FieldError::new("name", FieldIssue::ControlCharacters));
        }
        let mut scopes = Vec::new();
        match &self.scopes {
            None => errors.push(FieldError::new("scopes", FieldIssue::Required)),
            Some(list) if list.is_empty() => errors.push(FieldError::new("scopes", FieldIssue::Required)),
            Some(list) if list.len() > Scope::ALL.len() => errors
                .push(FieldError::new("scopes", FieldIssue::OutOfRange).with("min", 1).with("max", Scope::ALL.len())),
            Some(list) => {
                for (i, s) in list.iter().enumerate() {
                    match Scope::parse(s) {
                        Some(scope) => scopes.push(scope),
                        None => errors.push(
                            FieldError::new(format!("scopes[{i}]"), FieldIssue::InvalidValue)
                                .with("allowed", Scope::ALL.map(Scope::as_str).join(", ")),
                        ),
                    }
                }
            }
        }
        scopes.sort();
        scopes.dedup();
        let expires_at = match self.expires_at.as_deref() {
            None => now + Duration::days(DEFAULT_DAYS),
            Some(text) => match DateTime::parse_from_rfc3339(text) {
                Ok(t) if t.with_timezone(&Utc) > now && t.with_timezone(&Utc) <= now + Duration::days(MAX_DAYS) => {
                    t.with_timezone(&Utc)
                }
                Ok(_) => {
                    errors.push(
                        FieldError::new("expiresAt", FieldIssue::OutOfRange)
                            .with("min", "now")
                            .with("max", format!("{MAX_DAYS} days from now")),
                    );
                    now
                }
                Err(_) => {
                    errors.push(FieldError::new("expiresAt", FieldIssue::InvalidType));
                    now
                }
            },
        };
        if errors.is_empty() { Ok(ValidKey { name, scopes, expires_at }) } else { Err(ApiError::validation(errors)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap()
    }

    fn input(name: Option<&str>, scopes: Option<&[&str]>, expires: Option<&str>) -> NewApiKey {
        NewApiKey {
            name: name.map(str::to_string),
            scopes: scopes.map(|s| s.iter().map(|x| x.to_string()).collect()),
            expires_at: expires.map(str::to_string),
        }
    }

    #[test]
    fn a_key_needs_a_name_and_known_scopes_and_expires_within_a_year() {
        let ok =
            input(Some(" Kitchen tag "), Some(&["tasks:complete", "tasks:complete"]), None).validate(now()).unwrap();
        assert_eq!(ok.name, "Kitchen tag");
        assert_eq!(ok.scopes, vec![Scope::TasksComplete]);
        assert_eq!(ok.expires_at, Utc.with_ymd_and_hms(2027, 2, 28, 12, 0, 0).unwrap(), "90 days by default");

        let fields = |i: NewApiKey| -> Vec<String> {
            let e = i.validate(now()).unwrap_err();
            e.fields.iter().map(|f| f.field.clone()).collect()
        };
        assert_eq!(fields(input(None, None, None)), ["name", "scopes"]);
        assert_eq!(fields(input(Some("x"), Some(&[]), None)), ["scopes"]);
        assert_eq!(fields(input(Some("x"), Some(&["tasks:read", "admin"]), None)), ["scopes[1]"]);
        assert_eq!(fields(input(Some("x"), Some(&["tasks:read"]), Some("2026-11-30T11:00:00Z"))), ["expiresAt"]);
        assert_eq!(fields(input(Some("x"), Some(&["tasks:read"]), Some("2027-12-02T12:00:00Z"))), ["expiresAt"]);
        assert_eq!(fields(input(Some("x"), Some(&["tasks:read"]), Some("soon"))), ["expiresAt"]);
        assert_eq!(fields(input(Some(&"n".repeat(81)), Some(&["tasks:read"]), None)), ["name"]);
        // One error for a list too long, not one per entry.
        assert_eq!(fields(input(Some("x"), Some(&[""; 6]), None)), ["scopes"]);
        assert!(input(Some("x"), Some(&["tasks:read"]), Some("2027-11-30T12:00:00+01:00")).validate(now()).is_ok());
    }

    #[test]
    fn scopes_travel_as_one_string_and_never_widen() {
        let all = Scope::ALL.to_vec();
        assert_eq!(Scope::split(&Scope::join(&all)), all);
        assert_eq!(Scope::join(&[Scope::TasksRead, Scope::AgendaRead]), "tasks:read agenda:read");
        assert_eq!(Scope::split("tasks:read admin:all  tasks:complete"), vec![Scope::TasksRead, Scope::TasksComplete]);
        assert_eq!(serde_json::to_string(&Scope::TasksComplete).unwrap(), "\"tasks:complete\"");
    }

    #[test]
    fn keys_are_recognisable_and_junk_is_refused_before_a_lookup() {
        let key = new_key(crate::store::feeds::new_token());
        assert!(key.starts_with("cgk_") && key.len() == 36, "{key}");
        assert!(well_formed(&key));
        assert_eq!(visible_prefix(&key).len(), 12);
        assert!(key.starts_with(&visible_prefix(&key)));
        for junk in [
            "",
            "cgk_",
            "cgk_short",
            &key.to_uppercase(),
            &format!("{key}x"),
            &key.replace("cgk_", "xyz_"),
            "cgk_iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii",
        ] {
            assert!(!well_formed(junk), "{junk}");
        }
    }

    #[test]
    fn a_revoked_or_expired_key_is_not_usable() {
        let key = ApiKey {
            key_id: "k".into(),
            household_id: "h".into(),
            name: "n".into(),
            prefix: "cgk_12345678".into(),
            scopes: vec![Scope::TasksRead],
            created_by: "u".into(),
            created_at: now(),
            expires_at: now() + Duration::days(1),
            last_used_at: None,
            revoked_at: None,
        };
        assert_eq!(key.usable(now()), Ok(()));
        assert_eq!(key.usable(now() + Duration::days(1)), Err(Refusal::Expired));
        let revoked = ApiKey { revoked_at: Some(now()), ..key };
        assert_eq!(revoked.usable(now()), Err(Refusal::Revoked));
    }
}
