//! Why an instance was not rotated: typed, with the cause kept (the CLI
//! prints the chain) and the advice apart from the message, so that the
//! failure list reads `instance: what happened: cause; what to do`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::execute::executor::WriteFailed;
use crate::execute::lease::LockError;
use crate::execute::segment::DeliveryError;
use crate::execute::session::NotOwned;
use crate::live::IamError;
use crate::plan::rotation::RotationError;
use crate::plan::rotation_schedule::FinishRefused;

/// Why one instance's rotation step failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// The instance's role is not there, or not fnctl's of this scope.
    #[error(transparent)]
    NotOwned(#[from] NotOwned),
    /// No new ID could be drawn.
    #[error("cannot read the OS random source")]
    Random(#[source] getrandom::Error),
    /// A hand edit removed the rotation's new ID, which the bundle holds:
    /// ending the rotation would lock out a function already on it.
    #[error("the trust policy no longer accepts the rotation's new external ID, which the bundle holds (a hand edit?)")]
    PendingLost,
    /// Segment does not hold the new ID yet, or not for long enough.
    #[error(transparent)]
    SegmentNotReady(FinishRefused),
    /// The rotation's decision refused the role as it is.
    #[error(transparent)]
    Rotation(#[from] RotationError),
    /// The role's lease was not taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The last check before a trust policy leaves fnctl refused it.
    #[error("{reason}")]
    TrustRefused { reason: String },
    /// IAM refused or failed one of the phase's writes.
    #[error(transparent)]
    Write(#[from] WriteFailed),
    /// The role was gone when read back after the phase.
    #[error("role {role} disappeared")]
    Disappeared { role: String },
    /// The read-back after the phase failed.
    #[error("reading the role back")]
    ReadBack(#[source] Arc<IamError>),
    /// No ID in the trust policy is recorded as fnctl's.
    #[error("the trust policy holds no external ID fnctl can vouch for")]
    NoVouchedId,
    /// `--finish` done, yet more than one ID is accepted (a concurrent run).
    #[error(
        "the trust policy still accepts {accepted} external IDs after --finish (a concurrent run?)"
    )]
    StillSeveralIds { accepted: usize },
    /// `--start` done, yet no rotation shows (a concurrent run).
    #[error("the rotation is not in a consistent state after --start (a concurrent run?); the bundle was not changed")]
    NotStarted,
    /// The bundle could not be written.
    #[error("cannot write the bundle")]
    BundleWrite(#[source] std::io::Error),
    /// Only instances with `segment:` get pushes.
    #[error("no `segment:` in the manifest")]
    NoSegment,
    /// No bundle to push.
    #[error("no bundle in {} to push", .directory.display())]
    NoBundle { directory: PathBuf },
    /// The bundle on disk could not be read.
    #[error("cannot read the bundle")]
    BundleRead(#[source] std::io::Error),
    /// The bundle holds no external ID.
    #[error("the bundle holds no external ID")]
    NoIdInBundle,
    /// The push to Segment failed.
    #[error("the new external ID did not reach Segment {path}")]
    NotDelivered {
        path: String,
        #[source]
        source: DeliveryError,
    },
    /// Segment took the ID, but the tag saying when could not be written.
    #[error("Segment holds the new ID, but recording when failed")]
    DeliveryNotRecorded(#[source] IamError),
}

impl RotateError {
    /// What to do about it, when the failure alone does not say.
    pub(crate) fn advice(&self, instance: &str) -> Option<String> {
        let advice = match self {
            RotateError::NotOwned(not_owned) => not_owned.advice()?.into(),
            RotateError::PendingLost => "run `fnctl apply` to put it back first".into(),
            RotateError::Write(_) => {
                "the bundle on disk still works; re-run the same command to complete it".into()
            }
            RotateError::StillSeveralIds { .. } => {
                format!("re-run `fnctl rotate {instance} --finish`")
            }
            RotateError::NotStarted => format!("re-run `fnctl rotate {instance} --start`"),
            RotateError::NoBundle { .. } => "run `fnctl bundle` first".into(),
            RotateError::NotDelivered { .. } => {
                "both IDs stay accepted; re-run `fnctl rotate --auto`".into()
            }
            RotateError::DeliveryNotRecorded(_) => "re-run `fnctl rotate --auto`".into(),
            _ => return None,
        };
        Some(advice)
    }
}
