//! The README stays a read of minutes, and its links and those of the
//! references it points to (docs/, bench/README.md, examples/README.md)
//! lead somewhere: a moved section cannot leave a dead link behind.

use std::path::{Path, PathBuf};

/// The README holds what a user needs; references go to docs/.
const README_MAX_LINES: usize = 300;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The targets of the inline links `[text](target)` of a markdown text.
fn link_targets(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_readme_is_under_300_lines() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines < README_MAX_LINES,
        "README.md has {lines} lines; move reference material to docs/ and link it"
    );
}

#[test]
fn relative_links_of_the_readme_and_docs_resolve() {
    let mut files: Vec<PathBuf> = ["README.md", "bench/README.md", "examples/README.md"]
        .iter()
        .map(|f| repo().join(f))
        .collect();
    for entry in std::fs::read_dir(repo().join("docs")).expect("docs/") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut dead = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let dir = file.parent().unwrap_or(Path::new("."));
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let path = target.split('#').next().unwrap_or("");
            checked += 1;
            if !dir.join(path).exists() {
                dead.push(format!("{}: {target}", file.display()));
            }
        }
    }
    assert!(checked > 10, "only {checked} relative links found");
    assert!(dead.is_empty(), "dead links: {dead:#?}");
}
