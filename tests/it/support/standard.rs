//! The standard manifest of the reconcile tests (plan/apply, out-of-band
//! repairs, drift, saved plans): two instances, `archiver` (a destination
//! with everything a role can have) and `reader` (a source with a read
//! bucket and an extra statement), in scope `test`, and the complete checks
//! that IAM holds them as declared.

use std::collections::BTreeSet;

use serde_json::Value;

use super::env::{Env, RoleState, BUNDLES};
use super::external_id::assert_external_id_shape;
use super::moto::MOTO_ACCOUNT;
use super::spec::{role_arn, DESTINATION_ACCOUNT, INLINE, PATH, SOURCE_ACCOUNT};
use super::trust::{statements, strings};

pub const SCOPE: &str = "test";
pub const ARCHIVER: &str = "archiver";
pub const ARCHIVER_ROLE: &str = "segment-fn-archiver";
pub const READER: &str = "reader";
pub const READER_ROLE: &str = "segment-fn-reader";

pub fn boundary_arn() -> String {
    format!("arn:aws:iam::{MOTO_ACCOUNT}:policy/fn-boundary")
}

pub fn extra_policy_arn() -> String {
    format!("arn:aws:iam::{MOTO_ACCOUNT}:policy/fn-extra")
}

/// The `archiver` instance: a destination with everything a role can have.
pub fn archiver_yaml() -> String {
    format!(
        r#"  - name: archiver
    kind: destination
    role:
      description: Segment S3 archiver
      maxSessionDuration: 7200
      permissionsBoundary: {boundary}
      tags: {{ cost-center: "42" }}
    bucket:
      name: acme-events
      region: us-west-2
      prefix: segment/
      access: write
    managedPolicies: ["{extra}"]
    settings: {{ flushEvery: 100 }}
"#,
        boundary = boundary_arn(),
        extra = extra_policy_arn()
    )
}

/// The `reader` instance: a source with a read bucket and an extra statement.
pub fn reader_yaml() -> String {
    format!(
        r#"  - name: reader
    kind: source
    bucket:
      name: acme-exports
      region: us-east-1
      access: read
    permissions:
      - actions: [sqs:SendMessage, sqs:GetQueueUrl]
        resources: ["arn:aws:sqs:us-east-1:{MOTO_ACCOUNT}:events", "arn:aws:sqs:us-east-1:{MOTO_ACCOUNT}:audit"]
"#
    )
}

/// A manifest of `scope` (with a `team: data` default tag) holding `instances`.
pub fn manifest(scope: &str, instances: &str) -> String {
    format!(
        "version: 1\ndefaults:\n  scope: {scope}\n  rolePath: {PATH}\n  tags: {{ team: data }}\ninstances:\n{instances}"
    )
}

/// Both instances in scope `test`.
pub fn standard_manifest() -> String {
    manifest(SCOPE, &format!("{}{}", archiver_yaml(), reader_yaml()))
}

/// Checks the `archiver` role against its manifest, completely.
pub fn assert_archiver_as_declared(role: &RoleState) {
    assert_eq!(role.path, PATH);
    assert_eq!(role.arn, role_arn(ARCHIVER_ROLE));
    assert_eq!(role.description.as_deref(), Some("Segment S3 archiver"));
    assert_eq!(role.max_session_duration, Some(7200));
    assert_eq!(role.boundary.as_deref(), Some(boundary_arn().as_str()));
    assert_owned_tags(role, SCOPE, ARCHIVER);
    assert_eq!(
        role.tags.get("team").map(String::as_str),
        Some("data"),
        "{:?}",
        role.tags
    );
    assert_eq!(
        role.tags.get("cost-center").map(String::as_str),
        Some("42"),
        "{:?}",
        role.tags
    );
    assert_trust(role, DESTINATION_ACCOUNT);
    assert_eq!(
        role.inline.keys().collect::<Vec<_>>(),
        [INLINE],
        "inline policies: {:?}",
        role.inline
    );
    let (actions, resources) = grants(&role.inline[INLINE]);
    assert_eq!(actions, BTreeSet::from(["s3:PutObject".to_string()]));
    assert_eq!(
        resources,
        BTreeSet::from(["arn:aws:s3:::acme-events/segment/*".to_string()])
    );
    assert_eq!(role.attached, BTreeSet::from([extra_policy_arn()]));
}

/// Checks the `reader` role against its manifest.
pub fn assert_reader_as_declared(role: &RoleState) {
    assert_eq!(role.path, PATH);
    assert_eq!(role.arn, role_arn(READER_ROLE));
    assert_owned_tags(role, SCOPE, READER);
    assert_trust(role, SOURCE_ACCOUNT);
    assert_eq!(role.inline.keys().collect::<Vec<_>>(), [INLINE]);
    let (actions, resources) = grants(&role.inline[INLINE]);
    let expected: BTreeSet<String> = [
        "s3:GetObject",
        "s3:ListBucket",
        "sqs:SendMessage",
        "sqs:GetQueueUrl",
    ]
    .map(String::from)
    .into();
    assert_eq!(actions, expected);
    assert!(
        resources.contains("arn:aws:s3:::acme-exports/*"),
        "{resources:?}"
    );
    assert!(
        resources.contains("arn:aws:s3:::acme-exports"),
        "{resources:?}"
    );
    assert!(role.attached.is_empty(), "{:?}", role.attached);
    assert_eq!(role.boundary, None);
}

/// fnctl's ownership tags name `scope` and `instance`.
pub fn assert_owned_tags(role: &RoleState, scope: &str, instance: &str) {
    let tag = |k: &str| role.tags.get(k).map(String::as_str);
    assert_eq!(tag("fnctl:managed-by"), Some("fnctl"), "{:?}", role.tags);
    assert_eq!(tag("fnctl:scope"), Some(scope), "{:?}", role.tags);
    assert_eq!(tag("fnctl:instance"), Some(instance), "{:?}", role.tags);
}

/// The trust policy is exactly SPEC's: one Allow statement, Segment's account
/// root, sts:AssumeRole, StringEquals sts:ExternalId = one ID.
pub fn assert_trust(role: &RoleState, segment_account: &str) {
    let trust = &role.trust;
    let all = statements(trust);
    assert_eq!(all.len(), 1, "trust policy: {trust:#}");
    let statement = &all[0];
    assert_eq!(statement["Effect"], "Allow", "{trust:#}");
    assert_eq!(statement["Sid"], "SegmentFunctionAssumeRole", "{trust:#}");
    let principals: BTreeSet<String> = strings(&statement["Principal"]["AWS"]);
    assert_eq!(
        principals,
        BTreeSet::from([format!("arn:aws:iam::{segment_account}:root")]),
        "{trust:#}"
    );
    assert_eq!(
        statement["Principal"].as_object().map(|o| o.len()),
        Some(1),
        "{trust:#}"
    );
    assert_eq!(
        strings(&statement["Action"]),
        BTreeSet::from(["sts:AssumeRole".to_string()])
    );
    let condition = statement["Condition"].as_object().expect("a Condition");
    assert_eq!(condition.len(), 1, "only StringEquals: {trust:#}");
    let equals = condition["StringEquals"].as_object().expect("StringEquals");
    assert_eq!(equals.len(), 1, "only sts:ExternalId: {trust:#}");
    let id = role.external_id();
    assert_external_id_shape(&id);
}

/// All actions and resources of a permission policy's Allow statements;
/// panics on Deny, NotAction or NotResource.
pub fn grants(policy: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut actions = BTreeSet::new();
    let mut resources = BTreeSet::new();
    for statement in statements(policy) {
        assert_eq!(statement["Effect"], "Allow", "{policy:#}");
        assert!(statement.get("NotAction").is_none(), "{policy:#}");
        assert!(statement.get("NotResource").is_none(), "{policy:#}");
        actions.extend(strings(&statement["Action"]));
        resources.extend(strings(&statement["Resource"]));
    }
    (actions, resources)
}

/// The bundle's ID equals the one in the role's trust policy.
pub fn assert_bundle_matches(env: &Env, instance: &str, role: &RoleState) -> String {
    let id = env.bundle_id(BUNDLES, instance);
    assert_eq!(
        id,
        role.external_id(),
        "bundle of {instance} and the trust policy hold different external IDs"
    );
    id
}
