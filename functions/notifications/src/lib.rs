//! The notifications service (issue 7): the reminder dispatcher (a scheduled job) and,
//! next, the notification worker.

mod dispatch;

pub use dispatch::*;
use shared::lambda::Job;

pub const JOBS: &[Job] =
    &[Job { function: "ReminderDispatcherFunction", handler: |app, event| Box::pin(run_dispatcher(app, event)) }];
