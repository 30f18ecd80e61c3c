//! The Segment functions of an import: an imported instance that runs a
//! function of the workspace (its `metadata.id` is the function's catalog
//! id) is written as `segment: { function, source }`, and the function as
//! `functions:` with its code beside the manifest, when adopting it would
//! write nothing but fnctl's marker into its description. A function fnctl
//! cannot take over as it is (its external ID's definition not sensitive,
//! definitions fnctl would rewrite, another scope's) is never "fixed": its
//! instances stay `segment: { id }`, each with the reason.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::execute::functions::{plan_function, FunctionStep};
use crate::live::segment_functions::LiveFunction;
use crate::manifest::spec::{FunctionSpec, InstanceSpec, SegmentSpec, SettingDefinitionSpec};
use crate::manifest::ManifestSet;
use crate::model::function::{
    definitions, marker, SettingType, BUCKET_SETTINGS, EXTERNAL_ID_SETTING, ROLE_ARN_SETTING,
};

use super::select::WorkspaceInstance;

/// Where the code of function `name` is written, relative to the manifest.
pub(crate) fn code_path(name: &str) -> String {
    format!("functions/{name}.js")
}

/// A function the manifest declares, with the code written beside it.
#[derive(Debug, Clone)]
pub(crate) struct Declared {
    /// As the manifest says it.
    pub spec: FunctionSpec,
    /// The code, byte for byte as Segment holds it.
    pub code: String,
    /// The function as Segment holds it.
    pub live: LiveFunction,
}

/// Why an instance of a function stays `segment: { id }`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAdopted {
    /// Another fnctl scope (or name) owns the function.
    #[error("its description carries another fnctl marker ({marker})")]
    OwnedElsewhere { marker: String },
    /// The external ID's definition is not sensitive: fnctl would make it so.
    #[error("its `iamRoleExternalId` setting is not sensitive (every workspace member can read the external ID); fnctl would make it sensitive: fix it in Segment, then import again")]
    ExternalIdNotSensitive,
    /// A definition named like one of fnctl's own, of another type.
    #[error("its setting `{setting}` is not a text setting, as fnctl declares it")]
    DefinitionClash { setting: String },
    /// Segment gave no code.
    #[error("Segment gave no code for it")]
    NoCode,
    /// A destination whose source Segment does not say.
    #[error("Segment does not say which source the destination is connected to")]
    NoSource,
    /// Adopting it would change more than its description.
    #[error("adopting it would change it: {changes}")]
    WouldChange { changes: String },
}

/// The function `instance` runs, when it runs one of `functions` of its kind.
pub(crate) fn function_of<'a>(
    instance: &WorkspaceInstance,
    functions: &'a [LiveFunction],
) -> Option<&'a LiveFunction> {
    let catalog_id = instance.metadata_id.as_deref()?;
    functions
        .iter()
        .find(|f| f.catalog_id == catalog_id && f.kind == Some(instance.kind))
}

/// The name fnctl's marker of `scope` gives the function, when it has one;
/// `Err` with the marker when another scope's marker is there.
fn marked_name(live: &LiveFunction, scope: &str) -> Result<Option<String>, NotAdopted> {
    let prefix = format!("[fnctl:{scope}/");
    if let Some(start) = live.description.find(&prefix) {
        let rest = &live.description[start + prefix.len()..];
        if let Some(end) = rest.find(']') {
            return Ok(Some(rest[..end].to_string()));
        }
    }
    match live.description.find("[fnctl:") {
        Some(start) => {
            let rest = &live.description[start..];
            let end = rest.find(']').map_or(rest.len(), |end| end + 1);
            Err(NotAdopted::OwnedElsewhere {
                marker: rest[..end].to_string(),
            })
        }
        None => Ok(None),
    }
}

/// The display name without the workspace's name Segment appends to a
/// destination function's (a trailing ` (…)`, parentheses balanced).
pub(crate) fn display_name(live: &LiveFunction) -> String {
    let name = live.display_name.as_str();
    if live.kind != Some(crate::model::FunctionKind::Destination) || !name.ends_with(')') {
        return name.to_string();
    }
    let mut depth = 0usize;
    for (at, c) in name.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    return match name[..at].strip_suffix(' ') {
                        Some(stem) if !stem.is_empty() => stem.to_string(),
                        _ => name.to_string(),
                    };
                }
            }
            _ => {}
        }
    }
    name.to_string()
}

/// What fnctl cannot take over of `live` whatever the manifest says.
fn unexpressible(live: &LiveFunction) -> Option<NotAdopted> {
    if live.code.is_none() {
        return Some(NotAdopted::NoCode);
    }
    let definitions = live.settings.as_deref().unwrap_or_default();
    if definitions
        .iter()
        .any(|d| d.name == EXTERNAL_ID_SETTING && !d.sensitive)
    {
        return Some(NotAdopted::ExternalIdNotSensitive);
    }
    let own = [ROLE_ARN_SETTING, EXTERNAL_ID_SETTING]
        .into_iter()
        .chain(BUCKET_SETTINGS);
    let own: HashSet<&str> = own.collect();
    definitions
        .iter()
        .find(|d| own.contains(d.name.as_str()) && d.setting_type != SettingType::String)
        .map(|d| NotAdopted::DefinitionClash {
            setting: d.name.clone(),
        })
}

/// The manifest's `functions:` entry for `live`, named `name`: every
/// definition but those fnctl declares itself, as Segment has it.
fn spec_of(live: &LiveFunction, name: &str, scope: &str) -> FunctionSpec {
    let own = marker(scope, name);
    let description = live.description.replace(&own, "");
    let description = description.trim();
    let mut settings: Vec<SettingDefinitionSpec> = live
        .settings
        .iter()
        .flatten()
        .filter(|d| {
            ![ROLE_ARN_SETTING, EXTERNAL_ID_SETTING].contains(&d.name.as_str())
                && !BUCKET_SETTINGS.contains(&d.name.as_str())
        })
        .map(|d| SettingDefinitionSpec {
            name: d.name.clone(),
            label: (d.label != d.name).then(|| d.label.clone()),
            description: (!d.description.is_empty()).then(|| d.description.clone()),
            setting_type: d.setting_type,
            required: d.required,
            sensitive: d.sensitive,
        })
        .collect();
    settings.sort_by(|a, b| a.name.cmp(&b.name));
    FunctionSpec {
        name: name.to_string(),
        kind: live.kind.unwrap_or(crate::model::FunctionKind::Destination),
        code: code_path(name),
        display_name: display_name(live),
        description: (!description.is_empty()).then(|| description.to_string()),
        settings,
    }
}

/// The functions the kept instances run, declared, and each instance
/// rewritten to run its function; the instances that stay `segment: { id }`
/// get the reason (by position in `specs`). `linked` is the workspace
/// instance each spec is linked to.
pub(crate) fn declare(
    specs: &mut [InstanceSpec],
    linked: &[Option<&WorkspaceInstance>],
    functions: &[LiveFunction],
    scope: &str,
) -> (Vec<Declared>, BTreeMap<usize, NotAdopted>) {
    let mut notes = BTreeMap::new();
    let mut runs: BTreeMap<&str, (&LiveFunction, Vec<usize>)> = BTreeMap::new();
    for (position, instance) in linked.iter().enumerate() {
        let Some(function) = instance.and_then(|i| function_of(i, functions)) else {
            continue;
        };
        runs.entry(function.id.as_str())
            .or_insert((function, Vec::new()))
            .1
            .push(position);
    }
    let mut named: Vec<(&LiveFunction, Vec<usize>, Option<String>)> = Vec::new();
    for (function, positions) in runs.into_values() {
        match marked_name(function, scope)
            .and_then(|name| unexpressible(function).map_or(Ok(name), Err))
        {
            Ok(name) => named.push((function, positions, name)),
            Err(reason) => positions.into_iter().for_each(|p| {
                notes.insert(p, reason.clone());
            }),
        }
    }
    let names = function_names(&named);
    let mut declared = Vec::new();
    for ((function, positions, _), name) in named.into_iter().zip(names) {
        let mut runs_it = false;
        for position in positions {
            let instance = linked[position].expect("a function's instance is linked");
            let source = match instance.kind {
                crate::model::FunctionKind::Destination => match &instance.source_id {
                    Some(source) => Some(source.clone()),
                    None => {
                        notes.insert(position, NotAdopted::NoSource);
                        continue;
                    }
                },
                crate::model::FunctionKind::Source => None,
            };
            specs[position].segment = Some(SegmentSpec {
                id: None,
                function: Some(name.clone()),
                source,
            });
            runs_it = true;
        }
        if runs_it {
            declared.push(Declared {
                spec: spec_of(function, &name, scope),
                code: function.code.clone().unwrap_or_default(),
                live: function.clone(),
            });
        }
    }
    (declared, notes)
}

/// Stable, valid, distinct function names: the one fnctl's marker records,
/// else from the display name, `-2`, `-3` after a name given (in the order
/// of Segment's ids).
fn function_names(named: &[(&LiveFunction, Vec<usize>, Option<String>)]) -> Vec<String> {
    let mut used: HashSet<String> = named
        .iter()
        .filter_map(|(_, _, marked)| marked.clone())
        .collect();
    named
        .iter()
        .map(|(function, _, marked)| match marked {
            Some(name) => name.clone(),
            None => super::unique_name(&display_name(function), "function", &mut used),
        })
        .collect()
}

/// The functions of `set` (the written manifest, loaded) whose adoption
/// would change more than the marker in their description, with why.
pub(crate) fn would_change(set: &ManifestSet, declared: &[Declared]) -> Vec<(String, NotAdopted)> {
    let settings: HashMap<&str, _> = set
        .instances
        .iter()
        .map(|i| (i.name.as_str(), &i.settings))
        .collect();
    let mut refused = Vec::new();
    for function in &set.functions {
        let Some(found) = declared.iter().find(|d| d.spec.name == function.name) else {
            continue;
        };
        let instance_settings = set
            .function_instances
            .iter()
            .filter(|i| i.function == function.name)
            .filter_map(|i| settings.get(i.instance.as_str()).copied());
        let wanted = definitions(function, instance_settings);
        let adopted = !found
            .live
            .description
            .contains(&marker(&function.scope, &function.name));
        let changes = match plan_function(function, wanted, Some(&found.live), true) {
            FunctionStep::Unchanged { .. } => continue,
            FunctionStep::Update {
                change,
                code_diff,
                definitions_diff,
                ..
            } => {
                let mut changes = Vec::new();
                if code_diff.is_some() || change.code.is_some() {
                    changes.push("its code".to_string());
                }
                if change.display_name.is_some() {
                    changes.push("its display name".into());
                }
                if let Some(diff) = definitions_diff {
                    let lines: Vec<&str> = diff
                        .lines()
                        .filter(|l| {
                            l.starts_with(['-', '+'])
                                && !l.starts_with("---")
                                && !l.starts_with("+++")
                        })
                        .collect();
                    changes.push(format!("its setting definitions ({})", lines.join("; ")));
                }
                if change.description.is_some() && !adopted {
                    changes.push("its description".into());
                }
                changes
            }
            FunctionStep::Create(_) => vec!["it would be created anew".into()],
            FunctionStep::Conflict { reason, .. } => vec![reason],
        };
        if !changes.is_empty() {
            refused.push((
                function.name.clone(),
                NotAdopted::WouldChange {
                    changes: changes.join(", "),
                },
            ));
        }
    }
    refused
}
