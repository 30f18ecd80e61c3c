//! `fnctl drift`'s Segment functions: each function of the manifests that
//! fnctl owns (its marker in the description) is read whole and checked
//! (`check::functions`), with each instance its role records: deleted in
//! Segment, or running another function or from another source, is high.
//! A function not created yet is no drift, unless a role records an
//! instance of it (then it was deleted). Function findings name role `-`
//! and account `segment`; an instance's name its role and account.

use std::collections::HashMap;

use crate::check::drift::{Finding, FindingKind};
use crate::check::functions::{function_findings, FunctionDriftCode, RecordedInstance};
use crate::execute::checks::{read_held, Recorded};
use crate::execute::functions::{desired_definitions, find_function, marker, read_functions};
use crate::live::segment_functions::FunctionsBackend;
use crate::model::codes::DriftCategory;
use crate::model::function::{DesiredFunction, FunctionInstance};
use crate::model::DesiredInstance;

/// The drift findings of `functions` and of the instances `recorded` names.
pub(crate) async fn findings(
    backend: &dyn FunctionsBackend,
    functions: &[DesiredFunction],
    function_instances: &[FunctionInstance],
    instances: &[DesiredInstance],
    recorded: &Recorded,
) -> anyhow::Result<Vec<Finding>> {
    let desired: HashMap<&str, &DesiredInstance> =
        instances.iter().map(|d| (d.name.as_str(), d)).collect();
    let held = read_held(backend, function_instances, recorded).await?;
    let mut found = Vec::new();
    for function in functions {
        let runs_it: Vec<&FunctionInstance> = function_instances
            .iter()
            .filter(|i| i.function == function.name)
            .collect();
        let listed = read_functions(backend, function.region, function.kind).await?;
        let owned = find_function(function, &listed).filter(|f| {
            f.description
                .contains(&marker(&function.scope, &function.name))
        });
        let live = match owned {
            Some(summary) => backend.get_function(function.region, &summary.id).await?,
            None => None,
        };
        let any_recorded = runs_it.iter().any(|i| recorded.contains_key(&i.instance));
        if live.is_none() && !any_recorded {
            continue;
        }
        let mut records = Vec::new();
        for instance in runs_it.iter().copied() {
            let Some(record) = recorded.get(&instance.instance) else {
                continue;
            };
            records.push(RecordedInstance {
                instance,
                id: record.id.clone(),
                live: held.get(&record.id).cloned().flatten(),
            });
        }
        let settings = runs_it
            .iter()
            .filter_map(|i| desired.get(i.instance.as_str()))
            .map(|d| &d.settings);
        let definitions = desired_definitions(function, settings);
        for finding in function_findings(function, &definitions, live.as_ref(), &records) {
            let category = match finding.code {
                FunctionDriftCode::ExternalIdNotSensitive => DriftCategory::ExternalIdNotSensitive,
                FunctionDriftCode::CodeChanged => DriftCategory::FunctionCodeChanged,
                FunctionDriftCode::SettingsChanged => DriftCategory::FunctionSettingsChanged,
                FunctionDriftCode::FunctionMissing => DriftCategory::FunctionMissing,
                FunctionDriftCode::InstanceGone => DriftCategory::FunctionInstanceGone,
            };
            let record = finding.instance.as_ref().and_then(|i| recorded.get(i));
            let diff = finding.diff.map(|d| format!("\n{d}")).unwrap_or_default();
            let about = match &finding.instance {
                Some(instance) => format!("instance `{instance}` of function `{}`", function.name),
                None => format!("function `{}`", function.name),
            };
            found.push(Finding {
                instance: finding.instance.clone(),
                role: record.map_or("-".into(), |r| r.role.clone()),
                account: record.map_or("segment".into(), |r| r.account.clone()),
                category,
                severity: finding.code.severity(),
                kind: FindingKind::Drift,
                message: format!("{about}: {}{diff}", finding.message),
            });
        }
    }
    Ok(found)
}
