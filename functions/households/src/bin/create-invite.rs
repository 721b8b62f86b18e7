//! Lambda entry point for `POST /v1/households/{householdId}/invites` (CreateInviteFunction).
#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_route(functions_households::ROUTES, "CreateInviteFunction").await
}
