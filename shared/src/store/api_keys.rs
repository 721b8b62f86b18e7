//! Household API keys: the record under the household (listed, revoked) and the lookup item
//! the authorizer finds by the key's hash. Both change together.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::{Expr, Item, PageKey, Store, StoreError, Tx, classify, from_item, key, keys, n, s, to_item};
use crate::domain::api_key::{ApiKey, Scope};
use crate::domain::audit::AuditEntry;

/// The API Gateway API key that carries a household key's usage plan: its id (to delete it)
/// and its value (the authorizer's usage identifier).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageKey {
    pub id: String,
    pub value: String,
}

/// What the authorizer reads, in one item: enough to decide and to pass on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyLookup {
    pub household_id: String,
    pub key_id: String,
    pub scopes: Vec<Scope>,
    /// Removed once the key is revoked.
    #[serde(default)]
    pub created_by: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    pub usage_key: UsageKey,
}

/// What creating a key came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCreate {
    Created,
    LimitReached,
}

/// The count item's attribute.
const COUNT: &str = "count";

/// The record's extra attributes, which the API never shows.
const USAGE_KEY_ID: &str = "usageKeyId";
const USAGE_KEY_VALUE: &str = "usageKeyValue";
const KEY_HASH: &str = "keyHash";
/// A revoked key's lookup item stays this long (the authorizer then says "revoked", not
/// "unknown"), then its TTL removes it.
const REVOKED_KEPT_DAYS: i64 = 30;

/// The item exists and is not revoked (an unrevoked key stores `revokedAt` as null).
const NOT_REVOKED: &str =
    "attribute_exists(#pk) AND (attribute_not_exists(#revoked) OR attribute_type(#revoked, :null))";

fn record_key(household_id: &str, key_id: &str) -> Item {
    key(keys::household(household_id), keys::api_key(key_id))
}

impl Store {
    /// How many of the household's keys are not revoked.
    pub async fn api_key_count(&self, household_id: &str) -> Result<u32, StoreError> {
        let item = self.get(keys::household(household_id), keys::API_KEY_COUNT).await?;
        Ok(item.and_then(|i| i.get(COUNT)?.as_n().ok()?.parse().ok()).unwrap_or(0))
    }

    /// Stores a new key: the household's count (below `max`, or [`KeyCreate::LimitReached`]),
    /// its record, its lookup item and the audit entry, at once.
    pub async fn create_api_key(
        &self,
        api_key: &ApiKey,
        key_hash: &str,
        usage_key: &UsageKey,
        max: u32,
        audit: &AuditEntry,
    ) -> Result<KeyCreate, StoreError> {
        let mut record = to_item(keys::household(&api_key.household_id), keys::api_key(&api_key.key_id), api_key)?;
        record.insert(USAGE_KEY_ID.into(), s(&usage_key.id));
        record.insert(USAGE_KEY_VALUE.into(), s(&usage_key.value));
        record.insert(KEY_HASH.into(), s(key_hash));
        let lookup = KeyLookup {
            household_id: api_key.household_id.clone(),
            key_id: api_key.key_id.clone(),
            scopes: api_key.scopes.clone(),
            created_by: api_key.created_by.clone(),
            expires_at: api_key.expires_at,
            revoked_at: None,
            usage_key: usage_key.clone(),
        };
        let mut tx = Tx::new(self);
        // First: a failed condition at 0 is the limit; two creates at once cannot both pass it.
        tx.update(
            key(keys::household(&api_key.household_id), keys::API_KEY_COUNT),
            Expr::new("ADD #n :one").name("#n", COUNT).value(":one", n(1)),
            Some(Expr::new("attribute_not_exists(#n) OR #n < :max").name("#n", COUNT).value(":max", n(max))),
        );
        tx.put_new(record);
        tx.put_new(to_item(keys::api_key_by_hash(key_hash), keys::META.into(), &lookup)?);
        tx.audit(keys::household(&api_key.household_id), audit)?;
        match tx.commit(self, None).await {
            Ok(()) => Ok(KeyCreate::Created),
            Err(e) if e.failed_condition() == Some(0) => Ok(KeyCreate::LimitReached),
            Err(e) => Err(e.any_condition_failed()),
        }
    }

    /// One page of the household's keys, revoked ones included (oldest first).
    pub async fn list_api_keys(
        &self,
        household_id: &str,
        limit: i32,
        start: Option<PageKey>,
    ) -> Result<(Vec<ApiKey>, Option<PageKey>), StoreError> {
        let (items, next) = self
            .query_prefix(super::PrefixQuery {
                index: None,
                partition: (keys::PK, keys::household(household_id)),
                sort_prefix: (keys::SK, keys::API_KEY_PREFIX),
                limit,
                start,
            })
            .await?;
        Ok((items.into_iter().map(from_item).collect::<Result<_, _>>()?, next))
    }

    /// A key's record with its hash and usage key.
    pub async fn api_key(
        &self,
        household_id: &str,
        key_id: &str,
    ) -> Result<Option<(ApiKey, String, UsageKey)>, StoreError> {
        let Some(mut item) = self.get(keys::household(household_id), keys::api_key(key_id)).await? else {
            return Ok(None);
        };
        let mut take = |name: &str| item.remove(name).and_then(|v| v.as_s().ok().cloned()).unwrap_or_default();
        let (hash, usage) = (take(KEY_HASH), UsageKey { id: take(USAGE_KEY_ID), value: take(USAGE_KEY_VALUE) });
        Ok(Some((from_item(item)?, hash, usage)))
    }

    /// Marks a key revoked, in its record and its lookup item, with the audit entry. A key
    /// revoked already is left as it is (`false`).
    pub async fn revoke_api_key(
        &self,
        api_key: &ApiKey,
        key_hash: &str,
        now: chrono::DateTime<chrono::Utc>,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError> {
        let at = s(crate::platform::clock::rfc3339(now));
        let not_revoked =
            || Expr::new(NOT_REVOKED).name("#pk", keys::PK).name("#revoked", "revokedAt").value(":null", s("NULL"));
        let mut tx = Tx::new(self);
        tx.update(
            record_key(&api_key.household_id, &api_key.key_id),
            Expr::new("SET #revoked = :at").name("#revoked", "revokedAt").value(":at", at.clone()),
            Some(not_revoked()),
        );
        tx.update(
            key(keys::api_key_by_hash(key_hash), keys::META),
            // It no longer names who made the key: nothing personal outlives the key.
            Expr::new("SET #revoked = :at, #ttl = :ttl REMOVE #by")
                .name("#revoked", "revokedAt")
                .name("#ttl", keys::TTL)
                .name("#by", "createdBy")
                .value(":at", at)
                .value(":ttl", n((now + chrono::Duration::days(REVOKED_KEPT_DAYS)).timestamp())),
            Some(not_revoked()),
        );
        tx.update(
            key(keys::household(&api_key.household_id), keys::API_KEY_COUNT),
            Expr::new("ADD #n :minus").name("#n", COUNT).value(":minus", n(-1)),
            None,
        );
        if let Some(audit) = audit {
            tx.audit(keys::household(&api_key.household_id), audit)?;
        }
        match tx.commit(self, None).await {
            Ok(()) => Ok(true),
            Err(e) if e.failed_condition().is_some() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The authorizer's read: the key with this hash, if there is one.
    pub async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<KeyLookup>, StoreError> {
        self.get_as(keys::api_key_by_hash(key_hash), keys::META).await
    }

    /// Notes when a key was last used (the authorizer, once per cached decision). A key
    /// revoked or gone meanwhile is left alone.
    pub async fn touch_api_key(
        &self,
        household_id: &str,
        key_id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(record_key(household_id, key_id)))
            .update_expression("SET #used = :now")
            .condition_expression(NOT_REVOKED)
            .expression_attribute_names("#used", "lastUsedAt")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#revoked", "revokedAt")
            .expression_attribute_values(":now", AttributeValue::S(crate::platform::clock::rfc3339(now)))
            .expression_attribute_values(":null", s("NULL"))
            .send()
            .await
            .map_err(classify);
        match result {
            Ok(_) => Ok(()),
            Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
