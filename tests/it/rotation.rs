//! `fnctl rotate`: two-phase external-ID rotation without downtime (SPEC
//! "External IDs", issue 5), with the real binary against moto.
//!
//! - start → the trust policy accepts the old and the new ID, the bundle
//!   holds the new one, tags hold only fingerprints; verify passes with the
//!   new bundle and with the old one; plan is clean at every step;
//! - finish → only the new ID; the old bundle is rejected by verify;
//! - `--due`, `--all`, `--min-age`, `--force`;
//! - crash safety: every interruption point replayed with the SDK; the
//!   bundle on disk keeps working and re-running the command completes it.

use std::time::SystemTime;

use crate::support::command::Output;
use crate::support::env::{Env, BUNDLES};
use crate::support::external_id::{fingerprint, sorted, test_id};
use crate::support::spec::*;
use crate::support::trust::trust_document;

const ALPHA: &str = "alpha";
const BETA: &str = "beta";

/// `alpha` (destination with a bucket) and `beta` (source), both with
/// `rotateAfterDays: 30`.
fn manifest() -> String {
    r#"version: 1
defaults:
  scope: rotation
instances:
  - name: alpha
    kind: destination
    bucket: { name: rotation-events, region: us-east-1, prefix: segment/ }
    externalId: { rotateAfterDays: 30 }
  - name: beta
    kind: source
    externalId: { rotateAfterDays: 30 }
"#
    .to_string()
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[track_caller]
fn assert_generated_shape(id: &str) {
    assert_eq!(id.len(), 48, "a generated ID has 48 characters");
    assert!(
        id.chars().all(|c| c.is_ascii_alphanumeric()),
        "a generated ID is [A-Za-z0-9]"
    );
}

/// apply, then the ID of `alpha` (trust and bundle agree) and a snapshot of
/// the bundles in `old-bundles/`.
async fn applied(env: &Env) -> String {
    env.apply(&[]).assert_success();
    env.assert_plan_clean("after apply");
    let ids = env.trust_ids(&role_of(ALPHA)).await;
    assert_eq!(ids.len(), 1, "apply makes one external ID: {}", ids.len());
    let old = ids[0].clone();
    assert_eq!(env.bundle_id(BUNDLES, ALPHA), old);
    env.snapshot_bundles(BUNDLES, "old-bundles");
    old
}

fn rotate(env: &Env, args: &[&str]) -> Output {
    let mut all = vec!["rotate"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--bundle-dir", BUNDLES]);
    env.fnctl(&all)
}

#[tokio::test(flavor = "multi_thread")]
async fn start_accepts_both_ids_and_finish_only_the_new_one() {
    let env = Env::with_manifest(&manifest()).await;
    let alpha = role_of(ALPHA);
    let old = applied(&env).await;
    let beta_before = env.trust_ids(&role_of(BETA)).await;
    let tags_before = env.tags(&alpha).await;
    assert_eq!(tags_before[TAG_EXTERNAL_ID], fingerprint(&old));
    assert!(tags_before.contains_key(TAG_CREATED));
    assert!(!tags_before.contains_key(TAG_PENDING));

    // Phase 1.
    rotate(&env, &[ALPHA, "--start"]).assert_success();
    let new = env.bundle_id(BUNDLES, ALPHA);
    assert_ne!(new, old, "the bundle holds a new ID after --start");
    assert_generated_shape(&new);
    assert_eq!(
        sorted(env.trust_ids(&alpha).await),
        sorted(vec![old.clone(), new.clone()]),
        "during the overlap, StringEquals sts:ExternalId holds the old and the new ID"
    );
    let tags = env.tags(&alpha).await;
    assert_eq!(
        tags[TAG_PENDING],
        fingerprint(&new),
        "pending = fingerprint of the new ID"
    );
    assert_eq!(
        tags[TAG_EXTERNAL_ID],
        fingerprint(&old),
        "current is still the old ID"
    );
    let started = tags
        .get(TAG_STARTED)
        .expect("fnctl:rotation-started is set");
    humantime::parse_rfc3339_weak(started)
        .unwrap_or_else(|_| panic!("rotation-started {started:?} is not RFC 3339"));
    assert_eq!(
        env.trust_ids(&role_of(BETA)).await,
        beta_before,
        "an instance not named is not rotated"
    );
    assert!(!env.tags(&role_of(BETA)).await.contains_key(TAG_PENDING));
    env.assert_verified(BUNDLES, "after --start, with the new bundle");
    env.assert_verified("old-bundles", "after --start, with the old bundle");
    env.assert_plan_clean("during the rotation");

    // Re-running --start keeps the pending ID: no third ID.
    rotate(&env, &[ALPHA, "--start"]).assert_success();
    assert_eq!(
        env.bundle_id(BUNDLES, ALPHA),
        new,
        "re-run keeps the pending ID"
    );
    assert_eq!(
        sorted(env.trust_ids(&alpha).await),
        sorted(vec![old.clone(), new.clone()]),
        "re-running --start must not add a third ID"
    );
    assert_eq!(env.tags(&alpha).await[TAG_PENDING], fingerprint(&new));
    env.assert_plan_clean("after re-running --start");

    // --finish right away: refused by the default --min-age (1h); nothing changes.
    let trust_before_finish = env.trust(&alpha).await;
    let tags_before_finish = env.tags(&alpha).await;
    let refused = rotate(&env, &[ALPHA, "--finish"]);
    refused.assert_exit(1).assert_stderr_contains("--force");
    assert_eq!(
        env.trust(&alpha).await,
        trust_before_finish,
        "refused finish changed trust"
    );
    assert_eq!(
        env.tags(&alpha).await,
        tags_before_finish,
        "refused finish changed tags"
    );
    assert_eq!(env.bundle_id(BUNDLES, ALPHA), new);
    env.assert_verified(
        "old-bundles",
        "after the refused --finish, with the old bundle",
    );
    env.assert_plan_clean("after the refused --finish");

    // Phase 2.
    rotate(&env, &[ALPHA, "--finish", "--min-age", "0s"]).assert_success();
    assert_eq!(
        env.trust_ids(&alpha).await,
        vec![new.clone()],
        "only the new ID is left"
    );
    assert_eq!(env.bundle_id(BUNDLES, ALPHA), new);
    let tags = env.tags(&alpha).await;
    assert_eq!(
        tags[TAG_EXTERNAL_ID],
        fingerprint(&new),
        "the new ID is current"
    );
    assert!(tags.contains_key(TAG_CREATED));
    assert!(
        !tags.contains_key(TAG_PENDING),
        "pending tag removed: {tags:?}"
    );
    assert!(
        !tags.contains_key(TAG_STARTED),
        "started tag removed: {tags:?}"
    );
    env.assert_verified(BUNDLES, "after --finish, with the new bundle");
    let stale = env.verify("old-bundles");
    stale
        .assert_exit(1)
        .assert_stdout_contains("bundle-external-id-rejected");
    assert!(
        stale.stdout.contains(ALPHA),
        "the finding names the instance: {}",
        stale.stdout
    );
    env.assert_plan_clean("after --finish");

    // Finishing again has nothing to do and changes nothing.
    rotate(&env, &[ALPHA, "--finish", "--force"]).assert_success();
    assert_eq!(env.trust_ids(&alpha).await, vec![new.clone()]);
    env.assert_plan_clean("after a second --finish");

    env.assert_no_leak(&[old, new], &[&alpha, &role_of(BETA)])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn all_rotates_every_instance_and_force_skips_the_min_age() {
    let env = Env::with_manifest(&manifest()).await;
    env.apply(&[]).assert_success();
    let before: Vec<String> = vec![env.bundle_id(BUNDLES, ALPHA), env.bundle_id(BUNDLES, BETA)];
    rotate(&env, &["--all", "--start"]).assert_success();
    for (instance, old) in [ALPHA, BETA].iter().zip(&before) {
        let new = env.bundle_id(BUNDLES, instance);
        assert_ne!(&new, old, "{instance} was not rotated by --all");
        assert_eq!(
            sorted(env.trust_ids(&role_of(instance)).await),
            sorted(vec![old.clone(), new])
        );
    }
    env.assert_plan_clean("during --all rotation");
    rotate(&env, &["--all", "--finish"]).assert_exit(1);
    rotate(&env, &["--all", "--finish", "--force"]).assert_success();
    for instance in [ALPHA, BETA] {
        let new = env.bundle_id(BUNDLES, instance);
        assert_eq!(env.trust_ids(&role_of(instance)).await, vec![new]);
    }
    env.assert_plan_clean("after --all --finish --force");
    env.assert_verified(BUNDLES, "after --all");
}

#[tokio::test(flavor = "multi_thread")]
async fn due_selects_only_instances_older_than_rotate_after_days() {
    let env = Env::with_manifest(&manifest()).await;
    env.apply(&[]).assert_success();
    let alpha_old = env.bundle_id(BUNDLES, ALPHA);
    let beta_old = env.bundle_id(BUNDLES, BETA);

    // Nothing is due yet.
    let plan = env.fnctl(&["plan", "--detailed-exitcode"]);
    plan.assert_exit(0);
    assert!(!format!("{}{}", plan.stdout, plan.stderr).contains("rotation-due"));
    rotate(&env, &["--due", "--start"]).assert_success();
    assert_eq!(
        env.trust_ids(&role_of(ALPHA)).await,
        vec![alpha_old.clone()]
    );
    assert_eq!(env.trust_ids(&role_of(BETA)).await, vec![beta_old.clone()]);

    // alpha's ID is 100 days old (the tag set back in time), beta's is new.
    let long_ago = humantime::format_rfc3339_seconds(
        SystemTime::now() - std::time::Duration::from_secs(100 * 86_400),
    )
    .to_string();
    env.tag(&role_of(ALPHA), &[(TAG_CREATED, &long_ago)]).await;

    let plan = env.fnctl(&["plan", "--detailed-exitcode"]);
    plan.assert_exit(0);
    let text = format!("{}{}", plan.stdout, plan.stderr);
    assert_eq!(
        text.matches("rotation-due").count(),
        1,
        "one rotation-due notice, for alpha only:\n{text}"
    );
    let json_plan = env.fnctl(&["plan", "--format", "json"]);
    json_plan.assert_success();
    let parsed: serde_json::Value = serde_json::from_str(&json_plan.stdout).unwrap();
    let due: Vec<&serde_json::Value> = parsed["notices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["code"] == "rotation-due")
        .collect();
    assert_eq!(due.len(), 1, "{parsed:#}");
    assert_eq!(due[0]["instance"], ALPHA);
    assert_eq!(due[0]["level"], "info");

    rotate(&env, &["--due", "--start"]).assert_success();
    let alpha_new = env.bundle_id(BUNDLES, ALPHA);
    assert_ne!(alpha_new, alpha_old, "--due rotated alpha");
    assert_eq!(
        sorted(env.trust_ids(&role_of(ALPHA)).await),
        sorted(vec![alpha_old, alpha_new])
    );
    assert_eq!(
        env.trust_ids(&role_of(BETA)).await,
        vec![beta_old.clone()],
        "--due must not rotate beta (its ID is new)"
    );
    assert_eq!(env.bundle_id(BUNDLES, BETA), beta_old);
    assert!(!env.tags(&role_of(BETA)).await.contains_key(TAG_PENDING));
    env.assert_plan_clean("after --due --start");

    // In text, a notice must say which instance it is about (a plan may hold hundreds).
    let line = text
        .lines()
        .find(|l| l.contains("rotation-due"))
        .unwrap()
        .to_string();
    assert!(
        line.contains(ALPHA),
        "the text rotation-due notice does not name the instance or role: {line:?}"
    );
}

// ---- Crash safety. Each test replays, with the SDK, the IAM state a run
// ---- killed at one step leaves behind, then checks that (a) the bundle on
// ---- disk still passes verify, (b) re-running the same command completes
// ---- the phase, (c) plan is clean afterwards.

#[tokio::test(flavor = "multi_thread")]
async fn start_killed_after_tagging_the_pending_id() {
    let env = Env::with_manifest(&manifest()).await;
    let alpha = role_of(ALPHA);
    let old = applied(&env).await;
    // start's first write (TagRole) done; its trust update never happened.
    let ghost = test_id("ghostGhostGhostNeverInTheTrustPolicy");
    env.tag(
        &alpha,
        &[(TAG_PENDING, &fingerprint(&ghost)), (TAG_STARTED, &now())],
    )
    .await;
    assert_eq!(env.trust_ids(&alpha).await, vec![old.clone()]);
    env.assert_verified(BUNDLES, "killed after start's TagRole (bundle on disk)");

    rotate(&env, &[ALPHA, "--start"]).assert_success();
    let new = env.bundle_id(BUNDLES, ALPHA);
    assert_ne!(new, old);
    assert_ne!(new, ghost);
    assert_eq!(
        sorted(env.trust_ids(&alpha).await),
        sorted(vec![old.clone(), new.clone()])
    );
    assert_eq!(env.tags(&alpha).await[TAG_PENDING], fingerprint(&new));
    env.assert_verified(BUNDLES, "re-run start (new bundle)");
    env.assert_verified("old-bundles", "re-run start (old bundle)");
    env.assert_plan_clean("after re-running start");
}

#[tokio::test(flavor = "multi_thread")]
async fn start_killed_after_the_trust_update_before_the_bundle() {
    let env = Env::with_manifest(&manifest()).await;
    let alpha = role_of(ALPHA);
    let old = applied(&env).await;
    // start's writes both done (tags, then trust with both IDs); the bundle
    // was never written, so the one on disk holds the old ID.
    let pending = test_id("pendingPendingPendingWrittenByTheKilledRun");
    env.tag(
        &alpha,
        &[(TAG_PENDING, &fingerprint(&pending)), (TAG_STARTED, &now())],
    )
    .await;
    env.put_trust(
        &alpha,
        &trust_document(DESTINATION_ACCOUNT, &[&old, &pending]),
    )
    .await;
    assert_eq!(env.bundle_id(BUNDLES, ALPHA), old);
    env.assert_verified(BUNDLES, "killed after start's trust update (old bundle)");
    env.assert_plan_clean("killed after start's trust update: the two-ID trust is desired");

    rotate(&env, &[ALPHA, "--start"]).assert_success();
    assert_eq!(
        env.bundle_id(BUNDLES, ALPHA),
        pending,
        "re-running start writes the bundle with the pending ID, not yet another one"
    );
    assert_eq!(
        sorted(env.trust_ids(&alpha).await),
        sorted(vec![old.clone(), pending.clone()])
    );
    env.assert_verified(BUNDLES, "re-run start (new bundle)");
    env.assert_verified("old-bundles", "re-run start (old bundle)");
    env.assert_plan_clean("after re-running start");

    rotate(&env, &[ALPHA, "--finish", "--force"]).assert_success();
    assert_eq!(env.trust_ids(&alpha).await, vec![pending]);
    env.assert_plan_clean("after finish");
}

/// Starts a rotation for real; returns (old, new).
async fn started(env: &Env) -> (String, String) {
    let old = applied(env).await;
    rotate(env, &[ALPHA, "--start"]).assert_success();
    let new = env.bundle_id(BUNDLES, ALPHA);
    assert_ne!(new, old);
    (old, new)
}

#[tokio::test(flavor = "multi_thread")]
async fn finish_killed_after_the_trust_update_before_the_tags() {
    let env = Env::with_manifest(&manifest()).await;
    let alpha = role_of(ALPHA);
    let (old, new) = started(&env).await;
    // finish's trust update done (only the new ID); its tag writes never happened.
    env.put_trust(&alpha, &trust_document(DESTINATION_ACCOUNT, &[&new]))
        .await;
    let tags = env.tags(&alpha).await;
    assert_eq!(tags[TAG_PENDING], fingerprint(&new));
    assert_eq!(tags[TAG_EXTERNAL_ID], fingerprint(&old));
    env.assert_verified(BUNDLES, "killed after finish's trust update (new bundle)");

    rotate(&env, &[ALPHA, "--finish", "--min-age", "0s"]).assert_success();
    assert_eq!(env.trust_ids(&alpha).await, vec![new.clone()]);
    assert_eq!(env.bundle_id(BUNDLES, ALPHA), new);
    let tags = env.tags(&alpha).await;
    assert_eq!(tags[TAG_EXTERNAL_ID], fingerprint(&new));
    assert!(!tags.contains_key(TAG_PENDING), "{tags:?}");
    assert!(!tags.contains_key(TAG_STARTED), "{tags:?}");
    env.assert_verified(BUNDLES, "after re-running finish");
    env.verify("old-bundles")
        .assert_exit(1)
        .assert_stdout_contains("bundle-external-id-rejected");
    env.assert_plan_clean("after re-running finish");
}

#[tokio::test(flavor = "multi_thread")]
async fn finish_killed_after_tagging_before_untagging() {
    let env = Env::with_manifest(&manifest()).await;
    let alpha = role_of(ALPHA);
    let (_old, new) = started(&env).await;
    // finish's trust update and TagRole (current = new) done; UntagRole of
    // the rotation tags never happened.
    env.put_trust(&alpha, &trust_document(DESTINATION_ACCOUNT, &[&new]))
        .await;
    env.tag(
        &alpha,
        &[(TAG_EXTERNAL_ID, &fingerprint(&new)), (TAG_CREATED, &now())],
    )
    .await;
    assert!(env.tags(&alpha).await.contains_key(TAG_PENDING));
    env.assert_verified(BUNDLES, "killed after finish's TagRole (new bundle)");

    rotate(&env, &[ALPHA, "--finish", "--min-age", "0s"]).assert_success();
    let tags = env.tags(&alpha).await;
    assert_eq!(env.trust_ids(&alpha).await, vec![new.clone()]);
    assert_eq!(tags[TAG_EXTERNAL_ID], fingerprint(&new));
    assert!(
        !tags.contains_key(TAG_PENDING) && !tags.contains_key(TAG_STARTED),
        "re-running --finish must complete the interrupted finish (remove the rotation tags): {tags:?}"
    );
    env.assert_verified(BUNDLES, "after re-running finish");
    env.assert_plan_clean("after re-running finish");
}
