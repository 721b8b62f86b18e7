//! Lambda entry point for `GET /v1/households` (ListHouseholdsFunction).
#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_route(functions_households::ROUTES, "ListHouseholdsFunction").await
}
