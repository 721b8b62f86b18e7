//! The SDK HTTP client every function's clients use on the local stack: it works out what a
//! signed request needs ([`super::request`]), asks the function's [`Policy`], and either
//! sends the request on or answers it as AWS answers a denied call, without it ever
//! reaching the emulator. Every decision is recorded for the usage report.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde::{Deserialize, Serialize};

use super::request::{Call, WireRequest, required, signing_service};
use super::{Decision, Mode, Names, Policy};

/// One function's view of AWS: its policy, and the real HTTP client behind it.
#[derive(Clone, Debug)]
pub struct PolicyCheckedClient {
    policy: Arc<Policy>,
    names: Arc<Names>,
    mode: Mode,
    /// Whether decisions go into the usage report (not for deliberately changed policies).
    record: bool,
    inner: SharedHttpClient,
}

impl PolicyCheckedClient {
    pub fn new(policy: Policy, names: Arc<Names>, mode: Mode, record: bool) -> PolicyCheckedClient {
        PolicyCheckedClient {
            policy: Arc::new(policy),
            names,
            mode,
            record,
            // The emulators speak plain HTTP on loopback.
            inner: aws_smithy_http_client::Builder::new().build_http(),
        }
    }

    /// The denial AWS would answer, or `None` to send the request on.
    fn check(&self, request: &HttpRequest) -> Option<HttpResponse> {
        let headers = request.headers();
        let (path, query) = {
            let uri = request.uri();
            let after_host = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
            let path_and_query = after_host.find('/').map(|i| &after_host[i..]).unwrap_or("/");
            match path_and_query.split_once('?') {
                Some((p, q)) => (p.to_string(), q.to_string()),
                None => (path_and_query.to_string(), String::new()),
            }
        };
        let wire = WireRequest {
            service: headers.get("authorization").and_then(signing_service),
            target: headers.get("x-amz-target").map(str::to_string),
            method: request.method().to_string(),
            path,
            query,
            body: request.body().bytes().map(<[u8]>::to_vec).unwrap_or_default(),
        };
        let function = &self.policy.function;
        let calls = match required(&self.names, &wire) {
            Ok(calls) => calls,
            Err(why) => {
                tracing::error!(function = %function, reason = %why, "IAM: request not modelled");
                return match self.mode {
                    Mode::Enforce => Some(denial(wire.service.as_deref(), function, &format!("({why})"), "")),
                    Mode::Soft => None,
                };
            }
        };
        for call in calls {
            let decision = self.policy.decide(&call.action, &call.resource);
            if self.record {
                record(function, &call, decision);
            }
            if decision != Decision::Allowed {
                let mode = match self.mode {
                    Mode::Enforce => "denied",
                    Mode::Soft => "would deny (soft mode)",
                };
                tracing::error!(
                    function = %function,
                    action = %call.action,
                    resource = %call.resource,
                    "IAM: {mode}: {function} may not {} on {}",
                    call.action,
                    call.resource
                );
                if self.mode == Mode::Enforce {
                    return Some(denial(wire.service.as_deref(), function, &call.action, &call.resource));
                }
            }
        }
        None
    }
}

impl HttpClient for PolicyCheckedClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(PolicyCheckedConnector {
            client: self.clone(),
            inner: self.inner.http_connector(settings, components),
        })
    }
}

#[derive(Debug)]
struct PolicyCheckedConnector {
    client: PolicyCheckedClient,
    inner: SharedHttpConnector,
}

impl HttpConnector for PolicyCheckedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        match self.client.check(&request) {
            None => self.inner.call(request),
            Some(denied) => HttpConnectorFuture::ready(Ok(denied)),
        }
    }
}

/// The answer AWS gives a call the caller's policy does not allow, in the service's protocol.
fn denial(service: Option<&str>, function: &str, action: &str, resource: &str) -> HttpResponse {
    let message = format!(
        "User: arn:aws:sts::{}:assumed-role/{function}Role/{function} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action",
        super::ACCOUNT
    );
    let (status, content_type, body) = match service {
        Some("s3") => (
            403,
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>{message}</Message><RequestId>local</RequestId></Error>"
            ),
        ),
        Some("dynamodb") => (
            400,
            "application/x-amz-json-1.0",
            serde_json::json!({ "__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException", "Message": message })
                .to_string(),
        ),
        _ => (
            400,
            "application/x-amz-json-1.1",
            serde_json::json!({ "__type": "AccessDeniedException", "message": message }).to_string(),
        ),
    };
    let mut response = HttpResponse::new(StatusCode::try_from(status).expect("valid status"), SdkBody::from(body));
    response.headers_mut().insert("content-type", content_type);
    response.headers_mut().insert("x-amzn-errortype", "AccessDeniedException");
    response.headers_mut().insert("x-amzn-query-error", "AccessDenied;Sender");
    response.headers_mut().insert("x-amzn-requestid", "local-iam");
    response
}

/// One line of the usage log: what a function asked for, and the answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Usage {
    pub function: String,
    pub action: String,
    pub resource: String,
    pub allowed: bool,
}

struct UsageLog {
    seen: HashSet<Usage>,
    file: Option<std::fs::File>,
}

static USAGE: OnceLock<Mutex<UsageLog>> = OnceLock::new();

/// Where this process appends its usage lines: `CG_IAM_USAGE_DIR/usage-<pid>.jsonl`, when set.
fn usage_file() -> Option<std::fs::File> {
    let dir = PathBuf::from(std::env::var_os("CG_IAM_USAGE_DIR")?);
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("usage-{}.jsonl", std::process::id())))
        .ok()
}

fn record(function: &str, call: &Call, decision: Decision) {
    let usage = Usage {
        function: function.to_string(),
        action: call.action.clone(),
        resource: call.resource.clone(),
        allowed: decision == Decision::Allowed,
    };
    let log = USAGE.get_or_init(|| Mutex::new(UsageLog { seen: HashSet::new(), file: usage_file() }));
    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
    if log.seen.insert(usage.clone())
        && let Some(file) = log.file.as_mut()
    {
        let _ = writeln!(file, "{}", serde_json::to_string(&usage).expect("serializes"));
    }
}

/// What this process recorded so far.
pub fn recorded() -> Vec<Usage> {
    USAGE
        .get()
        .map(|log| log.lock().unwrap_or_else(|e| e.into_inner()).seen.iter().cloned().collect())
        .unwrap_or_default()
}
