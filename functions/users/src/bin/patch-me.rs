//! Lambda entry point for `PATCH /v1/me` (PatchMeFunction).
#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_route(functions_users::ROUTES, "PatchMeFunction").await
}
