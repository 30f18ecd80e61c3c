//! The external-ID decisions: which IDs a role's trust policy keeps, which
//! come back from a bundle on disk, and which ID a role's bundle carries.
//! Why each outcome is right is the table in `external_id_table_tests.rs`.

use super::notice::{Changed, Notice, NoticeKind, Restored};
use super::planner::{BundledIds, PlanOptions};
use super::{ExternalIdRef, RoleChange};
use crate::model::external_id::{self, ExternalId};
use crate::model::operation::Operation;
use crate::model::trust::{self, IdState};
use crate::model::{tags, DesiredInstance, LiveRole};

/// The external IDs the role keeps, decided from its live trust policy and tags.
pub(super) struct ExternalIdPlan {
    /// References in trust-policy order: current first, then a pending rotation ID.
    pub(super) refs: Vec<ExternalIdRef>,
    /// Fingerprint of the current ID when it already exists.
    pub(super) current_fingerprint: Option<String>,
    /// Whether the current ID is the one the tags recorded.
    pub(super) current_is_recorded: bool,
    /// Fingerprint of the pending rotation ID, when a rotation is in progress.
    pub(super) pending_fingerprint: Option<String>,
    /// The IDs the live trust policy accepts, and those restored from
    /// bundles: secrets, for comparison only, never output.
    pub(super) live_ids: Vec<ExternalId>,
}

/// Decides which external IDs the role keeps. The rules, and why each is
/// right, are the table in `external_id_table_tests.rs`; in short: an ID
/// fnctl's tags name that the trust policy lost comes back when a bundle on
/// disk holds it (a function configured from that bundle uses it); an ID
/// the trust policy accepts is never dropped by apply when it may be the
/// one a function uses, only strangers beside fnctl's own IDs are; and what
/// cannot be restored is said out loud. `None` (with a conflict notice) when
/// fnctl cannot tell which ID a function uses.
pub(super) fn plan_external_ids(
    instance: &DesiredInstance,
    role: &LiveRole,
    options: &PlanOptions,
    notices: &mut Vec<Notice>,
) -> Option<ExternalIdPlan> {
    let mut say = |kind| notices.push(Notice::new(Some(&instance.name), &role.name, kind));
    let state = trust::id_state(role);
    let restored = Recovered::from_bundles(&state, &options.bundled_ids);
    // A bundle holding the new ID the tag names means `rotate --start` went
    // all the way: the ID in its place is not the winner of a race but a
    // stranger, and the one the bundle holds is the rotation's.
    let mut pending = restored.pending.clone().or(state.pending.clone());
    let mut current = state.recorded.clone().or(restored.current.clone());
    restoration_notices(&state, &restored, pending.is_some())
        .into_iter()
        .for_each(&mut say);
    // IDs the trust policy accepts besides the rotation's new one: when none
    // is recorded as current, one of them may be what the function uses.
    let candidates: Vec<&ExternalId> = state
        .ids
        .iter()
        .filter(|id| Some(*id) != pending.as_ref())
        .collect();
    if current.is_none() {
        let (chosen, notice) = current_from_trust(role, &candidates, &mut pending);
        current = chosen;
        notice.into_iter().for_each(&mut say);
    }
    let (mut refs, notice) = match &current {
        Some(id) => kept_current(id),
        None => match unrecorded(&candidates, pending.is_some(), state.ids.len()) {
            Ok(decided) => decided,
            Err(conflict) => {
                say(conflict);
                return None;
            }
        },
    };
    notice.into_iter().for_each(&mut say);
    if let Some(id) = &pending {
        refs.push(ExternalIdRef::Existing {
            fingerprint: id.fingerprint(),
        });
    }
    let mut live_ids = state.ids.clone();
    live_ids.extend(restored.current.into_iter().chain(restored.pending));
    let recorded_fingerprint = role.tags.get(tags::EXTERNAL_ID);
    Some(ExternalIdPlan {
        current_fingerprint: current.as_ref().map(ExternalId::fingerprint),
        current_is_recorded: current
            .as_ref()
            .is_some_and(|id| Some(&id.fingerprint()) == recorded_fingerprint),
        pending_fingerprint: pending.as_ref().map(ExternalId::fingerprint),
        refs,
        live_ids,
    })
}

/// The IDs fnctl's tags name that the trust policy lost, as the bundles on
/// disk hold them.
struct Recovered {
    current: Option<ExternalId>,
    pending: Option<ExternalId>,
}

impl Recovered {
    fn from_bundles(state: &IdState, bundled: &BundledIds) -> Self {
        let from_bundle = |fingerprint: &Option<String>| {
            fingerprint
                .as_deref()
                .and_then(|f| bundled.find(f))
                .cloned()
        };
        Recovered {
            current: from_bundle(&state.recorded_lost),
            pending: from_bundle(&state.pending_lost),
        }
    }
}

/// What the plan says about lost IDs: restored from a bundle, or (for the
/// rotation's new ID) replaced or gone for good. `rotating`: a pending ID
/// survives, in the trust policy or a bundle.
fn restoration_notices(state: &IdState, restored: &Recovered, rotating: bool) -> Vec<NoticeKind> {
    let mut said = Vec::new();
    if restored.current.is_some() {
        said.push(NoticeKind::ExternalIdRestored(if rotating {
            Restored::RotationOld
        } else {
            Restored::Current
        }));
    }
    if restored.pending.is_some() {
        said.push(NoticeKind::ExternalIdRestored(Restored::RotationNew));
    } else if state.pending_lost.is_some() {
        said.push(if rotating {
            NoticeKind::ExternalIdChanged(Changed::RotationNew)
        } else {
            NoticeKind::RotationAbandoned
        });
    }
    said
}

/// The current ID when none is recorded: the only candidate the trust
/// policy accepts, or (none left but the rotation's new one) the pending
/// ID, which completes the rotation. `None` when several candidates remain.
fn current_from_trust(
    role: &LiveRole,
    candidates: &[&ExternalId],
    pending: &mut Option<ExternalId>,
) -> (Option<ExternalId>, Option<NoticeKind>) {
    match candidates {
        [] => match pending.take() {
            Some(new) => (Some(new), Some(NoticeKind::RotationCompleted)),
            None => (None, None),
        },
        [only] => {
            // The tags named another ID: the one accepted now is kept, and said.
            let replaced = role.tags.contains_key(tags::EXTERNAL_ID);
            (
                Some((*only).clone()),
                replaced.then_some(NoticeKind::ExternalIdChanged(Changed::Current)),
            )
        }
        _ => (None, None),
    }
}

/// The reference to a current ID, with a warning when it is short.
fn kept_current(id: &ExternalId) -> (Vec<ExternalIdRef>, Option<NoticeKind>) {
    let weak =
        (id.len() < external_id::RECOMMENDED_MINIMUM).then_some(NoticeKind::WeakExternalId {
            length: id.len(),
            recommended: external_id::RECOMMENDED_MINIMUM,
        });
    let refs = vec![ExternalIdRef::Existing {
        fingerprint: id.fingerprint(),
    }];
    (refs, weak)
}

/// The references when no ID is current: a new one when none can be kept;
/// both of two unrecorded IDs (rather than lock out a running function);
/// `None` after a conflict notice when fnctl cannot tell which one a
/// function uses (fnctl never writes more than two, nor keeps an unknown
/// one beside a rotation's).
fn unrecorded(
    candidates: &[&ExternalId],
    rotating: bool,
    accepted: usize,
) -> Result<(Vec<ExternalIdRef>, Option<NoticeKind>), NoticeKind> {
    if candidates.is_empty() {
        return Ok((
            vec![ExternalIdRef::Generate],
            Some(NoticeKind::NewExternalId),
        ));
    }
    if candidates.len() > 2 || rotating {
        return Err(NoticeKind::AmbiguousExternalId { accepted });
    }
    let refs = candidates
        .iter()
        .map(|id| ExternalIdRef::Existing {
            fingerprint: id.fingerprint(),
        })
        .collect();
    Ok((
        refs,
        Some(NoticeKind::UnrecordedExternalIdsKept { accepted }),
    ))
}

/// The external ID a role's bundle carries once `change` (if any) is
/// applied: during a rotation the new ID, the one `fnctl:rotation-pending`
/// names after the change (functions switch to it before `--finish`);
/// otherwise the current one `fnctl:external-id` names; otherwise the only
/// ID accepted. The tags come from the plan's own steps, not from the role
/// as it was, so the bundle follows what the planner decided (a restored,
/// kept or dropped rotation). `written` are the IDs of the trust policy
/// apply wrote, in order; empty when it wrote none and the live one holds.
/// `None` when no ID can be vouched for (two unrecorded IDs kept on purpose).
pub(crate) fn bundle_external_id(
    change: Option<&RoleChange>,
    live: Option<&LiveRole>,
    written: &[ExternalId],
) -> Option<ExternalId> {
    let mut tags_after = live.map(|role| role.tags.clone()).unwrap_or_default();
    for step in change.map(|c| c.steps.as_slice()).unwrap_or_default() {
        match &step.operation {
            Operation::TagRole { tags, .. } | Operation::CreateRole { tags, .. } => {
                tags_after.extend(tags.clone())
            }
            Operation::UntagRole { keys, .. } => {
                for key in keys {
                    tags_after.remove(key);
                }
            }
            _ => {}
        }
    }
    let accepted: Vec<ExternalId> = if written.is_empty() {
        live.and_then(|role| role.trust_policy.valid())
            .map(trust::external_ids)
            .unwrap_or_default()
    } else {
        written.to_vec()
    };
    let named = |key: &str| {
        tags_after
            .get(key)
            .and_then(|fingerprint| accepted.iter().find(|id| id.fingerprint() == *fingerprint))
    };
    named(tags::ROTATION_PENDING)
        .or_else(|| named(tags::EXTERNAL_ID))
        .or(match accepted.as_slice() {
            [only] => Some(only),
            _ => None,
        })
        .cloned()
}
