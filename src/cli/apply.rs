//! `fnctl apply`: make IAM match the manifests (or a saved plan), then write
//! the settings bundles.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use crate::bundle::{self, Bundle};
use crate::cli::args::{ApplyArgs, GlobalOptions};
use crate::cli::output::use_color;
use crate::execute::context::RunContext;
use crate::execute::executor::{execute, RoleOutcome};
use crate::execute::segment::{deliver_many, Delivery};
use crate::live::segment::SegmentBackend;
use crate::model::segment::SegmentTarget;
use crate::model::DesiredInstance;
use crate::plan::functions::FunctionsPlan;
use crate::plan::saved::SavedPlan;
use crate::plan::{planner, Plan, PlanOptions};
use crate::report::plan as report;

use crate::execute::session::{self as reconcile, AccountRun};

/// Applies the plan of every account; exit 1 if anything failed.
pub(crate) async fn run(global: &GlobalOptions, args: &ApplyArgs) -> anyhow::Result<i32> {
    let context = super::settings::context(global, args.reconcile.parallelism.into());
    let now = context.now();
    let (context, runs, mut saved_plans, functions) = match &args.plan {
        Some(path) => observe_saved(context, args, path, now).await?,
        None => observe_fresh(context, global, args, now).await?,
    };
    let (mut combined, sizes) = combine(&mut saved_plans);
    if !shown_and_confirmed(
        &combined,
        &functions,
        use_color(global.color),
        args.auto_approve,
    )? {
        eprintln!("Apply cancelled; nothing was changed.");
        return Ok(1);
    }
    // Shown: the documents' before and after are not needed again (at
    // thousands of roles they weigh tens of MB).
    for step in combined.changes.iter_mut().flat_map(|c| c.steps.iter_mut()) {
        step.document = None;
    }
    split(combined, &sizes, &mut saved_plans);
    let progress = |line: &str| eprintln!("{line}");
    // Accounts are applied concurrently, each within its own parallelism.
    let executions = runs.iter().zip(&saved_plans).map(|(run, plan)| {
        let now_text = crate::model::time::to_text(now);
        let (progress, context) = (&progress, &context);
        async move {
            let backend = run.backend();
            let bundled = reconcile::bundled_ids(&run.instances, &args.reconcile.bundle_dir);
            let (live, bundled) = (&run.live.roles, &bundled.0);
            execute(context, &backend, plan, live, bundled, &now_text, progress).await
        }
    });
    let all_outcomes = futures::future::join_all(executions).await;
    let mut tally = Tally::default();
    let mut deliveries = Vec::new();
    let mut bundles = std::collections::HashMap::new();
    for ((run, plan), outcomes) in runs.iter().zip(&saved_plans).zip(&all_outcomes) {
        tally.count(run, plan, outcomes);
        let written = write_bundles(
            run,
            plan,
            outcomes,
            &args.reconcile.bundle_dir,
            &mut tally.failures,
        );
        tally.bundles_written += written.len();
        for (instance, bundle) in written {
            if !functions.declared.0.is_empty() {
                let settings = bundle.settings.clone().into_iter().collect();
                bundles.insert(instance.name.clone(), settings);
            }
            if let Some(target) = &instance.segment {
                deliveries.push((instance.name.clone(), target.clone(), bundle));
            }
        }
    }
    let mut delivery_line = String::new();
    if let Some(segment) = context.segment() {
        let (pushed, unchanged) = deliver_all(segment, &deliveries, &mut tally.failures).await;
        delivery_line =
            format!(" Segment: {pushed} instance(s) updated, {unchanged} already up to date.");
    }
    if let Some(backend) = context.functions() {
        delivery_line.push_str(
            &super::apply_functions::apply_step(
                backend,
                &runs,
                &functions.declared,
                &bundles,
                functions.adopt,
                &functions.prune,
                &mut tally.failures,
            )
            .await,
        );
    }
    let Tally {
        created,
        updated,
        deleted,
        bundles_written,
        failures,
    } = tally;
    eprintln!("Apply complete: {created} created, {updated} updated, {deleted} deleted; {bundles_written} bundle(s) written to {}.{delivery_line}", args.reconcile.bundle_dir.display());
    if failures.is_empty() {
        return Ok(0);
    }
    super::output::report_failures(
        "re-running apply continues from where IAM is now",
        &failures,
    );
    Ok(1)
}

/// Shows what apply would do (IAM's changes, then the Segment functions'
/// steps and prunes), refuses a plan with conflicts, and asks when anything
/// changes; whether to go on.
fn shown_and_confirmed(
    combined: &Plan,
    functions: &FunctionsToApply,
    color: bool,
    auto_approve: bool,
) -> anyhow::Result<bool> {
    crate::cli::output::stdout(&report::text(combined, color));
    if let Some(steps) = &functions.steps {
        crate::out!("{}", crate::report::functions::text(steps));
    }
    if combined.has_conflicts() || functions.steps.as_ref().is_some_and(|s| s.has_conflicts()) {
        anyhow::bail!("the plan has conflicts (see above); nothing was changed");
    }
    let function_changes = functions.steps.as_ref().is_some_and(|s| s.has_changes());
    if combined.is_empty() && !function_changes {
        return Ok(true);
    }
    confirmed(auto_approve)
}

/// What the accounts read, and the plan of each (in the runs' order), with
/// the context that carries on (its Segment client, when one is needed)
/// and the Segment functions to apply.
type Observed = (RunContext, Vec<AccountRun>, Vec<Plan>, FunctionsToApply);

/// The Segment functions an apply makes true: as the manifests (or the
/// saved plan) declare them, whether unmarked ones are adopted, and the
/// steps shown before asking (a change of code alone is asked for too).
#[derive(Default)]
struct FunctionsToApply {
    declared: super::apply_functions::Functions,
    adopt: bool,
    steps: Option<FunctionsPlan>,
    /// What `--prune` deletes of Segment's functions and instances.
    prune: Vec<crate::execute::functions::Prunable>,
}

/// `apply --plan FILE`: the saved plan's accounts read again, refused when
/// IAM or Segment has moved past what the plan saw, or a function's code
/// file since it was made.
async fn observe_saved(
    context: RunContext,
    args: &ApplyArgs,
    path: &Path,
    now: std::time::SystemTime,
) -> anyhow::Result<Observed> {
    let saved = SavedPlan::read(path)?;
    saved.check_code()?;
    check_segment_accounts(&saved, &args.reconcile.manifests)?;
    let instances: Vec<DesiredInstance> = saved
        .accounts
        .iter()
        .flat_map(|a| a.instances.clone())
        .collect();
    let context = super::settings::with_segment_and_functions(
        context,
        &instances,
        saved.functions.is_some(),
    )?;
    // A saved plan already says what to adopt and prune.
    let options = PlanOptions {
        adopt: false,
        prune: false,
        ..super::settings::plan_options(&args.reconcile, &instances, now)
    };
    let runs = reconcile::observe(&context, instances, &options).await?;
    check_not_stale(&saved, &runs)?;
    if let Some(segment) = context.segment() {
        let mut fresh = runs.clone();
        crate::execute::segment::plan_runs(segment, &mut fresh, &options.bundled_ids.0).await?;
        check_segment_not_stale(&saved, &fresh)?;
    }
    if let (Some(backend), Some(functions)) = (context.functions(), &saved.functions) {
        super::plan_functions::check_saved(backend, functions, &runs).await?;
    }
    let plans: Vec<Plan> = runs
        .iter()
        .map(|run| {
            saved
                .accounts
                .iter()
                .find(|a| a.account == run.account)
                .map(|a| a.plan.clone())
                .unwrap_or_default()
        })
        .collect();
    let functions = match saved.functions {
        Some(saved) => FunctionsToApply {
            declared: (saved.functions, saved.instances),
            adopt: saved.adopt,
            // What the plan showed it deletes (checked above against Segment now).
            prune: saved
                .plan
                .prune
                .iter()
                .map(super::plan_functions::saved_prune)
                .collect(),
            steps: Some(saved.plan),
        },
        None => FunctionsToApply::default(),
    };
    Ok((context, runs, plans, functions))
}

/// `apply` from the manifests: read and plan every account now.
async fn observe_fresh(
    context: RunContext,
    global: &GlobalOptions,
    args: &ApplyArgs,
    now: std::time::SystemTime,
) -> anyhow::Result<Observed> {
    let set = super::settings::load_manifests(
        &args.reconcile.manifests,
        super::settings::in_accounts(&global.accounts),
    )?;
    let has_functions = super::apply_functions::needs_functions(
        !set.functions.is_empty(),
        args.reconcile.prune,
        &global.accounts,
        &set.instances,
    );
    let context =
        super::settings::with_segment_and_functions(context, &set.instances, has_functions)?;
    let options = super::settings::plan_options(&args.reconcile, &set.instances, now);
    let mut runs = super::settings::observe_and_plan(&context, set.instances, &options).await?;
    // The functions' steps after IAM's read: an instance is found as apply
    // finds it, by the id its role records.
    let mut steps = match context.functions() {
        Some(backend) => Some(
            super::plan_functions::plan(
                &super::plan_functions::Reading {
                    backend,
                    runs: &runs,
                    adopt: args.reconcile.adopt,
                    bundled: &options.bundled_ids.0,
                },
                &set.functions,
                &set.function_instances,
            )
            .await?,
        ),
        None => None,
    };
    // Segment is one workspace for every account: pruned only when the run
    // covers the whole set.
    let prune = match context.functions() {
        Some(backend) if args.reconcile.prune && global.accounts.is_empty() => {
            super::plan_functions::prunable(backend, &set.functions, &set.function_instances, &runs)
                .await?
        }
        _ => Vec::new(),
    };
    // Shown with the steps.
    if let Some(steps) = &mut steps {
        steps.prune = prune
            .iter()
            .map(super::plan_functions::planned_prune)
            .collect();
    }
    let functions = FunctionsToApply {
        declared: (set.functions, set.function_instances),
        adopt: args.reconcile.adopt,
        steps,
        prune,
    };
    // Moved, not copied: a plan of thousands of roles is held once.
    let plans = runs
        .iter_mut()
        .map(|run| std::mem::take(&mut run.plan))
        .collect();
    Ok((context, runs, plans, functions))
}

/// The accounts' changes moved into one plan to show and check, and how
/// many each account had ([`split`] moves them back).
fn combine(plans: &mut [Plan]) -> (Plan, Vec<usize>) {
    let sizes = plans.iter().map(|p| p.changes.len()).collect();
    let combined = Plan {
        changes: plans
            .iter_mut()
            .flat_map(|p| std::mem::take(&mut p.changes))
            .collect(),
        notices: plans.iter().flat_map(|p| p.notices.clone()).collect(),
        unchanged: plans.iter().flat_map(|p| p.unchanged.clone()).collect(),
        segment: plans.iter().flat_map(|p| p.segment.clone()).collect(),
        ..Plan::default()
    };
    (combined, sizes)
}

/// Gives each account its changes back from the combined plan, in order.
fn split(combined: Plan, sizes: &[usize], plans: &mut [Plan]) {
    let mut changes = combined.changes.into_iter();
    for (plan, size) in plans.iter_mut().zip(sizes) {
        plan.changes = changes.by_ref().take(*size).collect();
    }
}

/// What apply did, for its closing line and its failure list.
#[derive(Default)]
struct Tally {
    created: usize,
    updated: usize,
    deleted: usize,
    bundles_written: usize,
    failures: Vec<String>,
}

impl Tally {
    /// Counts the outcomes of one account's changes.
    fn count(&mut self, run: &AccountRun, plan: &Plan, outcomes: &[RoleOutcome]) {
        for outcome in outcomes {
            let change = &plan.changes[outcome.change_index];
            match &outcome.error {
                Some(error) => self.failures.push(format!(
                    "role {} (account {}): {}",
                    change.role,
                    run.account,
                    crate::report::error_chain(error)
                )),
                None => match change.action {
                    crate::plan::Action::Create => self.created += 1,
                    crate::plan::Action::Delete => self.deleted += 1,
                    _ => self.updated += 1,
                },
            }
        }
    }
}

/// A saved plan's checksum catches damage, not a determined edit: before any
/// write, every trust policy it would write must name the Segment account of
/// its instance's kind — the documented one, or the override the current
/// manifests declare for that very instance.
pub(crate) fn check_segment_accounts(
    saved: &SavedPlan,
    manifests: &crate::cli::args::ManifestOptions,
) -> anyhow::Result<()> {
    let mut current: Option<Vec<DesiredInstance>> = None;
    for account in &saved.accounts {
        for change in &account.plan.changes {
            let instance = change
                .instance
                .as_ref()
                .and_then(|name| account.instances.iter().find(|i| &i.name == name));
            for step in &change.steps {
                let (crate::model::operation::Operation::CreateRole { trust_policy, .. }
                | crate::model::operation::Operation::UpdateTrustPolicy {
                    trust_policy, ..
                }) = &step.operation
                else {
                    continue;
                };
                let Some(instance) = instance else {
                    anyhow::bail!("the saved plan writes the trust policy of role {} for no instance; refusing it", change.role);
                };
                if trust_policy.segment_account
                    == crate::model::documented_segment_account(instance.kind)
                {
                    continue;
                }
                let declared = current.get_or_insert_with(|| {
                    // Only the saved plan's instances are compared: the
                    // manifests' others go as soon as they are read.
                    let saved_names: std::collections::HashSet<&str> = saved
                        .accounts
                        .iter()
                        .flat_map(|a| a.instances.iter().map(|i| i.name.as_str()))
                        .collect();
                    crate::manifest::load_keeping(&manifests.files, |i| {
                        saved_names.contains(i.name.as_str())
                    })
                    .instances
                });
                let overridden = declared.iter().any(|i| {
                    i.name == instance.name && i.segment_account == trust_policy.segment_account
                });
                if !overridden {
                    anyhow::bail!(
                        "the saved plan would let account {} assume role {}, which is neither Segment's documented {} account nor an override in the current manifests; refusing it",
                        trust_policy.segment_account,
                        change.role,
                        instance.kind.as_str()
                    );
                }
            }
        }
    }
    Ok(())
}

/// Refuses a saved plan when any role it looked at changed since.
pub(crate) fn check_not_stale(saved: &SavedPlan, runs: &[AccountRun]) -> anyhow::Result<()> {
    let mut moved = Vec::new();
    for account in &saved.accounts {
        let Some(run) = runs.iter().find(|r| r.account == account.account) else {
            moved.push(format!(
                "account {} is no longer reachable with these credentials",
                account.account
            ));
            continue;
        };
        for (role, fingerprint) in &account.fingerprints {
            let live = run
                .live
                .roles
                .iter()
                .find(|r| r.name.eq_ignore_ascii_case(role));
            let now = planner::live_fingerprint(live);
            if now != *fingerprint {
                let what = match (fingerprint.as_str(), live) {
                    ("absent", Some(_)) => "was created",
                    (_, None) => "was deleted",
                    _ => "was changed",
                };
                moved.push(format!(
                    "role {role} in account {} {what} since the plan was made",
                    account.account
                ));
            }
        }
    }
    if moved.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "the saved plan is stale, IAM has moved past it: {}; run `fnctl plan` again",
        moved.join("; ")
    )
}

/// Asks for confirmation on a terminal; without one, `--auto-approve` is required.
fn confirmed(auto_approve: bool) -> anyhow::Result<bool> {
    if auto_approve {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("stdin is not a terminal, so apply cannot ask for confirmation; pass --auto-approve to apply without asking");
    }
    eprint!("Apply these changes? Only 'yes' is accepted: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

/// Delivers every written bundle to its Segment instance (one read of them
/// all, then pushes concurrently, bounded); returns how many were pushed and
/// how many already matched.
async fn deliver_all(
    segment: &dyn SegmentBackend,
    deliveries: &[(String, SegmentTarget, Bundle)],
    failures: &mut Vec<String>,
) -> (usize, usize) {
    let results = deliver_many(segment, deliveries).await;
    let (mut pushed, mut unchanged) = (0, 0);
    for ((instance, target, _), result) in deliveries.iter().zip(results) {
        match result {
            Ok(Delivery::Pushed(_)) => pushed += 1,
            Ok(Delivery::Unchanged) => unchanged += 1,
            Err(error) => failures.push(format!(
                "instance {instance}: settings not delivered to Segment {}: {error}",
                target.path()
            )),
        }
    }
    (pushed, unchanged)
}

/// A saved plan covers Segment too: refuse it when an instance's settings in
/// Segment are not what they were when the plan was made.
fn check_segment_not_stale(saved: &SavedPlan, fresh: &[AccountRun]) -> anyhow::Result<()> {
    let planned = Plan::merged(saved.accounts.iter().map(|a| &a.plan));
    let now = Plan::merged(fresh.iter().map(|run| &run.plan));
    let moved: Vec<&String> = now
        .segment_fingerprints
        .iter()
        .filter(|(instance, print)| planned.segment_fingerprints.get(*instance) != Some(*print))
        .map(|(instance, _)| instance)
        .collect();
    if moved.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "the saved plan is stale, Segment has moved past it for instance(s) {}; run `fnctl plan` again",
        moved.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    )
}

/// Writes the bundle of every instance whose role is now right; returns the
/// instances and bundles written.
fn write_bundles<'r>(
    run: &'r AccountRun,
    plan: &Plan,
    outcomes: &[RoleOutcome],
    directory: &Path,
    failures: &mut Vec<String>,
) -> Vec<(&'r DesiredInstance, Bundle)> {
    let mut written = Vec::new();
    // Looked up by name and index, not searched per instance (thousands).
    let mut changes = std::collections::HashMap::new();
    for (index, change) in plan.changes.iter().enumerate() {
        if let Some(name) = change.instance.as_deref() {
            changes.entry(name).or_insert(index);
        }
    }
    let mut by_change = std::collections::HashMap::new();
    for outcome in outcomes {
        by_change.entry(outcome.change_index).or_insert(outcome);
    }
    for instance in &run.instances {
        let change = changes.get(instance.name.as_str()).copied();
        let live = run.role_of(instance);
        let external_id = match change {
            Some(index) => {
                let Some(outcome) = by_change.get(&index) else {
                    continue;
                };
                if outcome.error.is_some() {
                    continue;
                }
                planner::bundle_external_id(Some(&plan.changes[index]), live, &outcome.external_ids)
            }
            None => planner::bundle_external_id(None, live, &[]),
        };
        let Some(external_id) = external_id else {
            // Two unrecorded IDs were kept on purpose (the plan warned): no
            // bundle can be vouched for, which is not a failure of this run.
            let ambiguous = plan.notices.iter().any(|n| {
                n.code() == crate::model::codes::NoticeCode::AmbiguousExternalId
                    && n.instance.as_deref() == Some(instance.name.as_str())
            });
            if (change.is_some() || live.is_some()) && !ambiguous {
                failures.push(format!("instance {}: no external ID fnctl can vouch for in the trust policy; bundle not written", instance.name));
            }
            continue;
        };
        // IAM's own ARN when the role was there already (its name may differ in
        // case from the manifest's); the ARN a create makes otherwise.
        let arn = run.role_arn(instance);
        let built = bundle::build(instance, &arn, &external_id);
        match bundle::write(directory, &built) {
            Ok(_) => written.push((instance, built)),
            Err(error) => failures.push(format!(
                "instance {}: cannot write bundle in {}: {error}",
                instance.name,
                directory.display()
            )),
        }
    }
    written
}
