//! Pure domain rules: no AWS types, no I/O, tested with plain unit tests.

pub mod api_key;
pub mod assignment;
pub mod audit;
pub mod erasure;
pub mod export;
pub mod household;
pub mod household_change;
pub mod invite;
pub mod notification;
pub mod photo;
pub mod recurrence;
pub mod reminder;
pub mod task;
pub mod user;
pub mod webhook;

/// Truncates to milliseconds, the precision the API and the table store.
pub fn at_millis(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).expect("in range")
}
