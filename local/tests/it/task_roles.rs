//! Who may do what, as a table over every task route: each cell gets a fresh chore created
//! by the owner and assigned to them, then the route is called as that role.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestStack, User, stack};

#[derive(Clone, Copy, Debug)]
enum Call {
    Create,
    List,
    Get,
    Patch,
    Archive,
    Restore,
    Complete,
    CompleteAsMember,
    Skip,
    Snooze,
    Subtask,
    History,
    Agenda,
    Undo,
    Approve,
    Reject,
    Feed,
}

/// Expected status for owner, admin, member, child.
const TABLE: &[(Call, [u16; 4])] = &[
    (Call::Create, [201, 201, 201, 403]),
    (Call::List, [200, 200, 200, 200]),
    (Call::Get, [200, 200, 200, 404]),
    (Call::Patch, [200, 200, 403, 404]),
    (Call::Archive, [200, 200, 403, 404]),
    (Call::Restore, [200, 200, 403, 404]),
    (Call::Complete, [200, 200, 403, 404]),
    (Call::CompleteAsMember, [200, 200, 403, 404]),
    (Call::Skip, [200, 200, 403, 404]),
    (Call::Snooze, [200, 200, 403, 404]),
    (Call::Subtask, [200, 200, 403, 404]),
    (Call::History, [200, 200, 200, 200]),
    (Call::Agenda, [200, 200, 200, 200]),
    (Call::Undo, [200, 200, 403, 404]),
    (Call::Approve, [200, 200, 403, 403]),
    (Call::Reject, [200, 200, 403, 403]),
    (Call::Feed, [201, 201, 201, 201]),
];

async fn fresh_chore(s: &TestStack, owner: &User, h: &str, approval: bool) -> (String, Value) {
    // Started yesterday: the current occurrence is overdue, so it may be completed now at any
    // time of day (a later one opens only half-way from the previous one).
    let yesterday = chrono::Utc::now().date_naive() - chrono::Duration::days(1);
    let body = json!({ "title": "Cell", "startDate": yesterday, "recurrence": { "type": "interval", "every": 1, "unit": "days" },
        "assignment": { "type": "fixed", "userId": owner.id }, "requiresApproval": approval, "subtasks": ["one"] });
    let r = s.call(owner, Method::POST, &format!("/v1/households/{h}/tasks"), Some(body)).await;
    r.assert_status(201);
    (format!("/v1/households/{h}/tasks/{}", r.body["taskId"].as_str().unwrap()), r.body)
}

#[tokio::test]
async fn every_task_route_checks_the_callers_role() {
    let s = stack().await;
    let owner = s.user("owner").await;
    let admin = s.user("admin").await;
    let member = s.user("member").await;
    let child = s.user("child").await;
    let h = s.household(&owner, "Roles table").await;
    s.join(&owner, &h, &admin, "admin").await;
    s.join(&owner, &h, &member, "member").await;
    s.join(&owner, &h, &child, "child").await;
    let roles = [&owner, &admin, &member, &child];
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let mut failures = Vec::new();
    for (call, expected) in TABLE {
        for (who, want) in roles.iter().zip(expected) {
            let approval = matches!(call, Call::Approve | Call::Reject);
            let (task, _) = fresh_chore(&s, &owner, &h, approval).await;
            let completion = if matches!(call, Call::Undo | Call::Approve | Call::Reject) {
                let done = s.call(&owner, Method::POST, &format!("{task}/complete"), None).await;
                format!("/v1/households/{h}/completions/{}", done.body["completion"]["completionId"].as_str().unwrap())
            } else {
                String::new()
            };
            let (method, path, body, headers): (Method, String, Option<Value>, Vec<(&str, &str)>) = match call {
                Call::Create => (
                    Method::POST,
                    format!("/v1/households/{h}/tasks"),
                    Some(json!({ "title": "x", "recurrence": { "type": "once" } })),
                    vec![],
                ),
                Call::List => (Method::GET, format!("/v1/households/{h}/tasks"), None, vec![]),
                Call::Get => (Method::GET, task.clone(), None, vec![]),
                Call::Patch => (Method::PATCH, task.clone(), Some(json!({ "effort": 4 })), vec![("if-match", "\"1\"")]),
                Call::Archive => (Method::POST, format!("{task}/archive"), None, vec![]),
                Call::Restore => (Method::POST, format!("{task}/restore"), None, vec![]),
                Call::Complete => (Method::POST, format!("{task}/complete"), None, vec![]),
                Call::CompleteAsMember => {
                    (Method::POST, format!("{task}/complete"), Some(json!({ "asUserId": member.id })), vec![])
                }
                Call::Skip => (Method::POST, format!("{task}/skip"), None, vec![]),
                Call::Snooze => (Method::POST, format!("{task}/snooze"), Some(json!({ "until": tomorrow })), vec![]),
                Call::Subtask => (Method::PUT, format!("{task}/subtasks/1"), Some(json!({ "done": true })), vec![]),
                Call::History => (Method::GET, format!("/v1/households/{h}/completions"), None, vec![]),
                Call::Agenda => (Method::GET, format!("/v1/households/{h}/agenda"), None, vec![]),
                Call::Undo => (Method::POST, format!("{completion}/undo"), None, vec![]),
                Call::Approve => (Method::POST, format!("{completion}/approve"), None, vec![]),
                Call::Reject => (Method::POST, format!("{completion}/reject"), None, vec![]),
                Call::Feed => (Method::POST, format!("/v1/households/{h}/calendar-feed"), None, vec![]),
            };
            let r = s.call_with(who, method, &path, body, &headers).await;
            if r.status.as_u16() != *want {
                failures.push(format!("{call:?} as {}: {} (wanted {want}) {}", who.email, r.status, r.body));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
