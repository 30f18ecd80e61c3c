//! fnctl delivering settings to Segment, end to end: the real binary
//! against moto (IAM) and the Segment test server behind Prism validating
//! Segment's published OpenAPI spec. Every test ends by checking that Prism
//! saw nothing off the spec and that neither the token nor any external ID
//! appears in anything fnctl printed.

use std::path::PathBuf;

use crate::support::command::{fnctl, FnctlCommand, Output};
use crate::support::env::{workspace, write_file};
use crate::support::moto::{iam_client, Moto};
use crate::support::segment::{bundle_settings, SegmentApi, TOKEN};
use serde_json::{json, Value};

const DESTINATION: &str = "dstArchiver0001";
const SOURCE: &str = "srcWebhook00001";

struct Env {
    moto: Moto,
    segment: SegmentApi,
    ws: tempfile::TempDir,
    outputs: std::sync::Mutex<Vec<Output>>,
}

impl Env {
    fn start() -> Env {
        let env = Env {
            moto: Moto::start(),
            segment: SegmentApi::start(),
            ws: workspace(),
            outputs: Default::default(),
        };
        // Two function instances in Segment, each with a setting fnctl does
        // not own (one of them sensitive, so Segment masks it).
        for (kind, id) in [("destination", DESTINATION), ("source", SOURCE)] {
            env.segment.create(
                kind,
                id,
                json!({"apiKey": "foreign-secret-value-9876", "flushEvery": 100}),
                &["iamRoleExternalId", "apiKey"],
            );
        }
        write_file(
            env.ws.path(),
            "manifests/main.yaml",
            &format!(
                r#"version: 1
defaults:
  scope: segment-e2e
  segment: {{ region: us }}
instances:
  - name: archiver
    kind: destination
    bucket: {{ name: acme-events, region: us-west-2, prefix: segment/ }}
    segment: {{ id: {DESTINATION} }}
  - name: webhook
    kind: source
    segment: {{ id: {SOURCE} }}
  - name: manual
    kind: destination
"#
            ),
        );
        env
    }

    fn bundles(&self) -> PathBuf {
        self.ws.path().join("bundles")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, |_| {})
    }

    fn run_with(&self, args: &[&str], adjust: impl FnOnce(&mut FnctlCommand)) -> Output {
        let mut command = fnctl(&self.moto);
        command
            .current_dir(self.ws.path())
            .env("SEGMENT_PUBLIC_API_TOKEN", TOKEN)
            .env("SEGMENT_API_URL", self.segment.url())
            .args(args);
        adjust(&mut command);
        let out = command.run();
        self.outputs.lock().unwrap().push(out.clone());
        out
    }

    fn apply(&self) -> Output {
        self.run(&["apply", "--auto-approve"])
    }

    fn patches(&self, id: &str) -> usize {
        self.segment
            .requests(&format!("/destinations/{id}"))
            .iter()
            .chain(self.segment.requests(&format!("/sources/{id}")).iter())
            .filter(|r| r["method"] == "PATCH")
            .count()
    }

    /// No token, no external ID in any output; nothing off Segment's spec.
    fn finish(&self) {
        self.segment.assert_no_violation();
        let mut secrets = vec![TOKEN.to_string(), "foreign-secret-value-9876".to_string()];
        let bundles = std::fs::read_dir(self.bundles())
            .map(|dir| dir.flatten().map(|entry| entry.path()).collect())
            .unwrap_or_else(|_| Vec::new());
        for path in bundles
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
        {
            let text = std::fs::read_to_string(path).unwrap();
            let bundle: Value = serde_json::from_str(&text).unwrap();
            let id = bundle["settings"]["iamRoleExternalId"].as_str();
            secrets.push(id.expect("a bundle holds its external ID").to_string());
        }
        for out in self.outputs.lock().unwrap().iter() {
            for secret in &secrets {
                assert!(
                    !out.stdout.contains(secret) && !out.stderr.contains(secret),
                    "a secret appears in fnctl's output:\n{}\n{}",
                    out.stdout,
                    out.stderr
                );
            }
        }
    }
}

/// The settings Segment holds, as the function would get them.
fn held(env: &Env, kind: &str, id: &str) -> Value {
    env.segment.settings(kind, id)
}

fn assert_holds_bundle(env: &Env, kind: &str, id: &str, instance: &str) {
    let held = held(env, kind, id);
    let bundle = bundle_settings(&env.bundles(), instance);
    for (key, value) in bundle.as_object().unwrap() {
        assert_eq!(&held[key], value, "Segment's {key} for {instance}");
    }
    assert_eq!(
        held["apiKey"], "foreign-secret-value-9876",
        "a foreign setting was kept"
    );
    assert_eq!(held["flushEvery"], 100, "a foreign setting was kept");
}

#[test]
fn apply_delivers_the_bundles_and_a_second_apply_sends_nothing() {
    let env = Env::start();
    let plan = env.run(&["plan", "--detailed-exitcode"]);
    plan.assert_exit(2)
        .assert_stdout_contains(&format!(
            "Segment /destinations/{DESTINATION} (instance archiver) settings updated"
        ))
        .assert_stdout_contains("iamRoleExternalId: (sensitive) new")
        .assert_stdout_contains("2 Segment instance(s) to update");
    assert_eq!(env.patches(DESTINATION), 0, "plan never writes to Segment");
    let json_plan = env.run(&["plan", "--format", "json"]);
    let report: Value = serde_json::from_str(&json_plan.stdout).unwrap();
    assert_eq!(report["summary"]["segment"], 2, "{report:#}");

    env.apply()
        .assert_exit(0)
        .assert_stderr_contains("Segment: 2 instance(s) updated");
    assert_holds_bundle(&env, "destination", DESTINATION, "archiver");
    assert_holds_bundle(&env, "source", SOURCE, "webhook");
    // The instance without `segment:` causes no Segment request at all.
    assert!(env.segment.requests("/destinations/manual").is_empty());

    env.run(&["plan", "--detailed-exitcode"]).assert_exit(0);
    env.run(&["drift"]).assert_exit(0);
    env.run(&["verify"]).assert_exit(0);
    let before = env.patches(DESTINATION) + env.patches(SOURCE);
    env.apply()
        .assert_exit(0)
        .assert_stderr_contains("Segment: 0 instance(s) updated, 2 already up to date");
    assert_eq!(
        env.patches(DESTINATION) + env.patches(SOURCE),
        before,
        "a second apply sends no PATCH"
    );
    for request in env
        .segment
        .requests(&format!("/destinations/{DESTINATION}"))
    {
        assert!(
            request["maskedValueKeys"]
                .as_array()
                .is_none_or(|k| k.is_empty()),
            "fnctl wrote back a masked value: {request}"
        );
    }
    env.finish();
}

#[test]
fn a_hand_edit_in_segment_is_drift_and_apply_repairs_it() {
    let env = Env::start();
    env.apply().assert_exit(0);
    env.segment.edit(
        "destination",
        DESTINATION,
        "iamRoleExternalId",
        json!("typed-by-hand-wrong-id"),
    );
    env.segment.edit(
        "source",
        SOURCE,
        "iamRoleArn",
        json!("arn:aws:iam::123456789012:role/other"),
    );
    let drift = env.run(&["drift"]);
    drift
        .assert_exit(2)
        .assert_stdout_contains("segment-external-id-rejected")
        .assert_stdout_contains("segment-settings-changed");
    env.run(&["verify"])
        .assert_exit(1)
        .assert_stdout_contains("segment-settings-differ");
    env.run(&["plan", "--detailed-exitcode"])
        .assert_exit(2)
        .assert_stdout_contains("iamRoleExternalId: (sensitive) -> (sensitive)");
    env.apply().assert_exit(0);
    assert_holds_bundle(&env, "destination", DESTINATION, "archiver");
    assert_holds_bundle(&env, "source", SOURCE, "webhook");
    env.run(&["drift"]).assert_exit(0);
    env.finish();
}

#[test]
fn under_replace_semantics_no_foreign_setting_is_lost_silently() {
    let env = Env::start();
    env.segment.patch_mode("replace");
    let out = env.apply();
    out.assert_exit(1)
        .assert_stderr_contains("Segment replaced the instance's settings instead of merging them")
        .assert_stderr_contains("apiKey")
        .assert_stderr_contains("restored from what Segment showed before: flushEvery");
    // What could be restored was: the unmasked foreign setting is back.
    assert_eq!(held(&env, "destination", DESTINATION)["flushEvery"], 100);
    env.finish();
}

#[test]
fn rate_limits_are_waited_out_and_a_refused_token_names_the_variable() {
    let env = Env::start();
    env.segment
        .fault(&format!("/destinations/{DESTINATION}"), 429, 2, 700);
    let started = std::time::Instant::now();
    env.apply().assert_exit(0);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1400),
        "fnctl waited as Segment said"
    );
    assert_holds_bundle(&env, "destination", DESTINATION, "archiver");

    env.run_with(&["plan"], |c| {
        c.env("SEGMENT_PUBLIC_API_TOKEN", "wrong-token-1234567");
    })
    .assert_exit(1)
    .assert_stderr_contains("SEGMENT_PUBLIC_API_TOKEN");
    env.run_with(&["plan"], |c| {
        c.env_remove("SEGMENT_PUBLIC_API_TOKEN");
    })
    .assert_exit(1)
    .assert_stderr_contains("SEGMENT_PUBLIC_API_TOKEN is not set");
    env.finish();
}

#[test]
fn the_contract_check_itself_catches_a_request_off_the_spec() {
    let segment = SegmentApi::start();
    segment.create(
        "destination",
        "dstContract0001",
        json!({}),
        &["iamRoleExternalId"],
    );
    // `settings` must be an object in Segment's spec.
    assert_eq!(
        segment.through_prism(
            "PATCH",
            "/destinations/dstContract0001",
            json!({"settings": "x"})
        ),
        422
    );
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        segment.assert_no_violation()
    }));
    assert!(
        caught.is_err(),
        "a violation must fail the check; Prism log:\n{}",
        segment.prism_log_text()
    );
}

/// The external IDs a role's trust policy accepts, read from IAM (moto).
async fn trust_ids(env: &Env, role: &str) -> Vec<String> {
    let iam = iam_client(&env.moto).await;
    let got = iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .expect("GetRole");
    let text = got
        .role()
        .unwrap()
        .assume_role_policy_document()
        .unwrap()
        .to_string();
    let decoded = percent_decode(&text);
    let document: Value = serde_json::from_str(&decoded).expect("trust policy JSON");
    let ids = &document["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"];
    match ids {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect(),
        _ => Vec::new(),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8")
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_auto_takes_an_instance_through_a_whole_rotation_with_no_human() {
    let env = Env::start();
    // Rotate the archiver every 30 days, and make its ID look 6 years old.
    let manifest = std::fs::read_to_string(env.ws.path().join("manifests/main.yaml")).unwrap();
    write_file(
        env.ws.path(),
        "manifests/main.yaml",
        &manifest.replace(
            &format!("    segment: {{ id: {DESTINATION} }}\n"),
            &format!(
                "    segment: {{ id: {DESTINATION} }}\n    externalId: {{ rotateAfterDays: 30 }}\n"
            ),
        ),
    );
    env.apply().assert_exit(0);
    let role = "segment-fn-archiver";
    let old = bundle_settings(&env.bundles(), "archiver")["iamRoleExternalId"].clone();
    iam_client(&env.moto)
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
        .expect("age the ID");

    // The cron run: starts the due rotation and pushes the new ID.
    let auto = |min_age: &str| env.run(&["rotate", "--auto", "--min-age", min_age]);
    auto("2s").assert_exit(0);
    let new = bundle_settings(&env.bundles(), "archiver")["iamRoleExternalId"].clone();
    assert_ne!(new, old, "a new ID in the bundle");
    assert_eq!(
        held(&env, "destination", DESTINATION)["iamRoleExternalId"],
        new,
        "Segment holds the new ID"
    );
    let accepted = trust_ids(&env, role).await;
    assert!(
        accepted.contains(&old.as_str().unwrap().to_string())
            && accepted.contains(&new.as_str().unwrap().to_string()),
        "both IDs work during the overlap"
    );
    assert_eq!(
        held(&env, "destination", DESTINATION)["apiKey"],
        "foreign-secret-value-9876"
    );

    // Too young to finish: the next run waits and changes nothing.
    auto("1h")
        .assert_exit(0)
        .assert_stderr_contains("rotation in progress");
    assert_eq!(trust_ids(&env, role).await.len(), 2);
    env.run(&["rotate", "archiver", "--finish", "--min-age", "1h"])
        .assert_exit(1);

    // Once Segment has held the new ID for the minimum age: finished.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    auto("2s").assert_exit(0);
    assert_eq!(
        trust_ids(&env, role).await,
        [new.as_str().unwrap().to_string()],
        "only the new ID"
    );
    assert_eq!(
        held(&env, "destination", DESTINATION)["iamRoleExternalId"],
        new
    );
    // Twice in a row: the second run changes nothing.
    let patches = env.patches(DESTINATION);
    auto("2s").assert_exit(0);
    assert_eq!(
        trust_ids(&env, role).await,
        [new.as_str().unwrap().to_string()]
    );
    assert_eq!(env.patches(DESTINATION), patches);
    env.run(&["plan", "--detailed-exitcode"]).assert_exit(0);
    env.finish();
}

#[test]
fn finish_refuses_while_segment_does_not_hold_the_new_id() {
    let env = Env::start();
    env.apply().assert_exit(0);
    let old = bundle_settings(&env.bundles(), "webhook")["iamRoleExternalId"].clone();
    env.run(&["rotate", "webhook", "--start"]).assert_exit(0);
    // Someone puts the old ID back in Segment by hand.
    env.segment.edit("source", SOURCE, "iamRoleExternalId", old);
    env.run(&["rotate", "webhook", "--finish", "--min-age", "0s"])
        .assert_exit(1)
        .assert_stderr_contains("Segment does not hold the new external ID");
    // `--auto` pushes it again instead of finishing.
    env.run(&["rotate", "--auto", "--min-age", "0s"])
        .assert_exit(0);
    let new = bundle_settings(&env.bundles(), "webhook")["iamRoleExternalId"].clone();
    assert_eq!(held(&env, "source", SOURCE)["iamRoleExternalId"], new);
    env.finish();
}

/// A manifest of `destinations` and `sources` instances (`d0000`…,
/// `s0000`…) whose Segment ids are `{prefix}d0000`… and `{prefix}s0000`…
/// from `first` on.
fn many_manifest(prefix: &str, first: usize, destinations: usize, sources: usize) -> String {
    let mut text = String::from(
        "version: 1\ndefaults:\n  scope: segment-many\n  segment: { region: us }\ninstances:\n",
    );
    for (kind, letter, count) in [("destination", 'd', destinations), ("source", 's', sources)] {
        for n in first..first + count {
            text.push_str(&format!(
                "  - name: {letter}{n:04}\n    kind: {kind}\n    segment: {{ id: {prefix}{letter}{n:04} }}\n"
            ));
        }
    }
    text
}

/// (list pages, per-instance GETs, PATCHes) among `requests`.
fn kinds_of(requests: &[Value]) -> (usize, usize, usize) {
    let list = |r: &&Value| r["path"].as_str().unwrap().matches('/').count() == 1;
    let lists = requests.iter().filter(list).count();
    let patches = requests.iter().filter(|r| r["method"] == "PATCH").count();
    (lists, requests.len() - lists - patches, patches)
}

#[test]
fn many_instances_are_read_in_list_pages_and_each_push_is_read_back() {
    let env = Env::start();
    // 250 destinations in the workspace, fnctl manages the last 40 (so the
    // first page of 200 holds none of them); 5 sources, all managed.
    let settings = json!({"apiKey": "foreign-secret-value-9876", "flushEvery": 100});
    env.segment
        .create_many("destination", "wsd", 210, settings.clone());
    env.segment
        .create_many("destination", "manyd", 40, settings.clone());
    env.segment.create_many("source", "manys", 5, settings);
    write_file(
        env.ws.path(),
        "manifests/main.yaml",
        &many_manifest("many", 0, 40, 5),
    );
    let requests_of = |args: &[&str], exit: i32| {
        let before = env.segment.all_requests().len();
        env.run(args).assert_exit(exit);
        kinds_of(&env.segment.all_requests()[before..])
    };
    // Two destination pages and one source page; not one GET per instance.
    assert_eq!(requests_of(&["plan", "--detailed-exitcode"], 2), (3, 0, 0));
    // Apply: the plan's read, one read of them all before pushing, then
    // per instance its push and its read-back.
    assert_eq!(requests_of(&["apply", "--auto-approve"], 0), (6, 45, 45));
    for n in [0, 39] {
        let held = held(&env, "destination", &format!("manyd{n:04}"));
        let bundle = bundle_settings(&env.bundles(), &format!("d{n:04}"));
        assert_eq!(held["iamRoleExternalId"], bundle["iamRoleExternalId"]);
        assert_eq!(held["flushEvery"], 100, "a foreign setting was kept");
    }
    assert_eq!(requests_of(&["plan", "--detailed-exitcode"], 0), (3, 0, 0));
    assert_eq!(requests_of(&["drift"], 0), (3, 0, 0));
    assert_eq!(requests_of(&["verify"], 0), (3, 0, 0));
    assert_eq!(requests_of(&["apply", "--auto-approve"], 0), (6, 0, 0));
    // A rotation's pushes start from the same one read of them all.
    assert_eq!(requests_of(&["rotate", "--all", "--start"], 0), (3, 45, 45));
    let new = bundle_settings(&env.bundles(), "s0004")["iamRoleExternalId"].clone();
    assert_eq!(held(&env, "source", "manys0004")["iamRoleExternalId"], new);
    env.finish();
}

#[test]
fn behind_the_rate_limit_under_every_reading_no_instance_is_given_up() {
    let env = Env::start();
    let settings = json!({"apiKey": "foreign-secret-value-9876", "flushEvery": 100});
    env.segment
        .create_many("destination", "ratedd", 8, settings);
    write_file(
        env.ws.path(),
        "manifests/main.yaml",
        &many_manifest("rated", 0, 8, 0),
    );
    // Each reading of what Segment does not document (the first is the
    // server's default), 10 requests a 2-second window.
    let readings = [
        json!({}),
        json!({"windowStart": "aligned"}),
        json!({"headersOn": "success"}),
        json!({"countRejected": false}),
        json!({"resetRounding": "floor"}),
        json!({"resetZone": "+0000"}),
        json!({"listCost": 4}),
    ];
    for reading in readings {
        let mut limit = json!({"limit": 10, "windowMs": 2000, "windowStart": "first",
            "headersOn": "all", "countRejected": true, "resetRounding": "ceil",
            "resetZone": "GMT", "listCost": 1});
        limit
            .as_object_mut()
            .unwrap()
            .extend(reading.as_object().unwrap().clone());
        env.segment.rate_limit(limit);
        // Every instance's ID typed wrong by hand: apply pushes all eight.
        for n in 0..8 {
            env.segment.edit(
                "destination",
                &format!("ratedd{n:04}"),
                "iamRoleExternalId",
                json!("typed-by-hand-wrong-id"),
            );
        }
        env.segment.take_counters();
        env.apply()
            .assert_exit(0)
            .assert_stderr_contains("Segment: 8 instance(s) updated");
        for n in 0..8 {
            let held = held(&env, "destination", &format!("ratedd{n:04}"));
            let bundle = bundle_settings(&env.bundles(), &format!("d{n:04}"));
            assert_eq!(
                held["iamRoleExternalId"], bundle["iamRoleExternalId"],
                "{reading}"
            );
        }
        // Two list pages, eight pushes and their read-backs: at least two
        // windows. A 429 at most for each window (a probe sent at a reset
        // rounded down), never one for each request.
        let counters = env.segment.take_counters();
        let refused = counters["refused"].as_u64().unwrap();
        assert_eq!(
            counters["requests"].as_u64().unwrap() - refused,
            18,
            "{reading}: {counters}"
        );
        assert!(refused <= 3, "{reading}: {counters}");
    }
    env.finish();
}

#[test]
fn a_rate_limit_that_asks_for_too_long_a_wait_ends_the_run_with_an_error_naming_it() {
    let env = Env::start();
    env.segment
        .fault(&format!("/destinations/{DESTINATION}"), 429, 1, 3_600_000);
    let started = std::time::Instant::now();
    env.run(&["plan"])
        .assert_exit(1)
        .assert_stderr_contains(&format!(
            "/destinations/{DESTINATION}: Segment's rate limit"
        ))
        .assert_stderr_contains("asks for a wait of 1h")
        .assert_stderr_contains("longer than fnctl waits without progress (5m)");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(300),
        "no waiting it out"
    );
    env.finish();
}
