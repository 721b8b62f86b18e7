//! The local stack runs each function as AWS would: its policy from template.yaml checked on
//! every call, its `Timeout`, and the production SDK settings against a hung DynamoDB.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{builder, provisioned, stack, template};

/// `template.yaml` with `action` taken out of `function`'s policy.
fn without_action(function: &str, action: &str) -> local::template::Template {
    let mut t = template();
    let policies = t.root.pointer_mut(&format!("/Resources/{function}/Properties/Policies")).unwrap();
    let mut removed = false;
    for policy in policies.as_array_mut().unwrap() {
        for statement in policy["Statement"].as_array_mut().unwrap() {
            if let Some(actions) = statement["Action"].as_array_mut() {
                let before = actions.len();
                actions.retain(|a| a != action);
                removed |= actions.len() != before;
            }
        }
    }
    assert!(removed, "{function} had no {action} to take away");
    t
}

#[tokio::test]
async fn a_policy_gap_fails_the_route_as_aws_would() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let id = s.household(&ana, "Policies").await;
    let path = format!("/v1/households/{id}/members");
    s.call(&ana, Method::GET, &path, None).await.assert_status(200);

    // The same route with dynamodb:Query missing from its function's policy: AccessDenied
    // from "AWS", which the handler answers with its 500 (a server fault, not the client's).
    let gap = builder().template(without_action("ListMembersFunction", "dynamodb:Query")).start().await;
    let r = gap.call(&ana, Method::GET, &path, None).await;
    r.assert_problem(500, "internal.error");
    // Other functions keep their own policies.
    gap.call(&ana, Method::GET, &format!("/v1/households/{id}"), None).await.assert_status(200);

    // In soft mode the denial is only logged.
    let soft = builder().template(without_action("ListMembersFunction", "dynamodb:Query")).soft_iam().start().await;
    soft.call(&ana, Method::GET, &path, None).await.assert_status(200);
}

#[tokio::test]
async fn a_write_the_policy_does_not_grant_leaves_nothing_behind() {
    let s = stack().await;
    let ana = s.user("ana").await;
    // Creating a household is one transaction of Puts; without PutItem none of it lands.
    let gap = builder().template(without_action("CreateHouseholdFunction", "dynamodb:PutItem")).start().await;
    gap.call(&ana, Method::POST, "/v1/households", Some(json!({ "name": "Denied" })))
        .await
        .assert_problem(500, "internal.error");
    let mine = s.call(&ana, Method::GET, "/v1/households", None).await;
    mine.assert_status(200);
    assert_eq!(mine.body["items"], json!([]), "{}", mine.body);
}

#[test]
fn policies_name_exact_actions_and_wildcard_resources_only_where_aws_has_nothing_finer() {
    let t = template();
    for f in t.functions() {
        let policy = local::iam::Policy::of(&t, &f.logical_id).unwrap_or_else(|e| panic!("{e}"));
        for s in &policy.statements {
            for action in &s.actions {
                assert!(!action.contains('*') && !action.contains('?'), "{}: wildcard action {action}", f.logical_id);
            }
            for resource in &s.resources {
                let service = action_service(&s.actions);
                let allowed = if !resource.contains('*') {
                    true
                } else if service == "xray" {
                    // X-Ray has no resource-level permissions.
                    resource == "*"
                } else if service == "s3" {
                    // Objects under one bucket (or a prefix of it): `arn:aws:s3:::${Bucket}/prefix/*`.
                    resource.starts_with("arn:aws:s3:::${")
                        && resource.ends_with("/*")
                        && resource.matches('*').count() == 1
                } else if service == "apigateway" {
                    // A household key's API Gateway key: its id exists only once it is made.
                    resource.starts_with("arn:aws:apigateway:")
                        && resource.ends_with("::/apikeys/*")
                        && resource.matches('*').count() == 1
                } else {
                    false
                };
                assert!(allowed, "{}: wildcard resource {resource} for {service}", f.logical_id);
            }
        }
    }
}

fn action_service(actions: &[String]) -> String {
    let services: std::collections::BTreeSet<&str> = actions.iter().filter_map(|a| a.split(':').next()).collect();
    assert_eq!(services.len(), 1, "one service per statement keeps resources honest: {actions:?}");
    services.into_iter().next().unwrap().to_string()
}

/// A DynamoDB Local of this test's own, which it can stop (SIGSTOP) as a hung database.
struct OwnDynamoDb {
    child: Child,
    endpoint: String,
}

impl OwnDynamoDb {
    async fn start() -> OwnDynamoDb {
        let dir = local::template::workspace_root().join(".local/dynamodb");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("java")
            .current_dir(&dir)
            .args(["-Djava.library.path=./DynamoDBLocal_lib", "-jar", "DynamoDBLocal.jar", "-inMemory"])
            .args(["-port", &port.to_string(), "-sharedDb", "-disableTelemetry"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("DynamoDB Local starts (scripts/test installs it into .local/dynamodb)");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::get(&endpoint).await.is_err() {
            assert!(Instant::now() < deadline, "DynamoDB Local did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        OwnDynamoDb { child, endpoint }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for OwnDynamoDb {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_stopped_dynamodb_gives_503_with_retry_after_within_the_function_timeout() {
    let db = OwnDynamoDb::start().await;
    let p = provisioned().await;
    let ddb = local::provision::Endpoints { dynamodb: db.endpoint.clone(), moto: p.endpoints.moto.clone() };
    local::provision::create_table(&template(), &ddb.dynamodb_client().await, &p.table_name).await.unwrap();

    // Get Me's Timeout cut to 1 s: a stopped database makes it time out, as in AWS.
    let mut short = template();
    short.root["Resources"]["GetMeFunction"]["Properties"]["Timeout"] = json!(1);
    let s = builder().dynamodb(&db.endpoint).start().await;
    let cut = builder().dynamodb(&db.endpoint).template(short).start().await;
    let ana = stack().await.user("ana").await;
    s.call(&ana, Method::GET, "/v1/me", None).await.assert_status(200);

    db.signal("-STOP");
    let timeout = Duration::from_secs(
        template().functions().iter().find(|f| f.logical_id == "CreateHouseholdFunction").unwrap().timeout_seconds,
    );
    let started = Instant::now();
    let r = s.call(&ana, Method::POST, "/v1/households", Some(json!({ "name": "Hung" }))).await;
    let took = started.elapsed();
    r.assert_problem(503, "dependency.unavailable");
    assert!(r.header("retry-after").is_some());
    assert!(took < timeout, "the 503 came after {took:?}, past the function's {timeout:?}");

    // Past its Timeout a function is cut off; API Gateway answers 502 with the template's
    // DEFAULT_5XX gateway response (CORS headers included).
    let started = Instant::now();
    let r = cut.call(&ana, Method::GET, "/v1/me", None).await;
    assert_eq!(r.status.as_u16(), 502, "{:#}", r.body);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert!(r.header("access-control-allow-origin").is_some());
    assert_eq!(r.body["status"], Value::from(502));

    assert_eq!(r.body["code"], "gateway.failure");
}

/// A TCP proxy to `upstream` that holds every chunk of the answers for `delay`: a
/// DynamoDB that answers each call, slowly (a brownout, not an outage).
async fn slow_proxy(upstream: String, delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.trim_start_matches("http://").to_string();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else { return };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let up = tokio::spawn(async move { tokio::io::copy(&mut client_read, &mut server_write).await });
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let n = match server_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    tokio::time::sleep(delay).await;
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                up.abort();
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_slow_dynamodb_call_after_call_gives_503_before_the_function_times_out() {
    let s = stack().await;
    let owner = s.user("owner").await;
    let newcomer = s.user("newcomer").await;
    let h = s.household(&owner, "Slow").await;
    let invite = s.call(&owner, Method::POST, &format!("/v1/households/{h}/invites"), Some(json!({}))).await;
    invite.assert_status(201);
    let path = format!("/v1/invites/{}/accept", invite.body["code"].as_str().unwrap());

    // Every answer 2.5 s late: each call succeeds within its 3 s attempt, but accepting
    // (guess counter, invite, household beside the profile, transaction: four stages)
    // would take about 10 s, the function's Timeout.
    let slow = builder()
        .dynamodb(&slow_proxy(provisioned().await.endpoints.dynamodb, Duration::from_millis(2500)).await)
        .start()
        .await;
    let started = Instant::now();
    let r = slow.call(&newcomer, Method::POST, &path, None).await;
    let took = started.elapsed();
    r.assert_problem(503, "dependency.unavailable");
    assert!(r.header("retry-after").is_some());
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
}

#[tokio::test]
async fn each_request_measures_the_dynamodb_capacity_its_calls_consumed() {
    let s = crate::support::stack().await;
    let ana = s.user("ana").await;
    let h = s.household(&ana, "Capacity").await;
    let app = s.stack.function_app("GetHouseholdFunction");
    let (found, units) = shared::store::capacity::measured(app.store.membership(&h, &ana.id, None)).await;
    assert!(found.unwrap().is_some());
    // A transactional read of three small items (household, member, profile): two read
    // units each, as DynamoDB prices transactions.
    assert_eq!(units, 6.0);
    // Outside a measured request nothing is counted, and nothing fails.
    assert!(app.store.membership(&h, &ana.id, None).await.unwrap().is_some());
}
