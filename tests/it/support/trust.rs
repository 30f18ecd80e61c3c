//! An independent reading of trust policies: which external IDs a trust
//! policy names and whether it lets a Segment account assume the role with
//! one of them. Written from IAM's policy grammar (SPEC.md, FACTS.md), not
//! from fnctl's parser, so a test does not agree with fnctl by construction.

use std::collections::BTreeSet;

use serde_json::{json, Value};

/// A policy element that may be one value or a list, as a list (`null`: empty).
pub fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// A string-or-list element (actions, resources, principals, condition
/// values) as a set; panics on anything but strings, which IAM never stores.
pub fn strings(value: &Value) -> BTreeSet<String> {
    as_list(value)
        .into_iter()
        .map(|v| match v {
            Value::String(text) => text,
            other => panic!("a policy element holds a non-string: {other}"),
        })
        .collect()
}

/// The statements of a policy document.
pub fn statements(document: &Value) -> Vec<Value> {
    as_list(&document["Statement"])
}

/// Every value of an `sts:ExternalId` condition key (any case), in every
/// statement and under every operator: all the IDs the trust policy names.
/// The broadest reading, so that an ID where fnctl should not put one (a
/// second operator, a Deny) is still counted and still searched for leaks.
pub fn external_ids(trust: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    for statement in statements(trust) {
        let Some(operators) = statement["Condition"].as_object() else {
            continue;
        };
        for block in operators.values().filter_map(Value::as_object) {
            for (key, values) in block {
                if key.eq_ignore_ascii_case("sts:ExternalId") {
                    ids.extend(strings(values));
                }
            }
        }
    }
    ids
}

/// Whether the trust policy lets `account` assume the role with `id`: an
/// Allow statement for that account's root (or bare id), `sts:AssumeRole`,
/// and a `StringEquals` `sts:ExternalId` condition listing `id`, and no
/// other condition key; and no Deny statement at all.
pub fn trust_accepts(trust: &Value, account: &str, id: &str) -> bool {
    let statements = statements(trust);
    if statements.iter().any(|s| s["Effect"] == "Deny") {
        return false;
    }
    statements.iter().any(|s| {
        let principal_ok = strings(&s["Principal"]["AWS"])
            .iter()
            .any(|p| p == &format!("arn:aws:iam::{account}:root") || p == account);
        let action_ok = strings(&s["Action"])
            .iter()
            .any(|a| a.eq_ignore_ascii_case("sts:AssumeRole"));
        let Some(conditions) = s["Condition"].as_object() else {
            return false;
        };
        let only_equals = conditions.len() == 1 && conditions.contains_key("StringEquals");
        let equals = &s["Condition"]["StringEquals"];
        let only_id_key = equals.as_object().is_some_and(|o| o.len() == 1);
        let id_ok = equals
            .as_object()
            .and_then(|o| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("sts:ExternalId"))
            })
            .is_some_and(|(_, v)| strings(v).contains(id));
        s["Effect"] == "Allow" && principal_ok && action_ok && only_equals && only_id_key && id_ok
    })
}

/// A trust policy as Segment's docs write it, accepting `ids` (none: no condition).
pub fn trust_document(account: &str, ids: &[&str]) -> Value {
    let mut statement = json!({
        "Sid": "SegmentFunctionAssumeRole",
        "Effect": "Allow",
        "Principal": { "AWS": format!("arn:aws:iam::{account}:root") },
        "Action": "sts:AssumeRole",
    });
    if !ids.is_empty() {
        statement["Condition"] = json!({ "StringEquals": { "sts:ExternalId": ids } });
    }
    json!({ "Version": "2012-10-17", "Statement": [statement] })
}
