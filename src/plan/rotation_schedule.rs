//! What `rotate --auto` (the cron form) does next for one instance, decided
//! purely from the role's tags, the rotation policy, and — for an instance
//! whose settings Segment holds — whether Segment shows the new ID. Each
//! answer is safe to act on at once; running twice in a row, the second run
//! finds nothing to do (or keeps waiting).

use std::time::{Duration, SystemTime};

use crate::model::tags;
use crate::model::time::{self, UnreadableTime};
use crate::model::trust::{id_state, is_due};
use crate::model::LiveRole;

/// The next step of one instance's rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// No rotation is due or in progress.
    Nothing,
    /// The ID is older than `rotateAfterDays`: start a rotation (and, with
    /// Segment, push the new ID in the same run).
    Start,
    /// A rotation is in progress and Segment does not hold the new ID yet (or
    /// its delivery was never recorded): push it and record when.
    Push,
    /// Safe to finish: the new ID has been in use for at least the minimum age.
    Finish,
    /// In progress, not yet old enough to finish.
    Wait(Waiting),
}

/// How long the new ID has been in use, against the minimum before finishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    /// In use for.
    pub age: Duration,
    /// `--min-age`.
    pub min_age: Duration,
}

impl std::fmt::Display for Waiting {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "the new ID has been in use for {}, less than the minimum {}",
            humantime::format_duration(whole_seconds(self.age)),
            humantime::format_duration(self.min_age)
        )
    }
}

/// Why `rotate --finish` may not drop the old ID of an instance whose
/// settings Segment holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinishRefused {
    /// Segment shows another ID than the rotation's new one.
    #[error("Segment does not hold the new external ID; finishing would lock the function out (push it: `fnctl rotate --auto`, or `fnctl apply`)")]
    NotDelivered,
    /// Segment shows it, but fnctl never recorded since when.
    #[error("fnctl has no record of when Segment took the new external ID; `fnctl rotate --auto` records it and finishes after --min-age")]
    DeliveryUnrecorded,
    /// Held for less than `--min-age`.
    #[error(
        "Segment has held the new external ID for {}, less than --min-age {} (functions cache their sessions)",
        humantime::format_duration(whole_seconds(*.held)),
        humantime::format_duration(*.min_age)
    )]
    TooRecent {
        /// Held for.
        held: Duration,
        /// `--min-age`.
        min_age: Duration,
    },
    /// The delivery tag holds no time.
    #[error(transparent)]
    UnreadableTime(#[from] UnreadableTime),
}

/// When Segment was seen to hold the pending ID, from the role's
/// `fnctl:segment-delivered` tag (`<fingerprint> <RFC 3339>`), if it names
/// the pending ID; an error when its time is unreadable.
pub(crate) fn delivered_at(role: &LiveRole) -> Result<Option<SystemTime>, UnreadableTime> {
    let Some(pending) = id_state(role).pending else {
        return Ok(None);
    };
    let Some(tag) = role.tags.get(tags::SEGMENT_DELIVERED) else {
        return Ok(None);
    };
    match tag.split_once(' ') {
        Some((fingerprint, _)) if fingerprint != pending.fingerprint() => Ok(None),
        Some((_, text)) => time::from_tag(tags::SEGMENT_DELIVERED, text).map(Some),
        None => Err(UnreadableTime {
            tag: tags::SEGMENT_DELIVERED,
            value: tag.clone(),
        }),
    }
}

/// The tag value that records Segment holding `fingerprint` since `now`.
pub(crate) fn delivered_tag(fingerprint: &str, now: SystemTime) -> String {
    format!("{fingerprint} {}", time::to_text(now))
}

/// From `since` to `now` (none when `since` is later).
fn age(now: SystemTime, since: SystemTime) -> Duration {
    now.duration_since(since).unwrap_or_default()
}

/// A duration as people read it: whole seconds.
fn whole_seconds(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs())
}

/// Whether `rotate --finish` may drop the old ID of an instance whose
/// settings Segment holds: only once Segment shows the new ID and has held
/// it (since fnctl recorded its delivery) for `min_age`. `shown` is the
/// external-ID setting as Segment shows it.
pub(crate) fn segment_allows_finish(
    role: &LiveRole,
    shown: Option<&str>,
    now: SystemTime,
    min_age: Duration,
) -> Result<(), FinishRefused> {
    let Some(pending) = id_state(role).pending else {
        return Ok(());
    };
    if !shown.is_some_and(|value| crate::model::segment::shows(value, &pending)) {
        return Err(FinishRefused::NotDelivered);
    }
    let delivered = delivered_at(role)?.ok_or(FinishRefused::DeliveryUnrecorded)?;
    let held = age(now, delivered);
    if held < min_age {
        return Err(FinishRefused::TooRecent { held, min_age });
    }
    Ok(())
}

/// Decides the next step. `segment_shows_pending` is `None` for an instance
/// without `segment:` (its rotation finishes by age since it started, as
/// `rotate --finish` does), else whether Segment shows the pending ID. A
/// time tag the decision needs that holds no time is an error: fnctl cannot
/// tell whether to start or finish, and says so.
pub(crate) fn next_step(
    role: &LiveRole,
    rotate_after_days: Option<u32>,
    segment_shows_pending: Option<bool>,
    now: SystemTime,
    min_age: Duration,
) -> Result<NextStep, UnreadableTime> {
    let state = id_state(role);
    if state.pending.is_none() {
        return Ok(if is_due(role, rotate_after_days, now)? {
            NextStep::Start
        } else {
            NextStep::Nothing
        });
    }
    let since = match segment_shows_pending {
        Some(false) => return Ok(NextStep::Push),
        Some(true) => match delivered_at(role)? {
            Some(delivered) => delivered,
            None => return Ok(NextStep::Push),
        },
        None => match role.tags.get(tags::ROTATION_STARTED) {
            Some(started) => time::from_tag(tags::ROTATION_STARTED, started)?,
            None => return Ok(NextStep::Finish),
        },
    };
    let age = age(now, since);
    Ok(if age >= min_age {
        NextStep::Finish
    } else {
        NextStep::Wait(Waiting { age, min_age })
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::external_id::ExternalId;
    use crate::model::trust::trust_policy;
    use crate::model::LiveDocument;

    const OLD: &str = "old-id-0000000000000000000000000000000000000000";
    const NEW: &str = "new-id-1111111111111111111111111111111111111111";
    const HOUR: Duration = Duration::from_secs(3600);

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339_weak(text).unwrap()
    }

    fn role(ids: &[&str], extra: &[(&str, String)]) -> LiveRole {
        let mut tags = BTreeMap::from([
            (
                tags::EXTERNAL_ID.to_string(),
                ExternalId::new(OLD).fingerprint(),
            ),
            (
                tags::EXTERNAL_ID_CREATED.to_string(),
                "2026-01-01T00:00:00Z".to_string(),
            ),
        ]);
        tags.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        LiveRole {
            name: "r".into(),
            path: "/".into(),
            arn: "arn:aws:iam::1:role/r".into(),
            role_id: "AROA".into(),
            create_date: None,
            description: None,
            max_session_duration: None,
            trust_policy: LiveDocument::Valid(trust_policy("458175278816", ids)),
            inline_policies: BTreeMap::new(),
            attached_policies: Default::default(),
            permissions_boundary: None,
            tags,
        }
    }

    fn rotating(delivered: Option<&str>) -> LiveRole {
        let mut extra = vec![
            (tags::ROTATION_PENDING, ExternalId::new(NEW).fingerprint()),
            (tags::ROTATION_STARTED, "2026-06-01T00:00:00Z".to_string()),
        ];
        if let Some(time) = delivered {
            extra.push((
                tags::SEGMENT_DELIVERED,
                delivered_tag(&ExternalId::new(NEW).fingerprint(), at(time)),
            ));
        }
        role(&[OLD, NEW], &extra)
    }

    #[test]
    fn the_cron_walks_a_rotation_through_push_wait_and_finish() {
        let now = "2026-06-01T00:10:00Z";
        // Not due, nothing in progress: nothing.
        assert_eq!(
            next_step(&role(&[OLD], &[]), Some(365), Some(true), at(now), HOUR),
            Ok(NextStep::Nothing)
        );
        // Due: start.
        assert_eq!(
            next_step(&role(&[OLD], &[]), Some(90), Some(true), at(now), HOUR),
            Ok(NextStep::Start)
        );
        // Started, Segment still holds the old ID: push.
        assert_eq!(
            next_step(
                &rotating(None),
                None.or(Some(90)),
                Some(false),
                at(now),
                HOUR
            ),
            Ok(NextStep::Push)
        );
        // Segment shows the new ID but fnctl never recorded when: push (records it).
        assert_eq!(
            next_step(&rotating(None), Some(90), Some(true), at(now), HOUR),
            Ok(NextStep::Push)
        );
        // Delivered ten minutes ago: wait.
        assert!(matches!(
            next_step(
                &rotating(Some("2026-06-01T00:00:00Z")),
                Some(90),
                Some(true),
                at(now),
                HOUR
            ),
            Ok(NextStep::Wait(_))
        ));
        // An hour after delivery: finish.
        let later = "2026-06-01T01:00:00Z";
        assert_eq!(
            next_step(
                &rotating(Some("2026-06-01T00:00:00Z")),
                Some(90),
                Some(true),
                at(later),
                HOUR
            ),
            Ok(NextStep::Finish)
        );
        // A hand edit in Segment back to the old ID after delivery: push again, never finish.
        assert_eq!(
            next_step(
                &rotating(Some("2026-06-01T00:00:00Z")),
                Some(90),
                Some(false),
                at(later),
                HOUR
            ),
            Ok(NextStep::Push)
        );
    }

    #[test]
    fn without_segment_a_rotation_finishes_by_its_age() {
        let now = "2026-06-01T00:10:00Z";
        assert!(matches!(
            next_step(&rotating(None), Some(90), None, at(now), HOUR),
            Ok(NextStep::Wait(_))
        ));
        let later = "2026-06-01T02:00:00Z";
        assert_eq!(
            next_step(&rotating(None), Some(90), None, at(later), HOUR),
            Ok(NextStep::Finish)
        );
    }

    #[test]
    fn a_delivery_tag_for_another_id_does_not_count() {
        let mut role = rotating(None);
        role.tags.insert(
            tags::SEGMENT_DELIVERED.into(),
            delivered_tag(
                &ExternalId::new(OLD).fingerprint(),
                at("2026-01-01T00:00:00Z"),
            ),
        );
        assert_eq!(delivered_at(&role), Ok(None));
    }

    #[test]
    fn an_unreadable_time_tag_is_an_error_not_a_guess() {
        let now = at("2026-06-01T00:10:00Z");
        let mut garbled = role(&[OLD], &[]);
        garbled
            .tags
            .insert(tags::EXTERNAL_ID_CREATED.into(), "soon".into());
        assert_eq!(
            next_step(&garbled, Some(90), None, now, HOUR),
            Err(UnreadableTime {
                tag: tags::EXTERNAL_ID_CREATED,
                value: "soon".into()
            })
        );
        let mut started = rotating(None);
        started
            .tags
            .insert(tags::ROTATION_STARTED.into(), "yesterday".into());
        assert!(next_step(&started, Some(90), None, now, HOUR).is_err());
        let mut delivered = rotating(None);
        delivered.tags.insert(
            tags::SEGMENT_DELIVERED.into(),
            format!("{} noon", ExternalId::new(NEW).fingerprint()),
        );
        assert!(next_step(&delivered, Some(90), Some(true), now, HOUR).is_err());
        assert!(matches!(
            segment_allows_finish(&delivered, Some(NEW), now, HOUR),
            Err(FinishRefused::UnreadableTime(_))
        ));
    }
}
