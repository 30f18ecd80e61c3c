//! The rotation service behind `fnctl rotate`: selects the instances, checks
//! what each phase would do to each role as just read (so that a `--finish`
//! refused by `--min-age` writes nothing, not even a lease), then runs the
//! phase on every role that has work under leases taken for all of them at
//! once, and writes the bundles from what IAM holds afterwards. The
//! decisions themselves are pure, in [`crate::plan::rotation`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::bundle;
use crate::execute::context::RunContext;
use crate::execute::executor::WriteFailed;
use crate::execute::lease;
use crate::execute::segment::ReadOnce;
use crate::execute::session::{self, AccountRun};
use crate::live::segment::SegmentBackend;
use crate::live::{IamBackend, IamError};
use crate::model::external_id::{self, ExternalId};
use crate::model::function::FunctionInstance;
use crate::model::operation::Operation;
use crate::model::segment::SegmentTarget;
use crate::model::{tags, trust};
use crate::model::{DesiredInstance, LiveRole};
use crate::plan::rotation::{self, PhaseSteps, RotationError};
use crate::plan::rotation_schedule::NextStep;
use crate::plan::PlanOptions;

mod failure;

pub use failure::RotateError;

/// Which phase to run.
#[derive(Debug, Clone, Copy)]
pub enum Phase {
    /// Accept a new ID beside the current one; the bundle gets the new one.
    Start,
    /// Accept only the new ID; refused for rotations younger than
    /// `min_age` unless `force`.
    Finish { min_age: Duration, force: bool },
}

/// What to rotate, and how.
#[derive(Debug, Clone)]
pub struct Request {
    pub phase: Phase,
    /// Instances named on the command line.
    pub names: Vec<String>,
    /// Also every instance whose ID is older than its `rotateAfterDays`.
    pub due: bool,
    /// Every instance.
    pub all: bool,
    /// Where bundles are written.
    pub bundle_dir: PathBuf,
    /// The manifests' function instances (`segment: { function }`): their
    /// Segment id is the one their role records.
    pub function_instances: Vec<FunctionInstance>,
}

/// What happened to one instance.
#[derive(Debug)]
pub enum Outcome {
    /// `--start` done: `bundle` holds the new ID (`fingerprint`);
    /// `concurrent` when another run's new ID was found instead of this one's.
    Started {
        instance: String,
        bundle: PathBuf,
        fingerprint: String,
        concurrent: bool,
    },
    /// `--finish` done: only the ID in `bundle` is accepted.
    Finished {
        instance: String,
        bundle: PathBuf,
        fingerprint: String,
    },
    /// `--finish` found no rotation in progress.
    NothingToFinish { instance: String },
    /// Segment now holds the bundle's new ID (delivered and recorded).
    Pushed { instance: String },
    /// `--auto`: a rotation in progress, not yet safe to finish.
    Waiting { instance: String, why: String },
    /// The instance was not rotated, or its new ID not pushed.
    Failed {
        instance: String,
        error: RotateError,
    },
}

impl Outcome {
    fn failed(instance: &DesiredInstance, error: impl Into<RotateError>) -> Self {
        Outcome::Failed {
            instance: instance.name.clone(),
            error: error.into(),
        }
    }
}

/// Why a request cannot run at all.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Nothing selected.
    #[error("name the instances to rotate, or select them with --due or --all")]
    NothingSelected,
    /// Names no manifest declares.
    #[error("no instance named {names} in the manifests")]
    Unknown { names: String },
}

/// Runs one phase over the selected instances of every account; the
/// outcomes follow the order of the instances per account.
pub(crate) async fn rotate(
    context: &RunContext,
    instances: Vec<DesiredInstance>,
    request: &Request,
) -> anyhow::Result<Vec<Outcome>> {
    let segment = context.segment();
    if request.names.is_empty() && !request.due && !request.all {
        return Err(RequestError::NothingSelected.into());
    }
    let unknown: Vec<&str> = request
        .names
        .iter()
        .filter(|n| !instances.iter().any(|i| &i.name == *n))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(RequestError::Unknown {
            names: unknown.join(", "),
        }
        .into());
    }
    let named: Vec<DesiredInstance> = instances
        .into_iter()
        .filter(|i| request.all || request.due || request.names.contains(&i.name))
        .collect();
    let now = context.now();
    let options = PlanOptions::read_only(now);
    let mut runs = session::observe(context, named, &options).await?;
    target_recorded_instances(&mut runs, &request.function_instances);
    let (shown, seen) = match segment {
        Some(backend) => segment_shows(backend, &runs).await?,
        None => (Vec::new(), None),
    };
    let segment = seen.as_ref().map(|seen| seen as &dyn SegmentBackend);
    let mut outcomes = Vec::new();
    for run in runs {
        outcomes.extend(rotate_account(context, run, request, now, &shown, segment).await);
    }
    Ok(outcomes)
}

/// Gives each function instance (`segment: { function }`) the Segment id
/// its role records, so that rotation treats it as a `segment: { id }`
/// instance: `--start` pushes the new ID into it and `--finish` waits until
/// Segment holds the new ID. Without it, a finish after `--min-age` would
/// drop the ID the instance still holds and lock the function out. An
/// instance not made yet (no record) has nothing to push into.
fn target_recorded_instances(runs: &mut [AccountRun], function_instances: &[FunctionInstance]) {
    for run in runs {
        let targets: Vec<(usize, SegmentTarget)> = run
            .instances
            .iter()
            .enumerate()
            .filter(|(_, instance)| instance.segment.is_none())
            .filter_map(|(at, instance)| {
                let function = function_instances
                    .iter()
                    .find(|f| f.instance == instance.name)?;
                let role = run.owned_role_of(instance).ok()?;
                let id = role.tags.get(tags::SEGMENT_INSTANCE)?;
                let target = SegmentTarget {
                    id: id.clone(),
                    region: function.region,
                    kind: function.kind,
                };
                Some((at, target))
            })
            .collect();
        for (at, target) in targets {
            run.instances[at].segment = Some(target);
        }
    }
}

/// What Segment shows of each instance's external-ID setting (`None`: the
/// instance or the setting is missing), for the instances that name one;
/// and `backend` answering a push's first read from the same read.
async fn segment_shows<'a>(
    backend: &'a dyn SegmentBackend,
    runs: &[AccountRun],
) -> anyhow::Result<(Vec<(String, Option<String>)>, Option<ReadOnce<'a>>)> {
    let read = super::segment::read_all(backend, super::segment::targets(runs)).await?;
    let seen = ReadOnce::new(backend, &read);
    let shown = read
        .into_iter()
        .map(|(name, _, live)| {
            let value = live.and_then(|l| {
                l.settings
                    .get(bundle::EXTERNAL_ID_SETTING)
                    .and_then(|v| v.as_str().map(str::to_string))
            });
            (name, value)
        })
        .collect();
    Ok((shown, Some(seen)))
}

fn shown_for<'a>(shown: &'a [(String, Option<String>)], instance: &str) -> Option<&'a str> {
    shown
        .iter()
        .find(|(name, _)| name == instance)
        .and_then(|(_, value)| value.as_deref())
}

/// Delivers the instance's bundle (which holds the pending ID) to Segment and
/// records in the role's tags when Segment took it: `--finish` and `--auto`
/// count `--min-age` from then.
async fn push_to_segment<B: IamBackend>(
    context: &RunContext,
    backend: &B,
    segment: &dyn SegmentBackend,
    instance: &DesiredInstance,
    bundle_dir: &Path,
) -> Outcome {
    match push_and_record(context, backend, segment, instance, bundle_dir).await {
        Ok(()) => Outcome::Pushed {
            instance: instance.name.clone(),
        },
        Err(error) => Outcome::failed(instance, error),
    }
}

async fn push_and_record<B: IamBackend>(
    context: &RunContext,
    backend: &B,
    segment: &dyn SegmentBackend,
    instance: &DesiredInstance,
    bundle_dir: &Path,
) -> Result<(), RotateError> {
    let target = instance.segment.as_ref().ok_or(RotateError::NoSegment)?;
    let on_disk = bundle::read(bundle_dir, &instance.name)
        .map_err(RotateError::BundleRead)?
        .ok_or_else(|| RotateError::NoBundle {
            directory: bundle_dir.to_path_buf(),
        })?;
    super::segment::deliver(segment, target, &on_disk)
        .await
        .map_err(|source| RotateError::NotDelivered {
            path: target.path(),
            source,
        })?;
    let id = bundle::external_id_of(&on_disk).ok_or(RotateError::NoIdInBundle)?;
    let tag = Operation::TagRole {
        role: instance.role_name.clone(),
        tags: BTreeMap::from([(
            tags::SEGMENT_DELIVERED.to_string(),
            // When Segment took it: now, not when the run began (a long run
            // must not make the new ID look older than it is).
            crate::plan::rotation_schedule::delivered_tag(&id.fingerprint(), context.now()),
        )]),
    };
    backend
        .execute(&tag)
        .await
        .map_err(RotateError::DeliveryNotRecorded)
}

/// One instance whose role the phase will lease.
struct Selected<'a> {
    instance: &'a DesiredInstance,
    /// The new ID `--start` adds, unless a rotation is in progress already.
    new_id: ExternalId,
}

/// Runs the phase over the selected instances of one account: what the
/// phase would do to each role as just read first ([`select`]), then the
/// writes under leases ([`Leasing::run`]).
async fn rotate_account(
    context: &RunContext,
    mut run: AccountRun,
    request: &Request,
    now: SystemTime,
    shown: &[(String, Option<String>)],
    segment: Option<&dyn SegmentBackend>,
) -> Vec<Outcome> {
    let (mut outcomes, chosen) = select(context, &run, request, now, shown);
    if chosen.is_empty() {
        return outcomes;
    }
    let read = std::mem::take(&mut run.live.roles);
    let selected: Vec<Selected> = chosen
        .into_iter()
        .map(|(index, new_id)| Selected {
            instance: &run.instances[index],
            new_id,
        })
        .collect();
    let phase = Leasing {
        context,
        backend: run.backend(),
        request,
        stamp: now,
    };
    outcomes.extend(phase.run(&selected, read, segment).await);
    outcomes
}

/// The instances of `run` the request selects that have work to do (by
/// index, with the new ID `--start` adds), and an outcome for each of the
/// others that the caller must hear of: refused,
/// failed, or nothing to finish. Decided on the roles as just read, so that
/// a refusal needs no lease, and neither does a role with nothing to finish
/// (unless a killed run left its lease there: leasing replaces it,
/// releasing removes it).
fn select(
    context: &RunContext,
    run: &AccountRun,
    request: &Request,
    now: SystemTime,
    shown: &[(String, Option<String>)],
) -> (Vec<Outcome>, Vec<(usize, ExternalId)>) {
    let mut outcomes = Vec::new();
    let mut selected = Vec::new();
    for (index, instance) in run.instances.iter().enumerate() {
        let role = match run.owned_role_of(instance) {
            Ok(role) => role,
            Err(error) => {
                outcomes.push(Outcome::failed(instance, error));
                continue;
            }
        };
        let by_name = request.all || request.names.contains(&instance.name);
        let due = request.due
            && match request.phase {
                Phase::Finish { .. } => true,
                Phase::Start => match trust::is_due(role, instance.rotate_after_days, now) {
                    Ok(due) => due,
                    // Never a silent "not due": the instance's age is unknown.
                    Err(unreadable) => {
                        outcomes.push(Outcome::failed(instance, RotationError::from(unreadable)));
                        continue;
                    }
                },
            };
        if !(by_name || due) {
            continue;
        }
        let decided = check_phase(context, role, instance, request, shown).and_then(|new_id| {
            let decision = Decision {
                phase: &request.phase,
                instance,
                new_id: &new_id,
                now: context.now(),
                stamp: now,
            };
            let steps = decision.steps(role)?;
            Ok((new_id, steps))
        });
        match decided {
            Err(error) => outcomes.push(Outcome::failed(instance, error)),
            Ok((_, None)) if !role.tags.contains_key(tags::LOCK) => {
                outcomes.push(Outcome::NothingToFinish {
                    instance: instance.name.clone(),
                })
            }
            Ok((new_id, _)) => selected.push((index, new_id)),
        }
    }
    (outcomes, selected)
}

/// Whether the phase may run on `role` at all, and the new ID `--start`
/// adds (none for `--finish`).
fn check_phase(
    context: &RunContext,
    role: &LiveRole,
    instance: &DesiredInstance,
    request: &Request,
    shown: &[(String, Option<String>)],
) -> Result<ExternalId, RotateError> {
    let Phase::Finish { min_age, force } = request.phase else {
        return external_id::ExternalId::generate().map_err(RotateError::Random);
    };
    // A new ID the trust policy lost by hand, still in the bundle: ending
    // the rotation would lose it; apply restores it first.
    if bundle::lost_pending_refusal(role, &request.bundle_dir, &instance.name).is_some() {
        return Err(RotateError::PendingLost);
    }
    // With Segment, the old ID may go only once Segment holds the new one
    // and has held it for --min-age (counted from its delivery).
    if instance.segment.is_some() && !force && trust::in_progress(role) {
        crate::plan::rotation_schedule::segment_allows_finish(
            role,
            shown_for(shown, &instance.name),
            context.now(),
            min_age,
        )
        .map_err(RotateError::SegmentNotReady)?;
    }
    Ok(ExternalId::new(""))
}

/// The leased part of a phase over one account's selected roles.
struct Leasing<'a, B> {
    context: &'a RunContext,
    backend: B,
    request: &'a Request,
    /// The run's time, which the phase's tags record.
    stamp: SystemTime,
}

impl<B: IamBackend> Leasing<'_, B> {
    /// How the phase is decided on `chosen`'s role, now.
    fn decision<'s>(&'s self, chosen: &'s Selected<'_>) -> Decision<'s> {
        Decision {
            phase: &self.request.phase,
            instance: chosen.instance,
            new_id: &chosen.new_id,
            now: self.context.now(),
            stamp: self.stamp,
        }
    }

    /// Takes the leases of every selected role at once, writes the phase on
    /// each held role, concludes each from the role as read back, and
    /// pushes the new IDs `--start` made to Segment.
    async fn run(
        &self,
        selected: &[Selected<'_>],
        read: Vec<LiveRole>,
        segment: Option<&dyn SegmentBackend>,
    ) -> Vec<Outcome> {
        let roles: Vec<String> = selected
            .iter()
            .map(|s| s.instance.role_name.clone())
            .collect();
        // The phase's first tag write rides on the lease. Start: the trust
        // update and the lease's release; finish: the trust update and the
        // untagging, which gives the lease back too.
        let batch = self.context.lease_batch(2);
        let phase = &self.request.phase;
        let results = lease::run_with(
            &self.backend,
            &roles,
            Some(read),
            &batch,
            |position, role| self.decision(&selected[position]).first_tags(role),
            |position, role, held| async move {
                self.write_phase(&selected[position], &role, held).await
            },
        )
        .await;
        let bundle_dir = &self.request.bundle_dir;
        let concluded = conclude_all(selected, results, phase, bundle_dir);
        let mut outcomes = Vec::new();
        for (chosen, outcome) in selected.iter().zip(concluded) {
            let started = matches!(outcome, Outcome::Started { .. });
            outcomes.push(outcome);
            // `--start` pushes the new ID to Segment at once.
            if let (true, Some(segment), Some(_)) = (started, segment, &chosen.instance.segment) {
                outcomes.push(
                    push_to_segment(
                        self.context,
                        &self.backend,
                        segment,
                        chosen.instance,
                        bundle_dir,
                    )
                    .await,
                );
            }
        }
        outcomes
    }

    /// The phase's writes on one role, decided again on the role as read
    /// under its lease (tags written with the lease are not written again);
    /// `Ok(None)` when there was nothing to finish after all. A last write
    /// that removes tags removes the lease too while it surely is still
    /// this run's.
    async fn write_phase(
        &self,
        chosen: &Selected<'_>,
        role: &LiveRole,
        held: lease::Held<'_>,
    ) -> Result<Option<PhaseSteps>, RotateError> {
        let instance = chosen.instance;
        let Some(steps) = self.decision(chosen).steps(role)? else {
            return Ok(None);
        };
        let mut operations = steps.operations.clone();
        if let Some(Operation::UntagRole { keys, .. }) = operations.last_mut() {
            if held.may_release_with_last_write() {
                keys.push(tags::LOCK.to_string());
            }
        }
        for operation in &operations {
            trust::guard_trust(operation, &instance.segment_account)
                .map_err(|reason| RotateError::TrustRefused { reason })?;
            self.backend
                .execute(operation)
                .await
                .map_err(|source| WriteFailed {
                    api: operation.api_name(),
                    source,
                })?;
        }
        Ok(Some(steps))
    }
}

/// `rotate --auto`, the cron form: for every instance, the next safe step of
/// its rotation ([`crate::plan::rotation_schedule::next_step`]) — start the
/// due ones, push the new ID to Segment, finish those whose new ID has been
/// in use for `min_age` — and nothing else. Run twice in a row, the second
/// run changes nothing.
pub(crate) async fn auto(
    context: &RunContext,
    instances: &[DesiredInstance],
    function_instances: &[FunctionInstance],
    bundle_dir: &Path,
    min_age: Duration,
) -> anyhow::Result<Vec<Outcome>> {
    let segment = context.segment();
    let options = PlanOptions::read_only(context.now());
    let mut runs = session::observe(context, instances.to_vec(), &options).await?;
    target_recorded_instances(&mut runs, function_instances);
    let (shown, seen) = match segment {
        Some(backend) => segment_shows(backend, &runs).await?,
        None => (Vec::new(), None),
    };
    let segment = seen.as_ref().map(|seen| seen as &dyn SegmentBackend);
    let mut outcomes = Vec::new();
    let (mut starting, mut finishing) = (Vec::new(), Vec::new());
    for run in &runs {
        let backend = run.backend();
        for instance in &run.instances {
            let Ok(role) = run.owned_role_of(instance) else {
                continue;
            };
            let segment_view = match (&instance.segment, segment) {
                (Some(_), Some(_)) => {
                    let pending = trust::id_state(role).pending;
                    Some(match (pending, shown_for(&shown, &instance.name)) {
                        (Some(id), Some(value)) => crate::model::segment::shows(value, &id),
                        _ => false,
                    })
                }
                _ => None,
            };
            match crate::plan::rotation_schedule::next_step(
                role,
                instance.rotate_after_days,
                segment_view,
                context.now(),
                min_age,
            ) {
                Err(unreadable) => {
                    outcomes.push(Outcome::failed(instance, RotationError::from(unreadable)))
                }
                Ok(NextStep::Nothing) => {}
                Ok(NextStep::Start) => starting.push(instance.name.clone()),
                Ok(NextStep::Finish) => finishing.push(instance.name.clone()),
                Ok(NextStep::Wait(waiting)) => outcomes.push(Outcome::Waiting {
                    instance: instance.name.clone(),
                    why: waiting.to_string(),
                }),
                Ok(NextStep::Push) => {
                    if let Some(segment) = segment {
                        outcomes.push(
                            push_to_segment(context, &backend, segment, instance, bundle_dir).await,
                        );
                    }
                }
            }
        }
    }
    for (names, phase) in [
        (starting, Phase::Start),
        (
            finishing,
            Phase::Finish {
                min_age,
                force: false,
            },
        ),
    ] {
        if names.is_empty() {
            continue;
        }
        let request = Request {
            phase,
            names,
            due: false,
            all: false,
            bundle_dir: bundle_dir.to_path_buf(),
            function_instances: function_instances.to_vec(),
        };
        outcomes.extend(rotate(context, instances.to_vec(), &request).await?);
    }
    Ok(outcomes)
}

/// What a phase's steps on one role are decided from, the same before
/// leasing (the tags that ride on the lease) and under the lease.
struct Decision<'a> {
    phase: &'a Phase,
    instance: &'a DesiredInstance,
    /// The new ID `--start` adds, unless a rotation is in progress already.
    new_id: &'a ExternalId,
    /// The time of the decision (a rotation's age is counted to it).
    now: SystemTime,
    /// The run's time, which the tags record.
    stamp: SystemTime,
}

impl Decision<'_> {
    /// The phase's steps for `role`; `Ok(None)` when there is nothing to finish.
    fn steps(&self, role: &LiveRole) -> Result<Option<PhaseSteps>, RotationError> {
        let account = &self.instance.segment_account;
        match self.phase {
            Phase::Start => rotation::start(role, account, self.new_id, self.stamp).map(Some),
            Phase::Finish { min_age, force } => {
                rotation::finish(role, account, self.now, self.stamp, *min_age, *force)
            }
        }
    }

    /// The tags of the phase's first write, when that write is a `TagRole`,
    /// decided on the role as read before leasing: they are written with the
    /// lease ([`lease::run_with`]), so that the phase costs one write less.
    fn first_tags(&self, role: &LiveRole) -> BTreeMap<String, String> {
        match self.steps(role) {
            Ok(Some(steps)) => match steps.operations.into_iter().next() {
                Some(Operation::TagRole { tags, .. }) => tags,
                _ => BTreeMap::new(),
            },
            _ => BTreeMap::new(),
        }
    }
}

/// How many bundles are written at once: each write waits for two
/// `fsync`s, milliseconds on a busy disk, and thousands of them one after
/// the other made a phase minutes longer than its IAM writes.
const BUNDLE_WRITERS: usize = 8;

/// What the leased work on one role came to.
type LeasedPhase = Result<lease::Leased<Result<Option<PhaseSteps>, RotateError>>, lease::LockError>;

/// The outcome of each selected role (in order) from its leased work:
/// [`conclude`] for those whose phase ran, [`BUNDLE_WRITERS`] at once.
fn conclude_all(
    selected: &[Selected<'_>],
    results: Vec<LeasedPhase>,
    phase: &Phase,
    bundle_dir: &Path,
) -> Vec<Outcome> {
    let one = |(chosen, result): (&Selected<'_>, _)| match result {
        Err(error) => Outcome::failed(chosen.instance, error),
        Ok(lease::Leased { value, after }) => match value {
            Err(error) => Outcome::failed(chosen.instance, error),
            Ok(None) => Outcome::NothingToFinish {
                instance: chosen.instance.name.clone(),
            },
            Ok(Some(steps)) => conclude(chosen.instance, phase, &steps, after, bundle_dir),
        },
    };
    let mut jobs: Vec<_> = selected.iter().zip(results).collect();
    let size = jobs.len().div_ceil(BUNDLE_WRITERS).max(1);
    let mut chunks = Vec::new();
    while !jobs.is_empty() {
        let rest = jobs.split_off(size.min(jobs.len()));
        chunks.push(std::mem::replace(&mut jobs, rest));
    }
    std::thread::scope(|scope| {
        let writers: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(|| chunk.into_iter().map(one).collect::<Vec<_>>()))
            .collect();
        writers
            .into_iter()
            .flat_map(|writer| {
                writer
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Checks what IAM holds after the phase's writes and writes the bundle
/// from it: another run may have rotated the same role at the same moment
/// (a lease without compare-and-swap can be outrun by a slow network), so
/// the bundle says what IAM holds now rather than what this run meant to do.
fn conclude(
    instance: &DesiredInstance,
    phase: &Phase,
    steps: &PhaseSteps,
    after: Result<Option<LiveRole>, Arc<IamError>>,
    bundle_dir: &Path,
) -> Outcome {
    match conclude_from(instance, phase, steps, after, bundle_dir) {
        Ok(outcome) => outcome,
        Err(error) => Outcome::failed(instance, error),
    }
}

fn conclude_from(
    instance: &DesiredInstance,
    phase: &Phase,
    steps: &PhaseSteps,
    after: Result<Option<LiveRole>, Arc<IamError>>,
    bundle_dir: &Path,
) -> Result<Outcome, RotateError> {
    let after = after
        .map_err(RotateError::ReadBack)?
        .ok_or_else(|| RotateError::Disappeared {
            role: instance.role_name.clone(),
        })?;
    let external_id = bundle::external_id_from_live(&after).ok_or(RotateError::NoVouchedId)?;
    let accepted = after
        .trust_policy
        .valid()
        .map(trust::external_ids)
        .unwrap_or_default();
    match phase {
        Phase::Finish { .. } if accepted.len() != 1 || trust::in_progress(&after) => {
            return Err(RotateError::StillSeveralIds {
                accepted: accepted.len(),
            });
        }
        Phase::Start if !trust::in_progress(&after) => return Err(RotateError::NotStarted),
        _ => {}
    }
    let bundle = bundle::write(
        bundle_dir,
        &bundle::build(instance, &after.arn, &external_id),
    )
    .map_err(RotateError::BundleWrite)?;
    let fingerprint = external_id.fingerprint();
    Ok(match phase {
        Phase::Start => Outcome::Started {
            instance: instance.name.clone(),
            bundle,
            fingerprint,
            concurrent: external_id != steps.bundle_external_id,
        },
        Phase::Finish { .. } => Outcome::Finished {
            instance: instance.name.clone(),
            bundle,
            fingerprint,
        },
    })
}

#[cfg(test)]
mod tests;
