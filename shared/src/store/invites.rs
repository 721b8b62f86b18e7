//! Invites: stored under their own code (so accepting is one GetItem), indexed by
//! household on GSI1 for listing, and expired by TTL (reads check expiry themselves).

use chrono::{DateTime, Utc};

use super::households::membership_ref_item;
use super::{Expr, Item, PrefixQuery, Store, StoreError, Tx, from_item, key, keys, n, s, to_item};
use crate::domain::audit::AuditEntry;
use crate::domain::household::Member;
use crate::domain::invite::Invite;
use crate::platform::clock::rfc3339;
use crate::platform::pagination::PageKey;

/// Why accepting failed, from the transaction's cancellation reasons.
#[derive(Debug, PartialEq, Eq)]
pub enum AcceptFailure {
    /// The invite changed under us (used up, revoked or expired meanwhile).
    InviteGone,
    AlreadyMember,
    /// The household was deleted or is full.
    HouseholdUnavailable,
    /// A concurrent request with the same Idempotency-Key won: replay its response.
    KeyTaken,
}

fn invite_item(invite: &Invite) -> Result<Item, StoreError> {
    let mut item = to_item(keys::invite(&invite.code), keys::META.into(), invite)?;
    item.insert(keys::GSI1PK.into(), s(keys::household(&invite.household_id)));
    item.insert(keys::GSI1SK.into(), s(keys::invite_by_household(&rfc3339(invite.created_at), &invite.code)));
    item.insert(keys::TTL.into(), n(invite.expires_at.timestamp()));
    Ok(item)
}

impl Store {
    pub async fn create_invite(
        &self,
        invite: &Invite,
        audit: &AuditEntry,
        idempotent: Option<&super::idempotency::Idempotent<'_>>,
    ) -> Result<(), StoreError> {
        let mut tx = Tx::new(self);
        tx.idempotent(idempotent, audit.at)?;
        tx.put_new(invite_item(invite)?);
        tx.check(
            key(keys::household(&invite.household_id), keys::META),
            Expr::new("#status = :active").name("#status", "status").value(":active", s("active")),
        );
        tx.audit(keys::household(&invite.household_id), audit)?;
        tx.commit(self, None).await
    }

    pub async fn get_invite(&self, code: &str) -> Result<Option<Invite>, StoreError> {
        self.get_as(keys::invite(code), keys::META).await
    }

    /// A household's invites, newest last, one page (GSI1: eventually consistent).
    pub async fn list_invites(
        &self,
        household_id: &str,
        limit: i32,
        start: Option<PageKey>,
    ) -> Result<(Vec<Invite>, Option<PageKey>), StoreError> {
        let (items, next) = self
            .query_prefix(PrefixQuery {
                index: Some(keys::GSI1),
                partition: (keys::GSI1PK, keys::household(household_id)),
                sort_prefix: (keys::GSI1SK, keys::INVITE_PREFIX),
                limit,
                start,
            })
            .await?;
        let invites = items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok((invites, next))
    }

    /// How many of the household's newest invites (at most `window` of them) can still be
    /// used. Invites expire within 30 days and are then deleted by TTL, so the newest ones
    /// are the live ones: one bounded Query, whatever the household's history.
    pub async fn live_invites(&self, household_id: &str, window: i32, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::GSI1PK)
            .expression_attribute_names("#sk", keys::GSI1SK)
            .expression_attribute_values(":pk", s(keys::household(household_id)))
            .expression_attribute_values(":prefix", s(keys::INVITE_PREFIX))
            .scan_index_forward(false)
            .limit(window)
            .send()
            .await
            .map_err(super::classify)?;
        let invites: Vec<Invite> =
            out.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok(invites.iter().filter(|i| i.check_usable(now).is_ok()).count())
    }

    /// Revokes an invite of this household; `ConditionFailed` if it is not one of its own.
    pub async fn revoke_invite(&self, household_id: &str, code: &str, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = Tx::new(self);
        tx.update(
            key(keys::invite(code), keys::META),
            Expr::new("SET revoked = :true").value(":true", aws_sdk_dynamodb::types::AttributeValue::Bool(true)),
            Some(Expr::new("householdId = :hid").value(":hid", s(household_id))),
        );
        tx.audit(keys::household(household_id), audit)?;
        tx.commit(self, None).await.map_err(|e| match e.failed_condition() {
            Some(0) => StoreError::ConditionFailed,
            _ => e,
        })
    }

    /// Uses the invite once and adds the member, all or nothing. The conditions re-check
    /// in the transaction what the caller checked on read, so a race cannot overuse it.
    pub async fn accept_invite(
        &self,
        invite: &Invite,
        member: &Member,
        max_members: u32,
        audit: &AuditEntry,
        idempotent: Option<&super::idempotency::Idempotent<'_>>,
    ) -> Result<Result<(), AcceptFailure>, StoreError> {
        let pk = keys::household(&invite.household_id);
        let mut tx = Tx::new(self);
        let offset = tx.idempotent(idempotent, audit.at)?;
        tx.update(
            key(keys::invite(&invite.code), keys::META),
            Expr::new("SET #uses = #uses + :one").name("#uses", "uses").value(":one", n(1)),
            Some(
                Expr::new("revoked = :false AND #uses < maxUses AND #ttl > :now")
                    .name("#ttl", keys::TTL)
                    .value(":false", aws_sdk_dynamodb::types::AttributeValue::Bool(false))
                    .value(":now", n(audit.at.timestamp())),
            ),
        );
        tx.put_new(to_item(pk.clone(), keys::member(&member.user_id), member)?);
        tx.put(membership_ref_item(&invite.household_id, &member.user_id)?, None);
        tx.update(
            key(pk.clone(), keys::META),
            Expr::new("SET #count = #count + :one").name("#count", "memberCount").value(":one", n(1)),
            Some(
                Expr::new("#status = :active AND #count < :max")
                    .name("#status", "status")
                    .value(":active", s("active"))
                    .value(":max", n(max_members)),
            ),
        );
        tx.audit(pk, audit)?;
        match tx.commit(self, None).await {
            Ok(()) => Ok(Ok(())),
            Err(e) => match e.failed_condition().map(|i| (i, i.checked_sub(offset))) {
                Some((_, None)) => Ok(Err(AcceptFailure::KeyTaken)),
                Some((_, Some(0))) => Ok(Err(AcceptFailure::InviteGone)),
                Some((_, Some(1))) => Ok(Err(AcceptFailure::AlreadyMember)),
                Some(_) => Ok(Err(AcceptFailure::HouseholdUnavailable)),
                None => Err(e),
            },
        }
    }
}
