//! `fnctl iam-policy`: the least-privilege policy fnctl's own CI role needs,
//! scoped to the role paths, managed policies and boundaries the manifests
//! name. GetAccountAuthorizationDetails and ListRoles cannot be scoped by
//! resource, so reads are on `*`; every write is limited to the role path.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::cli::args::{GlobalOptions, IamPolicyArgs};
use crate::model::DesiredInstance;

const READ_ACTIONS: &[&str] = &[
    "iam:GetAccountAuthorizationDetails",
    "iam:ListRoles",
    "iam:GetRole",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
];
// DetachRolePolicy is not limited to the listed policies: apply removes
// attachments made by hand, whatever they are.
const WRITE_ACTIONS: &[&str] = &[
    "iam:CreateRole",
    "iam:DetachRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
];

/// Prints the policy for the manifests' roles.
pub(crate) fn run(_global: &GlobalOptions, args: &IamPolicyArgs) -> anyhow::Result<i32> {
    // The deployer's policy covers every role of the manifests: `--account`
    // selects what a session reconciles, not what a policy grants.
    let set = super::settings::load_manifests(&args.manifests, |_| true)?;
    crate::cli::output::stdout(&format!(
        "{}\n",
        serde_json::to_string_pretty(&policy(&set.instances, args.read_only))?
    ));
    Ok(0)
}

/// The policy document.
pub(crate) fn policy(instances: &[DesiredInstance], read_only: bool) -> Value {
    let account = |i: &DesiredInstance| i.target_account().unwrap_or("*").to_string();
    let role_arns: BTreeSet<String> = instances
        .iter()
        .map(|i| format!("arn:aws:iam::{}:role{}*", account(i), i.role_path))
        .collect();
    let mut statements = vec![
        json!({ "Sid": "WhoAmI", "Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": "*" }),
        json!({ "Sid": "ReadRoles", "Effect": "Allow", "Action": READ_ACTIONS, "Resource": "*" }),
    ];
    if !read_only {
        statements.push(json!({ "Sid": "WriteFunctionRoles", "Effect": "Allow", "Action": WRITE_ACTIONS, "Resource": role_arns }));
        let managed: BTreeSet<&String> = instances
            .iter()
            .flat_map(|i| i.managed_policies.iter())
            .collect();
        if !managed.is_empty() {
            statements.push(json!({
                "Sid": "AttachListedManagedPolicies", "Effect": "Allow",
                "Action": ["iam:AttachRolePolicy"], "Resource": role_arns,
                "Condition": { "ArnEquals": { "iam:PolicyARN": managed } }
            }));
        }
        let boundaries: BTreeSet<&String> = instances
            .iter()
            .filter_map(|i| i.permissions_boundary.as_ref())
            .collect();
        if !boundaries.is_empty() {
            statements.push(json!({
                "Sid": "SetListedBoundaries", "Effect": "Allow",
                "Action": ["iam:PutRolePermissionsBoundary"], "Resource": role_arns,
                "Condition": { "ArnEquals": { "iam:PermissionsBoundary": boundaries } }
            }));
        }
    }
    let deployers: BTreeSet<&String> = instances
        .iter()
        .filter_map(|i| i.assume_role.as_ref())
        .collect();
    if !deployers.is_empty() {
        statements.push(json!({ "Sid": "ReachOtherAccounts", "Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": deployers }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::reference::Reference;

    /// The policy fnctl asks its deployer to be granted names only real
    /// actions, each on resources it acts on, by AWS's own reference; what
    /// the reference does flag is the escalation and exposure a role that
    /// writes trust and permission policies cannot do without.
    #[test]
    fn the_deployer_policy_passes_aws_reference() {
        let mut instance = crate::model::fixtures::instance("deployer");
        instance.managed_policies =
            BTreeSet::from(["arn:aws:iam::aws:policy/ReadOnlyAccess".to_string()]);
        instance.permissions_boundary =
            Some("arn:aws:iam::123456789012:policy/segment-boundary".into());
        instance.assume_role = Some("arn:aws:iam::123456789012:role/fnctl-deployer".into());
        let reference = Reference::get().expect("the embedded reference parses");
        for read_only in [true, false] {
            let document = policy(std::slice::from_ref(&instance), read_only);
            let lists: Vec<(Vec<String>, Vec<String>)> = document["Statement"]
                .as_array()
                .expect("statements")
                .iter()
                .map(|statement| {
                    let strings = |key: &str| -> Vec<String> {
                        let value = &statement[key];
                        match value {
                            Value::String(one) => vec![one.clone()],
                            Value::Array(many) => many
                                .iter()
                                .map(|v| v.as_str().expect("string").to_string())
                                .collect(),
                            other => panic!("{key}: {other}"),
                        }
                    };
                    (strings("Action"), strings("Resource"))
                })
                .collect();
            let statements: Vec<_> = lists
                .iter()
                .map(|(actions, resources)| crate::policy::reference::Statement {
                    actions,
                    resources,
                })
                .collect();
            let findings = reference.lint_policy(&statements);
            let codes: BTreeSet<&str> = findings.iter().map(|f| f.code()).collect();
            if read_only {
                assert!(findings.is_empty(), "read-only: {findings:?}");
            } else {
                assert_eq!(
                    codes,
                    BTreeSet::from(["privilege-escalation", "resource-exposure"]),
                    "{findings:?}"
                );
            }
        }
    }
}
