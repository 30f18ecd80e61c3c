//! Desired state: what the manifests say each role must be, after defaults
//! are merged and every check passed. Plain data, no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod codes;
pub mod digest;
pub mod external_id;
pub mod function;
pub mod operation;
pub mod segment;
pub mod tags;
pub mod time;
pub mod trust;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod golden_tests;

/// Version of every JSON format fnctl writes (plans, saved plans, drift,
/// verify, validate): CI scripts rely on it.
pub const FORMAT_VERSION: &str = "1";

/// Segment's account that runs destination functions.
pub const SEGMENT_DESTINATION_ACCOUNT: &str = "458175278816";
/// Segment's account that runs source functions.
pub const SEGMENT_SOURCE_ACCOUNT: &str = "300240842537";
/// Scope used when a manifest names none.
pub const DEFAULT_SCOPE: &str = "default";
/// Role path used when a manifest names none.
pub const DEFAULT_ROLE_PATH: &str = "/segment-functions/";
/// Session length used when a manifest names none (IAM's own default).
pub const DEFAULT_MAX_SESSION_DURATION: i32 = 3600;
/// Name of the one inline policy fnctl owns on each role.
pub const INLINE_POLICY_NAME: &str = "fnctl-permissions";

/// Whether the function is a source or a destination function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FunctionKind {
    /// A source function (runs in Segment account `300240842537`).
    Source,
    /// A destination function (runs in Segment account `458175278816`).
    Destination,
}

impl FunctionKind {
    /// The manifest spelling of the kind.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FunctionKind::Source => "source",
            FunctionKind::Destination => "destination",
        }
    }
}

/// The Segment account that runs functions of `kind`, per Segment's documentation.
pub(crate) fn documented_segment_account(kind: FunctionKind) -> &'static str {
    match kind {
        FunctionKind::Source => SEGMENT_SOURCE_ACCOUNT,
        FunctionKind::Destination => SEGMENT_DESTINATION_ACCOUNT,
    }
}

/// Where an instance was declared, for messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// Manifest file.
    pub file: PathBuf,
    /// 1-based line of the instance.
    pub line: usize,
}

/// One function instance as fnctl must make it exist in IAM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredInstance {
    /// Instance name, unique in the set.
    pub name: String,
    /// Source or destination.
    pub kind: FunctionKind,
    /// Ownership scope.
    pub scope: String,
    /// Account guard: the account the credentials must reach, when named.
    pub account: Option<String>,
    /// Role fnctl assumes to reach the account, when named.
    pub assume_role: Option<String>,
    /// Segment's account that may assume the role.
    pub segment_account: String,
    /// IAM role name.
    pub role_name: String,
    /// IAM role path.
    pub role_path: String,
    /// Role description.
    pub description: String,
    /// The manifest left `description` out: `description` is fnctl's
    /// default, which an existing role it did not write keeps its own
    /// against ([`DesiredInstance::against`]). Not saved: a saved plan's
    /// steps are resolved already.
    #[serde(skip)]
    pub default_description: bool,
    /// Longest session, in seconds.
    pub max_session_duration: i32,
    /// Permissions boundary policy ARN.
    pub permissions_boundary: Option<String>,
    /// User tags (defaults merged with the role's own); fnctl's tags come on top.
    pub tags: BTreeMap<String, String>,
    /// The inline policy, or `None` when nothing is granted inline.
    pub inline_policy: Option<serde_json::Value>,
    /// The inline policy's name when the manifest names one (an adopted
    /// role keeps its own); `None`: [`INLINE_POLICY_NAME`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_policy_name: Option<String>,
    /// Managed policy ARNs to attach.
    pub managed_policies: BTreeSet<String>,
    /// Rotate the external ID this many days after it was made.
    pub rotate_after_days: Option<u32>,
    /// The Segment function instance its settings are delivered to, when named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<segment::SegmentTarget>,
    /// Non-secret settings of the bundle besides the role ARN and external ID.
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Where it was declared.
    pub origin: Origin,
}

impl DesiredInstance {
    /// The name of the one inline policy fnctl owns on the role.
    pub(crate) fn inline_policy_name(&self) -> &str {
        self.inline_policy_name
            .as_deref()
            .unwrap_or(INLINE_POLICY_NAME)
    }

    /// The instance as planned against its existing role. A manifest that
    /// leaves out `description` asks for fnctl's default on the roles fnctl
    /// creates; a role fnctl does not own yet (adoption), or whose live
    /// description is the one fnctl last recorded (see
    /// [`digest::description_applied`]), keeps its own, so that adopting a
    /// hand-made role never rewrites its description. A description changed
    /// by hand since is drift, restored to the default.
    pub(crate) fn against(&self, role: &LiveRole) -> std::borrow::Cow<'_, DesiredInstance> {
        let keep = self.default_description
            && role.max_session_duration.is_some()
            && (role.fnctl_scope().is_none() || digest::description_applied(role, self));
        if !keep {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut resolved = self.clone();
        resolved.description = role.description.clone().unwrap_or_default();
        std::borrow::Cow::Owned(resolved)
    }

    /// The account key this instance is reconciled in: the guard account, the
    /// assumed role's account, or `None` for "whatever the credentials reach".
    pub(crate) fn target_account(&self) -> Option<&str> {
        self.account.as_deref().or_else(|| {
            self.assume_role
                .as_deref()
                .and_then(|arn| arn.split(':').nth(4))
        })
    }
}

/// A policy document as read from IAM: parsed, or why it could not be.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state", content = "value")]
pub enum LiveDocument {
    /// Decoded and parsed JSON.
    Valid(serde_json::Value),
    /// Not valid JSON (or oversized): the reason, never the raw text.
    Invalid(String),
}

impl LiveDocument {
    /// The parsed document, if it is valid.
    pub(crate) fn valid(&self) -> Option<&serde_json::Value> {
        match self {
            LiveDocument::Valid(value) => Some(value),
            LiveDocument::Invalid(_) => None,
        }
    }
}

/// One IAM role as it is in the account. `Debug` redacts the external IDs
/// of its trust policy.
#[derive(Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveRole {
    /// Role name.
    pub name: String,
    /// Role path.
    pub path: String,
    /// Role ARN.
    pub arn: String,
    /// Unique id (AROA…).
    pub role_id: String,
    /// Creation time, RFC 3339, when known.
    pub create_date: Option<String>,
    /// Description; `None` when not known (read without ListRoles) or empty.
    pub description: Option<String>,
    /// Longest session; `None` when not known.
    pub max_session_duration: Option<i32>,
    /// Trust policy.
    pub trust_policy: LiveDocument,
    /// Inline policies by name.
    pub inline_policies: BTreeMap<String, LiveDocument>,
    /// ARNs of attached managed policies.
    pub attached_policies: BTreeSet<String>,
    /// Permissions boundary ARN.
    pub permissions_boundary: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

impl std::fmt::Debug for LiveRole {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let trust = match &self.trust_policy {
            LiveDocument::Valid(document) => LiveDocument::Valid(trust::redact(document)),
            invalid => invalid.clone(),
        };
        formatter
            .debug_struct("LiveRole")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("arn", &self.arn)
            .field("role_id", &self.role_id)
            .field("create_date", &self.create_date)
            .field("description", &self.description)
            .field("max_session_duration", &self.max_session_duration)
            .field("trust_policy", &trust)
            .field("inline_policies", &self.inline_policies)
            .field("attached_policies", &self.attached_policies)
            .field("permissions_boundary", &self.permissions_boundary)
            .field("tags", &self.tags)
            .finish()
    }
}

impl LiveRole {
    /// The fnctl scope that owns the role: `Some` only when it carries both
    /// `fnctl:managed-by=fnctl` and a `fnctl:scope` tag.
    pub(crate) fn fnctl_scope(&self) -> Option<&str> {
        let managed = self
            .tags
            .get(crate::model::tags::MANAGED_BY)
            .map(String::as_str)
            == Some(crate::model::tags::MANAGED_BY_VALUE);
        self.tags
            .get(crate::model::tags::SCOPE)
            .map(String::as_str)
            .filter(|_| managed)
    }

    /// Whether the role carries `fnctl:managed-by=fnctl` (whatever the scope).
    pub(crate) fn is_managed(&self) -> bool {
        self.tags
            .get(crate::model::tags::MANAGED_BY)
            .map(String::as_str)
            == Some(crate::model::tags::MANAGED_BY_VALUE)
    }

    /// Whether fnctl's scope `scope` owns the role.
    pub(crate) fn is_owned_by(&self, scope: &str) -> bool {
        self.fnctl_scope() == Some(scope)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_live_role_shows_no_external_id() {
        let role = LiveRole {
            name: "r".into(),
            path: "/".into(),
            arn: "arn:aws:iam::123456789012:role/r".into(),
            role_id: "AROA".into(),
            create_date: None,
            description: None,
            max_session_duration: None,
            trust_policy: LiveDocument::Valid(trust::trust_policy(
                SEGMENT_DESTINATION_ACCOUNT,
                &["TopSecretExternalId0123456789"],
            )),
            inline_policies: BTreeMap::new(),
            attached_policies: BTreeSet::new(),
            permissions_boundary: None,
            tags: BTreeMap::new(),
        };
        let shown = format!("{role:?}");
        assert!(!shown.contains("TopSecret"), "{shown}");
        assert!(shown.contains("(sensitive)"), "{shown}");
    }
}
