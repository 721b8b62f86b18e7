//! The route table the local gateway serves (the Lambda binary's: `functions_lambda`) and
//! how a concrete path matches a route.

pub use functions_lambda::{authorizers, jobs, routes, streams, workers};

/// Matches a concrete path against a route template (`/v1/households/{householdId}`),
/// returning the path parameters.
pub fn match_path(template: &str, path: &str) -> Option<Vec<(String, String)>> {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut params = Vec::new();
    for (ts, ps) in t.iter().zip(&p) {
        if let Some(name) = ts.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
            if ps.is_empty() {
                return None;
            }
            params.push((name.to_string(), ps.to_string()));
        } else if ts != ps {
            return None;
        }
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_templates_and_captures_parameters() {
        assert_eq!(match_path("/v1/me", "/v1/me"), Some(vec![]));
        assert_eq!(
            match_path("/v1/households/{householdId}/members/{userId}", "/v1/households/H/members/U"),
            Some(vec![("householdId".into(), "H".into()), ("userId".into(), "U".into())])
        );
        assert_eq!(match_path("/v1/households/{householdId}", "/v1/households"), None);
        assert_eq!(match_path("/v1/households/{householdId}", "/v1/households//"), None);
        assert_eq!(match_path("/v1/me", "/v2/me"), None);
    }
}
