//! Checks a deserialized manifest set and turns it into the desired model.
//! Every problem of the whole set is collected, not just the first, and each
//! names its file, line, column and field. Values that could not be read
//! (wrong type or value, already reported) hold placeholders: no check
//! judges them, nor anything that depends on them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde_json::Value;

use super::diagnostic::{Diagnostic, DiagnosticCode, Severity};
use super::lint::{lint_allow_statement, Part};
use super::load::SourceFile;
use super::location::{FieldPath, LocationIndex};
use super::permissions;
use super::recover::Unread;
use super::regions::{self, Region};
use super::rules;
use super::spec::{Defaults, Effect, InstanceSpec, ManifestFile, RoleSpec};
use crate::model::segment::{SegmentRegion, SegmentTarget};
use crate::model::trust;
use crate::model::{self, DesiredInstance, Origin};

pub mod functions;

/// Setting names fnctl generates; extra `settings` may not reuse them.
pub const GENERATED_SETTINGS: &[&str] = &["iamRoleArn", "iamRoleExternalId"];
/// Settings the bucket shorthand generates.
pub const BUCKET_SETTINGS: &[&str] = &["s3Bucket", "s3BucketRegion"];
/// Tags fnctl may put on a role besides the user's, counted against IAM's 50.
pub const RESERVED_TAG_COUNT: usize = 10;
/// IAM's tag limit per role.
pub const MAX_TAGS_PER_ROLE: usize = 50;
/// IAM's hard limit of managed policies attached to one role.
pub const MAX_MANAGED_POLICIES: usize = 20;
/// IAM's trust policy size limit (default quota).
pub const MAX_TRUST_POLICY_LENGTH: usize = 2048;
/// IAM's limit for all inline policies of one role together.
pub const MAX_INLINE_POLICY_LENGTH: usize = 10240;

/// Diagnostics about one file, placed with its location index.
struct FileChecker<'a> {
    path: &'a Path,
    index: &'a LocationIndex,
    unread: &'a Unread,
    diagnostics: &'a mut Vec<Diagnostic>,
    /// Where a diagnostic about a placeholder goes instead of `diagnostics`.
    discarded: Option<Diagnostic>,
}

impl FileChecker<'_> {
    /// Whether the value at `field` (or around it) could not be read: it is
    /// a placeholder, and its own problem is already reported.
    fn unread(&self, field: &FieldPath) -> bool {
        self.unread.covers(field)
    }

    fn warning(
        &mut self,
        code: DiagnosticCode,
        field: &FieldPath,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        let diagnostic = self.error(code, field, message);
        diagnostic.severity = Severity::Warning;
        diagnostic
    }

    /// A region: an error when it has no partition's shape, a warning when
    /// it has one but is not a region fnctl knows.
    fn check_region(&mut self, field: &FieldPath, region: &str) {
        match regions::check_region(region) {
            Err(message) => {
                self.error(DiagnosticCode::InvalidRegion, field, message);
            }
            Ok(Region {
                known: false,
                partition,
            }) => {
                self.warning(
                    DiagnosticCode::UnknownRegion,
                    field,
                    format!(
                        "`{region}` is not a region of partition `{partition}` that fnctl knows"
                    ),
                )
                .hint = Some(
                    "check the spelling; a region AWS opened after this fnctl was released is fine"
                        .into(),
                );
            }
            Ok(_) => {}
        }
    }

    /// Reports a problem, unless `field` holds a placeholder: a check of a
    /// value that was not read would judge the placeholder, and the value's
    /// own problem is reported already.
    fn error(
        &mut self,
        code: DiagnosticCode,
        field: &FieldPath,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        let diagnostic =
            Diagnostic::error(code, self.path, self.index.value(field), field, message);
        if self.unread(field) {
            return self.discarded.insert(diagnostic);
        }
        self.diagnostics.push(diagnostic);
        self.diagnostics.last_mut().expect("just pushed")
    }

    /// Account ids must be quoted: YAML reads `012345678901` as a number and
    /// other tools (editors, schema validators) drop its leading zero.
    fn check_account_id(&mut self, field: &FieldPath, account: &str) {
        if self.index.is_plain_scalar(field) && account.bytes().all(|b| b.is_ascii_digit()) {
            self.error(
                DiagnosticCode::InvalidAccountId,
                field,
                format!("account id {account} is written as a YAML number"),
            )
            .hint = Some(format!(
                "quote it: \"{account}\" (a YAML number loses leading zeros)"
            ));
            return;
        }
        self.check(
            DiagnosticCode::InvalidAccountId,
            field,
            rules::check_account_id(account),
        );
    }

    fn check(&mut self, code: DiagnosticCode, field: &FieldPath, result: Result<(), String>) {
        if let Err(message) = result {
            self.error(code, field, message);
        }
    }
}

/// File-level settings after their own checks.
struct FileDefaults {
    /// Whether the account the roles live in is known (`account` and
    /// `assumeRole` were read).
    account_is_read: bool,
    scope: String,
    account: Option<String>,
    role_path: String,
    tags: BTreeMap<String, String>,
    assume_role: Option<String>,
    source_account: String,
    destination_account: String,
    segment_region: SegmentRegion,
}

/// Where a name was first declared: the file (its number among the files
/// [`SetValidator`] has checked) and the line.
#[derive(Debug, Clone, Copy)]
struct Declared {
    file: usize,
    line: usize,
}

/// Checks a manifest set one file at a time. The checks across files (an
/// instance name is unique in the set, a role name in its account) need of
/// the files already checked only each name and where it was first declared,
/// so a file's text, document and index can go as soon as it is checked:
/// the memory a set costs is one file plus the instances kept, plus these
/// names (measured: about 250 bytes an instance, where a file's text,
/// document and index cost some 5 KB an instance while it is checked).
#[derive(Debug, Default)]
pub struct SetValidator {
    /// The files checked that declare names, as diagnostics name them.
    files: Vec<String>,
    /// Instance name → where it was first declared.
    instance_names: HashMap<Box<str>, Declared>,
    /// The accounts of the role names, numbered: they are few, and each
    /// role name's key holds a number instead of a copy of its account.
    accounts: HashMap<String, usize>,
    /// (account number, lowercase role name) → where it was first declared.
    role_names: HashMap<(usize, Box<str>), Declared>,
    /// The functions of the set and the instances that run them.
    functions: functions::FunctionRegistry,
}

impl SetValidator {
    /// Validates one file, in the order of the set, and returns its desired
    /// instances. They are only meaningful when no error was pushed, in
    /// this file or any other of the set.
    pub(crate) fn validate_file(
        &mut self,
        file: &SourceFile,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Vec<DesiredInstance> {
        let mut instances = Vec::new();
        let Some(manifest) = &file.manifest else {
            return instances;
        };
        let mut checker = FileChecker {
            path: &file.path,
            index: &file.index,
            unread: &file.unread,
            diagnostics,
            discarded: None,
        };
        let Some(defaults) = check_file(manifest, &mut checker) else {
            return instances;
        };
        let file_number = self.files.len();
        self.files.push(file.path.display().to_string());
        self.functions.check_file_functions(
            file,
            &manifest.functions,
            &defaults,
            (file_number, &self.files),
            &mut checker,
        );
        for (position, spec) in manifest.instances.iter().enumerate() {
            let field = FieldPath::root().key("instances").index(position);
            let instance = check_instance(spec, &defaults, &field, &mut checker);
            self.functions
                .check_instance(file, spec, &defaults, &field, &mut checker);
            let here = Declared {
                file: file_number,
                line: file.index.value(&field).line,
            };
            if checker.unread(&field.key("name")) {
                // A placeholder is no name: nothing to compare.
            } else if let Some(other) = self.instance_names.get(spec.name.as_str()) {
                let other_file = &self.files[other.file];
                let other_line = other.line;
                checker
                    .error(
                        DiagnosticCode::DuplicateInstance,
                        &field.key("name"),
                        format!(
                            "instance `{}` is also declared at {other_file}:{other_line}",
                            spec.name
                        ),
                    )
                    .hint = Some(
                    "instance names are unique across the whole manifest set: they name bundles"
                        .into(),
                );
            } else {
                self.instance_names.insert(spec.name.as_str().into(), here);
            }
            let role_is_read =
                defaults.account_is_read && role_name_is_read(spec, &field, &checker);
            let role_key = (
                self.account_number(instance.target_account().unwrap_or("")),
                instance.role_name.to_ascii_lowercase().into_boxed_str(),
            );
            if !role_is_read {
                // Account or role name unknown: nothing to compare.
            } else if let Some(other) = self.role_names.get(&role_key) {
                let other_file = &self.files[other.file];
                let other_line = other.line;
                let role_field = if spec.role.as_ref().is_some_and(|r| r.name.is_some()) {
                    field.key("role").key("name")
                } else {
                    field.key("name")
                };
                checker
                    .error(DiagnosticCode::DuplicateRoleName, &role_field, format!("role name `{}` is also used at {other_file}:{other_line} (IAM role names are case-insensitive)", instance.role_name))
                    .hint = Some("give one of the instances its own `role.name`".into());
            } else {
                self.role_names.insert(role_key, here);
            }
            instances.push(instance);
        }
        instances
    }

    /// The functions of the set, the instances that run them and the
    /// problems of their references, once every file is validated.
    pub fn finish(self) -> functions::CheckedFunctions {
        self.functions.finish()
    }

    /// The number of `account`, given it on first sight.
    fn account_number(&mut self, account: &str) -> usize {
        if let Some(number) = self.accounts.get(account) {
            return *number;
        }
        let number = self.accounts.len();
        self.accounts.insert(account.to_string(), number);
        number
    }
}

/// Whether the role name of an instance is known: given and read, or the
/// default from a name that was read.
fn role_name_is_read(spec: &InstanceSpec, field: &FieldPath, checker: &FileChecker<'_>) -> bool {
    let role = field.key("role");
    if checker.unread(&role) {
        return false;
    }
    match spec.role.as_ref().and_then(|r| r.name.as_ref()) {
        Some(_) => !checker.unread(&role.key("name")),
        None => !checker.unread(&field.key("name")),
    }
}

fn check_file(manifest: &ManifestFile, checker: &mut FileChecker<'_>) -> Option<FileDefaults> {
    // A version that could not be read (`version: "1"`) is reported; the
    // rest of the file is still checked as the only version there is.
    if manifest.version != 1 && !checker.unread(&FieldPath::root().key("version")) {
        checker
            .error(
                DiagnosticCode::UnsupportedVersion,
                &FieldPath::root().key("version"),
                format!("manifest version {} is not supported", manifest.version),
            )
            .hint = Some("this fnctl reads `version: 1`".into());
        return None;
    }
    let empty = Defaults::default();
    let defaults = manifest.defaults.as_ref().unwrap_or(&empty);
    let field = FieldPath::root().key("defaults");
    let scope = defaults
        .scope
        .clone()
        .unwrap_or_else(|| model::DEFAULT_SCOPE.to_string());
    checker.check(
        DiagnosticCode::InvalidScope,
        &field.key("scope"),
        rules::check_scope(&scope),
    );
    if let Some(account) = &defaults.account {
        checker.check_account_id(&field.key("account"), account);
    }
    let role_path = defaults
        .role_path
        .clone()
        .unwrap_or_else(|| model::DEFAULT_ROLE_PATH.to_string());
    checker.check(
        DiagnosticCode::InvalidRolePath,
        &field.key("rolePath"),
        rules::check_role_path(&role_path),
    );
    if let Some(arn) = &defaults.assume_role {
        match rules::check_role_arn(arn) {
            Err(message) => {
                checker.error(
                    DiagnosticCode::InvalidArn,
                    &field.key("assumeRole"),
                    message,
                );
            }
            Ok(role_account) => {
                let account = defaults
                    .account
                    .as_ref()
                    .filter(|_| !checker.unread(&field.key("account")));
                if let Some(account) = account.filter(|a| **a != role_account) {
                    checker.error(
                        DiagnosticCode::AccountMismatch,
                        &field.key("assumeRole"),
                        format!(
                            "assumeRole is in account {role_account} but `account` says {account}"
                        ),
                    );
                }
            }
        }
    }
    check_tags(&defaults.tags, &field.key("tags"), checker);
    let segment = defaults.segment_accounts.clone().unwrap_or_default();
    for (kind, value) in [
        ("source", &segment.source),
        ("destination", &segment.destination),
    ] {
        if let Some(account) = value {
            checker.check_account_id(&field.key("segmentAccounts").key(kind), account);
        }
    }
    Some(FileDefaults {
        account_is_read: !checker.unread(&field.key("account"))
            && !checker.unread(&field.key("assumeRole")),
        scope,
        account: defaults.account.clone(),
        role_path,
        tags: defaults.tags.clone(),
        assume_role: defaults.assume_role.clone(),
        source_account: segment
            .source
            .unwrap_or_else(|| model::SEGMENT_SOURCE_ACCOUNT.into()),
        destination_account: segment
            .destination
            .unwrap_or_else(|| model::SEGMENT_DESTINATION_ACCOUNT.into()),
        segment_region: defaults
            .segment
            .as_ref()
            .and_then(|s| s.region)
            .unwrap_or_default(),
    })
}

fn check_tags(tags: &BTreeMap<String, String>, field: &FieldPath, checker: &mut FileChecker<'_>) {
    for (key, value) in tags {
        let tag_field = field.key(key);
        let lowered = key.to_ascii_lowercase();
        if lowered.starts_with("aws:") {
            checker.error(
                DiagnosticCode::ReservedTag,
                &tag_field,
                format!("tag key `{key}`: the `aws:` prefix is reserved by AWS"),
            );
        } else if lowered.starts_with("fnctl:") {
            checker.error(
                DiagnosticCode::ReservedTag,
                &tag_field,
                format!("tag key `{key}`: the `fnctl:` prefix is reserved for fnctl's own tags"),
            );
        } else {
            checker.check(
                DiagnosticCode::InvalidTag,
                &tag_field,
                rules::check_tag_key(key),
            );
        }
        checker.check(
            DiagnosticCode::InvalidTag,
            &tag_field,
            rules::check_tag_value(value),
        );
    }
}

fn check_instance(
    spec: &InstanceSpec,
    defaults: &FileDefaults,
    field: &FieldPath,
    checker: &mut FileChecker<'_>,
) -> DesiredInstance {
    checker.check(
        DiagnosticCode::InvalidName,
        &field.key("name"),
        rules::check_instance_name(&spec.name),
    );
    let role = spec.role.clone().unwrap_or_default();
    let role_name = check_role(spec, &role, field, checker);
    let tags = role_tags(&role, &role_name, defaults, &field.key("role"), checker);
    let settings = instance_settings(spec, field, checker);
    check_permissions(spec, field, checker);
    check_partitions(spec, field, checker);
    let managed_policies = check_managed_policies(spec, field, checker);
    let segment_account = match spec.kind {
        model::FunctionKind::Source => defaults.source_account.clone(),
        model::FunctionKind::Destination => defaults.destination_account.clone(),
    };
    let inline_policy = permissions::inline_policy(spec.bucket.as_ref(), &spec.permissions);
    check_sizes(
        &segment_account,
        inline_policy.as_ref(),
        &role_name,
        field,
        checker,
    );
    DesiredInstance {
        name: spec.name.clone(),
        kind: spec.kind,
        scope: defaults.scope.clone(),
        account: defaults.account.clone(),
        assume_role: defaults.assume_role.clone(),
        segment_account,
        role_name,
        role_path: role
            .path
            .clone()
            .unwrap_or_else(|| defaults.role_path.clone()),
        description: role.description.clone().unwrap_or_else(|| {
            format!(
                "Segment {} function {} (managed by fnctl)",
                spec.kind.as_str(),
                spec.name
            )
        }),
        default_description: role.description.is_none(),
        max_session_duration: role
            .max_session_duration
            .and_then(|seconds| i32::try_from(seconds).ok())
            .unwrap_or(model::DEFAULT_MAX_SESSION_DURATION),
        permissions_boundary: role.permissions_boundary.clone(),
        tags,
        inline_policy,
        inline_policy_name: role.inline_policy_name.clone(),
        managed_policies,
        rotate_after_days: spec.external_id.as_ref().and_then(|e| e.rotate_after_days),
        segment: segment_target(spec, defaults, field, checker),
        settings,
        origin: Origin {
            file: checker.path.to_path_buf(),
            line: checker.index.value(field).line,
        },
    }
}

/// Checks the role's name (or the default one), description, session
/// length, the rotation period and the boundary; returns the role's name.
fn check_role(
    spec: &InstanceSpec,
    role: &RoleSpec,
    field: &FieldPath,
    checker: &mut FileChecker<'_>,
) -> String {
    let role_field = field.key("role");
    let role_name = match &role.name {
        Some(name) => {
            checker.check(
                DiagnosticCode::InvalidRoleName,
                &role_field.key("name"),
                rules::check_role_name(name),
            );
            name.clone()
        }
        None => {
            let name = format!("segment-fn-{}", spec.name);
            // A `role` that could not be read may have named the role.
            let judged = !checker.unread(&role_field);
            if let (true, Err(message)) = (judged, rules::check_role_name(&name)) {
                checker
                    .error(
                        DiagnosticCode::InvalidRoleName,
                        &field.key("name"),
                        format!("default role name `{name}`: {message}"),
                    )
                    .hint = Some("set `role.name` to a shorter name".into());
            }
            name
        }
    };
    if let Some(description) = &role.description {
        checker.check(
            DiagnosticCode::InvalidDescription,
            &role_field.key("description"),
            rules::check_description(description),
        );
    }
    let max_session_duration = role
        .max_session_duration
        .unwrap_or(model::DEFAULT_MAX_SESSION_DURATION.into());
    if !(3600..=43200).contains(&max_session_duration) {
        checker.error(
            DiagnosticCode::InvalidSessionDuration,
            &role_field.key("maxSessionDuration"),
            format!(
                "maxSessionDuration is {max_session_duration}, IAM accepts 3600 to 43200 seconds"
            ),
        );
    }
    // Zero would make every ID due the moment it is made: `rotate --due`
    // and `--auto` would rotate on every run. The schema says at least 1.
    if spec.external_id.as_ref().and_then(|e| e.rotate_after_days) == Some(0) {
        checker.error(
            DiagnosticCode::InvalidRotationPeriod,
            &field.key("externalId").key("rotateAfterDays"),
            "rotateAfterDays is 0; it must be at least 1 (a day)".to_string(),
        );
    }
    if let Some(boundary) = &role.permissions_boundary {
        checker.check(
            DiagnosticCode::InvalidArn,
            &role_field.key("permissionsBoundary"),
            rules::check_policy_arn(boundary),
        );
    }
    if let Some(path) = &role.path {
        checker.check(
            DiagnosticCode::InvalidRolePath,
            &role_field.key("path"),
            rules::check_role_path(path),
        );
    }
    if let Some(name) = &role.inline_policy_name {
        checker.check(
            DiagnosticCode::InvalidPolicyName,
            &role_field.key("inlinePolicyName"),
            rules::check_policy_name(name),
        );
    }
    role_name
}

/// The role's tags (the file's defaults, then the role's own), checked,
/// within what IAM allows beside fnctl's own tags.
fn role_tags(
    role: &RoleSpec,
    role_name: &str,
    defaults: &FileDefaults,
    role_field: &FieldPath,
    checker: &mut FileChecker<'_>,
) -> BTreeMap<String, String> {
    check_tags(&role.tags, &role_field.key("tags"), checker);
    let mut tags = defaults.tags.clone();
    tags.extend(role.tags.clone());
    if tags.len() + RESERVED_TAG_COUNT > MAX_TAGS_PER_ROLE {
        checker.error(
            DiagnosticCode::TooManyTags,
            &role_field.key("tags"),
            format!("{} tags on role `{role_name}`: IAM allows {MAX_TAGS_PER_ROLE} per role and fnctl needs {RESERVED_TAG_COUNT} of them, so at most {}", tags.len(), MAX_TAGS_PER_ROLE - RESERVED_TAG_COUNT),
        );
    }
    tags
}

/// The bundle's settings: the bucket's, then the manifest's own, none of
/// which may be one fnctl generates.
fn instance_settings(
    spec: &InstanceSpec,
    field: &FieldPath,
    checker: &mut FileChecker<'_>,
) -> BTreeMap<String, Value> {
    let mut settings: BTreeMap<String, Value> = BTreeMap::new();
    if let Some(bucket) = &spec.bucket {
        let bucket_field = field.key("bucket");
        checker.check(
            DiagnosticCode::InvalidBucketName,
            &bucket_field.key("name"),
            rules::check_bucket_name(&bucket.name),
        );
        checker.check_region(&bucket_field.key("region"), &bucket.region);
        if let Some(prefix) = &bucket.prefix {
            if prefix.contains(['*', '?']) || prefix.starts_with('/') || prefix.len() > 1024 {
                checker.error(DiagnosticCode::InvalidBucketPrefix, &bucket_field.key("prefix"), "a prefix is a literal key prefix like `segment/`: no wildcards, no leading `/`, at most 1024 characters");
            }
        }
        settings.insert("s3Bucket".into(), Value::String(bucket.name.clone()));
        settings.insert(
            "s3BucketRegion".into(),
            Value::String(bucket.region.clone()),
        );
    }
    for (key, value) in &spec.settings {
        let clashes = GENERATED_SETTINGS.contains(&key.as_str())
            || (spec.bucket.is_some() && BUCKET_SETTINGS.contains(&key.as_str()));
        if clashes {
            checker
                .error(
                    DiagnosticCode::SettingClash,
                    &field.key("settings").key(key),
                    format!("setting `{key}` is generated by fnctl"),
                )
                .hint = Some("remove it from `settings`; fnctl writes it into the bundle".into());
        } else {
            settings.insert(key.clone(), value.clone());
        }
    }
    settings
}

/// The managed policies, each a valid ARN listed once, no more than IAM attaches.
fn check_managed_policies(
    spec: &InstanceSpec,
    field: &FieldPath,
    checker: &mut FileChecker<'_>,
) -> BTreeSet<String> {
    let mut managed_policies = BTreeSet::new();
    for (position, arn) in spec.managed_policies.iter().enumerate() {
        let policy_field = field.key("managedPolicies").index(position);
        if checker.unread(&policy_field) {
            continue;
        }
        checker.check(
            DiagnosticCode::InvalidArn,
            &policy_field,
            rules::check_policy_arn(arn),
        );
        if !managed_policies.insert(arn.clone()) {
            checker.error(
                DiagnosticCode::DuplicateManagedPolicy,
                &policy_field,
                format!("managed policy `{arn}` is listed twice"),
            );
        }
    }
    if managed_policies.len() > MAX_MANAGED_POLICIES {
        checker.error(
            DiagnosticCode::TooManyManagedPolicies,
            &field.key("managedPolicies"),
            format!(
                "{} managed policies: IAM attaches at most {MAX_MANAGED_POLICIES} to a role",
                managed_policies.len()
            ),
        );
    }
    managed_policies
}

/// Where Segment holds the instance, when the manifest says (`segment:`).
fn segment_target(
    spec: &InstanceSpec,
    defaults: &FileDefaults,
    field: &FieldPath,
    checker: &mut FileChecker<'_>,
) -> Option<SegmentTarget> {
    let segment = spec.segment.as_ref()?;
    let segment_field = field.key("segment");
    let id = match (&segment.id, &segment.function) {
        (Some(id), None) => id,
        (Some(_), Some(_)) => {
            checker
                .error(
                    DiagnosticCode::SegmentIdAndFunction,
                    &segment_field.key("function"),
                    "`segment` names an existing instance (`id`) and a function to create one",
                )
                .hint = Some(
                "keep `id` for an instance that exists, or `function` for fnctl to create it"
                    .into(),
            );
            return None;
        }
        (None, Some(_)) => return None,
        (None, None) => {
            if !checker.unread.touches(&segment_field) {
                checker
                    .error(
                        DiagnosticCode::SegmentIdAndFunction,
                        &segment_field,
                        "`segment` needs `id` (an instance that exists) or `function` (one fnctl creates)",
                    );
            }
            return None;
        }
    };
    if segment.source.is_some() {
        checker.error(
            DiagnosticCode::SegmentSourceMismatch,
            &segment_field.key("source"),
            "`source` goes with `function`: an instance named by `id` is connected already",
        );
    }
    checker.check(
        DiagnosticCode::InvalidSegmentId,
        &segment_field.key("id"),
        rules::check_segment_id(id),
    );
    Some(SegmentTarget {
        id: id.clone(),
        region: defaults.segment_region,
        kind: spec.kind,
    })
}

fn check_permissions(spec: &InstanceSpec, field: &FieldPath, checker: &mut FileChecker<'_>) {
    for (position, permission) in spec.permissions.iter().enumerate() {
        let statement = field.key("permissions").index(position);
        let sid_ok = |sid: &String| sid.chars().all(|c| c.is_ascii_alphanumeric());
        if let Some(sid) = permission.sid.as_ref().filter(|sid| !sid_ok(sid)) {
            checker.error(
                DiagnosticCode::InvalidValue,
                &statement.key("sid"),
                format!("sid `{sid}`: IAM takes only letters and digits in a statement's Sid"),
            );
        }
        if permission.actions.is_empty() {
            checker.error(
                DiagnosticCode::EmptyList,
                &statement.key("actions"),
                "a permission needs at least one action",
            );
        }
        if permission.resources.is_empty() {
            checker.error(
                DiagnosticCode::EmptyList,
                &statement.key("resources"),
                "a permission needs at least one resource",
            );
        }
        for (index, action) in permission.actions.iter().enumerate() {
            checker.check(
                DiagnosticCode::InvalidAction,
                &statement.key("actions").index(index),
                rules::check_action(action),
            );
        }
        for (index, resource) in permission.resources.iter().enumerate() {
            if resource == "*" {
                continue;
            }
            let resource_field = statement.key("resources").index(index);
            match rules::parse_arn(resource, true) {
                Err(message) => {
                    checker.error(DiagnosticCode::InvalidArn, &resource_field, message);
                }
                Ok(arn) if !arn.region.is_empty() && !arn.region.contains(['*', '?']) => {
                    checker.check_region(&resource_field, arn.region);
                }
                Ok(_) => {}
            }
        }
        if let Some(conditions) = &permission.conditions {
            for (operator, block) in conditions {
                let valid = block.as_object().is_some_and(|keys| {
                    keys.values().all(|value| match value {
                        Value::Array(items) => items.iter().all(is_condition_scalar),
                        other => is_condition_scalar(other),
                    })
                });
                if !valid {
                    checker.error(DiagnosticCode::InvalidCondition, &statement.key("conditions").key(operator), format!("condition `{operator}` must map condition keys to a value or a list of values"));
                }
            }
        }
        // Whether a broad grant is meant (`allowWildcards`), or is a Deny,
        // is unknown when those values could not be read.
        let lint = permission.effect == Effect::Allow
            && !spec.allow_wildcards
            && !checker.unread(&field.key("allowWildcards"))
            && !checker.unread(&statement.key("effect"));
        if lint {
            for finding in lint_allow_statement(&permission.actions, &permission.resources) {
                let list = match finding.part {
                    Part::Action => "actions",
                    Part::Resource => "resources",
                };
                checker
                    .error(finding.code, &statement.key(list).index(finding.index), finding.message)
                    .hint = Some("narrow the grant, or set `allowWildcards: true` on the instance if it is intended".into());
            }
        }
    }
    check_against_reference(spec, field, checker);
}

/// An instance lives in one partition: its bucket's region, the ARNs it
/// grants on, its managed policies and its boundary must all be in it (an
/// `arn:aws:` resource in a China or GovCloud account grants nothing, and
/// IAM refuses a policy or boundary from another partition at apply time,
/// after other roles were already written). The bucket's region decides;
/// without a bucket, the first ARN does. Wildcard partitions are not judged.
fn check_partitions(spec: &InstanceSpec, field: &FieldPath, checker: &mut FileChecker<'_>) {
    let mut arns: Vec<(FieldPath, &str)> = Vec::new();
    if let Some(boundary) = spec
        .role
        .as_ref()
        .and_then(|r| r.permissions_boundary.as_deref())
    {
        arns.push((field.key("role").key("permissionsBoundary"), boundary));
    }
    for (position, arn) in spec.managed_policies.iter().enumerate() {
        arns.push((field.key("managedPolicies").index(position), arn));
    }
    for (position, permission) in spec.permissions.iter().enumerate() {
        for (index, resource) in permission.resources.iter().enumerate() {
            let resource_field = field
                .key("permissions")
                .index(position)
                .key("resources")
                .index(index);
            arns.push((resource_field, resource));
        }
    }
    let judged = |text: &str| !text.contains(['*', '?']) && regions::check_region(text).is_ok();
    let mut anchor: Option<(String, String)> = spec
        .bucket
        .as_ref()
        .filter(|bucket| judged(&bucket.region))
        .map(|bucket| {
            (
                regions::partition_of_region(&bucket.region).to_string(),
                format!("the bucket's region `{}`", bucket.region),
            )
        });
    for (arn_field, text) in arns {
        let Ok(arn) = rules::parse_arn(text, true) else {
            continue;
        };
        if arn.partition.contains(['*', '?']) || arn.partition.is_empty() {
            continue;
        }
        if judged(arn.region) {
            let own = regions::partition_of_region(arn.region);
            if own != arn.partition {
                checker.error(
                    DiagnosticCode::PartitionMismatch,
                    &arn_field,
                    format!(
                        "`{text}` is in partition `{}`, but its region `{}` is in `{own}`",
                        arn.partition, arn.region
                    ),
                );
                continue;
            }
        }
        match &anchor {
            None => anchor = Some((arn.partition.to_string(), format!("`{text}`"))),
            Some((partition, what)) if partition != arn.partition => {
                checker
                    .error(
                        DiagnosticCode::PartitionMismatch,
                        &arn_field,
                        format!("`{text}` is in partition `{}`, but {what} is in `{partition}`", arn.partition),
                    )
                    .hint = Some("an instance's role lives in one partition: write its ARNs as `arn:<partition>:…` of that partition".into());
            }
            Some(_) => {}
        }
    }
}

/// AWS's own reference over the instance's statements (see
/// [`super::reference_lint`] for the rule per code).
fn check_against_reference(spec: &InstanceSpec, field: &FieldPath, checker: &mut FileChecker<'_>) {
    // A placeholder stands where a value was not read: judging it would
    // invent findings, and which codes the instance accepts is unknown.
    if checker.unread.touches(&field.key("allowFindings")) {
        return;
    }
    let (judged, index_maps) = read_items(spec, field, checker);
    let spec = &judged;
    check_allow_findings(spec, field, checker);
    for mut finding in super::reference_lint::lint(spec) {
        let (actions, resources, partial) = &index_maps[finding.statement];
        let text_only = matches!(
            finding.code,
            DiagnosticCode::UnknownService
                | DiagnosticCode::UnknownAction
                | DiagnosticCode::MalformedAction
        );
        if *partial && !text_only {
            continue;
        }
        // Whether broad grants are accepted is unknown when `allowWildcards` was not read.
        if checker.unread.touches(&field.key("allowWildcards"))
            && matches!(
                finding.code,
                DiagnosticCode::PrivilegeEscalation | DiagnosticCode::ResourceExposure
            )
        {
            continue;
        }
        finding.index = match finding.list {
            "actions" => actions[finding.index],
            _ => resources[finding.index],
        };
        let path = field
            .key("permissions")
            .index(finding.statement)
            .key(finding.list)
            .index(finding.index);
        if judged_broad_already(checker, finding.code, &path) {
            continue;
        }
        let diagnostic = checker.error(finding.code, &path, finding.message);
        diagnostic.hint = Some(finding.hint);
        if finding.warning {
            diagnostic.severity = super::diagnostic::Severity::Warning;
        }
    }
}

/// Where a statement's lint findings point back to: the manifest indices of
/// the actions and resources kept, and whether the statement is partial.
type ItemMap = (Vec<usize>, Vec<usize>, bool);

/// The instance with its unread items left out of the lint (their indices
/// kept through a map); a statement with an unread resource or effect, or
/// an invalid ARN, is partial: it keeps only the findings that depend on an
/// action's text alone.
fn read_items(
    spec: &InstanceSpec,
    field: &FieldPath,
    checker: &FileChecker<'_>,
) -> (InstanceSpec, Vec<ItemMap>) {
    let mut judged = spec.clone();
    let mut index_maps = Vec::new();
    for (position, permission) in judged.permissions.iter_mut().enumerate() {
        let statement = field.key("permissions").index(position);
        let keep = |list: &str, items: &mut Vec<String>| -> Vec<usize> {
            let kept: Vec<usize> = (0..items.len())
                .filter(|i| !checker.unread.touches(&statement.key(list).index(*i)))
                .collect();
            *items = kept.iter().map(|i| items[*i].clone()).collect();
            kept
        };
        let actions = keep("actions", &mut permission.actions);
        let resources = keep("resources", &mut permission.resources);
        // An invalid ARN is reported already; what it would match is unknown.
        let partial = checker.unread.touches(&statement.key("resources"))
            || checker.unread.touches(&statement.key("effect"))
            || permission
                .resources
                .iter()
                .any(|r| r != "*" && rules::parse_arn(r, true).is_err());
        index_maps.push((actions, resources, partial));
    }
    (judged, index_maps)
}

/// Each `allowFindings` entry is a code an instance may accept.
fn check_allow_findings(spec: &InstanceSpec, field: &FieldPath, checker: &mut FileChecker<'_>) {
    for (position, code) in spec.allow_findings.iter().enumerate() {
        if super::reference_lint::acceptable_code(code).is_none() {
            let acceptable: Vec<&str> = super::reference_lint::ACCEPTABLE_CODES
                .iter()
                .map(|code| code.as_str())
                .collect();
            checker.error(
                DiagnosticCode::InvalidAllowFinding,
                &field.key("allowFindings").index(position),
                format!(
                    "`{code}` is not a finding an instance can accept (one of: {})",
                    acceptable.join(", ")
                ),
            );
        }
    }
}

/// Whether the wildcard lint judged the item already (`*`, `s3:*`, an IAM
/// write): its error says it is too broad, and listing what a wildcard
/// expands to would only repeat it at length.
fn judged_broad_already(checker: &FileChecker<'_>, code: DiagnosticCode, path: &FieldPath) -> bool {
    let field_text = path.to_string();
    let broad = matches!(
        code,
        DiagnosticCode::PrivilegeEscalation | DiagnosticCode::ResourceExposure
    );
    checker.diagnostics.iter().any(|d| {
        d.field == field_text
            && d.file == checker.path
            && (d.code == code
                || (broad
                    && matches!(
                        d.code,
                        DiagnosticCode::WildcardAction
                            | DiagnosticCode::ServiceWildcard
                            | DiagnosticCode::PrivilegeEscalation
                    )))
    })
}

fn is_condition_scalar(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Bool(_) | Value::Number(_))
}

fn check_sizes(
    segment_account: &str,
    inline_policy: Option<&Value>,
    role_name: &str,
    field: &FieldPath,
    checker: &mut FileChecker<'_>,
) {
    // Worst case fnctl writes: two 48-character IDs during a rotation.
    let placeholder = "x".repeat(crate::model::external_id::LENGTH);
    let trust = trust::trust_policy(segment_account, &[&placeholder, &placeholder]);
    let trust_length = permissions::quota_length(&trust);
    if trust_length > MAX_TRUST_POLICY_LENGTH {
        checker.error(DiagnosticCode::PolicyTooLarge, field, format!("trust policy of role `{role_name}` would have {trust_length} characters; IAM allows {MAX_TRUST_POLICY_LENGTH}"));
    }
    if let Some(policy) = inline_policy {
        let length = permissions::quota_length(policy);
        if length > MAX_INLINE_POLICY_LENGTH {
            checker
                .error(DiagnosticCode::PolicyTooLarge, field, format!("inline policy of role `{role_name}` would have {length} characters without whitespace; IAM allows {MAX_INLINE_POLICY_LENGTH} per role"))
                .hint = Some("move statements into a managed policy and list it under `managedPolicies`".into());
        }
    }
}
