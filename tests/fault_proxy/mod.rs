//! A fault-injecting HTTP/1.1 loopback proxy between `fnctl` and moto, and
//! the checks the fault, kill, concurrency and secret tests share.
//! `mod support; mod fault_proxy;` from a file in `tests/`.
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
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

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

/// What a request turned into, in order of arrival.
#[derive(Debug, Clone)]
pub struct Event {
    pub number: u64,
    pub action: String,
    /// The request's `RoleName`, if any.
    pub role: Option<String>,
    /// `None` when forwarded untouched.
    pub fault: Option<String>,
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
    answered: AtomicU64,
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
            answered: AtomicU64::new(0),
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

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Changes the fraction of randomly faulted requests.
    pub fn set_fraction(&self, fraction: f64) {
        let mut state = self.shared.state.lock().unwrap();
        state.config.as_mut().unwrap().fraction = fraction;
    }

    /// Changes the kinds of random faults.
    pub fn set_kinds(&self, kinds: &[FaultKind]) {
        let mut state = self.shared.state.lock().unwrap();
        state.config.as_mut().unwrap().kinds = kinds.to_vec();
    }

    /// Changes the delay range of the `Delay` fault.
    pub fn set_delay(&self, low: Duration, high: Duration) {
        let mut state = self.shared.state.lock().unwrap();
        state.config.as_mut().unwrap().delay = (low, high);
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

    /// Requests answered so far (forwarded or faulted, not dropped).
    pub fn answered(&self) -> u64 {
        self.shared.answered.load(Ordering::SeqCst)
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
    let number = shared.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let (decision, delay) = decide(shared, &action, form.get("RoleName").cloned(), number);
    match decision {
        Decision::Forward => {
            let response = forward(shared.upstream, &request)?;
            answer(shared, &mut client, &response)
        }
        Decision::HoldAnswer(hold) => {
            let response = forward(shared.upstream, &request)?;
            std::thread::sleep(hold);
            answer(shared, &mut client, &response)
        }
        Decision::DelayBefore(delay) => {
            std::thread::sleep(delay);
            let response = forward(shared.upstream, &request)?;
            answer(shared, &mut client, &response)
        }
        Decision::Gate { parties, timeout } => {
            wait_at_gate(shared, &action, parties, timeout);
            let response = forward(shared.upstream, &request)?;
            answer(shared, &mut client, &response)
        }
        Decision::Fault(kind) => match kind {
            FaultKind::Throttling => answer(
                shared,
                &mut client,
                &iam_error(400, "Sender", "Throttling", "Rate exceeded"),
            ),
            FaultKind::Http500 => answer(
                shared,
                &mut client,
                &iam_error(
                    500,
                    "Receiver",
                    "ServiceFailure",
                    "The request processing has failed because of an unknown error, exception or failure.",
                ),
            ),
            FaultKind::Http503 => answer(
                shared,
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
                answer(shared, &mut client, &response)
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
                .map(|d| external_ids_in(&d))
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
                Echo::EncodedDocument => format!("{message} {}", percent_encode(&document)),
                Echo::ConditionFragment => {
                    format!("{message} Invalid condition in policy: \"sts:ExternalId\":\"{first}\"")
                }
                Echo::BareValue => format!("{message} Invalid value '{first}'."),
            };
            let kind = if status >= 500 { "Receiver" } else { "Sender" };
            answer(
                shared,
                &mut client,
                &iam_error(status, kind, &code, &xml_escape(&message)),
            )
        }
    }
}

/// Chooses what happens to request `number` (rules first, then the dice).
fn decide(
    shared: &Shared,
    action: &str,
    role: Option<String>,
    number: u64,
) -> (Decision, Duration) {
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
        number,
        action: action.to_string(),
        role,
        fault: label,
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

fn answer(shared: &Shared, client: &mut TcpStream, response: &[u8]) -> io::Result<()> {
    client.write_all(response)?;
    client.flush()?;
    shared.answered.fetch_add(1, Ordering::SeqCst);
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

/// RFC 3986 percent-encoding of everything but unreserved characters.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = find(data, b"\r\n")?;
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
    percent_decode(&text.replace('+', " "))
}

// ---------------------------------------------------------------------------
// Shared checks: manifests, reading IAM back in one call, bundles.
// ---------------------------------------------------------------------------

pub const DESTINATION_ACCOUNT: &str = "458175278816";
pub const SOURCE_ACCOUNT: &str = "300240842537";
pub const ROLE_PATH: &str = "/segment-functions/";
pub const INLINE: &str = "fnctl-permissions";

/// Name of generated instance `i`.
pub fn instance_name(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:03}")
}

/// A manifest of `count` instances `prefix-000…` in `scope`, alternating
/// destination (write bucket, user tag) and source (read bucket).
pub fn generated_manifest(scope: &str, prefix: &str, count: usize) -> String {
    let mut text = format!(
        "version: 1\ndefaults:\n  scope: {scope}\n  rolePath: {ROLE_PATH}\n  tags: {{ team: data }}\ninstances:\n"
    );
    for i in 0..count {
        let name = instance_name(prefix, i);
        if i % 2 == 0 {
            text.push_str(&format!(
                "  - name: {name}\n    kind: destination\n    role:\n      tags: {{ idx: \"{i}\" }}\n    bucket:\n      name: bucket-{name}\n      region: us-west-2\n      prefix: p{i}/\n      access: write\n"
            ));
        } else {
            text.push_str(&format!(
                "  - name: {name}\n    kind: source\n    role:\n      tags: {{ idx: \"{i}\" }}\n    bucket:\n      name: bucket-{name}\n      region: us-east-1\n      access: read\n"
            ));
        }
    }
    text
}

/// The role name fnctl gives instance `name` by default.
pub fn role_name(instance: &str) -> String {
    format!("segment-fn-{instance}")
}

/// A role as GetAccountAuthorizationDetails shows it (documents decoded).
#[derive(Debug, Clone)]
pub struct LiveRole {
    pub name: String,
    pub path: String,
    pub arn: String,
    pub tags: BTreeMap<String, String>,
    pub trust: Value,
    pub inline: BTreeMap<String, Value>,
    pub attached: BTreeSet<String>,
}

impl LiveRole {
    pub fn external_ids(&self) -> Vec<String> {
        external_ids_in(&self.trust)
    }
}

/// Percent-decodes when needed (moto encodes some documents) and parses.
pub fn decode_document(text: &str) -> Value {
    if let Ok(value) = serde_json::from_str(text) {
        return value;
    }
    let decoded = percent_decode(text);
    serde_json::from_str(&decoded).unwrap_or_else(|e| panic!("document is not JSON ({e})"))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

pub fn strings(value: &Value) -> BTreeSet<String> {
    as_list(value)
        .into_iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// `StringEquals` / `sts:ExternalId` values of a trust policy, every statement.
pub fn external_ids_in(trust: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    for statement in as_list(&trust["Statement"]) {
        if let Some(conditions) = statement["Condition"].as_object() {
            for block in conditions.values() {
                if let Some(block) = block.as_object() {
                    for (key, values) in block {
                        if key.eq_ignore_ascii_case("sts:ExternalId") {
                            ids.extend(strings(values));
                        }
                    }
                }
            }
        }
    }
    ids
}

/// Whether the trust policy lets `account` assume the role with `id`: an
/// Allow statement for that account's root (or bare id), `sts:AssumeRole`,
/// and a `StringEquals` `sts:ExternalId` condition listing `id`, and no
/// other condition key; and no Deny statement at all.
pub fn trust_accepts(trust: &Value, account: &str, id: &str) -> bool {
    let statements = as_list(&trust["Statement"]);
    if statements.iter().any(|s| s["Effect"] == "Deny") {
        return false;
    }
    statements.iter().any(|s| {
        let principal_ok = strings(&s["Principal"]["AWS"])
            .iter()
            .any(|p| p == &format!("arn:aws:iam::{account}:root") || p == account);
        let action_ok = strings(&s["Action"])
            .iter()
            .any(|a| a.eq_ignore_ascii_case("sts:AssumeRole"));
        let Some(conditions) = s["Condition"].as_object() else {
            return false;
        };
        let only_equals = conditions.len() == 1 && conditions.contains_key("StringEquals");
        let equals = &s["Condition"]["StringEquals"];
        let only_id_key = equals.as_object().is_some_and(|o| o.len() == 1);
        let id_ok = equals
            .as_object()
            .and_then(|o| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("sts:ExternalId"))
            })
            .is_some_and(|(_, v)| strings(v).contains(id));
        s["Effect"] == "Allow" && principal_ok && action_ok && only_equals && only_id_key && id_ok
    })
}

/// Every role of the account, by name, in one GetAccountAuthorizationDetails
/// call (moto answers in one page; pages are followed anyway).
pub async fn live_roles(iam: &aws_sdk_iam::Client) -> BTreeMap<String, LiveRole> {
    let mut roles = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .get_account_authorization_details()
            .filter(aws_sdk_iam::types::EntityType::Role)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetAccountAuthorizationDetails: {e:?}"));
        for detail in page.role_detail_list() {
            let name = detail.role_name().unwrap_or_default().to_string();
            let trust = decode_document(detail.assume_role_policy_document().unwrap_or("{}"));
            let inline = detail
                .role_policy_list()
                .iter()
                .map(|p| {
                    (
                        p.policy_name().unwrap_or_default().to_string(),
                        decode_document(p.policy_document().unwrap_or("{}")),
                    )
                })
                .collect();
            let attached = detail
                .attached_managed_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string))
                .collect();
            let tags = detail
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            roles.insert(
                name.clone(),
                LiveRole {
                    name,
                    path: detail.path().unwrap_or_default().to_string(),
                    arn: detail.arn().unwrap_or_default().to_string(),
                    tags,
                    trust,
                    inline,
                    attached,
                },
            );
        }
        if page.is_truncated() {
            marker = page.marker().map(str::to_string);
        } else {
            return roles;
        }
    }
}

/// What is wrong with generated instances `0..count` of `prefix`, by role
/// name (only roles with problems), read against `roles` and `bundles`.
pub fn problems_of_all_generated(
    scope: &str,
    prefix: &str,
    count: usize,
    roles: &BTreeMap<String, LiveRole>,
    bundles: &BTreeMap<String, BundleFile>,
) -> BTreeMap<String, Vec<String>> {
    let mut by_role = BTreeMap::new();
    for i in 0..count {
        let instance = instance_name(prefix, i);
        let found = problems_of_generated(
            scope,
            prefix,
            i,
            roles.get(&role_name(&instance)),
            bundles.get(&instance).map(|b| b.external_id.as_str()),
        );
        if !found.is_empty() {
            by_role.insert(role_name(&instance), found);
        }
    }
    by_role
}

/// What is wrong with generated instance `i` (see [`generated_manifest`]),
/// given its role and its bundle's external ID; empty when all is right.
pub fn problems_of_generated(
    scope: &str,
    prefix: &str,
    i: usize,
    role: Option<&LiveRole>,
    bundle_id: Option<&str>,
) -> Vec<String> {
    let name = instance_name(prefix, i);
    let mut problems = Vec::new();
    let Some(role) = role else {
        return vec![format!("{name}: role missing")];
    };
    let account = if i % 2 == 0 {
        DESTINATION_ACCOUNT
    } else {
        SOURCE_ACCOUNT
    };
    if role.path != ROLE_PATH {
        problems.push(format!("{name}: path {}", role.path));
    }
    let tag = |k: &str| role.tags.get(k).map(String::as_str);
    let expected_tags = [
        ("fnctl:managed-by", "fnctl".to_string()),
        ("fnctl:scope", scope.to_string()),
        ("fnctl:instance", name.clone()),
        ("team", "data".to_string()),
        ("idx", i.to_string()),
    ];
    for (key, value) in expected_tags {
        if tag(key) != Some(value.as_str()) {
            problems.push(format!("{name}: tag {key} = {:?}", tag(key)));
        }
    }
    let ids = role.external_ids();
    if ids.len() != 1 {
        problems.push(format!(
            "{name}: {} external IDs in the trust policy",
            ids.len()
        ));
    }
    let statements = as_list(&role.trust["Statement"]);
    if statements.len() != 1 {
        problems.push(format!("{name}: {} trust statements", statements.len()));
    }
    match bundle_id {
        None => problems.push(format!("{name}: no bundle")),
        Some(id) => {
            if !trust_accepts(&role.trust, account, id) {
                problems.push(format!(
                    "{name}: the trust policy does not accept the bundle's ID"
                ));
            }
            if ids.len() == 1 && ids[0] != id {
                problems.push(format!("{name}: the bundle's ID is not the trust policy's"));
            }
        }
    }
    if role.inline.keys().collect::<Vec<_>>() != [INLINE] {
        problems.push(format!(
            "{name}: inline policies {:?}",
            role.inline.keys().collect::<Vec<_>>()
        ));
    } else {
        let mut actions = BTreeSet::new();
        let mut resources = BTreeSet::new();
        for statement in as_list(&role.inline[INLINE]["Statement"]) {
            actions.extend(strings(&statement["Action"]));
            resources.extend(strings(&statement["Resource"]));
        }
        let bucket = format!("bucket-{name}");
        let (want_actions, want_resources): (BTreeSet<String>, BTreeSet<String>) = if i % 2 == 0 {
            (
                ["s3:PutObject".to_string()].into(),
                [format!("arn:aws:s3:::{bucket}/p{i}/*")].into(),
            )
        } else {
            (
                ["s3:GetObject".to_string(), "s3:ListBucket".to_string()].into(),
                [
                    format!("arn:aws:s3:::{bucket}/*"),
                    format!("arn:aws:s3:::{bucket}"),
                ]
                .into(),
            )
        };
        if actions != want_actions || resources != want_resources {
            problems.push(format!("{name}: permissions {actions:?} on {resources:?}"));
        }
    }
    if !role.attached.is_empty() {
        problems.push(format!("{name}: attached {:?}", role.attached));
    }
    problems
}

/// A bundle file as read from disk.
#[derive(Debug, Clone)]
pub struct BundleFile {
    pub instance: String,
    pub external_id: String,
    pub role_arn: String,
    pub mode: u32,
}

/// Checks every file of a bundle folder: each `*.json` parses as a bundle
/// with an external ID and is mode 0600; leftover temporaries are reported
/// (and must be 0600 too: they may hold a secret). Returns the bundles by
/// instance and the temporaries; panics on a half-written or open bundle.
pub fn read_bundle_dir(dir: &Path) -> (BTreeMap<String, BundleFile>, Vec<PathBuf>) {
    use std::os::unix::fs::PermissionsExt;
    let mut bundles = BTreeMap::new();
    let mut temporaries = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (bundles, temporaries);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        if file_name.ends_with(".tmp") {
            assert_eq!(
                mode & 0o077,
                0,
                "temporary {} is readable by others (mode {mode:o})",
                path.display()
            );
            temporaries.push(path);
            continue;
        }
        assert!(
            file_name.ends_with(".json"),
            "unexpected file in the bundle folder: {}",
            path.display()
        );
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "bundle {} is not JSON ({e}): half-written? {} bytes",
                path.display(),
                text.len()
            )
        });
        let instance = value["instance"].as_str().unwrap_or_default().to_string();
        assert_eq!(
            format!("{instance}.json"),
            file_name,
            "bundle {} names instance {instance:?}",
            path.display()
        );
        let external_id = value["settings"]["iamRoleExternalId"]
            .as_str()
            .unwrap_or_else(|| panic!("bundle {} has no iamRoleExternalId", path.display()))
            .to_string();
        let role_arn = value["settings"]["iamRoleArn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(mode, 0o600, "bundle {} has mode {mode:o}", path.display());
        bundles.insert(
            instance.clone(),
            BundleFile {
                instance,
                external_id,
                role_arn,
                mode,
            },
        );
    }
    (bundles, temporaries)
}

/// For every bundle on disk whose role exists, the live trust policy accepts
/// its ID; returns the instances that break this.
pub fn locked_out(
    bundles: &BTreeMap<String, BundleFile>,
    roles: &BTreeMap<String, LiveRole>,
    account_of: impl Fn(&str) -> &'static str,
) -> Vec<String> {
    bundles
        .values()
        .filter(|bundle| {
            roles.get(&role_name(&bundle.instance)).is_some_and(|role| {
                !trust_accepts(
                    &role.trust,
                    account_of(&bundle.instance),
                    &bundle.external_id,
                )
            })
        })
        .map(|bundle| bundle.instance.clone())
        .collect()
}

/// The Segment account of a generated instance (even index: destination).
pub fn generated_account(instance: &str) -> &'static str {
    let index: usize = instance
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if index % 2 == 0 {
        DESTINATION_ACCOUNT
    } else {
        SOURCE_ACCOUNT
    }
}

// ---------------------------------------------------------------------------
// Running fnctl through the proxy (spawnable, so tests can kill it).
// ---------------------------------------------------------------------------

/// `fnctl ARGS` in `dir` against `endpoint`, with a scrubbed AWS environment
/// and dummy credentials (as `support::fnctl` sets up), not yet started.
pub fn fnctl_command(endpoint: &str, dir: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_fnctl"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(&key);
        }
    }
    let no_file = dir.join(".no-aws-config");
    cmd.args(args)
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", &no_file)
        .env("AWS_SHARED_CREDENTIALS_FILE", &no_file)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        // moto is consistent at once: the rotate lock need not wait 1.5 s
        // for IAM to settle (tests that race the lock set their own).
        .env("FNCTL_LOCK_SETTLE_MS", "50")
        // A killed rotation's lease must not hold the re-run up for a minute.
        .env("FNCTL_LOCK_LEASE_SECONDS", "4")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// Runs a command built by [`fnctl_command`] to completion.
pub fn run_command(mut cmd: std::process::Command) -> crate::support::Output {
    let out = cmd.output().expect("run fnctl");
    crate::support::Output {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Everything fnctl printed in a test, to search for leaked secrets.
#[derive(Default)]
pub struct Transcript {
    entries: Mutex<Vec<(String, String)>>,
}

impl Transcript {
    /// Remembers `text` (an output stream or a file) under `label`.
    pub fn record(&self, label: impl Into<String>, text: impl Into<String>) {
        self.entries
            .lock()
            .unwrap()
            .push((label.into(), text.into()));
    }

    /// Remembers both streams of a run.
    pub fn record_output(&self, command: &str, out: &crate::support::Output) {
        self.record(format!("stdout of `fnctl {command}`"), out.stdout.clone());
        self.record(format!("stderr of `fnctl {command}`"), out.stderr.clone());
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }

    /// Panics naming the first place where any of `secrets` appears (also
    /// percent-encoded).
    pub fn assert_free_of(&self, secrets: &BTreeSet<String>) {
        assert!(
            !secrets.is_empty(),
            "no external ID was collected: the check would prove nothing"
        );
        for (label, text) in self.entries.lock().unwrap().iter() {
            for secret in secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "an external ID appears in {label}:\n{}",
                    excerpt(text, secret)
                );
                // A prefix long enough to identify the ID (truncated logs).
                let prefix = &secret[..secret.len().min(24)];
                assert!(
                    !text.contains(prefix),
                    "the first 24 characters of an external ID appear in {label}:\n{}",
                    excerpt(text, prefix)
                );
            }
        }
    }
}

/// The text around `needle`, with `needle` masked so that the failure
/// message does not itself spread the secret further than needed.
fn excerpt(text: &str, needle: &str) -> String {
    let at = text.find(needle).unwrap_or(0);
    let start = text[..at]
        .char_indices()
        .rev()
        .nth(200)
        .map_or(0, |(i, _)| i);
    let end = (at + needle.len() + 200).min(text.len());
    let end = (end..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..end].replace(needle, "<THE-EXTERNAL-ID>")
}

/// Every external ID in the trust policies of `roles`.
pub fn ids_in_roles(roles: &BTreeMap<String, LiveRole>) -> BTreeSet<String> {
    roles.values().flat_map(|r| r.external_ids()).collect()
}
