//! Issue 9: "sign out everywhere" refuses every ID token issued before it, on every route at
//! once (Cognito's own global sign-out revokes only refresh tokens). The routes come from the
//! route tables, not from a list kept here.

use std::time::Duration as StdDuration;

use reqwest::Method;
use serde_json::json;

use crate::support::stack;

#[tokio::test]
async fn signing_out_everywhere_refuses_an_unexpired_token_on_every_route() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let h = s.household(&ana, "Sessions").await;
    // The token works until the sign-out, which it makes itself.
    s.call(&ana, Method::GET, &format!("/v1/households/{h}"), None).await.assert_status(200);
    s.call(&ana, Method::POST, "/v1/me/sign-out-everywhere", None).await.assert_status(204);

    // Every authenticated route now refuses it (the household's are checked with the
    // membership read, the others with the caller's profile), before any other check.
    let some_id = ulid::Ulid::new().to_string();
    let mut refused = 0;
    for route in local::routes::routes().iter().filter(|r| r.authenticated) {
        let path = route
            .path
            .replace("{householdId}", &h)
            .replace("{userId}", &ana.id)
            .replace("{code}", "ABCDEFGHJK")
            .replace("{subtaskId}", "1");
        let path = regex_free_fill(&path, &some_id);
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        let r = s.call_with(&ana, method, &path, body, &[("if-match", "\"1\"")]).await;
        assert_eq!(
            (r.status.as_u16(), r.body["code"].as_str()),
            (401, Some("auth.token_revoked")),
            "{} {}: {:#}",
            route.method,
            route.path,
            r.body
        );
        refused += 1;
    }
    assert!(refused > 40, "every authenticated route was tried ({refused})");

    // Signing in again (a second later: `iat` has whole seconds) gives a token that works.
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    let (token, _) =
        local::seed::sign_in(&s.stack.provisioned, &ana.email, "Test-Password-123").await.expect("signs in again");
    let again = crate::support::User { token, ..ana.clone() };
    s.call(&again, Method::GET, &format!("/v1/households/{h}"), None).await.assert_status(200);
    let me = s.call(&again, Method::GET, "/v1/me", None).await;
    me.assert_status(200);
    assert!(me.body["tokensValidAfter"].is_string(), "{:#}", me.body);
}

/// Any `{name}` left in a path gets an id of the right shape.
fn regex_free_fill(path: &str, id: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map(|c| open + c).unwrap_or(rest.len() - 1);
        out.push_str(id);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}
