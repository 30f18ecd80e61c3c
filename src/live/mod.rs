//! IAM access behind a trait of IAM's own calls (GAAD and ListRoles pages,
//! GetRole, the per-role policy reads, and single write operations, which
//! are plain values built by the planner). How those calls make up a read
//! of the account or of a batch of roles is decided once, above the trait,
//! in [`read`]. The aws-sdk implementation lives in [`aws`]; tests of the
//! core use the in-memory one.

pub mod accounts;
pub mod aws;
pub mod clock;
#[cfg(test)]
pub mod memory;
pub mod read;
pub mod segment;
pub mod segment_functions;
pub mod segment_functions_listed;
#[cfg(test)]
pub mod segment_functions_memory;
#[cfg(test)]
pub mod segment_memory;
pub mod shared;
pub mod snapshot;

use std::future::Future;

use crate::model::external_id::ExternalId;
use crate::model::operation::WireOperation;
use crate::model::{LiveDocument, LiveRole};
use crate::policy::decode_document;

pub use read::IamReads;

/// What a failed IAM call means for the caller.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// The entity does not exist (NoSuchEntity): right after a create this is
    /// IAM's eventual consistency and worth retrying.
    #[error("{api}: no such entity: {message}")]
    NoSuchEntity { api: &'static str, message: String },
    /// The caller may not do this (AccessDenied); GAAD denial triggers the fallback read.
    #[error("{api}: access denied: {message}")]
    AccessDenied { api: &'static str, message: String },
    /// The entity already exists (EntityAlreadyExists).
    #[error("{api}: already exists: {message}")]
    AlreadyExists { api: &'static str, message: String },
    /// Any other service error, with IAM's code. Messages are redacted of
    /// policy documents by the backend.
    #[error("{api}: {code}: {message}")]
    Service {
        api: &'static str,
        code: String,
        message: String,
    },
    /// The request did not get an answer (connection, timeout) after the SDK's retries.
    #[error("{api}: {message}")]
    Transport { api: &'static str, message: String },
}

impl IamError {
    /// The same error with every occurrence of `secrets` in its message
    /// replaced by `(sensitive)`.
    pub(crate) fn without_secrets(self, secrets: &[ExternalId]) -> Self {
        let scrub = |mut message: String| {
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                message = message.replace(secret.expose(), crate::model::trust::SENSITIVE);
            }
            message
        };
        match self {
            IamError::NoSuchEntity { api, message } => IamError::NoSuchEntity {
                api,
                message: scrub(message),
            },
            IamError::AccessDenied { api, message } => IamError::AccessDenied {
                api,
                message: scrub(message),
            },
            IamError::AlreadyExists { api, message } => IamError::AlreadyExists {
                api,
                message: scrub(message),
            },
            IamError::Service { api, code, message } => IamError::Service {
                api,
                code,
                message: scrub(message),
            },
            IamError::Transport { api, message } => IamError::Transport {
                api,
                message: scrub(message),
            },
        }
    }
}

/// One page of a paged IAM read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The marker to ask for the next page with; `None` on the last page.
    pub next: Option<String>,
}

/// Whether an account read keeps the roles' permission policies (inline
/// and attached): batch reads around leases need only trust and tags, as
/// GetRole answers, and thousands of roles are lighter without them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policies {
    Read,
    Skip,
}

/// `None` where IAM answered NoSuchEntity: for reads in which a missing
/// entity is an answer, not a failure.
pub(crate) fn found<T>(result: Result<T, IamError>) -> Result<Option<T>, IamError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(IamError::NoSuchEntity { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

/// A policy document as IAM returned it (percent-encoded or not), decoded:
/// every backend reads documents through this one function.
pub(crate) fn document(raw: &str) -> LiveDocument {
    match decode_document(raw) {
        Ok(value) => LiveDocument::Valid(value),
        Err(error) => LiveDocument::Invalid(error.to_string()),
    }
}

/// IAM's own calls, one request each (a paged read is one page per call).
/// Reads of the whole account or of a batch of roles are built on these by
/// [`IamReads`], the same way for every backend.
pub trait IamBackend: Send + Sync {
    /// One page of GetAccountAuthorizationDetails (roles only), from
    /// `marker`: every field but description and session length, the
    /// permission policies only with [`Policies::Read`].
    fn account_details_page(
        &self,
        marker: Option<String>,
        policies: Policies,
    ) -> impl Future<Output = Result<Page<LiveRole>, IamError>> + Send;

    /// One page of ListRoles under `path_prefix` (every role without one),
    /// from `marker`: no policies, and in IAM no tags or boundary either.
    fn list_roles_page(
        &self,
        path_prefix: Option<&str>,
        marker: Option<String>,
    ) -> impl Future<Output = Result<Page<LiveRole>, IamError>> + Send;

    /// One role by name as GetRole returns it: trust policy, tags, boundary,
    /// description and duration, but no inline or attached policies.
    /// `None` when it does not exist.
    fn get_role(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<LiveRole>, IamError>> + Send;

    /// One page of ListRolePolicies: names of the role's inline policies.
    fn list_role_policies_page(
        &self,
        role: &str,
        marker: Option<String>,
    ) -> impl Future<Output = Result<Page<String>, IamError>> + Send;

    /// GetRolePolicy: one inline policy's document, `None` when it does not
    /// exist (deleted since it was listed).
    fn get_role_policy(
        &self,
        role: &str,
        policy_name: &str,
    ) -> impl Future<Output = Result<Option<LiveDocument>, IamError>> + Send;

    /// One page of ListAttachedRolePolicies: ARNs of the role's managed policies.
    fn list_attached_role_policies_page(
        &self,
        role: &str,
        marker: Option<String>,
    ) -> impl Future<Output = Result<Page<String>, IamError>> + Send;

    /// Sends one write.
    fn execute(
        &self,
        operation: &WireOperation,
    ) -> impl Future<Output = Result<(), IamError>> + Send;

    /// Most per-role reads the backend takes in flight at once (at least one).
    fn read_concurrency(&self) -> usize;

    /// How many roles the account held when last read whole (0: not yet
    /// known); shared by every backend of the account, it sizes the choice
    /// between reading a batch of roles one by one or with the account.
    fn known_roles(&self) -> usize;

    /// Records how many roles a whole read of the account found.
    fn saw_roles(&self, count: usize);
}
