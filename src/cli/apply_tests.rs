//! `apply --plan`'s guards: a saved plan is refused before any write when
//! its trust policies let anyone but Segment's account in, when it was made
//! for an account these credentials do not reach, or when IAM moved since.

use std::collections::BTreeMap;

use super::apply::{check_not_stale, check_segment_accounts};
use crate::cli::args::ManifestOptions;
use crate::execute::session::AccountRun;
use crate::model::fixtures::{self, applied_role, external_id, instance};
use crate::model::operation::Operation;
use crate::model::{LiveAccount, LiveRole};
use crate::plan::planner::{live_fingerprint, plan, PlanOptions};
use crate::plan::saved::{SavedAccount, SavedPlan};

/// The saved plan of creating `fn-alpha` in `account`.
fn saved_creation(account: &str) -> SavedPlan {
    let instances = vec![instance("alpha")];
    let options = PlanOptions::read_only(fixtures::now());
    let planned = plan(account, &instances, &[], &options);
    SavedPlan::new(
        fixtures::NOW.into(),
        vec![SavedAccount {
            account: account.into(),
            assume_role: None,
            instances,
            fingerprints: BTreeMap::from([("fn-alpha".to_string(), live_fingerprint(None))]),
            plan: planned,
        }],
    )
}

/// The plan with every trust policy it writes naming `segment_account`.
fn naming(mut saved: SavedPlan, segment_account: &str) -> SavedPlan {
    for account in &mut saved.accounts {
        for change in &mut account.plan.changes {
            for step in &mut change.steps {
                if let Operation::CreateRole { trust_policy, .. }
                | Operation::UpdateTrustPolicy { trust_policy, .. } = &mut step.operation
                {
                    trust_policy.segment_account = segment_account.into();
                }
            }
        }
    }
    SavedPlan::new(saved.created_at.clone(), saved.accounts.clone())
}

/// Manifests that declare nothing (an empty folder), so no override applies.
fn no_manifests(directory: &tempfile::TempDir) -> ManifestOptions {
    ManifestOptions {
        files: vec![directory.path().to_path_buf()],
    }
}

fn run_in(account: &str, roles: Vec<LiveRole>) -> AccountRun {
    AccountRun {
        account: account.into(),
        partition: "aws".into(),
        assume_role: None,
        iam: crate::live::shared::SharedIam::new(crate::live::snapshot::Offline),
        instances: vec![instance("alpha")],
        live: LiveAccount {
            roles,
            read_calls: 0,
        },
        plan: Default::default(),
    }
}

fn error_of(result: anyhow::Result<()>) -> String {
    match result {
        Ok(()) => panic!("the saved plan was accepted"),
        Err(error) => format!("{error:#}"),
    }
}

#[test]
fn a_plan_admitting_another_principal_is_refused() {
    let empty = tempfile::tempdir().expect("temporary directory");
    let documented = saved_creation(fixtures::ACCOUNT);
    assert!(check_segment_accounts(&documented, &no_manifests(&empty)).is_ok());
    let edited = naming(saved_creation(fixtures::ACCOUNT), "111122223333");
    let error = error_of(check_segment_accounts(&edited, &no_manifests(&empty)));
    assert!(
        error.contains("would let account 111122223333 assume role fn-alpha"),
        "{error}"
    );
}

/// Only the saved plan's instances are kept of the current manifests: the
/// override of the plan's own instance is found among other instances'
/// (in other accounts too), and another instance's override does not count.
#[test]
fn an_override_the_manifests_declare_for_the_plans_instance_is_accepted() {
    let folder = tempfile::tempdir().expect("temporary directory");
    let manifest = |account: &str, names: &[&str]| {
        let mut text = format!(
            "version: 1\ndefaults:\n  account: \"{account}\"\n  segmentAccounts: {{ destination: \"111122223333\" }}\ninstances:\n"
        );
        for name in names {
            text.push_str(&format!("  - {{ name: {name}, kind: destination }}\n"));
        }
        text
    };
    let write = |file: &str, text: String| {
        std::fs::write(folder.path().join(file), text).expect("write manifest");
    };
    write("a.yaml", manifest("210987654321", &["beta", "gamma"]));
    let manifests = ManifestOptions {
        files: vec![folder.path().to_path_buf()],
    };
    let overridden = naming(saved_creation(fixtures::ACCOUNT), "111122223333");
    let error = error_of(check_segment_accounts(&overridden, &manifests));
    assert!(
        error.contains("nor an override in the current manifests"),
        "{error}"
    );

    write("b.yaml", manifest(fixtures::ACCOUNT, &["alpha"]));
    assert!(check_segment_accounts(&overridden, &manifests).is_ok());
}

#[test]
fn a_plan_writing_a_trust_policy_for_no_instance_is_refused() {
    let empty = tempfile::tempdir().expect("temporary directory");
    let mut saved = saved_creation(fixtures::ACCOUNT);
    saved.accounts[0].plan.changes[0].instance = Some("someone-else".into());
    let error = error_of(check_segment_accounts(&saved, &no_manifests(&empty)));
    assert!(error.contains("for no instance"), "{error}");
}

#[test]
fn a_plan_for_another_account_is_refused() {
    let saved = saved_creation("999988887777");
    let error = error_of(check_not_stale(
        &saved,
        &[run_in(fixtures::ACCOUNT, Vec::new())],
    ));
    assert!(
        error.contains("account 999988887777 is no longer reachable"),
        "{error}"
    );
}

#[test]
fn a_plan_iam_has_moved_past_is_refused() {
    let saved = saved_creation(fixtures::ACCOUNT);
    assert!(check_not_stale(&saved, &[run_in(fixtures::ACCOUNT, Vec::new())]).is_ok());
    let created_meanwhile = applied_role(&instance("alpha"), &external_id('A'));
    let error = error_of(check_not_stale(
        &saved,
        &[run_in(fixtures::ACCOUNT, vec![created_meanwhile])],
    ));
    assert!(
        error.contains("role fn-alpha in account 123456789012 was created since the plan was made"),
        "{error}"
    );
}
