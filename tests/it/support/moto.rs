//! Shared harness for fnctl's integration tests: `mod support;` from a file
//! in `tests/`.
//!
//! - [`Moto`]: a private moto server (IAM/STS/S3 stand-in) per test, on its
//!   own free 127.0.0.1 port, killed on drop (also when the test panics).
//! - [`fnctl`] / [`fnctl_offline`]: run the built `fnctl` binary against that
//!   server (or against an unreachable endpoint) with a scrubbed AWS
//!   environment and dummy credentials.
//! - [`workspace`] / [`write_file`]: temporary directories with manifests.
//! - [`iam_client`]: an `aws_sdk_iam::Client` for out-of-band changes.
//!
//! moto comes from `$FNCTL_MOTO_SERVER` or `<repo>/.venv/bin/moto_server`
//! (created by `./scripts/setup`). Tests never skip when it is missing: they
//! fail loudly with the hint to run the setup script.
//!
//! Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// moto's default account id.
pub const MOTO_ACCOUNT: &str = "123456789012";

const START_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(50);
const START_ATTEMPTS: usize = 5;
const IO_TIMEOUT: Duration = Duration::from_secs(30);
const LOG_TAIL_LINES: usize = 40;

/// Where the moto server executable is, or a loud panic.
pub fn moto_server_path() -> PathBuf {
    let hint = "moto is not installed: run ./scripts/setup (or ./scripts/test, which does it)";
    let path = match std::env::var_os("FNCTL_MOTO_SERVER") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server"),
    };
    if !path.is_file() {
        panic!("{hint} ({} not found)", path.display());
    }
    path
}

/// A raw HTTP response from moto.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub body: String,
}

/// A moto server of this test's own. Dropping it kills the process.
pub struct Moto {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
    // Holds the log file; removed after `Drop` has had a chance to print it.
    _dir: tempfile::TempDir,
}

impl Moto {
    /// Starts moto on a free port and waits until `GET /moto-api/` answers.
    pub fn start() -> Moto {
        let exe = moto_server_path();
        let dir = tempfile::Builder::new()
            .prefix("fnctl-moto-")
            .tempdir()
            .expect("create a temp dir for moto's log");
        let log = dir.path().join("moto.log");

        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            let log_file = fs::File::create(&log).expect("create moto log file");
            let log_err = log_file.try_clone().expect("clone moto log file");
            let mut cmd = Command::new(&exe);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log_file)
                .stderr(log_err)
                .env("PYTHONUNBUFFERED", "1");
            scrub_aws_env(&mut cmd);
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));

            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if let Some(status) = child.try_wait().expect("poll moto_server") {
                    // Most likely another process took the port between our
                    // probe and moto's bind: try another port.
                    eprintln!(
                        "moto_server exited early ({status}) on port {port}, attempt {attempt}/{START_ATTEMPTS}"
                    );
                    break;
                }
                if let Ok(resp) = http(port, "GET", "/moto-api/", "") {
                    if resp.status == 200 {
                        return Moto {
                            child: Some(child),
                            port,
                            log,
                            _dir: dir,
                        };
                    }
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "moto_server ({}) did not answer GET http://127.0.0.1:{port}/moto-api/ within {}s\n--- last {LOG_TAIL_LINES} lines of its log ---\n{}",
                        exe.display(),
                        START_TIMEOUT.as_secs(),
                        log_tail(&log)
                    );
                }
                std::thread::sleep(POLL_EVERY);
            }
        }
        panic!(
            "moto_server ({}) failed to start {START_ATTEMPTS} times\n--- last {LOG_TAIL_LINES} lines of its log ---\n{}",
            exe.display(),
            log_tail(&log)
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The moto process id (to check that it is gone after drop).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("moto is running").id()
    }

    /// Path of moto's stdout/stderr log (removed on drop).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// A raw GET, e.g. `moto.get("/moto-api/")`.
    pub fn get(&self, path: &str) -> RawResponse {
        http(self.port, "GET", path, "")
            .unwrap_or_else(|e| panic!("GET {}{path}: {e}", self.endpoint()))
    }

    /// A raw POST, e.g. `moto.post("/moto-api/seed?a=42", "")`.
    pub fn post(&self, path: &str, body: &str) -> RawResponse {
        http(self.port, "POST", path, body)
            .unwrap_or_else(|e| panic!("POST {}{path}: {e}", self.endpoint()))
    }

    /// Clears all of moto's state (`POST /moto-api/reset`).
    pub fn reset(&self) {
        let resp = self.post("/moto-api/reset", "");
        assert_eq!(
            resp.status, 200,
            "POST /moto-api/reset answered {}: {}",
            resp.status, resp.body
        );
    }

    /// Makes moto's generated ids repeatable (`POST /moto-api/seed?a=N`).
    pub fn seed(&self, n: u64) {
        let resp = self.post(&format!("/moto-api/seed?a={n}"), "");
        assert_eq!(
            resp.status, 200,
            "POST /moto-api/seed answered {}: {}",
            resp.status, resp.body
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- last {LOG_TAIL_LINES} lines of moto's log ({}) ---\n{}--- end of moto's log ---",
                self.endpoint(),
                log_tail(&self.log)
            );
        }
    }
}

/// A port that was free a moment ago (bind port 0, then release it).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

fn log_tail(path: &Path) -> String {
    let text = fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("(cannot read {}: {e})\n", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LOG_TAIL_LINES);
    let mut out = String::new();
    for line in &lines[start..] {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A minimal HTTP/1.1 client over `TcpStream`: one request, `Connection: close`.
fn http(port: u16, method: &str, path: &str, body: &str) -> io::Result<RawResponse> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: fnctl-tests\r\nAccept: */*\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> io::Result<RawResponse> {
    let bad = |msg: &str| io::Error::new(io::ErrorKind::InvalidData, msg.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of HTTP headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status_line = lines.next().ok_or_else(|| bad("empty response"))?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad(&format!("bad status line {status_line:?}")))?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok(RawResponse {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// Removes every `AWS_*` variable inherited from the environment.
fn scrub_aws_env(cmd: &mut Command) {
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
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fnctl"));
        scrub_aws_env(&mut cmd);
        // Keep the user's ~/.aws out of it too.
        let no_file = dir.path().join(".no-aws-config");
        cmd.env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", &no_file)
            .env("AWS_SHARED_CREDENTIALS_FILE", &no_file)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            // moto answers at once; the rotation lock need not wait for AWS's propagation.
            .env("FNCTL_LOCK_SETTLE_MS", "150")
            // A killed rotation's lease must not hold the re-run up for a minute.
            .env("FNCTL_LOCK_LEASE_SECONDS", "4")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("RUST_LOG")
            .current_dir(dir.path());
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
        let out = child.wait_with_output().expect("wait for fnctl");
        Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A fresh temporary directory (removed when dropped).
pub fn workspace() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("fnctl-test-")
        .tempdir()
        .expect("create a temp dir")
}

/// Writes `contents` to `dir/relative_path`, creating parent directories.
pub fn write_file(dir: impl AsRef<Path>, relative_path: &str, contents: &str) -> PathBuf {
    let path = dir.as_ref().join(relative_path);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    }
    fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// An IAM client for out-of-band changes, against `moto` with the same
/// dummy credentials fnctl gets.
pub async fn iam_client(moto: &Moto) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&sdk_config(moto).await)
}

/// An STS client against `moto`.
pub async fn sts_client(moto: &Moto) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(&sdk_config(moto).await)
}

async fn sdk_config(moto: &Moto) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await
}

/// `POST /moto-api/reset-auth` with raw body `count`: moto enforces IAM
/// (identity policies; an assumed role's policies for S3) once `count`
/// requests have been served from now on. `"0"` turns enforcement on at once,
/// `"inf"` turns it off. Sent raw: moto reads the unparsed body, which Flask
/// leaves empty for a form-encoded POST such as [`Moto::post`] sends.
pub fn reset_auth(moto: &Moto, count: &str) {
    let addr = SocketAddr::from(([127, 0, 0, 1], moto.port()));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("connect to moto on {}: {e}", moto.endpoint()));
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    let request = format!(
        "POST /moto-api/reset-auth HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{count}",
        moto.port(),
        count.len()
    );
    stream
        .write_all(request.as_bytes())
        .expect("send reset-auth");
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .expect("read reset-auth answer");
    let resp = parse_response(&raw).expect("parse reset-auth answer");
    assert_eq!(
        resp.status, 200,
        "POST /moto-api/reset-auth {count:?} answered {}: {}",
        resp.status, resp.body
    );
}
