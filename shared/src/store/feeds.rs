//! Calendar feeds: a secret token per member and household that calendar apps poll.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Expr, Store, StoreError, Tx, key, keys, to_item};
use crate::domain::audit::AuditEntry;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Feed {
    pub token: String,
    pub household_id: String,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
}

/// 160 random bits in Crockford base32 (32 characters): the token is the only credential.
pub fn new_token() -> String {
    let alphabet = b"0123456789abcdefghjkmnpqrstvwxyz";
    let bits = [ulid::Ulid::new().random(), ulid::Ulid::new().random()];
    bits.iter().flat_map(|b| (0..16).map(move |i| alphabet[((b >> (i * 5)) & 31) as usize] as char)).collect()
}

impl Store {
    pub async fn get_feed(&self, token: &str) -> Result<Option<Feed>, StoreError> {
        self.get_as(keys::feed(token), keys::META).await
    }

    /// The member's current feed, if they have one.
    pub async fn feed_of(&self, household_id: &str, user_id: &str) -> Result<Option<Feed>, StoreError> {
        self.get_as(keys::household(household_id), keys::feed_of(user_id)).await
    }

    /// Replaces the member's feed with `feed`: the old URL stops working at once.
    pub async fn rotate_feed(&self, feed: &Feed, old: Option<&Feed>, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = Tx::new(self);
        if let Some(old) = old {
            tx.delete(key(keys::feed(&old.token), keys::META), None);
        }
        tx.put_new(to_item(keys::feed(&feed.token), keys::META.into(), feed)?);
        tx.put(to_item(keys::household(&feed.household_id), keys::feed_of(&feed.user_id), feed)?, None);
        tx.check(
            key(keys::household(&feed.household_id), keys::META),
            Expr::new("#status = :active").name("#status", "status").value(":active", super::s("active")),
        );
        tx.audit(keys::household(&feed.household_id), audit)?;
        tx.commit(self, None).await
    }

    pub async fn revoke_feed(&self, feed: &Feed, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = Tx::new(self);
        tx.delete(key(keys::feed(&feed.token), keys::META), None);
        tx.delete(key(keys::household(&feed.household_id), keys::feed_of(&feed.user_id)), None);
        tx.audit(keys::household(&feed.household_id), audit)?;
        tx.commit(self, None).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = super::new_token();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, super::new_token());
    }
}
