//! Accounts in a run: which credentials reach which account. Instances are
//! grouped by the role their manifest says to assume (none: the caller's own
//! credentials); each group is checked against STS GetCallerIdentity before
//! anything is written, so a wrong account stops the run.

use std::collections::BTreeMap;

use crate::live::aws::CallerIdentity;
use crate::model::DesiredInstance;

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
pub fn group(instances: Vec<DesiredInstance>) -> Vec<AccountGroup> {
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
pub fn check_guard(identity: &CallerIdentity, instances: &[DesiredInstance]) -> anyhow::Result<()> {
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
pub fn role_paths(instances: &[DesiredInstance]) -> Vec<String> {
    let mut paths: Vec<String> = instances.iter().map(|i| i.role_path.clone()).collect();
    paths.sort();
    paths.dedup();
    paths
}
