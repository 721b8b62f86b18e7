//! The caller's in-app notifications: newest first, paginated, with the unread count; one
//! or all marked read. Only ever the caller's own: the partition is their token's `sub`.

use serde::Serialize;
use shared::domain::audit::AuditEntry;
use shared::domain::notification::InAppNotification;
use shared::platform::pagination::{CursorRule, Page};
use shared::platform::validate::ulid_param;
use shared::store::keys;
use shared::{ApiError, ApiRequest, ApiResponse, ApiResult, App, ErrorCode};

/// The unread count stops here (a badge shows "99+").
pub const UNREAD_CAP: u32 = 99;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NotificationView {
    #[serde(flatten)]
    notification: InAppNotification,
    read: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NotificationPage {
    #[serde(flatten)]
    page: Page<NotificationView>,
    /// Unread notifications, counted up to [`UNREAD_CAP`].
    unread_count: u32,
}

/// `GET /v1/me/notifications`: a page of the caller's notifications and the unread count.
pub async fn list_notifications(app: App, req: ApiRequest) -> ApiResult {
    let caller = app.caller(&req).await?;
    let user_id = &caller.principal.user_id;
    let pk = keys::user(user_id);
    let (limit, start) = req.page(&CursorRule {
        attributes: &[keys::PK, keys::SK],
        equal: &[(keys::PK, &pk)],
        prefixed: &[(keys::SK, keys::NOTIFICATION_PREFIX)],
    })?;
    let now = app.now();
    let mark = app.store.notifications_read_up_to(user_id).await?;
    let ((items, next), unread_count) = tokio::try_join!(
        app.store.list_notifications(user_id, limit, start, now),
        app.store.unread_notifications(user_id, mark, now, UNREAD_CAP),
    )?;
    let items = items.into_iter().map(|n| NotificationView { read: n.is_read(mark), notification: n }).collect();
    Ok(ApiResponse::ok(&NotificationPage { page: Page::new(items, next), unread_count }))
}

/// `POST /v1/me/notifications/{notificationId}/read`: 204; again, 204.
pub async fn mark_notification_read(app: App, req: ApiRequest) -> ApiResult {
    let user_id = &app.caller(&req).await?.principal.user_id;
    let id = ulid_param("notificationId", req.path_param("notificationId"))?;
    let now = app.now();
    let audit = AuditEntry::new(user_id, "notification.read", format!("notification/{id}"), &req.correlation_id, now);
    if app.store.mark_notification_read(user_id, &id, now, &audit).await? {
        Ok(ApiResponse::no_content())
    } else {
        Err(ApiError::new(ErrorCode::NotificationNotFound))
    }
}

/// `POST /v1/me/notifications/read-all`: everything stored up to now is read.
pub async fn mark_all_notifications_read(app: App, req: ApiRequest) -> ApiResult {
    let user_id = &app.caller(&req).await?.principal.user_id;
    let now = app.now();
    let audit = AuditEntry::new(user_id, "notification.read_all", format!("user/{user_id}"), &req.correlation_id, now);
    app.store.mark_all_notifications_read(user_id, now, &audit).await?;
    Ok(ApiResponse::no_content())
}
