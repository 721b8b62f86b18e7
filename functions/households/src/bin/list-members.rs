//! Lambda entry point for `GET /v1/households/{householdId}/members` (ListMembersFunction).
#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_route(functions_households::ROUTES, "ListMembersFunction").await
}
