//! `fnctl drift`'s Segment functions: each function of the manifests that
//! fnctl owns (its marker in the description) is read whole and checked
//! (`check::functions`); a function not created yet is no drift. Findings
//! name role `-` and account `segment`: a function has no role.

use crate::check::drift::{Finding, FindingKind};
use crate::check::functions::{function_findings, FunctionDriftCode};
use crate::execute::functions::{desired_definitions, find_function, marker};
use crate::live::segment_functions::FunctionsBackend;
use crate::model::codes::DriftCategory;
use crate::model::function::DesiredFunction;
use crate::model::DesiredInstance;

/// The drift findings of `functions`.
pub(crate) async fn findings(
    backend: &dyn FunctionsBackend,
    functions: &[DesiredFunction],
    function_instances: &[crate::model::function::FunctionInstance],
    instances: &[DesiredInstance],
) -> anyhow::Result<Vec<Finding>> {
    let mut found = Vec::new();
    for function in functions {
        let listed = read_all(backend, function).await?;
        let Some(summary) = find_function(function, &listed).filter(|f| {
            f.description
                .contains(&marker(&function.scope, &function.name))
        }) else {
            continue;
        };
        let Some(live) = backend.get_function(function.region, &summary.id).await? else {
            continue;
        };
        let settings = function_instances
            .iter()
            .filter(|i| i.function == function.name)
            .filter_map(|i| instances.iter().find(|d| d.name == i.instance))
            .map(|d| &d.settings);
        let definitions = desired_definitions(function, settings);
        for finding in function_findings(function, &definitions, Some(&live), &[]) {
            let category = match finding.code {
                FunctionDriftCode::ExternalIdNotSensitive => DriftCategory::ExternalIdNotSensitive,
                FunctionDriftCode::CodeChanged => DriftCategory::FunctionCodeChanged,
                FunctionDriftCode::SettingsChanged => DriftCategory::FunctionSettingsChanged,
                // Without a record of the instances fnctl made, a missing one
                // is not told from one not created yet: not reported.
                FunctionDriftCode::FunctionMissing | FunctionDriftCode::InstanceGone => continue,
            };
            let diff = finding.diff.map(|d| format!("\n{d}")).unwrap_or_default();
            found.push(Finding {
                instance: None,
                role: "-".into(),
                account: "segment".into(),
                category,
                severity: finding.code.severity(),
                kind: FindingKind::Drift,
                message: format!("function `{}`: {}{diff}", function.name, finding.message),
            });
        }
    }
    Ok(found)
}

async fn read_all(
    backend: &dyn FunctionsBackend,
    function: &DesiredFunction,
) -> anyhow::Result<Vec<crate::live::segment_functions::LiveFunction>> {
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = backend
            .list_functions(function.region, function.kind, cursor.as_deref())
            .await?;
        listed.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(listed),
        }
    }
}
