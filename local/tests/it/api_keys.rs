//! Household API keys: made and revoked by owners and admins on the frontend's API, used on
//! the integration API behind the API-key authorizer, the API key check and the usage plan,
//! all as template.yaml sets them up.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Reply, TestStack, User, builder, stack, template};

/// A request to the integration API with `key` in `X-Api-Key` (none for `None`).
async fn with_key(s: &TestStack, key: Option<&str>, method: Method, path: &str, body: Option<Value>) -> Reply {
    let mut rb = s.http.request(method, s.url(&format!("{}{path}", local::integration::PREFIX)));
    if let Some(k) = key {
        rb = rb.header("x-api-key", k);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    s.send(rb).await
}

async fn new_key(s: &TestStack, owner: &User, household: &str, scopes: &[&str]) -> (String, String) {
    let created = s
        .call(
            owner,
            Method::POST,
            &format!("/v1/households/{household}/api-keys"),
            Some(json!({ "name": "Kitchen NFC tag", "scopes": scopes })),
        )
        .await;
    created.assert_status(201);
    let key = created.body["key"].as_str().unwrap().to_string();
    (key, created.body["keyId"].as_str().unwrap().to_string())
}

async fn chore(s: &TestStack, user: &User, household: &str) -> String {
    let r = s
        .call(
            user,
            Method::POST,
            &format!("/v1/households/{household}/tasks"),
            Some(json!({ "title": "Water the plants", "recurrence": { "type": "interval", "every": 1, "unit": "days" } })),
        )
        .await;
    r.assert_status(201);
    r.body["taskId"].as_str().unwrap().to_string()
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_key_with_tasks_complete_completes_a_chore_and_can_do_nothing_else() {
    let s = stack().await;
    let (owner, member) = (s.user("ana").await, s.user("ben").await);
    let h = s.household(&owner, "Keys").await;
    s.join(&owner, &h, &member, "member").await;
    let task = chore(&s, &owner, &h).await;
    let keys = format!("/v1/households/{h}/api-keys");

    // Owners and admins make keys; a member may not.
    s.call(&member, Method::POST, &keys, Some(json!({ "name": "Mine", "scopes": ["tasks:read"] })))
        .await
        .assert_problem(403, "auth.forbidden");
    let (key, key_id) = new_key(&s, &owner, &h, &["tasks:complete"]).await;
    assert!(key.starts_with("cgk_") && key.len() == 36, "{key}");

    // Shown once: listed by prefix, never again in full; the table holds only its hash.
    let listed = s.call(&owner, Method::GET, &keys, None).await;
    listed.assert_status(200);
    assert_eq!(listed.body["items"][0]["keyId"], key_id.as_str());
    assert_eq!(listed.body["items"][0]["prefix"], &key[..12]);
    assert!(listed.body["items"][0].get("key").is_none());
    assert!(!listed.body.to_string().contains(&key));
    assert!(!format!("{:?}", s.items(&format!("HOUSEHOLD#{h}")).await).contains(&key));
    assert_eq!(s.items(&format!("KEYHASH#{}", sha256_hex(&key))).await.len(), 1);

    // The key completes the chore, as the member who made it.
    let done = with_key(&s, Some(&key), Method::POST, &format!("/v1/households/{h}/tasks/{task}/complete"), None).await;
    done.assert_status(200);
    assert_eq!(done.body["completion"]["userId"], owner.id.as_str());
    assert_eq!(done.body["completion"]["recordedBy"], owner.id.as_str());

    // It cannot read members, create chores or list them: its scope says so, and nothing is made.
    with_key(&s, Some(&key), Method::GET, &format!("/v1/households/{h}/members"), None)
        .await
        .assert_problem(403, "apikey.scope_missing");
    let create = json!({ "title": "Sneaky", "recurrence": { "type": "once" } });
    with_key(&s, Some(&key), Method::POST, &format!("/v1/households/{h}/tasks"), Some(create))
        .await
        .assert_problem(403, "apikey.scope_missing");
    with_key(&s, Some(&key), Method::GET, &format!("/v1/households/{h}/tasks"), None)
        .await
        .assert_problem(403, "apikey.scope_missing");
    let tasks = s.call(&owner, Method::GET, &format!("/v1/households/{h}/tasks"), None).await;
    assert_eq!(tasks.body["items"].as_array().unwrap().len(), 1, "{:#}", tasks.body);
    // Routes the integration API does not serve are not there; the frontend's API takes no keys.
    with_key(&s, Some(&key), Method::GET, &format!("/v1/households/{h}/webhooks"), None)
        .await
        .assert_problem(404, "route.not_found");
    let no_token =
        s.send(s.http.get(s.url(&format!("/v1/households/{h}/tasks/{task}"))).header("x-api-key", &key)).await;
    no_token.assert_problem(401, "auth.unauthenticated");

    // Another household, even the same owner's: a 404, as if it did not exist.
    let other = s.household(&owner, "Other").await;
    let theirs = chore(&s, &owner, &other).await;
    with_key(&s, Some(&key), Method::POST, &format!("/v1/households/{other}/tasks/{theirs}/complete"), None)
        .await
        .assert_problem(404, "household.not_found");

    // No key, junk, or a well-formed key nobody made.
    let path = format!("/v1/households/{h}/tasks/{task}/complete");
    let made_up = format!("cgk_{}", "a".repeat(32));
    for bad in [None, Some("nonsense"), Some(made_up.as_str())] {
        with_key(&s, bad, Method::POST, &path, None).await.assert_problem(401, "apikey.invalid");
    }

    // Its last use is listed.
    let listed = s.call(&owner, Method::GET, &keys, None).await;
    assert!(listed.body["items"][0]["lastUsedAt"].is_string(), "{:#}", listed.body);

    // Revoked: refused at once, though the authorizer's decision is still cached; again is a 204.
    s.call(&owner, Method::DELETE, &format!("{keys}/{key_id}"), None).await.assert_status(204);
    let refused = with_key(&s, Some(&key), Method::POST, &path, None).await;
    refused.assert_status(401);
    assert!(
        ["apikey.revoked", "apikey.invalid"].contains(&refused.body["code"].as_str().unwrap()),
        "{:#}",
        refused.body
    );
    s.call(&owner, Method::DELETE, &format!("{keys}/{key_id}"), None).await.assert_status(204);
    let listed = s.call(&owner, Method::GET, &keys, None).await;
    assert!(listed.body["items"][0]["revokedAt"].is_string());
    // Only its household's owners and admins revoke it.
    s.call(&member, Method::DELETE, &format!("{keys}/{key_id}"), None).await.assert_problem(403, "auth.forbidden");
    s.call(&owner, Method::DELETE, &format!("/v1/households/{other}/api-keys/{key_id}"), None)
        .await
        .assert_problem(404, "apikey.not_found");
}

#[tokio::test]
async fn a_revoked_key_is_refused_by_every_route_even_with_the_decision_cached() {
    let s = stack().await;
    let owner = s.user("ana").await;
    let h = s.household(&owner, "Keys").await;
    let task = chore(&s, &owner, &h).await;
    let (key, key_id) = new_key(&s, &owner, &h, &["tasks:read", "agenda:read", "members:read"]).await;
    let reads = [
        format!("/v1/households/{h}/tasks"),
        format!("/v1/households/{h}/tasks/{task}"),
        format!("/v1/households/{h}/agenda"),
        format!("/v1/households/{h}/members"),
    ];
    for path in &reads {
        with_key(&s, Some(&key), Method::GET, path, None).await.assert_status(200);
    }
    // Revoke from the store only (as if API Gateway had not yet dropped its key): the
    // handlers read the key with the membership and refuse it.
    let app = s.stack.function_app("RevokeApiKeyFunction");
    let (record, hash, _) = app.store.api_key(&h, &key_id).await.unwrap().unwrap();
    let audit = shared::domain::audit::AuditEntry::new(&owner.id, "apikey.revoke", "test".into(), "test", app.now());
    assert!(app.store.revoke_api_key(&record, &hash, app.now(), Some(&audit)).await.unwrap());
    for path in &reads {
        with_key(&s, Some(&key), Method::GET, path, None).await.assert_problem(401, "apikey.revoked");
    }
}

#[tokio::test]
async fn revoking_a_key_twice_at_once_revokes_it_once() {
    let s = stack().await;
    let owner = s.user("ana").await;
    let h = s.household(&owner, "Keys").await;
    let (_, key_id) = new_key(&s, &owner, &h, &["tasks:read"]).await;
    let path = format!("/v1/households/{h}/api-keys/{key_id}");
    let (a, b) = tokio::join!(s.call(&owner, Method::DELETE, &path, None), s.call(&owner, Method::DELETE, &path, None));
    a.assert_status(204);
    b.assert_status(204);
    let audit = s.call(&owner, Method::GET, &format!("/v1/households/{h}/audit?action=apikey.revoke"), None).await;
    assert_eq!(audit.body["items"].as_array().unwrap().len(), 1, "{:#}", audit.body);
}

#[tokio::test]
async fn an_expired_key_is_refused_and_bad_requests_make_no_key() {
    let travel = local::schedule::TravelClock::new();
    let s = builder().clock(travel.clone()).start().await;
    let owner = s.user("ana").await;
    let h = s.household(&owner, "Keys").await;
    let task = chore(&s, &owner, &h).await;
    let keys = format!("/v1/households/{h}/api-keys");
    let soon = (shared::platform::clock::Clock::now(&*travel) + chrono::Duration::hours(1)).to_rfc3339();
    let created = s
        .call(
            &owner,
            Method::POST,
            &keys,
            Some(json!({ "name": "Short", "scopes": ["tasks:read"], "expiresAt": soon })),
        )
        .await;
    created.assert_status(201);
    let key = created.body["key"].as_str().unwrap().to_string();
    let path = format!("/v1/households/{h}/tasks/{task}");
    with_key(&s, Some(&key), Method::GET, &path, None).await.assert_status(200);
    travel.advance(chrono::Duration::hours(2)).unwrap();
    with_key(&s, Some(&key), Method::GET, &path, None).await.assert_problem(401, "apikey.expired");

    for body in [
        json!({ "scopes": ["tasks:read"] }),
        json!({ "name": "x", "scopes": [] }),
        json!({ "name": "x", "scopes": ["admin"] }),
        json!({ "name": "x", "scopes": ["tasks:read"], "expiresAt": "2020-01-01T00:00:00Z" }),
        json!({ "name": "x", "scopes": ["tasks:read"], "owner": "me" }),
    ] {
        s.call(&owner, Method::POST, &keys, Some(body)).await.assert_problem(422, "request.validation_failed");
    }
    let listed = s.call(&owner, Method::GET, &keys, None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_key_over_its_rate_or_its_daily_quota_gets_429_with_retry_after() {
    // The template's usage plan, with limits a test can reach: a burst of 3 and almost no
    // refill; then a quota of 2 a day with a high rate.
    let limited = |rate: f64, burst: u64, quota: u64| {
        let mut t = template();
        let p = t.root.pointer_mut("/Parameters").unwrap();
        p["IntegrationRateLimit"]["Default"] = json!(rate);
        p["IntegrationBurstLimit"]["Default"] = json!(burst);
        p["IntegrationDailyQuota"]["Default"] = json!(quota);
        t
    };
    for (t, allowed, retry_after) in [(limited(0.001, 3, 1000), 3, "1"), (limited(100.0, 100, 2), 2, "3600")] {
        let s = builder().template(t).start().await;
        let owner = s.user("ana").await;
        let h = s.household(&owner, "Keys").await;
        let (key, _) = new_key(&s, &owner, &h, &["agenda:read"]).await;
        let (other, _) = new_key(&s, &owner, &h, &["agenda:read"]).await;
        let path = format!("/v1/households/{h}/agenda");
        for _ in 0..allowed {
            with_key(&s, Some(&key), Method::GET, &path, None).await.assert_status(200);
        }
        let limited = with_key(&s, Some(&key), Method::GET, &path, None).await;
        limited.assert_problem(429, "rate.limited");
        assert_eq!(limited.header("retry-after"), Some(retry_after));
        // Per key: another key of the household is not limited by it.
        with_key(&s, Some(&other), Method::GET, &path, None).await.assert_status(200);
    }
}

/// Waits (generously: a loaded 2-core machine) until `done` holds.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    for _ in 0..240 {
        if done().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("{what} did not happen");
}

#[tokio::test]
async fn the_keys_a_member_made_go_when_they_leave_and_all_keys_when_the_household_is_deleted() {
    let s = builder().dev_like(local::schedule::TravelClock::new()).start().await;
    let (owner, ben) = (s.user("ana").await, s.user("ben").await);
    let h = s.household(&owner, "Keys").await;
    s.join(&owner, &h, &ben, "admin").await;
    let (bens, bens_id) = new_key(&s, &ben, &h, &["agenda:read"]).await;
    let (anas, _) = new_key(&s, &owner, &h, &["agenda:read"]).await;
    let agenda = format!("/v1/households/{h}/agenda");
    with_key(&s, Some(&bens), Method::GET, &agenda, None).await.assert_status(200);

    // Ben leaves: his key acted as him, so it stops at once (his membership is gone) and the
    // household-changes worker revokes it; Ana's stays.
    s.call(&ben, Method::DELETE, &format!("/v1/households/{h}/members/{}", ben.id), None).await.assert_status(204);
    with_key(&s, Some(&bens), Method::GET, &agenda, None).await.assert_status(404);
    let keys = format!("/v1/households/{h}/api-keys");
    eventually("revoking the key of the member who left", || async {
        let listed = s.call(&owner, Method::GET, &keys, None).await;
        let items = listed.body["items"].as_array().cloned().unwrap_or_default();
        items.iter().any(|k| k["keyId"] == bens_id.as_str() && k["revokedAt"].is_string())
    })
    .await;
    // Its lookup item no longer names him.
    let lookup = s.items(&format!("KEYHASH#{}", sha256_hex(&bens))).await;
    assert!(!lookup[0].contains_key("createdBy"), "{lookup:?}");
    with_key(&s, Some(&anas), Method::GET, &agenda, None).await.assert_status(200);

    // The household is deleted: the purge revokes every key it had.
    s.call(&owner, Method::DELETE, &format!("/v1/households/{h}"), None).await.assert_status(204);
    let hash = sha256_hex(&anas);
    eventually("revoking the deleted household's keys", || async {
        let lookup = s.items(&format!("KEYHASH#{hash}")).await;
        lookup.first().is_some_and(|i| i.get("revokedAt").is_some_and(|r| r.as_s().is_ok()))
    })
    .await;
    let refused = with_key(&s, Some(&anas), Method::GET, &agenda, None).await;
    refused.assert_status(401);
}

#[tokio::test]
async fn a_household_has_at_most_twenty_live_keys_even_when_two_are_made_at_once() {
    let s = stack().await;
    let (owner, ben) = (s.user("ana").await, s.user("ben").await);
    let h = s.household(&owner, "Keys").await;
    s.join(&owner, &h, &ben, "admin").await;
    let keys = format!("/v1/households/{h}/api-keys");
    let body = json!({ "name": "Sensor", "scopes": ["agenda:read"] });
    let mut made = Vec::new();
    for i in 0..19 {
        let maker = if i % 2 == 0 { &owner } else { &ben };
        let r = s.call(maker, Method::POST, &keys, Some(body.clone())).await;
        r.assert_status(201);
        made.push(r.body["keyId"].as_str().unwrap().to_string());
    }
    // The twentieth, twice at once: exactly one is made.
    let (a, b) = tokio::join!(
        s.call(&owner, Method::POST, &keys, Some(body.clone())),
        s.call(&ben, Method::POST, &keys, Some(body.clone()))
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{:#} {:#}", a.body, b.body);
    let refused = if a.status == 409 { &a } else { &b };
    refused.assert_problem(409, "apikey.limit_reached");
    let listed = s.call(&owner, Method::GET, &format!("{keys}?limit=100"), None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 20);
    // Revoking one makes room for one.
    s.call(&owner, Method::DELETE, &format!("{keys}/{}", made[0]), None).await.assert_status(204);
    s.call(&owner, Method::POST, &keys, Some(body.clone())).await.assert_status(201);
    s.call(&ben, Method::POST, &keys, Some(body)).await.assert_problem(409, "apikey.limit_reached");
}

#[tokio::test]
async fn the_keys_of_an_account_being_erased_stop_at_once() {
    let s = stack().await;
    let (owner, ben) = (s.user("ana").await, s.user("ben").await);
    let h = s.household(&owner, "Keys").await;
    s.join(&owner, &h, &ben, "admin").await;
    let (key, _) = new_key(&s, &ben, &h, &["agenda:read"]).await;
    let agenda = format!("/v1/households/{h}/agenda");
    with_key(&s, Some(&key), Method::GET, &agenda, None).await.assert_status(200);
    // The erasure job has not run (no workers here): the key is refused all the same.
    s.call(&ben, Method::DELETE, "/v1/me", None).await.assert_status(202);
    with_key(&s, Some(&key), Method::GET, &agenda, None).await.assert_problem(401, "apikey.revoked");
}
