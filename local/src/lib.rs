//! The Chore Garden local stack: provisioning from template.yaml, the local API gateway,
//! the SQS pollers and the demo seed. The `chore-local` binary and the integration tests
//! both start the stack through [`start`].

pub mod gateway;
pub mod poller;
pub mod provision;
pub mod routes;
pub mod seed;
pub mod template;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use shared::App;
use shared::auth::jwt::JwtVerifier;
use shared::platform::clock::Clock;
use shared::platform::config::Config;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::gateway::Gateway;
use crate::provision::Provisioned;
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

/// The environment variables template.yaml gives the functions (Globals merged with each
/// function's own), with `Ref`s resolved to what the local stack created.
pub fn function_environment(template: &Template, p: &Provisioned) -> HashMap<String, String> {
    let mut env = HashMap::new();
    let mut collect = |vars: Option<&Value>| {
        for (name, value) in vars.and_then(Value::as_object).into_iter().flatten() {
            let resolved = match value {
                Value::String(s) => Some(s.clone()),
                other => referenced(other).and_then(|id| {
                    if template.table().map(|(t, _)| t == id).unwrap_or(false) {
                        Some(p.table_name.clone())
                    } else if let Some(url) = p.queue_urls.get(&id) {
                        Some(url.clone())
                    } else if let Some(bucket) = p.buckets.get(&id) {
                        Some(bucket.clone())
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
    for (_, r) in template.resources() {
        collect(r.pointer("/Properties/Environment/Variables"));
    }
    env
}

/// Choices that differ between the dev command and the tests.
pub struct StackOptions {
    pub clock: Arc<dyn Clock>,
    /// Overrides of the functions' environment (e.g. a shorter purge delay).
    pub env_overrides: HashMap<String, String>,
    pub stage: String,
    pub run_pollers: bool,
    /// Verify tokens with this instead of the user pool's JWKS (tests that sign their own).
    pub verifier: Option<JwtVerifier>,
}

pub struct RunningStack {
    pub addr: SocketAddr,
    pub app: App,
    pub provisioned: Provisioned,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningStack {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningStack {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The handlers' [`App`], wired to the local emulators from the template's environment.
pub async fn local_app(template: &Template, p: &Provisioned, options: &StackOptions) -> Result<App, StackError> {
    let mut env = function_environment(template, p);
    env.extend(options.env_overrides.clone());
    let config = Config::from_lookup(|k| env.get(k).cloned()).map_err(|e| StackError::Config(e.to_string()))?;
    Ok(App::with_clients(
        config,
        p.endpoints.dynamodb_client().await,
        p.endpoints.sqs_client().await,
        options.clock.clone(),
    ))
}

/// Serves the gateway on `listener` and starts one poller per worker.
pub async fn start(
    template: &Template,
    provisioned: Provisioned,
    listener: TcpListener,
    options: StackOptions,
) -> Result<RunningStack, StackError> {
    let app = local_app(template, &provisioned, &options).await?;
    let verifier = match options.verifier {
        Some(v) => v,
        None => {
            let jwks_url = provisioned.jwks_url();
            let jwks = fetch_text(&jwks_url).await.map_err(|e| StackError::Jwks(jwks_url.clone(), e))?;
            JwtVerifier::from_jwks_json(&jwks, &provisioned.issuer(), &provisioned.client_id)
                .map_err(|e| StackError::Jwks(jwks_url, e.to_string()))?
        }
    };
    let gateway =
        Arc::new(Gateway { app: app.clone(), routes: routes::routes(), verifier, stage: options.stage.clone() });
    let addr = listener.local_addr().map_err(|e| StackError::Config(e.to_string()))?;
    let mut tasks = vec![tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, gateway::router(gateway)).await {
            tracing::error!(error = %e, "gateway stopped");
        }
    })];
    if options.run_pollers {
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
            tasks.push(tokio::spawn(poller::run(app.clone(), sqs.clone(), worker, url, arn)));
        }
    }
    Ok(RunningStack { addr, app, provisioned, tasks })
}

async fn fetch_text(url: &str) -> Result<String, String> {
    let response = reqwest::get(url).await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    response.text().await.map_err(|e| e.to_string())
}
