//! The Lambda entry point. One binary serves every function: `CHORE_FUNCTION` (set per
//! function in template.yaml) names its route or worker, and these build the clients once
//! and run that handler for every event.

use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;

use crate::App;
use crate::platform::http::{ApiRequest, ApiResult};
use crate::platform::telemetry;

pub use lambda_runtime::Error;

/// A route handler behind a type-erased pointer, so route tables can list them.
pub type Handler = fn(App, ApiRequest) -> futures::future::BoxFuture<'static, ApiResult>;

/// Wraps an `async fn(App, ApiRequest) -> ApiResult` as a [`Handler`].
#[macro_export]
macro_rules! handler {
    ($f:path) => {
        (|app, req| Box::pin($f(app, req))) as $crate::lambda::Handler
    };
}

/// One row of a service's route table: the single source for the local gateway, the
/// binaries, and the test that checks template.yaml and openapi.yaml agree.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub method: &'static str,
    /// API Gateway resource path, e.g. `/v1/households/{householdId}`.
    pub path: &'static str,
    /// The function's logical id in template.yaml.
    pub function: &'static str,
    /// Whether the route sits behind the Cognito authorizer.
    pub authenticated: bool,
    pub handler: Handler,
    /// Set when the route is on its way out: its responses then say so (and openapi.yaml).
    pub deprecated: Option<crate::platform::version::Deprecation>,
    /// Set when the route is also served on the integration API, to household API keys
    /// that have this scope (template.yaml gives its function an `Integration` event).
    pub scope: Option<crate::domain::api_key::Scope>,
}

/// An SQS-triggered worker: the same idea for queues.
#[derive(Clone, Copy, Debug)]
pub struct Worker {
    pub function: &'static str,
    /// The queue's logical id in template.yaml.
    pub queue: &'static str,
    pub handler: fn(App, SqsEvent) -> futures::future::BoxFuture<'static, SqsBatchResponse>,
}

/// A batch of DynamoDB stream records, and the answer naming the first one that failed.
pub type StreamEvent = aws_lambda_events::event::dynamodb::Event;
pub type StreamResponse = aws_lambda_events::event::streams::DynamoDbEventResponse;

/// A function fed by the table's stream (an event of `Type: DynamoDB` in template.yaml),
/// with `ReportBatchItemFailures`: Lambda retries from the first failed record.
#[derive(Clone, Copy, Debug)]
pub struct StreamWorker {
    pub function: &'static str,
    pub handler: fn(App, StreamEvent) -> futures::future::BoxFuture<'static, StreamResponse>,
}

/// An EventBridge scheduled event (`detail-type: Scheduled Event`).
pub type ScheduledEvent = aws_lambda_events::event::eventbridge::EventBridgeEvent<serde_json::Value>;

/// A function on an EventBridge schedule (an event of `Type: Schedule` in template.yaml).
/// An error makes Lambda retry the asynchronous invocation.
#[derive(Clone, Copy, Debug)]
pub struct Job {
    pub function: &'static str,
    pub handler: fn(App, ScheduledEvent) -> futures::future::BoxFuture<'static, Result<(), Error>>,
}

/// Handles each message of a batch at once with `handle`, and reports the ones that failed
/// (logged with `what`), so SQS redelivers only those (`ReportBatchItemFailures`).
pub async fn each_message<'a, F, Fut>(event: &'a SqsEvent, what: &str, handle: F) -> SqsBatchResponse
where
    F: Fn(&'a aws_lambda_events::event::sqs::SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let now = chrono::Utc::now().timestamp_millis();
    let oldest_wait = event
        .records
        .iter()
        .filter_map(|m| m.attributes.get("SentTimestamp")?.parse::<i64>().ok())
        .min()
        .map(|sent| now - sent);
    let results = futures::future::join_all(event.records.iter().map(handle)).await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    let function = std::env::var(FUNCTION_ENV).unwrap_or_else(|_| what.to_string());
    crate::platform::metrics::batch(&function, results.len() - failed, failed, oldest_wait);
    let mut response = SqsBatchResponse::default();
    for (message, result) in event.records.iter().zip(results) {
        if let Err(reason) = result {
            tracing::error!(message_id = ?message.message_id, %reason, "{what} failed; SQS will retry");
            let mut failure = aws_lambda_events::event::sqs::BatchItemFailure::default();
            failure.item_identifier = message.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

pub fn find_route(routes: &[Route], function: &str) -> Route {
    *routes.iter().find(|r| r.function == function).unwrap_or_else(|| panic!("no route for function {function}"))
}

/// The environment variable that names the function a process runs (its logical id).
pub const FUNCTION_ENV: &str = "CHORE_FUNCTION";

/// A Lambda REQUEST authorizer's event (API Gateway REST).
pub type AuthorizerEvent = aws_lambda_events::event::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;

/// A Lambda REQUEST authorizer (the integration API's, for household API keys). It answers
/// API Gateway's authorizer response (`principalId`, `policyDocument`, `context`,
/// `usageIdentifierKey`), or the error "Unauthorized" for a 401.
#[derive(Clone, Copy, Debug)]
pub struct Authorizer {
    pub function: &'static str,
    pub handler: fn(App, AuthorizerEvent) -> futures::future::BoxFuture<'static, Result<serde_json::Value, Error>>,
}

/// Every kind of function the binary runs, by table.
#[derive(Clone, Copy, Debug)]
pub struct Functions<'a> {
    pub routes: &'a [Route],
    pub workers: &'a [Worker],
    pub jobs: &'a [Job],
    pub streams: &'a [StreamWorker],
    pub authorizers: &'a [Authorizer],
}

/// Runs the route, worker, job or stream consumer named by `CHORE_FUNCTION`.
pub async fn serve_function(f: Functions<'_>) -> Result<(), Error> {
    let (routes, workers, jobs) = (f.routes, f.workers, f.jobs);
    let function = std::env::var(FUNCTION_ENV).map_err(|_| format!("{FUNCTION_ENV} is not set"))?;
    if routes.iter().any(|r| r.function == function) {
        serve_route(routes, &function).await
    } else if let Some(worker) = workers.iter().find(|w| w.function == function) {
        serve_worker(worker.handler).await
    } else if let Some(job) = jobs.iter().find(|j| j.function == function) {
        serve_job(job.handler).await
    } else if let Some(stream) = f.streams.iter().find(|s| s.function == function) {
        serve_stream(stream.handler).await
    } else if let Some(authorizer) = f.authorizers.iter().find(|a| a.function == function) {
        serve_authorizer(authorizer.handler).await
    } else {
        Err(format!("{FUNCTION_ENV}={function} names no route, worker, job or stream consumer").into())
    }
}

/// Runs a stream consumer as a Lambda function.
pub async fn serve_stream(
    handler: fn(App, StreamEvent) -> futures::future::BoxFuture<'static, StreamResponse>,
) -> Result<(), Error> {
    telemetry::init();
    let app = App::from_env().await?;
    Box::pin(lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<StreamEvent>| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(handler(app, event.payload).await) }
    })))
    .await
}

/// Runs an authorizer as a Lambda function.
pub async fn serve_authorizer(
    handler: fn(App, AuthorizerEvent) -> futures::future::BoxFuture<'static, Result<serde_json::Value, Error>>,
) -> Result<(), Error> {
    telemetry::init();
    let app = App::from_env().await?;
    Box::pin(lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<AuthorizerEvent>| {
        handler(app.clone(), event.payload)
    })))
    .await
}

/// Runs a scheduled job as a Lambda function.
pub async fn serve_job(
    handler: fn(App, ScheduledEvent) -> futures::future::BoxFuture<'static, Result<(), Error>>,
) -> Result<(), Error> {
    telemetry::init();
    let app = App::from_env().await?;
    Box::pin(lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<ScheduledEvent>| {
        handler(app.clone(), event.payload)
    })))
    .await
}

/// Runs the route `function` from `routes` as a Lambda function.
pub async fn serve_route(routes: &[Route], function: &str) -> Result<(), Error> {
    let route = find_route(routes, function);
    telemetry::init();
    let app = App::from_env().await?;
    // Boxed: the runtime's future is deeply nested, and a pointer keeps the binaries'
    // `main` futures small for the compiler.
    Box::pin(lambda_http::run(lambda_http::service_fn(move |request| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(crate::platform::http::handle(&app, request, &route).await) }
    })))
    .await
}

/// Runs an SQS worker as a Lambda function with partial batch responses.
pub async fn serve_worker<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(App, SqsEvent) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = SqsBatchResponse> + Send,
{
    telemetry::init();
    let app = App::from_env().await?;
    Box::pin(lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<SqsEvent>| {
        let app = app.clone();
        let handler = handler.clone();
        async move { Ok::<_, std::convert::Infallible>(handler(app, event.payload).await) }
    })))
    .await
}
