//! Benchmark (not a test): the export worker over a household with N completions (10,000
//! and 100,000 by default; `CG_BENCH_EXPORTS=…` for others), as CSV, against DynamoDB Local
//! and the emulator's S3. The worker runs in a child process of its own, so its peak RSS
//! (VmHWM) is the worker's alone, not the seeding's. Prints wall time, peak RSS and the
//! object's size, then downloads the CSV and reads it back with the csv crate's reader:
//! the same completion ids, each once, in the order of the history (newest first).
//!
//! Run with scripts/bench (`--only exports`).

use std::time::Instant;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::{Duration, Utc};
use local::bench::{BoxError, ensure_bucket, peak_rss_kb, s3_client, worker_app};
use local::provision::{Endpoints, create_table};
use local::template::Template;
use shared::domain::audit::AuditEntry;
use shared::domain::export::{Export, ExportFormat, ExportKind, ExportState};
use shared::domain::task::{Completion, CompletionKind, HouseholdContext, RosterEntry, TaskInput};
use shared::platform::clock::rfc3339;
use shared::store::keys;
use shared::store::tasks::CompletionRecord;

const BUCKET: &str = "bench-exports";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let ddb_endpoint = std::env::var("CG_BENCH_DYNAMODB_ENDPOINT").map_err(|_| "run this with scripts/bench")?;
    let s3_endpoint = std::env::var("CG_BENCH_MOTO_ENDPOINT").map_err(|_| "run this with scripts/bench")?;
    let args: Vec<String> = std::env::args().collect();
    // The child: run the one export, print its peak RSS.
    if args.get(1).map(String::as_str) == Some("--worker") {
        let (table, household_id, export_id) = (&args[2], &args[3], &args[4]);
        let app = worker_app(&ddb_endpoint, &s3_endpoint, table, "EXPORTS_BUCKET", BUCKET).await?;
        let message = functions_households::exports::ExportMessage {
            household_id: household_id.clone(),
            export_id: export_id.clone(),
            user_id: None,
        };
        functions_households::exports::run_export(&app, &message).await?;
        println!("{}", peak_rss_kb());
        return Ok(());
    }

    let sizes: Vec<usize> = std::env::var("CG_BENCH_EXPORTS")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let setup_ddb = aws_sdk_dynamodb::Client::new(&Endpoints::sdk_config(&ddb_endpoint).await);
    let s3 = s3_client(&s3_endpoint).await;
    ensure_bucket(&s3, BUCKET).await?;
    println!("The export worker over a household's N completions, as one CSV (worker in its own process)");
    println!("{:>8} | {:>7} | {:>12} | {:>9} | {:>11}", "N", "wall s", "peak RSS MB", "CSV MB", "read back");
    for n in sizes {
        let table = format!("bench-exp-{}", ulid::Ulid::new().to_string().to_lowercase());
        create_table(&Template::load_default()?, &setup_ddb, &table).await?;
        let app = worker_app(&ddb_endpoint, &s3_endpoint, &table, "EXPORTS_BUCKET", BUCKET).await?;
        let household_id = ulid::Ulid::new().to_string();
        let members = [RosterEntry::new("ana"), RosterEntry::new("ben")];
        let ctx = HouseholdContext { household_id: &household_id, timezone: "Europe/Berlin", roster: &members };
        let now = Utc::now();
        let input: TaskInput = serde_json::from_value(serde_json::json!({
            "title": "Dishes, \"the big ones\"", "recurrence": { "type": "interval", "every": 1, "unit": "days" }
        }))?;
        let task = input.create(&ctx, "ana", now).map_err(|e| format!("{e:?}"))?;

        // N completions, one a minute back from now, written in batches of 25.
        let mut ids = Vec::with_capacity(n);
        let mut requests = Vec::with_capacity(n);
        for i in 0..n {
            let at = shared::domain::at_millis(now - Duration::minutes(i as i64 + 1));
            let c = Completion {
                completion_id: Completion::new_id(at),
                household_id: household_id.clone(),
                task_id: task.task_id.clone(),
                task_title: task.title.clone(),
                kind: CompletionKind::Completed,
                user_id: if i % 2 == 0 { "ana".into() } else { "ben".into() },
                recorded_by: "ana".into(),
                due: at,
                at,
                points: 30,
                note: (i % 7 == 0).then(|| "=1+1, with \"quotes\"".to_string()),
                duration_minutes: Some(10),
                photo: None,
                approval: None,
            };
            ids.push(c.completion_id.clone());
            let record = CompletionRecord {
                user_id: c.user_id.clone(),
                task_id: c.task_id.clone(),
                previous: task.clone(),
                task_version_after: 2,
                undone: false,
                completion: c.clone(),
            };
            let mut item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
                serde_dynamo::to_item(&record)?;
            item.insert(keys::PK.into(), aws_sdk_dynamodb::types::AttributeValue::S(keys::household(&household_id)));
            item.insert(
                keys::SK.into(),
                aws_sdk_dynamodb::types::AttributeValue::S(keys::completion(&rfc3339(c.at), &c.completion_id)),
            );
            requests
                .push(WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build()?).build());
        }
        for chunk in requests.chunks(25) {
            let mut pending = Some(chunk.to_vec());
            while let Some(batch) = pending.take().filter(|r| !r.is_empty()) {
                let out = setup_ddb.batch_write_item().request_items(&table, batch).send().await?;
                pending = out.unprocessed_items.and_then(|mut u| u.remove(&table));
            }
        }
        let export = Export {
            export_id: ulid::Ulid::new().to_string(),
            household_id: household_id.clone(),
            user_id: None,
            requested_by: "ana".into(),
            format: ExportFormat::Csv,
            include: vec![ExportKind::Completions],
            from: None,
            to: None,
            only_user: None,
            state: ExportState::Queued,
            rows: None,
            error: None,
            created_at: now,
            updated_at: now,
            expires_at: now + Duration::days(7),
        };
        let audit = AuditEntry::new("ana", "export.create", format!("export/{}", export.export_id), "bench", now);
        app.store.start_export(&export, 10, &audit, now).await?.map_err(|e| format!("{e:?}"))?;

        let started = Instant::now();
        let child = std::process::Command::new(std::env::current_exe()?)
            .args(["--worker", &table, &household_id, &export.export_id])
            .output()?;
        let wall = started.elapsed().as_secs_f64();
        if !child.status.success() {
            return Err(format!("the worker failed: {}", String::from_utf8_lossy(&child.stderr)).into());
        }
        let peak_kb: u64 = String::from_utf8_lossy(&child.stdout).trim().parse()?;
        let done = app.store.get_export(&household_id, &export.export_id).await?.ok_or("no export")?;
        if done.state != ExportState::Ready {
            return Err(format!("the export ended {:?}: {:?}", done.state, done.error).into());
        }

        // Read back with an independent reader: the same ids, newest first, each once.
        let object = s3.get_object().bucket(BUCKET).key(done.object_key()).send().await?;
        let bytes = object.body.collect().await?.into_bytes();
        let mut reader = csv::ReaderBuilder::new().from_reader(bytes.as_ref());
        let back: Vec<String> = reader.records().map(|r| r.map(|r| r[0].to_string())).collect::<Result<_, _>>()?;
        let same = back == ids;
        println!(
            "{n:>8} | {wall:>7.1} | {:>12.1} | {:>9.1} | {:>11}",
            peak_kb as f64 / 1024.0,
            bytes.len() as f64 / 1_048_576.0,
            if same { "same rows" } else { "DIFFERENT" }
        );
        if !same {
            return Err(format!("the CSV read back {} rows, not the {n} written", back.len()).into());
        }
    }
    Ok(())
}
