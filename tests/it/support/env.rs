//! Helpers for the plan/apply integration tests (`tests/plan_apply.rs`,
//! `tests/out_of_band.rs`): one moto and one workspace per test, manifests,
//! reading roles back with the SDK, and a leak check that no external ID
//! ever shows up in anything fnctl printed or saved (run on drop).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

use crate::support::{fnctl, iam_client, workspace, write_file, Moto, Output, MOTO_ACCOUNT};

pub const PATH: &str = "/segment-functions/";
pub const SCOPE: &str = "test";
pub const DESTINATION_ACCOUNT: &str = "458175278816";
pub const SOURCE_ACCOUNT: &str = "300240842537";
pub const ARCHIVER: &str = "archiver";
pub const ARCHIVER_ROLE: &str = "segment-fn-archiver";
pub const READER: &str = "reader";
pub const READER_ROLE: &str = "segment-fn-reader";
pub const INLINE: &str = "fnctl-permissions";
pub const BUNDLE_DIR: &str = "out/bundles";

pub fn boundary_arn() -> String {
    format!("arn:aws:iam::{MOTO_ACCOUNT}:policy/fn-boundary")
}

pub fn extra_policy_arn() -> String {
    format!("arn:aws:iam::{MOTO_ACCOUNT}:policy/fn-extra")
}

pub fn role_arn(role: &str) -> String {
    format!("arn:aws:iam::{MOTO_ACCOUNT}:role{PATH}{role}")
}

/// The `archiver` instance: a destination with everything a role can have.
pub fn archiver_yaml() -> String {
    format!(
        r#"  - name: archiver
    kind: destination
    role:
      description: Segment S3 archiver
      maxSessionDuration: 7200
      permissionsBoundary: {boundary}
      tags: {{ cost-center: "42" }}
    bucket:
      name: acme-events
      region: us-west-2
      prefix: segment/
      access: write
    managedPolicies: ["{extra}"]
    settings: {{ flushEvery: 100 }}
"#,
        boundary = boundary_arn(),
        extra = extra_policy_arn()
    )
}

/// The `reader` instance: a source with a read bucket and an extra statement.
pub fn reader_yaml() -> String {
    format!(
        r#"  - name: reader
    kind: source
    bucket:
      name: acme-exports
      region: us-east-1
      access: read
    permissions:
      - actions: [sqs:SendMessage, sqs:GetQueueUrl]
        resources: ["arn:aws:sqs:us-east-1:{MOTO_ACCOUNT}:events", "arn:aws:sqs:us-east-1:{MOTO_ACCOUNT}:audit"]
"#
    )
}

/// A manifest of `scope` (with a `team: data` default tag) holding `instances`.
pub fn manifest(scope: &str, instances: &str) -> String {
    format!(
        "version: 1\ndefaults:\n  scope: {scope}\n  rolePath: {PATH}\n  tags: {{ team: data }}\ninstances:\n{instances}"
    )
}

/// Both instances in scope `test`.
pub fn standard_manifest() -> String {
    manifest(SCOPE, &format!("{}{}", archiver_yaml(), reader_yaml()))
}

/// Percent-decodes (IAM URL-encodes documents; moto only some) and parses.
pub fn decode_document(text: &str) -> Value {
    let decoded = percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .expect("document is UTF-8 after percent-decoding");
    serde_json::from_str(&decoded)
        .or_else(|_| serde_json::from_str(text))
        .unwrap_or_else(|e| panic!("document is not JSON ({e}): {text}"))
}

fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn strings(value: &Value) -> BTreeSet<String> {
    as_list(value)
        .into_iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect()
}

pub fn statements(document: &Value) -> Vec<Value> {
    as_list(&document["Statement"])
}

/// `StringEquals` / `sts:ExternalId` values of a trust policy.
pub fn external_ids_in(trust: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    for statement in statements(trust) {
        if let Some(block) = statement["Condition"]["StringEquals"].as_object() {
            for (key, values) in block {
                if key.eq_ignore_ascii_case("sts:ExternalId") {
                    ids.extend(
                        as_list(values)
                            .iter()
                            .map(|v| v.as_str().unwrap().to_string()),
                    );
                }
            }
        }
    }
    ids
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
        external_ids_in(&self.trust)
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

struct Recorded {
    command: String,
    stdout: String,
    stderr: String,
}

/// One test's world: its moto, its workspace, an SDK client, and a record of
/// everything fnctl printed.
pub struct Env {
    pub moto: Moto,
    pub ws: tempfile::TempDir,
    pub iam: aws_sdk_iam::Client,
    outputs: Mutex<Vec<Recorded>>,
    secrets: Mutex<BTreeSet<String>>,
}

impl Env {
    /// Starts moto and creates the managed policies the manifests name.
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
            outputs: Mutex::new(Vec::new()),
            secrets: Mutex::new(BTreeSet::new()),
        }
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
        self.outputs.lock().unwrap().push(Recorded {
            command: args.join(" "),
            stdout: out.stdout.clone(),
            stderr: out.stderr.clone(),
        });
        out
    }

    /// Like [`Env::fnctl`], with text on stdin (a pipe, not a terminal).
    pub fn fnctl_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let out = fnctl(&self.moto)
            .current_dir(self.ws.path())
            .args(args)
            .stdin(input)
            .run();
        self.outputs.lock().unwrap().push(Recorded {
            command: args.join(" "),
            stdout: out.stdout.clone(),
            stderr: out.stderr.clone(),
        });
        out
    }

    /// `fnctl plan --detailed-exitcode` plus `extra`.
    pub fn plan(&self, extra: &[&str]) -> Output {
        let mut args = vec!["plan", "--detailed-exitcode"];
        args.extend_from_slice(extra);
        self.fnctl(&args)
    }

    /// `fnctl apply --auto-approve --bundle-dir out/bundles` plus `extra`.
    pub fn apply(&self, extra: &[&str]) -> Output {
        let mut args = vec!["apply", "--auto-approve", "--bundle-dir", BUNDLE_DIR];
        args.extend_from_slice(extra);
        self.fnctl(&args)
    }

    pub fn bundle_path(&self, instance: &str) -> PathBuf {
        self.ws
            .path()
            .join(BUNDLE_DIR)
            .join(format!("{instance}.json"))
    }

    /// The bundle of `instance` as JSON (its external ID is remembered as a secret).
    pub fn bundle(&self, instance: &str) -> Value {
        let path = self.bundle_path(instance);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read bundle {}: {e}", path.display()));
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("bundle {} is not JSON ({e})", path.display()));
        if let Some(id) = value["settings"]["iamRoleExternalId"].as_str() {
            self.remember_secret(id);
        }
        value
    }

    pub fn bundle_id(&self, instance: &str) -> String {
        self.bundle(instance)["settings"]["iamRoleExternalId"]
            .as_str()
            .unwrap_or_else(|| panic!("bundle of {instance} has no iamRoleExternalId"))
            .to_string()
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
        for id in external_ids_in(&trust) {
            self.remember_secret(&id);
        }
        let tags = self
            .iam
            .list_role_tags()
            .role_name(name)
            .send()
            .await
            .expect("ListRoleTags")
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
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

    /// Panics when any remembered external ID appears in anything fnctl
    /// printed or in any file of the workspace other than a bundle.
    pub fn assert_no_secret_leaked(&self) {
        let mut files = Vec::new();
        collect_files(self.ws.path(), &mut files);
        let mut others = Vec::new();
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
                None => others.push((file, text)),
            }
        }
        let secrets = self.secrets.lock().unwrap().clone();
        for secret in &secrets {
            for recorded in self.outputs.lock().unwrap().iter() {
                assert!(
                    !recorded.stdout.contains(secret.as_str()),
                    "an external ID appears on stdout of `fnctl {}`:\n{}",
                    recorded.command,
                    recorded.stdout
                );
                assert!(
                    !recorded.stderr.contains(secret.as_str()),
                    "an external ID appears on stderr of `fnctl {}`:\n{}",
                    recorded.command,
                    recorded.stderr
                );
            }
            for (file, text) in &others {
                assert!(
                    !text.contains(secret.as_str()),
                    "an external ID appears in {} (not a bundle)",
                    file.display()
                );
            }
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_no_secret_leaked();
        }
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
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

/// Checks the `archiver` role against its manifest, completely.
pub fn assert_archiver_as_declared(role: &RoleState) {
    assert_eq!(role.path, PATH);
    assert_eq!(role.arn, role_arn(ARCHIVER_ROLE));
    assert_eq!(role.description.as_deref(), Some("Segment S3 archiver"));
    assert_eq!(role.max_session_duration, Some(7200));
    assert_eq!(role.boundary.as_deref(), Some(boundary_arn().as_str()));
    assert_owned_tags(role, SCOPE, ARCHIVER);
    assert_eq!(
        role.tags.get("team").map(String::as_str),
        Some("data"),
        "{:?}",
        role.tags
    );
    assert_eq!(
        role.tags.get("cost-center").map(String::as_str),
        Some("42"),
        "{:?}",
        role.tags
    );
    assert_trust(role, DESTINATION_ACCOUNT);
    assert_eq!(
        role.inline.keys().collect::<Vec<_>>(),
        [INLINE],
        "inline policies: {:?}",
        role.inline
    );
    let (actions, resources) = grants(&role.inline[INLINE]);
    assert_eq!(actions, BTreeSet::from(["s3:PutObject".to_string()]));
    assert_eq!(
        resources,
        BTreeSet::from(["arn:aws:s3:::acme-events/segment/*".to_string()])
    );
    assert_eq!(role.attached, BTreeSet::from([extra_policy_arn()]));
}

/// Checks the `reader` role against its manifest.
pub fn assert_reader_as_declared(role: &RoleState) {
    assert_eq!(role.path, PATH);
    assert_eq!(role.arn, role_arn(READER_ROLE));
    assert_owned_tags(role, SCOPE, READER);
    assert_trust(role, SOURCE_ACCOUNT);
    assert_eq!(role.inline.keys().collect::<Vec<_>>(), [INLINE]);
    let (actions, resources) = grants(&role.inline[INLINE]);
    let expected: BTreeSet<String> = [
        "s3:GetObject",
        "s3:ListBucket",
        "sqs:SendMessage",
        "sqs:GetQueueUrl",
    ]
    .map(String::from)
    .into();
    assert_eq!(actions, expected);
    assert!(
        resources.contains("arn:aws:s3:::acme-exports/*"),
        "{resources:?}"
    );
    assert!(
        resources.contains("arn:aws:s3:::acme-exports"),
        "{resources:?}"
    );
    assert!(role.attached.is_empty(), "{:?}", role.attached);
    assert_eq!(role.boundary, None);
}

/// fnctl's ownership tags name `scope` and `instance`.
pub fn assert_owned_tags(role: &RoleState, scope: &str, instance: &str) {
    let tag = |k: &str| role.tags.get(k).map(String::as_str);
    assert_eq!(tag("fnctl:managed-by"), Some("fnctl"), "{:?}", role.tags);
    assert_eq!(tag("fnctl:scope"), Some(scope), "{:?}", role.tags);
    assert_eq!(tag("fnctl:instance"), Some(instance), "{:?}", role.tags);
}

/// The trust policy is exactly SPEC's: one Allow statement, Segment's account
/// root, sts:AssumeRole, StringEquals sts:ExternalId = one ID.
pub fn assert_trust(role: &RoleState, segment_account: &str) {
    let trust = &role.trust;
    let all = statements(trust);
    assert_eq!(all.len(), 1, "trust policy: {trust:#}");
    let statement = &all[0];
    assert_eq!(statement["Effect"], "Allow", "{trust:#}");
    assert_eq!(statement["Sid"], "SegmentFunctionAssumeRole", "{trust:#}");
    let principals: BTreeSet<String> = strings(&statement["Principal"]["AWS"]);
    assert_eq!(
        principals,
        BTreeSet::from([format!("arn:aws:iam::{segment_account}:root")]),
        "{trust:#}"
    );
    assert_eq!(
        statement["Principal"].as_object().map(|o| o.len()),
        Some(1),
        "{trust:#}"
    );
    assert_eq!(
        strings(&statement["Action"]),
        BTreeSet::from(["sts:AssumeRole".to_string()])
    );
    let condition = statement["Condition"].as_object().expect("a Condition");
    assert_eq!(condition.len(), 1, "only StringEquals: {trust:#}");
    let equals = condition["StringEquals"].as_object().expect("StringEquals");
    assert_eq!(equals.len(), 1, "only sts:ExternalId: {trust:#}");
    let id = role.external_id();
    assert_external_id_shape(&id);
}

pub fn assert_external_id_shape(id: &str) {
    assert_eq!(id.len(), 48, "external ID length");
    assert!(
        id.bytes().all(|b| b.is_ascii_alphanumeric()),
        "external ID is not [A-Za-z0-9]"
    );
}

/// All actions and resources of a permission policy's Allow statements;
/// panics on Deny, NotAction or NotResource.
pub fn grants(policy: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut actions = BTreeSet::new();
    let mut resources = BTreeSet::new();
    for statement in statements(policy) {
        assert_eq!(statement["Effect"], "Allow", "{policy:#}");
        assert!(statement.get("NotAction").is_none(), "{policy:#}");
        assert!(statement.get("NotResource").is_none(), "{policy:#}");
        actions.extend(strings(&statement["Action"]));
        resources.extend(strings(&statement["Resource"]));
    }
    (actions, resources)
}

/// The bundle's ID equals the one in the role's trust policy.
pub fn assert_bundle_matches(env: &Env, instance: &str, role: &RoleState) -> String {
    let id = env.bundle_id(instance);
    assert_eq!(
        id,
        role.external_id(),
        "bundle of {instance} and the trust policy hold different external IDs"
    );
    id
}
