//! Bad input gets a clear problem+json and writes nothing.

use reqwest::Method;

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
