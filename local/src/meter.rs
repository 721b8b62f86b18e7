//! Counts DynamoDB calls and their consumed capacity, for the benchmarks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::ConsumedCapacity;
use aws_smithy_types::body::SdkBody;
use serde_json::{Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Counts DynamoDB calls, and asks for and adds up their consumed capacity (read and write
/// units, as DynamoDB reports them).
#[derive(Debug, Default)]
pub struct Meter {
    pub calls: AtomicU64,
    pub capacity: Mutex<f64>,
}

/// Installed on a DynamoDB client's config: every call counts into the [`Meter`].
#[derive(Debug, Clone)]
pub struct MeterInterceptor(pub Arc<Meter>);

impl Intercept for MeterInterceptor {
    fn name(&self) -> &'static str {
        "Meter"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.calls.fetch_add(1, Ordering::Relaxed);
        let request = context.request_mut();
        if let Some(bytes) = request.body().bytes()
            && let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(bytes)
            && !body.contains_key("ReturnConsumedCapacity")
        {
            body.insert("ReturnConsumedCapacity".into(), json!("TOTAL"));
            let new = serde_json::to_vec(&body)?;
            request.headers_mut().insert("content-length", new.len().to_string());
            *request.body_mut() = SdkBody::from(new);
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation as op;
        let Ok(output) = context.output_or_error() else { return Ok(()) };
        let one = |c: Option<&ConsumedCapacity>| c.and_then(|c| c.capacity_units()).unwrap_or(0.0);
        let many = |c: &[ConsumedCapacity]| c.iter().filter_map(|c| c.capacity_units()).sum::<f64>();
        let units = if let Some(o) = output.downcast_ref::<op::get_item::GetItemOutput>() {
            one(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<op::query::QueryOutput>() {
            one(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<op::put_item::PutItemOutput>() {
            one(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<op::update_item::UpdateItemOutput>() {
            one(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<op::transact_get_items::TransactGetItemsOutput>() {
            many(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<op::transact_write_items::TransactWriteItemsOutput>() {
            many(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<op::batch_get_item::BatchGetItemOutput>() {
            many(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<op::delete_item::DeleteItemOutput>() {
            one(o.consumed_capacity())
        } else if let Some(o) = output.downcast_ref::<op::batch_write_item::BatchWriteItemOutput>() {
            many(o.consumed_capacity())
        } else {
            0.0
        };
        *self.0.capacity.lock().unwrap() += units;
        Ok(())
    }
}

impl Meter {
    /// Calls and capacity units since the last reset, and a reset.
    pub fn take(&self) -> (u64, f64) {
        let calls = self.calls.swap(0, Ordering::Relaxed);
        let capacity = std::mem::take(&mut *self.capacity.lock().unwrap());
        (calls, capacity)
    }
}
