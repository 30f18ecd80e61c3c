//! The rotation service behind `fnctl rotate`: selects the instances, checks
//! what each phase would do to each role as just read (so that a `--finish`
//! refused by `--min-age` writes nothing, not even a lease), then runs the
//! phase on every role that has work under leases taken for all of them at
//! once, and writes the bundles from what IAM holds afterwards. The
//! decisions themselves are pure, in [`crate::plan::rotation`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::bundle;
use crate::execute::context::RunContext;
use crate::execute::lease;
use crate::execute::session::{self, AccountRun};
use crate::live::segment::SegmentBackend;
use crate::live::IamBackend;
use crate::model::external_id::{self, ExternalId};
use crate::model::operation::{Operation, WireOperation};
use crate::model::{tags, trust};
use crate::model::{DesiredInstance, LiveRole};
use crate::plan::rotation::{self, PhaseSteps, RotationError};
use crate::plan::rotation_schedule::NextStep;
use crate::plan::PlanOptions;

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
    /// The instance was not rotated; the message names it.
    Failed(String),
}

/// Why a request cannot run at all.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Nothing selected.
    #[error("name the instances to rotate, or select them with --due or --all")]
    NothingSelected,
    /// Names no manifest declares.
    #[error("no instance named {0} in the manifests")]
    Unknown(String),
}

/// Runs one phase over the selected instances of every account; the
/// outcomes follow the order of the instances per account.
pub async fn rotate<S: SegmentBackend>(
    context: &RunContext,
    settings: &session::Settings,
    instances: Vec<DesiredInstance>,
    request: &Request,
    segment: Option<&S>,
) -> anyhow::Result<Vec<Outcome>> {
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
        return Err(RequestError::Unknown(unknown.join(", ")).into());
    }
    let named: Vec<DesiredInstance> = instances
        .into_iter()
        .filter(|i| request.all || request.due || request.names.contains(&i.name))
        .collect();
    let now = context.now_rfc3339();
    let options = PlanOptions::read_only(now.clone());
    let runs = session::observe(settings, named, &options, context.parallelism).await?;
    let shown = match segment {
        Some(backend) => segment_shows(backend, &runs).await?,
        None => Vec::new(),
    };
    let mut outcomes = Vec::new();
    for run in runs {
        outcomes.extend(rotate_account(context, run, request, &now, &shown, segment).await);
    }
    Ok(outcomes)
}

/// What Segment shows of each instance's external-ID setting (`None`: the
/// instance or the setting is missing), for the instances that name one.
async fn segment_shows<S: SegmentBackend>(
    backend: &S,
    runs: &[AccountRun],
) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let read = super::segment::read_all(backend, super::segment::targets(runs)).await?;
    Ok(read
        .into_iter()
        .map(|(name, _, live)| {
            let value = live.and_then(|l| {
                l.settings
                    .get(bundle::EXTERNAL_ID_SETTING)
                    .and_then(|v| v.as_str().map(str::to_string))
            });
            (name, value)
        })
        .collect())
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
async fn push_to_segment<B: IamBackend, S: SegmentBackend>(
    context: &RunContext,
    backend: &B,
    segment: &S,
    instance: &DesiredInstance,
    bundle_dir: &Path,
) -> Outcome {
    let name = &instance.name;
    let Some(target) = &instance.segment else {
        return Outcome::Failed(format!("{name}: no `segment:` in the manifest"));
    };
    let on_disk = match bundle::read(bundle_dir, name) {
        Ok(Some(on_disk)) => on_disk,
        Ok(None) => {
            return Outcome::Failed(format!(
                "{name}: no bundle in {} to push; run `fnctl bundle` first",
                bundle_dir.display()
            ))
        }
        Err(error) => return Outcome::Failed(format!("{name}: cannot read the bundle: {error}")),
    };
    if let Err(error) = super::segment::deliver(segment, target, &on_disk).await {
        return Outcome::Failed(format!(
            "{name}: the new external ID did not reach Segment {}: {error}; both IDs stay accepted; re-run `fnctl rotate --auto`",
            target.path()
        ));
    }
    let Some(id) = bundle::external_id_of(&on_disk) else {
        return Outcome::Failed(format!("{name}: the bundle holds no external ID"));
    };
    let tag = crate::model::operation::Operation::TagRole {
        role: instance.role_name.clone(),
        tags: std::collections::BTreeMap::from([(
            tags::SEGMENT_DELIVERED.to_string(),
            // When Segment took it: now, not when the run began (a long run
            // must not make the new ID look older than it is).
            crate::plan::rotation_schedule::delivered_tag(
                &id.fingerprint(),
                &context.now_rfc3339(),
            ),
        )]),
    };
    match backend.execute(&tag).await {
        Ok(()) => Outcome::Pushed {
            instance: name.clone(),
        },
        Err(error) => Outcome::Failed(format!(
            "{name}: Segment holds the new ID, but recording when failed: {error}; re-run `fnctl rotate --auto`"
        )),
    }
}

/// One instance whose role the phase will lease.
struct Selected<'a> {
    instance: &'a DesiredInstance,
    /// The new ID `--start` adds, unless a rotation is in progress already.
    new_id: ExternalId,
}

/// Runs the phase over the selected instances of one account.
async fn rotate_account<S: SegmentBackend>(
    context: &RunContext,
    mut run: AccountRun,
    request: &Request,
    now: &str,
    shown: &[(String, Option<String>)],
    segment: Option<&S>,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let mut selected: Vec<Selected> = Vec::new();
    for instance in &run.instances {
        let role = match run.owned_role_of(instance) {
            Ok(role) => role,
            Err(failure) => {
                outcomes.push(Outcome::Failed(failure));
                continue;
            }
        };
        let by_name = request.all || request.names.contains(&instance.name);
        let due = request.due
            && (matches!(request.phase, Phase::Finish { .. })
                || trust::is_due(role, instance.rotate_after_days, now));
        if !(by_name || due) {
            continue;
        }
        // What the phase would do to the role as just read: a refusal needs
        // no lease, and neither does a role with nothing to finish, unless a
        // killed run left its lease there (leasing replaces it, releasing
        // removes it).
        let new_id = match request.phase {
            Phase::Start => match external_id::ExternalId::generate() {
                Ok(id) => id,
                Err(e) => {
                    outcomes.push(Outcome::Failed(format!(
                        "{}: cannot read the OS random source: {e}",
                        instance.name
                    )));
                    continue;
                }
            },
            Phase::Finish { .. } => ExternalId::new(""),
        };
        // A new ID the trust policy lost by hand, still in the bundle: ending
        // the rotation would lose it; apply restores it first.
        if matches!(request.phase, Phase::Finish { .. }) {
            if let Some(refusal) =
                bundle::lost_pending_refusal(role, &request.bundle_dir, &instance.name)
            {
                outcomes.push(Outcome::Failed(refusal));
                continue;
            }
        }
        // With Segment, the old ID may go only once Segment holds the new one
        // and has held it for --min-age (counted from its delivery).
        if let (
            Phase::Finish {
                min_age,
                force: false,
            },
            Some(_),
            true,
        ) = (&request.phase, &instance.segment, trust::in_progress(role))
        {
            let allowed = crate::plan::rotation_schedule::segment_allows_finish(
                role,
                shown_for(shown, &instance.name),
                context.now(),
                *min_age,
            );
            if let Err(why) = allowed {
                outcomes.push(Outcome::Failed(format!("{}: {why}", instance.name)));
                continue;
            }
        }
        match steps_for(&request.phase, role, instance, &new_id, context.now(), now) {
            Err(error) => outcomes.push(Outcome::Failed(format!("{}: {error}", instance.name))),
            Ok(None) if !role.tags.contains_key(tags::LOCK) => {
                outcomes.push(Outcome::NothingToFinish {
                    instance: instance.name.clone(),
                })
            }
            Ok(_) => selected.push(Selected { instance, new_id }),
        }
    }
    if selected.is_empty() {
        return outcomes;
    }
    let backend = run.backend(context.parallelism);
    let roles: Vec<String> = selected
        .iter()
        .map(|s| s.instance.role_name.clone())
        .collect();
    // The phase's first tag write rides on the lease. Start: the trust
    // update and the lease's release; finish: the trust update and the
    // untagging, which gives the lease back too.
    let batch = context.lease_batch(2);
    let backend = &backend;
    let selected = &selected;
    let read = std::mem::take(&mut run.live.roles);
    let results = lease::run_with(
        backend,
        &roles,
        Some(read),
        &batch,
        |position, role| {
            let Selected { instance, new_id } = &selected[position];
            first_tags(&request.phase, role, instance, new_id, context.now(), now)
        },
        |position, role, held| async move {
            let Selected { instance, new_id } = &selected[position];
            let phase = &request.phase;
            let clock_now = context.now();
            write_phase(
                backend,
                phase,
                instance,
                &role,
                new_id,
                (clock_now, now),
                held,
            )
            .await
        },
    )
    .await;
    for (chosen, result) in selected.iter().zip(results) {
        let name = &chosen.instance.name;
        let outcome = match result {
            Err(error) => Outcome::Failed(format!("{name}: {error}")),
            Ok(done) => match done.value {
                Err(failure) => Outcome::Failed(failure),
                Ok(None) => Outcome::NothingToFinish {
                    instance: name.clone(),
                },
                Ok(Some(steps)) => conclude(
                    chosen.instance,
                    &request.phase,
                    &steps,
                    done.after,
                    &request.bundle_dir,
                ),
            },
        };
        let started = matches!(outcome, Outcome::Started { .. });
        outcomes.push(outcome);
        // `--start` pushes the new ID to Segment at once.
        if let (true, Some(segment), Some(_)) = (started, segment, &chosen.instance.segment) {
            outcomes.push(
                push_to_segment(
                    context,
                    backend,
                    segment,
                    chosen.instance,
                    &request.bundle_dir,
                )
                .await,
            );
        }
    }
    outcomes
}

/// `rotate --auto`, the cron form: for every instance, the next safe step of
/// its rotation ([`crate::plan::rotation_schedule::next_step`]) — start the
/// due ones, push the new ID to Segment, finish those whose new ID has been
/// in use for `min_age` — and nothing else. Run twice in a row, the second
/// run changes nothing.
pub async fn auto<S: SegmentBackend>(
    context: &RunContext,
    settings: &session::Settings,
    instances: &[DesiredInstance],
    bundle_dir: &Path,
    min_age: Duration,
    segment: Option<&S>,
) -> anyhow::Result<Vec<Outcome>> {
    let now = context.now_rfc3339();
    let options = PlanOptions::read_only(now.clone());
    let runs =
        session::observe(settings, instances.to_vec(), &options, context.parallelism).await?;
    let shown = match segment {
        Some(backend) => segment_shows(backend, &runs).await?,
        None => Vec::new(),
    };
    let mut outcomes = Vec::new();
    let (mut starting, mut finishing) = (Vec::new(), Vec::new());
    for run in &runs {
        let backend = run.backend(context.parallelism);
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
                &now,
                min_age,
            ) {
                NextStep::Nothing => {}
                NextStep::Start => starting.push(instance.name.clone()),
                NextStep::Finish => finishing.push(instance.name.clone()),
                NextStep::Wait { why } => outcomes.push(Outcome::Waiting {
                    instance: instance.name.clone(),
                    why,
                }),
                NextStep::Push => {
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
        };
        outcomes.extend(rotate(context, settings, instances.to_vec(), &request, segment).await?);
    }
    Ok(outcomes)
}

/// The phase's steps for `role`; `Ok(None)` when there is nothing to finish.
fn steps_for(
    phase: &Phase,
    role: &LiveRole,
    instance: &DesiredInstance,
    new_id: &ExternalId,
    clock_now: SystemTime,
    now: &str,
) -> Result<Option<PhaseSteps>, RotationError> {
    match phase {
        Phase::Start => rotation::start(role, &instance.segment_account, new_id, now).map(Some),
        Phase::Finish { min_age, force } => rotation::finish(
            role,
            &instance.segment_account,
            clock_now,
            now,
            *min_age,
            *force,
        ),
    }
}

/// The tags of the phase's first write, when that write is a `TagRole`,
/// decided on the role as read before leasing: they are written with the
/// lease ([`lease::run_with`]), so that the phase costs one write less.
fn first_tags(
    phase: &Phase,
    role: &LiveRole,
    instance: &DesiredInstance,
    new_id: &ExternalId,
    clock_now: SystemTime,
    now: &str,
) -> BTreeMap<String, String> {
    match steps_for(phase, role, instance, new_id, clock_now, now) {
        Ok(Some(steps)) => match steps.operations.into_iter().next() {
            Some(Operation::TagRole { tags, .. }) => tags,
            _ => BTreeMap::new(),
        },
        _ => BTreeMap::new(),
    }
}

/// The phase's writes on one role, decided again on the role as read under
/// its lease (tags written with the lease are not written again);
/// `Ok(None)` when there was nothing to finish after all. A last write that
/// removes tags removes the lease too while it surely is still this run's.
async fn write_phase<B: IamBackend>(
    backend: &B,
    phase: &Phase,
    instance: &DesiredInstance,
    role: &LiveRole,
    new_id: &ExternalId,
    (clock_now, now): (SystemTime, &str),
    held: lease::Held<'_>,
) -> Result<Option<PhaseSteps>, String> {
    let name = &instance.name;
    let Some(steps) = steps_for(phase, role, instance, new_id, clock_now, now)
        .map_err(|e| format!("{name}: {e}"))?
    else {
        return Ok(None);
    };
    let mut operations = steps.operations.clone();
    if let Some(Operation::UntagRole { keys, .. }) = operations.last_mut() {
        if held.may_release_with_last_write() {
            keys.push(tags::LOCK.to_string());
        }
    }
    for operation in &operations {
        send(backend, instance, operation).await?;
    }
    Ok(Some(steps))
}

async fn send<B: IamBackend>(
    backend: &B,
    instance: &DesiredInstance,
    operation: &WireOperation,
) -> Result<(), String> {
    let name = &instance.name;
    trust::guard_trust(operation, &instance.segment_account).map_err(|e| format!("{name}: {e}"))?;
    backend.execute(operation).await.map_err(|error| {
        format!(
            "{name}: {} failed: {error}; the bundle on disk still works; re-run the same command to complete it",
            operation.api_name()
        )
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
    after: Result<Option<LiveRole>, std::sync::Arc<crate::live::IamError>>,
    bundle_dir: &Path,
) -> Outcome {
    let name = &instance.name;
    let after = match after {
        Ok(Some(after)) => after,
        Ok(None) => {
            return Outcome::Failed(format!("{name}: role {} disappeared", instance.role_name))
        }
        Err(e) => return Outcome::Failed(format!("{name}: reading the role back: {e}")),
    };
    let Some(external_id) = bundle::external_id_from_live(&after) else {
        return Outcome::Failed(format!(
            "{name}: the trust policy holds no external ID fnctl can vouch for"
        ));
    };
    let accepted = after
        .trust_policy
        .valid()
        .map(trust::external_ids)
        .unwrap_or_default();
    match phase {
        Phase::Finish { .. } if accepted.len() != 1 || trust::in_progress(&after) => {
            return Outcome::Failed(format!("{name}: the trust policy still accepts {} external IDs after --finish (a concurrent run?); re-run `fnctl rotate {name} --finish`", accepted.len()));
        }
        Phase::Start if !trust::in_progress(&after) => {
            return Outcome::Failed(format!("{name}: the rotation is not in a consistent state after --start (a concurrent run?); the bundle was not changed; re-run `fnctl rotate {name} --start`"));
        }
        _ => {}
    }
    let bundle = match bundle::write(
        bundle_dir,
        &bundle::build(instance, &after.arn, &external_id),
    ) {
        Ok(path) => path,
        Err(e) => return Outcome::Failed(format!("{name}: cannot write the bundle: {e}")),
    };
    let fingerprint = external_id.fingerprint();
    match phase {
        Phase::Start => Outcome::Started {
            instance: name.clone(),
            bundle,
            fingerprint,
            concurrent: external_id != steps.bundle_external_id,
        },
        Phase::Finish { .. } => Outcome::Finished {
            instance: name.clone(),
            bundle,
            fingerprint,
        },
    }
}
