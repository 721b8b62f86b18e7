//! The tasks service: chores, completing and skipping their occurrences.

mod calendar;
mod history;
mod household_changes;
mod occurrences;
mod tasks;

pub use calendar::*;
pub use history::*;
pub use household_changes::{SYSTEM_ACTOR, apply as apply_household_change};
pub use occurrences::*;
pub use tasks::*;

use shared::auth::policy;
use shared::domain::api_key::Scope;
use shared::domain::assignment::Assignment;
use shared::domain::task::{HouseholdContext, RosterEntry, Task, TaskState};
use shared::lambda::{Route, Worker};
use shared::platform::validate::ulid_param;
use shared::store::households::Membership;
use shared::store::tasks::TaskRange;
use shared::{ApiError, ApiRequest, App, ErrorCode, handler};

const TASKS: &str = "/v1/households/{householdId}/tasks";

pub const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: TASKS,
        function: "CreateTaskFunction",
        authenticated: true,
        handler: handler!(create_task),
        deprecated: None,
        scope: Some(Scope::TasksWrite),
    },
    Route {
        method: "GET",
        path: TASKS,
        function: "ListTasksFunction",
        authenticated: true,
        handler: handler!(list_tasks),
        deprecated: None,
        scope: Some(Scope::TasksRead),
    },
    Route {
        method: "GET",
        path: "/v1/households/{householdId}/tasks/{taskId}",
        function: "GetTaskFunction",
        authenticated: true,
        handler: handler!(get_task),
        deprecated: None,
        scope: Some(Scope::TasksRead),
    },
    Route {
        method: "PATCH",
        path: "/v1/households/{householdId}/tasks/{taskId}",
        function: "UpdateTaskFunction",
        authenticated: true,
        handler: handler!(update_task),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/tasks/{taskId}/archive",
        function: "ArchiveTaskFunction",
        authenticated: true,
        handler: handler!(archive_task),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/tasks/{taskId}/restore",
        function: "RestoreTaskFunction",
        authenticated: true,
        handler: handler!(restore_task),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/tasks/{taskId}/complete",
        function: "CompleteTaskFunction",
        authenticated: true,
        handler: handler!(complete_task),
        deprecated: None,
        scope: Some(Scope::TasksComplete),
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/tasks/{taskId}/skip",
        function: "SkipTaskFunction",
        authenticated: true,
        handler: handler!(skip_task),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/tasks/{taskId}/snooze",
        function: "SnoozeTaskFunction",
        authenticated: true,
        handler: handler!(snooze_task),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "GET",
        path: "/v1/households/{householdId}/completions",
        function: "ListCompletionsFunction",
        authenticated: true,
        handler: handler!(list_completions),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/completions/{completionId}/undo",
        function: "UndoCompletionFunction",
        authenticated: true,
        handler: handler!(undo_completion),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "GET",
        path: "/v1/households/{householdId}/agenda",
        function: "AgendaFunction",
        authenticated: true,
        handler: handler!(agenda),
        deprecated: None,
        scope: Some(Scope::AgendaRead),
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/completions/{completionId}/approve",
        function: "ApproveCompletionFunction",
        authenticated: true,
        handler: handler!(approve_completion),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/completions/{completionId}/reject",
        function: "RejectCompletionFunction",
        authenticated: true,
        handler: handler!(reject_completion),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/calendar-feed",
        function: "CreateCalendarFeedFunction",
        authenticated: true,
        handler: handler!(create_calendar_feed),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "DELETE",
        path: "/v1/households/{householdId}/calendar-feed",
        function: "RevokeCalendarFeedFunction",
        authenticated: true,
        handler: handler!(revoke_calendar_feed),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "GET",
        path: "/v1/calendar/{token}",
        function: "CalendarFeedFunction",
        authenticated: false,
        handler: handler!(calendar_feed),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "PUT",
        path: "/v1/households/{householdId}/tasks/{taskId}/subtasks/{subtaskId}",
        function: "UpdateSubtaskFunction",
        authenticated: true,
        handler: handler!(update_subtask),
        deprecated: None,
        scope: None,
    },
];

pub const WORKERS: &[Worker] = &[Worker {
    function: "HouseholdChangesFunction",
    queue: "HouseholdChangesQueue",
    handler: |app, event| Box::pin(household_changes::handle_batch(app, event)),
}];

/// The chore in the path as read, before the caller's membership is known; see
/// [`PathTask::visible`].
pub(crate) struct PathTask(Result<Option<Task>, ApiError>);

/// Reads the chore in the path (a read that can run beside the membership's, see
/// [`App::membership_with`]).
pub(crate) async fn path_task(app: &App, req: &ApiRequest) -> PathTask {
    let read = async {
        let household_id = ulid_param("householdId", req.path_param("householdId"))?;
        let task_id = ulid_param("taskId", req.path_param("taskId"))?;
        Ok(app.store.get_task(&household_id, &task_id).await?)
    };
    PathTask(read.await)
}

impl PathTask {
    /// The chore, as the member may see it: a child sees only chores assigned to them (or
    /// their pools), and anything else is the same 404 as a chore that does not exist.
    pub(crate) fn visible(self, m: &Membership) -> Result<Task, ApiError> {
        let task = self.0?.ok_or_else(|| ApiError::new(ErrorCode::TaskNotFound))?;
        if policy::sees_only_own_chores(m.member.role) && !task.is_assigned_to(&m.member.user_id) {
            return Err(ApiError::new(ErrorCode::TaskNotFound));
        }
        Ok(task)
    }
}

/// Every member (bounded by the member limit) as assignment weighs them; pools are
/// checked against them.
pub(crate) async fn roster(app: &App, household_id: &str) -> Result<Vec<RosterEntry>, ApiError> {
    Ok(app.store.roster(household_id).await?.into_iter().map(RosterEntry::from).collect())
}

/// [`roster`] of the household in the path (a read that can run beside the membership's).
pub(crate) async fn path_roster(app: &App, req: &ApiRequest) -> Result<Vec<RosterEntry>, ApiError> {
    roster(app, &ulid_param("householdId", req.path_param("householdId"))?).await
}

/// At most this many occurrences are simulated for one agenda or calendar request, across
/// all of the household's chores: its work is bounded whatever the household's size.
pub const MAX_FORECAST_STEPS: usize = 20_000;

/// The household's active chores due before `to` and their forecast occurrences in
/// `[from, to)` (only `user`'s, when given), soonest first: `(index into the chores, due,
/// assignee)`. One Query per 100 chores (at most 10), and at most [`MAX_FORECAST_STEPS`]
/// occurrences simulated.
pub(crate) async fn household_forecast(
    app: &App,
    household_id: &str,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    user: Option<&str>,
) -> Result<(Vec<Task>, Vec<(usize, chrono::DateTime<chrono::Utc>, Assignment)>), ApiError> {
    let range = TaskRange::State { state: TaskState::Active, after: None, before: Some(to) };
    let members = roster(app, household_id).await?;
    let (mut chores, mut occurrences) = (Vec::new(), Vec::new());
    let mut budget = MAX_FORECAST_STEPS;
    let mut start = None;
    for _ in 0..10 {
        let (tasks, next) = app.store.list_tasks(household_id, &range, None, 100, start).await?;
        for task in tasks {
            let forecast = task.forecast(from, to, budget.min(200), &members);
            budget -= forecast.len();
            let index = chores.len();
            occurrences.extend(
                forecast
                    .into_iter()
                    .filter(|(_, assignee)| user.is_none_or(|me| assignee.includes(me)))
                    .map(|(due, assignee)| (index, due, assignee)),
            );
            chores.push(task);
            if budget == 0 {
                tracing::warn!(household_id, "forecast budget spent");
                break;
            }
        }
        match next {
            Some(n) if budget > 0 => start = Some(n),
            _ => break,
        }
    }
    occurrences.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| chores[a.0].task_id.cmp(&chores[b.0].task_id)));
    Ok((chores, occurrences))
}

/// What a chore is validated against: the household's id, zone and members.
pub(crate) fn household_context<'a>(m: &'a Membership, roster: &'a [RosterEntry]) -> HouseholdContext<'a> {
    HouseholdContext { household_id: &m.household.household_id, timezone: &m.household.timezone, roster }
}
