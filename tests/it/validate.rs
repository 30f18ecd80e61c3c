//! `fnctl validate` end to end: the real binary, offline (its AWS endpoint is
//! unreachable, so a passing run proves no AWS call is needed), on valid
//! manifests and on a folder where every check of the manifest contract
//! fires at least once, each at its file, line and column.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::support::command::{fnctl_offline, Output};
use crate::support::env::{workspace, write_file};

/// (file name, line, column, code) of one diagnostic.
type Place = (String, usize, usize, String);

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The JSON report of `fnctl validate --format json`.
fn json_report(out: &Output) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.stdout, out.stderr
        )
    })
}

fn diagnostics(report: &Value) -> &Vec<Value> {
    report["diagnostics"]
        .as_array()
        .expect("`diagnostics` is an array")
}

fn file_name(diagnostic: &Value) -> String {
    let file = diagnostic["file"].as_str().expect("`file` is a string");
    Path::new(file)
        .file_name()
        .expect("`file` names a file")
        .to_string_lossy()
        .into_owned()
}

fn places(report: &Value) -> BTreeSet<Place> {
    diagnostics(report)
        .iter()
        .map(|d| {
            (
                file_name(d),
                d["line"].as_u64().expect("`line` is a number") as usize,
                d["column"].as_u64().expect("`column` is a number") as usize,
                d["code"].as_str().expect("`code` is a string").to_string(),
            )
        })
        .collect()
}

/// Compares two sets of places and says what is missing and what is extra.
#[track_caller]
fn assert_places<T: Ord + std::fmt::Debug>(
    actual: &BTreeSet<T>,
    expected: &BTreeSet<T>,
    report: &Value,
) {
    if actual == expected {
        return;
    }
    let mut message = String::from("diagnostics differ from the expected set\n");
    for place in expected.difference(actual) {
        writeln!(message, "  missing:    {place:?}").unwrap();
    }
    for place in actual.difference(expected) {
        writeln!(message, "  unexpected: {place:?}").unwrap();
    }
    writeln!(
        message,
        "--- report ---\n{}",
        serde_json::to_string_pretty(report).unwrap()
    )
    .unwrap();
    panic!("{message}");
}

fn place(file: &str, line: usize, column: usize, code: &str) -> Place {
    (file.to_string(), line, column, code.to_string())
}

// ---------------------------------------------------------------- valid sets

#[test]
fn the_repository_manifests_are_valid() {
    // No -f: the default `manifests/` folder of the repository.
    let out = fnctl_offline()
        .current_dir(repo_root())
        .arg("validate")
        .run();
    out.assert_exit(0).assert_stderr_contains("valid");
    assert!(
        !out.stderr.contains("error["),
        "valid manifests produced errors:\n{}",
        out.stderr
    );
}

#[test]
fn the_repository_manifests_are_valid_as_json() {
    let out = fnctl_offline()
        .current_dir(repo_root())
        .args(["validate", "--format", "json"])
        .run();
    out.assert_exit(0);
    let report = json_report(&out);
    assert_eq!(report["valid"], Value::Bool(true), "{report:#}");
    assert!(diagnostics(&report).is_empty(), "{report:#}");
    assert!(report["instances"].as_u64().unwrap() >= 1, "{report:#}");
}

const VALID_SOURCE: &str = r#"# yaml-language-server: $schema=../schemas/fnctl.schema.json
version: 1
defaults:
  scope: acme-test
  account: "012345678901"
  rolePath: /segment-functions/team-a/
  tags: { team: data, "cost center": "42" }
instances:
  - name: reader
    kind: source
    role:
      name: Reader.Role+1=ok,@_-
      description: Reads exports
      maxSessionDuration: 43200
      permissionsBoundary: arn:aws-us-gov:iam::012345678901:policy/boundary
      tags:
        owner: someone@example.com
    bucket:
      name: acme.exports-1
      region: us-gov-west-1
      prefix: exports/
      access: read-write
    managedPolicies:
      - arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess
    externalId: { rotateAfterDays: 30 }
    settings:
      batchSize: 10
      nested: { a: [1, 2, 3] }
"#;

const VALID_DESTINATION: &str = r#"version: 1
instances:
  - name: forwarder
    kind: destination
    permissions:
      - actions: [sqs:SendMessage, "sqs:Get*"]
        resources: ["arn:aws:sqs:*:012345678901:events-*"]
        conditions:
          StringEquals: { "aws:RequestedRegion": [us-west-2, eu-west-1] }
      - actions: ["*"]
        resources: ["*"]
        effect: Deny
  - name: admin-ish
    kind: destination
    allowWildcards: true
    permissions:
      - actions: ["*", "s3:*", "iam:PassRole", "sts:AssumeRole"]
        resources: ["*"]
"#;

#[test]
fn a_valid_folder_of_my_own_is_valid() {
    let dir = workspace();
    write_file(&dir, "manifests/source.yaml", VALID_SOURCE);
    write_file(&dir, "manifests/nested/destination.yml", VALID_DESTINATION);
    // Neither hidden files nor other extensions are manifests.
    write_file(&dir, "manifests/.hidden.yaml", "not: [valid");
    write_file(&dir, "manifests/README.md", "not a manifest");
    let out = fnctl_offline()
        .current_dir(dir.path())
        .args(["validate", "--format", "json"])
        .run();
    out.assert_exit(0);
    let report = json_report(&out);
    assert_eq!(report["valid"], Value::Bool(true), "{report:#}");
    assert!(diagnostics(&report).is_empty(), "{report:#}");
    assert_eq!(report["instances"], 3, "{report:#}");
    assert_eq!(report["files"].as_array().unwrap().len(), 2, "{report:#}");

    let text = fnctl_offline()
        .current_dir(dir.path())
        .args(["validate", "-f", "manifests"])
        .run();
    text.assert_exit(0).assert_stderr_contains("valid");
}

// --------------------------------------------------------------- broken sets

/// Writes one file of the broken set and returns the problems it must yield.
struct BrokenSet {
    dir: tempfile::TempDir,
    expected: BTreeSet<Place>,
}

impl BrokenSet {
    fn new() -> Self {
        BrokenSet {
            dir: workspace(),
            expected: BTreeSet::new(),
        }
    }

    fn file(&mut self, name: &str, text: &str, problems: &[(usize, usize, &str)]) {
        self.bytes(name, text.as_bytes(), problems);
    }

    fn bytes(&mut self, name: &str, bytes: &[u8], problems: &[(usize, usize, &str)]) {
        let path = self.dir.path().join("broken").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        for (line, column, code) in problems {
            self.expected.insert(place(name, *line, *column, code));
        }
    }
}

fn broken_set() -> BrokenSet {
    let mut set = BrokenSet::new();

    // Unknown fields at several depths, all reported (not only the first),
    // each at its key.
    set.file(
        "a_unknown_fields.yaml",
        r#"version: 1
extra: true
defaults:
  scope: acme
  colour: red
instances:
  - name: unknown-a
    kind: source
    role:
      nmae: typo
    bucket:
      name: acme-unknown-a
      region: us-west-2
      acces: read
    permissions:
      - actions: [sqs:SendMessage]
        resources: ["arn:aws:sqs:us-west-2:123456789012:q"]
        efect: Deny
"#,
        &[
            (2, 1, "unknown-field"),
            (5, 3, "unknown-field"),
            (10, 7, "unknown-field"),
            (14, 7, "unknown-field"),
            (18, 9, "unknown-field"),
        ],
    );

    // A wrong type, at the value.
    set.file(
        "b_wrong_type.yaml",
        "version: 1
instances:
  - name: wrong-type
    kind: source
    role:
      maxSessionDuration: an hour
",
        &[(6, 27, "wrong-type")],
    );

    // No `version` at all: the document is what is wrong.
    set.file(
        "c_missing_version.yaml",
        "instances:
  - name: no-version
    kind: source
",
        &[(1, 1, "missing-version")],
    );

    // A version this fnctl does not know.
    set.file(
        "d_unknown_version.yaml",
        "version: 2
instances: []
",
        &[(1, 10, "unsupported-version")],
    );

    // Duplicate instance names across files; role names that differ only in
    // case (IAM role names are case-insensitive). Reported at the second.
    set.file(
        "e_dup_a.yaml",
        "version: 1
instances:
  - name: dup
    kind: source
    role:
      name: dup-role-a
  - name: case-a
    kind: source
    role:
      name: Shared-Role
",
        &[],
    );
    set.file(
        "e_dup_b.yaml",
        "version: 1
instances:
  - name: dup
    kind: destination
    role:
      name: dup-role-b
  - name: case-b
    kind: source
    role:
      name: shared-role
",
        &[
            (3, 11, "duplicate-instance"),
            (10, 13, "duplicate-role-name"),
        ],
    );

    // IAM names and numbers: a bad role name, a default role name
    // (`segment-fn-<name>`) over 64 characters, a bad path, a session
    // duration out of range, a rotation period of zero days.
    let long_name = format!("long-{}", "x".repeat(55));
    set.file(
        "f_names.yaml",
        &format!(
            "version: 1
defaults:
  rolePath: segment
instances:
  - name: bad-role-name
    kind: source
    role:
      name: bad role!
      maxSessionDuration: 100
  - name: {long_name}
    kind: source
  - name: zero-days
    kind: source
    externalId: {{ rotateAfterDays: 0 }}
"
        ),
        &[
            (3, 13, "invalid-role-path"),
            (8, 13, "invalid-role-name"),
            (9, 27, "invalid-session-duration"),
            (10, 11, "invalid-role-name"),
            (14, 36, "invalid-rotation-period"),
        ],
    );

    // Account ids: a YAML number (loses leading zeros) and 11 digits.
    set.file(
        "g_accounts.yaml",
        r#"version: 1
defaults:
  account: 012345678901
  segmentAccounts:
    destination: "12345678901"
instances: []
"#,
        &[(3, 12, "invalid-account-id"), (5, 18, "invalid-account-id")],
    );

    // Bad ARNs: permissions boundary, managed policy, permission resource.
    set.file(
        "h_arns.yaml",
        "version: 1
instances:
  - name: arns-a
    kind: destination
    role:
      permissionsBoundary: arn:aws:iam::12345:policy/boundary
    managedPolicies:
      - arn:aws:s3:::not-a-policy
    permissions:
      - actions: [sqs:SendMessage]
        resources: [not-an-arn]
",
        &[
            (6, 28, "invalid-arn"),
            (8, 9, "invalid-arn"),
            (11, 21, "invalid-arn"),
        ],
    );

    // Partitions: an `arn:aws:` grant beside a China bucket, an ARN whose
    // own region is in another partition, and an instance in one partition.
    set.file(
        "h_partitions.yaml",
        "version: 1
instances:
  - name: china-bucket
    kind: destination
    bucket: { name: cn-events, region: cn-north-1 }
    permissions:
      - actions: [sqs:SendMessage]
        resources: [arn:aws:sqs:us-east-1:123456789012:q]
  - name: mixed-arns
    kind: source
    managedPolicies:
      - arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess
    permissions:
      - actions: [sqs:SendMessage]
        resources: [arn:aws:sqs:cn-north-1:123456789012:q, arn:aws-us-gov:sqs:us-gov-west-1:123456789012:q]
  - name: one-partition
    kind: destination
    bucket: { name: cn-events-2, region: cn-north-1 }
    managedPolicies:
      - arn:aws-cn:iam::aws:policy/ReadOnlyAccess
    permissions:
      - actions: [sqs:SendMessage]
        resources: [arn:aws-cn:sqs:cn-north-1:123456789012:q]
",
        &[(8, 21, "partition-mismatch"), (15, 21, "partition-mismatch")],
    );

    // Bucket names against AWS's rules, and a region that does not exist.
    set.file(
        "i_buckets.yaml",
        "version: 1
instances:
  - name: bucket-upper
    kind: destination
    bucket: { name: Upper-Case, region: us-west-2 }
  - name: bucket-dots
    kind: destination
    bucket: { name: a..b, region: us-west-2 }
  - name: bucket-ip
    kind: destination
    bucket: { name: 192.168.5.4, region: us-west-2 }
  - name: bucket-punycode
    kind: destination
    bucket: { name: xn--abc, region: us-west-2 }
  - name: bucket-alias
    kind: destination
    bucket: { name: abc-s3alias, region: us-west-2 }
  - name: bucket-region
    kind: destination
    bucket: { name: acme-ok, region: us-middle-1 }
",
        &[
            (5, 21, "invalid-bucket-name"),
            (8, 21, "invalid-bucket-name"),
            (11, 21, "invalid-bucket-name"),
            (14, 21, "invalid-bucket-name"),
            (17, 21, "invalid-bucket-name"),
            (20, 38, "invalid-region"),
        ],
    );

    // Tags: `aws:` and `fnctl:` prefixes, a key over 128 characters.
    let long_key = "k".repeat(129);
    set.file(
        "j_tags.yaml",
        &format!(
            "version: 1
defaults:
  tags:
    aws:owner: me
instances:
  - name: tags-a
    kind: source
    role:
      tags:
        fnctl:scope: other
        {long_key}: v
"
        ),
        &[
            (4, 16, "reserved-tag"),
            (10, 22, "reserved-tag"),
            (11, 9 + 129 + 2, "invalid-tag"),
        ],
    );

    // 44 tags: with the 7 fnctl needs, over IAM's 50 per role.
    let mut many = String::from(
        "version: 1
instances:
  - name: many-tags
    kind: source
    role:
      tags:
",
    );
    for n in 0..44 {
        writeln!(many, "        t{n:02}: v").unwrap();
    }
    set.file("k_many_tags.yaml", &many, &[(7, 9, "too-many-tags")]);

    // Extra settings that clash with generated ones.
    set.file(
        "l_settings.yaml",
        "version: 1
instances:
  - name: settings-a
    kind: destination
    bucket:
      name: acme-settings-a
      region: us-west-2
    settings:
      iamRoleArn: x
      s3Bucket: y
      flushEvery: 100
",
        &[(9, 19, "setting-clash"), (10, 17, "setting-clash")],
    );

    // An inline policy over 10,240 characters: an error naming the instance.
    let mut big = String::from(
        "version: 1
instances:
  - name: big-policy
    kind: destination
    permissions:
",
    );
    for n in 0..120 {
        writeln!(
            big,
            "      - actions: [sqs:SendMessage]\n        resources: [\"arn:aws:sqs:us-west-2:123456789012:queue-{n:04}\"]"
        )
        .unwrap();
    }
    set.file("m_policy.yaml", &big, &[(3, 5, "policy-too-large")]);

    // Lint: errors unless the instance says `allowWildcards: true`.
    set.file(
        "n_lint.yaml",
        r#"version: 1
instances:
  - name: lint-a
    kind: destination
    permissions:
      - actions: ["*", "s3:*", iam:PassRole, sts:AssumeRole]
        resources: ["*"]
  - name: lint-b
    kind: destination
    allowWildcards: true
    permissions:
      - actions: ["*", "s3:*", iam:PassRole, sts:AssumeRole]
        resources: ["*"]
"#,
        &[
            (6, 19, "wildcard-action"),
            (6, 24, "service-wildcard"),
            (6, 32, "privilege-escalation"),
            (6, 46, "privilege-escalation"),
            (7, 21, "wildcard-resource"),
        ],
    );

    // Two YAML documents in one file.
    set.file(
        "o_multi.yaml",
        "version: 1
instances: []
---
version: 1
instances: []
",
        &[(1, 1, "multiple-documents")],
    );

    // An empty file.
    set.file("p_empty.yaml", "", &[(1, 1, "empty-manifest")]);

    // Not UTF-8: placed at the first bad byte.
    set.bytes(
        "q_not_utf8.yaml",
        b"version: 1\nin\xffstances: []\n",
        &[(2, 3, "parse-error")],
    );

    // A YAML syntax error: `@` cannot start a token.
    set.file(
        "r_syntax.yaml",
        "version: 1
instances: @oops
",
        &[(2, 12, "parse-error")],
    );

    set
}

#[test]
fn a_broken_folder_lists_every_problem_at_its_place() {
    let set = broken_set();
    let out = fnctl_offline()
        .current_dir(set.dir.path())
        .args(["validate", "-f", "broken", "--format", "json"])
        .run();
    out.assert_exit(1);
    let report = json_report(&out);
    assert_eq!(report["valid"], Value::Bool(false), "{report:#}");
    assert_eq!(report["instances"], 0, "{report:#}");
    assert_places(&places(&report), &set.expected, &report);

    for diagnostic in diagnostics(&report) {
        assert_eq!(diagnostic["severity"], "error", "{diagnostic:#}");
        assert!(
            !diagnostic["message"].as_str().unwrap().is_empty(),
            "{diagnostic:#}"
        );
        assert!(diagnostic["field"].is_string(), "{diagnostic:#}");
    }
}

#[test]
fn broken_diagnostics_name_their_fields_and_hints() {
    let set = broken_set();
    let out = fnctl_offline()
        .current_dir(set.dir.path())
        .args(["validate", "-f", "broken", "--format", "json"])
        .run();
    out.assert_exit(1);
    let report = json_report(&out);
    let find = |file: &str, line: usize, code: &str| -> &Value {
        diagnostics(&report)
            .iter()
            .find(|d| file_name(d) == file && d["line"] == line && d["code"] == code)
            .unwrap_or_else(|| panic!("no {code} at {file}:{line}\n{report:#}"))
    };

    let nested = find("a_unknown_fields.yaml", 18, "unknown-field");
    assert_eq!(nested["field"], "instances[0].permissions[0].efect");
    assert!(nested["message"].as_str().unwrap().contains("efect"));
    assert_eq!(
        find("a_unknown_fields.yaml", 10, "unknown-field")["field"],
        "instances[0].role.nmae"
    );

    let number = find("g_accounts.yaml", 3, "invalid-account-id");
    assert_eq!(number["field"], "defaults.account");
    assert!(
        number["hint"]
            .as_str()
            .unwrap_or("")
            .contains("leading zero"),
        "the hint must say a YAML number loses leading zeros: {number:#}"
    );

    let duplicate = find("e_dup_b.yaml", 3, "duplicate-instance");
    assert!(
        duplicate["message"]
            .as_str()
            .unwrap()
            .contains("e_dup_a.yaml:3"),
        "the message names the first declaration: {duplicate:#}"
    );
    let role = find("e_dup_b.yaml", 10, "duplicate-role-name");
    assert_eq!(role["field"], "instances[1].role.name");

    let big = find("m_policy.yaml", 3, "policy-too-large");
    assert!(
        big["message"].as_str().unwrap().contains("big-policy"),
        "the error names the instance's role: {big:#}"
    );

    let escalation = find("n_lint.yaml", 6, "privilege-escalation");
    assert!(escalation["hint"]
        .as_str()
        .unwrap()
        .contains("allowWildcards"));
}

#[test]
fn the_text_report_lists_the_same_problems_as_json() {
    let set = broken_set();
    let json = fnctl_offline()
        .current_dir(set.dir.path())
        .args(["validate", "-f", "broken", "--format", "json"])
        .run();
    let report = json_report(&json);
    let out = fnctl_offline()
        .current_dir(set.dir.path())
        .args(["validate", "-f", "broken"])
        .run();
    out.assert_exit(1)
        .assert_stderr_contains("nothing was sent to AWS");
    assert!(
        diagnostics(&report).len() >= set.expected.len(),
        "{report:#}"
    );
    assert_text_lists_the_json_diagnostics(&out, &report);
}

#[test]
fn one_broken_file_renders_like_a_compiler() {
    let dir = workspace();
    write_file(
        &dir,
        "bad.yaml",
        "version: 1
instances:
  - name: snap
    kind: source
    role:
      name: bad role
    bucket:
      name: Bad_Bucket
      region: mars-1
",
    );
    let out = fnctl_offline()
        .current_dir(dir.path())
        .args(["validate", "-f"])
        .arg(dir.path().join("bad.yaml"))
        .run();
    out.assert_exit(1);
    // insta's `filters` feature is not enabled: replace the temp dir here.
    let dir_text = dir.path().display().to_string();
    let stderr = out.stderr.replace(&dir_text, "[DIR]");
    insta::assert_snapshot!(stderr);
}

// ------------------------------------------- a wrong type hides nothing

/// (file name, line, column, code, field path) of one diagnostic.
type Located = (String, usize, usize, String, String);

fn located(report: &Value) -> BTreeSet<Located> {
    diagnostics(report)
        .iter()
        .map(|d| {
            (
                file_name(d),
                d["line"].as_u64().expect("`line` is a number") as usize,
                d["column"].as_u64().expect("`column` is a number") as usize,
                d["code"].as_str().expect("`code` is a string").to_string(),
                d["field"]
                    .as_str()
                    .expect("`field` is a string")
                    .to_string(),
            )
        })
        .collect()
}

/// Every diagnostic of the JSON report appears in the text report, with its
/// code, message, place and field path, and the error count matches.
#[track_caller]
fn assert_text_lists_the_json_diagnostics(text: &Output, report: &Value) {
    assert!(text.stdout.is_empty(), "text diagnostics go to stderr");
    let list = diagnostics(report);
    let mut errors = 0;
    for d in list {
        let severity = d["severity"].as_str().unwrap();
        if severity == "error" {
            errors += 1;
        }
        let heading = format!(
            "{severity}[{}]: {}",
            d["code"].as_str().unwrap(),
            d["message"].as_str().unwrap()
        );
        // A problem with the whole file names no field in the text form.
        let field = match d["field"].as_str().unwrap() {
            "(document)" => String::new(),
            field => format!(" ({field})"),
        };
        let place = format!(
            "--> {}:{}:{}{field}",
            d["file"].as_str().unwrap(),
            d["line"],
            d["column"],
        );
        text.assert_stderr_contains(&heading)
            .assert_stderr_contains(&place);
    }
    text.assert_stderr_contains(&format!("{errors} error(s)"));
}

/// Two files where wrong types and values (an enum, scalars, containers,
/// list elements; in `defaults` and in instances; the `version` itself) sit
/// next to every other kind of problem. Each file and each instance is
/// checked whole: a wrong type hides nothing, and causes nothing else (no
/// "missing field" for a field that is there, no check run on a value that
/// was not read).
fn wrong_types_set() -> BrokenSet {
    let mut set = BrokenSet::new();
    set.file(
        "s1_types.yaml",
        r#"version: 1
defaults:
  rolePath: segment
  tags: [team, data]
  colour: red
instances:
  - name: types-kind
    kind: lambda
    role:
      name: bad role!
      maxSessionDuration: one hour
    bucket:
      name: Bad_Bucket
      region: us-west-2
  - name: types-list
    kind: destination
    managedPolicies:
      - arn:aws:iam::aws:policy/ReadOnlyAccess
      - { arn: x }
      - arn:aws:s3:::not-a-policy
    permissions:
      - actions: ["*"]
        resources: ["arn:aws:s3:::b/*"]
      - actions: [sqs:SendMessage, [nested]]
        resources: "*"
  - name: dup
    kind: source
    role:
      tags: [a, b]
      nmae: x
"#,
        &[],
    );
    set.file(
        "s2_types.yaml",
        r#"version: 1
defaults:
  account: [012345678901]
  assumeRole: arn:aws:iam::111122223333:role/deployer
instances:
  - name: dup
    kind: destination
    allowWildcards: "yes"
    permissions:
      - actions: ["s3:*"]
        resources: ["*"]
  - name: [not, a, name]
    kind: source
  - kind: destination
    role: { name: "bad name" }
  - name: values
    kind: source
    bucket: { name: [x], region: us-west-2, access: everything }
    externalId: { rotateAfterDays: -5 }
"#,
        &[],
    );
    let long_name = format!("long-{}", "x".repeat(55));
    set.file(
        "s3_version.yaml",
        &format!(
            r#"version: "1"
instances:
  - name: {long_name}
    kind: source
    role: [x]
    bucket: {{ name: A, region: us-west-2 }}
"#
        ),
        &[],
    );
    set
}

fn wrong_types_expected() -> BTreeSet<Located> {
    let problems: &[(&str, usize, usize, &str, &str)] = &[
        // s1: defaults.
        (
            "s1_types.yaml",
            3,
            13,
            "invalid-role-path",
            "defaults.rolePath",
        ),
        ("s1_types.yaml", 4, 9, "wrong-type", "defaults.tags"),
        ("s1_types.yaml", 5, 3, "unknown-field", "defaults.colour"),
        // s1: a wrong enum value and a wrong scalar next to a bad role and bucket name.
        ("s1_types.yaml", 8, 11, "invalid-value", "instances[0].kind"),
        (
            "s1_types.yaml",
            10,
            13,
            "invalid-role-name",
            "instances[0].role.name",
        ),
        (
            "s1_types.yaml",
            11,
            27,
            "wrong-type",
            "instances[0].role.maxSessionDuration",
        ),
        (
            "s1_types.yaml",
            13,
            13,
            "invalid-bucket-name",
            "instances[0].bucket.name",
        ),
        // s1: wrong list elements, a string where a list belongs, a wildcard grant.
        (
            "s1_types.yaml",
            19,
            9,
            "wrong-type",
            "instances[1].managedPolicies[1]",
        ),
        (
            "s1_types.yaml",
            20,
            9,
            "invalid-arn",
            "instances[1].managedPolicies[2]",
        ),
        (
            "s1_types.yaml",
            22,
            19,
            "wildcard-action",
            "instances[1].permissions[0].actions[0]",
        ),
        (
            "s1_types.yaml",
            24,
            36,
            "wrong-type",
            "instances[1].permissions[1].actions[1]",
        ),
        (
            "s1_types.yaml",
            25,
            20,
            "wrong-type",
            "instances[1].permissions[1].resources",
        ),
        // s1: a list where a map belongs, and an unknown field beside it.
        (
            "s1_types.yaml",
            29,
            13,
            "wrong-type",
            "instances[2].role.tags",
        ),
        (
            "s1_types.yaml",
            30,
            7,
            "unknown-field",
            "instances[2].role.nmae",
        ),
        // s2: the account is unknown, so `assumeRole` cannot mismatch it.
        ("s2_types.yaml", 3, 12, "wrong-type", "defaults.account"),
        // s2: still a duplicate of s1's `dup`; no lint, as `allowWildcards` was not read.
        (
            "s2_types.yaml",
            6,
            11,
            "duplicate-instance",
            "instances[0].name",
        ),
        (
            "s2_types.yaml",
            8,
            21,
            "wrong-type",
            "instances[0].allowWildcards",
        ),
        // s2: a mistyped name is not missing, nor an invalid or duplicate name.
        ("s2_types.yaml", 12, 11, "wrong-type", "instances[1].name"),
        // s2: a name that is really missing, and the rest of that instance.
        ("s2_types.yaml", 14, 5, "missing-field", "instances[2].name"),
        (
            "s2_types.yaml",
            15,
            19,
            "invalid-role-name",
            "instances[2].role.name",
        ),
        // s2: wrong values in flow mappings; a mistyped bucket name is not missing.
        (
            "s2_types.yaml",
            18,
            21,
            "wrong-type",
            "instances[3].bucket.name",
        ),
        (
            "s2_types.yaml",
            18,
            53,
            "invalid-value",
            "instances[3].bucket.access",
        ),
        (
            "s2_types.yaml",
            19,
            36,
            "invalid-value",
            "instances[3].externalId.rotateAfterDays",
        ),
        // s3: a quoted version does not hide the file; a role that was not read
        // gives no default role name to check.
        ("s3_version.yaml", 1, 10, "wrong-type", "version"),
        ("s3_version.yaml", 5, 11, "wrong-type", "instances[0].role"),
        (
            "s3_version.yaml",
            6,
            21,
            "invalid-bucket-name",
            "instances[0].bucket.name",
        ),
    ];
    problems
        .iter()
        .map(|(file, line, column, code, field)| {
            (
                file.to_string(),
                *line,
                *column,
                code.to_string(),
                field.to_string(),
            )
        })
        .collect()
}

#[test]
fn a_wrong_type_or_value_hides_no_other_problem() {
    let set = wrong_types_set();
    let out = fnctl_offline()
        .current_dir(set.dir.path())
        .args(["validate", "-f", "broken", "--format", "json"])
        .run();
    out.assert_exit(1);
    let report = json_report(&out);
    assert_eq!(report["valid"], Value::Bool(false), "{report:#}");
    assert_places(&located(&report), &wrong_types_expected(), &report);
    for diagnostic in diagnostics(&report) {
        assert_eq!(diagnostic["severity"], "error", "{diagnostic:#}");
    }

    let text = fnctl_offline()
        .current_dir(set.dir.path())
        .args(["validate", "-f", "broken"])
        .run();
    text.assert_exit(1)
        .assert_stderr_contains("nothing was sent to AWS");
    assert_text_lists_the_json_diagnostics(&text, &report);
}

#[test]
fn type_errors_say_what_was_expected_and_what_was_found() {
    let set = wrong_types_set();
    let out = fnctl_offline()
        .current_dir(set.dir.path())
        .args(["validate", "-f", "broken", "--format", "json"])
        .run();
    let report = json_report(&out);
    let message = |field: &str| -> String {
        diagnostics(&report)
            .iter()
            .find(|d| d["field"] == field && file_name(d) != "s3_version.yaml")
            .unwrap_or_else(|| panic!("no diagnostic for {field}\n{report:#}"))["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let kind = message("instances[0].kind");
    assert!(
        kind.contains("lambda") && kind.contains("`source`") && kind.contains("`destination`"),
        "{kind}"
    );
    let duration = message("instances[0].role.maxSessionDuration");
    assert!(
        duration.contains("one hour") && duration.contains("integer"),
        "{duration}"
    );
    let tags = message("defaults.tags");
    assert!(tags.contains("sequence") && tags.contains("map"), "{tags}");
    let missing = message("instances[2].name");
    assert!(missing.contains("missing field `name`"), "{missing}");
}

#[test]
fn one_wrong_type_among_many_problems_renders_like_a_compiler() {
    let dir = workspace();
    write_file(
        &dir,
        "bad.yaml",
        r#"version: 1
instances:
  - name: snap
    kind: lambda
    role:
      name: bad role
      maxSessionDuration: one hour
    bucket:
      name: Bad_Bucket
      region: us-west-2
    permissions:
      - actions: ["*"]
        resources: ["*"]
"#,
    );
    let out = fnctl_offline()
        .current_dir(dir.path())
        .args(["validate", "-f"])
        .arg(dir.path().join("bad.yaml"))
        .run();
    out.assert_exit(1);
    let dir_text = dir.path().display().to_string();
    let stderr = out.stderr.replace(&dir_text, "[DIR]");
    insta::assert_snapshot!(stderr);
}

// ------------------------------------------------------------------ regions

#[test]
fn regions_of_every_partition_are_valid() {
    let dir = workspace();
    let regions = [
        "us-east-1",
        "us-west-2",
        "mx-central-1",
        "ap-southeast-7",
        "il-central-1",
        "ca-west-1",
        "cn-northwest-1",
        "us-gov-east-1",
        "us-iso-west-1",
        "us-isob-east-1",
        "eu-isoe-west-1",
        "us-isof-south-1",
        "eusc-de-east-1",
    ];
    // Each region's ARNs in its own partition (else `partition-mismatch`).
    let partition = |region: &str| match region.split('-').next() {
        Some("cn") => "aws-cn",
        Some("eusc") => "aws-eusc",
        _ if region.starts_with("us-gov-") => "aws-us-gov",
        _ if region.starts_with("us-isob-") => "aws-iso-b",
        _ if region.starts_with("us-isof-") => "aws-iso-f",
        _ if region.starts_with("us-iso-") => "aws-iso",
        _ if region.starts_with("eu-isoe-") => "aws-iso-e",
        _ => "aws",
    };
    let mut text = String::from("version: 1\ninstances:\n");
    for (n, region) in regions.iter().enumerate() {
        let partition = partition(region);
        writeln!(
            text,
            "  - name: region-{n}\n    kind: destination\n    bucket: {{ name: acme-region-{n}, region: {region} }}\n    permissions:\n      - actions: [sqs:SendMessage]\n        resources: [\"arn:{partition}:sqs:{region}:123456789012:q\"]"
        )
        .unwrap();
    }
    write_file(&dir, "regions.yaml", &text);
    let out = fnctl_offline()
        .current_dir(dir.path())
        .args(["validate", "--format", "json", "-f", "regions.yaml"])
        .run();
    out.assert_exit(0);
    let report = json_report(&out);
    assert!(diagnostics(&report).is_empty(), "{report:#}");
    assert_eq!(report["instances"], regions.len(), "{report:#}");
}

#[test]
fn an_unknown_region_of_a_valid_shape_is_a_warning() {
    let dir = workspace();
    write_file(
        &dir,
        "regions.yaml",
        r#"version: 1
instances:
  - name: new-region
    kind: destination
    bucket: { name: acme-new-region, region: us-west-9 }
    permissions:
      - actions: [sqs:SendMessage]
        resources: ["arn:aws:sqs:eu-central-7:123456789012:q"]
"#,
    );
    let out = fnctl_offline()
        .current_dir(dir.path())
        .args(["validate", "--format", "json", "-f", "regions.yaml"])
        .run();
    // AWS adds regions: one this fnctl does not know yet is not an error.
    out.assert_exit(0);
    let report = json_report(&out);
    assert_eq!(report["valid"], Value::Bool(true), "{report:#}");
    assert_eq!(report["instances"], 1, "{report:#}");
    let expected: BTreeSet<Located> = [
        (5, 46, "instances[0].bucket.region"),
        (8, 21, "instances[0].permissions[0].resources[0]"),
    ]
    .iter()
    .map(|(line, column, field)| {
        (
            "regions.yaml".to_string(),
            *line,
            *column,
            "unknown-region".to_string(),
            field.to_string(),
        )
    })
    .collect();
    assert_places(&located(&report), &expected, &report);
    for diagnostic in diagnostics(&report) {
        assert_eq!(diagnostic["severity"], "warning", "{diagnostic:#}");
    }
    let bucket = &diagnostics(&report)[0];
    assert!(
        bucket["message"].as_str().unwrap().contains("us-west-9"),
        "{bucket:#}"
    );

    let text = fnctl_offline()
        .current_dir(dir.path())
        .args(["validate", "-f", "regions.yaml"])
        .run();
    text.assert_exit(0)
        .assert_stderr_contains("warning[unknown-region]")
        .assert_stderr_contains("valid, 2 warning(s)");
}

#[test]
fn a_region_of_no_partition_shape_is_an_error() {
    let dir = workspace();
    write_file(
        &dir,
        "regions.yaml",
        r#"version: 1
instances:
  - name: bad-regions
    kind: destination
    bucket: { name: acme-bad-regions, region: us-middle-1 }
  - name: eusc-shape
    kind: destination
    bucket: { name: acme-eusc-shape, region: eu-eusc-east-1 }
"#,
    );
    let out = fnctl_offline()
        .current_dir(dir.path())
        .args(["validate", "--format", "json", "-f", "regions.yaml"])
        .run();
    out.assert_exit(1);
    let report = json_report(&out);
    let codes: Vec<(String, String)> = diagnostics(&report)
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            (
                "invalid-region".to_string(),
                "instances[0].bucket.region".to_string()
            ),
            (
                "invalid-region".to_string(),
                "instances[1].bucket.region".to_string()
            ),
        ],
        "{report:#}"
    );
}

// ------------------------------------------------------------------- paths

#[test]
fn repeated_f_reads_a_file_and_a_folder() {
    let dir = workspace();
    let one = write_file(
        &dir,
        "single/one.yaml",
        "version: 1\ninstances:\n  - { name: one, kind: source }\n",
    );
    write_file(
        &dir,
        "folder/two.yaml",
        "version: 1\ninstances:\n  - { name: two, kind: destination }\n",
    );
    write_file(
        &dir,
        "folder/deeper/three.yml",
        "version: 1\ninstances:\n  - { name: three, kind: destination }\n",
    );
    let out = fnctl_offline()
        .current_dir(dir.path())
        .args(["validate", "--format", "json", "-f"])
        .arg(&one)
        .args(["-f", "folder"])
        .run();
    out.assert_exit(0);
    let report = json_report(&out);
    assert_eq!(report["instances"], 3, "{report:#}");
    let files: BTreeSet<String> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            Path::new(f.as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        files,
        BTreeSet::from(["one.yaml".into(), "two.yaml".into(), "three.yml".into()])
    );

    // Both are really read: a duplicate between them is found.
    write_file(
        &dir,
        "folder/dup.yaml",
        "version: 1\ninstances:\n  - { name: one, kind: destination, role: { name: other } }\n",
    );
    let out = fnctl_offline()
        .current_dir(dir.path())
        .args(["validate", "--format", "json", "-f"])
        .arg(&one)
        .args(["-f", "folder"])
        .run();
    out.assert_exit(1);
    let codes: Vec<Value> = diagnostics(&json_report(&out))
        .iter()
        .map(|d| d["code"].clone())
        .collect();
    assert_eq!(codes, ["duplicate-instance"], "{}", out.stdout);
}

#[test]
fn a_missing_path_is_an_error_naming_it() {
    let dir = workspace();
    write_file(
        &dir,
        "manifests/ok.yaml",
        "version: 1\ninstances:\n  - { name: ok, kind: source }\n",
    );
    let out = fnctl_offline()
        .current_dir(dir.path())
        .args(["validate", "-f", "manifests", "-f", "no-such-dir/gone.yaml"])
        .run();
    out.assert_exit(1)
        .assert_stderr_contains("no-such-dir/gone.yaml");

    let out = fnctl_offline()
        .current_dir(dir.path())
        .args(["validate", "--format", "json", "-f", "nowhere"])
        .run();
    out.assert_exit(1);
    let report = json_report(&out);
    let found = diagnostics(&report)
        .iter()
        .any(|d| d["code"] == "missing-path" && d["file"] == "nowhere");
    assert!(found, "{report:#}");
}

#[test]
fn no_manifests_folder_is_an_error() {
    // The default `manifests/` does not exist in an empty directory.
    let out = fnctl_offline().arg("validate").run();
    out.assert_exit(1).assert_stderr_contains("manifests");
}
