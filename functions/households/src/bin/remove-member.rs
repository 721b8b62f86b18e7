//! Lambda entry point for `DELETE /v1/households/{householdId}/members/{userId}` (RemoveMemberFunction).
#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_route(functions_households::ROUTES, "RemoveMemberFunction").await
}
