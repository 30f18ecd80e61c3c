//! `fnctl rotate`: two-phase external-ID rotation. The decisions are in
//! [`crate::plan::rotation`]; this runs them against IAM, one role at a time under a
//! lease lock (so two runs never interleave on a role), and writes the
//! bundles from what IAM holds afterwards.

use std::time::SystemTime;

use futures::stream::{self, StreamExt};

use crate::bundle;
use crate::cli::args::{GlobalOptions, RotateArgs};
use crate::execute::lease as lock;
use crate::live::aws::iam::AwsIam;
use crate::live::IamBackend;
use crate::model::{DesiredInstance, LiveRole};
use crate::plan::rotation as rotate;
use crate::plan::PlanOptions;

use crate::execute::session as reconcile;

/// Roles rotated at once per account (each holds its lock for a few seconds).
const ROTATION_PARALLELISM: usize = 8;

/// Starts or finishes the rotation of the selected instances.
pub async fn run(global: &GlobalOptions, args: &RotateArgs) -> anyhow::Result<i32> {
    let set = super::settings::load_manifests(&args.manifests)?;
    if args.names.is_empty() && !args.due && !args.all {
        anyhow::bail!("name the instances to rotate, or select them with --due or --all");
    }
    let unknown: Vec<&str> = args
        .names
        .iter()
        .filter(|n| !set.instances.iter().any(|i| &i.name == *n))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        anyhow::bail!("no instance named {} in the manifests", unknown.join(", "));
    }
    let named: Vec<DesiredInstance> = set
        .instances
        .iter()
        .filter(|i| args.all || args.due || args.names.contains(&i.name))
        .cloned()
        .collect();
    let now_text = reconcile::now();
    let options = PlanOptions {
        now: now_text.clone(),
        ..PlanOptions::default()
    };
    let runs = reconcile::observe(
        &super::settings::session(global),
        &named,
        &options,
        ROTATION_PARALLELISM,
    )
    .await?;
    let mut failures = Vec::new();
    let mut rotated = 0;
    for run in &runs {
        let backend = run.backend(ROTATION_PARALLELISM);
        let mut selected = Vec::new();
        for instance in &run.instances {
            let role = match run.owned_role_of(instance) {
                Ok(role) => role,
                Err(failure) => {
                    failures.push(failure);
                    continue;
                }
            };
            let by_name = args.all || args.names.contains(&instance.name);
            let due = args.due
                && (!args.start
                    || crate::model::trust::is_due(role, instance.rotate_after_days, &now_text));
            // Finishing needs a rotation, its leftover tags, or a lease a killed
            // run left (locking replaces it, releasing removes it): the others
            // are not locked for nothing.
            let finishable = crate::model::trust::in_progress(role)
                || role.tags.contains_key(crate::model::tags::ROTATION_PENDING)
                || role.tags.contains_key(crate::model::tags::LOCK);
            if args.finish && (by_name || due) && !finishable {
                eprintln!(
                    "{}: no rotation in progress; nothing to finish",
                    instance.name
                );
                continue;
            }
            if by_name || due {
                selected.push(instance);
            }
        }
        let outcomes: Vec<Result<Option<String>, String>> = stream::iter(selected)
            .map(|instance| rotate_one(&backend, instance, args, &now_text))
            .buffer_unordered(ROTATION_PARALLELISM)
            .collect()
            .await;
        for outcome in outcomes {
            match outcome {
                Ok(Some(message)) => {
                    eprintln!("{message}");
                    rotated += 1;
                }
                Ok(None) => {}
                Err(failure) => failures.push(failure),
            }
        }
    }
    eprintln!(
        "{rotated} instance(s) {}.",
        if args.start {
            "started rotating"
        } else {
            "finished rotating"
        }
    );
    if failures.is_empty() {
        return Ok(0);
    }
    for failure in &failures {
        eprintln!("error: {failure}");
    }
    Ok(1)
}

/// Rotates one role under its lock; `Ok(None)` when there was nothing to do.
async fn rotate_one(
    backend: &AwsIam,
    instance: &DesiredInstance,
    args: &RotateArgs,
    now_text: &str,
) -> Result<Option<String>, String> {
    let name = &instance.name;
    let (lease, role) = lock::acquire(backend, &instance.role_name)
        .await
        .map_err(|e| format!("{name}: {e}"))?;
    let result = rotate_locked(backend, instance, &role, args, now_text).await;
    if let Err(error) = lock::release(backend, &lease).await {
        // The lease expires by itself; say so rather than fail the rotation.
        eprintln!(
            "warning: {name}: could not release the lock on {} ({error}); it expires in {}",
            instance.role_name,
            humantime::format_duration(lock::lease())
        );
    }
    result
}

async fn rotate_locked(
    backend: &AwsIam,
    instance: &DesiredInstance,
    role: &LiveRole,
    args: &RotateArgs,
    now_text: &str,
) -> Result<Option<String>, String> {
    let name = &instance.name;
    let steps = if args.start {
        let new_id = crate::model::external_id::ExternalId::generate()
            .map_err(|e| format!("{name}: cannot read the OS random source: {e}"))?;
        rotate::start(role, &instance.segment_account, &new_id, now_text).map(Some)
    } else {
        rotate::finish(
            role,
            &instance.segment_account,
            SystemTime::now(),
            now_text,
            args.min_age,
            args.force,
        )
    };
    let steps = match steps {
        Ok(Some(steps)) => steps,
        Ok(None) => {
            eprintln!("{name}: no rotation in progress; nothing to finish");
            return Ok(None);
        }
        Err(error) => return Err(format!("{name}: {error}")),
    };
    for operation in &steps.operations {
        crate::model::trust::guard_trust(operation, &instance.segment_account)
            .map_err(|e| format!("{name}: {e}"))?;
        backend
            .execute(operation)
            .await
            .map_err(|error| format!("{name}: {} failed: {error}; the bundle on disk still works; re-run the same command to complete it", operation.api_name()))?;
    }
    // The bundle carries what IAM now holds, read back rather than assumed.
    let after = backend
        .get_role(&instance.role_name)
        .await
        .map_err(|e| format!("{name}: reading the role back: {e}"))?
        .ok_or_else(|| format!("{name}: role {} disappeared", instance.role_name))?;
    let external_id = bundle::external_id_from_live(&after).ok_or_else(|| {
        format!("{name}: the trust policy holds no external ID fnctl can vouch for")
    })?;
    // Another run may have rotated the same role at the same moment (a lease
    // lock without compare-and-swap can be outrun by a slow network): say what
    // IAM holds now rather than what this run meant to do.
    let accepted = after
        .trust_policy
        .valid()
        .map(crate::model::trust::external_ids)
        .unwrap_or_default();
    if args.finish && (accepted.len() != 1 || crate::model::trust::in_progress(&after)) {
        return Err(format!("{name}: the trust policy still accepts {} external IDs after --finish (a concurrent run?); re-run `fnctl rotate {name} --finish`", accepted.len()));
    }
    if args.start && !crate::model::trust::in_progress(&after) {
        return Err(format!("{name}: the rotation is not in a consistent state after --start (a concurrent run?); the bundle was not changed; re-run `fnctl rotate {name} --start`"));
    }
    if args.start && external_id != steps.bundle_external_id {
        eprintln!("warning: {name}: another run rotated this role at the same time; the bundle holds the new ID IAM accepts now");
    }
    let path = bundle::write(
        &args.bundle_dir,
        &bundle::build(instance, &after.arn, &external_id),
    )
    .map_err(|e| format!("{name}: cannot write the bundle: {e}"))?;
    let fingerprint = external_id.fingerprint();
    Ok(Some(if args.start {
        format!(
            "{name}: rotation started; both IDs are accepted; {} holds the new ID (fingerprint {fingerprint}).\n  next: update the function's iamRoleExternalId setting from the bundle, then `fnctl rotate {name} --finish` after {}",
            path.display(),
            humantime::format_duration(args.min_age)
        )
    } else {
        format!("{name}: rotation finished; only the new ID (fingerprint {fingerprint}) is accepted; {} is current.", path.display())
    }))
}
