//! Lambda entry point for `PATCH /v1/households/{householdId}` (UpdateHouseholdFunction).
#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_route(functions_households::ROUTES, "UpdateHouseholdFunction").await
}
