//! Digests of a role's state, one per aspect (trust, permissions, managed
//! policies, boundary, user tags, role settings). Apply records the digests
//! of what it applied in the tag `fnctl:applied`; comparing live, recorded
//! and desired digests tells drift (IAM changed by hand: live ≠ recorded)
//! from a pending change (the manifest changed: recorded ≠ desired) without
//! a state file. Digests hold no secret: external IDs are redacted first.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::model::trust::redact;
use crate::model::trust::{trust_policy, SENSITIVE};
use crate::model::{DesiredInstance, LiveDocument, LiveRole};
use crate::policy::normalize;

/// One aspect of a role that fnctl owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aspect {
    /// The trust policy (external IDs redacted).
    Trust,
    /// The inline policy `fnctl-permissions`.
    Permissions,
    /// Attached managed policies.
    Managed,
    /// The permissions boundary.
    Boundary,
    /// The user's tags.
    Tags,
    /// Description and max session duration.
    Settings,
}

impl Aspect {
    const ALL: [Aspect; 6] = [
        Aspect::Trust,
        Aspect::Permissions,
        Aspect::Managed,
        Aspect::Boundary,
        Aspect::Tags,
        Aspect::Settings,
    ];

    fn letter(self) -> char {
        match self {
            Aspect::Trust => 't',
            Aspect::Permissions => 'p',
            Aspect::Managed => 'm',
            Aspect::Boundary => 'b',
            Aspect::Tags => 'g',
            Aspect::Settings => 'r',
        }
    }
}

/// A digest per aspect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Digests(pub BTreeMap<Aspect, String>);

impl Digests {
    /// The tag value: `t=1a2b3c4d p=… m=… b=… g=… r=…` (IAM tag alphabet).
    pub(crate) fn encode(&self) -> String {
        Aspect::ALL
            .iter()
            .filter_map(|a| self.0.get(a).map(|d| format!("{}={d}", a.letter())))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Reads a tag value; `None` when it is not one fnctl wrote.
    pub(crate) fn decode(text: &str) -> Option<Self> {
        let mut digests = BTreeMap::new();
        for part in text.split(' ') {
            let (letter, digest) = part.split_once('=')?;
            let aspect = Aspect::ALL
                .into_iter()
                .find(|a| a.letter().to_string() == letter)?;
            digests.insert(aspect, digest.to_string());
        }
        Some(Digests(digests))
    }

    /// The digest of one aspect.
    pub(crate) fn get(&self, aspect: Aspect) -> Option<&str> {
        self.0.get(&aspect).map(String::as_str)
    }
}

fn hash(value: &Value) -> String {
    sha256_hex(value.to_string().as_bytes(), 8)
}

/// fnctl's one hash helper, at home in a leaf module so that `policy` (the
/// reference table's checksum) can use it without depending on `model`.
pub(crate) use crate::fingerprint::sha256_hex;

/// A stable identity for a policy document: 16 hexadecimal digits of the
/// SHA-256 of its compact normalized serialization, so equivalent
/// documents share it.
#[cfg(test)]
pub(crate) fn document_fingerprint(document: &Value) -> String {
    sha256_hex(normalize(document).to_string().as_bytes(), 16)
}

fn document(document: Option<&LiveDocument>) -> Value {
    match document {
        None => Value::Null,
        Some(LiveDocument::Valid(value)) => normalize(value),
        Some(LiveDocument::Invalid(_)) => json!("(invalid)"),
    }
}

fn user_tags(tags: &BTreeMap<String, String>) -> BTreeMap<&String, &String> {
    tags.iter()
        .filter(|(k, _)| !crate::model::tags::is_fnctl_tag(k) && !k.starts_with("aws:"))
        .collect()
}

fn digests(
    trust: Value,
    permissions: Value,
    managed: &BTreeSet<String>,
    boundary: Option<&String>,
    tags: BTreeMap<&String, &String>,
    settings: Value,
) -> Digests {
    Digests(BTreeMap::from([
        (Aspect::Trust, hash(&trust)),
        (Aspect::Permissions, hash(&permissions)),
        (Aspect::Managed, hash(&json!(managed))),
        (Aspect::Boundary, hash(&json!(boundary))),
        (Aspect::Tags, hash(&json!(tags))),
        (Aspect::Settings, hash(&settings)),
    ]))
}

/// Digests of what the manifest wants.
pub(crate) fn desired(instance: &DesiredInstance) -> Digests {
    digests(
        normalize(&trust_policy(&instance.segment_account, &[SENSITIVE])),
        instance
            .inline_policy
            .as_ref()
            .map_or(Value::Null, normalize),
        &instance.managed_policies,
        instance.permissions_boundary.as_ref(),
        user_tags(&instance.tags),
        json!([instance.description, instance.max_session_duration]),
    )
}

/// Digests of a role as it is, its permissions read from the inline policy
/// `inline_policy_name` (the instance's: [`DesiredInstance::inline_policy_name`]).
pub(crate) fn live(role: &LiveRole, inline_policy_name: &str) -> Digests {
    let trust = match &role.trust_policy {
        // Sids mean nothing to IAM: a kept hand-written one is no drift.
        LiveDocument::Valid(value) => {
            normalize(&crate::model::trust::with_fnctl_sids(&redact(value)))
        }
        LiveDocument::Invalid(_) => json!("(invalid)"),
    };
    digests(
        trust,
        document(role.inline_policies.get(inline_policy_name)),
        &role.attached_policies,
        role.permissions_boundary.as_ref(),
        user_tags(&role.tags),
        // Unknown settings (a snapshot without ListRoles data) digest as unknown, never as "empty".
        match role.max_session_duration {
            Some(duration) => json!([role.description.clone().unwrap_or_default(), duration]),
            None => json!("(unknown)"),
        },
    )
}

/// Whether the role's live description is the one the last apply recorded
/// (with either the live or the desired session length, so that a pending or
/// out-of-band change of the length alone does not lose it).
pub(crate) fn description_applied(role: &LiveRole, instance: &DesiredInstance) -> bool {
    let Some(recorded) = role
        .tags
        .get(crate::model::tags::APPLIED)
        .and_then(|t| Digests::decode(t))
    else {
        return false;
    };
    let description = role.description.clone().unwrap_or_default();
    [
        role.max_session_duration,
        Some(instance.max_session_duration),
    ]
    .into_iter()
    .flatten()
    .any(|duration| {
        recorded.get(Aspect::Settings) == Some(hash(&json!([description, duration])).as_str())
    })
}

/// Whether a difference in an aspect is drift, a pending manifest change, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// IAM was changed out of band since the last apply.
    Drift,
    /// The manifest changed since the last apply.
    Pending,
    /// Both.
    DriftAndPending,
    /// No record of the last apply (adopted, or applied by an older fnctl).
    Unknown,
}

/// Classifies a difference in `aspect` given the three digests.
pub(crate) fn cause(
    aspect: Aspect,
    live: &Digests,
    recorded: Option<&Digests>,
    desired: &Digests,
) -> Cause {
    let Some(recorded) = recorded.and_then(|r| r.get(aspect)) else {
        return Cause::Unknown;
    };
    let live_moved = live.get(aspect) != Some(recorded);
    let manifest_moved = desired.get(aspect) != Some(recorded);
    match (live_moved, manifest_moved) {
        (true, false) => Cause::Drift,
        (false, true) => Cause::Pending,
        (true, true) => Cause::DriftAndPending,
        // The digests agree but the planner still sees a difference: one the
        // digest cannot see (an external ID swapped under its redaction), made
        // in IAM, not in git.
        (false, false) => Cause::Drift,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_in_the_tag_alphabet() {
        let digests = Digests(BTreeMap::from([
            (Aspect::Trust, "0a1b2c3d".to_string()),
            (Aspect::Tags, "ffffffff".to_string()),
        ]));
        let text = digests.encode();
        assert!(crate::manifest::rules::check_tag_value(&text).is_ok());
        assert_eq!(Digests::decode(&text), Some(digests));
        assert_eq!(Digests::decode("not a digest"), None);
    }

    #[test]
    fn causes() {
        let a = Digests(BTreeMap::from([(Aspect::Trust, "a".to_string())]));
        let b = Digests(BTreeMap::from([(Aspect::Trust, "b".to_string())]));
        let c = Digests(BTreeMap::from([(Aspect::Trust, "c".to_string())]));
        assert_eq!(cause(Aspect::Trust, &b, Some(&a), &a), Cause::Drift);
        assert_eq!(cause(Aspect::Trust, &a, Some(&a), &b), Cause::Pending);
        assert_eq!(
            cause(Aspect::Trust, &b, Some(&a), &c),
            Cause::DriftAndPending
        );
        assert_eq!(cause(Aspect::Trust, &b, None, &a), Cause::Unknown);
    }
}
