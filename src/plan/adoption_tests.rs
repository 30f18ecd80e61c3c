//! Adoption writes nothing but fnctl's tags: a role built by hand (Segment's
//! guide, Terraform, the console) whose trust policy, permissions and
//! settings mean what the manifest says is taken over with tag steps only.

use serde_json::json;

use super::planner::{plan, PlanOptions};
use super::{Action, Plan};
use crate::model::fixtures::{self, applied_role, external_id, instance};
use crate::model::operation::Operation;
use crate::model::{tags, DesiredInstance, LiveDocument, LiveRole};

/// The role of `instance` as a person made it: apply's role without
/// fnctl's tags.
pub(crate) fn hand_made(instance: &DesiredInstance) -> LiveRole {
    let mut role = applied_role(instance, &external_id('A'));
    role.tags.retain(|key, _| !tags::is_fnctl_tag(key));
    role
}

pub(crate) fn adopt(instance: &DesiredInstance, role: &LiveRole) -> Plan {
    let options = PlanOptions {
        adopt: true,
        ..PlanOptions::read_only(fixtures::now())
    };
    plan(
        fixtures::ACCOUNT,
        std::slice::from_ref(instance),
        std::slice::from_ref(role),
        &options,
    )
}

/// The plan adopts the role and only tags it.
#[track_caller]
fn assert_tags_only(plan: &Plan) {
    let [change] = plan.changes.as_slice() else {
        panic!("one change expected: {plan:#?}");
    };
    assert_eq!(change.action, Action::Adopt, "{plan:#?}");
    for step in &change.steps {
        assert!(
            matches!(step.operation, Operation::TagRole { .. }),
            "adoption writes only tags, not {:?}: {}",
            step.operation,
            step.reason
        );
    }
}

#[test]
fn a_trust_policy_without_sid_is_kept() {
    let instance = instance("guide");
    let mut role = hand_made(&instance);
    let id = external_id('A');
    role.trust_policy = LiveDocument::Valid(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": "458175278816"},
            "Action": ["sts:AssumeRole"],
            "Condition": {"StringEquals": {"sts:ExternalId": [id]}}
        }]
    }));
    assert_tags_only(&adopt(&instance, &role));
}

#[test]
fn a_trust_policy_with_its_own_sid_is_kept() {
    let instance = instance("terraform");
    let mut role = hand_made(&instance);
    let LiveDocument::Valid(trust) = &mut role.trust_policy else {
        unreachable!("the fixture's trust policy is valid")
    };
    trust["Statement"][0]["Sid"] = json!("AllowSegmentAssume");
    assert_tags_only(&adopt(&instance, &role));
}

#[test]
fn a_trust_policy_that_admits_more_is_still_rewritten() {
    let instance = instance("broad");
    let mut role = hand_made(&instance);
    let LiveDocument::Valid(trust) = &mut role.trust_policy else {
        unreachable!("the fixture's trust policy is valid")
    };
    trust["Statement"][0]["Sid"] = json!("");
    trust["Statement"][0]["Principal"]["AWS"] = json!([
        "arn:aws:iam::458175278816:root",
        "arn:aws:iam::111122223333:root"
    ]);
    let plan = adopt(&instance, &role);
    assert!(
        plan.changes[0]
            .steps
            .iter()
            .any(|s| matches!(s.operation, Operation::UpdateTrustPolicy { .. })),
        "{plan:#?}"
    );
}

#[test]
fn the_inline_policy_keeps_the_name_the_manifest_gives() {
    let mut instance = instance("named");
    let mut role = hand_made(&instance);
    let document = role
        .inline_policies
        .remove(crate::model::INLINE_POLICY_NAME)
        .expect("the fixture grants inline");
    role.inline_policies
        .insert("segment-s3-write".into(), document);
    instance.inline_policy_name = Some("segment-s3-write".into());
    assert_tags_only(&adopt(&instance, &role));
    // Without the name, fnctl's own is written and the live one removed.
    instance.inline_policy_name = None;
    let plan = adopt(&instance, &role);
    let written: Vec<String> = plan.changes[0]
        .steps
        .iter()
        .filter_map(|step| match &step.operation {
            Operation::PutInlinePolicy { policy_name, .. } => Some(format!("put {policy_name}")),
            Operation::DeleteInlinePolicy { policy_name, .. } => {
                Some(format!("delete {policy_name}"))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        written,
        ["put fnctl-permissions", "delete segment-s3-write"]
    );
}

#[test]
fn a_kept_name_and_sid_are_no_drift_once_adopted() {
    let mut instance = instance("kept");
    instance.inline_policy_name = Some("hand-made".into());
    let mut role = applied_role(&instance, &external_id('A'));
    let document = role
        .inline_policies
        .remove(crate::model::INLINE_POLICY_NAME)
        .expect("the fixture grants inline");
    role.inline_policies.insert("hand-made".into(), document);
    if let LiveDocument::Valid(trust) = &mut role.trust_policy {
        trust["Statement"][0]
            .as_object_mut()
            .expect("a statement")
            .remove("Sid");
    }
    let options = PlanOptions::read_only(fixtures::now());
    let plan = plan(
        fixtures::ACCOUNT,
        &[instance.clone()],
        &[role.clone()],
        &options,
    );
    assert!(plan.changes.is_empty(), "{plan:#?}");
    // Drift compares digests: the live role's are the manifest's.
    assert_eq!(
        crate::model::digest::live(&role, instance.inline_policy_name()),
        crate::model::digest::desired(&instance)
    );
}

/// The steps' tags written onto `role`, as apply would.
pub(crate) fn tagged(mut role: LiveRole, plan: &Plan) -> LiveRole {
    for step in plan.changes.iter().flat_map(|change| &change.steps) {
        if let Operation::TagRole { tags, .. } = &step.operation {
            role.tags.extend(tags.clone());
        }
    }
    role
}

fn update_role_description(plan: &Plan) -> Option<String> {
    plan.changes
        .iter()
        .flat_map(|change| &change.steps)
        .find_map(|step| match &step.operation {
            Operation::UpdateRole { description, .. } => Some(description.clone()),
            _ => None,
        })
}

#[test]
fn a_left_out_description_keeps_the_adopted_roles_own() {
    let mut instance = instance("described");
    let mut role = hand_made(&instance);
    role.description = Some("Made by hand".into());
    instance.default_description = true;
    let adoption = adopt(&instance, &role);
    assert_tags_only(&adoption);
    // Once adopted, the kept description is neither a change nor drift.
    let adopted = tagged(role, &adoption);
    let options = PlanOptions::read_only(fixtures::now());
    let again = plan(
        fixtures::ACCOUNT,
        std::slice::from_ref(&instance),
        std::slice::from_ref(&adopted),
        &options,
    );
    assert!(again.changes.is_empty(), "{again:#?}");
    // (That drift agrees is `check::drift_tests`' adopted-description row.)
    // Edited by hand since: drift, and fnctl's default is written back.
    let mut edited = adopted.clone();
    edited.description = Some("edited".into());
    let repair = plan(
        fixtures::ACCOUNT,
        std::slice::from_ref(&instance),
        std::slice::from_ref(&edited),
        &options,
    );
    assert_eq!(
        update_role_description(&repair),
        Some(instance.description.clone())
    );
    // A description the manifest gives is written, adopted or not.
    instance.default_description = false;
    let mut hand = hand_made(&instance);
    hand.description = Some("Made by hand".into());
    assert_eq!(
        update_role_description(&adopt(&instance, &hand)),
        Some(instance.description.clone())
    );
}
