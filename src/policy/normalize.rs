//! Semantic normalization of IAM policy documents (trust and permission
//! policies), so that two documents compare equal exactly when IAM treats
//! them alike. IAM rewrites what it stores (a bare account id becomes
//! `arn:aws:iam::ID:root`, one-element lists come back as scalars), so a
//! textual comparison would report drift forever.
//!
//! The canonical form: every list-valued field (actions, resources,
//! principal values, condition values) is a sorted list without duplicates;
//! actions and condition keys are lowercase, as IAM compares them
//! case-insensitively; condition values are strings, as IAM stores them;
//! `"Principal": "*"` is `{"AWS": ["*"]}`; an empty `Sid` is dropped;
//! `Statement` is a sorted list of distinct statements. `Version` is kept
//! present or absent as it is, because a missing `Version` means the
//! 2008 policy language. Object keys follow a fixed order, so the canonical
//! serialization is stable enough to fingerprint.

use serde_json::{Map, Value};

/// Statement fields in the order a reader expects them; other keys follow,
/// sorted.
const STATEMENT_FIELD_ORDER: [&str; 9] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

/// Top-level fields in the order a reader expects them; other keys follow,
/// sorted.
const DOCUMENT_FIELD_ORDER: [&str; 3] = ["Version", "Id", "Statement"];

/// The canonical form of a policy document. Accepts any JSON value and never
/// fails: what it does not recognize it keeps, with object keys sorted.
pub(crate) fn normalize(document: &Value) -> Value {
    let Value::Object(fields) = document else {
        return normalize_unknown(document);
    };
    let ordered = ordered_fields(fields, &DOCUMENT_FIELD_ORDER);
    let mut normalized = Map::new();
    for (key, value) in ordered {
        let value = match key.as_str() {
            "Statement" => normalize_statements(value),
            _ => normalize_unknown(value),
        };
        normalized.insert(key.clone(), value);
    }
    Value::Object(normalized)
}

/// Whether IAM treats the two documents alike.
pub(crate) fn equivalent(first: &Value, second: &Value) -> bool {
    normalize(first) == normalize(second)
}

/// The normalized document as JSON indented by two spaces, keys in the
/// canonical order; the text that policy diffs compare.
pub(crate) fn pretty(document: &Value) -> String {
    serde_json::to_string_pretty(&normalize(document))
        .expect("a serde_json::Value always serializes")
}

/// Compact serialization of an already normalized value. Its key order is
/// the canonical one, so equal normalized values give equal text; it is the
/// sort key for lists and statements.
fn canonical_text(value: &Value) -> String {
    value.to_string()
}

fn normalize_statements(value: &Value) -> Value {
    match value {
        Value::Array(statements) => {
            sorted_distinct(statements.iter().map(normalize_statement).collect())
        }
        // A single statement object is the same as a one-element list.
        Value::Object(_) => sorted_distinct(vec![normalize_statement(value)]),
        other => normalize_unknown(other),
    }
}

fn normalize_statement(statement: &Value) -> Value {
    let Value::Object(fields) = statement else {
        return normalize_unknown(statement);
    };
    let mut normalized = Map::new();
    for (key, value) in ordered_fields(fields, &STATEMENT_FIELD_ORDER) {
        let value = match key.as_str() {
            "Sid" if value.as_str() == Some("") => continue,
            "Principal" | "NotPrincipal" => normalize_principal(value),
            "Action" | "NotAction" => normalize_list(value, |element| match element {
                Value::String(action) => Value::String(action.to_lowercase()),
                other => normalize_unknown(other),
            }),
            "Resource" | "NotResource" => normalize_list(value, normalize_unknown),
            "Condition" => normalize_condition(value),
            _ => normalize_unknown(value),
        };
        normalized.insert(key.clone(), value);
    }
    Value::Object(normalized)
}

fn normalize_principal(principal: &Value) -> Value {
    match principal {
        Value::String(everyone) if everyone == "*" => {
            let mut normalized = Map::new();
            normalized.insert(
                "AWS".to_string(),
                Value::Array(vec![Value::String("*".to_string())]),
            );
            Value::Object(normalized)
        }
        Value::Object(kinds) => {
            let mut normalized = Map::new();
            for (kind, value) in sorted_fields(kinds) {
                let value = if kind == "AWS" {
                    normalize_list(value, |element| match stringified(element) {
                        Value::String(principal) => Value::String(account_root_arn(principal)),
                        other => normalize_unknown(&other),
                    })
                } else {
                    normalize_list(value, |element| normalize_unknown(&stringified(element)))
                };
                normalized.insert(kind.clone(), value);
            }
            Value::Object(normalized)
        }
        other => normalize_unknown(other),
    }
}

/// IAM stores a bare account id principal as the account's root ARN.
/// The principal a bare 12-digit account id stands for: the account's root ARN.
pub(crate) fn account_root_arn(principal: String) -> String {
    if principal.len() == 12 && principal.bytes().all(|byte| byte.is_ascii_digit()) {
        format!("arn:aws:iam::{principal}:root")
    } else {
        principal
    }
}

fn normalize_condition(condition: &Value) -> Value {
    let Value::Object(operators) = condition else {
        return normalize_unknown(condition);
    };
    let mut normalized = Map::new();
    // Operators are matched case-sensitively by IAM, so they are kept as is.
    for (operator, keys) in sorted_fields(operators) {
        let value = match keys {
            Value::Object(keys) => normalize_condition_keys(keys),
            other => normalize_unknown(other),
        };
        normalized.insert(operator.clone(), value);
    }
    Value::Object(normalized)
}

/// Condition keys compare case-insensitively, so they are lowercased. Two
/// keys that differ only in case under one operator both have to hold;
/// merging their values would widen the condition, so such keys keep their
/// spelling and the document reads as different rather than wrongly equal.
fn normalize_condition_keys(keys: &Map<String, Value>) -> Value {
    let mut entries: Vec<(String, Value)> = Vec::new();
    for (key, values) in keys {
        let lowercase = key.to_lowercase();
        let collides = keys
            .keys()
            .any(|other| other != key && other.to_lowercase() == lowercase);
        let key = if collides { key.clone() } else { lowercase };
        let values = normalize_list(values, |element| normalize_unknown(&stringified(element)));
        entries.push((key, values));
    }
    entries.sort_by(|first, second| first.0.cmp(&second.0));
    Value::Object(entries.into_iter().collect())
}

/// IAM stores condition values and principals as strings, so `true` is
/// `"true"` and `3600` is `"3600"`.
fn stringified(value: &Value) -> Value {
    match value {
        Value::Bool(flag) => Value::String(flag.to_string()),
        Value::Number(number) => Value::String(number.to_string()),
        other => other.clone(),
    }
}

/// A scalar or a list as a sorted list without duplicates, each element
/// normalized by `normalize_element`.
fn normalize_list(value: &Value, normalize_element: impl Fn(&Value) -> Value) -> Value {
    let elements = match value {
        Value::Array(elements) => elements.iter().map(&normalize_element).collect(),
        scalar => vec![normalize_element(scalar)],
    };
    sorted_distinct(elements)
}

fn sorted_distinct(elements: Vec<Value>) -> Value {
    let mut keyed: Vec<(String, Value)> = elements
        .into_iter()
        .map(|element| (canonical_text(&element), element))
        .collect();
    keyed.sort_by(|first, second| first.0.cmp(&second.0));
    keyed.dedup_by(|first, second| first.0 == second.0);
    Value::Array(keyed.into_iter().map(|(_, element)| element).collect())
}

/// Values whose meaning fnctl does not know: lists keep their order (it may
/// matter), object keys are sorted so the serialization is canonical.
fn normalize_unknown(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            sorted_fields(fields)
                .into_iter()
                .map(|(key, value)| (key.clone(), normalize_unknown(value)))
                .collect(),
        ),
        Value::Array(elements) => Value::Array(elements.iter().map(normalize_unknown).collect()),
        scalar => scalar.clone(),
    }
}

fn sorted_fields(fields: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut sorted: Vec<_> = fields.iter().collect();
    sorted.sort_by(|first, second| first.0.cmp(second.0));
    sorted
}

/// The fields named in `order` first, in that order, then the rest sorted.
fn ordered_fields<'a>(
    fields: &'a Map<String, Value>,
    order: &[&str],
) -> Vec<(&'a String, &'a Value)> {
    let rank = |key: &str| {
        order
            .iter()
            .position(|known| *known == key)
            .unwrap_or(order.len())
    };
    let mut ordered: Vec<_> = fields.iter().collect();
    ordered.sort_by(|first, second| (rank(first.0), first.0).cmp(&(rank(second.0), second.0)));
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::digest::document_fingerprint as fingerprint;
    use serde_json::json;

    fn trust_policy(principal: Value, external_ids: Value) -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "SegmentFunctionAssumeRole",
                "Effect": "Allow",
                "Principal": principal,
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_ids}}
            }]
        })
    }

    #[test]
    fn bare_account_id_equals_root_arn() {
        assert!(equivalent(
            &trust_policy(json!({"AWS": "458175278816"}), json!("a")),
            &trust_policy(json!({"AWS": "arn:aws:iam::458175278816:root"}), json!("a")),
        ));
    }

    #[test]
    fn account_id_given_as_number_equals_root_arn() {
        assert!(equivalent(
            &trust_policy(json!({"AWS": 458175278816_u64}), json!("a")),
            &trust_policy(json!({"AWS": "arn:aws:iam::458175278816:root"}), json!("a")),
        ));
    }

    #[test]
    fn different_accounts_differ() {
        assert!(!equivalent(
            &trust_policy(json!({"AWS": "458175278816"}), json!("a")),
            &trust_policy(json!({"AWS": "300240842537"}), json!("a")),
        ));
    }

    #[test]
    fn only_aws_principals_take_the_root_arn_form() {
        let normalized =
            normalize(&json!({"Statement": {"Principal": {"Federated": "123456789012"}}}));
        assert_eq!(
            normalized["Statement"][0]["Principal"]["Federated"],
            json!(["123456789012"])
        );
    }

    #[test]
    fn star_principal_equals_aws_star() {
        assert!(equivalent(
            &trust_policy(json!("*"), json!("a")),
            &trust_policy(json!({"AWS": "*"}), json!("a")),
        ));
        assert!(equivalent(
            &json!({"Statement": {"NotPrincipal": "*"}}),
            &json!({"Statement": {"NotPrincipal": {"AWS": ["*"]}}}),
        ));
    }

    #[test]
    fn scalars_equal_one_element_lists() {
        let scalars = json!({"Statement": {
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "s3:GetObject",
            "NotAction": "s3:PutObject",
            "Resource": "arn:aws:s3:::bucket/*",
            "NotResource": "arn:aws:s3:::other/*",
            "Condition": {"StringLike": {"s3:prefix": "home/"}}
        }});
        let lists = json!({"Statement": [{
            "Principal": {"Service": ["lambda.amazonaws.com"]},
            "Action": ["s3:GetObject"],
            "NotAction": ["s3:PutObject"],
            "Resource": ["arn:aws:s3:::bucket/*"],
            "NotResource": ["arn:aws:s3:::other/*"],
            "Condition": {"StringLike": {"s3:prefix": ["home/"]}}
        }]});
        assert!(equivalent(&scalars, &lists));
    }

    #[test]
    fn order_does_not_matter() {
        let first = json!({"Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": ["arn:aws:s3:::a", "arn:aws:s3:::b"]},
            {"Effect": "Deny", "Principal": {"AWS": ["111111111111", "222222222222"]}, "Action": "s3:*",
             "Condition": {"StringEquals": {"sts:ExternalId": ["x", "y"]}}}
        ]});
        let second = json!({"Statement": [
            {"Condition": {"StringEquals": {"sts:ExternalId": ["y", "x"]}}, "Action": "s3:*",
             "Principal": {"AWS": ["222222222222", "111111111111"]}, "Effect": "Deny"},
            {"Resource": ["arn:aws:s3:::b", "arn:aws:s3:::a"], "Action": ["s3:ListBucket", "s3:GetObject"], "Effect": "Allow"}
        ]});
        assert!(equivalent(&first, &second));
        assert_eq!(fingerprint(&first), fingerprint(&second));
        assert_eq!(pretty(&first), pretty(&second));
    }

    #[test]
    fn duplicates_do_not_matter() {
        let statement =
            json!({"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObject"], "Resource": "*"});
        let once =
            json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]});
        let twice = json!({"Statement": [statement.clone(), statement]});
        assert!(equivalent(&once, &twice));
        assert_eq!(normalize(&twice)["Statement"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn actions_compare_case_insensitively() {
        assert!(equivalent(
            &json!({"Statement": {"Action": "S3:GetObject"}}),
            &json!({"Statement": {"Action": "s3:getobject"}}),
        ));
        assert_eq!(
            normalize(&json!({"Statement": {"Action": "STS:AssumeRole"}}))["Statement"][0]
                ["Action"],
            json!(["sts:assumerole"])
        );
    }

    #[test]
    fn resources_compare_case_sensitively() {
        assert!(!equivalent(
            &json!({"Statement": {"Resource": "arn:aws:s3:::Bucket"}}),
            &json!({"Statement": {"Resource": "arn:aws:s3:::bucket"}}),
        ));
    }

    #[test]
    fn condition_keys_compare_case_insensitively() {
        assert!(equivalent(
            &trust_policy(json!("*"), json!("a")),
            &json!({"Version": "2012-10-17", "Statement": [{
                "Sid": "SegmentFunctionAssumeRole", "Effect": "Allow", "Principal": "*",
                "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"STS:EXTERNALID": "a"}}
            }]}),
        ));
    }

    #[test]
    fn condition_keys_differing_only_in_case_are_not_merged() {
        // Both keys must hold, which is narrower than either value matching.
        let both =
            json!({"Statement": {"Condition": {"StringEquals": {"aws:Key": "x", "aws:key": "y"}}}});
        let either = json!({"Statement": {"Condition": {"StringEquals": {"aws:key": ["x", "y"]}}}});
        assert!(!equivalent(&both, &either));
        assert_eq!(normalize(&normalize(&both)), normalize(&both));
    }

    #[test]
    fn condition_operators_and_values_compare_exactly() {
        assert!(!equivalent(
            &trust_policy(json!("*"), json!("Secret")),
            &trust_policy(json!("*"), json!("secret")),
        ));
        assert!(!equivalent(
            &json!({"Statement": {"Condition": {"StringEquals": {"k": "v"}}}}),
            &json!({"Statement": {"Condition": {"stringequals": {"k": "v"}}}}),
        ));
    }

    #[test]
    fn condition_values_compare_as_strings() {
        assert!(equivalent(
            &json!({"Statement": {"Condition": {"Bool": {"aws:SecureTransport": true}, "NumericLessThan": {"aws:MultiFactorAuthAge": 3600}}}}),
            &json!({"Statement": {"Condition": {"Bool": {"aws:SecureTransport": "true"}, "NumericLessThan": {"aws:MultiFactorAuthAge": ["3600"]}}}}),
        ));
    }

    #[test]
    fn missing_version_differs_from_2012_10_17() {
        let with_version = trust_policy(json!("*"), json!("a"));
        let mut without_version = with_version.clone();
        without_version.as_object_mut().unwrap().remove("Version");
        assert!(!equivalent(&with_version, &without_version));
    }

    #[test]
    fn empty_sid_equals_no_sid() {
        assert!(equivalent(
            &json!({"Statement": {"Sid": "", "Effect": "Allow"}}),
            &json!({"Statement": {"Effect": "Allow"}}),
        ));
        assert!(!equivalent(
            &json!({"Statement": {"Sid": "Named", "Effect": "Allow"}}),
            &json!({"Statement": {"Effect": "Allow"}}),
        ));
    }

    #[test]
    fn single_statement_object_equals_one_element_list() {
        assert!(equivalent(
            &json!({"Statement": {"Effect": "Allow", "Action": "s3:GetObject"}}),
            &json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}),
        ));
    }

    #[test]
    fn effect_is_kept_as_is() {
        assert!(!equivalent(
            &json!({"Statement": {"Effect": "Allow"}}),
            &json!({"Statement": {"Effect": "Deny"}}),
        ));
    }

    #[test]
    fn unknown_keys_are_kept_with_sorted_keys() {
        let normalized = normalize(
            &json!({"Extra": {"b": 1, "a": [2, 1]}, "Statement": {"Custom": true, "Effect": "Allow"}}),
        );
        assert_eq!(
            normalized.to_string(),
            r#"{"Statement":[{"Effect":"Allow","Custom":true}],"Extra":{"a":[2,1],"b":1}}"#
        );
    }

    #[test]
    fn non_object_documents_are_kept() {
        assert_eq!(normalize(&json!([3, 1])), json!([3, 1]));
        assert_eq!(normalize(&json!("text")), json!("text"));
    }

    #[test]
    fn pretty_uses_the_canonical_key_order() {
        let document = json!({
            "Statement": {
                "Condition": {"StringEquals": {"sts:ExternalId": "(sensitive)"}},
                "Action": "sts:AssumeRole",
                "Principal": {"AWS": "458175278816"},
                "Effect": "Allow",
                "Sid": "SegmentFunctionAssumeRole"
            },
            "Version": "2012-10-17"
        });
        assert_eq!(
            pretty(&document),
            r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "SegmentFunctionAssumeRole",
      "Effect": "Allow",
      "Principal": {
        "AWS": [
          "arn:aws:iam::458175278816:root"
        ]
      },
      "Action": [
        "sts:assumerole"
      ],
      "Condition": {
        "StringEquals": {
          "sts:externalid": [
            "(sensitive)"
          ]
        }
      }
    }
  ]
}"#
        );
    }

    #[test]
    fn fingerprint_is_sixteen_hex_digits_and_tells_documents_apart() {
        let first = trust_policy(json!("*"), json!("a"));
        let second = trust_policy(json!("*"), json!("b"));
        let print = fingerprint(&first);
        assert_eq!(print.len(), 16);
        assert!(print.bytes().all(|byte| byte.is_ascii_hexdigit()));
        assert_eq!(print, fingerprint(&first.clone()));
        assert_ne!(print, fingerprint(&second));
    }
}

#[cfg(test)]
mod properties {
    //! Generated policies checked against the equivalences IAM applies, and
    //! against real changes that must never be mistaken for them.

    use super::*;
    use crate::model::digest::document_fingerprint as fingerprint;
    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;
    use serde_json::json;

    fn principal_strategy() -> impl Strategy<Value = Value> {
        let aws_principal = prop_oneof![
            "[0-9]{12}",
            "[0-9]{12}".prop_map(|account| format!("arn:aws:iam::{account}:root")),
            "[a-z]{1,6}".prop_map(|name| format!("arn:aws:iam::123456789012:role/{name}")),
            Just("*".to_string()),
        ];
        prop_oneof![
            Just(json!("*")),
            vec(aws_principal, 1..4).prop_map(|principals| json!({"AWS": principals})),
            vec("[a-z]{1,6}\\.amazonaws\\.com", 1..3)
                .prop_map(|services| json!({"Service": services})),
        ]
    }

    fn condition_strategy() -> impl Strategy<Value = Value> {
        let operator = prop_oneof![
            Just("StringEquals"),
            Just("StringLike"),
            Just("Bool"),
            Just("NumericLessThan"),
        ];
        // Keys distinct even ignoring case, as IAM requires.
        let key = prop_oneof![
            Just("sts:ExternalId"),
            Just("aws:SourceIp"),
            Just("s3:prefix"),
            Just("aws:PrincipalTag/Team"),
        ];
        let value = prop_oneof![
            "[a-zA-Z0-9]{1,6}".prop_map(Value::String),
            any::<bool>().prop_map(Value::Bool),
            (0_u32..5000).prop_map(Value::from),
        ];
        btree_map(operator, btree_map(key, vec(value, 1..4), 1..3), 1..3)
            .prop_map(|condition| serde_json::to_value(condition).expect("plain maps serialize"))
    }

    fn statement_strategy() -> impl Strategy<Value = Value> {
        (
            proptest::option::of("[A-Z][a-z0-9]{0,5}"),
            prop_oneof![Just("Allow"), Just("Deny")],
            proptest::option::of(principal_strategy()),
            vec(
                prop_oneof![
                    ("s3|sts|iam", "[A-Za-z]{1,8}")
                        .prop_map(|(service, action)| format!("{service}:{action}")),
                    Just("*".to_string()),
                ],
                1..4,
            ),
            vec("arn:aws:s3:::[a-z]{1,5}(/[a-zA-Z*]{0,4})?", 1..3),
            proptest::option::of(condition_strategy()),
        )
            .prop_map(|(sid, effect, principal, actions, resources, condition)| {
                let mut statement = Map::new();
                if let Some(sid) = sid {
                    statement.insert("Sid".to_string(), json!(sid));
                }
                statement.insert("Effect".to_string(), json!(effect));
                if let Some(principal) = principal {
                    statement.insert("Principal".to_string(), principal);
                }
                statement.insert("Action".to_string(), json!(actions));
                statement.insert("Resource".to_string(), json!(resources));
                if let Some(condition) = condition {
                    statement.insert("Condition".to_string(), condition);
                }
                Value::Object(statement)
            })
    }

    fn policy_strategy() -> impl Strategy<Value = Value> {
        (any::<bool>(), vec(statement_strategy(), 1..4)).prop_map(|(versioned, statements)| {
            let mut document = Map::new();
            if versioned {
                document.insert("Version".to_string(), json!("2012-10-17"));
            }
            document.insert("Statement".to_string(), Value::Array(statements));
            Value::Object(document)
        })
    }

    /// A policy whose first statement has a condition.
    fn policy_with_condition_strategy() -> impl Strategy<Value = Value> {
        (policy_strategy(), condition_strategy()).prop_map(|(mut document, condition)| {
            statements_mut(&mut document)[0]
                .entry("Condition")
                .or_insert(condition);
            document
        })
    }

    /// Rewrites IAM treats as no change at all.
    #[derive(Debug, Clone)]
    enum Rewrite {
        ReverseStatements,
        RotateLists(usize),
        OneElementListsToScalars,
        ScalarsToLists,
        AccountIdsToRootArns,
        RootArnsToAccountIds,
        DuplicateFirstAction,
        AddEmptySids,
        UppercaseActions,
        UppercaseConditionKeys,
        ConditionValuesToStrings,
        DuplicateFirstStatement,
        SingleStatementAsObject,
        ToggleStarPrincipalForm,
        ReverseObjectKeys,
    }

    fn rewrite_strategy() -> impl Strategy<Value = Rewrite> {
        prop_oneof![
            Just(Rewrite::ReverseStatements),
            (1_usize..4).prop_map(Rewrite::RotateLists),
            Just(Rewrite::OneElementListsToScalars),
            Just(Rewrite::ScalarsToLists),
            Just(Rewrite::AccountIdsToRootArns),
            Just(Rewrite::RootArnsToAccountIds),
            Just(Rewrite::DuplicateFirstAction),
            Just(Rewrite::AddEmptySids),
            Just(Rewrite::UppercaseActions),
            Just(Rewrite::UppercaseConditionKeys),
            Just(Rewrite::ConditionValuesToStrings),
            Just(Rewrite::DuplicateFirstStatement),
            Just(Rewrite::SingleStatementAsObject),
            Just(Rewrite::ToggleStarPrincipalForm),
            Just(Rewrite::ReverseObjectKeys),
        ]
    }

    fn statements_mut(document: &mut Value) -> Vec<&mut Map<String, Value>> {
        match &mut document["Statement"] {
            Value::Array(statements) => statements
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .collect(),
            Value::Object(statement) => vec![statement],
            _ => Vec::new(),
        }
    }

    /// Every list-valued field of a statement (scalar or array).
    fn lists_mut(statement: &mut Map<String, Value>) -> Vec<&mut Value> {
        let mut lists = Vec::new();
        for (key, value) in statement.iter_mut() {
            match key.as_str() {
                "Action" | "Resource" => lists.push(value),
                "Principal" => {
                    if let Value::Object(kinds) = value {
                        lists.extend(kinds.values_mut());
                    }
                }
                "Condition" => {
                    for keys in value
                        .as_object_mut()
                        .into_iter()
                        .flat_map(|operators| operators.values_mut())
                    {
                        lists.extend(
                            keys.as_object_mut()
                                .into_iter()
                                .flat_map(|keys| keys.values_mut()),
                        );
                    }
                }
                _ => {}
            }
        }
        lists
    }

    fn elements_mut(list: &mut Value) -> Vec<&mut Value> {
        match list {
            Value::Array(elements) => elements.iter_mut().collect(),
            scalar => vec![scalar],
        }
    }

    fn aws_principals_mut(statement: &mut Map<String, Value>) -> Vec<&mut Value> {
        match statement
            .get_mut("Principal")
            .and_then(|principal| principal.get_mut("AWS"))
        {
            Some(list) => elements_mut(list),
            None => Vec::new(),
        }
    }

    fn condition_values_mut(statement: &mut Map<String, Value>) -> Vec<&mut Value> {
        let Some(Value::Object(operators)) = statement.get_mut("Condition") else {
            return Vec::new();
        };
        operators
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|keys| keys.values_mut())
            .flat_map(elements_mut)
            .collect()
    }

    fn reverse_keys(fields: &mut Map<String, Value>) {
        let reversed: Map<String, Value> = std::mem::take(fields).into_iter().rev().collect();
        *fields = reversed;
    }

    fn apply(rewrite: &Rewrite, document: &mut Value) {
        match rewrite {
            Rewrite::ReverseStatements => {
                if let Value::Array(statements) = &mut document["Statement"] {
                    statements.reverse();
                }
            }
            Rewrite::RotateLists(steps) => {
                for statement in statements_mut(document) {
                    for list in lists_mut(statement) {
                        if let Value::Array(elements) = list {
                            let length = elements.len();
                            elements.rotate_left(steps % length.max(1));
                        }
                    }
                }
            }
            Rewrite::OneElementListsToScalars => {
                for statement in statements_mut(document) {
                    for list in lists_mut(statement) {
                        if let Value::Array(elements) = list {
                            if elements.len() == 1 {
                                *list = elements[0].clone();
                            }
                        }
                    }
                }
            }
            Rewrite::ScalarsToLists => {
                for statement in statements_mut(document) {
                    for list in lists_mut(statement) {
                        if !list.is_array() {
                            *list = json!([list.clone()]);
                        }
                    }
                }
            }
            Rewrite::AccountIdsToRootArns => {
                for statement in statements_mut(document) {
                    for principal in aws_principals_mut(statement) {
                        if let Some(account) = principal
                            .as_str()
                            .filter(|text| text.len() == 12 && !text.contains(':'))
                        {
                            *principal = json!(format!("arn:aws:iam::{account}:root"));
                        }
                    }
                }
            }
            Rewrite::RootArnsToAccountIds => {
                for statement in statements_mut(document) {
                    for principal in aws_principals_mut(statement) {
                        let account = principal
                            .as_str()
                            .and_then(|arn| arn.strip_prefix("arn:aws:iam::"))
                            .and_then(|rest| rest.strip_suffix(":root"))
                            .map(str::to_string);
                        if let Some(account) = account {
                            *principal = json!(account);
                        }
                    }
                }
            }
            Rewrite::DuplicateFirstAction => {
                for statement in statements_mut(document) {
                    if let Some(actions) = statement.get_mut("Action") {
                        let first = elements_mut(actions)[0].clone();
                        *actions = match actions.take() {
                            Value::Array(mut elements) => {
                                elements.push(first);
                                Value::Array(elements)
                            }
                            scalar => json!([scalar, first]),
                        };
                    }
                }
            }
            Rewrite::AddEmptySids => {
                for statement in statements_mut(document) {
                    statement.entry("Sid").or_insert(json!(""));
                }
            }
            Rewrite::UppercaseActions => {
                for statement in statements_mut(document) {
                    if let Some(actions) = statement.get_mut("Action") {
                        for action in elements_mut(actions) {
                            *action = json!(action.as_str().unwrap().to_uppercase());
                        }
                    }
                }
            }
            Rewrite::UppercaseConditionKeys => {
                for statement in statements_mut(document) {
                    if let Some(Value::Object(operators)) = statement.get_mut("Condition") {
                        for keys in operators.values_mut().filter_map(Value::as_object_mut) {
                            *keys = std::mem::take(keys)
                                .into_iter()
                                .map(|(key, value)| (key.to_uppercase(), value))
                                .collect();
                        }
                    }
                }
            }
            Rewrite::ConditionValuesToStrings => {
                for statement in statements_mut(document) {
                    for value in condition_values_mut(statement) {
                        if !value.is_string() {
                            *value = json!(value.to_string());
                        }
                    }
                }
            }
            Rewrite::DuplicateFirstStatement => {
                if let Value::Array(statements) = &mut document["Statement"] {
                    let first = statements[0].clone();
                    statements.push(first);
                }
            }
            Rewrite::SingleStatementAsObject => {
                if let Value::Array(statements) = &mut document["Statement"] {
                    if statements.len() == 1 {
                        document["Statement"] = statements[0].clone();
                    }
                }
            }
            Rewrite::ToggleStarPrincipalForm => {
                for statement in statements_mut(document) {
                    let Some(principal) = statement.get_mut("Principal") else {
                        continue;
                    };
                    if principal == "*" {
                        *principal = json!({"AWS": "*"});
                    } else if principal == &json!({"AWS": "*"})
                        || principal == &json!({"AWS": ["*"]})
                    {
                        *principal = json!("*");
                    }
                }
            }
            Rewrite::ReverseObjectKeys => {
                for statement in statements_mut(document) {
                    reverse_keys(statement);
                }
                if let Value::Object(fields) = document {
                    reverse_keys(fields);
                }
            }
        }
    }

    fn rewritten(document: &Value, rewrites: &[Rewrite]) -> Value {
        let mut document = document.clone();
        for rewrite in rewrites {
            apply(rewrite, &mut document);
        }
        document
    }

    /// Arbitrary JSON whose keys often hit the policy fields, for the laws
    /// that must hold whatever the input.
    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[0-9]{12}".prop_map(Value::String),
            "[a-zA-Z*: ]{0,5}".prop_map(Value::String),
            any::<String>().prop_map(Value::String),
        ];
        let key = prop_oneof![
            Just("Version".to_string()),
            Just("Statement".to_string()),
            Just("Sid".to_string()),
            Just("Principal".to_string()),
            Just("NotPrincipal".to_string()),
            Just("AWS".to_string()),
            Just("Action".to_string()),
            Just("Resource".to_string()),
            Just("Condition".to_string()),
            Just("StringEquals".to_string()),
            Just("sts:ExternalId".to_string()),
            Just("STS:EXTERNALID".to_string()),
            "[a-zA-Z]{0,3}",
            any::<String>(),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                vec(inner.clone(), 0..6).prop_map(Value::Array),
                vec((key.clone(), inner), 0..6)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn normalize_is_idempotent_on_any_json(document in arbitrary_json()) {
            let once = normalize(&document);
            let twice = normalize(&once);
            prop_assert_eq!(canonical_text(&once), canonical_text(&twice));
        }

        #[test]
        fn normalize_is_idempotent_on_policies(document in policy_strategy()) {
            let once = normalize(&document);
            prop_assert_eq!(canonical_text(&once), canonical_text(&normalize(&once)));
        }

        #[test]
        fn equivalent_is_reflexive_and_symmetric(first in arbitrary_json(), second in arbitrary_json()) {
            prop_assert!(equivalent(&first, &first));
            prop_assert_eq!(equivalent(&first, &second), equivalent(&second, &first));
        }

        #[test]
        fn equivalent_rewrites_change_nothing(
            document in policy_strategy(),
            rewrites in vec(rewrite_strategy(), 1..6),
        ) {
            let rewritten = rewritten(&document, &rewrites);
            prop_assert!(equivalent(&document, &rewritten), "{}\n{}", pretty(&document), pretty(&rewritten));
            prop_assert_eq!(fingerprint(&document), fingerprint(&rewritten));
            prop_assert_eq!(pretty(&document), pretty(&rewritten));
        }

        #[test]
        fn toggling_version_is_a_change(
            document in policy_strategy(),
            rewrites in vec(rewrite_strategy(), 0..4),
        ) {
            let mut changed = document.clone();
            let fields = changed.as_object_mut().unwrap();
            if fields.remove("Version").is_none() {
                fields.insert("Version".to_string(), json!("2012-10-17"));
            }
            let changed = rewritten(&changed, &rewrites);
            prop_assert!(!equivalent(&document, &changed));
            prop_assert_ne!(fingerprint(&document), fingerprint(&changed));
        }

        #[test]
        fn changing_condition_values_is_a_change(
            document in policy_with_condition_strategy(),
            rewrites in vec(rewrite_strategy(), 0..4),
        ) {
            let mut changed = document.clone();
            for statement in statements_mut(&mut changed) {
                for value in condition_values_mut(statement) {
                    let text = match &*value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    *value = json!(format!("{text}-changed"));
                }
            }
            let changed = rewritten(&changed, &rewrites);
            prop_assert!(!equivalent(&document, &changed));
        }

        #[test]
        fn changing_resources_is_a_change(
            document in policy_strategy(),
            rewrites in vec(rewrite_strategy(), 0..4),
        ) {
            let mut changed = document.clone();
            for statement in statements_mut(&mut changed) {
                for resource in statement.get_mut("Resource").map(elements_mut).unwrap_or_default() {
                    *resource = json!(format!("{}x", resource.as_str().unwrap()));
                }
            }
            let changed = rewritten(&changed, &rewrites);
            prop_assert!(!equivalent(&document, &changed));
        }
    }
}
