//! The integration API (template.yaml's `IntegrationApi`) as API Gateway serves it, under
//! [`PREFIX`] on the local gateway (in AWS it has a base URL of its own): the route table's
//! rows with a scope, behind
//! - the API-key authorizer, run as its own function (its policy, its environment), its
//!   decision cached per key for the authorizer's `ReauthorizeEvery`;
//! - the API key check of `ApiKeySourceType: AUTHORIZER`: the usage identifier the authorizer
//!   returns must name an enabled API Gateway key in the usage plan (kept in the emulator);
//! - the usage plan's throttle (a token bucket per key) and daily quota (UTC days).
//!
//! What it refuses, it answers as the template's `GatewayResponses` make API Gateway answer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::{HeaderMap, Method};
use serde_json::{Map, Value, json};
use shared::lambda::{AuthorizerEvent, Route};

use crate::LocalFunction;
use crate::template::IntegrationSpec;

/// Where the local gateway serves the integration API: `http://127.0.0.1:3000/integration/v1/…`.
pub const PREFIX: &str = "/integration";

type AuthorizerHandler =
    fn(shared::App, AuthorizerEvent) -> futures::future::BoxFuture<'static, Result<Value, shared::lambda::Error>>;

pub struct IntegrationGateway {
    pub spec: IntegrationSpec,
    pub authorizer: LocalFunction,
    pub handler: AuthorizerHandler,
    /// The emulator's API Gateway, unrestricted: API Gateway's own view of its keys.
    pub apigateway: aws_sdk_apigateway::Client,
    pub usage_plan_id: String,
    decisions: Mutex<HashMap<String, (Instant, Decision)>>,
    usage: Mutex<HashMap<String, Usage>>,
}

/// What the authorizer decided for one key.
#[derive(Clone, Debug)]
enum Decision {
    Unauthorized,
    Denied(Map<String, Value>),
    Allowed { authorizer: Value, usage_identifier: Option<String> },
}

/// One key's use of its plan: a token bucket and today's count.
#[derive(Debug)]
struct Usage {
    tokens: f64,
    refilled: Instant,
    day: chrono::NaiveDate,
    count: u64,
}

/// A request API Gateway answers itself: the `GatewayResponses` kind, its default status,
/// and the authorizer context its template may name.
#[derive(Debug)]
pub struct Refusal {
    pub kind: &'static str,
    pub status: u16,
    pub context: Map<String, Value>,
}

fn refuse(kind: &'static str, status: u16) -> Refusal {
    Refusal { kind, status, context: Map::new() }
}

impl IntegrationGateway {
    pub fn new(
        spec: IntegrationSpec,
        authorizer: LocalFunction,
        handler: AuthorizerHandler,
        apigateway: aws_sdk_apigateway::Client,
        usage_plan_id: String,
    ) -> IntegrationGateway {
        IntegrationGateway {
            spec,
            authorizer,
            handler,
            apigateway,
            usage_plan_id,
            decisions: Mutex::new(HashMap::new()),
            usage: Mutex::new(HashMap::new()),
        }
    }

    /// Admits a request to `route` or says what API Gateway answers instead; admitted, the
    /// `requestContext.authorizer` the handler gets.
    #[allow(clippy::too_many_arguments)]
    pub async fn admit(
        &self,
        route: &Route,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        path_params: &[(String, String)],
        stage: &str,
    ) -> Result<Value, Refusal> {
        let method_arn =
            format!("arn:aws:execute-api:{}:000000000000:local/{stage}/{method}{path}", crate::provision::REGION);
        // The identity source: without it, API Gateway answers 401 without calling the authorizer.
        let Some(identity) =
            headers.get(self.spec.key_header.as_str()).and_then(|v| v.to_str().ok()).map(str::to_string)
        else {
            return Err(refuse("UNAUTHORIZED", 401));
        };
        let decision = match self.cached(&identity) {
            Some(d) => d,
            None => {
                let event = authorizer_event(route, method, path, headers, path_params, &method_arn, stage);
                let decision = self.decide(event, &method_arn).await?;
                if !matches!(decision, Decision::Unauthorized) {
                    let mut cache = self.decisions.lock().unwrap_or_else(|e| e.into_inner());
                    cache.insert(identity, (Instant::now(), decision.clone()));
                }
                decision
            }
        };
        let (authorizer, usage_identifier) = match decision {
            Decision::Unauthorized => return Err(refuse("UNAUTHORIZED", 401)),
            Decision::Denied(context) => return Err(Refusal { kind: "ACCESS_DENIED", status: 403, context }),
            Decision::Allowed { authorizer, usage_identifier } => (authorizer, usage_identifier),
        };
        let usage_identifier = usage_identifier.ok_or_else(|| refuse("INVALID_API_KEY", 403))?;
        if !self.key_in_plan(&usage_identifier).await {
            return Err(refuse("INVALID_API_KEY", 403));
        }
        self.count(&usage_identifier)?;
        Ok(authorizer)
    }

    fn cached(&self, identity: &str) -> Option<Decision> {
        let cache = self.decisions.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(identity).filter(|(at, _)| at.elapsed().as_secs() < self.spec.cache_seconds).map(|(_, d)| d.clone())
    }

    /// Runs the authorizer function and reads its answer as API Gateway does.
    async fn decide(&self, event: Value, method_arn: &str) -> Result<Decision, Refusal> {
        let event: AuthorizerEvent = serde_json::from_value(event).map_err(|e| {
            tracing::error!(error = %e, "could not build the authorizer's event");
            refuse("AUTHORIZER_FAILURE", 500)
        })?;
        let ran =
            tokio::time::timeout(self.authorizer.timeout, (self.handler)(self.authorizer.app.clone(), event)).await;
        let answer = match ran {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) if e.to_string() == "Unauthorized" => return Ok(Decision::Unauthorized),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the authorizer failed");
                return Err(refuse("AUTHORIZER_FAILURE", 500));
            }
            Err(_) => {
                tracing::warn!("the authorizer timed out");
                return Err(refuse("AUTHORIZER_FAILURE", 500));
            }
        };
        let statements =
            answer.pointer("/policyDocument/Statement").and_then(Value::as_array).cloned().unwrap_or_default();
        let covers = |s: &Value| {
            let resources: Vec<&str> = match &s["Resource"] {
                Value::String(r) => vec![r.as_str()],
                Value::Array(rs) => rs.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            resources.iter().any(|r| crate::iam::glob(r, method_arn))
        };
        let effect = |e: &str| statements.iter().any(|s| s["Effect"] == e && covers(s));
        // Context values reach the handler (and the gateway responses) as strings.
        let context =
            crate::gateway::as_strings(answer.get("context").and_then(Value::as_object).cloned().unwrap_or_default());
        if effect("Deny") || !effect("Allow") {
            return Ok(Decision::Denied(context));
        }
        let mut authorizer = context;
        authorizer.insert("principalId".into(), answer.get("principalId").cloned().unwrap_or(Value::Null));
        Ok(Decision::Allowed {
            authorizer: Value::Object(authorizer),
            usage_identifier: answer.get("usageIdentifierKey").and_then(Value::as_str).map(str::to_string),
        })
    }

    /// Whether the usage identifier names an enabled API Gateway key in the usage plan.
    async fn key_in_plan(&self, value: &str) -> bool {
        let failed = |what: &str, e: String| {
            tracing::warn!(error = %e, "listing {what} failed");
            false
        };
        let mut keys = self.apigateway.get_api_keys().include_values(true).limit(500).into_paginator().items().send();
        let mut found = None;
        while let Some(key) = keys.next().await {
            match key {
                Ok(k) if k.value.as_deref() == Some(value) && k.enabled => {
                    found = k.id;
                    break;
                }
                Ok(_) => {}
                Err(e) => return failed("API keys", aws_sdk_apigateway::error::DisplayErrorContext(e).to_string()),
            }
        }
        let Some(id) = found else {
            return false;
        };
        let mut members = self
            .apigateway
            .get_usage_plan_keys()
            .usage_plan_id(&self.usage_plan_id)
            .limit(500)
            .into_paginator()
            .items()
            .send();
        while let Some(member) = members.next().await {
            match member {
                Ok(k) if k.id.as_deref() == Some(id.as_str()) => return true,
                Ok(_) => {}
                Err(e) => {
                    return failed("the plan's keys", aws_sdk_apigateway::error::DisplayErrorContext(e).to_string());
                }
            }
        }
        false
    }

    /// The usage plan: `THROTTLED` past the rate (and burst), `QUOTA_EXCEEDED` past the
    /// day's quota (UTC, on the functions' clock, so moving it forward starts a new day).
    fn count(&self, usage_identifier: &str) -> Result<(), Refusal> {
        let today = self.authorizer.app.now().date_naive();
        let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        let burst = self.spec.burst_limit.max(1) as f64;
        let u = usage.entry(usage_identifier.to_string()).or_insert(Usage {
            tokens: burst,
            refilled: Instant::now(),
            day: today,
            count: 0,
        });
        let elapsed = u.refilled.elapsed().as_secs_f64();
        u.tokens = (u.tokens + elapsed * self.spec.rate_limit).min(burst);
        u.refilled = Instant::now();
        if u.day != today {
            u.day = today;
            u.count = 0;
        }
        if u.tokens < 1.0 {
            return Err(refuse("THROTTLED", 429));
        }
        if u.count >= self.spec.daily_quota {
            return Err(refuse("QUOTA_EXCEEDED", 429));
        }
        u.tokens -= 1.0;
        u.count += 1;
        Ok(())
    }
}

/// The REQUEST authorizer's event for a request.
fn authorizer_event(
    route: &Route,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    path_params: &[(String, String)],
    method_arn: &str,
    stage: &str,
) -> Value {
    let headers: Map<String, Value> = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_string(), json!(value.to_str().ok()?))))
        .collect();
    json!({
        "type": "REQUEST",
        "methodArn": method_arn,
        "resource": route.path,
        "path": path,
        "httpMethod": method.as_str(),
        "headers": headers,
        "pathParameters": path_params.iter().cloned().collect::<HashMap<_, _>>(),
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "stage": stage,
            "resourcePath": route.path,
            "httpMethod": method.as_str(),
            "path": format!("/{stage}{path}"),
            "requestId": ulid::Ulid::new().to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(rate: f64, burst: u64, quota: u64) -> IntegrationSpec {
        IntegrationSpec {
            authorizer_function: "A".into(),
            key_header: "x-api-key".into(),
            cache_seconds: 60,
            usage_plan: "P".into(),
            rate_limit: rate,
            burst_limit: burst,
            daily_quota: quota,
            gateway_responses: None,
        }
    }

    async fn gateway(spec: IntegrationSpec) -> IntegrationGateway {
        let sdk = crate::provision::Endpoints::sdk_config("http://127.0.0.1:9").await;
        let config =
            shared::platform::config::Config::from_lookup(|k| (k == "TABLE_NAME").then(|| "t".to_string())).unwrap();
        let app = shared::App::with_clients(
            config,
            aws_sdk_dynamodb::Client::new(&sdk),
            aws_sdk_sqs::Client::new(&sdk),
            std::sync::Arc::new(shared::platform::clock::SystemClock),
        );
        let function = LocalFunction { app, timeout: std::time::Duration::from_secs(1) };
        IntegrationGateway::new(
            spec,
            function,
            |_, _| Box::pin(async { Err("Unauthorized".into()) }),
            aws_sdk_apigateway::Client::new(&sdk),
            "p".into(),
        )
    }

    #[tokio::test]
    async fn a_burst_then_the_rate_then_the_quota() {
        let g = gateway(spec(0.0, 3, 100)).await;
        let kinds: Vec<_> = (0..5).map(|_| g.count("k").map_err(|r| r.kind)).collect();
        assert_eq!(kinds, [Ok(()), Ok(()), Ok(()), Err("THROTTLED"), Err("THROTTLED")]);
        assert!(g.count("other").is_ok(), "each key has its own bucket");

        let g = gateway(spec(1000.0, 1000, 2)).await;
        let kinds: Vec<_> = (0..3).map(|_| g.count("k").map_err(|r| r.kind)).collect();
        assert_eq!(kinds, [Ok(()), Ok(()), Err("QUOTA_EXCEEDED")]);
    }
}
