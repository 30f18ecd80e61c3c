//! External-ID rotation without downtime, as pure decisions over a live
//! role. Two phases: `start` adds a new ID beside the current one (both are
//! accepted) and records its fingerprint in tags; `finish` drops the old ID.
//! Each phase is a sequence of idempotent steps ordered so that a run killed
//! between any two of them leaves a role that the ID in the last written
//! bundle can still assume, and re-running the same command completes it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::model::external_id::ExternalId;
use crate::model::operation::{Operation, WireOperation};
use crate::model::LiveRole;

use crate::model::tags;
use crate::model::time::{self, UnreadableTime};
use crate::model::trust;

/// Why a phase cannot run on a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    /// The trust policy holds no ID fnctl recorded as current.
    #[error(
        "the trust policy holds no external ID fnctl recorded as current; run `fnctl apply` first"
    )]
    NoCurrentId,
    /// `--finish` before `--min-age` has passed.
    #[error("the rotation started {started}, less than {min_age} ago; functions may still use the old ID (use --force to finish anyway)")]
    TooYoung { started: String, min_age: String },
    /// A tag holds a time fnctl cannot read.
    #[error(transparent)]
    UnreadableTime(#[from] UnreadableTime),
}

/// What a phase does to one role.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseSteps {
    /// Writes, in order (trust documents hold secrets: never print them).
    pub operations: Vec<WireOperation>,
    /// The ID the bundle must carry once the writes are done.
    pub bundle_external_id: ExternalId,
}

fn find_by_fingerprint<'a>(
    ids: &'a [ExternalId],
    fingerprint: Option<&String>,
) -> Option<&'a ExternalId> {
    fingerprint.and_then(|f| ids.iter().find(|id| id.fingerprint() == *f))
}

/// The trust policy's IDs, the recorded current one and the pending one.
fn ids_of(role: &LiveRole) -> (Vec<ExternalId>, Option<ExternalId>, Option<ExternalId>) {
    let state = crate::model::trust::id_state(role);
    (state.ids, state.recorded, state.pending)
}

/// Steps of `rotate --start`: tag the new ID's fingerprint, then accept both
/// IDs. `new_id` is used only if no rotation is in progress already.
/// `now` (the run's time) is when the rotation started.
pub(crate) fn start(
    role: &LiveRole,
    segment_account: &str,
    new_id: &ExternalId,
    now: SystemTime,
) -> Result<PhaseSteps, RotationError> {
    let (ids, recorded, pending) = ids_of(role);
    if let Some(pending) = pending {
        // Started before (maybe interrupted after the trust update): the bundle gets the pending ID.
        let complete = recorded.is_some() && ids.len() == 2;
        let mut operations = Vec::new();
        if role.tags.get(tags::ROTATION_PENDING) != Some(&pending.fingerprint()) {
            operations.push(Operation::TagRole {
                role: role.name.clone(),
                tags: BTreeMap::from([(tags::ROTATION_PENDING.to_string(), pending.fingerprint())]),
            });
        }
        if !complete {
            let current = recorded.clone().ok_or(RotationError::NoCurrentId)?;
            operations.push(Operation::UpdateTrustPolicy {
                role: role.name.clone(),
                trust_policy: trust::wire_trust(segment_account, &[&current, &pending]),
            });
        }
        return Ok(PhaseSteps {
            operations,
            bundle_external_id: pending,
        });
    }
    let current = recorded
        .or_else(|| {
            if ids.len() == 1 {
                ids.first().cloned()
            } else {
                None
            }
        })
        .ok_or(RotationError::NoCurrentId)?;
    let mut tag_values = BTreeMap::from([
        (tags::ROTATION_PENDING.to_string(), new_id.fingerprint()),
        (tags::ROTATION_STARTED.to_string(), time::to_text(now)),
    ]);
    // A current ID adopted without a fingerprint tag gets one now, so finish knows which is old.
    if role.tags.get(tags::EXTERNAL_ID) != Some(&current.fingerprint()) {
        tag_values.insert(tags::EXTERNAL_ID.into(), current.fingerprint());
    }
    let mut operations = Vec::new();
    // Tags first: if the run dies after the trust update, the tags already
    // say which ID is new. Written already (with the lease) when the role
    // shows them.
    if !shows(role, &tag_values) {
        operations.push(Operation::TagRole {
            role: role.name.clone(),
            tags: tag_values,
        });
    }
    operations.push(Operation::UpdateTrustPolicy {
        role: role.name.clone(),
        trust_policy: trust::wire_trust(segment_account, &[&current, new_id]),
    });
    Ok(PhaseSteps {
        operations,
        bundle_external_id: new_id.clone(),
    })
}

/// Whether the role's tags hold all of `values` already.
fn shows(role: &LiveRole, values: &BTreeMap<String, String>) -> bool {
    values
        .iter()
        .all(|(key, value)| role.tags.get(key) == Some(value))
}

/// Steps of `rotate --finish`: record the new ID as the current one, accept
/// only it, then clear the rotation tags. `None` when no rotation is in
/// progress. Recording comes first so that it can ride on the lease's own
/// tag write (three writes per role with the lease, not five); a run killed
/// after it leaves both IDs accepted with the new one recorded, which a
/// re-run completes. `now` is measured against `min_age`; `stamp` (the
/// run's time, the same for every decision of the run, so a re-decision
/// under the lease sees its own tags as written) is when the new ID became
/// current.
pub(crate) fn finish(
    role: &LiveRole,
    segment_account: &str,
    now: SystemTime,
    stamp: SystemTime,
    min_age: Duration,
    force: bool,
) -> Result<Option<PhaseSteps>, RotationError> {
    let (ids, recorded, pending) = ids_of(role);
    // Interrupted after the trust update: only the pending ID is left and the tags still say "rotating".
    let pending = match pending {
        Some(pending) => pending,
        None => match find_by_fingerprint(&ids, role.tags.get(tags::ROTATION_PENDING)) {
            Some(only) if recorded.is_none() => only.clone(),
            // Killed after recording the new ID, before the trust update:
            // the old ID is still accepted beside it.
            Some(new) if recorded.as_ref() == Some(new) && ids.len() > 1 => new.clone(),
            _ => return Ok(leftover_tags(role, recorded)),
        },
    };
    if !force {
        let started_text = role
            .tags
            .get(tags::ROTATION_STARTED)
            .cloned()
            .unwrap_or_default();
        let started = time::from_tag(tags::ROTATION_STARTED, &started_text)?;
        if now.duration_since(started).unwrap_or_default() < min_age {
            return Err(RotationError::TooYoung {
                started: started_text,
                min_age: humantime::format_duration(min_age).to_string(),
            });
        }
    }
    let mut operations = Vec::new();
    // Recorded already (by a killed run, or with the lease): the time with it.
    let recorded_already = role.tags.get(tags::EXTERNAL_ID) == Some(&pending.fingerprint())
        && role.tags.contains_key(tags::EXTERNAL_ID_CREATED);
    if !recorded_already {
        operations.push(Operation::TagRole {
            role: role.name.clone(),
            tags: BTreeMap::from([
                (tags::EXTERNAL_ID.to_string(), pending.fingerprint()),
                (tags::EXTERNAL_ID_CREATED.to_string(), time::to_text(stamp)),
            ]),
        });
    }
    if ids.len() != 1 {
        operations.push(Operation::UpdateTrustPolicy {
            role: role.name.clone(),
            trust_policy: trust::wire_trust(segment_account, &[&pending]),
        });
    }
    let mut keys = vec![tags::ROTATION_PENDING.into(), tags::ROTATION_STARTED.into()];
    if role.tags.contains_key(tags::SEGMENT_DELIVERED) {
        keys.push(tags::SEGMENT_DELIVERED.into());
    }
    operations.push(Operation::UntagRole {
        role: role.name.clone(),
        keys,
    });
    Ok(Some(PhaseSteps {
        operations,
        bundle_external_id: pending,
    }))
}

/// Rotation tags without a rotation: a finish killed after its TagRole (the
/// new ID is already recorded as current) or a start killed before its trust
/// update. Removing the tags completes either.
fn leftover_tags(role: &LiveRole, recorded: Option<ExternalId>) -> Option<PhaseSteps> {
    let keys: Vec<String> = [
        tags::ROTATION_PENDING,
        tags::ROTATION_STARTED,
        tags::SEGMENT_DELIVERED,
    ]
    .iter()
    .filter(|k| role.tags.contains_key(**k))
    .map(|k| k.to_string())
    .collect();
    let current = recorded?;
    if keys.is_empty() {
        return None;
    }
    Some(PhaseSteps {
        operations: vec![Operation::UntagRole {
            role: role.name.clone(),
            keys,
        }],
        bundle_external_id: current,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::trust::{in_progress, is_due};
    use crate::model::LiveDocument;

    const SEGMENT: &str = "458175278816";

    fn role(ids: &[&str], tag_pairs: &[(&str, String)]) -> LiveRole {
        LiveRole {
            name: "r".into(),
            path: "/segment-functions/".into(),
            arn: "arn:aws:iam::123456789012:role/segment-functions/r".into(),
            role_id: "AROA".into(),
            create_date: None,
            description: None,
            max_session_duration: Some(3600),
            trust_policy: LiveDocument::Valid(trust::trust_policy(SEGMENT, ids)),
            inline_policies: BTreeMap::new(),
            attached_policies: Default::default(),
            permissions_boundary: None,
            tags: tag_pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    /// Applies wire operations to an in-memory role, as IAM would.
    fn apply(role: &mut LiveRole, operations: &[WireOperation]) {
        for operation in operations {
            match operation {
                Operation::UpdateTrustPolicy { trust_policy, .. } => {
                    role.trust_policy =
                        LiveDocument::Valid(serde_json::from_str(trust_policy.expose()).unwrap())
                }
                Operation::TagRole { tags, .. } => role.tags.extend(tags.clone()),
                Operation::UntagRole { keys, .. } => keys.iter().for_each(|k| {
                    role.tags.remove(k);
                }),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn accepts(role: &LiveRole, id: &ExternalId) -> bool {
        crate::policy::evaluate::trust_admits(
            role.trust_policy.valid().unwrap(),
            SEGMENT,
            Some(id.expose()),
        )
    }

    #[test]
    fn start_then_finish_with_a_crash_after_every_step() {
        let old = &ExternalId::new("old-id-with-enough-characters-000000000000");
        let new = &ExternalId::new("new-id-with-enough-characters-111111111111");
        let now = SystemTime::now();
        let base = role(&[old.expose()], &[(tags::EXTERNAL_ID, old.fingerprint())]);
        let steps = start(&base, SEGMENT, new, at("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(&steps.bundle_external_id, new);
        // Kill after each prefix of the start steps; the old bundle works, and re-running start completes.
        for done in 0..=steps.operations.len() {
            let mut partial = base.clone();
            apply(&mut partial, &steps.operations[..done]);
            assert!(
                accepts(&partial, old),
                "old bundle must work after {done} step(s)"
            );
            let rerun = start(
                &partial,
                SEGMENT,
                &ExternalId::new("another-new-id-222222222222222222222222"),
                at("2026-01-01T00:00:00Z"),
            )
            .unwrap();
            apply(&mut partial, &rerun.operations);
            assert!(accepts(&partial, old) && accepts(&partial, &rerun.bundle_external_id));
        }
        let mut rotating = base.clone();
        apply(&mut rotating, &steps.operations);
        assert!(in_progress(&rotating));
        assert!(matches!(
            finish(
                &rotating,
                SEGMENT,
                now,
                now,
                Duration::from_secs(3600),
                false
            ),
            Err(RotationError::TooYoung { .. }) | Ok(Some(_))
        ));
        let finishing = finish(
            &rotating,
            SEGMENT,
            now,
            at("2026-06-01T00:00:00Z"),
            Duration::ZERO,
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(&finishing.bundle_external_id, new);
        for done in 0..=finishing.operations.len() {
            let mut partial = rotating.clone();
            apply(&mut partial, &finishing.operations[..done]);
            assert!(
                accepts(&partial, new),
                "new bundle must work after {done} finish step(s)"
            );
            if let Some(rerun) = finish(
                &partial,
                SEGMENT,
                now,
                at("2026-06-01T00:00:00Z"),
                Duration::ZERO,
                false,
            )
            .unwrap()
            {
                apply(&mut partial, &rerun.operations);
            }
            assert!(
                accepts(&partial, new) && !accepts(&partial, old),
                "finish re-run converges after {done} step(s)"
            );
            assert!(!in_progress(&partial));
        }
    }

    #[test]
    fn finish_refuses_a_young_rotation_unless_forced() {
        let started = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let rotating = role(
            &["a-current-id", "a-pending-id"],
            &[
                (
                    tags::EXTERNAL_ID,
                    ExternalId::new("a-current-id").fingerprint(),
                ),
                (
                    tags::ROTATION_PENDING,
                    ExternalId::new("a-pending-id").fingerprint(),
                ),
                (tags::ROTATION_STARTED, started),
            ],
        );
        let error = finish(
            &rotating,
            SEGMENT,
            SystemTime::now(),
            SystemTime::now(),
            Duration::from_secs(3600),
            false,
        )
        .unwrap_err();
        assert!(matches!(error, RotationError::TooYoung { .. }));
        assert!(finish(
            &rotating,
            SEGMENT,
            SystemTime::now(),
            SystemTime::now(),
            Duration::from_secs(3600),
            true
        )
        .unwrap()
        .is_some());
    }

    #[test]
    fn due_after_the_configured_days() {
        let aged = role(
            &["x"],
            &[(tags::EXTERNAL_ID_CREATED, "2026-01-01T00:00:00Z".into())],
        );
        assert_eq!(
            is_due(&aged, Some(90), at("2026-06-01T00:00:00Z")),
            Ok(true)
        );
        assert_eq!(
            is_due(&aged, Some(90), at("2026-02-01T00:00:00Z")),
            Ok(false)
        );
        assert_eq!(is_due(&aged, None, at("2026-06-01T00:00:00Z")), Ok(false));
    }

    #[test]
    fn an_unreadable_creation_time_is_an_error_not_a_silent_not_due() {
        let garbled = role(
            &["x"],
            &[(tags::EXTERNAL_ID_CREATED, "last tuesday".into())],
        );
        let error = is_due(&garbled, Some(90), at("2026-06-01T00:00:00Z")).unwrap_err();
        assert_eq!(error.tag, tags::EXTERNAL_ID_CREATED);
        assert_eq!(error.value, "last tuesday");
        // Without a rotation policy there is nothing to age, so nothing to read.
        assert_eq!(
            is_due(&garbled, None, at("2026-06-01T00:00:00Z")),
            Ok(false)
        );
    }

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }
}
