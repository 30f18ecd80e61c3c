//! `fnctl bundle`: write settings bundles from IAM as it is, changing nothing.

use crate::bundle;
use crate::cli::args::{BundleArgs, GlobalOptions};
use crate::plan::PlanOptions;

use crate::execute::session as reconcile;

/// Writes the bundle of every selected instance whose role fnctl can vouch for.
pub(crate) async fn run(global: &GlobalOptions, args: &BundleArgs) -> anyhow::Result<i32> {
    let set = super::settings::load_manifests(
        &args.manifests,
        super::settings::in_accounts_or_named(&global.accounts, &args.instances),
    )?;
    let unknown: Vec<&String> = args
        .instances
        .iter()
        .filter(|name| !set.instances.iter().any(|i| &i.name == *name))
        .collect();
    if !unknown.is_empty() {
        anyhow::bail!(
            "no instance named {} in the manifests",
            unknown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let selected: Vec<_> = set
        .instances
        .iter()
        .filter(|i| args.instances.is_empty() || args.instances.contains(&i.name))
        .cloned()
        .collect();
    let context = super::settings::context(global, crate::execute::DEFAULT_PARALLELISM.into());
    let options = PlanOptions::read_only(context.now());
    let runs = reconcile::observe(&context, selected, &options).await?;
    let mut problems = Vec::new();
    let mut written = 0;
    for run in &runs {
        for instance in &run.instances {
            let role = match run.owned_role_of(instance) {
                Ok(role) => role,
                Err(problem) => {
                    let advice = problem.advice().map(|a| format!("; {a}"));
                    problems.push(format!(
                        "{}: {problem}{}",
                        instance.name,
                        advice.unwrap_or_default()
                    ));
                    continue;
                }
            };
            if let Some(refusal) = bundle::lost_pending_refusal(role, &args.out_dir, &instance.name)
            {
                problems.push(refusal.to_string());
                continue;
            }
            let Some(external_id) = bundle::external_id_from_live(role) else {
                problems.push(format!("{}: the trust policy holds no external ID fnctl can vouch for; run `fnctl apply`", instance.name));
                continue;
            };
            match bundle::write(
                &args.out_dir,
                &bundle::build(instance, &role.arn, &external_id),
            ) {
                Ok(path) => {
                    eprintln!("wrote {}", path.display());
                    written += 1;
                }
                Err(error) => problems.push(format!(
                    "{}: cannot write the bundle in {}: {error}",
                    instance.name,
                    args.out_dir.display()
                )),
            }
        }
    }
    eprintln!("{written} bundle(s) written to {}.", args.out_dir.display());
    if problems.is_empty() {
        return Ok(0);
    }
    for problem in &problems {
        eprintln!("error: {problem}");
    }
    Ok(1)
}
