//! The system's clock: the one place fnctl reads the wall clock, handed to
//! the services through the run context.

use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;

use crate::live::clock::Clock;

/// The operating system's clock and tokio's timer: what real runs use.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}
