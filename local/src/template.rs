//! Reads template.yaml, the one definition of the table, queues, buckets, user pool and
//! functions. The local stack provisions from it, and the contract tests check the route
//! tables and openapi.yaml against it.

use std::path::Path;

use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("template.yaml is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("template.yaml: {0}")]
    Shape(String),
}

/// The SAM template with CloudFormation short-form tags turned into their long forms
/// (`!Ref X` → `{"Ref": "X"}`, `!GetAtt X.Arn` → `{"Fn::GetAtt": ["X", "Arn"]}`).
#[derive(Debug, Clone)]
pub struct Template {
    pub root: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub logical_id: String,
    pub visibility_timeout: Option<i64>,
    pub retention: Option<i64>,
    /// Dead-letter queue logical id and maxReceiveCount.
    pub redrive: Option<(String, i64)>,
}

/// The frontend's API (Cognito authorizer) and the integration API (household API keys).
pub const CHORE_API: &str = "ChoreApi";
pub const INTEGRATION_API: &str = "IntegrationApi";

/// How the integration API admits and limits keys, as template.yaml sets it up.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationSpec {
    /// The REQUEST authorizer's function and the header it reads.
    pub authorizer_function: String,
    pub key_header: String,
    /// How long API Gateway caches the authorizer's decision per key (`ReauthorizeEvery`).
    pub cache_seconds: u64,
    /// The usage plan's logical id, throttle (requests per second, burst) and daily quota.
    pub usage_plan: String,
    pub rate_limit: f64,
    pub burst_limit: u64,
    pub daily_quota: u64,
    /// What API Gateway answers itself (`GatewayResponses`).
    pub gateway_responses: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiEvent {
    pub method: String,
    pub path: String,
    pub authenticated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    pub logical_id: String,
    pub binary: String,
    /// Its route on the frontend's API (`ChoreApi`).
    pub api: Option<ApiEvent>,
    /// Its route on the integration API (`IntegrationApi`, household API keys), if any.
    pub integration: Option<ApiEvent>,
    /// Logical id of the queue that triggers it.
    pub queue: Option<String>,
    /// Its `Timeout` (or the Globals'; Lambda's default is 3 s).
    pub timeout_seconds: u64,
    /// The expression of its `Schedule` event (`rate(1 minute)`), if it runs on one.
    pub schedule: Option<String>,
    /// The table whose stream feeds it (its `DynamoDB` event), and that event's filter
    /// patterns.
    pub stream: Option<(String, Vec<String>)>,
}

impl Template {
    /// A value that may be a `!Ref` to a parameter: the parameter's default then.
    pub fn parameter_or_value(&self, v: &Value) -> Option<Value> {
        match referenced(v) {
            Some(id) => self.root.pointer(&format!("/Parameters/{id}/Default")).cloned(),
            None => Some(v.clone()),
        }
    }

    /// `v` with its `Fn::If`s decided as CloudFormation would with the parameters' defaults
    /// (`!Ref AWS::NoValue` becomes null).
    pub fn decide(&self, v: &Value) -> Value {
        match v {
            Value::Object(o) if o.contains_key("Fn::If") => {
                let args = o["Fn::If"].as_array().cloned().unwrap_or_default();
                let name = args.first().and_then(Value::as_str).unwrap_or_default();
                let chosen = if self.condition(name) { args.get(1) } else { args.get(2) };
                self.decide(chosen.unwrap_or(&Value::Null))
            }
            Value::Object(o) if o.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue") => Value::Null,
            Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), self.decide(v))).collect()),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.decide(v)).collect()),
            other => other.clone(),
        }
    }

    /// A condition of the template, with the parameters' defaults.
    pub fn condition(&self, name: &str) -> bool {
        self.root.pointer(&format!("/Conditions/{name}")).is_some_and(|c| self.holds(c))
    }

    fn holds(&self, c: &Value) -> bool {
        let operand = |v: &Value| match v.get("Ref").and_then(Value::as_str) {
            Some(param) => self.root.pointer(&format!("/Parameters/{param}/Default")).cloned().unwrap_or(Value::Null),
            None => v.clone(),
        };
        let args = |key: &str| c.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
        if c.get("Fn::Equals").is_some() {
            let a = args("Fn::Equals");
            let text = |v: Value| match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            a.len() == 2 && text(operand(&a[0])) == text(operand(&a[1]))
        } else if c.get("Fn::Not").is_some() {
            !args("Fn::Not").first().is_some_and(|x| self.holds(x))
        } else if c.get("Fn::And").is_some() {
            args("Fn::And").iter().all(|x| self.holds(x))
        } else if c.get("Fn::Or").is_some() {
            args("Fn::Or").iter().any(|x| self.holds(x))
        } else if let Some(name) = c.get("Condition").and_then(Value::as_str) {
            self.condition(name)
        } else {
            false
        }
    }

    /// The integration API's authorizer and usage plan.
    pub fn integration(&self) -> Result<IntegrationSpec, TemplateError> {
        let missing = |what: &str| TemplateError::Shape(format!("{INTEGRATION_API}: {what}"));
        let api =
            self.root.pointer(&format!("/Resources/{INTEGRATION_API}/Properties")).ok_or_else(|| missing("the API"))?;
        let auth = api.pointer("/Auth").ok_or_else(|| missing("Auth"))?;
        let name = auth.get("DefaultAuthorizer").and_then(Value::as_str).ok_or_else(|| missing("DefaultAuthorizer"))?;
        let authorizer = auth.pointer(&format!("/Authorizers/{name}")).ok_or_else(|| missing("the authorizer"))?;
        let function = authorizer.get("FunctionArn").and_then(referenced).ok_or_else(|| missing("FunctionArn"))?;
        let key_header = authorizer
            .pointer("/Identity/Headers/0")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("Identity.Headers"))?
            .to_ascii_lowercase();
        let cache_seconds = authorizer.pointer("/Identity/ReauthorizeEvery").and_then(Value::as_u64).unwrap_or(300);
        let (usage_plan, plan) = self
            .resources_of("AWS::ApiGateway::UsagePlan")
            .into_iter()
            .find(|(_, r)| r.pointer("/ApiStages/0/ApiId").and_then(referenced).as_deref() == Some(INTEGRATION_API))
            .ok_or_else(|| missing("a usage plan"))?;
        let number = |pointer: &str| {
            plan.pointer(pointer)
                .and_then(|v| self.parameter_or_value(v))
                .and_then(|v| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
                .ok_or_else(|| missing(pointer))
        };
        Ok(IntegrationSpec {
            authorizer_function: function,
            key_header,
            cache_seconds,
            usage_plan,
            rate_limit: number("/Throttle/RateLimit")?,
            burst_limit: number("/Throttle/BurstLimit")? as u64,
            daily_quota: number("/Quota/Limit")? as u64,
            gateway_responses: api.get("GatewayResponses").cloned(),
        })
    }

    pub fn load(path: &Path) -> Result<Template, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|e| TemplateError::Read(path.display().to_string(), e))?;
        Template::parse(&text)
    }

    /// The template next to the workspace root (this crate is `local/`).
    pub fn load_default() -> Result<Template, TemplateError> {
        Template::load(&workspace_root().join("template.yaml"))
    }

    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)?;
        Ok(Template { root: to_json(yaml) })
    }

    pub fn resources(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.root.get("Resources").and_then(Value::as_object).into_iter().flatten()
    }

    pub fn resources_of(&self, kind: &str) -> Vec<(String, Value)> {
        self.resources()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
            .map(|(id, r)| (id.clone(), r.get("Properties").cloned().unwrap_or(json!({}))))
            .collect()
    }

    /// The one DynamoDB table's properties.
    pub fn table(&self) -> Result<(String, Value), TemplateError> {
        let mut tables = self.resources_of("AWS::DynamoDB::Table");
        match tables.len() {
            1 => Ok(tables.remove(0)),
            n => Err(TemplateError::Shape(format!("expected one table, found {n}"))),
        }
    }

    pub fn queues(&self) -> Vec<QueueSpec> {
        self.resources_of("AWS::SQS::Queue")
            .into_iter()
            .map(|(logical_id, p)| QueueSpec {
                logical_id,
                visibility_timeout: p.get("VisibilityTimeout").and_then(Value::as_i64),
                retention: p.get("MessageRetentionPeriod").and_then(Value::as_i64),
                redrive: p.get("RedrivePolicy").and_then(|r| {
                    Some((referenced(r.get("deadLetterTargetArn")?)?, r.get("maxReceiveCount")?.as_i64()?))
                }),
            })
            .collect()
    }

    pub fn buckets(&self) -> Vec<String> {
        self.resources_of("AWS::S3::Bucket").into_iter().map(|(id, _)| id).collect()
    }

    pub fn user_pool(&self) -> Result<(String, Value), TemplateError> {
        self.resources_of("AWS::Cognito::UserPool")
            .into_iter()
            .next()
            .ok_or_else(|| TemplateError::Shape("no user pool".into()))
    }

    pub fn user_pool_client(&self) -> Result<(String, Value), TemplateError> {
        self.resources_of("AWS::Cognito::UserPoolClient")
            .into_iter()
            .next()
            .ok_or_else(|| TemplateError::Shape("no user pool client".into()))
    }

    pub fn functions(&self) -> Vec<FunctionSpec> {
        self.resources()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
            .map(|(id, r)| {
                let binary = r
                    .pointer("/Metadata/BuildProperties/Binary")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let events: Vec<&Value> = r
                    .pointer("/Properties/Events")
                    .and_then(Value::as_object)
                    .map(|m| m.values().collect())
                    .unwrap_or_default();
                let api_event = |rest_api: &str| {
                    events
                        .iter()
                        .find(|e| {
                            e.get("Type").and_then(Value::as_str) == Some("Api")
                                && e.pointer("/Properties/RestApiId").and_then(referenced).as_deref() == Some(rest_api)
                        })
                        .map(|e| {
                            let p = &e["Properties"];
                            ApiEvent {
                                method: p["Method"].as_str().unwrap_or_default().to_ascii_uppercase(),
                                path: p["Path"].as_str().unwrap_or_default().to_string(),
                                authenticated: p.pointer("/Auth/Authorizer").and_then(Value::as_str) != Some("NONE"),
                            }
                        })
                };
                let (api, integration) = (api_event(CHORE_API), api_event(INTEGRATION_API));
                let queue = events
                    .iter()
                    .find(|e| e.get("Type").and_then(Value::as_str) == Some("SQS"))
                    .and_then(|e| referenced(e.pointer("/Properties/Queue")?));
                let timeout_seconds = r
                    .pointer("/Properties/Timeout")
                    .or_else(|| self.root.pointer("/Globals/Function/Timeout"))
                    .and_then(Value::as_u64)
                    .unwrap_or(3);
                let schedule = events
                    .iter()
                    .find(|e| e.get("Type").and_then(Value::as_str) == Some("Schedule"))
                    .and_then(|e| e.pointer("/Properties/Schedule")?.as_str().map(str::to_string));
                let stream =
                    events.iter().find(|e| e.get("Type").and_then(Value::as_str) == Some("DynamoDB")).and_then(|e| {
                        let table = referenced(e.pointer("/Properties/Stream")?)?;
                        let patterns = e
                            .pointer("/Properties/FilterCriteria/Filters")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(|f| f.get("Pattern")?.as_str().map(str::to_string))
                            .collect();
                        Some((table, patterns))
                    });
                FunctionSpec {
                    logical_id: id.clone(),
                    binary,
                    api,
                    integration,
                    queue,
                    timeout_seconds,
                    schedule,
                    stream,
                }
            })
            .collect()
    }
}

/// The logical id a `Ref` or `Fn::GetAtt` points at.
pub fn referenced(v: &Value) -> Option<String> {
    if let Some(r) = v.get("Ref").and_then(Value::as_str) {
        return Some(r.to_string());
    }
    v.get("Fn::GetAtt")?.get(0)?.as_str().map(str::to_string)
}

fn to_json(v: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else {
                json!(n.as_f64())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(seq.into_iter().map(to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    other => serde_yaml_ng::to_string(&other).unwrap_or_default().trim().to_string(),
                };
                out.insert(key, to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            let name = t.tag.to_string().trim_start_matches('!').to_string();
            let inner = to_json(t.value);
            match name.as_str() {
                "Ref" => json!({ "Ref": inner }),
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (res, attr) = s.split_once('.').unwrap_or((&s, ""));
                        json!({ "Fn::GetAtt": [res, attr] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                other => json!({ format!("Fn::{other}"): inner }),
            }
        }
    }
}

pub fn workspace_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("local/ has a parent").to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_form_tags_become_long_form() {
        let t = Template::parse(
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy:\n        deadLetterTargetArn: !GetAtt D.Arn\n        maxReceiveCount: 3\n  D:\n    Type: AWS::SQS::Queue\n",
        )
        .unwrap();
        let q = t.queues().into_iter().find(|q| q.logical_id == "Q").unwrap();
        assert_eq!(q.redrive, Some(("D".to_string(), 3)));
    }

    #[test]
    fn the_real_template_parses() {
        let t = Template::load_default().unwrap();
        assert!(t.table().is_ok());
        assert!(!t.functions().is_empty());
        assert!(t.user_pool().is_ok() && t.user_pool_client().is_ok());
    }

    #[test]
    fn conditions_are_decided_with_the_parameters_defaults() {
        let t = Template::parse(
            "Parameters:\n  Mfa:\n    Type: String\n    Default: 'false'\n  Stage:\n    Type: String\n    Default: dev\nConditions:\n  On: !Equals [!Ref Mfa, 'true']\n  Dev: !Not [!Equals [!Ref Stage, prod]]\nResources:\n  P:\n    Type: X\n    Properties:\n      A: !If [On, 'ON', 'OPTIONAL']\n      B: !If [Dev, 1, 2]\n      C: !If [On, x, !Ref AWS::NoValue]\n",
        )
        .unwrap();
        let p = t.decide(&t.root["Resources"]["P"]["Properties"]);
        assert_eq!(p["A"], "OPTIONAL");
        assert_eq!(p["B"], 1);
        assert_eq!(p["C"], Value::Null);
        let mut required = t.clone();
        required.root["Parameters"]["Mfa"]["Default"] = json!("true");
        assert_eq!(required.decide(&required.root["Resources"]["P"]["Properties"])["A"], "ON");
    }
}
