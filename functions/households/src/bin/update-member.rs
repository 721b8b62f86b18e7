//! Lambda entry point for `PATCH /v1/households/{householdId}/members/{userId}` (UpdateMemberFunction).
#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_route(functions_households::ROUTES, "UpdateMemberFunction").await
}
