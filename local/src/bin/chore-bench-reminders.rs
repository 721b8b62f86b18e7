//! Benchmark (not a test): one dispatcher run over N due reminders, all in one hour (the hot
//! hour, over the index's 8 shards), against DynamoDB Local and moto's SQS. Prints wall
//! time, DynamoDB calls and consumed capacity, and SQS calls (at most one per 10 messages).
//! Run with scripts/bench; `CG_BENCH_REMINDERS=10000,100000` for the sizes, which
//! moto's SQS makes slow (its time grows with the square of the queue's length).

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

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let ddb_endpoint = std::env::var("CG_BENCH_DYNAMODB_ENDPOINT").map_err(|_| "run this with scripts/bench")?;
    let moto_endpoint = std::env::var("CG_BENCH_MOTO_ENDPOINT").map_err(|_| "run this with scripts/bench")?;
    let sdk = Endpoints::sdk_config(&ddb_endpoint).await;
    let meter = Arc::new(Meter::default());
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(MeterInterceptor(meter.clone())).build(),
    );
    let sqs_sdk = Endpoints::sdk_config(&moto_endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&sqs_sdk);
    let sizes: Vec<usize> = std::env::var("CG_BENCH_REMINDERS")
        .unwrap_or_else(|_| "1000,3000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!("One dispatcher run over N due reminders in one hour (8 shards)");
    println!(
        "{:>8} | {:>8} | {:>10} | {:>14} | {:>9} | {:>6}",
        "N", "wall s", "DDB calls", "capacity units", "SQS calls", "sent"
    );
    for n in sizes {
        // A table and a queue of their own for each size.
        let table = format!("bench-rem-{}", ulid::Ulid::new().to_string().to_lowercase());
        create_table(&Template::load_default()?, &ddb, &table).await?;
        let config = Config::from_lookup(|k| (k == "TABLE_NAME").then(|| table.clone()))?;
        let queue = sqs.create_queue().queue_name(format!("bench-rem-{n}-{}", ulid::Ulid::new())).send().await?;
        let queue = queue.queue_url.ok_or("no queue url")?;
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
        let started = Instant::now();
        let report = dispatch_reminders(&app, &queue, "bench", now).await.map_err(|e| e.to_string())?;
        let wall = started.elapsed().as_secs_f64();
        let (calls, capacity) = meter.take();
        println!(
            "{n:>8} | {wall:>8.1} | {calls:>10} | {capacity:>14.0} | {:>9} | {:>6}",
            report.sqs_calls, report.sent
        );
        if report.sent as usize != n || report.sqs_calls as usize > n.div_ceil(10) {
            return Err(format!("expected {n} sent in at most {} SQS calls: {report:?}", n.div_ceil(10)).into());
        }
    }
    Ok(())
}
