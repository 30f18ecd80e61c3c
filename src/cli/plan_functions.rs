//! `plan`'s Segment functions: each function of the manifests to create or
//! update, with unified diffs of its code and setting definitions, and each
//! instance apply would create, as [`FunctionsPlan`] data that the text,
//! JSON and Markdown plans render and a saved plan holds. Read-only.

use crate::execute::functions::{
    desired_definitions, find_function, instance_name, locate_instance, plan_function,
    read_functions, FunctionStep, Located,
};
use crate::execute::functions::{Prunable, PrunableKind};
use crate::execute::session::AccountRun;
use crate::live::segment_functions::FunctionsBackend;
use crate::live::segment_functions_listed::ListedInstances;
use crate::model::external_id::ExternalId;
use crate::model::function::{DesiredFunction, FunctionInstance};
use crate::model::segment::{LiveSettings, SegmentTarget};
use crate::model::FunctionKind;
use crate::model::{tags, DesiredInstance};
use crate::plan::functions::{
    FunctionAction, FunctionsPlan, PlannedFunction, PlannedInstance, PlannedPrune, PruneKind,
    SavedFunctions,
};
use crate::plan::segment::{
    decide, expected_bundle_id, DesiredSettings, SegmentChange, SegmentDecision,
};

/// What the plan reads with: Segment, the accounts' runs (their roles and
/// plans), `--adopt`, and the external IDs of the bundles on disk.
#[derive(Clone, Copy)]
pub(crate) struct Reading<'a> {
    /// Segment's functions API.
    pub backend: &'a dyn FunctionsBackend,
    /// The accounts as read and planned.
    pub runs: &'a [AccountRun],
    /// Whether unmarked functions and hand-made instances are taken over.
    pub adopt: bool,
    /// The IDs of the bundles on disk (what an instance's bundle will hold).
    pub bundled: &'a [ExternalId],
}

/// The functions' steps, read from Segment now.
pub(crate) async fn plan(
    reading: &Reading<'_>,
    functions: &[DesiredFunction],
    function_instances: &[FunctionInstance],
) -> anyhow::Result<FunctionsPlan> {
    // Each instance looked up as apply does, from one listing when many.
    let listed = ListedInstances::new(reading.backend, function_instances.len());
    let reading = &Reading {
        backend: &listed,
        ..*reading
    };
    let (backend, runs, adopt) = (reading.backend, reading.runs, reading.adopt);
    let instances: Vec<&DesiredInstance> = runs.iter().flat_map(|run| &run.instances).collect();
    let mut plan = FunctionsPlan::default();
    for function in functions {
        let listed = read_functions(backend, function.region, function.kind).await?;
        let found = match find_function(function, &listed) {
            Some(summary) => backend.get_function(function.region, &summary.id).await?,
            None => None,
        };
        let runs_it: Vec<&FunctionInstance> = function_instances
            .iter()
            .filter(|i| i.function == function.name)
            .collect();
        let settings = runs_it
            .iter()
            .filter_map(|i| instances.iter().find(|d| d.name == i.instance))
            .map(|d| &d.settings);
        let definitions = desired_definitions(function, settings);
        let count = definitions.len();
        let step = plan_function(function, definitions, found.as_ref(), adopt);
        plan.functions.push(planned(function, count, step));
        for instance in runs_it {
            plan_instance(reading, instance, found.as_ref(), &mut plan).await?;
        }
    }
    Ok(plan)
}

/// The Segment instance id the role of `instance` records, and the role's
/// ARN, as the run read it.
fn role_record(runs: &[AccountRun], instance: &str) -> (Option<String>, Option<String>) {
    runs.iter()
        .find_map(|run| {
            let desired = run.instances.iter().find(|d| d.name == instance)?;
            let role = run.role_of(desired)?;
            Some((
                role.tags.get(tags::SEGMENT_INSTANCE).cloned(),
                Some(role.arn.clone()),
            ))
        })
        .unwrap_or_default()
}

/// An instance as apply finds it (the id its role records, fnctl's naming,
/// or under `--adopt` one naming its role): to create, or holding settings
/// its bundle will not (a push).
async fn plan_instance(
    reading: &Reading<'_>,
    instance: &FunctionInstance,
    found: Option<&crate::live::segment_functions::LiveFunction>,
    plan: &mut FunctionsPlan,
) -> anyhow::Result<()> {
    let located = match found {
        Some(live) => {
            let (recorded, arn) = role_record(reading.runs, &instance.instance);
            let adopt_arn = arn.filter(|_| reading.adopt);
            locate_instance(
                reading.backend,
                instance,
                &live.catalog_id,
                recorded.as_deref(),
                adopt_arn.as_deref(),
            )
            .await?
        }
        None => Located::Missing,
    };
    match located {
        Located::Missing => plan.instances.push(PlannedInstance {
            instance: instance.instance.clone(),
            function: instance.function.clone(),
            kind: instance.kind,
            name: instance_name(instance),
            source: instance.source.clone(),
        }),
        Located::Recorded(live) | Located::Named(live) | Located::Adoptable(live) => {
            plan.pushes.extend(settings_push(reading, instance, &live));
        }
        Located::Elsewhere { .. } => {}
    }
    Ok(())
}

/// What apply pushes into an instance that exists: fnctl's settings its
/// bundle will hold that Segment does not show (the external ID compared by
/// its visible last characters, shown only as `(sensitive)`).
fn settings_push(
    reading: &Reading<'_>,
    instance: &FunctionInstance,
    live: &crate::live::segment_functions::LiveInstance,
) -> Option<SegmentChange> {
    let run = reading
        .runs
        .iter()
        .find(|run| run.instances.iter().any(|i| i.name == instance.instance))?;
    let desired = run.instances.iter().find(|i| i.name == instance.instance)?;
    let role = run
        .live
        .roles
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(&desired.role_name));
    let change = run
        .plan
        .changes
        .iter()
        .find(|c| c.instance.as_deref() == Some(instance.instance.as_str()));
    let settings = DesiredSettings {
        plain: crate::execute::segment::expected_settings(run, desired),
        secret_key: crate::bundle::EXTERNAL_ID_SETTING.into(),
        external_id: expected_bundle_id(change, role, reading.bundled),
    };
    let target = SegmentTarget {
        id: live.id.clone(),
        region: instance.region,
        kind: instance.kind,
    };
    let shown = LiveSettings {
        settings: live.settings.clone(),
    };
    match decide(&instance.instance, &target, &settings, Some(&shown)) {
        SegmentDecision::Push(push) => Some(push),
        _ => None,
    }
}

/// One function's step as plan data, its code pinned by SHA-256.
fn planned(function: &DesiredFunction, definitions: usize, step: FunctionStep) -> PlannedFunction {
    let mut planned = PlannedFunction {
        function: function.name.clone(),
        kind: function.kind,
        action: FunctionAction::Unchanged,
        code_file: function.code_path.display().to_string(),
        code_sha256: crate::fingerprint::sha256_hex(function.code.as_bytes(), 64),
        code_lines: function.code.lines().count(),
        definitions,
        code_diff: None,
        definitions_diff: None,
        reason: None,
    };
    match step {
        FunctionStep::Create(_) => planned.action = FunctionAction::Create,
        FunctionStep::Update {
            code_diff,
            definitions_diff,
            ..
        } => {
            planned.action = FunctionAction::Update;
            planned.code_diff = code_diff;
            planned.definitions_diff = definitions_diff;
        }
        FunctionStep::Unchanged { .. } => {}
        FunctionStep::Conflict { reason, .. } => {
            planned.action = FunctionAction::Conflict;
            planned.reason = Some(reason);
        }
    }
    planned
}

/// `apply --plan`'s guard for Segment functions, before any write: every
/// code file still holds the code the plan showed (checked first, by
/// [`SavedPlan::check_code`]), and Segment, read now, still calls for the
/// very steps the plan showed (made with the plan's own `--adopt`).
pub(crate) async fn check_saved(
    backend: &dyn FunctionsBackend,
    saved: &SavedFunctions,
    runs: &[AccountRun],
) -> anyhow::Result<()> {
    let reading = Reading {
        backend,
        runs,
        adopt: saved.adopt,
        bundled: &[],
    };
    let mut now = plan(&reading, &saved.functions, &saved.instances).await?;
    // What apply pushes follows from IAM and the bundles, which the saved
    // plan's own checks cover: not compared here.
    now.pushes.clone_from(&saved.plan.pushes);
    // A plan saved with `--prune` deletes what it showed, and only while
    // Segment still holds exactly that.
    if !saved.plan.prune.is_empty() {
        let doomed = prunable(backend, &saved.functions, &saved.instances, runs).await?;
        now.prune = doomed.iter().map(planned_prune).collect();
    }
    if now == saved.plan {
        return Ok(());
    }
    let mut moved: Vec<String> = saved
        .plan
        .functions
        .iter()
        .filter(|f| !now.functions.contains(f))
        .map(|f| format!("function {}", f.function))
        .collect();
    let instances_moved = saved
        .plan
        .instances
        .iter()
        .chain(&now.instances)
        .filter(|i| !saved.plan.instances.contains(i) || !now.instances.contains(i))
        .map(|i| format!("instance {}", i.instance));
    moved.extend(instances_moved);
    if now.prune != saved.plan.prune {
        moved.push("what --prune deletes".into());
    }
    moved.dedup();
    anyhow::bail!(
        "the saved plan is stale, Segment has moved past it for {}; run `fnctl plan` again",
        moved.join(", ")
    )
}

/// What `--prune` deletes of the functions and instances fnctl owns in the
/// set's scopes that no manifest names (the caller decides whether the run
/// covers the whole set).
pub(crate) async fn prunable(
    backend: &dyn FunctionsBackend,
    functions: &[DesiredFunction],
    function_instances: &[FunctionInstance],
    runs: &[AccountRun],
) -> anyhow::Result<Vec<Prunable>> {
    let scope = super::apply_functions::prune_scope(
        runs.iter().flat_map(|run| &run.instances),
        functions,
        function_instances,
    );
    Ok(crate::execute::functions::prunable(backend, &scope).await?)
}

/// A prune as plan data (shown, saved).
pub(crate) fn planned_prune(doomed: &Prunable) -> PlannedPrune {
    PlannedPrune {
        what: match doomed.what {
            PrunableKind::Instance(FunctionKind::Destination) => PruneKind::Destination,
            PrunableKind::Instance(FunctionKind::Source) => PruneKind::Source,
            PrunableKind::Function(FunctionKind::Destination) => PruneKind::DestinationFunction,
            PrunableKind::Function(FunctionKind::Source) => PruneKind::SourceFunction,
        },
        region: doomed.region,
        id: doomed.id.clone(),
        name: doomed.name.clone(),
    }
}

/// A saved plan's prune, to apply.
pub(crate) fn saved_prune(planned: &PlannedPrune) -> Prunable {
    Prunable {
        what: match planned.what {
            PruneKind::Destination => PrunableKind::Instance(FunctionKind::Destination),
            PruneKind::Source => PrunableKind::Instance(FunctionKind::Source),
            PruneKind::DestinationFunction => PrunableKind::Function(FunctionKind::Destination),
            PruneKind::SourceFunction => PrunableKind::Function(FunctionKind::Source),
        },
        region: planned.region,
        id: planned.id.clone(),
        name: planned.name.clone(),
    }
}
