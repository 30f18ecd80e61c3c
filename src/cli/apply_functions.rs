//! `apply`'s Segment functions step: after IAM and the bundles, the
//! functions of the manifests are created or updated (and deployed), and
//! their missing instances created with their bundles' settings (the
//! external ID included). Only instances whose bundle this run wrote are
//! created: an instance whose role is not right yet waits for a re-run.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::execute::functions::{apply_functions, desired_definitions};
use crate::execute::session::AccountRun;
use crate::live::segment_functions::FunctionsBackend;
use crate::model::function::{DesiredFunction, FunctionInstance};

/// The functions of the manifest set and the instances that run them.
pub(crate) type Functions = (Vec<DesiredFunction>, Vec<FunctionInstance>);

/// Applies the functions; returns the summary's Segment functions part,
/// or records why it stopped in `failures`.
pub(crate) async fn apply_step(
    backend: &dyn FunctionsBackend,
    runs: &[AccountRun],
    (functions, instances): &Functions,
    bundles: &HashMap<String, Map<String, Value>>,
    adopt: bool,
    failures: &mut Vec<String>,
) -> String {
    let desired: HashMap<&str, _> = runs
        .iter()
        .flat_map(|run| &run.instances)
        .map(|instance| (instance.name.as_str(), instance))
        .collect();
    let with_definitions: Vec<_> = functions
        .iter()
        .map(|function| {
            let settings = instances
                .iter()
                .filter(|i| i.function == function.name)
                .filter_map(|i| desired.get(i.instance.as_str()))
                .map(|d| &d.settings);
            (function.clone(), desired_definitions(function, settings))
        })
        .collect();
    let ready: Vec<FunctionInstance> = instances
        .iter()
        .filter(|i| bundles.contains_key(&i.instance))
        .cloned()
        .collect();
    let settings_of =
        |instance: &FunctionInstance| bundles.get(&instance.instance).cloned().unwrap_or_default();
    match apply_functions(backend, &with_definitions, &ready, &settings_of, adopt).await {
        Ok(outcome) => format!(
            " Segment functions: {} created, {} updated, {} deployed; {} instance(s) created.",
            outcome.created.len(),
            outcome.updated.len(),
            outcome.deployed.len(),
            outcome.created_instances.len()
        ),
        Err(error) => {
            failures.push(format!(
                "Segment functions: {}",
                crate::report::error_chain(&error)
            ));
            String::new()
        }
    }
}
