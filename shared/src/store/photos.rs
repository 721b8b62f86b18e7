//! Proof photo records (the files are in the photos bucket).

use chrono::{DateTime, Duration, Utc};

use super::{Expr, Item, PrefixQuery, Store, StoreError, Tx, classify, from_item, key, keys, n, s, to_item};
use crate::domain::audit::AuditEntry;
use crate::domain::photo::{PENDING_HOURS, Photo, Rejection};
use crate::platform::clock::rfc3339;
use crate::platform::pagination::PageKey;

fn pending() -> Expr {
    Expr::new("#state = :pending").name("#state", "state").value(":pending", s("pending"))
}

impl Store {
    /// A new pending photo with its audit entry; forgotten after a day unless uploaded.
    pub async fn create_photo(&self, photo: &Photo, audit: &AuditEntry) -> Result<(), StoreError> {
        let pk = keys::household(&photo.household_id);
        let mut item = to_item(pk.clone(), keys::photo(&photo.photo_id), photo)?;
        item.insert(keys::TTL.into(), n((photo.created_at + Duration::hours(PENDING_HOURS)).timestamp()));
        let mut tx = Tx::new(self);
        tx.put_new(item);
        tx.audit(pk, audit)?;
        tx.commit(self, None).await
    }

    /// A photo of the household (a pending one past its day is gone).
    pub async fn get_photo(
        &self,
        household_id: &str,
        photo_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Photo>, StoreError> {
        let Some(item) = self.get(keys::household(household_id), keys::photo(photo_id)).await? else {
            return Ok(None);
        };
        let expired = item
            .get(keys::TTL)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|ttl| ttl <= now.timestamp());
        if expired {
            return Ok(None);
        }
        Ok(Some(from_item(item)?))
    }

    /// The worker accepted the upload: ready, kept for good (no TTL). `false` when the
    /// photo was decided or deleted meanwhile.
    pub async fn photo_ready(
        &self,
        photo: &Photo,
        width: u32,
        height: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.decide_photo(
            photo,
            Expr::new("SET #state = :ready, width = :w, height = :h, updatedAt = :at REMOVE #ttl")
                .name("#ttl", keys::TTL)
                .value(":ready", s("ready"))
                .value(":w", n(width))
                .value(":h", n(height))
                .value(":at", s(rfc3339(now))),
        )
        .await
    }

    /// The worker refused the upload (the record stays, with the reason, until its TTL).
    pub async fn photo_rejected(&self, photo: &Photo, why: Rejection, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let why = serde_dynamo::to_attribute_value(why).map_err(|e| StoreError::Other(e.to_string()))?;
        self.decide_photo(
            photo,
            Expr::new("SET #state = :rejected, rejection = :why, updatedAt = :at")
                .value(":rejected", s("rejected"))
                .value(":why", why)
                .value(":at", s(rfc3339(now))),
        )
        .await
    }

    /// Moves a pending photo on; one already decided (a redelivered event) stays as it is.
    async fn decide_photo(&self, photo: &Photo, update: Expr) -> Result<bool, StoreError> {
        let condition = pending();
        let all = Expr { names: [update.names.clone(), condition.names.clone()].concat(), ..update.clone() };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::household(&photo.household_id), keys::photo(&photo.photo_id))))
            .update_expression(&update.text)
            .condition_expression(&condition.text);
        for (placeholder, name) in &all.names {
            request = request.expression_attribute_names(*placeholder, name);
        }
        for (placeholder, value) in update.values.iter().chain(&condition.values) {
            request = request.expression_attribute_values(*placeholder, value.clone());
        }
        super::written(request.send().await.map_err(classify))
    }

    /// One page of a household's photos.
    pub async fn list_photos(
        &self,
        household_id: &str,
        start: Option<PageKey>,
    ) -> Result<(Vec<Photo>, Option<PageKey>), StoreError> {
        let (items, next) = self
            .query_prefix(PrefixQuery {
                index: None,
                partition: (keys::PK, keys::household(household_id)),
                sort_prefix: (keys::SK, keys::PHOTO_PREFIX),
                limit: 100,
                start,
            })
            .await?;
        let photos = items.into_iter().map(from_item::<Photo>).collect::<Result<_, _>>()?;
        Ok((photos, next))
    }

    /// Removes a photo's record (its files are deleted first).
    pub async fn delete_photo(&self, photo: &Photo) -> Result<(), StoreError> {
        let item_key: Item = key(keys::household(&photo.household_id), keys::photo(&photo.photo_id));
        self.client.delete_item().table_name(&self.table).set_key(Some(item_key)).send().await.map_err(classify)?;
        Ok(())
    }

    /// Whether `photo_id` names a photo of the household that may prove a completion
    /// `recorder` records (see [`Photo::proves_for`]).
    pub async fn photo_proves(
        &self,
        household_id: &str,
        photo_id: &str,
        recorder: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.get_photo(household_id, photo_id, now).await?.is_some_and(|p| p.proves_for(recorder)))
    }
}
