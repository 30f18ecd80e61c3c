//! Offline snapshots: the JSON that `aws iam get-account-authorization-details`
//! writes, read instead of calling IAM. Audits of an exported account and
//! reviews without credentials. The AWS CLI decodes policy documents into
//! objects; other exporters keep them URL-encoded strings: both are read.
//! GAAD carries no description or max session duration, so those are
//! unknown and left out of the comparison, unless the output of
//! `aws iam list-roles` is read beside it ([`read_all`]), which has them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::live::{IamBackend, IamError, Page, Policies};
use crate::model::operation::WireOperation;
use crate::model::LiveAccount;
use crate::model::{LiveDocument, LiveRole};
use crate::policy::decode_document;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Export {
    #[serde(default)]
    role_detail_list: Vec<RoleDetail>,
    /// `aws iam list-roles`: the description and session length GAAD lacks.
    #[serde(default)]
    roles: Vec<ListedRole>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedRole {
    role_name: String,
    #[serde(default)]
    description: Option<String>,
    max_session_duration: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleDetail {
    path: String,
    role_name: String,
    #[serde(default)]
    role_id: String,
    arn: String,
    #[serde(default)]
    create_date: Option<Value>,
    assume_role_policy_document: Option<Value>,
    #[serde(default)]
    role_policy_list: Vec<InlinePolicy>,
    #[serde(default)]
    attached_managed_policies: Vec<AttachedPolicy>,
    #[serde(default)]
    permissions_boundary: Option<Boundary>,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InlinePolicy {
    policy_name: String,
    policy_document: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttachedPolicy {
    policy_arn: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Boundary {
    permissions_boundary_arn: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    key: String,
    value: String,
}

fn document(value: Option<Value>) -> LiveDocument {
    match value {
        Some(Value::String(text)) => match decode_document(&text) {
            Ok(parsed) => LiveDocument::Valid(parsed),
            Err(error) => LiveDocument::Invalid(error.to_string()),
        },
        Some(object @ Value::Object(_)) => LiveDocument::Valid(object),
        Some(_) | None => LiveDocument::Invalid("missing or not a policy document".into()),
    }
}

/// A snapshot read from disk: the account it is of and its roles.
#[derive(Debug)]
pub struct Snapshot {
    /// Account id, from the role ARNs (`None` when the export has no role).
    pub account: Option<String>,
    /// The roles.
    pub live: LiveAccount,
}

/// Reads a GAAD export.
pub(crate) fn read(path: &Path) -> anyhow::Result<Snapshot> {
    read_all(&[path.to_path_buf()])
}

/// Reads exports of one account: GAAD's, and `aws iam list-roles` output
/// whose descriptions and session lengths complete GAAD's roles (a role
/// list-roles names gets both; the others keep them unknown).
pub(crate) fn read_all(paths: &[std::path::PathBuf]) -> anyhow::Result<Snapshot> {
    let mut details = Vec::new();
    let mut listed = std::collections::HashMap::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read snapshot {}: {e}", path.display()))?;
        let export: Export = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{} is not the output of `aws iam get-account-authorization-details` (or `aws iam list-roles`): {e}",
                path.display()
            )
        })?;
        details.extend(export.role_detail_list);
        listed.extend(
            export
                .roles
                .into_iter()
                .map(|role| (role.role_name.clone(), role)),
        );
    }
    if details.is_empty() && !listed.is_empty() {
        anyhow::bail!("`aws iam list-roles` output has no policies: give the `aws iam get-account-authorization-details` export too");
    }
    let mut roles = roles_of(details);
    for role in &mut roles {
        if let Some(listed) = listed.get(&role.name) {
            role.description = listed.description.clone().filter(|d| !d.is_empty());
            role.max_session_duration = listed.max_session_duration;
        }
    }
    snapshot_of(roles, paths)
}

fn roles_of(details: Vec<RoleDetail>) -> Vec<LiveRole> {
    details
        .into_iter()
        .map(|detail| LiveRole {
            name: detail.role_name,
            path: detail.path,
            arn: detail.arn,
            role_id: detail.role_id,
            create_date: detail.create_date.map(|d| {
                d.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| d.to_string())
            }),
            description: None,
            max_session_duration: None,
            trust_policy: document(detail.assume_role_policy_document),
            inline_policies: detail
                .role_policy_list
                .into_iter()
                .map(|p| (p.policy_name, document(p.policy_document)))
                .collect::<BTreeMap<_, _>>(),
            attached_policies: detail
                .attached_managed_policies
                .into_iter()
                .map(|p| p.policy_arn)
                .collect::<BTreeSet<_>>(),
            permissions_boundary: detail
                .permissions_boundary
                .and_then(|b| b.permissions_boundary_arn),
            tags: detail.tags.into_iter().map(|t| (t.key, t.value)).collect(),
        })
        .collect()
}

fn snapshot_of(roles: Vec<LiveRole>, paths: &[std::path::PathBuf]) -> anyhow::Result<Snapshot> {
    let account = roles
        .iter()
        .find_map(|r| r.arn.split(':').nth(4).map(str::to_string));
    let accounts: BTreeSet<&str> = roles
        .iter()
        .filter_map(|r| r.arn.split(':').nth(4))
        .collect();
    if accounts.len() > 1 {
        anyhow::bail!(
            "snapshot {} mixes accounts {}; export one account per file",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            accounts.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(Snapshot {
        account,
        live: LiveAccount {
            roles,
            read_calls: 0,
        },
    })
}

/// The IAM behind a snapshot: there is none. Plans and drift read the
/// snapshot itself; any call to IAM (a write above all) is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct Offline;

fn offline<T>(api: &'static str) -> Result<T, IamError> {
    Err(IamError::Service {
        api,
        code: "Offline".into(),
        message: "the run reads a snapshot; it reaches no IAM".into(),
    })
}

impl IamBackend for Offline {
    async fn account_details_page(
        &self,
        _marker: Option<String>,
        _policies: Policies,
    ) -> Result<Page<LiveRole>, IamError> {
        offline("GetAccountAuthorizationDetails")
    }

    async fn list_roles_page(
        &self,
        _path_prefix: Option<&str>,
        _marker: Option<String>,
    ) -> Result<Page<LiveRole>, IamError> {
        offline("ListRoles")
    }

    async fn get_role(&self, _name: &str) -> Result<Option<LiveRole>, IamError> {
        offline("GetRole")
    }

    async fn list_role_policies_page(
        &self,
        _role: &str,
        _marker: Option<String>,
    ) -> Result<Page<String>, IamError> {
        offline("ListRolePolicies")
    }

    async fn get_role_policy(
        &self,
        _role: &str,
        _policy_name: &str,
    ) -> Result<Option<LiveDocument>, IamError> {
        offline("GetRolePolicy")
    }

    async fn list_attached_role_policies_page(
        &self,
        _role: &str,
        _marker: Option<String>,
    ) -> Result<Page<String>, IamError> {
        offline("ListAttachedRolePolicies")
    }

    async fn execute(&self, operation: &WireOperation) -> Result<(), IamError> {
        offline(operation.api_name())
    }

    fn read_concurrency(&self) -> usize {
        1
    }

    fn known_roles(&self) -> usize {
        0
    }

    fn saw_roles(&self, _count: usize) {}
}
