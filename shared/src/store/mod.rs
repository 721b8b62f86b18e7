//! The DynamoDB single-table store. [`keys`] owns every key format; the modules here map
//! domain types to items, and every write that must agree with another goes in one
//! transaction together with its audit entry.

pub mod api_keys;
pub mod audit;
pub mod capacity;
pub mod erasure;
pub mod exports;
pub mod feeds;
pub mod households;
pub mod idempotency;
pub mod invites;
pub mod keys;
pub mod notifications;
pub mod photos;
pub mod rate;
pub mod reminders;
pub mod tasks;
pub mod users;
pub mod webhooks;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::audit::AuditEntry;
use crate::platform::clock::rfc3339;
use crate::platform::error::{ApiError, ErrorCode};
use crate::platform::pagination::PageKey;

pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttled, timed out or unreachable after the SDK's retries: the caller may retry.
    #[error("DynamoDB is unavailable: {0}")]
    Unavailable(String),
    #[error("a condition failed")]
    ConditionFailed,
    /// A transaction was cancelled; one reason code per item, in order (`None` = fine).
    #[error("transaction cancelled: {0:?}")]
    Cancelled(Vec<Option<String>>),
    /// A page cursor whose key lies outside the range being read (DynamoDB would refuse it
    /// with a ValidationException).
    #[error("the cursor does not belong to this range")]
    CursorOutOfRange,
    #[error("DynamoDB error: {0}")]
    Other(String),
}

impl StoreError {
    /// Index of the first transaction item whose condition failed.
    pub fn failed_condition(&self) -> Option<usize> {
        match self {
            StoreError::Cancelled(reasons) => {
                reasons.iter().position(|r| r.as_deref() == Some("ConditionalCheckFailed"))
            }
            _ => None,
        }
    }

    /// A transaction cancelled by a condition as [`StoreError::ConditionFailed`] (for
    /// callers that need not know which item's); anything else as it is.
    pub(crate) fn any_condition_failed(self) -> StoreError {
        match self.failed_condition() {
            Some(_) => StoreError::ConditionFailed,
            None => self,
        }
    }

    /// Whether a transaction was cancelled because another one wrote the same item at once:
    /// nothing failed, and a retry may succeed.
    pub fn is_conflict(&self) -> bool {
        match self {
            StoreError::Cancelled(reasons) => reasons.iter().any(|r| r.as_deref() == Some("TransactionConflict")),
            _ => false,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "dependency unavailable");
                ApiError::unavailable()
            }
            e if e.is_conflict() => ApiError::new(ErrorCode::ConcurrentUpdate),
            StoreError::ConditionFailed | StoreError::Cancelled(_) => ApiError::new(ErrorCode::ConcurrentUpdate),
            StoreError::CursorOutOfRange => ApiError::new(ErrorCode::InvalidCursor),
            StoreError::Other(detail) => {
                tracing::error!(%detail, "store error");
                ApiError::new(ErrorCode::Internal)
            }
        }
    }
}

const UNAVAILABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
];

pub(crate) fn classify<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(DisplayErrorContext(&err).to_string())
        }
        SdkError::ServiceError(se) => match se.err().code() {
            Some("ConditionalCheckFailedException") => StoreError::ConditionFailed,
            Some(code) if UNAVAILABLE_CODES.contains(&code) => {
                StoreError::Unavailable(DisplayErrorContext(&err).to_string())
            }
            _ => StoreError::Other(DisplayErrorContext(&err).to_string()),
        },
        _ => StoreError::Other(DisplayErrorContext(&err).to_string()),
    }
}

/// The table, and the client that reaches it.
#[derive(Clone, Debug)]
pub struct Store {
    pub client: Client,
    pub table: String,
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// One page of a key-prefix Query: on the table, or on an index when `index` is set.
pub(crate) struct PrefixQuery<'a> {
    pub index: Option<&'a str>,
    pub partition: (&'a str, String),
    pub sort_prefix: (&'a str, &'a str),
    pub limit: i32,
    pub start: Option<PageKey>,
}

impl Store {
    /// Reads one item consistently.
    pub(crate) async fn get(&self, pk: String, sk: impl Into<String>) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item)
    }

    /// Reads one item consistently as a domain value.
    pub(crate) async fn get_as<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: impl Into<String>,
    ) -> Result<Option<T>, StoreError> {
        self.get(pk, sk).await?.map(from_item).transpose()
    }

    /// One page of items whose sort key starts with a prefix, and the key to continue from.
    /// Table queries read consistently; index queries cannot.
    /// One page of the items under `pk` whose sort key starts with `prefix`, newest first,
    /// leaving out those whose TTL has passed (DynamoDB deletes them only eventually).
    pub(crate) async fn newest_live<T: DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
        limit: i32,
        start: Option<PageKey>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(Vec<T>, Option<PageKey>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .filter_expression("#ttl > :now")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .expression_attribute_values(":now", n(now.timestamp()))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start.map(start_key))
            .send()
            .await
            .map_err(classify)?;
        let next = out.last_evaluated_key.as_ref().map(page_key);
        let items = out.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok((items, next))
    }

    /// Puts `item` unless an item with its key exists: `false` then (the same thing again).
    pub(crate) async fn put_new(&self, item: Item) -> Result<bool, StoreError> {
        written(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", keys::PK)
                .send()
                .await
                .map_err(classify),
        )
    }

    pub(crate) async fn query_prefix(&self, q: PrefixQuery<'_>) -> Result<(Vec<Item>, Option<PageKey>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(q.index.map(str::to_string))
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", q.partition.0)
            .expression_attribute_names("#sk", q.sort_prefix.0)
            .expression_attribute_values(":pk", s(q.partition.1))
            .expression_attribute_values(":prefix", s(q.sort_prefix.1))
            .limit(q.limit)
            .consistent_read(q.index.is_none())
            .set_exclusive_start_key(q.start.map(start_key))
            .send()
            .await
            .map_err(classify)?;
        let next = out.last_evaluated_key.as_ref().map(page_key);
        Ok((out.items.unwrap_or_default(), next))
    }
}

/// Whether a conditional write was made: `false` when its condition did not hold (the
/// expected outcome of a lost race or a repeat), an error for anything else.
pub(crate) fn written<T>(result: Result<T, StoreError>) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A domain value as an item under the given keys.
pub(crate) fn to_item<T: Serialize>(pk: String, sk: String, value: &T) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(value).map_err(|e| StoreError::Other(e.to_string()))?;
    item.insert(keys::PK.into(), s(pk));
    item.insert(keys::SK.into(), s(sk));
    Ok(item)
}

pub(crate) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Other(format!("unreadable item: {e}")))
}

pub(crate) fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([(keys::PK.to_string(), s(pk)), (keys::SK.to_string(), s(sk))])
}

/// A page's last key as a cursor key (all key attributes here are strings).
pub(crate) fn page_key(item: &Item) -> PageKey {
    item.iter().filter_map(|(k, v)| v.as_s().ok().map(|s| (k.clone(), s.clone()))).collect()
}

pub(crate) fn start_key(key: PageKey) -> Item {
    key.into_iter().map(|(k, v)| (k, s(v))).collect()
}

/// A sort-key range `[low, high]` for a Query's `BETWEEN`, checked before DynamoDB sees it:
/// a reversed range is empty (DynamoDB refuses it with a ValidationException), and a page
/// cursor must lie inside the range.
pub(crate) struct KeyRange<'a> {
    pub sort_key: &'a str,
    pub low: &'a str,
    pub high: &'a str,
}

impl KeyRange<'_> {
    /// Where a Query over the range starts: `Ok(None)` when the range is empty and no Query
    /// is needed. A cursor past the range's end is not this range's (400); one before its
    /// start is a range whose start moved on since the previous page (`status=upcoming`
    /// starts now): the page continues from the start.
    pub(crate) fn start(&self, start: Option<PageKey>) -> Result<Option<Option<PageKey>>, StoreError> {
        if self.low > self.high {
            return Ok(None);
        }
        match start {
            Some(key) => {
                let at = key.get(self.sort_key).map(String::as_str).unwrap_or_default();
                if at > self.high {
                    Err(StoreError::CursorOutOfRange)
                } else if at < self.low {
                    Ok(Some(None))
                } else {
                    Ok(Some(Some(key)))
                }
            }
            None => Ok(Some(None)),
        }
    }
}

/// The item is still at the version the caller read.
pub(crate) fn version_is(version: u64) -> Expr {
    Expr::new("#version = :expected").name("#version", "version").value(":expected", n(version))
}

/// Builds one `TransactWriteItems` call.
pub(crate) struct Tx {
    table: String,
    items: Vec<TransactWriteItem>,
}

/// A condition or update expression with its `#name` and `:value` placeholders.
#[derive(Clone, Default)]
pub(crate) struct Expr {
    pub text: String,
    pub names: Vec<(&'static str, String)>,
    pub values: Vec<(&'static str, AttributeValue)>,
}

impl Expr {
    pub fn new(text: impl Into<String>) -> Expr {
        Expr { text: text.into(), ..Default::default() }
    }

    pub fn name(mut self, placeholder: &'static str, attribute: impl Into<String>) -> Expr {
        self.names.push((placeholder, attribute.into()));
        self
    }

    pub fn value(mut self, placeholder: &'static str, value: AttributeValue) -> Expr {
        self.values.push((placeholder, value));
        self
    }

    fn names_map(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.iter().map(|(p, a)| (p.to_string(), a.clone())).collect())
    }

    fn values_map(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.iter().map(|(p, v)| (p.to_string(), v.clone())).collect())
    }

    fn merge(update: &Expr, condition: Option<&Expr>) -> Expr {
        let mut all = Expr::new(String::new());
        for e in [Some(update), condition].into_iter().flatten() {
            all.names.extend(e.names.iter().cloned());
            all.values.extend(e.values.iter().cloned());
        }
        all
    }
}

impl Tx {
    pub fn new(store: &Store) -> Tx {
        Tx { table: store.table.clone(), items: Vec::new() }
    }

    /// How many items it holds (the next one's index is this).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn put(&mut self, item: Item, condition: Option<Expr>) -> &mut Tx {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some(c) = condition {
            put = put
                .condition_expression(&c.text)
                .set_expression_attribute_names(c.names_map())
                .set_expression_attribute_values(c.values_map());
        }
        let put = put.build().expect("put has table and item");
        self.items.push(TransactWriteItem::builder().put(put).build());
        self
    }

    /// Puts an item that must not exist yet.
    pub fn put_new(&mut self, item: Item) -> &mut Tx {
        self.put(item, Some(Expr::new("attribute_not_exists(#pk)").name("#pk", keys::PK)))
    }

    pub fn update(&mut self, key: Item, update: Expr, condition: Option<Expr>) -> &mut Tx {
        let all = Expr::merge(&update, condition.as_ref());
        let mut u = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(&update.text)
            .set_expression_attribute_names(all.names_map())
            .set_expression_attribute_values(all.values_map());
        if let Some(c) = condition {
            u = u.condition_expression(c.text);
        }
        let u = u.build().expect("update has table, key and expression");
        self.items.push(TransactWriteItem::builder().update(u).build());
        self
    }

    /// Fails the transaction unless `condition` holds for the item at `key`.
    pub fn check(&mut self, key: Item, condition: Expr) -> &mut Tx {
        let c = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression(&condition.text)
            .set_expression_attribute_names(condition.names_map())
            .set_expression_attribute_values(condition.values_map())
            .build()
            .expect("check has table, key and condition");
        self.items.push(TransactWriteItem::builder().condition_check(c).build());
        self
    }

    pub fn delete(&mut self, key: Item, condition: Option<Expr>) -> &mut Tx {
        let mut d = Delete::builder().table_name(&self.table).set_key(Some(key));
        if let Some(c) = condition {
            d = d
                .condition_expression(&c.text)
                .set_expression_attribute_names(c.names_map())
                .set_expression_attribute_values(c.values_map());
        }
        let d = d.build().expect("delete has table and key");
        self.items.push(TransactWriteItem::builder().delete(d).build());
        self
    }

    /// The audit entry for this change, under the given partition.
    pub fn audit(&mut self, partition: String, entry: &AuditEntry) -> Result<&mut Tx, StoreError> {
        let mut item = to_item(partition, keys::audit(&rfc3339(entry.at), &entry.id), entry)?;
        let expires = entry.at + chrono::Duration::days(crate::domain::audit::AUDIT_RETENTION_DAYS);
        item.insert(keys::TTL.into(), n(expires.timestamp()));
        Ok(self.put_new(item))
    }

    pub async fn commit(self, store: &Store, token: Option<String>) -> Result<(), StoreError> {
        store
            .client
            .transact_write_items()
            .set_transact_items(Some(self.items))
            .set_client_request_token(token)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| match e {
                SdkError::ServiceError(ref se) => match se.err() {
                    TransactWriteItemsError::TransactionCanceledException(c) => {
                        let reasons: Vec<Option<String>> =
                            c.cancellation_reasons().iter().map(|r| r.code().map(str::to_string)).collect();
                        let any = |codes: &[&str]| reasons.iter().flatten().any(|r| codes.contains(&r.as_str()));
                        // Throttling inside a transaction comes as a cancellation, which the
                        // SDK does not retry: a 503 to retry, never a 409 conflict. A
                        // validation failure (an item too large) is our fault: a 500.
                        if any(&["ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"]) {
                            StoreError::Unavailable(format!("transaction throttled: {reasons:?}"))
                        } else if any(&["ValidationError"]) {
                            StoreError::Other(format!("transaction invalid: {reasons:?}"))
                        } else {
                            StoreError::Cancelled(reasons)
                        }
                    }
                    _ => classify(e),
                },
                other => classify(other),
            })
    }
}
