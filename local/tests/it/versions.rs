//! Version negotiation within `/v1`, and deprecated routes announcing their sunset.

use reqwest::Method;
use serde_json::{Value, json};
use shared::platform::version::{ApiVersion, SERVED};

use crate::support::stack;

#[tokio::test]
async fn every_served_version_is_asked_for_and_answered_and_others_are_refused_without_effect() {
    let s = stack().await;
    let ana = s.user("ana").await;

    let health = s.send(s.http.get(s.url("/v1/health"))).await;
    let listed: Vec<&str> =
        health.body["apiVersions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(listed, SERVED);

    for v in SERVED {
        let r = s.call_with(&ana, Method::GET, "/v1/me", None, &[("api-version", v)]).await;
        r.assert_status(200);
        assert_eq!(r.header("api-version"), Some(*v));
    }
    // Without the header: the oldest served version.
    let r =
        s.send(s.http.get(s.url("/v1/me")).header("authorization", &ana.token).header("api-version", SERVED[0])).await;
    assert_eq!(r.header("api-version"), Some(SERVED[0]));
    let bare = s.http.get(s.url("/v1/me")).header("authorization", &ana.token).send().await.unwrap();
    assert_eq!(bare.headers()["api-version"], ApiVersion::default_version().as_str());

    // Any other value: a 400 naming the served versions, and the request does nothing.
    for asked in ["2020-01-01", "2099-01-01", "v1", "latest", "2026-12-1"] {
        let r = s
            .call_with(&ana, Method::POST, "/v1/households", Some(json!({ "name": "Nope" })), &[("api-version", asked)])
            .await;
        r.assert_problem(400, "request.unsupported_version");
        assert!(r.body["detail"].as_str().unwrap().contains(SERVED[0]), "{:#}", r.body);
        assert_eq!(r.header("api-version"), Some(ApiVersion::default_version().as_str()));
    }
    let households = s.call(&ana, Method::GET, "/v1/households", None).await;
    assert_eq!(households.body["items"], json!([]), "nothing was created");
}

#[tokio::test]
async fn a_deprecated_route_still_works_and_says_when_it_goes_and_what_replaces_it() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let deprecated: Vec<_> = local::routes::routes().into_iter().filter(|r| r.deprecated.is_some()).collect();
    assert!(!deprecated.is_empty());

    let old = s.call(&ana, Method::POST, "/v1/me/export", Some(json!({ "format": "json" }))).await;
    old.assert_status(202);
    // 2026-12-01T00:00:00Z and the sunset 2027-06-01, written out here, not computed.
    assert_eq!(old.header("deprecation"), Some("@1796083200"));
    assert_eq!(old.header("sunset"), Some("Tue, 01 Jun 2027 00:00:00 GMT"));
    let link = old.header("link").unwrap();
    assert!(link.contains("</v1/me/exports>; rel=\"successor-version\""), "{link}");
    assert!(link.contains("/migrations/2026-12-01-personal-exports.md>; rel=\"deprecation\""), "{link}");
    // Readable from a browser.
    let exposed = old.header("access-control-expose-headers").unwrap();
    for h in ["Deprecation", "Sunset", "Link", "Api-Version"] {
        assert!(exposed.contains(h), "{exposed}");
    }
    // Its successor does the same, without the headers (one export at a time: 429).
    let new = s.call(&ana, Method::POST, "/v1/me/exports", None).await;
    new.assert_problem(429, "rate.limited");
    assert_eq!(new.header("deprecation"), None);
    let export: Value = s.call(&ana, Method::GET, old.header("location").unwrap(), None).await.body;
    assert_eq!(export["userId"], ana.id.as_str());
}
