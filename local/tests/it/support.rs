//! Test harness: one table and user pool per test process, a gateway and queues per test.

use std::collections::HashMap;
use std::sync::Arc;

use local::provision::{self, Endpoints, Provisioned};
use local::template::Template;
use local::{RunningStack, StackOptions};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use shared::auth::jwt::JwtVerifier;
use shared::platform::clock::{Clock, SystemClock};
use shared::platform::version::{self, ApiVersion};
use tokio::sync::OnceCell;

static PROVISIONED: OnceCell<Provisioned> = OnceCell::const_new();

pub fn template() -> Template {
    Template::load_default().expect("template.yaml parses")
}

pub fn endpoints() -> Endpoints {
    let get = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run the tests with scripts/test, which starts DynamoDB Local and moto")
        })
    };
    Endpoints { dynamodb: get("CG_TEST_DYNAMODB_ENDPOINT"), moto: get("CG_TEST_MOTO_ENDPOINT") }
}

/// The API version the suite's requests ask for (`CG_TEST_API_VERSION`; scripts/test runs
/// the suite once per served version). Unset: no header, so the default version.
pub fn suite_api_version() -> Option<String> {
    std::env::var("CG_TEST_API_VERSION").ok().filter(|v| !v.is_empty())
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// The table and user pool every test of this process shares (each test's data is its own).
pub async fn provisioned() -> Provisioned {
    PROVISIONED
        .get_or_init(|| async {
            let prefix = format!("t{}-", &unique("")[16..]);
            provision::provision(&template(), &endpoints(), &prefix).await.expect("provisioning the test stack")
        })
        .await
        .clone()
}

pub struct Builder {
    clock: Arc<dyn Clock>,
    verifier: Option<JwtVerifier>,
    dynamodb: Option<String>,
    run_pollers: bool,
    travel: Option<Arc<local::schedule::TravelClock>>,
    own_table: bool,
    template: Option<Template>,
    iam: local::iam::Mode,
}

pub fn builder() -> Builder {
    Builder {
        clock: Arc::new(SystemClock),
        verifier: None,
        dynamodb: None,
        run_pollers: false,
        travel: None,
        own_table: false,
        template: None,
        iam: local::iam::Mode::Enforce,
    }
}

impl Builder {
    pub fn verifier(mut self, v: JwtVerifier) -> Self {
        self.verifier = Some(v);
        self
    }

    /// Points the functions at another DynamoDB endpoint (e.g. one nobody listens on).
    pub fn dynamodb(mut self, endpoint: &str) -> Self {
        self.dynamodb = Some(endpoint.to_string());
        self
    }

    /// The functions' clock (the gateway's token checks keep real time).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn pollers(mut self) -> Self {
        self.run_pollers = true;
        self
    }

    /// The local stack as `scripts/dev` runs it: workers, the template's schedules, and a
    /// clock moved with `POST /_local/clock`. On a table of its own: the dispatcher's
    /// checkpoint is one per table, and other tests set theirs.
    pub fn dev_like(mut self, travel: Arc<local::schedule::TravelClock>) -> Self {
        self.run_pollers = true;
        self.travel = Some(travel);
        self.own_table = true;
        self
    }

    /// Runs the functions as this (changed) template defines them: policies, timeouts.
    pub fn template(mut self, template: Template) -> Self {
        self.template = Some(template);
        self
    }

    /// Logs denied calls instead of failing them.
    pub fn soft_iam(mut self) -> Self {
        self.iam = local::iam::Mode::Soft;
        self
    }

    pub async fn start(self) -> TestStack {
        logs();
        let changed_template = self.template.is_some();
        let template = self.template.unwrap_or_else(template);
        let mut p = if self.own_table {
            provision::provision(&template, &endpoints(), &format!("t{}-", &unique("")[16..]))
                .await
                .expect("provisioning a table of its own")
        } else {
            provisioned().await
        };
        // Queues of its own, so one test's messages never reach another's worker.
        let sqs = p.endpoints.sqs_client().await;
        p.queue_urls = provision::create_queues(&template, &sqs, &unique("q")).await.expect("test queues");
        if let Some(d) = self.dynamodb {
            p.endpoints.dynamodb = d;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let options = StackOptions {
            clock: self.clock,
            env_overrides: HashMap::from([
                ("PURGE_DELAY_SECONDS".to_string(), "0".to_string()),
                ("ERASURE_DELAY_SECONDS".to_string(), "0".to_string()),
                ("WEBHOOK_ALLOW_LOOPBACK".to_string(), "true".to_string()),
                ("WEBHOOK_RETRY_BASE_SECONDS".to_string(), "1".to_string()),
            ]),
            stage: "test".into(),
            run_pollers: self.run_pollers,
            run_schedules: self.travel.is_some(),
            travel: self.travel,
            verifier: self.verifier,
            record_iam_usage: !changed_template,
            iam: self.iam,
        };
        let stack = local::start(&template, p, listener, options).await.expect("the local stack starts");
        TestStack { stack, http: reqwest::Client::new() }
    }
}

/// `CG_TEST_LOG=1` shows the functions' logs (with `--nocapture`).
fn logs() {
    if std::env::var_os("CG_TEST_LOG").is_some() {
        shared::platform::telemetry::init();
    }
}

pub async fn stack() -> TestStack {
    builder().start().await
}

pub struct TestStack {
    pub stack: RunningStack,
    pub http: reqwest::Client,
}

/// A signed-in user: a real user in the local Cognito pool with a real ID token.
#[derive(Clone, Debug)]
pub struct User {
    pub email: String,
    pub token: String,
    pub access_token: String,
    pub id: String,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn etag(&self) -> String {
        self.header("etag").expect("an ETag").to_string()
    }

    /// Asserts a problem+json answer with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> &Self {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{:#}", self.body);
        assert_eq!(self.body["code"], code, "{:#}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(self.body["correlationId"].as_str().is_some_and(|c| !c.is_empty()));
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        let text = self.body.to_string();
        assert!(!text.contains("panicked") && !text.contains("src/"), "leaks internals: {text}");
        self
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        self
    }
}

impl TestStack {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.base_url())
    }

    pub async fn user(&self, name: &str) -> User {
        let p = &self.stack.provisioned;
        let email = format!("{}@test.example", unique(name));
        let password = "Test-Password-123";
        local::seed::ensure_user(p, &email, name, password).await.expect("user created");
        let (token, access_token) = local::seed::sign_in(p, &email, password).await.expect("signed in");
        let mut user = User { email, token, access_token, id: String::new() };
        let me = self.call(&user, Method::GET, "/v1/me", None).await;
        user.id = me.body["userId"].as_str().expect("a user id").to_string();
        user
    }

    /// Sends a request; a request to the API asks for the suite's API version
    /// (`CG_TEST_API_VERSION`, unless it names one itself), and its response is checked
    /// against openapi.yaml and must say it answered in that version.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let mut request = request.build().expect("a request");
        let to_api = request.url().as_str().starts_with(&self.stack.base_url());
        if to_api
            && !request.headers().contains_key(version::HEADER)
            && let Some(asked) = suite_api_version()
        {
            request.headers_mut().insert(version::HEADER, asked.parse().unwrap());
        }
        let asked = request.headers().get(version::HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (method, path) = (request.method().to_string(), request.url().path().to_string());
        let response = self.http.execute(request).await.expect("the gateway answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        let reply = Reply { status, headers, body };
        if to_api {
            if let Err(e) =
                crate::schema::check(&method, &path, status.as_u16(), reply.header("content-type"), &reply.body)
            {
                panic!("the response does not match openapi.yaml: {e}");
            }
            // Every handler's answer names its version: the one asked for, or the default
            // (also when the one asked for is refused). API Gateway's own answers name none.
            if let Some(answered) = reply.header(version::HEADER) {
                let expected = match asked {
                    Some(a) if reply.body["code"] != "request.unsupported_version" => a,
                    _ => ApiVersion::default_version().as_str().to_string(),
                };
                assert_eq!(answered, expected, "{method} {path}");
            }
        }
        reply
    }

    pub async fn call(&self, user: &User, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call_with(user, method, path, body, &[]).await
    }

    pub async fn call_with(
        &self,
        user: &User,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut rb = self.http.request(method, self.url(path)).header("authorization", &user.token);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        self.send(rb).await
    }

    /// Creates a household owned by `owner`; returns its id.
    pub async fn household(&self, owner: &User, name: &str) -> String {
        let r = self.call(owner, Method::POST, "/v1/households", Some(serde_json::json!({ "name": name }))).await;
        r.assert_status(201);
        r.body["householdId"].as_str().unwrap().to_string()
    }

    /// Adds `user` to the household with `role` through an invite.
    pub async fn join(&self, admin: &User, household_id: &str, user: &User, role: &str) {
        let invite = self
            .call(
                admin,
                Method::POST,
                &format!("/v1/households/{household_id}/invites"),
                Some(serde_json::json!({ "role": role })),
            )
            .await;
        invite.assert_status(201);
        let code = invite.body["code"].as_str().unwrap();
        self.call(user, Method::POST, &format!("/v1/invites/{code}/accept"), None).await.assert_status(201);
    }

    /// Every item in the table under a partition key (for "nothing was written" checks).
    pub async fn items(&self, pk: &str) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let out = self
            .stack
            .app
            .store
            .client
            .query()
            .table_name(&self.stack.app.store.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("query");
        out.items.unwrap_or_default()
    }
}
