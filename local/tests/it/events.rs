//! Every file in events/ is a realistic event for one function: fed through that
//! function's handler against the local stack, it gets the answer a user would expect.

use chrono::{DateTime, TimeZone, Utc};
use local::events::{EXAMPLE_COMPLETION, EXAMPLE_DELIVERY, EXAMPLE_FEED_TOKEN, EXAMPLE_WEBHOOK, HOUSEHOLD, event_file};
use shared::platform::clock::ManualClock;

use crate::support::{stack, template};

/// The order the events run in, and the status each must get.
/// Workers (SQS events) are "200" when they report no failed message.
const EXPECTED: &[(&str, u16)] = &[
    ("HealthFunction", 200),
    ("GetMeFunction", 200),
    ("CreateWebhookFunction", 201),
    ("ListWebhooksFunction", 200),
    ("UpdateWebhookFunction", 200),
    // Reminds Ana of the seeded chore, and hands the reminder to the webhook.
    ("NotificationWorkerFunction", 200),
    // Ben completed the chore (an audit entry from the stream): queued for the worker.
    ("StreamEventsFunction", 200),
    ("ListWebhookDeliveriesFunction", 200),
    ("RedeliverWebhookFunction", 202),
    // Its receiver is not reachable from here: the attempt is logged and retried later.
    ("WebhookDeliveryFunction", 200),
    ("DeleteWebhookFunction", 204),
    // A household API key for the kitchen's NFC tag: made, listed, admitted by the
    // integration API's authorizer, revoked.
    ("CreateApiKeyFunction", 201),
    ("ListApiKeysFunction", 200),
    ("ApiKeyAuthorizerFunction", 200),
    ("RevokeApiKeyFunction", 204),
    ("MailFeedbackFunction", 200),
    ("ListNotificationsFunction", 200),
    ("MarkNotificationReadFunction", 204),
    ("MarkAllNotificationsReadFunction", 204),
    ("PatchMeFunction", 200),
    ("CreateHouseholdFunction", 201),
    ("ListHouseholdsFunction", 200),
    ("GetHouseholdFunction", 200),
    ("UpdateHouseholdFunction", 200),
    ("ListMembersFunction", 200),
    ("UpdateMemberFunction", 200),
    // Reads the entry the update just wrote.
    ("ListAuditFunction", 200),
    ("CreateInviteFunction", 201),
    ("ListInvitesFunction", 200),
    ("RevokeInviteFunction", 204),
    ("AcceptInviteFunction", 201),
    ("RemoveMemberFunction", 204),
    // The removal, from the stream: the member leaves every chore (none was theirs).
    ("HouseholdChangesFunction", 200),
    ("CreateTaskFunction", 201),
    ("ListTasksFunction", 200),
    ("GetTaskFunction", 200),
    ("UpdateTaskFunction", 200),
    ("CompleteTaskFunction", 200),
    ("ApproveCompletionFunction", 200),
    ("ListCompletionsFunction", 200),
    ("UndoCompletionFunction", 409), // approved just before: a reviewed completion is final
    ("RejectCompletionFunction", 409),
    ("SkipTaskFunction", 200),
    ("SnoozeTaskFunction", 200),
    ("UpdateSubtaskFunction", 200),
    ("AgendaFunction", 200),
    ("CreateCalendarFeedFunction", 201),
    ("CalendarFeedFunction", 200),
    ("RevokeCalendarFeedFunction", 204),
    // The owner exports everything as CSV: a zip, written by the worker, then downloadable.
    ("CreateExportFunction", 202),
    ("ExportWorkerFunction", 200),
    ("GetExportFunction", 200),
    // Ana's personal (GDPR) export: queued.
    ("CreateMyExportFunction", 202),
    // The same through the deprecated path: one runs at a time per member.
    ("CreateMyExportOldPathFunction", 429),
    ("GetMyExportFunction", 200),
    // A proof photo: its upload URL; the worker's event comes for an upload that never
    // arrived (nothing to do); the photo stays pending.
    ("CreatePhotoFunction", 201),
    ("PhotoWorkerFunction", 200),
    ("GetPhotoFunction", 200),
    ("ArchiveTaskFunction", 200),
    ("RestoreTaskFunction", 200),
    ("DeleteHouseholdFunction", 204),
    // The delete queued the purge; the worker purges what is left.
    ("PurgeHouseholdFunction", 200),
    // Ana erases her account (the household she is still in has no one else): the job
    // deletes that household and everything of hers.
    ("DeleteMeFunction", 202),
    ("ErasureFunction", 200),
    // Ben signs out on every device (no later event is his).
    ("SignOutEverywhereFunction", 204),
];

#[tokio::test]
async fn every_event_runs_through_its_handler() {
    let s = stack().await;
    // The events carry fixed dates (a snooze target, an agenda range): fix the clock too.
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
    let clock: std::sync::Arc<ManualClock> = std::sync::Arc::new(ManualClock::at(now));
    // Each event runs as its function: its own policy and environment.
    let app_of = |function: &str| shared::App { clock: clock.clone(), ..s.stack.function_app(function) };
    let setup = shared::App { clock: clock.clone(), ..s.stack.app.clone() };
    // The world the events describe: Ana's household with one member, two invites, a chore.
    local::events::seed(&setup.store, now).await.unwrap();

    let routes = local::routes::routes();
    let workers = local::routes::workers();
    let mut completion_id = String::new();
    let mut feed_token = String::new();
    let mut webhook_id = String::new();
    let mut delivery_id = String::new();
    let mut export_id = String::new();
    let mut photo_id = String::new();
    let (mut api_key_id, mut api_key) = (String::new(), String::new());
    let mut audited = std::collections::BTreeSet::new();
    for (function, expected) in EXPECTED {
        let text = std::fs::read_to_string(event_file(function))
            .unwrap()
            .replace(EXAMPLE_COMPLETION, &completion_id)
            .replace(EXAMPLE_FEED_TOKEN, &feed_token)
            .replace(EXAMPLE_WEBHOOK, &webhook_id)
            .replace(EXAMPLE_DELIVERY, &delivery_id)
            .replace(local::events::EXAMPLE_EXPORT, &export_id)
            .replace(local::events::EXAMPLE_PHOTO, &photo_id)
            .replace(local::events::EXAMPLE_API_KEY_ID, &api_key_id)
            .replace(local::events::EXAMPLE_API_KEY, &api_key)
            .replace(local::events::EXAMPLE_WEBHOOK_URL, local::events::LOCAL_WEBHOOK_URL);
        if let Some(consumer) = local::routes::streams().into_iter().find(|w| w.function == *function) {
            let event: shared::lambda::StreamEvent = serde_json::from_str(&text).unwrap();
            let response = (consumer.handler)(app_of(function), event).await;
            assert_eq!(response.batch_item_failures.is_empty(), *expected == 200, "{function}: {response:?}");
            continue;
        }
        if let Some(authorizer) = local::routes::authorizers().into_iter().find(|a| a.function == *function) {
            let event: shared::lambda::AuthorizerEvent = serde_json::from_str(&text).unwrap();
            let answer = (authorizer.handler)(app_of(function), event).await.unwrap();
            assert_eq!(*expected, 200);
            assert_eq!(answer["policyDocument"]["Statement"][0]["Effect"], "Allow", "{answer:#}");
            assert_eq!(answer["context"]["householdId"], HOUSEHOLD, "{answer:#}");
            assert_eq!(answer["context"]["scopes"], "tasks:complete", "{answer:#}");
            assert!(answer["usageIdentifierKey"].is_string(), "{answer:#}");
            continue;
        }
        if let Some(worker) = workers.iter().find(|w| w.function == *function) {
            let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(&text).unwrap();
            let response = (worker.handler)(app_of(function), event).await;
            assert_eq!(response.batch_item_failures.is_empty(), *expected == 200, "{function}: {response:?}");
            after_worker(&setup, function, now, &mut delivery_id, &webhook_id).await;
            continue;
        }
        let route = shared::lambda::find_route(&routes, function);
        let request = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{function}: not an API Gateway event: {e}"));
        let before = audit_entries(&setup.store).await;
        let response = shared::platform::http::handle(&app_of(function), request, &route).await;
        if route.method != "GET" {
            // Every change writes exactly one audit entry (a refused request none), naming
            // who made it, what it did, to what, and the request's correlation id.
            let caller: serde_json::Value = serde_json::from_str(&text).unwrap();
            let sub = caller.pointer("/requestContext/authorizer/claims/sub").and_then(|v| v.as_str());
            let new: Vec<_> =
                audit_entries(&setup.store).await.into_iter().filter(|(k, _)| !before.contains_key(k)).collect();
            if response.status().is_success() {
                assert_eq!(new.len(), 1, "{function} wrote {} audit entries: {new:?}", new.len());
                let entry = &new[0].1;
                assert_eq!(Some(entry.actor_id.as_str()), sub, "{function}: the actor");
                assert_eq!(entry.correlation_id, "example-correlation-id", "{function}");
                assert!(!entry.action.is_empty() && entry.target.contains('/'), "{function}: {entry:?}");
            } else {
                assert!(new.is_empty(), "{function} was refused but wrote {new:?}");
            }
            audited.insert(*function);
        }
        let body = match response.body() {
            lambda_http::Body::Text(t) => t.clone(),
            _ => String::new(),
        };
        assert_eq!(response.status().as_u16(), *expected, "{function}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        match *function {
            "CreateCalendarFeedFunction" => {
                feed_token = v["path"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
            }
            "CompleteTaskFunction" => completion_id = v["completion"]["completionId"].as_str().unwrap().to_string(),
            "CreateWebhookFunction" => {
                webhook_id = v["webhookId"].as_str().unwrap().to_string();
                assert!(v["secret"].as_str().unwrap().starts_with("whsec_"), "the secret, shown once");
            }
            "ListWebhooksFunction" => assert!(v.to_string().find("whsec_").is_none(), "never shown again"),
            "CreateExportFunction" | "CreateMyExportFunction" => {
                export_id = v["exportId"].as_str().unwrap().to_string();
                assert_eq!(v["state"], "queued");
            }
            "CreatePhotoFunction" => {
                photo_id = v["photoId"].as_str().unwrap().to_string();
                assert!(v["upload"]["url"].as_str().unwrap().contains(&photo_id), "{v:#}");
            }
            "GetPhotoFunction" => assert_eq!(v["state"], "pending", "{v:#}"),
            "CreateApiKeyFunction" => {
                api_key_id = v["keyId"].as_str().unwrap().to_string();
                api_key = v["key"].as_str().unwrap().to_string();
            }
            "ListApiKeysFunction" => assert!(!v.to_string().contains(&api_key), "never shown again"),
            "GetMyExportFunction" => assert_eq!(v["userId"], local::events::OWNER, "{v:#}"),
            "GetExportFunction" => {
                assert_eq!(v["state"], "ready", "{v:#}");
                assert!(v["downloadUrl"].as_str().unwrap().contains(&export_id), "{v:#}");
            }
            "ListAuditFunction" => {
                let items = v["items"].as_array().unwrap();
                assert!(!items.is_empty() && items.iter().all(|e| e["action"] == "member.role_change"), "{v:#}");
            }
            _ => {}
        }
        assert_eq!(response.headers()["x-correlation-id"], "example-correlation-id");
    }
    assert!(s.items(&format!("HOUSEHOLD#{HOUSEHOLD}")).await.is_empty(), "purged");
    // The mutating routes come from the route tables, not from a list kept here.
    let mutating: std::collections::BTreeSet<&str> =
        routes.iter().filter(|r| r.method != "GET").map(|r| r.function).collect();
    assert_eq!(mutating, audited, "every mutating route ran and was checked");

    // The dispatcher's event runs in notifications::end_to_end, on a table of its own: the
    // dispatcher's checkpoint is one per table.
}

/// Every audit entry the events' requests wrote (their correlation id: other tests share the
/// table), by key. A consistent Scan: in tests only.
async fn audit_entries(
    store: &shared::store::Store,
) -> std::collections::BTreeMap<(String, String), shared::domain::audit::AuditEntry> {
    let mut out = std::collections::BTreeMap::new();
    let mut start = None;
    loop {
        let page = store
            .client
            .scan()
            .table_name(&store.table)
            .consistent_read(true)
            .filter_expression("begins_with(SK, :audit) AND correlationId = :events")
            .expression_attribute_values(":audit", aws_sdk_dynamodb::types::AttributeValue::S("AUDIT#".into()))
            .expression_attribute_values(
                ":events",
                aws_sdk_dynamodb::types::AttributeValue::S("example-correlation-id".into()),
            )
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items.unwrap_or_default() {
            let key = (item["PK"].as_s().unwrap().clone(), item["SK"].as_s().unwrap().clone());
            out.insert(key, serde_dynamo::from_item(item).unwrap());
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return out;
        }
    }
}

/// What a worker's event left behind, checked; and the ids later events name.
async fn after_worker(
    setup: &shared::App,
    function: &str,
    now: DateTime<Utc>,
    delivery_id: &mut String,
    webhook_id: &str,
) {
    match function {
        "NotificationWorkerFunction" => {
            let (told, _) = setup.store.list_notifications(local::events::OWNER, 10, None, now).await.unwrap();
            assert_eq!(told.len(), 1, "{told:?}");
            assert_eq!(told[0].title, "Reminder: Recycling");
            // In Ana's own time zone (her first call made her profile: UTC).
            assert_eq!(told[0].body, "Recycling is due 2026-11-24 08:00 UTC.");
            assert_eq!(
                told[0].notification_id,
                local::events::EXAMPLE_NOTIFICATION,
                "the one the mark-read event names"
            );
            let mark_read = std::fs::read_to_string(event_file("MarkNotificationReadFunction")).unwrap();
            assert!(mark_read.contains(local::events::EXAMPLE_NOTIFICATION));
            let (deliveries, _) = setup.store.list_deliveries(HOUSEHOLD, webhook_id, 10, None, now).await.unwrap();
            assert_eq!(deliveries.len(), 1, "the reminder went to the webhook");
            *delivery_id = deliveries[0].delivery_id.clone();
        }
        "MailFeedbackFunction" => {
            // SES's bounce stops email to that address, whatever its case.
            assert!(setup.store.mail_suppressed("Ben.Old@example.com").await.unwrap());
        }
        _ => {}
    }
}

#[test]
fn every_function_has_exactly_one_event() {
    for f in template().functions() {
        let path = event_file(&f.logical_id);
        let text = std::fs::read_to_string(&path).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        if let Some(api) = &f.api {
            assert_eq!(value["httpMethod"], api.method.as_str(), "{}", path.display());
            assert_eq!(value["resource"], api.path.as_str(), "{}", path.display());
            assert_eq!(
                value.pointer("/requestContext/authorizer/claims/sub").is_some(),
                api.authenticated,
                "{}",
                path.display()
            );
        } else if local::routes::authorizers().iter().any(|a| a.function == f.logical_id) {
            assert_eq!(value["type"], "REQUEST", "{}", path.display());
            serde_json::from_value::<shared::lambda::AuthorizerEvent>(value.clone()).unwrap();
        } else if f.stream.is_some() {
            assert_eq!(value["Records"][0]["eventSource"], "aws:dynamodb", "{}", path.display());
            serde_json::from_value::<shared::lambda::StreamEvent>(value.clone()).unwrap();
        } else if f.schedule.is_some() {
            assert_eq!(value["detail-type"], "Scheduled Event", "{}", path.display());
            serde_json::from_value::<shared::lambda::ScheduledEvent>(value.clone()).unwrap();
        } else {
            assert_eq!(value["Records"][0]["eventSource"], "aws:sqs", "{}", path.display());
        }
    }
}
