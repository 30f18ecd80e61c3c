//! Privilege escalation: published combinations of actions with which a
//! principal can give itself more access than it was granted (create a new
//! version of its own policy, change the code of a function that runs with a
//! stronger role, pass a role to a new compute resource and run it, …).
//!
//! The list is data, in the embedded table's `E` lines, generated from
//! cloudsplaining's `PRIVILEGE_ESCALATION_METHODS` (Rhino Security Labs'
//! "AWS IAM Privilege Escalation" methods, extended with the paths of
//! pathfinding.cloud), so fnctl and that peer judge escalation the same way.
//! A method counts when *all* its actions are granted, as cloudsplaining
//! counts it: `iam:PassRole` alone escalates nothing, with
//! `lambda:CreateFunction` and `lambda:InvokeFunction` it does.

use std::collections::HashSet;

use super::model::EscalationMethod;

/// The methods whose every action is in `granted` (lower-case
/// `service:action` keys).
pub(crate) fn complete<'a>(
    methods: &'a [EscalationMethod],
    granted: &HashSet<String>,
) -> Vec<&'a EscalationMethod> {
    methods
        .iter()
        .filter(|method| method.keys.iter().all(|key| granted.contains(key)))
        .collect()
}

/// Whether `key` (lower-case `service:action`) is one of the method's actions.
pub(crate) fn takes_part(method: &EscalationMethod, key: &str) -> bool {
    method.keys.iter().any(|k| k == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(name: &'static str, actions: &[&'static str]) -> EscalationMethod {
        EscalationMethod {
            name,
            actions: actions.to_vec(),
            keys: actions.iter().map(|a| a.to_ascii_lowercase()).collect(),
        }
    }

    #[test]
    fn a_method_needs_all_its_actions() {
        let methods = [
            method("Alone", &["lambda:UpdateFunctionCode"]),
            method("Pair", &["iam:PassRole", "lambda:CreateFunction"]),
        ];
        let granted: HashSet<String> = ["iam:passrole".to_string()].into();
        assert!(complete(&methods, &granted).is_empty());
        let granted: HashSet<String> = [
            "iam:passrole".to_string(),
            "lambda:createfunction".to_string(),
        ]
        .into();
        let found: Vec<&str> = complete(&methods, &granted)
            .iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(found, ["Pair"]);
        assert!(takes_part(&methods[1], "iam:passrole"));
        assert!(!takes_part(&methods[1], "lambda:updatefunctioncode"));
    }
}
