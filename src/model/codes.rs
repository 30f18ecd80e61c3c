//! The stable kebab-case codes fnctl reports — plan notices, drift
//! categories, verify findings — as enums rather than strings, so a code is
//! matched by the compiler, not by spelling, and each serializes exactly as
//! documented. `codes_are_unique` keeps every code distinct within its kind.

/// Declares a code enum: variants with their kebab-case text, `ALL`,
/// `as_str`, `Display`, serde as the text, and comparison with a `&str`.
macro_rules! codes {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$variant_meta])* #[serde(rename = $text)] $variant,)*
        }

        impl $name {
            /// Every code of this kind.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The code as written in reports.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

codes! {
    /// What a plan notice is about.
    NoticeCode {
        /// The role belongs to another fnctl scope.
        OtherScope = "other-scope",
        /// A role of the manifest's name exists without fnctl's tags.
        UnmanagedRole = "unmanaged-role",
        /// The role exists under another path than the manifest's.
        RolePathDiffers = "role-path-differs",
        /// Two IDs are accepted while a rotation runs.
        RotationInProgress = "rotation-in-progress",
        /// The ID is older than `rotateAfterDays`.
        RotationDue = "rotation-due",
        /// A lost ID is put back from the bundle on disk.
        ExternalIdRestored = "external-id-restored",
        /// The trust policy holds another ID than the one fnctl issued.
        ExternalIdChanged = "external-id-changed",
        /// The new ID of a rotation is lost and no bundle holds it.
        RotationAbandoned = "rotation-abandoned",
        /// The old ID of a rotation is lost: the rotation is complete.
        RotationCompleted = "rotation-completed",
        /// An adopted ID shorter than Segment recommends.
        WeakExternalId = "weak-external-id",
        /// Apply makes a new ID.
        NewExternalId = "new-external-id",
        /// Several IDs and none recorded.
        AmbiguousExternalId = "ambiguous-external-id",
        /// An owned role no manifest names.
        OrphanedRole = "orphaned-role",
        /// Segment has no such instance.
        SegmentInstanceMissing = "segment-instance-missing",
    }
}

codes! {
    /// The category of a drift finding.
    DriftCategory {
        /// The trust policy lost the ID fnctl issued.
        ExternalIdMismatch = "external-id-mismatch",
        /// An inline policy fnctl does not own.
        ForeignInlinePolicy = "foreign-inline-policy",
        /// An owned role no manifest names.
        OrphanedRole = "orphaned-role",
        /// The role belongs to another scope.
        OtherScope = "other-scope",
        /// The manifest changed and apply has not run.
        PendingChange = "pending-change",
        /// The role does not exist.
        RoleMissing = "role-missing",
        /// The new ID of a rotation was removed by hand.
        RotationNewIdRemoved = "rotation-new-id-removed",
        /// The old ID of a rotation was removed by hand.
        RotationOldIdRemoved = "rotation-old-id-removed",
        /// A rotation is overdue.
        RotationOverdue = "rotation-overdue",
        /// Segment holds an ID the trust policy does not accept.
        SegmentExternalIdRejected = "segment-external-id-rejected",
        /// Segment has no such instance.
        SegmentInstanceMissing = "segment-instance-missing",
        /// fnctl-owned settings changed in Segment.
        SegmentSettingsChanged = "segment-settings-changed",
        /// The trust policy accepts an ID fnctl did not issue, or a stranger.
        TrustBroadened = "trust-broadened",
        /// The trust policy was changed (or is no longer valid).
        TrustChanged = "trust-changed",
        /// The inline policy grants more than the manifest.
        PermissionsBroadened = "permissions-broadened",
        /// The inline policy or a managed policy was changed or removed.
        PermissionsChanged = "permissions-changed",
        /// A managed policy was attached by hand.
        ManagedPolicyAttached = "managed-policy-attached",
        /// The permissions boundary changed.
        BoundaryChanged = "boundary-changed",
        /// Tags changed by hand.
        TagsChanged = "tags-changed",
        /// Description or max session duration changed by hand.
        RoleSettingsChanged = "role-settings-changed",
        /// A role of the manifest's name without fnctl's tags.
        UnmanagedRole = "unmanaged-role",
        /// An unmanaged role under fnctl's role path.
        UnmanagedRoleInPath = "unmanaged-role-in-path",
    }
}

codes! {
    /// What `verify` found.
    VerifyCode {
        /// The bundle's role ARN is not the role's.
        BundleArnMismatch = "bundle-arn-mismatch",
        /// The bundle has no external ID.
        BundleExternalIdMissing = "bundle-external-id-missing",
        /// The trust policy rejects the bundle's ID.
        BundleExternalIdRejected = "bundle-external-id-rejected",
        /// No bundle on disk.
        BundleMissing = "bundle-missing",
        /// The bundle's settings are not the manifest's.
        BundleSettingsStale = "bundle-settings-stale",
        /// The bundle cannot be read.
        BundleUnreadable = "bundle-unreadable",
        /// The permissions do not cover the declared bucket.
        PermissionsMissing = "permissions-missing",
        /// A live Allow grants an action on no resource it acts on (AWS's reference).
        PermissionNeverExercised = "permission-never-exercised",
        /// The role does not exist.
        RoleMissing = "role-missing",
        /// The role is not fnctl's.
        RoleNotManaged = "role-not-managed",
        /// Segment has no such instance.
        SegmentInstanceMissing = "segment-instance-missing",
        /// Segment does not hold the bundle's settings.
        SegmentSettingsDiffer = "segment-settings-differ",
        /// Any account may assume the role.
        TrustAdmitsAnyone = "trust-admits-anyone",
        /// Another principal than Segment's account may assume the role.
        TrustAdmitsOtherPrincipal = "trust-admits-other-principal",
        /// Segment's account may assume the role without the ID.
        TrustAdmitsWithoutExternalId = "trust-admits-without-external-id",
        /// The trust policy is not valid JSON.
        TrustInvalid = "trust-invalid",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_unique(codes: &[&'static str]) {
        let mut seen = std::collections::BTreeSet::new();
        for code in codes {
            assert!(seen.insert(*code), "code `{code}` is declared twice");
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "`{code}` is not kebab-case"
            );
        }
    }

    #[test]
    fn codes_are_unique() {
        assert_unique(
            &NoticeCode::ALL
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>(),
        );
        assert_unique(
            &DriftCategory::ALL
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>(),
        );
        assert_unique(
            &VerifyCode::ALL
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>(),
        );
    }

    #[test]
    fn codes_serialize_as_their_text() {
        for code in VerifyCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        let back: NoticeCode = serde_json::from_str("\"rotation-due\"").unwrap();
        assert_eq!(back, NoticeCode::RotationDue);
    }
}
