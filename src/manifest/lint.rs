//! Lint of permission statements: grants that are too broad or that let the
//! function escalate its own privileges. They are errors unless the instance
//! says `allowWildcards: true`. Deny statements are never linted: a broad
//! Deny only narrows what the role can do.

use crate::model::codes::DiagnosticCode;

/// Which list of a statement a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The `actions` list.
    Action,
    /// The `resources` list.
    Resource,
}

/// One lint finding in a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Stable kebab-case code.
    pub code: DiagnosticCode,
    /// The list it is in.
    pub part: Part,
    /// Position in that list.
    pub index: usize,
    /// Why it is refused.
    pub message: String,
}

/// IAM actions that only read, which cannot escalate privileges.
const READ_ONLY_IAM_PREFIXES: &[&str] = &["get", "list", "generate", "simulate"];
/// STS actions that hand out other credentials.
const ASSUME_ACTIONS: &[&str] = &[
    "assumerole",
    "assumerolewithsaml",
    "assumerolewithwebidentity",
    "assumeroot",
];

/// Lints the actions and resources of one Allow statement.
pub(crate) fn lint_allow_statement(actions: &[String], resources: &[String]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (index, action) in actions.iter().enumerate() {
        if let Some((code, message)) = lint_action(action) {
            findings.push(Finding {
                code,
                part: Part::Action,
                index,
                message,
            });
        }
    }
    for (index, resource) in resources.iter().enumerate() {
        if resource == "*" {
            findings.push(Finding {
                code: DiagnosticCode::WildcardResource,
                part: Part::Resource,
                index,
                message: "resource `*` grants the actions on every resource of the account".into(),
            });
        }
    }
    findings
}

fn lint_action(action: &str) -> Option<(DiagnosticCode, String)> {
    let lowered = action.to_ascii_lowercase();
    if lowered == "*" || lowered == "*:*" {
        return Some((
            DiagnosticCode::WildcardAction,
            format!("action `{action}` grants every action of every service"),
        ));
    }
    let (service, name) = lowered.split_once(':')?;
    if service == "iam"
        && !READ_ONLY_IAM_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
    {
        return Some((
            DiagnosticCode::PrivilegeEscalation,
            format!(
                "action `{action}` can change IAM, so the function could grant itself more access"
            ),
        ));
    }
    if service == "sts"
        && ASSUME_ACTIONS
            .iter()
            .any(|assume| crate::policy::glob::matches(name, assume))
    {
        return Some((
            DiagnosticCode::PrivilegeEscalation,
            format!("action `{action}` lets the function assume other roles"),
        ));
    }
    if name == "*" {
        return Some((
            DiagnosticCode::ServiceWildcard,
            format!("action `{action}` grants every action of `{service}`"),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(actions: &[&str], resources: &[&str]) -> Vec<DiagnosticCode> {
        let actions: Vec<String> = actions.iter().map(|a| a.to_string()).collect();
        let resources: Vec<String> = resources.iter().map(|r| r.to_string()).collect();
        lint_allow_statement(&actions, &resources)
            .into_iter()
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn flags_wildcards_and_escalation() {
        assert_eq!(
            codes(&["*"], &["arn:aws:s3:::b/*"]),
            [DiagnosticCode::WildcardAction]
        );
        assert_eq!(
            codes(&["s3:*"], &["arn:aws:s3:::b/*"]),
            [DiagnosticCode::ServiceWildcard]
        );
        assert_eq!(
            codes(&["iam:*"], &["arn:aws:s3:::b/*"]),
            [DiagnosticCode::PrivilegeEscalation]
        );
        assert_eq!(
            codes(&["iam:PassRole"], &["arn:aws:s3:::b/*"]),
            [DiagnosticCode::PrivilegeEscalation]
        );
        assert_eq!(
            codes(&["IAM:CreateRole"], &["arn:aws:s3:::b/*"]),
            [DiagnosticCode::PrivilegeEscalation]
        );
        assert_eq!(
            codes(&["sts:AssumeRole"], &["arn:aws:s3:::b/*"]),
            [DiagnosticCode::PrivilegeEscalation]
        );
        assert_eq!(
            codes(&["sts:Assume*"], &["arn:aws:s3:::b/*"]),
            [DiagnosticCode::PrivilegeEscalation]
        );
        assert_eq!(
            codes(&["iam:*Role"], &["arn:aws:s3:::b/*"]),
            [DiagnosticCode::PrivilegeEscalation]
        );
        assert_eq!(
            codes(&["s3:PutObject"], &["*"]),
            [DiagnosticCode::WildcardResource]
        );
    }

    #[test]
    fn accepts_narrow_grants() {
        assert!(codes(
            &[
                "s3:PutObject",
                "s3:Get*",
                "iam:GetRole",
                "sts:GetCallerIdentity"
            ],
            &["arn:aws:s3:::b/*"]
        )
        .is_empty());
    }

    #[test]
    fn glob() {
        assert!(crate::policy::glob::matches("assume*", "assumerole"));
        assert!(crate::policy::glob::matches("*role", "assumerole"));
        assert!(crate::policy::glob::matches("a?sumerole", "assumerole"));
        assert!(!crate::policy::glob::matches("get*", "assumerole"));
    }
}
