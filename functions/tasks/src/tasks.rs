use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use shared::auth::{Action, policy};
use shared::domain::audit::AuditEntry;
use shared::domain::task::{Task, TaskInput, TaskState};
use shared::platform::pagination::{CursorRule, Page};
use shared::store::idempotency::IdempotencyKey;
use shared::store::keys;
use shared::store::tasks::{Idempotent, TaskRange, TaskWriteConflict};
use shared::{ApiError, ApiRequest, ApiResponse, ApiResult, App, ErrorCode};

use crate::{PathTask, household_context, path_roster, path_task};

/// A chore as the API shows it: the stored chore plus where it stands now.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    #[serde(flatten)]
    pub task: Task,
    /// overdue, due (today), upcoming, paused, archived or finished.
    pub status: &'static str,
    /// How late the current occurrence is, in minutes (0 when not overdue).
    pub overdue_minutes: i64,
}

impl TaskView {
    pub fn new(task: Task, now: DateTime<Utc>) -> TaskView {
        let end_of_today = end_of_local_day(now, &task.timezone);
        let (status, overdue_minutes) = match (task.state(), task.next_due) {
            (TaskState::Archived, _) => ("archived", 0),
            (TaskState::Paused, _) => ("paused", 0),
            (TaskState::Finished, _) | (_, None) => ("finished", 0),
            (TaskState::Active, Some(due)) if due <= now => ("overdue", (now - due).num_minutes()),
            (TaskState::Active, Some(due)) if due <= end_of_today => ("due", 0),
            (TaskState::Active, Some(_)) => ("upcoming", 0),
        };
        TaskView { task, status, overdue_minutes }
    }
}

fn end_of_local_day(now: DateTime<Utc>, timezone: &str) -> DateTime<Utc> {
    let tz: Tz = timezone.parse().unwrap_or(Tz::UTC);
    let tomorrow = now.with_timezone(&tz).date_naive() + Duration::days(1);
    shared::domain::recurrence::local_instant(tz, tomorrow.and_time(chrono::NaiveTime::MIN))
}

pub(crate) fn task_response(task: Task, now: DateTime<Utc>) -> ApiResponse {
    let version = task.version;
    ApiResponse::ok(&TaskView::new(task, now)).etag(version)
}

/// `POST /v1/households/{householdId}/tasks` (owner, admin, member), with `Idempotency-Key`.
pub async fn create_task(app: App, req: ApiRequest) -> ApiResult {
    let now = app.now();
    let key = IdempotencyKey::from_request(&req);
    let replay = app.store.replay_key(key.as_ref().ok().and_then(Option::as_ref), now);
    let (m, (replayed, members)) =
        app.membership_with(&req, Action::CreateTask, async { tokio::join!(replay, path_roster(&app, &req)) }).await?;
    let key = key?;
    if let Some(replayed) = replayed? {
        return Ok(replayed);
    }
    let input: TaskInput = req.json()?;
    let members = members?;
    let ctx = household_context(&m, &members);
    let task = input.create(&ctx, &m.member.user_id, now)?;
    let location = format!("/v1/households/{}/tasks/{}", task.household_id, task.task_id);
    let response = ApiResponse::created(location, &TaskView::new(task.clone(), now)).etag(task.version);
    let audit =
        AuditEntry::new(&m.member.user_id, "task.create", format!("task/{}", task.task_id), &req.correlation_id, now);
    let idempotent = key.as_ref().map(|key| Idempotent { key, response: &response });
    match app.store.create_task(&task, &audit, idempotent, m.household.escalate_after_minutes, now).await? {
        Ok(()) => Ok(response),
        Err(TaskWriteConflict::KeyTaken) => replay_or_conflict(&app, key.as_ref(), now).await,
        Err(_) => Err(ApiError::new(ErrorCode::ConcurrentUpdate)),
    }
}

/// A concurrent request with the same key won: answer with its response.
pub(crate) async fn replay_or_conflict(app: &App, key: Option<&IdempotencyKey>, now: DateTime<Utc>) -> ApiResult {
    app.store.replay_key(key, now).await?.ok_or_else(|| ApiError::new(ErrorCode::ConcurrentUpdate))
}

/// A date-time query parameter: RFC 3339 (else 400) inside the date window (else 422).
pub(crate) fn time_param(req: &ApiRequest, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    shared::platform::validate::instant_param(name, req.query_param(name))
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    a.max(b)
}

fn earlier(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// `GET /v1/households/{householdId}/tasks?status=&assignee=&label=&dueBefore=&dueAfter=`:
/// soonest due first, paginated, one Query on an index range.
pub async fn list_tasks(app: App, req: ApiRequest) -> ApiResult {
    let m = app.membership(&req, Action::ViewTasks).await?;
    let now = app.now();
    let household_id = m.household.household_id.clone();
    let before = time_param(&req, "dueBefore")?;
    let after = time_param(&req, "dueAfter")?;
    // A reversed range is the client's mistake; a range that a status makes empty
    // (`overdue` with `dueAfter` in the future) is honestly an empty page.
    if let (Some(a), Some(b)) = (after, before)
        && a > b
    {
        return Err(ApiError::invalid_parameter("dueAfter"));
    }
    let status = req.query_param("status").unwrap_or("active");
    let (state, after, before) = match status {
        "active" => (TaskState::Active, after, before),
        "overdue" => (TaskState::Active, after, earlier(before, Some(now))),
        "due" => (TaskState::Active, after, earlier(before, Some(end_of_local_day(now, &m.household.timezone)))),
        "upcoming" => (TaskState::Active, later(after, Some(now)), before),
        "paused" => (TaskState::Paused, after, before),
        "archived" => (TaskState::Archived, after, before),
        "finished" => (TaskState::Finished, after, before),
        _ => return Err(ApiError::invalid_parameter("status")),
    };
    let mut assignee = req.query_param("assignee").map(str::to_string);
    if policy::sees_only_own_chores(m.member.role) {
        assignee = Some(m.member.user_id.clone());
    }
    let household_pk = keys::household(&household_id);
    let range = match assignee {
        Some(user_id) => {
            if state != TaskState::Active {
                return Err(ApiError::invalid_parameter("assignee"));
            }
            shared::platform::validate::user_id_param("assignee", Some(&user_id))?;
            TaskRange::Assignee { user_id, after, before }
        }
        None => TaskRange::State { state, after, before },
    };
    let state_prefix = keys::task_state_prefix(state.key());
    let (limit, start) = req.page(&CursorRule {
        attributes: &[keys::PK, keys::SK, keys::GSI1PK, keys::GSI1SK],
        equal: &[(keys::PK, &household_pk), (keys::GSI1PK, &household_pk)],
        prefixed: &[(keys::SK, keys::TASK_PREFIX), (keys::GSI1SK, &state_prefix)],
    })?;
    let label = req.query_param("label");
    let (tasks, next) = app.store.list_tasks(&household_id, &range, label, limit, start).await?;
    let items: Vec<TaskView> = tasks.into_iter().map(|t| TaskView::new(t, now)).collect();
    Ok(ApiResponse::ok(&Page::new(items, next)))
}

/// `GET /v1/households/{householdId}/tasks/{taskId}`.
pub async fn get_task(app: App, req: ApiRequest) -> ApiResult {
    let (m, task) = app.membership_with(&req, Action::ViewTasks, path_task(&app, &req)).await?;
    Ok(task_response(task.visible(&m)?, app.now()))
}

async fn editable(app: &App, req: &ApiRequest) -> Result<(shared::store::households::Membership, Task), ApiError> {
    let (m, task) = app.membership_with(req, Action::ViewTasks, path_task(app, req)).await?;
    let task = may_edit(&m, task)?;
    Ok((m, task))
}

/// The chore in the path, if the member may see and edit it.
fn may_edit(m: &shared::store::households::Membership, task: PathTask) -> Result<Task, ApiError> {
    let task = task.visible(m)?;
    if !policy::may_edit_task(m.member.role, task.created_by == m.member.user_id) {
        return Err(ApiError::new(ErrorCode::Forbidden));
    }
    Ok(task)
}

/// Saves `task`, changed from `before` by the member `m`, with its audit entry (and its
/// pending reminder moved along).
pub(crate) async fn save(
    app: &App,
    req: &ApiRequest,
    m: &shared::store::households::Membership,
    action: &str,
    before: &Task,
    task: Task,
) -> ApiResult {
    let now = app.now();
    let audit = AuditEntry::new(&m.member.user_id, action, format!("task/{}", task.task_id), &req.correlation_id, now);
    match app.store.save_task(before, &task, &audit, m.household.escalate_after_minutes).await? {
        Ok(()) => Ok(task_response(task, now)),
        Err(_) => Err(req.lost_race()),
    }
}

/// `PATCH /v1/households/{householdId}/tasks/{taskId}` with `If-Match`.
pub async fn update_task(app: App, req: ApiRequest) -> ApiResult {
    let (m, (task, members)) = app
        .membership_with(&req, Action::ViewTasks, async {
            tokio::join!(path_task(&app, &req), path_roster(&app, &req))
        })
        .await?;
    let task = may_edit(&m, task)?;
    req.require_if_match(task.version)?;
    let input: TaskInput = req.json()?;
    if task.archived {
        return Err(ApiError::new(ErrorCode::TaskArchived));
    }
    let members = members?;
    let ctx = household_context(&m, &members);
    let updated = input.apply(task.clone(), &ctx, app.now())?;
    save(&app, &req, &m, "task.update", &task, updated).await
}

/// `POST …/tasks/{taskId}/archive`: hidden from active lists, kept with its history.
pub async fn archive_task(app: App, req: ApiRequest) -> ApiResult {
    set_archived(app, req, true).await
}

/// `POST …/tasks/{taskId}/restore`.
pub async fn restore_task(app: App, req: ApiRequest) -> ApiResult {
    set_archived(app, req, false).await
}

async fn set_archived(app: App, req: ApiRequest, archived: bool) -> ApiResult {
    let (m, before) = editable(&app, &req).await?;
    req.check_optional_if_match(before.version)?;
    if before.archived == archived {
        return Ok(task_response(before, app.now()));
    }
    let mut task = before.clone();
    task.archived = archived;
    task.version += 1;
    task.updated_at = app.now();
    let action = if archived { "task.archive" } else { "task.restore" };
    save(&app, &req, &m, action, &before, task).await
}
