//! The local API gateway: serves every route of template.yaml on one port, checks Cognito
//! ID tokens as API Gateway's Cognito authorizer does, hands each handler the API Gateway
//! REST proxy event it would get in AWS, and answers CORS preflights as the template's
//! `Cors` settings make API Gateway do.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode};
use base64::Engine;
use lambda_http::RequestExt;
use serde_json::{Value, json};
use shared::auth::jwt::JwtVerifier;
use shared::lambda::Route;
use shared::platform::error::{ApiError, ErrorCode};
use shared::platform::http::{ALLOWED_HEADERS, ALLOWED_METHODS, problem_response, with_common_headers};
use shared::platform::i18n::Locale;
use shared::platform::{correlation, http::handle};

use crate::LocalFunction;
use crate::routes::match_path;

/// API Gateway's own payload limit; our handlers enforce their smaller one.
const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

pub struct Gateway {
    /// Every function by logical id, each with its own policy-checked clients and timeout.
    pub functions: Arc<HashMap<String, LocalFunction>>,
    pub routes: Vec<Route>,
    pub verifier: JwtVerifier,
    pub stage: String,
    pub cors_allow_origin: String,
    /// The API's `GatewayResponses` from template.yaml: what API Gateway answers itself.
    pub gateway_responses: Option<Value>,
    /// The time-travel clock, served at [`CLOCK_PATH`] (local only: not in template.yaml).
    pub travel: Option<Arc<crate::schedule::TravelClock>>,
    /// The integration API (household API keys), served under [`crate::integration::PREFIX`].
    pub integration: Option<crate::integration::IntegrationGateway>,
}

/// The local-only time-travel control: `GET` tells the functions' time, `POST`
/// `{"advanceSeconds": N}` moves it forward and fires the scheduled functions.
pub const CLOCK_PATH: &str = "/_local/clock";

pub fn router(gateway: Arc<Gateway>) -> axum::Router {
    axum::Router::new().fallback(serve).with_state(gateway)
}

async fn serve(State(gw): State<Arc<Gateway>>, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let correlation_id = correlation::from_header(header(correlation::HEADER).as_deref());
    let locale = Locale::negotiate(header("accept-language").as_deref());
    let origin = gw.cors_allow_origin.clone();
    let problem = |code: ErrorCode| {
        let r = problem_response(&ApiError::new(code), locale, &correlation_id, &path);
        into_axum(with_common_headers(r, &correlation_id, &origin))
    };

    if path == CLOCK_PATH
        && let Some(travel) = &gw.travel
    {
        return clock_control(travel, &parts.method, body).await;
    }

    if let (Some(rest), Some(integration)) = (path.strip_prefix(crate::integration::PREFIX), &gw.integration) {
        return serve_integration(&gw, integration, &parts, rest, body, &correlation_id, &problem).await;
    }

    let candidates: Vec<(&Route, Vec<(String, String)>)> =
        gw.routes.iter().filter_map(|r| match_path(r.path, &path).map(|p| (r, p))).collect();
    if parts.method == Method::OPTIONS && !candidates.is_empty() {
        return preflight(&origin);
    }
    // API Gateway answers an unknown method on a known path like an unknown path.
    let Some((route, path_params)) = candidates.into_iter().find(|(r, _)| r.method == parts.method.as_str()) else {
        return problem(ErrorCode::RouteNotFound);
    };

    let authorizer = if route.authenticated {
        let token = header("authorization").unwrap_or_default();
        let token = token.strip_prefix("Bearer ").unwrap_or(&token).trim().to_string();
        match gw.verifier.verify_id_token(&token) {
            Ok(claims) => Some(cognito_authorizer(claims)),
            Err(e) => {
                tracing::info!(reason = %e, resource = route.path, "token refused");
                return problem(ErrorCode::Unauthenticated);
            }
        }
    } else {
        None
    };
    invoke(&gw, route, &parts, &path, path_params, authorizer, body, &correlation_id, &problem).await
}

/// A request to the integration API: a route with a scope, admitted by the API-key
/// authorizer, the API key check and the usage plan, else API Gateway's own answer.
async fn serve_integration(
    gw: &Gateway,
    integration: &crate::integration::IntegrationGateway,
    parts: &axum::http::request::Parts,
    path: &str,
    body: Body,
    correlation_id: &str,
    problem: &impl Fn(ErrorCode) -> Response<Body>,
) -> Response<Body> {
    let route = gw
        .routes
        .iter()
        .filter(|r| r.scope.is_some() && r.method == parts.method.as_str())
        .find_map(|r| match_path(r.path, path).map(|p| (r, p)));
    let Some((route, path_params)) = route else {
        return render_gateway_response(
            integration.spec.gateway_responses.as_ref(),
            "MISSING_AUTHENTICATION_TOKEN",
            StatusCode::FORBIDDEN,
            correlation_id,
            "",
            &serde_json::Map::new(),
        );
    };
    match integration.admit(route, &parts.method, path, &parts.headers, &path_params, &gw.stage).await {
        Ok(authorizer) => {
            invoke(gw, route, parts, path, path_params, Some(authorizer), body, correlation_id, problem).await
        }
        Err(refusal) => render_gateway_response(
            integration.spec.gateway_responses.as_ref(),
            refusal.kind,
            StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::FORBIDDEN),
            correlation_id,
            "",
            &refusal.context,
        ),
    }
}

/// Hands the request to its function as Lambda would: the proxy event, the deadline, and
/// API Gateway's 502 when the function passes its `Timeout`.
#[allow(clippy::too_many_arguments)]
async fn invoke(
    gw: &Gateway,
    route: &Route,
    parts: &axum::http::request::Parts,
    path: &str,
    path_params: Vec<(String, String)>,
    authorizer: Option<Value>,
    body: Body,
    correlation_id: &str,
    problem: &impl Fn(ErrorCode) -> Response<Body>,
) -> Response<Body> {
    let Some(function) = gw.functions.get(route.function) else {
        tracing::error!(function = route.function, "route without a function in template.yaml");
        return problem(ErrorCode::Internal);
    };
    let body = match to_bytes(body, GATEWAY_MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return problem(ErrorCode::BodyTooLarge),
    };
    let event = proxy_event(
        route,
        &parts.method,
        path,
        parts.uri.query(),
        &parts.headers,
        path_params,
        authorizer,
        &body,
        &gw.stage,
    );
    let request = match lambda_http::request::from_str(&event.to_string()) {
        // The invocation's deadline, as Lambda gives it: now plus the function's Timeout.
        Ok(r) => r.with_lambda_context(lambda_context(function.timeout)),
        Err(e) => {
            tracing::error!(error = %e, "could not build the proxy event");
            return problem(ErrorCode::Internal);
        }
    };
    // Lambda stops a function at its Timeout; API Gateway then answers 502 itself. A
    // handler that computes without yielding is not interrupted here, so its time is
    // checked once it returns too.
    let started = std::time::Instant::now();
    match tokio::time::timeout(function.timeout, handle(&function.app, request, route)).await {
        Ok(response) if started.elapsed() <= function.timeout => into_axum(response),
        _ => {
            tracing::error!(function = route.function, timeout = ?function.timeout, "Task timed out");
            gw.gateway_response("DEFAULT_5XX", StatusCode::BAD_GATEWAY, correlation_id)
        }
    }
}

async fn clock_control(travel: &crate::schedule::TravelClock, method: &Method, body: Body) -> Response<Body> {
    use shared::platform::clock::{Clock, rfc3339};
    let reply = |status: StatusCode, v: Value| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(v.to_string()))
            .expect("a response")
    };
    if method == Method::POST {
        let bytes = to_bytes(body, 1024).await.unwrap_or_default();
        let by = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| v.get("advanceSeconds")?.as_i64());
        let Some(by) = by.filter(|s| (0..=366 * 86400).contains(s)) else {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({ "error": "send {\"advanceSeconds\": N}, 0 ≤ N ≤ one year" }),
            );
        };
        if let Err(e) = travel.advance(chrono::Duration::seconds(by)) {
            return reply(StatusCode::BAD_REQUEST, json!({ "error": e }));
        }
    } else if method != Method::GET {
        return reply(StatusCode::METHOD_NOT_ALLOWED, json!({ "error": "GET or POST" }));
    }
    reply(StatusCode::OK, json!({ "now": rfc3339(travel.now()), "offsetSeconds": travel.offset().num_seconds() }))
}

impl Gateway {
    /// What API Gateway answers itself for `kind` on the frontend's API.
    fn gateway_response(&self, kind: &str, status: StatusCode, request_id: &str) -> Response<Body> {
        render_gateway_response(
            self.gateway_responses.as_ref(),
            kind,
            status,
            request_id,
            &self.cors_allow_origin,
            &serde_json::Map::new(),
        )
    }
}

/// What API Gateway answers itself for `kind`, rendered from an API's `GatewayResponses`
/// (status, headers, body template with `$context.requestId` and `$context.authorizer.*`),
/// as it would in AWS; `status` where the template sets none.
pub fn render_gateway_response(
    responses: Option<&Value>,
    kind: &str,
    status: StatusCode,
    request_id: &str,
    cors_allow_origin: &str,
    authorizer: &serde_json::Map<String, Value>,
) -> Response<Body> {
    let spec = responses.and_then(|r| r.get(kind)).cloned().unwrap_or(Value::Null);
    let status = spec
        .get("StatusCode")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(status);
    let mut builder = Response::builder().status(status);
    for (name, value) in spec.pointer("/ResponseParameters/Headers").and_then(Value::as_object).into_iter().flatten() {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.get("Fn::Sub").and_then(Value::as_str).unwrap_or_default().to_string(),
        };
        let text = text.replace("${CorsAllowOrigin}", cors_allow_origin);
        builder = builder.header(name.as_str(), text.trim_matches('\''));
    }
    let mut body = spec
        .pointer("/ResponseTemplates/application~1json")
        .and_then(Value::as_str)
        .unwrap_or(r#"{"message": "Internal server error"}"#)
        .replace("$context.requestId", request_id);
    for (name, value) in authorizer {
        body = body.replace(&format!("$context.authorizer.{name}"), value.as_str().unwrap_or_default());
    }
    builder.body(Body::from(body)).expect("valid response")
}

/// An authorizer's values as API Gateway passes them to the integration: every one a string.
pub fn as_strings(values: serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    values
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, Value::String(text))
        })
        .collect()
}

/// The `requestContext.authorizer` of API Gateway's Cognito authorizer: the claims, as strings.
pub fn cognito_authorizer(claims: serde_json::Map<String, Value>) -> Value {
    json!({ "claims": as_strings(claims) })
}

/// The API Gateway REST proxy event (payload format 1.0) for one request.
#[allow(clippy::too_many_arguments)]
pub fn proxy_event(
    route: &Route,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    path_params: Vec<(String, String)>,
    authorizer: Option<Value>,
    body: &[u8],
    stage: &str,
) -> Value {
    let mut single = serde_json::Map::new();
    let mut multi: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in headers {
        if let Ok(v) = value.to_str() {
            single.insert(name.as_str().to_string(), json!(v));
            multi.entry(name.as_str().to_string()).or_default().push(v.to_string());
        }
    }
    let mut qs = serde_json::Map::new();
    let mut mqs: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        qs.insert(k.to_string(), json!(v));
        mqs.entry(k.to_string()).or_default().push(v.to_string());
    }
    let (body, is_base64) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (Value::Null, false),
        Ok(text) => (json!(text), false),
        Err(_) => (json!(base64::engine::general_purpose::STANDARD.encode(body)), true),
    };
    let request_id = ulid::Ulid::new().to_string();
    json!({
        "resource": route.path,
        "path": path,
        "httpMethod": method.as_str(),
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": if qs.is_empty() { Value::Null } else { Value::Object(qs) },
        "multiValueQueryStringParameters": if mqs.is_empty() { Value::Null } else { json!(mqs) },
        "pathParameters": if path_params.is_empty() { Value::Null } else { json!(path_params.into_iter().collect::<HashMap<_, _>>()) },
        "stageVariables": null,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": route.path,
            "httpMethod": method.as_str(),
            "path": format!("/{stage}{path}"),
            "stage": stage,
            "requestId": request_id,
            "requestTimeEpoch": chrono::Utc::now().timestamp_millis(),
            "protocol": "HTTP/1.1",
            "identity": { "sourceIp": "127.0.0.1" },
            "authorizer": authorizer,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    })
}

fn lambda_context(timeout: std::time::Duration) -> lambda_http::Context {
    let mut context = lambda_http::Context::default();
    context.request_id = ulid::Ulid::new().to_string();
    context.deadline = (chrono::Utc::now() + timeout).timestamp_millis() as u64;
    context
}

fn preflight(origin: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header("access-control-allow-origin", origin)
        .header("access-control-allow-methods", ALLOWED_METHODS)
        .header("access-control-allow-headers", ALLOWED_HEADERS)
        .header("access-control-max-age", "600")
        .body(Body::empty())
        .expect("valid response")
}

fn into_axum(response: lambda_http::Response<lambda_http::Body>) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let bytes: Vec<u8> = match body {
        lambda_http::Body::Text(t) => t.into_bytes(),
        lambda_http::Body::Binary(b) => b,
        _ => Vec::new(),
    };
    Response::from_parts(parts, Body::from(bytes))
}
