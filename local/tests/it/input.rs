//! Bad input gets a clear problem+json and writes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::stack;

#[tokio::test]
async fn bad_bodies_are_refused_and_nothing_is_written() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let id = s.household(&ana, "Before").await;
    let pk = format!("HOUSEHOLD#{id}");
    let before = s.items(&pk).await.len();
    let raw = |method: Method, path: &str, body: Vec<u8>, content_type: &str| {
        s.http
            .request(method, s.url(path))
            .header("authorization", &ana.token)
            .header("content-type", content_type.to_string())
            .header("if-match", "\"1\"")
            .body(body)
    };
    let h = format!("/v1/households/{id}");

    s.send(raw(Method::POST, "/v1/households", b"{\"name\": ".to_vec(), "application/json"))
        .await
        .assert_problem(400, "request.malformed_json");
    s.send(raw(Method::PATCH, &h, b"not json".to_vec(), "application/json"))
        .await
        .assert_problem(400, "request.malformed_json");
    let r = s.send(raw(Method::POST, "/v1/households", br#"{"name": 42}"#.to_vec(), "application/json")).await;
    r.assert_problem(422, "request.validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "name");
    assert_eq!(r.body["errors"][0]["code"], "invalid_type");
    let r = s
        .send(raw(Method::POST, "/v1/households", br#"{"name": "x", "owner": "me"}"#.to_vec(), "application/json"))
        .await;
    r.assert_problem(422, "request.validation_failed");
    assert_eq!(r.body["errors"][0]["code"], "unknown_field");
    let huge = format!("{{\"name\": \"{}\"}}", "a".repeat(70 * 1024)).into_bytes();
    s.send(raw(Method::POST, "/v1/households", huge.clone(), "application/json"))
        .await
        .assert_problem(413, "request.body_too_large");
    s.send(raw(Method::PATCH, &h, huge, "application/json")).await.assert_problem(413, "request.body_too_large");
    let r = s.send(raw(Method::PATCH, &h, br#"{"timezone": "Europe/Nowhere"}"#.to_vec(), "application/json")).await;
    r.assert_problem(422, "request.validation_failed");
    assert_eq!(r.body["errors"][0]["code"], "invalid_timezone");
    s.send(raw(
        Method::POST,
        "/v1/households",
        br#"{"name": "x", "timezone": "Local/Time"}"#.to_vec(),
        "application/json",
    ))
    .await
    .assert_problem(422, "request.validation_failed");
    s.send(raw(Method::POST, "/v1/households", b"name=x".to_vec(), "application/x-www-form-urlencoded"))
        .await
        .assert_problem(415, "request.unsupported_media_type");
    s.send(raw(
        Method::PATCH,
        &format!("{h}/members/{}", ana.id),
        br#"{"role": "overlord"}"#.to_vec(),
        "application/json",
    ))
    .await
    .assert_problem(422, "request.validation_failed");

    assert_eq!(s.items(&pk).await.len(), before, "a refused request wrote something");
    let list = s.call(&ana, Method::GET, "/v1/households", None).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let got = s.call(&ana, Method::GET, &h, None).await;
    assert_eq!(got.body["version"], 1);
}

#[tokio::test]
async fn bad_ids_cursors_limits_and_routes_are_client_errors() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let id = s.household(&ana, "Ids").await;
    s.call(&ana, Method::GET, "/v1/households/not-a-ulid", None).await.assert_problem(400, "request.invalid_parameter");
    s.call(&ana, Method::GET, "/v1/households/01ARZ3NDEKTSV4RRFFQ69G5FA!", None)
        .await
        .assert_problem(400, "request.invalid_parameter");
    s.call(&ana, Method::DELETE, &format!("/v1/households/{id}/members/..%2F..%2Fetc"), None)
        .await
        .assert_problem(400, "request.invalid_parameter");
    for cursor in ["garbage", "eyJQSyI6IkhPVVNFSE9MRCNYIiwiU0siOiJNRU1CRVIjeCJ9", "%00%01"] {
        s.call(&ana, Method::GET, &format!("/v1/households?cursor={cursor}"), None)
            .await
            .assert_problem(400, "pagination.invalid_cursor");
    }
    // A real cursor from one list is refused by another list.
    let mut seen = Vec::new();
    for i in 0..3 {
        seen.push(s.household(&ana, &format!("H{i}")).await);
    }
    let page = s.call(&ana, Method::GET, "/v1/households?limit=1", None).await;
    let cursor = page.body["nextCursor"].as_str().unwrap().to_string();
    s.call(&ana, Method::GET, &format!("/v1/households/{id}/members?cursor={cursor}"), None)
        .await
        .assert_problem(400, "pagination.invalid_cursor");
    s.call(&ana, Method::GET, "/v1/households?limit=0", None).await.assert_problem(400, "request.invalid_parameter");
    s.call(&ana, Method::GET, "/v1/households?limit=1000", None).await.assert_problem(400, "request.invalid_parameter");

    s.call(&ana, Method::GET, "/v2/households", None).await.assert_problem(404, "route.not_found");
    s.call(&ana, Method::GET, "/v1/nothing-here", None).await.assert_problem(404, "route.not_found");
    s.call(&ana, Method::PUT, "/v1/me", None).await.assert_problem(404, "route.not_found");
}

#[tokio::test]
async fn cors_preflight_is_answered_without_a_token() {
    let s = stack().await;
    let r = s
        .send(
            s.http
                .request(Method::OPTIONS, s.url("/v1/households/01ARZ3NDEKTSV4RRFFQ69G5FAV"))
                .header("origin", "http://localhost:5173")
                .header("access-control-request-method", "PATCH")
                .header("access-control-request-headers", "authorization,if-match,content-type"),
        )
        .await;
    r.assert_status(204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("access-control-allow-methods").unwrap().contains("PATCH"));
    assert!(r.header("access-control-allow-headers").unwrap().to_lowercase().contains("if-match"));
    // Normal responses tell the browser which headers it may read.
    let ana = s.user("ana").await;
    let me = s.call(&ana, Method::GET, "/v1/me", None).await;
    assert!(me.header("access-control-expose-headers").unwrap().contains("ETag"));
}

#[tokio::test]
async fn text_is_stored_trimmed_and_single_line_fields_refuse_control_characters() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let control = "\u{13}\u{2026}\u{1d}";
    let refused = |r: &crate::support::Reply, field: &str| {
        r.assert_problem(422, "request.validation_failed");
        assert!(
            r.body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field && e["code"] == "control_characters"),
            "{field}: {:#}",
            r.body
        );
    };
    let r = s.call(&ana, Method::POST, "/v1/households", Some(json!({ "name": control }))).await;
    refused(&r, "name");
    let r = s.call(&ana, Method::POST, "/v1/households", Some(json!({ "name": "Flat\n3B" }))).await;
    refused(&r, "name");
    let r = s.call(&ana, Method::POST, "/v1/households", Some(json!({ "name": "  Flat 3B \t" }))).await;
    r.assert_status(201);
    assert_eq!(r.body["name"], "Flat 3B");
    let h = r.body["householdId"].as_str().unwrap().to_string();
    let r = s
        .call_with(
            &ana,
            Method::PATCH,
            &format!("/v1/households/{h}"),
            Some(json!({ "name": control })),
            &[("if-match", "\"1\"")],
        )
        .await;
    refused(&r, "name");

    let me = s.call(&ana, Method::GET, "/v1/me", None).await;
    let etag = me.etag();
    let r = s
        .call_with(
            &ana,
            Method::PATCH,
            "/v1/me",
            Some(json!({ "displayName": format!("Ana{control}") })),
            &[("if-match", &etag)],
        )
        .await;
    refused(&r, "displayName");
    let r = s
        .call_with(&ana, Method::PATCH, "/v1/me", Some(json!({ "displayName": " Ana " })), &[("if-match", &etag)])
        .await;
    r.assert_status(200);
    assert_eq!(r.body["displayName"], "Ana");

    let tasks = format!("/v1/households/{h}/tasks");
    let chore = |extra: Value| {
        let mut body = json!({ "title": "Dishes", "recurrence": { "type": "interval", "every": 1, "unit": "days" } });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    for (field, extra) in [
        ("title", json!({ "title": control })),
        ("labels", json!({ "labels": ["ok", "kit\u{7}chen"] })),
        ("area", json!({ "area": "Kitchen\r\nsink" })),
        ("subtasks", json!({ "subtasks": ["Plates", "Pans\u{0}"] })),
        ("description", json!({ "description": "Plates\u{1b}[31m" })),
    ] {
        let r = s.call(&ana, Method::POST, &tasks, Some(chore(extra))).await;
        refused(&r, field);
    }
    let r = s
        .call(
            &ana,
            Method::POST,
            &tasks,
            Some(chore(json!({ "title": " Dishes ", "description": " Plates,\r\n\tthen pans \n", "labels": [" kitchen "], "subtasks": [" Plates "] }))),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["title"], "Dishes");
    assert_eq!(r.body["description"], "Plates,\n\tthen pans");
    assert_eq!(r.body["labels"], json!(["kitchen"]));
    assert_eq!(r.body["subtasks"][0]["title"], "Plates");
    let list = s.call(&ana, Method::GET, &tasks, None).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "a refused chore was written");
}

#[tokio::test]
async fn dates_outside_the_window_are_refused_with_a_field_error() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let h = s.household(&ana, "Dates").await;
    let tasks = format!("/v1/households/{h}/tasks");
    let out_of_range = |r: &crate::support::Reply, field: &str| {
        r.assert_problem(422, "request.validation_failed");
        let e = &r.body["errors"][0];
        assert_eq!((e["field"].as_str(), e["code"].as_str()), (Some(field), Some("out_of_range")), "{:#}", r.body);
    };
    let chore = |start: &str| json!({ "title": "Dishes", "startDate": start, "recurrence": { "type": "interval", "every": 1, "unit": "days" } });
    for start in ["1969-12-31", "2201-01-01", "9999-12-31"] {
        out_of_range(&s.call(&ana, Method::POST, &tasks, Some(chore(start))).await, "startDate");
    }
    // Beyond what a date can hold at all: still a 422 for the field, never a 500.
    let r = s.call(&ana, Method::POST, &tasks, Some(chore("+262142-12-31"))).await;
    r.assert_problem(422, "request.validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "startDate");
    s.call(&ana, Method::POST, &tasks, Some(chore("2200-12-31"))).await.assert_status(201);
    let task = s.call(&ana, Method::POST, &tasks, Some(chore("1970-01-01"))).await;
    task.assert_status(201);

    let path = format!("{tasks}/{}", task.body["taskId"].as_str().unwrap());
    let r =
        s.call(&ana, Method::POST, &format!("{path}/snooze"), Some(json!({ "until": "9999-12-31T00:00:00Z" }))).await;
    out_of_range(&r, "until");
    let r = s
        .call_with(
            &ana,
            Method::PATCH,
            &format!("/v1/households/{h}/members/{}", ana.id),
            Some(json!({ "away": [{ "from": "0001-01-01", "to": "2026-01-01" }] })),
            &[("if-match", "\"1\"")],
        )
        .await;
    out_of_range(&r, "away.from");

    let base = format!("/v1/households/{h}");
    for (query, field) in [
        ("agenda?from=9999-12-31T00:00:00Z", "from"),
        ("agenda?from=2200-12-20T00:00:00Z&to=2201-01-02T00:00:00Z", "to"),
        ("completions?from=1900-01-01T00:00:00Z", "from"),
        ("tasks?dueBefore=3000-01-01T00:00:00Z", "dueBefore"),
    ] {
        out_of_range(&s.call(&ana, Method::GET, &format!("{base}/{query}"), None).await, field);
    }
    let last = format!("{base}/agenda?from=2200-12-20T00:00:00Z&to=2200-12-31T23:59:59Z");
    s.call(&ana, Method::GET, &last, None).await.assert_status(200);
}
