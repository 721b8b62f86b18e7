use shared::auth::Action;
use shared::auth::policy::{self, RoleChange};
use shared::domain::audit::AuditEntry;
use shared::domain::household::{Member, MemberPatch};
use shared::platform::pagination::{CursorRule, Page};
use shared::platform::validate::user_id_param;
use shared::store::StoreError;
use shared::store::households::Membership;
use shared::store::keys;
use shared::{ApiError, ApiRequest, ApiResponse, ApiResult, App, ErrorCode};

use crate::authorize;

/// `GET /v1/households/{householdId}/members`, paginated.
pub async fn list_members(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::ListMembers).await?;
    let pk = keys::household(&m.household.household_id);
    let (limit, start) = req.page(&CursorRule {
        attributes: &[keys::PK, keys::SK],
        equal: &[(keys::PK, &pk)],
        prefixed: &[(keys::SK, keys::MEMBER_PREFIX)],
    })?;
    let (items, next) = app.store.list_members(&m.household.household_id, limit, start).await?;
    Ok(ApiResponse::ok(&Page::new(items, next)))
}

/// The member in the path, in the caller's household.
async fn target_member(app: &App, req: &ApiRequest, m: &Membership) -> Result<Member, ApiError> {
    let user_id = user_id_param("userId", req.path_param("userId"))?;
    if user_id == m.member.user_id {
        return Ok(m.member.clone());
    }
    app.store
        .get_member(&m.household.household_id, &user_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::MemberNotFound))
}

/// `PATCH /v1/households/{householdId}/members/{userId}` with `If-Match`: change a role.
/// The owner setting another member's role to `owner` transfers ownership.
pub async fn update_member(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::ListMembers).await?;
    let target = target_member(&app, &req, &m).await?;
    req.require_if_match(target.version)?;
    let patch: MemberPatch = req.json()?;
    let is_self = target.user_id == m.member.user_id;
    if (patch.availability.is_some() || patch.away.is_some()) && !policy::may_set_availability(m.member.role, is_self) {
        return Err(ApiError::new(ErrorCode::Forbidden));
    }
    let old_role = target.role;
    let target = patch.apply_availability(target)?;
    let change = match patch.role {
        Some(role) if role != old_role => policy::role_change(m.member.role, is_self, old_role, role)?,
        _ => RoleChange::Set,
    };
    let new_role = patch.role.unwrap_or(old_role);
    let now = app.now();
    let action = if new_role != old_role { "member.role_change" } else { "member.update" };
    let audit =
        AuditEntry::new(&m.member.user_id, action, format!("member/{}", target.user_id), &req.correlation_id, now)
            .details(serde_json::json!({
                "from": old_role,
                "to": new_role,
                "availability": target.availability,
                // Away dates set by this change: the household-changes worker hands their
                // occurrences on (`HouseholdChange`).
                "away": patch.away.as_ref().map(|_| &target.away),
            }));
    let result = match change {
        RoleChange::Set => {
            let updated = Member { role: new_role, version: target.version + 1, ..target };
            app.store.update_member(&updated, &audit).await.map(|()| updated)
        }
        RoleChange::TransferOwnership => app
            .store
            .transfer_ownership(&m.household, &m.member, &target, &audit)
            .await
            .map(|_| Member { role: new_role, version: target.version + 1, ..target }),
    };
    match result {
        Ok(updated) => {
            let version = updated.version;
            Ok(ApiResponse::ok(&updated).etag(version))
        }
        Err(StoreError::ConditionFailed) => Err(req.lost_race()),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /v1/households/{householdId}/members/{userId}`: remove a member, or leave
/// when the id is the caller's own. The owner must transfer ownership first.
pub async fn remove_member(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::ListMembers).await?;
    let target = target_member(&app, &req, &m).await?;
    let is_self = target.user_id == m.member.user_id;
    policy::removal(m.member.role, is_self, target.role)?;
    let action = if is_self { "member.leave" } else { "member.remove" };
    let audit = AuditEntry::new(
        &m.member.user_id,
        action,
        format!("member/{}", target.user_id),
        &req.correlation_id,
        app.now(),
    )
    // The notification worker names who left (they are no longer in the member list).
    .details(serde_json::json!({ "displayName": target.display_name }));
    match app.store.remove_member(&target, &audit).await {
        Ok(()) => Ok(ApiResponse::no_content()),
        Err(StoreError::ConditionFailed) => Err(ApiError::new(ErrorCode::ConcurrentUpdate)),
        Err(e) => Err(e.into()),
    }
}
