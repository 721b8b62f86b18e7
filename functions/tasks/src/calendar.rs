use chrono::Duration;
use icalendar::{Calendar, Component, Event, EventLike};
use serde::Serialize;
use shared::auth::Action;
use shared::domain::audit::AuditEntry;
use shared::store::feeds::{Feed, new_token, token_hash};
use shared::{ApiError, ApiRequest, ApiResponse, ApiResult, App, ErrorCode};

/// How far the feed looks back and ahead.
const PAST_DAYS: i64 = 7;
const AHEAD_DAYS: i64 = 60;
/// Events one feed holds at most.
const MAX_FEED_EVENTS: usize = 2000;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FeedView {
    /// The path to subscribe to (prefix it with the API's base URL).
    path: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

fn feed_path(token: &str) -> String {
    format!("/v1/calendar/{token}")
}

/// `POST /v1/households/{householdId}/calendar-feed`: a new secret feed URL for the caller's
/// chores; any previous one stops working.
pub async fn create_calendar_feed(app: App, req: ApiRequest) -> ApiResult {
    let m = app.membership(&req, Action::ViewTasks).await?;
    let now = app.now();
    let old = app.store.feed_of(&m.household.household_id, &m.member.user_id).await?;
    let token = new_token();
    let feed = Feed {
        token_hash: token_hash(&token),
        household_id: m.household.household_id.clone(),
        user_id: m.member.user_id.clone(),
        created_at: now,
    };
    let audit = AuditEntry::new(
        &m.member.user_id,
        "calendar_feed.rotate",
        format!("member/{}", m.member.user_id),
        &req.correlation_id,
        now,
    );
    match app.store.rotate_feed(&feed, old.as_ref(), &audit).await {
        Ok(()) => {}
        // A concurrent rotation won; its URL is the live one.
        Err(shared::store::StoreError::ConditionFailed) => return Err(ApiError::new(ErrorCode::ConcurrentUpdate)),
        Err(e) => return Err(e.into()),
    }
    let path = feed_path(&token);
    Ok(ApiResponse::created(path.clone(), &FeedView { path, created_at: now }))
}

/// `DELETE /v1/households/{householdId}/calendar-feed`: the feed URL stops working.
pub async fn revoke_calendar_feed(app: App, req: ApiRequest) -> ApiResult {
    let m = app.membership(&req, Action::ViewTasks).await?;
    let Some(feed) = app.store.feed_of(&m.household.household_id, &m.member.user_id).await? else {
        return Ok(ApiResponse::no_content());
    };
    let audit = AuditEntry::new(
        &m.member.user_id,
        "calendar_feed.revoke",
        format!("member/{}", m.member.user_id),
        &req.correlation_id,
        app.now(),
    );
    app.store.revoke_feed(&feed, &audit).await?;
    Ok(ApiResponse::no_content())
}

/// Whether an occurrence is the member's to do (alone or as one of a pool).
/// `GET /v1/calendar/{token}` (no login: the token is the credential): the member's chores
/// (as forecast: rotations decide later ones on completion) from a week ago to two months
/// ahead as `text/calendar`, for any calendar app.
pub async fn calendar_feed(app: App, req: ApiRequest) -> ApiResult {
    let not_found = || ApiError::new(ErrorCode::RouteNotFound);
    let token = req.path_param("token").map(|t| t.trim_end_matches(".ics")).ok_or_else(not_found)?;
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(not_found());
    }
    let feed = app.store.get_feed(token).await?.ok_or_else(not_found)?;
    // A member who left or erased their account, or a deleted household, has no feed.
    let m = app
        .store
        .membership(&feed.household_id, &feed.user_id, None)
        .await?
        .filter(|m| m.session.erased_at.is_none())
        .ok_or_else(not_found)?;
    let now = app.now();
    let (from, to) = (now - Duration::days(PAST_DAYS), now + Duration::days(AHEAD_DAYS));
    let mut calendar = Calendar::new();
    calendar.name(&format!("Chore Garden: {}", m.household.name));
    let (chores, occurrences) =
        crate::household_forecast(&app, &feed.household_id, from, to, Some(&feed.user_id)).await?;
    // Soonest first, and few enough that the file stays far below Lambda's 6 MB answer.
    for (i, due, _) in occurrences.into_iter().take(MAX_FEED_EVENTS) {
        let task = &chores[i];
        let minutes = i64::from(task.estimated_minutes.unwrap_or(15));
        calendar.push(
            Event::new()
                .uid(&format!("{}-{}@choregarden.app", task.task_id, due.timestamp()))
                .timestamp(task.updated_at)
                .summary(&task.title)
                .description(task.description.as_deref().unwrap_or(""))
                .starts(due)
                .ends(due + Duration::minutes(minutes))
                .done(),
        );
    }
    let body = calendar.done().to_string().into_bytes();
    Ok(ApiResponse {
        status: http::StatusCode::OK,
        headers: vec![("cache-control", "private, max-age=300".into())],
        body: Some(("text/calendar; charset=utf-8".into(), body)),
    })
}
