//! User profiles.

use super::{Expr, Store, StoreError, Tx, classify, from_item, keys, n, to_item};
use crate::domain::audit::AuditEntry;
use crate::domain::erasure::Session;
use crate::domain::user::UserProfile;

/// The profile item's attributes that make up the session state (read with every
/// membership).
pub(crate) const SESSION_PROJECTION: &str = "tokensValidAfter, erasedAt";

impl Store {
    /// The caller's profile (`None` before their first call, or once erased).
    pub async fn get_profile(&self, user_id: &str) -> Result<Option<UserProfile>, StoreError> {
        Ok(self.session_and_profile(user_id).await?.1)
    }

    /// The session state and the profile, from one consistent read. An erased user's
    /// profile item is a bare marker: their session says so and there is no profile.
    pub async fn session_and_profile(&self, user_id: &str) -> Result<(Session, Option<UserProfile>), StoreError> {
        let Some(item) = self.get(keys::user(user_id), keys::PROFILE).await? else {
            return Ok((Session::default(), None));
        };
        let session: Session = from_item(item.clone())?;
        if session.erased_at.is_some() {
            return Ok((session, None));
        }
        Ok((session, Some(from_item(item)?)))
    }

    /// The profile a [`get_profile`](Store::get_profile) found, or `fresh`, created now:
    /// for handlers that read the profile beside other reads and write only once those
    /// checked out.
    pub async fn profile_or_create(
        &self,
        found: Option<UserProfile>,
        fresh: UserProfile,
    ) -> Result<UserProfile, StoreError> {
        if let Some(p) = found {
            return Ok(p);
        }
        let item = to_item(keys::user(&fresh.user_id), keys::PROFILE.into(), &fresh)?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match put.map_err(classify) {
            Ok(_) => Ok(fresh),
            // Two first calls raced: the other one created it.
            Err(StoreError::ConditionFailed) => {
                self.get_profile(&fresh.user_id).await?.ok_or(StoreError::ConditionFailed)
            }
            Err(e) => Err(e),
        }
    }

    /// "Sign out everywhere": tokens issued up to now are refused from now on (the profile
    /// exists: the caller's was made first). Moves the version on. `false` if the account
    /// was erased meanwhile.
    pub async fn sign_out_everywhere(&self, user_id: &str, audit: &AuditEntry) -> Result<bool, StoreError> {
        let pk = keys::user(user_id);
        let at = super::s(crate::platform::clock::rfc3339(audit.at));
        let mut tx = Tx::new(self);
        tx.update(
            super::key(pk.clone(), keys::PROFILE),
            Expr::new("SET tokensValidAfter = :at, updatedAt = :at ADD #version :one")
                .name("#version", "version")
                .value(":at", at)
                .value(":one", n(1)),
            Some(Expr::new("attribute_exists(PK) AND attribute_not_exists(erasedAt)")),
        );
        tx.audit(pk, audit)?;
        super::written(tx.commit(self, None).await.map_err(StoreError::any_condition_failed))
    }

    /// Saves `updated` if the stored version is still `updated.version - 1` (erasing or
    /// signing out everywhere moves the version on too).
    pub async fn update_profile(&self, updated: &UserProfile, audit: &AuditEntry) -> Result<(), StoreError> {
        let pk = keys::user(&updated.user_id);
        let mut tx = Tx::new(self);
        tx.put(
            to_item(pk.clone(), keys::PROFILE.into(), updated)?,
            Some(
                Expr::new("#version = :expected AND attribute_not_exists(erasedAt)")
                    .name("#version", "version")
                    .value(":expected", n(updated.version - 1)),
            ),
        );
        tx.audit(pk, audit)?;
        tx.commit(self, None).await.map_err(|e| match e.failed_condition() {
            Some(0) => StoreError::ConditionFailed,
            _ => e,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;

    use super::super::from_item;
    use crate::domain::notification::EventType;
    use crate::domain::user::UserProfile;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    fn profile_item(notifications: AttributeValue) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("PK".into(), s("USER#u1")),
            ("SK".into(), s("PROFILE")),
            ("userId".into(), s("u1")),
            ("displayName".into(), s("Ana")),
            ("locale".into(), s("en")),
            ("timezone".into(), s("Europe/Berlin")),
            ("notifications".into(), notifications),
            ("version".into(), AttributeValue::N("3".into())),
            ("createdAt".into(), s("2026-11-01T10:00:00.000Z")),
            ("updatedAt".into(), s("2026-11-01T10:00:00.000Z")),
        ])
    }

    #[test]
    fn a_profile_item_written_before_quiet_hours_and_event_channels_still_reads() {
        let old = AttributeValue::M(HashMap::from([
            ("email".into(), AttributeValue::Bool(false)),
            ("push".into(), AttributeValue::Bool(true)),
            ("dailyDigest".into(), AttributeValue::Bool(true)),
        ]));
        let p: UserProfile = from_item(profile_item(old)).unwrap();
        assert!(!p.notifications.email && p.notifications.daily_digest);
        assert_eq!(p.notifications.quiet_hours, None);
        assert!(p.notifications.events.is_empty());
    }

    #[test]
    fn a_profile_item_with_an_event_type_of_another_version_still_reads() {
        let channels = |email: bool| {
            AttributeValue::M(HashMap::from([
                ("inApp".into(), AttributeValue::Bool(true)),
                ("email".into(), AttributeValue::Bool(email)),
                ("push".into(), AttributeValue::Bool(false)),
            ]))
        };
        let newer = AttributeValue::M(HashMap::from([
            ("email".into(), AttributeValue::Bool(true)),
            ("push".into(), AttributeValue::Bool(true)),
            ("dailyDigest".into(), AttributeValue::Bool(false)),
            ("quietHours".into(), AttributeValue::Null(true)),
            (
                "events".into(),
                AttributeValue::M(HashMap::from([
                    ("birthday".into(), channels(true)),
                    ("completed".into(), channels(true)),
                    ("overdue".into(), AttributeValue::M(HashMap::from([("sms".into(), AttributeValue::Bool(true))]))),
                ])),
            ),
        ]));
        let p: UserProfile = from_item(profile_item(newer)).unwrap();
        assert_eq!(p.notifications.events.keys().copied().collect::<Vec<_>>(), vec![EventType::Completed]);
    }
}
