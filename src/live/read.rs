//! How IAM's calls make up the reads fnctl needs, once for every backend:
//! every role of an account with as few calls as IAM allows
//! (GetAccountAuthorizationDetails pages plus ListRoles pages under the role
//! paths, concurrently; ListRoles plus per-role reads where GAAD is
//! denied), and a batch of roles read the cheaper of two ways (one GetRole
//! each, or the whole account at once). The calls of an account read are
//! counted in [`LiveAccount::read_calls`].

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::stream::{self, StreamExt, TryStreamExt};

use crate::live::{IamBackend, IamError, Page, Policies};
use crate::model::{LiveAccount, LiveRole};

/// A batch read of this many roles or more per 1,000 roles in the account
/// reads the whole account (GAAD pages) rather than one GetRole per role:
/// a GAAD page of 1,000 roles costs about what 200 GetRoles do (measured
/// against moto, and in line with IAM's latencies at 8 requests in flight).
const ACCOUNT_READ_PER_THOUSAND_ROLES: usize = 200;

/// The reads built on a backend's calls; every [`IamBackend`] has them.
pub trait IamReads {
    /// Every role of the account, complete for roles under `role_paths`
    /// (description and max session duration included); roles elsewhere
    /// may lack those two.
    fn read_roles(
        &self,
        role_paths: &[String],
    ) -> impl Future<Output = Result<LiveAccount, IamError>> + Send;

    /// The named roles as IAM holds them now, in the order of `names`,
    /// `None` for those that do not exist: trust policy, tags and ARN at
    /// least (no inline or attached policies; description and duration may
    /// be missing). For batch reads around leases: read the cheaper way.
    fn get_roles(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<Option<LiveRole>>, IamError>> + Send;
}

impl<B: IamBackend> IamReads for B {
    async fn read_roles(&self, role_paths: &[String]) -> Result<LiveAccount, IamError> {
        let reader = Reader::new(self);
        let prefixes = covering_prefixes(role_paths);
        // ListRoles goes alongside GAAD, so it is made (and counted)
        // whatever GAAD answers.
        let (details, listed) = futures::join!(
            reader.account_details(Policies::Read),
            reader.settings_under(&prefixes)
        );
        let mut roles = match details {
            Ok(details) => merge(details, listed?),
            Err(IamError::AccessDenied { .. }) => reader.fallback(role_paths).await?,
            Err(error) => return Err(error),
        };
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        self.saw_roles(roles.len());
        Ok(LiveAccount {
            roles,
            read_calls: reader.calls.load(Ordering::Relaxed),
        })
    }

    async fn get_roles(&self, names: &[String]) -> Result<Vec<Option<LiveRole>>, IamError> {
        if account_read_is_cheaper(self.known_roles(), names.len()) {
            match Reader::new(self).account_details(Policies::Skip).await {
                Ok(roles) => {
                    self.saw_roles(roles.len());
                    // IAM's role names are case-insensitive.
                    let mut by_name: HashMap<String, LiveRole> = roles
                        .into_iter()
                        .map(|role| (role.name.to_ascii_lowercase(), role))
                        .collect();
                    return Ok(names
                        .iter()
                        .map(|name| by_name.remove(&name.to_ascii_lowercase()))
                        .collect());
                }
                // Without GAAD, one GetRole per role.
                Err(IamError::AccessDenied { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        stream::iter(names.to_vec())
            .map(|name| get_role_by_name(self, name))
            .buffered(self.read_concurrency().max(1))
            .try_collect()
            .await
    }
}

/// [`IamBackend::get_role`] for an owned name (a stream of them needs no
/// borrow of each name).
async fn get_role_by_name<B: IamBackend>(
    backend: &B,
    name: String,
) -> Result<Option<LiveRole>, IamError> {
    backend.get_role(&name).await
}

/// Whether reading the whole account of `known` roles (0: unknown) is
/// cheaper than `wanted` GetRoles.
fn account_read_is_cheaper(known: usize, wanted: usize) -> bool {
    // Unknown: assume an account of a thousand roles.
    let roles = if known == 0 { 1000 } else { known };
    wanted >= 2 && wanted * 1000 >= roles * ACCOUNT_READ_PER_THOUSAND_ROLES
}

/// One read of the account, counting the calls it makes.
struct Reader<'a, B> {
    backend: &'a B,
    calls: AtomicU64,
}

impl<'a, B: IamBackend> Reader<'a, B> {
    fn new(backend: &'a B) -> Self {
        Reader {
            backend,
            calls: AtomicU64::new(0),
        }
    }

    /// Hands every item of a paged read to `visit`, page by page, one
    /// counted call a page, following the markers until there is none (or
    /// one repeats, which would loop).
    async fn each_item<T, F>(
        &self,
        mut page: impl FnMut(Option<String>) -> F,
        mut visit: impl FnMut(T),
    ) -> Result<(), IamError>
    where
        F: Future<Output = Result<Page<T>, IamError>>,
    {
        let mut marker: Option<String> = None;
        loop {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let Page { items, next } = page(marker.clone()).await?;
            items.into_iter().for_each(&mut visit);
            match next {
                Some(next) if Some(&next) != marker.as_ref() => marker = Some(next),
                _ => return Ok(()),
            }
        }
    }

    /// Every item of a paged read.
    async fn all_pages<T, F>(
        &self,
        page: impl FnMut(Option<String>) -> F,
    ) -> Result<Vec<T>, IamError>
    where
        F: Future<Output = Result<Page<T>, IamError>>,
    {
        let mut all = Vec::new();
        self.each_item(page, |item| all.push(item)).await?;
        Ok(all)
    }

    /// Every role with trust policy, boundary and tags (and permission
    /// policies with [`Policies::Read`]).
    async fn account_details(&self, policies: Policies) -> Result<Vec<LiveRole>, IamError> {
        self.all_pages(|marker| self.backend.account_details_page(marker, policies))
            .await
    }

    /// The description and session length of every role under each prefix
    /// (ListRoles, concurrently), kept page by page: nothing else of
    /// ListRoles' answer is needed, and at 5,000 roles the rest weighs.
    async fn settings_under(&self, prefixes: &[String]) -> Result<Settings, IamError> {
        let listed = futures::future::try_join_all(prefixes.iter().map(|prefix| async move {
            let mut settings = Settings::new();
            self.each_item(
                |marker| self.backend.list_roles_page(Some(prefix), marker),
                |role: LiveRole| {
                    settings.insert(role.name, (role.description, role.max_session_duration));
                },
            )
            .await?;
            Ok::<_, IamError>(settings)
        }))
        .await?;
        Ok(listed.into_iter().flatten().collect())
    }

    /// The read without GAAD: ListRoles for every role, then per-role reads
    /// for the roles under `role_paths`, as many at once as the backend takes.
    async fn fallback(&self, role_paths: &[String]) -> Result<Vec<LiveRole>, IamError> {
        let all = self
            .all_pages(|marker| self.backend.list_roles_page(None, marker))
            .await?;
        let (inside, mut roles): (Vec<LiveRole>, Vec<LiveRole>) = all
            .into_iter()
            .partition(|role| is_under(&role.path, role_paths));
        let complete: Vec<Option<LiveRole>> = stream::iter(inside)
            .map(|role| self.read_role(role.name))
            .buffer_unordered(self.backend.read_concurrency().max(1))
            .try_collect()
            .await?;
        roles.extend(complete.into_iter().flatten());
        Ok(roles)
    }

    /// One role in full (GetRole, its inline policies one by one, its
    /// managed policies), or `None` when it was deleted while being read.
    async fn read_role(&self, name: String) -> Result<Option<LiveRole>, IamError> {
        match self.read_role_parts(&name).await {
            Err(IamError::NoSuchEntity { .. }) => Ok(None),
            other => other,
        }
    }

    async fn read_role_parts(&self, name: &str) -> Result<Option<LiveRole>, IamError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let Some(mut live) = self.backend.get_role(name).await? else {
            return Ok(None);
        };
        let policy_names = self
            .all_pages(|marker| self.backend.list_role_policies_page(name, marker))
            .await?;
        for policy_name in policy_names {
            self.calls.fetch_add(1, Ordering::Relaxed);
            // Deleted between the listing and now: it is gone.
            if let Some(document) = self.backend.get_role_policy(name, &policy_name).await? {
                live.inline_policies.insert(policy_name, document);
            }
        }
        live.attached_policies = self
            .all_pages(|marker| self.backend.list_attached_role_policies_page(name, marker))
            .await?
            .into_iter()
            .collect();
        Ok(Some(live))
    }
}

/// Description and session length by role name, from ListRoles.
type Settings = HashMap<String, (Option<String>, Option<i32>)>;

/// GAAD's roles completed with ListRoles' description and session length.
/// Roles only ListRoles knows (created between the two calls) are left out.
fn merge(details: Vec<LiveRole>, mut listed: Settings) -> Vec<LiveRole> {
    details
        .into_iter()
        .map(|mut role| {
            if let Some((description, duration)) = listed.remove(&role.name) {
                role.description = description;
                role.max_session_duration = duration;
            }
            role
        })
        .collect()
}

/// The distinct role paths, leaving out those another one is a prefix of
/// (ListRoles' PathPrefix already covers them).
fn covering_prefixes(role_paths: &[String]) -> Vec<String> {
    let distinct: BTreeSet<&String> = role_paths.iter().collect();
    distinct
        .iter()
        .filter(|path| {
            !distinct
                .iter()
                .any(|other| other != *path && path.starts_with(other.as_str()))
        })
        .map(|path| path.to_string())
        .collect()
}

fn is_under(path: &str, role_paths: &[String]) -> bool {
    role_paths
        .iter()
        .any(|prefix| path.starts_with(prefix.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_cover_nested_paths_once() {
        let paths = vec![
            "/segment-functions/".to_string(),
            "/segment-functions/eu/".to_string(),
            "/other/".to_string(),
            "/other/".to_string(),
        ];
        assert_eq!(
            covering_prefixes(&paths),
            vec!["/other/".to_string(), "/segment-functions/".to_string()]
        );
    }

    #[test]
    fn a_batch_is_read_with_the_account_once_it_is_a_fifth_of_it() {
        // Unknown size: a thousand roles assumed.
        assert!(!account_read_is_cheaper(0, 199));
        assert!(account_read_is_cheaper(0, 200));
        assert!(!account_read_is_cheaper(30, 1));
        assert!(account_read_is_cheaper(30, 6));
        assert!(!account_read_is_cheaper(30, 5));
    }
}
