//! Households, members and the user-side membership index.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, Get, KeysAndAttributes, TransactGetItem, WriteRequest};

use super::{
    Expr, Item, PrefixQuery, Store, StoreError, Tx, classify, from_item, key, keys, n, s, to_item, version_is,
};
use crate::auth::Role;
use crate::domain::audit::AuditEntry;
use crate::domain::erasure::Session;
use crate::domain::household::{Household, HouseholdStatus, Member};
use crate::platform::pagination::PageKey;

/// A caller's view of one household: the household and their own member record.
#[derive(Debug, Clone)]
pub struct Membership {
    pub household: Household,
    pub member: Member,
    /// The caller's cut-off for their tokens, read with the membership.
    pub session: Session,
    /// The API key the caller used, read with the membership (`None` without a key, or
    /// when the key's record is gone).
    pub key: Option<crate::domain::api_key::ApiKey>,
}

/// What the purge worker found.
#[derive(Debug, PartialEq, Eq)]
pub enum PurgeOutcome {
    /// Items were deleted, the household's tombstone last.
    Purged { items: usize },
    /// Nothing left: a repeated message, nothing to do.
    AlreadyGone,
    /// The household is not deleted; purging it would destroy live data.
    StillActive,
}

/// The user-side membership item: lets "my households" be one Query.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct MembershipRef<'a> {
    household_id: &'a str,
    user_id: &'a str,
}

fn active() -> Expr {
    Expr::new("#status = :active").name("#status", "status").value(":active", s("active"))
}

impl Store {
    pub async fn create_household(
        &self,
        h: &Household,
        owner: &Member,
        audit: &AuditEntry,
        idempotent: Option<&super::idempotency::Idempotent<'_>>,
    ) -> Result<(), StoreError> {
        let pk = keys::household(&h.household_id);
        let mut tx = Tx::new(self);
        tx.idempotent(idempotent, audit.at)?;
        tx.put_new(to_item(pk.clone(), keys::META.into(), h)?);
        tx.put_new(to_item(pk.clone(), keys::member(&owner.user_id), owner)?);
        tx.put_new(membership_ref_item(&h.household_id, &owner.user_id)?);
        tx.audit(pk, audit)?;
        tx.commit(self, None).await
    }

    /// The household, the caller's member record and their session state (the cut-off for
    /// their tokens), and the API key they called with if any, read consistently in one call. `None` when the household or member is
    /// missing or the household is deleted: to a non-member, another household does not
    /// exist.
    pub async fn membership(
        &self,
        household_id: &str,
        user_id: &str,
        api_key_id: Option<&str>,
    ) -> Result<Option<Membership>, StoreError> {
        let pk = keys::household(household_id);
        let get = |pk: String, sk: String, projection: Option<&str>| {
            let mut get = Get::builder().table_name(&self.table).set_key(Some(key(pk, sk)));
            if let Some(p) = projection {
                get = get.projection_expression(p);
            }
            TransactGetItem::builder().get(get.build().expect("get")).build()
        };
        let mut read = self
            .client
            .transact_get_items()
            .transact_items(get(pk.clone(), keys::META.into(), None))
            .transact_items(get(pk.clone(), keys::member(user_id), None))
            .transact_items(get(keys::user(user_id), keys::PROFILE.into(), Some(super::users::SESSION_PROJECTION)));
        if let Some(id) = api_key_id {
            read = read.transact_items(get(pk.clone(), keys::api_key(id), None));
        }
        let out = read.send().await.map_err(classify)?;
        let mut responses = out.responses.unwrap_or_default().into_iter().map(|r| r.item);
        let (Some(Some(h)), Some(Some(m)), profile) = (responses.next(), responses.next(), responses.next().flatten())
        else {
            return Ok(None);
        };
        let key = responses.next().flatten().map(from_item).transpose()?;
        let household: Household = from_item(h)?;
        if household.status != HouseholdStatus::Active {
            return Ok(None);
        }
        let session = profile.map(from_item).transpose()?.unwrap_or_default();
        Ok(Some(Membership { household, member: from_item(m)?, session, key }))
    }

    /// The caller's households, one page: one Query of the user-side index, then one
    /// BatchGetItem of each household and the caller's member record.
    pub async fn list_my_households(
        &self,
        user_id: &str,
        limit: i32,
        start: Option<PageKey>,
    ) -> Result<(Vec<(Household, Member)>, Option<PageKey>), StoreError> {
        let (refs, next) = self
            .query_prefix(PrefixQuery {
                index: None,
                partition: (keys::PK, keys::user(user_id)),
                sort_prefix: (keys::SK, keys::HOUSEHOLD_PREFIX),
                limit,
                start,
            })
            .await?;
        let ids: Vec<String> = refs
            .iter()
            .filter_map(|i| i.get(keys::SK)?.as_s().ok().and_then(|sk| keys::household_id_of(sk)).map(str::to_string))
            .collect();
        if ids.is_empty() {
            return Ok((Vec::new(), next));
        }
        let wanted: Vec<Item> = ids
            .iter()
            .flat_map(|id| [key(keys::household(id), keys::META), key(keys::household(id), keys::member(user_id))])
            .collect();
        let found = self.batch_get(wanted).await?;
        let mut households = HashMap::new();
        let mut members = HashMap::new();
        for item in found {
            let sk = item.get(keys::SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if sk == keys::META {
                let h: Household = from_item(item)?;
                households.insert(h.household_id.clone(), h);
            } else {
                let m: Member = from_item(item)?;
                members.insert(m.household_id.clone(), m);
            }
        }
        let list = ids
            .iter()
            .filter_map(|id| {
                let household = households.remove(id)?;
                let member = members.remove(id)?;
                (household.status == HouseholdStatus::Active).then_some((household, member))
            })
            .collect();
        Ok((list, next))
    }

    /// BatchGetItem in calls of at most 100 keys (DynamoDB's limit; a page of 100
    /// households wants 200), retrying unprocessed keys a bounded number of times.
    async fn batch_get(&self, wanted: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for chunk in wanted.chunks(100) {
            found.extend(self.batch_get_100(chunk.to_vec()).await?);
        }
        Ok(found)
    }

    async fn batch_get_100(&self, mut wanted: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for attempt in 0..5 {
            if wanted.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            let keys_and_attributes = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut wanted)))
                .consistent_read(true)
                .build()
                .expect("keys are set");
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, keys_and_attributes)
                .send()
                .await
                .map_err(classify)?;
            found.extend(out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default());
            wanted = out.unprocessed_keys.unwrap_or_default().remove(&self.table).map(|k| k.keys).unwrap_or_default();
        }
        if wanted.is_empty() {
            Ok(found)
        } else {
            Err(StoreError::Unavailable("unprocessed keys after retries".into()))
        }
    }

    /// Saves `updated` if the stored household is still active at `updated.version - 1`.
    pub async fn update_household(&self, updated: &Household, audit: &AuditEntry) -> Result<(), StoreError> {
        let pk = keys::household(&updated.household_id);
        let mut tx = Tx::new(self);
        let condition = version_is(updated.version - 1);
        let condition = Expr { text: format!("{} AND #status = :active", condition.text), ..condition }
            .name("#status", "status")
            .value(":active", s("active"));
        tx.put(to_item(pk.clone(), keys::META.into(), updated)?, Some(condition));
        tx.audit(pk, audit)?;
        tx.commit(self, None).await.map_err(|e| match e.failed_condition() {
            Some(0) => StoreError::ConditionFailed,
            _ => e,
        })
    }

    /// Marks the household deleted for every member in one write; the purge worker removes
    /// the rest. The audit entry goes to the actor's partition, which outlives the purge.
    pub async fn delete_household(&self, h: &Household, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = Tx::new(self);
        tx.update(
            key(keys::household(&h.household_id), keys::META),
            Expr::new("SET #status = :deleted, #version = #version + :one, updatedAt = :at")
                .name("#status", "status")
                .name("#version", "version")
                .value(":deleted", s("deleted"))
                .value(":one", n(1))
                .value(":at", s(crate::platform::clock::rfc3339(audit.at))),
            Some(Expr::new("#status = :active").value(":active", s("active"))),
        );
        tx.audit(keys::user(&audit.actor_id), audit)?;
        tx.commit(self, None).await.map_err(|e| match e.failed_condition() {
            Some(0) => StoreError::ConditionFailed,
            _ => e,
        })
    }

    /// An active household (deleted ones are gone for everyone).
    pub async fn get_household(&self, household_id: &str) -> Result<Option<Household>, StoreError> {
        let h: Option<Household> = self.get_as(keys::household(household_id), keys::META).await?;
        Ok(h.filter(|h| h.status == HouseholdStatus::Active))
    }

    /// The household's tombstone state: `Some(true)` deleted, `Some(false)` active.
    pub async fn household_deleted(&self, household_id: &str) -> Result<Option<bool>, StoreError> {
        let item = self.get(keys::household(household_id), keys::META).await?;
        Ok(item.map(|i| i.get("status").and_then(|v| v.as_s().ok()).map(String::as_str) == Some("deleted")))
    }

    pub async fn list_members(
        &self,
        household_id: &str,
        limit: i32,
        start: Option<PageKey>,
    ) -> Result<(Vec<Member>, Option<PageKey>), StoreError> {
        let (items, next) = self
            .query_prefix(PrefixQuery {
                index: None,
                partition: (keys::PK, keys::household(household_id)),
                sort_prefix: (keys::SK, keys::MEMBER_PREFIX),
                limit,
                start,
            })
            .await?;
        let members = items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok((members, next))
    }

    pub async fn get_member(&self, household_id: &str, user_id: &str) -> Result<Option<Member>, StoreError> {
        self.get_as(keys::household(household_id), keys::member(user_id)).await
    }

    /// Saves a member whose role or availability changed, if nobody changed it since it was
    /// read. An update, not a put: points and effort added meanwhile by completions stay.
    pub async fn update_member(&self, updated: &Member, audit: &AuditEntry) -> Result<(), StoreError> {
        let pk = keys::household(&updated.household_id);
        let mut tx = Tx::new(self);
        tx.update(
            key(pk.clone(), keys::member(&updated.user_id)),
            member_changes(updated)?,
            Some(version_is(updated.version - 1)),
        );
        tx.check(key(pk.clone(), keys::META), active());
        tx.audit(pk, audit)?;
        tx.commit(self, None).await.map_err(|e| match e.failed_condition() {
            Some(0) => StoreError::ConditionFailed,
            _ => e,
        })
    }

    /// Hands ownership from `old_owner` to `new_owner` (who becomes owner; the old owner
    /// becomes admin) and updates the household, all or nothing.
    pub async fn transfer_ownership(
        &self,
        household: &Household,
        old_owner: &Member,
        new_owner: &Member,
        audit: &AuditEntry,
    ) -> Result<Household, StoreError> {
        let pk = keys::household(&household.household_id);
        let mut updated = household.clone();
        updated.owner_id = new_owner.user_id.clone();
        updated.version += 1;
        updated.updated_at = audit.at;
        let demoted = Member { role: Role::Admin, version: old_owner.version + 1, ..old_owner.clone() };
        let promoted = Member { role: Role::Owner, version: new_owner.version + 1, ..new_owner.clone() };
        let mut tx = Tx::new(self);
        tx.put(to_item(pk.clone(), keys::META.into(), &updated)?, Some(version_is(household.version)));
        tx.update(
            key(pk.clone(), keys::member(&demoted.user_id)),
            member_changes(&demoted)?,
            Some(version_is(old_owner.version)),
        );
        tx.update(
            key(pk.clone(), keys::member(&promoted.user_id)),
            member_changes(&promoted)?,
            Some(version_is(new_owner.version)),
        );
        tx.audit(pk, audit)?;
        tx.commit(self, None).await.map_err(StoreError::any_condition_failed)?;
        Ok(updated)
    }

    /// Removes a member (or lets them leave): both membership items and the count.
    pub async fn remove_member(&self, member: &Member, audit: &AuditEntry) -> Result<(), StoreError> {
        let pk = keys::household(&member.household_id);
        // Their calendar feed goes with them (the feed also checks membership on every read).
        let feed = self.feed_of(&member.household_id, &member.user_id).await?;
        let mut tx = Tx::new(self);
        match &feed {
            Some(feed) => self.delete_feed(&mut tx, feed),
            None => self.no_feed(&mut tx, &member.household_id, &member.user_id),
        }
        tx.delete(key(pk.clone(), keys::member(&member.user_id)), Some(version_is(member.version)));
        tx.delete(key(keys::user(&member.user_id), keys::household(&member.household_id)), None);
        tx.put(
            to_item(
                keys::user(&member.user_id),
                keys::left_household(&member.household_id),
                &MembershipRef { household_id: &member.household_id, user_id: &member.user_id },
            )?,
            None,
        );
        tx.update(
            key(pk.clone(), keys::META),
            Expr::new("SET #count = #count - :one").name("#count", "memberCount").value(":one", n(1)),
            Some(active()),
        );
        tx.audit(pk, audit)?;
        tx.commit(self, None).await.map_err(StoreError::any_condition_failed)
    }

    /// Deletes every item of a deleted household, the tombstone last, so a retry after a
    /// partial failure picks up where the last attempt stopped. Safe to run twice.
    pub async fn purge_household(&self, household_id: &str) -> Result<PurgeOutcome, StoreError> {
        match self.household_deleted(household_id).await? {
            None => return Ok(PurgeOutcome::AlreadyGone),
            Some(false) => return Ok(PurgeOutcome::StillActive),
            Some(true) => {}
        }
        let pk = keys::household(household_id);
        let mut deleted = 0;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", s(pk.clone()))
                .projection_expression("PK, SK, #hash")
                .expression_attribute_names("#hash", "tokenHash")
                .limit(100)
                .send()
                .await
                .map_err(classify)?;
            let mut doomed = Vec::new();
            for item in out.items.unwrap_or_default() {
                let sk = item.get(keys::SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                if sk == keys::META {
                    continue;
                }
                if let Some(user_id) = keys::user_id_of_member(&sk) {
                    doomed.push(key(keys::user(user_id), keys::household(household_id)));
                }
                // A member's calendar feed lives under its token: it goes too.
                if sk.starts_with(keys::FEED_OF_PREFIX)
                    && let Some(hash) = item.get("tokenHash").and_then(|v| v.as_s().ok())
                {
                    doomed.push(key(keys::feed(hash), keys::META));
                }
                doomed.push(key(pk.clone(), sk));
            }
            if doomed.is_empty() {
                break;
            }
            deleted += doomed.len();
            self.batch_delete(doomed).await?;
        }
        // Invites live in their own partitions, indexed by household.
        loop {
            let (invites, _) = self
                .query_prefix(PrefixQuery {
                    index: Some(keys::GSI1),
                    partition: (keys::GSI1PK, pk.clone()),
                    sort_prefix: (keys::GSI1SK, keys::INVITE_PREFIX),
                    limit: 100,
                    start: None,
                })
                .await?;
            let doomed: Vec<Item> = invites
                .into_iter()
                .filter_map(|i| Some(key(i.get(keys::PK)?.as_s().ok()?.clone(), keys::META)))
                .collect();
            if doomed.is_empty() {
                break;
            }
            deleted += doomed.len();
            self.batch_delete(doomed).await?;
        }
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, keys::META)))
            .condition_expression("#status = :deleted")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":deleted", AttributeValue::S("deleted".into()))
            .send()
            .await
            .map_err(classify)?;
        Ok(PurgeOutcome::Purged { items: deleted + 1 })
    }

    pub(crate) async fn batch_delete(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        for chunk in keys.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|k| {
                    WriteRequest::builder()
                        .delete_request(DeleteRequest::builder().set_key(Some(k.clone())).build().expect("key"))
                        .build()
                })
                .collect();
            for attempt in 0..5 {
                if pending.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(classify)?;
                pending = out.unprocessed_items.unwrap_or_default().remove(&self.table).unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(StoreError::Unavailable("unprocessed deletes after retries".into()));
            }
        }
        Ok(())
    }
}

/// The fields of a member that people change (never points or effort, which completions add).
fn member_changes(m: &Member) -> Result<Expr, StoreError> {
    let away = serde_dynamo::to_attribute_value(&m.away).map_err(|e| StoreError::Other(e.to_string()))?;
    Ok(Expr::new("SET #role = :role, #version = :version, #availability = :availability, #away = :away")
        .name("#role", "role")
        .name("#version", "version")
        .name("#availability", "availability")
        .name("#away", "away")
        .value(":role", s(m.role.as_str()))
        .value(":version", n(m.version))
        .value(":availability", n(m.availability))
        .value(":away", away))
}

/// A member with the effort they completed per ISO week (`effort_2026-W47` attributes).
#[derive(Debug, Clone)]
pub struct MemberWithEffort {
    pub member: Member,
    pub effort_by_week: std::collections::BTreeMap<String, u32>,
}

impl From<MemberWithEffort> for crate::domain::task::RosterEntry {
    fn from(m: MemberWithEffort) -> Self {
        crate::domain::task::RosterEntry {
            user_id: m.member.user_id,
            availability: m.member.availability,
            away: m.member.away,
            effort_by_week: m.effort_by_week,
        }
    }
}

impl Store {
    /// Every member of a household (bounded by the member limit) with their weekly effort:
    /// what fair assignment weighs.
    pub async fn roster(&self, household_id: &str) -> Result<Vec<MemberWithEffort>, StoreError> {
        let (items, _) = self
            .query_prefix(PrefixQuery {
                index: None,
                partition: (keys::PK, keys::household(household_id)),
                sort_prefix: (keys::SK, keys::MEMBER_PREFIX),
                limit: 100,
                start: None,
            })
            .await?;
        items
            .into_iter()
            .map(|item| {
                let effort_by_week = item
                    .iter()
                    .filter_map(|(k, v)| {
                        let week = k.strip_prefix(keys::EFFORT_PREFIX)?;
                        Some((week.to_string(), v.as_n().ok()?.parse().ok()?))
                    })
                    .collect();
                Ok(MemberWithEffort { member: from_item(item)?, effort_by_week })
            })
            .collect()
    }
}

pub(crate) fn membership_ref_item(household_id: &str, user_id: &str) -> Result<Item, StoreError> {
    to_item(keys::user(user_id), keys::household(household_id), &MembershipRef { household_id, user_id })
}
