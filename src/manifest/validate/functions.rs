//! Checks of `functions:` and of the instances that run them
//! (`segment: { function, source }`). A function may be declared in any
//! file of the set, after the instances that name it, so a reference is
//! judged once every file is read ([`FunctionRegistry::finish`]); its
//! diagnostic is placed (and its line kept) while its file is at hand.

use std::collections::HashMap;
use std::path::Path;

use super::{Declared, FileChecker, FileDefaults, BUCKET_SETTINGS, GENERATED_SETTINGS};
use crate::manifest::diagnostic::{self, Diagnostic, DiagnosticCode};
use crate::manifest::load::SourceFile;
use crate::manifest::location::FieldPath;
use crate::manifest::rules;
use crate::manifest::spec::{FunctionSpec, InstanceSpec, SettingDefinitionSpec};
use crate::model::function::{DesiredFunction, FunctionInstance, SettingDefinition};
use crate::model::{FunctionKind, Origin};

/// Segment refuses a request over 25 MB; a function's code is far smaller.
pub const MAX_CODE_BYTES: u64 = 5 * 1024 * 1024;

/// A `segment.function` to judge once every function of the set is known.
#[derive(Debug)]
struct PendingReference {
    /// The diagnostic it gets if it is wrong, placed at `segment.function`;
    /// code and message are set when it is judged.
    at: Diagnostic,
    /// The line it points at, for the rendering.
    line: Option<String>,
    function: String,
    kind: FunctionKind,
}

/// The functions of a set and the instances that run them.
#[derive(Debug, Default)]
pub struct FunctionRegistry {
    /// Function name → its kind and where it was first declared.
    declared: HashMap<String, (FunctionKind, Declared)>,
    functions: Vec<DesiredFunction>,
    instances: Vec<FunctionInstance>,
    pending: Vec<PendingReference>,
}

/// What the registry hands over once the set is read.
#[derive(Debug, Default)]
pub struct CheckedFunctions {
    /// The functions of the set.
    pub functions: Vec<DesiredFunction>,
    /// The instances that run one.
    pub instances: Vec<FunctionInstance>,
    /// Problems of references, each with the line it points at.
    pub diagnostics: Vec<(Diagnostic, Option<String>)>,
}

impl FunctionRegistry {
    /// Checks the `functions:` of one file.
    pub(super) fn check_file_functions(
        &mut self,
        file: &SourceFile,
        functions: &[FunctionSpec],
        defaults: &FileDefaults,
        (file_number, files): (usize, &[String]),
        checker: &mut FileChecker<'_>,
    ) {
        for (position, spec) in functions.iter().enumerate() {
            let field = FieldPath::root().key("functions").index(position);
            let name_field = field.key("name");
            let line = file.index.value(&field).line;
            checker.check(
                DiagnosticCode::InvalidName,
                &name_field,
                rules::check_instance_name(&spec.name),
            );
            if !checker.unread(&name_field) && !checker.unread(&field.key("kind")) {
                if let Some((_, other)) = self.declared.get(&spec.name) {
                    let other_file = &files[other.file];
                    let other_line = other.line;
                    checker.error(
                        DiagnosticCode::DuplicateFunction,
                        &name_field,
                        format!(
                            "function `{}` is also declared at {other_file}:{other_line}",
                            spec.name
                        ),
                    );
                } else {
                    let declared = Declared {
                        file: file_number,
                        line,
                    };
                    self.declared
                        .insert(spec.name.clone(), (spec.kind, declared));
                }
            }
            let code = read_code(&file.path, spec, &field, checker);
            let settings = check_definitions(&spec.settings, &field.key("settings"), checker);
            self.functions.push(DesiredFunction {
                name: spec.name.clone(),
                kind: spec.kind,
                scope: defaults.scope.clone(),
                region: defaults.segment_region,
                display_name: spec.display_name.clone(),
                description: spec.description.clone(),
                code_path: code_path(&file.path, &spec.code),
                code: code.unwrap_or_default(),
                settings,
                origin: Origin {
                    file: file.path.clone(),
                    line,
                },
            });
        }
    }

    /// Checks an instance's `segment: { function, source }` and keeps it,
    /// its function to be judged by [`FunctionRegistry::finish`].
    pub(super) fn check_instance(
        &mut self,
        file: &SourceFile,
        spec: &InstanceSpec,
        defaults: &FileDefaults,
        field: &FieldPath,
        checker: &mut FileChecker<'_>,
    ) {
        let Some(segment) = &spec.segment else {
            return;
        };
        let segment_field = field.key("segment");
        let function_field = segment_field.key("function");
        let Some(function) = &segment.function else {
            return;
        };
        if segment.id.is_some() || checker.unread(&function_field) {
            return;
        }
        let source_field = segment_field.key("source");
        match (spec.kind, &segment.source) {
            (FunctionKind::Destination, None) => {
                checker
                    .error(
                        DiagnosticCode::SegmentSourceMismatch,
                        &segment_field,
                        "a destination instance of a function needs the `source` it is connected to",
                    )
                    .hint = Some("add `source: <source id>` to `segment`".into());
            }
            (FunctionKind::Source, Some(_)) => {
                checker
                    .error(
                        DiagnosticCode::SegmentSourceMismatch,
                        &source_field,
                        "a source instance has no `source`: fnctl creates the source itself",
                    )
                    .hint = Some("remove `source`, or make the instance a destination".into());
            }
            (FunctionKind::Destination, Some(source)) => checker.check(
                DiagnosticCode::InvalidSegmentId,
                &source_field,
                rules::check_segment_id(source),
            ),
            (FunctionKind::Source, None) => {}
        }
        if !checker.unread(&field.key("kind")) {
            let position = file.index.value(&function_field);
            let at = Diagnostic::error(
                DiagnosticCode::UnknownFunction,
                &file.path,
                position,
                &function_field,
                String::new(),
            );
            self.pending.push(PendingReference {
                at,
                line: diagnostic::source_line(&file.text, position.line).map(str::to_string),
                function: function.clone(),
                kind: spec.kind,
            });
        }
        self.instances.push(FunctionInstance {
            instance: spec.name.clone(),
            function: function.clone(),
            kind: spec.kind,
            source: segment.source.clone(),
            scope: defaults.scope.clone(),
            region: defaults.segment_region,
        });
    }

    /// Judges every reference now that every function is known.
    pub fn finish(self) -> CheckedFunctions {
        let mut diagnostics = Vec::new();
        for reference in self.pending {
            let mut diagnostic = reference.at;
            match self.declared.get(&reference.function) {
                None => {
                    diagnostic.code = DiagnosticCode::UnknownFunction;
                    diagnostic.message = format!(
                        "no function `{}` is declared in the manifest set",
                        reference.function
                    );
                    diagnostic.hint = Some("declare it under `functions:` in any file".into());
                }
                Some((kind, _)) if *kind != reference.kind => {
                    diagnostic.code = DiagnosticCode::FunctionKindMismatch;
                    diagnostic.message = format!(
                        "a {} instance cannot run function `{}`, a {} function",
                        reference.kind.as_str(),
                        reference.function,
                        kind.as_str()
                    );
                }
                Some(_) => continue,
            }
            diagnostics.push((diagnostic, reference.line));
        }
        CheckedFunctions {
            functions: self.functions,
            instances: self.instances,
            diagnostics,
        }
    }
}

/// The code file of a function: relative to the manifest that names it.
fn code_path(manifest: &Path, code: &str) -> std::path::PathBuf {
    manifest
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join(code)
}

/// Reads a function's code, reporting a file that is missing, too large
/// or not UTF-8 text.
fn read_code(
    manifest: &Path,
    spec: &FunctionSpec,
    field: &FieldPath,
    checker: &mut FileChecker<'_>,
) -> Option<String> {
    let code_field = field.key("code");
    if checker.unread(&code_field) {
        return None;
    }
    let path = code_path(manifest, &spec.code);
    let result = std::fs::metadata(&path).and_then(|metadata| {
        if metadata.len() > MAX_CODE_BYTES {
            return Err(std::io::Error::other(format!(
                "{} bytes, more than the {MAX_CODE_BYTES} fnctl sends",
                metadata.len()
            )));
        }
        std::fs::read_to_string(&path)
    });
    match result {
        Ok(code) => Some(code),
        Err(error) => {
            checker
                .error(
                    DiagnosticCode::UnreadableFunctionCode,
                    &code_field,
                    format!("cannot read function code {}: {error}", path.display()),
                )
                .hint = Some("`code` is a JavaScript file's path relative to this manifest".into());
            None
        }
    }
}

/// The manifest's extra setting definitions: none named like one fnctl
/// declares itself, none twice.
fn check_definitions(
    definitions: &[SettingDefinitionSpec],
    field: &FieldPath,
    checker: &mut FileChecker<'_>,
) -> Vec<SettingDefinition> {
    let mut seen = HashMap::new();
    let mut checked = Vec::new();
    for (position, definition) in definitions.iter().enumerate() {
        let name_field = field.index(position).key("name");
        if checker.unread(&name_field) {
            continue;
        }
        let name = definition.name.as_str();
        if GENERATED_SETTINGS.contains(&name) || BUCKET_SETTINGS.contains(&name) {
            checker
                .error(
                    DiagnosticCode::SettingClash,
                    &name_field,
                    format!("setting `{name}` is declared by fnctl itself"),
                )
                .hint =
                Some("remove it: fnctl declares it (the external ID always sensitive)".into());
            continue;
        }
        if let Some(first) = seen.get(name) {
            checker.error(
                DiagnosticCode::DuplicateSetting,
                &name_field,
                format!("setting `{name}` is also declared at settings[{first}]"),
            );
            continue;
        }
        seen.insert(name.to_string(), position);
        checked.push(SettingDefinition {
            name: definition.name.clone(),
            label: definition.label.clone().unwrap_or_else(|| name.to_string()),
            description: definition.description.clone().unwrap_or_default(),
            setting_type: definition.setting_type,
            required: definition.required,
            sensitive: definition.sensitive,
        });
    }
    checked
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::manifest::{self, ManifestSet};
    use crate::model::function::SettingType;

    use super::*;

    const FUNCTIONS: &str = "version: 1
defaults:
  scope: acme
functions:
  - name: s3-archiver
    kind: destination
    code: functions/s3-archiver.js
    displayName: S3 archiver
    settings:
      - { name: flushEvery, label: Flush every, type: string }
  - name: s3-reader
    kind: source
    code: functions/s3-reader.js
    displayName: S3 reader
";

    const INSTANCES: &str = "version: 1
instances:
  - name: s3-archiver-prod
    kind: destination
    bucket: { name: acme-events-prod, region: us-west-2 }
    segment: { function: s3-archiver, source: src123456 }
  - name: s3-reader-prod
    kind: source
    segment: { function: s3-reader }
  - name: legacy
    kind: destination
    segment: { id: dest123456 }
";

    /// Writes the manifests (and the code files) into a temp folder and loads it.
    fn load(files: &[(&str, &str)]) -> (tempfile::TempDir, ManifestSet) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("functions")).expect("functions folder");
        for name in ["s3-archiver.js", "s3-reader.js"] {
            let code = format!("// {name}\nasync function onTrack(event, settings) {{}}\n");
            std::fs::write(dir.path().join("functions").join(name), code).expect("code");
        }
        let mut paths: Vec<PathBuf> = Vec::new();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("manifest");
            paths.push(path);
        }
        let set = manifest::load(&paths);
        (dir, set)
    }

    /// (code, file name, line, column) of each diagnostic.
    fn placed(set: &ManifestSet) -> Vec<(DiagnosticCode, String, usize, usize)> {
        set.diagnostics
            .iter()
            .map(|d| {
                let name = d.file.file_name().expect("a file").to_string_lossy();
                (d.code, name.into_owned(), d.line, d.column)
            })
            .collect()
    }

    #[test]
    fn functions_and_their_instances_are_modelled_across_files() {
        // The instances come first: a function may be declared after them.
        let (dir, set) = load(&[
            ("a-instances.yaml", INSTANCES),
            ("b-functions.yaml", FUNCTIONS),
        ]);
        assert_eq!(placed(&set), []);
        let names: Vec<(&str, FunctionKind, &str)> = set
            .functions
            .iter()
            .map(|f| (f.name.as_str(), f.kind, f.scope.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("s3-archiver", FunctionKind::Destination, "acme"),
                ("s3-reader", FunctionKind::Source, "acme")
            ]
        );
        let archiver = &set.functions[0];
        assert_eq!(
            archiver.code_path,
            dir.path().join("functions/s3-archiver.js")
        );
        assert!(archiver.code.starts_with("// s3-archiver.js\n"));
        assert_eq!(archiver.settings.len(), 1);
        assert_eq!(archiver.settings[0].label, "Flush every");
        assert_eq!(archiver.settings[0].setting_type, SettingType::String);
        let instances: Vec<(&str, &str, Option<&str>, &str)> = set
            .function_instances
            .iter()
            .map(|i| {
                (
                    i.instance.as_str(),
                    i.function.as_str(),
                    i.source.as_deref(),
                    i.scope.as_str(),
                )
            })
            .collect();
        assert_eq!(
            instances,
            [
                (
                    "s3-archiver-prod",
                    "s3-archiver",
                    Some("src123456"),
                    "default"
                ),
                ("s3-reader-prod", "s3-reader", None, "default")
            ]
        );
        // An instance that runs a function has no Segment target yet: the
        // settings push of today's `segment: { id }` does not see it.
        let targets: Vec<Option<&str>> = set
            .instances
            .iter()
            .map(|i| i.segment.as_ref().map(|s| s.id.as_str()))
            .collect();
        assert_eq!(targets, [None, None, Some("dest123456")]);
    }

    #[test]
    fn every_problem_of_functions_and_references_is_placed() {
        let broken_functions = "version: 1
functions:
  - name: s3-archiver
    kind: destination
    code: functions/missing.js
    displayName: S3 archiver
    settings:
      - { name: iamRoleExternalId, sensitive: false }
      - { name: flushEvery }
      - { name: flushEvery }
  - name: s3-archiver
    kind: destination
    code: functions/s3-archiver.js
    displayName: again
  - name: s3-reader
    kind: source
    code: functions/s3-reader.js
    displayName: S3 reader
";
        let broken_instances = "version: 1
instances:
  - name: no-such-function
    kind: destination
    segment: { function: nowhere, source: src123456 }
  - name: wrong-kind
    kind: destination
    segment: { function: s3-reader, source: src123456 }
  - name: both
    kind: destination
    segment: { id: dest123456, function: s3-archiver }
  - name: no-source
    kind: destination
    segment: { function: s3-archiver }
  - name: source-with-source
    kind: source
    segment: { function: s3-reader, source: src123456 }
  - name: neither
    kind: destination
    segment: {}
";
        let (_dir, set) = load(&[("f.yaml", broken_functions), ("i.yaml", broken_instances)]);
        assert_eq!(
            placed(&set),
            [
                (
                    DiagnosticCode::UnreadableFunctionCode,
                    "f.yaml".into(),
                    5,
                    11
                ),
                (DiagnosticCode::SettingClash, "f.yaml".into(), 8, 17),
                (DiagnosticCode::DuplicateSetting, "f.yaml".into(), 10, 17),
                (DiagnosticCode::DuplicateFunction, "f.yaml".into(), 11, 11),
                (DiagnosticCode::UnknownFunction, "i.yaml".into(), 5, 26),
                (DiagnosticCode::FunctionKindMismatch, "i.yaml".into(), 8, 26),
                (
                    DiagnosticCode::SegmentIdAndFunction,
                    "i.yaml".into(),
                    11,
                    42
                ),
                (
                    DiagnosticCode::SegmentSourceMismatch,
                    "i.yaml".into(),
                    14,
                    14
                ),
                (
                    DiagnosticCode::SegmentSourceMismatch,
                    "i.yaml".into(),
                    17,
                    45
                ),
                (
                    DiagnosticCode::SegmentIdAndFunction,
                    "i.yaml".into(),
                    20,
                    14
                ),
            ]
        );
        let rendered = set.render_diagnostics();
        assert!(
            rendered.contains("5 |     segment: { function: nowhere, source: src123456 }"),
            "{rendered}"
        );
        assert!(set.has_errors());
    }

    #[test]
    fn a_set_without_functions_models_none() {
        let (_dir, set) = load(&[(
            "legacy.yaml",
            "version: 1\ninstances:\n  - name: legacy\n    kind: source\n    segment: { id: src123456 }\n",
        )]);
        assert_eq!(placed(&set), []);
        assert!(set.functions.is_empty());
        assert!(set.function_instances.is_empty());
        assert_eq!(
            set.instances[0].segment.as_ref().map(|s| s.path()),
            Some("/sources/src123456".into())
        );
    }
}
