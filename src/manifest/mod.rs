//! Manifests: reading the YAML files of a manifest set, checking them and
//! turning them into the desired model. Nothing here talks to AWS, so an
//! invalid set is caught before any call.

pub mod diagnostic;
pub mod lint;
pub mod load;
pub mod location;
pub mod permissions;
pub mod recover;
pub mod reference_lint;
pub mod regions;
pub mod rules;
pub mod spec;
pub mod validate;

use std::path::{Path, PathBuf};

use diagnostic::{Diagnostic, DiagnosticCode};
use load::SourceFile;

use crate::model::DesiredInstance;

/// Folder read when no `-f` is given.
pub const DEFAULT_MANIFEST_DIR: &str = "manifests";

/// A loaded manifest set: its files, the problems found and, when there is
/// no error, the desired instances.
#[derive(Debug)]
pub struct ManifestSet {
    /// Every file read, with its text (to quote lines in diagnostics).
    pub files: Vec<SourceFile>,
    /// Errors and warnings, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// Desired instances of the whole set.
    pub instances: Vec<DesiredInstance>,
}

impl ManifestSet {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Diagnostics rendered like a compiler's.
    pub fn render_diagnostics(&self) -> String {
        diagnostic::render_text(&self.diagnostics, |path: &Path| {
            self.files
                .iter()
                .find(|f| f.path == path)
                .map(|f| f.text.as_str())
        })
    }
}

/// Reads, checks and models every manifest under `paths` (default `manifests/`).
pub fn load(paths: &[PathBuf]) -> ManifestSet {
    let default_paths = [PathBuf::from(DEFAULT_MANIFEST_DIR)];
    let paths = if paths.is_empty() {
        &default_paths[..]
    } else {
        paths
    };
    let mut diagnostics = Vec::new();
    let found = load::discover(paths, &mut diagnostics);
    if found.is_empty() && diagnostics.is_empty() {
        let first = &paths[0];
        diagnostics.push(
            Diagnostic::error(
                DiagnosticCode::NoManifests,
                first,
                location::Position { line: 1, column: 1 },
                &location::FieldPath::root(),
                "no *.yaml or *.yml manifest found",
            )
            .with_hint("pass manifest files or folders with -f"),
        );
    }
    let files: Vec<SourceFile> = found
        .iter()
        .map(|path| load::read(path, &mut diagnostics))
        .collect();
    let instances = validate::validate(&files, &mut diagnostics);
    diagnostic::sort(&mut diagnostics);
    ManifestSet {
        files,
        diagnostics,
        instances,
    }
}
