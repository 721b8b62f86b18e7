//! The notifications service (issue 7). So far: the reminder dispatcher.

mod dispatch;

pub use dispatch::*;
