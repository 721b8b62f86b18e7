//! Notifications (issue 7): what a member is told, on which channel, and when. Pure: the
//! notification worker applies these rules to the member's stored preferences.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::recurrence::local_instant;
use crate::domain::reminder::{QuietHours, ReminderKind};

/// The event types a member can choose channels for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EventType {
    Reminder,
    Overdue,
    Escalation,
    /// A chore was completed: the brief's completion alerts, for the members who want them.
    Completed,
    ApprovalRequested,
    ApprovalDecided,
    MemberJoined,
    MemberLeft,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::Reminder,
        EventType::Overdue,
        EventType::Escalation,
        EventType::Completed,
        EventType::ApprovalRequested,
        EventType::ApprovalDecided,
        EventType::MemberJoined,
        EventType::MemberLeft,
    ];

    /// Its name on the wire and in the table.
    pub fn name(self) -> &'static str {
        match self {
            EventType::Reminder => "reminder",
            EventType::Overdue => "overdue",
            EventType::Escalation => "escalation",
            EventType::Completed => "completed",
            EventType::ApprovalRequested => "approvalRequested",
            EventType::ApprovalDecided => "approvalDecided",
            EventType::MemberJoined => "memberJoined",
            EventType::MemberLeft => "memberLeft",
        }
    }

    pub fn named(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Reminders and overdue nags may be collected into the daily digest; the rest is
    /// news that should not wait a day.
    pub fn digestible(self) -> bool {
        matches!(self, EventType::Reminder | EventType::Overdue)
    }

    /// What a member gets for this event until they choose: in-app for everything, email
    /// for what asks them to act, push (stored only, until push delivery exists) alike.
    pub fn default_channels(self) -> Channels {
        let acts = matches!(
            self,
            EventType::Reminder | EventType::Overdue | EventType::Escalation | EventType::ApprovalRequested
        );
        Channels { in_app: true, email: acts, push: acts }
    }
}

/// A stored choice, whatever shape another version gave it.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredChoice {
    Channels(Channels),
    Other(serde::de::IgnoredAny),
}

fn known_events<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<EventType, Channels>, D::Error> {
    let stored = BTreeMap::<String, StoredChoice>::deserialize(d)?;
    Ok(stored
        .into_iter()
        .filter_map(|(name, choice)| match (EventType::named(&name), choice) {
            (Some(event), StoredChoice::Channels(c)) => Some((event, c)),
            _ => None,
        })
        .collect())
}

impl From<ReminderKind> for EventType {
    fn from(kind: ReminderKind) -> EventType {
        match kind {
            ReminderKind::Reminder => EventType::Reminder,
            ReminderKind::Overdue => EventType::Overdue,
            ReminderKind::Escalation => EventType::Escalation,
        }
    }
}

/// The channels chosen for one event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channels {
    pub in_app: bool,
    pub email: bool,
    pub push: bool,
}

/// A channel something is delivered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Channel {
    InApp,
    Email,
    /// Email collected into the daily digest.
    Digest,
}

/// One delivery of one event to one member: on `channel`, not before `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub channel: Channel,
    pub at: DateTime<Utc>,
}

/// A member's notification preferences, as stored on their profile. The first version
/// stored only the three switches; the rest has defaults, so those profiles keep working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationPreferences {
    /// Email at all (each event type's choice applies within it).
    pub email: bool,
    /// Push at all: a stored preference until push delivery exists.
    pub push: bool,
    /// One summary a day instead of one email per reminder.
    pub daily_digest: bool,
    /// No email in these hours of the member's time zone: it waits, never dropped.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// Channels per event type, where the member chose other than the default. An event
    /// type this version does not know (stored by another one) is ignored, not an error.
    #[serde(default, deserialize_with = "known_events")]
    pub events: BTreeMap<EventType, Channels>,
}

impl Default for NotificationPreferences {
    fn default() -> Self {
        NotificationPreferences {
            email: true,
            push: true,
            daily_digest: false,
            quiet_hours: None,
            events: BTreeMap::new(),
        }
    }
}

/// When the daily digest goes out, local time, unless quiet hours end later.
pub const DIGEST_TIME: NaiveTime = match NaiveTime::from_hms_opt(7, 0, 0) {
    Some(t) => t,
    None => panic!("07:00 is a time"),
};

impl NotificationPreferences {
    /// The channels for `event`: the member's choice or the default, within the switches.
    pub fn channels(&self, event: EventType) -> Channels {
        let c = self.events.get(&event).copied().unwrap_or_else(|| event.default_channels());
        Channels { in_app: c.in_app, email: c.email && self.email, push: c.push && self.push }
    }

    /// How and when `event`, happening at `at`, reaches this member in time zone `tz`.
    /// In-app at once; email at once, or when quiet hours end, or in the next digest.
    pub fn deliveries(&self, event: EventType, at: DateTime<Utc>, tz: Tz) -> Vec<Delivery> {
        let c = self.channels(event);
        let mut out = Vec::new();
        if c.in_app {
            out.push(Delivery { channel: Channel::InApp, at });
        }
        if c.email {
            out.push(if self.daily_digest && event.digestible() {
                Delivery { channel: Channel::Digest, at: self.next_digest(at, tz) }
            } else {
                Delivery { channel: Channel::Email, at: self.quiet_release(at, tz) }
            });
        }
        out
    }

    fn quiet_release(&self, at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        self.quiet_hours.map_or(at, |q| q.release(at, tz))
    }

    /// The first digest time (local [`DIGEST_TIME`]) at or after `at`, held past quiet hours.
    pub fn next_digest(&self, at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let date = at.with_timezone(&tz).date_naive();
        // Today's digest, if it has not gone out yet (quiet hours may hold it past 07:00).
        let today = self.quiet_release(local_instant(tz, date.and_time(DIGEST_TIME)), tz);
        if today >= at {
            return today;
        }
        let tomorrow = date.succ_opt().unwrap_or(date);
        self.quiet_release(local_instant(tz, tomorrow.and_time(DIGEST_TIME)), tz)
    }
}

/// How long an in-app notification stays (then DynamoDB's TTL removes it; reads filter).
pub const IN_APP_DAYS: i64 = 30;

/// One in-app notification, as its recipient lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InAppNotification {
    /// A ULID from the time of what it tells and its identity: the same event told twice
    /// (a redelivered message) is the same notification, stored once.
    pub notification_id: String,
    pub user_id: String,
    pub event: EventType,
    pub household_id: String,
    #[serde(default)]
    pub task_id: Option<String>,
    pub title: String,
    pub body: String,
    /// When what it tells of happened (a reminder's step).
    pub occurred_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub read_at: Option<DateTime<Utc>>,
    /// Sent later than it should have been (after an outage).
    #[serde(default)]
    pub late: bool,
}

impl InAppNotification {
    /// Whether it counts as read, given the recipient's "all read up to" mark.
    pub fn is_read(&self, read_up_to: Option<DateTime<Utc>>) -> bool {
        self.read_at.is_some() || read_up_to.is_some_and(|mark| self.created_at <= mark)
    }
}

/// The id of the notification `key` (an event's identity) for `user_id`, which happened at
/// `occurred_at`: a ULID, so lists sort by time, and the same for every delivery attempt.
pub fn notification_id(key: &str, user_id: &str, occurred_at: DateTime<Utc>) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{key}|{user_id}").as_bytes());
    let mut random = [0u8; 16];
    random.copy_from_slice(&digest[..16]);
    let ms = u64::try_from(occurred_at.timestamp_millis()).unwrap_or(0);
    ulid::Ulid::from_parts(ms, u128::from_be_bytes(random)).to_string()
}

/// A time as a member reads it: local date and time in their zone, with the zone's
/// abbreviation (`2026-12-01 18:00 CET`).
pub fn local_when(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

/// An email as SES sends it: a subject and the same words as text and as HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The email telling `title` and `body` in language `lang` (its tag). What the member
/// typed (a chore's title) is escaped in the HTML part.
pub fn email(lang: &str, title: &str, body: &str) -> Email {
    email_with_list(lang, title, body, &[])
}

/// The email telling `title` and `body`, then `items` as a list (the daily digest's
/// notifications, each already in the recipient's language).
pub fn email_with_list(lang: &str, title: &str, body: &str, items: &[String]) -> Email {
    let (t, b) = (escape_html(title), escape_html(body));
    let mut text_items: String = items.iter().map(|i| format!("\n- {i}")).collect();
    if !items.is_empty() {
        text_items.insert(0, '\n');
    }
    let html_items = match items {
        [] => String::new(),
        _ => format!("<ul>{}</ul>", items.iter().map(|i| format!("<li>{}</li>", escape_html(i))).collect::<String>()),
    };
    Email {
        subject: title.to_string(),
        text: format!("{body}{text_items}\n\n-- \nChore Garden\n"),
        html: format!(
            "<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{t}</title></head><body><h2>{t}</h2><p>{b}</p>{html_items}<p style=\"color:#666\">Chore Garden</p></body></html>"
        ),
    }
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn berlin() -> Tz {
        "Europe/Berlin".parse().unwrap()
    }

    fn quiet_nights() -> NotificationPreferences {
        NotificationPreferences {
            quiet_hours: Some(QuietHours {
                start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
                end: NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_profile_stored_before_the_new_fields_reads_with_their_defaults() {
        let old: NotificationPreferences =
            serde_json::from_str(r#"{"email": false, "push": true, "dailyDigest": true}"#).unwrap();
        assert_eq!(old.quiet_hours, None);
        assert!(old.events.is_empty());
        assert!(!old.channels(EventType::Reminder).email, "the old email switch still rules");
        assert!(old.channels(EventType::Reminder).in_app);
    }

    #[test]
    fn defaults_email_what_asks_to_act_and_keep_the_rest_in_app() {
        let p = NotificationPreferences::default();
        let emailed: Vec<EventType> = EventType::ALL.into_iter().filter(|e| p.channels(*e).email).collect();
        assert_eq!(
            emailed,
            [EventType::Reminder, EventType::Overdue, EventType::Escalation, EventType::ApprovalRequested]
        );
        assert!(EventType::ALL.into_iter().all(|e| p.channels(e).in_app));
    }

    #[test]
    fn a_notification_keeps_its_id_across_deliveries_and_sorts_by_time() {
        let at = utc("2026-12-01T17:30:00Z");
        let a = notification_id("H#T#1#2", "ana", at);
        assert_eq!(a, notification_id("H#T#1#2", "ana", at), "a redelivery is the same notification");
        assert_ne!(a, notification_id("H#T#1#2", "ben", at), "each recipient has their own");
        assert_ne!(a, notification_id("H#T#1#3", "ana", at));
        let later = notification_id("H#T#0#0", "ana", at + chrono::Duration::milliseconds(1));
        assert!(later > a, "ids sort by the time of what they tell");
        assert_eq!(a.parse::<ulid::Ulid>().unwrap().timestamp_ms(), 1_796_146_200_000);
    }

    #[test]
    fn an_email_has_a_text_and_an_escaped_html_part() {
        let e = email("de", "Erinnerung: <b>Müll</b> & \"Glas\"", "Müll ist fällig.");
        assert_eq!(e.subject, "Erinnerung: <b>Müll</b> & \"Glas\"");
        assert!(e.text.starts_with("Müll ist fällig.\n"));
        assert!(e.html.contains("<h2>Erinnerung: &lt;b&gt;Müll&lt;/b&gt; &amp; &quot;Glas&quot;</h2>"), "{}", e.html);
        assert!(e.html.contains("lang=\"de\""));
        assert!(!e.html.contains("<b>"));
    }

    #[test]
    fn a_digest_lists_each_notification_escaped() {
        let items = ["Erinnerung: Müll".to_string(), "Erinnerung: <i>Glas</i>".to_string()];
        let e = email_with_list("de", "Deine Aufgaben", "Das wartet auf dich:", &items);
        assert_eq!(
            e.text,
            "Das wartet auf dich:\n\n- Erinnerung: Müll\n- Erinnerung: <i>Glas</i>\n\n-- \nChore Garden\n"
        );
        assert!(e.html.contains("<ul><li>Erinnerung: Müll</li><li>Erinnerung: &lt;i&gt;Glas&lt;/i&gt;</li></ul>"));
    }

    #[test]
    fn local_times_read_in_the_members_zone() {
        assert_eq!(local_when(utc("2026-12-01T17:00:00Z"), berlin()), "2026-12-01 18:00 CET");
        assert_eq!(local_when(utc("2026-07-01T17:00:00Z"), berlin()), "2026-07-01 19:00 CEST");
    }

    #[test]
    fn read_is_either_marked_or_under_the_read_all_mark() {
        let n = InAppNotification {
            notification_id: "n".into(),
            user_id: "u".into(),
            event: EventType::Reminder,
            household_id: "h".into(),
            task_id: None,
            title: String::new(),
            body: String::new(),
            occurred_at: utc("2026-12-01T09:00:00Z"),
            created_at: utc("2026-12-01T09:30:00Z"),
            read_at: None,
            late: true,
        };
        assert!(!n.is_read(None));
        assert!(!n.is_read(Some(utc("2026-12-01T09:15:00Z"))), "a late one stored after the mark is new");
        assert!(n.is_read(Some(utc("2026-12-01T09:30:00Z"))));
        assert!(InAppNotification { read_at: Some(utc("2026-12-01T10:00:00Z")), ..n }.is_read(None));
    }

    #[test]
    fn event_names_are_the_wire_names() {
        for e in EventType::ALL {
            assert_eq!(serde_json::to_value(e).unwrap(), serde_json::json!(e.name()));
            assert_eq!(EventType::named(e.name()), Some(e));
        }
    }

    #[test]
    fn a_choice_stored_by_another_version_is_ignored_not_an_error() {
        let stored: NotificationPreferences = serde_json::from_str(
            r#"{"email": true, "push": true, "dailyDigest": false, "quietHours": null,
                "events": {"birthday": {"inApp": true, "email": true, "push": true},
                           "completed": {"inApp": true, "email": true, "push": false},
                           "overdue": {"sms": true}}}"#,
        )
        .unwrap();
        assert_eq!(stored.events.len(), 1);
        assert!(stored.channels(EventType::Completed).email);
        assert!(stored.channels(EventType::Overdue).email, "an unreadable choice falls back to the default");
    }

    #[test]
    fn a_member_can_opt_into_completion_alerts_and_out_of_reminder_email() {
        let mut p = NotificationPreferences::default();
        p.events.insert(EventType::Completed, Channels { in_app: true, email: true, push: false });
        p.events.insert(EventType::Reminder, Channels { in_app: true, email: false, push: false });
        assert!(p.channels(EventType::Completed).email);
        assert!(!p.channels(EventType::Reminder).email);
        p.email = false;
        assert!(!p.channels(EventType::Completed).email, "the switch turns all email off");
    }

    #[test]
    fn a_reminder_at_23_00_in_berlin_reaches_the_app_at_once_and_email_at_07_00_local() {
        let at = utc("2026-12-01T22:00:00Z"); // 23:00 in Berlin
        let d = quiet_nights().deliveries(EventType::Reminder, at, berlin());
        assert_eq!(
            d,
            vec![
                Delivery { channel: Channel::InApp, at },
                Delivery { channel: Channel::Email, at: utc("2026-12-02T06:00:00Z") },
            ]
        );
    }

    #[test]
    fn the_digest_collects_reminders_for_the_next_morning_but_not_news_that_cannot_wait() {
        let p = NotificationPreferences { daily_digest: true, ..quiet_nights() };
        let evening = utc("2026-12-01T17:00:00Z"); // 18:00 in Berlin
        let d = p.deliveries(EventType::Overdue, evening, berlin());
        assert_eq!(d[1], Delivery { channel: Channel::Digest, at: utc("2026-12-02T06:00:00Z") });
        let early = utc("2026-12-02T05:30:00Z"); // 06:30: quiet, and before today's digest
        assert_eq!(p.next_digest(early, berlin()), utc("2026-12-02T06:00:00Z"));
        let d = p.deliveries(EventType::Escalation, evening, berlin());
        assert_eq!(d[1], Delivery { channel: Channel::Email, at: evening });
    }

    #[test]
    fn a_late_quiet_end_holds_the_digest_too() {
        let mut p = NotificationPreferences { daily_digest: true, ..Default::default() };
        p.quiet_hours = Some(QuietHours {
            start: NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(9, 30, 0).unwrap(),
        });
        let d = p.deliveries(EventType::Reminder, utc("2026-12-01T12:00:00Z"), Tz::UTC);
        assert_eq!(d[1].at, utc("2026-12-02T09:30:00Z"));
        // At 08:00 today's digest has not gone out yet: it goes at 09:30 today.
        let d = p.deliveries(EventType::Reminder, utc("2026-12-01T08:00:00Z"), Tz::UTC);
        assert_eq!(d[1].at, utc("2026-12-01T09:30:00Z"));
    }
}
