//! Repair of out-of-band changes: after a clean apply, one change is made
//! behind fnctl's back with the SDK; `plan --detailed-exitcode` must exit 2
//! and say why, `apply` must repair it, and the next plan must be empty.

use crate::support::env::{Env, BUNDLES};
use crate::support::moto::MOTO_ACCOUNT;
use crate::support::spec::*;
use crate::support::standard::*;
use serde_json::json;

#[derive(Debug, Clone, Copy)]
enum Change {
    TrustExtraPrincipal,
    ExternalIdConditionRemoved,
    InlinePolicyDeleted,
    ForeignInlinePolicy,
    ManagedPolicyAttached,
    ManagedPolicyDetached,
    UserTagRemoved,
    UserTagChanged,
    OwnTagRemoved,
    DescriptionChanged,
    MaxSessionDurationChanged,
    BoundaryRemoved,
    RoleDeleted,
}

impl Change {
    /// Words the plan must contain.
    fn reason(self) -> &'static [&'static str] {
        match self {
            Change::TrustExtraPrincipal => &["trust policy", "111122223333"],
            Change::ExternalIdConditionRemoved => &["external ID condition removed"],
            Change::InlinePolicyDeleted => &["fnctl-permissions", "missing"],
            Change::ForeignInlinePolicy => &["foreign inline policy", "hand-made"],
            Change::ManagedPolicyAttached => &["oob-extra", "attached out of band"],
            Change::ManagedPolicyDetached => &["fn-extra", "not attached"],
            Change::UserTagRemoved => &["cost-center"],
            Change::UserTagChanged => &["cost-center"],
            Change::OwnTagRemoved => &["fnctl:instance"],
            Change::DescriptionChanged => &["description"],
            Change::MaxSessionDurationChanged => &["max session duration"],
            Change::BoundaryRemoved => &["permissions boundary"],
            Change::RoleDeleted => &["does not exist"],
        }
    }

    /// Whether the role keeps its external ID through the repair. A removed
    /// condition is restored from the bundle on disk, so the running
    /// function keeps working; only a deleted role gets a new ID.
    fn keeps_external_id(self) -> bool {
        !matches!(self, Change::RoleDeleted)
    }

    async fn make(self, env: &Env) {
        let iam = &env.iam;
        let role = ARCHIVER_ROLE;
        match self {
            Change::TrustExtraPrincipal => {
                let mut trust = env.existing_role(role).await.trust;
                trust["Statement"][0]["Principal"]["AWS"] = json!([
                    format!("arn:aws:iam::{DESTINATION_ACCOUNT}:root"),
                    "arn:aws:iam::111122223333:root"
                ]);
                iam.update_assume_role_policy()
                    .role_name(role)
                    .policy_document(trust.to_string())
                    .send()
                    .await
                    .unwrap();
            }
            Change::ExternalIdConditionRemoved => {
                let mut trust = env.existing_role(role).await.trust;
                trust["Statement"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("Condition");
                iam.update_assume_role_policy()
                    .role_name(role)
                    .policy_document(trust.to_string())
                    .send()
                    .await
                    .unwrap();
            }
            Change::InlinePolicyDeleted => {
                iam.delete_role_policy()
                    .role_name(role)
                    .policy_name(INLINE)
                    .send()
                    .await
                    .unwrap();
            }
            Change::ForeignInlinePolicy => {
                iam.put_role_policy()
                    .role_name(role)
                    .policy_name("hand-made")
                    .policy_document(
                        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::acme-events/*"}]}"#,
                    )
                    .send()
                    .await
                    .unwrap();
            }
            Change::ManagedPolicyAttached => {
                iam.attach_role_policy()
                    .role_name(role)
                    .policy_arn(format!("arn:aws:iam::{}:policy/oob-extra", MOTO_ACCOUNT))
                    .send()
                    .await
                    .unwrap();
            }
            Change::ManagedPolicyDetached => {
                iam.detach_role_policy()
                    .role_name(role)
                    .policy_arn(extra_policy_arn())
                    .send()
                    .await
                    .unwrap();
            }
            Change::UserTagRemoved => {
                iam.untag_role()
                    .role_name(role)
                    .tag_keys("cost-center")
                    .send()
                    .await
                    .unwrap();
            }
            Change::UserTagChanged => {
                iam.tag_role()
                    .role_name(role)
                    .tags(
                        aws_sdk_iam::types::Tag::builder()
                            .key("cost-center")
                            .value("99")
                            .build()
                            .unwrap(),
                    )
                    .send()
                    .await
                    .unwrap();
            }
            Change::OwnTagRemoved => {
                iam.untag_role()
                    .role_name(role)
                    .tag_keys("fnctl:instance")
                    .send()
                    .await
                    .unwrap();
                let tags = env.existing_role(role).await.tags;
                assert_eq!(tags.get("fnctl:scope").map(String::as_str), Some(SCOPE));
                assert_eq!(
                    tags.get("fnctl:managed-by").map(String::as_str),
                    Some("fnctl")
                );
            }
            Change::DescriptionChanged => {
                iam.update_role_description()
                    .role_name(role)
                    .description("edited in the console")
                    .send()
                    .await
                    .unwrap();
            }
            Change::MaxSessionDurationChanged => {
                // Both fields: moto's UpdateRole resets the one left out.
                iam.update_role()
                    .role_name(role)
                    .description("Segment S3 archiver")
                    .max_session_duration(3600)
                    .send()
                    .await
                    .unwrap();
                let state = env.existing_role(role).await;
                assert_eq!(state.description.as_deref(), Some("Segment S3 archiver"));
                assert_eq!(state.max_session_duration, Some(3600));
            }
            Change::BoundaryRemoved => {
                iam.delete_role_permissions_boundary()
                    .role_name(role)
                    .send()
                    .await
                    .unwrap();
            }
            Change::RoleDeleted => {
                let state = env.existing_role(role).await;
                for name in state.inline.keys() {
                    iam.delete_role_policy()
                        .role_name(role)
                        .policy_name(name)
                        .send()
                        .await
                        .unwrap();
                }
                for arn in &state.attached {
                    iam.detach_role_policy()
                        .role_name(role)
                        .policy_arn(arn)
                        .send()
                        .await
                        .unwrap();
                }
                iam.delete_role_permissions_boundary()
                    .role_name(role)
                    .send()
                    .await
                    .unwrap();
                iam.delete_role().role_name(role).send().await.unwrap();
                assert!(env.role(role).await.is_none());
            }
        }
    }
}

async fn repair(change: Change) {
    let env = Env::start().await;
    env.write_manifest(&standard_manifest());
    env.apply(&[]).assert_exit(0);
    let before = env.existing_role(ARCHIVER_ROLE).await;
    assert_archiver_as_declared(&before);
    let id_before = assert_bundle_matches(&env, ARCHIVER, &before);
    let reader_id = env.bundle_id(BUNDLES, READER);

    change.make(&env).await;

    let plan = env.plan(&[]);
    plan.assert_exit(2).assert_stdout_contains(ARCHIVER_ROLE);
    for words in change.reason() {
        plan.assert_stdout_contains(words);
    }
    let summary = if matches!(change, Change::RoleDeleted) {
        "Plan: 1 to create, 0 to update, 0 to delete."
    } else {
        "Plan: 0 to create, 1 to update, 0 to delete."
    };
    plan.assert_stdout_contains(summary);
    assert!(
        !plan.stdout.contains(READER_ROLE) || plan.stdout.contains("No changes"),
        "{change:?}: the untouched role shows up in the plan:\n{}",
        plan.stdout
    );

    env.apply(&[]).assert_exit(0);
    env.plan(&[]).assert_exit(0);

    let after = env.existing_role(ARCHIVER_ROLE).await;
    assert_archiver_as_declared(&after);
    let id_after = assert_bundle_matches(&env, ARCHIVER, &after);
    if change.keeps_external_id() {
        assert_eq!(
            id_after, id_before,
            "{change:?}: the repair changed the external ID"
        );
    } else {
        assert_ne!(
            id_after, id_before,
            "{change:?}: the external ID must be new"
        );
    }
    assert_eq!(
        env.bundle_id(BUNDLES, READER),
        reader_id,
        "the other instance's ID changed"
    );
    assert_reader_as_declared(&env.existing_role(READER_ROLE).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn repairs_trust_policy_with_an_extra_principal() {
    repair(Change::TrustExtraPrincipal).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn repairs_removed_external_id_condition_from_the_bundle() {
    repair(Change::ExternalIdConditionRemoved).await;
}

/// Without the bundle there is nothing to restore from: apply makes a new ID
/// and says the function's settings must be updated.
#[tokio::test(flavor = "multi_thread")]
async fn repairs_removed_external_id_condition_with_a_new_id_when_no_bundle_has_it() {
    let env = Env::start().await;
    env.write_manifest(&standard_manifest());
    env.apply(&[]).assert_exit(0);
    let id_before = env.bundle_id(BUNDLES, ARCHIVER);
    Change::ExternalIdConditionRemoved.make(&env).await;
    std::fs::remove_dir_all(env.path().join(BUNDLES)).unwrap();
    let plan = env.plan(&[]);
    plan.assert_exit(2)
        .assert_stdout_contains("external ID condition removed")
        .assert_stdout_contains("new-external-id");
    env.apply(&[]).assert_exit(0);
    env.plan(&[]).assert_exit(0);
    let after = env.existing_role(ARCHIVER_ROLE).await;
    let id_after = assert_bundle_matches(&env, ARCHIVER, &after);
    assert_ne!(
        id_after, id_before,
        "a new ID, since no bundle held the old one"
    );
    env.remember_secret(&id_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn repairs_deleted_inline_policy() {
    repair(Change::InlinePolicyDeleted).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn removes_foreign_inline_policy() {
    repair(Change::ForeignInlinePolicy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn detaches_managed_policy_attached_out_of_band() {
    repair(Change::ManagedPolicyAttached).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reattaches_managed_policy_detached_out_of_band() {
    repair(Change::ManagedPolicyDetached).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restores_removed_user_tag() {
    repair(Change::UserTagRemoved).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restores_changed_user_tag() {
    repair(Change::UserTagChanged).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restores_removed_ownership_tag() {
    repair(Change::OwnTagRemoved).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restores_changed_description() {
    repair(Change::DescriptionChanged).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restores_changed_max_session_duration() {
    repair(Change::MaxSessionDurationChanged).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restores_removed_permissions_boundary() {
    repair(Change::BoundaryRemoved).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recreates_deleted_role() {
    repair(Change::RoleDeleted).await;
}

/// A role of the scope whose trust policy is not JSON at all (moto's
/// CreateRole stores anything): reported, repaired with a new ID, no panic.
#[tokio::test(flavor = "multi_thread")]
async fn repairs_a_trust_policy_that_is_not_json() {
    let env = Env::start().await;
    env.write_manifest(&manifest(SCOPE, &archiver_yaml()));
    let tag = |k: &str, v: &str| {
        aws_sdk_iam::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
            .unwrap()
    };
    env.iam
        .create_role()
        .role_name(ARCHIVER_ROLE)
        .path(PATH)
        .assume_role_policy_document("{not json")
        .tags(tag("fnctl:managed-by", "fnctl"))
        .tags(tag("fnctl:scope", SCOPE))
        .tags(tag("fnctl:instance", ARCHIVER))
        .send()
        .await
        .expect("moto stores an invalid trust policy");
    let plan = env.plan(&[]);
    plan.assert_exit(2)
        .assert_stdout_contains("trust policy")
        .assert_stdout_contains("not a valid policy document");
    assert!(!plan.stderr.contains("panicked"), "{}", plan.stderr);
    env.apply(&[]).assert_exit(0);
    let role = env.existing_role(ARCHIVER_ROLE).await;
    assert_archiver_as_declared(&role);
    assert_bundle_matches(&env, ARCHIVER, &role);
    env.plan(&[]).assert_exit(0);
}
