use serde::Serialize;
use shared::auth::{Action, Role};
use shared::domain::audit::AuditEntry;
use shared::domain::household::{Household, HouseholdPatch, NewHousehold};
use shared::domain::user::UserProfile;
use shared::platform::pagination::{CursorRule, Page};
use shared::store::StoreError;
use shared::store::idempotency::{IdempotencyKey, Idempotent};
use shared::store::keys;
use shared::{ApiError, ApiRequest, ApiResponse, ApiResult, App, ErrorCode};

use crate::authorize;

/// A household as its member sees it, with the caller's own role.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HouseholdView {
    #[serde(flatten)]
    pub household: Household,
    pub my_role: Role,
}

/// `POST /v1/households`: the caller becomes its owner.
pub async fn create_household(app: App, req: ApiRequest) -> ApiResult {
    let now = app.now();
    let key = IdempotencyKey::from_request(&req)?;
    // A replay and the caller (their session and profile, for the owner's display name)
    // are read at once: one round trip of wall time. Then, in the order they always had:
    // the caller, the replay, the body, and only for a good request a first-time caller's
    // profile written.
    let (caller, replayed) = tokio::join!(app.caller(&req), app.store.replay_key(key.as_ref(), now));
    let caller = caller?;
    let principal = caller.principal;
    if let Some(replayed) = replayed? {
        return Ok(replayed);
    }
    let body: NewHousehold = req.json()?;
    let profile = app.store.profile_or_create(caller.profile, UserProfile::first_seen(principal, now)).await?;
    let (household, owner) = body.create(&principal.user_id, &profile.display_name, &profile.timezone, now)?;
    let audit = AuditEntry::new(
        &principal.user_id,
        "household.create",
        format!("household/{}", household.household_id),
        &req.correlation_id,
        now,
    );
    let location = format!("/v1/households/{}", household.household_id);
    let version = household.version;
    let response =
        ApiResponse::created(location, &HouseholdView { household: household.clone(), my_role: Role::Owner })
            .etag(version);
    let idempotent = key.as_ref().map(|key| Idempotent { key, response: &response });
    let result = app.store.create_household(&household, &owner, &audit, idempotent.as_ref()).await;
    app.store.settle(result, key.as_ref(), response, now).await
}

/// `GET /v1/households`: the caller's households, paginated.
pub async fn list_households(app: App, req: ApiRequest) -> ApiResult {
    let principal = app.caller(&req).await?.principal;
    let user_pk = keys::user(&principal.user_id);
    let (limit, start) = req.page(&CursorRule {
        attributes: &[keys::PK, keys::SK],
        equal: &[(keys::PK, &user_pk)],
        prefixed: &[(keys::SK, keys::HOUSEHOLD_PREFIX)],
    })?;
    let (memberships, next) = app.store.list_my_households(&principal.user_id, limit, start).await?;
    let items =
        memberships.into_iter().map(|(household, member)| HouseholdView { household, my_role: member.role }).collect();
    Ok(ApiResponse::ok(&Page::new(items, next)))
}

/// `GET /v1/households/{householdId}`.
pub async fn get_household(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::ViewHousehold).await?;
    let version = m.household.version;
    Ok(ApiResponse::ok(&HouseholdView { household: m.household, my_role: m.member.role }).etag(version))
}

/// `PATCH /v1/households/{householdId}` with `If-Match`: name, time zone and escalation.
pub async fn update_household(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::UpdateHousehold).await?;
    req.require_if_match(m.household.version)?;
    let patch: HouseholdPatch = req.json()?;
    let now = app.now();
    let escalated_after = m.household.escalate_after_minutes;
    let updated = patch.apply(m.household, now)?;
    let audit = AuditEntry::new(
        &m.member.user_id,
        "household.update",
        format!("household/{}", updated.household_id),
        &req.correlation_id,
        now,
    )
    // A new escalation setting reaches the chores' pending reminders through the
    // household-changes worker (`HouseholdChange`).
    .details(serde_json::json!({
        "escalateAfterMinutes": updated.escalate_after_minutes,
        "escalationChanged": updated.escalate_after_minutes != escalated_after,
    }));
    match app.store.update_household(&updated, &audit).await {
        Ok(()) => {
            let version = updated.version;
            Ok(ApiResponse::ok(&HouseholdView { household: updated, my_role: m.member.role }).etag(version))
        }
        Err(StoreError::ConditionFailed) => Err(req.lost_race()),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /v1/households/{householdId}` (owner only; `If-Match` honoured when sent).
///
/// The purge message is sent first, delayed: if marking the household deleted then fails,
/// the worker finds it active and does nothing; if sending fails, nothing has changed.
pub async fn delete_household(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::DeleteHousehold).await?;
    req.check_optional_if_match(m.household.version)?;
    let household_id = m.household.household_id.clone();
    app.enqueue(
        &app.config.purge_queue_url,
        &serde_json::json!({ "householdId": household_id }),
        app.config.purge_delay_seconds,
    )
    .await?;
    let audit = AuditEntry::new(
        &m.member.user_id,
        "household.delete",
        format!("household/{household_id}"),
        &req.correlation_id,
        app.now(),
    )
    .details(serde_json::json!({ "name": m.household.name }));
    match app.store.delete_household(&m.household, &audit).await {
        Ok(()) => Ok(ApiResponse::no_content()),
        Err(StoreError::ConditionFailed) => Err(ApiError::new(ErrorCode::HouseholdNotFound)),
        Err(e) => Err(e.into()),
    }
}
