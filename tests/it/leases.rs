//! What rotation costs in IAM calls, counted outside fnctl by the proxy:
//! leases are taken a batch at a time (every lease written before any
//! rotation write, read back with account reads rather than one GetRole per
//! role), and a `--finish` that `--min-age` refuses writes nothing at all,
//! not even a lease (issue 12, item 4).

use crate::support::command::{fnctl_command, run_command, Output};
use crate::support::env::{workspace, write_file};
use crate::support::fault_proxy::*;
use crate::support::generated::*;
use crate::support::moto::Moto;
use crate::support::transcript::Transcript;
use std::collections::BTreeMap;
use std::path::Path;

const SCOPE: &str = "leases";
const COUNT: usize = 12;

fn fnctl(proxy: &FaultProxy, dir: &Path, args: &[&str], transcript: &Transcript) -> Output {
    let out = run_command(fnctl_command(&proxy.endpoint(), dir, args));
    transcript.record_output(&args.join(" "), &out);
    out
}

fn rotate_all(phase: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec![
        "rotate",
        "--all",
        "-f",
        "manifests",
        "--bundle-dir",
        "bundles",
    ];
    args.extend_from_slice(phase);
    args
}

/// How many of `events` there are of each action.
fn by_action(events: &[Event]) -> BTreeMap<String, usize> {
    let mut counted = BTreeMap::new();
    for event in events {
        *counted.entry(event.action.clone()).or_default() += 1;
    }
    counted
}

/// An applied scope of [`COUNT`] roles behind a quiet proxy.
fn applied(moto: &Moto, transcript: &Transcript) -> (FaultProxy, tempfile::TempDir) {
    let proxy = FaultProxy::start(moto.port(), FaultConfig::quiet());
    let ws = workspace();
    write_file(
        ws.path(),
        "manifests/main.yaml",
        &generated_manifest(SCOPE, "fn", COUNT),
    );
    fnctl(
        &proxy,
        ws.path(),
        &[
            "apply",
            "--auto-approve",
            "-f",
            "manifests",
            "--bundle-dir",
            "bundles",
        ],
        transcript,
    )
    .assert_exit(0);
    (proxy, ws)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_finish_refused_by_min_age_writes_no_lease() {
    let moto = Moto::start();
    let transcript = Transcript::default();
    let (proxy, ws) = applied(&moto, &transcript);
    let dir = ws.path();
    fnctl(&proxy, dir, &rotate_all(&["--start"]), &transcript).assert_exit(0);

    let before = proxy.events().len();
    // Started a moment ago: younger than the default --min-age of an hour.
    let refused = fnctl(&proxy, dir, &rotate_all(&["--finish"]), &transcript);
    refused.assert_exit(1).assert_stderr_contains("--force");
    let events = proxy.events();
    let writes: Vec<&Event> = events[before..]
        .iter()
        .filter(|e| !(e.action.starts_with("Get") || e.action.starts_with("List")))
        .collect();
    assert!(
        writes.is_empty(),
        "a --finish refused by --min-age wrote to IAM ({} writes: {:?})",
        writes.len(),
        by_action(&events[before..])
    );
    for i in 0..COUNT {
        let instance = instance_name("fn", i);
        assert!(
            refused.stderr.contains(&instance),
            "the refusal names {instance}:\n{}",
            refused.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_takes_its_leases_at_once_and_reads_in_batches() {
    let moto = Moto::start();
    let transcript = Transcript::default();
    let (proxy, ws) = applied(&moto, &transcript);
    let dir = ws.path();

    for phase in [&["--start"][..], &["--finish", "--force"][..]] {
        let before = proxy.events().len();
        fnctl(&proxy, dir, &rotate_all(phase), &transcript).assert_exit(0);
        let events = proxy.events()[before..].to_vec();
        let counted = by_action(&events);
        let writes = |action: &str| counted.get(action).copied().unwrap_or_default();
        // Per role three writes: the lease carries the phase's first tag
        // write (start: the rotation tags; finish: the new ID recorded), then
        // the trust update, then the release (finish: in its untagging).
        let (tags, untags) = (1, 1);
        assert_eq!(writes("TagRole"), tags * COUNT, "{phase:?}: {counted:?}");
        assert_eq!(
            writes("UntagRole"),
            untags * COUNT,
            "{phase:?}: {counted:?}"
        );
        assert_eq!(
            writes("UpdateAssumeRolePolicy"),
            COUNT,
            "{phase:?}: {counted:?}"
        );
        // Reads: the plan's, then the batch read-backs, never one per role.
        assert_eq!(writes("GetRole"), 0, "{phase:?}: {counted:?}");
        assert!(
            writes("GetAccountAuthorizationDetails") <= 3,
            "{phase:?}: {counted:?}"
        );
        // Every lease is written before the first rotation write: IAM
        // settles once for the batch, not once per role.
        let first_trust = events
            .iter()
            .position(|e| e.action == "UpdateAssumeRolePolicy")
            .expect("a trust update");
        let mut leased = std::collections::BTreeSet::new();
        for event in &events[..first_trust] {
            if event.action == "TagRole" {
                leased.insert(event.role.clone().expect("TagRole names its role"));
            }
        }
        assert_eq!(
            leased.len(),
            COUNT,
            "{phase:?}: only {} of {COUNT} leases were written before the first trust update",
            leased.len()
        );
    }
}
