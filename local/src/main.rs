//! `chore-local dev`: provisions the local stack from template.yaml, seeds the demo, serves
//! every route on the local gateway and runs the SQS workers, until Ctrl-C.
//! Started by `scripts/dev`, which first starts DynamoDB Local and moto.

use std::collections::HashMap;
use std::process::ExitCode;

use local::provision::{Endpoints, provision};
use local::seed::{DEMO_PASSWORD, DEMO_USERS, seed};
use local::template::{Template, workspace_root};
use local::{StackOptions, start};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    shared::platform::telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str).unwrap_or("dev") {
        "dev" => dev().await,
        "iam-report" => iam_report(args.get(1).map(String::as_str)),
        "api-versions" => {
            println!("{}", shared::platform::version::SERVED.join(" "));
            Ok(())
        }
        _ => {
            eprintln!("usage: chore-local dev            (run it through scripts/dev)");
            eprintln!("       chore-local iam-report DIR (what each function used, next to its policy)");
            eprintln!("       chore-local api-versions   (the dated versions the code serves, oldest first)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn dev() -> Result<(), String> {
    let endpoints = Endpoints {
        dynamodb: env_or("CG_DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
        moto: env_or("CG_MOTO_ENDPOINT", "http://127.0.0.1:5000"),
    };
    let port: u16 = env_or("CG_PORT", "3000").parse().map_err(|_| "CG_PORT must be a port number".to_string())?;
    let template = Template::load_default().map_err(|e| e.to_string())?;
    let provisioned = provision(&template, &endpoints, "").await.map_err(|e| format!("provisioning failed: {e}"))?;
    let stack_file = workspace_root().join(".local/stack.json");
    std::fs::write(&stack_file, serde_json::to_string_pretty(&provisioned).expect("serializes"))
        .map_err(|e| format!("cannot write {}: {e}", stack_file.display()))?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port} ({e}); stop what uses it or set CG_PORT"))?;
    let travel = local::schedule::TravelClock::new();
    let options = StackOptions {
        clock: travel.clone(),
        // Short purge and erasure delays keep the demo snappy; AWS uses the defaults (15 s,
        // 15 min). Webhooks may reach a receiver on this machine, and retry within seconds.
        env_overrides: HashMap::from([
            ("PURGE_DELAY_SECONDS".to_string(), "2".to_string()),
            ("ERASURE_DELAY_SECONDS".to_string(), "10".to_string()),
            ("WEBHOOK_ALLOW_LOOPBACK".to_string(), "true".to_string()),
            ("WEBHOOK_RETRY_BASE_SECONDS".to_string(), "5".to_string()),
        ]),
        stage: "dev".into(),
        run_pollers: true,
        run_schedules: true,
        travel: Some(travel),
        verifier: None,
        iam: local::iam::Mode::from_env(),
        record_iam_usage: true,
    };
    let stack = start(&template, provisioned.clone(), listener, options).await.map_err(|e| e.to_string())?;
    let base = stack.base_url();
    seed(&provisioned, &base).await.map_err(|e| format!("seeding failed: {e}"))?;

    println!();
    println!("Chore Garden is running at {base}/v1  (Ctrl-C stops everything)");
    println!("  DynamoDB Local {}   moto {}   table {}", endpoints.dynamodb, endpoints.moto, provisioned.table_name);
    println!("  user pool {}   app client {}", provisioned.user_pool_id, provisioned.client_id);
    println!();
    println!("Demo users (password {DEMO_PASSWORD}):");
    for u in DEMO_USERS {
        println!("  {:<4} {}    token: TOKEN=$(scripts/token {})", u.key, u.email, u.key);
    }
    println!();
    println!("Try:");
    println!("  TOKEN=$(scripts/token ana)");
    println!("  curl -s {base}/v1/households -H \"Authorization: $TOKEN\"");
    println!(
        "  curl -s -X POST {base}/v1/households -H \"Authorization: $TOKEN\" -H 'Content-Type: application/json' -d '{{\"name\":\"Flat 3B\"}}'"
    );
    println!();

    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    println!("stopping");
    drop(stack);
    let reports = local::iam::report::compare(&template, &local::iam::client::recorded());
    println!("\nIAM: what each function used in this run, next to what its policy grants\n");
    print!("{}", local::iam::report::render(&reports));
    Ok(())
}

/// Merges the usage files a run left in `dir` (`CG_IAM_USAGE_DIR`) into one report.
fn iam_report(dir: Option<&str>) -> Result<(), String> {
    let dir = dir.ok_or("iam-report needs the usage directory")?;
    let template = Template::load_default().map_err(|e| e.to_string())?;
    let usage = local::iam::report::read_usage(std::path::Path::new(dir));
    if usage.is_empty() {
        return Err(format!("no usage recorded in {dir}"));
    }
    print!("{}", local::iam::report::render(&local::iam::report::compare(&template, &usage)));
    Ok(())
}
