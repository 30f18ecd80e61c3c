//! Segment functions in every plan format and in saved plans, end to end
//! (moto, the Segment test server behind Prism): JSON and Markdown carry
//! the steps the text shows; `plan --out` pins each code file by SHA-256
//! and `apply --plan` applies the function steps, refusing before any
//! write when a code file or Segment moved since the plan.

use serde_json::{json, Value};

use crate::segment_functions::{Env, SOURCE};

const CODE: &str = "functions/s3-archiver.js";
const V1: &str = "async function onTrack(event, settings) { return 'v1' }\n";
const V2: &str = "async function onTrack(event, settings) { return 'v2' }\n";

fn start() -> Env {
    Env::start("replace", "explicit")
}

fn json_plan(env: &mut Env) -> Value {
    let out = env.run(&["plan", "--format", "json"]);
    out.assert_success();
    serde_json::from_str(&out.stdout).expect("the JSON plan is JSON")
}

fn sha256(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn json_and_markdown_plans_carry_the_function_steps() {
    let mut env = start();
    let plan = json_plan(&mut env);
    let functions = &plan["segment_functions"];
    assert_eq!(
        functions["summary"],
        json!({"create": 1, "update": 0, "instances": 1, "conflicts": 0, "delete": 0, "push": 0})
    );
    let function = &functions["functions"][0];
    assert_eq!(function["function"], "s3-archiver");
    assert_eq!(function["action"], "create");
    assert_eq!(function["code_sha256"], sha256(V1));
    assert!(function["code_file"].as_str().unwrap().ends_with(CODE));
    assert_eq!(
        functions["instances"],
        json!([{"instance": "archiver", "function": "s3-archiver", "kind": "destination",
                "name": "archiver (fnctl:functions-e2e)", "source": SOURCE}])
    );
    env.run(&["plan", "--format", "markdown"])
        .assert_success()
        .assert_stdout_contains("#### Segment functions")
        .assert_stdout_contains("- `` + Segment destination function s3-archiver will be created")
        .assert_stdout_contains("`archiver (fnctl:functions-e2e)` (instance archiver)");

    env.run(&["apply", "--auto-approve"]).assert_success();
    assert_eq!(
        json_plan(&mut env)["segment_functions"]["summary"],
        json!({"create": 0, "update": 0, "instances": 0, "conflicts": 0, "delete": 0, "push": 0})
    );
    env.code(V2);
    let plan = json_plan(&mut env);
    let function = &plan["segment_functions"]["functions"][0];
    assert_eq!(function["action"], "update");
    let diff = function["code_diff"].as_str().unwrap();
    assert!(
        diff.contains(&format!("-{V1}")) && diff.contains(&format!("+{V2}")),
        "{diff}"
    );
    assert_eq!(plan["segment_functions"]["instances"], json!([]));
    env.run(&["plan", "--format", "markdown"])
        .assert_success()
        .assert_stdout_contains("- `` ~ Segment function s3-archiver will be updated")
        .assert_stdout_contains("```diff\n--- segment\n+++ manifest\n")
        .assert_stdout_contains(&format!("+{V2}"));
    env.finish();
}

/// `apply --plan` applies the function steps it saved; a code file changed
/// since, or the function changed in Segment since, is refused before any
/// write to IAM or Segment.
#[test]
fn a_saved_plan_pins_the_code_it_showed_and_applies_the_function_steps() {
    let mut env = start();
    let writes = env.writes();
    env.run(&["plan", "--out", "plan.json"]).assert_success();
    env.code("async function onTrack(event, settings) { return 'unreviewed' }\n");
    env.run(&["apply", "--plan", "plan.json", "--auto-approve"])
        .assert_exit(1)
        .assert_stderr_contains("the saved plan is stale: code file ")
        .assert_stderr_contains(CODE);
    assert_eq!(env.writes(), writes, "no write to Segment");
    env.run(&["plan"])
        .assert_stdout_contains("+ role segment-fn-archiver (instance archiver");
    assert!(
        !env.ws.path().join("bundles/archiver.json").exists(),
        "no apply"
    );

    env.code(V1);
    env.run(&["apply", "--plan", "plan.json", "--auto-approve"])
        .assert_success()
        .assert_stderr_contains(
            "Segment functions: 1 created, 0 updated, 1 deployed; 1 instance(s) created.",
        );
    let function = env.functions().remove(0);
    assert_eq!(function["code"], V1);
    assert_eq!(env.instances().len(), 1);
    env.run(&["plan", "--detailed-exitcode"]).assert_exit(0);

    // A code change saved, then the function edited in Segment: refused.
    env.code(V2);
    env.run(&["plan", "--out", "v2.json"]).assert_success();
    let path = format!("/__control/functions/{}", function["id"].as_str().unwrap());
    env.segment
        .control("PATCH", &path, json!({"code": "// by hand\n"}));
    let writes = env.writes();
    env.run(&["apply", "--plan", "v2.json", "--auto-approve"])
        .assert_exit(1)
        .assert_stderr_contains(
            "the saved plan is stale, Segment has moved past it for function s3-archiver",
        );
    assert_eq!(env.writes(), writes, "no write to Segment");
    assert_eq!(env.functions()[0]["code"], "// by hand\n");

    env.run(&["plan", "--out", "fresh.json"]).assert_success();
    env.run(&["apply", "--plan", "fresh.json", "--auto-approve"])
        .assert_success()
        .assert_stderr_contains("Segment functions: 0 created, 1 updated");
    let function = env.functions().remove(0);
    assert_eq!(function["code"], V2);
    assert_eq!(
        function["deployedVersion"], function["version"],
        "the new code runs"
    );
    assert_eq!(env.instances().len(), 1);
    env.run(&["plan", "--detailed-exitcode"]).assert_exit(0);
    env.finish();
}

/// `apply` shows the function steps with IAM's, and asks before a change
/// of code alone: without a terminal and `--auto-approve`, nothing ships.
#[test]
fn apply_shows_the_function_steps_and_asks_before_shipping_code() {
    let mut env = start();
    env.run(&["apply", "--auto-approve"])
        .assert_success()
        .assert_stdout_contains("+ Segment destination function s3-archiver will be created")
        .assert_stdout_contains(
            "`archiver (fnctl:functions-e2e)` (instance archiver) will be created",
        );
    env.run(&["apply"]).assert_success();
    env.code(V2);
    let writes = env.writes();
    env.run(&["apply"])
        .assert_exit(1)
        .assert_stdout_contains("~ Segment function s3-archiver will be updated")
        .assert_stdout_contains(&format!("    +{V2}"))
        .assert_stderr_contains("pass --auto-approve");
    assert_eq!(env.writes(), writes, "nothing shipped without a yes");
    assert_eq!(env.functions()[0]["code"], V1);
    env.run(&["apply", "--auto-approve"]).assert_success();
    assert_eq!(env.functions()[0]["code"], V2);
    env.finish();
}

/// A function of the same name without fnctl's marker is a conflict: plan
/// exits 1 and saves nothing, apply changes nothing; a plan made with
/// `--adopt` is saved with its adoption and `apply --plan` takes it over.
#[test]
fn a_function_without_the_marker_is_a_conflict_until_a_saved_plan_adopts_it() {
    let mut env = start();
    env.run(&["apply", "--auto-approve"]).assert_success();
    let function = env.functions().remove(0);
    let path = format!("/__control/functions/{}", function["id"].as_str().unwrap());
    env.segment
        .control("PATCH", &path, json!({"description": "made by hand"}));
    env.code(V2);
    let writes = env.writes();
    env.run(&["plan", "--out", "conflict.json"])
        .assert_exit(1)
        .assert_stdout_contains("! Segment function s3-archiver: it exists without fnctl's marker")
        .assert_stderr_contains("the plan has conflicts");
    assert!(!env.ws.path().join("conflict.json").exists(), "not saved");
    env.run(&["apply", "--auto-approve"])
        .assert_exit(1)
        .assert_stderr_contains("the plan has conflicts (see above); nothing was changed");
    assert_eq!(env.writes(), writes, "nothing written");

    env.run(&["plan", "--adopt", "--out", "adopt.json"])
        .assert_success()
        .assert_stdout_contains("~ Segment function s3-archiver will be updated");
    env.run(&["apply", "--plan", "adopt.json", "--auto-approve"])
        .assert_success();
    let function = env.functions().remove(0);
    assert_eq!(function["code"], V2);
    assert!(function["description"]
        .as_str()
        .unwrap()
        .contains("[fnctl:functions-e2e/s3-archiver]"));
    env.run(&["plan", "--detailed-exitcode"]).assert_exit(0);
    env.finish();
}

/// `plan --prune` shows what it deletes of Segment's functions in JSON too,
/// and a saved plan carries it: `apply --plan` deletes what it showed, and
/// refuses (before any write) once Segment no longer holds exactly that.
#[test]
fn a_saved_prune_plan_deletes_what_it_showed_of_segment() {
    let mut env = start();
    let manifest = |second: bool| {
        let more = if second {
            format!("  - name: archiver2\n    kind: destination\n    segment: {{ function: s3-archiver, source: {SOURCE} }}\n")
        } else {
            String::new()
        };
        format!(
            "version: 1\ndefaults:\n  scope: functions-e2e\nfunctions:\n  - name: s3-archiver\n    kind: destination\n    code: ../{CODE}\n    displayName: S3 archiver\ninstances:\n  - name: archiver\n    kind: destination\n    bucket: {{ name: acme-events, region: us-west-2 }}\n    segment: {{ function: s3-archiver, source: {SOURCE} }}\n{more}"
        )
    };
    crate::support::env::write_file(env.ws.path(), "manifests/main.yaml", &manifest(true));
    env.run(&["apply", "--auto-approve"]).assert_success();
    assert_eq!(env.instances().len(), 2);
    let second = env
        .instances()
        .into_iter()
        .find(|i| i["name"] == "archiver2 (fnctl:functions-e2e)")
        .expect("made")["id"]
        .as_str()
        .unwrap()
        .to_string();
    crate::support::env::write_file(env.ws.path(), "manifests/main.yaml", &manifest(false));

    let plan = env.run(&["plan", "--prune", "--format", "json"]);
    plan.assert_success();
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(plan["segment_functions"]["summary"]["delete"], 1);
    assert_eq!(
        plan["segment_functions"]["prune"],
        json!([{"what": "destination", "region": "us", "id": second, "name": "archiver2 (fnctl:functions-e2e)"}])
    );

    env.run(&["plan", "--prune", "--out", "prune.json"])
        .assert_success()
        .assert_stdout_contains("will be deleted (--prune: no manifest names it)");
    env.run(&["apply", "--plan", "prune.json", "--auto-approve"])
        .assert_success()
        .assert_stderr_contains("1 pruned.");
    assert_eq!(env.instances().len(), 1);
    assert!(env.instances().iter().all(|i| i["id"] != second.as_str()));
    env.run(&["plan", "--prune", "--detailed-exitcode"])
        .assert_exit(0);

    // Saved, then the instance goes by hand: refused, nothing written.
    crate::support::env::write_file(env.ws.path(), "manifests/main.yaml", &manifest(true));
    env.run(&["apply", "--auto-approve"]).assert_success();
    crate::support::env::write_file(env.ws.path(), "manifests/main.yaml", &manifest(false));
    env.run(&["plan", "--prune", "--out", "stale.json"])
        .assert_success();
    let again = env
        .instances()
        .into_iter()
        .find(|i| i["name"] == "archiver2 (fnctl:functions-e2e)")
        .expect("made again")["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.segment.control(
        "DELETE",
        &format!("/__control/instances/destination/{again}"),
        Value::Null,
    );
    let writes = env.writes();
    env.run(&["apply", "--plan", "stale.json", "--auto-approve"])
        .assert_exit(1)
        .assert_stderr_contains("Segment has moved past it for what --prune deletes");
    assert_eq!(env.writes(), writes, "no write");
    env.finish();
}

/// Settings changed by hand in an instance fnctl made: plan shows the push
/// apply makes (in text and JSON, the external ID only as `(sensitive)`),
/// apply makes it, and plan is clean again.
#[test]
fn plan_shows_the_settings_apply_pushes_into_an_existing_instance() {
    let mut env = start();
    env.run(&["apply", "--auto-approve"]).assert_success();
    let id = env.instances()[0]["id"].as_str().unwrap().to_string();
    let settings = format!("/__control/instances/destination/{id}/settings");
    env.segment
        .control("DELETE", &format!("{settings}/iamRoleArn"), Value::Null);
    env.segment.control(
        "PUT",
        &format!("{settings}/iamRoleExternalId"),
        json!({"value": "an-id-typed-by-hand-0000000000000000000000000000"}),
    );
    env.run(&["plan", "--detailed-exitcode"])
        .assert_exit(2)
        .assert_stdout_contains(&format!(
            "~ Segment /destinations/{id} (instance archiver) settings updated"
        ))
        .assert_stdout_contains("+ iamRoleArn: \"arn:aws:iam::")
        .assert_stdout_contains("~ iamRoleExternalId: (sensitive) -> (sensitive)")
        .assert_stdout_contains("1 instance(s)' settings to push.");
    let plan = json_plan(&mut env);
    assert_eq!(plan["segment_functions"]["summary"]["push"], 1);
    assert_eq!(
        plan["segment_functions"]["pushes"][0]["instance"],
        "archiver"
    );
    env.run(&["apply", "--auto-approve"])
        .assert_success()
        .assert_stderr_contains("1 instance(s)' settings pushed.");
    env.run(&["plan", "--detailed-exitcode"]).assert_exit(0);
    env.finish();
}
