//! `fnctl apply` and `fnctl rotate` killed with SIGKILL at seeded
//! pseudo-random points (after the Nth IAM request, after the Kth bundle
//! file, or after a time), then re-run to completion. After every kill: no
//! half-written bundle (every `*.json` parses, mode 0600; a leftover
//! temporary is 0600 too), and every bundle on disk is accepted by its
//! role's live trust policy. After the re-run: plan shows no change and every
//! bundle is right. The proxy slows requests down (delay faults) so that
//! kills land mid-run. Reproduce with `FNCTL_FAULT_SEED=N` (printed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::command::{fnctl_command, run_command, Output};
use crate::support::env::{workspace, write_file};
use crate::support::fault_proxy::*;
use crate::support::generated::*;
use crate::support::moto::{iam_client, Moto};
use crate::support::spec::*;
use crate::support::transcript::Transcript;

const SCOPE: &str = "kills";
const COUNT: usize = 30;

/// When to send SIGKILL.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// Once the proxy has received this many requests of this run, plus a
    /// pause (ms) so that some kills land while a request is in flight.
    Requests(u64, u64),
    /// Once the bundle folder holds this many `*.json` files changed by this run.
    Bundles(usize),
    /// After this many milliseconds.
    Millis(u64),
}

struct Killed {
    /// `None` when the run ended before the trigger fired.
    killed_after: Option<Duration>,
    output: Output,
}

/// Spawns `args`, kills it (SIGKILL) when `trigger` fires, returns what it printed.
fn run_and_kill(
    proxy: &FaultProxy,
    dir: &Path,
    args: &[&str],
    trigger: Trigger,
    transcript: &Transcript,
) -> Killed {
    let logs = tempfile::tempdir().expect("temp dir for fnctl's output");
    let out_path = logs.path().join("stdout");
    let err_path = logs.path().join("stderr");
    let mut cmd = fnctl_command(&proxy.endpoint(), dir, args);
    cmd.stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()));
    let base = proxy.requests();
    let bundle_dir = dir.join("bundles");
    let before = bundle_mtimes(&bundle_dir);
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn fnctl");
    let mut fired_at: Option<Instant> = None;
    let killed_after = loop {
        if let Some(_status) = child.try_wait().expect("poll fnctl") {
            break None;
        }
        let fire = match trigger {
            Trigger::Requests(n, pause) => {
                if proxy.requests() - base >= n {
                    let at = *fired_at.get_or_insert_with(Instant::now);
                    at.elapsed() >= Duration::from_millis(pause)
                } else {
                    false
                }
            }
            Trigger::Bundles(k) => changed_bundles(&bundle_dir, &before) >= k,
            Trigger::Millis(ms) => started.elapsed() >= Duration::from_millis(ms),
        };
        if fire {
            child.kill().expect("SIGKILL fnctl");
            child.wait().expect("reap fnctl");
            let at = started.elapsed();
            // Requests the dead process had on the wire still land: check
            // the invariants once they have.
            proxy.drain(Duration::from_secs(5));
            break Some(at);
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fnctl {args:?} ran for more than 120 s");
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    let status = if killed_after.is_some() {
        -1
    } else {
        child.wait().unwrap().code().unwrap_or(-1)
    };
    let output = Output {
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    };
    transcript.record_output(&args.join(" "), &output);
    Killed {
        killed_after,
        output,
    }
}

fn bundle_mtimes(dir: &Path) -> BTreeMap<PathBuf, std::time::SystemTime> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .filter_map(|e| Some((e.path(), e.metadata().ok()?.modified().ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn changed_bundles(dir: &Path, before: &BTreeMap<PathBuf, std::time::SystemTime>) -> usize {
    bundle_mtimes(dir)
        .iter()
        .filter(|(path, modified)| before.get(*path) != Some(*modified))
        .count()
}

fn run(endpoint: &str, dir: &Path, args: &[&str], transcript: &Transcript) -> Output {
    let out = run_command(fnctl_command(endpoint, dir, args));
    transcript.record_output(&args.join(" "), &out);
    out
}

/// The invariants that hold at every moment; returns the bundles on disk.
async fn assert_safe_after_kill(
    iam: &aws_sdk_iam::Client,
    dir: &Path,
    what: &str,
    secrets: &mut BTreeSet<String>,
) -> BTreeMap<String, BundleFile> {
    // Panics on a half-written or non-private bundle.
    let (bundles, temporaries) = read_bundle_dir(&dir.join("bundles"));
    if !temporaries.is_empty() {
        eprintln!(
            "  note: {} temporary bundle file(s) left by the kill (mode 0600): {temporaries:?}",
            temporaries.len()
        );
    }
    let roles = live_roles(iam).await;
    secrets.extend(ids_in_roles(&roles));
    secrets.extend(bundles.values().map(|b| b.external_id.clone()));
    let locked = locked_out(&bundles, &roles, generated_account);
    assert!(
        locked.is_empty(),
        "{what}: the live trust policy does not accept the bundle on disk of {locked:?}"
    );
    for role in roles.values() {
        assert_eq!(
            role.tags.get("fnctl:managed-by").map(String::as_str),
            Some("fnctl"),
            "{what}: role {} exists without fnctl's tags",
            role.name
        );
        let ids = role.external_ids();
        assert!(
            !ids.is_empty() && ids.len() <= 2,
            "{what}: role {} has {} external IDs",
            role.name,
            ids.len()
        );
    }
    bundles
}

/// A killed rotation leaves its `fnctl:lock` leases behind; they expire
/// after `lock::LEASE` (120 s, not configurable). Let that time pass: rewrite
/// every lease on the account with an expiry in the past (same owner).
/// Returns how many leases were left.
async fn expire_leases(iam: &aws_sdk_iam::Client) -> usize {
    let mut expired = 0;
    for role in live_roles(iam).await.values() {
        let Some(lease) = role.tags.get("fnctl:lock") else {
            continue;
        };
        let owner = lease.split(' ').next().unwrap_or_default();
        iam.tag_role()
            .role_name(&role.name)
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("fnctl:lock")
                    .value(format!("{owner} 2000-01-01T00:00:00Z"))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("expire a lease");
        expired += 1;
    }
    expired
}

async fn assert_converged(
    moto: &Moto,
    iam: &aws_sdk_iam::Client,
    dir: &Path,
    transcript: &Transcript,
) -> BTreeMap<String, LiveRole> {
    let roles = live_roles(iam).await;
    let (bundles, _) = read_bundle_dir(&dir.join("bundles"));
    let wrong = problems_of_all_generated(SCOPE, "fn", COUNT, &roles, &bundles);
    assert!(wrong.is_empty(), "not converged: {wrong:#?}");
    assert_eq!(roles.len(), COUNT);
    let locked: Vec<&String> = roles
        .values()
        .filter(|r| r.tags.contains_key("fnctl:lock"))
        .map(|r| &r.name)
        .collect();
    assert!(
        locked.is_empty(),
        "a completed run left its lease on {locked:?}"
    );
    run(
        &moto.endpoint(),
        dir,
        &["plan", "--detailed-exitcode", "-f", "manifests"],
        transcript,
    )
    .assert_exit(0);
    roles
}

fn pick_trigger(rng: &mut XorShift, expected_requests: u64, bundles: bool) -> Trigger {
    match rng.range(0, if bundles { 4 } else { 3 }) {
        0 | 1 => Trigger::Requests(rng.range(1, expected_requests), rng.range(0, 40)),
        2 => Trigger::Millis(rng.range(50, 1500)),
        _ => Trigger::Bundles(rng.range(1, COUNT as u64) as usize),
    }
}

fn slow_proxy(moto: &Moto, seed: u64) -> FaultProxy {
    let mut config = FaultConfig::quiet();
    config.seed = seed;
    config.fraction = 1.0;
    config.kinds = vec![FaultKind::Delay];
    config.delay = (Duration::from_millis(5), Duration::from_millis(40));
    FaultProxy::start(moto.port(), config)
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_killed_at_random_points_then_rerun_converges() {
    let seed = seed_from_env(DEFAULT_SEED);
    let mut rng = XorShift::new(seed ^ 0xA991);
    let moto = Moto::start();
    let iam = iam_client(&moto).await;
    let proxy = slow_proxy(&moto, seed);
    let ws = workspace();
    let dir = ws.path();
    write_file(
        dir,
        "manifests/main.yaml",
        &generated_manifest(SCOPE, "fn", COUNT),
    );
    let transcript = Transcript::default();
    let mut secrets = BTreeSet::new();
    let args = [
        "apply",
        "--auto-approve",
        "-f",
        "manifests",
        "--bundle-dir",
        "bundles",
        "--parallelism",
        "2",
    ];
    // About 2 writes per role plus the reads.
    let expected = 2 * COUNT as u64 + 3;
    for round in 1..=3 {
        moto.reset();
        let _ = std::fs::remove_dir_all(dir.join("bundles"));
        for kill in 1..=2 {
            let trigger = pick_trigger(&mut rng, expected, true);
            let killed = run_and_kill(&proxy, dir, &args, trigger, &transcript);
            eprintln!(
                "seed {seed} round {round} kill {kill}: {trigger:?} -> {}",
                match killed.killed_after {
                    Some(at) => format!("SIGKILL after {at:?}"),
                    None => format!("finished first (exit {})", killed.output.status),
                }
            );
            let what = format!("seed {seed}, apply round {round}, kill {kill} ({trigger:?})");
            assert_safe_after_kill(&iam, dir, &what, &mut secrets).await;
        }
        run(&proxy.endpoint(), dir, &args, &transcript).assert_exit(0);
        let roles = assert_converged(&moto, &iam, dir, &transcript).await;
        secrets.extend(ids_in_roles(&roles));
    }
    eprintln!("{}", proxy.summary());
    transcript.assert_free_of(&secrets);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_killed_at_random_points_never_locks_a_function_out() {
    let seed = seed_from_env(DEFAULT_SEED);
    let mut rng = XorShift::new(seed ^ 0x207A7E);
    let moto = Moto::start();
    let iam = iam_client(&moto).await;
    let proxy = slow_proxy(&moto, seed);
    proxy.set_fraction(0.0);
    let ws = workspace();
    let dir = ws.path();
    write_file(
        dir,
        "manifests/main.yaml",
        &generated_manifest(SCOPE, "fn", COUNT),
    );
    let transcript = Transcript::default();
    let mut secrets = BTreeSet::new();
    run(
        &proxy.endpoint(),
        dir,
        &[
            "apply",
            "--auto-approve",
            "-f",
            "manifests",
            "--bundle-dir",
            "bundles",
        ],
        &transcript,
    )
    .assert_exit(0);
    proxy.set_fraction(1.0);
    let start = [
        "rotate",
        "--all",
        "--start",
        "-f",
        "manifests",
        "--bundle-dir",
        "bundles",
    ];
    let finish = [
        "rotate",
        "--all",
        "--finish",
        "--force",
        "-f",
        "manifests",
        "--bundle-dir",
        "bundles",
    ];
    // Reads, then per role three writes: start, the lease with the rotation
    // tags, the trust update and the release; finish, the lease with the
    // new ID recorded, the trust update and the untagging with the release.
    let expected_start = 3 * COUNT as u64 + 5;
    let expected_finish = 3 * COUNT as u64 + 5;
    for round in 1..=2 {
        let (before, _) = read_bundle_dir(&dir.join("bundles"));
        let trigger = pick_trigger(&mut rng, expected_start, false);
        let killed = run_and_kill(&proxy, dir, &start, trigger, &transcript);
        eprintln!(
            "seed {seed} round {round} rotate --start: {trigger:?} -> {:?}",
            killed.killed_after
        );
        let what = format!("seed {seed}, round {round}, rotate --start killed ({trigger:?})");
        assert_safe_after_kill(&iam, dir, &what, &mut secrets).await;
        let leases = expire_leases(&iam).await;
        eprintln!("  {leases} lease(s) left by the kill, expired");
        run(&proxy.endpoint(), dir, &start, &transcript).assert_exit(0);
        let started = assert_safe_after_kill(&iam, dir, "after rotate --start", &mut secrets).await;
        let roles = live_roles(&iam).await;
        for (instance, bundle) in &started {
            let role = &roles[&role_of(instance)];
            assert_eq!(
                role.external_ids().len(),
                2,
                "{instance}: both IDs while rotating"
            );
            assert_ne!(
                bundle.external_id, before[instance].external_id,
                "{instance}: the bundle holds the new ID after --start"
            );
        }

        let trigger = pick_trigger(&mut rng, expected_finish, false);
        let killed = run_and_kill(&proxy, dir, &finish, trigger, &transcript);
        eprintln!(
            "seed {seed} round {round} rotate --finish --force: {trigger:?} -> {:?}",
            killed.killed_after
        );
        let what = format!("seed {seed}, round {round}, rotate --finish killed ({trigger:?})");
        assert_safe_after_kill(&iam, dir, &what, &mut secrets).await;
        let leases = expire_leases(&iam).await;
        eprintln!("  {leases} lease(s) left by the kill, expired");
        run(&proxy.endpoint(), dir, &finish, &transcript).assert_exit(0);
        assert_safe_after_kill(&iam, dir, "after rotate --finish", &mut secrets).await;
        let roles = assert_converged(&moto, &iam, dir, &transcript).await;
        let (after, _) = read_bundle_dir(&dir.join("bundles"));
        for (instance, bundle) in &after {
            assert_eq!(
                roles[&role_of(instance)].external_ids(),
                vec![bundle.external_id.clone()],
                "{instance}: exactly the bundle's ID after --finish"
            );
            assert_eq!(
                bundle.external_id, started[instance].external_id,
                "{instance}: finish keeps the ID --start put in the bundle"
            );
        }
    }
    eprintln!("{}", proxy.summary());
    transcript.assert_free_of(&secrets);
}
