//! A fault-injecting HTTP/1.1 loopback proxy between `fnctl` and moto, for
//! the fault, kill, concurrency and secret tests.
//!
//! The proxy ([`FaultProxy`]) listens on `127.0.0.1:0` and forwards every
//! request to moto, one request per client connection (it answers with
//! `Connection: close`, so the SDK's hyper pool opens a new connection for
//! the next one). For a seeded fraction of requests it injects a fault
//! instead: IAM's `Throttling` error (HTTP 400, IAM's XML body), HTTP 500,
//! HTTP 503, a connection dropped before forwarding, a connection dropped
//! AFTER moto has executed the request (the nasty real case: the write
//! happened, the client never hears of it), or a delay. Rules can also fail
//! the first N requests of one `Action` (parsed from the form body), gate
//! requests until several have arrived, or hold the answer of a request
//! after forwarding it. It can also limit writes the way IAM does, with a
//! token bucket ([`FaultProxy::limit_writes`]). It counts requests by
//! `Action` and injected faults.
//!
//! Only std (threads, `std::net`) and a seeded xorshift PRNG; the seed comes
//! from `FNCTL_FAULT_SEED` or a fixed default and is printed on creation.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::moto::dechunk;
use super::percent;
use super::trust::external_ids;

/// The seed when `FNCTL_FAULT_SEED` is not set.
pub const DEFAULT_SEED: u64 = 0x5EED_F00D_2026;
/// IAM's XML namespace, as in its real error bodies.
const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// The seed of this run: `FNCTL_FAULT_SEED` (decimal or 0x-hex) or `default`.
pub fn seed_from_env(default: u64) -> u64 {
    match std::env::var("FNCTL_FAULT_SEED") {
        Ok(text) if !text.trim().is_empty() => {
            let text = text.trim();
            let parsed = match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("FNCTL_FAULT_SEED={text:?} is not a number"))
        }
        _ => default,
    }
}

/// xorshift64*: small, seeded, good enough to pick faults.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        // Zero is a fixed point of xorshift; splitmix the seed first.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShift(if z == 0 { 1 } else { z })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[low, high]`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        low + self.next_u64() % (high - low + 1)
    }
}

/// A kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// HTTP 400 with IAM's `Throttling` XML error; not forwarded.
    Throttling,
    /// HTTP 500 (`ServiceFailure`); not forwarded.
    Http500,
    /// HTTP 503 (`ServiceUnavailable`); not forwarded.
    Http503,
    /// The connection is closed without an answer; not forwarded.
    ResetBefore,
    /// Forwarded to moto (so it happened), then the connection is closed
    /// without an answer.
    ResetAfter,
    /// Forwarded after a delay from [`FaultConfig::delay`].
    Delay,
}

impl FaultKind {
    pub const ALL: [FaultKind; 6] = [
        FaultKind::Throttling,
        FaultKind::Http500,
        FaultKind::Http503,
        FaultKind::ResetBefore,
        FaultKind::ResetAfter,
        FaultKind::Delay,
    ];
}

/// What the proxy does with random faults.
#[derive(Debug, Clone)]
pub struct FaultConfig {
    pub seed: u64,
    /// Fraction of requests that get a random fault, 0.0..=1.0.
    pub fraction: f64,
    /// Kinds to choose from (uniformly).
    pub kinds: Vec<FaultKind>,
    /// Range of the `Delay` fault.
    pub delay: (Duration, Duration),
    /// Actions never faulted at random (e.g. none; or `GetCallerIdentity`).
    pub spare_actions: BTreeSet<String>,
}

impl FaultConfig {
    /// No random faults; seed from the environment.
    pub fn quiet() -> Self {
        FaultConfig {
            seed: seed_from_env(DEFAULT_SEED),
            fraction: 0.0,
            kinds: FaultKind::ALL.to_vec(),
            delay: (Duration::from_millis(50), Duration::from_millis(400)),
            spare_actions: BTreeSet::new(),
        }
    }

    /// `fraction` of requests faulted with every kind; seed from the environment.
    pub fn mixed(fraction: f64) -> Self {
        FaultConfig {
            fraction,
            ..FaultConfig::quiet()
        }
    }
}

/// A canned answer for a rule.
#[derive(Debug, Clone)]
pub enum Reply {
    /// One of the random fault kinds, on purpose.
    Fault(FaultKind),
    /// An IAM XML error, not forwarded. `echo` appends (part of) the
    /// request's `PolicyDocument` / `AssumeRolePolicyDocument` to the
    /// message, like an AWS error that quotes its input.
    IamError {
        status: u16,
        code: String,
        message: String,
        echo: Echo,
    },
}

/// How much of the request's policy document an error message quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    Nothing,
    /// The whole document as JSON text.
    Document,
    /// The whole document percent-encoded, as the query API carries it.
    EncodedDocument,
    /// A fragment in AWS's "Invalid principal in policy" style:
    /// `"sts:ExternalId":"<id>"`.
    ConditionFragment,
    /// Only the external ID's value, quoted.
    BareValue,
}

impl Reply {
    /// A client error the SDK does not retry (409 `ConcurrentModification`).
    pub fn not_retried() -> Reply {
        Reply::IamError {
            status: 409,
            code: "ConcurrentModification".into(),
            message: "Injected failure: the role was modified concurrently".into(),
            echo: Echo::Nothing,
        }
    }

    /// IAM's `MalformedPolicyDocument` (400), quoting the document as `echo` says.
    pub fn malformed_policy(echo: Echo) -> Reply {
        Reply::IamError {
            status: 400,
            code: "MalformedPolicyDocument".into(),
            message: "Syntax errors in policy.".into(),
            echo,
        }
    }
}

/// What a rule does when it matches.
#[derive(Debug, Clone)]
enum RuleEffect {
    /// Answer with `Reply` instead of (or, for ResetAfter/Delay, around) forwarding.
    Reply(Reply),
    /// Hold matching requests until `parties` have arrived or `timeout` passed.
    Gate { parties: usize, timeout: Duration },
    /// Forward at once, then hold the answer for this long.
    HoldAnswer(Duration),
    /// Hold the request this long, then forward it.
    DelayBefore(Duration),
}

#[derive(Debug, Clone)]
struct Rule {
    action: String,
    /// How many more requests the rule applies to.
    remaining: usize,
    effect: RuleEffect,
}

/// A request, in order of arrival.
#[derive(Debug, Clone)]
pub struct Event {
    pub action: String,
    /// The request's `RoleName`, if any.
    pub role: Option<String>,
}

/// IAM's way of limiting writes: `burst` tokens, refilled at `rate` per
/// second; a write that finds none is answered `Throttling`.
#[derive(Debug, Clone)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl Bucket {
    /// Takes a token if there is one.
    fn take(&mut self, now: Instant) -> bool {
        let refill = now.duration_since(self.refilled_at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Whether an `Action` changes something (not Get*/List*/GetCallerIdentity).
fn is_write(action: &str) -> bool {
    !(action.starts_with("Get") || action.starts_with("List") || action == "(none)")
}

/// The fault label of a write the bucket refused.
pub const BUCKET_THROTTLING: &str = "Throttling (bucket)";

#[derive(Default)]
struct State {
    bucket: Option<Bucket>,
    rng: Option<XorShift>,
    config: Option<FaultConfig>,
    rules: Vec<Rule>,
    requests_by_action: BTreeMap<String, u64>,
    faults_by_kind: BTreeMap<String, u64>,
    events: Vec<Event>,
    gate_waiting: BTreeMap<String, usize>,
    echoed_ids: BTreeSet<String>,
    gate_generation: BTreeMap<String, u64>,
}

struct Shared {
    state: Mutex<State>,
    gate: Condvar,
    upstream: SocketAddr,
    stopping: AtomicBool,
    requests: AtomicU64,
    in_flight: AtomicU64,
}

/// Counts a request as in flight until dropped.
struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The proxy; stops accepting when dropped.
pub struct FaultProxy {
    shared: Arc<Shared>,
    addr: SocketAddr,
    seed: u64,
}

enum Decision {
    Forward,
    Fault(FaultKind),
    Reply(Reply),
    Gate { parties: usize, timeout: Duration },
    HoldAnswer(Duration),
    DelayBefore(Duration),
}

impl FaultProxy {
    /// Starts a proxy to `upstream_port` (moto) on 127.0.0.1; prints its seed.
    pub fn start(upstream_port: u16, config: FaultConfig) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let addr = listener.local_addr().expect("proxy address");
        let seed = config.seed;
        eprintln!(
            "fault proxy on {addr}: seed {seed} (reproduce with FNCTL_FAULT_SEED={seed}), fraction {}, kinds {:?}",
            config.fraction, config.kinds
        );
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                rng: Some(XorShift::new(seed)),
                config: Some(config),
                ..State::default()
            }),
            gate: Condvar::new(),
            upstream: SocketAddr::from(([127, 0, 0, 1], upstream_port)),
            stopping: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
        });
        let accept_shared = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = accept_shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(&shared, stream);
                });
            }
        });
        FaultProxy { shared, addr, seed }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the fraction of randomly faulted requests.
    pub fn set_fraction(&self, fraction: f64) {
        let mut state = self.shared.state.lock().unwrap();
        state.config.as_mut().unwrap().fraction = fraction;
    }

    /// Limits writes as IAM does: a token bucket of `burst` tokens (full
    /// now) refilled at `rate` per second, shared by every write; a write
    /// that finds it empty is answered IAM's `Throttling` (HTTP 400, the
    /// query protocol's XML error) without reaching moto. Reads pass.
    pub fn limit_writes(&self, rate: f64, burst: f64) {
        self.shared.state.lock().unwrap().bucket = Some(Bucket {
            rate,
            burst,
            tokens: burst,
            refilled_at: Instant::now(),
        });
    }

    /// Writes the bucket has refused so far.
    pub fn throttled_by_bucket(&self) -> u64 {
        self.faults()
            .get(BUCKET_THROTTLING)
            .copied()
            .unwrap_or_default()
    }

    /// The next `times` requests with `Action=action` get `reply`.
    pub fn fail_action(&self, action: &str, times: usize, reply: Reply) {
        self.push_rule(action, times, RuleEffect::Reply(reply));
    }

    /// The first request with `Action=action` gets `reply`, once.
    pub fn fail_once(&self, action: &str, reply: Reply) {
        self.fail_action(action, 1, reply);
    }

    /// The next `parties` requests with `Action=action` wait for each other
    /// (at most `timeout`), then go on together.
    pub fn gate(&self, action: &str, parties: usize, timeout: Duration) {
        self.push_rule(action, parties, RuleEffect::Gate { parties, timeout });
    }

    /// The next request with `Action=action` is forwarded at once but its
    /// answer is held for `hold`.
    pub fn hold_answer_once(&self, action: &str, hold: Duration) {
        self.push_rule(action, 1, RuleEffect::HoldAnswer(hold));
    }

    /// The next request with `Action=action` is held for `delay`, then
    /// forwarded (a request slow on the wire, or retried after a backoff).
    pub fn delay_once(&self, action: &str, delay: Duration) {
        self.push_rule(action, 1, RuleEffect::DelayBefore(delay));
    }

    fn push_rule(&self, action: &str, times: usize, effect: RuleEffect) {
        self.shared.state.lock().unwrap().rules.push(Rule {
            action: action.to_string(),
            remaining: times,
            effect,
        });
    }

    /// Requests received so far (all actions).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Requests received and not yet finished (forwarded or dropped).
    pub fn in_flight(&self) -> u64 {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// Waits (at most `limit`) until no request is in flight: what a killed
    /// client had on the wire has then reached moto or been dropped.
    pub fn drain(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.in_flight() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Requests received, by `Action`.
    pub fn requests_by_action(&self) -> BTreeMap<String, u64> {
        self.shared.state.lock().unwrap().requests_by_action.clone()
    }

    /// Faults injected, by kind (rules included).
    pub fn faults(&self) -> BTreeMap<String, u64> {
        self.shared.state.lock().unwrap().faults_by_kind.clone()
    }

    pub fn total_faults(&self) -> u64 {
        self.faults().values().sum()
    }

    /// Every request so far, in order of arrival.
    pub fn events(&self) -> Vec<Event> {
        self.shared.state.lock().unwrap().events.clone()
    }

    /// External IDs in the documents of requests answered with an echoing
    /// error (the request failed, so they exist nowhere else).
    pub fn echoed_ids(&self) -> BTreeSet<String> {
        self.shared.state.lock().unwrap().echoed_ids.clone()
    }

    /// Requests so far that change something (not Get*/List*/GetCallerIdentity).
    pub fn writes(&self) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| is_write(&e.action))
            .collect()
    }

    /// One line for the test log.
    pub fn summary(&self) -> String {
        format!(
            "seed {}: {} requests {:?}; faults {:?}",
            self.seed,
            self.requests(),
            self.requests_by_action(),
            self.faults()
        )
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.gate.notify_all();
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

/// A parsed HTTP request as received.
struct Request {
    head: String,
    body: Vec<u8>,
}

fn serve(shared: &Shared, mut client: TcpStream) -> io::Result<()> {
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    client.set_write_timeout(Some(IO_TIMEOUT))?;
    let Some(request) = read_request(&mut client)? else {
        return Ok(());
    };
    if shared.stopping.load(Ordering::SeqCst) {
        return Ok(());
    }
    shared.in_flight.fetch_add(1, Ordering::SeqCst);
    let _in_flight = InFlight(&shared.in_flight);
    let form = form_fields(&request.body);
    let action = form
        .get("Action")
        .cloned()
        .unwrap_or_else(|| "(none)".to_string());
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let (decision, delay) = decide(shared, &action, form.get("RoleName").cloned());
    match decision {
        Decision::Forward => {
            let response = forward(shared.upstream, &request)?;
            answer(&mut client, &response)
        }
        Decision::HoldAnswer(hold) => {
            let response = forward(shared.upstream, &request)?;
            std::thread::sleep(hold);
            answer(&mut client, &response)
        }
        Decision::DelayBefore(delay) => {
            std::thread::sleep(delay);
            let response = forward(shared.upstream, &request)?;
            answer(&mut client, &response)
        }
        Decision::Gate { parties, timeout } => {
            wait_at_gate(shared, &action, parties, timeout);
            let response = forward(shared.upstream, &request)?;
            answer(&mut client, &response)
        }
        Decision::Fault(kind) => match kind {
            FaultKind::Throttling => answer(
                &mut client,
                &iam_error(400, "Sender", "Throttling", "Rate exceeded"),
            ),
            FaultKind::Http500 => answer(
                &mut client,
                &iam_error(
                    500,
                    "Receiver",
                    "ServiceFailure",
                    "The request processing has failed because of an unknown error, exception or failure.",
                ),
            ),
            FaultKind::Http503 => answer(
                &mut client,
                &iam_error(
                    503,
                    "Receiver",
                    "ServiceUnavailable",
                    "Service is unable to handle request.",
                ),
            ),
            FaultKind::ResetBefore => {
                let _ = client.shutdown(Shutdown::Both);
                Ok(())
            }
            FaultKind::ResetAfter => {
                let _ = forward(shared.upstream, &request)?;
                let _ = client.shutdown(Shutdown::Both);
                Ok(())
            }
            FaultKind::Delay => {
                std::thread::sleep(delay);
                let response = forward(shared.upstream, &request)?;
                answer(&mut client, &response)
            }
        },
        Decision::Reply(Reply::Fault(_)) => {
            unreachable!("rule faults are turned into Decision::Fault")
        }
        Decision::Reply(Reply::IamError {
            status,
            code,
            message,
            echo,
        }) => {
            let document = form
                .get("PolicyDocument")
                .or_else(|| form.get("AssumeRolePolicyDocument"))
                .cloned()
                .unwrap_or_default();
            let ids = serde_json::from_str::<Value>(&document)
                .map(|d| external_ids(&d))
                .unwrap_or_default();
            shared
                .state
                .lock()
                .unwrap()
                .echoed_ids
                .extend(ids.iter().cloned());
            let first = ids.first().cloned().unwrap_or_default();
            let message = match echo {
                Echo::Nothing => message,
                Echo::Document => format!("{message} {document}"),
                Echo::EncodedDocument => format!("{message} {}", percent::encode(&document)),
                Echo::ConditionFragment => {
                    format!("{message} Invalid condition in policy: \"sts:ExternalId\":\"{first}\"")
                }
                Echo::BareValue => format!("{message} Invalid value '{first}'."),
            };
            let kind = if status >= 500 { "Receiver" } else { "Sender" };
            answer(
                &mut client,
                &iam_error(status, kind, &code, &xml_escape(&message)),
            )
        }
    }
}

/// Chooses what happens to request `number` (rules first, then the dice).
fn decide(shared: &Shared, action: &str, role: Option<String>) -> (Decision, Duration) {
    let mut state = shared.state.lock().unwrap();
    *state
        .requests_by_action
        .entry(action.to_string())
        .or_default() += 1;
    let mut decision = Decision::Forward;
    let mut label: Option<String> = None;
    if let Some(rule) = state
        .rules
        .iter_mut()
        .find(|r| r.remaining > 0 && r.action == action)
    {
        rule.remaining -= 1;
        match rule.effect.clone() {
            RuleEffect::Reply(Reply::Fault(kind)) => {
                label = Some(format!("{kind:?} (rule)"));
                decision = Decision::Fault(kind);
            }
            RuleEffect::Reply(reply) => {
                if let Reply::IamError { code, .. } = &reply {
                    label = Some(format!("{code} (rule)"));
                }
                decision = Decision::Reply(reply);
            }
            RuleEffect::Gate { parties, timeout } => {
                label = Some("gate (rule)".into());
                decision = Decision::Gate { parties, timeout };
            }
            RuleEffect::HoldAnswer(hold) => {
                label = Some("hold-answer (rule)".into());
                decision = Decision::HoldAnswer(hold);
            }
            RuleEffect::DelayBefore(delay) => {
                label = Some("delay (rule)".into());
                decision = Decision::DelayBefore(delay);
            }
        }
    }
    let config = state.config.clone().unwrap();
    let rng = state.rng.as_mut().unwrap();
    // Roll the dice for every request, so one request's rule does not shift
    // the faults of the others.
    let roll = rng.next_f64();
    let pick = rng.next_u64();
    let delay_ms = rng.range(
        config.delay.0.as_millis() as u64,
        config.delay.1.as_millis() as u64,
    );
    if matches!(decision, Decision::Forward)
        && !config.kinds.is_empty()
        && roll < config.fraction
        && !config.spare_actions.contains(action)
        && action != "(none)"
    {
        let kind = config.kinds[(pick % config.kinds.len() as u64) as usize];
        label = Some(format!("{kind:?}"));
        decision = Decision::Fault(kind);
    }
    if matches!(decision, Decision::Forward) && is_write(action) {
        if let Some(bucket) = state.bucket.as_mut() {
            if !bucket.take(Instant::now()) {
                label = Some(BUCKET_THROTTLING.to_string());
                decision = Decision::Fault(FaultKind::Throttling);
            }
        }
    }
    if let Some(label) = &label {
        *state.faults_by_kind.entry(label.clone()).or_default() += 1;
    }
    state.events.push(Event {
        action: action.to_string(),
        role,
    });
    (decision, Duration::from_millis(delay_ms))
}

fn wait_at_gate(shared: &Shared, action: &str, parties: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut state = shared.state.lock().unwrap();
    let generation = *state.gate_generation.get(action).unwrap_or(&0);
    let waiting = state.gate_waiting.entry(action.to_string()).or_default();
    *waiting += 1;
    if *waiting >= parties {
        state.gate_waiting.insert(action.to_string(), 0);
        *state.gate_generation.entry(action.to_string()).or_default() += 1;
        shared.gate.notify_all();
        return;
    }
    loop {
        let now = Instant::now();
        if now >= deadline
            || shared.stopping.load(Ordering::SeqCst)
            || *state.gate_generation.get(action).unwrap_or(&0) != generation
        {
            return;
        }
        state = shared.gate.wait_timeout(state, deadline - now).unwrap().0;
    }
}

fn answer(client: &mut TcpStream, response: &[u8]) -> io::Result<()> {
    client.write_all(response)?;
    client.flush()?;
    let _ = client.shutdown(Shutdown::Write);
    // Let the client read the answer before the socket goes away.
    let mut sink = [0u8; 256];
    let _ = client.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = client.read(&mut sink);
    Ok(())
}

/// An IAM error response (`Connection: close`).
pub fn iam_error(status: u16, kind: &str, code: &str, message: &str) -> Vec<u8> {
    let request_id = format!(
        "{:08x}-fa17-4e57-9e0a-{:012x}",
        status as u64 * 7919,
        code.len() as u64 * 104_729
    );
    let body = format!(
        "<ErrorResponse xmlns=\"{IAM_NS}\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    );
    let reason = match status {
        400 => "Bad Request",
        409 => "Conflict",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml\r\nx-amzn-RequestId: {request_id}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Reads one request (head and Content-Length or chunked body); `None` when
/// the client closed before sending anything.
fn read_request(stream: &mut TcpStream) -> io::Result<Option<Request>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = find(&buffer, b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut body = buffer[head_end + 4..].to_vec();
    let header = |name: &str| {
        head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    if let Some(length) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while body.len() < length {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        body.truncate(length);
    } else if header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        while find(&body, b"0\r\n\r\n").is_none() {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        body = dechunk(&body).unwrap_or_default();
    }
    Ok(Some(Request { head, body }))
}

/// Sends the request to moto (`Connection: close`) and returns the response
/// re-framed with Content-Length and `Connection: close`.
fn forward(upstream: SocketAddr, request: &Request) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&upstream, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut lines = request.head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut out = format!("{request_line}\r\n");
    for line in lines {
        let key = line.split(':').next().unwrap_or_default().trim();
        if [
            "connection",
            "content-length",
            "transfer-encoding",
            "keep-alive",
        ]
        .iter()
        .any(|k| key.eq_ignore_ascii_case(k))
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        request.body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&request.body);
    stream.write_all(&bytes)?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    reframe(&raw)
}

fn reframe(raw: &[u8]) -> io::Result<Vec<u8>> {
    let split = find(raw, b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or("HTTP/1.1 502 Bad Gateway");
    let mut out = format!("{status_line}\r\n");
    let mut chunked = false;
    let mut length: Option<usize> = None;
    for line in lines {
        let (key, value) = line.split_once(':').unwrap_or((line, ""));
        let key = key.trim();
        if key.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
            continue;
        }
        if key.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok();
            continue;
        }
        if key.eq_ignore_ascii_case("connection") || key.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if chunked {
        body = dechunk(&body)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad chunked body"))?;
    } else if let Some(length) = length {
        body.truncate(length);
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `application/x-www-form-urlencoded` fields (`+` is a space).
pub fn form_fields(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (!key.is_empty()).then(|| (form_decode(key), form_decode(value)))
        })
        .collect()
}

fn form_decode(text: &str) -> String {
    percent::decode(&text.replace('+', " "))
}
