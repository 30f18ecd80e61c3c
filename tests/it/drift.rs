//! `fnctl drift` against moto: out-of-band changes are drift with the right
//! category and severity, an unapplied manifest edit is pending (exit 0),
//! `--fail-on` sets the threshold, and an offline GAAD snapshot gives the
//! same findings as the live read.

use crate::support::aws_cli::gaad_export;
use crate::support::command::fnctl_offline;
use crate::support::env::{workspace, write_file, Env, BUNDLES};
use crate::support::spec::*;
use crate::support::standard::*;
use serde_json::{json, Value};

/// (category, severity, kind) of every finding in `drift --format json`.
fn findings(env: &Env, extra: &[&str]) -> (i32, Vec<(String, String, String)>) {
    let mut args = vec!["drift", "--format", "json"];
    args.extend_from_slice(extra);
    let out = env.fnctl(&args);
    let report: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("drift JSON: {e}\n{}\n{}", out.stdout, out.stderr));
    assert_eq!(report["format_version"], "1");
    let mut found: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["category"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    (out.status, found)
}

fn finding(category: &str, severity: &str, kind: &str) -> (String, String, String) {
    (category.to_string(), severity.to_string(), kind.to_string())
}

async fn applied() -> Env {
    let env = Env::start().await;
    env.write_manifest(&standard_manifest());
    env.apply(&[]).assert_exit(0);
    let (status, found) = findings(&env, &[]);
    assert_eq!((status, found), (0, vec![]), "a fresh apply has no drift");
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn an_extra_principal_is_critical_trust_broadened() {
    let env = applied().await;
    let mut trust = env.existing_role(ARCHIVER_ROLE).await.trust;
    trust["Statement"][0]["Principal"]["AWS"] = json!([
        format!("arn:aws:iam::{DESTINATION_ACCOUNT}:root"),
        "arn:aws:iam::111122223333:root"
    ]);
    env.put_trust(ARCHIVER_ROLE, &trust).await;
    let (status, found) = findings(&env, &[]);
    assert_eq!(status, 2);
    assert_eq!(found, vec![finding("trust-broadened", "critical", "drift")]);
    let text = env.fnctl(&["drift"]);
    text.assert_exit(2);
    assert!(
        text.stdout.contains("CRITICAL trust-broadened") && text.stdout.contains("111122223333"),
        "{}",
        text.stdout
    );
    let markdown = env.fnctl(&["drift", "--format", "markdown"]);
    assert!(
        markdown.stdout.contains("| critical | `trust-broadened` |"),
        "{}",
        markdown.stdout
    );
    env.assert_no_secret_leaked();
}

#[tokio::test(flavor = "multi_thread")]
async fn each_kind_of_change_has_its_category_and_severity() {
    let env = applied().await;
    // The external ID condition removed from one role, a foreign inline
    // policy and a broadened fnctl-permissions on the other, plus a tag.
    let mut trust = env.existing_role(ARCHIVER_ROLE).await.trust;
    trust["Statement"][0]
        .as_object_mut()
        .unwrap()
        .remove("Condition");
    env.put_trust(ARCHIVER_ROLE, &trust).await;
    let broad = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
    env.iam
        .put_role_policy()
        .role_name(READER_ROLE)
        .policy_name("sneaky")
        .policy_document(broad.to_string())
        .send()
        .await
        .unwrap();
    let mut inline = env.existing_role(READER_ROLE).await.inline[INLINE].clone();
    inline["Statement"].as_array_mut().unwrap().push(json!({"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::acme-exports/*"}));
    env.iam
        .put_role_policy()
        .role_name(READER_ROLE)
        .policy_name(INLINE)
        .policy_document(inline.to_string())
        .send()
        .await
        .unwrap();
    env.iam
        .attach_role_policy()
        .role_name(READER_ROLE)
        .policy_arn("arn:aws:iam::123456789012:policy/oob-extra")
        .send()
        .await
        .unwrap();
    env.iam
        .untag_role()
        .role_name(ARCHIVER_ROLE)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let (status, found) = findings(&env, &[]);
    assert_eq!(status, 2);
    assert_eq!(
        found,
        vec![
            finding("external-id-mismatch", "high", "drift"),
            finding("foreign-inline-policy", "high", "drift"),
            finding("managed-policy-attached", "high", "drift"),
            finding("permissions-broadened", "high", "drift"),
            finding("tags-changed", "warning", "drift"),
            finding("trust-broadened", "critical", "drift"),
        ]
    );
    // Only critical counts now: still 2. With only the tag left, --fail-on high is 0.
    assert_eq!(findings(&env, &["--fail-on", "critical"]).0, 2);
    env.apply(&[]).assert_exit(0);
    env.iam
        .untag_role()
        .role_name(ARCHIVER_ROLE)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    assert_eq!(findings(&env, &["--fail-on", "high"]).0, 0);
    assert_eq!(findings(&env, &[]).0, 2, "the default threshold is warning");
    env.assert_no_secret_leaked();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unapplied_manifest_edit_is_pending_not_drift() {
    let env = applied().await;
    env.write_manifest(
        &standard_manifest()
            .replace("prefix: segment/", "prefix: events/")
            .replace("cost-center: \"42\"", "cost-center: \"43\""),
    );
    let (status, found) = findings(&env, &[]);
    assert_eq!(status, 0, "a pending change is not drift");
    assert_eq!(
        found,
        vec![
            finding("pending-change", "info", "pending"),
            finding("pending-change", "info", "pending")
        ]
    );
    let plan = env.plan(&[]);
    plan.assert_exit(2);
    assert!(
        plan.stdout
            .contains("[pending: manifest changed since the last apply]"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("[drift"), "{}", plan.stdout);
    // A hand edit of the same role on top is drift, labelled as such.
    env.iam
        .untag_role()
        .role_name(READER_ROLE)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let (status, found) = findings(&env, &[]);
    assert_eq!(status, 2);
    assert!(
        found.contains(&finding("tags-changed", "warning", "drift")),
        "{found:?}"
    );
    assert!(env
        .plan(&[])
        .stdout
        .contains("[drift: changed in IAM out of band]"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_gives_the_same_findings_as_the_live_read() {
    let env = applied().await;
    let mut trust = env.existing_role(ARCHIVER_ROLE).await.trust;
    trust["Statement"][0]["Principal"]["AWS"] = json!([
        format!("arn:aws:iam::{DESTINATION_ACCOUNT}:root"),
        "arn:aws:iam::111122223333:root"
    ]);
    env.put_trust(ARCHIVER_ROLE, &trust).await;
    env.iam.put_role_policy().role_name(READER_ROLE).policy_name("sneaky").policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::x/*"}]}"#).send().await.unwrap();
    env.write_manifest(&standard_manifest().replace("prefix: segment/", "prefix: events/"));
    let snapshot = gaad_export(&env.iam).await;
    // An IAM export holds the external IDs, like IAM does: keep it outside the
    // workspace the leak check scans.
    let export_dir = workspace();
    let path = write_file(
        export_dir.path(),
        "gaad.json",
        &serde_json::to_string_pretty(&snapshot).unwrap(),
    );
    let live = findings(&env, &[]);
    let offline = findings(&env, &["--snapshot", path.to_str().unwrap()]);
    assert_eq!(live.0, 2);
    assert_eq!(live, offline);
    // Plan reads the snapshot too, and never calls AWS for it.
    let plan = fnctl_offline()
        .current_dir(env.path())
        .args([
            "plan",
            "--detailed-exitcode",
            "--snapshot",
            path.to_str().unwrap(),
        ])
        .run();
    plan.assert_exit(2);
    assert!(
        plan.stdout.contains("foreign inline policy sneaky"),
        "{}",
        plan.stdout
    );
    let drift = fnctl_offline()
        .current_dir(env.path())
        .args(["drift", "--snapshot", path.to_str().unwrap()])
        .run();
    drift.assert_exit(2);
    env.remember_secret(&env.bundle_id(BUNDLES, ARCHIVER));
    assert!(
        !plan.stdout.contains(&env.bundle_id(BUNDLES, ARCHIVER))
            && !drift.stdout.contains(&env.bundle_id(BUNDLES, ARCHIVER))
    );
}
