//! Lease locks on roles, kept in each role's own tag `fnctl:lock`, so that
//! two runs never change the trust policy or external-ID tags of one role
//! at once (a rotation, or apply's repair of them). IAM has no
//! compare-and-swap, so a lease is taken by writing it with a unique owner,
//! waiting for IAM to settle, and reading it back: whoever's lease is still
//! there holds the lock; the others wait. A lease expires, so a killed run
//! never blocks a role for long.
//!
//! Leases are taken a batch at a time ([`run`]): every lease of the batch is
//! written, IAM settles once, and all are read back with one batch read
//! (the whole account at once when that is cheaper than one read per role),
//! so a run pays the settle time once rather than once per role. The work
//! on each held role follows, then one more batch read tells which leases
//! are still this run's to give back (and shows the callers what IAM holds
//! after their writes). A lease is never trusted without its read-back, and
//! a role whose lease would run out before its work is done is put back and
//! leased again.
//!
//! Writes are what a batch costs (IAM serves them one bucket at a time), so
//! a lease carries the work's first tag write in its own `TagRole`
//! ([`run_with`]), and work whose last write removes tags removes the lease
//! with them while the lease surely is still this run's: a rotation phase
//! is three writes per role, lease included, where it was four or five.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use futures::stream::{self, StreamExt};

use crate::live::{IamBackend, IamError};
use crate::model::operation::Operation;
use crate::model::tags;
use crate::model::LiveRole;

/// How long a lease lasts beyond the time its batch is expected to take:
/// a run killed while holding it blocks the role no longer than this (and
/// the rest of its batch). `FNCTL_LOCK_LEASE_SECONDS` changes it (tests
/// that kill runs shorten it).
pub fn lease() -> Duration {
    Duration::from_secs(
        std::env::var("FNCTL_LOCK_LEASE_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
    )
}

/// Time IAM gets to settle between writing leases and reading them back.
/// `FNCTL_LOCK_SETTLE_MS` shortens it for tests against a local endpoint.
fn settle() -> Duration {
    std::env::var("FNCTL_LOCK_SETTLE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_millis(1500))
}

/// Longest a lease is written for, however large its batch: a killed run
/// must not block roles for longer than this.
const MAXIMUM_HOLD: Duration = Duration::from_secs(3600);
/// The write rate assumed for a lease's expiry before any lease write of
/// the batch has been answered, and the fastest one assumed after (IAM's
/// order of magnitude, unthrottled).
const ASSUMED_WRITES_PER_SECOND: f64 = 50.0;
/// How long to wait before trying again for leases other runs hold.
const RETRY_WAIT: Duration = Duration::from_secs(1);
/// How often a role's lease is taken again because it ran short before the
/// role's turn came (a batch far slower than expected) before giving up.
const MAXIMUM_RENEWALS: usize = 3;

/// The timing of leases.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long a lease lasts beyond its batch's expected time.
    pub lease: Duration,
    /// Time IAM gets to settle before leases are read back.
    pub settle: Duration,
    /// How long to wait for a lease another run holds.
    pub patience: Duration,
}

impl Timing {
    /// The timing of real runs: [`lease`] and the settle time, from the
    /// environment where tests shorten them; patience of one lease and a margin.
    pub fn from_env() -> Self {
        let lease = lease();
        Timing {
            lease,
            settle: settle(),
            patience: lease + Duration::from_secs(30),
        }
    }

    /// The least time a held lease must have left for work on its role to
    /// start: the work on one role is a few writes, which even a throttled
    /// account admits well within half a lease.
    fn margin(&self) -> Duration {
        self.lease / 2
    }
}

/// How a batch runs.
#[derive(Debug, Clone, Copy)]
pub struct Batch {
    /// Roles worked on at once (lease writes and reads run as many at once).
    pub parallelism: usize,
    /// About how many writes the work on one role makes, releasing its
    /// lease included: sizes how long the batch's leases last.
    pub writes_per_role: usize,
    pub timing: Timing,
}

/// Why a role's lease was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds it.
    #[error("another fnctl run holds the lock on role {role} (lease `{lease}`); try again later")]
    Held { role: String, lease: String },
    /// The role is gone.
    #[error("role {0} does not exist")]
    NoRole(String),
    /// IAM failed (a batch read or the lease write).
    #[error("{0}")]
    Iam(String),
    /// The lease kept running short before the role's turn came.
    #[error("the lease on role {0} ran short {MAXIMUM_RENEWALS} times before its turn came (IAM too slow?); nothing was changed; run the command again")]
    RanShort(String),
}

impl From<&IamError> for LockError {
    fn from(error: &IamError) -> Self {
        LockError::Iam(error.to_string())
    }
}

/// The work done on one role under its lease.
#[derive(Debug)]
pub struct Leased<T> {
    /// What the work returned.
    pub value: T,
    /// The role as read once the batch's work was done (`None`: it is gone),
    /// or why it could not be read.
    pub after: Result<Option<LiveRole>, String>,
}

/// A lease this run wrote on one role: the tag's value.
#[derive(Debug, Clone)]
struct Written {
    index: usize,
    value: String,
    expiry: SystemTime,
}

fn expiry_of(value: &str) -> Option<SystemTime> {
    value
        .split(' ')
        .nth(1)
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
}

/// The lease another run holds on `role` (a live one, not this run's).
fn held_by_other(role: &LiveRole, owner: &str, now: SystemTime) -> Option<String> {
    let value = role.tags.get(tags::LOCK)?;
    if value.split(' ').next() == Some(owner) {
        return None;
    }
    let live = expiry_of(value).is_some_and(|expiry| expiry > now);
    live.then(|| value.clone())
}

/// Takes the leases of `roles`, runs `work` on each role held (with the role
/// as read under its lease), reads the roles back and gives the leases back.
/// `known` are the roles as just read, if the caller has read them moments
/// ago (they decide which leases are free to take in the first round, and
/// are let go then; a fresh read does otherwise). The results are in the
/// order of `roles`.
pub async fn run<B, W, F, T>(
    backend: &B,
    roles: &[String],
    known: Option<Vec<LiveRole>>,
    batch: &Batch,
    work: W,
) -> Vec<Result<Leased<T>, LockError>>
where
    B: IamBackend,
    W: Fn(usize, LiveRole) -> F,
    F: Future<Output = T>,
{
    run_with(
        backend,
        roles,
        known,
        batch,
        |_, _| BTreeMap::new(),
        |index, role, _| work(index, role),
    )
    .await
}

/// A lease held while the work on its role runs.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    expiry: SystemTime,
    margin: Duration,
}

impl Held {
    /// Whether the work's last write may give the lease back too (remove
    /// `fnctl:lock` in the same `UntagRole`), saving the release's write:
    /// only while the lease has so much time left that no other run can
    /// have taken it over. Otherwise the lease is given back as usual, once
    /// a read shows it is still this run's.
    pub fn may_release_with_last_write(&self) -> bool {
        self.expiry
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            >= self.margin
    }
}

/// [`run`], where `with_lease` names tags to write in the same `TagRole` as
/// each lease (the work's first tag write, decided on the role as read
/// before leasing), and `work` learns how long its lease lasts. The tags
/// are only a head start: the work decides again on the role as read under
/// the lease and writes whatever is still missing. A lease lost to another
/// run leaves its tags as a run killed after its first write would, which
/// the work of whoever holds the lease must handle anyway.
pub async fn run_with<B, P, W, F, T>(
    backend: &B,
    roles: &[String],
    known: Option<Vec<LiveRole>>,
    batch: &Batch,
    with_lease: P,
    work: W,
) -> Vec<Result<Leased<T>, LockError>>
where
    B: IamBackend,
    P: Fn(usize, &LiveRole) -> BTreeMap<String, String>,
    W: Fn(usize, LiveRole, Held) -> F,
    F: Future<Output = T>,
{
    let mut results: Vec<Option<Result<Leased<T>, LockError>>> =
        roles.iter().map(|_| None).collect();
    let owner = match crate::model::external_id::random_token() {
        Ok(random) => random[..16].to_string(),
        Err(error) => {
            let message = format!("cannot read the OS random source: {error}");
            return roles
                .iter()
                .map(|_| Err(LockError::Iam(message.clone())))
                .collect();
        }
    };
    let parallelism = batch.parallelism.max(1);
    let mut pending: Vec<usize> = (0..roles.len()).collect();
    // When each role was first found held by another run.
    let mut blocked_since: HashMap<usize, Instant> = HashMap::new();
    let mut renewals: HashMap<usize, usize> = HashMap::new();
    let mut known = known;
    while !pending.is_empty() {
        // 1. Which leases are free: as the caller read them moments ago, or now.
        let names: Vec<String> = pending.iter().map(|&i| roles[i].clone()).collect();
        let known_roles: Option<Vec<LiveRole>> = known.take();
        let fresh: Vec<Option<LiveRole>>;
        let current: Vec<Option<&LiveRole>> = match &known_roles {
            Some(read) => {
                let by_name: HashMap<String, &LiveRole> = read
                    .iter()
                    .map(|role| (role.name.to_ascii_lowercase(), role))
                    .collect();
                names
                    .iter()
                    .map(|name| by_name.get(&name.to_ascii_lowercase()).copied())
                    .collect()
            }
            None => match backend.get_roles(&names).await {
                Ok(read) => {
                    fresh = read;
                    fresh.iter().map(Option::as_ref).collect()
                }
                Err(error) => {
                    for &i in &pending {
                        results[i] = Some(Err(LockError::from(&error)));
                    }
                    break;
                }
            },
        };
        let now = SystemTime::now();
        let mut free = Vec::new();
        let mut blocked: Vec<(usize, String)> = Vec::new();
        for (&i, role) in pending.iter().zip(current) {
            match role {
                None => results[i] = Some(Err(LockError::NoRole(roles[i].clone()))),
                Some(role) => match held_by_other(role, &owner, now) {
                    Some(other) => blocked.push((i, other)),
                    None => free.push((i, with_lease(i, role))),
                },
            }
        }
        // Thousands of roles need not wait for the end of the batch.
        drop(known_roles);

        // 2. Write the free leases, settle once, read them all back.
        let written = write_leases(backend, roles, &free, &owner, batch, &mut results).await;
        let mut held: Vec<(Written, LiveRole)> = Vec::new();
        if !written.is_empty() {
            tokio::time::sleep(batch.timing.settle).await;
            let names: Vec<String> = written.iter().map(|w| roles[w.index].clone()).collect();
            match backend.get_roles(&names).await {
                Ok(back) => {
                    for (lease, role) in written.into_iter().zip(back) {
                        match role {
                            None => {
                                results[lease.index] =
                                    Some(Err(LockError::NoRole(roles[lease.index].clone())))
                            }
                            Some(role) if role.tags.get(tags::LOCK) == Some(&lease.value) => {
                                held.push((lease, role))
                            }
                            // Another run's lease landed after ours: it holds
                            // the lock, or will find ours gone; try again.
                            Some(role) => blocked.push((
                                lease.index,
                                role.tags.get(tags::LOCK).cloned().unwrap_or_default(),
                            )),
                        }
                    }
                }
                Err(error) => {
                    // Unknown whether they are held: nothing is done under them.
                    // They expire by themselves.
                    for lease in &written {
                        results[lease.index] = Some(Err(LockError::from(&error)));
                    }
                }
            }
        }

        // 3. The work, on roles whose lease has time enough left.
        let margin = batch.timing.margin();
        let work = &work;
        let outcomes: Vec<(Written, Option<T>)> = stream::iter(held)
            .map(|(lease, role)| async move {
                let left = lease
                    .expiry
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                if left < margin {
                    return (lease, None);
                }
                let held = Held {
                    expiry: lease.expiry,
                    margin,
                };
                let value = work(lease.index, role, held).await;
                (lease, Some(value))
            })
            .buffer_unordered(parallelism)
            .collect()
            .await;
        let mut again: Vec<usize> = Vec::new();
        let mut done: Vec<(Written, T)> = Vec::new();
        for (lease, value) in outcomes {
            match value {
                Some(value) => done.push((lease, value)),
                None => {
                    let renewed = renewals.entry(lease.index).or_default();
                    *renewed += 1;
                    if *renewed >= MAXIMUM_RENEWALS {
                        results[lease.index] =
                            Some(Err(LockError::RanShort(roles[lease.index].clone())));
                    } else {
                        again.push(lease.index);
                    }
                }
            }
        }

        // 4. Read the roles back; give back the leases still ours.
        let names: Vec<String> = done.iter().map(|(w, _)| roles[w.index].clone()).collect();
        let after: Vec<Result<Option<LiveRole>, String>> = if names.is_empty() {
            Vec::new()
        } else {
            match backend.get_roles(&names).await {
                Ok(after) => after.into_iter().map(Ok).collect(),
                Err(error) => names.iter().map(|_| Err(error.to_string())).collect(),
            }
        };
        let releases: Vec<&str> = done
            .iter()
            .zip(&after)
            .filter(|((lease, _), after)| {
                matches!(after, Ok(Some(role)) if role.tags.get(tags::LOCK) == Some(&lease.value))
            })
            .map(|((lease, _), _)| roles[lease.index].as_str())
            .collect();
        release(backend, &releases, parallelism).await;
        for ((lease, value), after) in done.into_iter().zip(after) {
            results[lease.index] = Some(Ok(Leased { value, after }));
        }

        // 5. What is left: leases put back, and those other runs hold.
        let now = Instant::now();
        for (i, other) in blocked {
            let since = *blocked_since.entry(i).or_insert(now);
            if now.duration_since(since) > batch.timing.patience {
                results[i] = Some(Err(LockError::Held {
                    role: roles[i].clone(),
                    lease: other,
                }));
            } else {
                again.push(i);
            }
        }
        again.sort_unstable();
        let only_waiting = again.iter().all(|i| blocked_since.contains_key(i));
        pending = again;
        if !pending.is_empty() && only_waiting {
            tokio::time::sleep(RETRY_WAIT).await;
        }
    }
    results
        .into_iter()
        .zip(roles)
        .map(|(result, role)| {
            result.unwrap_or_else(|| Err(LockError::Iam(format!("role {role}: no lease taken"))))
        })
        .collect()
}

/// Writes this run's lease, with the tags that ride on it, on each role of
/// `free` (at most `parallelism` at once). Each lease lasts
/// [`Timing::lease`] beyond the time the batch is expected to take from its
/// writing, estimated from the rate at which the batch's lease writes have
/// been answered so far. A failed write is
/// recorded in `results`.
async fn write_leases<B: IamBackend, T>(
    backend: &B,
    roles: &[String],
    free: &[(usize, BTreeMap<String, String>)],
    owner: &str,
    batch: &Batch,
    results: &mut [Option<Result<Leased<T>, LockError>>],
) -> Vec<Written> {
    let started = Instant::now();
    let answered = AtomicUsize::new(0);
    let total = free.len();
    let answered = &answered;
    let outcomes: Vec<(usize, Result<Written, IamError>)> = stream::iter(free.iter().enumerate())
        .map(|(order, (index, with_lease))| async move {
            let index = *index;
            let done = answered.load(Ordering::SeqCst);
            let elapsed = started.elapsed().as_secs_f64();
            // Never faster than IAM's order of magnitude: the first answers
            // may come from a throttling bucket's burst.
            let rate = if done > 0 && elapsed > 0.0 {
                (done as f64 / elapsed).min(ASSUMED_WRITES_PER_SECOND)
            } else {
                ASSUMED_WRITES_PER_SECOND
            };
            let writes_ahead = (total - order) + total * batch.writes_per_role;
            let expected = Duration::from_secs_f64(writes_ahead as f64 / rate).min(MAXIMUM_HOLD);
            let expiry = SystemTime::now() + batch.timing.settle + expected + batch.timing.lease;
            let value = format!("{owner} {}", humantime::format_rfc3339_seconds(expiry));
            let mut written_tags = with_lease.clone();
            written_tags.insert(tags::LOCK.to_string(), value.clone());
            let written = backend
                .execute(&Operation::TagRole {
                    role: roles[index].clone(),
                    tags: written_tags,
                })
                .await;
            answered.fetch_add(1, Ordering::SeqCst);
            (
                index,
                written.map(|()| Written {
                    index,
                    value,
                    expiry,
                }),
            )
        })
        .buffer_unordered(batch.parallelism.max(1))
        .collect()
        .await;
    let mut written = Vec::new();
    for (index, outcome) in outcomes {
        match outcome {
            Ok(lease) => written.push(lease),
            Err(IamError::NoSuchEntity { .. }) => {
                results[index] = Some(Err(LockError::NoRole(roles[index].clone())))
            }
            Err(error) => results[index] = Some(Err(LockError::from(&error))),
        }
    }
    written.sort_by_key(|w| w.index);
    written
}

/// Removes this run's leases from `roles` (at most `parallelism` at once).
/// A failure only delays the next run: the lease expires by itself.
async fn release<B: IamBackend>(backend: &B, roles: &[&str], parallelism: usize) {
    let failures: Vec<(String, IamError)> = stream::iter(roles)
        .map(|role| async move {
            let operation = Operation::UntagRole {
                role: role.to_string(),
                keys: vec![tags::LOCK.into()],
            };
            backend
                .execute(&operation)
                .await
                .err()
                .map(|e| (role.to_string(), e))
        })
        .buffer_unordered(parallelism.max(1))
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    for (role, error) in failures {
        log::warn!("could not release the lock on {role} ({error}); it expires by itself");
    }
}

#[cfg(test)]
mod tests;
