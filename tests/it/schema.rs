//! The JSON Schema: `fnctl schema` prints exactly the checked-in
//! `schemas/fnctl.schema.json`, and every manifest the repository ships
//! points editors at it and validates.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::command::fnctl_offline;

const SCHEMA: &str = "schemas/fnctl.schema.json";
const MODELINE: &str = "# yaml-language-server: $schema=";
const REGENERATE: &str = "cargo run -- schema > schemas/fnctl.schema.json";

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn fnctl_schema_is_byte_identical_to_the_checked_in_file() {
    let out = fnctl_offline().arg("schema").run();
    out.assert_exit(0);
    let checked_in = fs::read_to_string(repo_root().join(SCHEMA))
        .unwrap_or_else(|e| panic!("cannot read {SCHEMA} ({e}); run `{REGENERATE}`"));
    if out.stdout != checked_in {
        let first_difference = out
            .stdout
            .lines()
            .zip(checked_in.lines())
            .position(|(generated, file)| generated != file)
            .map_or_else(
                || "one is a prefix of the other".to_string(),
                |n| {
                    format!(
                        "line {}: generated {:?}, checked in {:?}",
                        n + 1,
                        out.stdout.lines().nth(n).unwrap_or(""),
                        checked_in.lines().nth(n).unwrap_or("")
                    )
                },
            );
        panic!("{SCHEMA} is stale ({first_difference}); regenerate it with `{REGENERATE}`");
    }
}

#[test]
fn the_schema_is_json_describing_a_manifest() {
    let text = fs::read_to_string(repo_root().join(SCHEMA)).expect("read the schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
    let properties = schema["properties"]
        .as_object()
        .expect("the schema has properties");
    for field in ["version", "defaults", "instances"] {
        assert!(properties.contains_key(field), "no `{field}` in {SCHEMA}");
    }
    assert_eq!(
        schema["additionalProperties"],
        serde_json::Value::Bool(false),
        "unknown top-level fields must be refused by the schema too"
    );
}

/// Every `*.yaml` / `*.yml` under `folder`, recursively.
fn yaml_files(folder: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(folder) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            yaml_files(&path, found);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            found.push(path);
        }
    }
}

/// The folders of shipped manifests that exist. `examples/` holds CI and
/// Kubernetes files, which use `manifests/`, and `examples/functions/`
/// (Segment functions from git).
fn manifest_folders() -> Vec<PathBuf> {
    ["manifests", "examples/functions"]
        .iter()
        .map(|f| repo_root().join(f))
        .filter(|f| f.is_dir())
        .collect()
}

#[test]
fn every_shipped_manifest_starts_with_the_schema_modeline() {
    let mut files = Vec::new();
    for folder in manifest_folders() {
        yaml_files(&folder, &mut files);
    }
    assert!(!files.is_empty(), "no manifests under manifests/");
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let first = text.lines().next().unwrap_or("");
        let Some(target) = first.strip_prefix(MODELINE) else {
            panic!(
                "{} does not start with `{MODELINE}…`, so editors cannot check it",
                file.display()
            );
        };
        // A relative modeline must reach the checked-in schema.
        if !target.starts_with("http") {
            let schema = file.parent().unwrap().join(target.trim());
            let same =
                fs::canonicalize(&schema).ok() == fs::canonicalize(repo_root().join(SCHEMA)).ok();
            assert!(
                same,
                "{}: the modeline points at {}, not at {SCHEMA}",
                file.display(),
                schema.display()
            );
        }
    }
}

#[test]
fn every_shipped_manifest_folder_validates() {
    for folder in manifest_folders() {
        let out = fnctl_offline()
            .current_dir(repo_root())
            .arg("validate")
            .arg("-f")
            .arg(&folder)
            .run();
        out.assert_exit(0);
    }
}
