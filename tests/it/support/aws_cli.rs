//! What the AWS CLI writes for an account's roles, built from moto through
//! the SDK: the `--snapshot` inputs of `drift`, `plan` and `import`, so that
//! each test feeds fnctl the export a user would.

use serde_json::{json, Value};

use super::percent::decode_document;

/// `aws iam get-account-authorization-details --filter Role`: PascalCase
/// keys, policy documents decoded into JSON objects.
pub async fn gaad_export(iam: &aws_sdk_iam::Client) -> Value {
    let details = iam
        .get_account_authorization_details()
        .filter(aws_sdk_iam::types::EntityType::Role)
        .send()
        .await
        .expect("GAAD");
    assert!(
        !details.is_truncated(),
        "one GAAD page holds the test's roles"
    );
    let roles: Vec<Value> = details
        .role_detail_list()
        .iter()
        .map(|role| {
            json!({
                "Path": role.path(),
                "RoleName": role.role_name(),
                "RoleId": role.role_id(),
                "Arn": role.arn(),
                "CreateDate": "2026-11-24T00:00:00Z",
                "AssumeRolePolicyDocument": decode_document(role.assume_role_policy_document().unwrap_or("{}")),
                "InstanceProfileList": [],
                "RolePolicyList": role.role_policy_list().iter().map(|p| json!({"PolicyName": p.policy_name(), "PolicyDocument": decode_document(p.policy_document().unwrap_or("{}"))})).collect::<Vec<_>>(),
                "AttachedManagedPolicies": role.attached_managed_policies().iter().map(|p| json!({"PolicyName": p.policy_name(), "PolicyArn": p.policy_arn()})).collect::<Vec<_>>(),
                "PermissionsBoundary": role.permissions_boundary().map(|b| json!({"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": b.permissions_boundary_arn()})),
                "Tags": role.tags().iter().map(|t| json!({"Key": t.key(), "Value": t.value()})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "UserDetailList": [], "GroupDetailList": [], "RoleDetailList": roles, "Policies": [] })
}

/// `aws iam list-roles`: every page, with the descriptions and session
/// lengths GAAD lacks.
pub async fn list_roles_export(iam: &aws_sdk_iam::Client) -> Value {
    let mut listed = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .list_roles()
            .set_marker(marker.clone())
            .send()
            .await
            .expect("ListRoles");
        for role in page.roles() {
            let mut entry = json!({
                "Path": role.path(), "RoleName": role.role_name(), "RoleId": role.role_id(), "Arn": role.arn(),
                "CreateDate": "2026-11-24T00:00:00Z",
                "AssumeRolePolicyDocument": decode_document(role.assume_role_policy_document().unwrap_or("{}")),
                "MaxSessionDuration": role.max_session_duration(),
            });
            // The AWS CLI leaves out a description that is not there.
            if let Some(description) = role.description().filter(|d| !d.is_empty()) {
                entry["Description"] = json!(description);
            }
            listed.push(entry);
        }
        marker = page.marker().map(str::to_string);
        if !page.is_truncated() || marker.is_none() {
            break;
        }
    }
    json!({ "Roles": listed })
}

/// IAM tags for an SDK call, from (key, value) pairs.
pub fn iam_tags(pairs: &[(&str, &str)]) -> Vec<aws_sdk_iam::types::Tag> {
    pairs
        .iter()
        .map(|(key, value)| {
            aws_sdk_iam::types::Tag::builder()
                .key(*key)
                .value(*value)
                .build()
                .expect("a tag has a key and a value")
        })
        .collect()
}
