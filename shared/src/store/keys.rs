//! Every key format of the single table, in one place. Nothing else builds a key string.
//!
//! | item                      | PK                 | SK                       | GSI1PK             | GSI1SK                      |
//! |---------------------------|--------------------|--------------------------|--------------------|-----------------------------|
//! | user profile              | `USER#<sub>`       | `PROFILE`                |                    |                             |
//! | membership (user side)    | `USER#<sub>`       | `HOUSEHOLD#<hid>`        |                    |                             |
//! | household                 | `HOUSEHOLD#<hid>`  | `META`                   |                    |                             |
//! | member                    | `HOUSEHOLD#<hid>`  | `MEMBER#<sub>`           |                    |                             |
//! | invite                    | `INVITE#<code>`    | `META`                   | `HOUSEHOLD#<hid>`  | `INVITE#<createdAt>#<code>` |
//! | audit entry               | `HOUSEHOLD#<hid>` or `USER#<sub>` | `AUDIT#<at>#<id>` |              |                             |
//! | task                      | `HOUSEHOLD#<hid>`  | `TASK#<tid>`             | `HOUSEHOLD#<hid>`  | `TASK#<STATE>#<nextDue>#<tid>` |
//! | completion / skip         | `HOUSEHOLD#<hid>`  | `DONE#<at>#<id>`         |                    |                             |
//! | idempotency record        | `IDEMP#<sub>#<key>`| `META`                   |                    |                             |
//! | calendar feed             | `FEED#<sha256(token)>` | `META`               |                    |                             |
//! | a member's feed token     | `HOUSEHOLD#<hid>`  | `FEEDOF#<sub>`           |                    |                             |
//! | rate-limit window         | `USER#<sub>`       | `RATE#<action>#<start>`  |                    |                             |
//!
//! "My chores" is GSI1's active range filtered on the task's `assignedTo` list (pools
//! included). GSI2 (`GSI2PK`, `GSI2SK`) is written by no item today: it is kept for the
//! time-bucketed reminder index.

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

/// A per-user counter of one rate-limited action in one fixed window (under `USER#<sub>`;
/// TTL `expiresAtEpoch`).
pub fn rate_window(action: &str, window_start_epoch: i64) -> String {
    format!("RATE#{action}#{window_start_epoch}")
}

pub fn idempotency(user_id: &str, key: &str) -> String {
    format!("IDEMP#{user_id}#{key}")
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
}
