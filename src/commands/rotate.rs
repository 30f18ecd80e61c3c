//! `fnctl rotate`: two-phase external-ID rotation. The decisions are in
//! [`crate::rotate`]; this runs them against IAM and writes the bundles.

use std::time::SystemTime;

use crate::bundle;
use crate::cli::{GlobalOptions, RotateArgs};
use crate::external_id;
use crate::iam::IamBackend;
use crate::model::{DesiredInstance, LiveRole};
use crate::plan::PlanOptions;
use crate::rotate;
use crate::tags;

use super::reconcile::{self, AccountRun};

/// Starts or finishes the rotation of the selected instances.
pub async fn run(global: &GlobalOptions, args: &RotateArgs) -> anyhow::Result<i32> {
    let set = reconcile::load_manifests(&args.manifests)?;
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
    let runs = reconcile::observe(global, &named, &options, 8).await?;
    let mut failures = Vec::new();
    let mut rotated = 0;
    for run in &runs {
        let backend = run.backend(8);
        for instance in &run.instances {
            let Some(role) = owned_role(run, instance, &mut failures) else {
                continue;
            };
            let explicitly_named = args.names.contains(&instance.name);
            if args.due
                && !args.all
                && !explicitly_named
                && args.start
                && !rotate::is_due(role, instance.rotate_after_days, &now_text)
            {
                continue;
            }
            let steps = if args.start {
                let new_id = external_id::generate()?;
                rotate::start(role, &instance.segment_account, &new_id, &now_text).map(Some)
            } else {
                rotate::finish(
                    role,
                    &instance.segment_account,
                    SystemTime::now(),
                    &now_text,
                    args.min_age,
                    args.force,
                )
            };
            let steps = match steps {
                Ok(Some(steps)) => steps,
                Ok(None) => {
                    eprintln!(
                        "{}: no rotation in progress; nothing to finish",
                        instance.name
                    );
                    continue;
                }
                Err(error) => {
                    failures.push(format!("{}: {error}", instance.name));
                    continue;
                }
            };
            let mut failed = false;
            for operation in &steps.operations {
                if let Err(error) = backend.execute(operation).await {
                    failures.push(format!(
                        "{}: {} failed: {error}; re-run the same command to complete it",
                        instance.name,
                        operation.api_name()
                    ));
                    failed = true;
                    break;
                }
            }
            if failed {
                continue;
            }
            let path = bundle::write(
                &args.bundle_dir,
                &bundle::build(instance, &role.arn, &steps.bundle_external_id),
            )?;
            let fingerprint = external_id::fingerprint(&steps.bundle_external_id);
            if args.start {
                eprintln!("{}: rotation started; both IDs are accepted; {} holds the new ID (fingerprint {fingerprint}).", instance.name, path.display());
                eprintln!("  next: update the function's iamRoleExternalId setting from the bundle, then `fnctl rotate {} --finish` after {}", instance.name, humantime::format_duration(args.min_age));
            } else {
                eprintln!("{}: rotation finished; only the new ID (fingerprint {fingerprint}) is accepted; {} is current.", instance.name, path.display());
            }
            rotated += 1;
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

/// The instance's role when it exists and belongs to fnctl's scope.
fn owned_role<'a>(
    run: &'a AccountRun,
    instance: &DesiredInstance,
    failures: &mut Vec<String>,
) -> Option<&'a LiveRole> {
    let Some(role) = run
        .live
        .roles
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(&instance.role_name))
    else {
        failures.push(format!(
            "{}: role {} does not exist; run `fnctl apply` first",
            instance.name, instance.role_name
        ));
        return None;
    };
    let owned = role.tags.get(tags::MANAGED_BY).map(String::as_str) == Some(tags::MANAGED_BY_VALUE)
        && role.tags.get(tags::SCOPE) == Some(&instance.scope);
    if !owned {
        failures.push(format!(
            "{}: role {} is not managed by fnctl scope `{}`",
            instance.name, role.name, instance.scope
        ));
        return None;
    }
    Some(role)
}
