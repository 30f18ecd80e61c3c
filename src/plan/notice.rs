//! Plan notices as values: decision code picks a [`NoticeKind`] carrying the
//! names and numbers it is about; `report::notice` words it (message and
//! hint), for the terminal, the JSON output and saved plans alike. Level and
//! code follow from the kind, so a decision cannot pair them wrongly.

use serde::{Deserialize, Serialize};

use crate::model::codes::NoticeCode;
use crate::model::time::UnreadableTime;
use crate::model::FunctionKind;

/// Something the plan tells without changing it. Serialized in its words
/// ([`NoticeText`], rendered by `report::notice`); two notices are equal
/// when they say the same, so a saved plan reads back equal to the plan.
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "NoticeText")]
pub struct Notice {
    /// The instance, when there is one.
    pub instance: Option<String>,
    /// The role.
    pub role: String,
    /// What happened, with what it names.
    pub kind: NoticeKind,
}

/// How serious a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeLevel {
    /// The role cannot be reconciled; the run fails.
    Conflict,
    /// Worth acting on.
    Warning,
    /// For information.
    Info,
}

/// What a notice is about. The role (and instance) are the notice's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeKind {
    /// The role carries another fnctl scope's tags.
    OtherScope {
        /// The scope the role's tags name.
        owner: String,
        /// The manifest's scope.
        scope: String,
    },
    /// The role exists without fnctl's tags and `--adopt` was not given.
    UnmanagedRole {
        /// The manifest's scope.
        scope: String,
    },
    /// The role's path is not the manifest's; IAM cannot move a role.
    RolePathDiffers {
        /// The live path.
        live: String,
        /// The manifest's path.
        desired: String,
    },
    /// Both IDs of a rotation are accepted.
    RotationInProgress,
    /// The ID is older than `rotateAfterDays`.
    RotationDue {
        /// The manifest's `rotateAfterDays`.
        days: u32,
    },
    /// An ID the trust policy lost comes back from the bundle on disk.
    ExternalIdRestored(Restored),
    /// The trust policy holds another ID than the one fnctl recorded; kept.
    ExternalIdChanged(Changed),
    /// The rotation's new ID is lost and no bundle holds it: apply ends the rotation.
    RotationAbandoned,
    /// The rotation's old ID is lost and no bundle holds it: the new one becomes current.
    RotationCompleted,
    /// The kept ID is shorter than Segment recommends.
    WeakExternalId {
        /// Its length in characters.
        length: usize,
        /// The length Segment recommends at least.
        recommended: usize,
    },
    /// No ID can be kept: apply makes a new one.
    NewExternalId,
    /// More IDs than fnctl can tell apart and none recorded: nothing is done.
    AmbiguousExternalId {
        /// How many IDs the trust policy accepts.
        accepted: usize,
    },
    /// Two IDs and none recorded: both are kept, lest a function be locked out.
    UnrecordedExternalIdsKept {
        /// How many IDs the trust policy accepts.
        accepted: usize,
    },
    /// An owned role of the scope that no manifest names (no `--prune`).
    OrphanedRole {
        /// The scope its tags name.
        scope: String,
    },
    /// A time tag holds no time: whether a rotation is due is unknown.
    UnreadableTagTime(UnreadableTime),
    /// Segment has no instance of the manifest's `segment.id`.
    SegmentInstanceMissing {
        /// The instance's kind.
        kind: FunctionKind,
        /// The Segment id the manifest names.
        id: String,
    },
    /// A notice read from a saved plan, in the words it was saved with.
    Saved(NoticeText),
}

/// Which lost ID a bundle gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restored {
    /// The current ID, no rotation in progress.
    Current,
    /// The old ID of a rotation in progress.
    RotationOld,
    /// The new ID of a rotation in progress.
    RotationNew,
}

/// Which ID was replaced in the trust policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    /// The current ID (no bundle held the recorded one).
    Current,
    /// The rotation's new ID (hand edit or racing starts).
    RotationNew,
}

/// A notice in words: its form in JSON and in saved plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeText {
    /// `conflict` (an error: nothing is done for the role), `warning` or `info`.
    pub level: NoticeLevel,
    /// Stable kebab-case code.
    pub code: NoticeCode,
    /// The instance, when there is one.
    pub instance: Option<String>,
    /// The role.
    pub role: String,
    /// What it means.
    pub message: String,
    /// How to act on it.
    pub hint: Option<String>,
}

impl From<NoticeText> for Notice {
    fn from(text: NoticeText) -> Self {
        Notice {
            instance: text.instance.clone(),
            role: text.role.clone(),
            kind: NoticeKind::Saved(text),
        }
    }
}

impl Notice {
    /// A notice about `role` (of `instance`, when there is one).
    pub(crate) fn new(instance: Option<&str>, role: &str, kind: NoticeKind) -> Self {
        Notice {
            instance: instance.map(str::to_string),
            role: role.to_string(),
            kind,
        }
    }

    /// How serious it is.
    pub(crate) fn level(&self) -> NoticeLevel {
        match &self.kind {
            NoticeKind::OtherScope { .. }
            | NoticeKind::UnmanagedRole { .. }
            | NoticeKind::RolePathDiffers { .. }
            | NoticeKind::AmbiguousExternalId { .. } => NoticeLevel::Conflict,
            NoticeKind::ExternalIdRestored(_)
            | NoticeKind::ExternalIdChanged(_)
            | NoticeKind::RotationAbandoned
            | NoticeKind::RotationCompleted
            | NoticeKind::WeakExternalId { .. }
            | NoticeKind::NewExternalId
            | NoticeKind::UnrecordedExternalIdsKept { .. }
            | NoticeKind::UnreadableTagTime(_)
            | NoticeKind::SegmentInstanceMissing { .. } => NoticeLevel::Warning,
            NoticeKind::RotationInProgress
            | NoticeKind::RotationDue { .. }
            | NoticeKind::OrphanedRole { .. } => NoticeLevel::Info,
            NoticeKind::Saved(text) => text.level,
        }
    }

    /// Its stable code.
    pub(crate) fn code(&self) -> NoticeCode {
        match &self.kind {
            NoticeKind::OtherScope { .. } => NoticeCode::OtherScope,
            NoticeKind::UnmanagedRole { .. } => NoticeCode::UnmanagedRole,
            NoticeKind::RolePathDiffers { .. } => NoticeCode::RolePathDiffers,
            NoticeKind::RotationInProgress => NoticeCode::RotationInProgress,
            NoticeKind::RotationDue { .. } => NoticeCode::RotationDue,
            NoticeKind::ExternalIdRestored(_) => NoticeCode::ExternalIdRestored,
            NoticeKind::ExternalIdChanged(_) => NoticeCode::ExternalIdChanged,
            NoticeKind::RotationAbandoned => NoticeCode::RotationAbandoned,
            NoticeKind::RotationCompleted => NoticeCode::RotationCompleted,
            NoticeKind::WeakExternalId { .. } => NoticeCode::WeakExternalId,
            NoticeKind::NewExternalId => NoticeCode::NewExternalId,
            NoticeKind::AmbiguousExternalId { .. }
            | NoticeKind::UnrecordedExternalIdsKept { .. } => NoticeCode::AmbiguousExternalId,
            NoticeKind::OrphanedRole { .. } => NoticeCode::OrphanedRole,
            NoticeKind::SegmentInstanceMissing { .. } => NoticeCode::SegmentInstanceMissing,
            NoticeKind::UnreadableTagTime(_) => NoticeCode::UnreadableTagTime,
            NoticeKind::Saved(text) => text.code,
        }
    }
}
