//! Records the commit fnctl is built from, for `fnctl --version`, as
//! `FNCTL_COMMIT` (a short hash, or "unknown").
//!
//! Where it comes from, first found wins:
//! 1. `FNCTL_COMMIT` in the build's environment (a Docker build, whose
//!    context has no `.git`, is given it as a build argument);
//! 2. `.cargo_vcs_info.json`, which `cargo package` writes into a packaged
//!    crate (a `cargo install fnctl` from crates.io, `cargo publish`);
//! 3. `git rev-parse HEAD`, when this crate is the top of a git work tree;
//! 4. otherwise "unknown": a build never fails for want of git.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Characters of the hash printed: enough to find the commit.
const SHORT: usize = 12;

fn main() {
    println!("cargo:rerun-if-env-changed=FNCTL_COMMIT");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let commit = from_env()
        .or_else(|| from_vcs_info(&dir))
        .or_else(|| from_git(&dir))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=FNCTL_COMMIT={commit}");
}

fn from_env() -> Option<String> {
    let value = std::env::var("FNCTL_COMMIT").ok()?;
    let value = value.trim();
    (!value.is_empty()).then(|| short(value))
}

/// `{"git": {"sha1": "…"}, "path_in_vcs": ""}`; read as text, so that the
/// build script needs no dependency.
fn from_vcs_info(dir: &Path) -> Option<String> {
    let path = dir.join(".cargo_vcs_info.json");
    let text = std::fs::read_to_string(path).ok()?;
    let after = text.split("\"sha1\"").nth(1)?;
    let hash: String = after
        .trim_start_matches(|c: char| c == ':' || c == '"' || c.is_whitespace())
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (hash.len() >= SHORT).then(|| short(&hash))
}

/// HEAD of the work tree this crate is the top of (not of a work tree that
/// merely contains it, such as a home folder kept in git); reruns when HEAD
/// or the branch it names moves.
fn from_git(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    // The reflog moves with every commit and checkout, even when the
    // branch's ref is packed.
    for file in ["HEAD", "logs/HEAD", "packed-refs"] {
        watch(dir, file);
    }
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watch(dir, &branch);
    }
    git(dir, &["rev-parse", "HEAD"]).map(|hash| short(&hash))
}

/// Reruns the build script when the git file `name` (`HEAD`, `refs/heads/x`)
/// changes; a file that does not exist is not named, as cargo would then
/// rerun the script on every build.
fn watch(dir: &Path, name: &str) {
    if let Some(path) = git(
        dir,
        &["rev-parse", "--path-format=absolute", "--git-path", name],
    ) {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}

fn short(hash: &str) -> String {
    hash.chars().take(SHORT).collect()
}
