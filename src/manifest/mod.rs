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

#[cfg(test)]
mod schema_bounds_tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use diagnostic::{Diagnostic, DiagnosticCode};
use load::SourceFile;

use crate::model::function::{DesiredFunction, FunctionInstance};
use crate::model::DesiredInstance;

/// Folder read when no `-f` is given.
pub const DEFAULT_MANIFEST_DIR: &str = "manifests";

/// A loaded manifest set: its files, the problems found and, when there is
/// no error, the desired instances kept.
#[derive(Debug)]
pub struct ManifestSet {
    /// Every file read, in the order read (a file given twice is read twice).
    pub files: Vec<PathBuf>,
    /// Errors and warnings, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// Desired instances of the whole set, or those the caller kept (see
    /// [`load_keeping`]).
    pub instances: Vec<DesiredInstance>,
    /// The Segment functions of the whole set (`functions:`).
    pub functions: Vec<DesiredFunction>,
    /// The kept instances that run a function of the set (`segment: { function }`).
    pub function_instances: Vec<FunctionInstance>,
    /// The source lines the diagnostics point at: all rendering quotes of
    /// the files, whose texts go once they are checked.
    quoted: QuotedLines,
}

impl ManifestSet {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Diagnostics rendered like a compiler's.
    pub fn render_diagnostics(&self) -> String {
        diagnostic::render_text(&self.diagnostics, |path: &Path, line| {
            self.quoted.get(path, line)
        })
    }
}

/// Lines of files, by file and 1-based line number.
#[derive(Debug, Default)]
struct QuotedLines(HashMap<PathBuf, HashMap<usize, String>>);

impl QuotedLines {
    /// Keeps the lines of `file` that `diagnostics` point at. A line already
    /// kept stays: a file read twice quotes its first reading.
    fn keep<'a>(&mut self, file: &SourceFile, diagnostics: impl Iterator<Item = &'a Diagnostic>) {
        for diagnostic in diagnostics.filter(|d| d.file == file.path) {
            let Some(text) = diagnostic::source_line(&file.text, diagnostic.line) else {
                continue;
            };
            self.0
                .entry(file.path.clone())
                .or_default()
                .entry(diagnostic.line)
                .or_insert_with(|| text.to_string());
        }
    }

    /// Keeps one line, unless one is kept there already.
    fn insert(&mut self, path: &Path, line: usize, text: String) {
        self.0
            .entry(path.to_path_buf())
            .or_default()
            .entry(line)
            .or_insert(text);
    }

    fn get(&self, path: &Path, line: usize) -> Option<&str> {
        self.0.get(path)?.get(&line).map(String::as_str)
    }
}

/// Reads, checks and models every manifest under `paths` (default
/// `manifests/`), keeping every instance.
pub fn load(paths: &[PathBuf]) -> ManifestSet {
    load_keeping(paths, |_| true)
}

/// Reads, checks and models every manifest under `paths` (default
/// `manifests/`), keeping the instances `keep` accepts. Every file is read
/// and every instance checked, whatever `keep` says: an error anywhere in
/// the set is reported, and the set is invalid.
///
/// Files are read and checked one at a time, and each is let go once
/// checked, but for its path and the lines its diagnostics quote; an
/// instance `keep` refuses goes as soon as it is checked. So the memory a
/// set costs is one file's text, document and index plus the instances
/// kept, not the whole set: a CI job that plans one account of an
/// organisation does not hold the other accounts' manifests.
pub(crate) fn load_keeping(
    paths: &[PathBuf],
    mut keep: impl FnMut(&DesiredInstance) -> bool,
) -> ManifestSet {
    let default_paths = [PathBuf::from(DEFAULT_MANIFEST_DIR)];
    let paths = if paths.is_empty() {
        &default_paths[..]
    } else {
        paths
    };
    // Diagnostics of finding and reading files, and those of checking them,
    // are collected apart and joined before the (stable) sort: diagnostics
    // at one place keep the order they had when every file was read before
    // any was checked.
    let mut read_diagnostics = Vec::new();
    let mut check_diagnostics = Vec::new();
    let found = load::discover(paths, &mut read_diagnostics);
    if found.is_empty() && read_diagnostics.is_empty() {
        let first = &paths[0];
        read_diagnostics.push(
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
    let mut validator = validate::SetValidator::default();
    let mut files = Vec::with_capacity(found.len());
    let mut instances = Vec::new();
    let mut quoted = QuotedLines::default();
    let mut checked = 0;
    for path in found {
        let (read_before, check_before) = (read_diagnostics.len(), check_diagnostics.len());
        let file = load::read(&path, &mut read_diagnostics);
        let file_instances = validator.validate_file(&file, &mut check_diagnostics);
        checked += file_instances.len();
        instances.extend(file_instances.into_iter().filter(|i| keep(i)));
        quoted.keep(
            &file,
            read_diagnostics[read_before..]
                .iter()
                .chain(&check_diagnostics[check_before..]),
        );
        files.push(file.path);
    }
    log::debug!(
        "{} manifest file(s): {checked} instance(s) checked, {} kept",
        files.len(),
        instances.len()
    );
    let checked_functions = validator.finish();
    for (diagnostic, line) in checked_functions.diagnostics {
        if let Some(line) = line {
            quoted.insert(&diagnostic.file, diagnostic.line, line);
        }
        check_diagnostics.push(diagnostic);
    }
    let kept: std::collections::HashSet<&str> = instances.iter().map(|i| i.name.as_str()).collect();
    let function_instances = checked_functions
        .instances
        .into_iter()
        .filter(|i| kept.contains(i.instance.as_str()))
        .collect();
    let mut diagnostics = read_diagnostics;
    diagnostics.append(&mut check_diagnostics);
    diagnostic::sort(&mut diagnostics);
    ManifestSet {
        files,
        diagnostics,
        instances,
        functions: checked_functions.functions,
        function_instances,
        quoted,
    }
}

/// Checks one manifest held in memory, as a set of its own, as if read from
/// `path`: its diagnostics, and its desired instances (meaningful only when
/// no diagnostic is an error). `fnctl import` checks what it writes this way.
pub(crate) fn check_text(path: &Path, text: String) -> (Vec<Diagnostic>, Vec<DesiredInstance>) {
    let mut diagnostics = Vec::new();
    let file = load::parse(path, text, &mut diagnostics);
    let instances = validate::SetValidator::default().validate_file(&file, &mut diagnostics);
    diagnostic::sort(&mut diagnostics);
    (diagnostics, instances)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes manifests into a temp folder; returns it and their paths.
    fn manifests(files: &[(&str, &str)]) -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = files
            .iter()
            .map(|(name, text)| {
                let path = dir.path().join(name);
                std::fs::write(&path, text).expect("write manifest");
                path
            })
            .collect();
        (dir, paths)
    }

    /// (code, file name, line) of each diagnostic.
    fn placed(set: &ManifestSet) -> Vec<(DiagnosticCode, String, usize)> {
        set.diagnostics
            .iter()
            .map(|d| {
                let name = d.file.file_name().expect("a file").to_string_lossy();
                (d.code, name.into_owned(), d.line)
            })
            .collect()
    }

    const ACCOUNT_A: &str = "version: 1
defaults:
  account: \"111111111111\"
instances:
  - name: shared
    kind: destination
  - name: only-a
    kind: source
    role: { name: Clash }
";

    const ACCOUNT_B: &str = "version: 1
defaults:
  account: \"222222222222\"
instances:
  - name: shared
    kind: source
  - name: only-b
    kind: source
    role: { name: clash }
";

    const ACCOUNT_A_BROKEN: &str = "version: 1
defaults:
  account: \"111111111111\"
instances:
  - name: also-a
    kind: source
    role: { name: CLASH }
  - name: Bad Name
    kind: destination
";

    const NO_ACCOUNT: &str = "version: 1
instances:
  - name: anywhere
    kind: destination
";

    #[test]
    fn keeping_some_instances_checks_every_one() {
        let (_dir, paths) = manifests(&[
            ("a.yaml", ACCOUNT_A),
            ("b.yaml", ACCOUNT_B),
            ("c.yaml", ACCOUNT_A_BROKEN),
            ("d.yaml", NO_ACCOUNT),
        ]);
        let whole = load(&paths);
        let kept = load_keeping(&paths, |i| i.target_account() != Some("111111111111"));
        let names = |set: &ManifestSet| -> Vec<String> {
            set.instances.iter().map(|i| i.name.clone()).collect()
        };
        assert_eq!(
            names(&whole),
            ["shared", "only-a", "shared", "only-b", "also-a", "Bad Name", "anywhere"]
        );
        assert_eq!(names(&kept), ["shared", "only-b", "anywhere"]);
        assert_eq!(kept.instances[0].target_account(), Some("222222222222"));
        // Every problem is found whatever is kept: a duplicate of a dropped
        // instance in a kept one, and the errors of a file all dropped.
        assert_eq!(
            placed(&kept),
            [
                (DiagnosticCode::DuplicateInstance, "b.yaml".into(), 5),
                (DiagnosticCode::DuplicateRoleName, "c.yaml".into(), 7),
                (DiagnosticCode::InvalidName, "c.yaml".into(), 8),
                (DiagnosticCode::InvalidRoleName, "c.yaml".into(), 8),
            ]
        );
        assert_eq!(kept.diagnostics, whole.diagnostics);
        assert!(kept.has_errors());
        assert_eq!(kept.files, paths);
        assert_eq!(kept.render_diagnostics(), whole.render_diagnostics());
    }

    #[test]
    fn diagnostics_quote_their_lines_after_the_texts_are_gone() {
        let crlf = "version: 1\r\ninstances:\r\n  - name: crlf bad\r\n    kind: source\r\n";
        let wrong_type = "version: 1\ninstances:\n  - name: [a]\n    kind: lambda\n";
        let (_dir, mut paths) = manifests(&[
            ("a.yaml", ACCOUNT_A),
            ("b.yaml", ACCOUNT_B),
            ("crlf.yaml", crlf),
            ("types.yaml", wrong_type),
            ("valid.yaml", NO_ACCOUNT),
        ]);
        // Read twice: each of its instances is a duplicate the second time.
        paths.push(paths[0].clone());
        let set = load(&paths);
        assert_eq!(set.files, paths);
        assert!(set.diagnostics.len() >= 6, "{:?}", set.diagnostics);
        let texts: HashMap<PathBuf, String> = paths
            .iter()
            .map(|p| (p.clone(), std::fs::read_to_string(p).expect("read")))
            .collect();
        let with_whole_texts = diagnostic::render_text(&set.diagnostics, |path, line| {
            diagnostic::source_line(texts.get(path)?, line)
        });
        assert_eq!(set.render_diagnostics(), with_whole_texts);
        assert!(
            with_whole_texts.contains("3 |   - name: crlf bad\n"),
            "{with_whole_texts}"
        );
    }
}
