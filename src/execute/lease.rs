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
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::stream::{self, StreamExt};

use crate::live::clock::Clock;
use crate::live::{IamBackend, IamError, IamReads};
use crate::model::operation::Operation;
use crate::model::tags;
use crate::model::LiveRole;

/// How long a lease lasts beyond the time its batch is expected to take,
/// unless the run's settings say otherwise: a run killed while holding it
/// blocks the role no longer than this (and the rest of its batch).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Time IAM gets to settle between writing leases and reading them back,
/// unless the run's settings say otherwise (tests against a local endpoint
/// shorten it).
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(1500);

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

impl Default for Timing {
    fn default() -> Self {
        Timing::new(DEFAULT_LEASE, DEFAULT_SETTLE)
    }
}

impl Timing {
    /// The timing of real runs with this lease and settle time: patience of
    /// one lease and a margin.
    pub(crate) fn new(lease: Duration, settle: Duration) -> Self {
        Timing {
            lease,
            settle,
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
#[derive(Clone, Copy)]
pub struct Batch<'a> {
    /// Roles worked on at once (lease writes and reads run as many at once).
    pub parallelism: usize,
    /// About how many writes the work on one role makes, releasing its
    /// lease included: sizes how long the batch's leases last.
    pub writes_per_role: usize,
    pub timing: Timing,
    /// Lease expiries are wall-clock times; waits go through it too.
    pub clock: &'a dyn Clock,
}

/// Why a role's lease was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds it.
    #[error("another fnctl run holds the lock on role {role} (lease `{lease}`); try again later")]
    Held { role: String, lease: String },
    /// The role is gone.
    #[error("role {role} does not exist")]
    NoRole { role: String },
    /// IAM failed (a batch read or the lease write); one failed batch read
    /// fails every role of it, hence shared.
    #[error(transparent)]
    Iam(Arc<IamError>),
    /// The lease kept running short before the role's turn came.
    #[error("the lease on role {role} ran short {MAXIMUM_RENEWALS} times before its turn came (IAM too slow?); nothing was changed; run the command again")]
    RanShort { role: String },
    /// The rounds ended without deciding the role (never expected).
    #[error("role {role}: no lease taken")]
    NotTaken { role: String },
    /// No lease owner could be drawn: the OS random source failed.
    #[error("cannot read the OS random source")]
    Random(#[source] getrandom::Error),
}

impl From<IamError> for LockError {
    fn from(error: IamError) -> Self {
        LockError::Iam(Arc::new(error))
    }
}

/// The work done on one role under its lease.
#[derive(Debug)]
pub struct Leased<T> {
    /// What the work returned.
    pub value: T,
    /// The role as read once the batch's work was done (`None`: it is gone),
    /// or why it could not be read (one batch read: shared by its roles).
    pub after: Result<Option<LiveRole>, Arc<IamError>>,
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

/// The lease another run holds on `role` (a live one, not this run's). A
/// lease whose expiry cannot be read blocks nobody (a damaged tag must not
/// lock a role forever), and is said so: the lease is taken over.
fn held_by_other(role: &LiveRole, owner: &str, now: SystemTime) -> Option<String> {
    let value = role.tags.get(tags::LOCK)?;
    if value.split(' ').next() == Some(owner) {
        return None;
    }
    let Some(expiry) = expiry_of(value) else {
        log::warn!(
            "role {}: the lock tag {} has no readable expiry; taking it over",
            role.name,
            tags::LOCK
        );
        return None;
    };
    (expiry > now).then(|| value.clone())
}

/// Takes the leases of `roles`, runs `work` on each role held (with the role
/// as read under its lease), reads the roles back and gives the leases back.
/// `known` are the roles as just read, if the caller has read them moments
/// ago (they decide which leases are free to take in the first round, and
/// are let go then; a fresh read does otherwise). The results are in the
/// order of `roles`.
pub(crate) async fn run<B, W, F, T>(
    backend: &B,
    roles: &[String],
    known: Option<Vec<LiveRole>>,
    batch: &Batch<'_>,
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
#[derive(Clone, Copy)]
pub struct Held<'a> {
    expiry: SystemTime,
    margin: Duration,
    clock: &'a dyn Clock,
}

impl Held<'_> {
    /// Whether the work's last write may give the lease back too (remove
    /// `fnctl:lock` in the same `UntagRole`), saving the release's write:
    /// only while the lease has so much time left that no other run can
    /// have taken it over. Otherwise the lease is given back as usual, once
    /// a read shows it is still this run's.
    pub(crate) fn may_release_with_last_write(&self) -> bool {
        self.expiry
            .duration_since(self.clock.now())
            .unwrap_or_default()
            >= self.margin
    }
}

/// Tags written in the same `TagRole` as a lease.
type TagsOnLease = BTreeMap<String, String>;
/// The roles of a round whose lease is free (with the tags to write on
/// it), and those another run holds (with its lease).
type FreeAndBlocked = (Vec<(usize, TagsOnLease)>, Vec<(usize, String)>);

/// The result slot of each role, filled as the rounds decide it.
type Results<T> = Vec<Option<Result<Leased<T>, LockError>>>;

/// One run of the lease protocol over a batch of roles: what stays the same
/// from round to round, and what each round leaves for the next.
struct Rounds<'a, 'c, B> {
    backend: &'a B,
    roles: &'a [String],
    batch: Batch<'c>,
    /// This run's lease owner, written in every lease tag.
    owner: String,
    /// When each role was first found held by another run.
    blocked_since: HashMap<usize, SystemTime>,
    /// How often each role's lease was taken again after running short.
    renewals: HashMap<usize, usize>,
}

/// [`run`], where `with_lease` names tags to write in the same `TagRole` as
/// each lease (the work's first tag write, decided on the role as read
/// before leasing), and `work` learns how long its lease lasts. The tags
/// are only a head start: the work decides again on the role as read under
/// the lease and writes whatever is still missing. A lease lost to another
/// run leaves its tags as a run killed after its first write would, which
/// the work of whoever holds the lease must handle anyway.
///
/// Each round: find which leases are free ([`Rounds::free_and_blocked`]),
/// write them, settle, read them back ([`Rounds::take`]), work on the roles
/// held ([`Rounds::work`]), read the roles back and give the leases back
/// ([`Rounds::finish`]); then wait for those other runs hold, until
/// patience runs out ([`Rounds::next_round`]).
pub(crate) async fn run_with<'c, B, P, W, F, T>(
    backend: &B,
    roles: &[String],
    known: Option<Vec<LiveRole>>,
    batch: &Batch<'c>,
    with_lease: P,
    work: W,
) -> Vec<Result<Leased<T>, LockError>>
where
    B: IamBackend,
    P: Fn(usize, &LiveRole) -> BTreeMap<String, String>,
    W: Fn(usize, LiveRole, Held<'c>) -> F,
    F: Future<Output = T>,
{
    let mut results: Results<T> = roles.iter().map(|_| None).collect();
    let owner = match crate::model::external_id::random_token() {
        Ok(random) => random[..16].to_string(),
        Err(error) => {
            return roles
                .iter()
                .map(|_| Err(LockError::Random(error)))
                .collect();
        }
    };
    let mut rounds = Rounds {
        backend,
        roles,
        batch: *batch,
        owner,
        blocked_since: HashMap::new(),
        renewals: HashMap::new(),
    };
    let mut pending: Vec<usize> = (0..roles.len()).collect();
    let mut known = known;
    while !pending.is_empty() {
        let (free, mut blocked) = match rounds
            .free_and_blocked(&pending, known.take(), &with_lease, &mut results)
            .await
        {
            Ok(sorted) => sorted,
            Err(error) => {
                let error = Arc::new(error);
                for &i in &pending {
                    results[i] = Some(Err(LockError::Iam(error.clone())));
                }
                break;
            }
        };
        let held = rounds.take(&free, &mut blocked, &mut results).await;
        let (done, mut again) = rounds.work(held, &work, &mut results).await;
        rounds.finish(done, &mut results).await;
        again.extend(rounds.still_blocked(blocked, &mut results));
        pending = rounds.next_round(again).await;
    }
    results
        .into_iter()
        .zip(roles)
        .map(|(result, role)| {
            result.unwrap_or_else(|| Err(LockError::NotTaken { role: role.clone() }))
        })
        .collect()
}

impl<'c, B: IamBackend> Rounds<'_, 'c, B> {
    /// Which of `pending` have a free lease (with the tags to write on it)
    /// and which another run holds, as the caller read them moments ago
    /// (`known`) or as read now. Roles that are gone are decided here.
    async fn free_and_blocked<P, T>(
        &self,
        pending: &[usize],
        known: Option<Vec<LiveRole>>,
        with_lease: &P,
        results: &mut Results<T>,
    ) -> Result<FreeAndBlocked, IamError>
    where
        P: Fn(usize, &LiveRole) -> BTreeMap<String, String>,
    {
        let names: Vec<String> = pending.iter().map(|&i| self.roles[i].clone()).collect();
        let current: Vec<Option<LiveRole>> = match known {
            Some(read) => {
                // Thousands of roles: each is moved out once, not cloned.
                let mut by_name: HashMap<String, LiveRole> = read
                    .into_iter()
                    .map(|role| (role.name.to_ascii_lowercase(), role))
                    .collect();
                names
                    .iter()
                    .map(|name| by_name.remove(&name.to_ascii_lowercase()))
                    .collect()
            }
            None => self.backend.get_roles(&names).await?,
        };
        let now = self.batch.clock.now();
        let mut free = Vec::new();
        let mut blocked = Vec::new();
        for (&i, role) in pending.iter().zip(current) {
            match role {
                None => {
                    results[i] = Some(Err(LockError::NoRole {
                        role: self.roles[i].clone(),
                    }))
                }
                Some(role) => match held_by_other(&role, &self.owner, now) {
                    Some(other) => blocked.push((i, other)),
                    None => free.push((i, with_lease(i, &role))),
                },
            }
        }
        Ok((free, blocked))
    }

    /// Writes the free leases, lets IAM settle once and reads them all back:
    /// the roles whose lease is still this run's are held (with the role as
    /// read under the lease); one another run's lease landed on after ours
    /// joins `blocked`.
    async fn take<T>(
        &self,
        free: &[(usize, BTreeMap<String, String>)],
        blocked: &mut Vec<(usize, String)>,
        results: &mut Results<T>,
    ) -> Vec<(Written, LiveRole)> {
        let written = write_leases(
            self.backend,
            self.roles,
            free,
            &self.owner,
            &self.batch,
            results,
        )
        .await;
        if written.is_empty() {
            return Vec::new();
        }
        self.batch.clock.sleep(self.batch.timing.settle).await;
        let names: Vec<String> = written
            .iter()
            .map(|w| self.roles[w.index].clone())
            .collect();
        let back = match self.backend.get_roles(&names).await {
            Ok(back) => back,
            Err(error) => {
                // Unknown whether they are held: nothing is done under them.
                // They expire by themselves.
                let error = Arc::new(error);
                for lease in &written {
                    results[lease.index] = Some(Err(LockError::Iam(error.clone())));
                }
                return Vec::new();
            }
        };
        let mut held = Vec::new();
        for (lease, role) in written.into_iter().zip(back) {
            match role {
                None => {
                    results[lease.index] = Some(Err(LockError::NoRole {
                        role: self.roles[lease.index].clone(),
                    }))
                }
                Some(role) if role.tags.get(tags::LOCK) == Some(&lease.value) => {
                    held.push((lease, role))
                }
                // Another run's lease landed after ours: it holds the lock,
                // or will find ours gone; try again.
                Some(role) => blocked.push((
                    lease.index,
                    role.tags.get(tags::LOCK).cloned().unwrap_or_default(),
                )),
            }
        }
        held
    }

    /// Runs the work on every held role whose lease has time enough left;
    /// the others are leased again next round (a few times at most). Returns
    /// the work done and the roles to lease again.
    async fn work<W, F, T>(
        &mut self,
        held: Vec<(Written, LiveRole)>,
        work: &W,
        results: &mut Results<T>,
    ) -> (Vec<(Written, T)>, Vec<usize>)
    where
        W: Fn(usize, LiveRole, Held<'c>) -> F,
        F: Future<Output = T>,
    {
        let margin = self.batch.timing.margin();
        let clock = self.batch.clock;
        let outcomes: Vec<(Written, Option<T>)> = stream::iter(held)
            .map(|(lease, role)| async move {
                let left = lease.expiry.duration_since(clock.now()).unwrap_or_default();
                if left < margin {
                    return (lease, None);
                }
                let held = Held {
                    expiry: lease.expiry,
                    margin,
                    clock,
                };
                let value = work(lease.index, role, held).await;
                (lease, Some(value))
            })
            .buffer_unordered(self.batch.parallelism.max(1))
            .collect()
            .await;
        let mut again = Vec::new();
        let mut done = Vec::new();
        for (lease, value) in outcomes {
            match value {
                Some(value) => done.push((lease, value)),
                None => {
                    let renewed = self.renewals.entry(lease.index).or_default();
                    *renewed += 1;
                    if *renewed >= MAXIMUM_RENEWALS {
                        results[lease.index] = Some(Err(LockError::RanShort {
                            role: self.roles[lease.index].clone(),
                        }));
                    } else {
                        again.push(lease.index);
                    }
                }
            }
        }
        (done, again)
    }

    /// Reads the roles worked on back (the callers see what IAM holds after
    /// their writes) and gives back the leases that are still this run's.
    async fn finish<T>(&self, done: Vec<(Written, T)>, results: &mut Results<T>) {
        if done.is_empty() {
            return;
        }
        let names: Vec<String> = done
            .iter()
            .map(|(w, _)| self.roles[w.index].clone())
            .collect();
        let after: Vec<Result<Option<LiveRole>, Arc<IamError>>> =
            match self.backend.get_roles(&names).await {
                Ok(after) => after.into_iter().map(Ok).collect(),
                Err(error) => {
                    let error = Arc::new(error);
                    names.iter().map(|_| Err(error.clone())).collect()
                }
            };
        let releases: Vec<&str> = done
            .iter()
            .zip(&after)
            .filter(|((lease, _), after)| {
                matches!(after, Ok(Some(role)) if role.tags.get(tags::LOCK) == Some(&lease.value))
            })
            .map(|((lease, _), _)| self.roles[lease.index].as_str())
            .collect();
        release(self.backend, &releases, self.batch.parallelism).await;
        for ((lease, value), after) in done.into_iter().zip(after) {
            results[lease.index] = Some(Ok(Leased { value, after }));
        }
    }

    /// The blocked roles to try again: those whose holder has not been
    /// waited for longer than the batch's patience (the others fail, naming
    /// the lease that holds them).
    fn still_blocked<T>(
        &mut self,
        blocked: Vec<(usize, String)>,
        results: &mut Results<T>,
    ) -> Vec<usize> {
        let now = self.batch.clock.now();
        let mut again = Vec::new();
        for (i, other) in blocked {
            let since = *self.blocked_since.entry(i).or_insert(now);
            if now.duration_since(since).unwrap_or_default() > self.batch.timing.patience {
                results[i] = Some(Err(LockError::Held {
                    role: self.roles[i].clone(),
                    lease: other,
                }));
            } else {
                again.push(i);
            }
        }
        again
    }

    /// The roles of the next round, in order; waits a moment first when all
    /// of them wait for other runs (nothing else could be done meanwhile).
    async fn next_round(&self, mut again: Vec<usize>) -> Vec<usize> {
        again.sort_unstable();
        let only_waiting = again.iter().all(|i| self.blocked_since.contains_key(i));
        if !again.is_empty() && only_waiting {
            self.batch.clock.sleep(RETRY_WAIT).await;
        }
        again
    }
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
    batch: &Batch<'_>,
    results: &mut [Option<Result<Leased<T>, LockError>>],
) -> Vec<Written> {
    let started = batch.clock.now();
    let answered = AtomicUsize::new(0);
    let total = free.len();
    let answered = &answered;
    let outcomes: Vec<(usize, Result<Written, IamError>)> = stream::iter(free.iter().enumerate())
        .map(|(order, (index, with_lease))| async move {
            let index = *index;
            let done = answered.load(Ordering::SeqCst);
            let elapsed = batch
                .clock
                .now()
                .duration_since(started)
                .unwrap_or_default()
                .as_secs_f64();
            // Never faster than IAM's order of magnitude: the first answers
            // may come from a throttling bucket's burst.
            let rate = if done > 0 && elapsed > 0.0 {
                (done as f64 / elapsed).min(ASSUMED_WRITES_PER_SECOND)
            } else {
                ASSUMED_WRITES_PER_SECOND
            };
            let writes_ahead = (total - order) + total * batch.writes_per_role;
            let expected = Duration::from_secs_f64(writes_ahead as f64 / rate).min(MAXIMUM_HOLD);
            let expiry = batch.clock.now() + batch.timing.settle + expected + batch.timing.lease;
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
                results[index] = Some(Err(LockError::NoRole {
                    role: roles[index].clone(),
                }))
            }
            Err(error) => results[index] = Some(Err(LockError::from(error))),
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
