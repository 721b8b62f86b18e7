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

/// TOTP MFA against the local Cognito: the flow a frontend runs (associate an authenticator
/// app, verify a code, prefer it; then sign-in answers with the `SOFTWARE_TOKEN_MFA`
/// challenge and no tokens until it is answered). The emulator does not check the codes
/// themselves (any six digits pass; AWS checks them against the app's secret), so this shows
/// the flow and that the pool asks for the challenge, not that a wrong code is refused. Then
/// the refresh token: it gives new ID tokens until "sign out everywhere" ends it.
#[tokio::test]
async fn totp_sign_in_takes_the_challenge_and_refresh_tokens_last_until_signing_out_everywhere() {
    use aws_sdk_cognitoidentityprovider::types::{
        AuthFlowType, ChallengeNameType, SoftwareTokenMfaSettingsType, VerifySoftwareTokenResponseType,
    };
    let s = stack().await;
    let ana = s.user("ana").await;
    let p = &s.stack.provisioned;
    let cognito = p.endpoints.cognito_client().await;
    let password = "Test-Password-123";

    let app = cognito.associate_software_token().access_token(&ana.access_token).send().await.unwrap();
    assert!(app.secret_code().is_some_and(|c| !c.is_empty()), "the secret for the authenticator app");
    let verified =
        cognito.verify_software_token().access_token(&ana.access_token).user_code("123456").send().await.unwrap();
    assert_eq!(verified.status(), Some(&VerifySoftwareTokenResponseType::Success));
    let totp = SoftwareTokenMfaSettingsType::builder().enabled(true).preferred_mfa(true).build();
    cognito
        .set_user_mfa_preference()
        .access_token(&ana.access_token)
        .software_token_mfa_settings(totp)
        .send()
        .await
        .unwrap();

    // Signed in by the user name (the sub) rather than the email: the emulator ends only the
    // refresh tokens issued under the name the global sign-out names (AWS ends all of them).
    let first = cognito
        .initiate_auth()
        .client_id(&p.client_id)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", &ana.id)
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .unwrap();
    assert_eq!(first.challenge_name(), Some(&ChallengeNameType::SoftwareTokenMfa));
    assert!(first.authentication_result().is_none(), "no tokens before the code");
    let answered = cognito
        .respond_to_auth_challenge()
        .client_id(&p.client_id)
        .challenge_name(ChallengeNameType::SoftwareTokenMfa)
        .session(first.session().unwrap())
        .challenge_responses("USERNAME", &ana.id)
        .challenge_responses("SOFTWARE_TOKEN_MFA_CODE", "123456")
        .send()
        .await
        .unwrap();
    let tokens = answered.authentication_result().unwrap();
    let signed_in = crate::support::User { token: tokens.id_token().unwrap().to_string(), ..ana.clone() };
    s.call(&signed_in, Method::GET, "/v1/me", None).await.assert_status(200);

    let refresh_token = tokens.refresh_token().unwrap().to_string();
    let refresh = || {
        cognito
            .initiate_auth()
            .client_id(&p.client_id)
            .auth_flow(AuthFlowType::RefreshTokenAuth)
            .auth_parameters("REFRESH_TOKEN", &refresh_token)
            .send()
    };
    let refreshed = refresh().await.unwrap();
    let id = refreshed.authentication_result().and_then(|r| r.id_token()).unwrap().to_string();
    let refreshed_user = crate::support::User { token: id, ..ana.clone() };
    s.call(&refreshed_user, Method::GET, "/v1/me", None).await.assert_status(200);

    // Issued in an earlier second than the sign-out (iat has whole seconds).
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    s.call(&refreshed_user, Method::POST, "/v1/me/sign-out-everywhere", None).await.assert_status(204);
    assert!(refresh().await.is_err(), "the refresh token is revoked");
    s.call(&refreshed_user, Method::GET, "/v1/me", None).await.assert_problem(401, "auth.token_revoked");
}
