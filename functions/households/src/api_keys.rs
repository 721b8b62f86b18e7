//! Household API keys, managed by owners and admins on the Cognito API; used on the
//! integration API, where the API-key authorizer admits them (`authorize_api_key`).
//!
//! Each key is also an API Gateway API key in the integration API's usage plan: the plan
//! throttles and caps each key. That key's value is the authorizer's usage identifier, never
//! shown; the household key itself is shown once and kept only as a SHA-256.

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use serde::Serialize;
use serde_json::{Value, json};
use shared::api_keys::delete_usage_key;
use shared::auth::Action;
use shared::auth::key_context;
use shared::domain::api_key::{self, ApiKey, MAX_KEYS, NewApiKey, Refusal, Scope};
use shared::domain::audit::AuditEntry;
use shared::platform::pagination::{CursorRule, Page};
use shared::platform::validate::ulid_param;
use shared::store::api_keys::{KeyCreate, UsageKey};
use shared::store::feeds::{new_token, token_hash};
use shared::store::keys;
use shared::store::rate::RateLimit;
use shared::{ApiError, ApiRequest, ApiResponse, ApiResult, App, ErrorCode};

use crate::authorize;

/// Keys a user may make a day, across their households.
pub const KEY_CREATIONS: RateLimit = RateLimit { action: "apikey-create", limit: 20, seconds: 86_400 };

/// The request header that carries a household key on the integration API (the
/// authorizer's identity source in template.yaml).
pub const KEY_HEADER: &str = "x-api-key";

/// A key as shown: never its secret, but once, right after it is made (`key`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyView {
    #[serde(flatten)]
    key: ApiKey,
    #[serde(skip_serializing_if = "Option::is_none", rename = "key")]
    secret: Option<String>,
}

fn location(household_id: &str, key_id: &str) -> String {
    format!("/v1/households/{household_id}/api-keys/{key_id}")
}

fn apigateway(app: &App) -> Result<&aws_sdk_apigateway::Client, ApiError> {
    app.apigateway().ok_or_else(|| {
        tracing::error!("no API Gateway client");
        ApiError::unavailable()
    })
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "API Gateway: {what} failed");
    ApiError::unavailable()
}

/// `POST /v1/households/{householdId}/api-keys` (owner, admin): a new key with a name,
/// scopes and an expiry; 201 with the key, shown this once.
pub async fn create_api_key(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::ManageApiKeys).await?;
    let input: NewApiKey = req.json()?;
    let now = app.now();
    let valid = input.validate(now)?;
    let household_id = m.household.household_id.clone();
    let limit = || ApiError::new(ErrorCode::ApiKeyLimit).with("max", MAX_KEYS);
    // Before making an API Gateway key; the transaction below checks it again.
    if app.store.api_key_count(&household_id).await? >= MAX_KEYS {
        return Err(limit());
    }
    // Each user makes a bounded number a day: every key is an API Gateway key, a quota of the
    // account shared by every household.
    if !app.store.rate_take(&KEY_CREATIONS, &m.member.user_id, now).await? {
        return Err(ApiError::rate_limited(KEY_CREATIONS.retry_after(now)));
    }
    let key_id = ulid::Ulid::new().to_string();
    let secret = api_key::new_key(new_token());
    let key = ApiKey {
        key_id: key_id.clone(),
        household_id: household_id.clone(),
        name: valid.name,
        prefix: api_key::visible_prefix(&secret),
        scopes: valid.scopes,
        created_by: m.member.user_id.clone(),
        created_at: now,
        expires_at: valid.expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    // The usage plan's key first: if storing fails, it is deleted again; if it cannot be
    // made, nothing is stored.
    let usage = create_usage_key(&app, &household_id, &key_id).await?;
    let audit =
        AuditEntry::new(&m.member.user_id, "apikey.create", format!("apikey/{key_id}"), &req.correlation_id, now);
    let stored = app.store.create_api_key(&key, &token_hash(&secret), &usage, MAX_KEYS, &audit).await;
    if !matches!(stored, Ok(KeyCreate::Created))
        && let Err(e) = delete_usage_key(&app, &usage.id).await
    {
        tracing::error!(code = e.code.as_str(), usage_key = %usage.id, "an API Gateway key is left without its household key");
    }
    match stored? {
        KeyCreate::Created => {}
        KeyCreate::LimitReached => return Err(limit()),
    }
    // The key is in this answer only: no cache may keep it.
    Ok(ApiResponse::created(location(&household_id, &key_id), &KeyView { key, secret: Some(secret) })
        .header("cache-control", "no-store".to_string()))
}

async fn create_usage_key(app: &App, household_id: &str, key_id: &str) -> Result<UsageKey, ApiError> {
    let client = apigateway(app)?;
    let value = new_token();
    let created = client
        .create_api_key()
        .name(format!("household-{household_id}-{key_id}"))
        .description("A Chore Garden household API key's usage identifier")
        .value(&value)
        .enabled(true)
        .send()
        .await
        .map_err(|e| unavailable("CreateApiKey", aws_sdk_apigateway::error::DisplayErrorContext(e)))?;
    let id = created.id.unwrap_or_default();
    let joined = client
        .create_usage_plan_key()
        .usage_plan_id(&app.config.integration_usage_plan_id)
        .key_id(&id)
        .key_type("API_KEY")
        .send()
        .await;
    if let Err(e) = joined {
        delete_usage_key(app, &id).await.ok();
        return Err(unavailable("CreateUsagePlanKey", aws_sdk_apigateway::error::DisplayErrorContext(e)));
    }
    Ok(UsageKey { id, value })
}

/// `GET /v1/households/{householdId}/api-keys` (owner, admin): the keys, revoked ones too,
/// with when each was last used; never a secret.
pub async fn list_api_keys(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::ManageApiKeys).await?;
    let pk = keys::household(&m.household.household_id);
    let (limit, start) = req.page(&CursorRule {
        attributes: &[keys::PK, keys::SK],
        equal: &[(keys::PK, &pk)],
        prefixed: &[(keys::SK, keys::API_KEY_PREFIX)],
    })?;
    let (items, next) = app.store.list_api_keys(&m.household.household_id, limit, start).await?;
    let items: Vec<KeyView> = items.into_iter().map(|key| KeyView { key, secret: None }).collect();
    Ok(ApiResponse::ok(&Page::new(items, next)))
}

/// `DELETE /v1/households/{householdId}/api-keys/{keyId}` (owner, admin): revokes the key.
/// Every route refuses it from then on (the handlers read the key with the membership);
/// the authorizer's cached decision for it lasts at most its `ReauthorizeEvery`. Revoking
/// a revoked key again is a 204 too.
pub async fn revoke_api_key(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::ManageApiKeys).await?;
    let key_id = ulid_param("keyId", req.path_param("keyId"))?;
    let household_id = &m.household.household_id;
    let Some((key, hash, usage)) = app.store.api_key(household_id, &key_id).await? else {
        return Err(ApiError::new(ErrorCode::ApiKeyNotFound));
    };
    // The table first: from then on the authorizer and every handler refuse the key, whatever
    // API Gateway's control plane is doing. Its API Gateway key goes next; should that fail,
    // the answer is a 503 and revoking again finishes it.
    if key.revoked_at.is_none() {
        let now = app.now();
        let audit =
            AuditEntry::new(&m.member.user_id, "apikey.revoke", format!("apikey/{key_id}"), &req.correlation_id, now);
        app.store.revoke_api_key(&key, &hash, now, Some(&audit)).await?;
    }
    delete_usage_key(&app, &usage.id).await?;
    Ok(ApiResponse::no_content())
}

/// What the authorizer decided, before it becomes API Gateway's answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// No key, a malformed one, or one nobody made: 401 `apikey.invalid` (API Gateway's
    /// `UNAUTHORIZED` response, from the authorizer's "Unauthorized").
    Unknown,
    /// A key that was revoked or has expired: denied, with the code the `ACCESS_DENIED`
    /// response shows.
    Refused(ErrorCode),
    Allowed {
        household_id: String,
        key_id: String,
        user_id: String,
        scopes: Vec<Scope>,
        usage_identifier: String,
    },
}

/// Decides on the key a request presents. Keys are never logged, not even their prefix:
/// the log names the key id once it is known.
pub async fn decide(app: &App, presented: Option<&str>) -> Result<Decision, ApiError> {
    let Some(presented) = presented.map(str::trim).filter(|k| api_key::well_formed(k)) else {
        return Ok(Decision::Unknown);
    };
    let Some(found) = app.store.api_key_by_hash(&token_hash(presented)).await? else {
        return Ok(Decision::Unknown);
    };
    let now = app.now();
    let refusal = if found.revoked_at.is_some() {
        Some(Refusal::Revoked)
    } else if now >= found.expires_at {
        Some(Refusal::Expired)
    } else {
        None
    };
    if let Some(r) = refusal {
        tracing::info!(key_id = %found.key_id, refusal = ?r, "API key refused");
        return Ok(Decision::Refused(match r {
            Refusal::Revoked => ErrorCode::ApiKeyRevoked,
            Refusal::Expired => ErrorCode::ApiKeyExpired,
        }));
    }
    // When it was last used: once per cached decision, so at most once a ReauthorizeEvery.
    if let Err(e) = app.store.touch_api_key(&found.household_id, &found.key_id, now).await {
        tracing::warn!(error = %e, key_id = %found.key_id, "could not note the key's last use");
    }
    Ok(Decision::Allowed {
        household_id: found.household_id,
        key_id: found.key_id,
        user_id: found.created_by,
        scopes: found.scopes,
        usage_identifier: found.usage_key.value,
    })
}

/// The Lambda REQUEST authorizer of the integration API: admits a household key for the
/// whole API (the decision is cached per key, and each route's handler checks the scope it
/// needs and re-reads the key), and hands API Gateway the key's usage identifier so its
/// usage plan applies. An unknown key is an error ("Unauthorized": API Gateway's 401); a
/// revoked or expired one a Deny whose context names the code.
pub async fn authorize_api_key(
    app: App,
    event: ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> Result<Value, shared::lambda::Error> {
    let presented = event
        .headers
        .iter()
        .find(|(name, _)| name.as_str().eq_ignore_ascii_case(KEY_HEADER))
        .and_then(|(_, v)| v.to_str().ok());
    // A store that is down: an error other than "Unauthorized" is API Gateway's 500; the
    // client retries.
    let decision =
        decide(&app, presented).await.map_err(|e| format!("the key could not be checked: {}", e.code.as_str()))?;
    let resource = whole_api(event.method_arn.as_deref().unwrap_or_default());
    let policy = |effect: &str| {
        json!({
            "Version": "2012-10-17",
            "Statement": [{ "Action": "execute-api:Invoke", "Effect": effect, "Resource": resource }],
        })
    };
    match decision {
        Decision::Unknown => Err("Unauthorized".into()),
        Decision::Refused(code) => Ok(json!({
            "principalId": "refused",
            "policyDocument": policy("Deny"),
            "context": { "code": code.as_str() },
        })),
        Decision::Allowed { household_id, key_id, user_id, scopes, usage_identifier } => Ok(json!({
            "principalId": format!("apikey:{key_id}"),
            "policyDocument": policy("Allow"),
            "context": {
                key_context::KEY_ID: key_id,
                key_context::HOUSEHOLD_ID: household_id,
                key_context::USER_ID: user_id,
                key_context::SCOPES: Scope::join(&scopes),
            },
            "usageIdentifierKey": usage_identifier,
        })),
    }
}

/// `arn:aws:execute-api:<region>:<account>:<api>/<stage>/*` from a method ARN
/// (`…:<api>/<stage>/<METHOD>/<path>`): the cached decision covers every route of the API.
pub fn whole_api(method_arn: &str) -> String {
    let mut parts = method_arn.splitn(3, '/');
    match (parts.next(), parts.next()) {
        (Some(api), Some(stage)) => format!("{api}/{stage}/*"),
        _ => method_arn.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_covers_the_whole_stage() {
        assert_eq!(
            whole_api(
                "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod/POST/v1/households/X/tasks/Y/complete"
            ),
            "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod/*"
        );
    }
}
