//! Every key format of the single table, in one place. Nothing else builds a key string.
//!
//! | item                      | PK                 | SK                       | GSI1PK             | GSI1SK                      |
//! |---------------------------|--------------------|--------------------------|--------------------|-----------------------------|
//! | user profile              | `USER#<sub>`       | `PROFILE`                |                    |                             |
//! | membership (user side)    | `USER#<sub>`       | `HOUSEHOLD#<hid>`        |                    |                             |
//! | a household they left     | `USER#<sub>`       | `LEFT#<hid>`             |                    |                             |
//! | household                 | `HOUSEHOLD#<hid>`  | `META`                   |                    |                             |
//! | member                    | `HOUSEHOLD#<hid>`  | `MEMBER#<sub>`           |                    |                             |
//! | invite                    | `INVITE#<code>`    | `META`                   | `HOUSEHOLD#<hid>`  | `INVITE#<createdAt>#<code>` |
//! | audit entry               | `HOUSEHOLD#<hid>` or `USER#<sub>` | `AUDIT#<at>#<id>` |              |                             |
//! | task                      | `HOUSEHOLD#<hid>`  | `TASK#<tid>`             | `HOUSEHOLD#<hid>`  | `TASK#<STATE>#<nextDue>#<tid>` |
//! | completion / skip         | `HOUSEHOLD#<hid>`  | `DONE#<at>#<id>`         |                    |                             |
//! | idempotency record        | `USER#<sub>`       | `IDEMP#<key>`            |                    |                             |
//! | calendar feed             | `FEED#<sha256(token)>` | `META`               |                    |                             |
//! | a member's feed token     | `HOUSEHOLD#<hid>`  | `FEEDOF#<sub>`           |                    |                             |
//! | rate-limit window         | `USER#<sub>`       | `RATE#<action>#<start>`  |                    |                             |
//! | a chore's next reminder   | `HOUSEHOLD#<hid>`  | `REMINDER#<tid>`         | GSI2PK `REMIND#<hour>#<shard>` | GSI2SK `<remindAt>#<hid>#<tid>` |
//! | reminder dispatch checkpoint | `DISPATCH`      | `REMINDERS`              |                    |                             |
//! | deferred notification     | `HOUSEHOLD#<hid>`  | `DEFER#<key>`            | GSI2PK `REMIND#<hour>#<shard>` | GSI2SK `<releaseAt>#<hid>#DEFER#<key>` |
//! | in-app notification       | `USER#<sub>`       | `NOTIF#<ulid>`           |                    |                             |
//! | "all read up to" mark     | `USER#<sub>`       | `NOTIFREAD`              |                    |                             |
//! | delivery record (dedupe)  | `USER#<sub>`       | `SENT#<channel>#<key>`   |                    |                             |
//! | daily digest line         | `USER#<sub>`       | `DIGEST#<ulid>`          |                    |                             |
//! | a member's digest, due    | `USER#<sub>`       | `DEFER#digest#<sub>#<sendAt>` | GSI2PK `REMIND#<hour>#<shard>` | GSI2SK `<releaseAt>#<hid>#DEFER#…` |
//! | webhook                   | `HOUSEHOLD#<hid>`  | `WEBHOOK#<wid>`          |                    |                             |
//! | export                    | `HOUSEHOLD#<hid>`  | `EXPORT#<eid>`           |                    |                             |
//! | the running export (lock) | `HOUSEHOLD#<hid>` or `USER#<sub>` | `EXPORTRUNNING[#<sub>]` |        |                             |
//! | exports started on a day  | `HOUSEHOLD#<hid>` or `USER#<sub>` | `EXPORTDAY#<yyyy-mm-dd>[#<sub>]` |  |                             |
//! | proof photo               | `HOUSEHOLD#<hid>`  | `PHOTO#<pid>`            |                    |                             |
//! | webhook delivery (log)    | `HOUSEHOLD#<hid>`  | `WHDELIVERY#<wid>#<did>` |                    |                             |
//! | suppressed email address  | `MAILSUPPRESS#<sha256(address)>` | `META`     |                    |                             |
//!
//! "My chores" is GSI1's active range filtered on the task's `assignedTo` list (pools
//! included). GSI2 is the reminder index: sparse (only pending reminder items carry its
//! keys), one partition per hour and shard, so the dispatcher Queries the hours it owes
//! and one hot hour spreads over [`REMINDER_SHARDS`] partitions.

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
/// Epoch seconds after which DynamoDB TTL may delete the item (reads still filter).
pub const TTL: &str = "expiresAtEpoch";

pub const PROFILE: &str = "PROFILE";
pub const META: &str = "META";
pub const HOUSEHOLD_PREFIX: &str = "HOUSEHOLD#";
pub const MEMBER_PREFIX: &str = "MEMBER#";
pub const INVITE_PREFIX: &str = "INVITE#";
pub const AUDIT_PREFIX: &str = "AUDIT#";
pub const TASK_PREFIX: &str = "TASK#";
pub const DONE_PREFIX: &str = "DONE#";
/// Sorts after every RFC 3339 time: the index position of a chore with no due date.
pub const NO_DUE: &str = "9999";
/// Member attributes holding the effort completed in one ISO week: `effort_2026-W47`.
pub const EFFORT_PREFIX: &str = "effort_";

pub fn effort_attribute(week: &str) -> String {
    format!("{EFFORT_PREFIX}{week}")
}

pub fn user(user_id: &str) -> String {
    format!("USER#{user_id}")
}

pub fn household(household_id: &str) -> String {
    format!("{HOUSEHOLD_PREFIX}{household_id}")
}

pub fn member(user_id: &str) -> String {
    format!("{MEMBER_PREFIX}{user_id}")
}

pub fn invite(code: &str) -> String {
    format!("{INVITE_PREFIX}{code}")
}

pub fn invite_by_household(created_at: &str, code: &str) -> String {
    format!("{INVITE_PREFIX}{created_at}#{code}")
}

pub fn audit(at: &str, id: &str) -> String {
    format!("{AUDIT_PREFIX}{at}#{id}")
}

pub fn task(task_id: &str) -> String {
    format!("{TASK_PREFIX}{task_id}")
}

/// A chore's position in the household's task index: by state, then due time.
pub fn task_by_state(state: &str, next_due: Option<&str>, task_id: &str) -> String {
    format!("{TASK_PREFIX}{state}#{}#{task_id}", next_due.unwrap_or(NO_DUE))
}

/// The start of a state's range in the task index (`TASK#ACTIVE#`).
pub fn task_state_prefix(state: &str) -> String {
    format!("{TASK_PREFIX}{state}#")
}

pub fn completion(at: &str, id: &str) -> String {
    format!("{DONE_PREFIX}{at}#{id}")
}

/// A completion's sort key from its id alone: completion ids are ULIDs made from the
/// completion time, so the id says where the record is.
pub fn completion_of_id(id: &str) -> Option<String> {
    let ulid: ulid::Ulid = id.parse().ok()?;
    let at: chrono::DateTime<chrono::Utc> = ulid.datetime().into();
    Some(completion(&crate::platform::clock::rfc3339(at), &ulid.to_string()))
}

/// A calendar feed, found by the SHA-256 of its secret token (the feed URL needs no
/// login); the token itself is never stored.
pub fn feed(token_hash: &str) -> String {
    format!("FEED#{token_hash}")
}

pub const FEED_OF_PREFIX: &str = "FEEDOF#";

/// Which feed token a member has, under the household.
pub fn feed_of(user_id: &str) -> String {
    format!("{FEED_OF_PREFIX}{user_id}")
}

pub const API_KEY_PREFIX: &str = "APIKEY#";

/// A household API key's record, under the household.
pub fn api_key(key_id: &str) -> String {
    format!("{API_KEY_PREFIX}{key_id}")
}

/// How many of a household's API keys are not revoked (under the household; `count`).
pub const API_KEY_COUNT: &str = "APIKEYS";

/// A household API key, found by the SHA-256 of the key (what the authorizer reads); the key
/// itself is never stored.
pub fn api_key_by_hash(key_hash: &str) -> String {
    format!("KEYHASH#{key_hash}")
}

/// A per-user counter of one rate-limited action in one fixed window (under `USER#<sub>`;
/// TTL `expiresAtEpoch`).
pub fn rate_window(action: &str, window_start_epoch: i64) -> String {
    format!("RATE#{action}#{window_start_epoch}")
}

pub const REMINDER_PREFIX: &str = "REMINDER#";
pub const NOTIFICATION_PREFIX: &str = "NOTIF#";
/// A member's "all read up to" mark for their in-app notifications.
pub const NOTIFICATIONS_READ: &str = "NOTIFREAD";

pub fn notification(notification_id: &str) -> String {
    format!("{NOTIFICATION_PREFIX}{notification_id}")
}

pub const DELIVERY_PREFIX: &str = "SENT#";

/// The record that one notification (`key`) went out on `channel` to the member whose
/// partition holds it: a redelivered message finds it and sends nothing again.
pub fn delivery(channel: &str, key: &str) -> String {
    format!("{DELIVERY_PREFIX}{channel}#{key}")
}

pub const DIGEST_PREFIX: &str = "DIGEST#";

/// One notification collected for a member's daily digest (by its id for them).
pub fn digest_line(line_id: &str) -> String {
    format!("{DIGEST_PREFIX}{line_id}")
}

/// An address SES reported a permanent bounce or a complaint for, by the SHA-256 of its
/// lowercased form (the table holds no addresses).
pub fn mail_suppression(address_hash: &str) -> String {
    format!("MAILSUPPRESS#{address_hash}")
}

pub const EXPORT_PREFIX: &str = "EXPORT#";

/// The one running export of a household (or of one member's own exports in it): a lock
/// item naming it.
pub fn export_running(member: Option<&str>) -> String {
    match member {
        Some(m) => format!("EXPORTRUNNING#{m}"),
        None => "EXPORTRUNNING".to_string(),
    }
}

pub fn export(export_id: &str) -> String {
    format!("{EXPORT_PREFIX}{export_id}")
}

/// The counter of exports a household (or one member, of their own) started on `date`
/// (UTC, `YYYY-MM-DD`).
pub fn export_day(date: &str, member: Option<&str>) -> String {
    match member {
        Some(m) => format!("EXPORTDAY#{date}#{m}"),
        None => format!("EXPORTDAY#{date}"),
    }
}

pub const PHOTO_PREFIX: &str = "PHOTO#";

/// A proof photo's record, under its household.
pub fn photo(photo_id: &str) -> String {
    format!("{PHOTO_PREFIX}{photo_id}")
}

pub const WEBHOOK_PREFIX: &str = "WEBHOOK#";

pub fn webhook(webhook_id: &str) -> String {
    format!("{WEBHOOK_PREFIX}{webhook_id}")
}

/// A delivery of webhook `webhook_id` (with an empty `delivery_id`: the prefix of them all).
pub fn webhook_delivery(webhook_id: &str, delivery_id: &str) -> String {
    format!("WHDELIVERY#{webhook_id}#{delivery_id}")
}

pub const DEFERRED_PREFIX: &str = "DEFER#";

/// A notification message quiet hours hold back longer than SQS can delay it, under the
/// household, in the reminder index at its release time.
pub fn deferred(key: &str) -> String {
    format!("{DEFERRED_PREFIX}{key}")
}

/// The reminder dispatcher's checkpoint (one item: `PK = DISPATCH`, `SK = REMINDERS`).
pub const DISPATCH: &str = "DISPATCH";
pub const DISPATCH_REMINDERS: &str = "REMINDERS";
/// Partitions per hour of the reminder index.
pub const REMINDER_SHARDS: u32 = 8;

/// A chore's one pending reminder item (its next step), under the household.
pub fn reminder(task_id: &str) -> String {
    format!("{REMINDER_PREFIX}{task_id}")
}

/// The reminder index partition a writer whose clock says `now` puts a reminder at `at`
/// in: the hour of `at`, or of `now` if that is later, so a missed step never lands behind
/// the dispatcher's checkpoint (see `domain::reminder::bucket_hour`).
pub fn reminder_bucket(at: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>, shard: u32) -> String {
    reminder_bucket_of_hour(crate::domain::reminder::bucket_hour(at, now), shard)
}

/// The reminder index partition of one hour (its start) and shard, as the dispatcher
/// queries it.
pub fn reminder_bucket_of_hour(hour: chrono::DateTime<chrono::Utc>, shard: u32) -> String {
    format!("REMIND#{}#{shard}", hour.format("%Y-%m-%dT%H"))
}

/// A reminder's place in its bucket: by time, so a Query takes what is due up to now.
pub fn reminder_at(at: chrono::DateTime<chrono::Utc>, household_id: &str, task_id: &str) -> String {
    format!("{}#{household_id}#{task_id}", crate::platform::clock::rfc3339(at))
}

/// The upper bound of a bucket Query for everything due at or before `at`.
pub fn reminder_due_by(at: chrono::DateTime<chrono::Utc>) -> String {
    // '$' sorts after '#', so every `<at>#…` key of that millisecond is included.
    format!("{}$", crate::platform::clock::rfc3339(at))
}

/// The shard of a chore's reminders: stable across builds and processes (FNV-1a, not
/// the standard library's seeded hasher). From the hash's high bits: FNV's low bits mix
/// poorly (modulo 8 they depend only on each byte's low bits).
pub fn reminder_shard(task_id: &str) -> u32 {
    let hash =
        task_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (((hash >> 32) * u64::from(REMINDER_SHARDS)) >> 32) as u32
}

pub const IDEMPOTENCY_PREFIX: &str = "IDEMP#";

/// A request's idempotency record, under its caller (`USER#<sub>`): erasing a user finds
/// them with the rest of their partition.
pub fn idempotency(key: &str) -> String {
    format!("{IDEMPOTENCY_PREFIX}{key}")
}

pub const LEFT_PREFIX: &str = "LEFT#";

/// A household the user left (or was removed from): its history still names them, so
/// erasing them must find it.
pub fn left_household(household_id: &str) -> String {
    format!("{LEFT_PREFIX}{household_id}")
}

/// The household id in a user-side membership sort key.
pub fn household_id_of(sort_key: &str) -> Option<&str> {
    sort_key.strip_prefix(HOUSEHOLD_PREFIX)
}

/// The user id in a member sort key.
pub fn user_id_of_member(sort_key: &str) -> Option<&str> {
    sort_key.strip_prefix(MEMBER_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        assert_eq!(household_id_of(&household("h1")), Some("h1"));
        assert_eq!(user_id_of_member(&member("u1")), Some("u1"));
        assert_eq!(user("u1"), "USER#u1");
        assert_eq!(audit("2026-01-01T00:00:00.000Z", "x"), "AUDIT#2026-01-01T00:00:00.000Z#x");
        assert!(invite_by_household("t", "C").starts_with(INVITE_PREFIX));
    }

    #[test]
    fn reminder_keys_bucket_by_hour_and_sort_by_time() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-01T18:30:00Z").unwrap().to_utc();
        assert_eq!(reminder_bucket(at, at, 3), "REMIND#2026-12-01T18#3");
        let later = at + chrono::Duration::hours(2);
        assert_eq!(
            reminder_bucket(at, later, 3),
            "REMIND#2026-12-01T20#3",
            "a missed step goes into the writer's hour"
        );
        let key = reminder_at(at, "H", "T");
        assert_eq!(key, "2026-12-01T18:30:00.000Z#H#T");
        assert!(key.as_str() <= reminder_due_by(at).as_str());
        let a_millisecond_before = at - chrono::Duration::milliseconds(1);
        assert!(key.as_str() > reminder_due_by(a_millisecond_before).as_str());
    }

    #[test]
    fn reminder_shards_are_stable_and_spread() {
        // A shard must never move between builds, or pending reminders would sit in
        // partitions nobody queries: FNV-1a's published vectors, "a" = 0xaf63dc4c8601ec8c
        // and "foobar" = 0x85944171f73967e8, by their top three bits (0b101, 0b100).
        assert_eq!(reminder_shard("a"), 5);
        assert_eq!(reminder_shard("foobar"), 4);
        let mut counts = [0u32; REMINDER_SHARDS as usize];
        for i in 0..8000u32 {
            let id = ulid::Ulid::from_parts(1_764_000_000_000 + u64::from(i), u128::from(i) * 7919).to_string();
            counts[reminder_shard(&id) as usize] += 1;
        }
        assert!(counts.iter().all(|c| (800..1200).contains(c)), "{counts:?}");
    }
}
