//! The plan: what apply would change, per role, each change with its reason.
//! [`planner::plan`] computes it as a pure function of desired and live
//! state; it is plain data that prints, saves to JSON and executes.

mod external_id;
pub mod functions;
pub mod notice;
pub mod planner;
pub mod rotation;
pub mod rotation_schedule;
pub mod saved;
pub mod segment;

#[cfg(test)]
pub(crate) mod adoption_tests;
#[cfg(test)]
mod planner_tests;
#[cfg(test)]
mod saved_tests;

#[cfg(test)]
pub(crate) mod external_id_table_tests;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::operation::Operation;

pub use notice::{Notice, NoticeLevel};
pub(crate) use planner::{plan, PlanOptions};

/// An external ID in a plan, by reference: plans never hold the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "source")]
pub enum ExternalIdRef {
    /// An ID already in the live trust policy, known by its fingerprint.
    Existing { fingerprint: String },
    /// A new ID that apply generates.
    Generate,
}

/// A trust policy as planned: who may assume the role and with which IDs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustSpec {
    /// Segment's account.
    pub segment_account: String,
    /// Accepted external IDs (two during a rotation).
    pub external_ids: Vec<ExternalIdRef>,
}

impl TrustSpec {
    /// The document with `(sensitive)` in place of each ID (`(sensitive) new`
    /// for one apply generates), for display.
    pub(crate) fn redacted_document(&self) -> Value {
        let placeholders: Vec<String> = self
            .external_ids
            .iter()
            .map(|reference| match reference {
                ExternalIdRef::Existing { .. } => crate::model::trust::SENSITIVE.to_string(),
                ExternalIdRef::Generate => format!("{} new", crate::model::trust::SENSITIVE),
            })
            .collect();
        let placeholders: Vec<&str> = placeholders.iter().map(String::as_str).collect();
        crate::model::trust::trust_policy(&self.segment_account, &placeholders)
    }
}

/// A planned operation.
pub type PlannedOperation = Operation<TrustSpec>;

/// What happens to a role as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The role is created.
    Create,
    /// The role is changed in place.
    Update,
    /// A role without fnctl's tags is taken over (`--adopt`).
    Adopt,
    /// The role is deleted (`--prune`).
    Delete,
}

impl Action {
    /// The action as one word: `create`, `update`, `adopt`, `delete`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Adopt => "adopt",
            Action::Delete => "delete",
        }
    }
}

/// A policy document before and after, secrets redacted, for the diff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentChange {
    /// Live document (`None`: absent or not valid JSON).
    pub live: Option<Value>,
    /// Desired document (`None`: removed).
    pub desired: Option<Value>,
}

/// One operation with the reason it is needed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The IAM write.
    #[serde(flatten)]
    pub operation: PlannedOperation,
    /// Why, in words ("trust policy: external ID condition removed out of band").
    pub reason: String,
    /// For policy documents: before and after, for a semantic diff. Saved
    /// as `diff`: the flattened operation may have a `document` of its own.
    #[serde(rename = "diff", skip_serializing_if = "Option::is_none", default)]
    pub document: Option<DocumentChange>,
    /// Drift (IAM changed by hand) or a pending manifest change, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cause: Option<crate::model::digest::Cause>,
}

/// Everything that happens to one role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleChange {
    /// The instance, `None` for a pruned role no manifest names.
    pub instance: Option<String>,
    /// The role.
    pub role: String,
    /// Account the role is in.
    pub account: String,
    /// Create, update, adopt or delete.
    pub action: Action,
    /// Operations in the order they run.
    pub steps: Vec<Step>,
    /// Fingerprint of the live role the plan was computed from (`absent` when
    /// it did not exist): a saved plan is refused when this no longer matches.
    pub live_fingerprint: String,
}

/// The plan of one account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Changes, in instance order, then deletions.
    pub changes: Vec<RoleChange>,
    /// Conflicts, warnings and information.
    pub notices: Vec<Notice>,
    /// Instances whose role already matches.
    pub unchanged: Vec<String>,
    /// Settings apply pushes to Segment, after IAM and the bundles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segment: Vec<segment::SegmentChange>,
    /// What Segment showed of each instance with `segment:` when planned: a
    /// saved plan is refused when Segment moved since.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub segment_fingerprints: std::collections::BTreeMap<String, String>,
}

impl Plan {
    /// Whether apply would change nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.segment.is_empty()
    }

    /// Several account plans as one (for output and for apply).
    pub(crate) fn merged<'a>(plans: impl IntoIterator<Item = &'a Plan>) -> Plan {
        let mut combined = Plan::default();
        for plan in plans {
            combined.changes.extend(plan.changes.iter().cloned());
            combined.notices.extend(plan.notices.iter().cloned());
            combined.unchanged.extend(plan.unchanged.iter().cloned());
            combined.segment.extend(plan.segment.iter().cloned());
            combined
                .segment_fingerprints
                .extend(plan.segment_fingerprints.clone());
        }
        combined
    }

    /// Whether a conflict stops the run.
    pub(crate) fn has_conflicts(&self) -> bool {
        self.notices
            .iter()
            .any(|n| n.level() == NoticeLevel::Conflict)
    }

    /// Roles to create, update (adoptions included) and delete.
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        let count = |wanted: &[Action]| {
            self.changes
                .iter()
                .filter(|c| wanted.contains(&c.action))
                .count()
        };
        (
            count(&[Action::Create]),
            count(&[Action::Update, Action::Adopt]),
            count(&[Action::Delete]),
        )
    }
}
