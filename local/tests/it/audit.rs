//! Issue 8: the household's audit log, read by its owner and admins.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::stack;
use crate::tasks::{create, daily, household_of_three};

fn actions(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn owners_and_admins_read_who_changed_what_newest_first_filtered_and_paged() {
    let s = stack().await;
    let (h, owner, member, child) = household_of_three(&s).await;
    let task = create(&s, &member, &h, daily("Plants", &[&member])).await;
    let id = task["taskId"].as_str().unwrap();
    s.call_with(
        &owner,
        Method::PATCH,
        &format!("/v1/households/{h}/tasks/{id}"),
        Some(json!({ "title": "Water the plants" })),
        &[("if-match", "\"1\""), ("x-correlation-id", "audit-test-rename")],
    )
    .await
    .assert_status(200);
    let audit = format!("/v1/households/{h}/audit");

    // Everything so far, newest first: creating the household, two joins, the chore, the rename.
    let all = s.call(&owner, Method::GET, &audit, None).await;
    all.assert_status(200);
    let got = actions(&all.body);
    assert_eq!(got.first().map(String::as_str), Some("task.update"), "{got:?}");
    assert!(got.contains(&"task.create".to_string()) && got.contains(&"household.create".to_string()), "{got:?}");
    let rename = &all.body["items"][0];
    assert_eq!(rename["actorId"], owner.id.as_str());
    assert_eq!(rename["target"], format!("task/{id}"));
    assert_eq!(rename["correlationId"], "audit-test-rename");

    // By actor, by action, by time.
    let mine = s.call(&owner, Method::GET, &format!("{audit}?actor={}", member.id), None).await;
    assert!(mine.body["items"].as_array().unwrap().iter().all(|e| e["actorId"] == member.id.as_str()));
    assert!(actions(&mine.body).contains(&"task.create".to_string()), "{:#}", mine.body);
    let creates = s.call(&owner, Method::GET, &format!("{audit}?action=task.create"), None).await;
    assert_eq!(actions(&creates.body), ["task.create"]);
    let at = rename["at"].as_str().unwrap();
    let since = s.call(&owner, Method::GET, &format!("{audit}?from={}", urlencoding(at)), None).await;
    assert_eq!(actions(&since.body), ["task.update"], "from is inclusive");
    let before = s.call(&owner, Method::GET, &format!("{audit}?to={}", urlencoding(at)), None).await;
    assert!(!actions(&before.body).contains(&"task.update".to_string()), "to is exclusive");

    // Paged: two at a time, every entry once, in order.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{audit}?limit=2&cursor={c}"),
            None => format!("{audit}?limit=2"),
        };
        let page = s.call(&owner, Method::GET, &url, None).await;
        page.assert_status(200);
        paged.extend(page.body["items"].as_array().unwrap().iter().map(|e| e["id"].clone()));
        match page.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let ids: Vec<Value> = all.body["items"].as_array().unwrap().iter().map(|e| e["id"].clone()).collect();
    assert_eq!(paged, ids);

    // Members and children may not read it; another household's owner sees nothing of it.
    s.call(&member, Method::GET, &audit, None).await.assert_problem(403, "auth.forbidden");
    s.call(&child, Method::GET, &audit, None).await.assert_problem(403, "auth.forbidden");
    let stranger = s.user("stranger").await;
    s.call(&stranger, Method::GET, &audit, None).await.assert_problem(404, "household.not_found");

    // Bad filters are the client's mistake, named.
    for (query, param) in [("action=Task.Complete", "action"), ("actor=a%20b", "actor"), ("from=yesterday", "from")] {
        let r = s.call(&owner, Method::GET, &format!("{audit}?{query}"), None).await;
        r.assert_problem(400, "request.invalid_parameter");
        assert!(r.body.to_string().contains(param), "{query}: {:#}", r.body);
    }
    s.call(&owner, Method::GET, &format!("{audit}?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z"), None)
        .await
        .assert_problem(400, "request.invalid_parameter");
}

/// A time as a query value (`+` and `:` escaped).
fn urlencoding(s: &str) -> String {
    s.replace(':', "%3A").replace('+', "%2B")
}
