//! Convergence under injected faults: fnctl against moto through the
//! fault-injecting proxy (`support::fault_proxy`). Throttling, 500, 503,
//! dropped connections (before and after moto did the write) and delays
//! must end in IAM exactly as declared after at most a few re-runs, with a
//! failure report that tells the truth, and never a bundle that cannot
//! assume its role. Seeds are printed; reproduce with `FNCTL_FAULT_SEED=N`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::command::{fnctl_command, run_command, Output};
use crate::support::env::{workspace, write_file};
use crate::support::fault_proxy::*;
use crate::support::generated::*;
use crate::support::moto::{iam_client, Moto, MOTO_ACCOUNT};
use crate::support::spec::*;
use crate::support::transcript::Transcript;
use crate::support::trust::trust_accepts;

const SCOPE: &str = "faults";

fn apply_args() -> Vec<&'static str> {
    vec![
        "apply",
        "--auto-approve",
        "-f",
        "manifests",
        "--bundle-dir",
        "bundles",
    ]
}

fn fnctl(endpoint: &str, dir: &Path, args: &[&str], transcript: &Transcript) -> Output {
    let out = run_command(fnctl_command(endpoint, dir, args));
    transcript.record_output(&args.join(" "), &out);
    out
}

/// Failure lines of an apply report, by role or instance name.
fn reported_failures(stderr: &str) -> BTreeMap<String, String> {
    let mut failed = BTreeMap::new();
    let mut in_list = false;
    for line in stderr.lines() {
        if line.contains("failure(s)") {
            in_list = true;
            continue;
        }
        let Some(item) = line.trim_start().strip_prefix("- ") else {
            continue;
        };
        if !in_list {
            continue;
        }
        let mut words = item.split_whitespace();
        let (Some(kind), Some(name)) = (words.next(), words.next()) else {
            continue;
        };
        let name = name.trim_end_matches(':').to_string();
        let name = match kind {
            "role" => name,
            "instance" => role_of(&name),
            _ => continue,
        };
        failed.insert(name, item.to_string());
    }
    failed
}

/// Whether an error text describes a transient failure (what the SDK
/// retries and gave up on), which a re-run may well see succeed.
fn transient(error: &str) -> bool {
    [
        "Throttling",
        "ServiceFailure",
        "ServiceUnavailable",
        "HTTP 5",
        "timed out",
        "connection",
        "dispatch",
        "could not be read",
        "could not be sent",
        "EntityAlreadyExists",
    ]
    .iter()
    .any(|needle| error.contains(needle))
}

/// Every problem of the generated scope in IAM and the bundle folder.
async fn problems(
    iam: &aws_sdk_iam::Client,
    dir: &Path,
    count: usize,
) -> (BTreeMap<String, Vec<String>>, BTreeMap<String, LiveRole>) {
    let roles = live_roles(iam).await;
    let (bundles, temporaries) = read_bundle_dir(&dir.join("bundles"));
    assert!(
        temporaries.is_empty(),
        "temporary bundle files left behind by a run that was not killed: {temporaries:?}"
    );
    let by_role = problems_of_all_generated(SCOPE, "fn", count, &roles, &bundles);
    (by_role, roles)
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_200_instances_under_20_percent_faults_converges_and_reports_truthfully() {
    const COUNT: usize = 200;
    let moto = Moto::start();
    let iam = iam_client(&moto).await;
    let proxy = FaultProxy::start(moto.port(), FaultConfig::mixed(0.2));
    let ws = workspace();
    let dir = ws.path();
    write_file(
        dir,
        "manifests/main.yaml",
        &generated_manifest(SCOPE, "fn", COUNT),
    );
    let transcript = Transcript::default();

    let mut runs = Vec::new();
    let mut converged = false;
    for attempt in 1..=4 {
        let started = std::time::Instant::now();
        let out = fnctl(&proxy.endpoint(), dir, &apply_args(), &transcript);
        eprintln!(
            "apply #{attempt} with 20% faults: exit {} in {:?}; proxy so far: {}",
            out.status,
            started.elapsed(),
            proxy.summary()
        );
        assert!(
            out.status == 0 || out.status == 1,
            "apply must exit 0 or 1, not {}\n--- stderr ---\n{}",
            out.status,
            out.stderr
        );
        // The report is true: what it does not list is right; what it lists
        // is wrong or failed transiently.
        let failed = reported_failures(&out.stderr);
        if out.status == 1 {
            assert!(
                !failed.is_empty(),
                "apply exited 1 without listing any failure\n--- stderr ---\n{}",
                out.stderr
            );
        } else {
            assert!(failed.is_empty(), "exit 0 but failures listed: {failed:?}");
        }
        let (wrong, _) = problems(&iam, dir, COUNT).await;
        for (role, found) in &wrong {
            assert!(
                failed.contains_key(role),
                "apply #{attempt} (exit {}) did not report {role}, which is not right: {found:?}\n--- stderr ---\n{}",
                out.status,
                out.stderr
            );
        }
        for (role, line) in &failed {
            assert!(
                wrong.contains_key(role) || transient(line),
                "apply #{attempt} reported {role} as failed, but it is right and the error is not transient: {line}"
            );
        }
        runs.push((out.status, failed.len()));
        if out.status == 0 {
            converged = true;
            break;
        }
    }
    eprintln!(
        "runs (exit, failures listed): {runs:?}; {}",
        proxy.summary()
    );
    assert!(
        converged,
        "apply did not converge within 4 runs under 20% faults: {runs:?}"
    );
    assert!(
        proxy.total_faults() >= 50,
        "the proxy injected too few faults to prove anything: {}",
        proxy.summary()
    );

    // Converged: checked directly against moto, without the proxy.
    let (wrong, roles) = problems(&iam, dir, COUNT).await;
    assert!(wrong.is_empty(), "not converged: {wrong:#?}");
    assert_eq!(
        roles.len(),
        COUNT,
        "exactly {COUNT} roles, no stray or duplicate: {:?}",
        roles
            .keys()
            .filter(|n| !n.starts_with("segment-fn-fn-"))
            .collect::<Vec<_>>()
    );
    let (bundles, _) = read_bundle_dir(&dir.join("bundles"));
    assert_eq!(bundles.len(), COUNT, "one bundle per instance");
    let ids: BTreeSet<&String> = bundles.values().map(|b| &b.external_id).collect();
    assert_eq!(ids.len(), COUNT, "every role has its own external ID");
    for bundle in bundles.values() {
        let role = &roles[&role_of(&bundle.instance)];
        assert_eq!(
            bundle.role_arn, role.arn,
            "bundle ARN of {}",
            bundle.instance
        );
    }
    let plan = fnctl(
        &moto.endpoint(),
        dir,
        &["plan", "--detailed-exitcode", "-f", "manifests"],
        &transcript,
    );
    plan.assert_exit(0);
    let verify = fnctl(
        &moto.endpoint(),
        dir,
        &["verify", "-f", "manifests", "--bundle-dir", "bundles"],
        &transcript,
    );
    verify.assert_exit(0);
    let mut secrets = ids_in_roles(&roles);
    secrets.extend(bundles.values().map(|b| b.external_id.clone()));
    transcript.assert_free_of(&secrets);
}

/// A small applied scope: 4 instances, applied through a quiet proxy.
async fn applied_small(
    moto: &Moto,
    proxy: &FaultProxy,
    dir: &Path,
    transcript: &Transcript,
) -> BTreeMap<String, BundleFile> {
    write_file(
        dir,
        "manifests/main.yaml",
        &generated_manifest(SCOPE, "fn", 4),
    );
    fnctl(&proxy.endpoint(), dir, &apply_args(), transcript).assert_exit(0);
    let (bundles, _) = read_bundle_dir(&dir.join("bundles"));
    assert_eq!(bundles.len(), 4);
    let roles = live_roles(&iam_client(moto).await).await;
    assert!(locked_out(&bundles, &roles, generated_account).is_empty());
    bundles
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_trust_repair_keeps_the_bundle_working_and_a_rerun_completes() {
    let moto = Moto::start();
    let iam = iam_client(&moto).await;
    let proxy = FaultProxy::start(moto.port(), FaultConfig::quiet());
    let ws = workspace();
    let dir = ws.path();
    let transcript = Transcript::default();
    let bundles = applied_small(&moto, &proxy, dir, &transcript).await;
    let instance = instance_name("fn", 0);
    let role = role_of(&instance);
    let id = bundles[&instance].external_id.clone();

    // Out of band: a stranger is let in beside Segment (the ID kept).
    let tampered = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "SegmentFunctionAssumeRole", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{DESTINATION_ACCOUNT}:root")},
             "Action": "sts:AssumeRole",
             "Condition": {"StringEquals": {"sts:ExternalId": id}}},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
             "Action": "sts:AssumeRole"}
        ]
    });
    iam.update_assume_role_policy()
        .role_name(&role)
        .policy_document(tampered.to_string())
        .send()
        .await
        .expect("tamper with the trust policy");

    proxy.fail_once("UpdateAssumeRolePolicy", Reply::not_retried());
    let out = fnctl(&proxy.endpoint(), dir, &apply_args(), &transcript);
    out.assert_exit(1)
        .assert_stderr_contains("UpdateAssumeRolePolicy")
        .assert_stderr_contains(&role);
    assert_eq!(
        proxy.faults().get("ConcurrentModification (rule)"),
        Some(&1),
        "{}",
        proxy.summary()
    );
    let roles = live_roles(&iam).await;
    let (after, temporaries) = read_bundle_dir(&dir.join("bundles"));
    assert!(temporaries.is_empty(), "{temporaries:?}");
    assert_eq!(
        after[&instance].external_id, id,
        "the bundle must not change"
    );
    assert!(
        trust_accepts(&roles[&role].trust, DESTINATION_ACCOUNT, &id),
        "after the failed repair the bundle's ID must still be accepted"
    );

    let out = fnctl(&proxy.endpoint(), dir, &apply_args(), &transcript);
    out.assert_exit(0);
    let roles = live_roles(&iam).await;
    let (after, _) = read_bundle_dir(&dir.join("bundles"));
    let found = problems_of_all_generated(SCOPE, "fn", 4, &roles, &after);
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(
        roles[&role].external_ids(),
        vec![id.clone()],
        "the repair keeps the ID"
    );
    fnctl(
        &moto.endpoint(),
        dir,
        &["plan", "--detailed-exitcode", "-f", "manifests"],
        &transcript,
    )
    .assert_exit(0);
    let mut secrets = ids_in_roles(&roles);
    secrets.insert(id);
    transcript.assert_free_of(&secrets);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_trust_update_in_rotate_start_keeps_the_bundle_working_and_a_rerun_completes() {
    let moto = Moto::start();
    let iam = iam_client(&moto).await;
    let proxy = FaultProxy::start(moto.port(), FaultConfig::quiet());
    let ws = workspace();
    let dir = ws.path();
    let transcript = Transcript::default();
    let bundles = applied_small(&moto, &proxy, dir, &transcript).await;
    let instance = instance_name("fn", 1);
    let role = role_of(&instance);
    let old = bundles[&instance].external_id.clone();
    let rotate = |phase: &[&str]| {
        let mut args = vec![
            "rotate",
            instance.as_str(),
            "-f",
            "manifests",
            "--bundle-dir",
            "bundles",
        ];
        args.extend_from_slice(phase);
        fnctl(&proxy.endpoint(), dir, &args, &transcript)
    };

    proxy.fail_once("UpdateAssumeRolePolicy", Reply::not_retried());
    let out = rotate(&["--start"]);
    out.assert_exit(1)
        .assert_stderr_contains("UpdateAssumeRolePolicy");
    assert!(
        out.stderr.contains(&instance) || out.stderr.contains(&role),
        "the failure names the instance:\n{}",
        out.stderr
    );
    let roles = live_roles(&iam).await;
    let (after, temporaries) = read_bundle_dir(&dir.join("bundles"));
    assert!(temporaries.is_empty(), "{temporaries:?}");
    assert_eq!(
        after[&instance].external_id, old,
        "no bundle for a failed start"
    );
    assert!(
        trust_accepts(&roles[&role].trust, SOURCE_ACCOUNT, &old),
        "the old bundle must still be accepted"
    );

    rotate(&["--start"]).assert_exit(0);
    let roles = live_roles(&iam).await;
    let (after, _) = read_bundle_dir(&dir.join("bundles"));
    let new = after[&instance].external_id.clone();
    assert_ne!(new, old);
    let ids: BTreeSet<String> = roles[&role].external_ids().into_iter().collect();
    assert_eq!(
        ids,
        BTreeSet::from([old.clone(), new.clone()]),
        "both IDs while rotating"
    );

    rotate(&["--finish", "--force"]).assert_exit(0);
    let roles = live_roles(&iam).await;
    let (after, _) = read_bundle_dir(&dir.join("bundles"));
    assert_eq!(after[&instance].external_id, new);
    assert_eq!(roles[&role].external_ids(), vec![new.clone()]);
    fnctl(
        &moto.endpoint(),
        dir,
        &["plan", "--detailed-exitcode", "-f", "manifests"],
        &transcript,
    )
    .assert_exit(0);
    let mut secrets = ids_in_roles(&roles);
    secrets.extend([old, new]);
    transcript.assert_free_of(&secrets);
}

/// The nasty case: moto created the role, the answer was lost, the SDK
/// retried CreateRole and got EntityAlreadyExists. Nothing may be created
/// twice, the run may report the role, and a re-run must write a bundle
/// that the role (created with an ID nobody saw) accepts.
#[tokio::test(flavor = "multi_thread")]
async fn create_role_answer_lost_after_moto_created_it() {
    let moto = Moto::start();
    let iam = iam_client(&moto).await;
    let proxy = FaultProxy::start(moto.port(), FaultConfig::quiet());
    let ws = workspace();
    let dir = ws.path();
    let transcript = Transcript::default();
    write_file(
        dir,
        "manifests/main.yaml",
        &generated_manifest(SCOPE, "fn", 3),
    );
    proxy.fail_action("CreateRole", 2, Reply::Fault(FaultKind::ResetAfter));
    proxy.fail_once("PutRolePolicy", Reply::Fault(FaultKind::ResetAfter));
    proxy.fail_once("TagRole", Reply::Fault(FaultKind::ResetAfter));

    let first = fnctl(&proxy.endpoint(), dir, &apply_args(), &transcript);
    eprintln!(
        "first apply exit {}: {}\n{}",
        first.status,
        proxy.summary(),
        first.stderr
    );
    assert!(first.status == 0 || first.status == 1);
    let roles = live_roles(&iam).await;
    assert_eq!(roles.len(), 3, "{:?}", roles.keys().collect::<Vec<_>>());
    let (bundles, _) = read_bundle_dir(&dir.join("bundles"));
    assert!(
        locked_out(&bundles, &roles, generated_account).is_empty(),
        "a bundle the role does not accept"
    );

    let mut last = first;
    for _ in 0..2 {
        if last.status == 0 {
            break;
        }
        last = fnctl(&proxy.endpoint(), dir, &apply_args(), &transcript);
    }
    last.assert_exit(0);
    let (wrong, roles) = problems(&iam, dir, 3).await;
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(roles.len(), 3);
    fnctl(
        &moto.endpoint(),
        dir,
        &["plan", "--detailed-exitcode", "-f", "manifests"],
        &transcript,
    )
    .assert_exit(0);
    transcript.assert_free_of(&ids_in_roles(&roles));
}

/// The account guard stops every writing command before any write reaches
/// the wire, even with drift to repair and a rotation asked for.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_account_stops_before_any_write() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(moto.port(), FaultConfig::quiet());
    let ws = workspace();
    let dir = ws.path();
    let transcript = Transcript::default();
    applied_small(&moto, &proxy, dir, &transcript).await;
    let iam = iam_client(&moto).await;
    iam.untag_role()
        .role_name(role_of(&instance_name("fn", 0)))
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let mut manifest = generated_manifest(SCOPE, "fn", 5);
    manifest = manifest.replace("defaults:\n", "defaults:\n  account: \"111111111111\"\n");
    write_file(dir, "manifests/main.yaml", &manifest);
    let before = proxy.writes().len();
    for args in [
        apply_args(),
        vec![
            "apply",
            "--auto-approve",
            "--prune",
            "-f",
            "manifests",
            "--bundle-dir",
            "bundles",
        ],
        vec![
            "rotate",
            "--all",
            "--start",
            "-f",
            "manifests",
            "--bundle-dir",
            "bundles",
        ],
        vec![
            "rotate",
            "--all",
            "--finish",
            "--force",
            "-f",
            "manifests",
            "--bundle-dir",
            "bundles",
        ],
    ] {
        let out = fnctl(&proxy.endpoint(), dir, &args, &transcript);
        out.assert_exit(1);
        assert!(
            out.stderr.contains("111111111111") && out.stderr.contains(MOTO_ACCOUNT),
            "the guard error names both accounts:\n{}",
            out.stderr
        );
        let writes = proxy.writes();
        assert_eq!(
            writes.len(),
            before,
            "`fnctl {}` wrote to IAM despite the account guard: {:?}",
            args.join(" "),
            &writes[before..]
        );
    }
}

/// `--prune` deletes only owned roles of the scope: never a role without
/// fnctl's tags, nor one of another scope, even under the role path.
#[tokio::test(flavor = "multi_thread")]
async fn prune_never_deletes_a_role_without_fnctl_tags_for_the_scope() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(moto.port(), FaultConfig::quiet());
    let ws = workspace();
    let dir = ws.path();
    let transcript = Transcript::default();
    applied_small(&moto, &proxy, dir, &transcript).await;
    let iam = iam_client(&moto).await;
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{DESTINATION_ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    let tag = |k: &str, v: &str| {
        aws_sdk_iam::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
            .unwrap()
    };
    let create = |name: &'static str, tags: Vec<aws_sdk_iam::types::Tag>| {
        iam.create_role()
            .role_name(name)
            .path(PATH)
            .assume_role_policy_document(trust.clone())
            .set_tags(if tags.is_empty() { None } else { Some(tags) })
            .send()
    };
    create("segment-fn-untagged", vec![]).await.unwrap();
    create(
        "segment-fn-half-tagged",
        vec![tag("fnctl:scope", SCOPE), tag("fnctl:instance", "ghost")],
    )
    .await
    .unwrap();
    create(
        "segment-fn-other-scope",
        vec![
            tag("fnctl:managed-by", "fnctl"),
            tag("fnctl:scope", "someone-else"),
            tag("fnctl:instance", "ghost"),
        ],
    )
    .await
    .unwrap();
    // Drop fn-003 from the manifest: its role is owned and now unnamed.
    write_file(
        dir,
        "manifests/main.yaml",
        &generated_manifest(SCOPE, "fn", 3),
    );
    let before = proxy.events().len();
    let mut args = apply_args();
    args.push("--prune");
    fnctl(&proxy.endpoint(), dir, &args, &transcript).assert_exit(0);
    let touched: BTreeSet<String> = proxy.events()[before..]
        .iter()
        .filter(|e| !e.action.starts_with("Get") && !e.action.starts_with("List"))
        .filter_map(|e| e.role.clone())
        .collect();
    let pruned = role_of(&instance_name("fn", 3));
    assert_eq!(
        touched,
        BTreeSet::from([pruned.clone()]),
        "prune wrote to other roles than the owned, unnamed one"
    );
    let names: BTreeSet<String> = live_roles(&iam).await.into_keys().collect();
    assert!(!names.contains(&pruned), "{names:?}");
    for kept in [
        "segment-fn-untagged",
        "segment-fn-half-tagged",
        "segment-fn-other-scope",
    ] {
        assert!(names.contains(kept), "{kept} was deleted: {names:?}");
    }
}
