//! Services that act: a session reads the manifests and each account and
//! plans; the executor applies a plan through a live backend; rotation and
//! apply's trust changes run under leases taken a batch at a time.

pub(crate) mod checks;
pub mod context;
pub mod executor;
pub mod functions;
pub mod import;
pub mod lease;
pub mod rotate;
pub mod segment;
pub mod session;

/// Roles worked on at once per account when a command has no
/// `--parallelism` (and its default where it has one).
pub const DEFAULT_PARALLELISM: u16 = 8;

#[cfg(test)]
mod executor_tests;
#[cfg(test)]
pub(crate) mod external_id_table_tests;
#[cfg(test)]
mod lease_tests;
#[cfg(test)]
mod session_tests;
