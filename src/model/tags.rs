//! The tags fnctl puts on the roles it owns. IAM is the state: ownership,
//! scope and external-ID bookkeeping live here, never in a local file.

/// Marks a role as fnctl's; value [`MANAGED_BY_VALUE`].
pub const MANAGED_BY: &str = "fnctl:managed-by";
/// Value of [`MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "fnctl";
/// The ownership scope.
pub const SCOPE: &str = "fnctl:scope";
/// The instance the role serves.
pub const INSTANCE: &str = "fnctl:instance";
/// Fingerprint (not the value) of the current external ID.
pub const EXTERNAL_ID: &str = "fnctl:external-id";
/// When the current external ID was made, RFC 3339.
pub const EXTERNAL_ID_CREATED: &str = "fnctl:external-id-created";
/// When a rotation started, RFC 3339 (present only during a rotation).
pub const ROTATION_STARTED: &str = "fnctl:rotation-started";
/// Fingerprint of the new ID of a rotation in progress.
pub const ROTATION_PENDING: &str = "fnctl:rotation-pending";

/// When Segment was seen holding the pending ID of a rotation:
/// `<fingerprint> <RFC 3339>`; `rotate --finish` counts `--min-age` from it.
pub const SEGMENT_DELIVERED: &str = "fnctl:segment-delivered";

/// Digests of the state the last apply wrote (see [`crate::model::digest`]).
pub const APPLIED: &str = "fnctl:applied";

/// The id of the Segment function instance fnctl made (or adopted) for
/// the role's instance: later runs find it by this id first.
pub const SEGMENT_INSTANCE: &str = "fnctl:segment-instance";

/// A lease that serializes rotations of one role: `<owner> <expiry>`.
pub const LOCK: &str = "fnctl:lock";

/// Whether a tag key is one of fnctl's own.
pub(crate) fn is_fnctl_tag(key: &str) -> bool {
    key.starts_with("fnctl:")
}
