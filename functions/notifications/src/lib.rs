//! The notifications service (issue 7): the reminder dispatcher (a scheduled job) and the
//! notification worker (SQS).

mod dispatch;
pub mod email;
pub mod events;
mod mail_feedback;
pub mod webhooks;
mod worker;

pub use dispatch::*;
pub use mail_feedback::handle_feedback;
use shared::handler;
use shared::lambda::{Job, Route, StreamWorker, Worker};
pub use worker::*;

pub const JOBS: &[Job] =
    &[Job { function: "ReminderDispatcherFunction", handler: |app, event| Box::pin(run_dispatcher(app, event)) }];

pub const STREAMS: &[StreamWorker] = &[StreamWorker {
    function: "StreamEventsFunction",
    handler: |app, event| Box::pin(events::handle_stream(app, event)),
}];

pub const WORKERS: &[Worker] = &[
    Worker {
        function: "NotificationWorkerFunction",
        queue: "NotificationQueue",
        handler: |app, event| Box::pin(handle_batch(app, event)),
    },
    Worker {
        function: "WebhookDeliveryFunction",
        queue: "WebhookQueue",
        handler: |app, event| Box::pin(webhooks::handle_deliveries(app, event)),
    },
    Worker {
        function: "MailFeedbackFunction",
        queue: "MailFeedbackQueue",
        handler: |app, event| Box::pin(handle_feedback(app, event)),
    },
];

const HOOKS: &str = "/v1/households/{householdId}/webhooks";

pub const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: HOOKS,
        function: "CreateWebhookFunction",
        authenticated: true,
        handler: handler!(webhooks::create_webhook),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "GET",
        path: HOOKS,
        function: "ListWebhooksFunction",
        authenticated: true,
        handler: handler!(webhooks::list_webhooks),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "PATCH",
        path: "/v1/households/{householdId}/webhooks/{webhookId}",
        function: "UpdateWebhookFunction",
        authenticated: true,
        handler: handler!(webhooks::update_webhook),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "DELETE",
        path: "/v1/households/{householdId}/webhooks/{webhookId}",
        function: "DeleteWebhookFunction",
        authenticated: true,
        handler: handler!(webhooks::delete_webhook),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "GET",
        path: "/v1/households/{householdId}/webhooks/{webhookId}/deliveries",
        function: "ListWebhookDeliveriesFunction",
        authenticated: true,
        handler: handler!(webhooks::list_deliveries),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver",
        function: "RedeliverWebhookFunction",
        authenticated: true,
        handler: handler!(webhooks::redeliver),
        deprecated: None,
        scope: None,
    },
];
