//! Services that act: a session reads the manifests and each account and
//! plans; the executor applies a plan through a live backend; rotation and
//! apply's trust changes run under a lease.

pub mod executor;
pub mod lease;
pub mod segment;
pub mod session;

#[cfg(test)]
mod executor_tests;
#[cfg(test)]
mod lease_tests;
