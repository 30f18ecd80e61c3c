//! The Segment functions' part of a plan as plain data: what `plan` shows
//! (text, JSON, Markdown) and what a saved plan holds, so the three formats
//! and `apply --plan` agree on one answer. Code and setting definitions
//! hold no secret (values live on instances); no external ID is here.

use serde::{Deserialize, Serialize};

use crate::model::function::{DesiredFunction, FunctionInstance};
use crate::model::segment::SegmentRegion;
use crate::model::FunctionKind;

/// What apply does with a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FunctionAction {
    /// None exists: it is created and deployed.
    Create,
    /// Owned and different: it is changed (and deployed if its code is).
    Update,
    /// Owned and as the manifests say.
    Unchanged,
    /// Another's function of that name: apply refuses.
    Conflict,
}

/// One function of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFunction {
    /// Its name in the manifests.
    pub function: String,
    /// Destination or source.
    pub kind: FunctionKind,
    /// What apply does.
    pub action: FunctionAction,
    /// The code file, as the manifest resolves it.
    pub code_file: String,
    /// SHA-256 of the code the plan was made from: a saved plan is refused
    /// once the file says anything else.
    pub code_sha256: String,
    /// Lines of that code.
    pub code_lines: usize,
    /// How many setting definitions the function gets.
    pub definitions: usize,
    /// Unified diff of the code, Segment's then the manifest's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_diff: Option<String>,
    /// Unified diff of the setting definitions, one per line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definitions_diff: Option<String>,
    /// Why nothing is done (a conflict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An instance apply creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedInstance {
    /// The instance's name in the manifests.
    pub instance: String,
    /// The function it runs.
    pub function: String,
    /// A destination connected to `source`, or a new source.
    pub kind: FunctionKind,
    /// The name (a destination) or slug (a source) fnctl gives it.
    pub name: String,
    /// The source a destination is connected to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// What an object `--prune` deletes is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PruneKind {
    /// A destination instance.
    Destination,
    /// A source instance.
    Source,
    /// A destination function.
    DestinationFunction,
    /// A source function.
    SourceFunction,
}

/// An object fnctl owns that no manifest names: `--prune` deletes it
/// (instances before functions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedPrune {
    /// What it is.
    pub what: PruneKind,
    /// Its workspace's API region.
    pub region: SegmentRegion,
    /// Its Segment id.
    pub id: String,
    /// Its name (an instance's name or slug, a function's marker).
    pub name: String,
}

/// The functions' steps of a plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionsPlan {
    /// Every function of the manifests, in their order.
    pub functions: Vec<PlannedFunction>,
    /// The instances apply creates.
    pub instances: Vec<PlannedInstance>,
    /// What `--prune` deletes, in the order it does.
    #[serde(default)]
    pub prune: Vec<PlannedPrune>,
    /// The settings apply pushes into instances that exist.
    #[serde(default)]
    pub pushes: Vec<super::segment::SegmentChange>,
}

impl FunctionsPlan {
    /// Whether apply would change anything in Segment's functions.
    pub(crate) fn has_changes(&self) -> bool {
        !self.instances.is_empty()
            || !self.prune.is_empty()
            || !self.pushes.is_empty()
            || self
                .functions
                .iter()
                .any(|f| matches!(f.action, FunctionAction::Create | FunctionAction::Update))
    }

    /// Whether a function is another's: apply would refuse it, so the plan
    /// is neither applied nor saved (as with IAM's conflicts).
    pub(crate) fn has_conflicts(&self) -> bool {
        self.functions
            .iter()
            .any(|f| f.action == FunctionAction::Conflict)
    }

    /// (functions to create, to update, instances to create).
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |action| self.functions.iter().filter(|f| f.action == action).count();
        (
            count(FunctionAction::Create),
            count(FunctionAction::Update),
            self.instances.len(),
        )
    }
}

/// What a saved plan holds of Segment's functions: the functions and
/// instances as the manifests said (the code included), and the steps the
/// plan showed, which `apply --plan` must find again before it writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedFunctions {
    /// The functions, with their code.
    pub functions: Vec<DesiredFunction>,
    /// The instances that run them.
    pub instances: Vec<FunctionInstance>,
    /// The steps shown.
    pub plan: FunctionsPlan,
    /// Whether the plan was made with `--adopt` (its steps take over
    /// functions without fnctl's marker).
    #[serde(default)]
    pub adopt: bool,
}
