//! The wall clock behind a trait, so that services read the time and wait
//! through the run context and a test can step time instead of sleeping.
//! Lease expiries, rotation ages and Segment's rate-limit windows are all
//! wall-clock times: one clock serves them all. The CLI supplies the
//! system's clock; tests supply a `SteppedClock`.

use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;

/// The time now, and waiting.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// Waits for `duration` (a stepped clock moves its time on instead).
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

#[cfg(test)]
pub use stepped::SteppedClock;

#[cfg(test)]
mod stepped {
    use std::time::{Duration, SystemTime};

    use futures::future::BoxFuture;

    use super::Clock;

    /// A clock for tests: it starts at a fixed time and moves only when told,
    /// or when something sleeps on it (a sleep returns at once, the clock
    /// having moved on by the time slept), so a run that waits minutes for
    /// leases or a rotation's minimum age takes milliseconds.
    #[derive(Debug)]
    pub struct SteppedClock {
        now: std::sync::Mutex<SystemTime>,
    }

    impl SteppedClock {
        /// A clock showing `start`.
        pub(crate) fn at(start: SystemTime) -> Self {
            SteppedClock {
                now: std::sync::Mutex::new(start),
            }
        }

        /// A clock showing an RFC 3339 time such as `2026-06-01T00:00:00Z`.
        pub(crate) fn at_rfc3339(start: &str) -> Self {
            SteppedClock::at(humantime::parse_rfc3339(start).expect("an RFC 3339 time"))
        }

        /// A clock showing the time the test runs at, for as long as the test
        /// needs it (lease batches borrow their clock).
        pub(crate) fn leaked_at_now() -> &'static SteppedClock {
            Box::leak(Box::new(SteppedClock::at(std::time::SystemTime::now())))
        }

        /// Moves the clock on by `duration`.
        pub(crate) fn advance(&self, duration: Duration) {
            *self.now.lock().unwrap() += duration;
        }
    }

    impl Clock for SteppedClock {
        fn now(&self) -> SystemTime {
            *self.now.lock().unwrap()
        }

        fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
            self.advance(duration);
            Box::pin(tokio::task::yield_now())
        }
    }
}
