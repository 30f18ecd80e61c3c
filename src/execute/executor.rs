//! The executor: carries out a [`Plan`] through an [`IamBackend`], roles
//! concurrently up to a limit, the steps of one role in order, changes to
//! trust policies and external-ID tags under leases taken all at once. It
//! resolves external-ID references into secrets only here, right before
//! sending, and retries IAM's eventual consistency (a role just created may
//! briefly be unknown). Throttling (the backend's write limiter) and 5xx
//! (the SDK) are retried below it.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::stream::{self, StreamExt};

use crate::execute::context::RunContext;
use crate::execute::lease;
use crate::live::{IamBackend, IamError};
use crate::model::external_id::ExternalId;
use crate::model::operation::{Operation, SecretDocument, WireOperation};
use crate::model::tags;
use crate::model::trust;
use crate::model::trust::external_ids;
use crate::model::LiveRole;
use crate::plan::{ExternalIdRef, Plan, RoleChange, TrustSpec};

/// How often an operation is retried while IAM has not caught up with a
/// create (the first wait is the run's [`crate::execute::context::Timings::consistency_wait`]; it
/// doubles, up to 8 s).
const CONSISTENCY_ATTEMPTS: u32 = 8;

/// IAM refused or failed one write (of apply's or a rotation's).
#[derive(Debug, thiserror::Error)]
#[error("{api} failed")]
pub struct WriteFailed {
    /// IAM's name of the write.
    pub api: &'static str,
    #[source]
    pub source: IamError,
}

/// Why a role's steps stopped.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// A plan refers to an ID the live trust policy no longer holds: IAM
    /// moved since the plan, so fnctl refuses rather than guess.
    #[error("the external ID with fingerprint {fingerprint} is no longer in the trust policy; run plan again")]
    ExternalIdGone { fingerprint: String },
    /// A new external ID could not be drawn.
    #[error("cannot read the OS random source")]
    Random(#[source] getrandom::Error),
    /// A trust spec without any ID: never written.
    #[error("refusing to write a trust policy without an external ID")]
    NoExternalId,
    /// The last check before a trust policy leaves fnctl refused it.
    #[error("{reason}")]
    TrustRefused { reason: String },
    /// IAM refused or failed a write.
    #[error(transparent)]
    Write(#[from] WriteFailed),
    /// The role was gone when read back after its trust policy was written.
    #[error("role {role} disappeared after its trust policy was written")]
    Disappeared { role: String },
    /// The read-back after a new ID could not be made.
    #[error("reading the role back")]
    ReadBack(#[source] IamError),
    /// Another run changed the role between the plan's read and the lease.
    #[error("the role's trust policy or tags changed since they were read (another fnctl run?); nothing was changed; run apply again")]
    ChangedSinceRead,
    /// The role's lease was not taken.
    #[error(transparent)]
    Lock(#[from] lease::LockError),
}

/// What happened to one role.
#[derive(Debug)]
pub struct RoleOutcome {
    /// Index of the change in the plan.
    pub change_index: usize,
    /// Steps that succeeded.
    pub completed_steps: usize,
    /// The external IDs the trust policy now holds, in plan order (secret:
    /// only for bundles); empty when the trust policy was not touched.
    pub external_ids: Vec<ExternalId>,
    /// The failure that stopped the role's steps, when one did.
    pub error: Option<StepError>,
}

impl RoleOutcome {
    /// A role whose first step never ran.
    fn failed_before_any_step(change_index: usize, error: StepError) -> Self {
        RoleOutcome {
            change_index,
            completed_steps: 0,
            external_ids: Vec::new(),
            error: Some(error),
        }
    }
}

/// Executes every change of `plan`; `live` are the roles it was planned from.
/// `progress` receives one line per finished role. Changes to a trust policy
/// or the external-ID tags of an existing role run under the role's lease,
/// taken for all of them at once after the other changes are done. Roles
/// are worked on `context.parallelism` at once.
pub(crate) async fn execute<B: IamBackend>(
    context: &RunContext,
    backend: &B,
    plan: &Plan,
    live: &[LiveRole],
    bundled: &[ExternalId],
    now: &str,
    progress: &(dyn Fn(&str) + Sync),
) -> Vec<RoleOutcome> {
    let total = plan.changes.len();
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let report = |change: &RoleChange, outcome: &RoleOutcome| {
        let done = finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let status = match &outcome.error {
            None => "done".to_string(),
            Some(error) => format!("FAILED: {}", crate::report::error_chain(error)),
        };
        progress(&format!(
            "[{done}/{total}] {} {}: {status}",
            change.action.as_str(),
            change.role
        ));
    };
    let report = &report;
    // IAM's role names are case-insensitive.
    let by_name: std::collections::HashMap<String, &LiveRole> = live
        .iter()
        .map(|role| (role.name.to_ascii_lowercase(), role))
        .collect();
    let mut leased: Vec<(usize, &LiveRole)> = Vec::new();
    let mut free: Vec<(usize, Option<&LiveRole>)> = Vec::new();
    for (index, change) in plan.changes.iter().enumerate() {
        let live_role = by_name.get(&change.role.to_ascii_lowercase()).copied();
        match live_role.filter(|_| touches_rotation_state(change)) {
            Some(planned) => leased.push((index, planned)),
            None => free.push((index, live_role)),
        }
    }
    let mut outcomes: Vec<RoleOutcome> = stream::iter(free)
        .map(|(index, live_role)| async move {
            let change = &plan.changes[index];
            let outcome =
                execute_steps(context, backend, index, change, live_role, bundled, now).await;
            report(change, &outcome);
            outcome
        })
        .buffer_unordered(context.parallelism)
        .collect()
        .await;
    outcomes.extend(execute_leased(context, backend, plan, &leased, bundled, now, report).await);
    outcomes.sort_by_key(|o| o.change_index);
    outcomes
}

/// Executes the changes in `leased` (change index, role as planned from)
/// under their roles' leases. A rotation (or another apply) must not
/// interleave with a change to the trust policy: each change runs only if
/// the role is still as it was read when planned.
async fn execute_leased<B: IamBackend>(
    context: &RunContext,
    backend: &B,
    plan: &Plan,
    leased: &[(usize, &LiveRole)],
    bundled: &[ExternalId],
    now: &str,
    report: &(dyn Fn(&RoleChange, &RoleOutcome) + Sync),
) -> Vec<RoleOutcome> {
    if leased.is_empty() {
        return Vec::new();
    }
    let roles: Vec<String> = leased
        .iter()
        .map(|(index, _)| plan.changes[*index].role.clone())
        .collect();
    // A trust update, the external-ID tags, the lease's release.
    let batch = context.lease_batch(3);
    let results = lease::run(backend, &roles, None, &batch, |position, current| {
        let (index, planned) = leased[position];
        let change = &plan.changes[index];
        async move {
            let outcome = if unchanged_since_planned(planned, &current) {
                execute_steps(context, backend, index, change, Some(planned), bundled, now).await
            } else {
                RoleOutcome::failed_before_any_step(index, StepError::ChangedSinceRead)
            };
            report(change, &outcome);
            outcome
        }
    })
    .await;
    results
        .into_iter()
        .zip(leased)
        .map(|(result, (index, _))| match result {
            Ok(done) => done.value,
            Err(error) => {
                let outcome = RoleOutcome::failed_before_any_step(*index, error.into());
                report(&plan.changes[*index], &outcome);
                outcome
            }
        })
        .collect()
}

/// Whether a change touches what a rotation also writes (the trust policy
/// or the external-ID tags): such changes run under the role's lease.
fn touches_rotation_state(change: &RoleChange) -> bool {
    let rotation_tag = |key: &str| {
        [
            tags::EXTERNAL_ID,
            tags::ROTATION_PENDING,
            tags::ROTATION_STARTED,
        ]
        .contains(&key)
    };
    change.action != crate::plan::Action::Create
        && change.steps.iter().any(|step| match &step.operation {
            Operation::UpdateTrustPolicy { .. } => true,
            Operation::TagRole { tags: changed, .. } => changed.keys().any(|k| rotation_tag(k)),
            Operation::UntagRole { keys, .. } => keys.iter().any(|k| rotation_tag(k)),
            _ => false,
        })
}

/// Whether the trust policy and tags fnctl planned from are still what IAM holds.
fn unchanged_since_planned(planned: &LiveRole, now: &LiveRole) -> bool {
    let without_lock = |role: &LiveRole| {
        let mut tags = role.tags.clone();
        tags.remove(tags::LOCK);
        tags
    };
    let trust = |role: &LiveRole| role.trust_policy.valid().map(crate::policy::normalize);
    trust(planned) == trust(now) && without_lock(planned) == without_lock(now)
}

async fn execute_steps<B: IamBackend>(
    context: &RunContext,
    backend: &B,
    change_index: usize,
    change: &RoleChange,
    live_role: Option<&LiveRole>,
    bundled: &[ExternalId],
    now: &str,
) -> RoleOutcome {
    // The IDs a plan may refer to: those in the trust policy, and those of
    // the bundles on disk (a lost ID is restored from its bundle).
    let mut live_ids: Vec<ExternalId> = live_role
        .and_then(|r| r.trust_policy.valid())
        .map(external_ids)
        .unwrap_or_default();
    live_ids.extend(
        bundled
            .iter()
            .filter(|id| !live_ids.contains(id))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let mut outcome = RoleOutcome {
        change_index,
        completed_steps: 0,
        external_ids: Vec::new(),
        error: None,
    };
    let created_here = change
        .steps
        .iter()
        .any(|s| matches!(s.operation, Operation::CreateRole { .. }));
    let sending = Sending {
        context,
        backend,
        live_ids: &live_ids,
        created_here,
        now,
    };
    for step in &change.steps {
        match sending
            .step(&step.operation, &mut outcome.external_ids)
            .await
        {
            Ok(()) => outcome.completed_steps += 1,
            Err(error) => {
                outcome.error = Some(error);
                return outcome;
            }
        }
    }
    outcome
}

/// What sending the steps of one role shares.
struct Sending<'a, B> {
    context: &'a RunContext,
    backend: &'a B,
    /// The IDs the plan's references resolve to.
    live_ids: &'a [ExternalId],
    /// The role is created by this change (IAM may not know it at once).
    created_here: bool,
    /// The run's time, for the tags recording a new ID.
    now: &'a str,
}

impl<B: IamBackend> Sending<'_, B> {
    /// Sends one planned operation, its external-ID references resolved (a
    /// new ID generated where the plan says so). When it writes the trust
    /// policy, `external_ids` becomes the IDs the trust policy now holds.
    async fn step(
        &self,
        planned: &crate::model::operation::Operation<TrustSpec>,
        external_ids: &mut Vec<ExternalId>,
    ) -> Result<(), StepError> {
        let mut generated: Option<ExternalId> = None;
        let mut operation = planned
            .clone()
            .map_trust(|spec| resolve_trust(&spec, self.live_ids, &mut generated))?;
        if let (
            Some(new_id),
            Operation::CreateRole {
                tags: role_tags, ..
            },
        ) = (&generated, &mut operation)
        {
            role_tags.insert(tags::EXTERNAL_ID.into(), new_id.fingerprint());
            role_tags.insert(tags::EXTERNAL_ID_CREATED.into(), self.now.to_string());
        }
        let (Operation::CreateRole { trust_policy, .. }
        | Operation::UpdateTrustPolicy { trust_policy, .. }) = planned
        else {
            return self.send(&operation).await;
        };
        trust::guard_trust(&operation, &trust_policy.segment_account)
            .map_err(|reason| StepError::TrustRefused { reason })?;
        self.send(&operation).await?;
        *external_ids = ids_in_order(trust_policy, self.live_ids, generated.as_ref());
        match (&generated, &operation) {
            // A trust policy that got a new ID must say so in the tags too.
            (Some(new_id), Operation::UpdateTrustPolicy { role, .. }) => {
                *external_ids = self.record_new_id(role, new_id).await?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Sends one write; a create that failed as already done is accepted
    /// when an earlier attempt of this very run made it.
    async fn send(&self, operation: &WireOperation) -> Result<(), StepError> {
        match send(self.context, self.backend, operation, self.created_here).await {
            Ok(()) => Ok(()),
            Err(error) if created_by_an_earlier_attempt(self.backend, operation, &error).await => {
                Ok(())
            }
            Err(source) => Err(WriteFailed {
                api: operation.api_name(),
                source,
            }
            .into()),
        }
    }

    /// Tags the fingerprint of the ID just written into `role`'s trust
    /// policy, then reads the role back: another run may have replaced the
    /// ID meanwhile, so the bundle gets what IAM holds now, never what this
    /// run assumed.
    async fn record_new_id(
        &self,
        role: &str,
        new_id: &ExternalId,
    ) -> Result<Vec<ExternalId>, StepError> {
        let tag = Operation::TagRole {
            role: role.to_string(),
            tags: BTreeMap::from([
                (tags::EXTERNAL_ID.to_string(), new_id.fingerprint()),
                (tags::EXTERNAL_ID_CREATED.to_string(), self.now.to_string()),
            ]),
        };
        send(self.context, self.backend, &tag, self.created_here)
            .await
            .map_err(|source| WriteFailed {
                api: "TagRole",
                source,
            })?;
        match self.backend.get_role(role).await {
            Ok(Some(after)) => Ok(crate::bundle::external_id_from_live(&after)
                .into_iter()
                .collect()),
            Ok(None) => Err(StepError::Disappeared {
                role: role.to_string(),
            }),
            Err(error) => Err(StepError::ReadBack(error)),
        }
    }
}

fn ids_in_order(
    spec: &TrustSpec,
    live_ids: &[ExternalId],
    generated: Option<&ExternalId>,
) -> Vec<ExternalId> {
    spec.external_ids
        .iter()
        .filter_map(|reference| match reference {
            ExternalIdRef::Existing { fingerprint } => live_ids
                .iter()
                .find(|id| id.fingerprint() == *fingerprint)
                .cloned(),
            ExternalIdRef::Generate => generated.cloned(),
        })
        .collect()
}

/// Turns a trust spec into the JSON text IAM receives, generating a new ID
/// where the plan says so. A referenced ID that is gone from the live trust
/// policy means IAM moved since the plan: refuse rather than guess.
fn resolve_trust(
    spec: &TrustSpec,
    live_ids: &[ExternalId],
    generated: &mut Option<ExternalId>,
) -> Result<SecretDocument, StepError> {
    let mut ids = Vec::new();
    for reference in &spec.external_ids {
        match reference {
            ExternalIdRef::Existing { fingerprint } => {
                match live_ids.iter().find(|id| id.fingerprint() == *fingerprint) {
                    Some(id) => ids.push(id.clone()),
                    None => {
                        return Err(StepError::ExternalIdGone {
                            fingerprint: fingerprint.clone(),
                        })
                    }
                }
            }
            ExternalIdRef::Generate => {
                let id = ExternalId::generate().map_err(StepError::Random)?;
                *generated = Some(id.clone());
                ids.push(id);
            }
        }
    }
    if ids.is_empty() {
        return Err(StepError::NoExternalId);
    }
    let refs: Vec<&ExternalId> = ids.iter().collect();
    Ok(trust::wire_trust(&spec.segment_account, &refs))
}

/// Whether a CreateRole that failed with EntityAlreadyExists had in fact
/// succeeded: a timed-out attempt that reached IAM, retried by the SDK. The
/// role then carries the fingerprint of the very ID this run generated.
async fn created_by_an_earlier_attempt<B: IamBackend>(
    backend: &B,
    operation: &WireOperation,
    error: &IamError,
) -> bool {
    let (
        IamError::AlreadyExists { .. },
        Operation::CreateRole {
            role, tags: sent, ..
        },
    ) = (error, operation)
    else {
        return false;
    };
    let Some(fingerprint) = sent.get(tags::EXTERNAL_ID) else {
        return false;
    };
    matches!(backend.get_role(role).await, Ok(Some(live)) if live.tags.get(tags::EXTERNAL_ID) == Some(fingerprint))
}

/// Sends one operation, retrying NoSuchEntity for a role created moments ago.
async fn send<B: IamBackend>(
    context: &RunContext,
    backend: &B,
    operation: &WireOperation,
    created_here: bool,
) -> Result<(), IamError> {
    let mut wait = context.timings.consistency_wait;
    let mut attempt = 1;
    loop {
        match backend.execute(operation).await {
            Err(IamError::NoSuchEntity { .. })
                if created_here
                    && attempt < CONSISTENCY_ATTEMPTS
                    && !matches!(operation, Operation::CreateRole { .. }) =>
            {
                context.clock.sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(8));
                attempt += 1;
            }
            // Deleting what is already gone is what was wanted (an earlier, interrupted run).
            Err(IamError::NoSuchEntity { .. })
                if matches!(
                    operation,
                    Operation::DeleteInlinePolicy { .. }
                        | Operation::DetachManagedPolicy { .. }
                        | Operation::DeleteRole { .. }
                ) =>
            {
                return Ok(())
            }
            other => return other,
        }
    }
}
