//! IAM access behind a trait: reading the live roles of an account and
//! executing single write operations, which are plain values built by the
//! planner. The aws-sdk implementation lives in [`aws`]; tests of the core
//! can use in-memory data instead.

pub mod aws;

use std::collections::BTreeMap;
use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::model::LiveRole;

/// One IAM write. `T` is how the trust policy is carried: a secret-free
/// [`crate::plan::TrustSpec`] in plans, the JSON text when sent to IAM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "operation")]
pub enum Operation<T> {
    /// CreateRole, with tags and boundary in the same call.
    CreateRole {
        role: String,
        path: String,
        description: String,
        max_session_duration: i32,
        trust_policy: T,
        permissions_boundary: Option<String>,
        tags: BTreeMap<String, String>,
    },
    /// UpdateAssumeRolePolicy.
    UpdateTrustPolicy { role: String, trust_policy: T },
    /// UpdateRole, always with both fields (moto resets an omitted one).
    UpdateRole {
        role: String,
        description: String,
        max_session_duration: i32,
    },
    /// PutRolePolicy.
    PutInlinePolicy {
        role: String,
        policy_name: String,
        document: serde_json::Value,
    },
    /// DeleteRolePolicy.
    DeleteInlinePolicy { role: String, policy_name: String },
    /// AttachRolePolicy.
    AttachManagedPolicy { role: String, policy_arn: String },
    /// DetachRolePolicy.
    DetachManagedPolicy { role: String, policy_arn: String },
    /// PutRolePermissionsBoundary.
    PutPermissionsBoundary { role: String, policy_arn: String },
    /// DeleteRolePermissionsBoundary.
    DeletePermissionsBoundary { role: String },
    /// TagRole.
    TagRole {
        role: String,
        tags: BTreeMap<String, String>,
    },
    /// UntagRole.
    UntagRole { role: String, keys: Vec<String> },
    /// DeleteRole (after its policies are gone).
    DeleteRole { role: String },
}

impl<T> Operation<T> {
    /// The role the operation is about.
    pub fn role(&self) -> &str {
        match self {
            Operation::CreateRole { role, .. }
            | Operation::UpdateTrustPolicy { role, .. }
            | Operation::UpdateRole { role, .. }
            | Operation::PutInlinePolicy { role, .. }
            | Operation::DeleteInlinePolicy { role, .. }
            | Operation::AttachManagedPolicy { role, .. }
            | Operation::DetachManagedPolicy { role, .. }
            | Operation::PutPermissionsBoundary { role, .. }
            | Operation::DeletePermissionsBoundary { role }
            | Operation::TagRole { role, .. }
            | Operation::UntagRole { role, .. }
            | Operation::DeleteRole { role } => role,
        }
    }

    /// IAM's name of the API the operation calls.
    pub fn api_name(&self) -> &'static str {
        match self {
            Operation::CreateRole { .. } => "CreateRole",
            Operation::UpdateTrustPolicy { .. } => "UpdateAssumeRolePolicy",
            Operation::UpdateRole { .. } => "UpdateRole",
            Operation::PutInlinePolicy { .. } => "PutRolePolicy",
            Operation::DeleteInlinePolicy { .. } => "DeleteRolePolicy",
            Operation::AttachManagedPolicy { .. } => "AttachRolePolicy",
            Operation::DetachManagedPolicy { .. } => "DetachRolePolicy",
            Operation::PutPermissionsBoundary { .. } => "PutRolePermissionsBoundary",
            Operation::DeletePermissionsBoundary { .. } => "DeleteRolePermissionsBoundary",
            Operation::TagRole { .. } => "TagRole",
            Operation::UntagRole { .. } => "UntagRole",
            Operation::DeleteRole { .. } => "DeleteRole",
        }
    }

    /// The same operation with its trust policy converted by `convert`.
    pub fn map_trust<U, E>(
        self,
        convert: impl FnOnce(T) -> Result<U, E>,
    ) -> Result<Operation<U>, E> {
        Ok(match self {
            Operation::CreateRole {
                role,
                path,
                description,
                max_session_duration,
                trust_policy,
                permissions_boundary,
                tags,
            } => Operation::CreateRole {
                role,
                path,
                description,
                max_session_duration,
                trust_policy: convert(trust_policy)?,
                permissions_boundary,
                tags,
            },
            Operation::UpdateTrustPolicy { role, trust_policy } => Operation::UpdateTrustPolicy {
                role,
                trust_policy: convert(trust_policy)?,
            },
            Operation::UpdateRole {
                role,
                description,
                max_session_duration,
            } => Operation::UpdateRole {
                role,
                description,
                max_session_duration,
            },
            Operation::PutInlinePolicy {
                role,
                policy_name,
                document,
            } => Operation::PutInlinePolicy {
                role,
                policy_name,
                document,
            },
            Operation::DeleteInlinePolicy { role, policy_name } => {
                Operation::DeleteInlinePolicy { role, policy_name }
            }
            Operation::AttachManagedPolicy { role, policy_arn } => {
                Operation::AttachManagedPolicy { role, policy_arn }
            }
            Operation::DetachManagedPolicy { role, policy_arn } => {
                Operation::DetachManagedPolicy { role, policy_arn }
            }
            Operation::PutPermissionsBoundary { role, policy_arn } => {
                Operation::PutPermissionsBoundary { role, policy_arn }
            }
            Operation::DeletePermissionsBoundary { role } => {
                Operation::DeletePermissionsBoundary { role }
            }
            Operation::TagRole { role, tags } => Operation::TagRole { role, tags },
            Operation::UntagRole { role, keys } => Operation::UntagRole { role, keys },
            Operation::DeleteRole { role } => Operation::DeleteRole { role },
        })
    }
}

/// An operation ready to send: the trust policy is the JSON text, secrets included.
pub type WireOperation = Operation<String>;

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
    pub fn without_secrets(self, secrets: &[String]) -> Self {
        let scrub = |mut message: String| {
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                message = message.replace(secret.as_str(), crate::render::SENSITIVE);
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

/// Everything read about one account's roles.
#[derive(Debug, Clone, Default)]
pub struct LiveAccount {
    /// Every role of the account that the read covered.
    pub roles: Vec<LiveRole>,
    /// How the read was done, for `-v` output and the benchmark.
    pub read_calls: u64,
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

    /// Sends one write.
    fn execute(
        &self,
        operation: &WireOperation,
    ) -> impl Future<Output = Result<(), IamError>> + Send;
}
