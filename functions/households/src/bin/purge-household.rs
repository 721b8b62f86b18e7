//! Lambda entry point for the household purge worker (PurgeHouseholdFunction, SQS).
#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_worker(functions_households::purge::handle_batch).await
}
