//! The import's decisions over roles and instances in memory: what is
//! written, what is left out and why, and that the same input gives the
//! same bytes.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::select::{SegmentAccounts, WorkspaceInstance};
use super::{decide, ImportOptions, Workspace};
use crate::model::fixtures::{self, applied_role, external_id, instance};
use crate::model::segment::SegmentRegion;
use crate::model::{tags, FunctionKind, LiveDocument, LiveRole};

fn workspace(instances: Vec<WorkspaceInstance>) -> Workspace {
    Workspace {
        instances,
        functions: Vec::new(),
    }
}

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
    let import = import_of(&roles, &Workspace::default());
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
    let first = import_of(&roles, &Workspace::default());
    roles.reverse();
    let second = import_of(&roles, &Workspace::default());
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
    let kept = decide(
        fixtures::ACCOUNT,
        &roles,
        &Workspace::default(),
        &earlier,
        &options(),
    )
    .unwrap();
    assert!(kept.skipped.is_empty(), "{:?}", kept.skipped);
    assert_eq!(kept.imported[0].instance, "adopted");
    let elsewhere = import_of(&roles, &Workspace::default());
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
        metadata_id: None,
        source_id: None,
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
    let import = import_of(&[role], &workspace(vec![linked]));
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
    let import = import_of(&[role], &workspace(vec![linked]));
    assert_eq!(import.imported[0].segment, None);
    assert_eq!(import.imported[0].unlinked.len(), 1);
    let text = import.manifest.expect("a manifest");
    assert!(!text.contains("segment:"), "{text}");
    assert!(
        text.contains("  # Segment instance dstOther00001 names this role"),
        "{text}"
    );
}

/// The import of `roles` and `workspace` into an empty folder.
fn import_of(roles: &[LiveRole], workspace: &Workspace) -> super::Import {
    decide(
        fixtures::ACCOUNT,
        roles,
        workspace,
        &BTreeSet::new(),
        &options(),
    )
    .unwrap()
}

/// fnctl's own definitions (the role's ARN, the external ID), as it
/// declares them, and `extra`.
fn definitions_with(extra: &[(&str, bool)]) -> Vec<crate::model::function::SettingDefinition> {
    let function = crate::model::function::DesiredFunction {
        name: "any".into(),
        kind: FunctionKind::Destination,
        scope: "default".into(),
        region: SegmentRegion::Us,
        display_name: "Any".into(),
        description: None,
        code_path: "any.js".into(),
        code: String::new(),
        settings: Vec::new(),
        origin: crate::model::Origin {
            file: "m.yaml".into(),
            line: 1,
        },
    };
    let mut all = crate::model::function::definitions(&function, []);
    for (name, sensitive) in extra {
        let mut definition = fixtures::string_definition(name, *sensitive);
        definition.required = false;
        all.push(definition);
    }
    all
}

/// A destination function of the workspace, read whole.
fn function(
    id: &str,
    display: &str,
    description: &str,
) -> crate::live::segment_functions::LiveFunction {
    crate::live::segment_functions::LiveFunction {
        id: id.into(),
        catalog_id: id.trim_start_matches("dfn_").into(),
        kind: Some(FunctionKind::Destination),
        display_name: display.into(),
        description: description.into(),
        code: Some("async function onTrack(event, settings) {}\n".into()),
        settings: Some(definitions_with(&[("flushEvery", false), ("apiKey", true)])),
        deployed_at: None,
        is_latest_version: Some(true),
    }
}

/// `role` linked to a destination of `function` connected to `source`.
fn running(id: &str, role: &LiveRole, seed: char, function: &str) -> WorkspaceInstance {
    let mut instance = destination(
        id,
        role,
        &external_id(seed),
        json!({"flushEvery": "5", "apiKey": "••••••••••abcd"}),
    );
    instance.metadata_id = Some(function.trim_start_matches("dfn_").into());
    instance.source_id = Some("srcOrders01".into());
    instance
}

#[test]
fn an_instance_of_a_function_runs_it_and_the_function_is_written_with_its_code() {
    let roles = vec![hand_made("a", 'A'), hand_made("b", 'B')];
    let workspace = Workspace {
        instances: vec![
            running("dstAaaa01", &roles[0], 'A', "dfn_archiver"),
            running("dstBbbb01", &roles[1], 'B', "dfn_archiver"),
        ],
        functions: vec![function(
            "dfn_archiver",
            "S3 archiver (v2) (Acme)",
            "Archives",
        )],
    };
    let import = import_of(&roles, &workspace);
    assert!(import.skipped.is_empty(), "{:?}", import.skipped);
    let text = import.manifest.clone().expect("a manifest");
    for expected in [
        "functions:\n  - name: s3-archiver--v2-\n    kind: destination\n    code: functions/s3-archiver--v2-.js\n    displayName: \"S3 archiver (v2)\"\n    description: Archives\n    settings:\n",
        "      - name: apiKey\n        type: string\n        sensitive: true\n",
        "      - name: flushEvery\n        type: string\n",
        "    segment: { function: s3-archiver--v2-, source: srcOrders01 }\n",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    assert!(!text.contains("segment: { id"), "{text}");
    assert_eq!(
        import.code_files,
        [(
            "functions/s3-archiver--v2-.js".to_string(),
            "async function onTrack(event, settings) {}\n".to_string()
        )]
    );
    let functions: Vec<Option<&str>> = import
        .imported
        .iter()
        .map(|i| i.function.as_deref())
        .collect();
    assert_eq!(functions, [Some("s3-archiver--v2-"); 2]);
    // The same workspace gives the same bytes.
    let again = import_of(&roles, &workspace);
    assert_eq!(again.manifest, import.manifest);
}

#[test]
fn a_function_fnctl_cannot_take_over_as_it_is_leaves_its_instances_linked_by_id() {
    let roles = vec![
        hand_made("exposed", 'A'),
        hand_made("relabelled", 'B'),
        hand_made("theirs", 'C'),
    ];
    let mut exposed = function("dfn_exposed", "Exposed (Acme)", "");
    exposed.settings.as_mut().unwrap()[1].sensitive = false;
    let mut relabelled = function("dfn_relabelled", "Relabelled (Acme)", "");
    // Relabelled and made optional: the label alone would be kept (see
    // below); `required` is a meaning fnctl would rewrite.
    relabelled.settings.as_mut().unwrap()[0].label = "IAM Role ARN".into();
    relabelled.settings.as_mut().unwrap()[0].required = false;
    let theirs = function("dfn_theirs", "Theirs (Acme)", "[fnctl:payments/theirs]");
    let workspace = Workspace {
        instances: vec![
            running("dstExposed", &roles[0], 'A', "dfn_exposed"),
            running("dstRelabelled", &roles[1], 'B', "dfn_relabelled"),
            running("dstTheirs", &roles[2], 'C', "dfn_theirs"),
        ],
        functions: vec![exposed, relabelled, theirs],
    };
    let import = import_of(&roles, &workspace);
    assert!(import.skipped.is_empty(), "{:?}", import.skipped);
    let text = import.manifest.clone().expect("a manifest");
    assert!(!text.contains("functions:"), "{text}");
    assert!(import.code_files.is_empty());
    let notes: Vec<(&str, &str)> = import
        .imported
        .iter()
        .map(|i| {
            (
                i.segment.as_deref().unwrap(),
                i.function_note.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        notes[0]
            .1
            .contains("`iamRoleExternalId` setting is not sensitive"),
        "{notes:?}"
    );
    assert!(
        notes[1].1.contains("setting definitions") && notes[1].1.contains("IAM Role ARN"),
        "{notes:?}"
    );
    assert!(notes[2].1.contains("[fnctl:payments/theirs]"), "{notes:?}");
    for id in ["dstExposed", "dstRelabelled", "dstTheirs"] {
        assert!(
            text.contains(&format!("    segment: {{ id: {id} }}\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("  # Segment instance {id} runs a function (")),
            "{text}"
        );
    }
}

#[test]
fn an_adopted_function_keeps_the_name_its_marker_records() {
    let roles = vec![hand_made("a", 'A')];
    let adopted = function(
        "dfn_kept",
        "Renamed since (Acme)",
        "Archives [fnctl:default/kept-name]",
    );
    let workspace = Workspace {
        instances: vec![running("dstAaaa01", &roles[0], 'A', "dfn_kept")],
        functions: vec![adopted],
    };
    let import = import_of(&roles, &workspace);
    let text = import.manifest.expect("a manifest");
    assert!(
        text.contains("  - name: kept-name\n    kind: destination\n    code: functions/kept-name.js\n    displayName: \"Renamed since\"\n    description: Archives\n"),
        "{text}"
    );
    assert!(
        text.contains("segment: { function: kept-name, source: srcOrders01 }"),
        "{text}"
    );
}

/// Segment's guide labels fnctl's two settings its own way: a label (or
/// description) is presentation, kept on adoption, so such a function is
/// imported as a function, not left linked by id.
#[test]
fn a_function_labelled_as_segments_guide_does_is_imported_as_a_function() {
    let roles = vec![hand_made("guided", 'A')];
    let mut guided = function("dfn_guided", "Guided (Acme)", "");
    guided.settings.as_mut().unwrap()[0].label = "IAM Role ARN".into();
    guided.settings.as_mut().unwrap()[1].description = "From the trust policy".into();
    let workspace = Workspace {
        instances: vec![running("dstGuided", &roles[0], 'A', "dfn_guided")],
        functions: vec![guided],
    };
    let import = import_of(&roles, &workspace);
    let text = import.manifest.clone().expect("a manifest");
    assert!(text.contains("functions:"), "{text}");
    assert!(!text.contains("segment: { id: dstGuided }"), "{text}");
    assert_eq!(import.code_files.len(), 1);
}
