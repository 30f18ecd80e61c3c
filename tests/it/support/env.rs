//! One test's world: its own moto, a workspace with `manifests/main.yaml`,
//! an SDK client for reading roles back and changing them out of band, and a
//! record of everything fnctl printed. On drop it checks that no external ID
//! the test saw (in a bundle, a trust policy, or named by the test) ever
//! appears in anything fnctl printed or in a workspace file other than a
//! bundle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

use super::aws_cli::iam_tags;
use super::command::{fnctl, Output};
use super::moto::{iam_client, Moto};
use super::percent::decode_document;
use super::spec::PATH;
use super::transcript::Transcript;
use super::trust::external_ids;

/// Where [`Env::apply`] writes bundles, relative to the workspace.
pub const BUNDLES: &str = "bundles";

/// A fresh temporary directory (removed when dropped).
pub fn workspace() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("fnctl-test-")
        .tempdir()
        .expect("create a temp dir")
}

/// Writes `contents` to `dir/relative_path`, creating parent directories.
pub fn write_file(dir: impl AsRef<Path>, relative_path: &str, contents: &str) -> PathBuf {
    let path = dir.as_ref().join(relative_path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    }
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// Every file under `dir`, recursively.
pub fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// A role as IAM holds it, read with the SDK.
#[derive(Debug, Clone)]
pub struct RoleState {
    pub path: String,
    pub arn: String,
    pub description: Option<String>,
    pub max_session_duration: Option<i32>,
    pub boundary: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub trust: Value,
    pub inline: BTreeMap<String, Value>,
    pub attached: BTreeSet<String>,
}

impl RoleState {
    pub fn external_ids(&self) -> Vec<String> {
        external_ids(&self.trust)
    }

    /// The one external ID of the trust policy (panics unless exactly one).
    pub fn external_id(&self) -> String {
        let ids = self.external_ids();
        assert_eq!(
            ids.len(),
            1,
            "expected exactly one external ID in the trust policy: {ids:?}"
        );
        ids[0].clone()
    }
}

/// One test's world: its moto, its workspace, an SDK client, and a record of
/// everything fnctl printed.
pub struct Env {
    pub moto: Moto,
    pub ws: tempfile::TempDir,
    pub iam: aws_sdk_iam::Client,
    transcript: Transcript,
    secrets: Mutex<BTreeSet<String>>,
}

impl Env {
    /// Starts moto and creates the managed policies the standard manifest
    /// names (`fn-boundary`, `fn-extra`) and the out-of-band tests attach
    /// (`oob-extra`).
    pub async fn start() -> Env {
        let moto = Moto::start();
        let iam = iam_client(&moto).await;
        for name in ["fn-boundary", "fn-extra", "oob-extra"] {
            iam.create_policy()
                .policy_name(name)
                .policy_document(
                    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::some-bucket/*"}]}"#,
                )
                .send()
                .await
                .unwrap_or_else(|e| panic!("create policy {name}: {e:?}"));
        }
        Env {
            moto,
            ws: workspace(),
            iam,
            transcript: Transcript::default(),
            secrets: Mutex::new(BTreeSet::new()),
        }
    }

    /// [`Env::start`] with `manifest` as `manifests/main.yaml`.
    pub async fn with_manifest(manifest: &str) -> Env {
        let env = Env::start().await;
        env.write_manifest(manifest);
        env
    }

    pub fn path(&self) -> &Path {
        self.ws.path()
    }

    /// Replaces `manifests/main.yaml`.
    pub fn write_manifest(&self, contents: &str) {
        self.write("manifests/main.yaml", contents);
    }

    pub fn write(&self, relative: &str, contents: &str) -> PathBuf {
        write_file(self.ws.path(), relative, contents)
    }

    /// Runs fnctl in the workspace and records what it printed.
    pub fn fnctl(&self, args: &[&str]) -> Output {
        let out = fnctl(&self.moto)
            .current_dir(self.ws.path())
            .args(args)
            .run();
        self.transcript.record_output(&args.join(" "), &out);
        out
    }

    /// Like [`Env::fnctl`], with these environment variables set.
    pub fn fnctl_with_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut command = fnctl(&self.moto);
        command.current_dir(self.ws.path()).args(args);
        for (key, value) in vars {
            command.env(key, value);
        }
        let out = command.run();
        self.transcript.record_output(&args.join(" "), &out);
        out
    }

    /// Like [`Env::fnctl`], with text on stdin (a pipe, not a terminal).
    pub fn fnctl_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let out = fnctl(&self.moto)
            .current_dir(self.ws.path())
            .args(args)
            .stdin(input)
            .run();
        self.transcript.record_output(&args.join(" "), &out);
        out
    }

    /// `fnctl plan --detailed-exitcode` plus `extra`.
    pub fn plan(&self, extra: &[&str]) -> Output {
        let mut args = vec!["plan", "--detailed-exitcode"];
        args.extend_from_slice(extra);
        self.fnctl(&args)
    }

    /// `plan --detailed-exitcode` must be 0.
    #[track_caller]
    pub fn assert_plan_clean(&self, when: &str) {
        let out = self.fnctl(&["plan", "--detailed-exitcode"]);
        if out.status != 0 {
            panic!(
                "{when}: plan --detailed-exitcode exited {} (expected 0)\n--- stdout ---\n{}\n--- stderr ---\n{}",
                out.status, out.stdout, out.stderr
            );
        }
    }

    /// `fnctl apply --auto-approve --bundle-dir bundles` plus `extra`.
    pub fn apply(&self, extra: &[&str]) -> Output {
        let mut args = vec!["apply", "--auto-approve", "--bundle-dir", BUNDLES];
        args.extend_from_slice(extra);
        self.fnctl(&args)
    }

    /// `verify --bundle-dir DIR`.
    pub fn verify(&self, bundle_dir: &str) -> Output {
        self.fnctl(&["verify", "--bundle-dir", bundle_dir])
    }

    #[track_caller]
    pub fn assert_verified(&self, bundle_dir: &str, when: &str) {
        let out = self.verify(bundle_dir);
        if out.status != 0 {
            panic!(
                "{when}: verify --bundle-dir {bundle_dir} exited {} (expected 0)\n--- stdout ---\n{}\n--- stderr ---\n{}",
                out.status, out.stdout, out.stderr
            );
        }
    }

    /// `dir/<instance>.json` in the workspace.
    pub fn bundle_path(&self, dir: &str, instance: &str) -> PathBuf {
        self.path().join(dir).join(format!("{instance}.json"))
    }

    /// The bundle `dir/<instance>.json` as JSON (its external ID is
    /// remembered as a secret).
    pub fn bundle(&self, dir: &str, instance: &str) -> Value {
        let path = self.bundle_path(dir, instance);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read bundle {}: {e}", path.display()));
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("bundle {} is not JSON ({e})", path.display()));
        if let Some(id) = value["settings"]["iamRoleExternalId"].as_str() {
            self.remember_secret(id);
        }
        value
    }

    pub fn bundle_id(&self, dir: &str, instance: &str) -> String {
        self.bundle(dir, instance)["settings"]["iamRoleExternalId"]
            .as_str()
            .unwrap_or_else(|| panic!("{dir}/{instance}.json has no iamRoleExternalId"))
            .to_string()
    }

    /// Copies every bundle of `from` into a fresh `to` (a function still
    /// configured with the settings of that moment).
    pub fn snapshot_bundles(&self, from: &str, to: &str) {
        let target = self.path().join(to);
        let _ = std::fs::remove_dir_all(&target);
        std::fs::create_dir_all(&target).unwrap();
        for entry in std::fs::read_dir(self.path().join(from)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), target.join(entry.file_name())).unwrap();
        }
    }

    /// Writes `bundle` as `dir/<instance>.json` (a hand-made bundle).
    pub fn put_bundle(&self, dir: &str, instance: &str, bundle: &Value) {
        write_file(
            self.path(),
            &format!("{dir}/{instance}.json"),
            &serde_json::to_string_pretty(bundle).unwrap(),
        );
    }

    pub fn remember_secret(&self, id: &str) {
        self.secrets.lock().unwrap().insert(id.to_string());
    }

    /// The role as IAM holds it, or `None` when it does not exist.
    pub async fn role(&self, name: &str) -> Option<RoleState> {
        let got = match self.iam.get_role().role_name(name).send().await {
            Ok(got) => got,
            Err(error) => {
                let text = format!("{error:?}");
                assert!(text.contains("NoSuchEntity"), "GetRole {name}: {text}");
                return None;
            }
        };
        let role = got.role().expect("GetRole returns a role").clone();
        let trust = decode_document(role.assume_role_policy_document().expect("trust policy"));
        for id in external_ids(&trust) {
            self.remember_secret(&id);
        }
        let tags = self.tags(name).await;
        let mut inline = BTreeMap::new();
        let names = self
            .iam
            .list_role_policies()
            .role_name(name)
            .send()
            .await
            .expect("ListRolePolicies");
        for policy in names.policy_names() {
            let got = self
                .iam
                .get_role_policy()
                .role_name(name)
                .policy_name(policy)
                .send()
                .await
                .expect("GetRolePolicy");
            inline.insert(policy.clone(), decode_document(got.policy_document()));
        }
        let attached = self
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .expect("ListAttachedRolePolicies")
            .attached_policies()
            .iter()
            .map(|p| p.policy_arn().unwrap_or_default().to_string())
            .collect();
        Some(RoleState {
            path: role.path().to_string(),
            arn: role.arn().to_string(),
            description: role.description().map(str::to_string),
            max_session_duration: role.max_session_duration(),
            boundary: role
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_string),
            tags,
            trust,
            inline,
            attached,
        })
    }

    pub async fn existing_role(&self, name: &str) -> RoleState {
        self.role(name)
            .await
            .unwrap_or_else(|| panic!("role {name} does not exist"))
    }

    /// Names of every role in the account.
    pub async fn role_names(&self) -> BTreeSet<String> {
        self.iam
            .list_roles()
            .send()
            .await
            .expect("ListRoles")
            .roles()
            .iter()
            .map(|r| r.role_name().to_string())
            .collect()
    }

    /// The trust policy of `role`, decoded (its external IDs are remembered
    /// as secrets).
    pub async fn trust(&self, role: &str) -> Value {
        let got = self
            .iam
            .get_role()
            .role_name(role)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetRole {role}: {e:?}"));
        let trust = decode_document(
            got.role()
                .and_then(|r| r.assume_role_policy_document())
                .expect("trust policy"),
        );
        for id in external_ids(&trust) {
            self.remember_secret(&id);
        }
        trust
    }

    pub async fn trust_ids(&self, role: &str) -> Vec<String> {
        external_ids(&self.trust(role).await)
    }

    pub async fn tags(&self, role: &str) -> BTreeMap<String, String> {
        let got = self
            .iam
            .list_role_tags()
            .role_name(role)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListRoleTags {role}: {e:?}"));
        got.tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()
    }

    pub async fn tag(&self, role: &str, pairs: &[(&str, &str)]) {
        let call = self
            .iam
            .tag_role()
            .role_name(role)
            .set_tags(Some(iam_tags(pairs)));
        call.send()
            .await
            .unwrap_or_else(|e| panic!("TagRole {role}: {e:?}"));
    }

    pub async fn put_trust(&self, role: &str, document: &Value) {
        self.iam
            .update_assume_role_policy()
            .role_name(role)
            .policy_document(document.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("UpdateAssumeRolePolicy {role}: {e:?}"));
    }

    pub async fn create_role(&self, role: &str, trust: &Value) {
        self.iam
            .create_role()
            .role_name(role)
            .path(PATH)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateRole {role}: {e:?}"));
    }

    /// No external ID in `ids` appears in anything fnctl printed, nor in any
    /// tag of `roles` (and the drop check will look for them in files too).
    pub async fn assert_no_leak(&self, ids: &[String], roles: &[&str]) {
        for id in ids {
            self.remember_secret(id);
        }
        self.transcript
            .assert_none_of(&ids.iter().cloned().collect());
        for id in ids {
            for role in roles {
                for (key, value) in self.tags(role).await {
                    assert!(
                        !value.contains(id.as_str()) && !key.contains(id.as_str()),
                        "tag {key} of {role} holds an external ID"
                    );
                }
            }
        }
    }

    /// Panics when any remembered external ID appears in anything fnctl
    /// printed or in any file of the workspace other than a bundle (a file
    /// whose `settings.iamRoleExternalId` is set; its ID is remembered).
    pub fn assert_no_secret_leaked(&self) {
        let mut files = Vec::new();
        collect_files(self.ws.path(), &mut files);
        let others = Transcript::default();
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let bundle_id = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
                v["settings"]["iamRoleExternalId"]
                    .as_str()
                    .map(str::to_string)
            });
            match bundle_id {
                Some(id) => self.remember_secret(&id),
                None => others.record(format!("{} (not a bundle)", file.display()), text),
            }
        }
        let secrets = self.secrets.lock().unwrap().clone();
        self.transcript.assert_none_of(&secrets);
        others.assert_none_of(&secrets);
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_no_secret_leaked();
        }
    }
}
