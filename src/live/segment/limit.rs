//! One pace for all of a run's requests to a Segment workspace. Segment
//! counts requests in windows and tells, on its answers, how many are left
//! (`X-RateLimit-Remaining`) and when the next window begins
//! (`X-RateLimit-Reset`), and on a 429 how long to wait (`msBeforeNext`).
//! The limiter keeps that for the whole run (one client, one limiter, shared
//! by concurrent requests): no request goes into a window known to be
//! spent, the first request after a window ends goes alone (a probe, in case
//! the reset was rounded down), and a run whose requests the limit holds
//! back for [`PATIENCE`] with none getting through (or asks to wait longer)
//! ends with an error instead of waiting on.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::live::clock::Clock;

/// How long fnctl waits for the rate limit to let any request through
/// before it gives up: five of Segment's one-minute windows.
pub const PATIENCE: Duration = Duration::from_secs(300);

/// Resets closer than this name the same window (they are whole seconds).
const SAME_WINDOW: Duration = Duration::from_secs(1);

/// A clock difference with Segment's below this is taken as none: `Date` is
/// whole seconds too.
const SKEW_IGNORED: Duration = Duration::from_secs(2);

/// What one answer said of the rate limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Said {
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Consumed`.
    pub consumed: Option<u64>,
    /// `X-RateLimit-Reset`, by Segment's clock.
    pub reset: Option<SystemTime>,
    /// `Date`: Segment's clock when it answered.
    pub date: Option<SystemTime>,
    /// A 429's `msBeforeNext`.
    pub wait: Option<Duration>,
}

/// Why the limiter stopped waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stalled {
    /// How long Segment still asked to wait, when it said.
    pub asked: Option<Duration>,
    /// Requests per window, when Segment's headers told it.
    pub limit: Option<u64>,
}

impl std::fmt::Display for Stalled {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let limit = match self.limit {
            Some(limit) => format!(" ({limit} requests a window)"),
            None => String::new(),
        };
        let patience = humantime::format_duration(PATIENCE);
        match self.asked {
            Some(asked) => write!(
                formatter,
                "Segment's rate limit on this workspace's Public API{limit} asks for a wait of {}, \
                 longer than fnctl waits without progress ({patience})",
                humantime::format_duration(Duration::from_secs(asked.as_secs_f64().ceil() as u64))
            ),
            None => write!(
                formatter,
                "Segment's rate limit on this workspace's Public API{limit} let no request \
                 through for {patience}; fnctl stopped waiting"
            ),
        }
    }
}

/// The run's pace: see the module's documentation.
#[derive(Debug, Default)]
pub struct Limiter {
    state: Mutex<State>,
    changed: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct State {
    /// When the current window ends, by the run's clock.
    end: Option<SystemTime>,
    /// Requests left in it, as far as known (those sent already taken off).
    remaining: Option<u64>,
    /// Requests a window, once an answer has told.
    limit: Option<u64>,
    in_flight: u64,
    /// A window ended and no answer has shown the next one yet.
    probing: bool,
    /// Since when the limit has held requests back (or refused them) with
    /// none getting through; `None` while requests go. Time the run spends
    /// elsewhere (IAM's writes between two reads of Segment) is not waiting.
    held_since: Option<SystemTime>,
    /// Segment's clock minus the run's, when it differs by more than
    /// [`SKEW_IGNORED`]; in whole milliseconds, either sign.
    skew_millis: Option<i128>,
}

/// What a request asking to go should do now.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Send,
    /// Wait until the window ends.
    Until(SystemTime),
    /// Wait for an answer in flight.
    Answer,
    Stalled(Stalled),
}

impl State {
    fn decide(&mut self, now: SystemTime) -> Decision {
        if self.end.is_some_and(|end| now >= end) {
            self.end = None;
            self.remaining = self.limit;
            self.probing = true;
        }
        if self.held_since.is_some_and(|since| now >= since + PATIENCE) {
            return Decision::Stalled(Stalled {
                asked: None,
                limit: self.limit,
            });
        }
        let decision = match (self.remaining, self.end) {
            _ if self.probing && self.in_flight > 0 => Decision::Answer,
            (Some(0), Some(end)) => Decision::Until(end),
            (Some(0), None) if self.in_flight > 0 => Decision::Answer,
            (remaining, _) => {
                // Spent with no end known: one request goes and finds out.
                self.remaining = remaining.map(|r| r.saturating_sub(1));
                self.in_flight += 1;
                return Decision::Send;
            }
        };
        let since = *self.held_since.get_or_insert(now);
        match decision {
            Decision::Until(end) if end > since + PATIENCE => Decision::Stalled(Stalled {
                asked: end.duration_since(now).ok(),
                limit: self.limit,
            }),
            decision => decision,
        }
    }

    fn answered(&mut self, now: SystemTime, status: u16, said: Said) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let reset = said.reset.map(|reset| self.local(now, said.date, reset));
        if status == 429 {
            self.held_since.get_or_insert(now);
            let end = said
                .wait
                .map(|wait| now + wait)
                .or(reset.filter(|reset| *reset > now))
                .unwrap_or(now + Duration::from_secs(1));
            // The 429's own word wins over what earlier answers said.
            self.end = Some(end);
            self.remaining = Some(0);
            self.probing = false;
            return;
        }
        self.held_since = None;
        self.probing = false;
        let (Some(reset), Some(remaining)) = (reset, said.remaining) else {
            return;
        };
        if reset <= now {
            // An answer from a window that is over.
            return;
        }
        if let Some(consumed) = said.consumed {
            self.limit = Some(consumed + remaining);
        }
        // Requests still in flight may not be counted in `remaining` yet.
        let left = remaining.saturating_sub(self.in_flight);
        match self.end {
            Some(end) if reset <= end + SAME_WINDOW => {
                self.remaining = Some(self.remaining.map_or(left, |known| known.min(left)));
            }
            // The window this run waited out: what was sent since it ended
            // is already taken off the limit.
            None => {
                self.end = Some(reset);
                self.remaining = Some(self.remaining.map_or(left, |known| known.min(left)));
            }
            // A later window than the one this run knew of.
            Some(_) => {
                self.end = Some(reset);
                self.remaining = Some(left);
            }
        }
    }

    /// `reset` (Segment's clock) by the run's clock: the first answer with
    /// a `Date` tells how far apart the two are.
    fn local(
        &mut self,
        now: SystemTime,
        date: Option<SystemTime>,
        reset: SystemTime,
    ) -> SystemTime {
        if self.skew_millis.is_none() {
            if let Some(date) = date {
                let skew = millis(date) - millis(now);
                let ignored = SKEW_IGNORED.as_millis() as i128;
                self.skew_millis = Some(if skew.abs() > ignored { skew } else { 0 });
            }
        }
        let skew = self.skew_millis.unwrap_or(0);
        let shifted = millis(reset) - skew;
        SystemTime::UNIX_EPOCH + Duration::from_millis(shifted.max(0) as u64)
    }
}

fn millis(time: SystemTime) -> i128 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => after.as_millis() as i128,
        Err(before) => -(before.duration().as_millis() as i128),
    }
}

/// Leave to send one request; it must report its answer.
pub struct Permit<'a> {
    limiter: &'a Limiter,
    clock: &'a dyn Clock,
    answered: bool,
}

impl Permit<'_> {
    /// Reports the answer's status and what it said of the limit.
    pub(crate) fn answered(mut self, status: u16, said: Said) {
        self.answered = true;
        let now = self.clock.now();
        self.limiter
            .state
            .lock()
            .unwrap()
            .answered(now, status, said);
        self.limiter.changed.notify_waiters();
    }
}

impl Drop for Permit<'_> {
    /// A request with no answer (no connection) frees its place.
    fn drop(&mut self) {
        if !self.answered {
            let mut state = self.limiter.state.lock().unwrap();
            state.in_flight = state.in_flight.saturating_sub(1);
            state.probing = false;
            drop(state);
            self.limiter.changed.notify_waiters();
        }
    }
}

impl Limiter {
    /// Waits until a request may go; an error when the limit has let
    /// nothing through for [`PATIENCE`] or asks for a longer wait.
    pub(crate) async fn admit<'a>(&'a self, clock: &'a dyn Clock) -> Result<Permit<'a>, Stalled> {
        loop {
            let answered = self.changed.notified();
            let now = clock.now();
            let decision = self.state.lock().unwrap().decide(now);
            match decision {
                Decision::Send => {
                    return Ok(Permit {
                        limiter: self,
                        clock,
                        answered: false,
                    })
                }
                Decision::Until(end) => {
                    let wait = end.duration_since(now).unwrap_or_default();
                    log::info!(
                        "Segment's rate-limit window is spent; waiting {} ms for the next",
                        wait.as_millis()
                    );
                    clock.sleep(wait).await;
                }
                Decision::Answer => {
                    tokio::select! {
                        _ = answered => {}
                        _ = clock.sleep(Duration::from_secs(1)) => {}
                    }
                }
                Decision::Stalled(stalled) => return Err(stalled),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + seconds)
    }

    fn ok(remaining: u64, consumed: u64, reset: SystemTime) -> Said {
        Said {
            remaining: Some(remaining),
            consumed: Some(consumed),
            reset: Some(reset),
            date: None,
            wait: None,
        }
    }

    /// Sends as many requests as the state lets go at `now`.
    fn send_all(state: &mut State, now: SystemTime, most: usize) -> usize {
        (0..most)
            .take_while(|_| state.decide(now) == Decision::Send)
            .count()
    }

    #[test]
    fn a_spent_window_is_waited_out_and_the_next_begins_with_one_request() {
        let mut state = State::default();
        // Nothing known: requests go.
        assert_eq!(send_all(&mut state, at(0), 3), 3);
        // Segment: 5 left of 8, the window ends at 10 s.
        for _ in 0..3 {
            state.answered(at(0), 200, ok(5 + 2, 1, at(10)));
        }
        assert_eq!(state.limit, Some(8));
        assert_eq!(send_all(&mut state, at(1), 100), 5, "five more, not one");
        assert_eq!(state.decide(at(2)), Decision::Until(at(10)));
        for _ in 0..5 {
            state.answered(at(2), 200, ok(0, 8, at(10)));
        }
        assert_eq!(state.decide(at(9)), Decision::Until(at(10)));
        // The window over: one request alone until its answer shows the next.
        assert_eq!(state.decide(at(10)), Decision::Send);
        assert_eq!(state.decide(at(10)), Decision::Answer);
        state.answered(at(10), 200, ok(7, 1, at(20)));
        assert_eq!(send_all(&mut state, at(10), 100), 7);
        assert_eq!(state.decide(at(11)), Decision::Until(at(20)));
    }

    #[test]
    fn a_429_sets_the_wait_it_names_and_takes_nothing_from_patience() {
        let mut state = State::default();
        assert_eq!(state.decide(at(0)), Decision::Send);
        let refused = Said {
            wait: Some(Duration::from_millis(1500)),
            ..Said::default()
        };
        state.answered(at(0), 429, refused);
        let end = at(0) + Duration::from_millis(1500);
        assert_eq!(state.decide(at(1)), Decision::Until(end));
        assert_eq!(state.decide(end), Decision::Send, "a probe");
        // Refused again and again, but never stalled while within patience.
        let mut now = end;
        while now < at(0) + PATIENCE - Duration::from_secs(60) {
            state.answered(
                now,
                429,
                Said {
                    wait: Some(Duration::from_secs(59)),
                    ..Said::default()
                },
            );
            now += Duration::from_secs(59);
            assert_eq!(state.decide(now), Decision::Send);
        }
        state.answered(now, 200, Said::default());
        assert_eq!(state.held_since, None, "an answer is progress");
    }

    #[test]
    fn no_progress_for_the_patience_or_a_longer_wait_is_an_error_naming_the_limit() {
        let mut state = State::default();
        assert_eq!(state.decide(at(0)), Decision::Send);
        state.answered(at(0), 200, ok(0, 100, at(60)));
        assert_eq!(state.decide(at(1)), Decision::Until(at(60)));
        assert_eq!(state.decide(at(60)), Decision::Send);
        state.answered(
            at(60),
            429,
            Said {
                wait: Some(Duration::from_secs(3600)),
                ..Said::default()
            },
        );
        let Decision::Stalled(stalled) = state.decide(at(61)) else {
            panic!("a wait of an hour is beyond patience");
        };
        assert_eq!(stalled.limit, Some(100));
        let message = stalled.to_string();
        assert!(
            message.contains("rate limit")
                && message.contains("100 requests a window")
                && message.contains("59m 59s")
                && message.contains("5m"),
            "{message}"
        );
        let mut state = State::default();
        assert_eq!(state.decide(at(0)), Decision::Send);
        state.answered(at(0), 429, Said::default());
        let mut now = at(0);
        let stalled = loop {
            now += Duration::from_secs(1);
            match state.decide(now) {
                Decision::Send => state.answered(now, 429, Said::default()),
                Decision::Stalled(stalled) => break stalled,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(now, at(0) + PATIENCE);
        assert!(stalled
            .to_string()
            .contains("let no request through for 5m"));
    }

    #[test]
    fn time_spent_elsewhere_is_not_waiting() {
        let mut state = State::default();
        assert_eq!(state.decide(at(0)), Decision::Send);
        state.answered(at(0), 200, ok(5, 5, at(60)));
        // Ten minutes of IAM work later, Segment is asked again: it goes.
        assert_eq!(state.decide(at(600)), Decision::Send);
        // A window spent just now, with its end a minute away: waited for.
        state.answered(at(600), 200, ok(0, 10, at(660)));
        assert_eq!(state.decide(at(601)), Decision::Until(at(660)));
    }

    #[test]
    fn answers_in_flight_and_from_an_old_window_do_not_overspend() {
        let mut state = State::default();
        assert_eq!(send_all(&mut state, at(0), 8), 8);
        // The first answer: 92 left, but seven others are still in flight.
        state.answered(at(0), 200, ok(92, 8, at(10)));
        assert_eq!(state.remaining, Some(85));
        // A late answer of the same window that saw more left changes nothing.
        state.answered(at(0), 200, ok(99, 1, at(10)));
        assert_eq!(state.remaining, Some(85));
        // An answer from a window that is over is ignored.
        state.answered(at(11), 200, ok(50, 50, at(10)));
        assert_eq!(state.end, Some(at(10)));
        // Segment moved to a later window than the run knew of.
        assert_eq!(state.decide(at(5)), Decision::Send);
        state.answered(at(5), 200, ok(30, 70, at(30)));
        // 30 left there, less the five still in flight.
        assert_eq!((state.end, state.remaining), (Some(at(30)), Some(25)));
    }

    #[test]
    fn a_reset_by_a_clock_far_off_is_read_by_the_run_clock() {
        let mut state = State::default();
        assert_eq!(state.decide(at(0)), Decision::Send);
        // Segment's clock is an hour ahead: its reset at +10 s is ours at +10 s.
        let mut said = ok(0, 10, at(3610));
        said.date = Some(at(3600));
        state.answered(at(0), 200, said);
        assert_eq!(state.decide(at(1)), Decision::Until(at(10)));
        // A second's difference is rounding, not skew.
        let mut state = State::default();
        assert_eq!(state.decide(at(0)), Decision::Send);
        let mut said = ok(0, 10, at(10));
        said.date = Some(at(1));
        state.answered(at(0), 200, said);
        assert_eq!(state.decide(at(1)), Decision::Until(at(10)));
    }

    #[tokio::test]
    async fn concurrent_requests_share_the_window() {
        use crate::live::clock::SteppedClock;
        let clock = SteppedClock::at(at(0));
        let limiter = Limiter::default();
        let first = limiter.admit(&clock).await.unwrap();
        first.answered(200, ok(2, 8, at(10)));
        let (a, b) = (
            limiter.admit(&clock).await.unwrap(),
            limiter.admit(&clock).await.unwrap(),
        );
        a.answered(200, ok(0, 10, at(10)));
        drop(b);
        // The window is spent: the next request waits (the stepped clock
        // moves on as it sleeps) until 10 s.
        let next = limiter.admit(&clock).await.unwrap();
        assert_eq!(clock.now(), at(10));
        next.answered(200, ok(9, 1, at(20)));
    }
}
