//! Static evaluation of policy documents, for `fnctl verify` and drift
//! severity: would this trust policy let a given account assume the role
//! with a given external ID, and would this permission policy allow an
//! action on a resource? moto does not evaluate cross-account trust or
//! external IDs, so fnctl carries these semantics itself.
//!
//! The evaluation is conservative: a condition it cannot decide makes an
//! Allow statement not apply (so "can the function assume?" errs towards
//! "no") and a Deny statement apply (errs towards "denied").

use serde_json::Value;

/// A request to evaluate.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Caller's account id (trust) — `None` for permission policies.
    pub principal_account: Option<&'a str>,
    /// The action, e.g. `sts:AssumeRole`.
    pub action: &'a str,
    /// The resource ARN (`None` in trust policies, which have none).
    pub resource: Option<&'a str>,
    /// Condition keys and the values the request carries (e.g.
    /// `sts:ExternalId`, `s3:prefix`); keys compare case-insensitively.
    pub context: &'a [(&'a str, &'a str)],
}

impl Request<'_> {
    fn value_of(&self, key: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    }
}

/// The result of evaluating a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An Allow statement applies and no Deny does.
    Allowed,
    /// A Deny statement applies.
    ExplicitlyDenied,
    /// No statement allows it.
    ImplicitlyDenied,
}

/// A policy field as a list: IAM writes a one-element list as a scalar.
pub(crate) fn list(value: Option<&Value>) -> Vec<&Value> {
    match value {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => vec![other],
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    list(value)
        .into_iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

/// Whether an IAM wildcard pattern (`*`, `?`) matches `text`.
pub(crate) fn wildcard_match(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    if case_insensitive {
        crate::policy::glob::matches(&pattern.to_ascii_lowercase(), &text.to_ascii_lowercase())
    } else {
        crate::policy::glob::matches(pattern, text)
    }
}

fn principal_matches(statement: &Value, account: Option<&str>) -> bool {
    let Some(account) = account else { return true };
    let principal = match statement.get("Principal") {
        Some(Value::String(star)) if star == "*" => return true,
        Some(Value::Object(map)) => map.get("AWS"),
        _ => None,
    };
    strings(principal)
        .iter()
        .any(|p| p == "*" || p == account || *p == format!("arn:aws:iam::{account}:root"))
}

fn not_principal_excludes(statement: &Value, account: Option<&str>) -> bool {
    let (Some(account), Some(Value::Object(map))) = (account, statement.get("NotPrincipal")) else {
        return false;
    };
    strings(map.get("AWS"))
        .iter()
        .any(|p| p == account || *p == format!("arn:aws:iam::{account}:root"))
}

fn action_matches(statement: &Value, action: &str) -> bool {
    if let Some(not_actions) = statement.get("NotAction") {
        return !strings(Some(not_actions))
            .iter()
            .any(|p| wildcard_match(p, action, true));
    }
    strings(statement.get("Action"))
        .iter()
        .any(|p| wildcard_match(p, action, true))
}

fn resource_matches(statement: &Value, resource: Option<&str>) -> bool {
    let Some(resource) = resource else {
        return true;
    };
    if let Some(not_resources) = statement.get("NotResource") {
        return !strings(Some(not_resources))
            .iter()
            .any(|p| wildcard_match(p, resource, false));
    }
    strings(statement.get("Resource"))
        .iter()
        .any(|p| wildcard_match(p, resource, false))
}

/// `Some(true/false)` when the conditions can be decided for this request,
/// `None` when one of them cannot.
fn conditions_hold(statement: &Value, request: &Request<'_>) -> Option<bool> {
    let Some(conditions) = statement.get("Condition").and_then(Value::as_object) else {
        return Some(true);
    };
    for (operator, block) in conditions {
        let block = block.as_object()?;
        for (key, expected) in block {
            let expected = strings(Some(expected));
            let present = request.value_of(key);
            let holds = match (operator.as_str(), present) {
                ("StringEquals", Some(value)) => expected.iter().any(|e| e == value),
                ("StringLike", Some(value)) => {
                    expected.iter().any(|e| wildcard_match(e, value, false))
                }
                ("StringNotEquals", Some(value)) => expected.iter().all(|e| e != value),
                ("StringNotLike", Some(value)) => {
                    !expected.iter().any(|e| wildcard_match(e, value, false))
                }
                ("StringEquals" | "StringLike", None) => false,
                (
                    "StringEqualsIfExists"
                    | "StringLikeIfExists"
                    | "StringNotEquals"
                    | "StringNotLike",
                    None,
                ) => true,
                ("StringEqualsIfExists", Some(value)) => expected.iter().any(|e| e == value),
                ("StringLikeIfExists", Some(value)) => {
                    expected.iter().any(|e| wildcard_match(e, value, false))
                }
                ("Null", _) => {
                    let wants_null = expected.iter().any(|e| e == "true");
                    wants_null == present.is_none()
                }
                _ => return None,
            };
            if !holds {
                return Some(false);
            }
        }
    }
    Some(true)
}

/// Evaluates `request` against `document` as IAM would for one policy.
pub(crate) fn evaluate(document: &Value, request: &Request<'_>) -> Decision {
    evaluate_with(document, request, Undecided::AllowDoesNotApply)
}

/// What to assume of a statement whose conditions fnctl cannot decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undecided {
    /// An undecided Allow does not apply, an undecided Deny does: the safe
    /// answer to "can the function surely do this?".
    AllowDoesNotApply,
    /// An undecided Allow applies, an undecided Deny does not: the safe
    /// answer to "could a stranger possibly do this?".
    AllowApplies,
}

/// [`evaluate`] with an explicit choice for undecidable conditions.
pub(crate) fn evaluate_with(
    document: &Value,
    request: &Request<'_>,
    undecided: Undecided,
) -> Decision {
    let statements = list(document.get("Statement"));
    let applies = |statement: &Value| {
        principal_matches(statement, request.principal_account)
            && !not_principal_excludes(statement, request.principal_account)
            && action_matches(statement, request.action)
            && resource_matches(statement, request.resource)
    };
    let mut allowed = false;
    for statement in statements {
        let effect = statement
            .get("Effect")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !applies(statement) {
            continue;
        }
        let holds = conditions_hold(statement, request);
        let surely = holds == Some(true);
        let maybe = holds != Some(false);
        let (deny_applies, allow_applies) = match undecided {
            Undecided::AllowDoesNotApply => (maybe, surely),
            Undecided::AllowApplies => (surely, maybe),
        };
        match effect {
            "Deny" if deny_applies => return Decision::ExplicitlyDenied,
            "Allow" if allow_applies => allowed = true,
            _ => {}
        }
    }
    if allowed {
        Decision::Allowed
    } else {
        Decision::ImplicitlyDenied
    }
}

/// Whether `account` could possibly assume the role with `external_id`
/// (`None`: without one): conditions fnctl cannot decide count as met.
pub(crate) fn trust_might_admit(trust: &Value, account: &str, external_id: Option<&str>) -> bool {
    assume_role(trust, account, external_id, Undecided::AllowApplies)
}

/// Whether `account` may assume the role with `external_id` under `trust`.
pub(crate) fn trust_admits(trust: &Value, account: &str, external_id: Option<&str>) -> bool {
    assume_role(trust, account, external_id, Undecided::AllowDoesNotApply)
}

fn assume_role(
    trust: &Value,
    account: &str,
    external_id: Option<&str>,
    undecided: Undecided,
) -> bool {
    let context: Vec<(&str, &str)> = external_id
        .map(|id| ("sts:ExternalId", id))
        .into_iter()
        .collect();
    let request = Request {
        principal_account: Some(account),
        action: "sts:AssumeRole",
        resource: None,
        context: &context,
    };
    evaluate_with(trust, &request, undecided) == Decision::Allowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::trust::trust_policy;
    use serde_json::json;

    #[test]
    fn trust_admits_exactly_the_segment_account_with_its_id() {
        let trust = trust_policy("458175278816", &["right-id"]);
        assert!(trust_admits(&trust, "458175278816", Some("right-id")));
        assert!(!trust_admits(&trust, "458175278816", Some("wrong-id")));
        assert!(!trust_admits(&trust, "458175278816", None));
        assert!(!trust_admits(&trust, "111122223333", Some("right-id")));
    }

    #[test]
    fn rotation_accepts_both_ids() {
        let trust = trust_policy("300240842537", &["old", "new"]);
        assert!(trust_admits(&trust, "300240842537", Some("old")));
        assert!(trust_admits(&trust, "300240842537", Some("new")));
    }

    #[test]
    fn bare_ids_wildcards_likes_and_denies() {
        let trust = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "458175278816"}, "Action": "sts:*", "Condition": {"StringLike": {"sts:externalid": "abc*"}}}]});
        assert!(trust_admits(&trust, "458175278816", Some("abcdef")));
        assert!(!trust_admits(&trust, "458175278816", Some("xyz")));
        let open = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}]});
        assert!(trust_admits(&open, "111122223333", None));
        let denied = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::458175278816:root"}, "Action": "sts:AssumeRole"},
            {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"}
        ]});
        assert!(!trust_admits(&denied, "458175278816", None));
        let unknown_condition = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "458175278816"}, "Action": "sts:AssumeRole", "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4/32"}}}]});
        let list = json!({"Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b", "Condition": {"StringLike": {"s3:prefix": ["segment/*"]}}}]});
        let listing = |prefix| {
            evaluate(
                &list,
                &Request {
                    principal_account: None,
                    action: "s3:ListBucket",
                    resource: Some("arn:aws:s3:::b"),
                    context: &[("s3:prefix", prefix)],
                },
            )
        };
        assert_eq!(listing("segment/x"), Decision::Allowed);
        assert_eq!(listing("other/"), Decision::ImplicitlyDenied);
        assert!(!trust_admits(&unknown_condition, "458175278816", None));
        // A stranger probe counts the undecidable condition as met.
        assert!(trust_might_admit(&unknown_condition, "458175278816", None));
        let open_with_condition = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]});
        assert!(trust_might_admit(
            &open_with_condition,
            "111122223333",
            None
        ));
        assert!(!trust_admits(&open_with_condition, "111122223333", None));
    }

    #[test]
    fn permissions_cover_resources_by_wildcard() {
        let policy = json!({"Statement": [{"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "arn:aws:s3:::b/segment/*"}]});
        let put = |resource| {
            evaluate(
                &policy,
                &Request {
                    principal_account: None,
                    action: "s3:PutObject",
                    resource: Some(resource),
                    context: &[],
                },
            )
        };
        assert_eq!(put("arn:aws:s3:::b/segment/x.json"), Decision::Allowed);
        assert_eq!(
            put("arn:aws:s3:::b/other/x.json"),
            Decision::ImplicitlyDenied
        );
    }
}
