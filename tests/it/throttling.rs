//! IAM throttles writes with token buckets whose rates are not published.
//! Behind the fault proxy turned into such a bucket for every write (a
//! burst, then a sustained rate far below what eight writers ask for), a
//! run must adapt to the rate the account allows rather than give up:
//! `apply` of many roles and both rotation phases over all of them finish
//! every role with exit 0, IAM ends exactly as declared, and the bucket
//! really throttled along the way. (Timing is the benchmark's business:
//! `./scripts/bench` measures these runs against (writes − burst) ÷ rate.)
//! Seeds are printed; reproduce with `FNCTL_FAULT_SEED=N`.

use crate::support::command::{fnctl_command, run_command, Output};
use crate::support::env::{workspace, write_file};
use crate::support::fault_proxy::*;
use crate::support::generated::*;
use crate::support::moto::{iam_client, Moto};
use crate::support::spec::*;
use crate::support::transcript::Transcript;
use crate::support::trust::trust_accepts;
use std::path::Path;

const SCOPE: &str = "throttled";
const COUNT: usize = 40;
/// Writes per second the bucket admits during apply (after a burst of as
/// many), which runs 32 writers: before writes took turns, they starved each
/// other and most roles failed `Throttling` after the SDK's attempts.
const APPLY_RATE: f64 = 5.0;
const APPLY_PARALLELISM: &str = "32";
/// Writes per second the bucket admits during the rotation phases.
const ROTATION_RATE: f64 = 10.0;

fn fnctl(proxy: &FaultProxy, dir: &Path, args: &[&str], transcript: &Transcript) -> Output {
    let mut command = fnctl_command(&proxy.endpoint(), dir, args);
    // A real lease: these runs are slow on purpose.
    command.env("FNCTL_LOCK_LEASE_SECONDS", "60");
    let out = run_command(command);
    transcript.record_output(&args.join(" "), &out);
    out
}

fn throttled_since(proxy: &FaultProxy, before: u64) -> u64 {
    proxy.throttled_by_bucket() - before
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_and_rotation_finish_every_role_behind_a_write_bucket() {
    let moto = Moto::start();
    let iam = iam_client(&moto).await;
    let proxy = FaultProxy::start(moto.port(), FaultConfig::quiet());
    proxy.limit_writes(APPLY_RATE, APPLY_RATE);
    let ws = workspace();
    let dir = ws.path();
    write_file(
        dir,
        "manifests/main.yaml",
        &generated_manifest(SCOPE, "fn", COUNT),
    );
    let transcript = Transcript::default();
    let bundles = || read_bundle_dir(&dir.join("bundles")).0;

    let before = proxy.throttled_by_bucket();
    let apply = fnctl(
        &proxy,
        dir,
        &[
            "apply",
            "--auto-approve",
            "-f",
            "manifests",
            "--bundle-dir",
            "bundles",
            "--parallelism",
            APPLY_PARALLELISM,
        ],
        &transcript,
    );
    eprintln!("apply: {}", proxy.summary());
    apply.assert_exit(0);
    assert!(
        throttled_since(&proxy, before) > 0,
        "the bucket never throttled apply: the test proves nothing"
    );
    let roles = live_roles(&iam).await;
    let applied = bundles();
    let wrong = problems_of_all_generated(SCOPE, "fn", COUNT, &roles, &applied);
    assert!(wrong.is_empty(), "after apply: {wrong:#?}");

    proxy.limit_writes(ROTATION_RATE, ROTATION_RATE);
    let before = proxy.throttled_by_bucket();
    let start = fnctl(
        &proxy,
        dir,
        &[
            "rotate",
            "--all",
            "--start",
            "-f",
            "manifests",
            "--bundle-dir",
            "bundles",
        ],
        &transcript,
    );
    eprintln!("rotate --start: {}", proxy.summary());
    start.assert_exit(0);
    assert!(
        throttled_since(&proxy, before) > 0,
        "rotate --start was never throttled"
    );
    let roles = live_roles(&iam).await;
    let started = bundles();
    for i in 0..COUNT {
        let instance = instance_name("fn", i);
        let role = &roles[&role_of(&instance)];
        let new = &started[&instance].external_id;
        assert_ne!(*new, applied[&instance].external_id, "{instance}: a new ID");
        assert_eq!(
            role.external_ids().len(),
            2,
            "{instance}: the old and the new ID while rotating"
        );
        let account = generated_account(&instance);
        assert!(
            trust_accepts(&role.trust, account, new),
            "{instance}: new ID"
        );
        assert!(
            trust_accepts(&role.trust, account, &applied[&instance].external_id),
            "{instance}: old ID until --finish"
        );
        assert!(
            !role.tags.contains_key("fnctl:lock"),
            "{instance}: lease left"
        );
    }

    let before = proxy.throttled_by_bucket();
    let finish = fnctl(
        &proxy,
        dir,
        &[
            "rotate",
            "--all",
            "--finish",
            "--force",
            "-f",
            "manifests",
            "--bundle-dir",
            "bundles",
        ],
        &transcript,
    );
    eprintln!("rotate --finish: {}", proxy.summary());
    finish.assert_exit(0);
    assert!(
        throttled_since(&proxy, before) > 0,
        "rotate --finish was never throttled"
    );
    let roles = live_roles(&iam).await;
    let finished = bundles();
    let wrong = problems_of_all_generated(SCOPE, "fn", COUNT, &roles, &finished);
    assert!(wrong.is_empty(), "after --finish: {wrong:#?}");
    for i in 0..COUNT {
        let instance = instance_name("fn", i);
        assert_eq!(
            roles[&role_of(&instance)].external_ids(),
            vec![started[&instance].external_id.clone()],
            "{instance}: only the ID --start put in the bundle"
        );
    }
    fnctl(
        &proxy,
        dir,
        &["plan", "--detailed-exitcode", "-f", "manifests"],
        &transcript,
    )
    .assert_exit(0);
    transcript.assert_free_of(&ids_in_roles(&roles));
}
