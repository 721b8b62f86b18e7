//! Lambda entry point for UpdateSubtaskFunction (see the route table in functions/tasks/src/lib.rs).
#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_route(functions_tasks::ROUTES, "UpdateSubtaskFunction").await
}
