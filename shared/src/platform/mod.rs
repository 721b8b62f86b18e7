//! Cross-cutting concerns every handler relies on.

pub mod clock;
pub mod config;
pub mod correlation;
pub mod error;
pub mod http;
pub mod i18n;
pub mod metrics;
pub mod pagination;
pub mod telemetry;
pub mod validate;
pub mod version;
