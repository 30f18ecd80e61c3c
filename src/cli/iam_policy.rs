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
pub fn run(_global: &GlobalOptions, args: &IamPolicyArgs) -> anyhow::Result<i32> {
    let set = super::settings::load_manifests(&args.manifests)?;
    crate::cli::output::stdout(&format!(
        "{}\n",
        serde_json::to_string_pretty(&policy(&set.instances, args.read_only))?
    ));
    Ok(0)
}

/// The policy document.
pub fn policy(instances: &[DesiredInstance], read_only: bool) -> Value {
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
