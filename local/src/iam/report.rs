//! After a run (the suite or `scripts/dev`): what each function actually used, next to what
//! its policy grants. `missing` lines are calls its policy refused; `unused` lines are
//! grants no call needed in that run (a candidate for removal, or a path the run missed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::client::Usage;
use super::{Policy, glob};
use crate::template::Template;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct FunctionReport {
    pub used: BTreeSet<(String, String)>,
    pub missing: BTreeSet<(String, String)>,
    pub unused: BTreeSet<(String, String)>,
}

/// Usage lines from every `*.jsonl` file in `dir`.
pub fn read_usage(dir: &Path) -> Vec<Usage> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().extension().and_then(|e| e.to_str()) == Some("jsonl") {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            out.extend(text.lines().filter_map(|l| serde_json::from_str::<Usage>(l).ok()));
        }
    }
    out
}

/// Per function of the template: used, missing and unused (action, resource) pairs.
pub fn compare(template: &Template, usage: &[Usage]) -> BTreeMap<String, FunctionReport> {
    let mut reports = BTreeMap::new();
    for f in template.functions() {
        let mut r = FunctionReport::default();
        let mine: Vec<&Usage> = usage.iter().filter(|u| u.function == f.logical_id).collect();
        for u in &mine {
            let pair = (u.action.clone(), u.resource.clone());
            if u.allowed {
                r.used.insert(pair);
            } else {
                r.missing.insert(pair);
            }
        }
        if let Ok(policy) = Policy::of(template, &f.logical_id) {
            for (action, resource) in policy.grants() {
                let needed = mine.iter().any(|u| {
                    glob(&action.to_ascii_lowercase(), &u.action.to_ascii_lowercase()) && glob(&resource, &u.resource)
                });
                if !needed {
                    r.unused.insert((action, resource));
                }
            }
        }
        reports.insert(f.logical_id, r);
    }
    reports
}

/// The report as text, one block per function that used, lacked or left unused anything.
pub fn render(reports: &BTreeMap<String, FunctionReport>) -> String {
    let short = |r: &str| r.replace(&format!("us-east-1:{}:", super::ACCOUNT), "…:");
    let mut out = String::new();
    let (mut missing, mut unused, mut idle) = (0, 0, 0);
    for (function, r) in reports {
        // A function the run never called says nothing about its policy.
        if r.used.is_empty() && r.missing.is_empty() {
            idle += 1;
            continue;
        }
        out.push_str(&format!("{function}\n"));
        for (label, set) in [("used   ", &r.used), ("MISSING", &r.missing), ("unused ", &r.unused)] {
            for (action, resource) in set {
                out.push_str(&format!("  {label}  {action:<28} {}\n", short(resource)));
            }
        }
        missing += r.missing.len();
        unused += r.unused.len();
    }
    out.push_str(&format!(
        "IAM usage: {} functions ({idle} not called in this run), {missing} missing grant(s) (denied calls), {unused} unused grant(s)\n",
        reports.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_unused_grants_both_show() {
        let t = Template::parse(
            "Resources:\n  Table:\n    Type: AWS::DynamoDB::Table\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Policies:\n        - Statement:\n            - Effect: Allow\n              Action: [dynamodb:GetItem, dynamodb:PutItem]\n              Resource: !GetAtt Table.Arn\n",
        )
        .unwrap();
        let table = "arn:aws:dynamodb:us-east-1:000000000000:table/${Table}".to_string();
        let usage = |action: &str, allowed| Usage {
            function: "F".into(),
            action: action.into(),
            resource: table.clone(),
            allowed,
        };
        let reports = compare(&t, &[usage("dynamodb:GetItem", true), usage("dynamodb:Query", false)]);
        let f = &reports["F"];
        assert_eq!(f.used, BTreeSet::from([("dynamodb:GetItem".to_string(), table.clone())]));
        assert_eq!(f.missing, BTreeSet::from([("dynamodb:Query".to_string(), table.clone())]));
        assert_eq!(f.unused, BTreeSet::from([("dynamodb:PutItem".to_string(), table.clone())]));
        let text = render(&reports);
        assert!(text.contains("MISSING  dynamodb:Query") && text.contains("unused   dynamodb:PutItem"), "{text}");
    }
}
