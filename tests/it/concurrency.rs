//! Two fnctl runs at once on the same scope and the same bundle folder.
//! Two `apply`: either may fail (EntityAlreadyExists) but one more apply
//! converges with nothing lost and one external ID per role. Two
//! `rotate --start`: never three IDs, and the bundle on disk is always one
//! the trust policy accepts (rotate serializes on a lease lock kept in the
//! role's `fnctl:lock` tag). The proxy orders the races deterministically
//! where it matters; seeds are printed.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use crate::support::command::{fnctl_command, run_command, Output};
use crate::support::env::{workspace, write_file};
use crate::support::fault_proxy::*;
use crate::support::generated::*;
use crate::support::moto::{iam_client, Moto};
use crate::support::spec::{role_of, INLINE};
use crate::support::transcript::Transcript;
use crate::support::trust::trust_accepts;

const SCOPE: &str = "race";

fn spawn(endpoint: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = fnctl_command(endpoint, dir, args);
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.spawn().expect("spawn fnctl")
}

fn finish(child: Child, command: &str, transcript: &Transcript) -> Output {
    let out = child.wait_with_output().expect("wait for fnctl");
    let out = Output {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    transcript.record_output(command, &out);
    out
}

fn run(endpoint: &str, dir: &Path, args: &[&str], transcript: &Transcript) -> Output {
    let out = run_command(fnctl_command(endpoint, dir, args));
    transcript.record_output(&args.join(" "), &out);
    out
}

const APPLY: [&str; 6] = [
    "apply",
    "--auto-approve",
    "-f",
    "manifests",
    "--bundle-dir",
    "bundles",
];

#[tokio::test(flavor = "multi_thread")]
async fn two_applies_at_once_then_one_more_converges() {
    const COUNT: usize = 24;
    let moto = Moto::start();
    let iam = iam_client(&moto).await;
    let ws = workspace();
    let dir = ws.path();
    write_file(
        dir,
        "manifests/main.yaml",
        &generated_manifest(SCOPE, "fn", COUNT),
    );
    let transcript = Transcript::default();

    for round in 1..=2 {
        if round == 2 {
            // Second race: on an existing scope where every role needs a
            // repair (a lost tag, a lost inline policy, a stranger in the trust).
            let before = live_roles(&iam).await;
            for i in 0..COUNT {
                let role = role_of(&instance_name("fn", i));
                if i % 4 == 1 {
                    let mut trust = before[&role].trust.clone();
                    trust["Statement"]
                        .as_array_mut()
                        .unwrap()
                        .push(serde_json::json!({
                            "Effect": "Allow",
                            "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                            "Action": "sts:AssumeRole"
                        }));
                    iam.update_assume_role_policy()
                        .role_name(&role)
                        .policy_document(trust.to_string())
                        .send()
                        .await
                        .unwrap();
                }
                iam.untag_role()
                    .role_name(&role)
                    .tag_keys("team")
                    .send()
                    .await
                    .unwrap();
                if i % 3 == 0 {
                    iam.delete_role_policy()
                        .role_name(&role)
                        .policy_name(INLINE)
                        .send()
                        .await
                        .unwrap();
                }
            }
        }
        let a = spawn(&moto.endpoint(), dir, &APPLY, &[]);
        let b = spawn(&moto.endpoint(), dir, &APPLY, &[]);
        let a = finish(a, "apply (A)", &transcript);
        let b = finish(b, "apply (B)", &transcript);
        eprintln!(
            "round {round}: concurrent applies exited {} and {}",
            a.status, b.status
        );
        for out in [&a, &b] {
            assert!(
                out.status == 0 || out.status == 1,
                "exit {}:\n{}",
                out.status,
                out.stderr
            );
            if out.status == 1 {
                assert!(
                    out.stderr.contains("already exists")
                        || out.stderr.contains("EntityAlreadyExists")
                        || out.stderr.contains("HTTP 500")
                        || out.stderr.contains("no longer in the trust policy")
                        // The other apply held the role's lease and changed it first.
                        || out.stderr.contains("changed since they were read"),
                    "a concurrent apply failed for another reason:\n{}",
                    out.stderr
                );
            }
        }
        // Whatever the race did, every bundle on disk is accepted.
        let (bundles, temporaries) = read_bundle_dir(&dir.join("bundles"));
        assert!(temporaries.is_empty(), "{temporaries:?}");
        let roles = live_roles(&iam).await;
        let locked = locked_out(&bundles, &roles, generated_account);
        assert!(
            locked.is_empty(),
            "round {round}: bundles not accepted: {locked:?}"
        );

        run(&moto.endpoint(), dir, &APPLY, &transcript).assert_exit(0);
        let roles = live_roles(&iam).await;
        let (bundles, _) = read_bundle_dir(&dir.join("bundles"));
        let wrong = problems_of_all_generated(SCOPE, "fn", COUNT, &roles, &bundles);
        assert!(wrong.is_empty(), "round {round}: {wrong:#?}");
        assert_eq!(roles.len(), COUNT);
        run(
            &moto.endpoint(),
            dir,
            &["plan", "--detailed-exitcode", "-f", "manifests"],
            &transcript,
        )
        .assert_exit(0);
        transcript.assert_free_of(&ids_in_roles(&roles));
    }
}

/// Applies a small scope and returns (instance, its current ID).
async fn applied(moto: &Moto, dir: &Path, transcript: &Transcript) -> Vec<(String, String)> {
    write_file(
        dir,
        "manifests/main.yaml",
        &generated_manifest(SCOPE, "fn", 3),
    );
    run(&moto.endpoint(), dir, &APPLY, transcript).assert_exit(0);
    let (bundles, _) = read_bundle_dir(&dir.join("bundles"));
    bundles
        .into_values()
        .map(|b| (b.instance, b.external_id))
        .collect()
}

fn rotate_args<'a>(instance: &'a str, phase: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "rotate",
        instance,
        "-f",
        "manifests",
        "--bundle-dir",
        "bundles",
    ];
    args.extend_from_slice(phase);
    args
}

/// After two concurrent starts: at most two IDs, the bundle's among them,
/// then `--finish --force` leaves exactly the bundle's ID.
async fn assert_rotation_sound(
    moto: &Moto,
    iam: &aws_sdk_iam::Client,
    dir: &Path,
    instance: &str,
    old: &str,
    what: &str,
    transcript: &Transcript,
) {
    let account = generated_account(instance);
    let roles = live_roles(iam).await;
    let role = &roles[&role_of(instance)];
    let ids = role.external_ids();
    let (bundles, temporaries) = read_bundle_dir(&dir.join("bundles"));
    assert!(temporaries.is_empty(), "{temporaries:?}");
    let bundle_id = bundles[instance].external_id.clone();
    let mut secrets: BTreeSet<String> = ids.iter().cloned().collect();
    secrets.insert(bundle_id.clone());
    eprintln!(
        "{what}: {} ID(s) in the trust policy; bundle {} them; old ID {}",
        ids.len(),
        if ids.contains(&bundle_id) {
            "among"
        } else {
            "NOT among"
        },
        if ids.iter().any(|i| i == old) {
            "kept"
        } else {
            "gone"
        }
    );
    if bundle_id == old {
        eprintln!("{what}: the bundle still holds the OLD ID after --start reported a new one");
    }
    assert!(
        ids.len() <= 2,
        "{what}: {} IDs in the trust policy",
        ids.len()
    );
    assert!(
        trust_accepts(&role.trust, account, &bundle_id),
        "{what}: the trust policy does not accept the bundle on disk: the function is locked out"
    );
    assert!(
        trust_accepts(&role.trust, account, old),
        "{what}: the old ID must work until --finish"
    );
    let finished = run(
        &moto.endpoint(),
        dir,
        &rotate_args(instance, &["--finish", "--force"]),
        transcript,
    );
    eprintln!(
        "{what}: rotate --finish --force: {}",
        finished.stderr.trim()
    );
    finished.assert_exit(0);
    let roles = live_roles(iam).await;
    let (bundles, _) = read_bundle_dir(&dir.join("bundles"));
    let final_id = bundles[instance].external_id.clone();
    secrets.insert(final_id.clone());
    let left = roles[&role_of(instance)].external_ids();
    assert!(
        left == [final_id.clone()],
        "{what}: after --finish the trust policy must hold exactly the bundle's ID; it holds {} ID(s), the bundle's {}, the old one {}",
        left.len(),
        if left.contains(&final_id) { "among them" } else { "NOT among them" },
        if left.iter().any(|i| i == old) { "STILL ACCEPTED" } else { "gone" }
    );
    assert!(
        final_id == bundle_id,
        "{what}: --finish must keep the ID the start put in the bundle"
    );
    assert!(
        !roles[&role_of(instance)].tags.contains_key("fnctl:lock"),
        "{what}: a lease was left behind"
    );
    secrets.insert(old.to_string());
    transcript.assert_free_of(&secrets);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_rotate_starts_at_once_never_leave_three_ids_or_a_stale_bundle() {
    let moto = Moto::start();
    let iam = iam_client(&moto).await;
    let ws = workspace();
    let dir = ws.path();
    let transcript = Transcript::default();
    let current = applied(&moto, dir, &transcript).await;

    // 1. Plain race: both at once, straight to moto.
    let (instance, old) = &current[0];
    let start = rotate_args(instance, &["--start"]);
    let a = spawn(&moto.endpoint(), dir, &start, &[]);
    let b = spawn(&moto.endpoint(), dir, &start, &[]);
    let a = finish(a, "rotate --start (A)", &transcript);
    let b = finish(b, "rotate --start (B)", &transcript);
    eprintln!("plain race: exits {} and {}", a.status, b.status);
    assert!(
        a.status == 0 || b.status == 0,
        "one start must succeed:\n{}\n{}",
        a.stderr,
        b.stderr
    );
    assert_rotation_sound(&moto, &iam, dir, instance, old, "plain race", &transcript).await;

    // 2. Both read the role before either writes: both lease writes are
    //    held until both have arrived, and the first trust update's answer
    //    comes 1.5 s late (so without a lock its bundle would be written
    //    last, with an ID the trust policy no longer holds).
    let proxy = FaultProxy::start(moto.port(), FaultConfig::quiet());
    proxy.gate("TagRole", 2, Duration::from_secs(5));
    proxy.hold_answer_once("UpdateAssumeRolePolicy", Duration::from_millis(1500));
    let (instance, old) = &current[1];
    let start = rotate_args(instance, &["--start"]);
    let a = spawn(&proxy.endpoint(), dir, &start, &[]);
    let b = spawn(&proxy.endpoint(), dir, &start, &[]);
    let a = finish(a, "rotate --start (A)", &transcript);
    let b = finish(b, "rotate --start (B)", &transcript);
    eprintln!(
        "gated race: exits {} and {}; {}",
        a.status,
        b.status,
        proxy.summary()
    );
    assert!(
        a.status == 0 || b.status == 0,
        "one start must succeed:\n{}\n{}",
        a.stderr,
        b.stderr
    );
    assert_rotation_sound(&moto, &iam, dir, instance, old, "gated race", &transcript).await;
}

/// The lease lock is write, wait `FNCTL_LOCK_SETTLE_MS`, read back. When the
/// second run's lease write reaches IAM later than the first run's read-back
/// (slow network, or a Throttling answer retried after the SDK's backoff,
/// which is configured up to 10 s), both runs believe they hold the lock.
/// Timeline (run A through proxy A, run B through proxy B, real 1.5 s settle):
/// both check the lease (none); A's lease lands at +0.3 s, A reads it back
/// at +1.8 s and rotates, but its trust update is slow (+2.5 s); B's lease
/// lands at +2.2 s (B's write was delayed), B reads it back at +3.7 s and
/// sees a pending tag whose ID is not in the trust yet, so it starts afresh:
/// trust [old, B] at +3.7 s, answer slow; A's trust [old, A] lands at
/// +4.3 s and A writes its bundle; B writes its bundle (ID B) last.
#[tokio::test(flavor = "multi_thread")]
async fn rotate_lock_holds_when_a_lease_write_is_delayed_past_the_settle_time() {
    let moto = Moto::start();
    let iam = iam_client(&moto).await;
    let ws = workspace();
    let dir = ws.path();
    let transcript = Transcript::default();
    let current = applied(&moto, dir, &transcript).await;
    let (instance, old) = &current[2];
    let proxy_a = FaultProxy::start(moto.port(), FaultConfig::quiet());
    let proxy_b = FaultProxy::start(moto.port(), FaultConfig::quiet());
    proxy_a.delay_once("TagRole", Duration::from_millis(300));
    proxy_a.delay_once("UpdateAssumeRolePolicy", Duration::from_millis(2500));
    proxy_b.delay_once("TagRole", Duration::from_millis(2200));
    proxy_b.hold_answer_once("UpdateAssumeRolePolicy", Duration::from_millis(3000));
    let start = rotate_args(instance, &["--start"]);
    let settle = [("FNCTL_LOCK_SETTLE_MS", "1500")];
    let a = spawn(&proxy_a.endpoint(), dir, &start, &settle);
    let b = spawn(&proxy_b.endpoint(), dir, &start, &settle);
    let a = finish(a, "rotate --start (A)", &transcript);
    let b = finish(b, "rotate --start (B)", &transcript);
    eprintln!(
        "delayed-lease race: exits {} and {}\n A: {}\n{}\n B: {}\n{}",
        a.status,
        b.status,
        proxy_a.summary(),
        a.stderr,
        proxy_b.summary(),
        b.stderr
    );
    assert!(
        a.status == 0 || b.status == 0,
        "one start must succeed:\n{}\n{}",
        a.stderr,
        b.stderr
    );
    assert_rotation_sound(
        &moto,
        &iam,
        dir,
        instance,
        old,
        "delayed-lease race",
        &transcript,
    )
    .await;
}

/// An apply that runs while a rotation is half-way (its pending tag written,
/// its trust update still in flight) must not undo the rotation: apply reads
/// a pending tag naming no ID in the trust policy and would remove it, but it
/// changes trust policies and external-ID tags only under the role's lease
/// and only if the role is still as it read it. Afterwards the bundle works,
/// the old ID still works, and the next plan is empty.
#[tokio::test(flavor = "multi_thread")]
async fn an_apply_during_a_rotation_does_not_undo_it() {
    let moto = Moto::start();
    let iam = iam_client(&moto).await;
    let ws = workspace();
    let dir = ws.path();
    let transcript = Transcript::default();
    let current = applied(&moto, dir, &transcript).await;
    let (instance, old) = &current[0];
    let rotation_proxy = FaultProxy::start(moto.port(), FaultConfig::quiet());
    // The rotation's trust update reaches IAM 2.5 s late: its pending tag is
    // already there, so an apply reading now sees a half-done rotation.
    rotation_proxy.delay_once("UpdateAssumeRolePolicy", Duration::from_millis(2500));
    let rotation = spawn(
        &rotation_proxy.endpoint(),
        dir,
        &rotate_args(instance, &["--start"]),
        &[],
    );
    // The pending tag rides on the lease; the trust update is sent once
    // the lease is read back.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rotation_proxy
        .requests_by_action()
        .get("UpdateAssumeRolePolicy")
        .copied()
        .unwrap_or(0)
        < 1
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let apply = run(&moto.endpoint(), dir, &APPLY, &transcript);
    let rotation = finish(rotation, "rotate --start", &transcript);
    rotation.assert_exit(0);
    assert!(
        apply.status == 0 || apply.stderr.contains("changed since they were read"),
        "apply failed for another reason:\n{}",
        apply.stderr
    );
    assert_rotation_sound(
        &moto,
        &iam,
        dir,
        instance,
        old,
        "apply during rotation",
        &transcript,
    )
    .await;
}
