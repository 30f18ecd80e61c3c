//! A client-side rate limiter shared by every write a run sends to one
//! account, learning the rate IAM allows from its `Throttling` answers.
//!
//! IAM limits writes with token buckets whose rates are not published: a
//! burst goes through, then writes are admitted at the bucket's refill rate
//! and the rest are answered `Throttling`. Writers that each back off on
//! their own (the SDK's standard retry) leave tokens unused while they
//! sleep and starve each other until one runs out of attempts. Instead, all
//! writes of an account take turns here: unpaced until the first throttle,
//! then spaced at a rate measured from the writes IAM accepted, a little
//! above it (a throttled write costs IAM no token, so sending slightly too
//! fast loses nothing, while sending too slowly wastes the refill), and
//! raised again while IAM stops throttling. A throttled write is sent again
//! at its next turn, as often as it takes within [`THROTTLE_PATIENCE`].

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one write may keep being throttled before its error is
/// reported: far beyond any IAM throttling episode, so that a run adapts
/// rather than gives up, but not forever.
pub const THROTTLE_PATIENCE: Duration = Duration::from_secs(600);

/// The span over which accepted writes are counted for the first estimate.
const WINDOW: Duration = Duration::from_secs(2);
/// The shortest span a rate is measured over while IAM keeps throttling.
const MINIMUM_SPAN: Duration = Duration::from_millis(250);
/// How far above the measured rate writes are sent after a throttle.
const HEADROOM: f64 = 1.2;
/// How long without a throttle before the rate is raised, and by how much.
const QUIET: Duration = Duration::from_secs(1);
const RAISE: f64 = 1.5;
/// Slowest pace (writes per second): IAM always admits some.
const MINIMUM_RATE: f64 = 0.5;
/// Above this pace (writes per second) writes are no longer spaced at all.
const UNPACED_ABOVE: f64 = 2000.0;

/// The pace of one account's writes.
#[derive(Debug)]
pub struct WriteLimiter {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Writes per second, or `None` while IAM has not throttled (unpaced).
    rate: Option<f64>,
    /// When the next write may go.
    next_turn: Instant,
    /// When writes were accepted, within the last [`WINDOW`].
    accepted: VecDeque<Instant>,
    created: Instant,
    /// Since when IAM's bucket has been seen empty (a throttle), and how
    /// many writes it accepted since: those took refilled tokens only.
    empty_since: Option<Instant>,
    accepted_since_empty: u64,
    last_throttle: Option<Instant>,
    last_raise: Option<Instant>,
    throttles: u64,
}

impl Default for WriteLimiter {
    fn default() -> Self {
        WriteLimiter::new(Instant::now())
    }
}

impl WriteLimiter {
    /// A limiter that has not seen a throttle yet (writes go unpaced).
    pub fn new(now: Instant) -> Self {
        WriteLimiter {
            state: Mutex::new(State {
                rate: None,
                next_turn: now,
                accepted: VecDeque::new(),
                created: now,
                empty_since: None,
                accepted_since_empty: 0,
                last_throttle: None,
                last_raise: None,
                throttles: 0,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain numbers behind: keep using them.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for the next turn of a write.
    pub async fn turn(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Reserves the next turn; how long to wait for it from `now`.
    pub fn reserve(&self, now: Instant) -> Duration {
        let mut state = self.state();
        let Some(rate) = state.rate else {
            return Duration::ZERO;
        };
        let turn = state.next_turn.max(now);
        state.next_turn = turn + Duration::from_secs_f64(1.0 / rate);
        turn - now
    }

    /// IAM answered a write (anything but a throttle): it took a token.
    pub fn accepted(&self, now: Instant) {
        let mut state = self.state();
        state.accepted.push_back(now);
        while state
            .accepted
            .front()
            .is_some_and(|at| now.duration_since(*at) > WINDOW)
        {
            state.accepted.pop_front();
        }
        state.accepted_since_empty += 1;
        let Some(rate) = state.rate else { return };
        let quiet_since = [state.last_throttle, state.last_raise]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(state.created);
        if now.duration_since(quiet_since) >= QUIET {
            // IAM may allow more now; its bucket may have refilled meanwhile,
            // so the next throttle starts a new measurement.
            let raised = rate * RAISE;
            state.rate = (raised <= UNPACED_ABOVE).then_some(raised);
            state.last_raise = Some(now);
            state.empty_since = None;
        }
    }

    /// IAM answered a write `Throttling`: its bucket is empty. Between two
    /// throttles it admitted exactly its refill, so what it accepted over
    /// that span is its rate: pace writes a little above it. The first
    /// throttle of a run has no such span yet; the pace then starts from
    /// what was accepted lately (an overestimate, burst included), corrected
    /// at the next throttle.
    pub fn throttled(&self, now: Instant) {
        let mut state = self.state();
        state.throttles += 1;
        state.last_throttle = Some(now);
        let Some(since) = state.empty_since else {
            state.empty_since = Some(now);
            state.accepted_since_empty = 0;
            if state.rate.is_none() {
                let span = now
                    .duration_since(state.created)
                    .clamp(Duration::from_millis(100), WINDOW);
                let recent = state
                    .accepted
                    .iter()
                    .filter(|at| now.duration_since(**at) <= span)
                    .count();
                state.rate = Some(pace_for(recent as f64 / span.as_secs_f64()));
            }
            return;
        };
        let span = now.duration_since(since);
        // Writes in flight when the bucket ran dry come back throttled
        // together and say nothing new: measure over a span long enough.
        if span < MINIMUM_SPAN || (state.accepted_since_empty == 0 && span < WINDOW) {
            return;
        }
        let measured = state.accepted_since_empty as f64 / span.as_secs_f64();
        let target = pace_for(measured);
        state.rate = Some(state.rate.map_or(target, |rate| rate.min(target)));
        state.empty_since = Some(now);
        state.accepted_since_empty = 0;
    }

    /// The current pace in writes per second (`None`: unpaced).
    pub fn rate(&self) -> Option<f64> {
        self.state().rate
    }

    /// How many throttles this limiter has seen.
    pub fn throttles(&self) -> u64 {
        self.state().throttles
    }
}

/// The pace for a measured rate IAM admits.
fn pace_for(measured: f64) -> f64 {
    (measured * HEADROOM).max(MINIMUM_RATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer loop against a simulated IAM token bucket: `writes` writes,
    /// `parallel` at once, each answered after `latency`; returns the time
    /// the last one was accepted and how many throttles there were.
    fn simulate(rate: f64, burst: f64, writes: usize, parallel: usize) -> (Duration, u64) {
        let latency = Duration::from_millis(10);
        let start = Instant::now();
        let limiter = WriteLimiter::new(start);
        let mut tokens = burst;
        let mut refilled_at = start;
        // Each writer: the time its current write is sent.
        let mut writers: Vec<Instant> = vec![start; parallel];
        let mut done = 0;
        let mut last = start;
        while done < writes {
            // The writer that goes first.
            let (index, _) = writers
                .iter()
                .enumerate()
                .min_by_key(|(_, at)| **at)
                .expect("writers");
            let ready = writers[index];
            let sent = ready + limiter.reserve(ready);
            let answered = sent + latency;
            tokens = (tokens + (sent - refilled_at).as_secs_f64() * rate).min(burst);
            refilled_at = sent;
            if tokens >= 1.0 {
                tokens -= 1.0;
                limiter.accepted(answered);
                done += 1;
                last = answered;
            } else {
                limiter.throttled(answered);
            }
            writers[index] = answered;
        }
        (last - start, limiter.throttles())
    }

    #[test]
    fn finishes_close_to_the_bucket_rate() {
        for (rate, burst, writes) in [
            (2.0, 5.0, 80),
            (5.0, 5.0, 200),
            (10.0, 10.0, 400),
            (20.0, 20.0, 200),
            (50.0, 50.0, 2000),
            (100.0, 40.0, 3000),
        ] {
            let (took, throttles) = simulate(rate, burst, writes, 8);
            let ideal = (writes as f64 - burst) / rate;
            let ratio = took.as_secs_f64() / ideal;
            eprintln!(
                "SIM rate {rate} burst {burst} writes {writes}: {ratio:.3} throttles {throttles}"
            );
            assert!(
                ratio < 1.3,
                "rate {rate}/s, burst {burst}, {writes} writes: {:.1} s against {ideal:.1} s ({ratio:.2}x), {throttles} throttles",
                took.as_secs_f64()
            );
        }
    }

    #[test]
    fn stays_unpaced_without_throttles_and_recovers_after_them() {
        let start = Instant::now();
        let limiter = WriteLimiter::new(start);
        assert_eq!(limiter.reserve(start), Duration::ZERO);
        limiter.accepted(start);
        limiter.throttled(start + Duration::from_millis(500));
        let paced = limiter.rate().expect("paced after a throttle");
        assert!(paced >= MINIMUM_RATE);
        // A long quiet stretch of accepted writes raises the pace until it is unpaced again.
        let mut now = start + Duration::from_secs(1);
        for _ in 0..200 {
            now += Duration::from_secs(1);
            limiter.accepted(now);
        }
        assert_eq!(limiter.rate(), None);
    }

    #[test]
    fn throttles_in_one_window_cut_once() {
        let start = Instant::now();
        let limiter = WriteLimiter::new(start);
        for i in 0..40 {
            limiter.accepted(start + Duration::from_millis(10 * i));
        }
        let at = start + Duration::from_millis(500);
        limiter.throttled(at);
        let first = limiter.rate().expect("paced");
        for _ in 0..7 {
            limiter.throttled(at + Duration::from_millis(5));
        }
        assert_eq!(limiter.rate(), Some(first));
        assert_eq!(limiter.throttles(), 8);
    }
}
