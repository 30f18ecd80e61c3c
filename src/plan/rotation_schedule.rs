//! What `rotate --auto` (the cron form) does next for one instance, decided
//! purely from the role's tags, the rotation policy, and — for an instance
//! whose settings Segment holds — whether Segment shows the new ID. Each
//! answer is safe to act on at once; running twice in a row, the second run
//! finds nothing to do (or keeps waiting).

use std::time::{Duration, SystemTime};

use crate::model::tags;
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
    /// In progress, not yet old enough to finish; `why` says until when.
    Wait { why: String },
}

/// When Segment was seen to hold the pending ID, from the role's
/// `fnctl:segment-delivered` tag (`<fingerprint> <RFC 3339>`), if it names
/// the pending ID.
pub fn delivered_at(role: &LiveRole) -> Option<SystemTime> {
    let pending = id_state(role).pending?;
    let (fingerprint, time) = role.tags.get(tags::SEGMENT_DELIVERED)?.split_once(' ')?;
    if fingerprint != pending.fingerprint() {
        return None;
    }
    humantime::parse_rfc3339_weak(time).ok()
}

/// The tag value that records Segment holding `fingerprint` since `now`.
pub fn delivered_tag(fingerprint: &str, now: &str) -> String {
    format!("{fingerprint} {now}")
}

/// Whether `rotate --finish` may drop the old ID of an instance whose
/// settings Segment holds: only once Segment shows the new ID and has held
/// it (since fnctl recorded its delivery) for `min_age`. `shown` is the
/// external-ID setting as Segment shows it.
pub fn segment_allows_finish(
    role: &LiveRole,
    shown: Option<&str>,
    now: SystemTime,
    min_age: Duration,
) -> Result<(), String> {
    let Some(pending) = id_state(role).pending else {
        return Ok(());
    };
    if !shown.is_some_and(|value| crate::model::segment::shows(value, &pending)) {
        return Err("Segment does not hold the new external ID; finishing would lock the function out (push it: `fnctl rotate --auto`, or `fnctl apply`)".into());
    }
    let Some(delivered) = delivered_at(role) else {
        return Err("fnctl has no record of when Segment took the new external ID; `fnctl rotate --auto` records it and finishes after --min-age".into());
    };
    let age = now.duration_since(delivered).unwrap_or_default();
    if age < min_age {
        return Err(format!(
            "Segment has held the new external ID for {}, less than --min-age {} (functions cache their sessions)",
            humantime::format_duration(Duration::from_secs(age.as_secs())),
            humantime::format_duration(min_age)
        ));
    }
    Ok(())
}

/// Decides the next step. `segment_shows_pending` is `None` for an instance
/// without `segment:` (its rotation finishes by age since it started, as
/// `rotate --finish` does), else whether Segment shows the pending ID.
pub fn next_step(
    role: &LiveRole,
    rotate_after_days: Option<u32>,
    segment_shows_pending: Option<bool>,
    now: SystemTime,
    now_text: &str,
    min_age: Duration,
) -> NextStep {
    let state = id_state(role);
    if state.pending.is_none() {
        return if is_due(role, rotate_after_days, now_text) {
            NextStep::Start
        } else {
            NextStep::Nothing
        };
    }
    let since = match segment_shows_pending {
        Some(false) => return NextStep::Push,
        Some(true) => match delivered_at(role) {
            Some(delivered) => delivered,
            None => return NextStep::Push,
        },
        None => match role
            .tags
            .get(tags::ROTATION_STARTED)
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        {
            Some(started) => started,
            None => return NextStep::Finish,
        },
    };
    let age = now.duration_since(since).unwrap_or_default();
    if age >= min_age {
        NextStep::Finish
    } else {
        NextStep::Wait {
            why: format!(
                "the new ID has been in use for {}, less than the minimum {}",
                humantime::format_duration(Duration::from_secs(age.as_secs())),
                humantime::format_duration(min_age)
            ),
        }
    }
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
                delivered_tag(&ExternalId::new(NEW).fingerprint(), time),
            ));
        }
        role(&[OLD, NEW], &extra)
    }

    #[test]
    fn the_cron_walks_a_rotation_through_push_wait_and_finish() {
        let now = "2026-06-01T00:10:00Z";
        // Not due, nothing in progress: nothing.
        assert_eq!(
            next_step(
                &role(&[OLD], &[]),
                Some(365),
                Some(true),
                at(now),
                now,
                HOUR
            ),
            NextStep::Nothing
        );
        // Due: start.
        assert_eq!(
            next_step(&role(&[OLD], &[]), Some(90), Some(true), at(now), now, HOUR),
            NextStep::Start
        );
        // Started, Segment still holds the old ID: push.
        assert_eq!(
            next_step(
                &rotating(None),
                None.or(Some(90)),
                Some(false),
                at(now),
                now,
                HOUR
            ),
            NextStep::Push
        );
        // Segment shows the new ID but fnctl never recorded when: push (records it).
        assert_eq!(
            next_step(&rotating(None), Some(90), Some(true), at(now), now, HOUR),
            NextStep::Push
        );
        // Delivered ten minutes ago: wait.
        assert!(matches!(
            next_step(
                &rotating(Some("2026-06-01T00:00:00Z")),
                Some(90),
                Some(true),
                at(now),
                now,
                HOUR
            ),
            NextStep::Wait { .. }
        ));
        // An hour after delivery: finish.
        let later = "2026-06-01T01:00:00Z";
        assert_eq!(
            next_step(
                &rotating(Some("2026-06-01T00:00:00Z")),
                Some(90),
                Some(true),
                at(later),
                later,
                HOUR
            ),
            NextStep::Finish
        );
        // A hand edit in Segment back to the old ID after delivery: push again, never finish.
        assert_eq!(
            next_step(
                &rotating(Some("2026-06-01T00:00:00Z")),
                Some(90),
                Some(false),
                at(later),
                later,
                HOUR
            ),
            NextStep::Push
        );
    }

    #[test]
    fn without_segment_a_rotation_finishes_by_its_age() {
        let now = "2026-06-01T00:10:00Z";
        assert!(matches!(
            next_step(&rotating(None), Some(90), None, at(now), now, HOUR),
            NextStep::Wait { .. }
        ));
        let later = "2026-06-01T02:00:00Z";
        assert_eq!(
            next_step(&rotating(None), Some(90), None, at(later), later, HOUR),
            NextStep::Finish
        );
    }

    #[test]
    fn a_delivery_tag_for_another_id_does_not_count() {
        let mut role = rotating(None);
        role.tags.insert(
            tags::SEGMENT_DELIVERED.into(),
            delivered_tag(&ExternalId::new(OLD).fingerprint(), "2026-01-01T00:00:00Z"),
        );
        assert_eq!(delivered_at(&role), None);
    }
}
