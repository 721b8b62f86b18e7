//! Cold-start benchmark helper (run by scripts/bench-coldstart, not by hand): before each
//! measured cold start of a function, a table holding just the world its event expects.
//!
//! `chore-coldstart prepare FUNCTION DIR [--count]` empties the table `coldstart-events` on
//! DynamoDB Local (creating it from template.yaml the first time), seeds the events' world
//! (`local::events`) at the current time, runs the events the function's own event depends
//! on (a completion before an approval, a feed before reading it, ...) in-process, and writes
//! the function's event to DIR with the real ids and its dates moved to today. It prints one
//! JSON line: the table and the function's environment as template.yaml gives it.
//!
//! With `--count` it first does the same and runs the event once in-process, reporting its
//! answer and its AWS calls (the round trips) with their times, then seeds again for the
//! measured run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use chrono::{DateTime, NaiveDate, Utc};
use local::events::{
    EXAMPLE_COMPLETION, EXAMPLE_DELIVERY, EXAMPLE_FEED_TOKEN, EXAMPLE_WEBHOOK, EXAMPLE_WEBHOOK_URL, HOUSEHOLD,
    LOCAL_WEBHOOK_URL, event_file,
};
use local::provision::{Endpoints, Provisioned, create_queues, create_table};
use local::template::Template;
use serde_json::{Value, json};
use shared::App;
use shared::platform::clock::SystemClock;
use shared::platform::config::Config;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The ids an event names, as the events before it made them.
struct Ids {
    completion: String,
    feed: String,
    webhook: String,
    delivery: String,
}

/// One table for every run, emptied before each: creating and deleting a table per run makes
/// DynamoDB Local slower with every table (its answers went from 3 to 25 ms over a few
/// hundred tables).
const TABLE: &str = "coldstart-events";

/// The day the events' dates assume: the events test's fixed clock (2026-12-01T10:00Z).
fn events_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).expect("a date")
}

/// What must have happened before `function`'s event can succeed. The rest need only the
/// seeded world.
fn prerequisites(function: &str) -> &'static [&'static str] {
    match function {
        "PatchMeFunction" => &["GetMeFunction"],
        "RemoveMemberFunction" => &["AcceptInviteFunction"],
        "ApproveCompletionFunction"
        | "RejectCompletionFunction"
        | "UndoCompletionFunction"
        | "ListCompletionsFunction" => &["CompleteTaskFunction"],
        "CalendarFeedFunction" | "RevokeCalendarFeedFunction" => &["CreateCalendarFeedFunction"],
        "RestoreTaskFunction" => &["ArchiveTaskFunction"],
        "PurgeHouseholdFunction" => &["DeleteHouseholdFunction"],
        // The worker's event reminds Ana of the seeded chore: she then has a notification.
        "ListNotificationsFunction" | "MarkNotificationReadFunction" | "MarkAllNotificationsReadFunction" => {
            &["NotificationWorkerFunction"]
        }
        "ListWebhooksFunction" | "UpdateWebhookFunction" | "DeleteWebhookFunction" => &["CreateWebhookFunction"],
        // The reminder, handed to the webhook, is its first delivery.
        "ListWebhookDeliveriesFunction" | "RedeliverWebhookFunction" | "WebhookDeliveryFunction" => {
            &["CreateWebhookFunction", "NotificationWorkerFunction"]
        }
        _ => &[],
    }
}

/// Each AWS call's start and end, from the SDK's interceptor hooks.
#[derive(Debug, Default)]
struct Calls(Mutex<Vec<(String, Instant, Instant)>>);

#[derive(Debug, Clone)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Clone)]
struct Recorder(Arc<Calls>);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "ColdstartRecorder"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let end = Instant::now();
        let start = cfg.load::<Started>().map(|s| s.0).unwrap_or(end);
        let name = cfg.load::<Metadata>().map(|m| format!("{}.{}", m.service(), m.name())).unwrap_or_default();
        self.0.0.lock().unwrap().push((name, start, end));
        Ok(())
    }
}

impl Calls {
    fn take(&self) -> Vec<(String, Instant, Instant)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Wall time covered by the calls (overlapping calls count once).
fn covered(calls: &[(String, Instant, Instant)]) -> Duration {
    let mut spans: Vec<(Instant, Instant)> = calls.iter().map(|(_, s, e)| (*s, *e)).collect();
    spans.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (s, e) in spans {
        current = match current {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    if let Some((cs, ce)) = current {
        total += ce - cs;
    }
    total
}

/// Moves every `YYYY-MM-DDTHH:MM:SSZ` in `text` by `days`.
fn shift_dates(text: &str, days: i64) -> String {
    if days == 0 {
        return text.to_string();
    }
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:ddZ";
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let candidate = bytes
            .get(i..i + SHAPE.len())
            .filter(|w| w.iter().zip(SHAPE).all(|(c, s)| if *s == b'd' { c.is_ascii_digit() } else { c == s }));
        if let Some(w) = candidate
            && let Ok(t) = DateTime::parse_from_rfc3339(std::str::from_utf8(w).unwrap_or_default())
        {
            let moved = t.with_timezone(&Utc) + chrono::Duration::days(days);
            out.push_str(&moved.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            i += SHAPE.len();
            continue;
        }
        let c = text[i..].chars().next().expect("in bounds");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

struct Bench {
    template: Template,
    endpoints: Endpoints,
    queue_urls: std::collections::HashMap<String, String>,
    keys: std::collections::HashMap<String, String>,
    ddb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    kms: aws_sdk_kms::Client,
    calls: Arc<Calls>,
    /// The events' dates move by this many days: to today.
    days: i64,
}

impl Bench {
    fn env(&self, function: &str, table: &str) -> std::collections::HashMap<String, String> {
        let provisioned = Provisioned {
            endpoints: self.endpoints.clone(),
            table_name: table.to_string(),
            queue_urls: self.queue_urls.clone(),
            buckets: Default::default(),
            user_pool_id: String::new(),
            client_id: String::new(),
            keys: self.keys.clone(),
            configuration_sets: Default::default(),
            usage_plans: Default::default(),
        };
        let mut env = local::function_environment(&self.template, &provisioned, function);
        // A cold start, not email: the bench's emulator is reached for DynamoDB, SQS and KMS.
        env.insert("MAIL_FROM".into(), String::new());
        // Webhooks go to a port on this machine (see `Bench::event`).
        env.insert("WEBHOOK_ALLOW_LOOPBACK".into(), "true".into());
        env
    }

    fn app(&self, function: &str, table: &str) -> Result<App, BoxError> {
        let env = self.env(function, table);
        let config = Config::from_lookup(|k| env.get(k).cloned())?;
        Ok(App::with_clients(config, self.ddb.clone(), self.sqs.clone(), Arc::new(SystemClock))
            .with_kms(self.kms.clone()))
    }

    fn event(&self, function: &str, ids: &Ids) -> Result<String, BoxError> {
        let text = std::fs::read_to_string(event_file(function))?
            .replace(EXAMPLE_COMPLETION, &ids.completion)
            .replace(EXAMPLE_FEED_TOKEN, &ids.feed)
            .replace(EXAMPLE_WEBHOOK, &ids.webhook)
            .replace(EXAMPLE_DELIVERY, &ids.delivery)
            // No request leaves the machine: the receiver is a port here that refuses.
            .replace(EXAMPLE_WEBHOOK_URL, LOCAL_WEBHOOK_URL);
        Ok(shift_dates(&text, self.days))
    }

    /// Deletes every item (the table holds one small world at a time).
    async fn clear(&self, table: &str) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .ddb
                .scan()
                .table_name(table)
                .projection_expression("PK, SK")
                .set_exclusive_start_key(start)
                .send()
                .await?;
            keys.extend(page.items().iter().cloned());
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        for chunk in keys.chunks(25) {
            let requests = chunk
                .iter()
                .map(|key| {
                    let delete = DeleteRequest::builder().set_key(Some(key.clone())).build()?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<Vec<_>, BoxError>>()?;
            let mut pending = Some(std::collections::HashMap::from([(table.to_string(), requests)]));
            while let Some(items) = pending.filter(|p| !p.is_empty()) {
                let out = self.ddb.batch_write_item().set_request_items(Some(items)).send().await?;
                pending = out.unprocessed_items().cloned();
            }
        }
        Ok(())
    }

    /// Runs `function`'s event (as `text`) in-process on `table`: its status (200 for a
    /// worker that failed no message or a job that succeeded, 500 otherwise) and body.
    async fn run(&self, function: &str, table: &str, text: &str) -> Result<(u16, String), BoxError> {
        let app = self.app(function, table)?;
        if let Some(worker) = local::routes::workers().into_iter().find(|w| w.function == function) {
            let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(text)?;
            let response = (worker.handler)(app, event).await;
            let status = if response.batch_item_failures.is_empty() { 200 } else { 500 };
            return Ok((status, serde_json::to_string(&response)?));
        }
        if let Some(consumer) = local::routes::streams().into_iter().find(|s| s.function == function) {
            let event: shared::lambda::StreamEvent = serde_json::from_str(text)?;
            let response = (consumer.handler)(app, event).await;
            let status = if response.batch_item_failures.is_empty() { 200 } else { 500 };
            return Ok((status, serde_json::to_string(&response)?));
        }
        if let Some(job) = local::routes::jobs().into_iter().find(|j| j.function == function) {
            let event: shared::lambda::ScheduledEvent = serde_json::from_str(text)?;
            (job.handler)(app, event).await?;
            return Ok((200, String::new()));
        }
        let route = shared::lambda::find_route(&local::routes::routes(), function);
        let request = lambda_http::request::from_str(text).map_err(|e| format!("{function}: {e}"))?;
        let response = shared::platform::http::handle(&app, request, &route).await;
        let body = match response.body() {
            lambda_http::Body::Text(t) => t.clone(),
            _ => String::new(),
        };
        Ok((response.status().as_u16(), body))
    }

    /// Empties the table and seeds the world `function`'s event expects; returns the event.
    async fn world(&self, function: &str) -> Result<(String, String), BoxError> {
        let table = TABLE.to_string();
        self.clear(&table).await?;
        let now = shared::domain::at_millis(Utc::now());
        local::events::seed(&self.app(function, &table)?.store, now).await?;
        let mut ids = Ids {
            completion: EXAMPLE_COMPLETION.into(),
            feed: EXAMPLE_FEED_TOKEN.into(),
            webhook: EXAMPLE_WEBHOOK.into(),
            delivery: EXAMPLE_DELIVERY.into(),
        };
        for before in prerequisites(function) {
            let (status, body) = self.run(before, &table, &self.event(before, &ids)?).await?;
            if !(200..300).contains(&status) {
                return Err(format!("{before} (before {function}) answered {status}: {body}").into());
            }
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            if let Some(id) = v.pointer("/completion/completionId").and_then(Value::as_str) {
                ids.completion = id.to_string();
            }
            if let Some(path) = v.pointer("/path").and_then(Value::as_str) {
                ids.feed = path.rsplit('/').next().unwrap_or_default().to_string();
            }
            if let Some(id) = v.pointer("/webhookId").and_then(Value::as_str) {
                ids.webhook = id.to_string();
            }
            if *before == "NotificationWorkerFunction" {
                let store = &self.app(function, &table)?.store;
                let (deliveries, _) = store.list_deliveries(HOUSEHOLD, &ids.webhook, 1, None, now).await?;
                if let Some(d) = deliveries.first() {
                    ids.delivery = d.delivery_id.clone();
                }
            }
        }
        Ok((table, self.event(function, &ids)?))
    }
}

async fn prepare(function: &str, dir: &str, count: bool) -> Result<Value, BoxError> {
    let get = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set: run scripts/bench-coldstart"));
    let endpoints =
        Endpoints { dynamodb: get("CG_COLDSTART_DYNAMODB_ENDPOINT")?, moto: get("CG_COLDSTART_MOTO_ENDPOINT")? };
    let template = Template::load_default()?;
    let calls = Arc::new(Calls::default());
    let dynamodb = Endpoints::sdk_config(&endpoints.dynamodb).await;
    let moto = Endpoints::sdk_config(&endpoints.moto).await;
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&dynamodb).interceptor(Recorder(calls.clone())).build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&moto).interceptor(Recorder(calls.clone())).build(),
    );
    // Created on the first run, found again later (both calls are idempotent).
    create_table(&template, &ddb, TABLE).await?;
    let queue_urls = create_queues(&template, &sqs, "coldstart-").await?;
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&moto).interceptor(Recorder(calls.clone())).build(),
    );
    let keys = local::provision::create_keys(&template, &kms).await?;
    let days = (Utc::now().date_naive() - events_day()).num_days();
    let bench = Bench { template, endpoints, queue_urls, keys, ddb, sqs, kms, calls, days };

    let mut out = json!({ "function": function });
    if count {
        // The event once in-process, on a table of its own: its answer and its calls.
        let (table, text) = bench.world(function).await?;
        bench.calls.take();
        let (status, body) = bench.run(function, &table, &text).await?;
        let made = bench.calls.take();
        // One warm GetItem (a miss), as the probe makes it: the median of a few.
        let mut get_item = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            bench
                .ddb
                .get_item()
                .table_name(&table)
                .key("PK", aws_sdk_dynamodb::types::AttributeValue::S("p".into()))
                .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("s".into()))
                .send()
                .await?;
            get_item.push(started.elapsed());
        }
        get_item.sort();
        let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
        out["status"] = json!(status);
        out["body"] = json!(body.chars().take(300).collect::<String>());
        out["roundTrips"] = json!(made.len());
        out["calls"] = json!(made.iter().map(|(n, s, e)| json!([n, ms(*e - *s)])).collect::<Vec<_>>());
        out["awsMs"] = json!(ms(covered(&made)));
        out["getItemMs"] = json!(ms(get_item[get_item.len() / 2]));
    }
    let (table, text) = bench.world(function).await?;
    std::fs::create_dir_all(dir)?;
    let event_path = std::path::Path::new(dir).join(format!("{function}.json"));
    std::fs::write(&event_path, &text)?;
    out["table"] = json!(table);
    out["event"] = json!(event_path);
    out["env"] = json!(bench.env(function, &table));
    Ok(out)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["prepare", function, dir, rest @ ..] => prepare(function, dir, rest.contains(&"--count")).await,
        _ => {
            eprintln!("usage: chore-coldstart prepare FUNCTION DIR [--count]   (run by scripts/bench-coldstart)");
            return std::process::ExitCode::from(2);
        }
    };
    match result {
        Ok(v) => {
            println!("{v}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
