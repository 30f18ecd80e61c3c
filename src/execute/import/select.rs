//! Which roles of an account are Segment function roles, and what of each
//! a manifest can say: pure decisions over the live role and the Segment
//! instances that name it. A role whose trust policy or inline policy a
//! manifest cannot say exactly is left out with the reason; nothing is ever
//! made to fit.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::render::Comments;
use crate::bundle::{EXTERNAL_ID_SETTING, ROLE_ARN_SETTING};
use crate::manifest::permissions::inline_policy;
use crate::manifest::spec::{
    BucketAccess, BucketSpec, Effect, InstanceSpec, PermissionSpec, RoleSpec, SegmentSpec,
};
use crate::model::external_id::ExternalId;
use crate::model::segment::{is_masked, shows};
use crate::model::{tags, trust, FunctionKind, LiveDocument, LiveRole, INLINE_POLICY_NAME};
use crate::policy::evaluate::list;
use crate::policy::normalize::equivalent;

/// Segment's accounts that run functions, per kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentAccounts {
    /// Runs destination functions.
    pub destination: String,
    /// Runs source functions.
    pub source: String,
}

impl SegmentAccounts {
    /// The account that runs functions of `kind`.
    pub(crate) fn account(&self, kind: FunctionKind) -> &str {
        match kind {
            FunctionKind::Destination => &self.destination,
            FunctionKind::Source => &self.source,
        }
    }

    /// The kind of functions the principal (a root ARN) runs, if it is Segment's.
    fn kind_of(&self, root: &str) -> Option<FunctionKind> {
        [FunctionKind::Destination, FunctionKind::Source]
            .into_iter()
            .find(|kind| root == format!("arn:aws:iam::{}:root", self.account(*kind)))
    }
}

/// A function instance of the workspace, as a list page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceInstance {
    /// Segment's id of the destination or source.
    pub id: String,
    /// Destination or source.
    pub kind: FunctionKind,
    /// Its settings, sensitive ones masked.
    pub settings: Map<String, Value>,
    /// The catalog id it runs: a function instance's is its function's.
    pub metadata_id: Option<String>,
    /// A destination's source.
    pub source_id: Option<String>,
}

impl WorkspaceInstance {
    /// The role ARN its `iamRoleArn` setting names.
    pub(crate) fn role_arn(&self) -> Option<&str> {
        self.settings.get(ROLE_ARN_SETTING).and_then(Value::as_str)
    }
}

/// Why a role is left out of the manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// fnctl already manages it.
    AlreadyManaged { scope: Option<String> },
    /// The trust policy is not a valid policy document.
    TrustInvalid,
    /// It admits Segment's account without requiring an external ID.
    NoExternalId,
    /// It admits both Segment accounts: a manifest holds one kind.
    BothKinds,
    /// The trust policy has other statements beside Segment's.
    OtherStatements { count: usize },
    /// The trust policy admits other principals beside Segment's account.
    OtherPrincipals { principals: Vec<String> },
    /// The external ID is matched with another operator than `StringEquals`.
    ExternalIdOperator { operator: String },
    /// The trust policy accepts several external IDs.
    SeveralExternalIds { count: usize },
    /// The trust policy says more than fnctl's (other actions or conditions).
    TrustDiffers,
    /// More than one inline policy: fnctl keeps one.
    SeveralInlinePolicies { names: Vec<String> },
    /// The inline policy is not one `permissions:` can say.
    InlinePolicy { name: String, why: Unsaid },
    /// The manifest it would need does not validate.
    Manifest { problems: Vec<String> },
    /// Adopting it with the manifest would change it.
    WouldChange { changes: Vec<String> },
}

impl SkipReason {
    /// Stable kebab-case code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            SkipReason::AlreadyManaged { .. } => "already-managed",
            SkipReason::TrustInvalid => "trust-invalid",
            SkipReason::NoExternalId => "trust-without-external-id",
            SkipReason::BothKinds => "trust-both-kinds",
            SkipReason::OtherStatements { .. } => "trust-other-statements",
            SkipReason::OtherPrincipals { .. } => "trust-other-principals",
            SkipReason::ExternalIdOperator { .. } => "trust-external-id-operator",
            SkipReason::SeveralExternalIds { .. } => "trust-several-external-ids",
            SkipReason::TrustDiffers => "trust-differs",
            SkipReason::SeveralInlinePolicies { .. } => "several-inline-policies",
            SkipReason::InlinePolicy { .. } => "inline-policy-unexpressible",
            SkipReason::Manifest { .. } => "manifest-invalid",
            SkipReason::WouldChange { .. } => "adoption-would-change",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::AlreadyManaged { scope: Some(scope) } => {
                write!(formatter, "already managed by fnctl (scope `{scope}`)")
            }
            SkipReason::AlreadyManaged { scope: None } => {
                write!(formatter, "already carries fnctl's tags")
            }
            SkipReason::TrustInvalid => {
                write!(formatter, "the trust policy is not a valid policy document")
            }
            SkipReason::NoExternalId => write!(formatter, "the trust policy admits Segment's account without requiring an external ID (any Segment customer's function could assume it); add one, then import"),
            SkipReason::BothKinds => write!(formatter, "the trust policy admits both Segment accounts (sources and destinations); fnctl gives a role one kind"),
            SkipReason::OtherStatements { count } => write!(formatter, "the trust policy has {count} statements; fnctl keeps exactly one"),
            SkipReason::OtherPrincipals { principals } => write!(formatter, "the trust policy admits other principals too ({})", principals.join(", ")),
            SkipReason::ExternalIdOperator { operator } => write!(formatter, "the external ID is matched with {operator}, not StringEquals"),
            SkipReason::SeveralExternalIds { count } => write!(formatter, "the trust policy accepts {count} external IDs: fnctl cannot tell which one the function uses (finish the rotation by hand, then import)"),
            SkipReason::TrustDiffers => write!(formatter, "the trust policy has other actions or conditions than Segment's sts:AssumeRole with an external ID"),
            SkipReason::SeveralInlinePolicies { names } => write!(formatter, "{} inline policies ({}); fnctl keeps one per role", names.len(), names.join(", ")),
            SkipReason::InlinePolicy { name, why } => write!(formatter, "inline policy {name}: {why}"),
            SkipReason::Manifest { problems } => write!(formatter, "its manifest would not validate: {}", problems.join("; ")),
            SkipReason::WouldChange { changes } => write!(formatter, "adopting it would change it: {}", changes.join("; ")),
        }
    }
}

/// What of an inline policy `permissions:` cannot say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsaid {
    /// It is not a valid policy document.
    Invalid,
    /// Its `Version` is not 2012-10-17, the one fnctl writes.
    Version,
    /// A top-level field other than `Version` and `Statement`.
    TopLevel { field: String },
    /// A statement that is not an object.
    NotAnObject,
    /// A statement field other than `Sid`, `Effect`, `Action`, `Resource`, `Condition`.
    Field { field: String },
    /// `Action` or `Resource` that is not a list of strings.
    NotStrings { field: &'static str },
    /// An `Effect` other than Allow or Deny.
    Effect,
    /// A `Condition` that is not a condition block.
    Condition,
    /// A `Sid` that is not a string.
    Sid,
}

impl std::fmt::Display for Unsaid {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unsaid::Invalid => write!(formatter, "not a valid policy document"),
            Unsaid::Version => write!(
                formatter,
                "its Version is not 2012-10-17, the one fnctl writes"
            ),
            Unsaid::TopLevel { field } => write!(formatter, "it has a top-level `{field}`"),
            Unsaid::NotAnObject => write!(formatter, "a statement is not an object"),
            Unsaid::Field { field } => write!(
                formatter,
                "a statement has `{field}`, which `permissions:` cannot say"
            ),
            Unsaid::NotStrings { field } => write!(
                formatter,
                "a statement's `{field}` is not a list of strings"
            ),
            Unsaid::Effect => write!(formatter, "a statement's Effect is neither Allow nor Deny"),
            Unsaid::Condition => write!(
                formatter,
                "a statement's Condition is not a condition block"
            ),
            Unsaid::Sid => write!(formatter, "a statement's Sid is not a string"),
        }
    }
}

/// Why a role is imported without its Segment instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlinked {
    /// Several instances name the role: fnctl delivers to one per role.
    SeveralInstances { ids: Vec<String> },
    /// The instance is of the other kind than the role's trust policy.
    OtherKind { id: String },
    /// The instance holds another external ID than the trust policy accepts.
    OtherExternalId { id: String },
}

impl std::fmt::Display for Unlinked {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unlinked::SeveralInstances { ids } => write!(formatter, "Segment instances {} all name this role; fnctl delivers to one instance per role: add `segment: {{ id }}` for the one that keeps it", ids.join(", ")),
            Unlinked::OtherKind { id } => write!(formatter, "Segment instance {id} names this role but is of the other kind (source or destination) than its trust policy admits; not linked"),
            Unlinked::OtherExternalId { id } => write!(formatter, "Segment instance {id} names this role but holds another external ID than its trust policy accepts (the function cannot assume it); not linked, so that adopting changes nothing"),
        }
    }
}

/// A role a manifest can say, before the manifest is checked.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The instance, as it will be written.
    pub spec: InstanceSpec,
    /// The comments that go with it.
    pub comments: Comments,
    /// The one external ID its trust policy accepts (for the checks only).
    pub external_id: ExternalId,
    /// Segment instances it is not linked to, and why.
    pub unlinked: Vec<Unlinked>,
}

/// Whether the role is a Segment function role: its trust policy admits
/// Segment's account for destinations or sources. (Those that do without
/// an external ID are found too, to be reported.)
pub(crate) fn is_function_role(role: &LiveRole, accounts: &SegmentAccounts) -> bool {
    role.trust_policy.valid().is_some_and(|document| {
        trust::principals(document).iter().any(|principal| {
            accounts
                .kind_of(&trust::root_principal(principal))
                .is_some()
        })
    })
}

/// What a manifest says of `role`, named `name`, or why it cannot say it.
/// `instances` are the workspace's instances whose `iamRoleArn` is the role's.
/// A role fnctl manages is left out unless `managed_here` (the manifest
/// being rewritten already holds it: an import run again keeps it).
pub(crate) fn examine(
    role: &LiveRole,
    name: &str,
    accounts: &SegmentAccounts,
    instances: &[&WorkspaceInstance],
    managed_here: bool,
) -> Result<Candidate, SkipReason> {
    if role.is_managed() && !managed_here {
        return Err(SkipReason::AlreadyManaged {
            scope: role.fnctl_scope().map(str::to_string),
        });
    }
    let (kind, external_id) = trust_of(role, accounts)?;
    let (policy_name, permissions) = match role.inline_policies.len() {
        0 => (None, Vec::new()),
        1 => {
            let (policy_name, document) = role.inline_policies.iter().next().expect("one");
            (
                Some(policy_name.clone()),
                permissions_of(policy_name, document)?,
            )
        }
        _ => {
            return Err(SkipReason::SeveralInlinePolicies {
                names: role.inline_policies.keys().cloned().collect(),
            })
        }
    };
    let mut comments = Comments::default();
    let (linked, unlinked) = link(kind, &external_id, instances);
    let settings = linked.map(|instance| &instance.settings);
    let (bucket, permissions) = match settings {
        Some(settings) => with_bucket(permissions, settings),
        None => (None, permissions),
    };
    let role_spec = role_spec(role, policy_name, &mut comments);
    for reason in &unlinked {
        comments.above.push(reason.to_string());
    }
    let spec = InstanceSpec {
        name: name.to_string(),
        kind,
        role: Some(role_spec),
        settings: settings
            .map(|settings| extra_settings(settings, bucket.is_some()))
            .unwrap_or_default(),
        bucket,
        permissions,
        managed_policies: role.attached_policies.iter().cloned().collect(),
        external_id: None,
        segment: linked.map(|instance| SegmentSpec {
            id: Some(instance.id.clone()),
            function: None,
            source: None,
        }),
        allow_wildcards: false,
        allow_findings: Vec::new(),
    };
    Ok(Candidate {
        spec,
        comments,
        external_id,
        unlinked,
    })
}

/// The role's own fields: name, description and session length as IAM
/// has them, boundary, user tags, and the inline policy's name when it is
/// not fnctl's.
fn role_spec(role: &LiveRole, policy_name: Option<String>, comments: &mut Comments) -> RoleSpec {
    // ListRoles' answer, when the read had it: an empty description is "".
    let known = role.max_session_duration.is_some();
    if !known {
        comments.above.push("description and maxSessionDuration are not in a GAAD export: add `aws iam list-roles` output with a second --snapshot, or IAM's own may be replaced".into());
    }
    RoleSpec {
        name: Some(role.name.clone()),
        path: None,
        description: known.then(|| role.description.clone().unwrap_or_default()),
        max_session_duration: role
            .max_session_duration
            .filter(|seconds| *seconds != crate::model::DEFAULT_MAX_SESSION_DURATION)
            .map(i64::from),
        permissions_boundary: role.permissions_boundary.clone(),
        tags: role
            .tags
            .iter()
            .filter(|(key, _)| !tags::is_fnctl_tag(key) && !key.starts_with("aws:"))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
        inline_policy_name: policy_name.filter(|name| name != INLINE_POLICY_NAME),
    }
}

/// The kind and the one external ID of a trust policy a manifest can say:
/// fnctl's own statement (its Sid and layout aside).
fn trust_of(
    role: &LiveRole,
    accounts: &SegmentAccounts,
) -> Result<(FunctionKind, ExternalId), SkipReason> {
    let Some(document) = role.trust_policy.valid() else {
        return Err(SkipReason::TrustInvalid);
    };
    let principals: BTreeSet<String> = trust::principals(document)
        .iter()
        .map(|principal| trust::root_principal(principal))
        .collect();
    let kinds: BTreeSet<&str> = principals
        .iter()
        .filter_map(|p| accounts.kind_of(p))
        .map(FunctionKind::as_str)
        .collect();
    let kind = match (kinds.len(), kinds.contains("source")) {
        (1, true) => FunctionKind::Source,
        (1, false) => FunctionKind::Destination,
        (0, _) => return Err(SkipReason::TrustDiffers),
        _ => return Err(SkipReason::BothKinds),
    };
    let ids = trust::external_ids(document);
    if let [id] = ids.as_slice() {
        let fnctl = trust::trust_policy(accounts.account(kind), &[id.expose()]);
        if trust::same_meaning(document, &fnctl) {
            return Ok((kind, id.clone()));
        }
    }
    let statements = list(document.get("Statement")).len();
    if statements != 1 {
        return Err(SkipReason::OtherStatements { count: statements });
    }
    let segment = format!("arn:aws:iam::{}:root", accounts.account(kind));
    let others: Vec<String> = principals.into_iter().filter(|p| *p != segment).collect();
    if !others.is_empty() {
        return Err(SkipReason::OtherPrincipals { principals: others });
    }
    if let Some(operator) = external_id_operator(document) {
        return Err(SkipReason::ExternalIdOperator { operator });
    }
    match ids.len() {
        0 => Err(SkipReason::NoExternalId),
        1 => Err(SkipReason::TrustDiffers),
        count => Err(SkipReason::SeveralExternalIds { count }),
    }
}

/// An operator other than `StringEquals` that tests `sts:ExternalId`.
fn external_id_operator(document: &Value) -> Option<String> {
    list(document.get("Statement"))
        .into_iter()
        .filter_map(|statement| statement.get("Condition").and_then(Value::as_object))
        .flat_map(|conditions| conditions.iter())
        .find(|(operator, block)| {
            *operator != "StringEquals"
                && block.as_object().is_some_and(|keys| {
                    keys.keys()
                        .any(|key| key.eq_ignore_ascii_case("sts:ExternalId"))
                })
        })
        .map(|(operator, _)| operator.clone())
}

/// The statements of an inline policy as `permissions:`, when they say all
/// of it: `Version` 2012-10-17 and statements of `Sid`, `Effect`, `Action`,
/// `Resource` and `Condition` only.
fn permissions_of(name: &str, document: &LiveDocument) -> Result<Vec<PermissionSpec>, SkipReason> {
    let refuse = |why: Unsaid| SkipReason::InlinePolicy {
        name: name.to_string(),
        why,
    };
    let LiveDocument::Valid(document) = document else {
        return Err(refuse(Unsaid::Invalid));
    };
    if document.get("Version").and_then(Value::as_str) != Some("2012-10-17") {
        return Err(refuse(Unsaid::Version));
    }
    if let Some(other) = document
        .as_object()
        .and_then(|fields| fields.keys().find(|k| *k != "Version" && *k != "Statement"))
    {
        return Err(refuse(Unsaid::TopLevel {
            field: other.clone(),
        }));
    }
    list(document.get("Statement"))
        .into_iter()
        .map(|statement| permission_of(statement).map_err(&refuse))
        .collect()
}

fn permission_of(statement: &Value) -> Result<PermissionSpec, Unsaid> {
    let fields = statement.as_object().ok_or(Unsaid::NotAnObject)?;
    const SAID: [&str; 5] = ["Sid", "Effect", "Action", "Resource", "Condition"];
    if let Some(other) = fields.keys().find(|key| !SAID.contains(&key.as_str())) {
        return Err(Unsaid::Field {
            field: other.clone(),
        });
    }
    let strings = |key: &'static str| -> Result<Vec<String>, Unsaid> {
        let items: Option<Vec<String>> = list(fields.get(key))
            .into_iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect();
        items
            .filter(|items| !items.is_empty())
            .ok_or(Unsaid::NotStrings { field: key })
    };
    let effect = match fields.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err(Unsaid::Effect),
    };
    let conditions = match fields.get("Condition") {
        None => None,
        Some(Value::Object(conditions)) if !conditions.is_empty() => Some(conditions.clone()),
        Some(_) => return Err(Unsaid::Condition),
    };
    let sid = match fields.get("Sid") {
        None => None,
        Some(Value::String(sid)) if sid.is_empty() => None,
        Some(Value::String(sid)) => Some(sid.clone()),
        Some(_) => return Err(Unsaid::Sid),
    };
    Ok(PermissionSpec {
        sid,
        actions: strings("Action")?,
        resources: strings("Resource")?,
        effect,
        conditions,
    })
}

/// The Segment instance the role is linked to, and the instances it is not
/// linked to with the reason: one instance of the role's kind whose
/// external ID (as Segment shows it) the trust policy accepts.
fn link<'a>(
    kind: FunctionKind,
    external_id: &ExternalId,
    instances: &[&'a WorkspaceInstance],
) -> (Option<&'a WorkspaceInstance>, Vec<Unlinked>) {
    match instances {
        [] => (None, Vec::new()),
        [only] if only.kind != kind => (
            None,
            vec![Unlinked::OtherKind {
                id: only.id.clone(),
            }],
        ),
        [only] => {
            let holds = only
                .settings
                .get(EXTERNAL_ID_SETTING)
                .and_then(Value::as_str)
                .is_some_and(|shown| shows(shown, external_id));
            if holds {
                (Some(*only), Vec::new())
            } else {
                (
                    None,
                    vec![Unlinked::OtherExternalId {
                        id: only.id.clone(),
                    }],
                )
            }
        }
        many => (
            None,
            vec![Unlinked::SeveralInstances {
                ids: many.iter().map(|i| i.id.clone()).collect(),
            }],
        ),
    }
}

/// The `bucket:` shorthand, where the instance's `s3Bucket` and
/// `s3BucketRegion` settings name a bucket and the statements fnctl names
/// `BucketWrite`, `BucketRead`, `BucketList` are exactly what the shorthand
/// renders for it; the other statements stay `permissions`.
fn with_bucket(
    permissions: Vec<PermissionSpec>,
    settings: &Map<String, Value>,
) -> (Option<BucketSpec>, Vec<PermissionSpec>) {
    let setting = |key: &str| settings.get(key).and_then(Value::as_str);
    let (Some(name), Some(region)) = (setting("s3Bucket"), setting("s3BucketRegion")) else {
        return (None, permissions);
    };
    let is_bucket_statement = |p: &PermissionSpec| {
        matches!(
            p.sid.as_deref(),
            Some("BucketWrite" | "BucketRead" | "BucketList")
        )
    };
    let (bucket_part, rest): (Vec<PermissionSpec>, Vec<PermissionSpec>) =
        permissions.iter().cloned().partition(is_bucket_statement);
    let Some(live) = inline_policy(None, &bucket_part) else {
        return (None, permissions);
    };
    let objects = format!(
        "arn:{}:s3:::{name}/",
        crate::manifest::regions::partition_of_region(region)
    );
    let prefix = bucket_part
        .iter()
        .flat_map(|p| p.resources.iter())
        .find_map(|resource| resource.strip_prefix(&objects)?.strip_suffix('*'))
        .map(str::to_string);
    for access in [
        BucketAccess::Write,
        BucketAccess::Read,
        BucketAccess::ReadWrite,
    ] {
        let bucket = BucketSpec {
            name: name.to_string(),
            region: region.to_string(),
            prefix: prefix.clone().filter(|p| !p.is_empty()),
            access,
        };
        if inline_policy(Some(&bucket), &[]).is_some_and(|rendered| equivalent(&rendered, &live)) {
            return (Some(bucket), rest);
        }
    }
    (None, permissions)
}

/// The instance's settings a manifest carries: all but the role ARN and
/// external ID fnctl writes, values Segment masks (fnctl never reads a
/// secret back), and the bucket's when `bucket:` generates them.
fn extra_settings(settings: &Map<String, Value>, bucket: bool) -> BTreeMap<String, Value> {
    settings
        .iter()
        .filter(|(key, value)| {
            let generated = [ROLE_ARN_SETTING, EXTERNAL_ID_SETTING].contains(&key.as_str())
                || (bucket && ["s3Bucket", "s3BucketRegion"].contains(&key.as_str()));
            !generated && !is_masked(value)
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}
