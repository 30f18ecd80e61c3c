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
use crate::policy::reference::{Finding, Part, Reference, Statement};

/// Codes an instance may list in `allowFindings`.
pub const ACCEPTABLE_CODES: &[&str] = &[
    "unknown-service",
    "unknown-action",
    "resource-mismatch",
    "privilege-escalation",
    "resource-exposure",
    "unused-resource",
];

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
    pub code: &'static str,
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
pub fn lint(spec: &InstanceSpec) -> Vec<PlacedFinding> {
    let reference = match Reference::get() {
        Ok(reference) => reference,
        Err(error) => {
            return vec![PlacedFinding {
                statement: 0,
                list: "actions",
                index: 0,
                code: "reference-unreadable",
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
    reference
        .lint_policy(&statements)
        .into_iter()
        .filter(|finding| !spec.allow_findings.iter().any(|c| c == finding.code()))
        .filter(|finding| {
            !(spec.allow_wildcards
                && matches!(finding.code(), "privilege-escalation" | "resource-exposure"))
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
    let code = finding.code();
    let hint = match code {
        "unknown-action" | "unknown-service" | "malformed-action" => "check the spelling against AWS's Service Authorization Reference; list the code in `allowFindings` if AWS added the action recently",
        "resource-mismatch" => "point the statement at a resource of the type the action acts on",
        "unused-resource" => "remove the resource, or add the action that needs it",
        _ => "",
    };
    let hint = if hint.is_empty() {
        format!("drop the action if the function does not need it, or accept it on purpose on the instance: `allowFindings: [{code}]` (or `allowWildcards: true`)")
    } else {
        hint.to_string()
    };
    PlacedFinding {
        statement,
        list,
        index: finding.index,
        code,
        message: finding.message(item),
        warning: code == "unused-resource",
        hint,
    }
}
