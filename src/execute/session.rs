//! Shared by plan, apply and the read-only commands: load the manifests,
//! reach each account, check the guard, read IAM and plan.

use std::collections::BTreeMap;

use anyhow::Context as _;

use crate::execute::context::RunContext;
use crate::live::accounts::{self, AccountGroup, Reached};
use crate::live::shared::SharedIam;
use crate::live::IamReads;
use crate::model::DesiredInstance;
use crate::model::LiveAccount;
use crate::plan::{self, planner, Plan, PlanOptions};

/// Why a command that works only on owned roles cannot work on an instance's.
#[derive(Debug, thiserror::Error)]
pub enum NotOwned {
    /// The role is not there.
    #[error("role {role} does not exist")]
    Missing { role: String },
    /// The role belongs to another scope, or to nobody fnctl knows.
    #[error("role {role} is not managed by fnctl scope `{scope}`")]
    OtherScope { role: String, scope: String },
}

impl NotOwned {
    /// What to do about it, when there is something to do.
    pub(crate) fn advice(&self) -> Option<&'static str> {
        match self {
            NotOwned::Missing { .. } => Some("run `fnctl apply` first"),
            NotOwned::OtherScope { .. } => None,
        }
    }
}

/// One account after reading IAM and planning.
#[derive(Debug, Clone)]
pub struct AccountRun {
    /// Account id per STS.
    pub account: String,
    /// The partition the account is in (`aws`, `aws-us-gov`, `aws-cn`), per STS.
    pub partition: String,
    /// Role assumed to reach it.
    pub assume_role: Option<String>,
    /// The account's IAM.
    pub iam: SharedIam,
    /// The instances reconciled there.
    pub instances: Vec<DesiredInstance>,
    /// What IAM holds.
    pub live: LiveAccount,
    /// What apply would do.
    pub plan: Plan,
}

impl AccountRun {
    /// Fingerprints of every role the plan looked at (saved plans compare them).
    pub(crate) fn fingerprints(&self) -> BTreeMap<String, String> {
        let mut names: Vec<String> = self.instances.iter().map(|i| i.role_name.clone()).collect();
        names.extend(self.plan.changes.iter().map(|c| c.role.clone()));
        names
            .into_iter()
            .map(|name| {
                let role = self
                    .live
                    .roles
                    .iter()
                    .find(|r| r.name.eq_ignore_ascii_case(&name));
                (name, planner::live_fingerprint(role))
            })
            .collect()
    }

    /// The live role of an instance, by IAM's case-insensitive name.
    pub(crate) fn role_of(&self, instance: &DesiredInstance) -> Option<&crate::model::LiveRole> {
        let roles = &self.live.roles;
        // An account read is sorted by name: thousands of lookups must not
        // each scan it. A name IAM holds in another case is searched for.
        match roles.binary_search_by(|r| r.name.as_str().cmp(&instance.role_name)) {
            Ok(index) => Some(&roles[index]),
            Err(_) => roles
                .iter()
                .find(|r| r.name.eq_ignore_ascii_case(&instance.role_name)),
        }
    }

    /// The instance's role when it exists and belongs to the instance's scope,
    /// else why not (for commands that only work on owned roles).
    pub(crate) fn owned_role_of(
        &self,
        instance: &DesiredInstance,
    ) -> Result<&crate::model::LiveRole, NotOwned> {
        let role = self.role_of(instance).ok_or_else(|| NotOwned::Missing {
            role: instance.role_name.clone(),
        })?;
        if !role.is_owned_by(&instance.scope) {
            return Err(NotOwned::OtherScope {
                role: role.name.clone(),
                scope: instance.scope.clone(),
            });
        }
        Ok(role)
    }

    /// The ARN of an instance's role: IAM's own when the role exists (its
    /// name may differ in case from the manifest's), else the one a create makes.
    pub(crate) fn role_arn(&self, instance: &DesiredInstance) -> String {
        match self.role_of(instance) {
            Some(role) => role.arn.clone(),
            None => crate::bundle::role_arn(
                &self.partition,
                &self.account,
                &instance.role_path,
                &instance.role_name,
            ),
        }
    }

    /// The account's IAM backend.
    pub(crate) fn backend(&self) -> SharedIam {
        self.iam.clone()
    }
}

/// The external IDs of the instances' bundles in `directory` (missing or
/// unreadable bundles are skipped: they only help restore lost IDs).
pub(crate) fn bundled_ids(
    instances: &[DesiredInstance],
    directory: &std::path::Path,
) -> crate::plan::planner::BundledIds {
    let ids = instances
        .iter()
        .filter_map(|i| crate::bundle::id_on_disk(directory, &i.name))
        .collect();
    crate::plan::planner::BundledIds(ids)
}

/// Reaches every account of `instances` through the context's accounts,
/// checks the guard, reads IAM and plans. Only the accounts the context
/// selects are kept (`--account`; none named keeps every account).
/// Accounts are handled concurrently.
pub(crate) async fn observe(
    context: &RunContext,
    instances: Vec<DesiredInstance>,
    options: &PlanOptions,
) -> anyhow::Result<Vec<AccountRun>> {
    let selection = context.selection.as_slice();
    let wanted = |account: &str| selection.is_empty() || selection.iter().any(|a| a == account);
    // Groups whose account the manifests name are skipped before any call.
    let groups: Vec<AccountGroup> = accounts::group(instances)
        .into_iter()
        .filter(|group| {
            group
                .instances
                .iter()
                .filter_map(|i| i.target_account())
                .all(wanted)
        })
        .collect();
    // Reach every account first: two credential sources may lead to the same
    // account, and an account must be planned as one (or `--prune` would
    // take the other group's roles for orphans).
    let reached = futures::future::join_all(groups.into_iter().map(|group| async move {
        let account = context.accounts.reach(group.assume_role.as_deref()).await;
        account.map(|account| (account, group))
    }))
    .await;
    let mut accounts: Vec<(Reached, AccountGroup)> = Vec::new();
    for result in reached {
        let (account, group) = result?;
        match accounts
            .iter_mut()
            .find(|(known, _)| known.identity.account == account.identity.account)
        {
            Some((_, merged)) => merged.instances.extend(group.instances),
            None => accounts.push((account, group)),
        }
    }
    check_selection(selection, &accounts)?;
    let runs = futures::future::join_all(
        accounts
            .into_iter()
            .filter(|(account, _)| wanted(&account.identity.account))
            .map(|(account, group)| read_and_plan(account, group, options)),
    )
    .await;
    runs.into_iter().collect()
}

/// `--account` that matches no account of the manifests is a typo in a CI
/// matrix, not "no drift": refuse it rather than pass green forever.
fn check_selection(
    selection: &[String],
    accounts: &[(Reached, AccountGroup)],
) -> anyhow::Result<()> {
    let unmatched: Vec<&str> = selection
        .iter()
        .filter(|wanted| !accounts.iter().any(|(a, _)| a.identity.account == **wanted))
        .map(String::as_str)
        .collect();
    if unmatched.is_empty() {
        return Ok(());
    }
    let reached: Vec<&str> = accounts
        .iter()
        .map(|(a, _)| a.identity.account.as_str())
        .collect();
    anyhow::bail!(
        "--account {} matches no account the manifests reach (they reach: {})",
        unmatched.join(", "),
        reached.join(", ")
    )
}

/// Checks the guard, reads the account's roles and plans it.
async fn read_and_plan(
    account: Reached,
    group: AccountGroup,
    options: &PlanOptions,
) -> anyhow::Result<AccountRun> {
    let Reached { identity, iam } = account;
    accounts::check_guard(&identity, &group.instances)?;
    let live = iam
        .read_roles(&accounts::role_paths(&group.instances))
        .await
        .with_context(|| format!("reading IAM roles of account {}", identity.account))?;
    log::info!(
        "account {} ({}): {} role(s) read with {} IAM call(s); {} instance(s) to reconcile",
        identity.account,
        identity.arn,
        live.roles.len(),
        live.read_calls,
        group.instances.len()
    );
    let plan = plan::plan(&identity.account, &group.instances, &live.roles, options);
    Ok(AccountRun {
        partition: identity.arn.split(':').nth(1).unwrap_or("aws").to_string(),
        account: identity.account,
        assume_role: group.assume_role,
        iam,
        instances: group.instances,
        live,
        plan,
    })
}

/// Plans from an offline snapshot instead of IAM: no AWS call at all. The
/// instances of other accounts than the snapshot's are left out, with a note.
pub(crate) fn observe_snapshot(
    path: &std::path::Path,
    instances: &[DesiredInstance],
    options: &PlanOptions,
) -> anyhow::Result<Vec<AccountRun>> {
    let snapshot = crate::live::snapshot::read(path)?;
    let account = snapshot
        .account
        .clone()
        .or_else(|| {
            instances
                .iter()
                .find_map(|i| i.target_account().map(str::to_string))
        })
        .unwrap_or_else(|| "unknown".into());
    let (mine, others): (Vec<DesiredInstance>, Vec<DesiredInstance>) = instances
        .iter()
        .cloned()
        .partition(|i| i.target_account().is_none_or(|a| a == account));
    if !others.is_empty() {
        log::warn!("{} instance(s) of other accounts are not in snapshot {} (account {account}) and are skipped", others.len(), path.display());
    }
    let plan = plan::plan(&account, &mine, &snapshot.live.roles, options);
    let partition = snapshot
        .live
        .roles
        .first()
        .and_then(|r| r.arn.split(':').nth(1))
        .unwrap_or("aws")
        .to_string();
    Ok(vec![AccountRun {
        partition,
        account,
        assume_role: None,
        iam: SharedIam::new(crate::live::snapshot::Offline),
        instances: mine,
        live: snapshot.live,
        plan,
    }])
}

/// All account plans as one (for output): one account's plan as it is,
/// not copied (at thousands of roles a copy weighs tens of MB).
pub(crate) fn combined_plan(runs: &[AccountRun]) -> std::borrow::Cow<'_, Plan> {
    match runs {
        [run] => std::borrow::Cow::Borrowed(&run.plan),
        _ => std::borrow::Cow::Owned(Plan::merged(runs.iter().map(|run| &run.plan))),
    }
}
