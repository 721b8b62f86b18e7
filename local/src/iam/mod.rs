//! IAM as AWS applies it to a function's calls, so a policy gap in template.yaml fails
//! locally the way it would fail in AWS. Neither SAM local nor LocalStack (without Pro's
//! `ENFORCE_IAM`) does this, and neither DynamoDB Local nor moto checks IAM at all.
//!
//! - [`Policy`]: a function's `Policies` from template.yaml (inline statements and SAM
//!   policy templates), resolved to actions and resource ARNs.
//! - [`request`]: which actions on which resources one wire request needs, as IAM sees it
//!   (a `TransactWriteItems` needs `PutItem`/`UpdateItem`/... per item, a `Query` on an
//!   index needs the index ARN).
//! - [`client`]: an SDK HTTP client that checks every request against the function's policy
//!   before it leaves the process, answers a denied one with AWS's `AccessDenied`, and
//!   records what each function used for [`report`].
//!
//! ARNs are compared in a symbolic form: the template's resources appear as `${LogicalId}`
//! (`arn:aws:dynamodb:us-east-1:000000000000:table/${Table}/index/GSI1`), on both the policy
//! side and the request side (the physical names the local stack created map back to their
//! logical ids). The report can so merge the usage of many test stacks, each with its own
//! queue names.

pub mod client;
pub mod report;
pub mod request;

use serde_json::{Map, Value};

use crate::provision::{Provisioned, REGION};
use crate::template::Template;

/// The account id every local ARN carries.
pub const ACCOUNT: &str = "000000000000";

#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("{function}: {message}")]
    Policy { function: String, message: String },
}

/// Whether a denied call fails (as in AWS) or is only logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    /// Logs what would be denied and lets it through (like LocalStack's soft mode).
    Soft,
}

impl Mode {
    /// `CG_IAM=soft` for the soft mode; enforcing otherwise.
    pub fn from_env() -> Mode {
        match std::env::var("CG_IAM").as_deref() {
            Ok("soft") => Mode::Soft,
            _ => Mode::Enforce,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// No statement allows it.
    ImplicitDeny,
    /// A `Deny` statement matches.
    ExplicitDeny,
}

/// A function's identity-based policy.
#[derive(Clone, Debug)]
pub struct Policy {
    pub function: String,
    pub statements: Vec<Statement>,
}

/// SAM's policy templates we resolve, copied from aws-sam-translator's
/// `policy_templates.json` (only these; others are refused with a clear error).
const SAM_POLICY_TEMPLATES: &str = include_str!("sam_policy_templates.json");

impl Policy {
    /// The policy template.yaml gives `function` (its logical id).
    pub fn of(template: &Template, function: &str) -> Result<Policy, IamError> {
        let fail = |message: String| IamError::Policy { function: function.to_string(), message };
        let resource = template
            .root
            .pointer(&format!("/Resources/{function}"))
            .ok_or_else(|| fail("no such function in template.yaml".into()))?;
        let policies = match resource.pointer("/Properties/Policies") {
            None => vec![],
            Some(Value::Array(list)) => list.clone(),
            Some(one) => vec![one.clone()],
        };
        let sam: Map<String, Value> = serde_json::from_str(SAM_POLICY_TEMPLATES).expect("bundled JSON");
        let mut statements = Vec::new();
        for policy in &policies {
            match policy {
                Value::String(name) => {
                    return Err(fail(format!(
                        "managed policy {name}: the local stack cannot see inside managed policies; use inline statements"
                    )));
                }
                Value::Object(o) if o.contains_key("Statement") => {
                    for s in one_or_many(&o["Statement"]) {
                        statements.push(statement(template, s, &Map::new()).map_err(fail)?);
                    }
                }
                Value::Object(o) if o.len() == 1 => {
                    let (name, params) = o.iter().next().expect("one entry");
                    let def = sam
                        .get(name)
                        .ok_or_else(|| fail(format!("SAM policy template {name} is not modelled locally")))?;
                    // The template's own variables are bound to `{"Ref": "<Parameter>"}`;
                    // the function supplies each parameter.
                    let vars = params.as_object().cloned().unwrap_or_default();
                    for s in one_or_many(&def["Definition"]["Statement"]) {
                        statements.push(statement(template, s, &vars).map_err(fail)?);
                    }
                }
                other => return Err(fail(format!("unsupported policy entry {other}"))),
            }
        }
        Ok(Policy { function: function.to_string(), statements })
    }

    /// IAM's evaluation for one identity policy: an explicit deny wins, then any allow.
    pub fn decide(&self, action: &str, resource: &str) -> Decision {
        let matches = |s: &Statement| {
            s.actions.iter().any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
                && s.resources.iter().any(|r| glob(r, resource))
        };
        if self.statements.iter().any(|s| !s.allow && matches(s)) {
            Decision::ExplicitDeny
        } else if self.statements.iter().any(|s| s.allow && matches(s)) {
            Decision::Allowed
        } else {
            Decision::ImplicitDeny
        }
    }

    /// Every allowed (action, resource) pair the policy names.
    pub fn grants(&self) -> Vec<(String, String)> {
        self.statements
            .iter()
            .filter(|s| s.allow)
            .flat_map(|s| s.actions.iter().flat_map(move |a| s.resources.iter().map(move |r| (a.clone(), r.clone()))))
            .collect()
    }
}

fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        Value::Null => vec![],
        one => vec![one],
    }
}

fn statement(template: &Template, s: &Value, vars: &Map<String, Value>) -> Result<Statement, String> {
    for unsupported in ["NotAction", "NotResource", "Condition", "Principal"] {
        if s.get(unsupported).is_some() {
            return Err(format!("statements with {unsupported} are not modelled locally"));
        }
    }
    let allow = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        other => return Err(format!("statement with Effect {other:?}")),
    };
    let actions = one_or_many(s.get("Action").unwrap_or(&Value::Null))
        .into_iter()
        .map(|a| a.as_str().map(str::to_string).ok_or_else(|| format!("action {a} is not a string")))
        .collect::<Result<Vec<_>, _>>()?;
    let resources = one_or_many(s.get("Resource").unwrap_or(&Value::Null))
        .into_iter()
        .map(|r| resolve(template, r, vars))
        .collect::<Result<Vec<_>, _>>()?;
    if actions.is_empty() || resources.is_empty() {
        return Err("a statement without Action or Resource".into());
    }
    Ok(Statement { allow, actions, resources })
}

/// The symbolic ARN of a template resource (`${LogicalId}` in place of its name).
pub fn symbolic_arn(template: &Template, id: &str) -> Option<String> {
    let kind = template.root.pointer(&format!("/Resources/{id}/Type"))?.as_str()?;
    let name = format!("${{{id}}}");
    Some(match kind {
        "AWS::DynamoDB::Table" => format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"),
        "AWS::SQS::Queue" => format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"),
        "AWS::S3::Bucket" => format!("arn:aws:s3:::{name}"),
        "AWS::Cognito::UserPool" => format!("arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{name}"),
        "AWS::SNS::Topic" => format!("arn:aws:sns:{REGION}:{ACCOUNT}:{name}"),
        "AWS::KMS::Key" => format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{name}"),
        _ => return None,
    })
}

/// Resolves a policy's resource expression (`!GetAtt`, `!Ref`, `!Sub`) to a symbolic ARN.
fn resolve(template: &Template, v: &Value, vars: &Map<String, Value>) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Object(o) if o.contains_key("Ref") => reference(template, o["Ref"].as_str().unwrap_or_default(), vars),
        Value::Object(o) if o.contains_key("Fn::GetAtt") => {
            let id = o["Fn::GetAtt"][0].as_str().unwrap_or_default();
            let attr = o["Fn::GetAtt"][1].as_str().unwrap_or_default();
            attribute(template, id, attr)
        }
        Value::Object(o) if o.contains_key("Fn::Sub") => {
            let (text, own) = match &o["Fn::Sub"] {
                Value::String(s) => (s.clone(), Map::new()),
                Value::Array(a) => (
                    a.first().and_then(Value::as_str).unwrap_or_default().to_string(),
                    a.get(1).and_then(Value::as_object).cloned().unwrap_or_default(),
                ),
                other => return Err(format!("unsupported Fn::Sub {other}")),
            };
            let mut out = String::new();
            let mut rest = text.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let end = rest[start..].find('}').ok_or_else(|| format!("unclosed ${{ in {text}"))? + start;
                let name = &rest[start + 2..end];
                if let Some(literal) = name.strip_prefix('!') {
                    out.push_str(&format!("${{{literal}}}"));
                } else if let Some(bound) = own.get(name) {
                    out.push_str(&resolve(template, bound, vars)?);
                } else if let Some((id, attr)) = name.split_once('.') {
                    out.push_str(&attribute(template, id, attr)?);
                } else {
                    out.push_str(&reference(template, name, vars)?);
                }
                rest = &rest[end + 1..];
            }
            out.push_str(rest);
            Ok(out)
        }
        other => Err(format!("unsupported resource expression {other}")),
    }
}

fn reference(template: &Template, name: &str, vars: &Map<String, Value>) -> Result<String, String> {
    match name {
        "AWS::Region" => return Ok(REGION.into()),
        "AWS::AccountId" => return Ok(ACCOUNT.into()),
        "AWS::Partition" => return Ok("aws".into()),
        "AWS::URLSuffix" => return Ok("amazonaws.com".into()),
        _ => {}
    }
    if let Some(bound) = vars.get(name) {
        return resolve(template, bound, &Map::new());
    }
    if let Some(default) = template.root.pointer(&format!("/Parameters/{name}/Default")) {
        return default.as_str().map(str::to_string).ok_or_else(|| format!("parameter {name} has no string default"));
    }
    match template.root.pointer(&format!("/Resources/{name}/Type")).and_then(Value::as_str) {
        // `Ref` of a topic or key is its ARN; of a table, bucket or pool, its name.
        Some("AWS::SNS::Topic") => symbolic_arn(template, name).ok_or_else(|| format!("no ARN for {name}")),
        Some(_) => Ok(format!("${{{name}}}")),
        None => Err(format!("Ref to unknown {name}")),
    }
}

fn attribute(template: &Template, id: &str, attr: &str) -> Result<String, String> {
    let arn = symbolic_arn(template, id).ok_or_else(|| format!("no ARN for {id}"))?;
    match attr {
        "Arn" => Ok(arn),
        "StreamArn" => Ok(format!("{arn}/stream/*")),
        "QueueName" => Ok(format!("${{{id}}}")),
        other => Err(format!("unsupported attribute {id}.{other}")),
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` any one.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The physical names the local stack created, mapped back to the template's logical ids.
#[derive(Clone, Debug, Default)]
pub struct Names {
    /// (physical name, logical id) of tables, queues (by queue name), buckets and pools.
    pub tables: Vec<(String, String)>,
    pub queues: Vec<(String, String)>,
    pub buckets: Vec<(String, String)>,
    pub user_pools: Vec<(String, String)>,
    pub keys: Vec<(String, String)>,
    pub configuration_sets: Vec<(String, String)>,
    pub usage_plans: Vec<(String, String)>,
}

impl Names {
    pub fn new(template: &Template, p: &Provisioned) -> Names {
        let table = template.table().map(|(id, _)| id).unwrap_or_default();
        let pool = template.user_pool().map(|(id, _)| id).unwrap_or_default();
        Names {
            tables: vec![(p.table_name.clone(), table)],
            queues: p
                .queue_urls
                .iter()
                .map(|(id, url)| (url.rsplit('/').next().unwrap_or_default().to_string(), id.clone()))
                .collect(),
            buckets: p.buckets.iter().map(|(id, name)| (name.clone(), id.clone())).collect(),
            user_pools: vec![(p.user_pool_id.clone(), pool)],
            keys: p.keys.iter().map(|(id, key)| (key.clone(), id.clone())).collect(),
            configuration_sets: p.configuration_sets.iter().map(|(id, name)| (name.clone(), id.clone())).collect(),
            usage_plans: p.usage_plans.iter().map(|(id, plan)| (plan.clone(), id.clone())).collect(),
        }
    }

    fn symbolic(list: &[(String, String)], physical: &str) -> String {
        list.iter()
            .find(|(name, _)| name == physical)
            .map(|(_, id)| format!("${{{id}}}"))
            .unwrap_or_else(|| physical.to_string())
    }

    pub fn table(&self, name: &str) -> String {
        // A table may be named by its ARN too.
        let name = name.rsplit_once(":table/").map(|(_, n)| n).unwrap_or(name);
        format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{}", Names::symbolic(&self.tables, name))
    }

    pub fn queue_by_url(&self, url: &str) -> String {
        let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
        format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{}", Names::symbolic(&self.queues, name))
    }

    pub fn bucket(&self, name: &str) -> String {
        format!("arn:aws:s3:::{}", Names::symbolic(&self.buckets, name))
    }

    pub fn configuration_set(&self, name: &str) -> String {
        format!("arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/{}", Names::symbolic(&self.configuration_sets, name))
    }

    /// A key named by id or ARN.
    pub fn key(&self, key: &str) -> String {
        let id = key.rsplit_once(":key/").map(|(_, k)| k).unwrap_or(key);
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{}", Names::symbolic(&self.keys, id))
    }

    /// A usage plan id as a template reference (`${IntegrationUsagePlan}`).
    pub fn usage_plan(&self, id: &str) -> String {
        Names::symbolic(&self.usage_plans, id)
    }

    pub fn user_pool(&self, id: &str) -> String {
        format!("arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{}", Names::symbolic(&self.user_pools, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(policies: &str) -> Template {
        Template::parse(&format!(
            "Parameters:\n  Stage:\n    Type: String\n    Default: dev\nResources:\n  Table:\n    Type: AWS::DynamoDB::Table\n  Q:\n    Type: AWS::SQS::Queue\n  B:\n    Type: AWS::S3::Bucket\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Policies:\n{policies}"
        ))
        .unwrap()
    }

    const TABLE: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/${Table}";

    #[test]
    fn inline_statements_resolve_getatt_and_sub() {
        let t = template(
            "        - Statement:\n            - Effect: Allow\n              Action: [dynamodb:GetItem, dynamodb:Query]\n              Resource:\n                - !GetAtt Table.Arn\n                - !Sub '${Table.Arn}/index/GSI1'\n            - Effect: Allow\n              Action: sqs:SendMessage\n              Resource: !GetAtt Q.Arn\n            - Effect: Allow\n              Action: s3:GetObject\n              Resource: !Sub 'arn:${AWS::Partition}:s3:::${B}/photos/*'\n",
        );
        let p = Policy::of(&t, "F").unwrap();
        assert_eq!(p.decide("dynamodb:GetItem", TABLE), Decision::Allowed);
        assert_eq!(p.decide("dynamodb:Query", &format!("{TABLE}/index/GSI1")), Decision::Allowed);
        // GSI2 is not granted, nor is a write.
        assert_eq!(p.decide("dynamodb:Query", &format!("{TABLE}/index/GSI2")), Decision::ImplicitDeny);
        assert_eq!(p.decide("dynamodb:PutItem", TABLE), Decision::ImplicitDeny);
        assert_eq!(p.decide("sqs:SendMessage", "arn:aws:sqs:us-east-1:000000000000:${Q}"), Decision::Allowed);
        assert_eq!(p.decide("s3:GetObject", "arn:aws:s3:::${B}/photos/a.jpg"), Decision::Allowed);
        assert_eq!(p.decide("s3:GetObject", "arn:aws:s3:::${B}/exports/a.zip"), Decision::ImplicitDeny);
        // Action names are case-insensitive in IAM, resources are not.
        assert_eq!(p.decide("DynamoDB:getitem", TABLE), Decision::Allowed);
        assert_eq!(p.decide("dynamodb:GetItem", &TABLE.to_uppercase()), Decision::ImplicitDeny);
    }

    #[test]
    fn sam_policy_templates_expand_with_their_parameters() {
        let t = template("        - DynamoDBReadPolicy:\n            TableName: !Ref Table\n");
        let p = Policy::of(&t, "F").unwrap();
        assert_eq!(p.decide("dynamodb:Query", &format!("{TABLE}/index/GSI2")), Decision::Allowed);
        assert_eq!(p.decide("dynamodb:BatchGetItem", TABLE), Decision::Allowed);
        assert_eq!(p.decide("dynamodb:PutItem", TABLE), Decision::ImplicitDeny);
        let other = "arn:aws:dynamodb:us-east-1:000000000000:table/Other";
        assert_eq!(p.decide("dynamodb:GetItem", other), Decision::ImplicitDeny);
    }

    #[test]
    fn an_explicit_deny_wins() {
        let t = template(
            "        - Statement:\n            - Effect: Allow\n              Action: dynamodb:DeleteItem\n              Resource: !GetAtt Table.Arn\n            - Effect: Deny\n              Action: dynamodb:DeleteItem\n              Resource: '*'\n",
        );
        assert_eq!(Policy::of(&t, "F").unwrap().decide("dynamodb:DeleteItem", TABLE), Decision::ExplicitDeny);
    }

    #[test]
    fn what_cannot_be_modelled_is_refused_not_guessed() {
        assert!(Policy::of(&template("        - AmazonDynamoDBFullAccess\n"), "F").is_err());
        assert!(Policy::of(&template("        - SomeUnknownPolicy: {}\n"), "F").is_err());
        let conditional = "        - Statement:\n            - Effect: Allow\n              Action: dynamodb:GetItem\n              Resource: '*'\n              Condition: {}\n";
        assert!(Policy::of(&template(conditional), "F").is_err());
    }

    #[test]
    fn glob_matches_like_iam() {
        assert!(glob("dynamodb:*", "dynamodb:GetItem"));
        assert!(glob("a*c", "abbbc") && glob("a*c", "ac") && !glob("a*c", "ab"));
        assert!(glob("s3:Get?bject", "s3:GetObject") && !glob("s3:Get?bject", "s3:GetObjects"));
        assert!(glob("*", "") && glob("x/*/y", "x/a/b/y") && !glob("x/*/y", "x/a/b/z"));
        assert!(!glob("table/T", "table/T/index/I"));
        // A `*` in the text is an ordinary character; in the pattern always a wildcard.
        assert!(glob("a*b", "a*xb") && glob("a*", "a*"));
    }

    #[test]
    fn physical_names_map_back_to_logical_ids() {
        let names = Names {
            tables: vec![("t1-Table".into(), "Table".into())],
            queues: vec![("q1-Q".into(), "Q".into())],
            ..Names::default()
        };
        assert_eq!(names.table("t1-Table"), TABLE);
        assert_eq!(names.table("arn:aws:dynamodb:us-east-1:000000000000:table/t1-Table"), TABLE);
        assert_eq!(names.table("Foreign"), "arn:aws:dynamodb:us-east-1:000000000000:table/Foreign");
        assert_eq!(names.queue_by_url("http://h:5000/000000000000/q1-Q"), "arn:aws:sqs:us-east-1:000000000000:${Q}");
    }
}
