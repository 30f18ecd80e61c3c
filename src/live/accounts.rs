//! Accounts in a run: which credentials reach which account. Instances are
//! grouped by the role their manifest says to assume (none: the caller's own
//! credentials); each group is checked against STS GetCallerIdentity before
//! anything is written, so a wrong account stops the run.

use std::collections::BTreeMap;

use futures::future::BoxFuture;

use crate::live::aws::CallerIdentity;
use crate::live::shared::SharedIam;
use crate::model::DesiredInstance;

/// An account reached: who the credentials are there, and its IAM.
#[derive(Debug, Clone)]
pub struct Reached {
    /// Who STS says the credentials are.
    pub identity: CallerIdentity,
    /// The account's IAM, shared by everything the run does there.
    pub iam: SharedIam,
}

/// How a run reaches its accounts: with its own credentials, or through a
/// role to assume. The AWS SDK's in real runs ([`crate::live::aws::AwsAccounts`]),
/// accounts of IAM in memory in tests.
pub trait AccountAccess: Send + Sync {
    /// The account `assume_role` leads to (the credentials' own without one).
    fn reach<'a>(&'a self, assume_role: Option<&'a str>) -> BoxFuture<'a, anyhow::Result<Reached>>;
}

/// A run that reaches no account (validation, snapshots): asking is an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAccounts;

impl AccountAccess for NoAccounts {
    fn reach<'a>(
        &'a self,
        _assume_role: Option<&'a str>,
    ) -> BoxFuture<'a, anyhow::Result<Reached>> {
        Box::pin(async { anyhow::bail!("this command reaches no AWS account") })
    }
}

/// Instances reconciled with one set of credentials.
#[derive(Debug, Clone)]
pub struct AccountGroup {
    /// Role assumed to reach the account, if any.
    pub assume_role: Option<String>,
    /// The instances.
    pub instances: Vec<DesiredInstance>,
}

/// Groups instances by the role assumed to reach their account (moved, not
/// copied: thousands of instances are held once).
pub(crate) fn group(instances: Vec<DesiredInstance>) -> Vec<AccountGroup> {
    let mut groups: BTreeMap<Option<String>, Vec<DesiredInstance>> = BTreeMap::new();
    for instance in instances {
        groups
            .entry(instance.assume_role.clone())
            .or_default()
            .push(instance);
    }
    groups
        .into_iter()
        .map(|(assume_role, instances)| AccountGroup {
            assume_role,
            instances,
        })
        .collect()
}

/// Refuses when an instance's manifest names an account the credentials do not reach.
pub(crate) fn check_guard(
    identity: &CallerIdentity,
    instances: &[DesiredInstance],
) -> anyhow::Result<()> {
    let wrong: Vec<String> = instances
        .iter()
        .filter(|i| i.account.as_deref().is_some_and(|a| a != identity.account))
        .map(|i| {
            format!(
                "{} (manifest {}:{} says account {})",
                i.name,
                i.origin.file.display(),
                i.origin.line,
                i.account.as_deref().unwrap_or("")
            )
        })
        .collect();
    if wrong.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "the credentials reach account {} ({}), not the account the manifests name for: {}; nothing was changed",
        identity.account,
        identity.arn,
        wrong.join(", ")
    )
}

/// The role paths of a set of instances, without duplicates.
pub(crate) fn role_paths(instances: &[DesiredInstance]) -> Vec<String> {
    let mut paths: Vec<String> = instances.iter().map(|i| i.role_path.clone()).collect();
    paths.sort();
    paths.dedup();
    paths
}
