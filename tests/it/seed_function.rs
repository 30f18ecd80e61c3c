//! End-to-end proof with the function code itself (issue 5): Segment's
//! example destination function (`shared/seed`, shipped with its documented
//! fix as `examples/functions/s3-archiver.js`) runs under Node.js with
//! aws-sdk v2, as in Segment's runtime (`tests/seed_function/runtime.js`),
//! fed the bundle fnctl wrote as its settings (`run.js`) or, in
//! [`from_the_manifests`], the code and settings the Segment test server
//! holds after fnctl made the function and its instance, against moto with IAM enforcement on. The caller is an IAM
//! user with an access key in Segment's destination account 458175278816
//! (moto's multi-account support), as Segment's runtime would be.
//!
//! The seed function writes each event to `<event.type>/<ms>.json`, so the
//! manifest's bucket prefix is `track/`: a `track` event lands under it, and
//! the same code fed an event of type `other` tries `other/<ms>.json`, which
//! the role's policy does not grant (AccessDenied under enforcement).
//!
//! Needs Node.js ≥ 18 and npm with the npm registry (for `aws-sdk`, pinned in
//! `tests/seed_function/package-lock.json`). `./scripts/setup` installs it
//! into `tests/seed_function/node_modules`; without that, the first test
//! runs `npm ci` into cargo's target tmp dir. Never skipped: fails loudly.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::support::env::{Env, BUNDLES};
use crate::support::moto::{reset_auth, Moto};
use crate::support::spec::DESTINATION_ACCOUNT;

const INSTANCE: &str = "archiver";
const BUCKET: &str = "seed-archive";
const PREFIX: &str = "track/";
const SEGMENT_USER: &str = "segment-functions-runtime";

const SETUP_HINT: &str = "the seed-function test needs Node.js >= 18 and npm with access to the npm registry: install them, then run ./scripts/setup (it runs `npm ci` in tests/seed_function)";

fn manifest() -> String {
    format!(
        r#"version: 1
defaults:
  scope: seed
instances:
  - name: {INSTANCE}
    kind: destination
    bucket: {{ name: {BUCKET}, region: us-east-1, prefix: {PREFIX}, access: write }}
"#
    )
}

fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seed_function")
}

/// sha256 of package.json + package-lock.json: the stamp of an up-to-date
/// install (scripts/setup writes the same into node_modules/.fnctl-stamp).
fn lock_hash() -> String {
    let mut hasher = Sha256::new();
    for file in ["package.json", "package-lock.json"] {
        let path = sources().join(file);
        hasher.update(
            std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
        );
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn installed(dir: &Path, hash: &str) -> bool {
    std::fs::read_to_string(dir.join("node_modules/.fnctl-stamp"))
        .is_ok_and(|stamp| stamp.trim() == hash)
        && dir.join("node_modules/aws-sdk/package.json").is_file()
}

fn check_node() {
    let version = Command::new("node")
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("cannot run `node` ({e}); {SETUP_HINT}"));
    let text = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let major: u32 = text
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        version.status.success() && major >= 18,
        "node --version says {text:?}; {SETUP_HINT}"
    );
}

/// The folder to run the scripts from, with aws-sdk installed: the sources
/// when scripts/setup installed them, else a copy in cargo's target tmp dir
/// (installed once per lock-file version, atomically by rename).
fn node_project() -> &'static Path {
    static PROJECT: OnceLock<PathBuf> = OnceLock::new();
    PROJECT.get_or_init(|| {
        check_node();
        let hash = lock_hash();
        if installed(&sources(), &hash) {
            return sources();
        }
        let target =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("seed-function-{}", &hash[..16]));
        if !installed(&target, &hash) {
            let staging = tempfile::Builder::new()
                .prefix("seed-function-staging-")
                .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                .expect("staging dir");
            for file in ["package.json", "package-lock.json"] {
                std::fs::copy(sources().join(file), staging.path().join(file)).unwrap();
            }
            let out = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
                .current_dir(staging.path())
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("cannot run `npm` ({e}); {SETUP_HINT}"));
            assert!(
                out.status.success(),
                "`npm ci` in {} failed ({}); {SETUP_HINT}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                staging.path().display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::write(staging.path().join("node_modules/.fnctl-stamp"), &hash).unwrap();
            let staged = staging.keep();
            if std::fs::rename(&staged, &target).is_err() {
                // Another test run won the race; use its install.
                let _ = std::fs::remove_dir_all(&staged);
            }
            assert!(
                installed(&target, &hash),
                "install into {} failed; {SETUP_HINT}",
                target.display()
            );
        }
        // The scripts are copied every run so edits to them take effect.
        for file in ["run.js", "admin.js", "runtime.js"] {
            std::fs::copy(sources().join(file), target.join(file)).unwrap();
        }
        target
    })
}

/// The result of one node script.
#[derive(Debug)]
struct NodeRun {
    status: i32,
    stdout: String,
    stderr: String,
}

impl NodeRun {
    /// The `code` of the JSON error line run.js prints on failure.
    fn error_code(&self) -> Option<String> {
        self.stderr
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<Value>(l).ok())
            .and_then(|v| v["code"].as_str().map(str::to_string))
    }
}

fn node(moto: &Moto, script: &str, args: &[&str], keys: (&str, &str), stdin: &str) -> NodeRun {
    use std::io::Write;
    let dir = node_project();
    let mut cmd = Command::new("node");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(&key);
        }
    }
    let no_file = dir.join(".no-aws-config");
    cmd.arg(dir.join(script))
        .args(args)
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", keys.0)
        .env("AWS_SECRET_ACCESS_KEY", keys.1)
        .env("AWS_CONFIG_FILE", &no_file)
        .env("AWS_SHARED_CREDENTIALS_FILE", &no_file)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE", "1")
        .env(
            "FNCTL_FUNCTION_CODE",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/functions/s3-archiver.js"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node ({e}); {SETUP_HINT}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("wait for node");
    NodeRun {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const OWNER_KEYS: (&str, &str) = ("testing", "testing");

/// Objects in the bucket, as its owner (enforcement must be off).
fn objects(moto: &Moto) -> Vec<(String, Value)> {
    objects_in(moto, BUCKET)
}

/// Objects in `bucket`, as its owner (enforcement must be off).
fn objects_in(moto: &Moto, bucket: &str) -> Vec<(String, Value)> {
    let run = node(moto, "admin.js", &["list", bucket], OWNER_KEYS, "");
    assert_eq!(run.status, 0, "admin.js list failed: {run:?}");
    let listed: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    listed
        .into_iter()
        .map(|o| {
            (
                o["key"].as_str().unwrap().to_string(),
                serde_json::from_str(o["body"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

fn event(kind: &str, marker: &str) -> Value {
    json!({
        "type": kind,
        "event": "Order Completed",
        "userId": "user-1",
        "messageId": marker,
        "properties": { "revenue": 42.5, "marker": marker },
        "timestamp": "2026-11-24T12:00:00.000Z"
    })
}

/// The Segment runtime's IAM user, with an access key, in Segment's
/// destination account (moto's `x-moto-account-id` header), allowed to
/// assume roles (as Segment's account is; the customer's trust policy is
/// what restricts it).
async fn segment_runtime_keys(env: &Env) -> (String, String) {
    let iam = &env.iam;
    iam.create_user()
        .user_name(SEGMENT_USER)
        .customize()
        .mutate_request(|req| {
            req.headers_mut()
                .insert("x-moto-account-id", DESTINATION_ACCOUNT);
        })
        .send()
        .await
        .expect("CreateUser in Segment's account");
    iam.put_user_policy()
        .user_name(SEGMENT_USER)
        .policy_name("assume-customer-roles")
        .policy_document(
            json!({
                "Version": "2012-10-17",
                "Statement": [{ "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*" }]
            })
            .to_string(),
        )
        .customize()
        .mutate_request(|req| {
            req.headers_mut()
                .insert("x-moto-account-id", DESTINATION_ACCOUNT);
        })
        .send()
        .await
        .expect("PutUserPolicy in Segment's account");
    let key = iam
        .create_access_key()
        .user_name(SEGMENT_USER)
        .customize()
        .mutate_request(|req| {
            req.headers_mut()
                .insert("x-moto-account-id", DESTINATION_ACCOUNT);
        })
        .send()
        .await
        .expect("CreateAccessKey in Segment's account")
        .access_key
        .expect("access key");
    // The key really acts in Segment's account.
    let caller = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .endpoint_url(env.moto.endpoint())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                key.access_key_id(),
                key.secret_access_key(),
                None,
                None,
                "segment",
            ))
            .build(),
    )
    .get_caller_identity()
    .send()
    .await
    .expect("GetCallerIdentity as the Segment user");
    assert_eq!(caller.account(), Some(DESTINATION_ACCOUNT));
    (
        key.access_key_id().to_string(),
        key.secret_access_key().to_string(),
    )
}

/// Moto with the bucket, the Segment user, and fnctl's role applied.
async fn setup() -> (Env, (String, String)) {
    node_project();
    let env = Env::with_manifest(&manifest()).await;
    let created = node(
        &env.moto,
        "admin.js",
        &["create-bucket", BUCKET],
        OWNER_KEYS,
        "",
    );
    assert_eq!(created.status, 0, "create bucket: {created:?}");
    env.apply(&[]).assert_success();
    let keys = segment_runtime_keys(&env).await;
    (env, keys)
}

/// Runs the seed function once, IAM enforcement on, with the bundle
/// `dir/archiver.json` as settings and `event`; enforcement off again after.
fn run_seed(env: &Env, keys: &(String, String), dir: &str, event: &Value) -> NodeRun {
    let bundle = env.bundle_path(dir, INSTANCE);
    reset_auth(&env.moto, "0");
    let run = node(
        &env.moto,
        "run.js",
        &[bundle.to_str().unwrap()],
        (&keys.0, &keys.1),
        &event.to_string(),
    );
    reset_auth(&env.moto, "inf");
    run
}

#[track_caller]
fn assert_delivered(env: &Env, run: &NodeRun, event: &Value, when: &str) {
    assert_eq!(run.status, 0, "{when}: the seed function failed: {run:?}");
    let found: Vec<String> = objects(&env.moto)
        .into_iter()
        .filter(|(_, body)| body == event)
        .map(|(key, _)| key)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{when}: the event is in the bucket once: {found:?}"
    );
    assert!(
        found[0].starts_with(PREFIX),
        "{when}: the event landed at {} (outside {PREFIX})",
        found[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_function_writes_under_its_prefix_and_is_denied_elsewhere() {
    let (env, keys) = setup().await;

    let tracked = event("track", "first-event");
    let run = run_seed(&env, &keys, BUNDLES, &tracked);
    assert_delivered(&env, &run, &tracked, "with fnctl's bundle");

    // The same code, an event whose key falls outside the grant: denied.
    let other = event("other", "outside-the-grant");
    let denied = run_seed(&env, &keys, BUNDLES, &other);
    assert_ne!(
        denied.status, 0,
        "a write to other/… must be denied: {denied:?}"
    );
    assert_eq!(
        denied.error_code().as_deref(),
        Some("AccessDenied"),
        "{denied:?}"
    );
    assert!(
        objects(&env.moto)
            .iter()
            .all(|(key, _)| !key.starts_with("other/")),
        "nothing was written outside the prefix"
    );

    // Enforcement is real: with it on, the owner's dummy keys are refused too.
    reset_auth(&env.moto, "0");
    let refused = node(&env.moto, "admin.js", &["list", BUCKET], OWNER_KEYS, "");
    reset_auth(&env.moto, "inf");
    assert_ne!(
        refused.status, 0,
        "moto's IAM enforcement is not on: {refused:?}"
    );

    env.assert_verified(BUNDLES, "the bundle the function used");
    env.assert_plan_clean("after the function ran");
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_function_keeps_working_through_a_rotation() {
    let (env, keys) = setup().await;
    env.snapshot_bundles(BUNDLES, "old-bundles");
    let before = event("track", "before-rotation");
    assert_delivered(
        &env,
        &run_seed(&env, &keys, BUNDLES, &before),
        &before,
        "before the rotation",
    );

    env.fnctl(&["rotate", INSTANCE, "--start", "--bundle-dir", BUNDLES])
        .assert_success();
    assert_ne!(
        env.bundle_id(BUNDLES, INSTANCE),
        env.bundle_id("old-bundles", INSTANCE)
    );
    // During the overlap, a function still configured with the old bundle
    // and one already updated to the new bundle both work.
    let old_during = event("track", "old-bundle-during-overlap");
    assert_delivered(
        &env,
        &run_seed(&env, &keys, "old-bundles", &old_during),
        &old_during,
        "old bundle during the overlap",
    );
    let new_during = event("track", "new-bundle-during-overlap");
    assert_delivered(
        &env,
        &run_seed(&env, &keys, BUNDLES, &new_during),
        &new_during,
        "new bundle during the overlap",
    );
    env.assert_verified("old-bundles", "old bundle during the overlap");
    env.assert_verified(BUNDLES, "new bundle during the overlap");
    env.assert_plan_clean("during the overlap");

    env.fnctl(&[
        "rotate",
        INSTANCE,
        "--finish",
        "--force",
        "--bundle-dir",
        BUNDLES,
    ])
    .assert_success();
    let after = event("track", "new-bundle-after-finish");
    assert_delivered(
        &env,
        &run_seed(&env, &keys, BUNDLES, &after),
        &after,
        "new bundle after --finish",
    );
    // moto's STS does not check external IDs (FACTS.md), so running the seed
    // with the old bundle would still succeed here and prove nothing; the
    // old ID's rejection after --finish is proven by fnctl verify's static
    // evaluation of the live trust policy instead.
    env.verify("old-bundles")
        .assert_exit(1)
        .assert_stdout_contains("bundle-external-id-rejected");
    env.assert_verified(BUNDLES, "new bundle after --finish");
    env.assert_plan_clean("after --finish");
}

/// fnctl with Segment's Public API (the test server behind Prism) configured.
fn fnctl_with_segment(
    env: &Env,
    segment: &crate::support::segment::SegmentApi,
    args: &[&str],
) -> crate::support::command::Output {
    crate::support::command::fnctl(&env.moto)
        .current_dir(env.path())
        .env("SEGMENT_PUBLIC_API_TOKEN", crate::support::segment::TOKEN)
        .env("SEGMENT_API_URL", segment.url())
        .args(args)
        .run()
}

/// Writes `settings` (as Segment passes them to the function) where the
/// seed's runner reads a bundle: `dir/archiver.json`.
fn settings_file(env: &Env, dir: &str, settings: &Value) {
    let bundle = json!({
        "instance": INSTANCE,
        "kind": "destination",
        "settings": settings,
        "sensitive": ["iamRoleExternalId"],
    });
    env.put_bundle(dir, INSTANCE, &bundle);
}

/// The seed function runs on the settings Segment holds — not on a bundle
/// file — through a create, a hand edit in Segment that apply repairs, and a
/// zero-touch rotation with `rotate --auto`: old and new settings both work
/// during the overlap; after the finish only the new ones are accepted.
#[tokio::test(flavor = "multi_thread")]
async fn seed_function_runs_on_the_settings_segment_holds_through_a_zero_touch_rotation() {
    node_project();
    let segment = crate::support::segment::SegmentApi::start();
    const ID: &str = "dstSeedArchiver1";
    segment.create(
        "destination",
        ID,
        json!({"flushEvery": 1}),
        &["iamRoleExternalId"],
    );
    let manifest = manifest().replace(
        &format!("prefix: {PREFIX}, access: write }}\n"),
        &format!("prefix: {PREFIX}, access: write }}\n    segment: {{ id: {ID} }}\n    externalId: {{ rotateAfterDays: 30 }}\n"),
    );
    let env = Env::with_manifest(&manifest).await;
    let created = node(
        &env.moto,
        "admin.js",
        &["create-bucket", BUCKET],
        OWNER_KEYS,
        "",
    );
    assert_eq!(created.status, 0, "create bucket: {created:?}");
    fnctl_with_segment(
        &env,
        &segment,
        &["apply", "--auto-approve", "--bundle-dir", BUNDLES],
    )
    .assert_success();
    let keys = segment_runtime_keys(&env).await;
    let held = || segment.settings("destination", ID);
    let run_on = |dir: &str, settings: &Value, marker: &str| {
        settings_file(&env, dir, settings);
        env.remember_secret(settings["iamRoleExternalId"].as_str().unwrap_or_default());
        let event = event("track", marker);
        assert_delivered(&env, &run_seed(&env, &keys, dir, &event), &event, marker);
    };

    run_on("from-segment", &held(), "after-create");

    // A hand edit in Segment locks the function out; apply puts it right.
    segment.edit(
        "destination",
        ID,
        "iamRoleExternalId",
        json!("typed-by-hand-0000"),
    );
    fnctl_with_segment(&env, &segment, &["drift"]).assert_exit(2);
    fnctl_with_segment(
        &env,
        &segment,
        &["apply", "--auto-approve", "--bundle-dir", BUNDLES],
    )
    .assert_success();
    run_on("from-segment", &held(), "after-repair");

    // A zero-touch rotation: the ID looks old, the cron form does the rest.
    let old = held();
    env.tag(
        &crate::support::spec::role_of(INSTANCE),
        &[("fnctl:external-id-created", "2020-01-01T00:00:00Z")],
    )
    .await;
    fnctl_with_segment(
        &env,
        &segment,
        &[
            "rotate",
            "--auto",
            "--min-age",
            "2s",
            "--bundle-dir",
            BUNDLES,
        ],
    )
    .assert_success();
    let new = held();
    assert_ne!(
        new["iamRoleExternalId"], old["iamRoleExternalId"],
        "Segment got the new ID"
    );
    run_on("old-settings", &old, "old-settings-during-overlap");
    run_on("from-segment", &new, "new-settings-during-overlap");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    fnctl_with_segment(
        &env,
        &segment,
        &[
            "rotate",
            "--auto",
            "--min-age",
            "2s",
            "--bundle-dir",
            BUNDLES,
        ],
    )
    .assert_success();
    run_on("from-segment", &held(), "new-settings-after-finish");
    // moto's STS checks no external ID (FACTS.md): the old settings'
    // rejection is proven by fnctl verify's evaluation of the live trust.
    fnctl_with_segment(&env, &segment, &["verify", "--bundle-dir", "old-settings"])
        .assert_exit(1)
        .assert_stdout_contains("bundle-external-id-rejected");
    fnctl_with_segment(&env, &segment, &["verify", "--bundle-dir", BUNDLES]).assert_success();
    segment.assert_no_violation();
}

/// The example of `examples/functions/`: Segment's seed function and a
/// manifest with `functions:` and an instance `segment: { function, source }`.
mod from_the_manifests {
    use super::*;
    use crate::support::env::write_file;
    use crate::support::segment::{SegmentApi, TOKEN};

    const SOURCE: &str = "srcAcmeWebsite01";
    const EXAMPLE_BUCKET: &str = "acme-events-prod";
    const CODE: &str = "manifests/s3-archiver.js";

    fn example(file: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/functions")
            .join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// What the test server holds (its own state, unmasked): the function's
    /// code and the destination instance's settings.
    fn held(segment: &SegmentApi) -> (String, Value) {
        let functions = segment.control("GET", "/__control/functions", Value::Null);
        let functions = functions["functions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            functions.len(),
            1,
            "one function in Segment: {functions:#?}"
        );
        let instances: Vec<Value> = segment.control("GET", "/__control/instances", Value::Null)
            ["instances"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["kind"] == "destination")
            .cloned()
            .collect();
        assert_eq!(
            instances.len(),
            1,
            "one instance in Segment: {instances:#?}"
        );
        assert_eq!(instances[0]["metadata"]["id"], functions[0]["catalogId"]);
        assert_eq!(instances[0]["sourceId"], SOURCE);
        let code = functions[0]["code"].as_str().expect("code").to_string();
        (code, instances[0]["settings"].clone())
    }

    /// Runs the code Segment holds with the settings it holds, IAM
    /// enforcement on; returns the keys the event landed under. Both are
    /// written outside fnctl's workspace (whose files are checked for
    /// external IDs), as Segment's runtime holds them.
    fn run_held(
        env: &Env,
        segment: &SegmentApi,
        keys: &(String, String),
        marker: &str,
    ) -> Vec<String> {
        let (code, settings) = held(segment);
        let runtime = tempfile::tempdir().expect("a folder for the runtime");
        let code_file = write_file(runtime.path(), "function.js", &code);
        let settings_file = write_file(runtime.path(), "settings.json", &settings.to_string());
        let event = event("track", marker);
        reset_auth(&env.moto, "0");
        let run = node(
            &env.moto,
            "runtime.js",
            &[code_file.to_str().unwrap(), settings_file.to_str().unwrap()],
            (&keys.0, &keys.1),
            &event.to_string(),
        );
        reset_auth(&env.moto, "inf");
        assert_eq!(
            run.status, 0,
            "{marker}: the function Segment holds failed: {run:?}"
        );
        objects_in(&env.moto, EXAMPLE_BUCKET)
            .into_iter()
            .filter(|(_, body)| body == &event)
            .map(|(key, _)| key)
            .collect()
    }

    /// fnctl with the test server behind Prism; its output holds no secret.
    fn fnctl_segment(
        env: &Env,
        segment: &SegmentApi,
        args: &[&str],
    ) -> crate::support::command::Output {
        let out = fnctl_with_segment(env, segment, args);
        let settings = held_settings(segment);
        for secret in [Some(TOKEN), settings["iamRoleExternalId"].as_str()]
            .into_iter()
            .flatten()
        {
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "a secret in fnctl's output:\n{}\n{}",
                out.stdout,
                out.stderr
            );
        }
        out
    }

    /// The destination instance's settings, once there is one.
    fn held_settings(segment: &SegmentApi) -> Value {
        let instances = segment.control("GET", "/__control/instances", Value::Null);
        instances["instances"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["kind"] == "destination")
            .map(|i| i["settings"].clone())
            .unwrap_or(Value::Null)
    }

    /// One apply from nothing makes the role, the function and its
    /// instance; the code Segment then holds, run with the settings Segment
    /// holds, writes the event to the bucket; after a code change and an
    /// apply, the new code is what runs.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_example_function_runs_from_segment_and_a_code_change_ships() {
        node_project();
        let segment = SegmentApi::start();
        segment.create("source", SOURCE, json!({}), &[]);
        let env = Env::with_manifest(&example("s3-archiver.yaml")).await;
        env.write(CODE, &example("s3-archiver.js"));
        let bucket = node(
            &env.moto,
            "admin.js",
            &["create-bucket", EXAMPLE_BUCKET],
            OWNER_KEYS,
            "",
        );
        assert_eq!(bucket.status, 0, "create bucket: {bucket:?}");

        fnctl_segment(
            &env,
            &segment,
            &["apply", "--auto-approve", "--bundle-dir", BUNDLES],
        )
        .assert_success()
        .assert_stderr_contains("Apply complete: 1 created")
        .assert_stderr_contains(
            "Segment functions: 1 created, 0 updated, 1 deployed; 1 instance(s) created.",
        );
        fnctl_segment(&env, &segment, &["plan", "--detailed-exitcode"]).assert_exit(0);
        let keys = segment_runtime_keys(&env).await;
        let (code, settings) = held(&segment);
        assert_eq!(
            code,
            example("s3-archiver.js"),
            "Segment holds the example's code"
        );
        assert_eq!(
            settings["iamRoleExternalId"].as_str().map(str::len),
            Some(48)
        );
        assert_eq!(settings["s3Bucket"], EXAMPLE_BUCKET);
        let landed = run_held(&env, &segment, &keys, "first-code");
        assert_eq!(
            landed.len(),
            1,
            "the event is in the bucket once: {landed:?}"
        );
        assert!(
            landed[0].starts_with("track/") && !landed[0].starts_with("track/v2/"),
            "{landed:?}"
        );

        // A code change: the objects go under track/v2/ (still the role's prefix).
        let old_key = "Key: `${event.type}/${Date.now()}.json`";
        let new_key = "Key: `${event.type}/v2/${Date.now()}.json`";
        let source = example("s3-archiver.js");
        assert!(source.contains(old_key), "the example writes {old_key}");
        env.write(CODE, &source.replace(old_key, new_key));
        fnctl_segment(&env, &segment, &["plan", "--detailed-exitcode"])
            .assert_exit(2)
            .assert_stdout_contains("~ Segment function s3-archiver will be updated")
            .assert_stdout_contains(&format!("    +      {new_key},"));
        fnctl_segment(
            &env,
            &segment,
            &["apply", "--auto-approve", "--bundle-dir", BUNDLES],
        )
        .assert_success()
        .assert_stderr_contains(
            "Segment functions: 0 created, 1 updated, 1 deployed; 0 instance(s) created.",
        );
        let landed = run_held(&env, &segment, &keys, "changed-code");
        assert_eq!(
            landed.len(),
            1,
            "the event is in the bucket once: {landed:?}"
        );
        assert!(
            landed[0].starts_with("track/v2/"),
            "the new code ran: {landed:?}"
        );
        fnctl_segment(&env, &segment, &["plan", "--detailed-exitcode"]).assert_exit(0);
        segment.assert_no_violation();
    }
}
