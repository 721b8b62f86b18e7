//! The tasks service: chores, completing and skipping their occurrences.

mod calendar;
mod history;
mod occurrences;
mod tasks;

pub use calendar::*;
pub use history::*;
pub use occurrences::*;
pub use tasks::*;

use shared::auth::policy;
use shared::domain::task::{HouseholdContext, RosterEntry, Task};
use shared::lambda::Route;
use shared::platform::validate::ulid_param;
use shared::store::households::Membership;
use shared::{ApiError, ApiRequest, App, ErrorCode, handler};

const TASKS: &str = "/v1/households/{householdId}/tasks";

pub const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: TASKS,
        function: "CreateTaskFunction",
        authenticated: true,
        handler: handler!(create_task),
    },
    Route {
        method: "GET",
        path: TASKS,
        function: "ListTasksFunction",
        authenticated: true,
        handler: handler!(list_tasks),
    },
    Route {
        method: "GET",
        path: "/v1/households/{householdId}/tasks/{taskId}",
        function: "GetTaskFunction",
        authenticated: true,
        handler: handler!(get_task),
    },
    Route {
        method: "PATCH",
        path: "/v1/households/{householdId}/tasks/{taskId}",
        function: "UpdateTaskFunction",
        authenticated: true,
        handler: handler!(update_task),
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/tasks/{taskId}/archive",
        function: "ArchiveTaskFunction",
        authenticated: true,
        handler: handler!(archive_task),
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/tasks/{taskId}/restore",
        function: "RestoreTaskFunction",
        authenticated: true,
        handler: handler!(restore_task),
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/tasks/{taskId}/complete",
        function: "CompleteTaskFunction",
        authenticated: true,
        handler: handler!(complete_task),
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/tasks/{taskId}/skip",
        function: "SkipTaskFunction",
        authenticated: true,
        handler: handler!(skip_task),
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/tasks/{taskId}/snooze",
        function: "SnoozeTaskFunction",
        authenticated: true,
        handler: handler!(snooze_task),
    },
    Route {
        method: "GET",
        path: "/v1/households/{householdId}/completions",
        function: "ListCompletionsFunction",
        authenticated: true,
        handler: handler!(list_completions),
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/completions/{completionId}/undo",
        function: "UndoCompletionFunction",
        authenticated: true,
        handler: handler!(undo_completion),
    },
    Route {
        method: "GET",
        path: "/v1/households/{householdId}/agenda",
        function: "AgendaFunction",
        authenticated: true,
        handler: handler!(agenda),
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/completions/{completionId}/approve",
        function: "ApproveCompletionFunction",
        authenticated: true,
        handler: handler!(approve_completion),
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/completions/{completionId}/reject",
        function: "RejectCompletionFunction",
        authenticated: true,
        handler: handler!(reject_completion),
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/calendar-feed",
        function: "CreateCalendarFeedFunction",
        authenticated: true,
        handler: handler!(create_calendar_feed),
    },
    Route {
        method: "DELETE",
        path: "/v1/households/{householdId}/calendar-feed",
        function: "RevokeCalendarFeedFunction",
        authenticated: true,
        handler: handler!(revoke_calendar_feed),
    },
    Route {
        method: "GET",
        path: "/v1/calendar/{token}",
        function: "CalendarFeedFunction",
        authenticated: false,
        handler: handler!(calendar_feed),
    },
    Route {
        method: "PUT",
        path: "/v1/households/{householdId}/tasks/{taskId}/subtasks/{subtaskId}",
        function: "UpdateSubtaskFunction",
        authenticated: true,
        handler: handler!(update_subtask),
    },
];

/// The task in the path, as the caller may see it: a child sees only chores assigned to
/// them, and anything else is the same 404 as a chore that does not exist.
pub(crate) async fn visible_task(app: &App, req: &ApiRequest, m: &Membership) -> Result<Task, ApiError> {
    let task_id = ulid_param("taskId", req.path_param("taskId"))?;
    let task = app
        .store
        .get_task(&m.household.household_id, &task_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::TaskNotFound))?;
    if policy::sees_only_own_chores(m.member.role) && !task.is_assigned_to(&m.member.user_id) {
        return Err(ApiError::new(ErrorCode::TaskNotFound));
    }
    Ok(task)
}

/// Every member (bounded by the member limit) as assignment weighs them; pools are
/// checked against them.
pub(crate) async fn roster(app: &App, household_id: &str) -> Result<Vec<RosterEntry>, ApiError> {
    Ok(app.store.roster(household_id).await?.into_iter().map(RosterEntry::from).collect())
}

/// What a chore is validated against: the household's id, zone and members.
pub(crate) fn household_context<'a>(m: &'a Membership, roster: &'a [RosterEntry]) -> HouseholdContext<'a> {
    HouseholdContext { household_id: &m.household.household_id, timezone: &m.household.timezone, roster }
}
