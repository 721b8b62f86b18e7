use serde::{Deserialize, Serialize};
use shared::auth::{Action, policy};
use shared::domain::audit::AuditEntry;
use shared::domain::task::{Approval, Completion, CompletionKind, Task};
use shared::platform::error::{FieldError, FieldIssue};
use shared::platform::validate::{Checks, user_id_param};
use shared::store::households::Membership;
use shared::store::idempotency::IdempotencyKey;
use shared::store::tasks::{Idempotent, TaskWriteConflict};
use shared::{ApiError, ApiRequest, ApiResponse, ApiResult, App, ErrorCode};

use crate::tasks::{TaskView, replay_or_conflict, save};
use crate::{PathTask, path_roster, path_task};

/// `POST …/complete` and `…/skip` bodies (both optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OccurrenceInput {
    /// Complete "as" this member (owner/admin only: the shared wall-tablet case).
    pub as_user_id: Option<String>,
    pub note: Option<String>,
    pub duration_minutes: Option<u32>,
    /// The proof photo's id (`POST …/photos`, once ready), required for chores with
    /// `requiresPhoto`.
    pub photo: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Recorded {
    task: TaskView,
    completion: Completion,
}

/// `POST /v1/households/{householdId}/tasks/{taskId}/complete`, with `Idempotency-Key`.
pub async fn complete_task(app: App, req: ApiRequest) -> ApiResult {
    record(app, req, CompletionKind::Completed).await
}

/// `POST /v1/households/{householdId}/tasks/{taskId}/skip`: moves on without points.
pub async fn skip_task(app: App, req: ApiRequest) -> ApiResult {
    record(app, req, CompletionKind::Skipped).await
}

async fn record(app: App, req: ApiRequest, kind: CompletionKind) -> ApiResult {
    let now = app.now();
    // The chore, a replay and the roster are read beside the membership: one round trip
    // of wall time instead of four in a row.
    let key = IdempotencyKey::from_request(&req);
    let replay = app.store.replay_key(key.as_ref().ok().and_then(Option::as_ref), now);
    let (m, (replayed, task, members)) = app
        .membership_with(&req, Action::ViewTasks, async {
            tokio::join!(replay, path_task(&app, &req), path_roster(&app, &req))
        })
        .await?;
    let key = key?;
    if let Some(replayed) = replayed? {
        return Ok(replayed);
    }
    let mut input: OccurrenceInput = if req.body.is_empty() { OccurrenceInput::default() } else { req.json()? };
    let mut checks = Checks::new();
    if let Some(note) = &mut input.note {
        checks.multiline("note", note, 0, 500);
    }
    if let Some(d) = input.duration_minutes {
        checks.range("durationMinutes", d.into(), 1, 24 * 60);
    }
    let task = task.visible(&m)?;
    if kind == CompletionKind::Completed && task.requires_photo && input.photo.is_none() {
        checks.push(FieldError::new("photo", FieldIssue::Required));
    }
    // A photo is one the caller uploaded to this household and the photo worker accepted,
    // not yet proving another completion (claimed again in the write, against a race).
    if let Some(photo) = &mut input.photo {
        let proves = match photo.parse::<ulid::Ulid>() {
            Ok(id) => {
                *photo = id.to_string();
                app.store.photo_proves(&m.household.household_id, photo, &m.member.user_id, now).await?
            }
            Err(_) => false,
        };
        if !proves {
            checks.push(photo_refused());
        }
    }
    checks.finish()?;
    // `If-Match` names the occurrence the client saw; if it has moved on, someone else
    // handled it first: the same answer as losing the race in the transaction.
    if req.if_match().is_some_and(|m| !m.matches(task.version)) {
        return Err(ApiError::new(ErrorCode::OccurrenceChanged));
    }
    let manager = policy::allows(m.member.role, Action::ManageTasks);
    let credited = match &input.as_user_id {
        Some(other) if other != &m.member.user_id => {
            if !manager {
                return Err(ApiError::new(ErrorCode::Forbidden));
            }
            let other = user_id_param("asUserId", Some(other))?;
            app.store
                .get_member(&m.household.household_id, &other)
                .await?
                .ok_or_else(|| ApiError::new(ErrorCode::MemberNotFound))?
                .user_id
        }
        _ => m.member.user_id.clone(),
    };
    // Members and children do their own (or pool) chores; owners and admins may do any.
    if !manager && !task.is_assigned_to(&credited) {
        return Err(ApiError::new(ErrorCode::TaskNotAssigned));
    }
    let previous = task.clone();
    let title = task.title.clone();
    let members = members?;
    let advance = match kind {
        CompletionKind::Completed => task.complete(&credited, now, &members)?,
        CompletionKind::Skipped => task.skip(now, &members)?,
    };
    let completion = Completion {
        completion_id: Completion::new_id(now),
        household_id: m.household.household_id.clone(),
        task_id: advance.task.task_id.clone(),
        task_title: title,
        kind,
        user_id: credited,
        recorded_by: m.member.user_id.clone(),
        due: advance.due,
        at: now,
        points: advance.points,
        note: input.note,
        duration_minutes: input.duration_minutes,
        photo: input.photo,
        approval: (kind == CompletionKind::Completed && advance.task.requires_approval).then_some(Approval::Pending),
    };
    let version = advance.task.version;
    let response =
        ApiResponse::ok(&Recorded { task: TaskView::new(advance.task.clone(), now), completion: completion.clone() })
            .etag(version);
    let action = match kind {
        CompletionKind::Completed => "task.complete",
        CompletionKind::Skipped => "task.skip",
    };
    let audit =
        AuditEntry::new(&m.member.user_id, action, format!("task/{}", completion.task_id), &req.correlation_id, now)
            .details(serde_json::json!({
                "completionId": completion.completion_id,
                "userId": completion.user_id,
                "points": completion.points,
                // The notification worker tells owners and admins from the stream (the outbox).
                "pendingApproval": completion.approval == Some(shared::domain::task::Approval::Pending),
            }));
    let idempotent = key.as_ref().map(|key| Idempotent { key, response: &response });
    let escalate_after = m.household.escalate_after_minutes;
    match app.store.record_occurrence(&advance.task, &previous, &completion, &audit, idempotent, escalate_after).await?
    {
        Ok(()) => Ok(response),
        Err(TaskWriteConflict::KeyTaken) => replay_or_conflict(&app, key.as_ref(), now).await,
        Err(TaskWriteConflict::TaskChanged) => Err(ApiError::new(ErrorCode::OccurrenceChanged)),
        Err(TaskWriteConflict::MemberGone) => Err(ApiError::new(ErrorCode::MemberNotFound)),
        Err(TaskWriteConflict::PhotoTaken) => Err(ApiError::validation(vec![photo_refused()])),
    }
}

fn photo_refused() -> FieldError {
    FieldError::new("photo", FieldIssue::InvalidValue)
        .with("allowed", "a ready photo you uploaded to this household, not proving another completion")
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SnoozeInput {
    pub until: chrono::DateTime<chrono::Utc>,
}

/// The chore in the path, for a change to its current occurrence: by its assignee (or a
/// pool member) or an owner/admin, and at the version `If-Match` names, when sent.
fn occurrence_of(req: &ApiRequest, m: &Membership, task: PathTask) -> Result<Task, ApiError> {
    let task = task.visible(m)?;
    if !policy::allows(m.member.role, Action::ManageTasks) && !task.is_assigned_to(&m.member.user_id) {
        return Err(ApiError::new(ErrorCode::TaskNotAssigned));
    }
    req.check_optional_if_match(task.version)?;
    Ok(task)
}

/// `POST /v1/households/{householdId}/tasks/{taskId}/snooze` `{"until": "…"}`: moves this
/// occurrence (the schedule after it is unchanged). The assignee or an owner/admin.
pub async fn snooze_task(app: App, req: ApiRequest) -> ApiResult {
    let (m, task) = app.membership_with(&req, Action::ViewTasks, path_task(&app, &req)).await?;
    let input: SnoozeInput = req.json()?;
    let task = occurrence_of(&req, &m, task)?;
    let snoozed = task.clone().snooze(input.until, app.now())?;
    save(&app, &req, &m, "task.snooze", &task, snoozed).await
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubtaskInput {
    pub done: bool,
}

/// `PUT /v1/households/{householdId}/tasks/{taskId}/subtasks/{subtaskId}` `{"done": true}`:
/// ticks a checklist item of the current occurrence (the list resets on completion).
pub async fn update_subtask(app: App, req: ApiRequest) -> ApiResult {
    let (m, task) = app.membership_with(&req, Action::ViewTasks, path_task(&app, &req)).await?;
    let input: SubtaskInput = req.json()?;
    let subtask_id: u32 = req
        .path_param("subtaskId")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::invalid_parameter("subtaskId"))?;
    let task = occurrence_of(&req, &m, task)?;
    let updated = task.clone().set_subtask(subtask_id, input.done, app.now())?;
    save(&app, &req, &m, "task.subtask", &task, updated).await
}
