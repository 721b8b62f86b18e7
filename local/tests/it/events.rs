//! Every file in events/ is a realistic event for one function: fed through that
//! function's handler against the local stack, it gets the answer a user would expect.

use chrono::{TimeZone, Utc};
use shared::auth::Role;
use shared::domain::audit::AuditEntry;
use shared::domain::household::{Member, NewHousehold};
use shared::domain::invite::Invite;
use shared::domain::task::{HouseholdContext, RosterEntry, TaskInput};
use shared::platform::clock::ManualClock;

use crate::support::{stack, template};

const OWNER: &str = "5f0c6b2e-4a1d-4c8e-9b7a-1e2d3c4b5a69";
const MEMBER: &str = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const HOUSEHOLD: &str = "01JD3N7Y2K5V8T4R6W9Q1M0ZXB";
const TASK: &str = "01JD3P0A7F2K9M4R6T8V1X3Z5B";
/// The completion id in events/UndoCompletionFunction.json; the test puts in the real one.
const EXAMPLE_COMPLETION: &str = "01JD3Q5V8C2M6R9T3W7Y1A4D6F";
/// Likewise the token in events/CalendarFeedFunction.json.
const EXAMPLE_FEED_TOKEN: &str = "examplefeedtoken0000000000000000";

/// The order the events run in, and the status each must get.
const EXPECTED: &[(&str, u16)] = &[
    ("HealthFunction", 200),
    ("GetMeFunction", 200),
    ("PatchMeFunction", 200),
    ("CreateHouseholdFunction", 201),
    ("ListHouseholdsFunction", 200),
    ("GetHouseholdFunction", 200),
    ("UpdateHouseholdFunction", 200),
    ("ListMembersFunction", 200),
    ("UpdateMemberFunction", 200),
    ("CreateInviteFunction", 201),
    ("ListInvitesFunction", 200),
    ("RevokeInviteFunction", 204),
    ("AcceptInviteFunction", 201),
    ("RemoveMemberFunction", 204),
    ("CreateTaskFunction", 201),
    ("ListTasksFunction", 200),
    ("GetTaskFunction", 200),
    ("UpdateTaskFunction", 200),
    ("CompleteTaskFunction", 200),
    ("ApproveCompletionFunction", 200),
    ("ListCompletionsFunction", 200),
    ("UndoCompletionFunction", 409), // approved just before: a reviewed completion is final
    ("RejectCompletionFunction", 409),
    ("SkipTaskFunction", 200),
    ("SnoozeTaskFunction", 200),
    ("UpdateSubtaskFunction", 200),
    ("AgendaFunction", 200),
    ("CreateCalendarFeedFunction", 201),
    ("CalendarFeedFunction", 200),
    ("RevokeCalendarFeedFunction", 204),
    ("ArchiveTaskFunction", 200),
    ("RestoreTaskFunction", 200),
    ("DeleteHouseholdFunction", 204),
];

/// `events/<LogicalId>.json`: one realistic event per function.
fn event_file(function: &str) -> std::path::PathBuf {
    local::template::workspace_root().join("events").join(format!("{function}.json"))
}

fn invite(code: &str, now: chrono::DateTime<Utc>) -> Invite {
    Invite {
        code: code.into(),
        household_id: HOUSEHOLD.into(),
        role: Role::Member,
        created_by: OWNER.into(),
        created_at: now,
        expires_at: now + chrono::Duration::days(365 * 20),
        max_uses: 1,
        uses: 0,
        revoked: false,
    }
}

#[tokio::test]
async fn every_event_runs_through_its_handler() {
    let s = stack().await;
    // The events carry fixed dates (a snooze target, an agenda range): fix the clock too.
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
    let clock: std::sync::Arc<ManualClock> = std::sync::Arc::new(ManualClock::at(now));
    // Each event runs as its function: its own policy and environment.
    let app_of = |function: &str| shared::App { clock: clock.clone(), ..s.stack.function_app(function) };
    let setup = shared::App { clock: clock.clone(), ..s.stack.app.clone() };
    let store = &setup.store;
    let audit = || AuditEntry::new(OWNER, "test.setup", "setup".into(), "events-test", now);

    // The world the events describe: Ana's household with one member and two invites.
    let new: NewHousehold =
        serde_json::from_value(serde_json::json!({ "name": "Events", "timezone": "Europe/Berlin" })).unwrap();
    let (mut household, mut owner) = new.create(OWNER, "Ana", "UTC", now).unwrap();
    household.household_id = HOUSEHOLD.into();
    owner.household_id = HOUSEHOLD.into();
    store.create_household(&household, &owner, &audit(), None).await.unwrap();
    let member = Member { user_id: MEMBER.into(), display_name: "Ben".into(), role: Role::Member, ..owner.clone() };
    let seat = invite("MEMBERS234", now);
    store.create_invite(&seat, &audit(), None).await.unwrap();
    store.accept_invite(&seat, &member, 50, &audit(), None).await.unwrap().unwrap();
    store.create_invite(&invite("GARDEN2345", now), &audit(), None).await.unwrap();
    store.create_invite(&invite("QRSTVW2345", now), &audit(), None).await.unwrap();
    let members = [RosterEntry::new(OWNER), RosterEntry::new(MEMBER)];
    let ctx = HouseholdContext { household_id: HOUSEHOLD, timezone: "Europe/Berlin", roster: &members };
    let input: TaskInput = serde_json::from_value(
        // Started a week ago: the occurrence of 24 November is overdue (completed, undone,
        // skipped by the events) and the one of 1 December too, snoozed to 5 December.
        serde_json::json!({ "title": "Recycling", "startDate": "2026-11-24", "recurrence": { "type": "interval", "every": 1, "unit": "weeks" }, "requiresApproval": true, "subtasks": ["Paper", "Glass"] }),
    )
    .unwrap();
    let mut task = input.create(&ctx, OWNER, now).unwrap();
    task.task_id = TASK.into();
    store.create_task(&task, &audit(), None, now).await.unwrap().unwrap();

    let routes = local::routes::routes();
    let functions = template().functions();
    let mut completion_id = String::new();
    let mut feed_token = String::new();
    for (function, expected) in EXPECTED {
        let f =
            functions.iter().find(|f| f.logical_id == *function).unwrap_or_else(|| panic!("no function {function}"));
        let route = shared::lambda::find_route(&routes, &f.logical_id);
        let text = std::fs::read_to_string(event_file(function))
            .unwrap()
            .replace(EXAMPLE_COMPLETION, &completion_id)
            .replace(EXAMPLE_FEED_TOKEN, &feed_token);
        let request = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{function}: not an API Gateway event: {e}"));
        let response = shared::platform::http::handle(&app_of(&f.logical_id), request, route.handler).await;
        let body = match response.body() {
            lambda_http::Body::Text(t) => t.clone(),
            _ => String::new(),
        };
        assert_eq!(response.status().as_u16(), *expected, "{function}: {body}");
        if *function == "CreateCalendarFeedFunction" {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            feed_token = v["path"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
        }
        if *function == "CompleteTaskFunction" {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            completion_id = v["completion"]["completionId"].as_str().unwrap().to_string();
        }
        assert_eq!(response.headers()["x-correlation-id"], "example-correlation-id");
    }

    // The delete event queued the purge; the worker's event purges what is left.
    let worker = local::routes::workers().into_iter().find(|w| w.function == "PurgeHouseholdFunction").unwrap();
    let f = functions.iter().find(|f| f.logical_id == worker.function).unwrap();
    let text = std::fs::read_to_string(event_file(&f.logical_id)).unwrap();
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(&text).unwrap();
    let response = (worker.handler)(app_of(worker.function), event).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(s.items(&format!("HOUSEHOLD#{HOUSEHOLD}")).await.is_empty());
}

#[test]
fn every_function_has_exactly_one_event() {
    for f in template().functions() {
        let path = event_file(&f.logical_id);
        let text = std::fs::read_to_string(&path).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        if let Some(api) = &f.api {
            assert_eq!(value["httpMethod"], api.method.as_str(), "{}", path.display());
            assert_eq!(value["resource"], api.path.as_str(), "{}", path.display());
            assert_eq!(
                value.pointer("/requestContext/authorizer/claims/sub").is_some(),
                api.authenticated,
                "{}",
                path.display()
            );
        } else {
            assert_eq!(value["Records"][0]["eventSource"], "aws:sqs", "{}", path.display());
        }
    }
}
