//! Renders the inline permission policy `fnctl-permissions` of an instance. Pure functions of the desired model, so what
//! fnctl will write can be shown, tested and size-checked before any call.

use serde_json::{json, Value};

use super::regions::partition_of_region;
use super::spec::{BucketAccess, BucketSpec, PermissionSpec};

/// The inline policy `fnctl-permissions`: the bucket shorthand and the extra
/// statements, or `None` when there is nothing to grant.
pub(crate) fn inline_policy(
    bucket: Option<&BucketSpec>,
    permissions: &[PermissionSpec],
) -> Option<Value> {
    let mut statements: Vec<Value> = bucket.map(bucket_statements).unwrap_or_default();
    for permission in permissions {
        let mut statement = json!({
            "Effect": permission.effect.as_str(),
            "Action": permission.actions,
            "Resource": permission.resources,
        });
        if let Some(sid) = &permission.sid {
            statement["Sid"] = json!(sid);
        }
        if let Some(conditions) = permission.conditions.as_ref().filter(|c| !c.is_empty()) {
            statement["Condition"] = Value::Object(conditions.clone());
        }
        statements.push(statement);
    }
    if statements.is_empty() {
        return None;
    }
    Some(json!({ "Version": "2012-10-17", "Statement": statements }))
}

fn bucket_statements(bucket: &BucketSpec) -> Vec<Value> {
    let partition = partition_of_region(&bucket.region);
    let prefix = bucket.prefix.as_deref().unwrap_or("");
    let bucket_arn = format!("arn:{partition}:s3:::{}", bucket.name);
    let objects_arn = format!("{bucket_arn}/{prefix}*");
    let mut statements = Vec::new();
    if matches!(bucket.access, BucketAccess::Write | BucketAccess::ReadWrite) {
        statements.push(json!({
            "Sid": "BucketWrite",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [objects_arn],
        }));
    }
    if matches!(bucket.access, BucketAccess::Read | BucketAccess::ReadWrite) {
        statements.push(json!({
            "Sid": "BucketRead",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [objects_arn],
        }));
        let mut list = json!({
            "Sid": "BucketList",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket_arn],
        });
        if !prefix.is_empty() {
            list["Condition"] = json!({ "StringLike": { "s3:prefix": [format!("{prefix}*")] } });
        }
        statements.push(list);
    }
    statements
}

/// Length of a document as IAM counts it against its quotas: without whitespace.
pub(crate) fn quota_length(document: &Value) -> usize {
    serde_json::to_string(document)
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::spec::Effect;

    fn bucket(access: BucketAccess, prefix: Option<&str>) -> BucketSpec {
        BucketSpec {
            name: "acme-events-prod".into(),
            region: "us-west-2".into(),
            prefix: prefix.map(str::to_string),
            access,
        }
    }

    #[test]
    fn write_bucket_grants_exactly_put_object_under_the_prefix() {
        let policy =
            inline_policy(Some(&bucket(BucketAccess::Write, Some("segment/"))), &[]).unwrap();
        insta::assert_snapshot!(serde_json::to_string_pretty(&policy).unwrap());
    }

    #[test]
    fn read_bucket_grants_get_and_list_limited_to_the_prefix() {
        let policy =
            inline_policy(Some(&bucket(BucketAccess::Read, Some("segment/"))), &[]).unwrap();
        insta::assert_snapshot!(serde_json::to_string_pretty(&policy).unwrap());
    }

    #[test]
    fn read_write_without_prefix_and_extra_statement() {
        let extra = PermissionSpec {
            sid: None,
            actions: vec!["sqs:SendMessage".into()],
            resources: vec!["arn:aws:sqs:us-west-2:123456789012:events".into()],
            effect: Effect::Allow,
            conditions: None,
        };
        let policy = inline_policy(Some(&bucket(BucketAccess::ReadWrite, None)), &[extra]).unwrap();
        insta::assert_snapshot!(serde_json::to_string_pretty(&policy).unwrap());
    }

    #[test]
    fn nothing_to_grant_is_no_policy() {
        assert_eq!(inline_policy(None, &[]), None);
    }

    #[test]
    fn quota_length_ignores_whitespace() {
        assert_eq!(quota_length(&json!({"a": "b c"})), 10);
    }
}
