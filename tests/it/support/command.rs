//! The built `fnctl` binary, run as a user would: against a moto (or an
//! unreachable endpoint, for commands that must not touch AWS), with a
//! scrubbed AWS environment and dummy credentials, output captured.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::env::workspace;
use super::moto::Moto;

/// Removes every `AWS_*` variable inherited from the environment.
pub fn scrub_aws_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(&key);
        }
    }
}

/// The result of running `fnctl`.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code; -1 when killed by a signal.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Output {
    fn from(out: std::process::Output) -> Output {
        Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Output {
    /// Panics, printing stdout and stderr, unless the exit code is `code`.
    #[track_caller]
    pub fn assert_exit(&self, code: i32) -> &Self {
        if self.status != code {
            panic!(
                "fnctl exited with {} (expected {code})\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
                self.status, self.stdout, self.stderr
            );
        }
        self
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        self.assert_exit(0)
    }

    /// Panics, printing both streams, unless stdout contains `needle`.
    #[track_caller]
    pub fn assert_stdout_contains(&self, needle: &str) -> &Self {
        if !self.stdout.contains(needle) {
            panic!(
                "fnctl stdout does not contain {needle:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
                self.stdout, self.stderr
            );
        }
        self
    }

    /// Panics, printing both streams, unless stderr contains `needle`.
    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        if !self.stderr.contains(needle) {
            panic!(
                "fnctl stderr does not contain {needle:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
                self.stdout, self.stderr
            );
        }
        self
    }
}

/// Builder around `Command::new(env!("CARGO_BIN_EXE_fnctl"))`.
pub struct FnctlCommand {
    cmd: Command,
    stdin: Option<String>,
    /// The default working directory, kept alive until the command has run
    /// (unless `current_dir` replaced it).
    _default_dir: Option<tempfile::TempDir>,
}

/// `fnctl` against `moto`, with dummy credentials, region us-east-1, no
/// inherited `AWS_*` variables, `NO_COLOR=1`, in an empty temp directory.
pub fn fnctl(moto: &Moto) -> FnctlCommand {
    FnctlCommand::new(&moto.endpoint())
}

/// `fnctl` pointed at an unreachable endpoint (port 9 on loopback): for
/// commands that must not touch AWS.
pub fn fnctl_offline() -> FnctlCommand {
    FnctlCommand::new("http://127.0.0.1:9")
}

impl FnctlCommand {
    fn new(endpoint: &str) -> FnctlCommand {
        let dir = workspace();
        let mut cmd = base_command(endpoint, dir.path());
        // moto answers at once; the rotation lock need not wait for AWS's propagation.
        cmd.env("FNCTL_LOCK_SETTLE_MS", "150");
        FnctlCommand {
            cmd,
            stdin: None,
            _default_dir: Some(dir),
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env_remove(key);
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Text fed to fnctl's stdin (otherwise stdin is /dev/null).
    pub fn stdin(&mut self, input: impl Into<String>) -> &mut Self {
        self.stdin = Some(input.into());
        self
    }

    /// Runs fnctl to completion and captures its output.
    pub fn run(&mut self) -> Output {
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("spawn fnctl");
        if let Some(input) = self.stdin.clone() {
            let mut pipe = child.stdin.take().expect("fnctl stdin");
            // Write from a thread so a large input cannot deadlock against
            // fnctl filling its stdout pipe.
            std::thread::spawn(move || {
                let _ = pipe.write_all(input.as_bytes());
            });
        }
        child.wait_with_output().expect("wait for fnctl").into()
    }
}

/// `fnctl` in `dir` against `endpoint`: no inherited `AWS_*` variables, dummy
/// credentials, region us-east-1, no `~/.aws` files, no instance metadata,
/// `NO_COLOR=1`, short lock leases. What every way of running fnctl shares.
fn base_command(endpoint: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fnctl"));
    scrub_aws_env(&mut cmd);
    // Keep the user's ~/.aws out of it too.
    let no_file = dir.join(".no-aws-config");
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", &no_file)
        .env("AWS_SHARED_CREDENTIALS_FILE", &no_file)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        // A killed rotation's lease must not hold the re-run up for a minute.
        .env("FNCTL_LOCK_LEASE_SECONDS", "4")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("RUST_LOG")
        .current_dir(dir);
    cmd
}

/// `fnctl ARGS` in `dir` against `endpoint` (a moto or a fault proxy), set up
/// as [`fnctl`] is, not yet started: for tests that spawn, race and kill runs.
pub fn fnctl_command(endpoint: &str, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = base_command(endpoint, dir);
    cmd.args(args)
        // moto is consistent at once: the rotate lock need not wait 1.5 s
        // for IAM to settle (tests that race the lock set their own).
        .env("FNCTL_LOCK_SETTLE_MS", "50")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs a command built by [`fnctl_command`] to completion.
pub fn run_command(mut cmd: Command) -> Output {
    cmd.output().expect("run fnctl").into()
}
