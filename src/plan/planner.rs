//! The planner: a pure function from desired instances and live roles to a
//! [`Plan`]. Comparison is semantic (normalized documents), so equivalent
//! rewrites by IAM or by hand never show up as changes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{
    Action, DocumentChange, ExternalIdRef, Notice, NoticeLevel, Plan, RoleChange, Step, TrustSpec,
};
use crate::model::digest::{self, Aspect, Cause, Digests};
use crate::model::external_id::{self, ExternalId};
use crate::model::operation::Operation;
use crate::model::tags;
use crate::model::trust::{self, SENSITIVE};
use crate::model::{DesiredInstance, LiveDocument, LiveRole, INLINE_POLICY_NAME};
use crate::policy::normalize::{equivalent, normalize};

/// Choices the user makes on the command line.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Take over roles that exist without fnctl's tags.
    pub adopt: bool,
    /// Delete owned roles of the scope that no manifest names.
    pub prune: bool,
    /// The time of the run, RFC 3339: stamps newly made external IDs.
    pub now: String,
    /// External IDs of the bundles on disk: when a trust policy lost the ID
    /// fnctl issued (its fingerprint is still in the role's tags), the plan
    /// restores it, so the running function keeps working.
    pub bundled_ids: BundledIds,
}

/// External IDs read from bundles. Secrets: `Debug` never shows them.
#[derive(Clone, Default)]
pub struct BundledIds(pub Vec<ExternalId>);

impl std::fmt::Debug for BundledIds {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "BundledIds({} (sensitive))", self.0.len())
    }
}

impl BundledIds {
    /// The bundled ID with this fingerprint.
    pub fn find(&self, fingerprint: &str) -> Option<&ExternalId> {
        self.0.iter().find(|id| id.fingerprint() == fingerprint)
    }
}

/// Plans one account: `desired` are the instances reconciled there, `live`
/// every role the account has.
pub fn plan(
    account: &str,
    desired: &[DesiredInstance],
    live: &[LiveRole],
    options: &PlanOptions,
) -> Plan {
    let mut result = Plan::default();
    let by_name: HashMap<String, &LiveRole> = live
        .iter()
        .map(|role| (role.name.to_ascii_lowercase(), role))
        .collect();
    for instance in desired {
        match by_name.get(&instance.role_name.to_ascii_lowercase()) {
            None => result.changes.push(create(account, instance)),
            Some(role) => plan_existing(account, instance, role, options, &mut result),
        }
    }
    plan_orphans(account, desired, live, options, &mut result);
    result
}

/// A stable fingerprint of everything the plan read about a role.
pub fn live_fingerprint(role: Option<&LiveRole>) -> String {
    let Some(role) = role else {
        return "absent".into();
    };
    let document = |d: &LiveDocument| match d {
        LiveDocument::Valid(value) => normalize(value),
        LiveDocument::Invalid(reason) => json!({ "invalid": reason }),
    };
    let canonical = json!({
        "path": role.path,
        "description": role.description,
        "maxSessionDuration": role.max_session_duration,
        "trust": document(&role.trust_policy),
        "inline": role.inline_policies.iter().map(|(k, v)| (k.clone(), document(v))).collect::<BTreeMap<_, _>>(),
        "attached": role.attached_policies,
        "boundary": role.permissions_boundary,
        "tags": role.tags,
    });
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

fn ownership_tags(instance: &DesiredInstance) -> BTreeMap<String, String> {
    let mut desired = instance.tags.clone();
    desired.insert(tags::MANAGED_BY.into(), tags::MANAGED_BY_VALUE.into());
    desired.insert(tags::SCOPE.into(), instance.scope.clone());
    desired.insert(tags::INSTANCE.into(), instance.name.clone());
    desired.insert(tags::APPLIED.into(), digest::desired(instance).encode());
    desired
}

/// The aspect a step changes, for labelling it drift or pending; `None` for
/// fnctl's own bookkeeping.
fn aspect_of(step: &Step) -> Option<Aspect> {
    match &step.operation {
        Operation::UpdateTrustPolicy { .. } => Some(Aspect::Trust),
        Operation::PutInlinePolicy { .. } | Operation::DeleteInlinePolicy { .. } => {
            Some(Aspect::Permissions)
        }
        Operation::AttachManagedPolicy { .. } | Operation::DetachManagedPolicy { .. } => {
            Some(Aspect::Managed)
        }
        Operation::PutPermissionsBoundary { .. } | Operation::DeletePermissionsBoundary { .. } => {
            Some(Aspect::Boundary)
        }
        Operation::UpdateRole { .. } => Some(Aspect::Settings),
        Operation::TagRole { tags: changed, .. } => changed
            .keys()
            .any(|k| !tags::is_fnctl_tag(k))
            .then_some(Aspect::Tags),
        Operation::UntagRole { keys, .. } => keys
            .iter()
            .any(|k| !tags::is_fnctl_tag(k))
            .then_some(Aspect::Tags),
        Operation::CreateRole { .. } | Operation::DeleteRole { .. } => None,
    }
}

/// Labels each step of an existing role as drift or a pending manifest change.
fn label_causes(steps: &mut [Step], instance: &DesiredInstance, role: &LiveRole) {
    let live = digest::live(role);
    let recorded = role
        .tags
        .get(tags::APPLIED)
        .and_then(|t| Digests::decode(t));
    let desired = digest::desired(instance);
    for step in steps {
        let foreign = matches!(&step.operation, Operation::DeleteInlinePolicy { policy_name, .. } if policy_name != INLINE_POLICY_NAME);
        step.cause = if foreign {
            Some(Cause::Drift)
        } else {
            aspect_of(step).map(|aspect| digest::cause(aspect, &live, recorded.as_ref(), &desired))
        };
    }
}

fn create(account: &str, instance: &DesiredInstance) -> RoleChange {
    let trust = TrustSpec {
        segment_account: instance.segment_account.clone(),
        external_ids: vec![ExternalIdRef::Generate],
    };
    let role = instance.role_name.clone();
    let mut steps = vec![Step {
        document: Some(DocumentChange { live: None, desired: Some(trust.redacted_document()) }),
        cause: None,
        operation: Operation::CreateRole {
            role: role.clone(),
            path: instance.role_path.clone(),
            description: instance.description.clone(),
            max_session_duration: instance.max_session_duration,
            trust_policy: trust,
            permissions_boundary: instance.permissions_boundary.clone(),
            // The external-ID tags are added by apply once the ID exists.
            tags: ownership_tags(instance),
        },
        reason: format!("role does not exist; created with a new external ID (sensitive) for Segment account {}", instance.segment_account),
    }];
    if let Some(policy) = &instance.inline_policy {
        steps.push(put_inline(
            &role,
            policy,
            None,
            format!("inline policy {INLINE_POLICY_NAME} grants the manifest's permissions"),
        ));
    }
    for arn in &instance.managed_policies {
        steps.push(Step {
            operation: Operation::AttachManagedPolicy {
                role: role.clone(),
                policy_arn: arn.clone(),
            },
            reason: "managed policy listed in the manifest".into(),
            document: None,
            cause: None,
        });
    }
    RoleChange {
        instance: Some(instance.name.clone()),
        role,
        account: account.to_string(),
        action: Action::Create,
        steps,
        live_fingerprint: live_fingerprint(None),
    }
}

fn put_inline(role: &str, policy: &Value, live: Option<&Value>, reason: String) -> Step {
    Step {
        operation: Operation::PutInlinePolicy {
            role: role.to_string(),
            policy_name: INLINE_POLICY_NAME.into(),
            document: policy.clone(),
        },
        reason,
        document: Some(DocumentChange {
            live: live.cloned(),
            desired: Some(policy.clone()),
        }),
        cause: None,
    }
}

fn notice(
    level: NoticeLevel,
    code: &str,
    instance: Option<&str>,
    role: &str,
    message: String,
    hint: Option<&str>,
) -> Notice {
    Notice {
        level,
        code: code.into(),
        instance: instance.map(str::to_string),
        role: role.to_string(),
        message,
        hint: hint.map(str::to_string),
    }
}

fn plan_existing(
    account: &str,
    instance: &DesiredInstance,
    role: &LiveRole,
    options: &PlanOptions,
    result: &mut Plan,
) {
    let name = Some(instance.name.as_str());
    let scope = role.fnctl_scope();
    if scope.is_some_and(|s| s != instance.scope) {
        result.notices.push(notice(
            NoticeLevel::Conflict,
            "other-scope",
            name,
            &role.name,
            format!("role {} belongs to fnctl scope `{}`, not `{}`", role.name, scope.unwrap_or(""), instance.scope),
            Some("rename the role in this manifest (role.name) or move the instance to that scope; fnctl never changes another scope's roles"),
        ));
        return;
    }
    let owned = scope.is_some();
    if !owned && !options.adopt {
        result.notices.push(notice(
            NoticeLevel::Conflict,
            "unmanaged-role",
            name,
            &role.name,
            format!("role {} exists but fnctl does not manage it (no fnctl tags for scope `{}`)", role.name, instance.scope),
            Some("run `fnctl apply --adopt` to take over this role; the external ID in its trust policy is kept"),
        ));
        return;
    }
    if role.path != instance.role_path {
        result.notices.push(notice(
            NoticeLevel::Conflict,
            "role-path-differs",
            name,
            &role.name,
            format!("role {} is at path {} but the manifest says {}; IAM cannot move a role", role.name, role.path, instance.role_path),
            Some("set defaults.rolePath to the role's path, or delete the role so fnctl recreates it"),
        ));
        return;
    }
    let mut steps = Vec::new();
    let Some(external) = plan_external_ids(instance, role, options, &mut result.notices) else {
        return;
    };
    if external.pending_fingerprint.is_some() {
        result.notices.push(notice(
            NoticeLevel::Info,
            "rotation-in-progress",
            name,
            &role.name,
            "an external ID rotation is in progress: both IDs are accepted".into(),
            Some("`fnctl rotate NAME --finish` once every function uses the new bundle"),
        ));
    } else if crate::model::trust::is_due(role, instance.rotate_after_days, &options.now) {
        result.notices.push(notice(
            NoticeLevel::Info,
            "rotation-due",
            name,
            &role.name,
            format!(
                "the external ID is older than rotateAfterDays ({} days)",
                instance.rotate_after_days.unwrap_or_default()
            ),
            Some("`fnctl rotate --due --start`"),
        ));
    }
    steps.extend(tag_steps(instance, role, &external, options));
    steps.extend(trust_step(instance, role, &external));
    // A role read without ListRoles (an offline snapshot) has unknown settings: leave them be.
    let description_differs = role.description.as_deref().unwrap_or("") != instance.description;
    let duration_differs = role.max_session_duration != Some(instance.max_session_duration);
    if role.max_session_duration.is_some() && (description_differs || duration_differs) {
        let what = match (description_differs, duration_differs) {
            (true, true) => "description and max session duration differ",
            (true, false) => "description differs",
            _ => "max session duration differs",
        };
        steps.push(Step {
            operation: Operation::UpdateRole {
                role: role.name.clone(),
                description: instance.description.clone(),
                max_session_duration: instance.max_session_duration,
            },
            reason: format!("{what} from the manifest"),
            document: None,
            cause: None,
        });
    }
    match (&instance.permissions_boundary, &role.permissions_boundary) {
        (Some(want), have) if have.as_ref() != Some(want) => steps.push(Step {
            operation: Operation::PutPermissionsBoundary {
                role: role.name.clone(),
                policy_arn: want.clone(),
            },
            reason: match have {
                Some(other) => format!("permissions boundary is {other}, the manifest says {want}"),
                None => "permissions boundary is missing".into(),
            },
            document: None,
            cause: None,
        }),
        (None, Some(have)) => steps.push(Step {
            operation: Operation::DeletePermissionsBoundary {
                role: role.name.clone(),
            },
            reason: format!("permissions boundary {have} is not in the manifest"),
            document: None,
            cause: None,
        }),
        _ => {}
    }
    steps.extend(inline_steps(instance, role));
    for arn in instance
        .managed_policies
        .difference(&role.attached_policies)
    {
        steps.push(Step {
            operation: Operation::AttachManagedPolicy {
                role: role.name.clone(),
                policy_arn: arn.clone(),
            },
            reason: "managed policy listed in the manifest is not attached".into(),
            document: None,
            cause: None,
        });
    }
    for arn in role
        .attached_policies
        .difference(&instance.managed_policies)
    {
        steps.push(Step {
            operation: Operation::DetachManagedPolicy {
                role: role.name.clone(),
                policy_arn: arn.clone(),
            },
            reason: "managed policy attached out of band".into(),
            document: None,
            cause: None,
        });
    }
    if steps.is_empty() {
        result.unchanged.push(instance.name.clone());
        return;
    }
    label_causes(&mut steps, instance, role);
    let action = if owned { Action::Update } else { Action::Adopt };
    result.changes.push(RoleChange {
        instance: Some(instance.name.clone()),
        role: role.name.clone(),
        account: account.to_string(),
        action,
        steps,
        live_fingerprint: live_fingerprint(Some(role)),
    });
}

/// The external IDs the role keeps, decided from its live trust policy and tags.
struct ExternalIdPlan {
    /// References in trust-policy order: current first, then a pending rotation ID.
    refs: Vec<ExternalIdRef>,
    /// Fingerprint of the current ID when it already exists.
    current_fingerprint: Option<String>,
    /// Whether the current ID is the one the tags recorded.
    current_is_recorded: bool,
    /// Fingerprint of the pending rotation ID, when a rotation is in progress.
    pending_fingerprint: Option<String>,
    /// The IDs the live trust policy accepts: secrets, for comparison only, never output.
    live_ids: Vec<ExternalId>,
}

fn plan_external_ids<'a>(
    instance: &DesiredInstance,
    role: &LiveRole,
    options: &'a PlanOptions,
    notices: &mut Vec<Notice>,
) -> Option<ExternalIdPlan> {
    let name = Some(instance.name.as_str());
    let state = trust::id_state(role);
    let mut live_ids = state.ids.clone();
    let recorded = state.recorded.as_ref();
    let mut pending = state.pending.as_ref();
    let mut current = recorded;
    // The recorded ID is gone but the pending one is there: a `rotate --finish`
    // was interrupted after the trust update. The pending ID is now current.
    if current.is_none() && pending.is_some() {
        current = pending.take();
    }
    // The ID fnctl issued is gone from the trust policy, but a bundle on disk
    // still holds it: put it back rather than lock the running function out.
    let restored: Option<&'a ExternalId> = match (current, role.tags.get(tags::EXTERNAL_ID)) {
        (None, Some(fingerprint)) => options.bundled_ids.find(fingerprint),
        _ => None,
    };
    if let Some(id) = restored {
        notices.push(notice(
            NoticeLevel::Warning,
            "external-id-restored",
            name,
            &role.name,
            "the trust policy lost the external ID fnctl issued; apply restores it from the bundle, so the running function keeps working".into(),
            None,
        ));
        live_ids.push(id.clone());
    }
    let live_ids_for_refs = live_ids.clone();
    let mut current: Option<&ExternalId> =
        current.or(restored.and_then(|id| live_ids_for_refs.iter().find(|known| *known == id)));
    if current.is_none() {
        let candidates: Vec<&ExternalId> =
            live_ids.iter().filter(|id| Some(*id) != pending).collect();
        if candidates.len() == 1 {
            current = Some(candidates[0]);
            if role.tags.contains_key(tags::EXTERNAL_ID) {
                notices.push(notice(
                    NoticeLevel::Warning,
                    "external-id-changed",
                    name,
                    &role.name,
                    "the external ID in the trust policy is not the one fnctl issued; it is kept and written to the bundle".into(),
                    Some("update the function's iamRoleExternalId setting from the new bundle, or rotate the ID"),
                ));
            }
        }
    }
    let mut refs = Vec::new();
    match current {
        Some(id) => {
            refs.push(ExternalIdRef::Existing {
                fingerprint: id.fingerprint(),
            });
            if id.len() < external_id::RECOMMENDED_MINIMUM {
                notices.push(notice(
                    NoticeLevel::Warning,
                    "weak-external-id",
                    name,
                    &role.name,
                    format!(
                        "the external ID has {} characters; Segment recommends at least {}",
                        id.len(),
                        external_id::RECOMMENDED_MINIMUM
                    ),
                    Some("rotate it: `fnctl rotate NAME --start`, then `--finish`"),
                ));
            }
        }
        None if live_ids.is_empty() || live_ids.len() == pending.iter().count() => {
            refs.push(ExternalIdRef::Generate);
            notices.push(notice(
                NoticeLevel::Warning,
                "new-external-id",
                name,
                &role.name,
                "the trust policy has no external ID fnctl can keep; apply makes a new one, so the function's settings must be updated from the new bundle".into(),
                None,
            ));
        }
        None if live_ids.iter().filter(|id| Some(*id) != pending).count() > 2 => {
            // fnctl never writes a trust policy with more than two IDs, and
            // cannot tell which of these the function uses.
            notices.push(notice(
                NoticeLevel::Conflict,
                "ambiguous-external-id",
                name,
                &role.name,
                format!("the trust policy accepts {} external IDs and none is recorded as current; fnctl cannot tell which one the function uses", live_ids.len()),
                Some("remove the IDs no function uses from the trust policy, then run apply again"),
            ));
            return None;
        }
        None => {
            // Two IDs and none recorded: keep both rather than lock out a running function.
            refs.extend(live_ids.iter().filter(|id| Some(*id) != pending).map(|id| {
                ExternalIdRef::Existing {
                    fingerprint: id.fingerprint(),
                }
            }));
            notices.push(notice(
                NoticeLevel::Warning,
                "ambiguous-external-id",
                name,
                &role.name,
                format!("the trust policy accepts {} external IDs and none is recorded as current; all are kept", live_ids.len()),
                Some("rotate to a single fnctl-issued ID: `fnctl rotate NAME --start`, then `--finish`"),
            ));
        }
    }
    if let Some(id) = pending {
        refs.push(ExternalIdRef::Existing {
            fingerprint: id.fingerprint(),
        });
    }
    Some(ExternalIdPlan {
        current_fingerprint: current.map(|id| id.fingerprint()),
        current_is_recorded: recorded.is_some() && current == recorded,
        pending_fingerprint: pending.map(|id| id.fingerprint()),
        refs,
        live_ids,
    })
}

fn tag_steps(
    instance: &DesiredInstance,
    role: &LiveRole,
    external: &ExternalIdPlan,
    options: &PlanOptions,
) -> Vec<Step> {
    let mut desired = ownership_tags(instance);
    if let Some(fingerprint) = &external.current_fingerprint {
        desired.insert(tags::EXTERNAL_ID.into(), fingerprint.clone());
        let created = role
            .tags
            .get(tags::EXTERNAL_ID_CREATED)
            .filter(|_| external.current_is_recorded)
            .cloned()
            .unwrap_or_else(|| options.now.clone());
        desired.insert(tags::EXTERNAL_ID_CREATED.into(), created);
    }
    if let Some(fingerprint) = &external.pending_fingerprint {
        desired.insert(tags::ROTATION_PENDING.into(), fingerprint.clone());
        if let Some(started) = role.tags.get(tags::ROTATION_STARTED) {
            desired.insert(tags::ROTATION_STARTED.into(), started.clone());
        }
    }
    let changed: BTreeMap<String, String> = desired
        .iter()
        .filter(|(key, value)| role.tags.get(*key) != Some(value))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let removed: Vec<String> = role
        .tags
        .keys()
        // A rotation's lease belongs to the run holding it, not to apply.
        .filter(|key| !desired.contains_key(*key) && !key.starts_with("aws:") && *key != tags::LOCK)
        .cloned()
        .collect();
    let mut steps = Vec::new();
    if !removed.is_empty() {
        steps.push(Step {
            operation: Operation::UntagRole {
                role: role.name.clone(),
                keys: removed.clone(),
            },
            reason: format!("tag(s) not in the manifest: {}", removed.join(", ")),
            document: None,
            cause: None,
        });
    }
    if !changed.is_empty() {
        let described: Vec<String> = changed
            .keys()
            .map(|key| match role.tags.get(key) {
                None => format!("{key} missing"),
                Some(_) => format!("{key} differs"),
            })
            .collect();
        steps.push(Step {
            operation: Operation::TagRole {
                role: role.name.clone(),
                tags: changed,
            },
            reason: format!("tags: {}", described.join(", ")),
            document: None,
            cause: None,
        });
    }
    steps
}

fn trust_step(
    instance: &DesiredInstance,
    role: &LiveRole,
    external: &ExternalIdPlan,
) -> Option<Step> {
    let spec = TrustSpec {
        segment_account: instance.segment_account.clone(),
        external_ids: external.refs.clone(),
    };
    let generates = spec.external_ids.contains(&ExternalIdRef::Generate);
    // With the actual IDs the comparison is exact; the plan itself keeps only references.
    let known_ids: Vec<&str> = external
        .refs
        .iter()
        .filter_map(|r| match r {
            ExternalIdRef::Existing { fingerprint } => external
                .live_ids
                .iter()
                .find(|id| id.fingerprint() == *fingerprint)
                .map(ExternalId::expose),
            ExternalIdRef::Generate => None,
        })
        .collect();
    let desired_document = trust::trust_policy(&instance.segment_account, &known_ids);
    if !generates {
        if let Some(live) = role.trust_policy.valid() {
            if equivalent(live, &desired_document) {
                return None;
            }
        }
    }
    Some(Step {
        operation: Operation::UpdateTrustPolicy {
            role: role.name.clone(),
            trust_policy: spec.clone(),
        },
        reason: trust::describe_difference(&role.trust_policy, &desired_document),
        document: Some(DocumentChange {
            live: role.trust_policy.valid().map(|live| {
                trust::redact_with(live, &|id| {
                    let kept = spec.external_ids.contains(&ExternalIdRef::Existing {
                        fingerprint: ExternalId::new(id).fingerprint(),
                    });
                    if kept {
                        SENSITIVE.to_string()
                    } else {
                        format!("{SENSITIVE} removed")
                    }
                })
            }),
            desired: Some(spec.redacted_document()),
        }),
        cause: None,
    })
}

fn inline_steps(instance: &DesiredInstance, role: &LiveRole) -> Vec<Step> {
    let mut steps = Vec::new();
    let live = role.inline_policies.get(INLINE_POLICY_NAME);
    match (&instance.inline_policy, live) {
        (Some(want), None) => steps.push(put_inline(
            &role.name,
            want,
            None,
            format!("inline policy {INLINE_POLICY_NAME} is missing"),
        )),
        (Some(want), Some(LiveDocument::Invalid(reason))) => steps.push(put_inline(
            &role.name,
            want,
            None,
            format!("inline policy {INLINE_POLICY_NAME} is not a valid policy document ({reason})"),
        )),
        (Some(want), Some(LiveDocument::Valid(have))) if !equivalent(want, have) => {
            steps.push(put_inline(
                &role.name,
                want,
                Some(have),
                format!("inline policy {INLINE_POLICY_NAME} differs from the manifest"),
            ));
        }
        (None, Some(document)) => steps.push(Step {
            operation: Operation::DeleteInlinePolicy {
                role: role.name.clone(),
                policy_name: INLINE_POLICY_NAME.into(),
            },
            reason: format!("the manifest grants nothing inline; {INLINE_POLICY_NAME} is removed"),
            document: Some(DocumentChange {
                live: document.valid().cloned(),
                desired: None,
            }),
            cause: None,
        }),
        _ => {}
    }
    for (name, document) in &role.inline_policies {
        if name != INLINE_POLICY_NAME {
            steps.push(Step {
                operation: Operation::DeleteInlinePolicy {
                    role: role.name.clone(),
                    policy_name: name.clone(),
                },
                reason: format!("foreign inline policy {name}, added out of band"),
                document: Some(DocumentChange {
                    live: document.valid().cloned(),
                    desired: None,
                }),
                cause: None,
            });
        }
    }
    steps
}

fn plan_orphans(
    account: &str,
    desired: &[DesiredInstance],
    live: &[LiveRole],
    options: &PlanOptions,
    result: &mut Plan,
) {
    let scopes: HashSet<&str> = desired.iter().map(|i| i.scope.as_str()).collect();
    let named: HashSet<String> = desired
        .iter()
        .map(|i| i.role_name.to_ascii_lowercase())
        .collect();
    for role in live {
        let in_scope = role.fnctl_scope().is_some_and(|s| scopes.contains(s));
        if !in_scope || named.contains(&role.name.to_ascii_lowercase()) {
            continue;
        }
        let instance = role.tags.get(tags::INSTANCE).cloned();
        if !options.prune {
            result.notices.push(notice(
                NoticeLevel::Info,
                "orphaned-role",
                instance.as_deref(),
                &role.name,
                format!(
                    "role {} of scope `{}` is named by no manifest",
                    role.name,
                    role.tags.get(tags::SCOPE).map_or("", |s| s.as_str())
                ),
                Some("`fnctl apply --prune` deletes it"),
            ));
            continue;
        }
        let mut steps = Vec::new();
        for (name, document) in &role.inline_policies {
            steps.push(Step {
                operation: Operation::DeleteInlinePolicy {
                    role: role.name.clone(),
                    policy_name: name.clone(),
                },
                reason: "the role is pruned".into(),
                document: Some(DocumentChange {
                    live: document.valid().cloned(),
                    desired: None,
                }),
                cause: None,
            });
        }
        let attached: BTreeSet<&String> = role.attached_policies.iter().collect();
        for arn in attached {
            steps.push(Step {
                operation: Operation::DetachManagedPolicy {
                    role: role.name.clone(),
                    policy_arn: arn.clone(),
                },
                reason: "the role is pruned".into(),
                document: None,
                cause: None,
            });
        }
        steps.push(Step {
            operation: Operation::DeleteRole {
                role: role.name.clone(),
            },
            reason: "owned by this scope and named by no manifest (--prune)".into(),
            document: None,
            cause: None,
        });
        result.changes.push(RoleChange {
            instance,
            role: role.name.clone(),
            account: account.to_string(),
            action: Action::Delete,
            steps,
            live_fingerprint: live_fingerprint(Some(role)),
        });
    }
}
