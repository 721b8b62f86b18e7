//! Calendar feeds: a secret token per member and household that calendar apps poll.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Expr, Item, Store, StoreError, Tx, key, keys, to_item};
use crate::domain::audit::AuditEntry;

/// A member's calendar feed as stored: the token's hash, never the token. The URL is shown
/// once, when the feed is made; the table, its stream and its backups cannot give it back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Feed {
    pub token_hash: String,
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

/// What the table keeps of a token. A plain hash is enough: the token has 160 random bits,
/// so there is nothing to guess that a slow hash would protect.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The feed's own item (found by the hash) and the member's pointer to it.
fn feed_items(feed: &Feed) -> Result<(Item, Item), StoreError> {
    Ok((
        to_item(keys::feed(&feed.token_hash), keys::META.into(), feed)?,
        to_item(keys::household(&feed.household_id), keys::feed_of(&feed.user_id), feed)?,
    ))
}

impl Store {
    /// The feed a calendar app asks for with `token`.
    pub async fn get_feed(&self, token: &str) -> Result<Option<Feed>, StoreError> {
        self.get_as(keys::feed(&token_hash(token)), keys::META).await
    }

    /// The member's current feed, if they have one.
    pub async fn feed_of(&self, household_id: &str, user_id: &str) -> Result<Option<Feed>, StoreError> {
        self.get_as(keys::household(household_id), keys::feed_of(user_id)).await
    }

    /// Replaces the member's feed `old` (as read) with `feed`: the old URL stops working at
    /// once. Guarded by `old`, so of two concurrent rotations one fails and exactly one URL
    /// stays live (`ConditionFailed`).
    pub async fn rotate_feed(&self, feed: &Feed, old: Option<&Feed>, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = Tx::new(self);
        let (own, pointer) = feed_items(feed)?;
        let unchanged = match old {
            Some(old) => {
                tx.delete(key(keys::feed(&old.token_hash), keys::META), Some(exists()));
                Expr::new("#hash = :old").name("#hash", "tokenHash").value(":old", super::s(old.token_hash.as_str()))
            }
            None => Expr::new("attribute_not_exists(#pk)").name("#pk", keys::PK),
        };
        tx.put_new(own);
        tx.put(pointer, Some(unchanged));
        tx.check(
            key(keys::household(&feed.household_id), keys::META),
            Expr::new("#status = :active").name("#status", "status").value(":active", super::s("active")),
        );
        // Still a member: a removal that commits first leaves no feed behind.
        tx.check(key(keys::household(&feed.household_id), keys::member(&feed.user_id)), exists());
        tx.audit(keys::household(&feed.household_id), audit)?;
        tx.commit(self, None)
            .await
            .map_err(|e| if e.failed_condition().is_some() { StoreError::ConditionFailed } else { e })
    }

    pub async fn revoke_feed(&self, feed: &Feed, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = Tx::new(self);
        self.delete_feed(&mut tx, feed);
        tx.audit(keys::household(&feed.household_id), audit)?;
        tx.commit(self, None).await
    }

    /// Adds the deletion of `feed` (both items) to a transaction: revoking, and a member
    /// leaving or being removed. The pointer must still name it: a rotation that committed
    /// meanwhile fails the transaction rather than leaving its new feed orphaned.
    pub(crate) fn delete_feed(&self, tx: &mut Tx, feed: &Feed) {
        tx.delete(key(keys::feed(&feed.token_hash), keys::META), None);
        tx.delete(
            key(keys::household(&feed.household_id), keys::feed_of(&feed.user_id)),
            Some(
                Expr::new("#hash = :read")
                    .name("#hash", "tokenHash")
                    .value(":read", super::s(feed.token_hash.as_str())),
            ),
        );
    }

    /// For a member removal that read no feed: a rotation must not slip in between.
    pub(crate) fn no_feed(&self, tx: &mut Tx, household_id: &str, user_id: &str) {
        tx.check(
            key(keys::household(household_id), keys::feed_of(user_id)),
            Expr::new("attribute_not_exists(#pk)").name("#pk", keys::PK),
        );
    }
}

fn exists() -> Expr {
    Expr::new("attribute_exists(#pk)").name("#pk", keys::PK)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stored_hash_is_sha256_of_the_token() {
        // sha256("abc"), from FIPS 180-2's test vectors.
        assert_eq!(super::token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = super::new_token();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, super::new_token());
    }
}
