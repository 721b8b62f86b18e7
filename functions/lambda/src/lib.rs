//! Every route and worker of every service: what the one Lambda binary dispatches to, what
//! the local gateway serves and polls, and what the contract tests compare with
//! template.yaml and openapi.yaml.

use shared::lambda::{Route, Worker};

pub fn routes() -> Vec<Route> {
    [functions_platform::ROUTES, functions_users::ROUTES, functions_households::ROUTES, functions_tasks::ROUTES]
        .concat()
}

pub fn workers() -> Vec<Worker> {
    functions_households::WORKERS.to_vec()
}
