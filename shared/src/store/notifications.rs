//! A member's in-app notifications and the delivery records that keep the notification
//! worker idempotent (issue 7). Both live in the member's own partition (`USER#<sub>`), so
//! no household can reach another's, and both expire by TTL (reads filter expired items
//! themselves: TTL deletion may lag by days).

use chrono::{DateTime, Duration, Utc};

use super::{Expr, Item, Store, StoreError, Tx, classify, key, keys, n, s, to_item, written};
use crate::domain::audit::AuditEntry;
use crate::domain::notification::{IN_APP_DAYS, InAppNotification};
use crate::platform::clock::rfc3339;
use crate::platform::pagination::PageKey;

/// How long a delivery record keeps a redelivered message from sending again: longer than
/// a message can live in the queue (4 days) and its DLQ redrive.
pub const DELIVERY_RECORD_DAYS: i64 = 15;

/// A claim on a delivery older than this is taken to have died before sending.
pub const DELIVERY_LEASE: Duration = Duration::minutes(5);

const CREATED_KEY: &str = "createdAtKey";

/// Where a delivery stands when the worker asks to send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryClaim {
    /// Nobody sent it yet: this attempt now holds it and sends.
    Claimed,
    /// It went out already (a redelivered message): nothing to do.
    AlreadySent,
    /// Another attempt is sending it right now: try again later.
    InFlight,
}

impl Store {
    /// Stores an in-app notification once: `false` when it is already there (the same
    /// notification from a redelivered message).
    pub async fn put_notification(&self, n_: &InAppNotification) -> Result<bool, StoreError> {
        let mut item = to_item(keys::user(&n_.user_id), keys::notification(&n_.notification_id), n_)?;
        let expires = n_.created_at + Duration::days(IN_APP_DAYS);
        item.insert(keys::TTL.into(), n(expires.timestamp()));
        // serde writes times with as many fraction digits as they need, which do not compare
        // as strings: the unread count compares this fixed-width copy with the read mark.
        item.insert(CREATED_KEY.into(), s(rfc3339(n_.created_at)));
        self.put_new(item).await
    }

    /// One page of a member's notifications, newest first, and the page's last key.
    pub async fn list_notifications(
        &self,
        user_id: &str,
        limit: i32,
        start: Option<PageKey>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<InAppNotification>, Option<PageKey>), StoreError> {
        self.newest_live(keys::user(user_id), keys::NOTIFICATION_PREFIX, limit, start, now).await
    }

    /// How many of a member's live notifications are unread, counting at most `cap`.
    /// Bounded: notifications expire after [`IN_APP_DAYS`].
    pub async fn unread_notifications(
        &self,
        user_id: &str,
        read_up_to: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        cap: u32,
    ) -> Result<u32, StoreError> {
        let mut count = 0u32;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                // An unread notification holds `readAt` as NULL (serde's `None`).
                .filter_expression(
                    "#ttl > :now AND (attribute_not_exists(readAt) OR attribute_type(readAt, :null)) AND #created > :mark",
                )
                .expression_attribute_names("#created", CREATED_KEY)
                .expression_attribute_values(":null", s("NULL"))
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_names("#ttl", keys::TTL)
                .expression_attribute_values(":pk", s(keys::user(user_id)))
                .expression_attribute_values(":prefix", s(keys::NOTIFICATION_PREFIX))
                .expression_attribute_values(":now", n(now.timestamp()))
                // Both RFC 3339 UTC with milliseconds: they compare as strings.
                .expression_attribute_values(":mark", s(read_up_to.map(rfc3339).unwrap_or_default()))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            count += u32::try_from(out.count).unwrap_or(0);
            start = out.last_evaluated_key;
            if start.is_none() || count >= cap {
                return Ok(count.min(cap));
            }
        }
    }

    /// The member's "all read up to" mark.
    pub async fn notifications_read_up_to(&self, user_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let item = self.get(keys::user(user_id), keys::NOTIFICATIONS_READ).await?;
        Ok(item
            .and_then(|i| i.get("readUpTo").and_then(|v| v.as_s().ok()).cloned())
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.to_utc()))
    }

    /// Marks every notification stored up to `now` read (the mark only moves forward), with
    /// the audit entry. A later mark already there: nothing changes, and no entry.
    pub async fn mark_all_notifications_read(
        &self,
        user_id: &str,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert(keys::PK.into(), s(keys::user(user_id)));
        item.insert(keys::SK.into(), s(keys::NOTIFICATIONS_READ));
        item.insert("readUpTo".into(), s(rfc3339(now)));
        let mut tx = Tx::new(self);
        tx.put(
            item,
            Some(Expr::new("attribute_not_exists(readUpTo) OR readUpTo <= :now").value(":now", s(rfc3339(now)))),
        );
        tx.audit(keys::user(user_id), audit)?;
        written(tx.commit(self, None).await.map_err(StoreError::any_condition_failed)).map(|_| ())
    }

    /// Marks one notification read, with the audit entry. `false`: the member has no such
    /// (live) notification. Marking it again keeps the first time, and writes no entry.
    pub async fn mark_notification_read(
        &self,
        user_id: &str,
        notification_id: &str,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let item_key = key(keys::user(user_id), keys::notification(notification_id));
        let mut tx = Tx::new(self);
        tx.update(
            item_key.clone(),
            // `readAt` is stored as NULL until read (if_not_exists would keep the NULL).
            Expr::new("SET readAt = :at").value(":at", s(rfc3339(now))),
            Some(
                Expr::new("attribute_exists(#pk) AND #ttl > :epoch AND attribute_type(readAt, :null)")
                    .name("#pk", keys::PK)
                    .name("#ttl", keys::TTL)
                    .value(":epoch", n(now.timestamp()))
                    .value(":null", s("NULL")),
            ),
        );
        tx.audit(keys::user(user_id), audit)?;
        match tx.commit(self, None).await.map_err(StoreError::any_condition_failed) {
            Ok(()) => Ok(true),
            // Read already (it keeps the first time), if it is there and live.
            Err(StoreError::ConditionFailed) => {
                let item = self.get(keys::user(user_id), keys::notification(notification_id)).await?;
                Ok(item
                    .and_then(|i| i.get(keys::TTL).and_then(|v| v.as_n().ok()).and_then(|t| t.parse::<i64>().ok()))
                    .is_some_and(|t| t > now.timestamp()))
            }
            Err(e) => Err(e),
        }
    }

    /// Claims the delivery of notification `key` on `channel` to `user_id` before it is
    /// sent (email, webhook: what cannot be taken back). A claim that died before
    /// [`Store::delivery_sent`] is taken over after [`DELIVERY_LEASE`]: a crash between
    /// sending and recording may send twice, never zero times.
    pub async fn claim_delivery(
        &self,
        user_id: &str,
        channel: &str,
        key_: &str,
        now: DateTime<Utc>,
    ) -> Result<DeliveryClaim, StoreError> {
        let expires = now + Duration::days(DELIVERY_RECORD_DAYS);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::user(user_id)))
            .item(keys::SK, s(keys::delivery(channel, key_)))
            .item("state", s("sending"))
            .item("claimedAt", s(rfc3339(now)))
            .item(keys::TTL, n(expires.timestamp()))
            .condition_expression(
                "attribute_not_exists(#pk) OR #state = :released OR (#state = :sending AND claimedAt < :expired)",
            )
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":released", s("released"))
            .expression_attribute_values(":expired", s(rfc3339(now - DELIVERY_LEASE)))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match put {
            Ok(_) => Ok(DeliveryClaim::Claimed),
            Err(e) => {
                let old = e.as_service_error().and_then(|se| match se {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                        Some(c.item.clone().unwrap_or_default())
                    }
                    _ => None,
                });
                match old {
                    Some(item) if item.get("state").and_then(|v| v.as_s().ok()).map(String::as_str) == Some("sent") => {
                        Ok(DeliveryClaim::AlreadySent)
                    }
                    Some(_) => Ok(DeliveryClaim::InFlight),
                    None => Err(classify(e)),
                }
            }
        }
    }

    /// Records that a claimed delivery went out.
    pub async fn delivery_sent(
        &self,
        user_id: &str,
        channel: &str,
        key_: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user(user_id), keys::delivery(channel, key_))))
            .update_expression("SET #state = :sent, sentAt = :at")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":at", s(rfc3339(now)))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Gives a claimed delivery back after a failed send, so a retry may claim it at once
    /// (an update, not a delete: the worker needs no DeleteItem).
    pub async fn release_delivery(&self, user_id: &str, channel: &str, key_: &str) -> Result<(), StoreError> {
        let released = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user(user_id), keys::delivery(channel, key_))))
            .update_expression("SET #state = :released")
            .condition_expression("#state = :sending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":released", s("released"))
            .send()
            .await
            .map_err(classify);
        written(released).map(|_| ())
    }

    /// Whether email to `address` is suppressed (it bounced for good, or its owner
    /// complained).
    pub async fn mail_suppressed(&self, address: &str) -> Result<bool, StoreError> {
        Ok(self.get(keys::mail_suppression(&address_hash(address)), keys::META).await?.is_some())
    }

    /// Stops email to `address`, for `reason` (`bounce` or `complaint`). Idempotent.
    pub async fn suppress_mail(&self, address: &str, reason: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::mail_suppression(&address_hash(address))))
            .item(keys::SK, s(keys::META))
            .item("reason", s(reason))
            .item("at", s(rfc3339(at)))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

/// The SHA-256 (hex) of an address's lowercased form.
pub fn address_hash(address: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(address.trim().to_lowercase().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// One notification waiting in a member's daily digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestLine {
    pub user_id: String,
    /// The notification's id for this member: the same notification told again (a
    /// redelivered or deferred message, even after its digest went out) is the same line,
    /// collected once.
    pub line_id: String,
    /// The digest it goes out with.
    pub send_at: DateTime<Utc>,
    pub household_id: String,
    /// The chore and occurrence it reminds of: a line whose chore has moved on by the time
    /// the digest goes out (done in the evening) is left out.
    #[serde(default)]
    pub task_id: Option<String>,
    #[serde(default)]
    pub due: Option<DateTime<Utc>>,
    /// What it tells, already in the member's language and zone.
    pub text: String,
}

/// At most this many lines go into one digest email; more go out in another.
pub const DIGEST_LINES_PER_EMAIL: usize = 50;

/// The fixed-width copy of `sendAt` the digest's Query compares (serde's form does not
/// compare as a string).
const SEND_AT_KEY: &str = "sendAtKey";
const DIGEST_SENT_AT: &str = "digestSentAt";

impl Store {
    /// Puts `line` into its member's digest, once: `false` when the line was collected
    /// before (and perhaps has gone out).
    pub async fn put_digest_line(&self, line: &DigestLine) -> Result<bool, StoreError> {
        let mut item = to_item(keys::user(&line.user_id), keys::digest_line(&line.line_id), line)?;
        item.insert(SEND_AT_KEY.into(), s(rfc3339(line.send_at)));
        item.insert(keys::TTL.into(), n((line.send_at + Duration::days(DELIVERY_RECORD_DAYS)).timestamp()));
        self.put_new(item).await
    }

    /// The oldest unsent lines (at most [`DIGEST_LINES_PER_EMAIL`]) of `user_id`'s digests
    /// due by `send_at`: a digest that failed to go out earlier goes out with this one.
    /// Bounded: lines expire after [`DELIVERY_RECORD_DAYS`].
    pub async fn digest_lines(&self, user_id: &str, send_at: DateTime<Utc>) -> Result<Vec<DigestLine>, StoreError> {
        let mut lines = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .filter_expression("#at <= :at AND attribute_not_exists(#sent)")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_names("#at", SEND_AT_KEY)
                .expression_attribute_names("#sent", DIGEST_SENT_AT)
                .expression_attribute_values(":pk", s(keys::user(user_id)))
                .expression_attribute_values(":prefix", s(keys::DIGEST_PREFIX))
                .expression_attribute_values(":at", s(rfc3339(send_at)))
                // What the last pass marked sent must not come back in the next.
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            for item in out.items.unwrap_or_default() {
                lines.push(super::from_item::<DigestLine>(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || lines.len() >= DIGEST_LINES_PER_EMAIL {
                lines.truncate(DIGEST_LINES_PER_EMAIL);
                return Ok(lines);
            }
        }
    }

    /// Marks lines as gone out (or left out): the line stays until it expires, so the same
    /// notification told again is not collected again.
    pub async fn digest_lines_sent(&self, lines: &[DigestLine], at: DateTime<Utc>) -> Result<(), StoreError> {
        for line in lines {
            let marked = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(keys::user(&line.user_id), keys::digest_line(&line.line_id))))
                .update_expression("SET #sent = :at")
                // Expired and removed meanwhile: nothing to mark (and no stub left behind).
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#sent", DIGEST_SENT_AT)
                .expression_attribute_values(":at", s(rfc3339(at)))
                .send()
                .await
                .map_err(classify);
            written(marked)?;
        }
        Ok(())
    }
}
