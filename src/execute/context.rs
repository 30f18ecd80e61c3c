//! The run context: what a service needs from outside the process (the
//! accounts and their IAM, Segment, the clock, the timings of leases and
//! retries, how many roles are worked on at once), resolved once by the CLI
//! from the command line and the environment, and built by tests over IAM
//! and Segment in memory and a stepped clock. Nothing below the
//! CLI reads an environment variable or the wall clock: both arrive here.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::lease;
use crate::live::accounts::{AccountAccess, NoAccounts};
use crate::live::clock::Clock;
use crate::live::segment::SegmentBackend;
use crate::live::segment_functions::FunctionsBackend;

/// How long fnctl waits, where waiting is part of the protocol.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// Role leases: their length, IAM's settle time, patience with other runs.
    pub lease: lease::Timing,
    /// The first wait before retrying a role IAM does not know yet right
    /// after creating it (it doubles, up to 8 s).
    pub consistency_wait: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            lease: lease::Timing::default(),
            consistency_wait: Duration::from_millis(250),
        }
    }
}

/// Everything a run shares: built once, passed to every service.
#[derive(Clone)]
pub struct RunContext {
    /// The wall clock (a stepped one in tests).
    pub clock: Arc<dyn Clock>,
    /// Lease and retry timings.
    pub timings: Timings,
    /// Roles worked on at once per account.
    pub parallelism: usize,
    /// Segment's Public API, when some instance names a Segment counterpart.
    pub segment: Option<Arc<dyn SegmentBackend>>,
    /// Segment's functions and their instances, when the manifests declare functions.
    pub functions: Option<Arc<dyn FunctionsBackend>>,
    /// How the run reaches its accounts and their IAM.
    pub accounts: Arc<dyn AccountAccess>,
    /// Only these accounts are reconciled, when any are named (`--account`).
    pub selection: Vec<String>,
}

impl RunContext {
    /// A context with `clock` and `timings`.
    pub(crate) fn new(clock: Arc<dyn Clock>, timings: Timings, parallelism: usize) -> Self {
        RunContext {
            clock,
            timings,
            parallelism: parallelism.max(1),
            segment: None,
            functions: None,
            accounts: Arc::new(NoAccounts),
            selection: Vec::new(),
        }
    }

    /// The same context reaching accounts through `accounts`, keeping only
    /// those `selection` names (all when it is empty).
    pub(crate) fn with_accounts(
        self,
        accounts: Arc<dyn AccountAccess>,
        selection: Vec<String>,
    ) -> Self {
        RunContext {
            accounts,
            selection,
            ..self
        }
    }

    /// The same context delivering settings through `segment`.
    pub(crate) fn with_segment(self, segment: Option<Arc<dyn SegmentBackend>>) -> Self {
        RunContext { segment, ..self }
    }

    /// The same context creating functions and instances through `functions`.
    pub(crate) fn with_functions(self, functions: Option<Arc<dyn FunctionsBackend>>) -> Self {
        RunContext { functions, ..self }
    }

    /// The functions backend, when the run has one.
    pub(crate) fn functions(&self) -> Option<&dyn FunctionsBackend> {
        self.functions.as_deref()
    }

    /// The Segment backend, when the run has one.
    pub(crate) fn segment(&self) -> Option<&dyn SegmentBackend> {
        self.segment.as_deref()
    }

    /// The time now, by the run's clock.
    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// A lease batch of this run with `writes_per_role` writes per role.
    pub(crate) fn lease_batch(&self, writes_per_role: usize) -> lease::Batch<'_> {
        lease::Batch {
            parallelism: self.parallelism,
            writes_per_role,
            timing: self.timings.lease,
            clock: self.clock.as_ref(),
        }
    }
}
