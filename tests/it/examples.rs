//! The files under `examples/` are exercised, not just kept: every fnctl
//! command they contain runs against moto, in the order its pipeline runs
//! them (plan, then apply, then drift), with the test build of `fnctl` first
//! on `PATH`, in a workspace holding a copy of the repository's `manifests/`.
//!
//! Convention (examples/README.md): in `run:` / `script:` / `command:` /
//! `args:` values, every fnctl invocation is a line of its own starting with
//! `fnctl`, possibly followed by redirections and `|| …`; the `|| …` part is
//! dropped so that the test sees fnctl's own exit code. A Kubernetes
//! `command` list starting with "fnctl" is one invocation.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value as Json};
use serde_yaml::Value;

use crate::support::command::{fnctl_offline, Output};
use crate::support::env::workspace;
use crate::support::moto::{iam_client, Moto, MOTO_ACCOUNT};
use crate::support::segment::{SegmentApi, TOKEN};

/// GitHub comments hold 65,536 characters; fnctl keeps its reports under this.
const MARKDOWN_LIMIT: usize = 60_000;

/// Keys whose values are shell commands (GitHub `run`, GitLab `script`s,
/// Kubernetes `command`/`args`).
const COMMAND_KEYS: &[&str] = &[
    "run",
    "script",
    "before_script",
    "after_script",
    "command",
    "args",
];

const GITHUB: &[&str] = &[
    "examples/github/fnctl-plan.yml",
    "examples/github/fnctl-apply.yml",
    "examples/github/fnctl-drift.yml",
];
/// Drift sharded by account: its commands need a matrix value, so it is run
/// by a test of its own, not in the GitHub pipeline.
const GITHUB_MATRIX: &str = "examples/github/fnctl-drift-matrix.yml";
const GITLAB: &str = "examples/gitlab/.gitlab-ci.yml";
const CRONJOB: &str = "examples/kubernetes/fnctl-drift-cronjob.yaml";
/// The scheduled `rotate --auto`: run by a test of their own, against moto
/// and the Segment test server.
const GITHUB_ROTATE: &str = "examples/github/fnctl-rotate.yml";
const CRONJOB_ROTATE: &str = "examples/kubernetes/fnctl-rotate-cronjob.yaml";

/// The Segment counterparts the rotation test gives the manifests'
/// instances: (instance, kind, Segment id).
const SEGMENT_IDS: &[(&str, &str, &str)] = &[
    ("s3-archiver-prod", "destination", "dstArchiverProd1"),
    ("s3-reader-prod", "source", "srcReaderProd001"),
    ("sqs-forwarder-prod", "destination", "dstForwarderPr01"),
];

/// The three roles of the repository's `manifests/acme-prod.yaml`.
const ROLES: &[&str] = &[
    "segment-fn-s3-archiver-prod",
    "segment-fn-s3-reader-prod",
    "segment-fn-sqs-forwarder-prod",
];
const ARCHIVER_ROLE: &str = "segment-fn-s3-archiver-prod";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every YAML document of a file (Kubernetes files hold several).
fn documents(relative: &str) -> Vec<Value> {
    let text = read(relative);
    serde_yaml::Deserializer::from_str(&text)
        .enumerate()
        .map(|(i, doc)| {
            serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{relative}: YAML document {i} does not parse: {e}"))
        })
        .collect()
}

/// The fnctl invocations of a file, in file order.
fn fnctl_commands(relative: &str) -> Vec<String> {
    let mut out = Vec::new();
    for doc in documents(relative) {
        walk(&doc, &mut out);
    }
    out
}

fn walk(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Mapping(map) => {
            for (key, value) in map {
                match key.as_str() {
                    Some(key) if COMMAND_KEYS.contains(&key) => collect_commands(value, out),
                    _ => walk(value, out),
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|item| walk(item, out)),
        Value::Tagged(tagged) => walk(&tagged.value, out),
        _ => {}
    }
}

fn collect_commands(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(script) => {
            for line in script.lines() {
                let line = line.trim();
                if line == "fnctl" || line.starts_with("fnctl ") {
                    out.push(line.to_string());
                }
            }
        }
        Value::Sequence(items) => {
            let words: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            match words {
                // An argument list (Kubernetes `command: ["fnctl", ...]`).
                Some(words) if words.first() == Some(&"fnctl") && !words[0].contains(' ') => {
                    out.push(
                        words
                            .iter()
                            .map(|w| shell_quote(w))
                            .collect::<Vec<_>>()
                            .join(" "),
                    );
                }
                // A list of script lines (GitLab), possibly nested by anchors.
                _ => items.iter().for_each(|item| collect_commands(item, out)),
            }
        }
        other => walk(other, out),
    }
}

fn shell_quote(word: &str) -> String {
    let plain = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain && !word.is_empty() {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The subcommand of an invocation: `fnctl plan --x > y` → `plan`.
fn subcommand(line: &str) -> &str {
    line.split_whitespace()
        .skip(1)
        .find(|w| !w.starts_with('-'))
        .unwrap_or("")
}

/// Where a pipeline runs a command: checks, then plan, then apply (and what
/// follows it in the same job), then drift.
fn stage(line: &str) -> u8 {
    match subcommand(line) {
        "validate" | "whoami" | "schema" | "iam-policy" => 0,
        "plan" => 1,
        "apply" | "verify" | "bundle" | "rotate" => 2,
        "drift" => 3,
        other => panic!("no pipeline stage known for `fnctl {other}` in {line:?}"),
    }
}

/// The invocations of some example files in pipeline order.
fn pipeline(files: &[&str]) -> Vec<String> {
    let mut commands: Vec<String> = files.iter().flat_map(|f| fnctl_commands(f)).collect();
    assert!(!commands.is_empty(), "no fnctl command found in {files:?}");
    commands.sort_by_key(|line| stage(line));
    commands
}

/// What the command line alone runs: `|| …` removed.
fn without_fallback(line: &str) -> &str {
    line.split(" || ").next().unwrap_or(line).trim()
}

/// The file a line redirects stdout to (`> plan.md`), if any.
fn redirect_target(line: &str) -> Option<String> {
    let command = without_fallback(line);
    let mut words = command.split_whitespace();
    while let Some(word) = words.next() {
        if word == ">" {
            return words.next().map(str::to_string);
        }
        if let Some(target) = word.strip_prefix('>').filter(|t| !t.is_empty()) {
            return Some(target.to_string());
        }
    }
    None
}

/// The exit code a pipeline expects: plan (with --detailed-exitcode) has
/// changes before the first apply; everything else succeeds.
fn expected_exit(line: &str, applied: bool) -> i32 {
    if subcommand(line) == "plan" && line.contains("--detailed-exitcode") && !applied {
        2
    } else {
        0
    }
}

/// How `manifests/` is laid out in the workspace.
#[derive(Clone, Copy)]
enum Layout {
    /// A plain copy, as a CI checkout has it.
    Checkout,
    /// As a Kubernetes ConfigMap volume: files are symlinks through `..data`
    /// into a hidden, timestamped folder.
    ConfigMap,
}

/// A workspace with the repository's manifests, a bin dir whose `fnctl` is
/// the test build, a moto, and for the rotation examples the Segment test
/// server (its URL and token in every command's environment).
struct Sandbox {
    moto: Moto,
    ws: tempfile::TempDir,
    bin: tempfile::TempDir,
    segment: Option<SegmentApi>,
}

impl Sandbox {
    fn new(layout: Layout) -> Sandbox {
        let moto = Moto::start();
        let ws = workspace();
        let bin = workspace();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fnctl"), bin.path().join("fnctl"))
            .expect("symlink fnctl into the bin dir");
        let source = repo().join("manifests");
        let manifests = ws.path().join("manifests");
        fs::create_dir_all(&manifests).unwrap();
        let files: Vec<PathBuf> = fs::read_dir(&source)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        assert!(!files.is_empty(), "no manifests in {}", source.display());
        match layout {
            Layout::Checkout => {
                for file in &files {
                    fs::copy(file, manifests.join(file.file_name().unwrap())).unwrap();
                }
            }
            Layout::ConfigMap => {
                let stamp = "..2026_01_01_00_00_00.000000001";
                fs::create_dir_all(manifests.join(stamp)).unwrap();
                for file in &files {
                    let name = file.file_name().unwrap();
                    fs::copy(file, manifests.join(stamp).join(name)).unwrap();
                    std::os::unix::fs::symlink(
                        Path::new("..data").join(name),
                        manifests.join(name),
                    )
                    .unwrap();
                }
                std::os::unix::fs::symlink(stamp, manifests.join("..data")).unwrap();
            }
        }
        Sandbox {
            moto,
            ws,
            bin,
            segment: None,
        }
    }

    /// The repository's manifests with a Segment counterpart for every
    /// instance ([`SEGMENT_IDS`]), each created in the Segment test server.
    fn with_segment() -> Sandbox {
        let mut sandbox = Sandbox::new(Layout::Checkout);
        let segment = SegmentApi::start();
        let path = sandbox.path().join("manifests/acme-prod.yaml");
        let mut manifest = fs::read_to_string(&path).unwrap();
        for (instance, kind, id) in SEGMENT_IDS {
            segment.create(kind, id, json!({}), &["iamRoleExternalId"]);
            let at = format!("  - name: {instance}\n    kind: {kind}\n");
            assert!(manifest.contains(&at), "manifests/acme-prod.yaml: {at:?}");
            // The archiver has a rotation period already; the others get one.
            let period = if *instance == "s3-archiver-prod" {
                ""
            } else {
                "    externalId: { rotateAfterDays: 30 }\n"
            };
            manifest = manifest.replace(&at, &format!("{at}    segment: {{ id: {id} }}\n{period}"));
        }
        fs::write(&path, manifest).unwrap();
        sandbox.segment = Some(segment);
        sandbox
    }

    fn segment(&self) -> &SegmentApi {
        self.segment.as_ref().expect("a sandbox with_segment")
    }

    fn path(&self) -> &Path {
        self.ws.path()
    }

    /// `bash -c LINE` in the workspace, against moto, `fnctl` on PATH.
    fn sh(&self, line: &str) -> Output {
        let path = format!(
            "{}:{}",
            self.bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let no_file = self.bin.path().join(".no-aws-config");
        let mut cmd = Command::new("bash");
        cmd.args(["-c", line]);
        for (key, _) in std::env::vars_os() {
            let key_text = key.to_string_lossy();
            if key_text.starts_with("AWS_") || key_text.starts_with("SEGMENT_") {
                cmd.env_remove(&key);
            }
        }
        if let Some(segment) = &self.segment {
            cmd.env("SEGMENT_API_URL", segment.url())
                .env("SEGMENT_PUBLIC_API_TOKEN", TOKEN);
        }
        let out = cmd
            .env("PATH", path)
            .env("AWS_ENDPOINT_URL", self.moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", &no_file)
            .env("AWS_SHARED_CREDENTIALS_FILE", &no_file)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env_remove("CLICOLOR_FORCE")
            .current_dir(self.ws.path())
            .stdin(Stdio::null())
            .output()
            .expect("run bash");
        Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs an example's line (without its `|| …`) and checks its exit code.
    #[track_caller]
    fn run_line(&self, example: &str, line: &str, expected: i32) -> Output {
        let out = self.sh(without_fallback(line));
        if out.status != expected {
            panic!(
                "{example}: `{line}` exited {} (expected {expected})\n--- stdout ---\n{}\n--- stderr ---\n{}",
                out.status, out.stdout, out.stderr
            );
        }
        if let Some(target) = redirect_target(line) {
            let path = self.path().join(&target);
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{example}: `{line}` did not write {target}: {e}"));
            assert!(!text.trim().is_empty(), "{example}: {target} is empty");
            if target.ends_with(".md") {
                let chars = text.chars().count();
                assert!(
                    chars < MARKDOWN_LIMIT,
                    "{example}: {target} has {chars} characters, more than a PR comment takes"
                );
            }
        }
        out
    }

    /// `fnctl` itself on PATH is the test build.
    fn assert_fnctl_on_path_is_the_test_build(&self) {
        let out = self.sh("command -v fnctl");
        assert_eq!(
            out.stdout.trim(),
            self.bin.path().join("fnctl").display().to_string(),
            "{out:?}"
        );
    }

    fn file(&self, relative: &str) -> String {
        let path = self.path().join(relative);
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// The external IDs of the bundles under `dir`.
    fn bundle_ids(&self, dir: &str) -> Vec<String> {
        let dir = self.path().join(dir);
        let mut ids = Vec::new();
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let bundle: Json = serde_json::from_str(&fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let id = bundle["settings"]["iamRoleExternalId"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: no iamRoleExternalId", path.display()));
            ids.push(id.to_string());
        }
        ids
    }

    /// Roles in moto's default account under fnctl's path.
    async fn role_names(&self) -> BTreeSet<String> {
        let iam = iam_client(&self.moto).await;
        let roles = iam
            .list_roles()
            .path_prefix("/segment-functions/")
            .send()
            .await
            .expect("ListRoles");
        roles
            .roles()
            .iter()
            .map(|r| r.role_name().to_string())
            .collect()
    }

    /// Makes a role's external ID look years old, so that its rotation is due.
    async fn age_external_id(&self, role: &str) {
        iam_client(&self.moto)
            .await
            .tag_role()
            .role_name(role)
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("fnctl:external-id-created")
                    .value("2020-01-01T00:00:00Z")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("TagRole {role}: {e:?}"));
    }

    /// Out of band: a stranger's account added to a role's trust policy.
    async fn broaden_trust(&self, role: &str, external_id: &str) {
        let iam = iam_client(&self.moto).await;
        let trust = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "SegmentFunctionAssumeRole",
                "Effect": "Allow",
                "Principal": {"AWS": ["arn:aws:iam::458175278816:root", "arn:aws:iam::111122223333:root"]},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}}
            }]
        });
        iam.update_assume_role_policy()
            .role_name(role)
            .policy_document(trust.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("UpdateAssumeRolePolicy {role}: {e:?}"));
    }
}

/// No external ID in any report the pipeline keeps or posts.
#[track_caller]
fn assert_no_secret(what: &str, text: &str, ids: &[String]) {
    for id in ids {
        assert!(!text.contains(id.as_str()), "{what} leaks an external ID");
    }
}

/// The first cells of the summary table rows of a markdown plan.
fn table_actions(markdown: &str) -> Vec<String> {
    markdown
        .lines()
        .skip_while(|l| !l.starts_with("| action"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.split('|').nth(1).unwrap_or("").trim().to_string())
        .collect()
}

/// `owner/name` of the repository, from Cargo.toml's
/// `repository = "https://github.com/OWNER/NAME"`.
fn repository() -> String {
    read("Cargo.toml")
        .lines()
        .find_map(|line| line.strip_prefix("repository = \"https://github.com/"))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("Cargo.toml names its GitHub repository")
        .to_string()
}

/// Every GitHub example installs fnctl with the setup action of this
/// repository (no Rust toolchain, no `cargo install`), and every GitLab job
/// and Kubernetes container runs fnctl's image.
#[test]
fn examples_install_released_fnctl_not_a_build() {
    let repository = repository();
    let action = format!("{repository}@");
    let image = format!("ghcr.io/{repository}:");
    for file in GITHUB.iter().chain([&GITHUB_MATRIX, &GITHUB_ROTATE]) {
        let text = read(file);
        assert!(!text.contains("cargo install"), "{file} builds fnctl");
        assert!(!text.contains("rust-toolchain"), "{file} sets up Rust");
        let workflow = &documents(file)[0];
        for (name, job) in workflow["jobs"].as_mapping().expect("jobs") {
            let steps = job["steps"].as_sequence().expect("steps");
            let setup = steps
                .iter()
                .position(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(&action)))
                .unwrap_or_else(|| panic!("{file}: job {name:?} does not use {action}…"));
            let first_fnctl = steps
                .iter()
                .position(|s| {
                    let mut out = Vec::new();
                    collect_commands(&s["run"], &mut out);
                    !out.is_empty()
                })
                .unwrap_or_else(|| panic!("{file}: job {name:?} runs no fnctl"));
            assert!(
                setup < first_fnctl,
                "{file}: job {name:?} runs fnctl before installing it"
            );
        }
    }
    let gitlab = &documents(GITLAB)[0];
    let default_image = gitlab["default"]["image"]["name"].as_str().unwrap_or("");
    assert!(default_image.starts_with(&image), "{default_image}");
    assert_eq!(
        gitlab["default"]["image"]["entrypoint"],
        serde_yaml::from_str::<Value>("['']").unwrap()
    );
    assert!(!read(GITLAB).contains("cargo install"));
    for file in [CRONJOB, CRONJOB_ROTATE] {
        let mut images = Vec::new();
        for doc in documents(file) {
            let pod = &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"];
            for list in ["initContainers", "containers"] {
                for container in pod[list].as_sequence().into_iter().flatten() {
                    images.push(container["image"].as_str().unwrap_or("").to_string());
                }
            }
        }
        assert!(!images.is_empty(), "{file}: no container");
        for used in images {
            assert!(used.starts_with(&image), "{file}: image {used}");
        }
    }
}

/// The jobs that write to Segment (apply, rotate) take the Public API token
/// from the CI's secret store, and so do the jobs that read it.
#[test]
fn segment_token_comes_from_the_secret_store() {
    for file in GITHUB.iter().chain([&GITHUB_MATRIX, &GITHUB_ROTATE]) {
        let workflow = &documents(file)[0];
        for (name, job) in workflow["jobs"].as_mapping().expect("jobs") {
            for step in job["steps"].as_sequence().expect("steps") {
                let mut out = Vec::new();
                collect_commands(&step["run"], &mut out);
                let talks_to_segment = out
                    .iter()
                    .any(|l| !matches!(subcommand(l), "validate" | "bundle"));
                if !talks_to_segment {
                    continue;
                }
                let token = step["env"]["SEGMENT_PUBLIC_API_TOKEN"]
                    .as_str()
                    .unwrap_or("");
                assert!(
                    token.starts_with("${{ secrets.") && token.ends_with("}}"),
                    "{file}: job {name:?} step {:?} runs {out:?} without the token from secrets",
                    step["name"]
                );
            }
        }
    }
    let gitlab = &documents(GITLAB)[0];
    for job in ["plan", "drift"] {
        assert_eq!(
            gitlab[job]["variables"]["SEGMENT_PUBLIC_API_TOKEN"],
            Value::from("$SEGMENT_READONLY_TOKEN"),
            "GitLab job {job}"
        );
    }
    for doc in documents(CRONJOB_ROTATE) {
        let pod = &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        for container in pod["containers"].as_sequence().into_iter().flatten() {
            let env = container["env"].as_sequence().expect("env");
            let token = env
                .iter()
                .find(|e| e["name"].as_str() == Some("SEGMENT_PUBLIC_API_TOKEN"))
                .expect("the token in the rotating container's environment");
            assert!(
                token["valueFrom"]["secretKeyRef"]["name"].is_string(),
                "{token:?}"
            );
        }
    }
}

#[test]
fn every_example_yaml_parses_and_has_fnctl_commands() {
    for file in GITHUB.iter().chain([
        &GITHUB_MATRIX,
        &GITLAB,
        &CRONJOB,
        &GITHUB_ROTATE,
        &CRONJOB_ROTATE,
    ]) {
        let docs = documents(file);
        assert!(!docs.is_empty(), "{file} is empty");
        let commands = fnctl_commands(file);
        assert!(!commands.is_empty(), "{file} has no fnctl command");
        for line in &commands {
            stage(line); // a known subcommand
        }
    }
    // The shape CI systems need (a typo here makes a workflow silently inert).
    let plan = &documents(GITHUB[0])[0];
    assert!(
        plan["on"]["pull_request"].is_mapping(),
        "plan runs on pull_request"
    );
    assert_eq!(plan["permissions"]["id-token"], Value::from("write"));
    assert_eq!(plan["permissions"]["pull-requests"], Value::from("write"));
    let steps = plan["jobs"]["plan"]["steps"].as_sequence().expect("steps");
    let uses: Vec<&str> = steps.iter().filter_map(|s| s["uses"].as_str()).collect();
    // Which version: scripts/lint-examples (actionlint) checks that.
    assert!(
        uses.iter()
            .any(|u| u.starts_with("aws-actions/configure-aws-credentials@")),
        "{uses:?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s["with"]["role-to-assume"].is_string()),
        "OIDC role-to-assume"
    );
    assert!(
        steps
            .iter()
            .any(|s| s["with"]["path"].as_str() == Some("plan.md")),
        "plan.md posted as a comment"
    );

    let apply = &documents(GITHUB[1])[0];
    assert_eq!(
        apply["on"]["push"]["branches"],
        serde_yaml::from_str::<Value>("[main]").unwrap()
    );

    let drift = &documents(GITHUB[2])[0];
    assert!(drift["on"]["schedule"][0]["cron"].is_string());
    let steps = drift["jobs"]["drift"]["steps"]
        .as_sequence()
        .expect("steps");
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("drift report uploaded as an artifact");
    assert_eq!(upload["if"], Value::from("always()"));

    let gitlab = &documents(GITLAB)[0];
    for job in ["plan", "apply", "drift"] {
        assert!(gitlab[job]["script"].is_sequence(), "GitLab job {job}");
    }
    assert!(gitlab[".aws-oidc"]["id_tokens"].is_mapping());

    let kube = documents(CRONJOB);
    let cronjob = kube
        .iter()
        .find(|d| d["kind"].as_str() == Some("CronJob"))
        .expect("a CronJob");
    let job = &cronjob["spec"]["jobTemplate"]["spec"];
    assert_eq!(job["backoffLimit"], Value::from(0));
    let pod = &job["template"]["spec"];
    assert_eq!(pod["restartPolicy"], Value::from("Never"));
    assert_eq!(pod["securityContext"]["runAsNonRoot"], Value::from(true));
    let account = kube
        .iter()
        .find(|d| d["kind"].as_str() == Some("ServiceAccount"))
        .expect("a ServiceAccount");
    assert!(account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].is_string());
    assert_eq!(pod["serviceAccountName"], account["metadata"]["name"]);
}

/// The apply jobs apply the plan that was reviewed: `apply --plan FILE`, with
/// FILE saved by an earlier `plan --out FILE` of the same pipeline.
#[test]
fn apply_jobs_apply_a_saved_plan() {
    for files in [GITHUB, &[GITLAB]] {
        let commands = pipeline(files);
        let applies: Vec<&String> = commands
            .iter()
            .filter(|l| subcommand(l) == "apply")
            .collect();
        assert!(!applies.is_empty(), "{files:?}");
        for apply in applies {
            let words: Vec<&str> = apply.split_whitespace().collect();
            let file = words
                .windows(2)
                .find(|w| w[0] == "--plan")
                .map(|w| w[1])
                .unwrap_or_else(|| panic!("{files:?}: `{apply}` does not apply a saved plan"));
            let out = format!("--out {file}");
            assert!(
                commands
                    .iter()
                    .any(|l| subcommand(l) == "plan" && l.contains(&out)),
                "{files:?}: no `fnctl plan {out}` before `{apply}`"
            );
        }
    }
}

#[test]
fn the_command_extraction_follows_the_convention() {
    assert_eq!(
        pipeline(GITHUB),
        vec![
            "fnctl validate",
            "fnctl plan --detailed-exitcode --format markdown > plan.md || code=$?",
            "fnctl plan --detailed-exitcode --out plan.json --format markdown > plan.md || code=$?",
            "fnctl apply --plan plan.json --auto-approve --bundle-dir bundles",
            "fnctl verify --bundle-dir bundles",
            "fnctl drift --format markdown > drift.md || code=$?",
        ]
    );
    assert_eq!(fnctl_commands(CRONJOB), vec!["fnctl drift --format json"]);
    assert_eq!(
        redirect_target("fnctl plan --format markdown > plan.md || code=$?").as_deref(),
        Some("plan.md")
    );
    assert_eq!(
        without_fallback("fnctl drift > d.md || code=$?"),
        "fnctl drift > d.md"
    );
}

/// What a pipeline left behind.
struct Run {
    /// The markdown of the first plan (everything to create).
    first_plan: String,
}

impl Run {
    /// The summary table of the first plan names the action of each row.
    /// Checked last, so that the rest of the pipeline is exercised anyway.
    #[track_caller]
    fn assert_plan_table_says_create(&self) {
        let actions = table_actions(&self.first_plan);
        assert_eq!(actions.len(), ROLES.len(), "{}", self.first_plan);
        for action in &actions {
            assert!(
                action.starts_with("create"),
                "plan.md summary table: action column says {action:?} for a role to be created\n{}",
                self.first_plan
            );
        }
    }
}

/// Runs a pipeline from empty IAM.
fn run_pipeline(sandbox: &Sandbox, example: &str, commands: &[String]) -> Run {
    sandbox.assert_fnctl_on_path_is_the_test_build();
    let mut applied = false;
    let mut ids = Vec::new();
    let mut first_plan = None;
    for line in commands {
        let out = sandbox.run_line(example, line, expected_exit(line, applied));
        match subcommand(line) {
            "apply" => {
                applied = true;
                ids = sandbox.bundle_ids("bundles");
                assert_eq!(ids.len(), ROLES.len(), "one bundle per instance");
            }
            "plan" if !applied => {
                let markdown = sandbox.file("plan.md");
                assert!(markdown.contains("Plan: 3 to create"), "{markdown}");
                for role in ROLES {
                    assert!(markdown.contains(role), "plan.md misses {role}");
                }
                first_plan = Some(markdown);
            }
            _ => {}
        }
        assert_no_secret(&format!("{example}: stdout of `{line}`"), &out.stdout, &ids);
        assert_no_secret(&format!("{example}: stderr of `{line}`"), &out.stderr, &ids);
    }
    assert!(applied, "{example}: the pipeline never applies");
    for report in ["plan.md", "drift.md"] {
        if sandbox.path().join(report).exists() {
            assert_no_secret(report, &sandbox.file(report), &ids);
        }
    }
    Run {
        first_plan: first_plan.expect("the pipeline plans before it applies"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn github_workflows_plan_apply_and_drift_against_moto() {
    let sandbox = Sandbox::new(Layout::Checkout);
    let commands = pipeline(GITHUB);
    let run = run_pipeline(&sandbox, "examples/github", &commands);
    let ids = sandbox.bundle_ids("bundles");

    assert_eq!(
        sandbox.role_names().await,
        ROLES.iter().map(|r| r.to_string()).collect::<BTreeSet<_>>()
    );
    let drift = sandbox.file("drift.md");
    assert!(drift.contains("No drift"), "{drift}");

    // The hourly job goes red when IAM is changed by hand, and keeps a report
    // that says why.
    let archiver_id = serde_json::from_str::<Json>(&sandbox.file("bundles/s3-archiver-prod.json"))
        .unwrap()["settings"]["iamRoleExternalId"]
        .as_str()
        .unwrap()
        .to_string();
    sandbox.broaden_trust(ARCHIVER_ROLE, &archiver_id).await;
    let drift_line = commands.iter().find(|l| subcommand(l) == "drift").unwrap();
    sandbox.run_line("examples/github/fnctl-drift.yml", drift_line, 2);
    let report = sandbox.file("drift.md");
    assert!(report.contains("trust-broadened"), "{report}");
    assert!(report.contains(ARCHIVER_ROLE) || report.contains("s3-archiver-prod"));
    assert_no_secret("drift.md after drift", &report, &ids);

    // The plan of the next pull request shows the repair (and still exits 2,
    // which the workflow treats as success).
    let plan_line = commands.iter().find(|l| subcommand(l) == "plan").unwrap();
    sandbox.run_line("examples/github/fnctl-plan.yml", plan_line, 2);
    let plan = sandbox.file("plan.md");
    assert!(plan.contains("111122223333"), "{plan}");
    assert_no_secret("plan.md after drift", &plan, &ids);

    run.assert_plan_table_says_create();
}

/// The sharded drift workflow: each matrix job runs `fnctl drift --account
/// <its account>` and sees only that account.
#[tokio::test(flavor = "multi_thread")]
async fn github_drift_matrix_shards_by_account_against_moto() {
    let workflow = &documents(GITHUB_MATRIX)[0];
    let strategy = &workflow["jobs"]["drift"]["strategy"];
    assert_eq!(strategy["fail-fast"], Value::from(false), "{strategy:?}");
    let accounts: Vec<&str> = strategy["matrix"]["account"]
        .as_sequence()
        .expect("jobs.drift.strategy.matrix.account")
        .iter()
        .map(|a| a.as_str().expect("account IDs are quoted strings"))
        .collect();
    assert!(accounts.len() > 1, "{accounts:?}");
    for account in &accounts {
        assert!(
            account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()),
            "matrix account {account:?} is not an account ID"
        );
    }
    let commands = fnctl_commands(GITHUB_MATRIX);
    assert_eq!(commands.len(), 1, "{commands:?}");
    let line = &commands[0];
    assert_eq!(subcommand(line), "drift", "{line}");
    assert!(line.contains("--account ${{ matrix.account }}"), "{line}");
    // What GitHub runs in the job of one matrix value.
    let shard = |account: &str| line.replace("${{ matrix.account }}", account);
    let other = accounts.iter().find(|a| **a != MOTO_ACCOUNT).unwrap();

    let sandbox = Sandbox::new(Layout::Checkout);
    sandbox.assert_fnctl_on_path_is_the_test_build();
    sandbox.run_line(
        "setup",
        "fnctl apply --auto-approve --bundle-dir bundles",
        0,
    );
    sandbox.run_line(GITHUB_MATRIX, &shard(MOTO_ACCOUNT), 0);
    assert!(sandbox.file("drift.md").contains("No drift"));

    // A hand change in moto's account fails that account's job only.
    let ids = sandbox.bundle_ids("bundles");
    let archiver_id = serde_json::from_str::<Json>(&sandbox.file("bundles/s3-archiver-prod.json"))
        .unwrap()["settings"]["iamRoleExternalId"]
        .as_str()
        .unwrap()
        .to_string();
    sandbox.broaden_trust(ARCHIVER_ROLE, &archiver_id).await;
    sandbox.run_line(GITHUB_MATRIX, &shard(MOTO_ACCOUNT), 2);
    let report = sandbox.file("drift.md");
    assert!(report.contains("trust-broadened"), "{report}");
    assert_no_secret("sharded drift.md", &report, &ids);
    // An account no manifest reaches is a typo in the matrix: that job
    // fails instead of passing green forever.
    let typo = sandbox.sh(without_fallback(&shard(other)));
    assert_eq!(typo.status, 1, "{}", typo.stderr);
    assert!(
        typo.stderr.contains("matches no account"),
        "{}",
        typo.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gitlab_pipeline_plan_apply_and_drift_against_moto() {
    let sandbox = Sandbox::new(Layout::Checkout);
    let commands = pipeline(&[GITLAB]);
    for needed in ["validate", "plan", "apply", "drift"] {
        assert!(
            commands.iter().any(|l| subcommand(l) == needed),
            "the GitLab pipeline has no `fnctl {needed}`: {commands:?}"
        );
    }
    let run = run_pipeline(&sandbox, GITLAB, &commands);
    assert_eq!(sandbox.role_names().await.len(), ROLES.len());
    assert!(sandbox.file("drift.md").contains("No drift"));

    // The drift job fails (exit 2) after a change by hand.
    let id = sandbox.bundle_ids("bundles")[0].clone();
    let archiver_id = serde_json::from_str::<Json>(&sandbox.file("bundles/s3-archiver-prod.json"))
        .unwrap()["settings"]["iamRoleExternalId"]
        .as_str()
        .unwrap()
        .to_string();
    sandbox.broaden_trust(ARCHIVER_ROLE, &archiver_id).await;
    let drift_line = commands.iter().find(|l| subcommand(l) == "drift").unwrap();
    sandbox.run_line(GITLAB, drift_line, 2);
    assert_no_secret(
        "GitLab drift.md",
        &sandbox.file("drift.md"),
        &[id, archiver_id],
    );

    run.assert_plan_table_says_create();
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_cronjob_drift_against_moto_with_a_configmap_volume() {
    let sandbox = Sandbox::new(Layout::ConfigMap);
    let commands = pipeline(&[CRONJOB]);
    assert_eq!(commands.len(), 1, "{commands:?}");
    let line = &commands[0];

    // The roles exist (the apply pipeline ran) before the cron checks them.
    sandbox.run_line(
        "setup",
        "fnctl apply --auto-approve --bundle-dir bundles",
        0,
    );
    assert_eq!(sandbox.role_names().await.len(), ROLES.len());

    let out = sandbox.run_line(CRONJOB, line, 0);
    let report: Json = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("drift --format json is not JSON ({e}):\n{}", out.stdout));
    assert!(report.get("format_version").is_some(), "{report:#}");
    assert_eq!(report["findings"], json!([]), "{report:#}");

    // A change by hand: exit 2 fails the Job, the JSON says what and how bad.
    let bundle: Json =
        serde_json::from_str(&sandbox.file("bundles/s3-archiver-prod.json")).unwrap();
    let id = bundle["settings"]["iamRoleExternalId"].as_str().unwrap();
    sandbox.broaden_trust(ARCHIVER_ROLE, id).await;
    let out = sandbox.run_line(CRONJOB, line, 2);
    assert!(!out.stdout.contains(id), "drift JSON leaks the external ID");
    let report: Json = serde_json::from_str(&out.stdout).expect("JSON");
    let findings = report["findings"].as_array().expect("findings");
    assert!(
        findings.iter().any(|f| {
            let text = f.to_string();
            text.contains("trust-broadened") && text.contains("critical")
        }),
        "{report:#}"
    );
}

#[test]
fn iam_policy_examples_are_what_fnctl_prints() {
    let manifests = repo().join("manifests");
    for (file, extra) in [
        ("examples/iam/fnctl-deployer-policy.json", None),
        (
            "examples/iam/fnctl-readonly-policy.json",
            Some("--read-only"),
        ),
    ] {
        let mut cmd = fnctl_offline();
        cmd.arg("iam-policy").arg("-f").arg(&manifests);
        if let Some(flag) = extra {
            cmd.arg(flag);
        }
        let out = cmd.run();
        out.assert_success();
        let policy: Json = serde_json::from_str(&out.stdout).expect("iam-policy prints JSON");
        assert_eq!(policy["Version"], "2012-10-17");
        assert_eq!(
            read(file),
            out.stdout,
            "{file} is stale: regenerate it with `fnctl iam-policy{} > {file}`",
            extra.map(|f| format!(" {f}")).unwrap_or_default()
        );
    }
}

#[test]
fn readonly_policy_grants_no_write() {
    let policy: Json =
        serde_json::from_str(&read("examples/iam/fnctl-readonly-policy.json")).unwrap();
    let mut actions = Vec::new();
    for statement in policy["Statement"].as_array().expect("statements") {
        match &statement["Action"] {
            Json::String(a) => actions.push(a.clone()),
            Json::Array(list) => {
                actions.extend(list.iter().filter_map(|a| a.as_str()).map(str::to_string))
            }
            other => panic!("Action {other}"),
        }
    }
    for action in &actions {
        let verb = action.split(':').nth(1).unwrap_or("");
        assert!(
            ["Get", "List"].iter().any(|p| verb.starts_with(p)),
            "read-only policy grants {action}"
        );
        assert!(!action.contains('*'), "wildcard action {action}");
    }
}

/// The scheduled rotation examples, against moto and the Segment test server
/// with every instance named in Segment: the Kubernetes CronJob's run starts
/// the due rotation and pushes the new ID, a second run changes nothing; the
/// GitHub workflow's run, on a fresh runner (no bundles), starts the next
/// due one and leaves the first waiting for `--min-age`.
#[tokio::test(flavor = "multi_thread")]
async fn scheduled_rotation_examples_rotate_and_deliver_to_segment() {
    let sandbox = Sandbox::with_segment();
    sandbox.assert_fnctl_on_path_is_the_test_build();
    sandbox.run_line(
        "setup",
        "fnctl apply --auto-approve --bundle-dir bundles",
        0,
    );
    let held = |instance: &str| {
        let (_, kind, id) = SEGMENT_IDS.iter().find(|(i, _, _)| *i == instance).unwrap();
        sandbox.segment().settings(kind, id)["iamRoleExternalId"].clone()
    };
    let first_ids: Vec<Json> = SEGMENT_IDS.iter().map(|(i, _, _)| held(i)).collect();
    for (id, (instance, _, _)) in first_ids.iter().zip(SEGMENT_IDS) {
        assert!(
            id.is_string(),
            "apply delivered no external ID for {instance}"
        );
    }
    let mut secrets: Vec<String> = sandbox.bundle_ids("bundles");
    // Nothing to do, and the plan says it checked Segment too.
    let plan = sandbox.run_line("setup", "fnctl plan --detailed-exitcode", 0);
    assert!(
        plan.stdout.contains(
            "No changes. IAM and Segment match the manifests (3 role(s) and 3 Segment instance(s) checked)."
        ),
        "{}",
        plan.stdout
    );

    // The pod's bundle volume, in the workspace.
    let pod = |line: &str| line.replace("/bundles", "pod-bundles");
    let cron = fnctl_commands(CRONJOB_ROTATE);
    assert_eq!(
        cron.iter().map(|l| subcommand(l)).collect::<Vec<_>>(),
        ["bundle", "rotate"],
        "{cron:?}"
    );
    sandbox.age_external_id(ARCHIVER_ROLE).await;
    let mut outputs = Vec::new();
    for line in &cron {
        outputs.push(sandbox.run_line(CRONJOB_ROTATE, &pod(line), 0));
    }
    // The new ID went to Segment: nobody is told to copy it by hand.
    let started = &outputs.last().unwrap().stderr;
    assert!(
        started.contains("s3-archiver-prod: rotation started"),
        "{started}"
    );
    assert!(
        started.contains("s3-archiver-prod: Segment now holds the new external ID"),
        "{started}"
    );
    assert!(!started.contains("iamRoleExternalId setting"), "{started}");
    let rotated = sandbox.bundle_ids("pod-bundles");
    let new_archiver =
        serde_json::from_str::<Json>(&sandbox.file("pod-bundles/s3-archiver-prod.json")).unwrap()
            ["settings"]["iamRoleExternalId"]
            .clone();
    assert_ne!(new_archiver, first_ids[0], "no rotation started");
    assert_eq!(
        held("s3-archiver-prod"),
        new_archiver,
        "Segment does not hold the new ID"
    );
    assert_eq!(held("s3-reader-prod"), first_ids[1]);
    assert_eq!(held("sqs-forwarder-prod"), first_ids[2]);
    secrets.extend(rotated);
    // Run again at once: nothing changes.
    for line in &cron {
        outputs.push(sandbox.run_line(CRONJOB_ROTATE, &pod(line), 0));
    }
    assert_eq!(held("s3-archiver-prod"), new_archiver);

    // GitHub's daily run, on a fresh runner: the reader is due now.
    sandbox.age_external_id("segment-fn-s3-reader-prod").await;
    let github = fnctl_commands(GITHUB_ROTATE);
    assert_eq!(
        github.iter().map(|l| subcommand(l)).collect::<Vec<_>>(),
        ["bundle", "rotate"],
        "{github:?}"
    );
    for line in &github {
        outputs.push(sandbox.run_line(GITHUB_ROTATE, line, 0));
    }
    let last = outputs.last().unwrap();
    assert!(
        last.stderr
            .contains("s3-archiver-prod: rotation in progress"),
        "{}",
        last.stderr
    );
    assert_ne!(
        held("s3-reader-prod"),
        first_ids[1],
        "the reader's rotation did not reach Segment"
    );
    assert_eq!(held("s3-archiver-prod"), new_archiver);
    secrets.extend(sandbox.bundle_ids("bundles"));
    for out in &outputs {
        assert_no_secret("a rotation example's output", &out.stdout, &secrets);
        assert_no_secret("a rotation example's output", &out.stderr, &secrets);
        assert!(!out.stderr.contains(TOKEN), "the Segment token in output");
    }
    sandbox.segment().assert_no_violation();
}
