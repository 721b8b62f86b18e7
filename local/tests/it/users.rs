use reqwest::Method;
use serde_json::json;

use crate::support::stack;

#[tokio::test]
async fn health_answers_without_a_token_with_version_and_correlation_headers() {
    let s = stack().await;
    let r = s.send(s.http.get(s.url("/v1/health")).header("x-correlation-id", "trace-me-1")).await;
    r.assert_status(200);
    assert_eq!(r.body["status"], "ok");
    let answered = crate::support::suite_api_version()
        .unwrap_or_else(|| shared::platform::version::ApiVersion::default_version().as_str().into());
    assert_eq!(r.header("api-version"), Some(answered.as_str()));
    assert_eq!(r.body["version"], "v1");
    assert_eq!(r.header("x-correlation-id"), Some("trace-me-1"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn given_a_new_user_when_they_call_me_then_a_profile_is_made_from_the_token() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let r = s.call(&ana, Method::GET, "/v1/me", None).await;
    r.assert_status(200);
    assert_eq!(r.body["userId"], ana.id);
    assert_eq!(r.body["locale"], "en");
    assert_eq!(r.body["timezone"], "UTC");
    assert_eq!(r.body["notifications"]["email"], true);
    assert_eq!(r.etag(), "\"1\"");
}

#[tokio::test]
async fn patch_me_needs_the_current_etag_and_validates_every_field() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let body = json!({ "displayName": "Ana", "timezone": "Europe/Madrid", "locale": "es", "notifications": { "dailyDigest": true } });

    s.call(&ana, Method::PATCH, "/v1/me", Some(body.clone())).await.assert_problem(428, "precondition.required");
    s.call_with(&ana, Method::PATCH, "/v1/me", Some(body.clone()), &[("if-match", "\"7\"")])
        .await
        .assert_problem(412, "precondition.failed");

    let bad = json!({ "displayName": "", "timezone": "Mars/Olympus_Mons", "locale": "xx" });
    let r = s.call_with(&ana, Method::PATCH, "/v1/me", Some(bad), &[("if-match", "\"1\"")]).await;
    r.assert_problem(422, "request.validation_failed");
    let fields: Vec<&str> = r.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["displayName", "timezone", "locale"]);

    let r = s.call_with(&ana, Method::PATCH, "/v1/me", Some(body), &[("if-match", "\"1\"")]).await;
    r.assert_status(200);
    assert_eq!(r.etag(), "\"2\"");
    assert_eq!(r.body["timezone"], "Europe/Madrid");
    assert_eq!(r.body["notifications"]["dailyDigest"], true);
    assert_eq!(r.body["notifications"]["email"], true);

    // The profile changed once; the refused attempts wrote nothing.
    let me = s.call(&ana, Method::GET, "/v1/me", None).await;
    assert_eq!(me.body["version"], 2);
    assert_eq!(me.body["displayName"], "Ana");
}

#[tokio::test]
async fn problems_are_localized_by_accept_language() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let path = format!("/v1/households/{}", ulid::Ulid::new());
    let es = s.call_with(&ana, Method::GET, &path, None, &[("accept-language", "es-ES,es;q=0.9")]).await;
    es.assert_problem(404, "household.not_found");
    assert_eq!(es.body["title"], "Hogar no encontrado");
    assert_eq!(es.header("content-language"), Some("es"));
    let de = s.call_with(&ana, Method::GET, &path, None, &[("accept-language", "de")]).await;
    assert_eq!(de.body["title"], "Haushalt nicht gefunden");
    let fallback = s.call_with(&ana, Method::GET, &path, None, &[("accept-language", "fr")]).await;
    assert_eq!(fallback.body["title"], "Household not found");
}
