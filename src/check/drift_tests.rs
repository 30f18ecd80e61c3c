//! Drift as a table: one hand change (or manifest edit) per row and the
//! findings it must produce, as (category, severity, kind). The starting
//! point is a role exactly as apply leaves it, which has no finding.

use serde_json::{json, Value};

use super::drift::{detect, FindingKind, Severity};
use crate::model::fixtures::{self, applied_role, external_id, fingerprint, instance, trust_with};
use crate::model::{tags, DesiredInstance, LiveDocument, LiveRole, INLINE_POLICY_NAME};

const MANAGED: &str = "arn:aws:iam::aws:policy/CloudWatchLogsReadOnlyAccess";
const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/segment-boundary";

/// The instance of every row: a bucket policy, a managed policy and a boundary.
fn desired() -> DesiredInstance {
    let mut wanted = instance("alpha");
    wanted.managed_policies.insert(MANAGED.into());
    wanted.permissions_boundary = Some(BOUNDARY.into());
    wanted
}

fn current_id() -> String {
    external_id('A')
}

fn stranger_id() -> String {
    external_id('Z')
}

fn set_trust(role: &mut LiveRole, document: Value) {
    role.trust_policy = LiveDocument::Valid(document);
}

fn trust_statement(role: &mut LiveRole) -> &mut serde_json::Map<String, Value> {
    let LiveDocument::Valid(document) = &mut role.trust_policy else {
        panic!("the fixture's trust policy is valid");
    };
    document["Statement"][0]
        .as_object_mut()
        .expect("fnctl's statement")
}

type Finding = (&'static str, Severity, FindingKind);

struct Row {
    why: &'static str,
    by_hand: fn(&mut LiveRole),
    manifest: fn(&mut DesiredInstance),
    expect: &'static [Finding],
}

use FindingKind::{Drift, Pending};
use Severity::{Critical, High, Info, Medium, Warning};

fn nothing<T>(_: &mut T) {}

#[rustfmt::skip]
fn table() -> Vec<Row> {
    vec![
        Row { why: "as applied", by_hand: nothing, manifest: nothing, expect: &[] },
        Row { why: "another account may assume the role", by_hand: |r| { trust_statement(r).insert("Principal".into(), json!({"AWS": ["arn:aws:iam::458175278816:root", "arn:aws:iam::111122223333:root"]})); }, manifest: nothing,
              expect: &[("trust-broadened", Critical, Drift)] },
        Row { why: "the external ID condition was removed: any Segment customer could get in", by_hand: |r| { trust_statement(r).remove("Condition"); }, manifest: nothing,
              expect: &[("external-id-mismatch", High, Drift), ("trust-broadened", Critical, Drift)] },
        Row { why: "the ID was swapped for another: the function is locked out and a stranger's ID is accepted", by_hand: |r| set_trust(r, trust_with(&[&stranger_id()])), manifest: nothing,
              expect: &[("external-id-mismatch", High, Drift), ("trust-broadened", Critical, Drift)] },
        Row { why: "a second ID fnctl did not issue was added (the digests redact IDs; the ID check sees it)", by_hand: |r| set_trust(r, trust_with(&[&current_id(), &stranger_id()])), manifest: nothing,
              expect: &[("trust-broadened", Critical, Drift)] },
        Row { why: "the trust policy no longer parses", by_hand: |r| r.trust_policy = LiveDocument::Invalid("the policy document is empty".into()), manifest: nothing,
              expect: &[("trust-changed", High, Drift)] },
        Row { why: "a rotation in progress is not drift", by_hand: |r| {
                  set_trust(r, trust_with(&[&current_id(), &external_id('B')]));
                  r.tags.insert(tags::ROTATION_PENDING.into(), fingerprint(&external_id('B')));
              }, manifest: nothing,
              expect: &[] },
        Row { why: "the inline policy grants more", by_hand: |r| {
                  r.inline_policies.insert(INLINE_POLICY_NAME.into(), LiveDocument::Valid(json!({"Version": "2012-10-17", "Statement": [
                      {"Sid": "BucketRead", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::exports/*"]},
                      {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})));
              }, manifest: nothing,
              expect: &[("permissions-broadened", High, Drift)] },
        Row { why: "the inline policy was deleted", by_hand: |r| { r.inline_policies.remove(INLINE_POLICY_NAME); }, manifest: nothing,
              expect: &[("permissions-changed", Medium, Drift)] },
        Row { why: "an inline policy was added beside fnctl's", by_hand: |r| { r.inline_policies.insert("extra".into(), LiveDocument::Valid(json!({"Statement": []}))); }, manifest: nothing,
              expect: &[("foreign-inline-policy", High, Drift)] },
        Row { why: "a managed policy was attached", by_hand: |r| { r.attached_policies.insert("arn:aws:iam::aws:policy/AdministratorAccess".into()); }, manifest: nothing,
              expect: &[("managed-policy-attached", High, Drift)] },
        Row { why: "the manifest's managed policy was detached", by_hand: |r| { r.attached_policies.clear(); }, manifest: nothing,
              expect: &[("permissions-changed", Medium, Drift)] },
        Row { why: "the permissions boundary was removed", by_hand: |r| r.permissions_boundary = None, manifest: nothing,
              expect: &[("boundary-changed", High, Drift)] },
        Row { why: "a user tag was edited", by_hand: |r| { r.tags.insert("team".into(), "someone-else".into()); }, manifest: nothing,
              expect: &[("tags-changed", Warning, Drift)] },
        Row { why: "the description was edited", by_hand: |r| r.description = Some("edited".into()), manifest: nothing,
              expect: &[("role-settings-changed", Warning, Drift)] },
        Row { why: "settings unknown (read without ListRoles) are not compared", by_hand: |r| { r.description = None; r.max_session_duration = None; }, manifest: nothing,
              expect: &[] },
        Row { why: "the manifest changed and apply has not run: pending, not drift", by_hand: nothing, manifest: |i| i.inline_policy = Some(fixtures::bucket_policy("new-bucket")),
              expect: &[("pending-change", Info, Pending)] },
        Row { why: "manifest and IAM both moved: pending and drift", by_hand: |r| { r.inline_policies.remove(INLINE_POLICY_NAME); }, manifest: |i| i.inline_policy = Some(fixtures::bucket_policy("new-bucket")),
              expect: &[("pending-change", Info, Pending), ("permissions-changed", Medium, Drift)] },
        Row { why: "no record of the last apply: a difference counts as drift", by_hand: |r| { r.tags.remove(tags::APPLIED); r.description = Some("edited".into()); }, manifest: nothing,
              expect: &[("role-settings-changed", Warning, Drift)] },
        Row { why: "the external ID is older than rotateAfterDays", by_hand: nothing, manifest: |i| i.rotate_after_days = Some(30),
              expect: &[("rotation-overdue", Warning, Drift)] },
        Row { why: "an overdue rotation already under way is not reported", by_hand: |r| {
                  set_trust(r, trust_with(&[&current_id(), &external_id('B')]));
                  r.tags.insert(tags::ROTATION_PENDING.into(), fingerprint(&external_id('B')));
              }, manifest: |i| i.rotate_after_days = Some(30),
              expect: &[] },
        Row { why: "the role now belongs to another scope", by_hand: |r| { r.tags.insert(tags::SCOPE.into(), "other-team".into()); }, manifest: nothing,
              expect: &[("other-scope", Medium, Drift)] },
        Row { why: "fnctl's tags were removed", by_hand: |r| r.tags.retain(|k, _| !tags::is_fnctl_tag(k)), manifest: nothing,
              expect: &[("unmanaged-role", Medium, Drift)] },
    ]
}

fn findings(desired: &DesiredInstance, live: &[LiveRole]) -> Vec<Finding> {
    let mut found: Vec<Finding> = detect(
        fixtures::ACCOUNT,
        std::slice::from_ref(desired),
        live,
        fixtures::now(),
    )
    .into_iter()
    .map(|f| (f.category.as_str(), f.severity, f.kind))
    .collect();
    found.sort_by_key(|(category, ..)| *category);
    found
}

#[test]
fn drift_table() {
    let mut failures = Vec::new();
    for row in table() {
        let applied = desired();
        let mut role = applied_role(&applied, &current_id());
        (row.by_hand)(&mut role);
        let mut wanted = applied.clone();
        (row.manifest)(&mut wanted);
        let found = findings(&wanted, &[role]);
        if found != row.expect {
            failures.push(format!(
                "{}\n    expected: {:?}\n    got:      {found:?}",
                row.why, row.expect
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn roles_no_manifest_names() {
    let wanted = desired();
    let deleted: Vec<LiveRole> = Vec::new();
    assert_eq!(
        findings(&wanted, &deleted),
        [("role-missing", Warning, Drift)]
    );

    let kept = applied_role(&wanted, &current_id());
    let orphan = applied_role(&instance("beta"), &external_id('B'));
    let mut stranger = applied_role(&instance("gamma"), &external_id('C'));
    stranger.tags.retain(|k, _| !tags::is_fnctl_tag(k));
    let mut elsewhere = applied_role(&instance("delta"), &external_id('D'));
    elsewhere.tags.retain(|k, _| !tags::is_fnctl_tag(k));
    elsewhere.path = "/other/".into();
    let found = findings(&wanted, &[kept, orphan, stranger, elsewhere]);
    assert_eq!(
        found,
        [
            ("orphaned-role", Info, Pending),
            ("unmanaged-role-in-path", Info, Drift)
        ]
    );
}

#[test]
fn findings_never_hold_an_external_id() {
    for row in table() {
        let applied = desired();
        let mut role = applied_role(&applied, &current_id());
        (row.by_hand)(&mut role);
        let text = format!(
            "{:?}",
            detect(fixtures::ACCOUNT, &[applied], &[role], fixtures::now())
        );
        for id in [current_id(), stranger_id(), external_id('B')] {
            assert!(!text.contains(&id), "{}: a finding holds an ID", row.why);
        }
    }
}

/// A hand-made role adopted under a manifest that leaves `description` out
/// keeps its own description, and drift does not call that a change.
#[test]
fn an_adopted_roles_kept_description_is_no_drift() {
    use crate::plan::adoption_tests::{adopt, hand_made, tagged};
    let mut instance = instance("described");
    instance.default_description = true;
    let mut role = hand_made(&instance);
    role.description = Some("Made by hand".into());
    let adoption = adopt(&instance, &role);
    let adopted = tagged(role, &adoption);
    let findings = detect(
        fixtures::ACCOUNT,
        std::slice::from_ref(&instance),
        std::slice::from_ref(&adopted),
        fixtures::now(),
    );
    assert!(findings.is_empty(), "{findings:#?}");
}
