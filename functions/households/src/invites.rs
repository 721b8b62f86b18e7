use serde::Serialize;
use shared::auth::Action;
use shared::domain::audit::AuditEntry;
use shared::domain::household::{Household, Member};
use shared::domain::invite::{NewInvite, normalize_code};
use shared::domain::user::UserProfile;
use shared::platform::pagination::{CursorRule, Page};
use shared::store::StoreError;
use shared::store::idempotency::{IdempotencyKey, Idempotent};
use shared::store::invites::AcceptFailure;
use shared::store::keys;
use shared::store::rate::RateLimit;
use shared::{ApiError, ApiRequest, ApiResponse, ApiResult, App, ErrorCode};

use crate::authorize;
use crate::households::HouseholdView;

/// Open invites a household may have at once.
pub const MAX_LIVE_INVITES: usize = 20;

/// Invite codes a user may try: 10 per 15 minutes (a real user accepts one or two). With 50-bit codes and at most
/// 20 open invites per household, a guess hits any invite with odds of about
/// (open invites everywhere) / 2^50.
pub const INVITE_GUESSES: RateLimit = RateLimit { action: "invite-guess", limit: 10, seconds: 900 };

/// `POST /v1/households/{householdId}/invites` (owner, admin): a short code to share.
pub async fn create_invite(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::ManageInvites).await?;
    let now = app.now();
    let key = IdempotencyKey::from_request(&req)?;
    if let Some(replayed) = app.store.replay_key(key.as_ref(), now).await? {
        return Ok(replayed);
    }
    let body: NewInvite = req.json()?;
    let invite = body.create(&m.household.household_id, &m.member.user_id, now)?;
    // Each open invite is a code someone could guess; keep few of them.
    if app.store.live_invites(&m.household.household_id, 100, now).await? >= MAX_LIVE_INVITES {
        return Err(ApiError::new(ErrorCode::InviteLimitReached).with("limit", MAX_LIVE_INVITES));
    }
    let audit = AuditEntry::new(
        &m.member.user_id,
        "invite.create",
        format!("invite/{}", invite.code),
        &req.correlation_id,
        now,
    )
    .details(serde_json::json!({ "role": invite.role, "maxUses": invite.max_uses }));
    let location = format!("/v1/households/{}/invites/{}", invite.household_id, invite.code);
    let response = ApiResponse::created(location, &invite);
    let idempotent = key.as_ref().map(|key| Idempotent { key, response: &response });
    let result = app.store.create_invite(&invite, &audit, idempotent.as_ref()).await;
    app.store.settle(result, key.as_ref(), response, now).await
}

/// `GET /v1/households/{householdId}/invites` (owner, admin), paginated.
pub async fn list_invites(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::ManageInvites).await?;
    let gsi_pk = keys::household(&m.household.household_id);
    let (limit, start) = req.page(&CursorRule {
        attributes: &[keys::PK, keys::SK, keys::GSI1PK, keys::GSI1SK],
        equal: &[(keys::GSI1PK, &gsi_pk), (keys::SK, keys::META)],
        prefixed: &[(keys::PK, keys::INVITE_PREFIX), (keys::GSI1SK, keys::INVITE_PREFIX)],
    })?;
    let (items, next) = app.store.list_invites(&m.household.household_id, limit, start).await?;
    Ok(ApiResponse::ok(&Page::new(items, next)))
}

/// `DELETE /v1/households/{householdId}/invites/{code}` (owner, admin).
pub async fn revoke_invite(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::ManageInvites).await?;
    let code =
        req.path_param("code").and_then(normalize_code).ok_or_else(|| ApiError::new(ErrorCode::InviteNotFound))?;
    let audit =
        AuditEntry::new(&m.member.user_id, "invite.revoke", format!("invite/{code}"), &req.correlation_id, app.now());
    match app.store.revoke_invite(&m.household.household_id, &code, &audit).await {
        Ok(()) => Ok(ApiResponse::no_content()),
        Err(StoreError::ConditionFailed) => Err(ApiError::new(ErrorCode::InviteNotFound)),
        Err(e) => Err(e.into()),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted {
    household: HouseholdView,
    member: Member,
}

/// `POST /v1/invites/{code}/accept`: join the invite's household with its role.
pub async fn accept_invite(app: App, req: ApiRequest) -> ApiResult {
    let caller = app.caller(&req).await?;
    let principal = caller.principal;
    let now = app.now();
    let key = IdempotencyKey::from_request(&req)?;
    if let Some(replayed) = app.store.replay_key(key.as_ref(), now).await? {
        return Ok(replayed);
    }
    let not_found = || ApiError::new(ErrorCode::InviteNotFound);
    // Guessing codes is slowed per user: every attempt counts, atomically, and past the
    // limit a 429 until the window ends.
    if !app.store.rate_take(&INVITE_GUESSES, &principal.user_id, now).await? {
        return Err(ApiError::rate_limited(INVITE_GUESSES.retry_after(now)));
    }
    let found = match req.path_param("code").and_then(normalize_code) {
        Some(code) => app.store.get_invite(&code).await?,
        None => None,
    };
    let Some(invite) = found else {
        return Err(not_found());
    };
    let code = invite.code.clone();
    invite.check_usable(now)?;
    // A first-time caller's profile is written only once the household is found.
    let household = app
        .store
        .get_household(&invite.household_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::HouseholdNotFound))?;
    let profile = app.store.profile_or_create(caller.profile, UserProfile::first_seen(principal, now)).await?;
    let member = Member {
        household_id: invite.household_id.clone(),
        user_id: principal.user_id.clone(),
        display_name: profile.display_name,
        role: invite.role,
        joined_at: now,
        version: 1,
        points: 0,
        availability: 100,
        away: Vec::new(),
    };
    let audit = AuditEntry::new(
        &principal.user_id,
        "invite.accept",
        format!("member/{}", principal.user_id),
        &req.correlation_id,
        now,
    )
    .details(serde_json::json!({ "code": invite.code, "role": invite.role }));
    let location = format!("/v1/households/{}/members/{}", invite.household_id, principal.user_id);
    let version = household.version;
    let joined = Household { member_count: household.member_count + 1, ..household };
    let body =
        Accepted { household: HouseholdView { household: joined, my_role: member.role }, member: member.clone() };
    let response = ApiResponse::created(location, &body).etag(version);
    let idempotent = key.as_ref().map(|key| Idempotent { key, response: &response });
    match app.store.accept_invite(&invite, &member, app.config.max_members, &audit, idempotent.as_ref()).await? {
        Ok(()) => Ok(response),
        Err(AcceptFailure::KeyTaken) => {
            app.store.replay_key(key.as_ref(), now).await?.ok_or_else(|| ApiError::new(ErrorCode::ConcurrentUpdate))
        }
        Err(AcceptFailure::AlreadyMember) => Err(ApiError::new(ErrorCode::AlreadyMember)),
        Err(AcceptFailure::InviteGone) => {
            // Used up, revoked or expired since we read it: say which.
            let fresh = app.store.get_invite(&code).await?.ok_or_else(not_found)?;
            fresh.check_usable(now)?;
            Err(ApiError::new(ErrorCode::InviteUsedUp))
        }
        Err(AcceptFailure::HouseholdUnavailable) => match app.store.household_deleted(&invite.household_id).await? {
            Some(false) => Err(ApiError::new(ErrorCode::MemberLimitReached).with("limit", app.config.max_members)),
            _ => Err(ApiError::new(ErrorCode::HouseholdNotFound)),
        },
    }
}
