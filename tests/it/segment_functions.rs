//! Segment functions from the manifests, end to end: the real binary
//! against moto (IAM) and the Segment test server behind Prism. One apply
//! creates the role, the function (its code and definitions, the external
//! ID's sensitive) and its instance with its settings; a second apply sends
//! Segment no write; a code change is shipped and runs; under each reading
//! of what Segment does not document.

use serde_json::{json, Value};

use crate::support::command::{fnctl, Output};
use crate::support::env::{workspace, write_file};
use crate::support::moto::{iam_client, Moto};
use crate::support::segment::{SegmentApi, TOKEN};

pub(crate) const SOURCE: &str = "srcWebsite00001";

/// One test's moto, Segment test server and workspace (also used by
/// `function_plans`).
pub(crate) struct Env {
    moto: Moto,
    pub(crate) segment: SegmentApi,
    pub(crate) ws: tempfile::TempDir,
    outputs: Vec<Output>,
}

impl Env {
    pub(crate) fn start(settings_patch: &str, deploy: &str) -> Env {
        let env = Env {
            moto: Moto::start(),
            segment: SegmentApi::start(),
            ws: workspace(),
            outputs: Vec::new(),
        };
        env.segment.control(
            "PUT",
            "/__control/functions",
            json!({"settingsPatch": settings_patch, "deploy": deploy}),
        );
        // The source the destination is connected to exists in Segment.
        env.segment.create("source", SOURCE, json!({}), &[]);
        env.code("async function onTrack(event, settings) { return 'v1' }\n");
        write_file(
            env.ws.path(),
            "manifests/main.yaml",
            &format!(
                r#"version: 1
defaults:
  scope: functions-e2e
functions:
  - name: s3-archiver
    kind: destination
    code: ../functions/s3-archiver.js
    displayName: S3 archiver
instances:
  - name: archiver
    kind: destination
    bucket: {{ name: acme-events, region: us-west-2 }}
    segment: {{ function: s3-archiver, source: {SOURCE} }}
"#
            ),
        );
        env
    }

    pub(crate) fn code(&self, text: &str) {
        write_file(self.ws.path(), "functions/s3-archiver.js", text);
    }

    fn apply(&mut self) -> Output {
        self.run(&["apply", "--auto-approve"])
    }

    pub(crate) fn run(&mut self, args: &[&str]) -> Output {
        let out = fnctl(&self.moto)
            .current_dir(self.ws.path())
            .env("SEGMENT_PUBLIC_API_TOKEN", TOKEN)
            .env("SEGMENT_API_URL", self.segment.url())
            .args(args)
            .run();
        self.outputs.push(out.clone());
        out
    }

    pub(crate) fn functions(&self) -> Vec<Value> {
        self.segment
            .control("GET", "/__control/functions", Value::Null)["functions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The destinations in Segment (the source is the fixture's own).
    pub(crate) fn instances(&self) -> Vec<Value> {
        self.segment
            .control("GET", "/__control/instances", Value::Null)["instances"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["kind"] == "destination")
            .cloned()
            .collect()
    }

    /// The Segment instance id recorded on `role` (its `fnctl:segment-instance` tag).
    fn recorded(&self, role: &str) -> Option<String> {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let tags = runtime.block_on(async {
            iam_client(&self.moto)
                .await
                .list_role_tags()
                .role_name(role)
                .send()
                .await
                .expect("ListRoleTags")
        });
        tags.tags()
            .iter()
            .find(|t| t.key() == "fnctl:segment-instance")
            .map(|t| t.value().to_string())
    }

    pub(crate) fn writes(&self) -> usize {
        self.segment
            .all_requests()
            .iter()
            .filter(|r| r["method"] != "GET")
            .count()
    }

    /// Nothing off Segment's spec; no token and no external ID printed.
    pub(crate) fn finish(&self) {
        self.segment.assert_no_violation();
        let mut secrets = vec![TOKEN.to_string()];
        let all = self
            .segment
            .control("GET", "/__control/instances", Value::Null)["instances"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for instance in all {
            if let Some(id) = instance["settings"]["iamRoleExternalId"].as_str() {
                secrets.push(id.to_string());
            }
        }
        for out in &self.outputs {
            for secret in &secrets {
                assert!(
                    !out.stdout.contains(secret) && !out.stderr.contains(secret),
                    "a secret in fnctl's output:\n{}\n{}",
                    out.stdout,
                    out.stderr
                );
            }
        }
    }
}

#[test]
fn one_apply_creates_the_function_and_its_instance_and_a_code_change_ships() {
    for (settings_patch, deploy) in [("replace", "explicit"), ("merge", "onUpdate")] {
        let mut env = Env::start(settings_patch, deploy);
        env.run(&["plan", "--detailed-exitcode"])
            .assert_exit(2)
            .assert_stdout_contains("+ Segment destination function s3-archiver will be created")
            .assert_stdout_contains(&format!(
                "+ Segment destination connected to source {SOURCE} `archiver (fnctl:functions-e2e)` (instance archiver) will be created running s3-archiver"
            ));
        assert!(env.functions().is_empty(), "plan writes nothing");
        env.apply().assert_success().assert_stderr_contains(
            "Segment functions: 1 created, 0 updated, 1 deployed; 1 instance(s) created.",
        );
        let functions = env.functions();
        assert_eq!(functions.len(), 1, "{functions:#?}");
        let function = &functions[0];
        assert!(function["code"].as_str().unwrap().contains("'v1'"));
        assert_eq!(function["deployedVersion"], function["version"]);
        assert!(function["description"]
            .as_str()
            .unwrap()
            .contains("[fnctl:functions-e2e/s3-archiver]"));
        let definitions = function["settings"].as_array().unwrap();
        let external_id = definitions
            .iter()
            .find(|d| d["name"] == "iamRoleExternalId")
            .expect("declared");
        assert_eq!(external_id["sensitive"], true);
        assert!(definitions.iter().any(|d| d["name"] == "s3Bucket"));
        let instances = env.instances();
        assert_eq!(instances.len(), 1, "{instances:#?}");
        let settings = &instances[0]["settings"];
        assert_eq!(instances[0]["sourceId"], SOURCE);
        assert_eq!(instances[0]["metadata"]["id"], function["catalogId"]);
        assert!(settings["iamRoleArn"]
            .as_str()
            .unwrap()
            .ends_with(":role/segment-functions/segment-fn-archiver"));
        assert_eq!(
            settings["iamRoleExternalId"].as_str().map(str::len),
            Some(48)
        );
        assert_eq!(settings["s3Bucket"], "acme-events");
        assert_eq!(
            env.recorded("segment-fn-archiver").as_ref(),
            instances[0]["id"].as_str().map(str::to_string).as_ref(),
            "the instance's id is recorded on its role"
        );

        env.run(&["drift"]).assert_exit(0);
        env.run(&["plan", "--detailed-exitcode"]).assert_exit(0);
        let writes = env.writes();
        env.apply().assert_success();
        assert_eq!(
            env.writes(),
            writes,
            "a second apply sends Segment no write"
        );
        assert_eq!(env.instances().len(), 1);

        env.code("async function onTrack(event, settings) { return 'v2' }\n");
        env.run(&["plan", "--detailed-exitcode"])
            .assert_exit(2)
            .assert_stdout_contains("~ Segment function s3-archiver will be updated")
            .assert_stdout_contains("    -async function onTrack(event, settings) { return 'v1' }")
            .assert_stdout_contains("    +async function onTrack(event, settings) { return 'v2' }");
        env.apply().assert_success();
        let function = &env.functions()[0];
        assert!(function["code"].as_str().unwrap().contains("'v2'"));
        assert_eq!(
            function["deployedVersion"], function["version"],
            "the new code runs"
        );
        assert_eq!(env.functions().len(), 1);
        assert_eq!(env.instances().len(), 1);

        // The external ID's definition flipped to non-sensitive by hand:
        // apply declares it sensitive again.
        let function = env.functions().remove(0);
        let mut definitions = function["settings"].as_array().cloned().unwrap();
        for definition in &mut definitions {
            if definition["name"] == "iamRoleExternalId" {
                definition["sensitive"] = json!(false);
            }
        }
        let path = format!("/__control/functions/{}", function["id"].as_str().unwrap());
        env.segment.control(
            "PATCH",
            &path,
            json!({ "settings": definitions, "code": "// by hand\n" }),
        );
        env.run(&["drift"])
            .assert_exit(2)
            .assert_stdout_contains("CRITICAL external-id-not-sensitive")
            .assert_stdout_contains("MEDIUM   function-code-changed")
            .assert_stdout_contains("-// by hand");
        env.apply().assert_success();
        env.run(&["drift"]).assert_exit(0);
        let restored = env.functions().remove(0);
        let external_id = restored["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == "iamRoleExternalId")
            .cloned()
            .expect("declared");
        assert_eq!(external_id["sensitive"], true, "apply restores it");
        env.finish();
    }
}

/// Each create of a first apply answered 500, before Segment made the
/// object or after it (the answer lost), then a re-run: the function and
/// its instance exist exactly once, with their settings.
#[test]
fn a_create_failed_or_its_answer_lost_then_a_rerun_makes_each_object_once() {
    for path in ["/functions", "/destinations"] {
        for after_write in [false, true] {
            let mut env = Env::start("replace", "explicit");
            env.segment.control(
                "POST",
                "/__control/faults",
                json!({"path": path, "method": "POST", "status": 500, "afterWrite": after_write}),
            );
            env.apply()
                .assert_exit(1)
                .assert_stderr_contains("Segment functions:");
            env.apply().assert_success();
            let case = format!("{path}, after the write: {after_write}");
            assert_eq!(env.functions().len(), 1, "{case}");
            let instances = env.instances();
            assert_eq!(instances.len(), 1, "{case}: {instances:#?}");
            assert_eq!(
                instances[0]["settings"]["iamRoleExternalId"]
                    .as_str()
                    .map(str::len),
                Some(48),
                "{case}"
            );
            assert_eq!(
                env.recorded("segment-fn-archiver").as_deref(),
                instances[0]["id"].as_str(),
                "{case}: the one instance is recorded"
            );
            env.run(&["plan", "--detailed-exitcode"]).assert_exit(0);
            env.finish();
        }
    }
}

/// A source function: fnctl creates the source itself (slug by its naming),
/// with its settings, once.
#[test]
fn a_source_function_gets_its_source_created_once() {
    let mut env = Env::start("replace", "explicit");
    write_file(
        env.ws.path(),
        "functions/s3-reader.js",
        "async function onRequest(request, settings) {}\n",
    );
    write_file(
        env.ws.path(),
        "manifests/main.yaml",
        r#"version: 1
defaults:
  scope: functions-e2e
functions:
  - name: s3-reader
    kind: source
    code: ../functions/s3-reader.js
    displayName: S3 reader
instances:
  - name: reader
    kind: source
    segment: { function: s3-reader }
"#,
    );
    env.apply().assert_success().assert_stderr_contains(
        "Segment functions: 1 created, 0 updated, 1 deployed; 1 instance(s) created.",
    );
    let function = env.functions().remove(0);
    assert!(function["id"].as_str().unwrap().starts_with("sfnc_"));
    let sources: Vec<Value> = env
        .segment
        .control("GET", "/__control/instances", Value::Null)["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["kind"] == "source" && i["id"] != SOURCE)
        .cloned()
        .collect();
    assert_eq!(sources.len(), 1, "{sources:#?}");
    assert_eq!(sources[0]["slug"], "fnctl-functions-e2e-reader");
    assert_eq!(sources[0]["metadata"]["id"], function["catalogId"]);
    assert_eq!(
        sources[0]["settings"]["iamRoleExternalId"]
            .as_str()
            .map(str::len),
        Some(48)
    );
    let writes = env.writes();
    env.apply().assert_success();
    assert_eq!(
        env.writes(),
        writes,
        "a second apply sends Segment no write"
    );
    env.run(&["plan", "--detailed-exitcode"]).assert_exit(0);
    env.finish();
}

/// drift: the instance its role records, deleted in Segment or connected
/// elsewhere (another source, another function), is high (exit 2); apply
/// makes a deleted one again, and refuses to make a second of a moved one.
#[test]
fn an_owned_instance_deleted_or_moved_in_segment_is_high_drift() {
    let mut env = Env::start("replace", "explicit");
    env.apply().assert_success();
    let first = env.recorded("segment-fn-archiver").expect("recorded");
    env.run(&["drift"]).assert_exit(0);
    env.segment.control(
        "DELETE",
        &format!("/__control/instances/destination/{first}"),
        Value::Null,
    );
    env.run(&["drift"])
        .assert_exit(2)
        .assert_stdout_contains("HIGH     function-instance-gone")
        .assert_stdout_contains(&format!("instance {first} was deleted in Segment"));
    env.apply().assert_success();
    let second = env.recorded("segment-fn-archiver").expect("recorded again");
    assert_ne!(first, second, "made again, the new id recorded");
    assert_eq!(env.instances().len(), 1);
    env.run(&["drift"]).assert_exit(0);

    let path = format!("/__control/instances/destination/{second}");
    env.segment
        .create("source", "srcElsewhere001", json!({}), &[]);
    env.segment
        .control("PATCH", &path, json!({"sourceId": "srcElsewhere001"}));
    env.run(&["drift"])
        .assert_exit(2)
        .assert_stdout_contains("HIGH     function-instance-gone")
        .assert_stdout_contains("is connected to another source");
    env.apply().assert_exit(1).assert_stderr_contains(&format!(
        "Segment instance {second} recorded on its role is connected to another source"
    ));
    assert_eq!(env.instances().len(), 1, "no second instance");
    env.segment.control(
        "PATCH",
        &path,
        json!({"sourceId": SOURCE, "catalogId": "anotherFunction1"}),
    );
    env.run(&["drift"])
        .assert_exit(2)
        .assert_stdout_contains("runs another function");
    env.finish();
}

/// verify: each instance runs its function (the manifest's code, deployed)
/// and holds its bundle's settings (the external ID compared as Segment
/// masks it, never printed); each way it does not is a named failure.
#[test]
fn verify_fails_when_an_instance_lacks_a_setting_or_runs_another_function() {
    let mut env = Env::start("replace", "explicit");
    env.apply().assert_success();
    env.run(&["verify"])
        .assert_success()
        .assert_stdout_contains("verified 1 instance(s)");
    let id = env.recorded("segment-fn-archiver").expect("recorded");
    let settings = format!("/__control/instances/destination/{id}/settings");
    env.segment
        .control("DELETE", &format!("{settings}/iamRoleArn"), Value::Null);
    env.segment.control(
        "PUT",
        &format!("{settings}/iamRoleExternalId"),
        json!({"value": "an-id-typed-by-hand-0000000000000000000000000000"}),
    );
    env.run(&["verify"])
        .assert_exit(1)
        .assert_stdout_contains("archiver: segment-settings-differ")
        .assert_stdout_contains("iamRoleArn, iamRoleExternalId");
    // apply pushes the bundle's settings back into the instance, as it
    // does for every instance: verify is clean again; a second apply sends
    // no write.
    env.apply()
        .assert_success()
        .assert_stderr_contains("1 instance(s)' settings pushed.");
    env.run(&["verify"]).assert_success();
    let writes = env.writes();
    env.apply().assert_success();
    assert_eq!(
        env.writes(),
        writes,
        "a second apply sends Segment no write"
    );

    let function = env.functions().remove(0);
    env.segment.control(
        "PATCH",
        &format!("/__control/functions/{}", function["id"].as_str().unwrap()),
        json!({"code": "// by hand\n"}),
    );
    env.segment.control(
        "PATCH",
        &format!("/__control/instances/destination/{id}"),
        json!({"catalogId": "anotherFunction1"}),
    );
    env.run(&["verify"])
        .assert_exit(1)
        .assert_stdout_contains("archiver: function-not-deployed")
        .assert_stdout_contains(&format!(
            "archiver: function-instance-elsewhere — Segment instance {id} runs another function"
        ));
    env.finish();
}

/// `--prune`: plan shows, and apply deletes, the owned instance no manifest
/// names and then the owned function no manifest declares; a same-named
/// instance running a function fnctl does not own, and another scope's
/// function and instance, are left alone.
#[test]
fn prune_removes_an_owned_instance_and_function_and_nothing_it_does_not_own() {
    let mut env = Env::start("replace", "explicit");
    write_file(
        env.ws.path(),
        "functions/extra.js",
        "async function onTrack() {}\n",
    );
    let manifest = |extra: bool| {
        let more = if extra {
            format!(
                r#"  - name: archiver2
    kind: destination
    segment: {{ function: s3-archiver, source: {SOURCE} }}
"#
            )
        } else {
            String::new()
        };
        let function = if extra {
            "  - name: s3-extra\n    kind: destination\n    code: ../functions/extra.js\n    displayName: Extra\n"
        } else {
            ""
        };
        format!(
            r#"version: 1
defaults:
  scope: functions-e2e
functions:
  - name: s3-archiver
    kind: destination
    code: ../functions/s3-archiver.js
    displayName: S3 archiver
{function}instances:
  - name: archiver
    kind: destination
    bucket: {{ name: acme-events, region: us-west-2 }}
    segment: {{ function: s3-archiver, source: {SOURCE} }}
{more}"#
        )
    };
    write_file(env.ws.path(), "manifests/main.yaml", &manifest(true));
    env.apply().assert_success();
    assert_eq!(env.functions().len(), 2);
    assert_eq!(env.instances().len(), 2);
    // Not fnctl's: a function without its marker, another scope's, and
    // instances running them under names like fnctl's.
    for (description, id, name) in [
        (
            "made by hand",
            "sameName01",
            "archiver2 (fnctl:functions-e2e)",
        ),
        (
            "[fnctl:other-scope/s3-extra]",
            "otherScope01",
            "archiver2 (fnctl:other-scope)",
        ),
    ] {
        let status = env.segment.through_prism(
            "POST",
            "/functions",
            json!({"code": "x", "displayName": "Extra", "resourceType": "DESTINATION", "description": description}),
        );
        assert_eq!(status, 200);
        let catalog = env
            .functions()
            .into_iter()
            .find(|f| f["description"] == description)
            .expect("made")["catalogId"]
            .clone();
        env.segment.control(
            "POST",
            "/__control/instances",
            json!({"kind": "destination", "id": id, "name": name, "sourceId": SOURCE, "catalogId": catalog}),
        );
    }
    let owned = env.recorded("segment-fn-archiver2").expect("recorded");
    let extra_id = env
        .functions()
        .into_iter()
        .find(|f| f["description"] == "[fnctl:functions-e2e/s3-extra]")
        .expect("fnctl's")["id"]
        .as_str()
        .unwrap()
        .to_string();

    write_file(env.ws.path(), "manifests/main.yaml", &manifest(false));
    env.run(&["plan", "--detailed-exitcode"]).assert_exit(0);
    env.run(&["plan", "--prune", "--detailed-exitcode"])
        .assert_exit(2)
        .assert_stdout_contains(&format!(
            "- Segment destination `archiver2 (fnctl:functions-e2e)` ({owned}) will be deleted"
        ))
        .assert_stdout_contains(&format!(
            "- Segment destination function `[fnctl:functions-e2e/s3-extra]` ({extra_id}) will be deleted"
        ));
    assert_eq!(env.instances().len(), 4, "plan deletes nothing");
    env.run(&["apply", "--prune", "--auto-approve"])
        .assert_success()
        .assert_stderr_contains("2 pruned.");
    let left: Vec<String> = env
        .instances()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(!left.contains(&owned), "{left:?}");
    assert!(left.contains(&"sameName01".to_string()) && left.contains(&"otherScope01".to_string()));
    let functions = env.functions();
    assert_eq!(
        functions.len(),
        3,
        "s3-archiver, the unowned and the other scope's"
    );
    assert!(functions.iter().all(|f| f["id"] != extra_id.as_str()));
    env.run(&["plan", "--prune", "--detailed-exitcode"])
        .assert_exit(0);

    // The last function gone from the manifests: pruned all the same, in
    // the workspace a `segment: { id }` instance names.
    write_file(
        env.ws.path(),
        "manifests/main.yaml",
        &format!(
            "version: 1\ndefaults:\n  scope: functions-e2e\ninstances:\n  - name: legacy\n    kind: source\n    segment: {{ id: {SOURCE} }}\n"
        ),
    );
    env.run(&["plan", "--prune", "--detailed-exitcode"])
        .assert_exit(2)
        .assert_stdout_contains("- Segment destination `archiver (fnctl:functions-e2e)`")
        .assert_stdout_contains(
            "- Segment destination function `[fnctl:functions-e2e/s3-archiver]`",
        );
    env.run(&["apply", "--prune", "--auto-approve"])
        .assert_success()
        .assert_stderr_contains("2 pruned.");
    let left: Vec<Value> = env.instances();
    assert_eq!(left.len(), 2, "{left:#?}");
    assert_eq!(
        env.functions().len(),
        2,
        "the unowned and the other scope's"
    );
    env.finish();
}

/// Rotation reaches a function instance as it does a `segment: { id }`
/// one, through the id its role records: `--start` pushes the new ID into
/// the instance, `--finish` drops the old one only once Segment holds the
/// new, and an ID put back by hand is pushed again by `--auto`, never
/// finished over (that would lock the function out).
#[test]
fn rotation_pushes_the_new_id_into_a_function_instance_before_finishing() {
    let mut env = Env::start("replace", "explicit");
    env.apply().assert_success();
    let held = |env: &Env| {
        env.instances()[0]["settings"]["iamRoleExternalId"]
            .as_str()
            .expect("an external ID")
            .to_string()
    };
    let first = held(&env);
    env.run(&["rotate", "archiver", "--start"]).assert_exit(0);
    let second = held(&env);
    assert_ne!(second, first, "--start pushes the new ID into the instance");
    // Someone puts the old ID back by hand: no finish over it.
    let id = env.instances()[0]["id"].as_str().unwrap().to_string();
    env.segment
        .edit("destination", &id, "iamRoleExternalId", json!(first));
    env.run(&["rotate", "archiver", "--finish", "--min-age", "0s"])
        .assert_exit(1)
        .assert_stderr_contains("Segment does not hold the new external ID");
    env.run(&["rotate", "--auto", "--min-age", "0s"])
        .assert_exit(0);
    assert_eq!(held(&env), second, "--auto pushes it again");
    env.run(&["rotate", "--auto", "--min-age", "0s"])
        .assert_exit(0);
    env.run(&["verify"]).assert_exit(0);
    env.run(&["drift"]).assert_exit(0);
    env.finish();
}
