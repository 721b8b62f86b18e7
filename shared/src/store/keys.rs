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

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
/// Epoch seconds after which DynamoDB TTL may delete the item (reads still filter).
pub const TTL: &str = "expiresAtEpoch";

pub const PROFILE: &str = "PROFILE";
pub const META: &str = "META";
pub const HOUSEHOLD_PREFIX: &str = "HOUSEHOLD#";
pub const MEMBER_PREFIX: &str = "MEMBER#";
pub const INVITE_PREFIX: &str = "INVITE#";
pub const AUDIT_PREFIX: &str = "AUDIT#";

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
