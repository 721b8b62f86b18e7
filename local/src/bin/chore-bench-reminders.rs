//! Benchmark (not a test): the dispatcher over N due reminders, all in one hour (the hot
//! hour, over the index's 8 shards), against DynamoDB Local. Runs follow one another as
//! the schedule would fire them (each claims for at most `RUN_BUDGET`) until all are sent.
//! Prints wall time, runs, DynamoDB calls and consumed capacity, and SQS calls (at most one
//! per 10 messages).
//!
//! SQS is a counting sink in this process that accepts every `SendMessageBatch` (moto's
//! SQS slows with the square of the queue's length, which would measure moto): it counts
//! the calls and messages itself, independently of the dispatcher's own report. Run with
//! scripts/bench; `CG_BENCH_REMINDERS=10000,100000` for the sizes.

use std::sync::Arc;
use std::time::Instant;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::{Duration, DurationRound, Utc};
use functions_notifications::dispatch_reminders;
use local::meter::{Meter, MeterInterceptor};
use local::provision::{Endpoints, create_table};
use local::template::Template;
use shared::App;
use shared::domain::reminder::{ReminderKind, ReminderPlan};
use shared::platform::clock::SystemClock;
use shared::platform::config::Config;
use shared::store::reminders::PendingReminder;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An SQS endpoint that takes every `SendMessageBatch` and counts calls and messages.
struct SqsSink {
    url: String,
    counts: Arc<std::sync::Mutex<(usize, usize)>>,
}

impl SqsSink {
    async fn start() -> Result<SqsSink, BoxError> {
        let counts = Arc::new(std::sync::Mutex::new((0usize, 0usize)));
        let seen = counts.clone();
        let app = axum::Router::new().fallback(move |headers: http::HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                let request: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let entries = request["Entries"].as_array().cloned().unwrap_or_default();
                if target != "AmazonSQS.SendMessageBatch" {
                    return (http::StatusCode::BAD_REQUEST, format!("the sink takes SendMessageBatch, not {target}"));
                }
                {
                    let mut c = seen.lock().expect("counts");
                    c.0 += 1;
                    c.1 += entries.len();
                }
                let ok: Vec<serde_json::Value> = entries
                    .iter()
                    .map(|e| serde_json::json!({ "Id": e["Id"], "MessageId": ulid::Ulid::new().to_string(), "MD5OfMessageBody": "" }))
                    .collect();
                (http::StatusCode::OK, serde_json::json!({ "Successful": ok, "Failed": [] }).to_string())
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(SqsSink { url, counts })
    }

    /// Calls and messages since the last take.
    fn take(&self) -> (usize, usize) {
        std::mem::take(&mut *self.counts.lock().expect("counts"))
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let ddb_endpoint = std::env::var("CG_BENCH_DYNAMODB_ENDPOINT").map_err(|_| "run this with scripts/bench")?;
    let sdk = Endpoints::sdk_config(&ddb_endpoint).await;
    let meter = Arc::new(Meter::default());
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(MeterInterceptor(meter.clone())).build(),
    );
    let sink = SqsSink::start().await?;
    let sqs = aws_sdk_sqs::Client::new(&Endpoints::sdk_config(&sink.url).await);
    let sizes: Vec<usize> = std::env::var("CG_BENCH_REMINDERS")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!("Dispatcher runs over N reminders due in one hour (8 shards), until all are sent");
    println!(
        "{:>8} | {:>8} | {:>4} | {:>10} | {:>14} | {:>9} | {:>8}",
        "N", "wall s", "runs", "DDB calls", "capacity units", "SQS calls", "messages"
    );
    for n in sizes {
        // A table and a queue of their own for each size.
        let table = format!("bench-rem-{}", ulid::Ulid::new().to_string().to_lowercase());
        create_table(&Template::load_default()?, &ddb, &table).await?;
        let config = Config::from_lookup(|k| (k == "TABLE_NAME").then(|| table.clone()))?;
        let queue = format!("{}/000000000000/bench-reminders", sink.url);
        let app = App::with_clients(config, ddb.clone(), sqs.clone(), Arc::new(SystemClock));

        let now = shared::domain::at_millis(Utc::now());
        let hour = now.duration_trunc(Duration::hours(1))?;
        let span = (now - hour).num_milliseconds().max(1);
        let mut items = Vec::with_capacity(n);
        for i in 0..n {
            let at = hour + Duration::milliseconds(i as i64 % span);
            let p = PendingReminder {
                household_id: ulid::Ulid::new().to_string(),
                task_id: ulid::Ulid::new().to_string(),
                due: at + Duration::minutes(30),
                remind_at: at,
                kind: ReminderKind::Reminder,
                plan: ReminderPlan { before: vec![30], ..Default::default() },
            };
            items.push(
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(p.item(now)?)).build()?)
                    .build(),
            );
        }
        for chunk in items.chunks(25) {
            let mut pending = Some(chunk.to_vec());
            while let Some(requests) = pending.take().filter(|r| !r.is_empty()) {
                let out = ddb.batch_write_item().request_items(&table, requests).send().await?;
                pending = out.unprocessed_items.and_then(|mut u| u.remove(&table));
            }
        }
        meter.take();
        sink.take();
        let started = Instant::now();
        let (mut runs, mut sent, mut at) = (0, 0usize, now);
        while sent < n && runs < 100 {
            let report =
                dispatch_reminders(&app, &queue, &format!("bench-{runs}"), at).await.map_err(|e| e.to_string())?;
            sent += report.sent as usize;
            runs += 1;
            // The next run, as the schedule fires it: a minute later.
            at += Duration::minutes(1);
        }
        let wall = started.elapsed().as_secs_f64();
        let (calls, capacity) = meter.take();
        let (sqs_calls, messages) = sink.take();
        println!("{n:>8} | {wall:>8.1} | {runs:>4} | {calls:>10} | {capacity:>14.0} | {sqs_calls:>9} | {messages:>8}");
        if messages != n || sqs_calls > n.div_ceil(10) + runs {
            return Err(format!(
                "expected {n} messages in about n/10 SQS calls, the sink got {messages} in {sqs_calls}"
            )
            .into());
        }
    }
    Ok(())
}
