//! Hand edits of the trust policy during an external-ID rotation (issue 12,
//! item 2), with the real binary against moto: one of the two IDs is
//! removed with the SDK behind fnctl's back. `drift` must call it a lock-out,
//! `plan` must say what apply does about it, `apply` must never be the step
//! that locks out the function the bundle on disk configures, and the
//! rotation must still finish. The whole decision table, with the reason for
//! every row, is `src/plan/external_id_table_tests.rs`.

use crate::support::env::{Env, BUNDLES};
use crate::support::external_id::{fingerprint, sorted};
use crate::support::spec::*;
use crate::support::trust::trust_document;
use serde_json::Value;

const ALPHA: &str = "alpha";

fn manifest() -> String {
    r#"version: 1
defaults:
  scope: hand-edits
instances:
  - name: alpha
    kind: destination
    bucket: { name: hand-edit-events, region: us-east-1, prefix: segment/ }
"#
    .to_string()
}

fn rotate(env: &Env, args: &[&str]) -> crate::support::command::Output {
    let mut all = vec!["rotate"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--bundle-dir", BUNDLES]);
    env.fnctl(&all)
}

/// apply, snapshot the bundle in `old-bundles/`, `rotate --start`: (old, new).
async fn rotating(env: &Env) -> (String, String) {
    env.apply(&[]).assert_success();
    let old = env.bundle_id(BUNDLES, ALPHA);
    env.snapshot_bundles(BUNDLES, "old-bundles");
    rotate(env, &[ALPHA, "--start"]).assert_success();
    let new = env.bundle_id(BUNDLES, ALPHA);
    assert_ne!(new, old, "--start writes a new ID to the bundle");
    assert_eq!(
        sorted(env.trust_ids(&role_of(ALPHA)).await),
        sorted(vec![old.clone(), new.clone()])
    );
    (old, new)
}

/// `drift --format json`: exit code and (category, severity) of every finding.
fn drift(env: &Env) -> (i32, Vec<(String, String)>) {
    let out = env.fnctl(&["drift", "--format", "json"]);
    let report: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("drift JSON: {e}\n{}\n{}", out.stdout, out.stderr));
    let mut found: Vec<(String, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["category"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    (out.status, found)
}

/// `plan --format json --bundle-dir bundles`.
fn plan(env: &Env) -> (i32, Vec<String>, Option<usize>) {
    plan_with(env, BUNDLES)
}

/// `plan --format json --bundle-dir DIR`: exit code, notice codes, and the
/// number of external IDs the planned trust policy holds (`None` without a
/// trust step).
fn plan_with(env: &Env, bundle_dir: &str) -> (i32, Vec<String>, Option<usize>) {
    let out = env.fnctl(&[
        "plan",
        "--format",
        "json",
        "--detailed-exitcode",
        "--bundle-dir",
        bundle_dir,
    ]);
    let parsed: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("plan JSON: {e}\n{}\n{}", out.stdout, out.stderr));
    let notices = parsed["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["code"].as_str().unwrap().to_string())
        .collect();
    let trust_ids = parsed["changes"].as_array().unwrap().iter().find_map(|c| {
        c["steps"].as_array().unwrap().iter().find_map(|s| {
            (s["operation"] == "update-trust-policy")
                .then(|| s["trust_policy"]["external_ids"].as_array().unwrap().len())
        })
    });
    (out.status, notices, trust_ids)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hand_removed_new_id_is_drift_and_apply_restores_it_from_the_bundle() {
    let env = Env::with_manifest(&manifest()).await;
    let alpha = role_of(ALPHA);
    let (old, new) = rotating(&env).await;

    // Someone takes the new ID out of the trust policy by hand.
    env.put_trust(&alpha, &trust_document(DESTINATION_ACCOUNT, &[&old]))
        .await;

    let (status, found) = drift(&env);
    assert_eq!(status, 2, "a lost pending ID is drift: {found:?}");
    assert!(
        found.contains(&("rotation-new-id-removed".into(), "high".into())),
        "drift names the lost new ID, high: {found:?}"
    );
    assert!(
        !found.iter().any(|(c, _)| c == "external-id-mismatch"),
        "the current ID is still accepted; the finding is a distinct one: {found:?}"
    );

    let (status, notices, trust_ids) = plan(&env);
    assert_eq!(status, 2, "plan has changes: {notices:?}");
    assert!(
        notices.contains(&"external-id-restored".to_string()),
        "plan says it restores the ID: {notices:?}"
    );
    assert!(!notices.contains(&"rotation-abandoned".to_string()));
    assert_eq!(trust_ids, Some(2), "the planned trust policy holds two IDs");

    env.apply(&[]).assert_success();
    assert_eq!(
        sorted(env.trust_ids(&alpha).await),
        sorted(vec![old.clone(), new.clone()]),
        "apply puts the new ID back beside the old one"
    );
    assert_eq!(
        env.bundle_id(BUNDLES, ALPHA),
        new,
        "the bundle keeps the new ID"
    );
    let tags = env.tags(&alpha).await;
    assert_eq!(
        tags[TAG_PENDING],
        fingerprint(&new),
        "the rotation is still in progress"
    );
    assert_eq!(tags[TAG_EXTERNAL_ID], fingerprint(&old));
    assert!(tags.contains_key(TAG_STARTED));
    env.assert_verified(BUNDLES, "after the restore, with the new bundle");
    env.assert_verified("old-bundles", "after the restore, with the old bundle");
    env.assert_plan_clean("after the restore");
    assert_eq!(drift(&env), (0, vec![]), "no drift after the restore");

    rotate(&env, &[ALPHA, "--finish", "--min-age", "0s"]).assert_success();
    assert_eq!(env.trust_ids(&alpha).await, vec![new.clone()]);
    assert_eq!(env.bundle_id(BUNDLES, ALPHA), new);
    let tags = env.tags(&alpha).await;
    assert_eq!(tags[TAG_EXTERNAL_ID], fingerprint(&new));
    assert!(!tags.contains_key(TAG_PENDING), "{tags:?}");
    env.assert_verified(BUNDLES, "after --finish");
    env.assert_plan_clean("after --finish");
    env.assert_no_leak(&[old, new], &[&alpha]).await;
}

/// Before apply has put a hand-removed new ID back, neither `rotate
/// --finish` nor `fnctl bundle` may lose it: the finish would drop the
/// rotation's record of it and the bundle command would overwrite the only
/// copy with the old ID. Both refuse, write nothing, and name `apply`.
#[tokio::test(flavor = "multi_thread")]
async fn finish_and_bundle_before_apply_keep_a_hand_removed_new_id() {
    let env = Env::with_manifest(&manifest()).await;
    let alpha = role_of(ALPHA);
    let (old, new) = rotating(&env).await;
    env.put_trust(&alpha, &trust_document(DESTINATION_ACCOUNT, &[&old]))
        .await;
    let tags_before = env.tags(&alpha).await;

    rotate(&env, &[ALPHA, "--finish", "--force"])
        .assert_exit(1)
        .assert_stderr_contains("fnctl apply");
    env.fnctl(&["bundle", "--out-dir", BUNDLES])
        .assert_exit(1)
        .assert_stderr_contains("fnctl apply");
    assert_eq!(env.trust_ids(&alpha).await, vec![old.clone()]);
    assert_eq!(
        env.tags(&alpha).await,
        tags_before,
        "no tag written or removed"
    );
    assert_eq!(
        env.bundle_id(BUNDLES, ALPHA),
        new,
        "the bundle keeps the new ID"
    );

    env.apply(&[]).assert_success();
    rotate(&env, &[ALPHA, "--finish", "--force"]).assert_success();
    assert_eq!(env.trust_ids(&alpha).await, vec![new.clone()]);
    assert_eq!(env.bundle_id(BUNDLES, ALPHA), new);
    env.assert_plan_clean("after apply and --finish");
    env.assert_no_leak(&[old, new], &[&alpha]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hand_removed_old_id_is_drift_and_apply_completes_the_rotation() {
    let env = Env::with_manifest(&manifest()).await;
    let alpha = role_of(ALPHA);
    let (old, new) = rotating(&env).await;

    // Someone takes the old (current) ID out of the trust policy by hand.
    env.put_trust(&alpha, &trust_document(DESTINATION_ACCOUNT, &[&new]))
        .await;

    let (status, found) = drift(&env);
    assert_eq!(status, 2, "a lost old ID is drift: {found:?}");
    assert!(
        found.contains(&("rotation-old-id-removed".into(), "high".into())),
        "drift names the lost old ID, high: {found:?}"
    );

    // No bundle holds the old ID (--start replaced it): it cannot come back.
    let (status, notices, _) = plan(&env);
    assert_eq!(status, 2, "plan has changes: {notices:?}");
    assert!(
        notices.contains(&"rotation-completed".to_string()),
        "plan says apply completes the rotation: {notices:?}"
    );
    env.apply(&[]).assert_success();
    assert_eq!(env.trust_ids(&alpha).await, vec![new.clone()]);
    assert_eq!(env.bundle_id(BUNDLES, ALPHA), new);
    let tags = env.tags(&alpha).await;
    assert_eq!(
        tags[TAG_EXTERNAL_ID],
        fingerprint(&new),
        "the new ID is current"
    );
    assert!(!tags.contains_key(TAG_PENDING), "{tags:?}");
    assert!(!tags.contains_key(TAG_STARTED), "{tags:?}");
    env.assert_verified(BUNDLES, "after apply, with the new bundle");
    env.verify("old-bundles")
        .assert_exit(1)
        .assert_stdout_contains("bundle-external-id-rejected");
    env.assert_plan_clean("after apply");
    assert_eq!(drift(&env), (0, vec![]), "no drift after apply");
    env.assert_no_leak(&[old, new], &[&alpha]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hand_removed_old_id_comes_back_from_an_old_bundle() {
    let env = Env::with_manifest(&manifest()).await;
    let alpha = role_of(ALPHA);
    let (old, new) = rotating(&env).await;
    env.put_trust(&alpha, &trust_document(DESTINATION_ACCOUNT, &[&new]))
        .await;

    // The only bundle on disk is the old one (put back from a backup): the
    // function it configures is locked out, and its ID can be restored.
    let (status, notices, trust_ids) = plan_with(&env, "old-bundles");
    assert_eq!(status, 2, "{notices:?}");
    assert!(
        notices.contains(&"external-id-restored".to_string()),
        "{notices:?}"
    );
    assert_eq!(trust_ids, Some(2));
    env.fnctl(&["apply", "--auto-approve", "--bundle-dir", "old-bundles"])
        .assert_success();
    assert_eq!(
        sorted(env.trust_ids(&alpha).await),
        sorted(vec![old.clone(), new.clone()]),
        "the old ID is back; the rotation goes on"
    );
    assert_eq!(env.tags(&alpha).await[TAG_PENDING], fingerprint(&new));
    env.assert_verified(BUNDLES, "after the restore, with the new bundle");
    rotate(&env, &[ALPHA, "--finish", "--min-age", "0s"]).assert_success();
    assert_eq!(env.trust_ids(&alpha).await, vec![new]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_new_id_without_a_bundle_ends_the_rotation_loudly() {
    let env = Env::with_manifest(&manifest()).await;
    let alpha = role_of(ALPHA);
    let (old, new) = rotating(&env).await;
    env.put_trust(&alpha, &trust_document(DESTINATION_ACCOUNT, &[&old]))
        .await;
    // The bundle with the new ID is gone too: its secret is nowhere.
    std::fs::remove_dir_all(env.path().join(BUNDLES)).unwrap();

    let (status, found) = drift(&env);
    assert_eq!(status, 2);
    assert!(
        found.contains(&("rotation-new-id-removed".into(), "high".into())),
        "{found:?}"
    );
    let (status, notices, _) = plan(&env);
    assert_eq!(status, 2, "{notices:?}");
    assert!(
        notices.contains(&"rotation-abandoned".to_string()),
        "plan warns that the rotation ends: {notices:?}"
    );
    let applied = env.apply(&[]);
    applied.assert_success();
    assert!(
        applied.stdout.contains("rotation-abandoned"),
        "apply repeats the warning:\n{}",
        applied.stdout
    );
    assert_eq!(env.trust_ids(&alpha).await, vec![old.clone()]);
    assert_eq!(
        env.bundle_id(BUNDLES, ALPHA),
        old,
        "the bundle holds the one ID left"
    );
    let tags = env.tags(&alpha).await;
    assert!(!tags.contains_key(TAG_PENDING), "{tags:?}");
    assert_eq!(tags[TAG_EXTERNAL_ID], fingerprint(&old));
    env.assert_plan_clean("after the rotation was abandoned");
    assert_eq!(drift(&env), (0, vec![]));
    // A new rotation starts cleanly.
    rotate(&env, &[ALPHA, "--start"]).assert_success();
    let newer = env.bundle_id(BUNDLES, ALPHA);
    assert_ne!(newer, new);
    assert_ne!(newer, old);
    env.assert_no_leak(&[old, new, newer], &[&alpha]).await;
}
