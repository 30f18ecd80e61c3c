//! `fnctl plan`'s Segment functions (text): each function of the manifests
//! to create or update, with unified diffs of its code and setting
//! definitions, and each instance apply would create. Read-only.

use crate::execute::functions::{
    desired_definitions, find_function, find_instance, instance_name, plan_function,
    read_functions, FunctionStep,
};
use crate::live::segment_functions::FunctionsBackend;
use crate::model::function::{DesiredFunction, FunctionInstance};
use crate::model::DesiredInstance;

/// The text of the functions' steps, and whether any changes Segment.
pub(crate) async fn text(
    backend: &dyn FunctionsBackend,
    functions: &[DesiredFunction],
    function_instances: &[FunctionInstance],
    instances: &[DesiredInstance],
    adopt: bool,
) -> anyhow::Result<(String, bool)> {
    let mut out = String::new();
    let mut changes = false;
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
        let name = &function.name;
        match plan_function(function, definitions, found.as_ref(), adopt) {
            FunctionStep::Create(new) => {
                changes = true;
                out.push_str(&format!(
                    "+ Segment {} function {name} will be created ({} line(s) of {}, {} setting definition(s))\n",
                    function.kind.as_str(),
                    new.code.lines().count(),
                    function.code_path.display(),
                    new.settings.len()
                ));
            }
            FunctionStep::Update {
                code_diff,
                definitions_diff,
                ..
            } => {
                changes = true;
                out.push_str(&format!("~ Segment function {name} will be updated\n"));
                for diff in [code_diff, definitions_diff].into_iter().flatten() {
                    for line in diff.lines() {
                        out.push_str(&format!("    {line}\n"));
                    }
                }
            }
            FunctionStep::Unchanged { .. } => {}
            FunctionStep::Conflict { reason, .. } => {
                out.push_str(&format!("! Segment function {name}: {reason}\n"));
            }
        }
        for instance in runs_it {
            let exists = match &found {
                Some(live) => find_instance(backend, instance, &live.catalog_id)
                    .await?
                    .is_some(),
                None => false,
            };
            if !exists {
                changes = true;
                let place = match &instance.source {
                    Some(source) => format!("destination connected to source {source}"),
                    None => "source".into(),
                };
                out.push_str(&format!(
                    "+ Segment {place} `{}` (instance {}) will be created running {name}\n",
                    instance_name(instance),
                    instance.instance
                ));
            }
        }
    }
    Ok((out, changes))
}
