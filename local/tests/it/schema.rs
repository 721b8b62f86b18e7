//! Every response the suite receives from the API, checked against openapi.yaml: the status
//! must be documented for the operation, the content type must be one it documents, and a
//! JSON body (problem documents included) must match the schema. The document then cannot
//! drift from the code without a test failing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value};

struct Document {
    /// openapi.yaml as JSON, its schemas rewritten from OpenAPI 3.0 to JSON Schema 2020-12.
    root: Value,
    /// Validators by the JSON pointer of their schema, built once.
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn document() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(|| {
        let text = std::fs::read_to_string(local::template::workspace_root().join("openapi.yaml")).unwrap();
        let mut root: Value =
            serde_json::to_value(serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text).unwrap()).unwrap();
        to_json_schema(&mut root);
        Document { root, validators: Mutex::new(HashMap::new()) }
    })
}

/// OpenAPI 3.0's `nullable: true` is not JSON Schema: `{…, nullable: true}` becomes
/// `{anyOf: [{…}, {type: null}]}`, which also lets `null` past an `enum` or an `allOf`.
fn to_json_schema(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for child in map.values_mut() {
                to_json_schema(child);
            }
            if map.remove("nullable") == Some(Value::Bool(true)) {
                let inner = std::mem::take(map);
                map.insert(
                    "anyOf".into(),
                    Value::Array(vec![Value::Object(inner), serde_json::json!({ "type": "null" })]),
                );
            }
        }
        Value::Array(items) => items.iter_mut().for_each(to_json_schema),
        _ => {}
    }
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The document's path template for a request path: a literal segment wins over a parameter
/// (`/v1/me/exports` before `/v1/me/{x}`), as API Gateway routes.
fn operation_path(path: &str) -> Option<String> {
    let paths = document().root["paths"].as_object()?;
    paths
        .keys()
        .filter(|t| local::routes::match_path(t, path).is_some())
        .min_by_key(|t| t.matches('{').count())
        .cloned()
}

/// Follows a local `$ref` (`#/components/responses/X`) to the pointer of what it names.
fn resolve(pointer: String) -> (String, &'static Value) {
    let root = &document().root;
    let mut pointer = pointer;
    loop {
        let v = root.pointer(&pointer).unwrap_or_else(|| panic!("openapi.yaml has nothing at {pointer}"));
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => pointer = r.strip_prefix('#').expect("local references only").to_string(),
            None => return (pointer, v),
        }
    }
}

fn validator(pointer: &str) -> Arc<jsonschema::Validator> {
    let doc = document();
    // A failed test elsewhere must not poison the cache for the rest.
    let mut cache = doc.validators.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = cache.get(pointer) {
        return v.clone();
    }
    // The whole document is the root, so `#/components/schemas/…` references resolve; the
    // root's own schema is a reference to the one wanted.
    let mut root = doc.root.clone();
    let map: &mut Map<String, Value> = root.as_object_mut().unwrap();
    map.insert("$schema".into(), "https://json-schema.org/draft/2020-12/schema".into());
    // As a URI fragment: braces of path templates percent-encoded.
    map.insert("$ref".into(), format!("#{}", pointer.replace('{', "%7B").replace('}', "%7D")).into());
    let compiled = jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("the schema at {pointer} does not compile: {e}"));
    let compiled = Arc::new(compiled);
    cache.insert(pointer.to_string(), compiled.clone());
    compiled
}

/// Checks one response of the API against the operation it answered. Paths the document
/// does not declare (the local clock, a presigned URL) are not the API's and pass.
pub fn check(method: &str, path: &str, status: u16, content_type: Option<&str>, body: &Value) -> Result<(), String> {
    if method == "OPTIONS" {
        // CORS preflights: API Gateway's mock integration, not an operation (input.rs checks them).
        return Ok(());
    }
    // The integration API serves the same operations under a base URL of its own.
    let path = path.strip_prefix(local::integration::PREFIX).unwrap_or(path);
    let Some(template) = operation_path(path) else {
        if path.starts_with("/v1/") {
            // An unknown path: what API Gateway answers itself, our problem shape.
            return validate_problem(status, content_type, body, &format!("{method} {path}"));
        }
        return Ok(());
    };
    let what = format!("{method} {template} → {status}");
    let op = format!("/paths/{}/{}", escape(&template), method.to_lowercase());
    if document().root.pointer(&op).is_none() {
        // A method the path does not declare: API Gateway's 404.
        return validate_problem(status, content_type, body, &what);
    }
    let responses = format!("{op}/responses");
    let declared = document().root.pointer(&responses).and_then(Value::as_object).unwrap();
    let key = [status.to_string(), "default".to_string()].into_iter().find(|k| declared.contains_key(k));
    if key.is_none() && status == 500 {
        // Any operation may fail (the document's description says so): our problem shape.
        let (pointer, spec) = resolve("/components/responses/InternalError".to_string());
        return check_content(&what, &pointer, spec, content_type, body);
    }
    let Some(key) = key else {
        return Err(format!(
            "{what}: the status is not documented (documented: {:?})",
            declared.keys().collect::<Vec<_>>()
        ));
    };
    let (response, spec) = resolve(format!("{responses}/{}", escape(&key)));
    check_content(&what, &response, spec, content_type, body)
}

fn validate_problem(status: u16, content_type: Option<&str>, body: &Value, what: &str) -> Result<(), String> {
    if status != 404 {
        return Err(format!("{what}: an undeclared operation answered {status}, not API Gateway's 404"));
    }
    let (pointer, spec) = resolve("/components/responses/NotFound".to_string());
    check_content(what, &pointer, spec, content_type, body)
}

fn check_content(
    what: &str,
    pointer: &str,
    spec: &Value,
    content_type: Option<&str>,
    body: &Value,
) -> Result<(), String> {
    let Some(content) = spec.get("content").and_then(Value::as_object) else {
        return match body {
            Value::Null => Ok(()),
            _ => Err(format!("{what}: documented without a body, but one came: {body}")),
        };
    };
    let media = content_type.map(|c| c.split(';').next().unwrap_or_default().trim().to_string()).unwrap_or_default();
    if !content.contains_key(&media) {
        return Err(format!(
            "{what}: content type {media:?} is not documented ({:?})",
            content.keys().collect::<Vec<_>>()
        ));
    }
    if !media.ends_with("json") {
        return Ok(());
    }
    let schema = format!("{pointer}/content/{}/schema", escape(&media));
    if document().root.pointer(&schema).is_none() {
        return Ok(());
    }
    let errors: Vec<String> =
        validator(&schema).iter_errors(body).take(5).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{what}: the body does not match {schema}: {errors:#?}\n{body:#}"))
    }
}

#[test]
fn the_checker_refuses_what_the_document_does_not_allow() {
    let problem = serde_json::json!({
        "type": "https://errors.choregarden.app/household.not_found", "title": "t", "status": 404,
        "detail": "d", "code": "household.not_found", "correlationId": "c",
    });
    let path = "/v1/households/01JD3N7Y2K5V8T4R6W9Q1M0ZXB";
    check("GET", path, 404, Some("application/problem+json"), &problem).unwrap();
    // A status the operation does not document.
    assert!(check("GET", path, 418, Some("application/problem+json"), &problem).is_err());
    // A problem without its code, or as the wrong media type.
    let mut without = problem.clone();
    without.as_object_mut().unwrap().remove("code");
    assert!(check("GET", path, 404, Some("application/problem+json"), &without).is_err());
    assert!(check("GET", path, 404, Some("text/plain"), &problem).is_err());
    // Health: a field of the wrong type, and a null where none is allowed.
    let health = serde_json::json!({ "status": "ok", "version": "v1", "apiVersions": ["2026-12-01"], "time": "2026-11-30T10:00:00Z" });
    check("GET", "/v1/health", 200, Some("application/json"), &health).unwrap();
    let mut bad = health.clone();
    bad["time"] = Value::from("yesterday");
    assert!(check("GET", "/v1/health", 200, Some("application/json"), &bad).is_err(), "formats are checked");
    bad["time"] = Value::Null;
    assert!(check("GET", "/v1/health", 200, Some("application/json"), &bad).is_err());
    // Not the API's: passes.
    check("GET", "/_local/clock", 200, Some("application/json"), &Value::Null).unwrap();
}
