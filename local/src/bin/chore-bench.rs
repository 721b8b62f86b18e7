//! Benchmark (not a test): DynamoDB calls and consumed capacity per request for list, get,
//! complete and agenda in a household of 50 chores with 10,000 and then 100,000 past
//! completions. The per-request figures must not grow with history. Run with scripts/bench.

use std::time::Instant;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use chrono::{DateTime, Duration, Utc};
use http::Method;
use local::meter::{Meter, MeterInterceptor};
use local::provision::{Endpoints, create_table};
use local::template::Template;
use serde_json::json;
use shared::App;
use shared::domain::audit::AuditEntry;
use shared::domain::household::NewHousehold;
use shared::domain::task::{Completion, CompletionKind, HouseholdContext, RosterEntry, Task, TaskInput};
use shared::platform::clock::{SystemClock, rfc3339};
use shared::platform::config::Config;
use shared::store::keys;
use std::sync::Arc;
use std::sync::atomic::Ordering;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let endpoint = std::env::var("CG_BENCH_DYNAMODB_ENDPOINT").map_err(|_| "run this with scripts/bench")?;
    let sdk = Endpoints::sdk_config(&endpoint).await;
    let meter = Arc::new(Meter::default());
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(MeterInterceptor(meter.clone())).build(),
    );
    let table = format!("bench-{}", ulid::Ulid::new().to_string().to_lowercase());
    create_table(&Template::load_default()?, &ddb, &table).await?;
    let config = Config::from_lookup(|k| (k == "TABLE_NAME").then(|| table.clone()))?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let app = App::with_clients(config, ddb.clone(), sqs, Arc::new(SystemClock));

    // A household of one owner and 50 daily chores.
    let now = shared::domain::at_millis(Utc::now());
    let owner = "5f0c6b2e-4a1d-4c8e-9b7a-1e2d3c4b5a69".to_string();
    let new: NewHousehold = serde_json::from_value(json!({ "name": "Bench", "timezone": "Europe/Berlin" }))?;
    let (household, member) = new.create(&owner, "Owner", "UTC", now)?;
    let household_id = household.household_id.clone();
    let audit = || AuditEntry::new(&owner, "bench.setup", "bench".into(), "bench", now);
    app.store.create_household(&household, &member, &audit(), None).await?;
    let members = [RosterEntry::new(&owner)];
    let ctx = HouseholdContext { household_id: &household_id, timezone: "Europe/Berlin", roster: &members };
    let mut tasks: Vec<Task> = Vec::new();
    for i in 0..50 {
        let input: TaskInput = serde_json::from_value(json!({
            "title": format!("Chore {i}"),
            "recurrence": { "type": "interval", "every": 1 + (i % 7), "unit": "days" },
            "dueTime": format!("{:02}:00", 6 + i % 14),
            // Started two weeks ago: overdue, so each may be completed (twice) at any time of
            // day; a later occurrence opens only half-way from the previous one.
            "startDate": now.date_naive() - Duration::days(14),
        }))?;
        let task = input.create(&ctx, &owner, now)?;
        app.store.create_task(&task, &audit(), None, None, now).await?.map_err(|e| format!("{e:?}"))?;
        tasks.push(task);
    }

    println!("DynamoDB calls and consumed capacity per request (mean of 20), 50 chores");
    println!("{:>12} | {:<10} | {:>6} | {:>9} | {:>8}", "history", "request", "calls", "capacity", "ms");
    let mut seeded = 0;
    let sizes: Vec<usize> = std::env::var("CG_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000]);
    for target in sizes {
        seed_history(&app, &household_id, &owner, &tasks, seeded, target).await?;
        seeded = target;
        for (name, runs) in [("list", 20), ("get", 20), ("complete", 20), ("agenda", 20)] {
            let (mut calls, mut capacity, mut millis) = (0u64, 0f64, 0f64);
            for run in 0..runs {
                let task = &tasks[run % tasks.len()];
                let (method, path, function, query) = match name {
                    "list" => {
                        (Method::GET, format!("/v1/households/{household_id}/tasks"), "ListTasksFunction", "limit=25")
                    }
                    "get" => (
                        Method::GET,
                        format!("/v1/households/{household_id}/tasks/{}", task.task_id),
                        "GetTaskFunction",
                        "",
                    ),
                    "complete" => (
                        Method::POST,
                        format!("/v1/households/{household_id}/tasks/{}/complete", task.task_id),
                        "CompleteTaskFunction",
                        "",
                    ),
                    _ => (Method::GET, format!("/v1/households/{household_id}/agenda"), "AgendaFunction", ""),
                };
                meter.calls.store(0, Ordering::Relaxed);
                *meter.capacity.lock().unwrap() = 0.0;
                let started = Instant::now();
                let status = call(&app, &owner, method, &path, query, function).await?;
                millis += started.elapsed().as_secs_f64() * 1000.0;
                if status >= 300 {
                    return Err(format!("{name} answered {status}").into());
                }
                calls += meter.calls.load(Ordering::Relaxed);
                capacity += *meter.capacity.lock().unwrap();
            }
            let n = runs as f64;
            println!(
                "{:>12} | {:<10} | {:>6.1} | {:>9.1} | {:>8.1}",
                target,
                name,
                calls as f64 / n,
                capacity / n,
                millis / n
            );
        }
    }
    overdue_agenda(&app, &meter, &owner, now).await
}

/// The agenda of 100 hourly chores, each overdue by a year: its work must depend on the
/// range asked for, not on the 8,760 occurrences since each chore fell due.
async fn overdue_agenda(app: &App, meter: &Meter, owner: &str, now: DateTime<Utc>) -> Result<(), BoxError> {
    let new: NewHousehold = serde_json::from_value(json!({ "name": "Overdue", "timezone": "Europe/Berlin" }))?;
    let (household, member) = new.create(owner, "Owner", "UTC", now)?;
    let household_id = household.household_id.clone();
    let audit = || AuditEntry::new(owner, "bench.setup", "bench".into(), "bench", now);
    app.store.create_household(&household, &member, &audit(), None).await?;
    let members = [RosterEntry::new(owner)];
    let ctx = HouseholdContext { household_id: &household_id, timezone: "Europe/Berlin", roster: &members };
    let year_ago = now - Duration::days(366);
    for i in 0..100 {
        let input: TaskInput = serde_json::from_value(json!({
            "title": format!("Hourly {i}"),
            "recurrence": { "type": "interval", "every": 1, "unit": "hours" },
            "startDate": year_ago.date_naive(),
        }))?;
        let task = input.create(&ctx, owner, year_ago)?;
        app.store.create_task(&task, &audit(), None, None, year_ago).await?.map_err(|e| format!("{e:?}"))?;
    }
    let path = format!("/v1/households/{household_id}/agenda");
    let (mut millis, runs) = (Vec::new(), 5);
    meter.calls.store(0, Ordering::Relaxed);
    for _ in 0..runs {
        let started = Instant::now();
        let status = call(app, owner, Method::GET, &path, "", "AgendaFunction").await?;
        millis.push(started.elapsed().as_secs_f64() * 1000.0);
        if status >= 300 {
            return Err(format!("agenda answered {status}").into());
        }
    }
    millis.sort_by(f64::total_cmp);
    println!(
        "agenda (the default 14 days) of 100 hourly chores, each overdue by a year: {:.1} calls, median {:.0} ms",
        meter.calls.load(Ordering::Relaxed) as f64 / f64::from(runs),
        millis[millis.len() / 2]
    );
    Ok(())
}

/// Runs one route's handler in-process with an API Gateway event, as Lambda would.
async fn call(app: &App, user: &str, method: Method, path: &str, query: &str, function: &str) -> Result<u16, BoxError> {
    let routes = local::routes::routes();
    let route = shared::lambda::find_route(&routes, function);
    let params = local::routes::match_path(route.path, path).ok_or("path does not match")?;
    let claims = serde_json::from_value(json!({ "sub": user, "token_use": "id" }))?;
    let event = local::gateway::proxy_event(
        &route,
        &method,
        path,
        Some(query),
        &http::HeaderMap::new(),
        params,
        Some(local::gateway::cognito_authorizer(claims)),
        b"",
        "bench",
    );
    let request = lambda_http::request::from_str(&event.to_string())?;
    Ok(shared::platform::http::handle(app, request, &route).await.status().as_u16())
}

/// Adds completions until the household has `to` of them, spread over the past years.
async fn seed_history(
    app: &App,
    household_id: &str,
    user: &str,
    tasks: &[Task],
    from: usize,
    to: usize,
) -> Result<(), BoxError> {
    let started = Instant::now();
    let pk = keys::household(household_id);
    let base = Utc::now() - Duration::days(3650);
    let mut batches = Vec::new();
    for chunk_start in (from..to).step_by(25) {
        let mut writes = Vec::new();
        for i in chunk_start..(chunk_start + 25).min(to) {
            let task = &tasks[i % tasks.len()];
            let at = shared::domain::at_millis(base + Duration::minutes(i as i64 * 3));
            let completion = Completion {
                completion_id: Completion::new_id(at),
                household_id: household_id.into(),
                task_id: task.task_id.clone(),
                task_title: task.title.clone(),
                kind: CompletionKind::Completed,
                user_id: user.into(),
                recorded_by: user.into(),
                due: at,
                at,
                points: 20,
                note: None,
                duration_minutes: Some(10),
                photo: None,
                approval: None,
            };
            let mut item: std::collections::HashMap<String, AttributeValue> = serde_dynamo::to_item(json!({
                "completion": completion, "userId": user, "taskId": task.task_id, "previous": task,
                "taskVersionAfter": 2, "undone": false,
            }))?;
            item.insert(keys::PK.into(), AttributeValue::S(pk.clone()));
            item.insert(keys::SK.into(), AttributeValue::S(keys::completion(&rfc3339(at), &completion.completion_id)));
            writes
                .push(WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build()?).build());
        }
        batches.push(writes);
    }
    let client = &app.store.client;
    let table = &app.store.table;
    for group in batches.chunks(8) {
        let sends = group.iter().map(|writes| async move {
            let mut pending = writes.clone();
            while !pending.is_empty() {
                let out = client.batch_write_item().request_items(table, pending).send().await?;
                pending = out.unprocessed_items.unwrap_or_default().remove(table).unwrap_or_default();
            }
            Ok::<_, BoxError>(())
        });
        for r in futures::future::join_all(sends).await {
            r?;
        }
    }
    eprintln!("seeded {} completions in {:.0} s", to - from, started.elapsed().as_secs_f64());
    Ok(())
}
