//! The lint that knows AWS's own reference (the Service Authorization
//! Reference embedded in [`crate::policy::reference`]), applied to an
//! instance's `permissions`: unknown services and actions (with a
//! did-you-mean), actions a statement cannot grant on its resources,
//! privilege escalation and resource exposure.
//!
//! The rule, per code:
//! - `unknown-service`, `unknown-action`, `malformed-action`: errors — IAM
//!   accepts them silently and the function fails at run time.
//! - `resource-mismatch`: error — the statement grants nothing for that
//!   action (the message names the ARN format it needs).
//! - `privilege-escalation`: error — whoever holds the role (a leaked
//!   external ID is enough) can take more than the function needs.
//! - `resource-exposure` ("Permissions management" access: policies, ACLs,
//!   grants): error — it can open a resource to other accounts.
//! - `unused-resource`: warning — a resource no action of the statement uses.
//!
//! `allowWildcards: true` (which already accepts broad and escalating grants)
//! accepts `privilege-escalation` and `resource-exposure` too; typos and
//! grants of nothing are still reported.
//!
//! An instance accepts a finding on purpose by listing its code in
//! `allowFindings` (in the spirit of `allowWildcards`): for an action AWS
//! added after fnctl's reference was generated, or a function that really
//! manages a queue's attributes. An accepted code is never reported for that
//! instance; a code that cannot be accepted this way is a validation error.

use super::spec::{Effect, InstanceSpec};
use crate::model::codes::DiagnosticCode;
use crate::policy::reference::{Finding, FindingKind, Part, Reference, Statement};

/// Codes an instance may list in `allowFindings`.
pub const ACCEPTABLE_CODES: &[DiagnosticCode] = &[
    DiagnosticCode::UnknownService,
    DiagnosticCode::UnknownAction,
    DiagnosticCode::ResourceMismatch,
    DiagnosticCode::PrivilegeEscalation,
    DiagnosticCode::ResourceExposure,
    DiagnosticCode::UnusedResource,
];

/// The code `allowFindings` item `text` accepts: `None` for text that is no
/// code an instance can accept (a validation error, `invalid-allow-finding`).
pub(crate) fn acceptable_code(text: &str) -> Option<DiagnosticCode> {
    DiagnosticCode::parse(text).filter(|code| ACCEPTABLE_CODES.contains(code))
}

/// The diagnostic code of a finding of AWS's reference. A `match` rather
/// than a lookup by text, so that a new kind of finding cannot go without a
/// code.
pub(crate) fn code_of(kind: &FindingKind) -> DiagnosticCode {
    match kind {
        FindingKind::MalformedAction => DiagnosticCode::MalformedAction,
        FindingKind::UnknownService { .. } => DiagnosticCode::UnknownService,
        FindingKind::UnknownAction { .. } => DiagnosticCode::UnknownAction,
        FindingKind::ResourceMismatch { .. } => DiagnosticCode::ResourceMismatch,
        FindingKind::PrivilegeEscalation { .. } => DiagnosticCode::PrivilegeEscalation,
        FindingKind::ResourceExposure { .. } => DiagnosticCode::ResourceExposure,
        FindingKind::UnusedResource => DiagnosticCode::UnusedResource,
    }
}

/// One finding placed in the instance's `permissions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedFinding {
    /// Index of the permission statement.
    pub statement: usize,
    /// `actions` or `resources`.
    pub list: &'static str,
    /// Index in that list.
    pub index: usize,
    /// Stable kebab-case code.
    pub code: DiagnosticCode,
    /// One sentence, naming the item.
    pub message: String,
    /// A warning rather than an error.
    pub warning: bool,
    /// How to act on it.
    pub hint: String,
}

/// Lints the instance's Allow statements against AWS's reference, leaving
/// out the codes the instance accepts. An embedded table that cannot be read
/// is a bug of fnctl's build, reported as one finding rather than a panic.
pub(crate) fn lint(spec: &InstanceSpec) -> Vec<PlacedFinding> {
    let reference = match Reference::get() {
        Ok(reference) => reference,
        Err(error) => {
            return vec![PlacedFinding {
                statement: 0,
                list: "actions",
                index: 0,
                code: DiagnosticCode::ReferenceUnreadable,
                message: format!("fnctl's embedded AWS reference cannot be read: {error}"),
                warning: true,
                hint: "this is a bug in fnctl's build; please report it".into(),
            }]
        }
    };
    let allow: Vec<(usize, Statement<'_>)> = spec
        .permissions
        .iter()
        .enumerate()
        .filter(|(_, p)| p.effect == Effect::Allow)
        .map(|(position, p)| {
            (
                position,
                Statement {
                    actions: &p.actions,
                    resources: &p.resources,
                },
            )
        })
        .collect();
    let statements: Vec<Statement<'_>> = allow.iter().map(|(_, s)| *s).collect();
    // Every code the instance lists, acceptable or not: one it may not list
    // (`malformed-action`) is an error of its own, `invalid-allow-finding`,
    // which already stops the run; the finding it names would only repeat it.
    let accepted: Vec<DiagnosticCode> = spec
        .allow_findings
        .iter()
        .filter_map(|text| DiagnosticCode::parse(text))
        .collect();
    reference
        .lint_policy(&statements)
        .into_iter()
        .filter(|finding| !accepted.contains(&code_of(&finding.kind)))
        .filter(|finding| {
            !(spec.allow_wildcards
                && matches!(
                    finding.kind,
                    FindingKind::PrivilegeEscalation { .. } | FindingKind::ResourceExposure { .. }
                ))
        })
        .map(|finding| place(&finding, allow[finding.statement].0, spec))
        .collect()
}

fn place(finding: &Finding, statement: usize, spec: &InstanceSpec) -> PlacedFinding {
    let permission = &spec.permissions[statement];
    let (list, items) = match finding.part {
        Part::Action => ("actions", &permission.actions),
        Part::Resource => ("resources", &permission.resources),
    };
    let item = items.get(finding.index).map(String::as_str).unwrap_or("");
    let code = code_of(&finding.kind);
    let hint = match finding.kind {
        FindingKind::UnknownAction { .. }
        | FindingKind::UnknownService { .. }
        | FindingKind::MalformedAction => {
            "check the spelling against AWS's Service Authorization Reference; list the code in `allowFindings` if AWS added the action recently".to_string()
        }
        FindingKind::ResourceMismatch { .. } => {
            "point the statement at a resource of the type the action acts on".to_string()
        }
        FindingKind::UnusedResource => {
            "remove the resource, or add the action that needs it".to_string()
        }
        FindingKind::PrivilegeEscalation { .. } | FindingKind::ResourceExposure { .. } => {
            format!("drop the action if the function does not need it, or accept it on purpose on the instance: `allowFindings: [{code}]` (or `allowWildcards: true`)")
        }
    };
    PlacedFinding {
        statement,
        list,
        index: finding.index,
        code,
        message: finding.message(item),
        warning: code == DiagnosticCode::UnusedResource,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy layer names its findings' codes as text (for `iam-policy`
    /// and `verify`); a manifest diagnostic must carry the same text.
    #[test]
    fn each_finding_kind_has_the_code_of_its_text() {
        let kinds = [
            FindingKind::MalformedAction,
            FindingKind::UnknownService {
                service: "s4".into(),
                suggestion: Some("s3"),
            },
            FindingKind::UnknownAction { suggestion: None },
            FindingKind::ResourceMismatch { needed: vec!["*"] },
            FindingKind::PrivilegeEscalation {
                methods: vec![],
                actions: vec![],
            },
            FindingKind::ResourceExposure { actions: vec![] },
            FindingKind::UnusedResource,
        ];
        for kind in &kinds {
            assert_eq!(code_of(kind).as_str(), kind.code(), "{kind:?}");
        }
    }

    #[test]
    fn allow_findings_accepts_exactly_the_acceptable_codes_as_written() {
        for code in DiagnosticCode::ALL {
            assert_eq!(
                acceptable_code(code.as_str()),
                ACCEPTABLE_CODES.contains(code).then_some(*code),
                "{code}"
            );
        }
        for text in [
            "malformed-action",
            "wildcard-action",
            "everything",
            "Unknown-Action",
            "",
        ] {
            assert_eq!(acceptable_code(text), None, "{text}");
        }
        assert_eq!(
            acceptable_code("resource-exposure"),
            Some(DiagnosticCode::ResourceExposure)
        );
    }
}
