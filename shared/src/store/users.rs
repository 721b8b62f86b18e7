//! User profiles.

use super::{Expr, Store, StoreError, Tx, classify, keys, n, to_item};
use crate::domain::audit::AuditEntry;
use crate::domain::user::UserProfile;

impl Store {
    pub async fn get_profile(&self, user_id: &str) -> Result<Option<UserProfile>, StoreError> {
        self.get_as(keys::user(user_id), keys::PROFILE).await
    }

    /// Creates the profile unless one exists; either way returns the stored profile.
    pub async fn get_or_create_profile(&self, fresh: UserProfile) -> Result<UserProfile, StoreError> {
        if let Some(p) = self.get_profile(&fresh.user_id).await? {
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

    /// Saves `updated` if the stored version is still `updated.version - 1`.
    pub async fn update_profile(&self, updated: &UserProfile, audit: &AuditEntry) -> Result<(), StoreError> {
        let pk = keys::user(&updated.user_id);
        let mut tx = Tx::new(self);
        tx.put(
            to_item(pk.clone(), keys::PROFILE.into(), updated)?,
            Some(
                Expr::new("#version = :expected")
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
