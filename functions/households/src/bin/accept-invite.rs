//! Lambda entry point for `POST /v1/invites/{code}/accept` (AcceptInviteFunction).
#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_route(functions_households::ROUTES, "AcceptInviteFunction").await
}
