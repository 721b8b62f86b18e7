//! "Sign out everywhere": Cognito revokes the user's refresh tokens (global sign-out), and
//! the profile's tokens-valid-after time makes every route refuse the ID tokens issued up to
//! now, which Cognito's sign-out leaves valid until they expire. The check is the one erasure
//! uses: read with the membership (or the caller's profile), not as an extra call.

use shared::domain::audit::AuditEntry;
use shared::domain::user::UserProfile;
use shared::{ApiError, ApiRequest, ApiResponse, ApiResult, App, ErrorCode};

/// `POST /v1/me/sign-out-everywhere`: 204. Cognito first: if that fails nothing changed and
/// the client may retry; if the write after it fails, the retry (with the same, still valid
/// ID token) finishes it.
pub async fn sign_out_everywhere(app: App, req: ApiRequest) -> ApiResult {
    let caller = app.caller(&req).await?;
    let principal = caller.principal;
    let now = app.now();
    app.store.profile_or_create(caller.profile, UserProfile::first_seen(principal, now)).await?;
    global_sign_out(&app, principal.username.as_deref().unwrap_or(&principal.user_id)).await?;
    let audit = AuditEntry::new(
        &principal.user_id,
        "user.sign_out_everywhere",
        format!("user/{}", principal.user_id),
        &req.correlation_id,
        now,
    );
    if !app.store.sign_out_everywhere(&principal.user_id, &audit).await? {
        return Err(ApiError::new(ErrorCode::TokenRevoked));
    }
    Ok(ApiResponse::no_content())
}

/// Revokes the user's refresh tokens; a user Cognito no longer has has none.
async fn global_sign_out(app: &App, username: &str) -> Result<(), ApiError> {
    let Some(mail) = app.mail() else { return Ok(()) };
    let out = mail
        .cognito
        .admin_user_global_sign_out()
        .user_pool_id(&app.config.user_pool_id)
        .username(username)
        .send()
        .await;
    match out {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_user_not_found_exception()) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e), "global sign-out failed");
            Err(ApiError::unavailable())
        }
    }
}
