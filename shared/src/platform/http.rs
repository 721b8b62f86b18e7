//! The HTTP side of every route handler: an [`ApiRequest`] in, an [`ApiResult`] out, and
//! [`handle`] in between, which adds correlation ids, logging, problem+json rendering,
//! CORS and version headers the same way in Lambda, the local gateway and tests.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::correlation;
use super::error::{ApiError, ErrorCode};
use super::i18n::Locale;
use super::pagination::{self, CursorRule, PageKey};
use super::validate::{self, MAX_BODY_BYTES};
use super::version::{self, ApiVersion};
use crate::App;
use crate::auth::Principal;

pub type ApiResult = Result<ApiResponse, ApiError>;

/// Headers a browser may read from our responses (CORS).
pub const EXPOSED_HEADERS: &str =
    "ETag, Location, Retry-After, X-Correlation-Id, Api-Version, Content-Language, Deprecation, Sunset, Link";
pub const ALLOWED_HEADERS: &str =
    "Authorization, Content-Type, If-Match, Idempotency-Key, X-Correlation-Id, Accept-Language, Api-Version";
pub const ALLOWED_METHODS: &str = "GET, POST, PATCH, PUT, DELETE, OPTIONS";

/// A request as handlers see it: parsed once, with the caller and the correlation id.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub path_params: HashMap<String, String>,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub principal: Option<Principal>,
    pub correlation_id: String,
    pub locale: Locale,
    /// The dated version the client asked for (`Api-Version`), or the default.
    pub api_version: ApiVersion,
}

impl ApiRequest {
    /// The authenticated caller, or 401.
    pub fn principal(&self) -> Result<&Principal, ApiError> {
        self.principal.as_ref().ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated))
    }

    pub fn path_param(&self, name: &str) -> Option<&str> {
        self.path_params.get(name).map(String::as_str)
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The JSON body as `T`, with 400/413/415/422 problems for bad input.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let is_json = self.header("content-type").is_none_or(|ct| {
            let ct = ct.to_ascii_lowercase();
            ct.starts_with("application/json") || ct.contains("+json")
        });
        if !is_json {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType));
        }
        validate::json_body(&self.body)
    }

    /// `limit` and `cursor` of a list request; the cursor must fit `rule` (this list's keys).
    pub fn page(&self, rule: &CursorRule<'_>) -> Result<(i32, Option<PageKey>), ApiError> {
        let limit = pagination::limit(self.query_param("limit"))?;
        let start = self.query_param("cursor").map(|c| pagination::decode(c, rule)).transpose()?;
        Ok((limit, start))
    }

    /// The `If-Match` precondition, if the request has one. A blank header names no
    /// version: nothing matches it.
    pub fn if_match(&self) -> Option<IfMatch> {
        let raw = self.header("if-match")?.trim();
        if raw.is_empty() {
            return Some(IfMatch::Versions(Vec::new()));
        }
        if raw == "*" {
            return Some(IfMatch::Any);
        }
        // A list of ETags; one that is not ours can never match (RFC 9110 13.1.1).
        Some(IfMatch::Versions(raw.split(',').map(parse_etag).collect()))
    }

    /// For changes that need `If-Match`: 428 without one (or a blank one), 412 unless it
    /// names `current`.
    pub fn require_if_match(&self, current: u64) -> Result<(), ApiError> {
        match self.if_match() {
            None => Err(ApiError::new(ErrorCode::PreconditionRequired)),
            Some(IfMatch::Versions(v)) if v.is_empty() => Err(ApiError::new(ErrorCode::PreconditionRequired)),
            Some(m) if !m.matches(current) => Err(ApiError::new(ErrorCode::PreconditionFailed)),
            Some(_) => Ok(()),
        }
    }

    /// For requests where `If-Match` is optional: when sent, it must name `current` (412).
    pub fn check_optional_if_match(&self, current: u64) -> Result<(), ApiError> {
        match self.if_match() {
            Some(m) if !m.matches(current) => Err(ApiError::new(ErrorCode::PreconditionFailed)),
            _ => Ok(()),
        }
    }

    /// A write that lost to a concurrent one: 412 if the client stated a precondition,
    /// else a plain 409 conflict (a precondition it never sent cannot have failed).
    pub fn lost_race(&self) -> ApiError {
        match self.if_match() {
            Some(_) => ApiError::new(ErrorCode::PreconditionFailed),
            None => ApiError::new(ErrorCode::ConcurrentUpdate),
        }
    }
}

/// What `If-Match` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current version.
    Any,
    /// The versions named (`None` for an entry that is not one of our ETags).
    Versions(Vec<Option<u64>>),
}

impl IfMatch {
    pub fn matches(&self, current: u64) -> bool {
        match self {
            IfMatch::Any => true,
            IfMatch::Versions(v) => v.contains(&Some(current)),
        }
    }
}

/// ETags are the item version in quotes: `"3"`. Weak validators are accepted on input.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

fn parse_etag(raw: &str) -> Option<u64> {
    let v = raw.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

/// What a handler answers on success.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<(String, Vec<u8>)>,
}

impl ApiResponse {
    pub fn json(status: StatusCode, body: &impl Serialize) -> ApiResponse {
        let bytes = serde_json::to_vec(body).expect("response types serialize");
        ApiResponse { status, headers: Vec::new(), body: Some(("application/json".to_string(), bytes)) }
    }

    pub fn ok(body: &impl Serialize) -> ApiResponse {
        ApiResponse::json(StatusCode::OK, body)
    }

    /// `201 Created` with the new resource's `Location`.
    pub fn created(location: String, body: &impl Serialize) -> ApiResponse {
        ApiResponse::json(StatusCode::CREATED, body).header("location", location)
    }

    pub fn no_content() -> ApiResponse {
        ApiResponse { status: StatusCode::NO_CONTENT, headers: Vec::new(), body: None }
    }

    pub fn header(mut self, name: &'static str, value: String) -> ApiResponse {
        self.headers.push((name, value));
        self
    }

    pub fn etag(self, version: u64) -> ApiResponse {
        self.header("etag", etag(version))
    }
}

/// Runs one handler for one Lambda HTTP event. Never fails: every error, and even a panic,
/// becomes a problem+json response with the correlation id.
pub async fn handle(app: &App, request: Request, route: &crate::lambda::Route) -> Response<Body> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let correlation_id = correlation::from_header(header(correlation::HEADER));
    let locale = Locale::negotiate(header("accept-language"));
    // An unsupported version is refused (400) and answered as the default version.
    let (answered, version_refused) = match ApiVersion::negotiate(header(version::HEADER)) {
        Ok(v) => (v, None),
        Err(e) => (ApiVersion::default_version(), Some(e)),
    };
    // The Lambda request id; where there is no Lambda (local gateway), API Gateway's.
    let request_id = request
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .or_else(|| match request.request_context_ref() {
            Some(lambda_http::request::RequestContext::ApiGatewayV1(c)) => c.request_id.clone(),
            _ => None,
        })
        .unwrap_or_default();
    // Logs name the route's resource (`/v1/calendar/{token}`), never the raw path: a path
    // may carry a secret (the calendar feed's token).
    let resource = match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV1(c)) => c.resource_path.clone(),
        _ => None,
    }
    .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        correlation_id = %correlation_id,
        request_id = %request_id,
        method = %request.method(),
        resource = %resource,
    );
    // The path as the client sent it: lambda_http's URI carries the stage (`/dev/v1/...`).
    let instance = request.raw_http_path().to_string();
    let cors = app.config.cors_allow_origin.clone();

    let started = std::time::Instant::now();
    let budget = request.lambda_context_ref().and_then(|c| answer_budget(c.deadline, std::time::SystemTime::now()));
    let (outcome, consumed) = crate::store::capacity::measured(
        async {
            if let Some(refused) = version_refused {
                return Err(refused);
            }
            let api_request = into_api_request(request, correlation_id.clone(), locale, answered)?;
            // A household API key reaches only the routes whose scope it has.
            if let Some(grant) = api_request.principal.as_ref().and_then(|p| p.key.as_ref()) {
                match route.scope {
                    Some(scope) if grant.scopes.contains(&scope) => {}
                    Some(scope) => {
                        return Err(ApiError::new(ErrorCode::ApiKeyScopeMissing).with("scope", scope.as_str()));
                    }
                    None => return Err(ApiError::new(ErrorCode::Forbidden)),
                }
            }
            let run = AssertUnwindSafe((route.handler)(app.clone(), api_request)).catch_unwind();
            let ran = match budget {
                Some(budget) => tokio::time::timeout(budget, run).await.unwrap_or_else(|_| {
                    tracing::warn!(?budget, "the function's deadline is near: answering 503");
                    Ok(Err(ApiError::unavailable()))
                }),
                None => run.await,
            };
            ran.unwrap_or_else(|_| {
                tracing::error!("handler panicked");
                Err(ApiError::new(ErrorCode::Internal))
            })
        }
        .instrument(span.clone()),
    )
    .await;

    let _entered = span.enter();
    let response = match outcome {
        Ok(ok) => {
            tracing::info!(status = ok.status.as_u16(), "handled");
            let status = ok.status.as_u16();
            super::metrics::request(route.function, status, None, started.elapsed(), consumed, &correlation_id);
            success_response(ok)
        }
        Err(err) => {
            if err.status() >= 500 {
                tracing::error!(status = err.status(), code = err.code.as_str(), "failed");
            } else {
                tracing::info!(status = err.status(), code = err.code.as_str(), "refused");
            }
            let code = Some(err.code.as_str());
            super::metrics::request(route.function, err.status(), code, started.elapsed(), consumed, &correlation_id);
            problem_response(&err, locale, &correlation_id, &instance)
        }
    };
    let mut response = with_common_headers(response, &correlation_id, &cors);
    let headers = response.headers_mut();
    headers.insert(version::HEADER, HeaderValue::from_static(answered.as_str()));
    for (name, value) in route.deprecated.iter().flat_map(|d| d.headers()) {
        headers.insert(name, HeaderValue::from_str(&value).expect("deprecation headers are ASCII"));
    }
    response
}

/// How long before its Lambda deadline a request gives up with our 503 (a slow dependency,
/// call after call): never API Gateway's 502 for a timed-out function.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(1500);

/// The time a handler may take, given the invocation's deadline (ms since the epoch):
/// `None` (no limit of ours) when there is no deadline or too little time for the margin to
/// leave a useful budget (functions with a `Timeout` under 3 s).
pub fn answer_budget(deadline_ms: u64, now: std::time::SystemTime) -> Option<std::time::Duration> {
    let now_ms = now.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as u64;
    let remaining = std::time::Duration::from_millis(deadline_ms.checked_sub(now_ms)?);
    (remaining >= std::time::Duration::from_secs(3)).then(|| remaining - DEADLINE_MARGIN)
}

fn into_api_request(
    request: Request,
    correlation_id: String,
    locale: Locale,
    api_version: ApiVersion,
) -> Result<ApiRequest, ApiError> {
    let principal = Principal::from_request(&request);
    let raw_path = request.raw_http_path().to_string();
    let path_params = request
        .path_parameters_ref()
        .map(|m| m.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        .unwrap_or_default();
    let query = request
        .query_string_parameters_ref()
        .map(|m| m.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        .unwrap_or_default();
    let (parts, body) = request.into_parts();
    let body: Vec<u8> = match body {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        _ => Vec::new(),
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(ErrorCode::BodyTooLarge).with("limit", MAX_BODY_BYTES));
    }
    Ok(ApiRequest {
        method: parts.method,
        path: raw_path,
        path_params,
        query,
        headers: parts.headers,
        body,
        principal,
        correlation_id,
        locale,
        api_version,
    })
}

fn success_response(ok: ApiResponse) -> Response<Body> {
    let mut builder = Response::builder().status(ok.status);
    for (name, value) in ok.headers {
        builder = builder.header(name, value);
    }
    let body = match ok.body {
        Some((content_type, bytes)) => {
            builder = builder.header("content-type", content_type);
            Body::Text(String::from_utf8(bytes).expect("responses are UTF-8"))
        }
        None => Body::Empty,
    };
    builder.body(body).expect("valid response")
}

/// Renders an error as RFC 9457 problem+json (also used by the local gateway).
pub fn problem_response(err: &ApiError, locale: Locale, correlation_id: &str, instance: &str) -> Response<Body> {
    let problem = err.to_problem(locale, correlation_id, instance);
    let mut builder = Response::builder()
        .status(err.status())
        .header("content-type", "application/problem+json")
        .header("content-language", locale.tag());
    if let Some(secs) = err.retry_after_secs {
        builder = builder.header("retry-after", secs.to_string());
    }
    let body = serde_json::to_string(&problem).expect("problems serialize");
    builder.body(Body::Text(body)).expect("valid response")
}

/// Headers on every response: correlation id, CORS. (`handle` adds the API version.)
pub fn with_common_headers(mut response: Response<Body>, correlation_id: &str, allow_origin: &str) -> Response<Body> {
    let h = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set("x-correlation-id", correlation_id);
    set("access-control-allow-origin", allow_origin);
    set("access-control-expose-headers", EXPOSED_HEADERS);
    if allow_origin != "*" {
        set("vary", "Origin");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip_and_accept_weak_form() {
        assert_eq!(parse_etag(&etag(7)), Some(7));
        assert_eq!(parse_etag("W/\"3\""), Some(3));
        assert_eq!(parse_etag("3"), None);
        assert_eq!(parse_etag("\"x\""), None);
    }

    #[test]
    fn a_request_answers_one_and_a_half_seconds_before_its_deadline() {
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        let deadline = |secs: f64| (1_000_000.0 * 1000.0 + secs * 1000.0) as u64;
        // A 10 s function: 8.5 s for the handler.
        assert_eq!(super::answer_budget(deadline(10.0), now), Some(std::time::Duration::from_millis(8500)));
        // Under 3 s left, or past the deadline: no limit of ours (Lambda's own applies).
        assert_eq!(super::answer_budget(deadline(2.9), now), None);
        assert_eq!(super::answer_budget(deadline(-1.0), now), None);
    }
}
