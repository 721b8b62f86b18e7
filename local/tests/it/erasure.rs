//! Issue 8: erasing an account (GDPR Art. 17), end to end through the local stack: the
//! route cuts the account off at once, the job (from its queue, and run by hand twice at
//! the same time, as its function with its policy) removes or rewrites everything, and a
//! consistent Scan of the whole table then finds no trace of the member's id, name or
//! email but the documented marker, while the household's history still counts their work.

use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::types::AttributeValue;
use reqwest::Method;
use serde_json::{Value, json};
use shared::store::erasure::ErasureState;

use crate::support::{TestStack, User, builder};
use crate::tasks::{create, daily};

/// Every item of the table with any string (keys included, at any depth) that contains one
/// of `needles` (compared in lowercase).
async fn items_naming(s: &TestStack, needles: &[String]) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    fn strings(v: &AttributeValue, out: &mut Vec<String>) {
        match v {
            AttributeValue::S(t) => out.push(t.to_lowercase()),
            AttributeValue::Ss(l) => out.extend(l.iter().map(|t| t.to_lowercase())),
            AttributeValue::L(l) => l.iter().for_each(|x| strings(x, out)),
            AttributeValue::M(m) => m.iter().for_each(|(k, x)| {
                out.push(k.to_lowercase());
                strings(x, out)
            }),
            _ => {}
        }
    }
    let needles: Vec<String> = needles.iter().map(|n| n.to_lowercase()).collect();
    let store = &s.stack.app.store;
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client
            .scan()
            .table_name(&store.table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in out.items.unwrap_or_default() {
            let mut texts = Vec::new();
            item.values().for_each(|v| strings(v, &mut texts));
            if texts.iter().any(|t| needles.iter().any(|n| t.contains(n.as_str()))) {
                found.push(item);
            }
        }
        match out.last_evaluated_key {
            Some(k) => start = Some(k),
            None => return found,
        }
    }
}

async fn until_finished(s: &TestStack, user_id: &str) {
    for _ in 0..240 {
        if s.stack.app.store.erasure_state(user_id).await.unwrap() == ErasureState::Finished {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(250)).await;
    }
    panic!("the erasure never finished");
}

fn completions_of(history: &Value, user_id: &str) -> usize {
    history["items"].as_array().unwrap().iter().filter(|c| c["userId"] == user_id).count()
}

#[tokio::test]
async fn an_erased_member_leaves_no_trace_but_their_counted_history() {
    // As `scripts/dev` runs: every worker and the table's stream, on a table of its own.
    let s = builder().dev_like(local::schedule::TravelClock::new()).start().await;
    let ana = s.user("ana").await;
    // A name no other test uses, so the Scan of the shared table can look for it.
    let zed = s.user("Zephyrine").await;
    let cy = s.user("cy").await;
    let h = s.household(&ana, "Erasure").await;
    s.join(&ana, &h, &zed, "admin").await;
    s.join(&ana, &h, &cy, "member").await;
    let pool: [&User; 3] = [&zed, &cy, &ana];
    let mut body = daily("Water the plants", &pool);
    body["startDate"] = json!(chrono::Utc::now().date_naive() - chrono::Duration::days(3));
    let task = create(&s, &ana, &h, body).await;
    let task_id = task["taskId"].as_str().unwrap().to_string();
    let complete = format!("/v1/households/{h}/tasks/{task_id}/complete");
    // Zed's work: three completions, one recorded with an idempotency key.
    for i in 0..3 {
        let key = format!("zed-{i}");
        s.call_with(&ana, Method::POST, &complete, Some(json!({ "asUserId": zed.id })), &[("idempotency-key", &key)])
            .await
            .assert_status(200);
    }
    s.call_with(&zed, Method::POST, &complete, Some(json!({})), &[("idempotency-key", "mine")])
        .await
        .assert_status(200);
    // What else names them: an invite and a webhook they made, a calendar feed, a household
    // export they asked for, a personal export, a household of their own.
    s.call(&zed, Method::POST, &format!("/v1/households/{h}/invites"), Some(json!({ "role": "member" })))
        .await
        .assert_status(201);
    s.call(&zed, Method::POST, &format!("/v1/households/{h}/calendar-feed"), None).await.assert_status(201);
    let export = s
        .call(
            &zed,
            Method::POST,
            &format!("/v1/households/{h}/exports"),
            Some(json!({ "format": "json", "include": "all" })),
        )
        .await;
    export.assert_status(202);
    s.call(&zed, Method::POST, "/v1/me/exports", Some(json!({}))).await.assert_status(202);
    let own = s.household(&zed, "Zed's flat").await;
    // A household they left before: its history names them too.
    let old = s.household(&ana, "Old flat").await;
    s.join(&ana, &old, &zed, "member").await;
    let mut body = daily("Sweep", &[&zed, &ana]);
    body["startDate"] = json!(chrono::Utc::now().date_naive() - chrono::Duration::days(3));
    let sweep = create(&s, &ana, &old, body).await;
    let sweep = format!("/v1/households/{old}/tasks/{}/complete", sweep["taskId"].as_str().unwrap());
    s.call(&ana, Method::POST, &sweep, Some(json!({ "asUserId": zed.id }))).await.assert_status(200);
    s.call(&zed, Method::DELETE, &format!("/v1/households/{old}/members/{}", zed.id), None).await.assert_status(204);
    // A photo they took (with GPS in it).
    let photo = crate::photos::upload(&s, &zed, &h, "image/jpeg", crate::photos::jpeg_with_gps()).await;
    assert_eq!(crate::photos::decided(&s, &zed, &photo).await["state"], "ready");

    // The others were told of Zed's work by name (in-app notifications from the stream).
    let mut told = Value::Null;
    for _ in 0..120 {
        told = s.call(&ana, Method::GET, "/v1/me/notifications", None).await.body;
        if told.to_string().contains("Zephyrine") {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(250)).await;
    }
    assert!(told.to_string().contains("Zephyrine"), "the owner was told of Zephyrine's completion: {told:#}");
    let before = s.call(&ana, Method::GET, &format!("/v1/households/{h}/completions?limit=100"), None).await;
    assert_eq!(completions_of(&before.body, &zed.id), 4);
    let total_before = before.body["items"].as_array().unwrap().len();
    // Let the exports settle before the erasure withdraws them.
    tokio::time::sleep(StdDuration::from_secs(2)).await;

    // An owner of a household with others cannot erase themselves: a clear error.
    let refused = s.call(&ana, Method::DELETE, "/v1/me", None).await;
    refused.assert_problem(409, "user.owns_household");
    assert!(refused.body["detail"].as_str().unwrap().contains(&h), "{:#}", refused.body);

    // Zed erases their account: 202, and at once no token of theirs works anywhere, nor
    // recreates a profile.
    let erased = s.call(&zed, Method::DELETE, "/v1/me", None).await;
    erased.assert_status(202);
    for (method, path) in [
        (Method::GET, "/v1/me".to_string()),
        (Method::GET, format!("/v1/households/{h}")),
        (Method::POST, "/v1/households".to_string()),
        (Method::GET, "/v1/me/notifications".to_string()),
        (Method::DELETE, "/v1/me".to_string()),
    ] {
        let body = (method == Method::POST).then(|| json!({ "name": "Again" }));
        s.call(&zed, method.clone(), &path, body).await.assert_problem(401, "auth.token_revoked");
    }

    // The job runs from its queue; two more deliveries at the same moment change nothing.
    let worker = s.stack.function_app("ErasureFunction");
    let (a, b) = tokio::join!(
        functions_users::erasure::erase(&worker, &zed.id, "test-a"),
        functions_users::erasure::erase(&worker, &zed.id, "test-b"),
    );
    a.unwrap();
    b.unwrap();
    until_finished(&s, &zed.id).await;
    assert_eq!(
        functions_users::erasure::erase(&worker, &zed.id, "again").await.unwrap(),
        functions_users::erasure::Outcome::AlreadyFinished
    );
    // The household they were alone in is gone (the purge worker removes the rest).
    s.call(&ana, Method::GET, &format!("/v1/households/{own}"), None).await.assert_problem(404, "household.not_found");
    for _ in 0..240 {
        if s.items(&format!("HOUSEHOLD#{own}")).await.is_empty() {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(250)).await;
    }
    // Let what was in flight land (stream, notification worker), then look everywhere.
    tokio::time::sleep(StdDuration::from_secs(3)).await;
    let left = items_naming(&s, &[zed.id.clone(), "Zephyrine".into(), zed.email.clone()]).await;
    let marker_key = |i: &std::collections::HashMap<String, AttributeValue>| {
        (i["PK"].as_s().unwrap().clone(), i["SK"].as_s().unwrap().clone())
    };
    let unexpected: Vec<_> =
        left.iter().filter(|i| marker_key(i) != (format!("USER#{}", zed.id), "PROFILE".to_string())).collect();
    assert!(unexpected.is_empty(), "traces of the erased member: {unexpected:#?}");
    // The documented marker: no name, no email, gone with TTL.
    let marker = left.first().expect("the erased marker stays until every old token has expired");
    let mut attributes: Vec<&str> = marker.keys().map(String::as_str).collect();
    attributes.sort();
    assert_eq!(attributes, ["PK", "SK", "erasedAt", "expiresAtEpoch", "tokensValidAfter"]);

    // The household keeps its history: Zed's completions still count, under a tombstone id.
    let old_history = s.call(&ana, Method::GET, &format!("/v1/households/{old}/completions"), None).await;
    let old_items = old_history.body["items"].as_array().unwrap();
    assert_eq!(old_items.len(), 1);
    assert!(old_items[0]["userId"].as_str().unwrap().starts_with(shared::domain::erasure::TOMBSTONE_PREFIX));
    let after = s.call(&ana, Method::GET, &format!("/v1/households/{h}/completions?limit=100"), None).await;
    after.assert_status(200);
    let items = after.body["items"].as_array().unwrap();
    assert_eq!(items.len(), total_before);
    let tombstones: Vec<&str> = items
        .iter()
        .filter_map(|c| c["userId"].as_str())
        .filter(|u| u.starts_with(shared::domain::erasure::TOMBSTONE_PREFIX))
        .collect();
    assert_eq!(tombstones.len(), 4, "{items:#?}");
    assert!(tombstones.iter().all(|t| *t == tombstones[0]), "one pseudonym for one member");
    // Their chores went to the others; the members list no longer has them.
    let chore = s.call(&ana, Method::GET, &format!("/v1/households/{h}/tasks/{task_id}"), None).await;
    assert!(!chore.body.to_string().contains(&zed.id));
    let members = s.call(&ana, Method::GET, &format!("/v1/households/{h}/members"), None).await;
    assert_eq!(members.body["items"].as_array().unwrap().len(), 2);
    // The audit log names the pseudonym where it named them.
    let audit = s.call(&ana, Method::GET, &format!("/v1/households/{h}/audit?actor={}", tombstones[0]), None).await;
    assert!(!audit.body["items"].as_array().unwrap().is_empty(), "{:#}", audit.body);
    // The export files that held their rows are gone; so is the Cognito user.
    let p = &s.stack.provisioned;
    let cognito = p.endpoints.cognito_client().await;
    let gone = cognito.admin_get_user().user_pool_id(&p.user_pool_id).username(&zed.email).send().await;
    assert!(gone.is_err_and(|e| e.as_service_error().is_some_and(|e| e.is_user_not_found_exception())));
    let s3 = p.endpoints.s3_client().await;
    let bucket = &worker.config.exports_bucket;
    for prefix in [format!("users/{}/", zed.id), format!("households/{h}/exports/")] {
        let listed = s3.list_objects_v2().bucket(bucket).prefix(&prefix).send().await.unwrap();
        assert_eq!(listed.key_count(), Some(0), "{prefix}: {:?}", listed.contents());
    }
    // Their photo (the cleaned copy and thumbnail) is gone too.
    let photos = &worker.config.photos_bucket;
    let listed = s3.list_objects_v2().bucket(photos).prefix(format!("households/{h}/photos/")).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "{:?}", listed.contents());
    s.call(&ana, Method::GET, &photo, None).await.assert_problem(404, "photo.not_found");
}
