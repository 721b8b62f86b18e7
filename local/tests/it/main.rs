//! Integration tests: the real handlers behind the local gateway, talking over HTTP to
//! DynamoDB Local and moto through the AWS SDK. `scripts/test` starts both emulators and
//! passes their endpoints in `CG_TEST_DYNAMODB_ENDPOINT` and `CG_TEST_MOTO_ENDPOINT`.
//! Every test makes its own users, households and queues, so tests run in parallel.

mod support;

mod api_keys;
mod audit;
mod auth;
mod contract;
mod defects;
mod erasure;
mod events;
mod exports;
mod failures;
mod household_changes;
mod households;
mod input;
mod invites;
mod members;
mod notifications;
mod photos;
mod production;
mod reminders;
mod scenario;
mod schema;
mod sessions;
mod task_roles;
mod tasks;
mod users;
mod versions;
