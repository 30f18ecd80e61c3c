//! The external-ID decisions: which IDs a role's trust policy keeps, which
//! come back from a bundle on disk, and which ID a role's bundle carries.
//! Why each outcome is right is the table in `external_id_table_tests.rs`.

use super::planner::{notice, PlanOptions};
use super::{ExternalIdRef, Notice, NoticeLevel, RoleChange};
use crate::model::codes::NoticeCode;
use crate::model::external_id::{self, ExternalId};
use crate::model::operation::Operation;
use crate::model::trust;
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
/// cannot be restored is said out loud.
pub(super) fn plan_external_ids(
    instance: &DesiredInstance,
    role: &LiveRole,
    options: &PlanOptions,
    notices: &mut Vec<Notice>,
) -> Option<ExternalIdPlan> {
    let name = Some(instance.name.as_str());
    let warn = |notices: &mut Vec<Notice>, code: NoticeCode, message: &str, hint: Option<&str>| {
        notices.push(notice(
            NoticeLevel::Warning,
            code,
            name,
            &role.name,
            message.into(),
            hint,
        ));
    };
    let state = trust::id_state(role);
    let from_bundle = |fingerprint: &Option<String>| {
        fingerprint
            .as_deref()
            .and_then(|f| options.bundled_ids.find(f))
            .cloned()
    };
    let restored_current = from_bundle(&state.recorded_lost);
    let restored_pending = from_bundle(&state.pending_lost);
    // A bundle holding the new ID the tag names means `rotate --start` went
    // all the way: the ID in its place is not the winner of a race but a
    // stranger, and the one the bundle holds is the rotation's.
    let mut pending = restored_pending.clone().or(state.pending.clone());
    let mut current = state.recorded.clone().or(restored_current.clone());
    if restored_current.is_some() {
        let message = if pending.is_some() {
            "the trust policy lost the rotation's old external ID; apply restores it from the bundle on disk, so a function not yet switched to the new ID keeps working, and the rotation goes on"
        } else {
            "the trust policy lost the external ID fnctl issued; apply restores it from the bundle, so the running function keeps working"
        };
        warn(notices, NoticeCode::ExternalIdRestored, message, None);
    }
    if restored_pending.is_some() {
        warn(
            notices,
            NoticeCode::ExternalIdRestored,
            "the trust policy lost the new external ID of the rotation in progress; apply restores it from the bundle on disk, which holds it, so a function already switched to it keeps working, and the rotation stays in progress",
            None,
        );
    } else if state.pending_lost.is_some() {
        match &pending {
            Some(_) => warn(
                notices,
                NoticeCode::ExternalIdChanged,
                "the rotation's new external ID in the trust policy is not the one fnctl recorded (changed by hand, or two `rotate --start` runs raced) and no bundle on disk holds the recorded one; the one the trust policy accepts is kept as the new ID and written to the bundle",
                Some("update the function's iamRoleExternalId setting from the new bundle"),
            ),
            None => warn(
                notices,
                NoticeCode::RotationAbandoned,
                "the trust policy no longer accepts the new external ID of the rotation in progress, and no bundle on disk holds it, so it cannot be restored: apply ends the rotation; a function already configured with the new ID is locked out until it gets the bundle apply writes",
                Some("if a bundle with the new ID exists elsewhere, run apply with --bundle-dir pointing at it to restore the ID instead; otherwise give every function the bundle apply writes, then start a new rotation with `fnctl rotate NAME --start`"),
            ),
        }
    }
    // IDs the trust policy accepts besides the rotation's new one: when none
    // is recorded as current, one of them may be what the function uses.
    let candidates: Vec<&ExternalId> = state
        .ids
        .iter()
        .filter(|id| Some(*id) != pending.as_ref())
        .collect();
    if current.is_none() {
        match candidates.as_slice() {
            [] => {
                if let Some(new) = pending.take() {
                    current = Some(new);
                    warn(
                        notices,
                        NoticeCode::RotationCompleted,
                        "the trust policy no longer accepts the old external ID of the rotation in progress (removed by hand, or a `rotate --finish` interrupted), and no bundle on disk holds it: apply completes the rotation, the new ID becomes current; a function still configured with the old ID is locked out until it gets the bundle apply writes",
                        Some("give every function the bundle apply writes (iamRoleExternalId)"),
                    );
                }
            }
            [only] => {
                current = Some((*only).clone());
                if role.tags.contains_key(tags::EXTERNAL_ID) {
                    warn(
                        notices,
                        NoticeCode::ExternalIdChanged,
                        "the external ID in the trust policy is not the one fnctl issued; it is kept and written to the bundle",
                        Some("update the function's iamRoleExternalId setting from the new bundle, or rotate the ID"),
                    );
                }
            }
            _ => {}
        }
    }
    let mut refs = Vec::new();
    match &current {
        Some(id) => {
            refs.push(ExternalIdRef::Existing {
                fingerprint: id.fingerprint(),
            });
            if id.len() < external_id::RECOMMENDED_MINIMUM {
                warn(
                    notices,
                    NoticeCode::WeakExternalId,
                    &format!(
                        "the external ID has {} characters; Segment recommends at least {}",
                        id.len(),
                        external_id::RECOMMENDED_MINIMUM
                    ),
                    Some("rotate it: `fnctl rotate NAME --start`, then `--finish`"),
                );
            }
        }
        None if candidates.is_empty() => {
            refs.push(ExternalIdRef::Generate);
            warn(
                notices,
                NoticeCode::NewExternalId,
                "the trust policy has no external ID fnctl can keep; apply makes a new one, so the function's settings must be updated from the new bundle",
                None,
            );
        }
        None if candidates.len() > 2 || pending.is_some() => {
            // fnctl never writes a trust policy with more than two IDs, and
            // cannot tell which of these the function uses.
            notices.push(notice(
                NoticeLevel::Conflict,
                NoticeCode::AmbiguousExternalId,
                name,
                &role.name,
                format!("the trust policy accepts {} external IDs and none is recorded as current; fnctl cannot tell which one the function uses", state.ids.len()),
                Some("remove the IDs no function uses from the trust policy, then run apply again"),
            ));
            return None;
        }
        None => {
            // Two IDs and none recorded: keep both rather than lock out a running function.
            refs.extend(candidates.iter().map(|id| ExternalIdRef::Existing {
                fingerprint: id.fingerprint(),
            }));
            warn(
                notices,
                NoticeCode::AmbiguousExternalId,
                &format!("the trust policy accepts {} external IDs and none is recorded as current; all are kept", state.ids.len()),
                Some("rotate to a single fnctl-issued ID: `fnctl rotate NAME --start`, then `--finish`"),
            );
        }
    }
    if let Some(id) = &pending {
        refs.push(ExternalIdRef::Existing {
            fingerprint: id.fingerprint(),
        });
    }
    let mut live_ids = state.ids.clone();
    live_ids.extend(restored_current.into_iter().chain(restored_pending));
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

/// The external ID a role's bundle carries once `change` (if any) is
/// applied: during a rotation the new ID, the one `fnctl:rotation-pending`
/// names after the change (functions switch to it before `--finish`);
/// otherwise the current one `fnctl:external-id` names; otherwise the only
/// ID accepted. The tags come from the plan's own steps, not from the role
/// as it was, so the bundle follows what the planner decided (a restored,
/// kept or dropped rotation). `written` are the IDs of the trust policy
/// apply wrote, in order; empty when it wrote none and the live one holds.
/// `None` when no ID can be vouched for (two unrecorded IDs kept on purpose).
pub fn bundle_external_id(
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
