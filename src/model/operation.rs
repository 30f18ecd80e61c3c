//! IAM writes as plain values: the planner builds them, plans print and save
//! them, and a live backend sends them. Keeping them data lets every plan be
//! shown and tested before any call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One IAM write. `T` is how the trust policy is carried: a secret-free
/// secret-free trust reference in plans, the JSON text when sent to IAM.
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
    pub(crate) fn role(&self) -> &str {
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
    pub(crate) fn map_trust<U, E>(
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

/// A trust policy as sent to IAM: JSON text that holds external IDs, so its
/// `Debug` shows none of it; [`SecretDocument::expose`] is the way to the text.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretDocument(String);

impl SecretDocument {
    /// Wraps the JSON text of a trust policy.
    pub fn new(text: impl Into<String>) -> Self {
        SecretDocument(text.into())
    }

    /// The text itself, for the request to IAM.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretDocument {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SecretDocument((sensitive))")
    }
}

/// An operation ready to send: the trust policy is the JSON text, secrets included.
pub type WireOperation = Operation<SecretDocument>;
