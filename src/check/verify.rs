//! `fnctl verify` as a pure check of one instance: given its live role and
//! the bundle on disk, will the function work, and can nobody else use the
//! role? The trust policy is evaluated statically (moto does not evaluate
//! cross-account trust or external IDs, and neither do humans reading JSON).

use serde::Serialize;
use serde_json::Value;

use crate::bundle::{self, Bundle};
use crate::model::codes::VerifyCode;
use crate::model::segment::LiveSettings;
use crate::model::trust;
use crate::model::{DesiredInstance, LiveRole};
use crate::policy::evaluate::{evaluate, trust_admits, trust_might_admit, Decision, Request};

/// An account id no one uses, to probe whether a trust policy admits strangers.
const STRANGER_ACCOUNT: &str = "000000000000";
/// An external ID no function has, to probe whether the ID is really required.
const WRONG_EXTERNAL_ID: &str = "fnctl-verify-wrong-external-id-probe";

/// One problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The instance.
    pub instance: String,
    /// Stable kebab-case code.
    pub code: VerifyCode,
    /// What is wrong (never a secret).
    pub message: String,
}

fn finding(instance: &DesiredInstance, code: VerifyCode, message: impl Into<String>) -> Finding {
    Finding {
        instance: instance.name.clone(),
        code,
        message: message.into(),
    }
}

/// Checks one instance against its live role and bundle.
pub(crate) fn verify_instance(
    instance: &DesiredInstance,
    live: Option<&LiveRole>,
    bundle: Option<&Bundle>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let Some(role) = live else {
        findings.push(finding(
            instance,
            VerifyCode::RoleMissing,
            format!(
                "role {} does not exist; run `fnctl apply`",
                instance.role_name
            ),
        ));
        return findings;
    };
    if !role.is_owned_by(&instance.scope) {
        findings.push(finding(
            instance,
            VerifyCode::RoleNotManaged,
            format!(
                "role {} is not managed by fnctl scope `{}`",
                role.name, instance.scope
            ),
        ));
    }
    let Some(trust_policy) = role.trust_policy.valid() else {
        findings.push(finding(
            instance,
            VerifyCode::TrustInvalid,
            "the trust policy is not a valid policy document",
        ));
        return findings;
    };
    check_trust_excludes_strangers(instance, trust_policy, &mut findings);
    match bundle {
        None => findings.push(finding(
            instance,
            VerifyCode::BundleMissing,
            "no bundle on disk; run `fnctl bundle`",
        )),
        Some(bundle) => check_bundle(instance, role, trust_policy, bundle, &mut findings),
    }
    check_permissions(instance, role, &mut findings);
    check_grants_reach_something(instance, role, &mut findings);
    findings
}

fn check_trust_excludes_strangers(
    instance: &DesiredInstance,
    trust_policy: &Value,
    findings: &mut Vec<Finding>,
) {
    let segment = instance.segment_account.as_str();
    // Strangers are probed with undecidable conditions counted as met: a
    // condition fnctl cannot evaluate is no proof that it keeps anyone out.
    if trust_might_admit(trust_policy, segment, None)
        || trust_might_admit(trust_policy, segment, Some(WRONG_EXTERNAL_ID))
    {
        findings.push(finding(instance, VerifyCode::TrustAdmitsWithoutExternalId, format!("Segment's account {segment} can assume the role without the right external ID: any Segment customer's function could (confused deputy)")));
    }
    let ids = trust::external_ids(trust_policy);
    if ids
        .iter()
        .any(|id| trust_might_admit(trust_policy, STRANGER_ACCOUNT, Some(id.expose())))
        || trust_might_admit(trust_policy, STRANGER_ACCOUNT, None)
    {
        findings.push(finding(
            instance,
            VerifyCode::TrustAdmitsAnyone,
            "the trust policy admits any AWS account",
        ));
    }
    let segment_root = format!("arn:aws:iam::{segment}:root");
    for principal in trust::principals(trust_policy) {
        let normalized = trust::root_principal(&principal);
        if normalized != segment_root {
            findings.push(finding(
                instance,
                VerifyCode::TrustAdmitsOtherPrincipal,
                format!(
                    "the trust policy admits {principal}, not only Segment's {} account {segment}",
                    instance.kind.as_str()
                ),
            ));
        }
    }
}

fn check_bundle(
    instance: &DesiredInstance,
    role: &LiveRole,
    trust_policy: &Value,
    bundle: &Bundle,
    findings: &mut Vec<Finding>,
) {
    let arn = bundle
        .settings
        .get(bundle::ROLE_ARN_SETTING)
        .and_then(Value::as_str)
        .unwrap_or("");
    if arn != role.arn {
        findings.push(finding(
            instance,
            VerifyCode::BundleArnMismatch,
            format!("the bundle names role {arn}, IAM has {}", role.arn),
        ));
    }
    match bundle::external_id_of(bundle) {
        None => findings.push(finding(
            instance,
            VerifyCode::BundleExternalIdMissing,
            "the bundle has no iamRoleExternalId",
        )),
        Some(id) if !trust_admits(trust_policy, &instance.segment_account, Some(id.expose())) => {
            findings.push(finding(instance, VerifyCode::BundleExternalIdRejected, "the trust policy does not accept the external ID in the bundle: the function cannot assume its role"));
        }
        Some(_) => {}
    }
    for (key, value) in &instance.settings {
        if bundle.settings.get(key) != Some(value) {
            findings.push(finding(
                instance,
                VerifyCode::BundleSettingsStale,
                format!("bundle setting {key} differs from the manifest; run `fnctl bundle`"),
            ));
        }
    }
    if bundle.kind != instance.kind {
        findings.push(finding(
            instance,
            VerifyCode::BundleSettingsStale,
            "bundle kind differs from the manifest",
        ));
    }
}

/// AWS's reference against the live inline policy: an Allow of an action
/// on resources it never acts on can never be exercised, however the policy
/// got there (a hand edit, or a finding the manifest accepted).
fn check_grants_reach_something(
    instance: &DesiredInstance,
    role: &LiveRole,
    findings: &mut Vec<Finding>,
) {
    let Ok(reference) = crate::policy::reference::Reference::get() else {
        return;
    };
    let name = instance.inline_policy_name();
    let Some(live) = role.inline_policies.get(name).and_then(|d| d.valid()) else {
        return;
    };
    let strings = |value: Option<&Value>| -> Vec<String> {
        crate::policy::evaluate::list(value)
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    for statement in crate::policy::evaluate::list(live.get("Statement")) {
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        let actions = strings(statement.get("Action"));
        let resources = strings(statement.get("Resource"));
        for found in reference.lint_statement(&actions, &resources) {
            if !matches!(
                found.kind,
                crate::policy::reference::FindingKind::ResourceMismatch { .. }
            ) {
                continue;
            }
            let action = actions.get(found.index).map(String::as_str).unwrap_or("");
            findings.push(finding(
                instance,
                VerifyCode::PermissionNeverExercised,
                format!("inline policy {name}: {}", found.message(action)),
            ));
        }
    }
}

fn check_permissions(instance: &DesiredInstance, role: &LiveRole, findings: &mut Vec<Finding>) {
    let Some(desired) = &instance.inline_policy else {
        return;
    };
    let name = instance.inline_policy_name();
    let Some(live) = role.inline_policies.get(name).and_then(|d| d.valid()) else {
        findings.push(finding(
            instance,
            VerifyCode::PermissionsMissing,
            format!("inline policy {name} is missing or not valid JSON"),
        ));
        return;
    };
    // Every grant the manifest renders must be allowed by the live policy.
    for statement in desired
        .get("Statement")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        let actions = statement
            .get("Action")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let resources = statement
            .get("Resource")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // A grant the manifest makes under a condition is granted when the
        // live policy makes it under the same condition: the request's
        // context is unknown here, and the condition is the manifest's own.
        let conditioned;
        let live = match statement.get("Condition") {
            Some(condition) => {
                conditioned = with_condition_met(live, condition);
                &conditioned
            }
            None => live,
        };
        let prefix = statement
            .pointer("/Condition/StringLike/s3:prefix/0")
            .and_then(Value::as_str)
            .map(|p| p.trim_end_matches('*').to_string());
        for action in actions.iter().filter_map(Value::as_str) {
            for resource in resources.iter().filter_map(Value::as_str) {
                let probe = resource.replace('*', "fnctl-verify-probe");
                let probe_prefix = prefix.clone().map(|p| format!("{p}fnctl-verify-probe"));
                let context: Vec<(&str, &str)> = probe_prefix
                    .as_deref()
                    .map(|p| ("s3:prefix", p))
                    .into_iter()
                    .collect();
                let request = Request {
                    principal_account: None,
                    action,
                    resource: Some(&probe),
                    context: &context,
                };
                if evaluate(live, &request) != Decision::Allowed {
                    findings.push(finding(
                        instance,
                        VerifyCode::PermissionsMissing,
                        format!(
                            "the role may not {action} on {resource}, which the manifest grants"
                        ),
                    ));
                }
            }
        }
    }
}

/// `live` with the Allow statements whose condition is `condition` (as IAM
/// reads it: normalized) freed of it.
fn with_condition_met(live: &Value, condition: &Value) -> Value {
    let canonical = |condition: &Value| {
        crate::policy::normalize::normalize(
            &serde_json::json!({ "Statement": [{ "Effect": "Allow", "Condition": condition }] }),
        )
    };
    let wanted = canonical(condition);
    let mut live = live.clone();
    let free = |statement: &mut Value| {
        let met = statement.get("Effect").and_then(Value::as_str) == Some("Allow")
            && statement
                .get("Condition")
                .is_some_and(|have| canonical(have) == wanted);
        if let (true, Some(fields)) = (met, statement.as_object_mut()) {
            fields.remove("Condition");
        }
    };
    match live.get_mut("Statement") {
        Some(Value::Array(statements)) => statements.iter_mut().for_each(free),
        Some(statement) => free(statement),
        None => {}
    }
    live
}

/// Checks that Segment holds the bundle's settings (the external ID by the
/// characters Segment shows of it). `live` is `None` when Segment has no
/// such instance.
pub(crate) fn verify_segment(
    instance: &DesiredInstance,
    bundle: Option<&Bundle>,
    live: Option<&LiveSettings>,
) -> Vec<Finding> {
    let (Some(bundle), Some(target)) = (bundle, instance.segment.as_ref()) else {
        return Vec::new();
    };
    let Some(live) = live else {
        return vec![finding(
            instance,
            VerifyCode::SegmentInstanceMissing,
            format!("Segment has no {}", target.path()),
        )];
    };
    let owned: serde_json::Map<String, Value> = bundle.settings.clone().into_iter().collect();
    let differ = crate::plan::segment::push_body(&owned, bundle::EXTERNAL_ID_SETTING, live);
    if differ.is_empty() {
        return Vec::new();
    }
    vec![finding(
        instance,
        VerifyCode::SegmentSettingsDiffer,
        format!(
            "Segment {} does not hold the bundle's {}",
            target.path(),
            differ.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::permissions;
    use crate::model::external_id::ExternalId;
    use crate::model::tags;
    use crate::model::trust::trust_policy;
    use crate::model::{FunctionKind, LiveDocument, Origin, INLINE_POLICY_NAME};
    use std::collections::BTreeMap;

    fn instance() -> DesiredInstance {
        DesiredInstance {
            name: "a".into(),
            kind: FunctionKind::Destination,
            scope: "s".into(),
            account: None,
            assume_role: None,
            segment_account: "458175278816".into(),
            role_name: "segment-fn-a".into(),
            role_path: "/segment-functions/".into(),
            description: "d".into(),
            default_description: false,
            max_session_duration: 3600,
            permissions_boundary: None,
            tags: BTreeMap::new(),
            inline_policy: permissions::inline_policy(
                Some(&crate::manifest::spec::BucketSpec {
                    name: "b-bucket".into(),
                    region: "us-west-2".into(),
                    prefix: Some("segment/".into()),
                    access: crate::manifest::spec::BucketAccess::ReadWrite,
                }),
                &[],
            ),
            inline_policy_name: None,
            managed_policies: Default::default(),
            rotate_after_days: None,
            segment: None,
            settings: BTreeMap::new(),
            origin: Origin {
                file: "m.yaml".into(),
                line: 1,
            },
        }
    }

    fn role(trust: Value, desired: &DesiredInstance) -> LiveRole {
        LiveRole {
            name: "segment-fn-a".into(),
            path: "/segment-functions/".into(),
            arn: "arn:aws:iam::123456789012:role/segment-functions/segment-fn-a".into(),
            role_id: "AROA".into(),
            create_date: None,
            description: None,
            max_session_duration: None,
            trust_policy: LiveDocument::Valid(trust),
            inline_policies: BTreeMap::from([(
                INLINE_POLICY_NAME.to_string(),
                LiveDocument::Valid(desired.inline_policy.clone().unwrap()),
            )]),
            attached_policies: Default::default(),
            permissions_boundary: None,
            tags: BTreeMap::from([
                (tags::MANAGED_BY.to_string(), "fnctl".to_string()),
                (tags::SCOPE.to_string(), "s".to_string()),
            ]),
        }
    }

    fn codes(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn a_correct_role_and_bundle_pass() {
        let desired = instance();
        let live = role(trust_policy("458175278816", &["the-id"]), &desired);
        let bundle = bundle::build(&desired, &live.arn, &ExternalId::new("the-id"));
        assert!(verify_instance(&desired, Some(&live), Some(&bundle)).is_empty());
    }

    #[test]
    fn finds_lockout_broadening_and_missing_grants() {
        let desired = instance();
        let mut broadened = trust_policy("458175278816", &["the-id"]);
        broadened["Statement"][0]["Principal"]["AWS"] =
            serde_json::json!(["458175278816", "111122223333"]);
        let mut live = role(broadened, &desired);
        live.inline_policies.clear();
        let bundle = bundle::build(&desired, &live.arn, &ExternalId::new("stale-id"));
        let found = codes(&verify_instance(&desired, Some(&live), Some(&bundle)));
        assert!(found.contains(&"trust-admits-other-principal"), "{found:?}");
        assert!(found.contains(&"bundle-external-id-rejected"), "{found:?}");
        assert!(found.contains(&"permissions-missing"), "{found:?}");
        let mut open = trust_policy("458175278816", &["the-id"]);
        open["Statement"][0]
            .as_object_mut()
            .unwrap()
            .remove("Condition");
        let live = role(open, &desired);
        assert!(codes(&verify_instance(
            &desired,
            Some(&live),
            Some(&bundle::build(&desired, &live.arn, &ExternalId::new("x")))
        ))
        .contains(&"trust-admits-without-external-id"));
        // An open principal behind a condition fnctl cannot evaluate is no proof of safety.
        let mut open = trust_policy("458175278816", &["the-id"]);
        open["Statement"][0]["Principal"] = serde_json::json!("*");
        open["Statement"][0]["Condition"] =
            serde_json::json!({"Bool": {"aws:SecureTransport": "true"}});
        let live = role(open, &desired);
        let found = codes(&verify_instance(
            &desired,
            Some(&live),
            Some(&bundle::build(
                &desired,
                &live.arn,
                &ExternalId::new("the-id"),
            )),
        ));
        assert!(
            found.contains(&"trust-admits-anyone")
                && found.contains(&"trust-admits-other-principal"),
            "{found:?}"
        );
    }

    #[test]
    fn a_grant_under_a_condition_is_granted_when_the_live_policy_makes_it_so() {
        let mut desired = instance();
        let condition = serde_json::json!({"StringEquals": {"aws:SourceAccount": "123456789012"}, "Bool": {"aws:SecureTransport": true}});
        let conditioned = crate::manifest::spec::PermissionSpec {
            sid: None,
            actions: vec!["sqs:SendMessage".into()],
            resources: vec!["arn:aws:sqs:us-west-2:123456789012:events".into()],
            effect: crate::manifest::spec::Effect::Allow,
            conditions: condition.as_object().cloned(),
        };
        desired.inline_policy = permissions::inline_policy(None, &[conditioned]);
        let mut live = role(trust_policy("458175278816", &["the-id"]), &desired);
        let bundle = bundle::build(&desired, &live.arn, &ExternalId::new("the-id"));
        assert_eq!(
            codes(&verify_instance(&desired, Some(&live), Some(&bundle))),
            Vec::<&str>::new()
        );
        // IAM's way of storing it (scalars, strings) is the same condition.
        let stored = serde_json::json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:us-west-2:123456789012:events",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:SourceAccount": ["123456789012"]}}}});
        live.inline_policies.insert(
            INLINE_POLICY_NAME.into(),
            LiveDocument::Valid(stored.clone()),
        );
        assert!(verify_instance(&desired, Some(&live), Some(&bundle)).is_empty());
        // Under another condition it is not the manifest's grant.
        let mut other = stored;
        other["Statement"]["Condition"]["StringEquals"]["aws:SourceAccount"] =
            serde_json::json!("999999999999");
        live.inline_policies
            .insert(INLINE_POLICY_NAME.into(), LiveDocument::Valid(other));
        assert_eq!(
            codes(&verify_instance(&desired, Some(&live), Some(&bundle))),
            ["permissions-missing"]
        );
    }

    #[test]
    fn a_live_grant_that_reaches_no_resource_is_reported() {
        let desired = instance();
        let mut live = role(trust_policy("458175278816", &["the-id"]), &desired);
        live.inline_policies.insert(
            INLINE_POLICY_NAME.to_string(),
            crate::model::LiveDocument::Valid(serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::acme-events"}]
            })),
        );
        let bundle = bundle::build(&desired, &live.arn, &ExternalId::new("the-id"));
        let found = verify_instance(&desired, Some(&live), Some(&bundle));
        let never: Vec<&Finding> = found
            .iter()
            .filter(|f| f.code == VerifyCode::PermissionNeverExercised)
            .collect();
        assert_eq!(never.len(), 1, "{found:?}");
        assert!(never[0].message.contains("s3:PutObject"), "{never:?}");
    }
}
