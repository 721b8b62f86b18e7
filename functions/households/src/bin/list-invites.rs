//! Lambda entry point for `GET /v1/households/{householdId}/invites` (ListInvitesFunction).
#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_route(functions_households::ROUTES, "ListInvitesFunction").await
}
