//! The local gateway refuses what API Gateway's Cognito authorizer refuses.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::Method;
use serde_json::{Value, json};
use shared::auth::jwt::JwtVerifier;

use crate::support::{User, builder, stack};

const TEST_KEY: &[u8] = include_bytes!("../../../shared/tests/fixtures/test-signing-key.pem");

fn as_user(token: &str) -> User {
    User { email: String::new(), token: token.to_string(), access_token: String::new(), id: String::new() }
}

#[tokio::test]
async fn real_cognito_tokens_are_checked_like_the_cognito_authorizer() {
    let s = stack().await;
    let ana = s.user("ana").await;
    s.call(&ana, Method::GET, "/v1/me", None).await.assert_status(200);
    // "Bearer " is accepted too.
    let bearer = as_user(&format!("Bearer {}", ana.token));
    s.call(&bearer, Method::GET, "/v1/me", None).await.assert_status(200);

    // Tampered: another user's sub in a payload the signature does not cover.
    let parts: Vec<&str> = ana.token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("someone-else");
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
    // `alg: none` with the same claims and no signature.
    let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);

    for token in [tampered.as_str(), none.as_str(), ana.access_token.as_str(), "", "garbage"] {
        s.call(&as_user(token), Method::GET, "/v1/me", None).await.assert_problem(401, "auth.unauthenticated");
    }
    let anonymous = s.send(s.http.get(s.url("/v1/households"))).await;
    anonymous.assert_problem(401, "auth.unauthenticated");
}

#[tokio::test]
async fn tokens_for_another_app_client_are_refused() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let p = &s.stack.provisioned;
    let cognito = p.endpoints.cognito_client().await;
    let other = cognito
        .create_user_pool_client()
        .user_pool_id(&p.user_pool_id)
        .client_name(crate::support::unique("other"))
        .explicit_auth_flows(aws_sdk_cognitoidentityprovider::types::ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .send()
        .await
        .unwrap();
    let other_id = other.user_pool_client().unwrap().client_id().unwrap().to_string();
    let out = cognito
        .initiate_auth()
        .client_id(other_id)
        .auth_flow(aws_sdk_cognitoidentityprovider::types::AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", &ana.email)
        .auth_parameters("PASSWORD", "Test-Password-123")
        .send()
        .await
        .unwrap();
    let token = out.authentication_result().unwrap().id_token().unwrap();
    s.call(&as_user(token), Method::GET, "/v1/me", None).await.assert_problem(401, "auth.unauthenticated");
}

/// Expiry and issuer need tokens we sign ourselves: the gateway here trusts a test key.
#[tokio::test]
async fn expired_and_foreign_issuer_tokens_are_refused() {
    let p = crate::support::provisioned().await;
    let key = EncodingKey::from_rsa_pem(TEST_KEY).unwrap();
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some("test-kid".into());
    let verifier = JwtVerifier::new(&JwkSet { keys: vec![jwk] }, &p.issuer(), &p.client_id).unwrap();
    let s = builder().verifier(verifier).start().await;

    let now = chrono::Utc::now().timestamp();
    let sign = |claims: Value, kid: &str| {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        encode(&header, &claims, &key).unwrap()
    };
    let sub = uuid_like();
    let good =
        json!({ "sub": sub, "iss": p.issuer(), "aud": p.client_id, "token_use": "id", "iat": now, "exp": now + 300 });
    s.call(&as_user(&sign(good.clone(), "test-kid")), Method::GET, "/v1/me", None).await.assert_status(200);

    let mut expired = good.clone();
    expired["exp"] = json!(now - 1);
    let mut foreign = good.clone();
    foreign["iss"] = json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_someoneelse");
    let mut other_client = good.clone();
    other_client["aud"] = json!("another-client");
    let mut access = good.clone();
    access["token_use"] = json!("access");
    for token in [
        sign(expired, "test-kid"),
        sign(foreign, "test-kid"),
        sign(other_client, "test-kid"),
        sign(access, "test-kid"),
        sign(good, "unknown-kid"),
    ] {
        s.call(&as_user(&token), Method::GET, "/v1/me", None).await.assert_problem(401, "auth.unauthenticated");
    }
}

fn uuid_like() -> String {
    let u = ulid::Ulid::new().0;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (u >> 96) as u32,
        (u >> 80) as u16,
        (u >> 68) as u16 & 0xfff,
        (u >> 56) as u16 & 0xfff,
        u as u64 & 0xffff_ffff_ffff
    )
}
