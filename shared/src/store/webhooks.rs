//! A household's webhooks (with their KMS-encrypted secrets) and their delivery logs.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Expr, Item, Store, StoreError, Tx, classify, from_item, key, keys, n, s, to_item, written};
use crate::domain::audit::AuditEntry;
use crate::domain::notification::EventType;
use crate::domain::webhook::Webhook;
use crate::platform::pagination::PageKey;

/// How long a delivery and its attempts stay in the log.
pub const DELIVERY_LOG_DAYS: i64 = 30;

const SECRET: &str = "secretCiphertext";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

/// One try at delivering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub number: u32,
    pub at: DateTime<Utc>,
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    /// Why it failed without a status (timeout, refused address, ...).
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// One event for one webhook, with every attempt at delivering it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Also the `webhook-id` header: receivers dedupe on it.
    pub delivery_id: String,
    pub webhook_id: String,
    pub household_id: String,
    pub event: EventType,
    /// The body, exactly as signed and sent.
    pub payload: String,
    pub state: DeliveryState,
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// Attempts taken so far (one ahead of `attempts` while one is under way, or if a
    /// worker died during one).
    #[serde(default)]
    pub attempts_started: u32,
    pub created_at: DateTime<Utc>,
}

fn webhook_key(household_id: &str, webhook_id: &str) -> Item {
    key(keys::household(household_id), keys::webhook(webhook_id))
}

/// A delivery as logged, expiring after [`DELIVERY_LOG_DAYS`].
fn delivery_item(d: &Delivery) -> Result<Item, StoreError> {
    let mut item = to_item(keys::household(&d.household_id), keys::webhook_delivery(&d.webhook_id, &d.delivery_id), d)?;
    item.insert(keys::TTL.into(), n((d.created_at + Duration::days(DELIVERY_LOG_DAYS)).timestamp()));
    Ok(item)
}

fn delivery_key(d: &Delivery) -> Item {
    key(keys::household(&d.household_id), keys::webhook_delivery(&d.webhook_id, &d.delivery_id))
}

impl Store {
    /// Stores a new webhook with its encrypted secret, and the audit entry.
    pub async fn create_webhook(
        &self,
        w: &Webhook,
        secret_ciphertext: &str,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut item = to_item(keys::household(&w.household_id), keys::webhook(&w.webhook_id), w)?;
        item.insert(SECRET.into(), s(secret_ciphertext));
        let mut tx = Tx::new(self);
        // A fresh ULID: taken only if generated twice.
        tx.put_new(item);
        tx.audit(keys::household(&w.household_id), audit)?;
        tx.commit(self, None).await.map_err(StoreError::any_condition_failed)
    }

    /// The household's webhooks (at most `domain::webhook::MAX_WEBHOOKS`).
    pub async fn list_webhooks(&self, household_id: &str) -> Result<Vec<Webhook>, StoreError> {
        let (items, _) = self
            .query_prefix(super::PrefixQuery {
                index: None,
                partition: (keys::PK, keys::household(household_id)),
                sort_prefix: (keys::SK, keys::WEBHOOK_PREFIX),
                limit: 100,
                start: None,
            })
            .await?;
        items.into_iter().map(from_item).collect()
    }

    pub async fn get_webhook(&self, household_id: &str, webhook_id: &str) -> Result<Option<Webhook>, StoreError> {
        self.get_as(keys::household(household_id), keys::webhook(webhook_id)).await
    }

    /// A webhook and its encrypted secret.
    pub async fn webhook_with_secret(
        &self,
        household_id: &str,
        webhook_id: &str,
    ) -> Result<Option<(Webhook, String)>, StoreError> {
        let Some(item) = self.get(keys::household(household_id), keys::webhook(webhook_id)).await? else {
            return Ok(None);
        };
        let secret = item.get(SECRET).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        Ok(Some((from_item(item)?, secret)))
    }

    /// Saves a changed webhook if nobody changed it since `updated.version - 1`, with the
    /// audit entry.
    pub async fn update_webhook(&self, updated: &Webhook, audit: &AuditEntry) -> Result<(), StoreError> {
        let at = serde_dynamo::to_attribute_value(updated.updated_at).map_err(|e| StoreError::Other(e.to_string()))?;
        let mut tx = Tx::new(self);
        tx.update(
            webhook_key(&updated.household_id, &updated.webhook_id),
            Expr::new("SET #url = :url, events = :events, active = :active, updatedAt = :at, version = :v")
                .name("#url", "url")
                .value(":url", s(&updated.url))
                .value(":events", AttributeValue::L(updated.events.iter().map(|e| s(e.name())).collect()))
                .value(":active", AttributeValue::Bool(updated.active))
                .value(":at", at)
                .value(":v", n(updated.version)),
            Some(Expr::new("version = :prev").value(":prev", n(updated.version - 1))),
        );
        tx.audit(keys::household(&updated.household_id), audit)?;
        tx.commit(self, None).await.map_err(StoreError::any_condition_failed)
    }

    /// Removes a webhook (its delivery log expires by TTL), with the audit entry. `false`:
    /// it was not there.
    pub async fn delete_webhook(
        &self,
        household_id: &str,
        webhook_id: &str,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = Tx::new(self);
        tx.delete(
            webhook_key(household_id, webhook_id),
            Some(Expr::new("attribute_exists(#pk)").name("#pk", keys::PK)),
        );
        tx.audit(keys::household(household_id), audit)?;
        written(tx.commit(self, None).await.map_err(StoreError::any_condition_failed))
    }

    /// Logs a delivery a member asked for again, with the audit entry.
    pub async fn log_redelivery(&self, d: &Delivery, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = Tx::new(self);
        tx.put_new(delivery_item(d)?);
        tx.audit(keys::household(&d.household_id), audit)?;
        tx.commit(self, None).await.map_err(StoreError::any_condition_failed)
    }

    /// Logs a new delivery. `false`: it is logged already (the same event again).
    pub async fn put_delivery(&self, d: &Delivery) -> Result<bool, StoreError> {
        self.put_new(delivery_item(d)?).await
    }

    pub async fn get_delivery(
        &self,
        household_id: &str,
        webhook_id: &str,
        delivery_id: &str,
    ) -> Result<Option<Delivery>, StoreError> {
        self.get_as(keys::household(household_id), keys::webhook_delivery(webhook_id, delivery_id)).await
    }

    /// One page of a webhook's deliveries, newest first.
    pub async fn list_deliveries(
        &self,
        household_id: &str,
        webhook_id: &str,
        limit: i32,
        start: Option<PageKey>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Delivery>, Option<PageKey>), StoreError> {
        self.newest_live(keys::household(household_id), &keys::webhook_delivery(webhook_id, ""), limit, start, now)
            .await
    }

    /// Takes attempt `number` of a pending delivery: only one worker makes each attempt
    /// (a redelivered message finds it taken). `false`: taken, or no longer pending.
    pub async fn begin_attempt(&self, d: &Delivery, number: u32) -> Result<bool, StoreError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(d)))
            .update_expression("SET attemptsStarted = :n")
            .condition_expression("attemptsStarted = :prev AND #state = :pending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":n", n(number))
            .expression_attribute_values(":prev", n(number - 1))
            .expression_attribute_values(":pending", s("pending"))
            .send()
            .await
            .map_err(classify);
        written(updated)
    }

    /// Logs an attempt and the state it leaves the delivery in.
    pub async fn record_attempt(
        &self,
        d: &Delivery,
        attempt: &Attempt,
        state: DeliveryState,
    ) -> Result<(), StoreError> {
        let attempt = serde_dynamo::to_attribute_value(attempt).map_err(|e| StoreError::Other(e.to_string()))?;
        let state = serde_dynamo::to_attribute_value(state).map_err(|e| StoreError::Other(e.to_string()))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(d)))
            .update_expression("SET attempts = list_append(if_not_exists(attempts, :none), :one), #state = :state")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":none", AttributeValue::L(vec![]))
            .expression_attribute_values(":one", AttributeValue::L(vec![attempt]))
            .expression_attribute_values(":state", state)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
