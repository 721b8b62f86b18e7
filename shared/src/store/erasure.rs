//! Erasing a user from the table: the erased mark `DELETE /v1/me` writes, and the pieces
//! the erasure job is made of. Every step is safe to run again, so a job that crashed
//! halfway finishes on its next delivery.
//!
//! What names the user is found generically ([`Traces`]) rather than per feature: every
//! string attribute of every item the job walks, so what a later feature stores is covered
//! without a list kept by hand. An item whose key names them is deleted; any other has the
//! attributes that name them rewritten, each write conditional on the attribute still
//! holding what was read (a concurrent change is read again).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Item, PrefixQuery, Store, StoreError, Tx, classify, from_item, key, keys, n, s};
use crate::domain::audit::AuditEntry;
use crate::domain::erasure::{MARKER_DAYS, Traces};
use crate::platform::clock::rfc3339;
use crate::platform::pagination::PageKey;

/// What the erasure job needs to know, kept on the profile item while it runs (its
/// `erasure` attribute) and dropped when it finishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErasureMark {
    pub tombstone_id: String,
    /// The names they were known by (profile and every household).
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub emails: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MarkedProfile {
    erased_at: Option<DateTime<Utc>>,
    erasure: Option<ErasureMark>,
}

/// Where an erasure stands, from the profile item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErasureState {
    /// Not erased (or not yet: the mark may still be on its way).
    NotErased,
    /// Erased; the job has work left.
    Running { erased_at: DateTime<Utc>, mark: ErasureMark },
    /// Only the bare marker is left.
    Finished,
}

/// Items looked at and changed by one walk.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Scrubbed {
    pub rewritten: usize,
    pub deleted: usize,
}

impl std::ops::AddAssign for Scrubbed {
    fn add_assign(&mut self, o: Scrubbed) {
        self.rewritten += o.rewritten;
        self.deleted += o.deleted;
    }
}

/// What becomes of one item that names the user.
#[derive(Debug, PartialEq)]
pub enum Scrub {
    /// Its key names them: the item goes.
    Delete,
    /// These top-level attributes name them: `(name, as read, rewritten)`.
    Rewrite(Vec<(String, AttributeValue, AttributeValue)>),
}

/// What a co-member's partition may hold about an erased member: what they were told
/// (notifications, digest lines, delivery records), what they did to them (audit entries,
/// the stored responses of their requests).
pub const CO_MEMBER_PREFIXES: &[&str] = &[
    keys::NOTIFICATION_PREFIX,
    keys::DIGEST_PREFIX,
    keys::DELIVERY_PREFIX,
    keys::AUDIT_PREFIX,
    keys::IDEMPOTENCY_PREFIX,
];

/// Sort-key prefixes of items whose texts may carry a member's name as words (rendered
/// notifications, audit details, webhook payloads). Elsewhere a name is a member's own
/// (a profile, a member record) and may belong to someone else of the same name.
const TEXT_PREFIXES: &[&str] = &["NOTIF#", "DIGEST#", "AUDIT#", "WHDELIVERY#", "DEFER#"];

/// Where names are scrubbed: in a household's own partition (its message texts), or in a
/// co-member's partition only in messages about that one household (a name elsewhere may
/// be someone else's, and the erased user chose their own name).
#[derive(Debug, Clone, Copy)]
pub enum NameScope<'a> {
    Household,
    MessagesAbout(&'a str),
}

/// How one item is to be scrubbed of `traces`, if it names them at all.
pub fn scrub_of(item: &Item, traces: &Traces, scope: NameScope<'_>) -> Option<Scrub> {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str).unwrap_or_default();
    let (pk, sk) = (text(keys::PK), text(keys::SK));
    if pk.contains(&traces.user_id) || sk.contains(&traces.user_id) {
        return Some(Scrub::Delete);
    }
    let names = TEXT_PREFIXES.iter().any(|p| sk.starts_with(p))
        && match scope {
            NameScope::Household => true,
            NameScope::MessagesAbout(household_id) => text("householdId") == household_id,
        };
    let mut changes: Vec<(String, AttributeValue, AttributeValue)> = item
        .iter()
        .filter(|(k, _)| *k != keys::PK && *k != keys::SK)
        .filter_map(|(k, v)| scrub_value(v, traces, names).map(|new| (k.clone(), v.clone(), new)))
        .collect();
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    (!changes.is_empty()).then_some(Scrub::Rewrite(changes))
}

fn scrub_value(v: &AttributeValue, traces: &Traces, names: bool) -> Option<AttributeValue> {
    let text = |t: &str| if names { traces.scrub(t) } else { traces.scrub_ids_and_emails(t) };
    match v {
        AttributeValue::S(t) => text(t).map(AttributeValue::S),
        AttributeValue::Ss(list) => {
            let new: Vec<String> = list.iter().map(|t| text(t).unwrap_or_else(|| t.clone())).collect();
            (new != *list).then(|| {
                let mut unique = new;
                unique.sort();
                unique.dedup();
                AttributeValue::Ss(unique)
            })
        }
        AttributeValue::L(list) => {
            let new: Vec<Option<AttributeValue>> = list.iter().map(|x| scrub_value(x, traces, names)).collect();
            new.iter().any(Option::is_some).then(|| {
                AttributeValue::L(new.into_iter().zip(list).map(|(n, old)| n.unwrap_or_else(|| old.clone())).collect())
            })
        }
        AttributeValue::M(map) => {
            let mut changed = false;
            let new: HashMap<String, AttributeValue> = map
                .iter()
                .map(|(k, x)| {
                    let k2 = text(k).unwrap_or_else(|| k.clone());
                    match scrub_value(x, traces, names) {
                        Some(n) => {
                            changed = true;
                            (k2, n)
                        }
                        None => {
                            changed |= k2 != *k;
                            (k2, x.clone())
                        }
                    }
                })
                .collect();
            changed.then_some(AttributeValue::M(new))
        }
        _ => None,
    }
}

impl Store {
    /// `DELETE /v1/me`'s write: the profile is marked erased, its tokens cut off, and what
    /// the job needs kept beside it; the audit entry in the same transaction. `false` when
    /// it was marked already.
    pub async fn mark_erased(&self, user_id: &str, mark: &ErasureMark, audit: &AuditEntry) -> Result<bool, StoreError> {
        let pk = keys::user(user_id);
        let at = s(rfc3339(audit.at));
        let mark_value = serde_dynamo::to_attribute_value(mark).map_err(|e| StoreError::Other(e.to_string()))?;
        let mut tx = Tx::new(self);
        tx.update(
            key(pk.clone(), keys::PROFILE),
            super::Expr::new("SET erasedAt = :at, tokensValidAfter = :at, erasure = :mark ADD #version :one")
                .name("#version", "version")
                .value(":at", at)
                .value(":mark", mark_value)
                .value(":one", n(1)),
            Some(super::Expr::new("attribute_not_exists(erasedAt)")),
        );
        tx.audit(pk, audit)?;
        super::written(tx.commit(self, None).await.map_err(StoreError::any_condition_failed))
    }

    /// Where the user's erasure stands.
    pub async fn erasure_state(&self, user_id: &str) -> Result<ErasureState, StoreError> {
        let Some(item) = self.get(keys::user(user_id), keys::PROFILE).await? else {
            return Ok(ErasureState::NotErased);
        };
        let marked: MarkedProfile = from_item(item)?;
        Ok(match (marked.erased_at, marked.erasure) {
            (None, _) => ErasureState::NotErased,
            (Some(erased_at), Some(mark)) => ErasureState::Running { erased_at, mark },
            (Some(_), None) => ErasureState::Finished,
        })
    }

    /// Adds addresses found since the mark was written (Cognito's), so a later delivery
    /// still knows them once the Cognito user is gone.
    pub async fn add_erasure_emails(&self, user_id: &str, mark: &ErasureMark) -> Result<(), StoreError> {
        let emails = serde_dynamo::to_attribute_value(&mark.emails).map_err(|e| StoreError::Other(e.to_string()))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user(user_id), keys::PROFILE)))
            .update_expression("SET erasure.emails = :emails")
            .condition_expression("attribute_exists(erasure)")
            .expression_attribute_values(":emails", emails)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Every household whose history may name the user: those they are in and those they
    /// left (each once; a user's households are few). The job's checklist.
    pub async fn households_of(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        for prefix in [keys::HOUSEHOLD_PREFIX, keys::LEFT_PREFIX] {
            let mut start = None;
            loop {
                let (items, next) = self.partition_page(&keys::user(user_id), prefix, start).await?;
                ids.extend(
                    items.iter().filter_map(|i| Some(i.get(keys::SK)?.as_s().ok()?.strip_prefix(prefix)?.to_string())),
                );
                match next {
                    Some(n) => start = Some(n),
                    None => break,
                }
            }
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Ticks a household off the checklist, once everything in it is done.
    pub async fn household_erased(&self, user_id: &str, household_id: &str) -> Result<(), StoreError> {
        for sk in [keys::household(household_id), keys::left_household(household_id)] {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(keys::user(user_id), sk)))
                .send()
                .await
                .map_err(classify)?;
        }
        Ok(())
    }

    /// One page of a partition's items whose sort key starts with `prefix` (`""`: all).
    pub async fn partition_page(
        &self,
        pk: &str,
        prefix: &str,
        start: Option<PageKey>,
    ) -> Result<(Vec<Item>, Option<PageKey>), StoreError> {
        if !prefix.is_empty() {
            return self
                .query_prefix(PrefixQuery {
                    index: None,
                    partition: (keys::PK, pk.to_string()),
                    sort_prefix: (keys::SK, prefix),
                    limit: 100,
                    start,
                })
                .await;
        }
        // The whole partition (DynamoDB refuses an empty `begins_with` prefix).
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(true)
            .limit(100)
            .set_exclusive_start_key(start.map(super::start_key))
            .send()
            .await
            .map_err(classify)?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key.as_ref().map(super::page_key)))
    }

    /// Scrubs every item of a partition whose sort key starts with `prefix` (`""`: all)
    /// of `traces`.
    pub async fn scrub_partition(
        &self,
        pk: &str,
        prefix: &str,
        traces: &Traces,
        scope: NameScope<'_>,
    ) -> Result<Scrubbed, StoreError> {
        let mut done = Scrubbed::default();
        let mut start = None;
        loop {
            let (items, next) = self.partition_page(pk, prefix, start).await?;
            for item in items {
                done += self.scrub_item(item, traces, scope).await?;
            }
            match next {
                Some(n) => start = Some(n),
                None => return Ok(done),
            }
        }
    }

    /// Scrubs the invites of a household (their own partitions, found through GSI1).
    pub async fn scrub_invites(&self, household_id: &str, traces: &Traces) -> Result<Scrubbed, StoreError> {
        let mut done = Scrubbed::default();
        let mut start = None;
        loop {
            let (refs, next) = self
                .query_prefix(PrefixQuery {
                    index: Some(keys::GSI1),
                    partition: (keys::GSI1PK, keys::household(household_id)),
                    sort_prefix: (keys::GSI1SK, keys::INVITE_PREFIX),
                    limit: 100,
                    start,
                })
                .await?;
            for r in refs {
                let Some(pk) = r.get(keys::PK).and_then(|v| v.as_s().ok()) else { continue };
                if let Some(item) = self.get(pk.clone(), keys::META).await? {
                    done += self.scrub_item(item, traces, NameScope::Household).await?;
                }
            }
            match next {
                Some(n) => start = Some(n),
                None => return Ok(done),
            }
        }
    }

    /// Scrubs one item: deletes it, or rewrites what names the user, conditional on what
    /// was read; on a lost race it is read again (a few times, then the job retries).
    pub async fn scrub_item(
        &self,
        mut item: Item,
        traces: &Traces,
        scope: NameScope<'_>,
    ) -> Result<Scrubbed, StoreError> {
        for _ in 0..5 {
            let Some(scrub) = scrub_of(&item, traces, scope) else {
                return Ok(Scrubbed::default());
            };
            let item_key = key(
                item.get(keys::PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default(),
                item.get(keys::SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default(),
            );
            let written = match &scrub {
                Scrub::Delete => {
                    self.client
                        .delete_item()
                        .table_name(&self.table)
                        .set_key(Some(item_key.clone()))
                        .send()
                        .await
                        .map_err(classify)?;
                    return Ok(Scrubbed { deleted: 1, rewritten: 0 });
                }
                Scrub::Rewrite(changes) => {
                    let mut update = self.client.update_item().table_name(&self.table).set_key(Some(item_key.clone()));
                    let (mut sets, mut conditions) = (Vec::new(), Vec::new());
                    for (i, (name, old, new)) in changes.iter().enumerate() {
                        sets.push(format!("#a{i} = :new{i}"));
                        conditions.push(format!("#a{i} = :old{i}"));
                        update = update
                            .expression_attribute_names(format!("#a{i}"), name)
                            .expression_attribute_values(format!(":new{i}"), new.clone())
                            .expression_attribute_values(format!(":old{i}"), old.clone());
                    }
                    super::written(
                        update
                            .update_expression(format!("SET {}", sets.join(", ")))
                            .condition_expression(conditions.join(" AND "))
                            .send()
                            .await
                            .map_err(classify),
                    )?
                }
            };
            if written {
                return Ok(Scrubbed { rewritten: 1, deleted: 0 });
            }
            match self.get_item_at(item_key).await? {
                Some(again) => item = again,
                None => return Ok(Scrubbed::default()),
            }
        }
        Err(StoreError::Unavailable("an item kept changing while it was scrubbed".into()))
    }

    async fn get_item_at(&self, item_key: Item) -> Result<Option<Item>, StoreError> {
        let pk = item_key.get(keys::PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let sk = item_key.get(keys::SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        self.get(pk, sk).await
    }

    /// The last step: every item of the user's partition goes but the profile, which
    /// becomes the bare marker (erased, tokens cut off, no name or email) until
    /// [`MARKER_DAYS`] after the erasure, when TTL removes it.
    pub async fn finish_erasure(&self, user_id: &str, erased_at: DateTime<Utc>) -> Result<usize, StoreError> {
        let pk = keys::user(user_id);
        let mut deleted = 0;
        loop {
            let (items, _) = self.partition_page(&pk, "", None).await?;
            let doomed: Vec<Item> = items
                .iter()
                .filter_map(|i| i.get(keys::SK)?.as_s().ok())
                .filter(|sk| *sk != keys::PROFILE)
                .map(|sk| key(pk.clone(), sk.clone()))
                .collect();
            if doomed.is_empty() {
                break;
            }
            deleted += doomed.len();
            self.batch_delete(doomed).await?;
        }
        let at = s(rfc3339(erased_at));
        let expires = erased_at + chrono::Duration::days(MARKER_DAYS);
        let marker: Item = HashMap::from([
            (keys::PK.to_string(), s(pk.clone())),
            (keys::SK.to_string(), s(keys::PROFILE)),
            ("erasedAt".to_string(), at.clone()),
            ("tokensValidAfter".to_string(), at),
            (keys::TTL.to_string(), n(expires.timestamp())),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(marker))
            .condition_expression("attribute_exists(erasedAt)")
            .send()
            .await
            .map_err(classify)?;
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn traces() -> Traces {
        Traces::new("u-1", "deleted-T", &["Zephyrine".into()], &["z@example.com".into()])
    }

    #[test]
    fn an_item_whose_key_names_the_user_is_deleted() {
        let member = item(&[("PK", s("HOUSEHOLD#h")), ("SK", s("MEMBER#u-1"))]);
        assert_eq!(scrub_of(&member, &traces(), NameScope::Household), Some(Scrub::Delete));
    }

    #[test]
    fn nested_ids_are_rewritten_and_untouched_attributes_are_left_out() {
        let completion = item(&[
            ("PK", s("HOUSEHOLD#h")),
            ("SK", s("DONE#2026#c")),
            ("userId", s("u-1")),
            ("points", n(5)),
            ("taskTitle", s("Zephyrine's desk")),
            (
                "previous",
                AttributeValue::M(HashMap::from([(
                    "assignedTo".to_string(),
                    AttributeValue::L(vec![s("u-2"), s("u-1")]),
                )])),
            ),
        ]);
        let Some(Scrub::Rewrite(changes)) = scrub_of(&completion, &traces(), NameScope::Household) else {
            panic!("rewrite")
        };
        let names: Vec<&str> = changes.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, ["previous", "userId"], "a chore title keeps a name outside texts that are messages");
        assert_eq!(changes[1].2, s("deleted-T"));
        let AttributeValue::M(prev) = &changes[0].2 else { panic!() };
        assert_eq!(prev["assignedTo"], AttributeValue::L(vec![s("u-2"), s("deleted-T")]));
    }

    #[test]
    fn names_in_message_texts_and_emails_anywhere_are_replaced() {
        let notification = item(&[
            ("PK", s("USER#u-2")),
            ("SK", s("NOTIF#01")),
            ("householdId", s("h")),
            ("body", s("Zephyrine completed Dishes")),
            ("title", s("Done")),
        ]);
        let Some(Scrub::Rewrite(changes)) = scrub_of(&notification, &traces(), NameScope::MessagesAbout("h")) else {
            panic!("rewrite")
        };
        assert_eq!(
            changes,
            vec![("body".into(), s("Zephyrine completed Dishes"), s("Deleted member completed Dishes"))]
        );
        // About another household: a namesake there keeps their name (ids still go).
        let elsewhere = item(&[
            ("PK", s("USER#u-2")),
            ("SK", s("NOTIF#02")),
            ("householdId", s("other")),
            ("body", s("Zephyrine completed Dishes")),
        ]);
        assert_eq!(scrub_of(&elsewhere, &traces(), NameScope::MessagesAbout("h")), None);
        let webhook = item(&[("PK", s("HOUSEHOLD#h")), ("SK", s("WEBHOOK#w")), ("note", s("ask Z@example.com"))]);
        assert!(matches!(scrub_of(&webhook, &traces(), NameScope::Household), Some(Scrub::Rewrite(_))));
        let other = item(&[("PK", s("HOUSEHOLD#h")), ("SK", s("TASK#t")), ("title", s("Dishes"))]);
        assert_eq!(scrub_of(&other, &traces(), NameScope::Household), None);
    }
}
