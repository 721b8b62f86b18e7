//! Every route, worker and scheduled job of every service: what the one Lambda binary dispatches to, what
//! the local gateway serves and polls, and what the contract tests compare with
//! template.yaml and openapi.yaml.

use shared::lambda::{Job, Route, Worker};

pub fn routes() -> Vec<Route> {
    [
        functions_platform::ROUTES,
        functions_users::ROUTES,
        functions_households::ROUTES,
        functions_tasks::ROUTES,
        functions_notifications::ROUTES,
    ]
    .concat()
}

pub fn workers() -> Vec<Worker> {
    [functions_households::WORKERS, functions_notifications::WORKERS].concat()
}

pub fn jobs() -> Vec<Job> {
    functions_notifications::JOBS.to_vec()
}

/// Runs the function `CHORE_FUNCTION` names, from these tables.
pub async fn serve() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_function(&routes(), &workers(), &jobs()).await
}
