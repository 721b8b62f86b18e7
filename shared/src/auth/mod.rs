//! Who is calling and what they may do.

pub mod jwt;
pub mod policy;
mod principal;

pub use policy::{Action, Role};
pub use principal::{KeyGrant, Principal, key_context};
