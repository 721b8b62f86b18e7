//! Every route, worker and scheduled job of every service: what the one Lambda binary dispatches to, what
//! the local gateway serves and polls, and what the contract tests compare with
//! template.yaml and openapi.yaml.

use shared::lambda::{Authorizer, Functions, Job, Route, StreamWorker, Worker};

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
    [
        functions_users::WORKERS,
        functions_households::WORKERS,
        functions_tasks::WORKERS,
        functions_notifications::WORKERS,
    ]
    .concat()
}

pub fn streams() -> Vec<StreamWorker> {
    functions_notifications::STREAMS.to_vec()
}

pub fn jobs() -> Vec<Job> {
    functions_notifications::JOBS.to_vec()
}

pub fn authorizers() -> Vec<Authorizer> {
    functions_households::AUTHORIZERS.to_vec()
}

/// Runs the function `CHORE_FUNCTION` names, from these tables.
pub async fn serve() -> Result<(), shared::lambda::Error> {
    let (routes, workers, jobs, streams, authorizers) = (routes(), workers(), jobs(), streams(), authorizers());
    shared::lambda::serve_function(Functions {
        routes: &routes,
        workers: &workers,
        jobs: &jobs,
        streams: &streams,
        authorizers: &authorizers,
    })
    .await
}
