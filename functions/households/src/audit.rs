use chrono::{DateTime, Duration};
use shared::auth::Action;
use shared::platform::pagination::{CursorRule, Page};
use shared::platform::validate::{instant_param, user_id_param};
use shared::store::audit::AuditFilter;
use shared::store::keys;
use shared::{ApiError, ApiRequest, ApiResponse, ApiResult, App};

use crate::authorize;

/// `GET /v1/households/{householdId}/audit?actor=&action=&from=&to=`: the household's audit
/// log, newest first, for its owner and admins. One Query on the time range.
pub async fn list_audit(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::ViewAudit).await?;
    let from = instant_param("from", req.query_param("from"))?.unwrap_or(DateTime::UNIX_EPOCH);
    let to = instant_param("to", req.query_param("to"))?;
    if to.is_some_and(|to| from > to) {
        return Err(ApiError::invalid_parameter("from"));
    }
    let to = to.unwrap_or(app.now() + Duration::days(1));
    let actor = req.query_param("actor").map(|u| user_id_param("actor", Some(u))).transpose()?;
    let action = req.query_param("action").map(action_param).transpose()?;
    let pk = keys::household(&m.household.household_id);
    let (limit, start) = req.page(&CursorRule {
        attributes: &[keys::PK, keys::SK],
        equal: &[(keys::PK, &pk)],
        prefixed: &[(keys::SK, keys::AUDIT_PREFIX)],
    })?;
    let filter = AuditFilter { from, to, actor_id: actor.as_deref(), action: action.as_deref() };
    let (items, next) = app.store.list_audit(&m.household.household_id, &filter, limit, start, app.now()).await?;
    Ok(ApiResponse::ok(&Page::new(items, next)))
}

/// An action name as the log writes them: dotted lowercase words (`task.complete`).
fn action_param(value: &str) -> Result<String, ApiError> {
    let word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    if value.len() <= 60 && value.split('.').all(word) {
        Ok(value.to_string())
    } else {
        Err(ApiError::invalid_parameter("action"))
    }
}
