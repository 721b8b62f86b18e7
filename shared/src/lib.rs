//! The library every Chore Garden function uses.
//!
//! - [`platform`]: configuration, logging, correlation ids, problem+json errors with i18n,
//!   request parsing, pagination cursors, the clock, and the HTTP/SQS handler adapters.
//! - [`auth`]: who is calling ([`auth::Principal`]), what their household role allows
//!   ([`auth::policy`]), and JWT verification for the local gateway ([`auth::jwt`]).
//! - [`domain`]: pure rules for users, households, members and invites. No AWS types.
//! - [`store`]: the DynamoDB single-table mapping. [`store::keys`] owns every key format.
//! - [`api_keys`]: revoking household API keys in API Gateway and the table together.

pub mod api_keys;
pub mod app;
pub mod auth;
pub mod domain;
pub mod lambda;
pub mod platform;
pub mod store;

pub use app::App;
pub use platform::error::{ApiError, ErrorCode};
pub use platform::http::{ApiRequest, ApiResponse, ApiResult};
