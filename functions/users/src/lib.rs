//! The users service: the caller's own profile and in-app notifications.

pub mod erasure;
mod notifications;
mod sessions;

pub use erasure::delete_me;
pub use notifications::*;
pub use sessions::sign_out_everywhere;

use shared::domain::audit::AuditEntry;
use shared::domain::user::{ProfilePatch, UserProfile};
use shared::lambda::{Route, Worker};
use shared::store::StoreError;
use shared::{ApiRequest, ApiResponse, ApiResult, App, handler};

pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/v1/me",
        function: "GetMeFunction",
        authenticated: true,
        handler: handler!(get_me),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "PATCH",
        path: "/v1/me",
        function: "PatchMeFunction",
        authenticated: true,
        handler: handler!(patch_me),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "DELETE",
        path: "/v1/me",
        function: "DeleteMeFunction",
        authenticated: true,
        handler: handler!(delete_me),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/me/sign-out-everywhere",
        function: "SignOutEverywhereFunction",
        authenticated: true,
        handler: handler!(sign_out_everywhere),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "GET",
        path: "/v1/me/notifications",
        function: "ListNotificationsFunction",
        authenticated: true,
        handler: handler!(list_notifications),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/me/notifications/{notificationId}/read",
        function: "MarkNotificationReadFunction",
        authenticated: true,
        handler: handler!(mark_notification_read),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/me/notifications/read-all",
        function: "MarkAllNotificationsReadFunction",
        authenticated: true,
        handler: handler!(mark_all_notifications_read),
        deprecated: None,
        scope: None,
    },
];

pub const WORKERS: &[Worker] = &[Worker {
    function: "ErasureFunction",
    queue: "ErasureQueue",
    handler: |app, event| Box::pin(erasure::handle_batch(app, event)),
}];

/// `GET /v1/me`: the caller's profile, created from the token's claims on first call.
pub async fn get_me(app: App, req: ApiRequest) -> ApiResult {
    let caller = app.caller(&req).await?;
    let fresh = UserProfile::first_seen(caller.principal, app.now());
    let profile = app.store.profile_or_create(caller.profile, fresh).await?;
    Ok(ApiResponse::ok(&profile).etag(profile.version))
}

/// `PATCH /v1/me` with `If-Match`: display name, locale, time zone, notification preferences.
pub async fn patch_me(app: App, req: ApiRequest) -> ApiResult {
    let caller = app.caller(&req).await?;
    let principal = caller.principal;
    let patch: ProfilePatch = req.json()?;
    let now = app.now();
    let current = app.store.profile_or_create(caller.profile, UserProfile::first_seen(principal, now)).await?;
    req.require_if_match(current.version)?;
    let updated = patch.apply(current, now)?;
    let audit = AuditEntry::new(
        &principal.user_id,
        "user.update",
        format!("user/{}", principal.user_id),
        &req.correlation_id,
        now,
    );
    match app.store.update_profile(&updated, &audit).await {
        Ok(()) => Ok(ApiResponse::ok(&updated).etag(updated.version)),
        Err(StoreError::ConditionFailed) => Err(req.lost_race()),
        Err(e) => Err(e.into()),
    }
}
