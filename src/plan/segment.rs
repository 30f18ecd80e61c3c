//! The Segment half of a plan: which of fnctl's settings an instance in
//! Segment lacks or holds differently, decided purely from the bundle fnctl
//! will write and the settings Segment shows. The external ID is compared by
//! the characters Segment shows of it and is never part of the plan.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ExternalIdRef, RoleChange};
use crate::model::external_id::ExternalId;
use crate::model::operation::Operation;
use crate::model::segment::{is_masked, shows, LiveSettings, SegmentTarget};
use crate::model::trust::SENSITIVE;
use crate::model::LiveRole;

/// The external ID the instance's bundle holds once apply has run.
#[derive(Debug, Clone, PartialEq)]
pub enum BundleId {
    /// Already exists (in IAM, or in a bundle it is restored from).
    Known(ExternalId),
    /// Apply generates it: Segment cannot hold it yet.
    New,
}

/// What fnctl wants Segment to hold for one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredSettings {
    /// Every non-secret setting of the bundle (role ARN, bucket, extras).
    pub plain: Map<String, Value>,
    /// The setting that holds the external ID.
    pub secret_key: String,
    /// The external ID.
    pub external_id: BundleId,
}

/// One setting that differs, for the plan's diff (the ID shown as `(sensitive)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingChange {
    /// Setting name.
    pub key: String,
    /// What Segment holds (`None`: absent).
    pub live: Option<Value>,
    /// What fnctl will push.
    pub desired: Value,
}

/// A push apply will make to one Segment instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentChange {
    /// The fnctl instance.
    pub instance: String,
    /// Where its settings live in Segment.
    pub target: SegmentTarget,
    /// The settings that differ.
    pub settings: Vec<SettingChange>,
    /// Why, in words.
    pub reason: String,
}

/// What the plan says about one instance's Segment side.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentDecision {
    /// Segment already holds fnctl's settings.
    InSync,
    /// Segment has no such instance: nothing can be delivered.
    Missing,
    /// Apply pushes these settings.
    Push(SegmentChange),
}

/// The external ID the instance's bundle will hold after apply, as apply
/// chooses it ([`super::planner::bundle_external_id`]): `New` when apply
/// generates one (or none can be vouched for), else the ID the trust policy
/// will accept under the tags the plan leaves.
pub(crate) fn expected_bundle_id(
    change: Option<&RoleChange>,
    role: Option<&LiveRole>,
    bundled: &[ExternalId],
) -> BundleId {
    let trust = change.and_then(|change| {
        change.steps.iter().find_map(|step| match &step.operation {
            Operation::CreateRole { trust_policy, .. }
            | Operation::UpdateTrustPolicy { trust_policy, .. } => Some(trust_policy),
            _ => None,
        })
    });
    let mut written = Vec::new();
    if let Some(trust) = trust {
        let mut known: Vec<ExternalId> = role
            .and_then(|r| r.trust_policy.valid())
            .map(crate::model::trust::external_ids)
            .unwrap_or_default();
        known.extend(bundled.iter().cloned());
        for reference in &trust.external_ids {
            let ExternalIdRef::Existing { fingerprint } = reference else {
                return BundleId::New;
            };
            match known.iter().find(|id| id.fingerprint() == *fingerprint) {
                Some(id) => written.push(id.clone()),
                None => return BundleId::New,
            }
        }
    }
    super::planner::bundle_external_id(change, role, &written)
        .map_or(BundleId::New, BundleId::Known)
}

/// Compares what Segment shows with what the bundle will hold.
pub(crate) fn decide(
    instance: &str,
    target: &SegmentTarget,
    desired: &DesiredSettings,
    live: Option<&LiveSettings>,
) -> SegmentDecision {
    let Some(live) = live else {
        return SegmentDecision::Missing;
    };
    let mut settings = Vec::new();
    for (key, value) in &desired.plain {
        if live.settings.get(key) != Some(value) {
            settings.push(SettingChange {
                key: key.clone(),
                live: live.settings.get(key).cloned(),
                desired: value.clone(),
            });
        }
    }
    let shown = live.settings.get(&desired.secret_key);
    let holds_id = match (&desired.external_id, shown.and_then(Value::as_str)) {
        (BundleId::Known(id), Some(value)) => shows(value, id),
        _ => false,
    };
    if !holds_id {
        settings.push(SettingChange {
            key: desired.secret_key.clone(),
            live: shown.map(|_| Value::String(SENSITIVE.into())),
            desired: Value::String(match desired.external_id {
                BundleId::Known(_) => SENSITIVE.into(),
                BundleId::New => format!("{SENSITIVE} new"),
            }),
        });
    }
    if settings.is_empty() {
        return SegmentDecision::InSync;
    }
    let names: Vec<&str> = settings.iter().map(|s| s.key.as_str()).collect();
    SegmentDecision::Push(SegmentChange {
        instance: instance.to_string(),
        target: target.clone(),
        reason: format!("Segment does not hold fnctl's {}", names.join(", ")),
        settings,
    })
}

/// The body of the push: fnctl's settings that differ, with the real ID;
/// never a masked value, never a setting fnctl does not own.
pub(crate) fn push_body(
    bundle_settings: &Map<String, Value>,
    secret_key: &str,
    live: &LiveSettings,
) -> Map<String, Value> {
    bundle_settings
        .iter()
        .filter(|(_, value)| !is_masked(value))
        .filter(|(key, value)| {
            let shown = live.settings.get(*key);
            if key.as_str() == secret_key {
                match (value.as_str(), shown.and_then(Value::as_str)) {
                    (Some(id), Some(shown)) => !shows(shown, &ExternalId::new(id)),
                    _ => true,
                }
            } else {
                shown != Some(*value)
            }
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// Settings fnctl does not own that were there before a push and are gone
/// or changed after it: Segment replaced the settings object instead of
/// merging into it. Names only.
pub(crate) fn lost_settings(
    before: &LiveSettings,
    after: &LiveSettings,
    owned: &Map<String, Value>,
) -> Vec<String> {
    before
        .settings
        .iter()
        .filter(|(key, _)| !owned.contains_key(*key))
        .filter(|(key, value)| after.settings.get(*key) != Some(*value))
        .map(|(key, _)| key.clone())
        .collect()
}

/// A fingerprint of what Segment shows (masked values included), so a saved
/// plan can tell that Segment moved since it was made.
pub(crate) fn fingerprint(live: Option<&LiveSettings>) -> String {
    let text = match live {
        Some(live) => Value::Object(live.settings.clone()).to_string(),
        None => "absent".into(),
    };
    crate::model::digest::sha256_hex(text.as_bytes(), 16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::segment::SegmentRegion;
    use crate::model::FunctionKind;
    use serde_json::json;

    const ID: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHdada";

    fn target() -> SegmentTarget {
        SegmentTarget {
            id: "dest123456".into(),
            region: SegmentRegion::Us,
            kind: FunctionKind::Destination,
        }
    }

    fn desired(id: BundleId) -> DesiredSettings {
        DesiredSettings {
            plain: json!({"iamRoleArn": "arn:aws:iam::1:role/r", "s3Bucket": "b"})
                .as_object()
                .cloned()
                .unwrap(),
            secret_key: "iamRoleExternalId".into(),
            external_id: id,
        }
    }

    fn live(settings: Value) -> LiveSettings {
        LiveSettings {
            settings: settings.as_object().cloned().unwrap(),
        }
    }

    #[test]
    fn in_sync_when_segment_shows_the_ids_last_characters() {
        let shown = live(
            json!({"iamRoleArn": "arn:aws:iam::1:role/r", "s3Bucket": "b", "iamRoleExternalId": "••••••••dada", "foreign": 1}),
        );
        let decision = decide(
            "i",
            &target(),
            &desired(BundleId::Known(ExternalId::new(ID))),
            Some(&shown),
        );
        assert_eq!(decision, SegmentDecision::InSync);
    }

    #[test]
    fn a_different_id_or_setting_is_a_push_that_shows_no_secret() {
        let shown = live(
            json!({"iamRoleArn": "arn:aws:iam::1:role/other", "s3Bucket": "b", "iamRoleExternalId": "••••••••zzzz"}),
        );
        let SegmentDecision::Push(change) = decide(
            "i",
            &target(),
            &desired(BundleId::Known(ExternalId::new(ID))),
            Some(&shown),
        ) else {
            panic!("expected a push");
        };
        let keys: Vec<&str> = change.settings.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["iamRoleArn", "iamRoleExternalId"]);
        let text = serde_json::to_string(&change).unwrap();
        assert!(!text.contains("dada") && !text.contains("zzzz"), "{text}");
    }

    #[test]
    fn a_new_id_is_always_pushed_and_a_missing_instance_is_missing() {
        let shown = live(
            json!({"iamRoleArn": "arn:aws:iam::1:role/r", "s3Bucket": "b", "iamRoleExternalId": "••••••••dada"}),
        );
        assert!(matches!(
            decide("i", &target(), &desired(BundleId::New), Some(&shown)),
            SegmentDecision::Push(_)
        ));
        assert_eq!(
            decide("i", &target(), &desired(BundleId::New), None),
            SegmentDecision::Missing
        );
    }

    #[test]
    fn the_push_carries_only_fnctls_keys_that_differ_and_never_a_masked_value() {
        let bundle = json!({"iamRoleArn": "arn:aws:iam::1:role/r", "s3Bucket": "b", "iamRoleExternalId": ID})
            .as_object()
            .cloned()
            .unwrap();
        let shown = live(
            json!({"iamRoleArn": "arn:aws:iam::1:role/r", "s3Bucket": "old", "iamRoleExternalId": "••••dada", "apiKey": "••••abcd"}),
        );
        let body = push_body(&bundle, "iamRoleExternalId", &shown);
        assert_eq!(Value::Object(body), json!({"s3Bucket": "b"}));
        let stale = live(json!({"iamRoleExternalId": "••••zzzz"}));
        let body = push_body(&bundle, "iamRoleExternalId", &stale);
        assert_eq!(body.get("iamRoleExternalId"), Some(&json!(ID)));
        assert!(!body.values().any(is_masked));
    }

    #[test]
    fn a_replacing_push_is_detected_by_the_foreign_settings_it_lost() {
        let owned = json!({"iamRoleArn": "x"}).as_object().cloned().unwrap();
        let before = live(json!({"iamRoleArn": "y", "apiKey": "••••abcd", "flag": true}));
        let merged = live(json!({"iamRoleArn": "x", "apiKey": "••••abcd", "flag": true}));
        let replaced = live(json!({"iamRoleArn": "x"}));
        assert!(lost_settings(&before, &merged, &owned).is_empty());
        assert_eq!(
            lost_settings(&before, &replaced, &owned),
            ["apiKey", "flag"]
        );
    }
}
