//! Which IAM actions on which resources one signed request needs, read from the request as
//! it goes on the wire (the SigV4 scope names the service, `X-Amz-Target` the operation).
//! A request this module does not know is refused in enforcing mode: a new kind of call
//! must be modelled here before it can pass, rather than pass unchecked.

use serde_json::Value;

use super::Names;

/// One authorization IAM makes for a request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Call {
    pub action: String,
    pub resource: String,
}

fn call(action: impl Into<String>, resource: impl Into<String>) -> Call {
    Call { action: action.into(), resource: resource.into() }
}

/// The parts of a request that decide what it needs.
#[derive(Clone, Debug, Default)]
pub struct WireRequest {
    /// The SigV4 signing name (`dynamodb`, `sqs`, `s3`, ...); `None` for unsigned requests.
    pub service: Option<String>,
    pub target: Option<String>,
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Vec<u8>,
}

/// The signing name from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ...`.
pub fn signing_service(authorization: &str) -> Option<String> {
    let scope = authorization.split("Credential=").nth(1)?.split(',').next()?;
    scope.split('/').nth(3).map(str::to_string)
}

/// What `request` needs; `Err` names what is not modelled.
pub fn required(names: &Names, request: &WireRequest) -> Result<Vec<Call>, String> {
    let Some(service) = request.service.as_deref() else {
        // Unsigned requests (Cognito's InitiateAuth, say) are not IAM-authorized in AWS either.
        return Ok(vec![]);
    };
    match service {
        "dynamodb" => dynamodb(names, request),
        "sqs" => sqs(names, request),
        "cognito-idp" => cognito(names, request),
        "s3" => s3(names, request),
        "ses" => ses(names, request),
        "kms" => kms(names, request),
        "apigateway" => apigateway(names, request),
        other => Err(format!("calls to {other} are not modelled by the local IAM check")),
    }
}

fn json(request: &WireRequest) -> Result<Value, String> {
    serde_json::from_slice(&request.body).map_err(|e| format!("unreadable request body: {e}"))
}

fn operation<'a>(request: &'a WireRequest, prefix: &str) -> Result<&'a str, String> {
    request
        .target
        .as_deref()
        .and_then(|t| t.strip_prefix(prefix))
        .ok_or_else(|| format!("no X-Amz-Target {prefix}* on the request"))
}

fn dynamodb(names: &Names, request: &WireRequest) -> Result<Vec<Call>, String> {
    let op = operation(request, "DynamoDB_20120810.")?;
    let body = json(request)?;
    let table = |v: &Value| -> Result<String, String> {
        v.get("TableName")
            .and_then(Value::as_str)
            .map(|t| names.table(t))
            .ok_or_else(|| format!("{op} without TableName"))
    };
    let action = |name: &str| format!("dynamodb:{name}");
    Ok(match op {
        // A transaction is authorized item by item, each with the action it performs.
        "TransactWriteItems" => {
            let mut calls = Vec::new();
            for item in body["TransactItems"].as_array().into_iter().flatten() {
                for (kind, name) in [
                    ("Put", "PutItem"),
                    ("Update", "UpdateItem"),
                    ("Delete", "DeleteItem"),
                    ("ConditionCheck", "ConditionCheckItem"),
                ] {
                    if let Some(inner) = item.get(kind) {
                        calls.push(call(action(name), table(inner)?));
                    }
                }
            }
            calls
        }
        "TransactGetItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.get("Get"))
            .map(|get| Ok(call(action("GetItem"), table(get)?)))
            .collect::<Result<_, String>>()?,
        "BatchGetItem" | "BatchWriteItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(t, _)| call(action(op), names.table(t)))
            .collect(),
        "Query" | "Scan" => {
            let mut resource = table(&body)?;
            if let Some(index) = body.get("IndexName").and_then(Value::as_str) {
                resource = format!("{resource}/index/{index}");
            }
            vec![call(action(op), resource)]
        }
        "ListTables" => vec![call(action(op), "*")],
        _ => vec![call(action(op), table(&body)?)],
    })
}

fn sqs(names: &Names, request: &WireRequest) -> Result<Vec<Call>, String> {
    let op = operation(request, "AmazonSQS.")?;
    let body = json(request)?;
    // Batch operations are authorized as their single forms.
    let action = match op {
        "SendMessageBatch" => "SendMessage",
        "DeleteMessageBatch" => "DeleteMessage",
        "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
        other => other,
    };
    let resource = match op {
        "ListQueues" => "*".to_string(),
        "CreateQueue" | "GetQueueUrl" => format!(
            "arn:aws:sqs:{}:{}:{}",
            crate::provision::REGION,
            super::ACCOUNT,
            body["QueueName"].as_str().ok_or("CreateQueue without QueueName")?
        ),
        _ => names.queue_by_url(body["QueueUrl"].as_str().ok_or_else(|| format!("{op} without QueueUrl"))?),
    };
    Ok(vec![call(format!("sqs:{action}"), resource)])
}

fn cognito(names: &Names, request: &WireRequest) -> Result<Vec<Call>, String> {
    let op = operation(request, "AWSCognitoIdentityProviderService.")?;
    let body = json(request)?;
    let resource = match body.get("UserPoolId").and_then(Value::as_str) {
        Some(pool) => names.user_pool(pool),
        None => "*".to_string(),
    };
    Ok(vec![call(format!("cognito-idp:{op}"), resource)])
}

/// KMS: the key named in the call (this stack always names it, for Decrypt too).
fn kms(names: &Names, request: &WireRequest) -> Result<Vec<Call>, String> {
    let op = operation(request, "TrentService.")?;
    let body = json(request)?;
    let key = body["KeyId"].as_str().ok_or_else(|| format!("KMS {op} without KeyId"))?;
    Ok(vec![call(format!("kms:{op}"), names.key(key))])
}

/// SES v2 (REST). `SendEmail` is authorized on the sending identity (the domain of the From
/// address, as a domain identity) and on the configuration set, if the call names one.
fn ses(names: &Names, request: &WireRequest) -> Result<Vec<Call>, String> {
    let arn = |what: &str| format!("arn:aws:ses:{}:{}:{what}", super::REGION, super::ACCOUNT);
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/v2/email/outbound-emails") => {
            let body = json(request)?;
            let from = body["FromEmailAddress"].as_str().ok_or("SendEmail without FromEmailAddress")?;
            // "Name <a@b>" or "a@b".
            let address = from.rsplit('<').next().unwrap_or(from).trim_end_matches('>');
            let domain = address.rsplit_once('@').map(|(_, d)| d).ok_or("a From address without a domain")?;
            let mut calls = vec![call("ses:SendEmail", arn(&format!("identity/{domain}")))];
            if let Some(set) = body["ConfigurationSetName"].as_str() {
                calls.push(call("ses:SendEmail", names.configuration_set(set)));
            }
            Ok(calls)
        }
        (method, path) => Err(format!("SES {method} {path} is not modelled by the local IAM check")),
    }
}

/// API Gateway's management API is REST: the action is `apigateway:<METHOD>` on the ARN of
/// the path (`arn:aws:apigateway:<region>::/apikeys/<id>`); a usage plan in the path is
/// named by its logical id.
fn apigateway(names: &Names, request: &WireRequest) -> Result<Vec<Call>, String> {
    let mut segments: Vec<String> = request.path.split('/').map(percent_decode).collect();
    if segments.get(1).map(String::as_str) == Some("usageplans")
        && let Some(plan) = segments.get_mut(2)
    {
        *plan = names.usage_plan(plan);
    }
    let method = request.method.to_ascii_uppercase();
    if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
        return Err(format!("API Gateway {method} is not modelled by the local IAM check"));
    }
    Ok(vec![call(
        format!("apigateway:{method}"),
        format!("arn:aws:apigateway:{}::{}", super::REGION, segments.join("/")),
    )])
}

/// Path-style S3 (`/bucket/key`), as the local stack's clients use it.
fn s3(names: &Names, request: &WireRequest) -> Result<Vec<Call>, String> {
    let path = request.path.trim_start_matches('/');
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) if !k.is_empty() => (b, Some(percent_decode(k))),
        Some((b, _)) => (b, None),
        None => (path, None),
    };
    if bucket.is_empty() {
        return Ok(vec![call("s3:ListAllMyBuckets", "*")]);
    }
    let bucket_arn = names.bucket(bucket);
    let has = |name: &str| request.query.split('&').any(|p| p.split('=').next() == Some(name));
    let object = |action: &str, key: &str| call(action, format!("{bucket_arn}/{key}"));
    Ok(match (request.method.as_str(), key) {
        ("GET" | "HEAD", Some(k)) => vec![object("s3:GetObject", &k)],
        ("PUT", Some(k)) => vec![object("s3:PutObject", &k)],
        ("POST", Some(k)) => vec![object("s3:PutObject", &k)], // multipart create/complete
        ("DELETE", Some(k)) if has("uploadId") => vec![object("s3:AbortMultipartUpload", &k)],
        ("DELETE", Some(k)) => vec![object("s3:DeleteObject", &k)],
        ("POST", None) if has("delete") => {
            // DeleteObjects is authorized as DeleteObject on each key it names.
            let text = String::from_utf8_lossy(&request.body);
            text.split("<Key>")
                .skip(1)
                .filter_map(|s| s.split("</Key>").next())
                .map(|k| object("s3:DeleteObject", k))
                .collect()
        }
        ("GET" | "HEAD", None) => vec![call("s3:ListBucket", bucket_arn)],
        (method, None) => return Err(format!("S3 {method} on a bucket is not modelled by the local IAM check")),
        (method, Some(_)) => return Err(format!("S3 {method} on an object is not modelled by the local IAM check")),
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn names() -> Names {
        Names {
            tables: vec![("t1-Table".into(), "Table".into())],
            queues: vec![("q1-Q".into(), "Q".into())],
            buckets: vec![("b1-photos".into(), "B".into())],
            user_pools: vec![("us-east-1_abc".into(), "Pool".into())],
            keys: vec![("1234abcd-12ab-34cd-56ef-1234567890ab".into(), "Key".into())],
            configuration_sets: vec![("t1-Mail".into(), "Mail".into())],
            usage_plans: vec![("abc123".into(), "Plan".into())],
        }
    }

    fn signed(service: &str, target: &str, body: Value) -> WireRequest {
        WireRequest {
            service: Some(service.into()),
            target: Some(target.into()),
            method: "POST".into(),
            path: "/".into(),
            body: body.to_string().into_bytes(),
            ..WireRequest::default()
        }
    }

    const T: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/${Table}";

    #[test]
    fn the_service_comes_from_the_signature_scope() {
        let auth = "AWS4-HMAC-SHA256 Credential=local/20261130/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(signing_service(auth).as_deref(), Some("dynamodb"));
        assert_eq!(signing_service("Bearer x"), None);
    }

    #[test]
    fn a_transaction_needs_each_items_own_action() {
        let r = signed(
            "dynamodb",
            "DynamoDB_20120810.TransactWriteItems",
            json!({ "TransactItems": [
                { "Put": { "TableName": "t1-Table" } },
                { "Update": { "TableName": "t1-Table" } },
                { "ConditionCheck": { "TableName": "t1-Table" } },
                { "Delete": { "TableName": "other" } }
            ]}),
        );
        let calls = required(&names(), &r).unwrap();
        assert_eq!(
            calls,
            vec![
                call("dynamodb:PutItem", T),
                call("dynamodb:UpdateItem", T),
                call("dynamodb:ConditionCheckItem", T),
                call("dynamodb:DeleteItem", "arn:aws:dynamodb:us-east-1:000000000000:table/other"),
            ]
        );
    }

    #[test]
    fn a_query_on_an_index_needs_the_index() {
        let r = signed("dynamodb", "DynamoDB_20120810.Query", json!({ "TableName": "t1-Table", "IndexName": "GSI2" }));
        assert_eq!(required(&names(), &r).unwrap(), vec![call("dynamodb:Query", format!("{T}/index/GSI2"))]);
        let r = signed("dynamodb", "DynamoDB_20120810.Query", json!({ "TableName": "t1-Table" }));
        assert_eq!(required(&names(), &r).unwrap(), vec![call("dynamodb:Query", T)]);
        let r = signed("dynamodb", "DynamoDB_20120810.BatchGetItem", json!({ "RequestItems": { "t1-Table": {} } }));
        assert_eq!(required(&names(), &r).unwrap(), vec![call("dynamodb:BatchGetItem", T)]);
    }

    #[test]
    fn sqs_batches_are_authorized_as_single_sends() {
        let r = signed(
            "sqs",
            "AmazonSQS.SendMessageBatch",
            json!({ "QueueUrl": "http://127.0.0.1:5000/000000000000/q1-Q", "Entries": [] }),
        );
        assert_eq!(
            required(&names(), &r).unwrap(),
            vec![call("sqs:SendMessage", "arn:aws:sqs:us-east-1:000000000000:${Q}")]
        );
    }

    #[test]
    fn an_email_needs_its_sending_identity() {
        let mut r = signed(
            "ses",
            "",
            json!({ "FromEmailAddress": "Chore Garden <reminders@choregarden.example>", "ConfigurationSetName": "t1-Mail" }),
        );
        r.target = None;
        r.path = "/v2/email/outbound-emails".into();
        assert_eq!(
            required(&names(), &r).unwrap(),
            vec![
                call("ses:SendEmail", "arn:aws:ses:us-east-1:000000000000:identity/choregarden.example"),
                call("ses:SendEmail", "arn:aws:ses:us-east-1:000000000000:configuration-set/${Mail}"),
            ]
        );
        r.path = "/v2/email/identities".into();
        assert!(required(&names(), &r).is_err(), "what is not modelled is refused");
    }

    #[test]
    fn kms_calls_name_the_key() {
        let r = signed(
            "kms",
            "TrentService.Decrypt",
            json!({ "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "CiphertextBlob": "x" }),
        );
        assert_eq!(
            required(&names(), &r).unwrap(),
            vec![call("kms:Decrypt", "arn:aws:kms:us-east-1:000000000000:key/${Key}")]
        );
        let r = signed("kms", "TrentService.Decrypt", json!({ "CiphertextBlob": "x" }));
        assert!(required(&names(), &r).is_err(), "a call without its key is refused, not guessed");
    }

    #[test]
    fn cognito_calls_name_the_pool() {
        let r = signed(
            "cognito-idp",
            "AWSCognitoIdentityProviderService.AdminGetUser",
            json!({ "UserPoolId": "us-east-1_abc", "Username": "u" }),
        );
        assert_eq!(
            required(&names(), &r).unwrap(),
            vec![call("cognito-idp:AdminGetUser", "arn:aws:cognito-idp:us-east-1:000000000000:userpool/${Pool}")]
        );
    }

    #[test]
    fn s3_objects_and_buckets() {
        let s3 = |method: &str, path: &str, query: &str| WireRequest {
            service: Some("s3".into()),
            method: method.into(),
            path: path.into(),
            query: query.into(),
            ..WireRequest::default()
        };
        let n = names();
        assert_eq!(
            required(&n, &s3("HEAD", "/b1-photos/h/p%201.jpg", "")).unwrap(),
            vec![call("s3:GetObject", "arn:aws:s3:::${B}/h/p 1.jpg")]
        );
        assert_eq!(
            required(&n, &s3("PUT", "/b1-photos/k", "partNumber=1&uploadId=u")).unwrap(),
            vec![call("s3:PutObject", "arn:aws:s3:::${B}/k")]
        );
        assert_eq!(
            required(&n, &s3("DELETE", "/b1-photos/k", "uploadId=u")).unwrap(),
            vec![call("s3:AbortMultipartUpload", "arn:aws:s3:::${B}/k")]
        );
        assert_eq!(
            required(&n, &s3("GET", "/b1-photos", "list-type=2&prefix=h/")).unwrap(),
            vec![call("s3:ListBucket", "arn:aws:s3:::${B}")]
        );
        let mut delete = s3("POST", "/b1-photos", "delete");
        delete.body = b"<Delete><Object><Key>a</Key></Object><Object><Key>b</Key></Object></Delete>".to_vec();
        assert_eq!(
            required(&n, &delete).unwrap(),
            vec![call("s3:DeleteObject", "arn:aws:s3:::${B}/a"), call("s3:DeleteObject", "arn:aws:s3:::${B}/b")]
        );
    }

    #[test]
    fn api_gateway_calls_are_the_method_on_the_path() {
        let rest = |method: &str, path: &str| WireRequest {
            service: Some("apigateway".into()),
            method: method.into(),
            path: path.into(),
            ..WireRequest::default()
        };
        assert_eq!(
            required(&names(), &rest("POST", "/apikeys")).unwrap(),
            vec![call("apigateway:POST", "arn:aws:apigateway:us-east-1::/apikeys")]
        );
        assert_eq!(
            required(&names(), &rest("POST", "/usageplans/abc123/keys")).unwrap(),
            vec![call("apigateway:POST", "arn:aws:apigateway:us-east-1::/usageplans/${Plan}/keys")]
        );
        assert_eq!(
            required(&names(), &rest("DELETE", "/apikeys/k9")).unwrap(),
            vec![call("apigateway:DELETE", "arn:aws:apigateway:us-east-1::/apikeys/k9")]
        );
        assert!(required(&names(), &rest("HEAD", "/apikeys")).is_err());
    }

    #[test]
    fn unknown_services_are_refused_and_unsigned_requests_need_nothing() {
        assert!(required(&names(), &signed("ses", "x", json!({}))).is_err());
        assert!(required(&names(), &WireRequest::default()).unwrap().is_empty());
    }
}
