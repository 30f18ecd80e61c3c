//! Reaching accounts and planning them, in process: instances reached with
//! the credentials' own account and through a role, `--account` keeping
//! only the accounts it names, and a name that matches no account refused.

use std::sync::Arc;

use super::context::{RunContext, Timings};
use super::session::observe;
use crate::live::clock::SteppedClock;
use crate::live::memory::{MemoryAccounts, MemoryIam};
use crate::model::fixtures::{instance, NOW};
use crate::model::DesiredInstance;
use crate::plan::{Action, PlanOptions};

const OTHER_ACCOUNT: &str = "210987654321";
const DEPLOYER: &str = "arn:aws:iam::210987654321:role/fnctl-deployer";

/// `alpha` in the credentials' own account, `beta` through the deployer role.
fn two_accounts(selection: &[&str]) -> (RunContext, Vec<DesiredInstance>) {
    let own = Arc::new(MemoryIam::new());
    let other = Arc::new(MemoryIam::new().with_account(OTHER_ACCOUNT));
    let accounts = MemoryAccounts::new(own).with_role(DEPLOYER, other);
    let context = RunContext::new(
        Arc::new(SteppedClock::at_rfc3339(NOW)),
        Timings::default(),
        2,
    )
    .with_accounts(
        Arc::new(accounts),
        selection.iter().map(|s| s.to_string()).collect(),
    );
    let mut beta = instance("beta");
    beta.assume_role = Some(DEPLOYER.into());
    (context, vec![instance("alpha"), beta])
}

fn options(context: &RunContext) -> PlanOptions {
    PlanOptions::read_only(context.now())
}

#[tokio::test]
async fn each_account_is_reached_read_and_planned_on_its_own() {
    let (context, instances) = two_accounts(&[]);
    let runs = observe(&context, instances, &options(&context))
        .await
        .expect("both accounts are reached");
    let planned: Vec<(String, Vec<String>)> = runs
        .iter()
        .map(|run| {
            let creates = run
                .plan
                .changes
                .iter()
                .filter(|c| c.action == Action::Create)
                .map(|c| c.role.clone())
                .collect();
            (run.account.clone(), creates)
        })
        .collect();
    assert_eq!(
        planned,
        [
            ("123456789012".to_string(), vec!["fn-alpha".to_string()]),
            (OTHER_ACCOUNT.to_string(), vec!["fn-beta".to_string()]),
        ]
    );
    assert_eq!(runs[1].assume_role.as_deref(), Some(DEPLOYER));
    assert!(runs[1]
        .role_arn(&runs[1].instances[0])
        .contains(OTHER_ACCOUNT));
}

#[tokio::test]
async fn the_selection_keeps_only_the_accounts_it_names() {
    let (context, instances) = two_accounts(&[OTHER_ACCOUNT]);
    let runs = observe(&context, instances, &options(&context))
        .await
        .expect("the selected account is reached");
    let accounts: Vec<&str> = runs.iter().map(|r| r.account.as_str()).collect();
    assert_eq!(accounts, [OTHER_ACCOUNT]);
}

#[tokio::test]
async fn a_selection_that_matches_no_account_is_refused() {
    let (context, instances) = two_accounts(&["999999999999"]);
    let error = observe(&context, instances, &options(&context))
        .await
        .expect_err("a typo in --account is not `no drift`");
    let message = error.to_string();
    assert!(
        message.contains("--account 999999999999 matches no account"),
        "{message}"
    );
}
