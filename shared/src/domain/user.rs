//! User profiles: display name, language, time zone and notification preferences.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::Principal;
pub use crate::domain::notification::NotificationPreferences;
use crate::domain::notification::{Channels, EventType};
use crate::domain::reminder::QuietHours;
use crate::platform::error::{ApiError, FieldError, FieldIssue};
use crate::platform::i18n::Locale;
use crate::platform::validate::{Checks, clean_line};

pub const DISPLAY_NAME_MAX: usize = 80;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserProfile {
    pub user_id: String,
    pub display_name: String,
    #[serde(default)]
    pub email: Option<String>,
    /// BCP 47 language tag of a supported language.
    pub locale: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub timezone: String,
    pub notifications: NotificationPreferences,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Tokens issued at or before this second are refused (kept across profile updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_valid_after: Option<DateTime<Utc>>,
}

impl UserProfile {
    /// The profile made on a user's first call, from their token's claims. The local
    /// Cognito's ID token has no email claim, so email stays empty until one is known.
    pub fn first_seen(principal: &Principal, now: DateTime<Utc>) -> UserProfile {
        let display_name = principal
            .name_hint
            .clone()
            .or_else(|| principal.email.as_ref().and_then(|e| e.split('@').next().map(str::to_string)))
            .map(|n| clean_line(&n))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "New gardener".to_string());
        let display_name: String =
            display_name.chars().take(DISPLAY_NAME_MAX).collect::<String>().trim_end().to_string();
        UserProfile {
            user_id: principal.user_id.clone(),
            display_name,
            email: principal.email.clone(),
            locale: "en".to_string(),
            timezone: "UTC".to_string(),
            notifications: NotificationPreferences::default(),
            version: 1,
            created_at: now,
            updated_at: now,
            tokens_valid_after: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NotificationPatch {
    pub email: Option<bool>,
    pub push: Option<bool>,
    pub daily_digest: Option<bool>,
    /// Absent: unchanged; `null`: no quiet hours.
    #[serde(default, deserialize_with = "present")]
    pub quiet_hours: Option<Option<QuietHours>>,
    /// Per event type, the channels to change; the others keep their choice.
    pub events: Option<BTreeMap<EventType, ChannelsPatch>>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChannelsPatch {
    pub in_app: Option<bool>,
    pub email: Option<bool>,
    pub push: Option<bool>,
}

/// A field that is present, even as `null` (absent fields stay `None` by `default`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /v1/me`: every field optional; present fields replace.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProfilePatch {
    pub display_name: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub notifications: Option<NotificationPatch>,
}

impl ProfilePatch {
    /// The updated profile, or every field error at once.
    pub fn apply(mut self, mut profile: UserProfile, now: DateTime<Utc>) -> Result<UserProfile, ApiError> {
        let mut checks = Checks::new();
        if let Some(name) = &mut self.display_name {
            checks.line("displayName", name, 1, DISPLAY_NAME_MAX);
        }
        if let Some(tz) = &self.timezone {
            checks.timezone("timezone", tz);
        }
        if let Some(locale) = &self.locale
            && !Locale::ALL.iter().any(|l| l.tag() == locale)
        {
            let allowed: Vec<&str> = Locale::ALL.iter().map(|l| l.tag()).collect();
            checks.push(FieldError::new("locale", FieldIssue::InvalidLocale).with("allowed", allowed.join(", ")));
        }
        checks.finish()?;
        if let Some(name) = self.display_name {
            profile.display_name = name;
        }
        if let Some(locale) = self.locale {
            profile.locale = locale;
        }
        if let Some(tz) = self.timezone {
            profile.timezone = tz;
        }
        if let Some(n) = self.notifications {
            let p = &mut profile.notifications;
            p.email = n.email.unwrap_or(p.email);
            p.push = n.push.unwrap_or(p.push);
            p.daily_digest = n.daily_digest.unwrap_or(p.daily_digest);
            if let Some(q) = n.quiet_hours {
                p.quiet_hours = q;
            }
            for (event, change) in n.events.unwrap_or_default() {
                let c = p.events.get(&event).copied().unwrap_or_else(|| event.default_channels());
                let c = Channels {
                    in_app: change.in_app.unwrap_or(c.in_app),
                    email: change.email.unwrap_or(c.email),
                    push: change.push.unwrap_or(c.push),
                };
                // Only choices that differ from the default are stored.
                if c == event.default_channels() {
                    p.events.remove(&event);
                } else {
                    p.events.insert(event, c);
                }
            }
        }
        profile.version += 1;
        profile.updated_at = now;
        Ok(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(name: Option<&str>, email: Option<&str>) -> Principal {
        Principal {
            user_id: "u1".into(),
            email: email.map(Into::into),
            name_hint: name.map(Into::into),
            issued_at: None,
            username: None,
            key: None,
        }
    }

    #[test]
    fn first_profile_uses_the_best_name_available() {
        let now = Utc::now();
        assert_eq!(UserProfile::first_seen(&principal(Some("ana"), None), now).display_name, "ana");
        assert_eq!(UserProfile::first_seen(&principal(None, Some("bo@x.org")), now).display_name, "bo");
        // A name claim is outside our validation: control characters are dropped, not stored.
        assert_eq!(UserProfile::first_seen(&principal(Some(" Ana\u{13}\nLee "), None), now).display_name, "AnaLee");
        assert_eq!(UserProfile::first_seen(&principal(Some("\u{7}"), None), now).display_name, "New gardener");
        let p = UserProfile::first_seen(&principal(None, None), now);
        assert_eq!(p.display_name, "New gardener");
        assert_eq!((p.locale.as_str(), p.timezone.as_str(), p.version), ("en", "UTC", 1));
    }

    #[test]
    fn patch_validates_everything_and_bumps_the_version() {
        let now = Utc::now();
        let p = UserProfile::first_seen(&principal(Some("ana"), None), now);
        let bad = ProfilePatch {
            display_name: Some(" ".into()),
            locale: Some("fr".into()),
            timezone: Some("Europe/Atlantis".into()),
            notifications: None,
        };
        let err = bad.apply(p.clone(), now).unwrap_err();
        let fields: Vec<_> = err.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["displayName", "timezone", "locale"]);
        let err = ProfilePatch { display_name: Some("Ana\u{1b}[2J".into()), ..Default::default() }
            .apply(p.clone(), now)
            .unwrap_err();
        assert_eq!(err.fields[0].issue, FieldIssue::ControlCharacters);

        let good = ProfilePatch {
            display_name: Some(" Ana G ".into()),
            locale: Some("de".into()),
            timezone: Some("Europe/Berlin".into()),
            notifications: Some(NotificationPatch { email: Some(false), ..Default::default() }),
        };
        let updated = good.apply(p, now).unwrap();
        assert_eq!(updated.display_name, "Ana G");
        assert_eq!(updated.timezone, "Europe/Berlin");
        assert!(!updated.notifications.email && updated.notifications.push);
        assert_eq!(updated.version, 2);
    }

    #[test]
    fn notification_patch_sets_and_clears_quiet_hours_and_changes_one_channel_at_a_time() {
        let now = Utc::now();
        let p = UserProfile::first_seen(&principal(Some("ana"), None), now);
        let patch = |json: &str| -> ProfilePatch { serde_json::from_str(json).unwrap() };
        let quiet = patch(
            r#"{"notifications": {"quietHours": {"start": "22:00", "end": "07:00"},
            "events": {"completed": {"email": true}, "reminder": {"inApp": true}}}}"#,
        )
        .apply(p, now)
        .unwrap();
        let n = &quiet.notifications;
        assert_eq!(n.quiet_hours.map(|q| q.end.to_string()), Some("07:00:00".into()));
        assert_eq!(n.events.len(), 1, "the reminder choice is the default, so it is not stored");
        assert_eq!(n.events[&EventType::Completed], Channels { in_app: true, email: true, push: false });
        let untouched = patch(r#"{"notifications": {"push": false}}"#).apply(quiet.clone(), now).unwrap();
        assert!(untouched.notifications.quiet_hours.is_some(), "absent leaves quiet hours as they were");
        let cleared = patch(r#"{"notifications": {"quietHours": null}}"#).apply(quiet, now).unwrap();
        assert_eq!(cleared.notifications.quiet_hours, None);
        assert!(serde_json::from_str::<ProfilePatch>(r#"{"notifications": {"events": {"birthday": {}}}}"#).is_err());
    }
}
