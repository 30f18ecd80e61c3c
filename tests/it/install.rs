//! The setup action's install step, run as GitHub runs it: `action.yml`
//! runs `.github/install-fnctl.sh`, here against a release laid out as the
//! release workflow lays it out (`.github/release-files.sh`: archives of
//! this build's `fnctl`, then `SHA256SUMS`) and served by a loopback HTTP
//! server. The script must install a verified archive, and refuse one that
//! does not match `SHA256SUMS` or is not listed in it, leaving nothing on
//! the job's PATH.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::support::command::Output;
use crate::support::env::workspace;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// This machine as a runner: `RUNNER_OS`, `RUNNER_ARCH`, and the target
/// triple of the archive the install step picks for it.
fn runner() -> (&'static str, &'static str, String) {
    let (os, suffix) = match std::env::consts::OS {
        "linux" => ("Linux", "unknown-linux-gnu"),
        "macos" => ("macOS", "apple-darwin"),
        other => panic!("the install test runs on Linux or macOS, not {other}"),
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "X64",
        "aarch64" => "ARM64",
        other => panic!("no fnctl release for {other}"),
    };
    (os, arch, format!("{}-{suffix}", std::env::consts::ARCH))
}

/// `.github/release-files.sh ARGS…`, which must succeed.
fn release_files(args: &[&str]) {
    let out: Output = Command::new("bash")
        .arg(repo().join(".github/release-files.sh"))
        .args(args)
        .output()
        .expect("run bash")
        .into();
    assert_eq!(out.status, 0, "release-files.sh {args:?}: {out:?}");
}

/// A release folder `<root>/<folder>` holding one archive of `binary` for
/// this machine and its `SHA256SUMS`; returns the archive's path.
fn lay_out(root: &Path, folder: &str, binary: &Path) -> PathBuf {
    let dir = root.join(folder);
    let (_, _, target) = runner();
    release_files(&[
        "archive",
        VERSION,
        &target,
        binary.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    release_files(&["sums", dir.to_str().unwrap()]);
    let archive = dir.join(format!("fnctl-{VERSION}-{target}.tar.gz"));
    assert!(archive.is_file(), "{} not laid out", archive.display());
    archive
}

/// A stand-in binary: a script that prints what `fnctl --version` prints.
fn fake_fnctl(dir: &Path, says: &str) -> PathBuf {
    let path = dir.join("fake-fnctl");
    fs::write(&path, format!("#!/bin/sh\necho '{says}'\n")).unwrap();
    path
}

/// A static file server on 127.0.0.1 for the life of the value; it records
/// the paths asked for.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn serve(root: PathBuf) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, requests) = (stop.clone(), requests.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        answer(stream, &root, &requests);
                    }
                }
            })
        };
        Server {
            port,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    fn url(&self, folder: &str) -> String {
        format!("http://127.0.0.1:{}/{folder}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One `GET /path` answered with the file under `root`, or 404.
fn answer(mut stream: TcpStream, root: &Path, requests: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // The headers, up to the blank line.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.trim() != "" {
        line.clear();
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    requests.lock().unwrap().push(path.clone());
    let file = (!path.contains(".."))
        .then(|| root.join(path.trim_start_matches('/')))
        .filter(|file| file.is_file());
    let response = match file.and_then(|file| fs::read(file).ok()) {
        Some(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            );
            [head.into_bytes(), body].concat()
        }
        None => {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        }
    };
    let _ = stream.write_all(&response);
    let _ = stream.shutdown(Shutdown::Write);
}

/// A runner's job: the files GitHub gives a step for PATH and outputs.
struct Job {
    dir: tempfile::TempDir,
}

impl Job {
    fn new() -> Job {
        let dir = workspace();
        fs::write(dir.path().join("github_path"), "").unwrap();
        fs::write(dir.path().join("github_output"), "").unwrap();
        Job { dir }
    }

    fn install_dir(&self) -> PathBuf {
        self.dir.path().join("tools/fnctl")
    }

    fn file(&self, name: &str) -> String {
        fs::read_to_string(self.dir.path().join(name)).unwrap()
    }

    /// The action's step: `bash .github/install-fnctl.sh` with the
    /// environment action.yml and GitHub give it, downloading from `url`.
    fn install(&self, url: &str, version: Option<&str>) -> Output {
        let (os, arch, _) = runner();
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join(".github/install-fnctl.sh"));
        for (key, _) in std::env::vars_os() {
            let key_text = key.to_string_lossy().to_ascii_uppercase();
            if key_text.starts_with("GITHUB_")
                || key_text.starts_with("RUNNER_")
                || key_text.starts_with("FNCTL_")
                || key_text.ends_with("_PROXY")
            {
                cmd.env_remove(&key);
            }
        }
        if let Some(version) = version {
            cmd.env("FNCTL_VERSION", version);
        }
        let out = cmd
            .env("FNCTL_DOWNLOAD_URL", url)
            .env("FNCTL_INSTALL_DIR", self.install_dir())
            .env("RUNNER_OS", os)
            .env("RUNNER_ARCH", arch)
            .env("GITHUB_PATH", self.dir.path().join("github_path"))
            .env("GITHUB_OUTPUT", self.dir.path().join("github_output"))
            .env("NO_PROXY", "127.0.0.1")
            .current_dir(self.dir.path())
            .output()
            .expect("run bash");
        out.into()
    }

    /// Nothing installed and nothing added to PATH.
    #[track_caller]
    fn assert_nothing_installed(&self) {
        assert!(
            !self.install_dir().join("fnctl").exists(),
            "a refused archive was installed"
        );
        assert_eq!(
            self.file("github_path"),
            "",
            "a refused install added to PATH"
        );
        assert_eq!(self.file("github_output"), "");
    }
}

fn version_of(binary: &Path) -> String {
    let out: Output = Command::new(binary)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("run {} --version: {e}", binary.display()))
        .into();
    assert_eq!(out.status, 0, "{out:?}");
    out.stdout.trim().to_string()
}

#[test]
fn the_setup_action_installs_this_build_verified_and_refuses_a_tampered_archive() {
    let (_, _, target) = runner();
    let root = workspace();
    let build = Path::new(env!("CARGO_BIN_EXE_fnctl"));
    let archive = lay_out(root.path(), &format!("v{VERSION}"), build);
    let server = Server::serve(root.path().to_path_buf());
    let url = server.url(&format!("v{VERSION}"));

    // No version given: the action's own, from the Cargo.toml beside it.
    let job = Job::new();
    let out = job.install(&url, None);
    assert_eq!(out.status, 0, "{out:?}");
    let installed = job.install_dir().join("fnctl");
    assert_eq!(
        job.file("github_path").trim(),
        job.install_dir().display().to_string()
    );
    assert_eq!(
        job.file("github_output"),
        format!("version={VERSION}\npath={}\n", installed.display())
    );
    let printed = version_of(&installed);
    assert_eq!(printed, version_of(build), "not this build");
    assert!(
        printed.starts_with(&format!("fnctl {VERSION} (commit ")),
        "{printed}"
    );
    assert!(out.stderr.contains("verified"), "{}", out.stderr);
    let name = format!("fnctl-{VERSION}-{target}.tar.gz");
    assert_eq!(
        server.requests(),
        vec![
            format!("/v{VERSION}/SHA256SUMS"),
            format!("/v{VERSION}/{name}")
        ]
    );

    // The archive swapped for another, well-formed one whose fnctl says the
    // right version: only the checksum stands in its way.
    let tampered = workspace();
    let impostor = fake_fnctl(tampered.path(), &format!("fnctl {VERSION} (commit 0)"));
    let bad = lay_out(tampered.path(), "out", &impostor);
    fs::copy(&bad, &archive).unwrap();
    let job = Job::new();
    let out = job.install(&format!("{url}/"), Some(&format!("v{VERSION}")));
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("checksum mismatch for {name}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("refusing to install"), "{}", out.stderr);
    job.assert_nothing_installed();
}

#[test]
fn an_archive_missing_from_sha256sums_is_refused() {
    let root = workspace();
    let binary = fake_fnctl(root.path(), &format!("fnctl {VERSION}"));
    let archive = lay_out(root.path(), "release", &binary);
    let sums = archive.parent().unwrap().join("SHA256SUMS");
    fs::write(&sums, "0000  fnctl-0.0.0-other.tar.gz\n").unwrap();
    let server = Server::serve(root.path().to_path_buf());
    let job = Job::new();
    let out = job.install(&server.url("release"), Some(VERSION));
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.stderr.contains("SHA256SUMS has no line for"),
        "{}",
        out.stderr
    );
    job.assert_nothing_installed();
}

/// A verified archive whose fnctl is another version than asked for (a
/// release laid out wrong) is not put on PATH either.
#[test]
fn a_binary_of_another_version_is_refused() {
    let root = workspace();
    let binary = fake_fnctl(root.path(), "fnctl 9.9.9 (commit 0)");
    lay_out(root.path(), "release", &binary);
    let server = Server::serve(root.path().to_path_buf());
    let job = Job::new();
    let out = job.install(&server.url("release"), Some(VERSION));
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.stderr.contains("printed 'fnctl 9.9.9 (commit 0)'"),
        "{}",
        out.stderr
    );
    job.assert_nothing_installed();
}

#[test]
fn a_release_that_is_not_there_fails_the_step() {
    let root = workspace();
    let server = Server::serve(root.path().to_path_buf());
    let job = Job::new();
    let out = job.install(&server.url("nothing"), Some(VERSION));
    assert_eq!(out.status, 1, "{out:?}");
    assert!(out.stderr.contains("could not download"), "{}", out.stderr);
    job.assert_nothing_installed();
}

/// Every runner the action picks an archive for is one the release workflow
/// builds, and the other way round.
#[test]
fn the_release_builds_every_target_the_action_installs() {
    let workflow: serde_yaml::Value = serde_yaml::from_str(
        &fs::read_to_string(repo().join(".github/workflows/release.yml")).unwrap(),
    )
    .expect("release.yml parses");
    let mut built: Vec<String> = workflow["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_sequence()
        .expect("jobs.build.strategy.matrix.include")
        .iter()
        .map(|entry| entry["target"].as_str().expect("a target").to_string())
        .collect();
    built.sort();

    let root = workspace();
    let server = Server::serve(root.path().to_path_buf());
    let mut picked = Vec::new();
    for (os, arch) in [
        ("Linux", "X64"),
        ("Linux", "ARM64"),
        ("macOS", "X64"),
        ("macOS", "ARM64"),
        ("Windows", "X64"),
    ] {
        let out: Output = Command::new("bash")
            .arg(repo().join(".github/install-fnctl.sh"))
            .env("FNCTL_VERSION", VERSION)
            .env("FNCTL_DOWNLOAD_URL", server.url("none"))
            .env("RUNNER_OS", os)
            .env("RUNNER_ARCH", arch)
            .env("FNCTL_INSTALL_DIR", root.path().join("install"))
            .env_remove("GITHUB_PATH")
            .env_remove("GITHUB_OUTPUT")
            .env("NO_PROXY", "127.0.0.1")
            .output()
            .expect("run bash")
            .into();
        // Nothing is served: the step names its archive, then fails.
        assert_eq!(out.status, 1, "{out:?}");
        let target = out
            .stderr
            .split(&format!("fnctl {VERSION} for "))
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{os} {arch}: no target named: {}", out.stderr));
        picked.push(target.to_string());
    }
    picked.sort();
    assert_eq!(picked, built);
    assert!(!root.path().join("install").exists());
}
