//! `fnctl plan` and `fnctl apply` end to end: the real binary against its own
//! moto per test. Every test also checks (on drop of its `Env`) that no
//! external ID appears in anything fnctl printed or saved besides bundles.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::support::env::{Env, RoleState, BUNDLES};
use crate::support::external_id::assert_external_id_shape;
use crate::support::moto::MOTO_ACCOUNT;
use crate::support::spec::*;
use crate::support::standard::*;
use crate::support::trust::statements;

const EQUIVALENT_NOTE: &str = "an equivalent rewrite must not show up as a change";

#[tokio::test(flavor = "multi_thread")]
async fn create_from_scratch_then_second_apply_is_a_no_op() {
    let env = Env::start().await;
    env.write_manifest(&standard_manifest());

    let plan = env.plan(&[]);
    plan.assert_exit(2)
        .assert_stdout_contains("Plan: 2 to create, 0 to update, 0 to delete.")
        .assert_stdout_contains(ARCHIVER_ROLE)
        .assert_stdout_contains(READER_ROLE);
    let json_plan = env.fnctl(&["plan", "--format", "json"]);
    json_plan.assert_exit(0);
    let report: Value =
        serde_json::from_str(&json_plan.stdout).expect("plan --format json is JSON");
    assert!(report.get("format_version").is_some(), "{report:#}");
    let changes = report["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 2, "{report:#}");
    for change in changes {
        assert_eq!(change["action"], "create", "{report:#}");
        assert!(change["instance"].is_string(), "{report:#}");
        assert!(
            change["reasons"].as_array().is_some_and(|r| !r.is_empty()),
            "{report:#}"
        );
    }
    env.fnctl(&["plan", "--format", "markdown"])
        .assert_exit(0)
        .assert_stdout_contains("Plan: 2 to create, 0 to update, 0 to delete.");
    assert!(
        env.role_names().await.is_empty(),
        "plan must not create anything"
    );

    env.apply(&[]).assert_exit(0);

    let archiver = env.existing_role(ARCHIVER_ROLE).await;
    assert_archiver_as_declared(&archiver);
    let reader = env.existing_role(READER_ROLE).await;
    assert_reader_as_declared(&reader);
    let archiver_id = assert_bundle_matches(&env, ARCHIVER, &archiver);
    let reader_id = assert_bundle_matches(&env, READER, &reader);
    assert_ne!(archiver_id, reader_id, "each role gets its own external ID");

    // Idempotence: nothing to do, and the IDs stay as they are.
    env.plan(&[])
        .assert_exit(0)
        .assert_stdout_contains("No changes");
    env.apply(&[])
        .assert_exit(0)
        .assert_stdout_contains("No changes");
    env.plan(&[]).assert_exit(0);
    let archiver_after = env.existing_role(ARCHIVER_ROLE).await;
    assert_archiver_as_declared(&archiver_after);
    assert_eq!(
        archiver_after.external_id(),
        archiver_id,
        "second apply changed the ID"
    );
    assert_eq!(env.bundle_id(BUNDLES, ARCHIVER), archiver_id);
    assert_eq!(
        env.existing_role(READER_ROLE).await.external_id(),
        reader_id
    );
    assert_eq!(env.bundle_id(BUNDLES, READER), reader_id);
    assert_eq!(
        archiver_after.tags, archiver.tags,
        "second apply rewrote tags"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bundles_are_private_and_hold_the_settings_of_the_spec() {
    let env = Env::start().await;
    env.write_manifest(&standard_manifest());
    env.apply(&[]).assert_exit(0);

    for instance in [ARCHIVER, READER] {
        let path = env.bundle_path(BUNDLES, instance);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
        }
    }
    let names: BTreeSet<String> = std::fs::read_dir(env.path().join(BUNDLES))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["archiver.json".to_string(), "reader.json".to_string()]),
        "exactly one bundle per instance, no temporary files"
    );

    let archiver = env.existing_role(ARCHIVER_ROLE).await;
    let id = archiver.external_id();
    assert_external_id_shape(&id);
    assert_eq!(
        env.bundle(BUNDLES, ARCHIVER),
        json!({
            "instance": "archiver",
            "kind": "destination",
            "settings": {
                "iamRoleArn": role_arn(ARCHIVER_ROLE),
                "iamRoleExternalId": id,
                "s3Bucket": "acme-events",
                "s3BucketRegion": "us-west-2",
                "flushEvery": 100
            },
            "sensitive": ["iamRoleExternalId"]
        })
    );
    let reader = env.existing_role(READER_ROLE).await;
    assert_eq!(
        env.bundle(BUNDLES, READER),
        json!({
            "instance": "reader",
            "kind": "source",
            "settings": {
                "iamRoleArn": role_arn(READER_ROLE),
                "iamRoleExternalId": reader.external_id(),
                "s3Bucket": "acme-exports",
                "s3BucketRegion": "us-east-1"
            },
            "sensitive": ["iamRoleExternalId"]
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_without_auto_approve_and_no_terminal_refuses() {
    let env = Env::start().await;
    env.write_manifest(&standard_manifest());
    let out = env.fnctl(&["apply", "--bundle-dir", BUNDLES]);
    out.assert_exit(1).assert_stderr_contains("--auto-approve");
    // "yes" on a pipe is not a terminal's answer either.
    env.fnctl_with_stdin(&["apply", "--bundle-dir", BUNDLES], "yes\n")
        .assert_exit(1);
    assert!(env.role_names().await.is_empty(), "apply created roles");
    assert!(!env.path().join(BUNDLES).exists(), "apply wrote bundles");
}

/// Writes `document` as the trust policy of `role`.
async fn put_trust(env: &Env, role: &str, document: &str) {
    env.iam
        .update_assume_role_policy()
        .role_name(role)
        .policy_document(document)
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateAssumeRolePolicy {role}: {e:?}\n{document}"));
}

async fn put_inline(env: &Env, role: &str, document: &str) {
    env.iam
        .put_role_policy()
        .role_name(role)
        .policy_name(INLINE)
        .policy_document(document)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutRolePolicy {role}: {e:?}\n{document}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn equivalent_rewrites_out_of_band_are_no_change() {
    let env = Env::start().await;
    env.write_manifest(&standard_manifest());
    env.apply(&[]).assert_exit(0);
    let id = env.existing_role(ARCHIVER_ROLE).await.external_id();
    let sid = "SegmentFunctionAssumeRole";
    let root = format!("arn:aws:iam::{DESTINATION_ACCOUNT}:root");

    let trust_rewrites: Vec<(&str, String)> = vec![
        (
            "bare account id principal",
            json!({"Version": "2012-10-17", "Statement": [{"Sid": sid, "Effect": "Allow",
                "Principal": {"AWS": DESTINATION_ACCOUNT}, "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": id}}}]})
            .to_string(),
        ),
        (
            "one-element lists instead of scalars",
            json!({"Version": "2012-10-17", "Statement": {"Sid": sid, "Effect": "Allow",
                "Principal": {"AWS": [root]}, "Action": ["sts:AssumeRole"],
                "Condition": {"StringEquals": {"sts:ExternalId": [id]}}}})
            .to_string(),
        ),
        (
            "re-indented with keys reordered",
            format!(
                "{{\n\t\"Statement\" : [ {{\n      \"Condition\":{{\"StringEquals\":{{\"sts:ExternalId\":\"{id}\"}}}},\n  \"Action\":\"sts:AssumeRole\",\"Principal\":{{\"AWS\":\"{root}\"}},\n\"Effect\":\"Allow\", \"Sid\":\"{sid}\"}} ],\n   \"Version\":\"2012-10-17\"\n}}\n"
            ),
        ),
        (
            "condition key in another case",
            json!({"Version": "2012-10-17", "Statement": [{"Sid": sid, "Effect": "Allow",
                "Principal": {"AWS": root}, "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:externalid": id}}}]})
            .to_string(),
        ),
        (
            "no Sid, as Segment's guide writes it",
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": root}, "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": id}}}]})
            .to_string(),
        ),
        (
            "a Sid of its own",
            json!({"Version": "2012-10-17", "Statement": [{"Sid": "AllowSegment", "Effect": "Allow",
                "Principal": {"AWS": root}, "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": id}}}]})
            .to_string(),
        ),
        (
            "duplicated action",
            json!({"Version": "2012-10-17", "Statement": [{"Sid": sid, "Effect": "Allow",
                "Principal": {"AWS": root}, "Action": ["sts:AssumeRole", "sts:AssumeRole"],
                "Condition": {"StringEquals": {"sts:ExternalId": id}}}]})
            .to_string(),
        ),
    ];
    for (what, document) in &trust_rewrites {
        put_trust(&env, ARCHIVER_ROLE, document).await;
        let out = env.plan(&[]);
        assert_eq!(
            out.status, 0,
            "trust policy rewritten as {what}: {EQUIVALENT_NOTE}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.stdout, out.stderr
        );
    }

    let objects = "arn:aws:s3:::acme-events/segment/*";
    let archiver_rewrites: Vec<(&str, String)> = vec![
        (
            "scalar Action and Resource",
            json!({"Version": "2012-10-17", "Statement": [{"Sid": "BucketWrite", "Effect": "Allow",
                "Action": "s3:PutObject", "Resource": objects}]})
            .to_string(),
        ),
        (
            "action in another case",
            json!({"Version": "2012-10-17", "Statement": [{"Sid": "BucketWrite", "Effect": "Allow",
                "Action": ["S3:PUTOBJECT"], "Resource": [objects]}]})
            .to_string(),
        ),
        (
            "re-indented",
            format!(
                "{{\n    \"Version\": \"2012-10-17\",\n    \"Statement\": [\n        {{\n            \"Sid\": \"BucketWrite\",\n            \"Effect\": \"Allow\",\n            \"Action\": [\n                \"s3:PutObject\"\n            ],\n            \"Resource\": [\n                \"{objects}\"\n            ]\n        }}\n    ]\n}}"
            ),
        ),
    ];
    for (what, document) in &archiver_rewrites {
        put_inline(&env, ARCHIVER_ROLE, document).await;
        let out = env.plan(&[]);
        assert_eq!(
            out.status, 0,
            "inline policy rewritten with {what}: {EQUIVALENT_NOTE}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.stdout, out.stderr
        );
    }

    // The reader's policy has several statements, actions and resources:
    // reorder all of them.
    let reader = env.existing_role(READER_ROLE).await;
    let mut reordered = reader.inline[INLINE].clone();
    let mut list = statements(&reordered);
    list.reverse();
    for statement in &mut list {
        for key in ["Action", "Resource"] {
            if let Value::Array(items) = &mut statement[key] {
                items.reverse();
            }
        }
    }
    reordered["Statement"] = Value::Array(list);
    let sqs = statements(&reordered)
        .into_iter()
        .find(|s| s.to_string().contains("sqs:"))
        .expect("the sqs statement");
    assert!(
        sqs["Action"].as_array().map(|a| a.len()) == Some(2),
        "{reordered:#}"
    );
    put_inline(&env, READER_ROLE, &reordered.to_string()).await;
    let out = env.plan(&[]);
    assert_eq!(
        out.status, 0,
        "reordered statements, actions and resources: {EQUIVALENT_NOTE}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.stdout, out.stderr
    );

    // And apply agrees: it changes nothing, the ID stays.
    env.apply(&[]).assert_exit(0);
    assert_eq!(env.existing_role(ARCHIVER_ROLE).await.external_id(), id);
    assert_eq!(env.bundle_id(BUNDLES, ARCHIVER), id);
}

const LEGACY_ID: &str = "legacyExternalId0123456789abcdefghijklmnopq";

#[tokio::test(flavor = "multi_thread")]
async fn unmanaged_role_is_a_conflict_until_adopted() {
    let env = Env::start().await;
    env.remember_secret(LEGACY_ID);
    env.write_manifest(&standard_manifest());
    let legacy_trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{DESTINATION_ACCOUNT}:root")},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": LEGACY_ID}}}]});
    env.iam
        .create_role()
        .role_name(ARCHIVER_ROLE)
        .path(PATH)
        .assume_role_policy_document(legacy_trust.to_string())
        .send()
        .await
        .expect("create the unmanaged role");
    // The reader's role exists too, with no external ID at all.
    let open_trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{SOURCE_ACCOUNT}:root")},
        "Action": "sts:AssumeRole"}]});
    env.iam
        .create_role()
        .role_name(READER_ROLE)
        .path(PATH)
        .assume_role_policy_document(open_trust.to_string())
        .send()
        .await
        .expect("create the second unmanaged role");

    let plan = env.plan(&[]);
    plan.assert_exit(1)
        .assert_stdout_contains("unmanaged-role")
        .assert_stdout_contains(ARCHIVER_ROLE)
        .assert_stdout_contains("--adopt");

    let refused = env.apply(&[]);
    refused.assert_exit(1);
    assert!(
        refused.stdout.contains("unmanaged-role") || refused.stderr.contains("unmanaged-role"),
        "apply names the conflict\n{}\n{}",
        refused.stdout,
        refused.stderr
    );
    let untouched = env.existing_role(ARCHIVER_ROLE).await;
    assert!(
        untouched.tags.is_empty(),
        "tags added: {:?}",
        untouched.tags
    );
    assert!(untouched.inline.is_empty(), "inline policy added");
    assert!(untouched.attached.is_empty(), "policy attached");
    assert_eq!(untouched.external_ids(), [LEGACY_ID]);
    assert!(
        env.existing_role(READER_ROLE).await.tags.is_empty(),
        "the other conflicting role was changed"
    );
    assert!(
        !env.bundle_path(BUNDLES, ARCHIVER).exists(),
        "bundle written"
    );

    env.plan(&["--adopt"]).assert_exit(2);
    env.apply(&["--adopt"]).assert_exit(0);

    let adopted = env.existing_role(ARCHIVER_ROLE).await;
    assert_archiver_as_declared_with_id(&adopted, LEGACY_ID);
    assert_eq!(
        env.bundle_id(BUNDLES, ARCHIVER),
        LEGACY_ID,
        "bundle has the kept ID"
    );
    let reader = env.existing_role(READER_ROLE).await;
    assert_reader_as_declared(&reader);
    assert_bundle_matches(&env, READER, &reader);

    env.plan(&[]).assert_exit(0);
}

/// Like `assert_archiver_as_declared`, for a role whose ID is not fnctl's shape.
fn assert_archiver_as_declared_with_id(role: &RoleState, id: &str) {
    assert_eq!(
        role.external_ids(),
        [id],
        "adoption must keep the external ID"
    );
    assert_owned_tags(role, SCOPE, ARCHIVER);
    assert_eq!(role.description.as_deref(), Some("Segment S3 archiver"));
    assert_eq!(role.max_session_duration, Some(7200));
    assert_eq!(role.boundary.as_deref(), Some(boundary_arn().as_str()));
    assert_eq!(role.inline.keys().collect::<Vec<_>>(), [INLINE]);
    assert_eq!(role.attached, BTreeSet::from([extra_policy_arn()]));
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_deletes_only_owned_roles_of_the_scope() {
    let env = Env::start().await;
    env.write_manifest(&standard_manifest());
    env.apply(&[]).assert_exit(0);

    // Another scope's role and an untagged role under the same path.
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{DESTINATION_ACCOUNT}:root")},
        "Action": "sts:AssumeRole"}]})
    .to_string();
    let tag = |k: &str, v: &str| {
        aws_sdk_iam::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
            .unwrap()
    };
    env.iam
        .create_role()
        .role_name("segment-fn-elsewhere")
        .path(PATH)
        .assume_role_policy_document(&trust)
        .tags(tag("fnctl:managed-by", "fnctl"))
        .tags(tag("fnctl:scope", "other"))
        .tags(tag("fnctl:instance", "elsewhere"))
        .send()
        .await
        .unwrap();
    env.iam
        .create_role()
        .role_name("segment-fn-handmade")
        .path(PATH)
        .assume_role_policy_document(&trust)
        .send()
        .await
        .unwrap();
    for role in ["segment-fn-elsewhere", "segment-fn-handmade"] {
        put_inline(
            &env,
            role,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::x/*"}]}"#,
        )
        .await;
        env.iam
            .attach_role_policy()
            .role_name(role)
            .policy_arn(extra_policy_arn())
            .send()
            .await
            .unwrap();
    }
    let bystanders = || async {
        for role in ["segment-fn-elsewhere", "segment-fn-handmade"] {
            let state = env.existing_role(role).await;
            assert_eq!(state.inline.len(), 1, "{role} lost its inline policy");
            assert_eq!(state.attached.len(), 1, "{role} lost its attachment");
        }
    };

    // Remove the reader from the manifest.
    env.write_manifest(&manifest(SCOPE, &archiver_yaml()));
    let plan = env.plan(&[]);
    plan.assert_exit(0)
        .assert_stdout_contains("orphaned-role")
        .assert_stdout_contains(READER_ROLE)
        .assert_stdout_contains("--prune");
    assert!(
        !plan.stdout.contains("segment-fn-elsewhere")
            && !plan.stdout.contains("segment-fn-handmade"),
        "plan mentions roles it does not own:\n{}",
        plan.stdout
    );
    env.apply(&[]).assert_exit(0);
    assert!(
        env.role(READER_ROLE).await.is_some(),
        "deleted without --prune"
    );

    env.plan(&["--prune"])
        .assert_exit(2)
        .assert_stdout_contains("Plan: 0 to create, 0 to update, 1 to delete.");
    env.apply(&["--prune"]).assert_exit(0);
    assert!(
        env.role(READER_ROLE).await.is_none(),
        "--prune kept the role"
    );
    assert_archiver_as_declared(&env.existing_role(ARCHIVER_ROLE).await);
    bystanders().await;
    env.plan(&["--prune"]).assert_exit(0);

    // Even with nothing of the scope left to prune, the others stay.
    env.apply(&["--prune"]).assert_exit(0);
    bystanders().await;
    assert_eq!(
        env.role_names().await,
        BTreeSet::from([
            ARCHIVER_ROLE.to_string(),
            "segment-fn-elsewhere".to_string(),
            "segment-fn-handmade".to_string()
        ])
    );
}

fn with_file(cmd: &[&'static str], dir: &'static str) -> Vec<&'static str> {
    let mut args = cmd.to_vec();
    args.extend_from_slice(&["-f", dir]);
    args
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_prune_plan_deletes_the_orphan() {
    let env = Env::start().await;
    env.write_manifest(&standard_manifest());
    env.apply(&[]).assert_exit(0);
    env.write_manifest(&manifest(SCOPE, &archiver_yaml()));
    env.fnctl(&["plan", "--prune", "--out", "prune.json"])
        .assert_exit(0)
        .assert_stdout_contains("1 to delete");
    env.fnctl(&[
        "apply",
        "--plan",
        "prune.json",
        "--auto-approve",
        "--bundle-dir",
        BUNDLES,
    ])
    .assert_exit(0);
    assert!(
        env.role(READER_ROLE).await.is_none(),
        "the saved prune plan kept the role"
    );
    assert_archiver_as_declared(&env.existing_role(ARCHIVER_ROLE).await);
    env.plan(&["--prune"]).assert_exit(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_scopes_in_one_account_do_not_interfere() {
    let env = Env::start().await;
    env.write("team-a/main.yaml", &manifest("team-a", &archiver_yaml()));
    env.write("team-b/main.yaml", &manifest("team-b", &reader_yaml()));
    let a = |cmd: &[&'static str]| with_file(cmd, "team-a");
    let b = |cmd: &[&'static str]| with_file(cmd, "team-b");
    let apply = ["apply", "--auto-approve", "--prune", "--bundle-dir"];
    env.fnctl(&a(&[&apply[..], &["bundles-a"]].concat()))
        .assert_exit(0);
    env.fnctl(&b(&[&apply[..], &["bundles-b"]].concat()))
        .assert_exit(0);
    env.fnctl(&a(&["plan", "--detailed-exitcode", "--prune"]))
        .assert_exit(0);
    let plan_b = env.fnctl(&b(&["plan", "--detailed-exitcode", "--prune"]));
    plan_b.assert_exit(0);
    assert!(
        !plan_b.stdout.contains(ARCHIVER_ROLE),
        "scope team-b's plan mentions team-a's role:\n{}",
        plan_b.stdout
    );
    env.fnctl(&a(&[&apply[..], &["bundles-a"]].concat()))
        .assert_exit(0);
    let archiver = env.existing_role(ARCHIVER_ROLE).await;
    assert_owned_tags(&archiver, "team-a", ARCHIVER);
    let reader = env.existing_role(READER_ROLE).await;
    assert_owned_tags(&reader, "team-b", READER);

    // The same role name claimed by another scope is a conflict, not a takeover.
    env.write(
        "team-b/main.yaml",
        &format!("{}{}", manifest("team-b", &reader_yaml()), archiver_yaml()),
    );
    let conflict = env.fnctl(&b(&["plan", "--detailed-exitcode"]));
    conflict
        .assert_exit(1)
        .assert_stdout_contains(ARCHIVER_ROLE)
        .assert_stdout_contains("team-a");
    env.fnctl(&b(&[
        "apply",
        "--auto-approve",
        "--adopt",
        "--bundle-dir",
        "bundles-b",
    ]))
    .assert_exit(1);
    assert_owned_tags(&env.existing_role(ARCHIVER_ROLE).await, "team-a", ARCHIVER);
}

/// An instance with nothing inline: its plan has no PutRolePolicy step.
fn bare_yaml() -> String {
    format!(
        "  - name: bare\n    kind: destination\n    role:\n      description: no inline policy\n    managedPolicies: [\"{}\"]\n",
        extra_policy_arn()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_plan_creates_roles() {
    let env = Env::start().await;
    env.write_manifest(&standard_manifest());
    env.fnctl(&["plan", "--out", "create.json"]).assert_exit(0);
    env.fnctl(&[
        "apply",
        "--plan",
        "create.json",
        "--auto-approve",
        "--bundle-dir",
        BUNDLES,
    ])
    .assert_exit(0);
    let archiver = env.existing_role(ARCHIVER_ROLE).await;
    assert_archiver_as_declared(&archiver);
    assert_bundle_matches(&env, ARCHIVER, &archiver);
    let reader = env.existing_role(READER_ROLE).await;
    assert_reader_as_declared(&reader);
    assert_bundle_matches(&env, READER, &reader);
    env.plan(&[]).assert_exit(0);

    // The same plan again: the roles it would create now exist.
    env.fnctl(&[
        "apply",
        "--plan",
        "create.json",
        "--auto-approve",
        "--bundle-dir",
        BUNDLES,
    ])
    .assert_exit(1)
    .assert_stderr_contains("stale");
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_plan_is_refused_once_iam_moved() {
    let env = Env::start().await;
    env.write_manifest(&standard_manifest());
    env.apply(&[]).assert_exit(0);
    let id = env.existing_role(ARCHIVER_ROLE).await.external_id();

    // A plan to restore a tag, then IAM moves before it is applied.
    env.iam
        .untag_role()
        .role_name(ARCHIVER_ROLE)
        .tag_keys("cost-center")
        .send()
        .await
        .unwrap();
    env.fnctl(&["plan", "--out", "tag.json"]).assert_exit(0);
    env.iam
        .update_role_description()
        .role_name(ARCHIVER_ROLE)
        .description("changed by hand")
        .send()
        .await
        .unwrap();
    let stale = env.fnctl(&[
        "apply",
        "--plan",
        "tag.json",
        "--auto-approve",
        "--bundle-dir",
        BUNDLES,
    ]);
    stale
        .assert_exit(1)
        .assert_stderr_contains("stale")
        .assert_stderr_contains(ARCHIVER_ROLE);
    let after = env.existing_role(ARCHIVER_ROLE).await;
    assert!(
        !after.tags.contains_key("cost-center"),
        "a stale plan was applied"
    );
    assert_eq!(after.description.as_deref(), Some("changed by hand"));
    assert_eq!(after.external_id(), id);

    // A fresh plan saved and applied converges.
    env.fnctl(&["plan", "--out", "fresh.json"]).assert_exit(0);
    env.fnctl(&[
        "apply",
        "--plan",
        "fresh.json",
        "--auto-approve",
        "--bundle-dir",
        BUNDLES,
    ])
    .assert_exit(0);
    let repaired = env.existing_role(ARCHIVER_ROLE).await;
    assert_archiver_as_declared(&repaired);
    assert_eq!(repaired.external_id(), id);
    env.plan(&[]).assert_exit(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_plan_for_a_create_is_refused_when_the_role_appeared() {
    let env = Env::start().await;
    env.write_manifest(&manifest(SCOPE, &bare_yaml()));
    env.fnctl(&["plan", "--out", "p.json"]).assert_exit(0);
    env.iam
        .create_role()
        .role_name("segment-fn-bare")
        .path(PATH)
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    env.fnctl(&[
        "apply",
        "--plan",
        "p.json",
        "--auto-approve",
        "--bundle-dir",
        BUNDLES,
    ])
    .assert_exit(1)
    .assert_stderr_contains("segment-fn-bare")
    .assert_stderr_contains("stale");
    let role = env.existing_role("segment-fn-bare").await;
    assert!(
        role.tags.is_empty() && role.attached.is_empty(),
        "changed: {role:?}"
    );
    assert!(!env.bundle_path(BUNDLES, "bare").exists(), "bundle written");
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_saved_plan_is_refused() {
    let env = Env::start().await;
    env.write_manifest(&manifest(SCOPE, &bare_yaml()));
    env.fnctl(&["plan", "--out", "p.json"]).assert_exit(0);
    let path = env.path().join("p.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode & 0o077,
            0,
            "saved plan is readable by others: {mode:o}"
        );
    }
    let original = std::fs::read_to_string(&path).unwrap();
    let mut edited: Value = serde_json::from_str(&original).expect("a saved plan is JSON");
    // Edit one field: the description the role would be created with.
    let text = edited.to_string();
    assert!(text.contains("no inline policy"), "{original}");
    edited =
        serde_json::from_str(&text.replace("no inline policy", "tampered description")).unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    let out = env.fnctl(&[
        "apply",
        "--plan",
        "p.json",
        "--auto-approve",
        "--bundle-dir",
        BUNDLES,
    ]);
    out.assert_exit(1);
    assert!(
        out.stderr.contains("modified") || out.stderr.contains("checksum"),
        "the refusal says the file was modified:\n{}",
        out.stderr
    );
    assert!(
        env.role_names().await.is_empty(),
        "a tampered plan was applied"
    );

    // The untouched file would have been accepted.
    std::fs::write(&path, &original).unwrap();
    env.fnctl(&[
        "apply",
        "--plan",
        "p.json",
        "--auto-approve",
        "--bundle-dir",
        BUNDLES,
    ])
    .assert_exit(0);
    let role = env.existing_role("segment-fn-bare").await;
    assert_eq!(role.description.as_deref(), Some("no inline policy"));
    assert_bundle_matches(&env, "bare", &role);

    // A file that is not a plan at all is refused.
    std::fs::write(&path, "not a plan").unwrap();
    env.fnctl(&[
        "apply",
        "--plan",
        "p.json",
        "--auto-approve",
        "--bundle-dir",
        BUNDLES,
    ])
    .assert_exit(1);
}

#[tokio::test(flavor = "multi_thread")]
async fn account_guard_stops_plan_and_apply_before_any_write() {
    let env = Env::start().await;
    let text =
        standard_manifest().replace("defaults:\n", "defaults:\n  account: \"999999999999\"\n");
    assert!(text.contains("999999999999"));
    env.write_manifest(&text);
    for out in [
        env.plan(&[]),
        env.apply(&[]),
        env.apply(&["--adopt", "--prune"]),
    ] {
        out.assert_exit(1)
            .assert_stderr_contains("999999999999")
            .assert_stderr_contains(MOTO_ACCOUNT);
    }
    assert!(
        env.role_names().await.is_empty(),
        "roles created in the wrong account"
    );
    assert!(!env.path().join(BUNDLES).exists(), "bundles written");
}

#[tokio::test(flavor = "multi_thread")]
async fn external_ids_never_appear_in_any_output() {
    let env = Env::start().await;
    env.write_manifest(&standard_manifest());
    env.fnctl(&["-vv", "plan"])
        .assert_exit(0)
        .assert_stdout_contains("(sensitive)");
    env.fnctl(&["-vv", "apply", "--auto-approve", "--bundle-dir", BUNDLES])
        .assert_exit(0);
    let archiver = env.existing_role(ARCHIVER_ROLE).await;
    let id = assert_bundle_matches(&env, ARCHIVER, &archiver);
    let reader_id = env.existing_role(READER_ROLE).await.external_id();
    assert_bundle_matches(&env, READER, &env.existing_role(READER_ROLE).await);

    // Make the plan show trust-policy diffs around the live ID: another
    // principal next to Segment's, and the reader's ID replaced by hand.
    let mut trust = archiver.trust.clone();
    trust["Statement"][0]["Principal"]["AWS"] = json!([
        format!("arn:aws:iam::{DESTINATION_ACCOUNT}:root"),
        "arn:aws:iam::111122223333:root"
    ]);
    put_trust(&env, ARCHIVER_ROLE, &trust.to_string()).await;
    let replaced = "handReplacedExternalId0123456789ABCDEFGHIJKLMN";
    env.remember_secret(replaced);
    let mut reader_trust = env.existing_role(READER_ROLE).await.trust;
    reader_trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] =
        json!([reader_id, replaced]);
    put_trust(&env, READER_ROLE, &reader_trust.to_string()).await;

    let text = env.fnctl(&["-vv", "plan", "--detailed-exitcode", "--out", "p.json"]);
    text.assert_exit(2);
    env.fnctl(&["-vv", "plan", "--format", "json"])
        .assert_exit(0);
    env.fnctl(&["-vv", "plan", "--format", "markdown"])
        .assert_exit(0);
    let saved = std::fs::read_to_string(env.path().join("p.json")).unwrap();
    assert!(!saved.contains(&id) && !saved.contains(replaced) && !saved.contains(&reader_id));
    env.fnctl(&[
        "-vv",
        "apply",
        "--plan",
        "p.json",
        "--auto-approve",
        "--bundle-dir",
        BUNDLES,
    ])
    .assert_exit(0);
    env.fnctl(&["-vv", "plan", "--detailed-exitcode"])
        .assert_exit(0);
    // Errors too: a stale plan and a manifest error.
    env.fnctl(&["-vv", "apply", "--plan", "p.json", "--auto-approve"])
        .assert_exit(1);
    let after = env.existing_role(ARCHIVER_ROLE).await;
    assert_archiver_as_declared(&after);
    assert_eq!(
        after.external_id(),
        id,
        "repairing the principal kept the ID"
    );
    // The leak check itself runs when `env` drops; run it here as well so a
    // failure points at this test's body.
    env.assert_no_secret_leaked();
}
