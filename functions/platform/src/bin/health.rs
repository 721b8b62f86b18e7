//! Lambda entry point for `GET /v1/health` (HealthFunction).
#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_route(functions_platform::ROUTES, "HealthFunction").await
}
