//! A private moto server (IAM/STS/S3 stand-in) per test, on its own free
//! 127.0.0.1 port, killed on drop (also when the test panics), and SDK
//! clients for it (and the bit of HTTP the harness speaks to moto's own API).
//!
//! moto comes from `$FNCTL_MOTO_SERVER` or `<repo>/.venv/bin/moto_server`
//! (created by `./scripts/setup`). Tests never skip when it is missing: they
//! fail loudly with the hint to run the setup script.
//!
//! moto's state is global to its process (one account store, one
//! enforcement switch), and tests run concurrently in one binary: each test
//! starts its own server.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::command::scrub_aws_env;

/// moto's default account id.
pub const MOTO_ACCOUNT: &str = "123456789012";

const START_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(50);
const START_ATTEMPTS: usize = 5;
const IO_TIMEOUT: Duration = Duration::from_secs(30);
const LOG_TAIL_LINES: usize = 40;
/// moto's API reads the bodies the harness sends as a form.
const FORM: &str = "application/x-www-form-urlencoded";

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
                if let Ok(resp) = http(port, "GET", "/moto-api/", FORM, "") {
                    if resp.status == 200 && !listens(child.id(), port) {
                        // Another test's moto took the port first and
                        // answered for ours, which will fail to bind: using
                        // it would share (and lose) that test's IAM.
                        let _ = child.kill();
                        let _ = child.wait();
                        eprintln!("port {port} is another moto_server's, attempt {attempt}/{START_ATTEMPTS}");
                        break;
                    }
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

    /// A raw GET, e.g. `moto.get("/moto-api/")`.
    pub fn get(&self, path: &str) -> RawResponse {
        http(self.port, "GET", path, FORM, "")
            .unwrap_or_else(|e| panic!("GET {}{path}: {e}", self.endpoint()))
    }

    /// A raw POST, e.g. `moto.post("/moto-api/seed?a=42", "")`.
    pub fn post(&self, path: &str, body: &str) -> RawResponse {
        http(self.port, "POST", path, FORM, body)
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

/// Whether process `pid` holds the socket listening on 127.0.0.1:`port`
/// (Linux's /proc); elsewhere assumed.
pub(crate) fn listens(pid: u32, port: u16) -> bool {
    let Ok(table) = fs::read_to_string("/proc/net/tcp") else {
        return true;
    };
    let local = format!("0100007F:{port:04X}");
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 9 && f[1] == local && f[3] == "0A")
        .map(|f| format!("socket:[{}]", f[9]))
        .collect();
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path())
            .map(|target| inodes.iter().any(|i| target.to_string_lossy() == *i))
            .unwrap_or(false)
    })
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

/// A minimal HTTP/1.1 client over `TcpStream`: one request, `Connection:
/// close`. `content_type` matters: moto reads some bodies raw, others as a form.
fn http(
    port: u16,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> io::Result<RawResponse> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: fnctl-tests\r\nAccept: */*\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
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

/// The payload of a `Transfer-Encoding: chunked` body (moto answers chunked;
/// the fault proxy re-frames its answers); `None` when malformed.
pub fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
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

/// An IAM client for out-of-band changes, against `moto` with the same
/// dummy credentials fnctl gets.
pub async fn iam_client(moto: &Moto) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&sdk_config(moto).await)
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
    let resp = http(
        moto.port(),
        "POST",
        "/moto-api/reset-auth",
        "text/plain",
        count,
    )
    .unwrap_or_else(|e| panic!("POST {}/moto-api/reset-auth: {e}", moto.endpoint()));
    assert_eq!(
        resp.status, 200,
        "POST /moto-api/reset-auth {count:?} answered {}: {}",
        resp.status, resp.body
    );
}

/// The port-ownership check tells this process's listener from another's.
#[test]
fn a_listening_socket_is_told_from_another_process_s() {
    let mine = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = mine.local_addr().expect("addr").port();
    assert!(listens(std::process::id(), port));
    let moto = Moto::start();
    assert!(!listens(std::process::id(), moto.port()));
}
