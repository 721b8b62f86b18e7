//! Platform routes that belong to no business service.

use serde::Serialize;
use shared::lambda::Route;
use shared::platform::API_VERSION;
use shared::{ApiRequest, ApiResponse, ApiResult, App, handler};

pub const ROUTES: &[Route] = &[Route {
    method: "GET",
    path: "/v1/health",
    function: "HealthFunction",
    authenticated: false,
    handler: handler!(health),
}];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    status: &'static str,
    version: &'static str,
    time: String,
}

/// `GET /v1/health`: liveness, without auth and without touching dependencies, so an
/// outage of DynamoDB does not make every function look dead to a load balancer.
pub async fn health(app: App, _req: ApiRequest) -> ApiResult {
    Ok(ApiResponse::ok(&Health {
        status: "ok",
        version: API_VERSION,
        time: shared::platform::clock::rfc3339(app.now()),
    }))
}
