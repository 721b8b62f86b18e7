//! One source of truth, checked: the route tables in functions/*, template.yaml,
//! openapi.yaml, the binaries, and what the local stack provisions must all agree.

use std::collections::BTreeSet;

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use shared::platform::http::{ALLOWED_HEADERS, ALLOWED_METHODS};

use crate::support::{provisioned, template};

fn root() -> std::path::PathBuf {
    local::template::workspace_root()
}

#[test]
fn route_tables_and_template_functions_are_the_same_set() {
    let t = template();
    let from_code: BTreeSet<(String, String, String, bool)> = local::routes::routes()
        .iter()
        .map(|r| (r.function.to_string(), r.method.to_string(), r.path.to_string(), r.authenticated))
        .collect();
    let from_template: BTreeSet<(String, String, String, bool)> = t
        .functions()
        .into_iter()
        .filter_map(|f| f.api.map(|a| (f.logical_id, a.method, a.path, a.authenticated)))
        .collect();
    assert_eq!(from_code, from_template);

    // The integration API: exactly the routes with a scope, on the same functions.
    let scoped: BTreeSet<(String, String, String)> = local::routes::routes()
        .iter()
        .filter(|r| r.scope.is_some())
        .map(|r| (r.function.to_string(), r.method.to_string(), r.path.to_string()))
        .collect();
    let integration: BTreeSet<(String, String, String)> =
        t.functions().into_iter().filter_map(|f| f.integration.map(|a| (f.logical_id, a.method, a.path))).collect();
    assert!(!scoped.is_empty());
    assert_eq!(scoped, integration);
    let spec = t.integration().unwrap();
    let authorizers: BTreeSet<String> = local::routes::authorizers().iter().map(|a| a.function.to_string()).collect();
    assert_eq!(authorizers, BTreeSet::from([spec.authorizer_function.clone()]));

    let workers: BTreeSet<(String, String)> =
        local::routes::workers().iter().map(|w| (w.function.to_string(), w.queue.to_string())).collect();
    let queue_functions: BTreeSet<(String, String)> =
        t.functions().into_iter().filter_map(|f| f.queue.map(|q| (f.logical_id, q))).collect();
    assert_eq!(workers, queue_functions);

    // Scheduled jobs: the functions with a Schedule event, each at a rate the local stack
    // can fire.
    let jobs: BTreeSet<String> = local::routes::jobs().iter().map(|j| j.function.to_string()).collect();
    let scheduled: BTreeSet<String> = t
        .functions()
        .into_iter()
        .filter_map(|f| {
            let expression = f.schedule?;
            local::schedule::rate(&expression).unwrap_or_else(|e| panic!("{}: {e}", f.logical_id));
            Some(f.logical_id)
        })
        .collect();
    assert_eq!(jobs, scheduled);

    // Stream consumers: the functions with a DynamoDB event on the table's stream.
    let consumers: BTreeSet<String> = local::routes::streams().iter().map(|w| w.function.to_string()).collect();
    let fed: BTreeSet<String> =
        t.functions().into_iter().filter(|f| f.stream.is_some()).map(|f| f.logical_id).collect();
    assert_eq!(consumers, fed);
}

#[test]
fn every_function_runs_the_one_binary_which_knows_its_route_or_worker() {
    let routes = local::routes::routes();
    let workers = local::routes::workers();
    let jobs = local::routes::jobs();
    let t = template();
    for f in t.functions() {
        assert_eq!(f.binary, "chore-garden", "{} builds another binary", f.logical_id);
        let env = t.root.pointer(&format!("/Resources/{}/Properties/Environment/Variables", f.logical_id));
        let named = env.and_then(|e| e.get(shared::lambda::FUNCTION_ENV)).and_then(Value::as_str);
        assert_eq!(named, Some(f.logical_id.as_str()), "{} must set CHORE_FUNCTION to itself", f.logical_id);
        let known = routes.iter().any(|r| r.function == f.logical_id)
            || workers.iter().any(|w| w.function == f.logical_id)
            || jobs.iter().any(|j| j.function == f.logical_id)
            || local::routes::streams().iter().any(|s| s.function == f.logical_id)
            || local::routes::authorizers().iter().any(|a| a.function == f.logical_id);
        assert!(known, "the binary has no route, worker or job for {}", f.logical_id);
    }
    // sam build builds functions with the same build definition (CodeUri, Metadata, runtime,
    // architecture, handler) once and copies the result to each: one link for all of them.
    let build = |id: &str| {
        let r = t.root.pointer(&format!("/Resources/{id}")).unwrap();
        let p = |k: &str| r.pointer(&format!("/Properties/{k}")).cloned();
        (r.get("Metadata").cloned(), p("CodeUri"), p("Runtime"), p("Architectures"), p("Handler"))
    };
    let functions = t.functions();
    let first = build(&functions[0].logical_id);
    for f in &functions {
        assert_eq!(build(&f.logical_id), first, "{} would be built on its own", f.logical_id);
    }
    // The binary stays thin: it only hands the route tables to shared::lambda.
    let main = std::fs::read_to_string(root().join("functions/lambda/src/main.rs")).unwrap();
    assert!(main.lines().filter(|l| !l.trim().is_empty() && !l.trim().starts_with("//")).count() <= 4, "{main}");
}

#[test]
fn openapi_lists_exactly_the_field_error_codes() {
    let text = std::fs::read_to_string(root().join("openapi.yaml")).unwrap();
    let doc: Value = serde_json::to_value(serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text).unwrap()).unwrap();
    let documented: BTreeSet<String> = doc
        .pointer("/components/schemas/Problem/properties/errors/items/properties/code/enum")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let ours: BTreeSet<String> =
        shared::platform::error::FieldIssue::ALL.iter().map(|i| i.as_str().to_string()).collect();
    assert_eq!(documented, ours);
}

#[test]
fn openapi_documents_exactly_the_routes() {
    let text = std::fs::read_to_string(root().join("openapi.yaml")).unwrap();
    let doc: Value = serde_json::to_value(serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text).unwrap()).unwrap();
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if ["get", "post", "patch", "put", "delete"].contains(&method.as_str()) {
                let public = op.get("security").and_then(Value::as_array).is_some_and(|s| s.is_empty());
                documented.insert((method.to_uppercase(), path.clone(), !public));
                assert!(op.get("operationId").is_some(), "{method} {path} has no operationId");
            }
        }
    }
    let routes: BTreeSet<(String, String, bool)> =
        local::routes::routes().iter().map(|r| (r.method.to_string(), r.path.to_string(), r.authenticated)).collect();
    assert_eq!(documented, routes);
}

#[test]
fn openapi_marks_exactly_the_deprecated_and_the_integration_routes_and_lists_the_served_versions() {
    let text = std::fs::read_to_string(root().join("openapi.yaml")).unwrap();
    let doc: Value = serde_json::to_value(serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text).unwrap()).unwrap();
    for r in local::routes::routes() {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        let what = format!("{} {}", r.method, r.path);
        // Any operation may refuse an unsupported Api-Version.
        assert!(op["responses"].get("400").is_some(), "{what} does not document 400");
        // The integration API's operations: the route's scope, and the key as a second way in.
        let scope = op.get("x-scope").and_then(Value::as_str);
        assert_eq!(scope, r.scope.map(|s| s.as_str()), "{what}");
        let schemes: Vec<&str> = op["security"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_object()?.keys().next().map(String::as_str))
            .collect();
        assert_eq!(schemes.contains(&"householdKey"), r.scope.is_some(), "{what}: {schemes:?}");
        if r.scope.is_some() {
            // A key may be refused (401), lack the scope (403) or pass its plan's limits (429).
            for status in ["401", "403", "429"] {
                assert!(op["responses"].get(status).is_some(), "{what} does not document {status}");
            }
        }
        match r.deprecated {
            Some(d) => {
                assert_eq!(op["deprecated"], true, "{what}");
                assert_eq!(op["x-sunset"], d.sunset, "{what}");
                let description = op["description"].as_str().unwrap_or_default();
                assert!(description.contains(d.successor) && description.contains(d.note), "{what}: {description}");
                assert!(root().join("docs/migrations").join(d.note).is_file(), "{what}: no migration note {}", d.note);
                assert!(d.since < d.sunset, "{what}");
            }
            None => assert!(op.get("deprecated").is_none() && op.get("x-sunset").is_none(), "{what}"),
        }
    }
    let enumerated: Vec<&str> = doc
        .pointer("/components/schemas/Health/properties/apiVersions/items/enum")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(enumerated, shared::platform::version::SERVED);
}

#[test]
fn template_cors_matches_what_the_functions_and_local_gateway_send() {
    let t = template();
    let cors = t.root.pointer("/Resources/ChoreApi/Properties/Cors").unwrap();
    let normalize = |s: &str| -> BTreeSet<String> {
        s.trim_matches('\'').split(',').map(|p| p.trim().to_ascii_lowercase()).filter(|p| !p.is_empty()).collect()
    };
    assert_eq!(normalize(cors["AllowHeaders"].as_str().unwrap()), normalize(ALLOWED_HEADERS));
    assert_eq!(normalize(cors["AllowMethods"].as_str().unwrap()), normalize(ALLOWED_METHODS));
}

#[test]
fn functions_get_least_privilege_policies() {
    let t = template();
    for (id, r) in t.resources() {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let text = r["Properties"]["Policies"].to_string();
        for broad in ["dynamodb:*", "sqs:*", "s3:*", "DynamoDBCrudPolicy", "AmazonDynamoDBFullAccess", "\"*\""] {
            assert!(!text.contains(broad), "{id} grants {broad}");
        }
    }
}

/// The retention periods CloudWatch Logs accepts.
const RETENTION_DAYS: [i64; 22] =
    [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/// A log group's `RetentionInDays`: a valid number, or `!If [Condition, a, b]` of two.
fn assert_retention(id: &str, log_group: &Value) {
    let retention = &log_group["Properties"]["RetentionInDays"];
    let days: Vec<&Value> = match retention.get("Fn::If").and_then(Value::as_array) {
        Some(branches) => branches[1..].iter().collect(),
        None => vec![retention],
    };
    for d in days {
        assert!(
            d.as_i64().is_some_and(|d| RETENTION_DAYS.contains(&d)),
            "log group {id} keeps its logs without a valid retention: {retention}"
        );
    }
}

#[test]
fn every_function_logs_to_its_own_log_group_with_retention() {
    let t = template();
    let sub = |v: &Value| v.get("Fn::Sub").and_then(Value::as_str).map(str::to_string);
    let mut used = BTreeSet::new();
    for f in t.functions() {
        let props = &t.root["Resources"][&f.logical_id]["Properties"];
        let group_id = props
            .pointer("/LoggingConfig/LogGroup/Ref")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{} has no LoggingConfig.LogGroup: !Ref <its log group>", f.logical_id));
        let group = &t.root["Resources"][group_id];
        assert_eq!(group["Type"], "AWS::Logs::LogGroup", "{}: {group_id} is not a log group", f.logical_id);
        assert!(used.insert(group_id.to_string()), "{group_id} is shared by several functions");
        // Named as Lambda names a function's log group, /aws/lambda/<function name>.
        let function_name = sub(&props["FunctionName"])
            .unwrap_or_else(|| panic!("{} needs an explicit FunctionName (!Sub) to name its log group", f.logical_id));
        assert_eq!(
            sub(&group["Properties"]["LogGroupName"]),
            Some(format!("/aws/lambda/{function_name}")),
            "{group_id} is not named after {}",
            f.logical_id
        );
        assert_retention(group_id, group);
        // Lambda allows 64 characters; the README promises stack names of up to 36.
        let suffix = function_name.strip_prefix("${AWS::StackName}").unwrap_or(&function_name);
        assert!(36 + suffix.len() <= 64, "{}: {function_name} leaves too short a stack name", f.logical_id);
    }
    for (id, _) in t.resources_of("AWS::Logs::LogGroup") {
        assert_retention(&id, &t.root["Resources"][&id]);
    }
}

#[test]
fn api_access_log_records_the_route_not_the_raw_path() {
    let t = template();
    let setting = t
        .root
        .pointer("/Resources/ChoreApi/Properties/AccessLogSetting")
        .expect("the API has access logs (AccessLogSetting)");
    let format = setting["Format"].as_str().unwrap();
    // The calendar-feed URL carries its secret in the path (GET /v1/calendar/{token}).
    assert!(!format.contains("$context.path"), "the access log records raw paths: {format}");
    assert!(format.contains("$context.resourcePath"), "the access log should record the route: {format}");
    let line: Value = serde_json::from_str(format).expect("the access log format is one JSON object");
    assert!(line.is_object());
    let group = local::template::referenced(&setting["DestinationArn"]).unwrap();
    assert_eq!(t.root["Resources"][&group]["Type"], "AWS::Logs::LogGroup");
    assert_retention(&group, &t.root["Resources"][&group]);
}

#[test]
fn buckets_refuse_requests_without_tls() {
    let t = template();
    let policies = t.resources_of("AWS::S3::BucketPolicy");
    for bucket in t.buckets() {
        let denies_plain_http = policies.iter().any(|(_, p)| {
            local::template::referenced(&p["Bucket"]).as_deref() == Some(bucket.as_str())
                && p["PolicyDocument"]["Statement"].as_array().into_iter().flatten().any(|s| {
                    s["Effect"] == "Deny"
                        && s["Principal"] == "*"
                        && s["Action"] == "s3:*"
                        && s.pointer("/Condition/Bool/aws:SecureTransport") == Some(&Value::from("false"))
                })
        });
        assert!(denies_plain_http, "{bucket} has no bucket policy denying aws:SecureTransport false");
    }
}

/// Every dead-letter queue (a queue's redrive target, or a stream consumer's on-failure
/// destination) has an alarm on its depth that reaches the alarm topic, and its URL is an
/// output of the stack (where the on-call engineer finds what to redrive).
#[test]
fn every_queue_function_api_and_the_table_has_its_alarms() {
    let t = template();
    assert_eq!(local::alarms::missing(&t), Vec::<String>::new());
    // The dead-letter queues are outputs too, for whoever is paged.
    let outputs: BTreeSet<String> = t
        .root
        .get("Outputs")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(_, o)| local::template::referenced(&o["Value"]))
        .collect();
    for q in t.queues() {
        if let Some((dlq, _)) = q.redrive {
            assert!(outputs.contains(&dlq), "{dlq} is not an output of the stack");
        }
    }
    for (id, a) in t.resources_of("AWS::CloudWatch::Alarm") {
        // Latency alarms look at the p99.
        if a["MetricName"] == "Latency" {
            assert_eq!(a["ExtendedStatistic"], "p99", "{id}");
        }
        // CloudWatch allows ten queries in an alarm, one of them returning the data.
        if let Some(queries) = a["Metrics"].as_array() {
            assert!(queries.len() <= 10, "{id}: {} queries", queries.len());
            assert_eq!(queries.iter().filter(|q| q["ReturnData"] == true).count(), 1, "{id}");
        }
    }
}

#[test]
fn the_alarm_check_names_a_new_queue_without_its_alarms() {
    let mut t = template();
    let resources = t.root.pointer_mut("/Resources").and_then(Value::as_object_mut).unwrap();
    resources.insert("ReportQueueDLQ".into(), serde_json::json!({ "Type": "AWS::SQS::Queue", "Properties": {} }));
    resources.insert(
        "ReportQueue".into(),
        serde_json::json!({ "Type": "AWS::SQS::Queue", "Properties": { "RedrivePolicy": {
            "deadLetterTargetArn": { "Fn::GetAtt": ["ReportQueueDLQ", "Arn"] }, "maxReceiveCount": 5 } } }),
    );
    assert_eq!(
        local::alarms::missing(&t),
        ["no alarm on the depth of ReportQueueDLQ", "no alarm on the age of ReportQueue's oldest message"]
    );
    // And a function without them (a copy of one that has them, under a new name).
    let mut t = template();
    let f = t.root["Resources"]["GetMeFunction"].clone();
    t.root["Resources"].as_object_mut().unwrap().insert("GetYouFunction".into(), f);
    assert_eq!(
        local::alarms::missing(&t),
        ["no alarm on the Errors of GetYouFunction", "no alarm on the Throttles of GetYouFunction"]
    );
}

#[test]
fn alarms_can_publish_to_their_encrypted_topic() {
    let t = template();
    for (alarm, props) in t.resources_of("AWS::CloudWatch::Alarm") {
        // The key admits alarms by name (aws:SourceArn), so every alarm's name starts with the stack's.
        let name = props["AlarmName"].get("Fn::Sub").and_then(Value::as_str).unwrap_or_default();
        assert!(name.starts_with("${AWS::StackName}-"), "{alarm} is not named <stack name>-...");
        for action in props["AlarmActions"].as_array().unwrap() {
            let topic = local::template::referenced(action).unwrap();
            let key = t.root["Resources"][&topic]["Properties"]["KmsMasterKeyId"].clone();
            // alias/aws/sns (AWS managed) cannot be granted to CloudWatch: alarms would send nothing.
            let key = local::template::referenced(&key)
                .unwrap_or_else(|| panic!("{topic} is not encrypted with our own key"));
            let key = &t.root["Resources"][&key];
            assert_eq!(key["Type"], "AWS::KMS::Key");
            assert_eq!(key["Properties"]["EnableKeyRotation"], true);
            let grants_cloudwatch = key["Properties"]["KeyPolicy"]["Statement"].as_array().unwrap().iter().any(|s| {
                s["Effect"] == "Allow"
                    && s.pointer("/Principal/Service") == Some(&Value::from("cloudwatch.amazonaws.com"))
                    && ["kms:Decrypt", "kms:GenerateDataKey*"]
                        .iter()
                        .all(|a| s["Action"].as_array().is_some_and(|l| l.contains(&Value::from(*a))))
            });
            assert!(grants_cloudwatch, "the key of {topic} does not let CloudWatch alarms publish");
        }
    }
}

/// CloudFormation allows 500 resources per stack, counted after the SAM transform. This
/// counts the way SAM expands (checked against samtranslator: 155 for this template when the
/// test was written): a function is itself and its role, plus one resource per event (a
/// permission or an event source mapping; two for a schedule, its rule and permission; one
/// more for an `EventInvokeConfig`); the
/// API a RestApi, a Deployment and a Stage; anything else itself.
#[test]
fn the_stack_stays_well_under_cloudformations_resource_limit() {
    let t = template();
    let count: usize = t
        .resources()
        .map(|(_, r)| match r["Type"].as_str().unwrap_or_default() {
            "AWS::Serverless::Function" => {
                let events = r.pointer("/Properties/Events").and_then(Value::as_object);
                // An `EventInvokeConfig` is a resource of its own.
                let invoke_config = usize::from(r.pointer("/Properties/EventInvokeConfig").is_some());
                2 + invoke_config
                    + events
                        .into_iter()
                        .flatten()
                        .map(|(_, e)| match e["Type"].as_str() {
                            Some("Api" | "SQS") => 1,
                            _ => 2,
                        })
                        .sum::<usize>()
            }
            "AWS::Serverless::Api" => 3,
            _ => 1,
        })
        .sum();
    eprintln!("template.yaml expands to about {count} CloudFormation resources (limit 500)");
    assert!(count <= 400, "{count} resources: split the stack into nested stacks per service before 500");
}

#[tokio::test]
async fn the_local_stack_provisions_what_the_template_declares() {
    let p = provisioned().await;
    let t = template();
    let (_, table) = t.table().unwrap();
    let ddb = p.endpoints.dynamodb_client().await;
    let described = ddb.describe_table().table_name(&p.table_name).send().await.unwrap();
    let d = described.table().unwrap();
    let keys = |ks: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<(String, String)> {
        ks.iter().map(|k| (k.attribute_name().to_string(), k.key_type().as_str().to_string())).collect()
    };
    let template_keys = |v: &Value| -> Vec<(String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|k| (k["AttributeName"].as_str().unwrap().into(), k["KeyType"].as_str().unwrap().into()))
            .collect()
    };
    assert_eq!(keys(d.key_schema()), template_keys(&table["KeySchema"]));
    let mut indexes: Vec<(String, Vec<(String, String)>)> = d
        .global_secondary_indexes()
        .iter()
        .map(|g| (g.index_name().unwrap().to_string(), keys(g.key_schema())))
        .collect();
    indexes.sort();
    let mut expected: Vec<(String, Vec<(String, String)>)> = table["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["IndexName"].as_str().unwrap().to_string(), template_keys(&g["KeySchema"])))
        .collect();
    expected.sort();
    assert_eq!(indexes, expected);
    assert_eq!(d.stream_specification().map(|s| s.stream_enabled()), Some(true));
    let ttl = ddb.describe_time_to_live().table_name(&p.table_name).send().await.unwrap();
    assert_eq!(
        ttl.time_to_live_description().and_then(|t| t.attribute_name()),
        table.pointer("/TimeToLiveSpecification/AttributeName").and_then(Value::as_str)
    );

    let sqs = p.endpoints.sqs_client().await;
    for q in t.queues() {
        let url = &p.queue_urls[&q.logical_id];
        let attrs =
            sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::All).send().await.unwrap();
        let attrs = attrs.attributes().unwrap();
        if let Some(v) = q.visibility_timeout {
            assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], v.to_string());
        }
        match &q.redrive {
            Some((dlq, max)) => {
                let policy: Value = serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
                assert!(
                    policy["deadLetterTargetArn"].as_str().unwrap().ends_with(&format!("-{dlq}"))
                        || policy["deadLetterTargetArn"].as_str().unwrap().ends_with(dlq.as_str())
                );
                assert_eq!(policy["maxReceiveCount"].to_string().trim_matches('"'), max.to_string());
            }
            None => assert!(!attrs.contains_key(&QueueAttributeName::RedrivePolicy)),
        }
    }
    for b in t.buckets() {
        assert!(p.buckets.contains_key(&b));
    }
    // The functions' environment resolves to a valid configuration.
    let env = local::function_environment(&t, &p, "DeleteHouseholdFunction");
    let config = shared::platform::config::Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    assert_eq!(config.table_name, p.table_name);
    assert_eq!(config.purge_queue_url, p.queue_urls["HouseholdPurgeQueue"]);
}
