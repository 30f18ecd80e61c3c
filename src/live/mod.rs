//! IAM access behind a trait: reading the live roles of an account and
//! executing single write operations, which are plain values built by the
//! planner. The aws-sdk implementation lives in [`aws`]; tests of the core
//! can use in-memory data instead.

pub mod accounts;
pub mod aws;
pub mod clock;
pub mod memory;
pub mod segment;
pub mod snapshot;

use std::future::Future;

use crate::model::external_id::ExternalId;
use crate::model::operation::WireOperation;
use crate::model::{LiveAccount, LiveRole};

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
    pub fn without_secrets(self, secrets: &[ExternalId]) -> Self {
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

/// Reading and writing IAM.
pub trait IamBackend: Send + Sync {
    /// Every role of the account, complete for roles under `role_paths` (description
    /// and max session duration included); roles elsewhere may lack those two.
    fn read_roles(
        &self,
        role_paths: &[String],
    ) -> impl Future<Output = Result<LiveAccount, IamError>> + Send;

    /// One role by name as GetRole returns it: trust policy, tags, boundary,
    /// description and duration, but no inline or attached policies (one call,
    /// for read-back checks). `None` when it does not exist.
    fn get_role(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<LiveRole>, IamError>> + Send;

    /// The named roles as IAM holds them now, in the order of `names`,
    /// `None` for those that do not exist: trust policy, tags and ARN at
    /// least (no inline or attached policies; description and duration may
    /// be missing). For batch reads around leases; the backend reads them
    /// the cheaper way (one GetRole each, or the whole account at once).
    fn get_roles(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<Option<LiveRole>>, IamError>> + Send;

    /// Sends one write.
    fn execute(
        &self,
        operation: &WireOperation,
    ) -> impl Future<Output = Result<(), IamError>> + Send;
}
