//! Verifies Cognito ID tokens the way API Gateway's Cognito authorizer does: an RS256
//! signature by a key in the pool's JWKS, the pool's issuer, the app client as audience,
//! `token_use` = `id`, an unexpired `exp`, and, as a standard JWT validator does, no `nbf`
//! or `iat` in the future. Used by the local gateway (and later the WebSocket authorizer);
//! in AWS, API Gateway does this before our code runs.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("token is malformed or uses an unsupported algorithm")]
    Malformed,
    #[error("token is signed by an unknown key")]
    UnknownKey,
    #[error("token is invalid: {0}")]
    Invalid(String),
    #[error("an ID token is required, not an {0} token")]
    WrongTokenUse(String),
    #[error("the JWKS is invalid: {0}")]
    BadJwks(String),
}

/// Clock skew allowed on every time claim, applied as jsonwebtoken applies its `leeway`: a
/// token is expired once `exp < now - LEEWAY`, not yet valid while `nbf > now + LEEWAY`, and
/// issued in the future when `iat > now + LEEWAY`. None: the local gateway and the Cognito
/// emulator read the same clock, and API Gateway documents no grace for expired tokens.
/// (jsonwebtoken's default is 60 s; it checks `nbf` only when asked and never checks `iat`.)
pub const LEEWAY_SECONDS: u64 = 0;

pub struct JwtVerifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier").field("kids", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

impl JwtVerifier {
    /// `issuer` is the pool's issuer URL; `audience` the app client id.
    pub fn new(jwks: &JwkSet, issuer: &str, audience: &str) -> Result<Self, JwtError> {
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            let kid = jwk.common.key_id.clone().ok_or_else(|| JwtError::BadJwks("a key has no kid".into()))?;
            let key = DecodingKey::from_jwk(jwk).map_err(|e| JwtError::BadJwks(e.to_string()))?;
            keys.insert(kid, key);
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        Ok(JwtVerifier { keys, validation })
    }

    pub fn from_jwks_json(jwks: &str, issuer: &str, audience: &str) -> Result<Self, JwtError> {
        let set: JwkSet = serde_json::from_str(jwks).map_err(|e| JwtError::BadJwks(e.to_string()))?;
        JwtVerifier::new(&set, issuer, audience)
    }

    /// The verified claims of an ID token.
    pub fn verify_id_token(&self, token: &str) -> Result<Map<String, Value>, JwtError> {
        // `alg: none` and any non-RS256 header fail here or at the algorithm check below.
        let header = decode_header(token).map_err(|_| JwtError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(JwtError::Malformed);
        }
        let kid = header.kid.ok_or(JwtError::UnknownKey)?;
        let key = self.keys.get(&kid).ok_or(JwtError::UnknownKey)?;
        let data =
            decode::<Map<String, Value>>(token, key, &self.validation).map_err(|e| JwtError::Invalid(e.to_string()))?;
        if let Some(iat) = data.claims.get("iat") {
            let iat = iat.as_f64().ok_or_else(|| JwtError::Invalid("iat is not a number".into()))?;
            if iat > (jsonwebtoken::get_current_timestamp() + LEEWAY_SECONDS) as f64 {
                return Err(JwtError::Invalid("the token is issued in the future (iat)".into()));
            }
        }
        match data.claims.get("token_use").and_then(Value::as_str) {
            Some("id") => Ok(data.claims),
            Some(other) => Err(JwtError::WrongTokenUse(other.to_string())),
            None => Err(JwtError::WrongTokenUse("unknown".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_test";
    const CLIENT: &str = "client-123";
    const KEY_PEM: &[u8] = include_bytes!("../../tests/fixtures/test-signing-key.pem");

    fn signing_key() -> EncodingKey {
        EncodingKey::from_rsa_pem(KEY_PEM).unwrap()
    }

    fn verifier() -> JwtVerifier {
        let mut jwk = Jwk::from_encoding_key(&signing_key(), Algorithm::RS256).unwrap();
        jwk.common.key_id = Some("kid-1".into());
        JwtVerifier::new(&JwkSet { keys: vec![jwk] }, ISSUER, CLIENT).unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn token(claims: Value, kid: &str) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        encode(&header, &claims, &signing_key()).unwrap()
    }

    fn good_claims() -> Value {
        json!({"sub": "u1", "iss": ISSUER, "aud": CLIENT, "token_use": "id", "exp": now() + 600, "iat": now()})
    }

    #[test]
    fn accepts_a_valid_id_token() {
        let claims = verifier().verify_id_token(&token(good_claims(), "kid-1")).unwrap();
        assert_eq!(claims["sub"], "u1");
    }

    #[test]
    fn refuses_expired_foreign_or_access_tokens() {
        let v = verifier();
        let mut c = good_claims();
        c["exp"] = json!(now() - 5);
        assert!(matches!(v.verify_id_token(&token(c, "kid-1")), Err(JwtError::Invalid(_))));
        let mut c = good_claims();
        c["iss"] = json!("https://evil.example/pool");
        assert!(matches!(v.verify_id_token(&token(c, "kid-1")), Err(JwtError::Invalid(_))));
        let mut c = good_claims();
        c["aud"] = json!("other-client");
        assert!(matches!(v.verify_id_token(&token(c, "kid-1")), Err(JwtError::Invalid(_))));
        let mut c = good_claims();
        c["token_use"] = json!("access");
        assert_eq!(v.verify_id_token(&token(c, "kid-1")), Err(JwtError::WrongTokenUse("access".into())));
        assert_eq!(v.verify_id_token(&token(good_claims(), "kid-2")), Err(JwtError::UnknownKey));
    }

    #[test]
    fn refuses_tokens_not_yet_valid_or_issued_in_the_future() {
        let v = verifier();
        let mut c = good_claims();
        c["nbf"] = json!(now() + 120);
        let err = v.verify_id_token(&token(c, "kid-1")).unwrap_err();
        assert!(matches!(&err, JwtError::Invalid(m) if m.contains("ImmatureSignature")), "{err:?}");

        let mut c = good_claims();
        c["iat"] = json!(now() + 120);
        let err = v.verify_id_token(&token(c, "kid-1")).unwrap_err();
        assert!(matches!(&err, JwtError::Invalid(m) if m.contains("iat")), "{err:?}");

        let mut c = good_claims();
        c["iat"] = json!("yesterday");
        assert!(matches!(v.verify_id_token(&token(c, "kid-1")), Err(JwtError::Invalid(_))));

        // Both in the past (or now), as Cognito issues them: fine.
        let mut c = good_claims();
        c["nbf"] = json!(now() - 30);
        c["iat"] = json!(now() - 30);
        assert_eq!(v.verify_id_token(&token(c, "kid-1")).unwrap()["sub"], "u1");
        let mut c = good_claims();
        c["nbf"] = json!(now());
        assert!(v.verify_id_token(&token(c, "kid-1")).is_ok());
    }

    #[test]
    fn refuses_tampered_and_unsigned_tokens() {
        let v = verifier();
        let t = token(good_claims(), "kid-1");
        let parts: Vec<&str> = t.split('.').collect();
        let mut claims = good_claims();
        claims["sub"] = json!("someone-else");
        let forged_payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert!(matches!(v.verify_id_token(&tampered), Err(JwtError::Invalid(_))));

        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"kid-1"}"#);
        let unsigned = format!("{none_header}.{forged_payload}.");
        assert_eq!(v.verify_id_token(&unsigned), Err(JwtError::Malformed));

        let hs_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT","kid":"kid-1"}"#);
        let hs = format!("{hs_header}.{forged_payload}.{}", parts[2]);
        assert_eq!(v.verify_id_token(&hs), Err(JwtError::Malformed));
        assert_eq!(v.verify_id_token("not a token"), Err(JwtError::Malformed));
    }
}
