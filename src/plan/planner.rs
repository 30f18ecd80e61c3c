//! The planner: a pure function from desired instances and live roles to a
//! [`Plan`]. Comparison is semantic (normalized documents), so equivalent
//! rewrites by IAM or by hand never show up as changes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::SystemTime;

use serde_json::{json, Value};

use super::external_id::{plan_external_ids, ExternalIdPlan};
use super::notice::{Notice, NoticeKind};
use super::{Action, DocumentChange, ExternalIdRef, Plan, RoleChange, Step, TrustSpec};
use crate::model::digest::{self, Aspect, Cause, Digests};
use crate::model::external_id::ExternalId;
use crate::model::operation::Operation;
use crate::model::tags;
use crate::model::time;
use crate::model::trust::{self, SENSITIVE};
use crate::model::{DesiredInstance, LiveDocument, LiveRole};
use crate::policy::normalize::{equivalent, normalize};

pub(crate) use super::external_id::bundle_external_id;

/// Choices the user makes on the command line.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Take over roles that exist without fnctl's tags.
    pub adopt: bool,
    /// Delete owned roles of the scope that no manifest names.
    pub prune: bool,
    /// The time of the run: stamps newly made external IDs, and tells
    /// whether a rotation is due.
    pub now: SystemTime,
    /// External IDs of the bundles on disk: when a trust policy lost the ID
    /// fnctl issued (its fingerprint is still in the role's tags), the plan
    /// restores it, so the running function keeps working.
    pub bundled_ids: BundledIds,
}

impl PlanOptions {
    /// The options of a read-only look (drift, verify, bundle, rotate): no
    /// adoption, no pruning, no bundles to restore from.
    pub(crate) fn read_only(now: SystemTime) -> Self {
        PlanOptions {
            adopt: false,
            prune: false,
            now,
            bundled_ids: BundledIds::default(),
        }
    }
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
    pub(crate) fn find(&self, fingerprint: &str) -> Option<&ExternalId> {
        self.0.iter().find(|id| id.fingerprint() == fingerprint)
    }
}

/// Plans one account: `desired` are the instances reconciled there, `live`
/// every role the account has.
pub(crate) fn plan(
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
pub(crate) fn live_fingerprint(role: Option<&LiveRole>) -> String {
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
    digest::sha256_hex(canonical.to_string().as_bytes(), 24)
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
    let live = digest::live(role, instance.inline_policy_name());
    let recorded = role
        .tags
        .get(tags::APPLIED)
        .and_then(|t| Digests::decode(t));
    let desired = digest::desired(instance);
    for step in steps {
        let foreign = matches!(&step.operation, Operation::DeleteInlinePolicy { policy_name, .. } if policy_name != instance.inline_policy_name());
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
        let name = instance.inline_policy_name();
        steps.push(put_inline(
            (&role, name),
            policy,
            None,
            format!("inline policy {name} grants the manifest's permissions"),
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

/// Puts `policy` as the inline policy `(role, policy name)`.
fn put_inline(
    (role, name): (&str, &str),
    policy: &Value,
    live: Option<&Value>,
    reason: String,
) -> Step {
    Step {
        operation: Operation::PutInlinePolicy {
            role: role.to_string(),
            policy_name: name.to_string(),
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

fn plan_existing(
    account: &str,
    instance: &DesiredInstance,
    role: &LiveRole,
    options: &PlanOptions,
    result: &mut Plan,
) {
    let instance = &*instance.against(role);
    let say = |kind| Notice::new(Some(&instance.name), &role.name, kind);
    if let Some(conflict) = ownership_conflict(instance, role, options) {
        result.notices.push(say(conflict));
        return;
    }
    let Some(external) = plan_external_ids(instance, role, options, &mut result.notices) else {
        return;
    };
    if let Some(kind) = rotation_notice(instance, role, &external, options) {
        result.notices.push(say(kind));
    }
    let mut steps = tag_steps(instance, role, &external, options);
    steps.extend(trust_step(instance, role, &external));
    steps.extend(settings_step(instance, role));
    steps.extend(boundary_step(instance, role));
    steps.extend(inline_steps(instance, role));
    steps.extend(managed_policy_steps(instance, role));
    if steps.is_empty() {
        result.unchanged.push(instance.name.clone());
        return;
    }
    label_causes(&mut steps, instance, role);
    let action = match role.fnctl_scope() {
        Some(_) => Action::Update,
        None => Action::Adopt,
    };
    result.changes.push(RoleChange {
        instance: Some(instance.name.clone()),
        role: role.name.clone(),
        account: account.to_string(),
        action,
        steps,
        live_fingerprint: live_fingerprint(Some(role)),
    });
}

/// Why fnctl must leave the role alone, when it must: another scope owns
/// it, it is not fnctl's and `--adopt` was not given, or it is at another
/// path than the manifest's (IAM cannot move a role).
fn ownership_conflict(
    instance: &DesiredInstance,
    role: &LiveRole,
    options: &PlanOptions,
) -> Option<NoticeKind> {
    let scope = role.fnctl_scope();
    if let Some(owner) = scope.filter(|owner| *owner != instance.scope) {
        return Some(NoticeKind::OtherScope {
            owner: owner.to_string(),
            scope: instance.scope.clone(),
        });
    }
    if scope.is_none() && !options.adopt {
        return Some(NoticeKind::UnmanagedRole {
            scope: instance.scope.clone(),
        });
    }
    (role.path != instance.role_path).then(|| NoticeKind::RolePathDiffers {
        live: role.path.clone(),
        desired: instance.role_path.clone(),
    })
}

/// A rotation in progress, or one due by `rotateAfterDays` (or that fnctl
/// cannot tell, the ID's creation tag holding no time).
fn rotation_notice(
    instance: &DesiredInstance,
    role: &LiveRole,
    external: &ExternalIdPlan,
    options: &PlanOptions,
) -> Option<NoticeKind> {
    if external.pending_fingerprint.is_some() {
        return Some(NoticeKind::RotationInProgress);
    }
    match trust::is_due(role, instance.rotate_after_days, options.now) {
        Ok(due) => due.then(|| NoticeKind::RotationDue {
            days: instance.rotate_after_days.unwrap_or_default(),
        }),
        Err(unreadable) => Some(NoticeKind::UnreadableTagTime(unreadable)),
    }
}

/// Description and session duration, when either differs. A role read
/// without ListRoles (an offline snapshot) has unknown settings: left be.
fn settings_step(instance: &DesiredInstance, role: &LiveRole) -> Option<Step> {
    role.max_session_duration?;
    let description_differs = role.description.as_deref().unwrap_or("") != instance.description;
    let duration_differs = role.max_session_duration != Some(instance.max_session_duration);
    let what = match (description_differs, duration_differs) {
        (false, false) => return None,
        (true, true) => "description and max session duration differ",
        (true, false) => "description differs",
        (false, true) => "max session duration differs",
    };
    Some(Step {
        operation: Operation::UpdateRole {
            role: role.name.clone(),
            description: instance.description.clone(),
            max_session_duration: instance.max_session_duration,
        },
        reason: format!("{what} from the manifest"),
        document: None,
        cause: None,
    })
}

/// The permissions boundary put or removed, when it differs.
fn boundary_step(instance: &DesiredInstance, role: &LiveRole) -> Option<Step> {
    let (operation, reason) = match (&instance.permissions_boundary, &role.permissions_boundary) {
        (Some(want), have) if have.as_ref() != Some(want) => (
            Operation::PutPermissionsBoundary {
                role: role.name.clone(),
                policy_arn: want.clone(),
            },
            match have {
                Some(other) => format!("permissions boundary is {other}, the manifest says {want}"),
                None => "permissions boundary is missing".into(),
            },
        ),
        (None, Some(have)) => (
            Operation::DeletePermissionsBoundary {
                role: role.name.clone(),
            },
            format!("permissions boundary {have} is not in the manifest"),
        ),
        _ => return None,
    };
    Some(Step {
        operation,
        reason,
        document: None,
        cause: None,
    })
}

/// Managed policies attached as the manifest lists them, and detached when
/// attached out of band.
fn managed_policy_steps(instance: &DesiredInstance, role: &LiveRole) -> Vec<Step> {
    let step = |operation, reason: &str| Step {
        operation,
        reason: reason.into(),
        document: None,
        cause: None,
    };
    let attach = instance
        .managed_policies
        .difference(&role.attached_policies)
        .map(|arn| {
            step(
                Operation::AttachManagedPolicy {
                    role: role.name.clone(),
                    policy_arn: arn.clone(),
                },
                "managed policy listed in the manifest is not attached",
            )
        });
    let detach = role
        .attached_policies
        .difference(&instance.managed_policies)
        .map(|arn| {
            step(
                Operation::DetachManagedPolicy {
                    role: role.name.clone(),
                    policy_arn: arn.clone(),
                },
                "managed policy attached out of band",
            )
        });
    attach.chain(detach).collect()
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
            .unwrap_or_else(|| time::to_text(options.now));
        desired.insert(tags::EXTERNAL_ID_CREATED.into(), created);
    }
    // The Segment instance apply recorded is apply's functions step's own.
    if let Some(id) = role.tags.get(tags::SEGMENT_INSTANCE) {
        desired.insert(tags::SEGMENT_INSTANCE.into(), id.clone());
    }
    if let Some(fingerprint) = &external.pending_fingerprint {
        desired.insert(tags::ROTATION_PENDING.into(), fingerprint.clone());
        if let Some(started) = role.tags.get(tags::ROTATION_STARTED) {
            desired.insert(tags::ROTATION_STARTED.into(), started.clone());
        }
        // When Segment took the new ID: `rotate` owns it for the rotation's life.
        if let Some(delivered) = role.tags.get(tags::SEGMENT_DELIVERED) {
            desired.insert(tags::SEGMENT_DELIVERED.into(), delivered.clone());
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
    let untag = (!removed.is_empty()).then(|| Step {
        operation: Operation::UntagRole {
            role: role.name.clone(),
            keys: removed.clone(),
        },
        reason: format!("tag(s) not in the manifest: {}", removed.join(", ")),
        document: None,
        cause: None,
    });
    let tag = (!changed.is_empty()).then(|| {
        let described: Vec<String> = changed
            .keys()
            .map(|key| match role.tags.get(key) {
                None => format!("{key} missing"),
                Some(_) => format!("{key} differs"),
            })
            .collect();
        Step {
            operation: Operation::TagRole {
                role: role.name.clone(),
                tags: changed,
            },
            reason: format!("tags: {}", described.join(", ")),
            document: None,
            cause: None,
        }
    });
    // Untagging first keeps a role near IAM's 50 tags within it. But when
    // it drops the tag naming an external ID, the new record is written
    // first: a run killed in between must leave some tag naming the ID a
    // bundle holds, or the next run has nothing to restore it from.
    let drops_a_record = removed
        .iter()
        .any(|key| key == tags::EXTERNAL_ID || key == tags::ROTATION_PENDING);
    if drops_a_record {
        tag.into_iter().chain(untag).collect()
    } else {
        untag.into_iter().chain(tag).collect()
    }
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
            if trust::same_meaning(live, &desired_document) {
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
    let name = instance.inline_policy_name();
    let live = role.inline_policies.get(name);
    let target = (role.name.as_str(), name);
    match (&instance.inline_policy, live) {
        (Some(want), None) => steps.push(put_inline(
            target,
            want,
            None,
            format!("inline policy {name} is missing"),
        )),
        (Some(want), Some(LiveDocument::Invalid(reason))) => steps.push(put_inline(
            target,
            want,
            None,
            format!("inline policy {name} is not a valid policy document ({reason})"),
        )),
        (Some(want), Some(LiveDocument::Valid(have))) if !equivalent(want, have) => {
            steps.push(put_inline(
                target,
                want,
                Some(have),
                format!("inline policy {name} differs from the manifest"),
            ));
        }
        (None, Some(document)) => steps.push(Step {
            operation: Operation::DeleteInlinePolicy {
                role: role.name.clone(),
                policy_name: name.into(),
            },
            reason: format!("the manifest grants nothing inline; {name} is removed"),
            document: Some(DocumentChange {
                live: document.valid().cloned(),
                desired: None,
            }),
            cause: None,
        }),
        _ => {}
    }
    for (other, document) in &role.inline_policies {
        if other != name {
            steps.push(Step {
                operation: Operation::DeleteInlinePolicy {
                    role: role.name.clone(),
                    policy_name: other.clone(),
                },
                reason: format!("foreign inline policy {other}, added out of band"),
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
            result.notices.push(Notice::new(
                instance.as_deref(),
                &role.name,
                NoticeKind::OrphanedRole {
                    scope: role.tags.get(tags::SCOPE).cloned().unwrap_or_default(),
                },
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
