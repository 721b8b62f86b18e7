//! Lambda entry point for `GET /v1/me` (GetMeFunction).
#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_route(functions_users::ROUTES, "GetMeFunction").await
}
