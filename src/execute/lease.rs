//! A lease lock on one role, kept in the role's own tag `fnctl:lock`, so two
//! rotations of the same role never interleave. IAM has no compare-and-swap,
//! so the lock is taken by writing a lease with a unique owner, waiting for
//! IAM to settle, and reading it back: whoever's lease is still there holds
//! the lock; the other waits. A lease expires, so a killed run never blocks
//! the role for long.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::live::{IamBackend, IamError};
use crate::model::operation::Operation;
use crate::model::tags;
use crate::model::LiveRole;

/// How long a lease lasts: a rotation of one role takes seconds, and a run
/// killed while holding it blocks the role no longer than this.
/// `FNCTL_LOCK_LEASE_SECONDS` changes it (tests that kill runs shorten it).
pub fn lease() -> Duration {
    Duration::from_secs(
        std::env::var("FNCTL_LOCK_LEASE_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
    )
}

/// How long to wait for a held lock before giving up: one lease and a margin.
fn patience() -> Duration {
    lease() + Duration::from_secs(30)
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds it.
    #[error("another fnctl run holds the lock on role {role} (lease `{lease}`); try again later")]
    Held { role: String, lease: String },
    /// The role is gone.
    #[error("role {0} does not exist")]
    NoRole(String),
    /// IAM failed.
    #[error(transparent)]
    Iam(#[from] IamError),
}

/// A held lease.
#[derive(Debug, Clone)]
pub struct Lease {
    role: String,
    value: String,
}

/// Time IAM gets to settle between writing the lease and reading it back.
/// `FNCTL_LOCK_SETTLE_MS` shortens it for tests against a local endpoint.
fn settle() -> Duration {
    std::env::var("FNCTL_LOCK_SETTLE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_millis(1500))
}

fn expiry_of(value: &str) -> Option<SystemTime> {
    value
        .split(' ')
        .nth(1)
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
}

fn held_by_other(role: &LiveRole, mine: &str, now: SystemTime) -> Option<String> {
    let value = role.tags.get(tags::LOCK)?;
    if value == mine {
        return None;
    }
    let live = expiry_of(value).is_some_and(|expiry| expiry > now);
    live.then(|| value.clone())
}

/// How long the lock's waits last. Commands use [`Timing::configured`];
/// in-process tests pass short ones rather than set the process environment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// How long a lease lasts ([`lease`]).
    pub(crate) lease: Duration,
    /// How long to wait for a held lock before giving up.
    pub(crate) patience: Duration,
    /// Time IAM gets to settle before the lease is read back.
    pub(crate) settle: Duration,
    /// Wait between two looks at a held lock.
    pub(crate) poll: Duration,
}

impl Timing {
    /// The timings in force: defaults, or what the environment sets.
    pub(crate) fn configured() -> Self {
        Timing {
            lease: lease(),
            patience: patience(),
            settle: settle(),
            poll: Duration::from_secs(1),
        }
    }
}

/// Takes the lock on `role`; returns the lease and the role as read once held.
pub async fn acquire<B: IamBackend>(
    backend: &B,
    role: &str,
) -> Result<(Lease, LiveRole), LockError> {
    acquire_with(backend, role, Timing::configured()).await
}

/// [`acquire`] with the given timings.
pub(crate) async fn acquire_with<B: IamBackend>(
    backend: &B,
    role: &str,
    timing: Timing,
) -> Result<(Lease, LiveRole), LockError> {
    let owner = crate::model::external_id::random_token().map_err(|e| IamError::Transport {
        api: "lock",
        message: e.to_string(),
    })?;
    let deadline = SystemTime::now() + timing.patience;
    loop {
        let now = SystemTime::now();
        let value = format!(
            "{} {}",
            &owner[..16],
            humantime::format_rfc3339_seconds(now + timing.lease)
        );
        let current = backend
            .get_role(role)
            .await?
            .ok_or_else(|| LockError::NoRole(role.to_string()))?;
        if let Some(other) = held_by_other(&current, &value, now) {
            if now > deadline {
                return Err(LockError::Held {
                    role: role.to_string(),
                    lease: other,
                });
            }
            tokio::time::sleep(timing.poll).await;
            continue;
        }
        backend
            .execute(&Operation::TagRole {
                role: role.to_string(),
                tags: BTreeMap::from([(tags::LOCK.to_string(), value.clone())]),
            })
            .await?;
        tokio::time::sleep(timing.settle).await;
        let after = backend
            .get_role(role)
            .await?
            .ok_or_else(|| LockError::NoRole(role.to_string()))?;
        if after.tags.get(tags::LOCK) == Some(&value) {
            return Ok((
                Lease {
                    role: role.to_string(),
                    value,
                },
                after,
            ));
        }
    }
}

/// Gives the lock back, if it is still ours.
pub async fn release<B: IamBackend>(backend: &B, lease: &Lease) -> Result<(), IamError> {
    if let Some(role) = backend.get_role(&lease.role).await? {
        if role.tags.get(tags::LOCK) == Some(&lease.value) {
            backend
                .execute(&Operation::UntagRole {
                    role: lease.role.clone(),
                    keys: vec![tags::LOCK.into()],
                })
                .await?;
        }
    }
    Ok(())
}
