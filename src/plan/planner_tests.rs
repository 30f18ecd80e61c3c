//! The planner's decisions as tables: one row per situation of a role (its
//! trust policy's external IDs, the fingerprints its tags record, bundles on
//! disk, `--adopt`, who owns it), the outcome the planner must reach, and
//! why. Then ownership, pruning, and drift against pending changes.

use std::collections::BTreeMap;

use serde_json::Value;

use super::planner::{plan, BundledIds, PlanOptions};
use super::{Action, ExternalIdRef, NoticeLevel, Plan, RoleChange};
use crate::model::digest::Cause;
use crate::model::external_id::ExternalId;
use crate::model::fixtures::{self, applied_role, external_id, fingerprint, instance, trust_with};
use crate::model::operation::Operation;
use crate::model::{tags, DesiredInstance, LiveDocument, LiveRole, INLINE_POLICY_NAME};

/// The IDs of the tables, by label. `W` is a weak (short) ID.
fn id_of(label: &str) -> String {
    match label {
        "W" => fixtures::weak_external_id(),
        other => external_id(other.chars().next().unwrap_or('?')),
    }
}

const LABELS: [&str; 6] = ["A", "B", "C", "X", "Z", "W"];

fn label_of(fingerprint_text: &str) -> String {
    LABELS
        .iter()
        .find(|label| fingerprint(&id_of(label)) == fingerprint_text)
        .map_or_else(|| format!("?{fingerprint_text}"), |label| label.to_string())
}

fn bundled(labels: &[&str]) -> BundledIds {
    BundledIds(labels.iter().map(|l| ExternalId::new(id_of(l))).collect())
}

fn options(bundle: &[&str], adopt: bool, prune: bool) -> PlanOptions {
    PlanOptions {
        adopt,
        prune,
        now: fixtures::now(),
        bundled_ids: bundled(bundle),
    }
}

/// Who the role belongs to.
#[derive(Clone, Copy)]
enum Owner {
    /// No role of that name.
    Missing,
    /// fnctl's tags of the instance's scope.
    Owned,
    /// fnctl's tags of another scope.
    OtherScope,
    /// No fnctl tags at all.
    Unmanaged,
}

/// What the live trust policy says about external IDs.
#[derive(Clone, Copy)]
enum Trust {
    /// fnctl's statement accepting these IDs.
    Ids(&'static [&'static str]),
    /// fnctl's statement with the condition removed.
    NoCondition,
    /// A document that does not parse.
    Invalid,
}

struct Row {
    why: &'static str,
    owner: Owner,
    trust: Trust,
    /// Label whose fingerprint `fnctl:external-id` holds.
    recorded: Option<&'static str>,
    /// Label whose fingerprint `fnctl:rotation-pending` holds.
    pending: Option<&'static str>,
    bundle: &'static [&'static str],
    adopt: bool,
    expect: &'static str,
}

fn live_role(row: &Row, desired: &DesiredInstance) -> Option<LiveRole> {
    if matches!(row.owner, Owner::Missing) {
        return None;
    }
    let mut role = applied_role(desired, &id_of("A"));
    role.trust_policy = match row.trust {
        Trust::Ids(labels) => {
            let ids: Vec<String> = labels.iter().map(|l| id_of(l)).collect();
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            LiveDocument::Valid(trust_with(&ids))
        }
        Trust::NoCondition => {
            let mut document = trust_with(&["placeholder-id"]);
            if let Some(statement) = document["Statement"][0].as_object_mut() {
                statement.remove("Condition");
            }
            LiveDocument::Valid(document)
        }
        Trust::Invalid => LiveDocument::Invalid("the policy document is empty".into()),
    };
    role.tags.remove(tags::EXTERNAL_ID);
    if let Some(label) = row.recorded {
        role.tags
            .insert(tags::EXTERNAL_ID.into(), fingerprint(&id_of(label)));
    }
    if let Some(label) = row.pending {
        role.tags
            .insert(tags::ROTATION_PENDING.into(), fingerprint(&id_of(label)));
    }
    match row.owner {
        Owner::OtherScope => {
            role.tags.insert(tags::SCOPE.into(), "other-team".into());
        }
        Owner::Unmanaged => role.tags.retain(|key, _| !tags::is_fnctl_tag(key)),
        Owner::Missing | Owner::Owned => {}
    }
    Some(role)
}

fn labels(references: &[ExternalIdRef]) -> String {
    references
        .iter()
        .map(|reference| match reference {
            ExternalIdRef::Existing { fingerprint } => label_of(fingerprint),
            ExternalIdRef::Generate => "new".to_string(),
        })
        .collect::<Vec<_>>()
        .join("+")
}

/// The plan for one instance in one line: `conflict CODE`, or the action
/// (`unchanged`, `create`, `update`, `adopt`), the IDs a trust write
/// accepts, what `fnctl:external-id` and `fnctl:rotation-pending` name
/// afterwards, fnctl tags removed, then the codes of the other notices.
fn summary(plan: &Plan, live: Option<&LiveRole>) -> String {
    if let Some(conflict) = plan
        .notices
        .iter()
        .find(|n| n.level() == NoticeLevel::Conflict)
    {
        assert!(
            plan.changes.is_empty() && plan.unchanged.is_empty(),
            "a conflict changes nothing"
        );
        return format!("conflict {}", conflict.code());
    }
    let mut parts = Vec::new();
    match plan.changes.as_slice() {
        [] => parts.push("unchanged".to_string()),
        [change] => parts.extend(change_summary(change, live)),
        many => panic!("one instance, {} changes", many.len()),
    }
    parts.extend(plan.notices.iter().map(|n| n.code().to_string()));
    parts.join("; ")
}

fn change_summary(change: &RoleChange, live: Option<&LiveRole>) -> Vec<String> {
    let mut parts = vec![change.action.as_str().to_string()];
    let mut tags_after: BTreeMap<String, String> = live.map(|r| r.tags.clone()).unwrap_or_default();
    let mut untagged = Vec::new();
    for step in &change.steps {
        match &step.operation {
            Operation::CreateRole {
                trust_policy,
                tags: created,
                ..
            } => {
                parts.push(format!("trust {}", labels(&trust_policy.external_ids)));
                tags_after.extend(created.clone());
            }
            Operation::UpdateTrustPolicy { trust_policy, .. } => {
                parts.push(format!("trust {}", labels(&trust_policy.external_ids)));
            }
            Operation::TagRole { tags: added, .. } => tags_after.extend(added.clone()),
            Operation::UntagRole { keys, .. } => {
                for key in keys {
                    tags_after.remove(key);
                    if tags::is_fnctl_tag(key) {
                        untagged.push(key.clone());
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(recorded) = tags_after.get(tags::EXTERNAL_ID) {
        parts.push(format!("records {}", label_of(recorded)));
    }
    if let Some(pending) = tags_after.get(tags::ROTATION_PENDING) {
        parts.push(format!("pending {}", label_of(pending)));
    }
    if !untagged.is_empty() {
        parts.push(format!("untags {}", untagged.join(",")));
    }
    parts
}

const OWNED: Owner = Owner::Owned;

#[rustfmt::skip]
fn external_id_table() -> Vec<Row> {
    vec![
        Row { why: "no role: create it with a new ID", owner: Owner::Missing, trust: Trust::Ids(&[]), recorded: None, pending: None, bundle: &[], adopt: false,
              expect: "create; trust new" },
        Row { why: "as applied: nothing to do", owner: OWNED, trust: Trust::Ids(&["A"]), recorded: Some("A"), pending: None, bundle: &[], adopt: false,
              expect: "unchanged" },
        Row { why: "a bundle is only read when the recorded ID is lost", owner: OWNED, trust: Trust::Ids(&["A"]), recorded: Some("A"), pending: None, bundle: &["X"], adopt: false,
              expect: "unchanged" },
        Row { why: "rotation in progress: both IDs stay", owner: OWNED, trust: Trust::Ids(&["A", "B"]), recorded: Some("A"), pending: Some("B"), bundle: &[], adopt: false,
              expect: "unchanged; rotation-in-progress" },
        // A race between two `--start`s looks exactly like a hand edit that put C
        // in place of the new ID B: C is kept (a function may use it) and the
        // plan says the ID is not the one the tags name.
        Row { why: "raced rotations: the pending ID is the one beside the recorded", owner: OWNED, trust: Trust::Ids(&["A", "C"]), recorded: Some("A"), pending: Some("B"), bundle: &[], adopt: false,
              expect: "update; records A; pending C; external-id-changed; rotation-in-progress" },
        // The old ID is gone and no bundle holds it: the rotation is complete,
        // and the plan says so (it may also be a hand edit of the old ID).
        Row { why: "finish interrupted after the trust write: the pending ID becomes current", owner: OWNED, trust: Trust::Ids(&["B"]), recorded: Some("A"), pending: Some("B"), bundle: &[], adopt: false,
              expect: "update; records B; untags fnctl:rotation-pending; rotation-completed" },
        Row { why: "pending tag only: that ID is current", owner: OWNED, trust: Trust::Ids(&["B"]), recorded: None, pending: Some("B"), bundle: &[], adopt: false,
              expect: "update; records B; untags fnctl:rotation-pending; rotation-completed" },
        Row { why: "an ID fnctl did not issue beside the recorded one is removed", owner: OWNED, trust: Trust::Ids(&["A", "Z"]), recorded: Some("A"), pending: None, bundle: &[], adopt: false,
              expect: "update; trust A; records A" },
        Row { why: "three IDs, one recorded: only the recorded one stays", owner: OWNED, trust: Trust::Ids(&["A", "B", "C"]), recorded: Some("A"), pending: None, bundle: &[], adopt: false,
              expect: "update; trust A; records A" },
        Row { why: "ID swapped by hand, no bundle: keep what the function may use now", owner: OWNED, trust: Trust::Ids(&["Z"]), recorded: Some("A"), pending: None, bundle: &[], adopt: false,
              expect: "update; records Z; external-id-changed" },
        Row { why: "ID swapped by hand, the bundle holds another ID: keep the live one", owner: OWNED, trust: Trust::Ids(&["Z"]), recorded: Some("A"), pending: None, bundle: &["B"], adopt: false,
              expect: "update; records Z; external-id-changed" },
        Row { why: "ID swapped by hand, the bundle holds the issued one: restore it", owner: OWNED, trust: Trust::Ids(&["Z"]), recorded: Some("A"), pending: None, bundle: &["A"], adopt: false,
              expect: "update; trust A; records A; external-id-restored" },
        Row { why: "condition removed, bundle holds the issued ID: restore it", owner: OWNED, trust: Trust::NoCondition, recorded: Some("A"), pending: None, bundle: &["A"], adopt: false,
              expect: "update; trust A; records A; external-id-restored" },
        Row { why: "condition removed, no bundle: a new ID (apply tags it after the trust write)", owner: OWNED, trust: Trust::NoCondition, recorded: Some("A"), pending: None, bundle: &[], adopt: false,
              expect: "update; trust new; untags fnctl:external-id,fnctl:external-id-created; new-external-id" },
        Row { why: "unreadable trust policy, no bundle: a new ID", owner: OWNED, trust: Trust::Invalid, recorded: Some("A"), pending: None, bundle: &[], adopt: false,
              expect: "update; trust new; untags fnctl:external-id,fnctl:external-id-created; new-external-id" },
        Row { why: "unreadable trust policy, bundle holds the issued ID: restore it", owner: OWNED, trust: Trust::Invalid, recorded: Some("A"), pending: None, bundle: &["A"], adopt: false,
              expect: "update; trust A; records A; external-id-restored" },
        Row { why: "owned but never recorded: the single ID is kept and recorded", owner: OWNED, trust: Trust::Ids(&["A"]), recorded: None, pending: None, bundle: &[], adopt: false,
              expect: "update; records A" },
        Row { why: "two IDs, none recorded: both kept rather than lock a function out", owner: OWNED, trust: Trust::Ids(&["A", "B"]), recorded: None, pending: None, bundle: &[], adopt: false,
              expect: "update; untags fnctl:external-id-created; ambiguous-external-id" },
        Row { why: "three IDs, none recorded: fnctl cannot tell which one is used", owner: OWNED, trust: Trust::Ids(&["A", "B", "C"]), recorded: None, pending: None, bundle: &[], adopt: false,
              expect: "conflict ambiguous-external-id" },
        Row { why: "a short ID is kept, with a warning", owner: OWNED, trust: Trust::Ids(&["W"]), recorded: Some("W"), pending: None, bundle: &[], adopt: false,
              expect: "unchanged; weak-external-id" },
        Row { why: "unmanaged role without --adopt: never touched", owner: Owner::Unmanaged, trust: Trust::Ids(&["A"]), recorded: None, pending: None, bundle: &[], adopt: false,
              expect: "conflict unmanaged-role" },
        Row { why: "--adopt takes an unmanaged role over and keeps its ID", owner: Owner::Unmanaged, trust: Trust::Ids(&["A"]), recorded: None, pending: None, bundle: &[], adopt: true,
              expect: "adopt; records A" },
        Row { why: "--adopt with two unrecorded IDs keeps both", owner: Owner::Unmanaged, trust: Trust::Ids(&["A", "B"]), recorded: None, pending: None, bundle: &[], adopt: true,
              expect: "adopt; ambiguous-external-id" },
        Row { why: "--adopt of a role without an ID condition makes one", owner: Owner::Unmanaged, trust: Trust::NoCondition, recorded: None, pending: None, bundle: &[], adopt: true,
              expect: "adopt; trust new; new-external-id" },
        Row { why: "another scope's role: never touched, even with --adopt", owner: Owner::OtherScope, trust: Trust::Ids(&["A"]), recorded: Some("A"), pending: None, bundle: &[], adopt: true,
              expect: "conflict other-scope" },
    ]
}

#[test]
fn external_id_decision_table() {
    let desired = instance("alpha");
    let mut failures = Vec::new();
    for row in external_id_table() {
        let live = live_role(&row, &desired);
        let roles: Vec<LiveRole> = live.iter().cloned().collect();
        let planned = plan(
            fixtures::ACCOUNT,
            std::slice::from_ref(&desired),
            &roles,
            &options(row.bundle, row.adopt, false),
        );
        let got = summary(&planned, live.as_ref());
        if got != row.expect {
            failures.push(format!(
                "{}\n    expected: {}\n    got:      {got}",
                row.why, row.expect
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_applied_fixture_plans_no_change() {
    // The tables start from this role: it must be exactly what apply leaves.
    let desired = instance("alpha");
    let role = applied_role(&desired, &id_of("A"));
    let planned = plan(
        fixtures::ACCOUNT,
        &[desired],
        &[role],
        &options(&[], false, false),
    );
    assert!(planned.changes.is_empty(), "{planned:#?}");
    assert!(planned.notices.is_empty(), "{:#?}", planned.notices);
    assert_eq!(planned.unchanged, ["alpha"]);
}

#[test]
fn a_due_rotation_is_information_and_an_unreadable_age_a_warning_never_silence() {
    let mut desired = instance("alpha");
    desired.rotate_after_days = Some(30);
    let aged = applied_role(&desired, &id_of("A"));
    let notices = |role: &LiveRole| {
        let planned = plan(
            fixtures::ACCOUNT,
            std::slice::from_ref(&desired),
            std::slice::from_ref(role),
            &options(&[], false, false),
        );
        planned
            .notices
            .iter()
            .map(|n| format!("{:?} {}", n.level(), n.code()))
            .collect::<Vec<_>>()
    };
    // Created 2026-01-01, planned 2026-03-01: older than 30 days.
    assert_eq!(notices(&aged), ["Info rotation-due"]);
    let mut garbled = aged.clone();
    garbled
        .tags
        .insert(tags::EXTERNAL_ID_CREATED.into(), "new year's day".into());
    assert_eq!(notices(&garbled), ["Warning unreadable-tag-time"]);
}

#[test]
fn plans_never_hold_an_external_id() {
    for row in external_id_table() {
        let desired = instance("alpha");
        let live = live_role(&row, &desired);
        let roles: Vec<LiveRole> = live.into_iter().collect();
        let planned = plan(
            fixtures::ACCOUNT,
            &[desired],
            &roles,
            &options(row.bundle, row.adopt, false),
        );
        let text = serde_json::to_string(&planned).unwrap_or_default();
        for label in LABELS {
            assert!(
                !text.contains(&id_of(label)),
                "{}: the plan holds ID {label}",
                row.why
            );
        }
    }
}

/// Ownership beyond the external ID: role names match case-insensitively,
/// a role cannot move path, and a role that exists is never created again.
#[rustfmt::skip]
#[test]
fn ownership_table() {
    struct Case { why: &'static str, change: fn(&mut LiveRole), adopt: bool, expect: &'static str }
    let cases = [
        Case { why: "IAM names are case-insensitive: FN-ALPHA is fn-alpha", change: |r| r.name = "FN-ALPHA".into(), adopt: false, expect: "unchanged" },
        Case { why: "IAM cannot move a role to another path", change: |r| r.path = "/elsewhere/".into(), adopt: false, expect: "conflict role-path-differs" },
        Case { why: "managed-by without a scope is not fnctl's", change: |r| { r.tags.remove(tags::SCOPE); }, adopt: false, expect: "conflict unmanaged-role" },
        Case { why: "a scope without managed-by is not fnctl's", change: |r| { r.tags.remove(tags::MANAGED_BY); }, adopt: false, expect: "conflict unmanaged-role" },
        Case { why: "--adopt restores the missing ownership tag", change: |r| { r.tags.remove(tags::MANAGED_BY); }, adopt: true, expect: "adopt; records A" },
    ];
    let desired = instance("alpha");
    for case in cases {
        let mut role = applied_role(&desired, &id_of("A"));
        (case.change)(&mut role);
        let planned = plan(fixtures::ACCOUNT, std::slice::from_ref(&desired), std::slice::from_ref(&role), &options(&[], case.adopt, false));
        assert_eq!(summary(&planned, Some(&role)), case.expect, "{}", case.why);
    }
}

/// Pruning deletes only owned roles of the planned scopes that no manifest
/// names, policies first; without `--prune` it only tells.
#[test]
fn prune_table() {
    let kept = instance("alpha");
    let orphan = {
        let mut gone = applied_role(&instance("beta"), &id_of("B"));
        gone.attached_policies
            .insert("arn:aws:iam::aws:policy/ReadOnlyAccess".into());
        gone
    };
    let other_scope = {
        let mut role = applied_role(&instance("gamma"), &id_of("C"));
        role.tags.insert(tags::SCOPE.into(), "other-team".into());
        role
    };
    let unmanaged = {
        let mut role = applied_role(&instance("delta"), &id_of("Z"));
        role.tags.retain(|key, _| !tags::is_fnctl_tag(key));
        role
    };
    let named_in_other_case = {
        let mut role = applied_role(&kept, &id_of("A"));
        role.name = "FN-Alpha".into();
        role
    };
    let live = vec![named_in_other_case, orphan, other_scope, unmanaged];

    let told = plan(
        fixtures::ACCOUNT,
        std::slice::from_ref(&kept),
        &live,
        &options(&[], false, false),
    );
    assert!(told.changes.is_empty(), "{:#?}", told.changes);
    let codes: Vec<(&str, &str)> = told
        .notices
        .iter()
        .map(|n| (n.code().as_str(), n.role.as_str()))
        .collect();
    assert_eq!(codes, [("orphaned-role", "fn-beta")]);

    let pruned = plan(
        fixtures::ACCOUNT,
        std::slice::from_ref(&kept),
        &live,
        &options(&[], false, true),
    );
    let deletions: Vec<(&str, Action, Vec<&str>)> = pruned
        .changes
        .iter()
        .map(|c| {
            (
                c.role.as_str(),
                c.action,
                c.steps.iter().map(|s| s.operation.api_name()).collect(),
            )
        })
        .collect();
    assert_eq!(
        deletions,
        [(
            "fn-beta",
            Action::Delete,
            vec!["DeleteRolePolicy", "DetachRolePolicy", "DeleteRole"]
        )]
    );
    assert_eq!(pruned.changes[0].instance.as_deref(), Some("beta"));
    assert_eq!(pruned.unchanged, ["alpha"]);
}

/// Each step of an existing role is labelled drift (IAM changed by hand
/// since the last apply), pending (the manifest changed) or both, from the
/// digests `fnctl:applied` records; unknown without a record.
#[rustfmt::skip]
#[test]
fn drift_versus_pending_table() {
    struct Case { why: &'static str, edit_manifest: bool, edit_iam: bool, keep_record: bool, expect: Option<Cause> }
    let cases = [
        Case { why: "the manifest changed the policy: pending", edit_manifest: true, edit_iam: false, keep_record: true, expect: Some(Cause::Pending) },
        Case { why: "the policy was edited in IAM: drift", edit_manifest: false, edit_iam: true, keep_record: true, expect: Some(Cause::Drift) },
        Case { why: "both moved: drift and pending", edit_manifest: true, edit_iam: true, keep_record: true, expect: Some(Cause::DriftAndPending) },
        Case { why: "no record of the last apply: unknown", edit_manifest: false, edit_iam: true, keep_record: false, expect: Some(Cause::Unknown) },
        Case { why: "nothing moved: no step at all", edit_manifest: false, edit_iam: false, keep_record: true, expect: None },
    ];
    for case in cases {
        let applied = instance("alpha");
        let mut role = applied_role(&applied, &id_of("A"));
        let mut desired = applied.clone();
        if case.edit_manifest {
            desired.inline_policy = Some(fixtures::bucket_policy("manifest-bucket"));
        }
        if case.edit_iam {
            role.inline_policies.insert(INLINE_POLICY_NAME.into(), LiveDocument::Valid(fixtures::bucket_policy("hand-bucket")));
        }
        if !case.keep_record {
            role.tags.remove(tags::APPLIED);
        }
        let planned = plan(fixtures::ACCOUNT, std::slice::from_ref(&desired), &[role], &options(&[], false, false));
        let causes: Vec<(&str, Option<Cause>)> = planned.changes.iter().flat_map(|c| &c.steps)
            .filter(|s| !matches!(s.operation, Operation::TagRole { .. } | Operation::UntagRole { .. }))
            .map(|s| (s.operation.api_name(), s.cause)).collect();
        let expected: Vec<(&str, Option<Cause>)> = case.expect.map(|cause| ("PutRolePolicy", Some(cause))).into_iter().collect();
        assert_eq!(causes, expected, "{}", case.why);
    }
}

#[test]
fn foreign_policies_are_drift_and_fnctl_bookkeeping_has_no_cause() {
    let desired = instance("alpha");
    let mut role = applied_role(&desired, &id_of("A"));
    role.inline_policies.insert(
        "added-by-hand".into(),
        LiveDocument::Valid(fixtures::bucket_policy("anything")),
    );
    role.tags.insert(tags::INSTANCE.into(), "renamed".into());
    let planned = plan(
        fixtures::ACCOUNT,
        std::slice::from_ref(&desired),
        &[role],
        &options(&[], false, false),
    );
    let causes: Vec<(&str, Option<Cause>)> = planned.changes[0]
        .steps
        .iter()
        .map(|s| (s.operation.api_name(), s.cause))
        .collect();
    assert_eq!(
        causes,
        [("TagRole", None), ("DeleteRolePolicy", Some(Cause::Drift))]
    );
}

#[test]
fn steps_of_an_update_come_in_the_documented_order() {
    // Tags, trust, settings, boundary, inline policies, attach, detach: the
    // executor runs them in this order.
    let desired = {
        let mut wanted = instance("alpha");
        wanted.description = "new description".into();
        wanted.permissions_boundary = Some("arn:aws:iam::123456789012:policy/boundary".into());
        wanted.managed_policies = ["arn:aws:iam::aws:policy/wanted".to_string()].into();
        wanted.tags.insert("cost-center".into(), "42".into());
        wanted
    };
    let mut role = applied_role(&instance("alpha"), &id_of("A"));
    role.tags.insert("stray".into(), "x".into());
    role.trust_policy = LiveDocument::Valid(trust_with(&[&id_of("A"), &id_of("Z")]));
    role.inline_policies.insert(
        "added-by-hand".into(),
        LiveDocument::Valid(Value::Object(Default::default())),
    );
    role.attached_policies
        .insert("arn:aws:iam::aws:policy/unwanted".into());
    let planned = plan(
        fixtures::ACCOUNT,
        &[desired],
        &[role],
        &options(&[], false, false),
    );
    let apis: Vec<&str> = planned.changes[0]
        .steps
        .iter()
        .map(|s| s.operation.api_name())
        .collect();
    assert_eq!(
        apis,
        [
            "UntagRole",
            "TagRole",
            "UpdateAssumeRolePolicy",
            "UpdateRole",
            "PutRolePermissionsBoundary",
            "DeleteRolePolicy",
            "AttachRolePolicy",
            "DetachRolePolicy"
        ]
    );
}
