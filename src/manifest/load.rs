//! Finding manifest files and reading each into its serde types, collecting
//! every unknown field, wrong type and wrong value of each file, each placed
//! at its line and column.

use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, DiagnosticCode};
use super::location::{FieldPath, LocationIndex, PathSegment, Position};
use super::recover::{self, Problem, ProblemKind, Unread};
use super::spec::ManifestFile;

/// Manifests larger than this are refused unread: a thousand instances take
/// well under a megabyte, and the cap bounds memory on hostile input.
pub const MAX_MANIFEST_BYTES: u64 = 8 * 1024 * 1024;

/// A manifest file as read from disk.
#[derive(Debug)]
pub struct SourceFile {
    /// Path as given or found.
    pub path: PathBuf,
    /// Its text (empty when it could not be read).
    pub text: String,
    /// Positions of its nodes.
    pub index: LocationIndex,
    /// Its content, when it deserialized (with placeholders where a value
    /// had the wrong type or value: see `unread`).
    pub manifest: Option<ManifestFile>,
    /// Paths whose values could not be read and hold placeholders; every
    /// one is already reported.
    pub unread: Unread,
}

/// Every `*.yaml` / `*.yml` under the given files and folders, in a stable
/// order; a path that does not exist is a diagnostic.
pub(crate) fn discover(paths: &[PathBuf], diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            collect_folder(path, &mut found, diagnostics);
        } else if path.is_file() {
            found.push(path.clone());
        } else {
            diagnostics.push(
                Diagnostic::error(DiagnosticCode::MissingPath, path, Position { line: 1, column: 1 }, &FieldPath::root(), "no such file or folder")
                    .with_hint("pass manifest files or folders with -f, or run fnctl where a manifests/ folder is"),
            );
        }
    }
    found.dedup();
    found
}

/// Every manifest under `folder`, depth first in file-name order. Symbolic
/// links are followed, as a Kubernetes ConfigMap volume needs (its files
/// link through a hidden `..data`); a link back to a folder being walked is
/// reported once instead of walked again. A broken link with a manifest's
/// name is kept, so that reading it says what is wrong.
fn collect_folder(folder: &Path, found: &mut Vec<PathBuf>, diagnostics: &mut Vec<Diagnostic>) {
    let walk = walkdir::WalkDir::new(folder)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| entry.depth() == 0 || !is_hidden(entry.path()));
    for entry in walk {
        match entry {
            Ok(entry) => {
                if !entry.file_type().is_dir() && is_manifest_name(entry.path()) {
                    found.push(entry.into_path());
                }
            }
            Err(error) => walk_error(folder, &error, found, diagnostics),
        }
    }
}

/// What walking `folder` could not read. The walk reports an entry before
/// its filter sees it when following its link fails, so hidden entries are
/// skipped here too.
fn walk_error(
    folder: &Path,
    error: &walkdir::Error,
    found: &mut Vec<PathBuf>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let path = error.path().unwrap_or(folder);
    if path != folder && is_hidden(path) {
        return;
    }
    let message = if let Some(ancestor) = error.loop_ancestor() {
        format!(
            "cannot read folder: a symbolic link back to {}, which holds it",
            ancestor.display()
        )
    } else if path.is_dir() || error.path().is_none() {
        // The folder itself, or one of its entries, could not be listed.
        match error.io_error() {
            Some(io_error) => format!("cannot read folder: {io_error}"),
            None => format!("cannot read folder: {error}"),
        }
    } else {
        // A broken link: kept when it has a manifest's name, so that `read`
        // reports it as it reports any manifest it cannot read.
        if is_manifest_name(path) {
            found.push(path.to_path_buf());
        }
        return;
    };
    diagnostics.push(Diagnostic::error(
        DiagnosticCode::Unreadable,
        path,
        Position { line: 1, column: 1 },
        &FieldPath::root(),
        message,
    ));
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn is_manifest_name(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// Reads and deserializes one manifest file.
pub(crate) fn read(path: &Path, diagnostics: &mut Vec<Diagnostic>) -> SourceFile {
    let mut source = SourceFile {
        path: path.to_path_buf(),
        text: String::new(),
        index: LocationIndex::default(),
        manifest: None,
        unread: Unread::default(),
    };
    let at_start = Position { line: 1, column: 1 };
    let root = FieldPath::root();
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.len() > MAX_MANIFEST_BYTES => {
            diagnostics.push(Diagnostic::error(
                DiagnosticCode::FileTooLarge,
                path,
                at_start,
                &root,
                format!(
                    "manifest is {} bytes, more than the {MAX_MANIFEST_BYTES} fnctl reads",
                    metadata.len()
                ),
            ));
            return source;
        }
        _ => {}
    }
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => source.text = text,
            Err(error) => {
                let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
                let text = String::from_utf8_lossy(valid);
                let line = text.matches('\n').count() + 1;
                let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                diagnostics.push(Diagnostic::error(
                    DiagnosticCode::ParseError,
                    path,
                    Position { line, column },
                    &root,
                    "manifest is not UTF-8 text",
                ));
                return source;
            }
        },
        Err(error) => {
            diagnostics.push(Diagnostic::error(
                DiagnosticCode::Unreadable,
                path,
                at_start,
                &root,
                format!("cannot read manifest: {error}"),
            ));
            return source;
        }
    }
    parse(path, source.text, diagnostics)
}

/// Deserializes one manifest's `text` as if read from `path`: for manifests
/// made in memory (`fnctl import` checks what it writes before writing it).
pub(crate) fn parse(path: &Path, text: String, diagnostics: &mut Vec<Diagnostic>) -> SourceFile {
    let index = LocationIndex::build(&text);
    let (manifest, unread) = deserialize(&text, path, &index, diagnostics);
    SourceFile {
        path: path.to_path_buf(),
        text,
        index,
        manifest,
        unread,
    }
}

const UNKNOWN_FIELD_HINT: &str =
    "see schemas/fnctl.schema.json (or `fnctl schema`) for the fields a manifest may have";

/// Reads a manifest strictly, as serde_yaml does; when that fails, reads it
/// again value by value (`recover`) so that every wrong type, wrong value,
/// unknown and missing field of the file is reported, not only the first.
/// Valid files — nearly all of them — are read once.
fn deserialize(
    text: &str,
    path: &Path,
    index: &LocationIndex,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Option<ManifestFile>, Unread) {
    if text
        .trim()
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
    {
        diagnostics.push(
            Diagnostic::error(
                DiagnosticCode::EmptyManifest,
                path,
                Position { line: 1, column: 1 },
                &FieldPath::root(),
                "manifest is empty",
            )
            .with_hint("a manifest starts with `version: 1` and lists `instances:`"),
        );
        return (None, Unread::default());
    }
    let mut unknown_fields = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let result = {
        let yaml = serde_yaml::Deserializer::from_str(text);
        let tracked = serde_path_to_error::Deserializer::new(yaml, &mut track);
        serde_ignored::deserialize(tracked, |ignored| {
            unknown_fields.push(ignored_path(&ignored))
        })
    };
    let error = match result {
        Ok(manifest) => {
            for field in &unknown_fields {
                diagnostics.push(unknown_field(field, path, index));
            }
            return (Some(manifest), Unread::default());
        }
        Err(error) => error,
    };
    let field = tracked_path(&track.path());
    let strict = type_error(&error, &field, path, index);
    let Some(recovered) = recover::read_manifest(text) else {
        // Not a mapping, or past a parser limit: the strict error says it all.
        for field in &unknown_fields {
            diagnostics.push(unknown_field(field, path, index));
        }
        diagnostics.push(strict);
        return (None, Unread::default());
    };
    let mut unread = recovered.unread();
    // The lenient read follows serde_yaml; should the two ever disagree on a
    // value, the strict error is kept, so no error is lost.
    let covered = recovered.problems.iter().any(|problem| {
        problem.path == field
            || (problem.kind == ProblemKind::MissingField && problem.path.parent() == field)
    });
    if !covered {
        if !field.0.is_empty() {
            unread.insert(field);
        }
        diagnostics.push(strict);
    }
    for problem in &recovered.problems {
        diagnostics.push(problem_diagnostic(problem, path, index));
    }
    (Some(recovered.manifest), unread)
}

fn unknown_field(field: &FieldPath, path: &Path, index: &LocationIndex) -> Diagnostic {
    let name = match field.0.last() {
        Some(PathSegment::Key(key)) => key.as_str(),
        _ => "?",
    };
    Diagnostic::error(
        DiagnosticCode::UnknownField,
        path,
        index.key(field),
        field,
        format!("unknown field `{name}`"),
    )
    .with_hint(UNKNOWN_FIELD_HINT)
}

/// A problem of the lenient read as a diagnostic, with the same codes as
/// the strict read's errors.
fn problem_diagnostic(problem: &Problem, path: &Path, index: &LocationIndex) -> Diagnostic {
    let field = &problem.path;
    match problem.kind {
        ProblemKind::UnknownField => unknown_field(field, path, index),
        ProblemKind::MissingField if *field == FieldPath::root().key("version") => {
            Diagnostic::error(
                DiagnosticCode::MissingVersion,
                path,
                index.value(field),
                field,
                &problem.message,
            )
            .with_hint("start the manifest with `version: 1`")
        }
        ProblemKind::MissingField => Diagnostic::error(
            DiagnosticCode::MissingField,
            path,
            index.value(field),
            field,
            &problem.message,
        ),
        ProblemKind::WrongType => Diagnostic::error(
            DiagnosticCode::WrongType,
            path,
            index.value(field),
            field,
            &problem.message,
        ),
        // At the key, which the index files under `?`.
        ProblemKind::KeyNotText => Diagnostic::error(
            DiagnosticCode::WrongType,
            path,
            index.key(&field.key("?")),
            field,
            &problem.message,
        ),
        ProblemKind::InvalidValue => Diagnostic::error(
            DiagnosticCode::InvalidValue,
            path,
            index.value(field),
            field,
            &problem.message,
        ),
    }
}

/// Turns a serde error into a diagnostic with a code a script can match on.
fn type_error(
    error: &serde_yaml::Error,
    field: &FieldPath,
    path: &Path,
    index: &LocationIndex,
) -> Diagnostic {
    let full = error.to_string();
    // serde_yaml appends "at line L column C"; the diagnostic places it itself.
    let mut message = match full.find(" at line ") {
        Some(cut) => full[..cut].to_string(),
        None => full.clone(),
    };
    // serde_yaml starts nested errors with the field path, which the diagnostic shows apart.
    if let Some(rest) = message.strip_prefix(&format!("{field}: ")) {
        message = rest.to_string();
    }
    // serde_yaml knows where it stopped; the index is the fallback.
    let position = match error.location() {
        Some(location) => Position {
            line: location.line(),
            column: location.column(),
        },
        None => index.value(field),
    };
    let last_key = match field.0.last() {
        Some(PathSegment::Key(key)) => key.as_str(),
        _ => "",
    };
    let (code, hint) = if message.starts_with("missing field `version`") {
        (
            DiagnosticCode::MissingVersion,
            Some("start the manifest with `version: 1`".to_string()),
        )
    } else if message.starts_with("missing field") {
        (DiagnosticCode::MissingField, None)
    } else if message.starts_with("invalid type: integer")
        && (last_key == "account" || field.to_string().contains("segmentAccounts"))
    {
        (DiagnosticCode::InvalidAccountId, Some("write account ids as quoted strings, like \"012345678901\": a YAML number loses leading zeros".to_string()))
    } else if message.starts_with("invalid type") {
        (DiagnosticCode::WrongType, None)
    } else if message.starts_with("unknown variant") || message.starts_with("invalid value") {
        (DiagnosticCode::InvalidValue, None)
    } else if message.contains("more than one document") {
        (
            DiagnosticCode::MultipleDocuments,
            Some("a manifest file holds one YAML document; split it into files".to_string()),
        )
    } else if message.contains("recursion limit") || message.contains("repetition limit") {
        (
            DiagnosticCode::YamlTooComplex,
            Some("nesting or alias expansion is beyond what a manifest needs".to_string()),
        )
    } else {
        (DiagnosticCode::ParseError, None)
    };
    let diagnostic = Diagnostic::error(code, path, position, field, message);
    match hint {
        Some(hint) => diagnostic.with_hint(hint),
        None => diagnostic,
    }
}

fn tracked_path(path: &serde_path_to_error::Path) -> FieldPath {
    let mut segments = Vec::new();
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => {
                segments.push(PathSegment::Index(*index))
            }
            serde_path_to_error::Segment::Map { key } => {
                segments.push(PathSegment::Key(key.clone()))
            }
            _ => {}
        }
    }
    FieldPath(segments)
}

fn ignored_path(path: &serde_ignored::Path<'_>) -> FieldPath {
    fn walk(path: &serde_ignored::Path<'_>, out: &mut Vec<PathSegment>) {
        match path {
            serde_ignored::Path::Root => {}
            serde_ignored::Path::Seq { parent, index } => {
                walk(parent, out);
                out.push(PathSegment::Index(*index));
            }
            serde_ignored::Path::Map { parent, key } => {
                walk(parent, out);
                out.push(PathSegment::Key(key.clone()));
            }
            serde_ignored::Path::Some { parent }
            | serde_ignored::Path::NewtypeStruct { parent }
            | serde_ignored::Path::NewtypeVariant { parent } => walk(parent, out),
        }
    }
    let mut segments = Vec::new();
    walk(path, &mut segments);
    FieldPath(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Discovery's findings under `root`, as paths relative to it, and the
    /// diagnostics' codes and files.
    fn discovered(root: &Path, paths: &[&str]) -> (Vec<String>, Vec<(DiagnosticCode, String)>) {
        let mut diagnostics = Vec::new();
        let given: Vec<PathBuf> = paths.iter().map(|p| root.join(p)).collect();
        let found = discover(&given, &mut diagnostics)
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect();
        let reported = diagnostics
            .into_iter()
            .map(|d| {
                let file = d.file.strip_prefix(root).unwrap().display().to_string();
                (d.code, file)
            })
            .collect();
        (found, reported)
    }

    fn touch(root: &Path, path: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "version: 1\n").unwrap();
    }

    #[test]
    fn discovery_walks_folders_depth_first_in_name_order_skipping_hidden_entries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for path in [
            "m/b.yaml",
            "m/a.yml",
            "m/a-b.yaml",
            "m/a/z.yaml",
            "m/a/c/d.yaml",
            "m/B.yaml",
            "m/notes.txt",
            "m/.hidden.yaml",
            "m/.git/e.yaml",
            "m/c/f.yaml.bak",
            "direct.txt",
            ".m2/g.yaml",
        ] {
            touch(root, path);
        }
        assert_eq!(
            discovered(root, &["m", "direct.txt", ".m2", "m/b.yaml"]),
            (
                vec![
                    "m/B.yaml".to_string(),
                    "m/a/c/d.yaml".into(),
                    "m/a/z.yaml".into(),
                    "m/a-b.yaml".into(),
                    "m/a.yml".into(),
                    "m/b.yaml".into(),
                    // A file given directly is read whatever its name; a
                    // hidden folder given directly is walked.
                    "direct.txt".into(),
                    ".m2/g.yaml".into(),
                    // Found twice, not in a row: both kept, as given.
                    "m/b.yaml".into(),
                ],
                vec![],
            )
        );
    }

    #[cfg(unix)]
    #[test]
    fn discovery_follows_symbolic_links_and_leaves_broken_ones_to_the_reader() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "outside/o.yaml");
        touch(root, "m/..2026_01_01/cm.yaml");
        symlink("..2026_01_01", root.join("m/..data")).unwrap();
        symlink("..data/cm.yaml", root.join("m/cm.yaml")).unwrap();
        symlink("../outside", root.join("m/linked")).unwrap();
        symlink("nowhere.yaml", root.join("m/broken.yaml")).unwrap();
        symlink("nowhere", root.join("m/broken-folder")).unwrap();
        symlink("nowhere", root.join("m/.hidden-broken.yaml")).unwrap();
        symlink("m", root.join("m-link")).unwrap();
        let (found, reported) = discovered(root, &["m", "m-link"]);
        assert_eq!(
            found,
            [
                "m/broken.yaml",
                "m/cm.yaml",
                "m/linked/o.yaml",
                "m-link/broken.yaml",
                "m-link/cm.yaml",
                "m-link/linked/o.yaml",
            ]
        );
        assert_eq!(reported, []);
        // The reader names what a broken link lacks.
        let mut diagnostics = Vec::new();
        read(&root.join("m/broken.yaml"), &mut diagnostics);
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].code, DiagnosticCode::Unreadable);
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_loop_is_reported_once_and_its_files_found_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "m/a.yaml");
        touch(root, "m/sub/b.yaml");
        std::os::unix::fs::symlink("..", root.join("m/sub/up")).unwrap();
        assert_eq!(
            discovered(root, &["m"]),
            (
                vec!["m/a.yaml".to_string(), "m/sub/b.yaml".into()],
                vec![(DiagnosticCode::Unreadable, "m/sub/up".to_string())],
            )
        );
    }

    fn problems(text: &str) -> Vec<(DiagnosticCode, String)> {
        let mut diagnostics = Vec::new();
        let index = LocationIndex::build(text);
        deserialize(text, Path::new("m.yaml"), &index, &mut diagnostics);
        let mut found: Vec<(DiagnosticCode, String)> =
            diagnostics.into_iter().map(|d| (d.code, d.field)).collect();
        found.sort();
        found
    }

    #[test]
    fn every_wrong_value_of_a_file_is_reported() {
        assert_eq!(
            problems("version: 1\ninstances:\n  - { name: a, kind: lambda }\n  - { name: [b], kind: source, extra: 1 }\n"),
            [
                (DiagnosticCode::InvalidValue, "instances[0].kind".to_string()),
                (DiagnosticCode::UnknownField, "instances[1].extra".to_string()),
                (DiagnosticCode::WrongType, "instances[1].name".to_string()),
            ]
        );
    }

    #[test]
    fn the_strict_error_is_kept_where_the_lenient_read_accepts_more() {
        // serde_yaml refuses a quoted number as an integer even when tagged
        // `!!int`; its `Value` takes it. The strict error is kept.
        assert_eq!(
            problems("version: 1\ninstances:\n  - { name: a, kind: source, role: { maxSessionDuration: !!int \"4000\" } }\n  - { name: b, kind: lambda }\n"),
            [
                (DiagnosticCode::InvalidValue, "instances[1].kind".to_string()),
                (DiagnosticCode::WrongType, "instances[0].role.maxSessionDuration".to_string()),
            ]
        );
    }

    #[test]
    fn a_document_the_lenient_read_cannot_take_keeps_the_strict_error() {
        // An integer beyond 64 bits: serde_yaml skips it under an unknown
        // field, but cannot hold it in a `Value`.
        assert_eq!(
            problems("version: 1\nbogus: 99999999999999999999999\ninstances:\n  - { name: a, kind: lambda }\n"),
            [
                (DiagnosticCode::InvalidValue, "instances[0].kind".to_string()),
                (DiagnosticCode::UnknownField, "bogus".to_string()),
            ]
        );
    }
}
