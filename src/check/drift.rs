//! Drift detection for cron: findings with a category and a severity, as a
//! pure function of desired and live state. Drift is IAM changed by hand
//! (live ≠ what the last apply recorded); a manifest edited in git but not
//! applied yet is a *pending* change, reported apart and never counted as
//! drift (see [`crate::model::digest`]).

use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;

use crate::model::digest::{self, Aspect, Cause, Digests};

use crate::model::codes::DriftCategory;
use crate::model::external_id::ExternalId;
use crate::model::segment::{shows, LiveSettings};
use crate::model::tags;
use crate::model::trust;
use crate::model::{DesiredInstance, LiveRole};
use crate::policy::evaluate::trust_might_admit;
use crate::policy::normalize;

/// How urgent a finding is, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information; never an alert by default.
    Info,
    /// Worth a look.
    Warning,
    /// Function or policy changed in a way that matters.
    Medium,
    /// Broadened permissions or a locked-out function.
    High,
    /// Strangers may be able to assume the role.
    Critical,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The instance, when the role belongs to one.
    pub instance: Option<String>,
    /// The role.
    pub role: String,
    /// The account.
    pub account: String,
    /// Stable kebab-case category, e.g. `trust-broadened`.
    pub category: DriftCategory,
    /// How urgent.
    pub severity: Severity,
    /// Drift (IAM moved) or pending (the manifest moved).
    pub kind: FindingKind,
    /// One line, never a secret.
    pub message: String,
}

/// Whether a finding is drift or a pending manifest change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    /// IAM was changed out of band.
    Drift,
    /// The manifest changed and apply has not run yet.
    Pending,
}

struct Context<'a> {
    account: &'a str,
    instance: Option<&'a DesiredInstance>,
    role: &'a str,
}

impl Context<'_> {
    fn finding(
        &self,
        category: DriftCategory,
        severity: Severity,
        kind: FindingKind,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            instance: self.instance.map(|i| i.name.clone()),
            role: self.role.to_string(),
            account: self.account.to_string(),
            category,
            severity,
            kind,
            message: message.into(),
        }
    }
}

/// Finds drift and pending changes in one account, at `now`.
pub(crate) fn detect(
    account: &str,
    desired: &[DesiredInstance],
    live: &[LiveRole],
    now: std::time::SystemTime,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for instance in desired {
        let context = Context {
            account,
            instance: Some(instance),
            role: &instance.role_name,
        };
        match live
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(&instance.role_name))
        {
            None => findings.push(context.finding(
                DriftCategory::RoleMissing,
                Severity::Warning,
                FindingKind::Drift,
                "the role does not exist: deleted out of band, or the instance was never applied",
            )),
            Some(role) => detect_role(&context, instance, role, now, &mut findings),
        }
    }
    let named: HashSet<String> = desired
        .iter()
        .map(|i| i.role_name.to_ascii_lowercase())
        .collect();
    let paths: HashSet<&str> = desired.iter().map(|i| i.role_path.as_str()).collect();
    let scopes: HashSet<&str> = desired.iter().map(|i| i.scope.as_str()).collect();
    for role in live
        .iter()
        .filter(|r| !named.contains(&r.name.to_ascii_lowercase()))
    {
        let context = Context {
            account,
            instance: None,
            role: &role.name,
        };
        let managed = role.is_managed();
        let scope = role.fnctl_scope().unwrap_or("");
        if managed && scopes.contains(scope) {
            findings.push(context.finding(DriftCategory::OrphanedRole, Severity::Info, FindingKind::Pending, format!("owned by scope `{scope}` but named by no manifest; `fnctl apply --prune` deletes it")));
        } else if !managed && paths.contains(role.path.as_str()) {
            findings.push(context.finding(
                DriftCategory::UnmanagedRoleInPath,
                Severity::Info,
                FindingKind::Drift,
                format!("role under {} that no fnctl scope owns", role.path),
            ));
        }
    }
    findings
}

fn detect_role(
    context: &Context<'_>,
    instance: &DesiredInstance,
    role: &LiveRole,
    now: std::time::SystemTime,
    findings: &mut Vec<Finding>,
) {
    match role.fnctl_scope() {
        Some(scope) if scope != instance.scope => {
            findings.push(context.finding(
                DriftCategory::OtherScope,
                Severity::Medium,
                FindingKind::Drift,
                format!(
                    "the role belongs to scope `{scope}`, the manifest says `{}`",
                    instance.scope
                ),
            ));
            return;
        }
        Some(_) => {}
        _ => {
            findings.push(context.finding(DriftCategory::UnmanagedRole, Severity::Medium, FindingKind::Drift, "a role of this name exists without fnctl's tags (`fnctl apply --adopt` takes it over)"));
            return;
        }
    }
    let instance = &*instance.against(role);
    let live = digest::live(role, instance.inline_policy_name());
    let recorded = role
        .tags
        .get(tags::APPLIED)
        .and_then(|t| Digests::decode(t));
    let desired = digest::desired(instance);
    for aspect in [
        Aspect::Trust,
        Aspect::Permissions,
        Aspect::Managed,
        Aspect::Boundary,
        Aspect::Tags,
        Aspect::Settings,
    ] {
        if live.get(aspect) == desired.get(aspect)
            || (aspect == Aspect::Settings && role.max_session_duration.is_none())
        {
            continue;
        }
        let cause = digest::cause(aspect, &live, recorded.as_ref(), &desired);
        if matches!(cause, Cause::Pending | Cause::DriftAndPending) {
            findings.push(context.finding(
                DriftCategory::PendingChange,
                Severity::Info,
                FindingKind::Pending,
                format!(
                    "the manifest changes the {} (not applied yet)",
                    aspect_words(aspect)
                ),
            ));
        }
        if cause != Cause::Pending {
            findings.push(drift_of(context, aspect, instance, role));
        }
    }
    check_external_ids(context, role, findings);
    for name in role
        .inline_policies
        .keys()
        .filter(|n| *n != instance.inline_policy_name())
    {
        findings.push(context.finding(
            DriftCategory::ForeignInlinePolicy,
            Severity::High,
            FindingKind::Drift,
            format!("inline policy {name} was added out of band"),
        ));
    }
    if crate::model::trust::in_progress(role) {
        return;
    }
    match crate::model::trust::is_due(role, instance.rotate_after_days, now) {
        Ok(false) => {}
        Ok(true) => findings.push(context.finding(
            DriftCategory::RotationOverdue,
            Severity::Warning,
            FindingKind::Drift,
            format!(
                "the external ID is older than rotateAfterDays ({} days)",
                instance.rotate_after_days.unwrap_or_default()
            ),
        )),
        // Never a silent "not overdue": the age is unknown, and said.
        Err(unreadable) => findings.push(context.finding(
            DriftCategory::UnreadableTagTime,
            Severity::Warning,
            FindingKind::Drift,
            format!(
                "{unreadable}: fnctl cannot tell whether the external ID is overdue for rotation"
            ),
        )),
    }
}

fn aspect_words(aspect: Aspect) -> &'static str {
    match aspect {
        Aspect::Trust => "trust policy",
        Aspect::Permissions => "inline policy",
        Aspect::Managed => "managed policies",
        Aspect::Boundary => "permissions boundary",
        Aspect::Tags => "tags",
        Aspect::Settings => "description or max session duration",
    }
}

fn drift_of(
    context: &Context<'_>,
    aspect: Aspect,
    instance: &DesiredInstance,
    role: &LiveRole,
) -> Finding {
    let drift = |category, severity, message: String| {
        context.finding(category, severity, FindingKind::Drift, message)
    };
    match aspect {
        Aspect::Trust => match role.trust_policy.valid() {
            None => drift(DriftCategory::TrustChanged, Severity::High, "the trust policy is not a valid policy document: the function cannot assume the role".into()),
            Some(document) => {
                let segment = instance.segment_account.as_str();
                let segment_root = format!("arn:aws:iam::{segment}:root");
                let others: Vec<String> = trust::principals(document).into_iter().filter(|p| trust::root_principal(p) != segment_root).collect();
                if !others.is_empty() {
                    drift(DriftCategory::TrustBroadened, Severity::Critical, format!("the trust policy admits another principal: {}", others.join(", ")))
                } else if trust_might_admit(document, segment, None) {
                    drift(DriftCategory::TrustBroadened, Severity::Critical, "the external ID condition is gone: any Segment customer's function could assume the role".into())
                } else {
                    drift(DriftCategory::TrustChanged, Severity::Medium, "the trust policy was changed out of band".into())
                }
            }
        },
        Aspect::Permissions => {
            let name = instance.inline_policy_name();
            let live = role.inline_policies.get(name).and_then(|d| d.valid());
            if broadens(live, instance.inline_policy.as_ref()) {
                drift(DriftCategory::PermissionsBroadened, Severity::High, format!("inline policy {name} grants more than the manifest"))
            } else {
                drift(DriftCategory::PermissionsChanged, Severity::Medium, format!("inline policy {name} was changed or removed out of band"))
            }
        }
        Aspect::Managed => {
            let extra: Vec<&String> = role.attached_policies.difference(&instance.managed_policies).collect();
            if extra.is_empty() {
                drift(DriftCategory::PermissionsChanged, Severity::Medium, "a managed policy of the manifest was detached".into())
            } else {
                drift(DriftCategory::ManagedPolicyAttached, Severity::High, format!("managed policy attached out of band: {}", extra.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")))
            }
        }
        Aspect::Boundary => drift(DriftCategory::BoundaryChanged, Severity::High, format!("the permissions boundary is {}", role.permissions_boundary.as_deref().unwrap_or("gone"))),
        Aspect::Tags => drift(DriftCategory::TagsChanged, Severity::Warning, "tags were changed out of band".into()),
        Aspect::Settings => drift(DriftCategory::RoleSettingsChanged, Severity::Warning, "description or max session duration was changed out of band".into()),
    }
}

/// Whether the live policy has an Allow statement the desired one lacks.
fn broadens(live: Option<&Value>, desired: Option<&Value>) -> bool {
    let statements = |document: Option<&Value>| -> Vec<Value> {
        document
            .map(normalize)
            .and_then(|d| d.get("Statement").and_then(Value::as_array).cloned())
            .unwrap_or_default()
    };
    let wanted = statements(desired);
    statements(live)
        .iter()
        .any(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow") && !wanted.contains(s))
}

/// Findings about the external IDs fnctl issued: one the trust policy no
/// longer accepts locks out the functions configured with it. During a
/// rotation either ID may be the one a function uses, so each gets its own
/// finding (distinct from `external-id-mismatch`, the ID outside a rotation).
fn check_external_ids(context: &Context<'_>, role: &LiveRole, findings: &mut Vec<Finding>) {
    if role.trust_policy.valid().is_none() {
        return;
    }
    if !role.tags.contains_key(tags::EXTERNAL_ID) {
        return;
    }
    let state = trust::id_state(role);
    if let Some(lost) = &state.recorded_lost {
        if state.pending.is_none() {
            findings.push(context.finding(DriftCategory::ExternalIdMismatch, Severity::High, FindingKind::Drift, format!("the trust policy no longer accepts the external ID fnctl issued (fingerprint {lost}): the function is locked out")));
        } else {
            findings.push(context.finding(DriftCategory::RotationOldIdRemoved, Severity::High, FindingKind::Drift, format!("the trust policy no longer accepts the old external ID of the rotation in progress (fingerprint {lost}): a function not yet switched to the new bundle is locked out; `fnctl plan` says whether a bundle on disk restores it")));
        }
    }
    if let Some(lost) = &state.pending_lost {
        findings.push(context.finding(DriftCategory::RotationNewIdRemoved, Severity::High, FindingKind::Drift, format!("the trust policy no longer accepts the new external ID of the rotation in progress (fingerprint {lost}): a function already switched to it is locked out; `fnctl plan` says whether a bundle on disk restores it")));
    }
    let issued =
        |id: &ExternalId| Some(id) == state.recorded.as_ref() || Some(id) == state.pending.as_ref();
    if state.ids.iter().any(|id| !issued(id)) {
        findings.push(context.finding(
            DriftCategory::TrustBroadened,
            Severity::Critical,
            FindingKind::Drift,
            "the trust policy accepts an external ID fnctl did not issue",
        ));
    }
}

/// Segment-side drift of one instance: `live` is what Segment shows (`None`:
/// no such instance), `expected` the non-secret settings fnctl delivers. The
/// external ID is judged by the characters Segment shows of it against the
/// IDs the trust policy accepts: no match means the function is locked out.
pub(crate) fn detect_segment(
    account: &str,
    instance: &DesiredInstance,
    role: Option<&LiveRole>,
    live: Option<&LiveSettings>,
    expected: &serde_json::Map<String, serde_json::Value>,
    secret_key: &str,
) -> Vec<Finding> {
    let context = Context {
        account,
        instance: Some(instance),
        role: &instance.role_name,
    };
    let Some(live) = live else {
        return vec![context.finding(
            DriftCategory::SegmentInstanceMissing,
            Severity::Warning,
            FindingKind::Drift,
            "the Segment instance is gone (or the token's workspace does not hold it): its settings cannot be delivered",
        )];
    };
    let mut findings = Vec::new();
    let accepted: Vec<ExternalId> = role
        .and_then(|r| r.trust_policy.valid())
        .map(trust::external_ids)
        .unwrap_or_default();
    let shown = live
        .settings
        .get(secret_key)
        .and_then(serde_json::Value::as_str);
    if role.is_some() && !shown.is_some_and(|value| accepted.iter().any(|id| shows(value, id))) {
        findings.push(context.finding(
            DriftCategory::SegmentExternalIdRejected,
            Severity::High,
            FindingKind::Drift,
            "the external ID Segment holds is not accepted by the role's trust policy: the function is locked out",
        ));
    }
    let changed: Vec<&str> = expected
        .iter()
        .filter(|(key, value)| live.settings.get(*key) != Some(*value))
        .map(|(key, _)| key.as_str())
        .collect();
    if !changed.is_empty() {
        findings.push(context.finding(
            DriftCategory::SegmentSettingsChanged,
            Severity::Medium,
            FindingKind::Drift,
            format!(
                "Segment holds other values than fnctl delivers for {}",
                changed.join(", ")
            ),
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::execute::external_id_table_tests::applied;
    use crate::plan::external_id_table_tests::{instance, role, ROWS};

    /// The categories of the external-ID decision table's drift column.
    const ID_CATEGORIES: [&str; 5] = [
        "external-id-mismatch",
        "rotation-new-id-removed",
        "rotation-old-id-removed",
        "trust-broadened",
        "unmanaged-role",
    ];

    fn id_findings(role: &LiveRole) -> Vec<&'static str> {
        let found: BTreeSet<&'static str> = detect(
            "123456789012",
            &[instance()],
            std::slice::from_ref(role),
            crate::model::fixtures::at("2026-06-01T00:00:00Z"),
        )
        .into_iter()
        .filter(|f| ID_CATEGORIES.contains(&f.category.as_str()))
        .inspect(|f| {
            if f.category.as_str().starts_with("rotation-") {
                assert_eq!(f.severity, Severity::High, "{f:?}");
                assert_eq!(f.kind, FindingKind::Drift, "{f:?}");
            }
        })
        .map(|f| f.category.as_str())
        .collect();
        found.into_iter().collect()
    }

    #[test]
    fn drift_column_of_the_external_id_table() {
        for row in ROWS {
            assert_eq!(id_findings(&role(row)), row.drift, "{}: drift", row.case);
            if let (_, Some((after, _))) = applied(row) {
                assert_eq!(
                    id_findings(&after),
                    Vec::<&str>::new(),
                    "{}: no external-ID drift after apply",
                    row.case
                );
            }
        }
    }

    #[test]
    fn an_unreadable_creation_time_is_a_finding_not_silence() {
        use crate::model::fixtures;
        let mut desired = fixtures::instance("alpha");
        desired.rotate_after_days = Some(30);
        let mut role = fixtures::applied_role(&desired, &fixtures::external_id('A'));
        let categories = |role: &LiveRole| {
            detect(
                fixtures::ACCOUNT,
                std::slice::from_ref(&desired),
                std::slice::from_ref(role),
                fixtures::now(),
            )
            .into_iter()
            .map(|f| (f.category.as_str(), f.severity))
            .collect::<Vec<_>>()
        };
        assert_eq!(categories(&role), [("rotation-overdue", Severity::Warning)]);
        role.tags.insert(
            crate::model::tags::EXTERNAL_ID_CREATED.into(),
            "soon".into(),
        );
        assert_eq!(
            categories(&role),
            [("unreadable-tag-time", Severity::Warning)]
        );
    }
}
