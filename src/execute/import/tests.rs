//! The import's decisions over roles and instances in memory: what is
//! written, what is left out and why, and that the same input gives the
//! same bytes.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::select::{SegmentAccounts, WorkspaceInstance};
use super::{decide, ImportOptions};
use crate::model::fixtures::{self, applied_role, external_id, instance};
use crate::model::segment::SegmentRegion;
use crate::model::{tags, FunctionKind, LiveDocument, LiveRole};

fn options() -> ImportOptions {
    ImportOptions {
        scope: "default".into(),
        segment_accounts: SegmentAccounts {
            destination: crate::model::SEGMENT_DESTINATION_ACCOUNT.into(),
            source: crate::model::SEGMENT_SOURCE_ACCOUNT.into(),
        },
        segment_region: SegmentRegion::Us,
        assume_role: None,
        schema: "../schemas/fnctl.schema.json".into(),
        now: fixtures::now(),
        out: "manifests".into(),
    }
}

/// The fixture role of `name` as a person made it (no fnctl tags), with
/// its external ID made from `seed`.
fn hand_made(name: &str, seed: char) -> LiveRole {
    let mut role = applied_role(&instance(name), &external_id(seed));
    role.tags.retain(|key, _| !tags::is_fnctl_tag(key));
    role
}

fn trust_mut(role: &mut LiveRole) -> &mut Value {
    match &mut role.trust_policy {
        LiveDocument::Valid(document) => document,
        LiveDocument::Invalid(_) => unreachable!("the fixtures' trust policies are valid"),
    }
}

fn codes(import: &super::Import) -> Vec<(String, &'static str)> {
    import
        .skipped
        .iter()
        .map(|s| (s.role.clone(), s.reason.code()))
        .collect()
}

#[test]
fn what_fnctl_cannot_say_is_left_out_with_the_reason() {
    let plain = hand_made("plain", 'A');
    let mut like = hand_made("like", 'B');
    let condition = &mut trust_mut(&mut like)["Statement"][0]["Condition"];
    *condition = json!({"StringLike": {"sts:ExternalId": external_id('B')}});
    let mut not_resource = hand_made("not-resource", 'C');
    not_resource.inline_policies.insert(
        crate::model::INLINE_POLICY_NAME.into(),
        LiveDocument::Valid(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::x/*"}]})),
    );
    let mut stranger = hand_made("stranger", 'D');
    trust_mut(&mut stranger)["Statement"][0]["Principal"]["AWS"] =
        json!("arn:aws:iam::111122223333:root");
    let roles = vec![plain, like, not_resource, stranger];
    let import = decide(fixtures::ACCOUNT, &roles, &[], &BTreeSet::new(), &options()).unwrap();
    let imported: Vec<&str> = import.imported.iter().map(|i| i.role.as_str()).collect();
    assert_eq!(imported, ["fn-plain"]);
    assert_eq!(
        codes(&import),
        [
            ("fn-like".to_string(), "trust-external-id-operator"),
            ("fn-not-resource".to_string(), "inline-policy-unexpressible")
        ],
        "a role that does not trust Segment is not a function role"
    );
    assert_eq!(import.function_roles, 3);
    let text = import.manifest.expect("a manifest");
    assert!(!text.contains(&external_id('A')), "{text}");
}

#[test]
fn the_same_roles_give_the_same_bytes_and_stable_names() {
    let mut roles = vec![hand_made("b", 'A'), hand_made("a", 'B')];
    roles[0].name = "Dup+Name".into();
    roles[1].name = "dup-name".into();
    let first = decide(fixtures::ACCOUNT, &roles, &[], &BTreeSet::new(), &options()).unwrap();
    roles.reverse();
    let second = decide(fixtures::ACCOUNT, &roles, &[], &BTreeSet::new(), &options()).unwrap();
    assert_eq!(first.manifest, second.manifest);
    let names: Vec<&str> = first.imported.iter().map(|i| i.instance.as_str()).collect();
    assert_eq!(names, ["dup-name", "dup-name-2"]);
}

#[test]
fn a_role_adopted_from_the_manifest_stays_in_it_others_are_said_to_be_managed() {
    let mut adopted = hand_made("adopted", 'A');
    adopted.tags.extend([
        (
            tags::MANAGED_BY.to_string(),
            tags::MANAGED_BY_VALUE.to_string(),
        ),
        (tags::SCOPE.to_string(), "default".to_string()),
        (tags::INSTANCE.to_string(), "adopted".to_string()),
    ]);
    let roles = vec![adopted];
    let earlier = BTreeSet::from(["fn-adopted".to_string()]);
    let kept = decide(fixtures::ACCOUNT, &roles, &[], &earlier, &options()).unwrap();
    assert!(kept.skipped.is_empty(), "{:?}", kept.skipped);
    assert_eq!(kept.imported[0].instance, "adopted");
    let elsewhere = decide(fixtures::ACCOUNT, &roles, &[], &BTreeSet::new(), &options()).unwrap();
    assert_eq!(
        codes(&elsewhere),
        [("fn-adopted".to_string(), "already-managed")]
    );
    assert_eq!(elsewhere.manifest, None);
}

fn destination(id: &str, role: &LiveRole, external: &str, extra: Value) -> WorkspaceInstance {
    let mut settings: Map<String, Value> = extra.as_object().cloned().unwrap_or_default();
    settings.insert("iamRoleArn".into(), json!(role.arn));
    let shown = format!("••••••••••{}", &external[external.len() - 4..]);
    settings.insert("iamRoleExternalId".into(), json!(shown));
    WorkspaceInstance {
        id: id.into(),
        kind: FunctionKind::Destination,
        settings,
    }
}

#[test]
fn a_linked_instance_gives_segment_settings_and_the_exact_bucket_shorthand() {
    // The fixture grants s3:GetObject on exports/* as `BucketRead`: not all
    // of what `bucket: read` renders (it lists the bucket too).
    let role = hand_made("reader", 'A');
    let linked = destination(
        "dstReader0001",
        &role,
        &external_id('A'),
        json!({"s3Bucket": "exports", "s3BucketRegion": "us-west-2", "apiKey": "••••••••••abcd", "flushEvery": 5}),
    );
    let import = decide(
        fixtures::ACCOUNT,
        &[role],
        &[linked],
        &BTreeSet::new(),
        &options(),
    )
    .unwrap();
    let text = import.manifest.expect("a manifest");
    assert!(
        text.contains("    segment: { id: dstReader0001 }"),
        "{text}"
    );
    assert!(!text.contains("    bucket:"), "{text}");
    assert!(text.contains("      s3Bucket: exports\n"), "{text}");
    assert!(!text.contains("apiKey"), "{text}");
    assert!(text.contains("      flushEvery: 5\n"), "{text}");
}

#[test]
fn an_instance_holding_another_id_is_not_linked() {
    let role = hand_made("other", 'A');
    // Segment shows the last four characters: the fixture IDs share theirs.
    let linked = destination("dstOther00001", &role, &"Q".repeat(48), json!({}));
    let import = decide(
        fixtures::ACCOUNT,
        &[role],
        &[linked],
        &BTreeSet::new(),
        &options(),
    )
    .unwrap();
    assert_eq!(import.imported[0].segment, None);
    assert_eq!(import.imported[0].unlinked.len(), 1);
    let text = import.manifest.expect("a manifest");
    assert!(!text.contains("segment:"), "{text}");
    assert!(
        text.contains("  # Segment instance dstOther00001 names this role"),
        "{text}"
    );
}
