//! The words of plan notices: each [`NoticeKind`] as a message and a hint.
//! The one place they are written, for the terminal, the JSON output and
//! saved plans (a notice serializes as its [`NoticeText`]).

use serde::{Serialize, Serializer};

use crate::plan::notice::{Changed, Notice, NoticeKind, NoticeText, Restored};

/// The notice in words.
pub(crate) fn text(notice: &Notice) -> NoticeText {
    if let NoticeKind::Saved(saved) = &notice.kind {
        return saved.clone();
    }
    NoticeText {
        level: notice.level(),
        code: notice.code(),
        instance: notice.instance.clone(),
        role: notice.role.clone(),
        message: message(&notice.role, &notice.kind),
        hint: hint(&notice.kind).map(str::to_string),
    }
}

/// What the notice means.
fn message(role: &str, kind: &NoticeKind) -> String {
    match kind {
        NoticeKind::OtherScope { owner, scope } => {
            format!("role {role} belongs to fnctl scope `{owner}`, not `{scope}`")
        }
        NoticeKind::UnmanagedRole { scope } => format!(
            "role {role} exists but fnctl does not manage it (no fnctl tags for scope `{scope}`)"
        ),
        NoticeKind::RolePathDiffers { live, desired } => format!(
            "role {role} is at path {live} but the manifest says {desired}; IAM cannot move a role"
        ),
        NoticeKind::RotationInProgress => {
            "an external ID rotation is in progress: both IDs are accepted".into()
        }
        NoticeKind::RotationDue { days } => {
            format!("the external ID is older than rotateAfterDays ({days} days)")
        }
        NoticeKind::ExternalIdRestored(which) => restored(*which).into(),
        NoticeKind::ExternalIdChanged(Changed::Current) => "the external ID in the trust policy is not the one fnctl issued; it is kept and written to the bundle".into(),
        NoticeKind::ExternalIdChanged(Changed::RotationNew) => "the rotation's new external ID in the trust policy is not the one fnctl recorded (changed by hand, or two `rotate --start` runs raced) and no bundle on disk holds the recorded one; the one the trust policy accepts is kept as the new ID and written to the bundle".into(),
        NoticeKind::RotationAbandoned => "the trust policy no longer accepts the new external ID of the rotation in progress, and no bundle on disk holds it, so it cannot be restored: apply ends the rotation; a function already configured with the new ID is locked out until it gets the bundle apply writes".into(),
        NoticeKind::RotationCompleted => "the trust policy no longer accepts the old external ID of the rotation in progress (removed by hand, or a `rotate --finish` interrupted), and no bundle on disk holds it: apply completes the rotation, the new ID becomes current; a function still configured with the old ID is locked out until it gets the bundle apply writes".into(),
        NoticeKind::WeakExternalId { length, recommended } => format!(
            "the external ID has {length} characters; Segment recommends at least {recommended}"
        ),
        NoticeKind::NewExternalId => "the trust policy has no external ID fnctl can keep; apply makes a new one, so the function's settings must be updated from the new bundle".into(),
        NoticeKind::AmbiguousExternalId { accepted } => format!("the trust policy accepts {accepted} external IDs and none is recorded as current; fnctl cannot tell which one the function uses"),
        NoticeKind::UnrecordedExternalIdsKept { accepted } => format!("the trust policy accepts {accepted} external IDs and none is recorded as current; all are kept"),
        NoticeKind::OrphanedRole { scope } => {
            format!("role {role} of scope `{scope}` is named by no manifest")
        }
        NoticeKind::SegmentInstanceMissing { kind, id } => format!(
            "Segment has no {} {id}: its settings cannot be delivered",
            kind.as_str()
        ),
        NoticeKind::UnreadableTagTime(unreadable) => format!(
            "{unreadable}: fnctl cannot tell whether the external ID is due for rotation"
        ),
        NoticeKind::Saved(saved) => saved.message.clone(),
    }
}

fn restored(which: Restored) -> &'static str {
    match which {
        Restored::Current => "the trust policy lost the external ID fnctl issued; apply restores it from the bundle, so the running function keeps working",
        Restored::RotationOld => "the trust policy lost the rotation's old external ID; apply restores it from the bundle on disk, so a function not yet switched to the new ID keeps working, and the rotation goes on",
        Restored::RotationNew => "the trust policy lost the new external ID of the rotation in progress; apply restores it from the bundle on disk, which holds it, so a function already switched to it keeps working, and the rotation stays in progress",
    }
}

/// How to act on it, when fnctl knows.
fn hint(kind: &NoticeKind) -> Option<&str> {
    Some(match kind {
        NoticeKind::OtherScope { .. } => "rename the role in this manifest (role.name) or move the instance to that scope; fnctl never changes another scope's roles",
        NoticeKind::UnmanagedRole { .. } => "run `fnctl apply --adopt` to take over this role; the external ID in its trust policy is kept",
        NoticeKind::RolePathDiffers { .. } => "set defaults.rolePath to the role's path, or delete the role so fnctl recreates it",
        NoticeKind::RotationInProgress => "`fnctl rotate NAME --finish` once every function uses the new bundle",
        NoticeKind::RotationDue { .. } => "`fnctl rotate --due --start`",
        NoticeKind::ExternalIdRestored(_) | NoticeKind::NewExternalId => return None,
        NoticeKind::ExternalIdChanged(Changed::Current) => "update the function's iamRoleExternalId setting from the new bundle, or rotate the ID",
        NoticeKind::ExternalIdChanged(Changed::RotationNew) => "update the function's iamRoleExternalId setting from the new bundle",
        NoticeKind::RotationAbandoned => "if a bundle with the new ID exists elsewhere, run apply with --bundle-dir pointing at it to restore the ID instead; otherwise give every function the bundle apply writes, then start a new rotation with `fnctl rotate NAME --start`",
        NoticeKind::RotationCompleted => "give every function the bundle apply writes (iamRoleExternalId)",
        NoticeKind::WeakExternalId { .. } => "rotate it: `fnctl rotate NAME --start`, then `--finish`",
        NoticeKind::AmbiguousExternalId { .. } => "remove the IDs no function uses from the trust policy, then run apply again",
        NoticeKind::UnrecordedExternalIdsKept { .. } => "rotate to a single fnctl-issued ID: `fnctl rotate NAME --start`, then `--finish`",
        NoticeKind::OrphanedRole { .. } => "`fnctl apply --prune` deletes it",
        NoticeKind::SegmentInstanceMissing { .. } => "check `segment.id` in the manifest and the token's workspace",
        NoticeKind::UnreadableTagTime(_) => "rotate the ID (`fnctl rotate NAME --start`, then `--finish`): finishing records a new creation time",
        NoticeKind::Saved(saved) => return saved.hint.as_deref(),
    })
}

/// A notice is saved and printed as JSON in its words.
impl Serialize for Notice {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        text(self).serialize(serializer)
    }
}

/// Two notices are equal when they say the same: a notice read back from a
/// saved plan holds its words, not its kind.
impl PartialEq for Notice {
    fn eq(&self, other: &Self) -> bool {
        text(self) == text(other)
    }
}

impl Eq for Notice {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::codes::NoticeCode;

    #[test]
    fn a_notice_reads_back_from_its_words_as_the_same_notice() {
        let notice = Notice::new(
            Some("alpha"),
            "fn-alpha",
            NoticeKind::RotationDue { days: 90 },
        );
        let saved = serde_json::to_string(&notice).unwrap();
        assert_eq!(
            saved,
            r#"{"level":"info","code":"rotation-due","instance":"alpha","role":"fn-alpha","message":"the external ID is older than rotateAfterDays (90 days)","hint":"`fnctl rotate --due --start`"}"#
        );
        let back: Notice = serde_json::from_str(&saved).unwrap();
        assert_eq!(back, notice);
        assert_eq!(back.code(), NoticeCode::RotationDue);
        assert_ne!(
            back,
            Notice::new(
                Some("alpha"),
                "fn-alpha",
                NoticeKind::RotationDue { days: 30 }
            )
        );
    }

    #[test]
    fn a_missing_segment_instance_is_worded_with_its_kind_and_id() {
        let notice = Notice::new(
            Some("alpha"),
            "fn-alpha",
            NoticeKind::SegmentInstanceMissing {
                kind: crate::model::FunctionKind::Destination,
                id: "dfn_1".into(),
            },
        );
        let words = text(&notice);
        assert_eq!(
            (words.message.as_str(), words.hint.as_deref()),
            (
                "Segment has no destination dfn_1: its settings cannot be delivered",
                Some("check `segment.id` in the manifest and the token's workspace")
            )
        );
    }
}
