//! Regression tests for defects a review found (issue 6): each failed before its fix.

use reqwest::Method;
use serde_json::json;

use crate::support::stack;
use crate::tasks::{create, daily, household_of_three, points};

#[tokio::test]
async fn reversed_or_impossible_ranges_are_client_errors_or_empty_pages_never_500() {
    let s = stack().await;
    let (h, owner, member, _child) = household_of_three(&s).await;
    for i in 0..3 {
        create(&s, &owner, &h, daily(&format!("Chore {i}"), &[&owner, &member])).await;
    }
    let tasks = format!("/v1/households/{h}/tasks");
    let (early, late) = ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    s.call(&owner, Method::GET, &format!("{tasks}?dueAfter={late}&dueBefore={early}"), None)
        .await
        .assert_problem(400, "request.invalid_parameter");
    s.call(&owner, Method::GET, &format!("{tasks}?assignee={}&dueAfter={late}&dueBefore={early}", member.id), None)
        .await
        .assert_problem(400, "request.invalid_parameter");
    // Overdue chores due after a future time: none, honestly.
    let r = s.call(&owner, Method::GET, &format!("{tasks}?status=overdue&dueAfter=2100-01-01T00:00:00Z"), None).await;
    r.assert_status(200);
    assert_eq!(r.body["items"], json!([]));
    let history = format!("/v1/households/{h}/completions");
    s.call(&owner, Method::GET, &format!("{history}?from={late}&to={early}"), None)
        .await
        .assert_problem(400, "request.invalid_parameter");
    let r = s.call(&owner, Method::GET, &format!("{history}?from=2100-01-01T00:00:00Z"), None).await;
    r.assert_status(200);
    assert_eq!(r.body["items"], json!([]));

    // A real cursor, replayed with a range whose end it lies past.
    let page = s.call(&owner, Method::GET, &format!("{tasks}?limit=1"), None).await;
    let cursor = page.body["nextCursor"].as_str().expect("a second page").to_string();
    s.call(&owner, Method::GET, &format!("{tasks}?limit=1&cursor={cursor}&dueBefore=2000-01-01T00:00:00Z"), None)
        .await
        .assert_problem(400, "pagination.invalid_cursor");
}

#[tokio::test]
async fn approve_and_undo_race_exactly_one_wins_and_points_follow_the_winners() {
    // Each chore's first occurrence (yesterday 08:00) is overdue and pays.
    let s = crate::tasks::stack_at_half_past_seven().await;
    let yesterday = json!(chrono::Utc::now().date_naive() - chrono::Duration::days(1));
    let (h, owner, member, _child) = household_of_three(&s).await;
    let completions = format!("/v1/households/{h}/completions");
    let mut approvals_won = 0;
    for round in 0..6 {
        let mut body = daily(&format!("Homework {round}"), &[&member]);
        body["startDate"] = yesterday.clone();
        body["requiresApproval"] = json!(true);
        body["effort"] = json!(2);
        let task = create(&s, &owner, &h, body).await;
        let path = format!("/v1/households/{h}/tasks/{}/complete", task["taskId"].as_str().unwrap());
        let done = s.call(&member, Method::POST, &path, None).await;
        done.assert_status(200);
        let id = done.body["completion"]["completionId"].as_str().unwrap().to_string();
        let (approve_path, undo_path) = (format!("{completions}/{id}/approve"), format!("{completions}/{id}/undo"));
        let (approve, undo) = tokio::join!(
            s.call(&owner, Method::POST, &approve_path, None),
            s.call(&member, Method::POST, &undo_path, None),
        );
        let ok = [approve.status.as_u16(), undo.status.as_u16()];
        assert_eq!(
            ok.iter().filter(|c| **c == 200).count(),
            1,
            "exactly one wins: {ok:?} {:#} {:#}",
            approve.body,
            undo.body
        );
        for loser in [&approve, &undo].into_iter().filter(|r| r.status != 200) {
            assert_eq!(loser.status.as_u16(), 409, "{:#}", loser.body);
        }
        if approve.status == 200 {
            approvals_won += 1;
        }
    }
    // One after the other, the same holds: a reviewed completion is final.
    let mut body = daily("Reviewed", &[&member]);
    body["startDate"] = yesterday.clone();
    body["requiresApproval"] = json!(true);
    let task = create(&s, &owner, &h, body).await;
    let path = format!("/v1/households/{h}/tasks/{}/complete", task["taskId"].as_str().unwrap());
    let done = s.call(&member, Method::POST, &path, None).await;
    let id = done.body["completion"]["completionId"].as_str().unwrap().to_string();
    s.call(&owner, Method::POST, &format!("{completions}/{id}/reject"), None).await.assert_status(200);
    s.call(&member, Method::POST, &format!("{completions}/{id}/undo"), None)
        .await
        .assert_problem(409, "completion.decided");

    // Effort 2 is worth 20 points; only approved, not undone completions count.
    assert_eq!(points(&s, &owner, &h, &member).await, json!(approvals_won * 20));
    let listed = s.call(&owner, Method::GET, &format!("{completions}?member={}", member.id), None).await;
    let items = listed.body["items"].as_array().unwrap();
    // What the history still shows: the approvals that won, and the one rejection.
    assert_eq!(items.iter().filter(|c| c["approval"] == "approved").count(), approvals_won as usize);
    assert_eq!(items.len(), approvals_won as usize + 1, "{items:#?}");
}

#[tokio::test]
async fn calendar_feed_secrets_are_stored_hashed_rotate_to_one_live_url_and_leave_with_the_member() {
    let s = stack().await;
    let (h, owner, member, _child) = household_of_three(&s).await;
    create(&s, &owner, &h, daily("Bins", &[&member])).await;
    let feed = format!("/v1/households/{h}/calendar-feed");

    // Two rotations at once: exactly one URL stays live.
    let first = s.call(&member, Method::POST, &feed, None).await;
    first.assert_status(201);
    let (a, b) = tokio::join!(s.call(&member, Method::POST, &feed, None), s.call(&member, Method::POST, &feed, None));
    let mut paths = vec![first.body["path"].as_str().unwrap().to_string()];
    for r in [&a, &b] {
        match r.status.as_u16() {
            201 => paths.push(r.body["path"].as_str().unwrap().to_string()),
            409 => assert_eq!(r.body["code"], "conflict.concurrent_update"),
            other => panic!("unexpected {other}: {:#}", r.body),
        }
    }
    let mut live = Vec::new();
    for p in &paths {
        if s.send(s.http.get(s.url(p))).await.status == 200 {
            live.push(p.clone());
        }
    }
    assert_eq!(live.len(), 1, "live URLs: {live:?} of {paths:?}");

    // The table never holds the token itself.
    let token = live[0].rsplit('/').next().unwrap().to_string();
    let everything = format!("{:?}", s.items(&format!("HOUSEHOLD#{h}")).await);
    assert!(!everything.contains(&token));
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(s.items(&format!("FEED#{hash}")).await.len(), 1);
    assert!(s.items(&format!("FEED#{token}")).await.is_empty());

    // Removing the member removes their feed.
    s.call(&owner, Method::DELETE, &format!("/v1/households/{h}/members/{}", member.id), None).await.assert_status(204);
    assert_eq!(s.send(s.http.get(s.url(&live[0]))).await.status, 404);
    assert!(s.items(&format!("FEED#{hash}")).await.is_empty());
    assert!(!format!("{:?}", s.items(&format!("HOUSEHOLD#{h}")).await).contains("FEEDOF#"));
}

#[tokio::test]
async fn guessing_invite_codes_is_rate_limited_per_user() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let mallory = s.user("mallory").await;
    let ben = s.user("ben").await;
    let id = s.household(&ana, "Guarded").await;
    let invite = s.call(&ana, Method::POST, &format!("/v1/households/{id}/invites"), Some(json!({}))).await;
    let code = invite.body["code"].as_str().unwrap().to_string();
    for i in 0..10 {
        let guess = format!("{:0>10}", i * 7919);
        s.call(&mallory, Method::POST, &format!("/v1/invites/{guess}/accept"), None)
            .await
            .assert_problem(404, "invite.not_found");
    }
    // The eleventh try in the window is refused, even with the right code.
    let r = s.call(&mallory, Method::POST, &format!("/v1/invites/{code}/accept"), None).await;
    r.assert_problem(429, "rate.limited");
    let wait: u32 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&wait), "Retry-After {wait}");
    // Other users are not affected.
    s.call(&ben, Method::POST, &format!("/v1/invites/{code}/accept"), None).await.assert_status(201);

    // Twenty guesses at once: the limit still holds.
    let eve = s.user("eve").await;
    let paths: Vec<String> = (0..20).map(|i| format!("/v1/invites/{:0>10}/accept", i * 104729)).collect();
    let replies = futures::future::join_all(paths.iter().map(|p| s.call(&eve, Method::POST, p, None))).await;
    let count = |status: u16| replies.iter().filter(|r| r.status.as_u16() == status).count();
    assert_eq!((count(404), count(429)), (10, 10));
}

#[tokio::test]
async fn a_household_has_at_most_twenty_open_invites() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let id = s.household(&ana, "Inviting").await;
    let invites = format!("/v1/households/{id}/invites");
    let mut codes = Vec::new();
    for _ in 0..20 {
        let r = s.call(&ana, Method::POST, &invites, Some(json!({}))).await;
        r.assert_status(201);
        codes.push(r.body["code"].as_str().unwrap().to_string());
    }
    s.call(&ana, Method::POST, &invites, Some(json!({}))).await.assert_problem(409, "invite.limit_reached");
    s.call(&ana, Method::DELETE, &format!("{invites}/{}", codes[0]), None).await.assert_status(204);
    s.call(&ana, Method::POST, &invites, Some(json!({}))).await.assert_status(201);
}

#[tokio::test]
async fn pool_members_see_pool_chores_in_their_list_agenda_and_calendar() {
    let s = stack().await;
    let (h, owner, member, child) = household_of_three(&s).await;
    let chore = |title: &str, assignment: serde_json::Value, pool: &[&crate::support::User]| {
        json!({
            "title": title,
            "recurrence": { "type": "interval", "every": 1, "unit": "days" },
            "assignment": assignment,
            "pool": pool.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
        })
    };
    create(&s, &owner, &h, chore("Anyone of us", json!({ "type": "anyone" }), &[&member, &child])).await;
    create(&s, &owner, &h, chore("Everyone", json!({ "type": "everyone" }), &[&owner, &child])).await;
    let fixed = json!({ "type": "fixed", "userId": member.id });
    create(&s, &owner, &h, chore("Member only", fixed, &[&member])).await;
    let titles = |body: &serde_json::Value| -> Vec<String> {
        let mut t: Vec<String> =
            body["items"].as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap().to_string()).collect();
        t.sort();
        t.dedup();
        t
    };
    let tasks = format!("/v1/households/{h}/tasks");
    let mine = s.call(&child, Method::GET, &tasks, None).await;
    mine.assert_status(200);
    assert_eq!(titles(&mine.body), ["Anyone of us", "Everyone"]);
    let by_owner = s.call(&owner, Method::GET, &format!("{tasks}?assignee={}", child.id), None).await;
    assert_eq!(titles(&by_owner.body), ["Anyone of us", "Everyone"]);
    let members = s.call(&owner, Method::GET, &format!("{tasks}?assignee={}", member.id), None).await;
    assert_eq!(titles(&members.body), ["Anyone of us", "Member only"]);
    // One chore a page: the filtered list still pages through all of them.
    let first = s.call(&owner, Method::GET, &format!("{tasks}?assignee={}&limit=1", member.id), None).await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 1);
    let cursor = first.body["nextCursor"].as_str().expect("a second page");
    let second =
        s.call(&owner, Method::GET, &format!("{tasks}?assignee={}&limit=1&cursor={cursor}", member.id), None).await;
    assert_eq!(second.body["items"].as_array().unwrap().len(), 1);
    assert_ne!(first.body["items"][0]["taskId"], second.body["items"][0]["taskId"]);

    let agenda = s.call(&child, Method::GET, &format!("/v1/households/{h}/agenda"), None).await;
    agenda.assert_status(200);
    assert_eq!(titles(&agenda.body), ["Anyone of us", "Everyone"]);

    let feed = s.call(&child, Method::POST, &format!("/v1/households/{h}/calendar-feed"), None).await;
    let ics = s.send(s.http.get(s.url(feed.body["path"].as_str().unwrap()))).await.body;
    let ics = ics.as_str().unwrap();
    assert!(ics.contains("SUMMARY:Anyone of us") && ics.contains("SUMMARY:Everyone"), "{ics}");
    assert!(!ics.contains("Member only"));
}

#[tokio::test]
async fn if_match_absent_or_blank_is_428_and_a_list_or_star_is_understood() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let id = s.household(&ana, "Preconditions").await;
    let path = format!("/v1/households/{id}");
    let patch = |if_match: Option<&'static str>, name: &'static str| {
        let (s, ana, path) = (&s, &ana, &path);
        async move {
            let headers: Vec<(&str, &str)> = if_match.map(|v| vec![("if-match", v)]).unwrap_or_default();
            s.call_with(ana, Method::PATCH, path, Some(json!({ "name": name })), &headers).await
        }
    };
    patch(None, "A").await.assert_problem(428, "precondition.required");
    patch(Some(""), "A").await.assert_problem(428, "precondition.required");
    patch(Some("garbage"), "A").await.assert_problem(412, "precondition.failed");
    patch(Some("\"7\", \"9\""), "A").await.assert_problem(412, "precondition.failed");
    patch(Some("\"7\", \"1\""), "B").await.assert_status(200);
    patch(Some("*"), "C").await.assert_status(200);
    let now = s.call(&ana, Method::GET, &path, None).await;
    assert_eq!(now.body["name"], "C");
    assert_eq!(now.etag(), "\"3\"");
}

#[tokio::test]
async fn a_full_page_of_households_is_more_than_one_batch_get_and_still_a_200() {
    let s = stack().await;
    let ana = s.user("ana").await;
    // A page of 100 wants 2 keys per household; DynamoDB takes at most 100 keys a call.
    let mut ids = Vec::new();
    for i in 0..51 {
        ids.push(s.household(&ana, &format!("H{i}")).await);
    }
    ids.sort();
    let page = s.call(&ana, Method::GET, "/v1/households?limit=100", None).await;
    page.assert_status(200);
    let mut listed: Vec<String> =
        page.body["items"].as_array().unwrap().iter().map(|h| h["householdId"].as_str().unwrap().to_string()).collect();
    listed.sort();
    assert_eq!(listed, ids);
}
