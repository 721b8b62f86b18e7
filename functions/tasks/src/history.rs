use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use shared::auth::{Action, policy};
use shared::domain::assignment::Assignment;
use shared::domain::audit::AuditEntry;
use shared::domain::task::Approval;
use shared::platform::pagination::{CursorRule, Page};
use shared::platform::validate::{ulid_param, user_id_param};
use shared::store::keys;
use shared::store::tasks::{CompletionRecord, HistoryFilter, TaskWriteConflict};
use shared::{ApiError, ApiRequest, ApiResponse, ApiResult, App, ErrorCode};

use crate::tasks::{TaskView, time_param};

/// `GET /v1/households/{householdId}/completions?member=&task=&from=&to=`: newest first,
/// one Query on the household's history by time range (children: their own only).
pub async fn list_completions(app: App, req: ApiRequest) -> ApiResult {
    let m = app.membership(&req, Action::ViewTasks).await?;
    let now = app.now();
    let from = time_param(&req, "from")?.unwrap_or(DateTime::UNIX_EPOCH);
    let to = time_param(&req, "to")?;
    // Both given and reversed is the client's mistake; a `from` past the default end is
    // honestly an empty page.
    if to.is_some_and(|to| from > to) {
        return Err(ApiError::invalid_parameter("from"));
    }
    let to = to.unwrap_or(now + Duration::days(1));
    let mut member = req.query_param("member").map(|u| user_id_param("member", Some(u))).transpose()?;
    if policy::sees_only_own_chores(m.member.role) {
        member = Some(m.member.user_id.clone());
    }
    let task = req.query_param("task").map(|t| ulid_param("task", Some(t))).transpose()?;
    let pk = keys::household(&m.household.household_id);
    let (limit, start) = req.page(&CursorRule {
        attributes: &[keys::PK, keys::SK],
        equal: &[(keys::PK, &pk)],
        prefixed: &[(keys::SK, keys::DONE_PREFIX)],
    })?;
    let (items, next) = app
        .store
        .list_completions(
            &m.household.household_id,
            &HistoryFilter { from, to, user_id: member.as_deref(), task_id: task.as_deref() },
            limit,
            start,
        )
        .await?;
    Ok(ApiResponse::ok(&Page::new(items, next)))
}

/// `POST /v1/households/{householdId}/completions/{completionId}/undo`: within the undo
/// window, puts the chore back as it was (due date, assignee) and takes the points back.
pub async fn undo_completion(app: App, req: ApiRequest) -> ApiResult {
    let now = app.now();
    let (m, completion) = app.membership_with(&req, Action::ViewTasks, completion_in_path(&app, &req)).await?;
    let (id, record) = completion?;
    let c = &record.completion;
    let involved = c.user_id == m.member.user_id || c.recorded_by == m.member.user_id;
    if !involved && !policy::allows(m.member.role, Action::ManageTasks) {
        return Err(if policy::sees_only_own_chores(m.member.role) {
            ApiError::new(ErrorCode::CompletionNotFound)
        } else {
            ApiError::new(ErrorCode::Forbidden)
        });
    }
    if record.undone {
        return Err(ApiError::new(ErrorCode::AlreadyUndone));
    }
    // A reviewed completion is final: approve and undo never both take effect, in any order.
    if matches!(c.approval, Some(Approval::Approved | Approval::Rejected)) {
        return Err(ApiError::new(ErrorCode::CompletionDecided));
    }
    c.undoable(now)?;
    let mut restored = record.previous.clone();
    restored.version = record.task_version_after + 1;
    restored.updated_at = now;
    let audit = AuditEntry::new(&m.member.user_id, "task.undo", format!("completion/{id}"), &req.correlation_id, now);
    match app.store.undo_occurrence(&record, &restored, &audit, m.household.escalate_after_minutes).await? {
        Ok(()) => {
            let version = restored.version;
            Ok(ApiResponse::ok(&TaskView::new(restored, now)).etag(version))
        }
        Err(TaskWriteConflict::MemberGone) => Err(ApiError::new(ErrorCode::MemberNotFound)),
        Err(_) => Err(ApiError::new(ErrorCode::OccurrenceChanged)),
    }
}

/// One upcoming occurrence in the agenda.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgendaEntry {
    pub task_id: String,
    pub title: String,
    pub due: DateTime<Utc>,
    pub effort: u8,
    /// Who does it: decided for the current occurrence, forecast for later ones.
    pub assignee: Assignment,
    /// Whether `assignee` is a forecast (later occurrences are assigned on completion).
    pub forecast: bool,
}

/// Longest range one agenda request may expand.
pub const MAX_AGENDA_DAYS: i64 = 62;
const MAX_AGENDA_ENTRIES: usize = 2000;

/// `GET /v1/households/{householdId}/agenda?from=&to=`: every active chore's occurrences in a
/// bounded range (default the next 14 days), soonest first, for calendar views.
pub async fn agenda(app: App, req: ApiRequest) -> ApiResult {
    let m = app.membership(&req, Action::ViewTasks).await?;
    let now = app.now();
    let from = time_param(&req, "from")?.unwrap_or(now);
    let to = time_param(&req, "to")?.unwrap_or(from + Duration::days(14));
    if to <= from || to - from > Duration::days(MAX_AGENDA_DAYS) {
        return Err(ApiError::invalid_parameter("to"));
    }
    // Children see the occurrences that are theirs: their turns in a rotation as forecast,
    // and every occurrence of a pool they are in.
    let own = policy::sees_only_own_chores(m.member.role).then_some(m.member.user_id.as_str());
    let (chores, occurrences) = crate::household_forecast(&app, &m.household.household_id, from, to, own).await?;
    let entries: Vec<AgendaEntry> = occurrences
        .into_iter()
        .take(MAX_AGENDA_ENTRIES)
        .map(|(i, due, assignee)| {
            let task = &chores[i];
            AgendaEntry {
                task_id: task.task_id.clone(),
                title: task.title.clone(),
                due,
                effort: task.effort,
                assignee,
                forecast: Some(due) != task.next_due,
            }
        })
        .collect();
    Ok(ApiResponse::ok(&serde_json::json!({ "from": from, "to": to, "items": entries })))
}

/// `POST /v1/households/{householdId}/completions/{completionId}/approve` (owner, admin):
/// the member gets the points.
pub async fn approve_completion(app: App, req: ApiRequest) -> ApiResult {
    decide(app, req, true).await
}

/// `POST /v1/households/{householdId}/completions/{completionId}/reject` (owner, admin): no
/// points, and the chore is put back as it was if nothing changed it since.
pub async fn reject_completion(app: App, req: ApiRequest) -> ApiResult {
    decide(app, req, false).await
}

async fn decide(app: App, req: ApiRequest, approve: bool) -> ApiResult {
    let now = app.now();
    let (m, completion) = app.membership_with(&req, Action::ManageTasks, completion_in_path(&app, &req)).await?;
    let (id, record) = completion?;
    if record.completion.approval != Some(Approval::Pending) || record.undone {
        return Err(ApiError::new(ErrorCode::NotPendingApproval));
    }
    let current = app.store.get_task(&m.household.household_id, &record.completion.task_id).await?;
    let restored = match (&current, approve) {
        (Some(t), false) if t.version == record.task_version_after => {
            let mut r = record.previous.clone();
            r.version = record.task_version_after + 1;
            r.updated_at = now;
            Some(r)
        }
        _ => None,
    };
    let action = if approve { "completion.approve" } else { "completion.reject" };
    let audit = AuditEntry::new(&m.member.user_id, action, format!("completion/{id}"), &req.correlation_id, now)
        .details(serde_json::json!({ "taskId": record.completion.task_id, "userId": record.completion.user_id }));
    let restored = current.as_ref().zip(restored.as_ref());
    match app.store.decide_approval(&record, approve, restored, &audit, m.household.escalate_after_minutes).await? {
        Ok(()) => {
            let mut completion = record.completion;
            completion.approval = Some(if approve { Approval::Approved } else { Approval::Rejected });
            Ok(ApiResponse::ok(&completion))
        }
        Err(TaskWriteConflict::TaskChanged) => Err(ApiError::new(ErrorCode::NotPendingApproval)),
        Err(TaskWriteConflict::MemberGone) => Err(ApiError::new(ErrorCode::MemberNotFound)),
        Err(_) => Err(ApiError::new(ErrorCode::OccurrenceChanged)),
    }
}

/// The completion in the path and its stored record.
async fn completion_in_path(app: &App, req: &ApiRequest) -> Result<(String, CompletionRecord), ApiError> {
    let household_id = ulid_param("householdId", req.path_param("householdId"))?;
    let id = ulid_param("completionId", req.path_param("completionId"))?;
    let record = app
        .store
        .get_completion(&household_id, &id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::CompletionNotFound))?;
    Ok((id, record))
}
