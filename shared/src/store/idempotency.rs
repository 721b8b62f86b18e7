//! `Idempotency-Key`: a retried POST returns the first response and writes nothing.
//!
//! The record is written in the same transaction as the change it answers for, as the
//! first item, so two concurrent requests with one key cannot both write: the loser's
//! transaction fails on the record and it replays the winner's response. Records expire
//! after a day (TTL; reads check the time too).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Expr, Item, Store, StoreError, Tx, keys, n, to_item};
use crate::platform::error::{ApiError, ErrorCode};
use crate::platform::http::{ApiRequest, ApiResponse};

pub const HEADER: &str = "idempotency-key";
const LIFETIME_HOURS: i64 = 24;

/// A key, and the response it answers with, for a write that carries an Idempotency-Key.
pub struct Idempotent<'a> {
    pub key: &'a IdempotencyKey,
    pub response: &'a ApiResponse,
}

impl Tx {
    /// Starts a transaction with the idempotency record, if the request has a key: as the
    /// first item, a failure at index 0 means another request took the key.
    pub(crate) fn idempotent(&mut self, i: Option<&Idempotent<'_>>, now: DateTime<Utc>) -> Result<usize, StoreError> {
        match i {
            Some(i) => {
                i.key.put_into(self, i.response, now)?;
                Ok(1)
            }
            None => Ok(0),
        }
    }
}

/// The key of one request, with a hash of what was asked.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    user_id: String,
    key: String,
    request_hash: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    request_hash: String,
    status: u16,
    headers: Vec<(String, String)>,
    content_type: Option<String>,
    body: Option<String>,
    expires_at: DateTime<Utc>,
}

impl IdempotencyKey {
    /// The request's key, if it sent one: 1–128 printable ASCII characters.
    pub fn from_request(req: &ApiRequest) -> Result<Option<IdempotencyKey>, ApiError> {
        let Some(key) = req.header(HEADER) else { return Ok(None) };
        if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::invalid_parameter("Idempotency-Key"));
        }
        let principal = req.principal()?;
        let mut hasher = Sha256::new();
        hasher.update(req.method.as_str().as_bytes());
        hasher.update(b" ");
        hasher.update(req.path.as_bytes());
        hasher.update(b"\n");
        hasher.update(&req.body);
        Ok(Some(IdempotencyKey {
            user_id: principal.user_id.clone(),
            key: key.to_string(),
            request_hash: URL_SAFE_NO_PAD.encode(hasher.finalize()),
        }))
    }

    /// Adds the record to a transaction; it must be the transaction's first item, so that
    /// a failure at index 0 means "this key is taken".
    pub(crate) fn put_into(&self, tx: &mut Tx, response: &ApiResponse, now: DateTime<Utc>) -> Result<(), StoreError> {
        let item = self.record(response, now)?;
        tx.put(
            item,
            Some(
                Expr::new("attribute_not_exists(#pk) OR #ttl < :now")
                    .name("#pk", keys::PK)
                    .name("#ttl", keys::TTL)
                    .value(":now", n(now.timestamp())),
            ),
        );
        Ok(())
    }

    fn record(&self, response: &ApiResponse, now: DateTime<Utc>) -> Result<Item, StoreError> {
        let expires_at = now + Duration::hours(LIFETIME_HOURS);
        let (content_type, body) = match &response.body {
            Some((ct, bytes)) => (Some(ct.clone()), Some(String::from_utf8_lossy(bytes).into_owned())),
            None => (None, None),
        };
        let record = Record {
            request_hash: self.request_hash.clone(),
            status: response.status.as_u16(),
            headers: response.headers.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            content_type,
            body,
            expires_at,
        };
        let mut item = to_item(keys::user(&self.user_id), keys::idempotency(&self.key), &record)?;
        item.insert(keys::TTL.into(), n(expires_at.timestamp()));
        Ok(item)
    }
}

impl Store {
    /// Finishes a write that carried an optional key: when the key was taken meanwhile by a
    /// concurrent request, its response; otherwise what `result` says.
    pub async fn settle(
        &self,
        result: Result<(), StoreError>,
        key: Option<&IdempotencyKey>,
        response: ApiResponse,
        now: DateTime<Utc>,
    ) -> Result<ApiResponse, ApiError> {
        match result {
            Ok(()) => Ok(response),
            Err(e) if key.is_some() && e.failed_condition() == Some(0) => {
                self.replay(key.expect("checked"), now).await?.ok_or_else(|| ApiError::new(ErrorCode::ConcurrentUpdate))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The first response for the request's key, if it has one that was used before.
    pub async fn replay_key(
        &self,
        key: Option<&IdempotencyKey>,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiResponse>, ApiError> {
        match key {
            Some(k) => self.replay(k, now).await,
            None => Ok(None),
        }
    }

    /// The first response for this key, if there was one; a 422 if the key was used for
    /// a different request.
    pub async fn replay(&self, key: &IdempotencyKey, now: DateTime<Utc>) -> Result<Option<ApiResponse>, ApiError> {
        let Some(record) = self.get_as::<Record>(keys::user(&key.user_id), keys::idempotency(&key.key)).await? else {
            return Ok(None);
        };
        if record.expires_at <= now {
            return Ok(None);
        }
        if record.request_hash != key.request_hash {
            return Err(ApiError::new(ErrorCode::IdempotencyKeyReused));
        }
        let mut response = ApiResponse {
            status: StatusCode::from_u16(record.status).unwrap_or(StatusCode::OK),
            headers: Vec::new(),
            body: record.content_type.zip(record.body.map(String::into_bytes)),
        };
        for (name, value) in record.headers {
            let name: &'static str = match name.as_str() {
                "location" => "location",
                "etag" => "etag",
                _ => continue,
            };
            response = response.header(name, value);
        }
        Ok(Some(response.header("idempotent-replayed", "true".into())))
    }
}
