//! Chores through the local gateway: CRUD, lists on index ranges, roles, completion
//! races, idempotency and bad input.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestStack, User, stack};

pub(crate) async fn household_of_three(s: &TestStack) -> (String, User, User, User) {
    let owner = s.user("owner").await;
    let member = s.user("member").await;
    let child = s.user("child").await;
    let id = s.household(&owner, "Chores").await;
    s.join(&owner, &id, &member, "member").await;
    s.join(&owner, &id, &child, "child").await;
    (id, owner, member, child)
}

pub(crate) fn daily(title: &str, pool: &[&User]) -> Value {
    json!({
        "title": title,
        "recurrence": { "type": "interval", "every": 1, "unit": "days" },
        "dueTime": "08:00",
        "effort": 3,
        "labels": ["kitchen"],
        "assignment": { "type": "roundRobin" },
        "pool": pool.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
    })
}

/// The chore started `days` ago (the household's zone is UTC): its first occurrences are
/// overdue, so they may be completed now, whatever the time of day the test runs at. A chore
/// due later opens for completion only half-way from its previous occurrence (12 hours before
/// a daily one), so tests that complete a freshly created chore start it in the past.
fn started_days_ago(mut body: Value, days: i64) -> Value {
    body["startDate"] = json!(chrono::Utc::now().date_naive() - chrono::Duration::days(days));
    body
}

/// A member's points, as the household's member list shows them.
pub(crate) async fn points(s: &TestStack, viewer: &User, household: &str, member: &User) -> Value {
    let members = s.call(viewer, Method::GET, &format!("/v1/households/{household}/members"), None).await;
    members.body["items"].as_array().unwrap().iter().find(|m| m["userId"] == member.id.as_str()).unwrap()["points"]
        .clone()
}

pub(crate) async fn create(s: &TestStack, user: &User, household: &str, body: Value) -> Value {
    let r = s.call(user, Method::POST, &format!("/v1/households/{household}/tasks"), Some(body)).await;
    r.assert_status(201);
    r.body
}

#[tokio::test]
async fn chores_are_created_listed_updated_archived_and_restored() {
    let s = stack().await;
    let (h, owner, member, _child) = household_of_three(&s).await;
    let base = format!("/v1/households/{h}/tasks");
    let r = s.call(&owner, Method::POST, &base, Some(daily("Dishes", &[&owner, &member]))).await;
    r.assert_status(201);
    let id = r.body["taskId"].as_str().unwrap().to_string();
    assert_eq!(r.header("location"), Some(format!("{base}/{id}").as_str()));
    assert_eq!(r.etag(), "\"1\"");
    assert_eq!(r.body["assignee"], json!({ "type": "member", "userId": owner.id }));
    assert!(["due", "upcoming"].contains(&r.body["status"].as_str().unwrap()));
    create(&s, &member, &h, json!({ "title": "Plants", "recurrence": { "type": "weekly", "every": 1, "weekdays": ["Mon", "Thu"] }, "labels": ["garden"] })).await;

    let all = s.call(&owner, Method::GET, &base, None).await;
    all.assert_status(200);
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
    let kitchen = s.call(&owner, Method::GET, &format!("{base}?label=kitchen"), None).await;
    assert_eq!(kitchen.body["items"].as_array().unwrap().len(), 1);
    let mine = s.call(&owner, Method::GET, &format!("{base}?assignee={}", owner.id), None).await;
    assert!(mine.body["items"].as_array().unwrap().iter().any(|t| t["taskId"] == id.as_str()));
    let none_overdue = s.call(&owner, Method::GET, &format!("{base}?status=overdue"), None).await;
    assert!(none_overdue.body["items"].as_array().unwrap().is_empty());
    let page = s.call(&owner, Method::GET, &format!("{base}?limit=1"), None).await;
    let cursor = page.body["nextCursor"].as_str().unwrap();
    let rest = s.call(&owner, Method::GET, &format!("{base}?limit=1&cursor={cursor}"), None).await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 1);
    assert_ne!(rest.body["items"][0]["taskId"], page.body["items"][0]["taskId"]);

    let path = format!("{base}/{id}");
    s.call_with(&owner, Method::PATCH, &path, Some(json!({ "title": "x" })), &[("if-match", "\"9\"")])
        .await
        .assert_problem(412, "precondition.failed");
    let updated = s
        .call_with(
            &owner,
            Method::PATCH,
            &path,
            Some(json!({ "title": "Dishes & pans", "dueTime": "19:30" })),
            &[("if-match", "\"1\"")],
        )
        .await;
    updated.assert_status(200);
    assert_eq!(updated.body["title"], "Dishes & pans");
    assert!(updated.body["nextDue"].as_str().unwrap().contains(":30:00"));

    s.call(&owner, Method::POST, &format!("{path}/archive"), None).await.assert_status(200);
    let active = s.call(&owner, Method::GET, &base, None).await;
    assert_eq!(active.body["items"].as_array().unwrap().len(), 1);
    let archived = s.call(&owner, Method::GET, &format!("{base}?status=archived"), None).await;
    assert_eq!(archived.body["items"][0]["taskId"], id.as_str());
    s.call(&owner, Method::POST, &format!("{path}/complete"), None).await.assert_problem(409, "task.archived");
    s.call(&owner, Method::POST, &format!("{path}/restore"), None).await.assert_status(200);
    let active = s.call(&owner, Method::GET, &base, None).await;
    assert_eq!(active.body["items"].as_array().unwrap().len(), 2);
}

/// A stack whose functions' clock reads 07:30 UTC today: a daily 08:00 chore started
/// yesterday then has exactly one overdue occurrence, which pays (only the latest due
/// occurrence does), whatever the time of day the test runs at.
pub(crate) async fn stack_at_half_past_seven() -> crate::support::TestStack {
    let today = chrono::Utc::now().date_naive();
    let clock = shared::platform::clock::ManualClock::at(today.and_hms_opt(7, 30, 0).unwrap().and_utc());
    crate::support::builder().clock(std::sync::Arc::new(clock)).start().await
}

#[tokio::test]
async fn completing_awards_points_records_history_and_rotates_the_assignee() {
    let s = stack_at_half_past_seven().await;
    let (h, owner, member, _child) = household_of_three(&s).await;
    let task = create(&s, &owner, &h, started_days_ago(daily("Trash", &[&owner, &member]), 1)).await;
    let id = task["taskId"].as_str().unwrap();
    let path = format!("/v1/households/{h}/tasks/{id}");
    // The member is not this occurrence's assignee.
    s.call(&member, Method::POST, &format!("{path}/complete"), None).await.assert_problem(403, "task.not_assigned");
    let done = s
        .call(&owner, Method::POST, &format!("{path}/complete"), Some(json!({ "note": "done", "durationMinutes": 5 })))
        .await;
    done.assert_status(200);
    assert_eq!(done.body["completion"]["points"], 30);
    assert_eq!(done.body["completion"]["userId"], owner.id.as_str());
    assert_eq!(done.body["task"]["assignee"]["userId"], member.id.as_str());
    let due_before: chrono::DateTime<chrono::Utc> = task["nextDue"].as_str().unwrap().parse().unwrap();
    let due_after: chrono::DateTime<chrono::Utc> = done.body["task"]["nextDue"].as_str().unwrap().parse().unwrap();
    assert_eq!(due_after - due_before, chrono::Duration::days(1));
    // Now the member's turn; they skip it (no points) and it comes back to the owner.
    let skipped = s.call(&member, Method::POST, &format!("{path}/skip"), None).await;
    skipped.assert_status(200);
    assert_eq!(skipped.body["completion"]["points"], 0);
    assert_eq!(skipped.body["task"]["assignee"]["userId"], owner.id.as_str());

    assert_eq!(points(&s, &owner, &h, &owner).await, 30);
    assert_eq!(points(&s, &owner, &h, &member).await, 0);
    let history: Vec<_> = s
        .items(&format!("HOUSEHOLD#{h}"))
        .await
        .into_iter()
        .filter(|i| i["SK"].as_s().unwrap().starts_with("DONE#"))
        .collect();
    assert_eq!(history.len(), 2);
}

#[tokio::test]
async fn twenty_concurrent_completions_of_one_occurrence_give_exactly_one_success() {
    let s = stack_at_half_past_seven().await;
    let owner = s.user("owner").await;
    let h = s.household(&owner, "Race").await;
    let task = create(
        &s,
        &owner,
        &h,
        started_days_ago(
            json!({ "title": "Race", "recurrence": { "type": "interval", "every": 1, "unit": "days" } }),
            1,
        ),
    )
    .await;
    let path = format!("/v1/households/{h}/tasks/{}/complete", task["taskId"].as_str().unwrap());
    // Each client completes the occurrence it saw: If-Match names it by the chore's ETag.
    let attempts = (0..20).map(|_| s.call_with(&owner, Method::POST, &path, None, &[("if-match", "\"1\"")]));
    let replies = futures::future::join_all(attempts).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1, "{:?}", replies.iter().map(|r| r.status.as_u16()).collect::<Vec<_>>());
    for r in replies.iter().filter(|r| r.status != 200) {
        r.assert_problem(409, "task.occurrence_changed");
    }
    let history = s
        .items(&format!("HOUSEHOLD#{h}"))
        .await
        .into_iter()
        .filter(|i| i["SK"].as_s().unwrap().starts_with("DONE#"))
        .count();
    assert_eq!(history, 1);
    let me = s.call(&owner, Method::GET, &format!("/v1/households/{h}/members"), None).await;
    assert_eq!(me.body["items"][0]["points"], 20);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response_and_writes_nothing_more() {
    let s = stack().await;
    let owner = s.user("owner").await;
    let h = s.household(&owner, "Retry").await;
    let body = started_days_ago(
        json!({ "title": "Laundry", "recurrence": { "type": "interval", "every": 2, "unit": "days" } }),
        1,
    );
    let base = format!("/v1/households/{h}/tasks");
    let first =
        s.call_with(&owner, Method::POST, &base, Some(body.clone()), &[("idempotency-key", "k-create-1")]).await;
    first.assert_status(201);
    let again =
        s.call_with(&owner, Method::POST, &base, Some(body.clone()), &[("idempotency-key", "k-create-1")]).await;
    again.assert_status(201);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let other = json!({ "title": "Different", "recurrence": { "type": "once" } });
    s.call_with(&owner, Method::POST, &base, Some(other), &[("idempotency-key", "k-create-1")])
        .await
        .assert_problem(422, "idempotency.key_reused");
    let list = s.call(&owner, Method::GET, &base, None).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);

    let complete = format!("{base}/{}/complete", first.body["taskId"].as_str().unwrap());
    let a = s.call_with(&owner, Method::POST, &complete, None, &[("idempotency-key", "k-done-1")]).await;
    let b = s.call_with(&owner, Method::POST, &complete, None, &[("idempotency-key", "k-done-1")]).await;
    a.assert_status(200);
    b.assert_status(200);
    assert_eq!(a.body, b.body);
    let history = s
        .items(&format!("HOUSEHOLD#{h}"))
        .await
        .into_iter()
        .filter(|i| i["SK"].as_s().unwrap().starts_with("DONE#"))
        .count();
    assert_eq!(history, 1);
}

#[tokio::test]
async fn roles_decide_who_sees_creates_edits_and_completes_chores() {
    let s = stack().await;
    let (h, owner, member, child) = household_of_three(&s).await;
    let base = format!("/v1/households/{h}/tasks");
    s.call(&child, Method::POST, &base, Some(daily("Nope", &[&child]))).await.assert_problem(403, "auth.forbidden");
    let theirs = create(&s, &owner, &h, daily("Owner's", &[&owner])).await;
    let childs = create(&s, &owner, &h, started_days_ago(daily("Feed the cat", &[&child]), 1)).await;
    let members = create(&s, &member, &h, started_days_ago(daily("Member's", &[&member]), 1)).await;
    let path = |t: &Value| format!("{base}/{}", t["taskId"].as_str().unwrap());

    // A child sees and completes only their own.
    let list = s.call(&child, Method::GET, &base, None).await;
    let ids: Vec<&str> = list.body["items"].as_array().unwrap().iter().map(|t| t["taskId"].as_str().unwrap()).collect();
    assert_eq!(ids, [childs["taskId"].as_str().unwrap()]);
    s.call(&child, Method::GET, &path(&theirs), None).await.assert_problem(404, "task.not_found");
    s.call(&child, Method::POST, &format!("{}/complete", path(&theirs)), None)
        .await
        .assert_problem(404, "task.not_found");
    s.call_with(&child, Method::PATCH, &path(&childs), Some(json!({ "title": "x" })), &[("if-match", "\"1\"")])
        .await
        .assert_problem(403, "auth.forbidden");
    s.call(&child, Method::POST, &format!("{}/complete", path(&childs)), None).await.assert_status(200);

    // A member edits their own chores, not others'; cannot complete "as" someone.
    s.call_with(&member, Method::PATCH, &path(&members), Some(json!({ "effort": 4 })), &[("if-match", "\"1\"")])
        .await
        .assert_status(200);
    s.call_with(&member, Method::PATCH, &path(&theirs), Some(json!({ "effort": 4 })), &[("if-match", "\"1\"")])
        .await
        .assert_problem(403, "auth.forbidden");
    s.call(&member, Method::POST, &format!("{}/archive", path(&theirs)), None)
        .await
        .assert_problem(403, "auth.forbidden");
    s.call(&member, Method::POST, &format!("{}/complete", path(&theirs)), Some(json!({ "asUserId": owner.id })))
        .await
        .assert_problem(403, "auth.forbidden");

    // The owner completes "as" the member on the shared tablet: the member gets the points.
    let r = s
        .call(&owner, Method::POST, &format!("{}/complete", path(&members)), Some(json!({ "asUserId": member.id })))
        .await;
    r.assert_status(200);
    assert_eq!(r.body["completion"]["userId"], member.id.as_str());
    assert_eq!(r.body["completion"]["recordedBy"], owner.id.as_str());
    // Another household's members cannot touch these chores.
    let eve = s.user("eve").await;
    s.call(&eve, Method::GET, &path(&theirs), None).await.assert_problem(404, "household.not_found");
}

#[tokio::test]
async fn bad_chores_are_refused_with_field_errors_and_nothing_is_written() {
    let s = stack().await;
    let owner = s.user("owner").await;
    let stranger = s.user("stranger").await;
    let h = s.household(&owner, "Strict").await;
    s.household(&stranger, "Elsewhere").await;
    let base = format!("/v1/households/{h}/tasks");
    let cases = [
        (
            json!({ "title": "a", "recurrence": { "type": "monthlyByDay", "every": 1, "days": [32] } }),
            "recurrence.days",
        ),
        (json!({ "title": "a", "recurrence": { "type": "interval", "every": 0, "unit": "days" } }), "recurrence.every"),
        (
            json!({ "title": "a", "recurrence": { "type": "weekly", "every": 1, "weekdays": [] } }),
            "recurrence.weekdays",
        ),
        (json!({ "title": "a", "recurrence": { "type": "once" }, "timezone": "Mars/Base" }), "timezone"),
        (json!({ "title": "a", "recurrence": { "type": "once" }, "pool": [stranger.id] }), "pool"),
        (json!({ "title": "a", "recurrence": { "type": "fortnightly" } }), "recurrence.type"),
        (json!({ "title": "a", "recurrence": { "type": "once" }, "dueTime": "8 am" }), "dueTime"),
        (json!({ "title": "a", "recurrence": { "type": "once" }, "priority": 0, "effort": 9 }), "effort"),
    ];
    for (body, field) in cases {
        let r = s.call(&owner, Method::POST, &base, Some(body)).await;
        r.assert_problem(422, "request.validation_failed");
        assert!(r.body["errors"].as_array().unwrap().iter().any(|e| e["field"] == field), "{field}: {:#}", r.body);
    }
    let list = s.call(&owner, Method::GET, &base, None).await;
    assert!(list.body["items"].as_array().unwrap().is_empty());
    s.call(&owner, Method::GET, &format!("{base}?status=sometimes"), None)
        .await
        .assert_problem(400, "request.invalid_parameter");
    s.call(&owner, Method::GET, &format!("{base}?dueBefore=tomorrow"), None)
        .await
        .assert_problem(400, "request.invalid_parameter");
    s.call(&owner, Method::GET, &format!("{base}/not-a-task"), None)
        .await
        .assert_problem(400, "request.invalid_parameter");
    s.call(&owner, Method::GET, &format!("{base}/{}", ulid::Ulid::new()), None)
        .await
        .assert_problem(404, "task.not_found");
}

#[tokio::test]
async fn history_undo_snooze_and_agenda() {
    let s = stack().await;
    let (h, owner, member, child) = household_of_three(&s).await;
    let task = create(&s, &owner, &h, started_days_ago(daily("Sweep", &[&owner, &member]), 1)).await;
    let other = create(&s, &owner, &h, started_days_ago(daily("Feed fish", &[&child]), 1)).await;
    let path = format!("/v1/households/{h}/tasks/{}", task["taskId"].as_str().unwrap());
    let done = s.call(&owner, Method::POST, &format!("{path}/complete"), None).await;
    done.assert_status(200);
    s.call(
        &child,
        Method::POST,
        &format!("/v1/households/{h}/tasks/{}/complete", other["taskId"].as_str().unwrap()),
        None,
    )
    .await
    .assert_status(200);

    let history = s.call(&owner, Method::GET, &format!("/v1/households/{h}/completions"), None).await;
    history.assert_status(200);
    assert_eq!(history.body["items"].as_array().unwrap().len(), 2);
    let by_member =
        s.call(&owner, Method::GET, &format!("/v1/households/{h}/completions?member={}", owner.id), None).await;
    assert_eq!(by_member.body["items"].as_array().unwrap().len(), 1);
    let childs_view = s.call(&child, Method::GET, &format!("/v1/households/{h}/completions"), None).await;
    assert_eq!(childs_view.body["items"].as_array().unwrap().len(), 1);
    let future = s
        .call(
            &owner,
            Method::GET,
            &format!("/v1/households/{h}/completions?from=2099-01-01T00:00:00Z&to=2099-02-01T00:00:00Z"),
            None,
        )
        .await;
    assert!(future.body["items"].as_array().unwrap().is_empty());

    // Undo puts the due date, the assignee and the points back.
    let completion = done.body["completion"]["completionId"].as_str().unwrap();
    let undo = format!("/v1/households/{h}/completions/{completion}/undo");
    s.call(&child, Method::POST, &undo, None).await.assert_problem(404, "completion.not_found");
    let undone = s.call(&owner, Method::POST, &undo, None).await;
    undone.assert_status(200);
    assert_eq!(undone.body["nextDue"], task["nextDue"]);
    assert_eq!(undone.body["assignee"], task["assignee"]);
    s.call(&owner, Method::POST, &undo, None).await.assert_problem(409, "completion.already_undone");
    assert_eq!(points(&s, &owner, &h, &owner).await, 0);
    let history = s.call(&owner, Method::GET, &format!("/v1/households/{h}/completions"), None).await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 1);

    // Snooze moves only this occurrence.
    let until = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let snoozed = s.call(&owner, Method::POST, &format!("{path}/snooze"), Some(json!({ "until": until }))).await;
    snoozed.assert_status(200);
    assert_eq!(snoozed.body["nextDue"], until.as_str());
    s.call(&owner, Method::POST, &format!("{path}/snooze"), Some(json!({ "until": "2001-01-01T00:00:00Z" })))
        .await
        .assert_problem(422, "request.validation_failed");
    s.call(&child, Method::POST, &format!("{path}/snooze"), Some(json!({ "until": until })))
        .await
        .assert_problem(404, "task.not_found");

    // The agenda expands every active chore over the range.
    let agenda = s.call(&owner, Method::GET, &format!("/v1/households/{h}/agenda"), None).await;
    agenda.assert_status(200);
    let items = agenda.body["items"].as_array().unwrap();
    let sweeps = items.iter().filter(|i| i["taskId"] == task["taskId"]).count();
    assert!((11..=12).contains(&sweeps), "{sweeps} sweeps in 14 days after a 3-day snooze");
    let dues: Vec<&str> = items.iter().map(|i| i["due"].as_str().unwrap()).collect();
    // Sweep rotates between owner and member; later occurrences are forecasts.
    let sweep: Vec<&Value> = items.iter().filter(|i| i["taskId"] == task["taskId"]).collect();
    assert_eq!(sweep[0]["forecast"], false);
    assert_eq!(sweep[1]["forecast"], true);
    assert_ne!(sweep[0]["assignee"]["userId"], sweep[1]["assignee"]["userId"]);
    assert!(dues.windows(2).all(|w| w[0] <= w[1]), "agenda is sorted");
    let childs_agenda = s.call(&child, Method::GET, &format!("/v1/households/{h}/agenda"), None).await;
    assert!(childs_agenda.body["items"].as_array().unwrap().iter().all(|i| i["taskId"] == other["taskId"]));
    s.call(
        &owner,
        Method::GET,
        &format!("/v1/households/{h}/agenda?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z"),
        None,
    )
    .await
    .assert_problem(400, "request.invalid_parameter");
}

#[tokio::test]
async fn undo_after_the_window_is_refused_and_changes_nothing() {
    let clock = shared::platform::clock::ManualClock::at(chrono::Utc::now());
    let s = crate::support::builder().clock(std::sync::Arc::new(clock.clone())).start().await;
    let owner = s.user("owner").await;
    let h = s.household(&owner, "Late").await;
    let task = create(&s, &owner, &h, started_days_ago(daily("Mop", &[&owner]), 1)).await;
    let path = format!("/v1/households/{h}/tasks/{}", task["taskId"].as_str().unwrap());
    let done = s.call(&owner, Method::POST, &format!("{path}/complete"), None).await;
    done.assert_status(200);
    clock.advance(chrono::Duration::minutes(61));
    let undo =
        format!("/v1/households/{h}/completions/{}/undo", done.body["completion"]["completionId"].as_str().unwrap());
    s.call(&owner, Method::POST, &undo, None).await.assert_problem(409, "completion.undo_window_passed");
    let now = s.call(&owner, Method::GET, &path, None).await;
    assert_eq!(now.body["nextDue"], done.body["task"]["nextDue"]);
    assert_eq!(now.body["version"], done.body["task"]["version"]);
}

#[tokio::test]
async fn chores_that_need_approval_award_points_only_when_approved() {
    // Yesterday's 08:00 is overdue and today's (open since 20:00 yesterday) not yet: both
    // may be completed, and each pays, since neither was missed.
    let s = stack_at_half_past_seven().await;
    let (h, owner, member, _child) = household_of_three(&s).await;
    let mut body = started_days_ago(daily("Homework", &[&member]), 1);
    body["requiresApproval"] = json!(true);
    let task = create(&s, &owner, &h, body).await;
    let path = format!("/v1/households/{h}/tasks/{}", task["taskId"].as_str().unwrap());

    let first = s.call(&member, Method::POST, &format!("{path}/complete"), None).await;
    first.assert_status(200);
    assert_eq!(first.body["completion"]["approval"], "pending");
    assert_eq!(points(&s, &owner, &h, &member).await, 0);
    let id = first.body["completion"]["completionId"].as_str().unwrap();
    let completions = format!("/v1/households/{h}/completions");
    s.call(&member, Method::POST, &format!("{completions}/{id}/approve"), None)
        .await
        .assert_problem(403, "auth.forbidden");
    let approved = s.call(&owner, Method::POST, &format!("{completions}/{id}/approve"), None).await;
    approved.assert_status(200);
    assert_eq!(approved.body["approval"], "approved");
    s.call(&owner, Method::POST, &format!("{completions}/{id}/approve"), None)
        .await
        .assert_problem(409, "completion.not_pending");
    assert_eq!(points(&s, &owner, &h, &member).await, 30);

    // Rejected: no points, and the chore is due again as before.
    let second = s.call(&member, Method::POST, &format!("{path}/complete"), None).await;
    let id = second.body["completion"]["completionId"].as_str().unwrap();
    let rejected = s.call(&owner, Method::POST, &format!("{completions}/{id}/reject"), None).await;
    rejected.assert_status(200);
    assert_eq!(rejected.body["approval"], "rejected");
    let now = s.call(&owner, Method::GET, &path, None).await;
    assert_eq!(now.body["nextDue"], first.body["task"]["nextDue"]);
    assert_eq!(points(&s, &owner, &h, &member).await, 30);
}

#[tokio::test]
async fn fair_share_weighs_household_effort_by_availability_and_skips_members_away() {
    // The functions' clock: 07:30 today, before the chores' first due times (08:00 and 09:00,
    // UTC), so each may be completed; a day later for the second completion of one chore.
    let today = chrono::Utc::now().date_naive();
    let clock = shared::platform::clock::ManualClock::at(today.and_hms_opt(7, 30, 0).unwrap().and_utc());
    let s = crate::support::builder().clock(std::sync::Arc::new(clock.clone())).start().await;
    let (h, ana, ben, cy) = household_of_three(&s).await;
    let member = |u: &User| format!("/v1/households/{h}/members/{}", u.id);
    // Members set their own availability; not someone else's.
    s.call_with(&ben, Method::PATCH, &member(&cy), Some(json!({ "availability": 10 })), &[("if-match", "\"1\"")])
        .await
        .assert_problem(403, "auth.forbidden");
    s.call_with(&ben, Method::PATCH, &member(&ben), Some(json!({ "availability": 0 })), &[("if-match", "\"1\"")])
        .await
        .assert_problem(422, "request.validation_failed");
    let r = s
        .call_with(&ben, Method::PATCH, &member(&ben), Some(json!({ "availability": 50 })), &[("if-match", "\"1\"")])
        .await;
    r.assert_status(200);
    assert_eq!(r.body["availability"], 50);
    assert_eq!(r.body["role"], "member");
    let away =
        json!({ "away": [{ "from": today - chrono::Duration::days(1), "to": today + chrono::Duration::days(10) }] });
    s.call_with(&cy, Method::PATCH, &member(&cy), Some(away), &[("if-match", "\"1\"")]).await.assert_status(200);

    // Ana did 5 effort this week on another chore.
    let heavy = create(&s, &ana, &h, json!({ "title": "Deep clean", "effort": 5, "recurrence": { "type": "interval", "every": 1, "unit": "days" }, "assignment": { "type": "fixed", "userId": ana.id } })).await;
    s.call(
        &ana,
        Method::POST,
        &format!("/v1/households/{h}/tasks/{}/complete", heavy["taskId"].as_str().unwrap()),
        None,
    )
    .await
    .assert_status(200);

    let mut body = daily("Vacuum", &[&ana, &ben, &cy]);
    body["effort"] = json!(2);
    body["assignment"] = json!({ "type": "fairShare", "weeks": 2 });
    let vacuum = create(&s, &ana, &h, body).await;
    // Loads per availability: ana 5/100 %, ben 0/50 %, cy away.
    assert_eq!(vacuum["assignee"]["userId"], ben.id.as_str());
    let path = format!("/v1/households/{h}/tasks/{}/complete", vacuum["taskId"].as_str().unwrap());
    let r = s.call(&ben, Method::POST, &path, None).await;
    r.assert_status(200);
    // ben: 2 at half time weighs 4 < ana's 5.
    assert_eq!(r.body["task"]["assignee"]["userId"], ben.id.as_str());
    // Tomorrow's vacuuming is too early now; tomorrow morning it is not.
    s.call(&ben, Method::POST, &path, None).await.assert_problem(409, "task.too_early");
    clock.advance(chrono::Duration::days(1));
    let r = s.call(&ben, Method::POST, &path, None).await;
    r.assert_status(200);
    // ben: 4 at half time weighs 8 > ana's 5.
    assert_eq!(r.body["task"]["assignee"]["userId"], ana.id.as_str());
}

#[tokio::test]
async fn a_member_subscribes_to_their_chores_as_an_icalendar_feed_and_can_revoke_it() {
    let s = stack().await;
    let (h, ana, ben, _child) = household_of_three(&s).await;
    create(&s, &ana, &h, json!({ "title": "Water plants", "recurrence": { "type": "interval", "every": 1, "unit": "days" }, "assignment": { "type": "fixed", "userId": ben.id } })).await;
    create(&s, &ana, &h, json!({ "title": "Ana only", "recurrence": { "type": "interval", "every": 1, "unit": "days" }, "assignment": { "type": "fixed", "userId": ana.id } })).await;
    let feed = s.call(&ben, Method::POST, &format!("/v1/households/{h}/calendar-feed"), None).await;
    feed.assert_status(201);
    let path = feed.body["path"].as_str().unwrap().to_string();
    // No token needed: the URL is the credential, as calendar apps expect.
    let ics = s.send(s.http.get(s.url(&path))).await;
    ics.assert_status(200);
    assert!(ics.header("content-type").unwrap().starts_with("text/calendar"));
    let text = ics.body.as_str().unwrap();
    assert!(text.starts_with("BEGIN:VCALENDAR"), "{text}");
    assert!(text.contains("SUMMARY:Water plants"));
    assert!(!text.contains("Ana only"));
    assert!(text.matches("BEGIN:VEVENT").count() >= 60, "two months of a daily chore");

    // A new URL replaces the old one; revoking ends it.
    let again = s.call(&ben, Method::POST, &format!("/v1/households/{h}/calendar-feed"), None).await;
    let new_path = again.body["path"].as_str().unwrap().to_string();
    assert_eq!(s.send(s.http.get(s.url(&path))).await.status, 404);
    assert_eq!(s.send(s.http.get(s.url(&new_path))).await.status, 200);
    s.call(&ben, Method::DELETE, &format!("/v1/households/{h}/calendar-feed"), None).await.assert_status(204);
    assert_eq!(s.send(s.http.get(s.url(&new_path))).await.status, 404);
    let forged = s.send(s.http.get(s.url("/v1/calendar/00000000000000000000000000000000"))).await;
    forged.assert_problem(404, "route.not_found");
}

#[tokio::test]
async fn a_chore_that_needs_a_photo_is_not_completed_without_one() {
    let s = stack().await;
    let owner = s.user("owner").await;
    let h = s.household(&owner, "Proof").await;
    let mut body = started_days_ago(daily("Clean the oven", &[&owner]), 1);
    body["requiresPhoto"] = json!(true);
    let task = create(&s, &owner, &h, body).await;
    let path = format!("/v1/households/{h}/tasks/{}/complete", task["taskId"].as_str().unwrap());
    let r = s.call(&owner, Method::POST, &path, None).await;
    r.assert_problem(422, "request.validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "photo");
    // Only an uploaded, checked photo proves it (photos.rs goes through with one); a name
    // made up by the client does not.
    let made_up = s.call(&owner, Method::POST, &path, Some(json!({ "photo": "photos/oven-2026-11-28.jpg" }))).await;
    made_up.assert_problem(422, "request.validation_failed");
    assert_eq!(made_up.body["errors"][0]["field"], "photo");
}

#[tokio::test]
async fn every_accepted_rule_has_a_next_occurrence_or_is_refused() {
    let s = stack().await;
    let owner = s.user("owner").await;
    let h = s.household(&owner, "Rules").await;
    let base = format!("/v1/households/{h}/tasks");
    // The household's zone is UTC and chores are due at 09:00 by default; the explicit
    // start dates are past, so each first occurrence is overdue and may be completed.
    let cases = [
        ("Gutters", json!({ "type": "interval", "every": 150, "unit": "months" }), "2026-01-15", "2038-07-15"),
        ("Chimney", json!({ "type": "interval", "every": 20, "unit": "years" }), "2026-03-01", "2046-03-01"),
    ];
    for (title, rule, start, next) in cases {
        let body = json!({ "title": title, "startDate": start, "recurrence": rule, "assignment": { "type": "fixed", "userId": owner.id } });
        let task = create(&s, &owner, &h, body).await;
        assert_eq!(task["nextDue"], format!("{start}T09:00:00Z"));
        let done =
            s.call(&owner, Method::POST, &format!("{base}/{}/complete", task["taskId"].as_str().unwrap()), None).await;
        done.assert_status(200);
        assert_eq!(done.body["task"]["nextDue"], format!("{next}T09:00:00Z"), "{title}");
        assert_ne!(done.body["task"]["status"], "finished");
    }
    // Every 25 months from January reaches December only after 11 steps (22 years on).
    let body = json!({ "title": "Attic", "startDate": "2026-01-10", "activeMonths": [12],
        "recurrence": { "type": "monthlyByDay", "every": 25, "days": [10] } });
    let task = create(&s, &owner, &h, body).await;
    assert_eq!(task["nextDue"], "2048-12-10T09:00:00Z");
    assert_eq!(task["status"], "upcoming");

    // Every 6 months from January is only January and July: never in March.
    let never = json!({ "title": "Never", "startDate": "2026-01-10", "activeMonths": [3],
        "recurrence": { "type": "interval", "every": 6, "unit": "months" } });
    let r = s.call(&owner, Method::POST, &base, Some(never)).await;
    r.assert_problem(422, "request.validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "activeMonths");
    assert_eq!(r.body["errors"][0]["code"], "no_occurrence");
    let path = format!("{base}/{}", task["taskId"].as_str().unwrap());
    let r = s
        .call_with(
            &owner,
            Method::PATCH,
            &path,
            // Every 24 months from January: always January, never December.
            Some(json!({ "recurrence": { "type": "monthlyByDay", "every": 24, "days": [10] } })),
            &[("if-match", "\"1\"")],
        )
        .await;
    r.assert_problem(422, "request.validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "activeMonths");
    let list = s.call(&owner, Method::GET, &format!("{base}?status=finished"), None).await;
    assert!(list.body["items"].as_array().unwrap().is_empty(), "a chore was created or left finished");
    assert_eq!(s.call(&owner, Method::GET, &path, None).await.body["version"], 1);
}

#[tokio::test]
async fn points_cannot_be_farmed_by_completing_future_occurrences_but_overdue_ones_catch_up() {
    // The functions' clock: noon (UTC, the household's zone) today.
    let today = chrono::Utc::now().date_naive();
    let at = |day: chrono::NaiveDate, hour: u32| day.and_hms_opt(hour, 0, 0).unwrap().and_utc();
    let clock = shared::platform::clock::ManualClock::at(at(today, 12));
    let s = crate::support::builder().clock(std::sync::Arc::new(clock.clone())).start().await;
    let owner = s.user("owner").await;
    let h = s.household(&owner, "No farming").await;
    let days = |n: i64| today + chrono::Duration::days(n);
    // Started three days ago at 08:00 (effort 2, 20 points): four occurrences are overdue.
    let task = create(
        &s,
        &owner,
        &h,
        json!({ "title": "Dishes", "startDate": days(-3), "dueTime": "08:00",
        "recurrence": { "type": "interval", "every": 1, "unit": "days" },
        "assignment": { "type": "fixed", "userId": owner.id } }),
    )
    .await;
    let path = format!("/v1/households/{h}/tasks/{}/complete", task["taskId"].as_str().unwrap());
    let due = |r: &crate::support::Reply| {
        r.body["completion"]["due"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap()
    };
    for n in -3..=0 {
        let r = s.call(&owner, Method::POST, &path, None).await;
        r.assert_status(200);
        assert_eq!(due(&r), at(days(n), 8), "catching up on the overdue ones, oldest first");
    }
    // Tomorrow's opens half a day before it is due: at 20:00 tonight, not now.
    let r = s.call(&owner, Method::POST, &path, None).await;
    r.assert_problem(409, "task.too_early");
    assert!(r.body["detail"].as_str().unwrap().contains(&format!("{}T20:00:00Z", today)), "{:#}", r.body);
    clock.set(at(today, 20));
    let r = s.call(&owner, Method::POST, &path, None).await;
    r.assert_status(200);
    assert_eq!(due(&r), at(days(1), 8));
    // Twice in a row: the day after tomorrow's opens tomorrow at 20:00.
    s.call(&owner, Method::POST, &path, None).await.assert_problem(409, "task.too_early");
    let de = s.call_with(&owner, Method::POST, &path, None, &[("accept-language", "de")]).await;
    assert_eq!(de.body["title"], "Zu früh");
    // Points: of the four caught up on, only today's (its successor not yet due); then
    // tomorrow's. The three missed before today earn nothing.
    assert_eq!(points(&s, &owner, &h, &owner).await, 2 * 20);
    let history = s.call(&owner, Method::GET, &format!("/v1/households/{h}/completions"), None).await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 5);
}
