//! `fnctl validate` with AWS's own reference: typos, grants that match
//! nothing, escalation and exposure — each with its code and position — and
//! no finding on what Segment functions ordinarily do.

use crate::support::command::fnctl_offline;
use crate::support::env::{workspace, write_file};
use serde_json::Value;

fn validate(yaml: &str) -> (i32, Vec<Value>) {
    let ws = workspace();
    write_file(ws.path(), "manifests/main.yaml", yaml);
    let out = fnctl_offline()
        .current_dir(ws.path())
        .args(["validate", "--format", "json"])
        .run();
    let report: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("validate --format json is JSON ({e}): {}", out.stdout));
    let diagnostics = report["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    (out.status, diagnostics)
}

fn instance(permissions: &str, extra: &str) -> String {
    format!(
        "version: 1\ninstances:\n  - name: fn-under-test\n    kind: destination\n{extra}    permissions:\n{permissions}"
    )
}

fn has(diagnostics: &[Value], code: &str, field: &str) -> bool {
    diagnostics.iter().any(|d| {
        d["code"] == code && d["field"] == field && d["line"].as_u64().is_some_and(|l| l > 0)
    })
}

#[test]
fn typos_grants_of_nothing_escalation_and_exposure_are_found_where_they_are() {
    let yaml = instance(
        r#"      - actions: [s3:PutObjekt, sqs:SendMesage, dynamodb:PutItems, s3x:GetObject]
        resources: ["arn:aws:s3:::acme-events/*"]
      - actions: [s3:PutObject]
        resources: ["arn:aws:s3:::acme-events"]
      - actions: [s3:ListBucket]
        resources: ["arn:aws:s3:::acme-events/*"]
      - actions: [sqs:SendMessage]
        resources: ["arn:aws:sns:us-west-2:123456789012:events"]
      - actions: [lambda:UpdateFunctionCode, lambda:InvokeFunction]
        resources: ["arn:aws:lambda:us-west-2:123456789012:function:other"]
      - actions: [s3:PutBucketPolicy]
        resources: ["arn:aws:s3:::acme-events"]
      - actions: [kms:CreateGrant]
        resources: ["arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
"#,
        "",
    );
    let (status, diagnostics) = validate(&yaml);
    assert_eq!(status, 1, "{diagnostics:#?}");
    let p = "instances[0].permissions";
    for (code, field) in [
        ("unknown-action", format!("{p}[0].actions[0]")),
        ("unknown-action", format!("{p}[0].actions[1]")),
        ("unknown-action", format!("{p}[0].actions[2]")),
        ("unknown-service", format!("{p}[0].actions[3]")),
        ("resource-mismatch", format!("{p}[1].actions[0]")),
        ("resource-mismatch", format!("{p}[2].actions[0]")),
        ("resource-mismatch", format!("{p}[3].actions[0]")),
        ("privilege-escalation", format!("{p}[4].actions[0]")),
        ("resource-exposure", format!("{p}[5].actions[0]")),
        ("resource-exposure", format!("{p}[6].actions[0]")),
    ] {
        assert!(
            has(&diagnostics, code, &field),
            "no {code} at {field}: {diagnostics:#?}"
        );
    }
    let typo = diagnostics
        .iter()
        .find(|d| d["field"] == format!("{p}[0].actions[0]"))
        .unwrap();
    assert!(
        typo["message"].as_str().unwrap().contains("s3:PutObject"),
        "did-you-mean: {typo}"
    );
    let mismatch = diagnostics
        .iter()
        .find(|d| d["code"] == "resource-mismatch" && d["field"] == format!("{p}[1].actions[0]"))
        .unwrap();
    assert!(
        mismatch["message"].as_str().unwrap().contains("arn:"),
        "names the ARN format: {mismatch}"
    );
    assert!(
        !has(
            &diagnostics,
            "resource-mismatch",
            &format!("{p}[4].actions[1]")
        ),
        "lambda:InvokeFunction on a function ARN grants something: {diagnostics:#?}"
    );
}

#[test]
fn ordinary_function_grants_get_no_diagnostic() {
    let yaml = instance(
        r#"      - actions: [s3:PutObject, s3:GetObject]
        resources: ["arn:aws:s3:::acme-events/segment/*"]
      - actions: [s3:ListBucket]
        resources: ["arn:aws:s3:::acme-events"]
      - actions: [sqs:SendMessage]
        resources: ["arn:aws:sqs:us-west-2:123456789012:events"]
      - actions: [sns:Publish]
        resources: ["arn:aws:sns:us-west-2:123456789012:alerts"]
      - actions: [dynamodb:PutItem, dynamodb:BatchWriteItem]
        resources: ["arn:aws:dynamodb:us-west-2:123456789012:table/events"]
      - actions: [kinesis:PutRecord, kinesis:PutRecords]
        resources: ["arn:aws:kinesis:us-west-2:123456789012:stream/events"]
      - actions: [firehose:PutRecordBatch]
        resources: ["arn:aws:firehose:us-west-2:123456789012:deliverystream/events"]
      - actions: [lambda:InvokeFunction]
        resources: ["arn:aws:lambda:us-west-2:123456789012:function:enrich"]
      - actions: [kms:Encrypt, kms:GenerateDataKey]
        resources: ["arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
      - actions: [events:PutEvents]
        resources: ["arn:aws:events:us-west-2:123456789012:event-bus/default"]
"#,
        "",
    );
    let (status, diagnostics) = validate(&yaml);
    assert_eq!(status, 0, "{diagnostics:#?}");
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
}

#[test]
fn an_instance_accepts_a_finding_on_purpose_and_only_that_one() {
    let grants = r#"      - actions: [sqs:SetQueueAttributes, sqs:SendMesage]
        resources: ["arn:aws:sqs:us-west-2:123456789012:events"]
"#;
    let (_, before) = validate(&instance(grants, ""));
    assert!(
        before.iter().any(|d| d["code"] == "resource-exposure"),
        "{before:#?}"
    );
    let (status, after) = validate(&instance(
        grants,
        "    allowFindings: [resource-exposure]\n",
    ));
    assert_eq!(status, 1, "the typo is still an error: {after:#?}");
    assert!(
        !after.iter().any(|d| d["code"] == "resource-exposure"),
        "{after:#?}"
    );
    assert!(
        after.iter().any(|d| d["code"] == "unknown-action"),
        "{after:#?}"
    );
    let (status, bad) = validate(&instance(grants, "    allowFindings: [everything]\n"));
    assert_eq!(status, 1);
    assert!(
        bad.iter().any(|d| d["code"] == "invalid-allow-finding"),
        "{bad:#?}"
    );
}
