//! Platform routes that belong to no business service.

use serde::Serialize;
use shared::lambda::Route;
use shared::platform::version::{self, ApiVersion};
use shared::{ApiRequest, ApiResponse, ApiResult, App, handler};

pub const ROUTES: &[Route] = &[Route {
    method: "GET",
    path: "/v1/health",
    function: "HealthFunction",
    authenticated: false,
    handler: handler!(health),
    deprecated: None,
    scope: None,
}];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    status: &'static str,
    /// The major version, the URL's prefix.
    version: &'static str,
    /// The dated versions `Api-Version` may name, oldest first (the first is the default).
    api_versions: Vec<&'static str>,
    time: String,
}

/// `GET /v1/health`: liveness, without auth and without touching dependencies, so an
/// outage of DynamoDB does not make every function look dead to a load balancer.
pub async fn health(app: App, _req: ApiRequest) -> ApiResult {
    Ok(ApiResponse::ok(&Health {
        status: "ok",
        version: version::MAJOR,
        api_versions: ApiVersion::served().map(ApiVersion::as_str).collect(),
        time: shared::platform::clock::rfc3339(app.now()),
    }))
}
