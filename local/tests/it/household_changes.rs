//! Household-wide changes reach every chore through the table's stream and the
//! household-changes worker (issue 7): a member who leaves or goes away hands their
//! occurrences on, and a new escalation setting reaches the chores' pending reminders.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, DurationRound, Timelike, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use shared::domain::household_change::{Change, HouseholdChange};

use crate::notifications::{advance_to, clock_now, notifications};
use crate::support::{TestStack, User, builder};
use crate::tasks::daily;

/// A daily round-robin chore over `pool`, due at `due` (the household's zone is UTC) and
/// reminding at due.
async fn chore(s: &TestStack, owner: &User, h: &str, title: &str, pool: &[&User], due: DateTime<Utc>) -> String {
    let mut body = daily(title, pool);
    body["dueTime"] = json!(format!("{:02}:{:02}", due.hour(), due.minute()));
    body["startDate"] = json!(due.date_naive());
    body["reminderOffsets"] = json!([0]);
    let r = s.call(owner, Method::POST, &format!("/v1/households/{h}/tasks"), Some(body)).await;
    r.assert_status(201);
    r.body["taskId"].as_str().unwrap().to_string()
}

/// The chore, once `until` holds for it (the worker is seconds behind the API).
async fn chore_once(s: &TestStack, user: &User, h: &str, id: &str, until: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..60 {
        let r = s.call(user, Method::GET, &format!("/v1/households/{h}/tasks/{id}"), None).await;
        r.assert_status(200);
        if until(&r.body) {
            return r.body;
        }
        last = r.body;
        tokio::time::sleep(StdDuration::from_millis(500)).await;
    }
    panic!("the chore never got there: {last:#}");
}

/// The `If-Match` value for a chore as read (its version).
fn etag_of(task: &Value) -> String {
    format!("\"{}\"", task["version"].as_u64().unwrap())
}

fn assignee(task: &Value) -> &str {
    task["assignee"]["userId"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_member_who_leaves_or_goes_away_hands_their_chores_on_and_reminders_follow() {
    let travel = local::schedule::TravelClock::new();
    let s = builder().dev_like(travel.clone()).start().await;
    let owner = s.user("owner").await;
    let h = s.household(&owner, "Changes").await;
    let (ben, cy) = (s.user("ben").await, s.user("cy").await);
    s.join(&owner, &h, &ben, "member").await;
    s.join(&owner, &h, &cy, "member").await;
    let due = clock_now(&s).await.duration_trunc(Duration::minutes(1)).unwrap() + Duration::hours(3);
    let bins = chore(&s, &owner, &h, "Bins", &[&ben, &cy], due).await;
    let plants = chore(&s, &owner, &h, "Plants", &[&cy, &owner], due).await;
    let path = |id: &str| format!("/v1/households/{h}/tasks/{id}");
    let before = s.call(&owner, Method::GET, &path(&bins), None).await;
    assert_eq!(assignee(&before.body), ben.id);
    assert_eq!(assignee(&s.call(&owner, Method::GET, &path(&plants), None).await.body), cy.id);

    // Ben leaves. His turn goes to the next in the rotation, Cy. The worker runs from the
    // stream; here it also runs a second time at once, against the owner renaming the chore
    // at the same moment: both changes stand, whichever order they land in.
    s.call(&ben, Method::DELETE, &format!("/v1/households/{h}/members/{}", ben.id), None).await.assert_status(204);
    let change = HouseholdChange {
        household_id: h.clone(),
        change: Change::MemberLeft { user_id: ben.id.clone() },
        audit_id: "race".into(),
        correlation_id: "race".into(),
    };
    let worker = s.stack.function_app("HouseholdChangesFunction");
    let (bins_path, etag) = (path(&bins), before.etag());
    let rename = json!({ "title": "Bins and glass" });
    let if_match = [("if-match", etag.as_str())];
    let (applied, renamed) = tokio::join!(
        functions_tasks::apply_household_change(&worker, &change),
        s.call_with(&owner, Method::PATCH, &bins_path, Some(rename), &if_match,),
    );
    applied.unwrap();
    let bins_now = chore_once(&s, &owner, &h, &bins, |t| assignee(t) == cy.id).await;
    if renamed.status == 412 {
        // The worker's change landed first: the owner's If-Match names a version gone by.
        // Renamed on top of it, nothing of the worker's change is lost either.
        s.call_with(
            &owner,
            Method::PATCH,
            &bins_path,
            Some(json!({ "title": "Bins and glass" })),
            &[("if-match", etag_of(&bins_now).as_str())],
        )
        .await
        .assert_status(200);
    } else {
        renamed.assert_status(200);
    }
    let bins_now = chore_once(&s, &owner, &h, &bins, |t| t["title"] == "Bins and glass").await;
    assert_eq!(assignee(&bins_now), cy.id, "the rename did not undo the reassignment");
    assert_eq!(bins_now["pool"], json!([cy.id]), "he left the pool");
    assert_eq!(bins_now["nextDue"], before.body["nextDue"], "the same occurrence, someone else's");
    // The change again (a redelivered message): nothing left to change.
    assert_eq!(functions_tasks::apply_household_change(&worker, &change).await.unwrap(), 0);

    // Cy goes away over the due date: Plants goes to the owner. Bins stays hers, as nobody
    // else is in its pool.
    let today = due.date_naive();
    let away = json!({ "away": [{ "from": today - Duration::days(1), "to": today + Duration::days(2) }] });
    s.call_with(
        &cy,
        Method::PATCH,
        &format!("/v1/households/{h}/members/{}", cy.id),
        Some(away),
        &[("if-match", "\"1\"")],
    )
    .await
    .assert_status(200);
    chore_once(&s, &owner, &h, &plants, |t| assignee(t) == owner.id).await;
    assert_eq!(assignee(&s.call(&owner, Method::GET, &path(&bins), None).await.body), cy.id);

    // The household starts escalating: the pending reminders take the new plan.
    let household = s.call(&owner, Method::GET, &format!("/v1/households/{h}"), None).await;
    s.call_with(
        &owner,
        Method::PATCH,
        &format!("/v1/households/{h}"),
        Some(json!({ "escalateAfterMinutes": 30 })),
        &[("if-match", &household.etag())],
    )
    .await
    .assert_status(200);
    let mut plan = None;
    for _ in 0..60 {
        plan = s.stack.app.store.pending_reminder(&h, &plants).await.unwrap().map(|p| p.plan);
        if plan.as_ref().is_some_and(|p| p.escalate_after == Some(30)) {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(500)).await;
    }
    assert_eq!(plan.unwrap().escalate_after, Some(30), "the pending reminder escalates now");

    // At due, the reminders reach the members who have the chores now.
    advance_to(&s, due + Duration::minutes(1)).await;
    let reminded = |n: &Value, task: &str| {
        n["items"].as_array().unwrap().iter().any(|i| i["event"] == "reminder" && i["taskId"] == task)
    };
    for _ in 0..60 {
        let mine = s.call(&owner, Method::GET, "/v1/me/notifications", None).await.body;
        if reminded(&mine, &plants) {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(500)).await;
    }
    let owners = notifications(&s, &owner, 1).await;
    assert!(reminded(&owners, &plants), "{owners:#}");
    assert!(!reminded(&owners, &bins));
    let cys = notifications(&s, &cy, 1).await;
    assert!(reminded(&cys, &bins), "{cys:#}");
    drop(travel);
}
