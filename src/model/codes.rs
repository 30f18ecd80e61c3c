//! The stable kebab-case codes fnctl reports — plan notices, drift
//! categories, verify findings, manifest diagnostics — as enums rather than
//! strings, so a code is matched by the compiler, not by spelling, and each
//! serializes exactly as documented. `codes_are_unique` keeps every code
//! distinct within its kind.

/// Declares a code enum: variants with their kebab-case text, `ALL`,
/// `as_str`, `parse`, `Display`, serde as the text, and comparison with a
/// `&str`.
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

            /// The code written as `text`, if there is one: for codes that
            /// people write themselves, like a manifest's `allowFindings`.
            #[allow(dead_code)] // not every kind of code is written by people
            pub(crate) fn parse(text: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|code| code.as_str() == text)
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
        /// A time tag holds no RFC 3339 time: whether a rotation is due is unknown.
        UnreadableTagTime = "unreadable-tag-time",
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
        /// A time tag holds no RFC 3339 time: whether a rotation is overdue is unknown.
        UnreadableTagTime = "unreadable-tag-time",
        /// A Segment function declares its external ID setting not sensitive (or not at all).
        ExternalIdNotSensitive = "external-id-not-sensitive",
        /// A Segment function's code was changed by hand.
        FunctionCodeChanged = "function-code-changed",
        /// A Segment function's setting definitions or description were changed by hand.
        FunctionSettingsChanged = "function-settings-changed",
        /// A Segment function fnctl owns, whose instances its roles record, is gone.
        FunctionMissing = "function-missing",
        /// A Segment function instance a role records was deleted, or runs another function or from another source.
        FunctionInstanceGone = "function-instance-gone",
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
        /// The Segment function of the manifests is not in Segment (or not fnctl's).
        FunctionMissing = "function-missing",
        /// The function's code in Segment is not the manifest's, or not deployed.
        FunctionNotDeployed = "function-not-deployed",
        /// The instance runs another function or is connected to another source.
        FunctionInstanceElsewhere = "function-instance-elsewhere",
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

codes! {
    /// What a manifest diagnostic is about. Declared in the order of their
    /// text, so that the derived `Ord` sorts diagnostics at one position as
    /// their codes read (`variants_are_declared_in_text_order`).
    DiagnosticCode {
        /// `assumeRole` is in another account than `account`.
        AccountMismatch = "account-mismatch",
        /// A function name used twice in the set.
        DuplicateFunction = "duplicate-function",
        /// Two instances of the set have one name.
        DuplicateInstance = "duplicate-instance",
        /// An instance lists a managed policy twice.
        DuplicateManagedPolicy = "duplicate-managed-policy",
        /// Two instances of one account have one role name (case-insensitive, as IAM's).
        DuplicateRoleName = "duplicate-role-name",
        /// A setting definition declared twice on one function.
        DuplicateSetting = "duplicate-setting",
        /// A permission without actions or without resources.
        EmptyList = "empty-list",
        /// A manifest file with nothing but comments and blank lines.
        EmptyManifest = "empty-manifest",
        /// A manifest file larger than fnctl reads.
        FileTooLarge = "file-too-large",
        /// An instance whose kind is not its function's.
        FunctionKindMismatch = "function-kind-mismatch",
        /// An account id that is not 12 digits, or is written as a YAML number.
        InvalidAccountId = "invalid-account-id",
        /// An action IAM would refuse (not `service:Action`, or bad characters).
        InvalidAction = "invalid-action",
        /// `allowFindings` lists a code an instance cannot accept.
        InvalidAllowFinding = "invalid-allow-finding",
        /// An ARN that is malformed or of the wrong kind for its field.
        InvalidArn = "invalid-arn",
        /// A bucket name S3 would refuse.
        InvalidBucketName = "invalid-bucket-name",
        /// A bucket prefix with wildcards, a leading `/`, or too long.
        InvalidBucketPrefix = "invalid-bucket-prefix",
        /// A condition operator that does not map keys to values.
        InvalidCondition = "invalid-condition",
        /// A role description IAM would refuse.
        InvalidDescription = "invalid-description",
        /// An instance name outside fnctl's alphabet or length.
        InvalidName = "invalid-name",
        /// An inline policy name IAM would refuse.
        InvalidPolicyName = "invalid-policy-name",
        /// A region with no partition's shape.
        InvalidRegion = "invalid-region",
        /// A role name (given or defaulted) IAM would refuse.
        InvalidRoleName = "invalid-role-name",
        /// A role path IAM would refuse.
        InvalidRolePath = "invalid-role-path",
        /// `rotateAfterDays` is 0: every ID would always be due.
        InvalidRotationPeriod = "invalid-rotation-period",
        /// A scope outside fnctl's alphabet or length.
        InvalidScope = "invalid-scope",
        /// A Segment id that is not 6 to 64 letters and digits.
        InvalidSegmentId = "invalid-segment-id",
        /// `maxSessionDuration` outside IAM's 3600 to 43200 seconds.
        InvalidSessionDuration = "invalid-session-duration",
        /// A tag key or value IAM would refuse.
        InvalidTag = "invalid-tag",
        /// A value the field does not take (e.g. an unknown `kind`).
        InvalidValue = "invalid-value",
        /// An action that is not `service:Action` (AWS's reference).
        MalformedAction = "malformed-action",
        /// A required field is missing.
        MissingField = "missing-field",
        /// A manifest path given does not exist.
        MissingPath = "missing-path",
        /// A manifest without `version`.
        MissingVersion = "missing-version",
        /// A manifest file with more than one YAML document.
        MultipleDocuments = "multiple-documents",
        /// No manifest file was found.
        NoManifests = "no-manifests",
        /// A manifest that is not YAML (or not UTF-8).
        ParseError = "parse-error",
        /// An ARN in another AWS partition than the instance's other ARNs or
        /// its bucket's region (an instance lives in one partition).
        PartitionMismatch = "partition-mismatch",
        /// A trust or inline policy beyond IAM's size quota.
        PolicyTooLarge = "policy-too-large",
        /// A grant that lets the function escalate its own privileges.
        PrivilegeEscalation = "privilege-escalation",
        /// fnctl's embedded AWS reference cannot be read (a bug of its build).
        ReferenceUnreadable = "reference-unreadable",
        /// A tag key with a prefix reserved by AWS or fnctl.
        ReservedTag = "reserved-tag",
        /// A grant that can open a resource to other accounts (policies, ACLs, grants).
        ResourceExposure = "resource-exposure",
        /// An action the statement's resources give nothing to act on.
        ResourceMismatch = "resource-mismatch",
        /// `segment` names both an existing instance (`id`) and a `function`, or neither.
        SegmentIdAndFunction = "segment-id-and-function",
        /// A destination instance of a function without the `source` it connects to,
        /// or a source instance with one.
        SegmentSourceMismatch = "segment-source-mismatch",
        /// An action `service:*`: every action of one service.
        ServiceWildcard = "service-wildcard",
        /// A `settings` key that fnctl generates itself.
        SettingClash = "setting-clash",
        /// More managed policies than IAM attaches to a role.
        TooManyManagedPolicies = "too-many-managed-policies",
        /// More tags than IAM allows beside fnctl's own.
        TooManyTags = "too-many-tags",
        /// A known service without such an action (AWS's reference).
        UnknownAction = "unknown-action",
        /// A field the manifest format does not have.
        UnknownField = "unknown-field",
        /// `segment.function` names no function of the set.
        UnknownFunction = "unknown-function",
        /// A region of a known partition that fnctl does not know.
        UnknownRegion = "unknown-region",
        /// A service prefix AWS does not have.
        UnknownService = "unknown-service",
        /// A manifest file or folder that cannot be read.
        Unreadable = "unreadable",
        /// A function's code file that is missing or cannot be read as text.
        UnreadableFunctionCode = "unreadable-function-code",
        /// A manifest `version` this fnctl does not read.
        UnsupportedVersion = "unsupported-version",
        /// A resource no action of its statement acts on.
        UnusedResource = "unused-resource",
        /// The action `*`: every action of every service.
        WildcardAction = "wildcard-action",
        /// The resource `*`: every resource of the account.
        WildcardResource = "wildcard-resource",
        /// A value of the wrong type (e.g. a list where text belongs).
        WrongType = "wrong-type",
        /// YAML nested or aliased beyond what a manifest needs.
        YamlTooComplex = "yaml-too-complex",
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
        assert_unique(
            &DiagnosticCode::ALL
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

    #[test]
    fn diagnostic_codes_round_trip_through_serde_and_parse() {
        for code in DiagnosticCode::ALL {
            let value = serde_json::to_value(code).unwrap();
            assert_eq!(value, code.as_str());
            assert_eq!(
                serde_json::from_value::<DiagnosticCode>(value).unwrap(),
                *code
            );
            assert_eq!(DiagnosticCode::parse(code.as_str()), Some(*code));
            assert_eq!(code.to_string(), code.as_str());
        }
        assert_eq!(DiagnosticCode::parse("everything"), None);
        assert_eq!(DiagnosticCode::parse("Unknown-Action"), None);
    }

    /// Diagnostics at one position are sorted by code, and the order they
    /// are printed in is part of the output: the derived `Ord` must be the
    /// order of the text.
    #[test]
    fn variants_are_declared_in_text_order() {
        let mut by_code = DiagnosticCode::ALL.to_vec();
        by_code.sort();
        let mut by_text = DiagnosticCode::ALL.to_vec();
        by_text.sort_by_key(|code| code.as_str());
        assert_eq!(by_code, by_text);
    }

    /// The tables of manifest diagnostics in docs/diagnostics.md (those
    /// headed `| code | severity | what |`) name every code, and only codes,
    /// so the list people read cannot drift from the enum.
    #[test]
    fn the_docs_list_every_diagnostic_code() {
        let readme = include_str!("../../docs/diagnostics.md");
        let mut listed = std::collections::BTreeSet::new();
        let mut in_table = false;
        for line in readme.lines() {
            if line == "| code | severity | what |" {
                in_table = true;
            } else if !line.starts_with('|') {
                in_table = false;
            } else if in_table {
                let first_cell = line.split('|').nth(1).unwrap_or("");
                // The text between backticks: every other piece.
                for text in first_cell.split('`').skip(1).step_by(2) {
                    let code = DiagnosticCode::parse(text).unwrap_or_else(|| {
                        panic!("docs/diagnostics.md lists `{text}`, which is no diagnostic code")
                    });
                    listed.insert(code);
                }
            }
        }
        let missing: Vec<&str> = DiagnosticCode::ALL
            .iter()
            .filter(|code| !listed.contains(code))
            .map(|code| code.as_str())
            .collect();
        assert!(
            missing.is_empty(),
            "docs/diagnostics.md lists no {missing:?}"
        );
    }
}
