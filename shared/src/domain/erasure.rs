//! Account erasure (GDPR Art. 17) and the token cut-off it shares with "sign out
//! everywhere": pure rules, no I/O.
//!
//! `DELETE /v1/me` marks the profile erased and sets its tokens-valid-after time; the
//! erasure job then removes or rewrites everything that names the user. What stays is
//! documented in the README: the household's history keeps their completions under a
//! tombstone id (`deleted-<ULID>`, drawn at random, so nothing leads back to them), and the
//! profile item itself stays as a bare marker (no name, no email) until every token issued
//! before the erasure has expired.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::domain::household::Member;

/// What user ids of erased members start with: clients show "deleted member" for them.
pub const TOMBSTONE_PREFIX: &str = "deleted-";
/// What replaces an erased member's name wherever a text named them.
pub const DELETED_MEMBER_NAME: &str = "Deleted member";
/// How long the bare erased-profile marker stays: longer than any ID token lives (60 min in
/// template.yaml, 1 day at most in Cognito), so no token issued before erasure outlives it.
pub const MARKER_DAYS: i64 = 2;

/// A fresh, random tombstone id for one erased user.
pub fn tombstone_id() -> String {
    format!("{TOMBSTONE_PREFIX}{}", ulid::Ulid::new())
}

/// The per-user session state read with every request's membership (or profile): tokens
/// issued before `tokens_valid_after` are refused, and all of an erased user's are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    #[serde(default)]
    pub tokens_valid_after: Option<DateTime<Utc>>,
    #[serde(default)]
    pub erased_at: Option<DateTime<Utc>>,
}

impl Session {
    /// Whether a token issued at `issued_at` (its `iat`, whole seconds) may still be used. A
    /// token of the same second as the cut-off is refused: `iat` cannot tell whether it
    /// came just before or just after, and refusing is the safe side (signing in again a
    /// second later works). A token without `iat` counts as issued at the epoch.
    pub fn admits(&self, issued_at: Option<DateTime<Utc>>) -> bool {
        if self.erased_at.is_some() {
            return false;
        }
        match self.tokens_valid_after {
            None => true,
            Some(after) => issued_at.is_some_and(|iat| iat.timestamp() > after.timestamp()),
        }
    }
}

/// Who takes over a household whose owner is erased while others are in it: an admin
/// before a member, then whoever joined first.
pub fn successor<'m>(others: &[&'m Member]) -> Option<&'m Member> {
    others.iter().copied().min_by_key(|m| (m.role != Role::Admin, m.joined_at, m.user_id.clone()))
}

/// The `SqsMessage` body of an erasure job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErasureRequest {
    pub user_id: String,
    pub correlation_id: String,
}

/// What names an erased user, and what replaces it: their id (anywhere in a text, keys
/// included) becomes the tombstone id; their email (any case) and their names (as whole
/// words) become [`DELETED_MEMBER_NAME`].
#[derive(Debug, Clone)]
pub struct Traces {
    pub user_id: String,
    pub tombstone_id: String,
    names: Vec<String>,
    emails: Vec<String>,
}

impl Traces {
    pub fn new(user_id: &str, tombstone_id: &str, names: &[String], emails: &[String]) -> Traces {
        let keep = |v: &[String]| {
            let mut v: Vec<String> = v.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
            // Longest first: "Ana Maria" before "Ana".
            v.sort_by_key(|s| std::cmp::Reverse(s.chars().count()));
            v.dedup();
            v
        };
        Traces {
            user_id: user_id.to_string(),
            tombstone_id: tombstone_id.to_string(),
            names: keep(names),
            emails: keep(emails).into_iter().map(|e| e.to_lowercase()).collect(),
        }
    }

    /// Whether `text` names the user.
    pub fn found_in(&self, text: &str) -> bool {
        self.scrub(text).is_some()
    }

    /// `text` with every trace replaced, or `None` when it has none: for texts that are
    /// messages about people (notifications, audit details), where a name is theirs.
    pub fn scrub(&self, text: &str) -> Option<String> {
        let mut out = self.scrub_ids_and_emails(text).unwrap_or_else(|| text.to_string());
        for name in &self.names {
            out = replace_words(&out, name, DELETED_MEMBER_NAME);
        }
        (out != text).then_some(out)
    }

    /// `text` with their id and email replaced, names left: for any other text, where a
    /// name may be someone else's of the same name (a member record, a profile).
    pub fn scrub_ids_and_emails(&self, text: &str) -> Option<String> {
        let mut out = text.replace(&self.user_id, &self.tombstone_id);
        for email in &self.emails {
            out = replace_case_insensitive(&out, email, DELETED_MEMBER_NAME);
        }
        (out != text).then_some(out)
    }
}

/// `text` with every occurrence of `needle` (compared in lowercase) replaced.
fn replace_case_insensitive(text: &str, needle: &str, with: &str) -> String {
    let lower = text.to_lowercase();
    // Lowercasing can change byte lengths outside ASCII; only then fall back to exact case.
    if lower.len() != text.len() {
        return text.replace(needle, with);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in lower.match_indices(needle) {
        if at < rest {
            continue;
        }
        out.push_str(&text[rest..at]);
        out.push_str(with);
        rest = at + needle.len();
    }
    out.push_str(&text[rest..]);
    out
}

/// `text` with `word` replaced where it stands as a whole word (not inside a longer word:
/// "Al" in "Al did it" but not in "Alarm").
fn replace_words(text: &str, word: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in text.match_indices(word) {
        if at < rest {
            continue;
        }
        let end = at + word.len();
        let before = text[..at].chars().next_back();
        let after = text[end..].chars().next();
        if before.is_some_and(char::is_alphanumeric) || after.is_some_and(char::is_alphanumeric) {
            continue;
        }
        out.push_str(&text[rest..at]);
        out.push_str(with);
        rest = end;
    }
    out.push_str(&text[rest..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn tokens_of_the_cut_off_second_or_before_are_refused() {
        let session = Session { tokens_valid_after: Some(at("2026-11-30T12:00:00.500Z")), erased_at: None };
        assert!(!session.admits(Some(at("2026-11-30T11:59:59Z"))));
        assert!(!session.admits(Some(at("2026-11-30T12:00:00Z"))), "same second: refused");
        assert!(session.admits(Some(at("2026-11-30T12:00:01Z"))));
        assert!(!session.admits(None), "no iat: refused once a cut-off exists");
        assert!(Session::default().admits(None), "no cut-off: every token");
        assert!(Session::default().admits(Some(at("2020-01-01T00:00:00Z"))));
    }

    #[test]
    fn an_erased_user_has_no_valid_token() {
        let erased = Session { tokens_valid_after: None, erased_at: Some(at("2026-11-30T12:00:00Z")) };
        assert!(!erased.admits(Some(at("2030-01-01T00:00:00Z"))));
    }

    #[test]
    fn scrubbing_replaces_ids_emails_and_whole_word_names() {
        let t = Traces::new(
            "5f0c6b2e-4a1d",
            "deleted-01J",
            &["Ana".into(), "Ana Maria".into(), " ".into()],
            &["Ana@Example.com".into()],
        );
        assert_eq!(t.scrub("member/5f0c6b2e-4a1d").as_deref(), Some("member/deleted-01J"));
        assert_eq!(
            t.scrub("Ana Maria completed Dishes; ask ANA@example.COM").as_deref(),
            Some("Deleted member completed Dishes; ask Deleted member")
        );
        assert_eq!(t.scrub("Ana's room").as_deref(), Some("Deleted member's room"));
        assert_eq!(t.scrub("Banana and Anatomy"), None, "not inside other words");
        assert_eq!(t.scrub("Water the plants"), None);
        assert!(t.found_in("x 5f0c6b2e-4a1d y"));
    }

    #[test]
    fn non_ascii_text_keeps_its_other_characters() {
        let t = Traces::new("u1", "deleted-X", &["Zoë".into()], &["zoë@example.com".into()]);
        assert_eq!(
            t.scrub("İstanbul: Zoë, zoë@example.com").as_deref(),
            Some("İstanbul: Deleted member, Deleted member")
        );
        assert_eq!(t.scrub("Zoëlle"), None);
    }

    #[test]
    fn an_admin_takes_over_before_an_earlier_member() {
        let member = |id: &str, role: Role, joined: &str| Member {
            household_id: "h".into(),
            user_id: id.into(),
            display_name: id.into(),
            role,
            joined_at: at(joined),
            version: 1,
            points: 0,
            availability: 100,
            away: Vec::new(),
        };
        let early = member("early", Role::Member, "2026-01-01T00:00:00Z");
        let admin = member("admin", Role::Admin, "2026-06-01T00:00:00Z");
        let admin2 = member("admin2", Role::Admin, "2026-07-01T00:00:00Z");
        assert_eq!(successor(&[&early, &admin2, &admin]).map(|m| m.user_id.as_str()), Some("admin"));
        assert_eq!(successor(&[&early]).map(|m| m.user_id.as_str()), Some("early"));
        assert_eq!(successor(&[]), None);
    }

    #[test]
    fn tombstone_ids_are_user_ids_that_say_what_they_are() {
        let id = tombstone_id();
        assert!(id.starts_with(TOMBSTONE_PREFIX));
        assert!(id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(tombstone_id(), id, "drawn at random, not derived from the user");
    }
}
