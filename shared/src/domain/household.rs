//! Households and their members.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::platform::error::ApiError;
use crate::platform::validate::Checks;

pub const NAME_MAX: usize = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HouseholdStatus {
    Active,
    /// Deleted for every member at once; the purge worker removes what remains.
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Household {
    pub household_id: String,
    pub name: String,
    /// IANA time zone the household's chores default to.
    pub timezone: String,
    pub owner_id: String,
    pub member_count: u32,
    pub status: HouseholdStatus,
    /// Escalate a chore to owners and admins this many minutes after its last reminder
    /// went unanswered; none: never.
    #[serde(default)]
    pub escalate_after_minutes: Option<u32>,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub household_id: String,
    pub user_id: String,
    /// The member's display name when they joined (the profile is the live source).
    pub display_name: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
    pub version: u64,
    /// Points earned in this household (the garden grows from them).
    #[serde(default)]
    pub points: u64,
    /// The share of household work the member says they can take, 1–100 (%).
    #[serde(default = "full_time")]
    pub availability: u8,
    /// Dates the member is away: automatic assignment skips them.
    #[serde(default)]
    pub away: Vec<AwayRange>,
}

fn full_time() -> u8 {
    100
}

/// Inclusive local dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwayRange {
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
}

impl Member {
    pub fn is_away_on(&self, date: chrono::NaiveDate) -> bool {
        self.away.iter().any(|r| r.from <= date && date <= r.to)
    }
}

/// `POST /v1/households`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewHousehold {
    pub name: String,
    /// Defaults to the creator's profile time zone.
    pub timezone: Option<String>,
}

impl NewHousehold {
    /// The household and its owner, validated.
    pub fn create(
        mut self,
        owner_id: &str,
        owner_name: &str,
        default_timezone: &str,
        now: DateTime<Utc>,
    ) -> Result<(Household, Member), ApiError> {
        let mut checks = Checks::new();
        checks.line("name", &mut self.name, 1, NAME_MAX);
        if let Some(tz) = &self.timezone {
            checks.timezone("timezone", tz);
        }
        checks.finish()?;
        let household_id = ulid::Ulid::new().to_string();
        let household = Household {
            household_id: household_id.clone(),
            name: self.name,
            timezone: self.timezone.unwrap_or_else(|| default_timezone.to_string()),
            owner_id: owner_id.to_string(),
            member_count: 1,
            status: HouseholdStatus::Active,
            escalate_after_minutes: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let owner = Member {
            household_id,
            user_id: owner_id.to_string(),
            display_name: owner_name.to_string(),
            role: Role::Owner,
            joined_at: now,
            version: 1,
            points: 0,
            availability: 100,
            away: Vec::new(),
        };
        Ok((household, owner))
    }
}

/// `PATCH /v1/households/{householdId}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HouseholdPatch {
    pub name: Option<String>,
    pub timezone: Option<String>,
    /// 0 turns escalation off.
    pub escalate_after_minutes: Option<u32>,
}

impl HouseholdPatch {
    pub fn apply(mut self, mut h: Household, now: DateTime<Utc>) -> Result<Household, ApiError> {
        let mut checks = Checks::new();
        if let Some(name) = &mut self.name {
            checks.line("name", name, 1, NAME_MAX);
        }
        if let Some(tz) = &self.timezone {
            checks.timezone("timezone", tz);
        }
        if let Some(m) = self.escalate_after_minutes.filter(|m| *m > 0) {
            checks.range(
                "escalateAfterMinutes",
                m.into(),
                crate::domain::reminder::MIN_REPEAT_MINUTES.into(),
                7 * 24 * 60,
            );
        }
        checks.finish()?;
        if let Some(name) = self.name {
            h.name = name;
        }
        if let Some(m) = self.escalate_after_minutes {
            h.escalate_after_minutes = (m > 0).then_some(m);
        }
        if let Some(tz) = self.timezone {
            h.timezone = tz;
        }
        h.version += 1;
        h.updated_at = now;
        Ok(h)
    }
}

/// `PATCH /v1/households/{householdId}/members/{userId}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MemberPatch {
    pub role: Option<Role>,
    pub availability: Option<u8>,
    pub away: Option<Vec<AwayRange>>,
}

pub const MAX_AWAY_RANGES: usize = 10;

impl MemberPatch {
    /// Availability and away dates, validated and applied (the role is the policy's call).
    pub fn apply_availability(&self, mut m: Member) -> Result<Member, ApiError> {
        let mut checks = Checks::new();
        if let Some(a) = self.availability {
            checks.range("availability", a.into(), 1, 100);
        }
        if let Some(away) = &self.away {
            checks.range("away", away.len() as i64, 0, MAX_AWAY_RANGES as i64);
            for r in away {
                checks.date("away.from", r.from);
                checks.date("away.to", r.to);
            }
            if away.iter().any(|r| r.from > r.to) {
                checks.push(
                    crate::platform::error::FieldError::new("away", crate::platform::error::FieldIssue::InvalidValue)
                        .with("allowed", "from <= to"),
                );
            }
        }
        checks.finish()?;
        if let Some(a) = self.availability {
            m.availability = a;
        }
        if let Some(away) = &self.away {
            m.away = away.clone();
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::error::FieldIssue;

    #[test]
    fn a_new_household_has_its_creator_as_owner() {
        let now = Utc::now();
        let (h, owner) = NewHousehold { name: " The Burrow ".into(), timezone: None }
            .create("u1", "Molly", "Europe/London", now)
            .unwrap();
        assert_eq!(h.name, "The Burrow");
        assert_eq!(h.timezone, "Europe/London");
        assert_eq!((h.owner_id.as_str(), h.member_count, h.version), ("u1", 1, 1));
        assert_eq!(owner.role, Role::Owner);
        assert_eq!(owner.household_id, h.household_id);
    }

    #[test]
    fn escalation_is_off_until_set_and_zero_turns_it_off_again() {
        let now = Utc::now();
        let (h, _) = NewHousehold { name: "x".into(), timezone: None }.create("u1", "M", "UTC", now).unwrap();
        assert_eq!(h.escalate_after_minutes, None);
        let patch = |m| HouseholdPatch { escalate_after_minutes: Some(m), ..Default::default() };
        let err = patch(5).apply(h.clone(), now).unwrap_err();
        assert_eq!(
            (err.fields[0].field.as_str(), err.fields[0].issue),
            ("escalateAfterMinutes", FieldIssue::OutOfRange)
        );
        let on = patch(30).apply(h, now).unwrap();
        assert_eq!(on.escalate_after_minutes, Some(30));
        assert_eq!(patch(0).apply(on, now).unwrap().escalate_after_minutes, None);
    }

    #[test]
    fn names_and_zones_are_validated() {
        let now = Utc::now();
        let err = NewHousehold { name: "".into(), timezone: Some("Nowhere/Land".into()) }
            .create("u1", "M", "UTC", now)
            .unwrap_err();
        let issues: Vec<_> = err.fields.iter().map(|f| f.issue).collect();
        assert_eq!(issues, [FieldIssue::TooShort, FieldIssue::InvalidTimezone]);
        let (h, _) = NewHousehold { name: "x".into(), timezone: None }.create("u1", "M", "UTC", now).unwrap();
        let err = HouseholdPatch { name: Some("y".repeat(NAME_MAX + 1)), ..Default::default() }
            .apply(h.clone(), now)
            .unwrap_err();
        assert_eq!(err.fields[0].issue, FieldIssue::TooLong);
        let patched =
            HouseholdPatch { timezone: Some("America/New_York".into()), ..Default::default() }.apply(h, now).unwrap();
        assert_eq!((patched.timezone.as_str(), patched.version), ("America/New_York", 2));
    }

    #[test]
    fn away_dates_lie_in_the_date_window() {
        let now = Utc::now();
        let (_, member) = NewHousehold { name: "x".into(), timezone: None }.create("u1", "M", "UTC", now).unwrap();
        let d = |y, m, day| chrono::NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let patch = |from, to| MemberPatch { role: None, availability: None, away: Some(vec![AwayRange { from, to }]) };
        let err = patch(d(1969, 12, 31), d(2026, 1, 1)).apply_availability(member.clone()).unwrap_err();
        assert_eq!((err.fields[0].field.as_str(), err.fields[0].issue), ("away.from", FieldIssue::OutOfRange));
        let err = patch(d(2026, 1, 1), chrono::NaiveDate::MAX).apply_availability(member.clone()).unwrap_err();
        assert_eq!(err.fields[0].field, "away.to");
        let ok = patch(d(1970, 1, 1), d(2200, 12, 31)).apply_availability(member).unwrap();
        assert_eq!(ok.away.len(), 1);
    }

    #[test]
    fn names_are_stored_trimmed_and_refuse_control_characters() {
        let now = Utc::now();
        let err = NewHousehold { name: "\u{13}\u{2026}\u{1d}".into(), timezone: None }
            .create("u1", "M", "UTC", now)
            .unwrap_err();
        assert_eq!((err.fields[0].field.as_str(), err.fields[0].issue), ("name", FieldIssue::ControlCharacters));
        let (h, _) = NewHousehold { name: "Home".into(), timezone: None }.create("u1", "M", "UTC", now).unwrap();
        let err =
            HouseholdPatch { name: Some("Flat\n3B".into()), ..Default::default() }.apply(h.clone(), now).unwrap_err();
        assert_eq!(err.fields[0].issue, FieldIssue::ControlCharacters);
        let patched = HouseholdPatch { name: Some("\t Flat 3B  ".into()), ..Default::default() }.apply(h, now).unwrap();
        assert_eq!(patched.name, "Flat 3B");
    }
}
