//! Opaque pagination cursors. A cursor is the base64url JSON of the last key a page ended on;
//! decoding checks it belongs to the list being read, so a forged or foreign cursor is a
//! 400 and can never steer a query into another partition.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use std::collections::BTreeMap;

use super::error::{ApiError, ErrorCode};

pub const DEFAULT_LIMIT: i32 = 25;
pub const MAX_LIMIT: i32 = 100;

/// The key attributes of the item a page ended on (all string-typed in this table).
pub type PageKey = BTreeMap<String, String>;

/// A page of items with the cursor for the next page, if any.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page whose next cursor encodes `next`, the key the query stopped at.
    pub fn new(items: Vec<T>, next: Option<PageKey>) -> Page<T> {
        Page { items, next_cursor: next.as_ref().map(encode) }
    }
}

pub fn encode(key: &PageKey) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).expect("a string map serializes"))
}

/// What a cursor must look like for one list: which key attributes it has, and which of
/// them must equal the query's partition value or start with the query's sort-key prefix.
#[derive(Debug)]
pub struct CursorRule<'a> {
    pub attributes: &'a [&'a str],
    pub equal: &'a [(&'a str, &'a str)],
    pub prefixed: &'a [(&'a str, &'a str)],
}

pub fn decode(cursor: &str, rule: &CursorRule<'_>) -> Result<PageKey, ApiError> {
    let invalid = || ApiError::new(ErrorCode::InvalidCursor);
    if cursor.len() > 1024 {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let key: PageKey = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let mut names: Vec<&str> = key.keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = rule.attributes.to_vec();
    names.sort_unstable();
    expected.sort_unstable();
    if names != expected {
        return Err(invalid());
    }
    for (attr, value) in rule.equal {
        if key.get(*attr).map(String::as_str) != Some(*value) {
            return Err(invalid());
        }
    }
    for (attr, prefix) in rule.prefixed {
        if !key.get(*attr).is_some_and(|v| v.starts_with(prefix)) {
            return Err(invalid());
        }
    }
    Ok(key)
}

/// `limit` from the query string: 1..=100, default 25; anything else is a 400.
pub fn limit(raw: Option<&str>) -> Result<i32, ApiError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => match v.parse::<i32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid_parameter("limit")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: CursorRule<'static> =
        CursorRule { attributes: &["PK", "SK"], equal: &[("PK", "HOUSEHOLD#A")], prefixed: &[("SK", "MEMBER#")] };

    fn key(pk: &str, sk: &str) -> PageKey {
        [("PK".to_string(), pk.to_string()), ("SK".to_string(), sk.to_string())].into()
    }

    #[test]
    fn round_trips_a_key_of_this_list() {
        let k = key("HOUSEHOLD#A", "MEMBER#u1");
        assert_eq!(decode(&encode(&k), &RULE).unwrap(), k);
    }

    #[test]
    fn refuses_forged_or_foreign_cursors() {
        for bad in [
            "".to_string(),
            "!!!".to_string(),
            URL_SAFE_NO_PAD.encode(b"not json"),
            URL_SAFE_NO_PAD.encode(b"{\"PK\": 1, \"SK\": 2}"),
            encode(&key("HOUSEHOLD#B", "MEMBER#u1")),
            encode(&key("HOUSEHOLD#A", "TASK#t1")),
            encode(&[("PK".to_string(), "HOUSEHOLD#A".to_string())].into()),
            "a".repeat(2000),
        ] {
            let err = decode(&bad, &RULE).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidCursor, "{bad}");
            assert_eq!(err.status(), 400);
        }
    }

    #[test]
    fn limit_is_bounded() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(Some("10")).unwrap(), 10);
        for bad in ["0", "101", "-1", "ten"] {
            assert!(limit(Some(bad)).is_err());
        }
    }
}
