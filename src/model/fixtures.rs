//! Test data for the core's unit tests (planner, drift, executor, lease),
//! built in one place: instances, external IDs and roles as apply leaves
//! them. When a type changes (external IDs are about to get a type of their
//! own), the tests change here and nowhere else.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::model::operation::{Operation, WireOperation};
use crate::model::{
    digest, external_id, tags, trust, DesiredInstance, FunctionKind, LiveDocument, LiveRole,
    Origin, DEFAULT_ROLE_PATH, INLINE_POLICY_NAME, SEGMENT_DESTINATION_ACCOUNT,
};

/// The account the roles are in.
pub(crate) const ACCOUNT: &str = "123456789012";
/// The scope of every fixture instance.
pub(crate) const SCOPE: &str = "payments";
/// When fixture roles got their external ID.
pub(crate) const CREATED: &str = "2026-01-01T00:00:00Z";
/// The time of the planned run.
pub(crate) const NOW: &str = "2026-03-01T00:00:00Z";

/// [`NOW`] as a time.
pub(crate) fn now() -> std::time::SystemTime {
    at(NOW)
}

/// The time `text` (RFC 3339) names.
pub(crate) fn at(text: &str) -> std::time::SystemTime {
    humantime::parse_rfc3339(text).expect("an RFC 3339 time")
}

/// An external ID as fnctl generates them (48 characters of `[A-Za-z0-9]`),
/// a different one for each `seed`.
pub(crate) fn external_id(seed: char) -> String {
    format!("{}{}", seed.to_string().repeat(40), "Fixture1")
}

/// A short external ID, as adopted roles may have.
pub(crate) fn weak_external_id() -> String {
    "short-id-1".to_string()
}

/// The fingerprint fnctl records for an ID.
pub(crate) fn fingerprint(id: &str) -> String {
    external_id::ExternalId::new(id).fingerprint()
}

/// The inline policy of a fixture instance: read one bucket.
pub(crate) fn bucket_policy(bucket: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "BucketRead",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [format!("arn:aws:s3:::{bucket}/*")]
        }]
    })
}

/// A destination instance `name` of scope [`SCOPE`], role `fn-<name>`.
pub(crate) fn instance(name: &str) -> DesiredInstance {
    DesiredInstance {
        name: name.to_string(),
        kind: FunctionKind::Destination,
        scope: SCOPE.to_string(),
        account: None,
        assume_role: None,
        segment_account: SEGMENT_DESTINATION_ACCOUNT.to_string(),
        role_name: format!("fn-{name}"),
        role_path: DEFAULT_ROLE_PATH.to_string(),
        description: format!("Segment function {name}"),
        default_description: false,
        max_session_duration: 3600,
        permissions_boundary: None,
        tags: BTreeMap::from([("team".to_string(), "data".to_string())]),
        inline_policy: Some(bucket_policy("exports")),
        inline_policy_name: None,
        managed_policies: BTreeSet::new(),
        rotate_after_days: None,
        segment: None,
        settings: BTreeMap::new(),
        origin: Origin {
            file: "functions.yaml".into(),
            line: 1,
        },
    }
}

/// The trust policy fnctl writes for `ids`.
pub(crate) fn trust_with(ids: &[&str]) -> Value {
    trust::trust_policy(SEGMENT_DESTINATION_ACCOUNT, ids)
}

/// The tags apply puts on the role of `instance` whose current ID is `id`.
pub(crate) fn applied_tags(instance: &DesiredInstance, id: &str) -> BTreeMap<String, String> {
    let mut all = instance.tags.clone();
    all.extend([
        (
            tags::MANAGED_BY.to_string(),
            tags::MANAGED_BY_VALUE.to_string(),
        ),
        (tags::SCOPE.to_string(), instance.scope.clone()),
        (tags::INSTANCE.to_string(), instance.name.clone()),
        (
            tags::APPLIED.to_string(),
            digest::desired(instance).encode(),
        ),
        (tags::EXTERNAL_ID.to_string(), fingerprint(id)),
        (tags::EXTERNAL_ID_CREATED.to_string(), CREATED.to_string()),
    ]);
    all
}

/// The role of `instance` exactly as apply leaves it, accepting `id`.
pub(crate) fn applied_role(instance: &DesiredInstance, id: &str) -> LiveRole {
    LiveRole {
        name: instance.role_name.clone(),
        path: instance.role_path.clone(),
        arn: format!(
            "arn:aws:iam::{ACCOUNT}:role{}{}",
            instance.role_path, instance.role_name
        ),
        role_id: format!("AROAFIXTURE{}", instance.name.to_ascii_uppercase()),
        create_date: Some(CREATED.to_string()),
        description: Some(instance.description.clone()).filter(|d| !d.is_empty()),
        max_session_duration: Some(instance.max_session_duration),
        trust_policy: LiveDocument::Valid(trust_with(&[id])),
        inline_policies: instance
            .inline_policy
            .iter()
            .map(|p| {
                (
                    INLINE_POLICY_NAME.to_string(),
                    LiveDocument::Valid(p.clone()),
                )
            })
            .collect(),
        attached_policies: instance.managed_policies.clone(),
        permissions_boundary: instance.permissions_boundary.clone(),
        tags: applied_tags(instance, id),
    }
}

/// The writes that make [`applied_role`] in a backend.
pub(crate) fn applied_operations(instance: &DesiredInstance, id: &str) -> Vec<WireOperation> {
    let role = instance.role_name.clone();
    let mut operations = vec![Operation::CreateRole {
        role: role.clone(),
        path: instance.role_path.clone(),
        description: instance.description.clone(),
        max_session_duration: instance.max_session_duration,
        trust_policy: crate::model::operation::SecretDocument::new(trust_with(&[id]).to_string()),
        permissions_boundary: instance.permissions_boundary.clone(),
        tags: applied_tags(instance, id),
    }];
    if let Some(policy) = &instance.inline_policy {
        operations.push(Operation::PutInlinePolicy {
            role: role.clone(),
            policy_name: INLINE_POLICY_NAME.to_string(),
            document: policy.clone(),
        });
    }
    for arn in &instance.managed_policies {
        operations.push(Operation::AttachManagedPolicy {
            role: role.clone(),
            policy_arn: arn.clone(),
        });
    }
    operations
}

/// A required string setting definition named `name`, its label the name.
pub(crate) fn string_definition(
    name: &str,
    sensitive: bool,
) -> crate::model::function::SettingDefinition {
    crate::model::function::SettingDefinition {
        name: name.into(),
        label: name.into(),
        description: String::new(),
        setting_type: crate::model::function::SettingType::String,
        required: true,
        sensitive,
    }
}
