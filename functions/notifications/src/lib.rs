//! The notifications service (issue 7): the reminder dispatcher (a scheduled job) and the
//! notification worker (SQS).

mod dispatch;
pub mod email;
mod mail_feedback;
mod worker;

pub use dispatch::*;
pub use mail_feedback::handle_feedback;
use shared::lambda::{Job, Worker};
pub use worker::*;

pub const JOBS: &[Job] =
    &[Job { function: "ReminderDispatcherFunction", handler: |app, event| Box::pin(run_dispatcher(app, event)) }];

pub const WORKERS: &[Worker] = &[
    Worker {
        function: "NotificationWorkerFunction",
        queue: "NotificationQueue",
        handler: |app, event| Box::pin(handle_batch(app, event)),
    },
    Worker {
        function: "MailFeedbackFunction",
        queue: "MailFeedbackQueue",
        handler: |app, event| Box::pin(handle_feedback(app, event)),
    },
];
