//! Saved plans (`plan --out FILE`, `apply --plan FILE`): the plan of each
//! account with the fingerprint of every live role it was computed from,
//! and a checksum so a damaged or carelessly edited file is refused. The
//! checksum has no key, so it stops accidents, not a determined edit: apply
//! also checks every trust policy a saved plan would write against the
//! Segment account of its instance's kind. A saved plan holds
//! external IDs only by fingerprint, never their values. With Segment
//! functions, it holds their code and steps too, each code file pinned by
//! its SHA-256 ([`SavedPlan::check_code`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::functions::SavedFunctions;
use super::Plan;
use crate::model::DesiredInstance;
use crate::model::FORMAT_VERSION;

/// Marks the file as an fnctl plan.
pub const KIND: &str = "fnctl-saved-plan";

/// The plan of one account as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedAccount {
    /// Account id.
    pub account: String,
    /// Role assumed to reach it.
    pub assume_role: Option<String>,
    /// The instances reconciled there (for bundles).
    pub instances: Vec<DesiredInstance>,
    /// Fingerprint of every role the plan looked at, by role name (`absent` for none).
    pub fingerprints: BTreeMap<String, String>,
    /// The plan.
    pub plan: Plan,
}

/// A saved plan file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    /// [`KIND`].
    pub kind: String,
    /// Format version.
    pub format_version: String,
    /// When it was made, RFC 3339.
    pub created_at: String,
    /// Each account's plan.
    pub accounts: Vec<SavedAccount>,
    /// Segment functions of the manifests, when they declare any (absent
    /// otherwise, so a plan without functions reads and sums as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions: Option<SavedFunctions>,
    /// SHA-256 of the rest of the file.
    #[serde(default)]
    pub checksum: String,
}

impl SavedPlan {
    fn compute_checksum(&self) -> String {
        let mut unsigned = self.clone();
        unsigned.checksum = String::new();
        let text = serde_json::to_string(&unsigned).unwrap_or_default();
        crate::model::digest::sha256_hex(text.as_bytes(), 64)
    }

    /// A new saved plan with its checksum.
    pub fn new(created_at: String, accounts: Vec<SavedAccount>) -> Self {
        let mut saved = SavedPlan {
            kind: KIND.into(),
            format_version: FORMAT_VERSION.into(),
            created_at,
            accounts,
            functions: None,
            checksum: String::new(),
        };
        saved.checksum = saved.compute_checksum();
        saved
    }

    /// The plan holding Segment functions too, its checksum recomputed.
    pub(crate) fn with_functions(mut self, functions: SavedFunctions) -> Self {
        self.functions = Some(functions);
        self.checksum = self.compute_checksum();
        self
    }

    /// Refuses the plan when a function's code file no longer holds the
    /// code the plan showed (changed, moved or unreadable): apply would
    /// otherwise ship code nobody reviewed, or code other than the file's.
    pub(crate) fn check_code(&self) -> Result<(), StaleCode> {
        let Some(saved) = &self.functions else {
            return Ok(());
        };
        for planned in &saved.plan.functions {
            let now = std::fs::read(&planned.code_file)
                .map(|bytes| crate::fingerprint::sha256_hex(&bytes, 64))
                .map_err(|error| StaleCode {
                    function: planned.function.clone(),
                    file: planned.code_file.clone(),
                    what: format!("cannot be read ({error})"),
                })?;
            if now != planned.code_sha256 {
                return Err(StaleCode {
                    function: planned.function.clone(),
                    file: planned.code_file.clone(),
                    what: "changed".into(),
                });
            }
        }
        Ok(())
    }
}

/// A function's code file is not what the saved plan showed.
#[derive(Debug, thiserror::Error)]
#[error("the saved plan is stale: code file {file} of function `{function}` {what} since the plan was made; run `fnctl plan` again")]
pub struct StaleCode {
    /// The function.
    pub function: String,
    /// Its code file.
    pub file: String,
    /// What happened to it.
    pub what: String,
}

impl SavedPlan {
    /// Writes the plan through a temporary file beside it, synced, then
    /// renamed over `path`: no reader sees a half-written plan, and a failed
    /// write leaves the old one as it was (`tempfile` removes its file on
    /// every error). The file is mode 0600 from its creation on unix, as
    /// `tempfile` makes it: the plan names roles and accounts.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        let cannot_write = |error: std::io::Error| {
            anyhow::anyhow!("cannot write plan file {}: {error}", path.display())
        };
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        // Hidden, and named after the plan, should a killed run leave it.
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let mut file = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(folder)
            .map_err(cannot_write)?;
        file.write_all(text.as_bytes()).map_err(cannot_write)?;
        file.as_file().sync_all().map_err(cannot_write)?;
        file.persist(path)
            .map_err(|error| cannot_write(error.error))?;
        Ok(())
    }

    /// Reads and checks a saved plan: kind, version and checksum.
    pub(crate) fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read plan file {}: {e}", path.display()))?;
        let saved: SavedPlan = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not an fnctl saved plan: {e}", path.display()))?;
        if saved.kind != KIND {
            anyhow::bail!(
                "{} is not an fnctl saved plan (kind `{}`)",
                path.display(),
                saved.kind
            );
        }
        if saved.format_version != FORMAT_VERSION {
            anyhow::bail!(
                "{} has plan format {}, this fnctl reads {FORMAT_VERSION}",
                path.display(),
                saved.format_version
            );
        }
        if saved.checksum != saved.compute_checksum() {
            anyhow::bail!(
                "{} was modified after it was saved (checksum mismatch); make a new plan",
                path.display()
            );
        }
        Ok(saved)
    }
}
