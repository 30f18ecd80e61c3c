//! The Segment Public API for end-to-end tests: the stateful test server
//! (`tests/segment/server.py`) behind Stoplight Prism in validating-proxy
//! mode with Segment's own OpenAPI spec, so every request fnctl sends and
//! every answer it gets is checked against Segment's contract, not against
//! our server. fnctl talks to Prism (`SEGMENT_API_URL`); tests drive the
//! server's control API directly.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The token the test server accepts.
pub const TOKEN: &str = "sgp_test_token_never_printed_0123456789";

/// One server and one Prism in front of it; both stopped on drop.
pub struct SegmentApi {
    server: Child,
    prism: Child,
    server_port: u16,
    prism_port: u16,
    prism_log: PathBuf,
    _logs: tempfile::TempDir,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl SegmentApi {
    /// Starts both; fails loudly with a hint when a piece is missing. A
    /// port another test's server took first (it would answer for ours) is
    /// given up for fresh ones.
    pub fn start() -> SegmentApi {
        for _ in 0..3 {
            let api = Self::start_once();
            let ours = super::moto::listens(api.server.id(), api.server_port)
                && super::moto::listens(api.prism.id(), api.prism_port);
            if ours {
                return api;
            }
            eprintln!("a Segment test server port was another test's: starting again");
        }
        panic!("the Segment test server or Prism found no port of its own in 3 attempts");
    }

    fn start_once() -> SegmentApi {
        let prism_bin = repo().join("tests/segment/node_modules/.bin/prism");
        assert!(
            prism_bin.exists(),
            "{} is missing: run ./scripts/setup (it installs @stoplight/prism-cli)",
            prism_bin.display()
        );
        let logs = tempfile::tempdir().expect("temp dir");
        let server_port = free_port();
        let server = Command::new("python3")
            .arg(repo().join("tests/segment/server.py"))
            .args(["--port", &server_port.to_string(), "--token", TOKEN])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs tests/segment/server.py (install Python 3.9+)");
        let prism_port = free_port();
        let prism_log = logs.path().join("prism.log");
        let log = std::fs::File::create(&prism_log).expect("prism log");
        let prism = Command::new(&prism_bin)
            .arg("proxy")
            .arg(repo().join("tests/segment/openapi.yaml"))
            .arg(format!("http://127.0.0.1:{server_port}"))
            .args(["--errors", "-p", &prism_port.to_string(), "-h", "127.0.0.1"])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn prism");
        let api = SegmentApi {
            server,
            prism,
            server_port,
            prism_port,
            prism_log,
            _logs: logs,
        };
        api.wait_for(server_port, "the Segment test server");
        api.wait_for(prism_port, "Prism");
        api
    }

    fn wait_for(&self, port: u16, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{what} did not listen on {port} within 60 s; Prism log:\n{}",
                self.prism_log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Prism's URL: what fnctl gets as `SEGMENT_API_URL`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.prism_port)
    }

    /// Everything Prism logged.
    pub fn prism_log_text(&self) -> String {
        std::fs::read_to_string(&self.prism_log).unwrap_or_default()
    }

    /// Fails when Prism found a request or answer off Segment's spec.
    pub fn assert_no_violation(&self) {
        let log = self.prism_log_text();
        let violations: Vec<&str> = log.lines().filter(|l| l.contains('✖')).collect();
        assert!(
            violations.is_empty(),
            "Prism reported contract violations:\n{}",
            violations.join("\n")
        );
    }

    /// A control-API call to the server (not through Prism).
    pub fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, text) = raw_http(self.server_port, method, path, &body.to_string());
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// An authenticated API request through Prism (for the fixture's own check).
    pub fn through_prism(&self, method: &str, path: &str, body: Value) -> u16 {
        let headers = format!(
            "Authorization: Bearer {TOKEN}\r\nContent-Type: application/vnd.segment.v1+json\r\n"
        );
        raw_http_with(self.prism_port, method, path, &body.to_string(), &headers).0
    }

    /// An authenticated API request through Prism (checked against the
    /// spec like fnctl's own); the answer's `data`, which must be a success.
    pub fn api(&self, method: &str, path: &str, body: Value) -> Value {
        let headers = format!(
            "Authorization: Bearer {TOKEN}\r\nContent-Type: application/vnd.segment.v1+json\r\n"
        );
        let (status, text) =
            raw_http_with(self.prism_port, method, path, &body.to_string(), &headers);
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {text}"
        );
        serde_json::from_str::<Value>(&text).unwrap_or(Value::Null)["data"].clone()
    }

    /// Creates a function instance with `settings`; `sensitive` are masked when read.
    pub fn create(&self, kind: &str, id: &str, settings: Value, sensitive: &[&str]) {
        self.control(
            "POST",
            "/__control/instances",
            json!({"kind": kind, "id": id, "settings": settings, "sensitive": sensitive}),
        );
    }

    /// Creates `count` instances of `kind` with ids `{prefix}{n:04}`, each
    /// with `settings`, in one control call.
    pub fn create_many(&self, kind: &str, prefix: &str, count: usize, settings: Value) {
        let instances: Vec<Value> = (0..count)
            .map(|n| {
                json!({"kind": kind, "id": format!("{prefix}{n:04}"), "settings": settings,
                       "sensitive": ["iamRoleExternalId", "apiKey"]})
            })
            .collect();
        self.control(
            "POST",
            "/__control/batch",
            json!({ "instances": instances }),
        );
    }

    /// Every API request the server received (never the token).
    pub fn all_requests(&self) -> Vec<Value> {
        self.control("GET", "/__control/requests", Value::Null)["requests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Sets the server's rate limit and how it behaves where Segment does
    /// not document it (tests/segment/README.md): `{"limit", "windowMs",
    /// "windowStart", "headersOn", "countRejected", "resetRounding",
    /// "resetZone", "listCost"}`.
    pub fn rate_limit(&self, settings: Value) {
        self.control("PUT", "/__control/rate-limit", settings);
    }

    /// `{"requests", "refused", "lists"}` since the last call (then zeroed).
    pub fn take_counters(&self) -> Value {
        let counters = self.control("GET", "/__control/counters", Value::Null);
        self.control("DELETE", "/__control/counters", Value::Null);
        counters
    }

    /// The unmasked settings: what Segment passes to the function at run time.
    pub fn settings(&self, kind: &str, id: &str) -> Value {
        self.control(
            "GET",
            &format!("/__control/instances/{kind}/{id}/settings"),
            Value::Null,
        )["settings"]
            .clone()
    }

    /// A hand edit in Segment's UI.
    pub fn edit(&self, kind: &str, id: &str, key: &str, value: Value) {
        self.control(
            "PUT",
            &format!("/__control/instances/{kind}/{id}/settings/{key}"),
            json!({ "value": value }),
        );
    }

    /// `merge` or `replace` for every PATCH.
    pub fn patch_mode(&self, mode: &str) {
        self.control("PUT", "/__control/patch-mode", json!({ "mode": mode }));
    }

    /// The API requests the server received for `path` (never the token).
    pub fn requests(&self, path: &str) -> Vec<Value> {
        self.control(
            "GET",
            &format!("/__control/requests?path={path}"),
            Value::Null,
        )["requests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Injects `count` answers of `status` on `path` (429s say `ms_before_next`).
    pub fn fault(&self, path: &str, status: u16, count: u32, ms_before_next: u64) {
        self.control(
            "POST",
            "/__control/faults",
            json!({"path": path, "status": status, "count": count, "msBeforeNext": ms_before_next}),
        );
    }
}

impl Drop for SegmentApi {
    fn drop(&mut self) {
        for child in [&mut self.prism, &mut self.server] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A one-shot HTTP/1.1 request (the server closes every connection).
fn raw_http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    raw_http_with(
        port,
        method,
        path,
        body,
        "Content-Type: application/json\r\n",
    )
}

fn raw_http_with(port: u16, method: &str, path: &str, body: &str, headers: &str) -> (u16, String) {
    let body = if body == "null" { "" } else { body };
    let mut stream = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )
    .expect("connect to the Segment test server");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}

/// Reads a bundle's settings from disk.
pub fn bundle_settings(dir: &Path, instance: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(format!("{instance}.json"))).expect("bundle");
    serde_json::from_str::<Value>(&text).expect("bundle JSON")["settings"].clone()
}
