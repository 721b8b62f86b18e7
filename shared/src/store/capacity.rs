//! DynamoDB capacity each request consumes, for the `ConsumedCapacity` metric per route: an
//! SDK interceptor asks every call for `ReturnConsumedCapacity: TOTAL` and adds what the
//! answer reports to the running request's tally ([`measured`]). Calls outside a measured
//! request (workers, jobs) are asked too and counted nowhere.

use std::cell::Cell;

use aws_sdk_dynamodb::operation;
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

tokio::task_local! {
    static TALLY: Cell<f64>;
}

/// Runs `work` and returns what it returned with the capacity units its DynamoDB calls
/// consumed (on this task: a `tokio::spawn`ed call is not counted).
pub async fn measured<F: std::future::Future>(work: F) -> (F::Output, f64) {
    TALLY
        .scope(Cell::new(0.0), async move {
            let out = work.await;
            (out, TALLY.with(Cell::get))
        })
        .await
}

fn add(units: f64) {
    let _ = TALLY.try_with(|t| t.set(t.get() + units));
}

fn units(c: &ConsumedCapacity) -> f64 {
    c.capacity_units.unwrap_or(0.0)
}

/// The interceptor: add it to a DynamoDB client's configuration.
#[derive(Debug, Default)]
pub struct ConsumedCapacityInterceptor;

macro_rules! ask {
    ($input:expr, $($module:ident :: $ty:ident),+) => {
        $(
            if let Some(i) = $input.downcast_mut::<operation::$module::$ty>() {
                i.return_consumed_capacity = Some(ReturnConsumedCapacity::Total);
            }
        )+
    };
}

macro_rules! one {
    ($output:expr, $($module:ident :: $ty:ident),+) => {
        $(
            if let Some(o) = $output.downcast_ref::<operation::$module::$ty>() {
                add(o.consumed_capacity.as_ref().map(units).unwrap_or(0.0));
            }
        )+
    };
}

macro_rules! many {
    ($output:expr, $($module:ident :: $ty:ident),+) => {
        $(
            if let Some(o) = $output.downcast_ref::<operation::$module::$ty>() {
                add(o.consumed_capacity.iter().flatten().map(units).sum());
            }
        )+
    };
}

impl Intercept for ConsumedCapacityInterceptor {
    fn name(&self) -> &'static str {
        "ConsumedCapacityInterceptor"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        ask!(
            input,
            get_item::GetItemInput,
            put_item::PutItemInput,
            update_item::UpdateItemInput,
            delete_item::DeleteItemInput,
            query::QueryInput,
            scan::ScanInput,
            batch_get_item::BatchGetItemInput,
            batch_write_item::BatchWriteItemInput,
            transact_get_items::TransactGetItemsInput,
            transact_write_items::TransactWriteItemsInput
        );
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(output) = context.output_or_error() {
            one!(
                output,
                get_item::GetItemOutput,
                put_item::PutItemOutput,
                update_item::UpdateItemOutput,
                delete_item::DeleteItemOutput,
                query::QueryOutput,
                scan::ScanOutput
            );
            many!(
                output,
                batch_get_item::BatchGetItemOutput,
                batch_write_item::BatchWriteItemOutput,
                transact_get_items::TransactGetItemsOutput,
                transact_write_items::TransactWriteItemsOutput
            );
        }
        Ok(())
    }
}
