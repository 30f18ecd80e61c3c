//! `fnctl plan`: observe IAM and print what apply would change.

use crate::cli::args::{Format, GlobalOptions, PlanArgs};
use crate::cli::output::use_color;
use crate::plan::functions::SavedFunctions;
use crate::plan::saved::{SavedAccount, SavedPlan};
use crate::report::functions as functions_report;
use crate::report::plan as report;

use crate::execute::session as reconcile;

/// Exit code of `--detailed-exitcode` when there are changes.
pub const EXIT_CHANGES: i32 = 2;

/// Plans every account of the manifests.
pub(crate) async fn run(global: &GlobalOptions, args: &PlanArgs) -> anyhow::Result<i32> {
    // A snapshot is of one account, whatever `--account` says (see
    // `observe_snapshot`): it needs every instance to pick its own.
    let accounts: &[String] = match &args.snapshot {
        Some(_) => &[],
        None => &global.accounts,
    };
    let set = super::settings::load_manifests(
        &args.reconcile.manifests,
        super::settings::in_accounts(accounts),
    )?;
    let context = super::settings::context(global, args.reconcile.parallelism.into());
    let options = super::settings::plan_options(&args.reconcile, &set.instances, context.now());
    // The functions' steps, when the manifests declare functions (a plan
    // from a snapshot reads no Segment).
    let mut functions: Option<SavedFunctions> = None;
    let runs = match &args.snapshot {
        Some(path) => reconcile::observe_snapshot(path, &set.instances, &options)?,
        None => {
            let needs_functions = super::apply_functions::needs_functions(
                !set.functions.is_empty(),
                args.reconcile.prune,
                accounts,
                &set.instances,
            );
            let context = super::settings::with_segment_and_functions(
                context,
                &set.instances,
                needs_functions,
            )?;
            let runs = super::settings::observe_and_plan(&context, set.instances, &options).await?;
            if let Some(backend) = context.functions() {
                let reading = super::plan_functions::Reading {
                    backend,
                    runs: &runs,
                    adopt: args.reconcile.adopt,
                    bundled: &options.bundled_ids.0,
                };
                let mut plan =
                    super::plan_functions::plan(&reading, &set.functions, &set.function_instances)
                        .await?;
                // Segment is one workspace for every account: pruned only
                // when the run covers the whole set.
                if args.reconcile.prune && accounts.is_empty() {
                    let doomed = super::plan_functions::prunable(
                        backend,
                        &set.functions,
                        &set.function_instances,
                        &runs,
                    )
                    .await?;
                    plan.prune = doomed
                        .iter()
                        .map(super::plan_functions::planned_prune)
                        .collect();
                }
                functions = Some(SavedFunctions {
                    functions: set.functions,
                    instances: set.function_instances,
                    plan,
                    adopt: args.reconcile.adopt,
                });
            }
            runs
        }
    };
    let plan = reconcile::combined_plan(&runs);
    print(
        args.format,
        &plan,
        functions.as_ref(),
        use_color(global.color),
    )?;
    let function_changes = functions.as_ref().is_some_and(|f| f.plan.has_changes());
    // A plan with conflicts cannot be applied: it is not saved either.
    if plan.has_conflicts() || functions.as_ref().is_some_and(|f| f.plan.has_conflicts()) {
        anyhow::bail!("the plan has conflicts (see above); apply would refuse it");
    }
    if let Some(path) = &args.out {
        save(path, &runs, options.now, functions)?;
    }
    Ok(
        if args.detailed_exitcode && (!plan.is_empty() || function_changes) {
            EXIT_CHANGES
        } else {
            0
        },
    )
}

/// Writes the plan (and the functions' steps) for `apply --plan`.
fn save(
    path: &std::path::Path,
    runs: &[reconcile::AccountRun],
    now: std::time::SystemTime,
    functions: Option<SavedFunctions>,
) -> anyhow::Result<()> {
    let accounts = runs
        .iter()
        .map(|run| SavedAccount {
            account: run.account.clone(),
            assume_role: run.assume_role.clone(),
            instances: run.instances.clone(),
            fingerprints: run.fingerprints(),
            plan: run.plan.clone(),
        })
        .collect();
    let mut saved = SavedPlan::new(crate::model::time::to_text(now), accounts);
    if let Some(functions) = functions {
        saved = saved.with_functions(functions);
    }
    saved.write(path)?;
    eprintln!(
        "Saved the plan to {}; apply it with `fnctl apply --plan {}`.",
        path.display(),
        path.display()
    );
    Ok(())
}

/// Prints the plan, the functions' steps after IAM's.
fn print(
    format: Format,
    plan: &crate::plan::Plan,
    functions: Option<&SavedFunctions>,
    color: bool,
) -> anyhow::Result<()> {
    match format {
        Format::Text => {
            crate::cli::output::stdout(&report::text(plan, color));
            if let Some(saved) = functions {
                crate::out!("{}", functions_report::text(&saved.plan));
            }
        }
        Format::Json => {
            let mut value = report::json(plan);
            if let Some(saved) = functions {
                value["segment_functions"] = functions_report::json(&saved.plan);
            }
            crate::outln!("{}", serde_json::to_string_pretty(&value)?)
        }
        Format::Markdown => {
            crate::out!("{}", report::markdown(plan));
            if let Some(saved) = functions {
                crate::out!("{}", functions_report::markdown(&saved.plan));
            }
        }
    }
    Ok(())
}
