//! Helpers for the external-ID lifecycle tests (`tests/rotation.rs`,
//! `tests/lifecycle.rs`, `tests/seed_function.rs`): one moto and one
//! workspace per test, fnctl run in that workspace, roles read back and
//! changed out of band with the SDK, and a leak check that no external ID
//! ever shows up in what fnctl printed.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::support::{fnctl, iam_client, workspace, write_file, Moto, Output, MOTO_ACCOUNT};

pub const PATH: &str = "/segment-functions/";
pub const DESTINATION_ACCOUNT: &str = "458175278816";
pub const SOURCE_ACCOUNT: &str = "300240842537";
pub const BUNDLES: &str = "bundles";

/// Tag keys of SPEC/issue 5 (spelled out here, not taken from src/).
pub const TAG_EXTERNAL_ID: &str = "fnctl:external-id";
pub const TAG_CREATED: &str = "fnctl:external-id-created";
pub const TAG_PENDING: &str = "fnctl:rotation-pending";
pub const TAG_STARTED: &str = "fnctl:rotation-started";

/// `segment-fn-<instance>`, fnctl's default role name.
pub fn role_of(instance: &str) -> String {
    format!("segment-fn-{instance}")
}

pub fn role_arn(role: &str) -> String {
    format!("arn:aws:iam::{MOTO_ACCOUNT}:role{PATH}{role}")
}

/// A trust policy as Segment's docs write it, accepting `ids` (none: no condition).
pub fn trust_document(account: &str, ids: &[&str]) -> Value {
    let mut statement = json!({
        "Sid": "SegmentFunctionAssumeRole",
        "Effect": "Allow",
        "Principal": { "AWS": format!("arn:aws:iam::{account}:root") },
        "Action": "sts:AssumeRole",
    });
    if !ids.is_empty() {
        statement["Condition"] = json!({ "StringEquals": { "sts:ExternalId": ids } });
    }
    json!({ "Version": "2012-10-17", "Statement": [statement] })
}

/// The values under `StringEquals` / `sts:ExternalId` of every Allow
/// statement (an independent reading: scalar or list, key case-insensitive).
pub fn external_ids_of(trust: &Value) -> Vec<String> {
    let statements = match &trust["Statement"] {
        Value::Array(list) => list.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    };
    let mut ids = Vec::new();
    for statement in statements {
        if statement["Effect"] != "Allow" {
            continue;
        }
        let Some(block) = statement["Condition"]["StringEquals"].as_object() else {
            continue;
        };
        for (key, values) in block {
            if !key.eq_ignore_ascii_case("sts:ExternalId") {
                continue;
            }
            match values {
                Value::String(id) => ids.push(id.clone()),
                Value::Array(list) => {
                    ids.extend(list.iter().filter_map(Value::as_str).map(str::to_string))
                }
                _ => {}
            }
        }
    }
    ids
}

pub fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn decode(document: &str) -> Value {
    let text = percent_encoding::percent_decode_str(document)
        .decode_utf8()
        .expect("policy document is UTF-8");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("policy is not JSON ({e}): {text}"))
}

/// A 48-character `[A-Za-z0-9]` ID of the test's own (for simulated crashes).
pub fn test_id(seed: &str) -> String {
    let mut id: String = seed.chars().filter(char::is_ascii_alphanumeric).collect();
    while id.len() < 48 {
        id.push('0');
    }
    id.truncate(48);
    id
}

/// fnctl's fingerprint of an ID, the value its tags hold.
pub fn fingerprint(id: &str) -> String {
    fnctl::model::external_id::ExternalId::new(id).fingerprint()
}

/// One moto, one workspace with `manifests/fnctl.yaml`, and every line fnctl printed.
pub struct Env {
    pub moto: Moto,
    dir: tempfile::TempDir,
    iam: aws_sdk_iam::Client,
    printed: Mutex<Vec<String>>,
}

impl Env {
    pub async fn start(manifest: &str) -> Env {
        let moto = Moto::start();
        let iam = iam_client(&moto).await;
        let env = Env {
            moto,
            dir: workspace(),
            iam,
            printed: Mutex::new(Vec::new()),
        };
        env.write_manifest(manifest);
        env
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn iam(&self) -> &aws_sdk_iam::Client {
        &self.iam
    }

    pub fn write_manifest(&self, manifest: &str) {
        write_file(self.path(), "manifests/fnctl.yaml", manifest);
    }

    /// Runs fnctl in the workspace (manifests from `manifests/`).
    pub fn fnctl(&self, args: &[&str]) -> Output {
        let out = fnctl(&self.moto).current_dir(self.path()).args(args).run();
        self.printed.lock().unwrap().push(format!(
            "$ fnctl {}\n{}\n{}",
            args.join(" "),
            out.stdout,
            out.stderr
        ));
        out
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

    pub fn apply(&self) -> Output {
        self.fnctl(&["apply", "--auto-approve", "--bundle-dir", BUNDLES])
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

    pub fn bundle_path(&self, dir: &str, instance: &str) -> PathBuf {
        self.path().join(dir).join(format!("{instance}.json"))
    }

    pub fn bundle(&self, dir: &str, instance: &str) -> Value {
        let path = self.bundle_path(dir, instance);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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

    pub async fn trust(&self, role: &str) -> Value {
        let got = self
            .iam
            .get_role()
            .role_name(role)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetRole {role}: {e:?}"));
        decode(
            got.role()
                .and_then(|r| r.assume_role_policy_document())
                .expect("trust policy"),
        )
    }

    pub async fn trust_ids(&self, role: &str) -> Vec<String> {
        external_ids_of(&self.trust(role).await)
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
        let mut call = self.iam.tag_role().role_name(role);
        for (key, value) in pairs {
            call = call.tags(
                aws_sdk_iam::types::Tag::builder()
                    .key(*key)
                    .value(*value)
                    .build()
                    .unwrap(),
            );
        }
        call.send()
            .await
            .unwrap_or_else(|e| panic!("TagRole {role}: {e:?}"));
    }

    pub async fn untag(&self, role: &str, keys: &[&str]) {
        let mut call = self.iam.untag_role().role_name(role);
        for key in keys {
            call = call.tag_keys(*key);
        }
        call.send()
            .await
            .unwrap_or_else(|e| panic!("UntagRole {role}: {e:?}"));
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

    /// Everything fnctl printed so far.
    pub fn printed(&self) -> String {
        self.printed.lock().unwrap().join("\n")
    }

    /// No external ID in `ids` appears in anything fnctl printed, nor in any tag of `roles`.
    pub async fn assert_no_leak(&self, ids: &[String], roles: &[&str]) {
        let printed = self.printed();
        for id in ids {
            assert!(
                !printed.contains(id.as_str()),
                "an external ID was printed by fnctl:\n{printed}"
            );
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
}
