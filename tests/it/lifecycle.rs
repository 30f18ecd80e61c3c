//! The rest of the external-ID lifecycle (issue 5), with the real binary
//! against moto: adoption keeps a running function's ID (and flags weak or
//! missing ones), `fnctl bundle` writes bundles from IAM as it is, and
//! `fnctl verify` finds each way a function or its role can be broken.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::support::env::{Env, BUNDLES};
use crate::support::external_id::test_id;
use crate::support::spec::*;
use crate::support::trust::trust_document;

const ALPHA: &str = "alpha";
const BETA: &str = "beta";

fn manifest() -> String {
    r#"version: 1
defaults:
  scope: lifecycle
instances:
  - name: alpha
    kind: destination
    bucket: { name: lifecycle-events, region: us-west-2, prefix: segment/ }
    settings: { flushEvery: 100 }
  - name: beta
    kind: source
    bucket: { name: lifecycle-exports, region: us-east-1, access: read }
"#
    .to_string()
}

fn adoption_manifest() -> String {
    r#"version: 1
defaults:
  scope: lifecycle
instances:
  - name: kept
    kind: destination
    bucket: { name: adopted-events, region: us-east-1 }
  - name: weak
    kind: destination
  - name: open
    kind: source
"#
    .to_string()
}

fn notices_with(plan_json: &str, code: &str) -> Vec<Value> {
    let parsed: Value = serde_json::from_str(plan_json)
        .unwrap_or_else(|e| panic!("plan --format json is not JSON ({e}):\n{plan_json}"));
    parsed["notices"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n["code"] == code)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn adoption_keeps_the_running_id_flags_weak_ones_and_fills_missing_ones() {
    let env = Env::with_manifest(&adoption_manifest()).await;
    // Roles made by hand, as Segment's docs describe (bare account principal).
    let kept_id = "Kept-by-hand_0123456789abcdefghijklmnopq"; // 40 characters
    let weak_id = "short12345"; // 10 characters
    assert_eq!(kept_id.len(), 40);
    env.create_role(
        &role_of("kept"),
        &json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "AWS": DESTINATION_ACCOUNT },
                "Action": "sts:AssumeRole",
                "Condition": { "StringEquals": { "sts:ExternalId": kept_id } }
            }]
        }),
    )
    .await;
    env.create_role(
        &role_of("weak"),
        &trust_document(DESTINATION_ACCOUNT, &[weak_id]),
    )
    .await;
    env.create_role(&role_of("open"), &trust_document(SOURCE_ACCOUNT, &[]))
        .await;

    // Without --adopt: conflicts, nothing changes.
    let refused = env.apply(&[]);
    assert_ne!(
        refused.status, 0,
        "apply without --adopt must refuse unmanaged roles"
    );
    assert_eq!(env.trust_ids(&role_of("kept")).await, vec![kept_id]);
    assert!(!env
        .tags(&role_of("kept"))
        .await
        .contains_key("fnctl:managed-by"));

    let plan = env.fnctl(&["plan", "--adopt", "--format", "json"]);
    plan.assert_success();
    let weak = notices_with(&plan.stdout, "weak-external-id");
    assert_eq!(
        weak.len(),
        1,
        "one weak-external-id notice:\n{}",
        plan.stdout
    );
    assert_eq!(weak[0]["instance"], "weak");
    assert_eq!(weak[0]["level"], "warning");
    assert!(
        weak[0]["hint"].as_str().unwrap_or("").contains("rotate"),
        "the weak-ID warning suggests rotation: {}",
        weak[0]
    );
    let fresh = notices_with(&plan.stdout, "new-external-id");
    assert_eq!(
        fresh.len(),
        1,
        "one new-external-id notice:\n{}",
        plan.stdout
    );
    assert_eq!(fresh[0]["instance"], "open");
    assert!(
        fresh[0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("settings must be updated"),
        "plan says plainly the function's settings must be updated: {}",
        fresh[0]
    );
    let text_plan = env.fnctl(&["plan", "--adopt"]);
    let text = format!("{}{}", text_plan.stdout, text_plan.stderr);
    assert!(text.contains("weak-external-id"), "{text}");
    assert!(text.contains("new-external-id"), "{text}");

    let applied = env.fnctl(&[
        "apply",
        "--adopt",
        "--auto-approve",
        "--bundle-dir",
        BUNDLES,
    ]);
    applied.assert_success();
    let applied_text = format!("{}{}", applied.stdout, applied.stderr);
    assert!(
        applied_text.contains("weak-external-id"),
        "apply repeats the weak-ID warning:\n{applied_text}"
    );

    // A running function keeps working: the kept and weak IDs are unchanged.
    assert_eq!(env.trust_ids(&role_of("kept")).await, vec![kept_id]);
    assert_eq!(env.bundle_id(BUNDLES, "kept"), kept_id);
    assert_eq!(env.trust_ids(&role_of("weak")).await, vec![weak_id]);
    assert_eq!(env.bundle_id(BUNDLES, "weak"), weak_id);
    // The role without a condition gets a fresh 48-character ID.
    let open_ids = env.trust_ids(&role_of("open")).await;
    assert_eq!(open_ids.len(), 1, "an external ID condition was added");
    let open_id = &open_ids[0];
    assert_eq!(open_id.len(), 48);
    assert!(open_id.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(&env.bundle_id(BUNDLES, "open"), open_id);
    for instance in ["kept", "weak", "open"] {
        let tags = env.tags(&role_of(instance)).await;
        assert_eq!(
            tags.get("fnctl:managed-by").map(String::as_str),
            Some("fnctl")
        );
        assert_eq!(
            tags.get("fnctl:scope").map(String::as_str),
            Some("lifecycle")
        );
    }
    env.assert_plan_clean("after adoption (plan without --adopt)");
    env.assert_verified(BUNDLES, "after adoption");

    // Rotation is the cure for the weak ID.
    env.fnctl(&["rotate", "weak", "--start", "--bundle-dir", BUNDLES])
        .assert_success();
    env.fnctl(&[
        "rotate",
        "weak",
        "--finish",
        "--force",
        "--bundle-dir",
        BUNDLES,
    ])
    .assert_success();
    let rotated = env.bundle_id(BUNDLES, "weak");
    assert_eq!(rotated.len(), 48);
    assert_eq!(env.trust_ids(&role_of("weak")).await, vec![rotated.clone()]);
    let plan = env.fnctl(&["plan", "--detailed-exitcode"]);
    plan.assert_exit(0);
    assert!(
        !format!("{}{}", plan.stdout, plan.stderr).contains("weak-external-id"),
        "no weak-ID warning after rotation"
    );

    env.assert_no_leak(
        &[
            kept_id.to_string(),
            weak_id.to_string(),
            open_id.clone(),
            rotated,
        ],
        &[&role_of("kept"), &role_of("weak"), &role_of("open")],
    )
    .await;
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn files_in(dir: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bundle_writes_what_apply_wrote_and_changes_nothing() {
    let env = Env::with_manifest(&manifest()).await;
    env.apply(&[]).assert_success();
    let roles = [role_of(ALPHA), role_of(BETA)];
    let mut before = Vec::new();
    for role in &roles {
        before.push((env.trust(role).await, env.tags(role).await));
    }

    env.fnctl(&["bundle", "--out-dir", "exported"])
        .assert_success();
    assert_eq!(
        files_in(&env.path().join("exported")),
        BTreeSet::from(["alpha.json".to_string(), "beta.json".to_string()]),
        "one bundle per instance, no temporary files"
    );
    for instance in [ALPHA, BETA] {
        assert_eq!(
            env.bundle("exported", instance),
            env.bundle(BUNDLES, instance),
            "fnctl bundle and apply agree on {instance}"
        );
        assert_eq!(mode_of(&env.bundle_path("exported", instance)), 0o600);
    }
    assert_eq!(
        env.bundle("exported", ALPHA)["settings"]["flushEvery"],
        100,
        "manifest settings are merged in"
    );

    env.fnctl(&["bundle", "--out-dir", "one", "--instance", BETA])
        .assert_success();
    assert_eq!(
        files_in(&env.path().join("one")),
        BTreeSet::from(["beta.json".to_string()]),
        "--instance picks one"
    );
    assert_eq!(env.bundle("one", BETA), env.bundle(BUNDLES, BETA));

    let unknown = env.fnctl(&["bundle", "--out-dir", "none", "--instance", "nosuch"]);
    unknown.assert_exit(1).assert_stderr_contains("nosuch");
    assert!(!env.path().join("none").join("nosuch.json").exists());

    for (role, (trust, tags)) in roles.iter().zip(&before) {
        assert_eq!(
            &env.trust(role).await,
            trust,
            "fnctl bundle changed {role}'s trust"
        );
        assert_eq!(
            &env.tags(role).await,
            tags,
            "fnctl bundle changed {role}'s tags"
        );
    }
    env.assert_plan_clean("after fnctl bundle");

    // During a rotation, bundle writes the new (pending) ID, like rotate --start.
    env.fnctl(&["rotate", ALPHA, "--start", "--bundle-dir", BUNDLES])
        .assert_success();
    env.fnctl(&["bundle", "--out-dir", "rotating"])
        .assert_success();
    assert_eq!(
        env.bundle_id("rotating", ALPHA),
        env.bundle_id(BUNDLES, ALPHA)
    );
    assert_ne!(
        env.bundle_id("rotating", ALPHA),
        env.bundle_id("exported", ALPHA)
    );

    let ids = vec![
        env.bundle_id("exported", ALPHA),
        env.bundle_id("rotating", ALPHA),
        env.bundle_id("exported", BETA),
    ];
    env.assert_no_leak(&ids, &[&roles[0], &roles[1]]).await;
}

/// verify must exit 1 and name `code` (and the instance).
#[track_caller]
fn assert_finding(env: &Env, bundle_dir: &str, code: &str, instance: &str) {
    let out = env.verify(bundle_dir);
    out.assert_exit(1).assert_stdout_contains(code);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(code))
        .unwrap()
        .to_string();
    assert!(line.contains(instance), "finding names {instance}: {line}");
    let json_out = env.fnctl(&["verify", "--bundle-dir", bundle_dir, "--format", "json"]);
    json_out.assert_exit(1);
    let parsed: Value = serde_json::from_str(&json_out.stdout).unwrap();
    assert_eq!(parsed["ok"], false);
    assert!(
        parsed["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == code && f["instance"] == instance),
        "{parsed:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_finds_every_way_a_function_or_its_role_breaks() {
    let env = Env::with_manifest(&manifest()).await;
    env.apply(&[]).assert_success();
    let alpha = role_of(ALPHA);
    env.assert_verified(BUNDLES, "right after apply");
    let id = env.bundle_id(BUNDLES, ALPHA);

    // Missing bundle.
    env.snapshot_bundles(BUNDLES, "partial");
    std::fs::remove_file(env.bundle_path("partial", ALPHA)).unwrap();
    assert_finding(&env, "partial", "bundle-missing", ALPHA);

    // A bundle with a wrong ID.
    env.snapshot_bundles(BUNDLES, "wrong");
    let mut bundle = env.bundle(BUNDLES, ALPHA);
    let wrong_id = test_id("WrongWrongWrongNotTheIdOfThisRole");
    bundle["settings"]["iamRoleExternalId"] = json!(wrong_id);
    env.put_bundle("wrong", ALPHA, &bundle);
    assert_finding(&env, "wrong", "bundle-external-id-rejected", ALPHA);
    env.assert_verified(BUNDLES, "the right bundle still passes");

    // An extra principal in the trust policy.
    let mut trust = trust_document(DESTINATION_ACCOUNT, &[&id]);
    trust["Statement"][0]["Principal"]["AWS"] = json!([
        format!("arn:aws:iam::{DESTINATION_ACCOUNT}:root"),
        "arn:aws:iam::111122223333:root"
    ]);
    env.put_trust(&alpha, &trust).await;
    assert_finding(&env, BUNDLES, "trust-admits-other-principal", ALPHA);
    env.apply(&[]).assert_success();
    env.assert_verified(BUNDLES, "after apply repaired the principal");

    // The inline policy deleted.
    env.iam
        .delete_role_policy()
        .role_name(&alpha)
        .policy_name("fnctl-permissions")
        .send()
        .await
        .expect("DeleteRolePolicy");
    assert_finding(&env, BUNDLES, "permissions-missing", ALPHA);
    env.apply(&[]).assert_success();
    env.assert_verified(BUNDLES, "after apply restored the inline policy");

    // The inline policy edited by hand to grant object writes on a bucket
    // itself: by AWS's reference that grant can never be exercised.
    let never = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": ["arn:aws:s3:::a-bucket-not-its-objects"]
        }]
    });
    env.iam
        .put_role_policy()
        .role_name(&alpha)
        .policy_name("fnctl-permissions")
        .policy_document(never.to_string())
        .send()
        .await
        .expect("PutRolePolicy");
    assert_finding(&env, BUNDLES, "permission-never-exercised", ALPHA);
    env.apply(&[]).assert_success();
    env.assert_verified(
        BUNDLES,
        "after apply replaced the hand-edited inline policy",
    );

    // The external ID condition removed: any Segment customer could assume it.
    env.put_trust(&alpha, &trust_document(DESTINATION_ACCOUNT, &[]))
        .await;
    assert_finding(&env, BUNDLES, "trust-admits-without-external-id", ALPHA);
    env.apply(&[]).assert_success();
    env.assert_verified(BUNDLES, "after apply restored a condition");
    let new_id = env.bundle_id(BUNDLES, ALPHA);

    env.assert_no_leak(&[id, new_id], &[&alpha, &role_of(BETA)])
        .await;
}
