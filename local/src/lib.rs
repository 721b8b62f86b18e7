//! The Chore Garden local stack: provisioning from template.yaml, the local API gateway,
//! the SQS pollers and the demo seed. The `chore-local` binary and the integration tests
//! both start the stack through [`start`].

pub mod alarms;
pub mod bench;
pub mod events;
pub mod gateway;
pub mod iam;
pub mod integration;
pub mod mail;
pub mod meter;
pub mod poller;
pub mod provision;
pub mod routes;
pub mod schedule;
pub mod seed;
pub mod stream;
pub mod template;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use shared::App;
use shared::auth::jwt::JwtVerifier;
use shared::platform::clock::Clock;
use shared::platform::config::Config;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::gateway::Gateway;
use crate::provision::{Endpoints, Provisioned};
use crate::template::{Template, referenced};

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Template(#[from] template::TemplateError),
    #[error(transparent)]
    Provision(#[from] provision::ProvisionError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("cannot fetch the user pool's JWKS from {0}: {1}")]
    Jwks(String, String),
}

/// The environment variables template.yaml gives `function` (Globals merged with its own),
/// with `Ref`s resolved to what the local stack created.
pub fn function_environment(template: &Template, p: &Provisioned, function: &str) -> HashMap<String, String> {
    let mut env = HashMap::new();
    let mut collect = |vars: Option<&Value>| {
        for (name, value) in vars.and_then(Value::as_object).into_iter().flatten() {
            let resolved = match value {
                Value::String(s) => Some(s.clone()),
                other => referenced(other).and_then(|id| {
                    if template.table().map(|(t, _)| t == id).unwrap_or(false) {
                        Some(p.table_name.clone())
                    } else if template.user_pool().map(|(u, _)| u == id).unwrap_or(false) {
                        Some(p.user_pool_id.clone())
                    } else if let Some(url) = p.queue_urls.get(&id) {
                        Some(url.clone())
                    } else if let Some(bucket) = p.buckets.get(&id) {
                        Some(bucket.clone())
                    } else if let Some(key) = p.keys.get(&id) {
                        Some(key.clone())
                    } else if let Some(set) = p.configuration_sets.get(&id) {
                        Some(set.clone())
                    } else if let Some(plan) = p.usage_plans.get(&id) {
                        Some(plan.clone())
                    } else {
                        // A template parameter: its default.
                        template
                            .root
                            .pointer(&format!("/Parameters/{id}/Default"))
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    }
                }),
            };
            if let Some(v) = resolved {
                env.insert(name.clone(), v);
            }
        }
    };
    collect(template.root.pointer("/Globals/Function/Environment/Variables"));
    collect(template.root.pointer(&format!("/Resources/{function}/Properties/Environment/Variables")));
    env
}

/// Choices that differ between the dev command and the tests.
pub struct StackOptions {
    pub clock: Arc<dyn Clock>,
    /// Overrides of the functions' environment (e.g. a shorter purge delay).
    pub env_overrides: HashMap<String, String>,
    pub stage: String,
    pub run_pollers: bool,
    /// Fire the template's scheduled functions at their rates, and feed the table's stream
    /// to its consumers (on a table of this stack's own: every consumer reads all of it).
    pub run_schedules: bool,
    /// A clock a developer or a test moves forward (`POST /_local/clock`): when set, it is
    /// the functions' clock, and each move fires the scheduled functions at once.
    pub travel: Option<Arc<schedule::TravelClock>>,
    /// Verify tokens with this instead of the user pool's JWKS (tests that sign their own).
    pub verifier: Option<JwtVerifier>,
    /// Whether a call a function's policy does not allow fails (as in AWS) or is logged.
    pub iam: iam::Mode,
    /// Whether the functions' calls go into the IAM usage report (off for a template a
    /// test changed on purpose).
    pub record_iam_usage: bool,
}

/// A function as the local stack runs it: its own clients, checked against its own policy,
/// its own environment, and its `Timeout`.
#[derive(Clone, Debug)]
pub struct LocalFunction {
    pub app: App,
    pub timeout: Duration,
}

pub struct RunningStack {
    pub addr: SocketAddr,
    /// Unrestricted access to the stack's table and queues, for seeding and for tests'
    /// own checks; functions never run with it.
    pub app: App,
    pub functions: Arc<HashMap<String, LocalFunction>>,
    pub provisioned: Provisioned,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningStack {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The [`App`] `function` (a logical id) runs with: its policy, its environment.
    pub fn function_app(&self, function: &str) -> App {
        self.functions.get(function).unwrap_or_else(|| panic!("no function {function}")).app.clone()
    }
}

impl Drop for RunningStack {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// An [`App`] with unrestricted clients, wired from the Globals of the template.
pub async fn unchecked_app(template: &Template, p: &Provisioned, options: &StackOptions) -> Result<App, StackError> {
    Ok(App::with_clients(
        config_of(template, p, options, "")?,
        p.endpoints.dynamodb_client().await,
        p.endpoints.sqs_client().await,
        options.clock.clone(),
    )
    .with_mail(shared::app::Mail {
        ses: aws_sdk_sesv2::Client::new(&Endpoints::sdk_config(&p.endpoints.moto).await),
        cognito: p.endpoints.cognito_client().await,
    })
    .with_kms(aws_sdk_kms::Client::new(&Endpoints::sdk_config(&p.endpoints.moto).await))
    .with_s3(p.endpoints.s3_client().await)
    .with_apigateway(p.endpoints.apigateway_client().await))
}

fn config_of(
    template: &Template,
    p: &Provisioned,
    options: &StackOptions,
    function: &str,
) -> Result<Config, StackError> {
    let mut env = function_environment(template, p, function);
    env.extend(options.env_overrides.clone());
    Config::from_lookup(|k| env.get(k).cloned()).map_err(|e| StackError::Config(format!("{function}: {e}")))
}

/// Every function of the template, each with clients that check its calls against its
/// policy (see [`iam`]), with the production SDK settings, its environment and timeout.
pub async fn local_functions(
    template: &Template,
    p: &Provisioned,
    options: &StackOptions,
) -> Result<HashMap<String, LocalFunction>, StackError> {
    let names = Arc::new(iam::Names::new(template, p));
    let dynamodb = Endpoints::sdk_config(&p.endpoints.dynamodb).await;
    let moto = Endpoints::sdk_config(&p.endpoints.moto).await;
    let mut functions = HashMap::new();
    for f in template.functions() {
        let policy = iam::Policy::of(template, &f.logical_id).map_err(|e| StackError::Config(e.to_string()))?;
        let http = iam::client::PolicyCheckedClient::new(policy, names.clone(), options.iam, options.record_iam_usage);
        let ddb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&dynamodb)
                .http_client(http.clone())
                .interceptor(shared::store::capacity::ConsumedCapacityInterceptor)
                .build(),
        );
        let sqs =
            aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(&moto).http_client(http.clone()).build());
        let mail = shared::app::Mail {
            ses: aws_sdk_sesv2::Client::from_conf(
                aws_sdk_sesv2::config::Builder::from(&moto).http_client(http.clone()).build(),
            ),
            cognito: aws_sdk_cognitoidentityprovider::Client::from_conf(
                aws_sdk_cognitoidentityprovider::config::Builder::from(&moto).http_client(http.clone()).build(),
            ),
        };
        let kms =
            aws_sdk_kms::Client::from_conf(aws_sdk_kms::config::Builder::from(&moto).http_client(http.clone()).build());
        let apigateway = aws_sdk_apigateway::Client::from_conf(
            aws_sdk_apigateway::config::Builder::from(&moto).http_client(http.clone()).build(),
        );
        // Path-style: the emulator's buckets are not DNS names (presigned URLs point at it too).
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&moto).force_path_style(true).http_client(http).build(),
        );
        let app = App::with_clients(config_of(template, p, options, &f.logical_id)?, ddb, sqs, options.clock.clone())
            .with_mail(mail)
            .with_kms(kms)
            .with_s3(s3)
            .with_apigateway(apigateway);
        functions.insert(f.logical_id.clone(), LocalFunction { app, timeout: Duration::from_secs(f.timeout_seconds) });
    }
    Ok(functions)
}

/// The integration API's authorizer, API key check and usage plan, from the template.
async fn integration_gateway(
    template: &Template,
    p: &Provisioned,
    functions: &HashMap<String, LocalFunction>,
) -> Result<Option<integration::IntegrationGateway>, StackError> {
    if template.root.pointer(&format!("/Resources/{}", template::INTEGRATION_API)).is_none() {
        return Ok(None);
    }
    let spec = template.integration()?;
    let authorizer = functions
        .get(&spec.authorizer_function)
        .ok_or_else(|| StackError::Config(format!("no function {}", spec.authorizer_function)))?
        .clone();
    let handler = routes::authorizers()
        .into_iter()
        .find(|a| a.function == spec.authorizer_function)
        .ok_or_else(|| StackError::Config(format!("{} is no authorizer of the binary", spec.authorizer_function)))?
        .handler;
    let plan = p
        .usage_plans
        .get(&spec.usage_plan)
        .ok_or_else(|| StackError::Config(format!("usage plan {} was not provisioned", spec.usage_plan)))?
        .clone();
    let apigateway = p.endpoints.apigateway_client().await;
    Ok(Some(integration::IntegrationGateway::new(spec, authorizer, handler, apigateway, plan)))
}

/// Serves the gateway on `listener` and starts one poller per worker.
pub async fn start(
    template: &Template,
    provisioned: Provisioned,
    listener: TcpListener,
    options: StackOptions,
) -> Result<RunningStack, StackError> {
    let mut options = options;
    if let Some(t) = &options.travel {
        options.clock = t.clone();
    }
    let app = unchecked_app(template, &provisioned, &options).await?;
    let functions = Arc::new(local_functions(template, &provisioned, &options).await?);
    let verifier = match options.verifier {
        Some(v) => v,
        None => {
            let jwks_url = provisioned.jwks_url();
            let jwks = fetch_text(&jwks_url).await.map_err(|e| StackError::Jwks(jwks_url.clone(), e))?;
            JwtVerifier::from_jwks_json(&jwks, &provisioned.issuer(), &provisioned.client_id)
                .map_err(|e| StackError::Jwks(jwks_url, e.to_string()))?
        }
    };
    let integration = integration_gateway(template, &provisioned, &functions).await?;
    let gateway = Arc::new(Gateway {
        functions: functions.clone(),
        routes: routes::routes(),
        verifier,
        stage: options.stage.clone(),
        cors_allow_origin: app.config.cors_allow_origin.clone(),
        gateway_responses: template.root.pointer("/Resources/ChoreApi/Properties/GatewayResponses").cloned(),
        travel: options.travel.clone(),
        integration,
    });
    let addr = listener.local_addr().map_err(|e| StackError::Config(e.to_string()))?;
    let mut tasks = vec![tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, gateway::router(gateway)).await {
            tracing::error!(error = %e, "gateway stopped");
        }
    })];
    if options.run_pollers {
        provision::configure_bucket_notifications(template, &provisioned).await?;
        let sqs = provisioned.endpoints.sqs_client().await;
        for worker in routes::workers() {
            let url = provisioned
                .queue_urls
                .get(worker.queue)
                .ok_or_else(|| StackError::Config(format!("no queue {} for {}", worker.queue, worker.function)))?
                .clone();
            let arn = format!(
                "arn:aws:sqs:{}:000000000000:{}",
                provision::REGION,
                url.rsplit('/').next().unwrap_or_default()
            );
            let function = functions
                .get(worker.function)
                .ok_or_else(|| StackError::Config(format!("no function {} in template.yaml", worker.function)))?
                .clone();
            tasks.push(tokio::spawn(poller::run(function, sqs.clone(), worker, url, arn)));
        }
    }
    if options.run_schedules {
        for job in routes::jobs() {
            let spec = template
                .functions()
                .into_iter()
                .find(|f| f.logical_id == job.function)
                .ok_or_else(|| StackError::Config(format!("no function {} in template.yaml", job.function)))?;
            let expression = spec.schedule.ok_or_else(|| {
                StackError::Config(format!("{} has no Schedule event in template.yaml", job.function))
            })?;
            let every = schedule::rate(&expression).map_err(StackError::Config)?;
            let function = functions[job.function].clone();
            tasks.push(tokio::spawn(schedule::run(function, job, every, options.travel.clone())));
        }
        let sdk = Endpoints::sdk_config(&provisioned.endpoints.dynamodb).await;
        for worker in routes::streams() {
            let spec = template.functions().into_iter().find(|f| f.logical_id == worker.function);
            let (_, patterns) = spec.and_then(|f| f.stream).ok_or_else(|| {
                StackError::Config(format!("{} has no DynamoDB event in template.yaml", worker.function))
            })?;
            let patterns = patterns
                .iter()
                .map(|p| {
                    serde_json::from_str(p)
                        .map_err(|e| StackError::Config(format!("{}: filter {p}: {e}", worker.function)))
                })
                .collect::<Result<Vec<Value>, _>>()?;
            let function = functions[worker.function].clone();
            let (ddb, streams) = (aws_sdk_dynamodb::Client::new(&sdk), aws_sdk_dynamodbstreams::Client::new(&sdk));
            let start = stream::open(&ddb, &streams, &provisioned.table_name)
                .await
                .map_err(|e| StackError::Config(format!("the table's stream: {e}")))?;
            let table = provisioned.table_name.clone();
            tasks.push(tokio::spawn(stream::run(function, ddb, streams, table, patterns, worker, start)));
        }
    }
    Ok(RunningStack { addr, app, functions, provisioned, tasks })
}

async fn fetch_text(url: &str) -> Result<String, String> {
    let response = reqwest::get(url).await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    response.text().await.map_err(|e| e.to_string())
}
