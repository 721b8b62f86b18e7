//! Revoking household API keys: what the revoke route does for one key, and what a member
//! leaving (or being erased) and a household's purge do for many. Each key is revoked in
//! two places: its record and lookup item are marked revoked (so the authorizer and every
//! handler refuse it at once), then its API Gateway key is deleted (so API Gateway does
//! too, and the account's quota of keys gets it back).

use crate::App;
use crate::domain::audit::AuditEntry;
use crate::platform::error::ApiError;

/// Deletes a key's API Gateway key (which takes it out of the usage plan too). One already
/// gone counts as deleted; any other failure is a 503 (the caller retries).
pub async fn delete_usage_key(app: &App, id: &str) -> Result<(), ApiError> {
    let Some(client) = app.apigateway() else {
        tracing::error!("no API Gateway client");
        return Err(ApiError::unavailable());
    };
    match client.delete_api_key().api_key(id).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found_exception()) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %aws_sdk_apigateway::error::DisplayErrorContext(e), "API Gateway: DeleteApiKey failed");
            Err(ApiError::unavailable())
        }
    }
}

/// Who revokes, for the audit log; `None` writes no entry (a household being purged).
pub struct Revoker<'a> {
    pub actor: &'a str,
    pub correlation_id: &'a str,
}

/// Revokes the household's keys that `made_by` made (every key for `None`): for a member
/// who left or was erased (their keys acted as them), and for a deleted household. Keys
/// revoked already are left alone, so a retry finishes what a failure interrupted.
pub async fn revoke_keys(
    app: &App,
    household_id: &str,
    made_by: Option<&str>,
    revoker: Option<Revoker<'_>>,
) -> Result<usize, String> {
    let err = |e: crate::store::StoreError| format!("{e:?}");
    let (mut start, mut revoked) = (None, 0);
    loop {
        let (keys, next) = app.store.list_api_keys(household_id, 100, start).await.map_err(err)?;
        // Revoked ones too: their API Gateway key may have outlived a failure.
        for listed in keys.iter().filter(|k| made_by.is_none_or(|u| k.created_by == u)) {
            let Some((key, hash, usage)) = app.store.api_key(household_id, &listed.key_id).await.map_err(err)? else {
                continue;
            };
            if key.revoked_at.is_none() {
                let now = app.now();
                let audit = revoker.as_ref().map(|r| {
                    AuditEntry::new(r.actor, "apikey.revoke", format!("apikey/{}", key.key_id), r.correlation_id, now)
                });
                if app.store.revoke_api_key(&key, &hash, now, audit.as_ref()).await.map_err(err)? {
                    revoked += 1;
                }
            }
            delete_usage_key(app, &usage.id).await.map_err(|e| e.code.as_str().to_string())?;
        }
        match next {
            Some(n) => start = Some(n),
            None => return Ok(revoked),
        }
    }
}
