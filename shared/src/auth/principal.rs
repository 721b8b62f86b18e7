//! The caller, read from the API Gateway request context. API Gateway's Cognito authorizer
//! (and the local gateway, which imitates it) puts the verified ID-token claims under
//! `requestContext.authorizer.claims`; on the integration API, the API-key authorizer puts
//! the key's grant in `requestContext.authorizer` itself. Nothing in the request body or
//! headers is trusted.

use lambda_http::{Request, RequestExt};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The Cognito `sub`: stable, opaque, and our user id.
    pub user_id: String,
    pub email: Option<String>,
    /// A name to start the profile with: `name`, else `cognito:username` unless that is
    /// just the `sub` again (pools that sign in by email use the sub as user name).
    pub name_hint: Option<String>,
    /// When the token was issued (`iat`): tokens from before the user's cut-off ("sign out
    /// everywhere", erasure) are refused.
    pub issued_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The Cognito user name (`cognito:username`): what Cognito's admin calls take. In a pool
    /// that signs in by email it is the `sub` again.
    pub username: Option<String>,
    /// Set when the caller is a household API key (acting for `user_id`, its creator).
    pub key: Option<KeyGrant>,
}

/// What the API-key authorizer established: which key, for which household, with which
/// scopes. The handlers check the household and re-read the key with the membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub key_id: String,
    pub household_id: String,
    pub scopes: Vec<crate::domain::api_key::Scope>,
}

/// The authorizer context's fields for a key (strings only, as API Gateway passes them).
pub mod key_context {
    pub const KEY_ID: &str = "keyId";
    pub const HOUSEHOLD_ID: &str = "householdId";
    pub const SCOPES: &str = "scopes";
    pub const USER_ID: &str = "userId";
}

impl Principal {
    pub fn from_request(request: &Request) -> Option<Principal> {
        let ctx = request.request_context_ref()?;
        let fields = &ctx.authorizer()?.fields;
        match fields.get("claims") {
            Some(claims) => Principal::from_claims(claims),
            None => Principal::from_key_context(&serde_json::to_value(fields).ok()?),
        }
    }

    /// A key's caller: the authorizer's context, all of it present.
    pub fn from_key_context(context: &Value) -> Option<Principal> {
        let text = |k: &str| context.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        let grant = KeyGrant {
            key_id: text(key_context::KEY_ID)?,
            household_id: text(key_context::HOUSEHOLD_ID)?,
            scopes: crate::domain::api_key::Scope::split(&text(key_context::SCOPES)?),
        };
        Some(Principal {
            user_id: text(key_context::USER_ID)?,
            email: None,
            name_hint: None,
            issued_at: None,
            username: None,
            key: Some(grant),
        })
    }

    pub fn from_claims(claims: &Value) -> Option<Principal> {
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
        let user_id = text("sub").filter(|s| !s.is_empty())?;
        let name_hint =
            text("name").or_else(|| text("cognito:username").filter(|u| *u != user_id && !looks_like_uuid(u)));
        let issued_at = text("iat").as_deref().and_then(claim_time);
        Some(Principal {
            user_id,
            email: text("email"),
            name_hint,
            issued_at,
            username: text("cognito:username"),
            key: None,
        })
    }
}

/// A time claim as API Gateway's Cognito authorizer passes it: epoch seconds as a string
/// (the local gateway, `auth_time`) or a date like `Fri Feb 21 15:34:05 UTC 2020` (what
/// API Gateway makes of `iat` and `exp`).
fn claim_time(value: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(secs) = value.trim().parse::<i64>() {
        return chrono::DateTime::from_timestamp(secs, 0);
    }
    chrono::NaiveDateTime::parse_from_str(value.trim(), "%a %b %d %H:%M:%S UTC %Y").ok().map(|t| t.and_utc())
}

fn looks_like_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().filter(|b| *b == b'-').count() == 4
        && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_claims_with_and_without_email() {
        let p = Principal::from_claims(&json!({"sub": "u1", "email": "a@b.c", "cognito:username": "ana"})).unwrap();
        assert_eq!(p.user_id, "u1");
        assert_eq!(p.email.as_deref(), Some("a@b.c"));
        assert_eq!(p.name_hint.as_deref(), Some("ana"));
        let p = Principal::from_claims(&json!({"sub": "u2"})).unwrap();
        assert_eq!(p.email, None);
        let sub = "25e97977-8d72-48e2-951f-58d05e84f058";
        let p = Principal::from_claims(&json!({"sub": sub, "cognito:username": sub})).unwrap();
        assert_eq!(p.name_hint, None);
        assert!(Principal::from_claims(&json!({"email": "x"})).is_none());
    }

    #[test]
    fn reads_the_issue_time_in_both_forms_the_authorizer_passes() {
        let p = Principal::from_claims(&json!({"sub": "u1", "iat": "1582299245"})).unwrap();
        assert_eq!(p.issued_at.map(|t| t.timestamp()), Some(1_582_299_245));
        // 2020-02-21T15:34:05Z, as API Gateway's REST Cognito authorizer renders it.
        let p = Principal::from_claims(&json!({"sub": "u1", "iat": "Fri Feb 21 15:34:05 UTC 2020"})).unwrap();
        assert_eq!(p.issued_at.map(|t| t.timestamp()), Some(1_582_299_245));
        let p = Principal::from_claims(&json!({"sub": "u1", "iat": "yesterday"})).unwrap();
        assert_eq!(p.issued_at, None);
    }

    #[test]
    fn reads_the_principal_from_an_api_gateway_event() {
        let event = include_str!("../../../events/GetMeFunction.json");
        let request = lambda_http::request::from_str(event).unwrap();
        let p = Principal::from_request(&request).expect("claims in the event");
        assert!(!p.user_id.is_empty());
    }
}
