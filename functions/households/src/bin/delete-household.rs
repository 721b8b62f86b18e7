//! Lambda entry point for `DELETE /v1/households/{householdId}` (DeleteHouseholdFunction).
#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_route(functions_households::ROUTES, "DeleteHouseholdFunction").await
}
