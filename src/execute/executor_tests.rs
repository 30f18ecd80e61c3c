//! The executor against IAM in memory: the order of the writes it sends,
//! what a failing step does to its role and to the others, and that running
//! apply again converges.

use std::time::Duration;

use std::sync::Arc;

use super::context::{RunContext, Timings};
use super::executor::{execute, RoleOutcome};
use super::lease::Timing;
use crate::live::clock::SteppedClock;
use crate::live::memory::{Fault, MemoryIam};
use crate::live::{IamError, IamReads};
use crate::model::external_id::ExternalId;
use crate::model::fixtures::{self, applied_operations, external_id, instance};
use crate::model::operation::Operation;
use crate::model::trust::external_ids;
use crate::model::{tags, DesiredInstance, LiveRole, DEFAULT_ROLE_PATH};
use crate::plan::planner::{plan, BundledIds, PlanOptions};
use crate::plan::Plan;

const READS: [&str; 6] = [
    "GetAccountAuthorizationDetails",
    "ListRoles",
    "GetRole",
    "ListRolePolicies",
    "GetRolePolicy",
    "ListAttachedRolePolicies",
];

/// The role lock without its waits: IAM in memory settles at once.
fn no_waits() -> Timing {
    Timing {
        lease: Duration::from_secs(60),
        patience: Duration::from_secs(5),
        settle: Duration::ZERO,
    }
}

fn with_managed_policy(name: &str) -> DesiredInstance {
    let mut wanted = instance(name);
    wanted
        .managed_policies
        .insert("arn:aws:iam::aws:policy/ReadOnlyAccess".into());
    wanted
}

fn options(prune: bool) -> PlanOptions {
    PlanOptions {
        adopt: false,
        prune,
        now: fixtures::now(),
        bundled_ids: BundledIds::default(),
    }
}

async fn read(iam: &MemoryIam) -> Vec<LiveRole> {
    iam.read_roles(&[DEFAULT_ROLE_PATH.to_string()])
        .await
        .expect("reading IAM in memory")
        .roles
}

async fn run(iam: &MemoryIam, plan: &Plan, live: &[LiveRole]) -> Vec<RoleOutcome> {
    let context = RunContext {
        timings: Timings {
            lease: no_waits(),
            ..Timings::default()
        },
        ..RunContext::new(
            Arc::new(SteppedClock::at_rfc3339(fixtures::NOW)),
            Timings::default(),
            3,
        )
    };
    execute(&context, iam, plan, live, &[], fixtures::NOW, &|_| {}).await
}

/// Reads, plans and executes, as `fnctl apply` does; the writes it sent are
/// the only calls left in `iam.calls()`.
async fn apply(
    iam: &MemoryIam,
    desired: &[DesiredInstance],
    prune: bool,
) -> (Plan, Vec<RoleOutcome>) {
    let live = read(iam).await;
    let planned = plan(fixtures::ACCOUNT, desired, &live, &options(prune));
    iam.clear_calls();
    let outcomes = run(iam, &planned, &live).await;
    (planned, outcomes)
}

/// The writes sent about `role`, as `API [tag keys]`.
fn writes(iam: &MemoryIam, role: &str) -> Vec<String> {
    iam.calls()
        .into_iter()
        .filter(|c| !READS.contains(&c.api))
        .filter(|c| {
            c.role
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(role))
        })
        .map(|c| match c.tag_keys.as_slice() {
            [] => c.api.to_string(),
            keys => format!("{} [{}]", c.api, keys.join(",")),
        })
        .collect()
}

fn errors(outcomes: &[RoleOutcome]) -> Vec<Option<String>> {
    outcomes.iter().map(error_text).collect()
}

/// The failure of a role as the failure list shows it, causes included.
fn error_text(outcome: &RoleOutcome) -> Option<String> {
    outcome
        .error
        .as_ref()
        .map(|error| crate::report::error_chain(error))
}

/// The IDs the role's trust policy accepts and the fingerprint its tags record.
fn ids_of(role: &LiveRole) -> (Vec<ExternalId>, Option<String>) {
    let accepted = role
        .trust_policy
        .valid()
        .map(external_ids)
        .unwrap_or_default();
    (accepted, role.tags.get(tags::EXTERNAL_ID).cloned())
}

async fn seed(iam: &MemoryIam, instance: &DesiredInstance, id: &str) {
    for operation in applied_operations(instance, id) {
        iam.change_by_hand(&operation)
            .expect("seeding IAM in memory");
    }
}

#[tokio::test]
async fn a_new_role_is_created_before_its_policies_and_records_its_new_id() {
    let iam = MemoryIam::new();
    let desired = [with_managed_policy("alpha")];
    let (_, outcomes) = apply(&iam, &desired, false).await;
    assert_eq!(errors(&outcomes), [None]);
    assert_eq!(outcomes[0].completed_steps, 3);
    assert_eq!(
        writes(&iam, "fn-alpha"),
        ["CreateRole", "PutRolePolicy", "AttachRolePolicy"]
    );
    let role = iam.role("fn-alpha").expect("created");
    let [id] = outcomes[0].external_ids.as_slice() else {
        panic!("one new ID, got {}", outcomes[0].external_ids.len());
    };
    assert_eq!(ids_of(&role), (vec![id.clone()], Some(id.fingerprint())));
    assert_eq!(role.tags[tags::EXTERNAL_ID_CREATED], fixtures::NOW);

    let (again, _) = apply(&iam, &desired, false).await;
    assert!(again.is_empty(), "{:#?}", again.changes);
    assert!(writes(&iam, "fn-alpha").is_empty());
}

#[tokio::test]
async fn a_pruned_role_loses_its_policies_before_it_is_deleted_and_a_rerun_is_harmless() {
    let iam = MemoryIam::new();
    seed(&iam, &with_managed_policy("beta"), &external_id('B')).await;
    let live = read(&iam).await;
    let (planned, outcomes) = apply(&iam, &[instance("alpha")], true).await;
    assert_eq!(errors(&outcomes), [None, None]);
    // IAM refuses DeleteRole while policies remain (DeleteConflict), so this
    // order is the only one that works.
    assert_eq!(
        writes(&iam, "fn-beta"),
        ["DeleteRolePolicy", "DetachRolePolicy", "DeleteRole"]
    );
    assert_eq!(iam.role_names(), ["fn-alpha"]);

    // The same deletions again, as after an interrupted run: what is gone
    // already is what was wanted.
    let outcomes = run(&iam, &planned, &live).await;
    assert_eq!(error_text(&outcomes[1]), None);
    assert_eq!(outcomes[1].completed_steps, 3);
}

#[tokio::test]
async fn a_new_id_is_recorded_only_after_the_trust_policy_holds_it() {
    let iam = MemoryIam::new();
    let desired = instance("alpha");
    seed(&iam, &desired, &external_id('A')).await;
    let mut no_condition = fixtures::trust_with(&["placeholder-id"]);
    if let Some(statement) = no_condition["Statement"][0].as_object_mut() {
        statement.remove("Condition");
    }
    iam.change_by_hand(&Operation::UpdateTrustPolicy {
        role: desired.role_name.clone(),
        trust_policy: crate::model::operation::SecretDocument::new(no_condition.to_string()),
    })
    .expect("by hand");
    let (_, outcomes) = apply(&iam, std::slice::from_ref(&desired), false).await;
    assert_eq!(errors(&outcomes), [None]);
    assert_eq!(
        writes(&iam, "fn-alpha"),
        [
            "TagRole [fnctl:lock]",
            "UntagRole [fnctl:external-id,fnctl:external-id-created]",
            "UpdateAssumeRolePolicy",
            "TagRole [fnctl:external-id,fnctl:external-id-created]",
            "UntagRole [fnctl:lock]",
        ]
    );
    let role = iam.role("fn-alpha").expect("still there");
    let (accepted, recorded) = ids_of(&role);
    assert_eq!(accepted, outcomes[0].external_ids);
    assert_eq!(recorded, Some(accepted[0].fingerprint()));
    assert_ne!(accepted[0].expose(), external_id('A'));
    assert!(
        !role.tags.contains_key(tags::LOCK),
        "the lock is given back"
    );
}

#[tokio::test]
async fn a_failing_step_stops_its_role_only_and_a_rerun_converges() {
    let iam = MemoryIam::new();
    let desired = [
        with_managed_policy("alpha"),
        with_managed_policy("beta"),
        with_managed_policy("gamma"),
    ];
    iam.fail(Fault::service("PutRolePolicy", "ServiceFailure").for_role("fn-beta"));
    let (_, outcomes) = apply(&iam, &desired, false).await;
    let failed: Vec<(usize, bool)> = outcomes
        .iter()
        .map(|o| (o.completed_steps, o.error.is_some()))
        .collect();
    assert_eq!(failed, [(3, false), (1, true), (3, false)]);
    let error = error_text(&outcomes[1]).unwrap_or_default();
    assert!(
        error.contains("PutRolePolicy failed") && error.contains("ServiceFailure"),
        "{error}"
    );
    assert_eq!(writes(&iam, "fn-beta"), ["CreateRole", "PutRolePolicy"]);

    // The next apply finishes beta from where IAM is, and only beta.
    let (second, outcomes) = apply(&iam, &desired, false).await;
    let steps: Vec<(&str, Vec<&str>)> = second
        .changes
        .iter()
        .map(|c| {
            (
                c.role.as_str(),
                c.steps.iter().map(|s| s.operation.api_name()).collect(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [("fn-beta", vec!["PutRolePolicy", "AttachRolePolicy"])]
    );
    assert_eq!(errors(&outcomes), [None]);
    let (third, _) = apply(&iam, &desired, false).await;
    assert!(third.is_empty(), "{:#?}", third.changes);
    let beta = iam.role("fn-beta").expect("created");
    assert!(crate::bundle::external_id_from_live(&beta).is_some());
}

#[tokio::test]
async fn a_trust_policy_changed_since_the_plan_is_left_alone() {
    let iam = MemoryIam::new();
    let desired = instance("alpha");
    seed(&iam, &desired, &external_id('A')).await;
    // A second ID to remove: the plan writes the trust policy.
    let two = fixtures::trust_with(&[&external_id('A'), &external_id('Z')]);
    let by_hand = |document: &serde_json::Value| {
        iam.change_by_hand(&Operation::UpdateTrustPolicy {
            role: desired.role_name.clone(),
            trust_policy: crate::model::operation::SecretDocument::new(document.to_string()),
        })
    };
    by_hand(&two).expect("by hand");
    let live = read(&iam).await;
    let planned = plan(
        fixtures::ACCOUNT,
        std::slice::from_ref(&desired),
        &live,
        &options(false),
    );
    // Someone (another run) writes the trust policy after the plan was made.
    let moved = fixtures::trust_with(&[&external_id('Y')]);
    by_hand(&moved).expect("by hand");
    iam.clear_calls();
    let outcomes = run(&iam, &planned, &live).await;
    let error = error_text(&outcomes[0]).unwrap_or_default();
    assert!(error.contains("changed since they were read"), "{error}");
    assert_eq!(outcomes[0].completed_steps, 0);
    assert_eq!(
        writes(&iam, "fn-alpha"),
        ["TagRole [fnctl:lock]", "UntagRole [fnctl:lock]"]
    );
    let role = iam.role("fn-alpha").expect("still there");
    assert_eq!(ids_of(&role).0, [ExternalId::new(external_id('Y'))]);
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_not_mistaken_for_a_conflict() {
    let iam = MemoryIam::new();
    // The create reaches IAM, its answer is lost, the retry meets the role.
    iam.fail(
        Fault::new(
            "CreateRole",
            IamError::AlreadyExists {
                api: "CreateRole",
                message: "Role with name fn-alpha already exists.".into(),
            },
        )
        .after_applying(),
    );
    let (_, outcomes) = apply(&iam, &[instance("alpha")], false).await;
    assert_eq!(errors(&outcomes), [None]);
    assert_eq!(writes(&iam, "fn-alpha"), ["CreateRole", "PutRolePolicy"]);

    // A role of that name that this run did not make is a real conflict.
    let other = MemoryIam::new();
    seed(&other, &instance("alpha"), &external_id('A')).await;
    let planned = plan(
        fixtures::ACCOUNT,
        &[instance("alpha")],
        &[],
        &options(false),
    );
    let outcomes = run(&other, &planned, &[]).await;
    let error = error_text(&outcomes[0]).unwrap_or_default();
    assert!(error.contains("CreateRole failed"), "{error}");
    assert_eq!(outcomes[0].completed_steps, 0);
}

/// Issue 12.6: the structs that hold external IDs (`IdState`, `RoleOutcome`,
/// `PhaseSteps`, `Bundle`, wire operations) print none in `Debug`, so a
/// failing `assert_eq!` or a debug line cannot leak one.
#[test]
fn debug_output_of_everything_that_holds_an_id_shows_none() {
    const SECRET: &str = "LeakCanaryExternalId0123456789abcdefghijklmnop";
    let id = ExternalId::new(SECRET);
    let mut role = fixtures::applied_role(&instance("alpha"), SECRET);
    role.tags.insert(
        tags::ROTATION_PENDING.into(),
        ExternalId::new("PendingCanary0123456789").fingerprint(),
    );
    let state = crate::model::trust::id_state(&role);
    let outcome = crate::execute::executor::RoleOutcome {
        change_index: 0,
        completed_steps: 1,
        external_ids: vec![id.clone()],
        error: None,
    };
    let steps = crate::plan::rotation::start(
        &role,
        "458175278816",
        &ExternalId::new("PendingCanary0123456789"),
        fixtures::now(),
    )
    .expect("start steps");
    let bundle = crate::bundle::build(&instance("alpha"), "arn:aws:iam::1:role/r", &id);
    let wire: Operation<crate::model::operation::SecretDocument> = Operation::UpdateTrustPolicy {
        role: "r".into(),
        trust_policy: crate::model::trust::wire_trust("458175278816", &[&id]),
    };
    for shown in [
        format!("{state:?}"),
        format!("{outcome:?}"),
        format!("{steps:?}"),
        format!("{bundle:?}"),
        format!("{wire:?}"),
        format!("{role:?}"),
    ] {
        assert!(
            !shown.contains("Canary"),
            "an ID leaked through Debug: {shown}"
        );
    }
}
