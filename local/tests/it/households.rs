use reqwest::Method;
use serde_json::json;

use crate::support::stack;

#[tokio::test]
async fn create_get_list_and_update_a_household() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let r = s
        .call(&ana, Method::POST, "/v1/households", Some(json!({ "name": "The Burrow", "timezone": "Europe/London" })))
        .await;
    r.assert_status(201);
    let id = r.body["householdId"].as_str().unwrap().to_string();
    assert_eq!(r.header("location"), Some(format!("/v1/households/{id}").as_str()));
    assert_eq!(r.etag(), "\"1\"");
    assert_eq!(r.body["myRole"], "owner");
    assert_eq!(r.body["memberCount"], 1);

    let got = s.call(&ana, Method::GET, &format!("/v1/households/{id}"), None).await;
    got.assert_status(200);
    assert_eq!(got.body["name"], "The Burrow");

    let list = s.call(&ana, Method::GET, "/v1/households", None).await;
    list.assert_status(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["items"][0]["householdId"], id);

    let patched = s
        .call_with(
            &ana,
            Method::PATCH,
            &format!("/v1/households/{id}"),
            Some(json!({ "name": "Burrow" })),
            &[("if-match", "\"1\"")],
        )
        .await;
    patched.assert_status(200);
    assert_eq!(patched.body["name"], "Burrow");
    assert_eq!(patched.etag(), "\"2\"");
    assert_eq!(patched.body["timezone"], "Europe/London");

    // Every mutation left an audit entry in the household's partition.
    let audits = s
        .items(&format!("HOUSEHOLD#{id}"))
        .await
        .into_iter()
        .filter(|i| i["SK"].as_s().unwrap().starts_with("AUDIT#"))
        .count();
    assert_eq!(audits, 2);
}

#[tokio::test]
async fn lists_are_paginated_with_opaque_cursors() {
    let s = stack().await;
    let ana = s.user("ana").await;
    for i in 0..5 {
        s.household(&ana, &format!("Home {i}")).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/households?limit=2&cursor={c}"),
            None => "/v1/households?limit=2".to_string(),
        };
        let page = s.call(&ana, Method::GET, &path, None).await;
        page.assert_status(200);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["householdId"].as_str().unwrap().to_string()));
        match page.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);
}

#[tokio::test]
async fn two_concurrent_updates_never_silently_overwrite_each_other() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let id = s.household(&ana, "Race").await;
    let path = format!("/v1/households/{id}");
    let (a, b) = tokio::join!(
        s.call_with(&ana, Method::PATCH, &path, Some(json!({ "name": "A" })), &[("if-match", "\"1\"")]),
        s.call_with(&ana, Method::PATCH, &path, Some(json!({ "name": "B" })), &[("if-match", "\"1\"")]),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 412], "{:#} {:#}", a.body, b.body);
    let winner = if a.status == 200 { a.body["name"].clone() } else { b.body["name"].clone() };
    let now = s.call(&ana, Method::GET, &path, None).await;
    assert_eq!(now.body["name"], winner);
    assert_eq!(now.body["version"], 2);
}

#[tokio::test]
async fn deleting_a_household_removes_it_for_every_member_and_the_worker_purges_it() {
    let s = crate::support::builder().pollers().start().await;
    let ana = s.user("ana").await;
    let ben = s.user("ben").await;
    let id = s.household(&ana, "Doomed").await;
    s.join(&ana, &id, &ben, "admin").await;
    let path = format!("/v1/households/{id}");

    s.call(&ben, Method::DELETE, &path, None).await.assert_problem(403, "auth.forbidden");
    s.call(&ana, Method::DELETE, &path, None).await.assert_status(204);

    for user in [&ana, &ben] {
        s.call(user, Method::GET, &path, None).await.assert_problem(404, "household.not_found");
        let list = s.call(user, Method::GET, "/v1/households", None).await;
        assert!(list.body["items"].as_array().unwrap().is_empty());
    }

    // The worker (polling this test's queue) purges every item, the membership index too.
    let pk = format!("HOUSEHOLD#{id}");
    let mut remaining = usize::MAX;
    // Generous: the worker runs on a loaded 2-core machine; this checks that it happens.
    for _ in 0..240 {
        remaining = s.items(&pk).await.len();
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(remaining, 0, "household items left after the purge");
    for user in [&ana, &ben] {
        let refs = s.items(&format!("USER#{}", user.id)).await;
        assert!(refs.iter().all(|i| i["SK"].as_s().unwrap() != &format!("HOUSEHOLD#{id}")));
    }
    // The deletion's audit entry outlives the purge, in the owner's partition.
    let owner_items = s.items(&format!("USER#{}", ana.id)).await;
    assert!(
        owner_items
            .iter()
            .any(|i| i.get("action").and_then(|a| a.as_s().ok()).map(String::as_str) == Some("household.delete"))
    );
}

#[tokio::test]
async fn creating_households_invites_and_accepting_are_idempotent_with_a_key() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let ben = s.user("ben").await;
    let body = json!({ "name": "Retried" });
    let first =
        s.call_with(&ana, Method::POST, "/v1/households", Some(body.clone()), &[("idempotency-key", "h-1")]).await;
    let again = s.call_with(&ana, Method::POST, "/v1/households", Some(body), &[("idempotency-key", "h-1")]).await;
    first.assert_status(201);
    again.assert_status(201);
    assert_eq!(first.body, again.body);
    let list = s.call(&ana, Method::GET, "/v1/households", None).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let id = first.body["householdId"].as_str().unwrap();

    let invites = format!("/v1/households/{id}/invites");
    let a = s.call_with(&ana, Method::POST, &invites, Some(json!({})), &[("idempotency-key", "i-1")]).await;
    let b = s.call_with(&ana, Method::POST, &invites, Some(json!({})), &[("idempotency-key", "i-1")]).await;
    assert_eq!(a.body["code"], b.body["code"]);
    let listed = s.call(&ana, Method::GET, &invites, None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);

    let accept = format!("/v1/invites/{}/accept", a.body["code"].as_str().unwrap());
    let x = s.call_with(&ben, Method::POST, &accept, None, &[("idempotency-key", "a-1")]).await;
    let y = s.call_with(&ben, Method::POST, &accept, None, &[("idempotency-key", "a-1")]).await;
    x.assert_status(201);
    assert_eq!(x.body, y.body, "a retried accept answers like the first, not 409 already_member");
    assert_eq!(x.body["household"]["memberCount"], 2);
}
