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
//! raised again while writes wait for turns and IAM stops throttling. A
//! throttled write is sent again at its next turn, as often as it takes
//! within [`THROTTLE_PATIENCE`]. Turns are not reserved ahead: a writer
//! asks again when its wait is over, so a changed pace applies at once.

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
/// The pace after the first throttle when no write has been answered yet
/// (the answers to a burst may come after the first refusals); corrected at
/// the next throttle or raised while IAM stops throttling.
const FIRST_GUESS: f64 = 10.0;
/// Longest a writer sleeps before asking for its turn again.
const POLL: Duration = Duration::from_millis(200);
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
    /// When a writer last had to wait for its turn.
    last_wait: Option<Instant>,
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
    pub(crate) fn new(now: Instant) -> Self {
        WriteLimiter {
            state: Mutex::new(State {
                rate: None,
                next_turn: now,
                last_wait: None,
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
    pub(crate) async fn turn(&self) {
        loop {
            let wait = self.take_turn(Instant::now());
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait.min(POLL)).await;
        }
    }

    /// Takes the turn if it has come (zero), else says how long until it
    /// comes; nothing is reserved then.
    pub(crate) fn take_turn(&self, now: Instant) -> Duration {
        let mut state = self.state();
        let Some(rate) = state.rate else {
            return Duration::ZERO;
        };
        if state.next_turn > now {
            state.last_wait = Some(now);
            return state.next_turn - now;
        }
        state.next_turn = now + Duration::from_secs_f64(1.0 / rate);
        Duration::ZERO
    }

    /// IAM answered a write (anything but a throttle): it took a token.
    pub(crate) fn accepted(&self, now: Instant) {
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
        // Raised only while the pace is what holds writes back.
        let waited = state
            .last_wait
            .is_some_and(|at| now.duration_since(at) < QUIET);
        if waited && now.duration_since(quiet_since) >= QUIET {
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
    pub(crate) fn throttled(&self, now: Instant) {
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
                state.rate = Some(if recent == 0 {
                    FIRST_GUESS
                } else {
                    pace_for(recent as f64 / span.as_secs_f64())
                });
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
    pub(crate) fn rate(&self) -> Option<f64> {
        self.state().rate
    }

    /// How many throttles this limiter has seen.
    #[cfg(test)]
    pub(crate) fn throttles(&self) -> u64 {
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

    /// Writers against a simulated IAM token bucket: `writes` writes,
    /// `parallel` at once, an accepted one answered after 10 ms, a throttled
    /// one after 1 ms (so refusals overtake the answers to the burst);
    /// returns when the last write was accepted and how many throttles
    /// there were.
    fn simulate(rate: f64, burst: f64, writes: usize, parallel: usize) -> (Duration, u64) {
        let accepted_after = Duration::from_millis(10);
        let refused_after = Duration::from_millis(1);
        let start = Instant::now();
        let limiter = WriteLimiter::new(start);
        let mut tokens = burst;
        let mut refilled_at = start;
        // Per writer: when it next asks for a turn, or the answer it awaits.
        let mut ready: Vec<Option<Instant>> = vec![Some(start); parallel.min(writes)];
        let mut awaiting: Vec<Option<(Instant, bool)>> = vec![None; ready.len()];
        let mut unsent = writes - ready.len();
        let mut done = 0;
        let mut last = start;
        while done < writes {
            let next_ready = ready
                .iter()
                .enumerate()
                .filter_map(|(i, at)| at.map(|at| (at, i)))
                .min();
            let next_answer = awaiting
                .iter()
                .enumerate()
                .filter_map(|(i, a)| a.map(|(at, _)| (at, i)))
                .min();
            match (next_ready, next_answer) {
                (_, Some((at, i))) if next_ready.is_none_or(|(r, _)| at <= r) => {
                    let (_, accepted) = awaiting[i].take().expect("an answer");
                    if accepted {
                        limiter.accepted(at);
                        done += 1;
                        last = at;
                        if unsent > 0 {
                            unsent -= 1;
                            ready[i] = Some(at);
                        }
                    } else {
                        limiter.throttled(at);
                        ready[i] = Some(at);
                    }
                }
                (Some((now, i)), _) => {
                    let wait = limiter.take_turn(now);
                    if !wait.is_zero() {
                        ready[i] = Some(now + wait.min(POLL));
                        continue;
                    }
                    ready[i] = None;
                    tokens = (tokens + (now - refilled_at).as_secs_f64() * rate).min(burst);
                    refilled_at = now;
                    awaiting[i] = Some(if tokens >= 1.0 {
                        tokens -= 1.0;
                        (now + accepted_after, true)
                    } else {
                        (now + refused_after, false)
                    });
                }
                _ => unreachable!("writes left but nobody writing"),
            }
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
            for parallel in [8, 32] {
                let (took, throttles) = simulate(rate, burst, writes, parallel);
                let ideal = (writes as f64 - burst) / rate;
                let ratio = took.as_secs_f64() / ideal;
                assert!(
                    ratio < 1.3,
                    "{parallel} writers, rate {rate}/s, burst {burst}, {writes} writes: {:.1} s against {ideal:.1} s ({ratio:.2}x), {throttles} throttles",
                    took.as_secs_f64()
                );
            }
        }
    }

    #[test]
    fn stays_unpaced_without_throttles_and_recovers_after_them() {
        let start = Instant::now();
        let limiter = WriteLimiter::new(start);
        assert_eq!(limiter.take_turn(start), Duration::ZERO);
        limiter.accepted(start);
        limiter.throttled(start + Duration::from_millis(500));
        let paced = limiter.rate().expect("paced after a throttle");
        assert!(paced >= MINIMUM_RATE);
        // Accepted writes without waiting for turns say nothing about a higher rate.
        let mut now = start + Duration::from_secs(10);
        limiter.accepted(now);
        assert_eq!(limiter.rate(), Some(paced));
        // Writes that wait for turns and are accepted, throttle-free, raise
        // the pace until writes are unpaced again.
        for _ in 0..200 {
            now += Duration::from_secs(1);
            let _ = limiter.take_turn(now);
            let _ = limiter.take_turn(now);
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
