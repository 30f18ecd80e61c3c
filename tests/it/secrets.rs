//! No external ID ever leaves a bundle. Every subcommand (checked against
//! `fnctl --help`, so a new one must be added here) runs at its most verbose
//! (`-vv`) with every environment switch that could turn on SDK or wire
//! logging, against moto, through a state with drift so that documents are
//! diffed. Every external ID ever issued (bundles, trust policies, and the IDs
//! of requests that failed) is collected; none may appear in any stdout or
//! stderr, saved plan, or any other file fnctl wrote. AWS errors that echo
//! the policy document (whole, percent-encoded, a fragment, or the bare
//! value) must be redacted too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{json, Value};

use crate::support::command::{fnctl_command, run_command, Output};
use crate::support::env::{collect_files, workspace, write_file};
use crate::support::fault_proxy::*;
use crate::support::generated::*;
use crate::support::moto::{iam_client, Moto};
use crate::support::percent::decode_document;
use crate::support::spec::*;
use crate::support::transcript::Transcript;

const SCOPE: &str = "secrets";

/// Environment that would turn on any logging the binary may have.
const LOUD_ENV: [(&str, &str); 7] = [
    (
        "RUST_LOG",
        "trace,aws_smithy_runtime=trace,aws_smithy_http=trace,hyper=trace,aws_sigv4=trace",
    ),
    ("RUST_LOG_STYLE", "never"),
    ("RUST_BACKTRACE", "full"),
    ("AWS_LOG_LEVEL", "trace"),
    ("AWS_SDK_LOG", "trace"),
    ("SMITHY_LOG", "trace"),
    ("FNCTL_LOG", "trace"),
];

struct World {
    moto: Moto,
    proxy: FaultProxy,
    iam: aws_sdk_iam::Client,
    ws: tempfile::TempDir,
    transcript: Transcript,
    secrets: std::sync::Mutex<BTreeSet<String>>,
    commands: std::sync::Mutex<BTreeSet<String>>,
}

impl World {
    fn dir(&self) -> &Path {
        self.ws.path()
    }

    /// `fnctl -vv ARGS` through the proxy with every logging switch on.
    fn fnctl(&self, args: &[&str]) -> Output {
        let mut full = vec!["-vv"];
        full.extend_from_slice(args);
        let mut cmd = fnctl_command(&self.proxy.endpoint(), self.dir(), &full);
        for (key, value) in LOUD_ENV {
            cmd.env(key, value);
        }
        let out = run_command(cmd);
        self.transcript.record_output(&full.join(" "), &out);
        self.commands.lock().unwrap().insert(args[0].to_string());
        out
    }

    /// Remembers every ID in IAM and in every bundle folder of the workspace.
    async fn collect(&self) {
        let roles = live_roles(&self.iam).await;
        let mut secrets = self.secrets.lock().unwrap();
        secrets.extend(ids_in_roles(&roles));
        for folder in ["bundles", "bundles-from-iam"] {
            let (bundles, _) = read_bundle_dir(&self.dir().join(folder));
            secrets.extend(bundles.into_values().map(|b| b.external_id));
        }
        secrets.extend(self.proxy.echoed_ids());
    }
}

async fn world() -> World {
    let moto = Moto::start();
    let iam = iam_client(&moto).await;
    let proxy = FaultProxy::start(moto.port(), FaultConfig::quiet());
    let ws = workspace();
    write_file(
        ws.path(),
        "manifests/main.yaml",
        &generated_manifest(SCOPE, "fn", 4),
    );
    World {
        moto,
        proxy,
        iam,
        ws,
        transcript: Transcript::default(),
        secrets: Default::default(),
        commands: Default::default(),
    }
}

/// `aws iam get-account-authorization-details` as the AWS CLI writes it:
/// PascalCase keys, policy documents decoded into JSON objects.
async fn gaad_export(iam: &aws_sdk_iam::Client) -> Value {
    let page = iam
        .get_account_authorization_details()
        .send()
        .await
        .expect("GetAccountAuthorizationDetails");
    let roles: Vec<Value> = page
        .role_detail_list()
        .iter()
        .map(|r| {
            json!({
                "Path": r.path(),
                "RoleName": r.role_name(),
                "RoleId": r.role_id(),
                "Arn": r.arn(),
                "CreateDate": r.create_date().map(|d| d.to_string()),
                "AssumeRolePolicyDocument": decode_document(r.assume_role_policy_document().unwrap_or("{}")),
                "InstanceProfileList": [],
                "RolePolicyList": r.role_policy_list().iter().map(|p| json!({
                    "PolicyName": p.policy_name(),
                    "PolicyDocument": decode_document(p.policy_document().unwrap_or("{}")),
                })).collect::<Vec<_>>(),
                "AttachedManagedPolicies": r.attached_managed_policies().iter().map(|p| json!({
                    "PolicyName": p.policy_name(),
                    "PolicyArn": p.policy_arn(),
                })).collect::<Vec<_>>(),
                "Tags": r.tags().iter().map(|t| json!({"Key": t.key(), "Value": t.value()})).collect::<Vec<_>>(),
                "RoleLastUsed": {},
            })
        })
        .collect();
    json!({
        "UserDetailList": [],
        "GroupDetailList": [],
        "RoleDetailList": roles,
        "Policies": [],
    })
}

/// The subcommands `fnctl --help` lists.
fn subcommands(moto: &Moto, dir: &Path) -> BTreeSet<String> {
    let out = run_command(fnctl_command(&moto.endpoint(), dir, &["--help"]));
    out.assert_success();
    let mut names = BTreeSet::new();
    let mut in_commands = false;
    for line in out.stdout.lines() {
        if line.starts_with("Commands:") {
            in_commands = true;
            continue;
        }
        if in_commands {
            if !line.starts_with("  ") {
                break;
            }
            if let Some(name) = line.split_whitespace().next() {
                if name != "help" {
                    names.insert(name.to_string());
                }
            }
        }
    }
    assert!(
        names.len() >= 10,
        "could not read the subcommands: {}",
        out.stdout
    );
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn no_command_prints_or_saves_an_external_id_even_at_full_verbosity() {
    let w = world().await;
    let with = |args: &[&'static str]| -> Vec<&'static str> {
        let mut all = args.to_vec();
        all.extend_from_slice(&["-f", "manifests"]);
        all
    };

    // Offline commands.
    w.fnctl(&with(&["validate"])).assert_exit(0);
    w.fnctl(&with(&["validate", "--format", "json"]))
        .assert_exit(0);
    w.fnctl(&["schema"]).assert_exit(0);
    w.fnctl(&with(&["iam-policy"])).assert_exit(0);
    w.fnctl(&with(&["iam-policy", "--read-only"]))
        .assert_exit(0);
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        w.fnctl(&["completions", shell]).assert_exit(0);
    }
    w.fnctl(&["whoami"]).assert_exit(0);
    w.fnctl(&["whoami", "--format", "json"]).assert_exit(0);

    // Create through a saved plan, then a plain apply.
    w.fnctl(&with(&["plan", "--out", "plan-create.json"]))
        .assert_exit(0);
    w.fnctl(&with(&[
        "apply",
        "--plan",
        "plan-create.json",
        "--auto-approve",
        "--bundle-dir",
        "bundles",
    ]))
    .assert_exit(0);
    w.fnctl(&with(&[
        "apply",
        "--auto-approve",
        "--bundle-dir",
        "bundles",
    ]))
    .assert_exit(0);
    w.collect().await;
    assert_eq!(w.secrets.lock().unwrap().len(), 4, "four roles, four IDs");

    // Drift: a stranger in one trust policy (the ID kept), a changed
    // inline policy, a lost tag. Plans and drift reports now diff documents.
    let roles = live_roles(&w.iam).await;
    let tampered = role_of(&instance_name("fn", 0));
    let mut trust = roles[&tampered].trust.clone();
    trust["Statement"].as_array_mut().unwrap().push(json!({
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": roles[&tampered].external_ids()[0]}}
    }));
    w.iam
        .update_assume_role_policy()
        .role_name(&tampered)
        .policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    w.iam
        .put_role_policy()
        .role_name(role_of(&instance_name("fn", 1)))
        .policy_name(INLINE)
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    w.iam
        .untag_role()
        .role_name(role_of(&instance_name("fn", 2)))
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    // A rotation in progress (two IDs in one trust policy) for good measure.
    w.fnctl(&with(&[
        "rotate",
        "fn-003",
        "--start",
        "--bundle-dir",
        "bundles",
    ]))
    .assert_exit(0);
    w.collect().await;

    for format in ["text", "json", "markdown"] {
        w.fnctl(&with(&["plan", "--detailed-exitcode", "--format", format]))
            .assert_exit(2);
    }
    w.fnctl(&with(&["plan", "--out", "plan-repair.json"]))
        .assert_exit(0);
    for format in ["text", "json"] {
        w.fnctl(&with(&["drift", "--format", format]))
            .assert_exit(2);
        w.fnctl(&with(&[
            "verify",
            "--bundle-dir",
            "bundles",
            "--format",
            format,
        ]))
        .assert_exit(1);
    }
    // A role made by hand beside fnctl's, for `import` (which writes a
    // manifest of it and leaves fnctl's roles out).
    let hand_made = "HandMadeExternalId0123456789abcdefghijklmnopqrst";
    w.secrets.lock().unwrap().insert(hand_made.to_string());
    w.iam
        .create_role()
        .role_name("hand-made")
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::458175278816:root"}, "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": hand_made}}}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    for format in ["text", "json"] {
        w.fnctl(&["import", "--out", "imported", "--format", format])
            .assert_exit(2);
    }
    let imported = std::fs::read_to_string(w.dir().join("imported/123456789012.yaml"))
        .expect("import wrote the hand-made role's manifest");
    assert!(imported.contains("name: hand-made"), "{imported}");
    // Offline: an export like the AWS CLI's, with every ID in it.
    let export = gaad_export(&w.iam).await;
    write_file(
        w.dir(),
        "gaad.json",
        &serde_json::to_string_pretty(&export).unwrap(),
    );
    for format in ["text", "json"] {
        let out = w.fnctl(&with(&[
            "drift",
            "--snapshot",
            "gaad.json",
            "--format",
            format,
        ]));
        assert_eq!(
            out.status, 2,
            "drift from the snapshot finds the drift:\n{}",
            out.stderr
        );
    }
    for format in ["text", "json", "markdown"] {
        w.fnctl(&with(&[
            "plan",
            "--snapshot",
            "gaad.json",
            "--format",
            format,
        ]))
        .assert_exit(0);
    }
    w.fnctl(&with(&[
        "plan",
        "--snapshot",
        "gaad.json",
        "--out",
        "plan-snapshot.json",
    ]))
    .assert_exit(0);
    w.fnctl(&[
        "import",
        "--out",
        "imported-offline",
        "--snapshot",
        "gaad.json",
    ])
    .assert_exit(2);

    // Repair through the saved plan; bundles from IAM; verify.
    w.fnctl(&with(&[
        "apply",
        "--plan",
        "plan-repair.json",
        "--auto-approve",
        "--bundle-dir",
        "bundles",
    ]))
    .assert_exit(0);
    w.fnctl(&with(&["bundle", "--out-dir", "bundles-from-iam"]))
        .assert_exit(0);
    w.fnctl(&with(&[
        "bundle",
        "--out-dir",
        "bundles-from-iam",
        "--instance",
        "fn-000",
    ]))
    .assert_exit(0);
    w.fnctl(&with(&["verify", "--bundle-dir", "bundles"]))
        .assert_exit(0);
    w.fnctl(&with(&[
        "rotate",
        "--all",
        "--start",
        "--bundle-dir",
        "bundles",
    ]))
    .assert_exit(0);
    w.collect().await;
    w.fnctl(&with(&[
        "rotate",
        "--all",
        "--finish",
        "--bundle-dir",
        "bundles",
    ]))
    .assert_exit(1); // too young without --force: an error that names the role
    w.fnctl(&with(&[
        "rotate",
        "--all",
        "--finish",
        "--force",
        "--bundle-dir",
        "bundles",
    ]))
    .assert_exit(0);
    w.fnctl(&with(&[
        "verify",
        "--bundle-dir",
        "bundles",
        "--format",
        "json",
    ]))
    .assert_exit(0);
    // Failing commands print errors, not secrets.
    w.fnctl(&with(&["rotate", "no-such-instance", "--start"]))
        .assert_exit(1);
    let bad_plan = std::fs::read_to_string(w.dir().join("plan-repair.json"))
        .unwrap()
        .replace("fn-000", "fn-00X");
    write_file(w.dir(), "plan-tampered.json", &bad_plan);
    let out = w.fnctl(&with(&[
        "apply",
        "--plan",
        "plan-tampered.json",
        "--auto-approve",
    ]));
    assert_eq!(out.status, 1, "a tampered saved plan is refused");
    w.collect().await;

    // Every subcommand was covered.
    let all = subcommands(&w.moto, w.dir());
    let covered = w.commands.lock().unwrap().clone();
    let missing: Vec<&String> = all.difference(&covered).collect();
    assert!(missing.is_empty(), "subcommands not exercised: {missing:?}");

    // Every file fnctl wrote besides bundles (saved plans...) is clean too.
    let mut files = Vec::new();
    collect_files(w.dir(), &mut files);
    for file in files {
        let relative = file
            .strip_prefix(w.dir())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if relative.starts_with("bundles") || relative == "gaad.json" {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(&file) {
            w.transcript.record(format!("file {relative}"), text);
        }
    }
    let secrets = w.secrets.lock().unwrap().clone();
    eprintln!(
        "checked {} outputs and files for {} external IDs",
        w.transcript.len(),
        secrets.len()
    );
    assert!(secrets.len() >= 8, "{} IDs collected", secrets.len());
    w.transcript.assert_free_of(&secrets);
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_errors_that_echo_the_policy_document_are_redacted() {
    echoed_errors_are_redacted(&[
        Echo::Document,
        Echo::EncodedDocument,
        Echo::ConditionFragment,
    ])
    .await;
}

/// An error that quotes only the value (no `{`, no `sts:ExternalId` next to
/// it), as AWS validation messages do (`Value '…' at '…' failed to satisfy
/// constraint`): fnctl knows which IDs it sent and must still hide them.
#[tokio::test(flavor = "multi_thread")]
async fn aws_errors_that_quote_only_the_id_value_are_redacted() {
    echoed_errors_are_redacted(&[Echo::BareValue]).await;
}

async fn echoed_errors_are_redacted(echoes: &[Echo]) {
    let w = world().await;
    let with = |args: &[&'static str]| -> Vec<&'static str> {
        let mut all = args.to_vec();
        all.extend_from_slice(&["-f", "manifests", "--bundle-dir", "bundles"]);
        all
    };
    w.fnctl(&with(&["apply", "--auto-approve"])).assert_exit(0);
    w.collect().await;
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    for &echo in echoes {
        // rotate --start: the UpdateAssumeRolePolicy body holds the old and the new ID.
        w.proxy
            .fail_once("UpdateAssumeRolePolicy", Reply::malformed_policy(echo));
        let out = w.fnctl(&with(&["rotate", "fn-001", "--start"]));
        out.assert_exit(1)
            .assert_stderr_contains("MalformedPolicyDocument");
        failures.insert(format!("rotate --start, {echo:?}"), out.stderr.clone());
    }
    // apply: CreateRole of a new instance, and a trust repair.
    let mut manifest = generated_manifest(SCOPE, "fn", 4);
    manifest.push_str("  - name: extra\n    kind: destination\n");
    write_file(w.dir(), "manifests/main.yaml", &manifest);
    let role = role_of(&instance_name("fn", 2));
    for &echo in echoes {
        w.proxy
            .fail_once("CreateRole", Reply::malformed_policy(echo));
        let out = w.fnctl(&with(&["apply", "--auto-approve"]));
        out.assert_exit(1)
            .assert_stderr_contains("MalformedPolicyDocument");
        failures.insert(format!("apply CreateRole, {echo:?}"), out.stderr.clone());
        // The create failed: the next round creates again.
        let _ = w
            .iam
            .delete_role_policy()
            .role_name("segment-fn-extra")
            .policy_name(INLINE)
            .send()
            .await;
        let _ = w
            .iam
            .delete_role()
            .role_name("segment-fn-extra")
            .send()
            .await;

        let live = live_roles(&w.iam).await;
        let mut trust = live[&role].trust.clone();
        trust["Statement"].as_array_mut().unwrap().push(json!({
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
            "Action": "sts:AssumeRole"
        }));
        w.iam
            .update_assume_role_policy()
            .role_name(&role)
            .policy_document(trust.to_string())
            .send()
            .await
            .unwrap();
        w.proxy.fail_once("CreateRole", Reply::not_retried());
        w.proxy
            .fail_once("UpdateAssumeRolePolicy", Reply::malformed_policy(echo));
        let out = w.fnctl(&with(&["apply", "--auto-approve"]));
        out.assert_exit(1)
            .assert_stderr_contains("MalformedPolicyDocument");
        failures.insert(format!("apply trust repair, {echo:?}"), out.stderr.clone());
        w.collect().await;
    }
    w.collect().await;
    let echoed = w.proxy.echoed_ids();
    // Per echo: old and new (rotate), the new one (create), the kept one (repair).
    assert!(
        echoed.len() >= 3 * echoes.len(),
        "the proxy echoed too few IDs: {}",
        echoed.len()
    );
    let secrets = w.secrets.lock().unwrap().clone();
    // Name every leaking case before failing.
    let mut leaks = Vec::new();
    for (case, stderr) in &failures {
        if secrets.iter().any(|s| stderr.contains(s.as_str())) {
            leaks.push(case.clone());
        }
    }
    assert!(
        leaks.is_empty(),
        "an echoed external ID reached fnctl's output in: {leaks:#?}"
    );
    w.transcript.assert_free_of(&secrets);
}
