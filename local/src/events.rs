//! The world `events/*.json` describe: Ana's household (one member, Ben, and open invites)
//! with one chore. The events test and the cold-start benchmark both seed it.

use chrono::{DateTime, Utc};
use shared::auth::Role;
use shared::domain::audit::AuditEntry;
use shared::domain::household::{Member, NewHousehold};
use shared::domain::invite::Invite;
use shared::domain::task::{HouseholdContext, RosterEntry, TaskInput};
use shared::store::Store;

/// Ana, the owner, who calls most events.
pub const OWNER: &str = "5f0c6b2e-4a1d-4c8e-9b7a-1e2d3c4b5a69";
/// Ben, a member.
pub const MEMBER: &str = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
pub const HOUSEHOLD: &str = "01JD3N7Y2K5V8T4R6W9Q1M0ZXB";
pub const TASK: &str = "01JD3P0A7F2K9M4R6T8V1X3Z5B";
/// The completion id in the completion events; a caller puts in the real one.
pub const EXAMPLE_COMPLETION: &str = "01JD3Q5V8C2M6R9T3W7Y1A4D6F";
/// Likewise the webhook and delivery ids in the webhook events.
pub const EXAMPLE_WEBHOOK: &str = "01JD3R2W8B4N6Q9S1V3X5Z7C9E";
pub const EXAMPLE_DELIVERY: &str = "01JD3R3Y5A7C9E1G3J5K7M9P1R";
/// The receiver in events/CreateWebhookFunction.json, and where the local runs of the
/// events send instead: a port on this machine that refuses (no request leaves it).
pub const EXAMPLE_WEBHOOK_URL: &str = "https://hooks.example.com/chore-garden";
pub const LOCAL_WEBHOOK_URL: &str = "http://127.0.0.1:9/chore-garden";
/// The in-app notification events/MarkNotificationReadFunction.json marks read: the one
/// events/NotificationWorkerFunction.json stores for Ana.
pub const EXAMPLE_NOTIFICATION: &str = "01M8693800QA2KCWGHE6JP4RD0";
/// Likewise the export id in the export events.
pub const EXAMPLE_EXPORT: &str = "01JD3T5B7D9F1H3K5M7P9R1T3V";
/// Likewise the photo id in the photo events.
/// The API key id and the key itself in the API-key events; a caller puts in real ones.
pub const EXAMPLE_API_KEY_ID: &str = "01JD3S4T6V8X0Z2B4D6F8H0K2M";
pub const EXAMPLE_API_KEY: &str = "cgk_7hq2xk0pm3w8r1c5t9v2b6n4j0f8d2s6";
pub const EXAMPLE_PHOTO: &str = "01JD3V6C8E0G2J4L6N8Q0S2U4W";
/// Likewise the token in events/CalendarFeedFunction.json.
pub const EXAMPLE_FEED_TOKEN: &str = "examplefeedtoken0000000000000000";

/// `events/<LogicalId>.json`: one realistic event per function.
pub fn event_file(function: &str) -> std::path::PathBuf {
    crate::template::workspace_root().join("events").join(format!("{function}.json"))
}

fn invite(code: &str, now: DateTime<Utc>) -> Invite {
    Invite {
        code: code.into(),
        household_id: HOUSEHOLD.into(),
        role: Role::Member,
        created_by: OWNER.into(),
        created_at: now,
        expires_at: now + chrono::Duration::days(365 * 20),
        max_uses: 1,
        uses: 0,
        revoked: false,
    }
}

/// Seeds the world at `now`: the household with Ana (owner) and Ben (member), two open
/// invites (`GARDEN2345`, `QRSTVW2345`) and the weekly chore "Recycling" (approval required,
/// two subtasks).
pub async fn seed(store: &Store, now: DateTime<Utc>) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Debug| format!("seeding the events' world: {e:?}");
    let audit = || AuditEntry::new(OWNER, "test.setup", "setup".into(), "events-test", now);
    let new: NewHousehold =
        serde_json::from_value(serde_json::json!({ "name": "Events", "timezone": "Europe/Berlin" }))
            .map_err(|x| e(&x))?;
    let (mut household, mut owner) = new.create(OWNER, "Ana", "UTC", now).map_err(|x| e(&x))?;
    household.household_id = HOUSEHOLD.into();
    owner.household_id = HOUSEHOLD.into();
    store.create_household(&household, &owner, &audit(), None).await.map_err(|x| e(&x))?;
    let member = Member { user_id: MEMBER.into(), display_name: "Ben".into(), role: Role::Member, ..owner.clone() };
    let seat = invite("MEMBERS234", now);
    store.create_invite(&seat, &audit(), None).await.map_err(|x| e(&x))?;
    store.accept_invite(&seat, &member, 50, &audit(), None).await.map_err(|x| e(&x))?.map_err(|x| e(&x))?;
    store.create_invite(&invite("GARDEN2345", now), &audit(), None).await.map_err(|x| e(&x))?;
    store.create_invite(&invite("QRSTVW2345", now), &audit(), None).await.map_err(|x| e(&x))?;
    let members = [RosterEntry::new(OWNER), RosterEntry::new(MEMBER)];
    let ctx = HouseholdContext { household_id: HOUSEHOLD, timezone: "Europe/Berlin", roster: &members };
    let input: TaskInput = serde_json::from_value(
        serde_json::json!({ "title": "Recycling", "startDate": "2026-11-24", "recurrence": { "type": "interval", "every": 1, "unit": "weeks" }, "requiresApproval": true, "subtasks": ["Paper", "Glass"] }),
    )
    .map_err(|x| e(&x))?;
    let mut task = input.create(&ctx, OWNER, now).map_err(|x| e(&x))?;
    task.task_id = TASK.into();
    store.create_task(&task, &audit(), None, None, now).await.map_err(|x| e(&x))?.map_err(|x| e(&x))?;
    Ok(())
}
