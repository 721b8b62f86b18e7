//! Lambda entry point for `POST /v1/households` (CreateHouseholdFunction).
#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_route(functions_households::ROUTES, "CreateHouseholdFunction").await
}
