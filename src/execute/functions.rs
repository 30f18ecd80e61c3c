//! Segment functions from the manifests: what must change (a pure plan over
//! the desired functions and what Segment lists) and applying it through a
//! [`FunctionsBackend`]. fnctl owns a function whose description carries
//! its marker (`[fnctl:<scope>/<name>]`: functions have no tags) and an
//! instance it named (a destination `<instance> (fnctl:<scope>)` connected
//! to its source, a source with slug `fnctl-<scope>-<instance>`) that runs
//! an owned function. IAM is the state: the id of each instance fnctl made
//! (or adopted) is recorded on its role ([`SEGMENT_INSTANCE`](crate::model::tags::SEGMENT_INSTANCE)), after
//! the create; a create whose answer was lost, or a crash before the
//! record, is found again by the next run by its name and its function's
//! catalog id, recorded, never made twice.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use serde_json::{Map, Value};
use similar::TextDiff;

use crate::live::segment::SegmentError;
use crate::live::segment_functions::{
    FunctionChange, FunctionsBackend, LiveFunction, LiveInstance, NewFunction, NewInstance,
};
use crate::live::segment_functions_listed::{list_instances, ListedInstances};
use crate::live::IamError;
use crate::model::function::{
    self, DesiredFunction, FunctionInstance, SettingDefinition, ROLE_ARN_SETTING,
};
pub(crate) use crate::model::function::{described, marker};
use crate::model::segment::SegmentRegion;
use crate::model::FunctionKind;

/// The name fnctl gives an instance it creates: a destination's name, a
/// source's slug.
pub fn instance_name(instance: &FunctionInstance) -> String {
    match instance.kind {
        FunctionKind::Destination => format!("{} (fnctl:{})", instance.instance, instance.scope),
        FunctionKind::Source => format!("fnctl-{}-{}", instance.scope, instance.instance),
    }
}

/// What to do with one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionStep {
    /// None exists: create it.
    Create(NewFunction),
    /// Owned (or adopted) and different: change it.
    Update {
        /// Its id.
        id: String,
        /// What changes.
        change: FunctionChange,
        /// Unified diff of the code, Segment's then the manifest's.
        code_diff: Option<String>,
        /// Unified diff of the definitions, one per line.
        definitions_diff: Option<String>,
    },
    /// Owned and as the manifests say.
    Unchanged {
        /// Its id.
        id: String,
    },
    /// A function of that name that fnctl does not own (or another scope
    /// owns): nothing is done.
    Conflict {
        /// Its id.
        id: String,
        /// Why.
        reason: String,
    },
}

/// The plan of one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionPlan {
    /// The function's name in the set.
    pub name: String,
    /// What to do.
    pub step: FunctionStep,
}

/// The definitions `function` must have, from its instances' settings.
pub(crate) fn desired_definitions<'a>(
    function: &DesiredFunction,
    instance_settings: impl IntoIterator<Item = &'a BTreeMap<String, Value>>,
) -> Vec<SettingDefinition> {
    function::definitions(function, instance_settings)
}

/// One line per definition, for comparison and diffs.
fn definition_lines(definitions: &[SettingDefinition]) -> String {
    let mut lines: Vec<String> = definitions
        .iter()
        .map(|d| {
            format!(
                "{} {} required={} sensitive={} label={:?} description={:?}\n",
                d.name,
                d.setting_type.segment_name(),
                d.required,
                d.sensitive,
                d.label,
                d.description
            )
        })
        .collect();
    lines.sort();
    lines.concat()
}

fn unified(old: &str, new: &str) -> Option<String> {
    (old != new).then(|| {
        TextDiff::from_lines(old, new)
            .unified_diff()
            .header("segment", "manifest")
            .to_string()
    })
}

/// Whether Segment's display name is the manifest's: a destination
/// function's comes back with the workspace's name appended.
fn same_display_name(live: &str, desired: &str) -> bool {
    live == desired
        || live
            .strip_prefix(desired)
            .is_some_and(|rest| rest.starts_with(" (") && rest.ends_with(')'))
}

/// The step for `desired`, given the function found for it (read whole,
/// with code and settings) and the definitions it must have. `adopt` takes
/// over a function of the same display name that carries no marker.
pub(crate) fn plan_function(
    desired: &DesiredFunction,
    definitions: Vec<SettingDefinition>,
    found: Option<&LiveFunction>,
    adopt: bool,
) -> FunctionStep {
    let description = described(desired);
    let Some(live) = found else {
        return FunctionStep::Create(NewFunction {
            kind: desired.kind,
            display_name: desired.display_name.clone(),
            description,
            code: desired.code.clone(),
            settings: definitions,
        });
    };
    let owned = live
        .description
        .contains(&marker(&desired.scope, &desired.name));
    if !owned && (live.description.contains("[fnctl:") || !adopt) {
        return FunctionStep::Conflict {
            id: live.id.clone(),
            reason: if live.description.contains("[fnctl:") {
                "another fnctl scope or name owns it".into()
            } else {
                "it exists without fnctl's marker (use --adopt to take it over)".into()
            },
        };
    }
    let live_code = live.code.clone().unwrap_or_default();
    let live_definitions = live.settings.clone().unwrap_or_default();
    let definitions =
        crate::model::function::with_live_presentation(desired, definitions, &live_definitions);
    let (old_lines, new_lines) = (
        definition_lines(&live_definitions),
        definition_lines(&definitions),
    );
    let code_diff = unified(&live_code, &desired.code);
    let definitions_diff = unified(&old_lines, &new_lines);
    let change = FunctionChange {
        code: code_diff.as_ref().map(|_| desired.code.clone()),
        display_name: (!same_display_name(&live.display_name, &desired.display_name))
            .then(|| desired.display_name.clone()),
        description: (live.description != description).then_some(description),
        settings: definitions_diff.as_ref().map(|_| definitions),
    };
    if change.is_empty() {
        return FunctionStep::Unchanged {
            id: live.id.clone(),
        };
    }
    FunctionStep::Update {
        id: live.id.clone(),
        change,
        code_diff,
        definitions_diff,
    }
}

/// Which listed function the desired one is: the one with its marker,
/// else (for `--adopt` and conflicts) one of its display name.
pub(crate) fn find_function<'a>(
    desired: &DesiredFunction,
    listed: &'a [LiveFunction],
) -> Option<&'a LiveFunction> {
    let marker = marker(&desired.scope, &desired.name);
    listed
        .iter()
        .filter(|f| f.kind == Some(desired.kind))
        .find(|f| f.description.contains(&marker))
        .or_else(|| {
            listed.iter().find(|f| {
                f.kind == Some(desired.kind)
                    && same_display_name(&f.display_name, &desired.display_name)
            })
        })
}

/// Why applying functions stopped.
#[derive(Debug, thiserror::Error)]
pub enum FunctionsError {
    /// Segment refused or failed a request.
    #[error("function `{function}`")]
    Segment {
        function: String,
        #[source]
        source: SegmentError,
    },
    /// A conflict: a function fnctl may not touch.
    #[error("function `{function}`: {reason}")]
    Conflict { function: String, reason: String },
    /// A code change that Segment does not report as running after a deploy.
    #[error("function `{function}`: the new code is not the running version after a deploy")]
    NotDeployed { function: String },
    /// The instance recorded on the role runs another function or from
    /// another source: a person moved it; fnctl makes no second one.
    #[error("instance `{instance}`: Segment instance {id} recorded on its role {why} (reconnect it, or delete it in Segment and apply makes a new one)")]
    Elsewhere {
        instance: String,
        id: String,
        why: &'static str,
    },
    /// `--prune` could not read what to delete, or delete it.
    #[error("--prune: {what}")]
    Prune {
        what: String,
        #[source]
        source: SegmentError,
    },
    /// The instance exists but its id could not be recorded on its role:
    /// the next run finds it by fnctl's naming and records it.
    #[error("instance `{instance}`: recording Segment instance {id} on its role")]
    Record {
        instance: String,
        id: String,
        #[source]
        source: IamError,
    },
}

/// What an apply did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FunctionsOutcome {
    /// Functions created.
    pub created: Vec<String>,
    /// Functions changed.
    pub updated: Vec<String>,
    /// Functions deployed.
    pub deployed: Vec<String>,
    /// (instance, id) of instances created.
    pub created_instances: Vec<(String, String)>,
    /// (instance, id) of instances found by their record or fnctl's naming (made before).
    pub found_instances: Vec<(String, String)>,
    /// (instance, id) of instances made by hand and adopted (`--adopt`).
    pub adopted_instances: Vec<(String, String)>,
}

/// Where the id of each instance fnctl made or adopted is kept: a tag
/// ([`SEGMENT_INSTANCE`](crate::model::tags::SEGMENT_INSTANCE)) on the instance's role, since IAM is the
/// state. The CLI writes it through IAM; tests keep it in memory.
pub trait InstanceRecords: Send + Sync {
    /// The id recorded for `instance` when the run read its role.
    fn recorded(&self, instance: &str) -> Option<String>;

    /// Records `id` as `instance`'s.
    fn record<'a>(&'a self, instance: &'a str, id: &'a str) -> BoxFuture<'a, Result<(), IamError>>;
}

/// Where an instance was found.
#[derive(Debug, Clone, PartialEq)]
pub enum Located {
    /// Under the id its role records, running its function from its source.
    Recorded(LiveInstance),
    /// By fnctl's naming and its function's catalog id (not recorded yet).
    Named(LiveInstance),
    /// Made by hand: its function's, with `iamRoleArn` naming its role (`--adopt`).
    Adoptable(LiveInstance),
    /// Under the recorded id, but running another function or from another source.
    Elsewhere {
        /// Its id.
        id: String,
        /// What is wrong, for a message.
        why: &'static str,
    },
    /// Nowhere: apply creates it.
    Missing,
}

/// Why the instance Segment holds under `found`'s id is not `instance`
/// running the function of `catalog_id`, if it is not.
pub fn moved(
    instance: &FunctionInstance,
    catalog_id: &str,
    found: &LiveInstance,
) -> Option<&'static str> {
    if found.metadata_id.as_deref() != Some(catalog_id) {
        Some("runs another function")
    } else if instance.kind == FunctionKind::Destination && found.source_id != instance.source {
        Some("is connected to another source")
    } else {
        None
    }
}

/// Finds `instance` (running the function of `catalog_id`): by the id its
/// role records first, then by fnctl's naming, then, with `adopt_arn` (the
/// role's ARN, under `--adopt`), an instance of that function whose
/// `iamRoleArn` names the role. A recorded id Segment no longer has is
/// looked for like an instance never recorded.
pub(crate) async fn locate_instance(
    backend: &dyn FunctionsBackend,
    instance: &FunctionInstance,
    catalog_id: &str,
    recorded: Option<&str>,
    adopt_arn: Option<&str>,
) -> Result<Located, SegmentError> {
    if let Some(id) = recorded {
        if let Some(found) = backend
            .get_instance(instance.region, instance.kind, id)
            .await?
        {
            return Ok(match moved(instance, catalog_id, &found) {
                None => Located::Recorded(found),
                Some(why) => Located::Elsewhere { id: found.id, why },
            });
        }
    }
    let name = instance_name(instance);
    let named = |live: &LiveInstance| {
        [&live.name, &live.slug]
            .iter()
            .any(|n| n.as_deref() == Some(name.as_str()))
    };
    if let Some(found) = search_instances(backend, instance, catalog_id, &named).await? {
        return Ok(Located::Named(found));
    }
    let Some(arn) = adopt_arn else {
        return Ok(Located::Missing);
    };
    let names_the_role = |live: &LiveInstance| {
        live.settings.get(ROLE_ARN_SETTING).and_then(Value::as_str) == Some(arn)
    };
    Ok(
        match search_instances(backend, instance, catalog_id, &names_the_role).await? {
            Some(found) => Located::Adoptable(found),
            None => Located::Missing,
        },
    )
}

/// Every function of `kind` Segment lists, read whole (code and settings).
pub(crate) async fn read_functions(
    backend: &dyn FunctionsBackend,
    region: SegmentRegion,
    kind: FunctionKind,
) -> Result<Vec<LiveFunction>, SegmentError> {
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = backend
            .list_functions(region, kind, cursor.as_deref())
            .await?;
        listed.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(listed),
        }
    }
}

/// Creates, updates and deploys `desired` as needed; returns the function
/// as Segment holds it.
async fn apply_function(
    backend: &dyn FunctionsBackend,
    desired: &DesiredFunction,
    definitions: Vec<SettingDefinition>,
    adopt: bool,
    outcome: &mut FunctionsOutcome,
) -> Result<LiveFunction, FunctionsError> {
    let region = desired.region;
    let failed = |source| FunctionsError::Segment {
        function: desired.name.clone(),
        source,
    };
    let listed = read_functions(backend, region, desired.kind)
        .await
        .map_err(failed)?;
    let found = match find_function(desired, &listed) {
        Some(summary) => backend
            .get_function(region, &summary.id)
            .await
            .map_err(failed)?,
        None => None,
    };
    let (id, code_changed) = match plan_function(desired, definitions, found.as_ref(), adopt) {
        FunctionStep::Create(new) => {
            let made = backend
                .create_function(region, &new)
                .await
                .map_err(failed)?;
            outcome.created.push(desired.name.clone());
            (made.id, true)
        }
        FunctionStep::Update { id, change, .. } => {
            backend
                .update_function(region, &id, &change)
                .await
                .map_err(failed)?;
            outcome.updated.push(desired.name.clone());
            (id, change.code.is_some())
        }
        FunctionStep::Unchanged { id } => (id, false),
        FunctionStep::Conflict { reason, .. } => {
            return Err(FunctionsError::Conflict {
                function: desired.name.clone(),
                reason,
            })
        }
    };
    let mut live = read_back(backend, region, &id, &desired.name).await?;
    // A function never deployed, or one whose new code is not the running
    // version, is deployed; then Segment must say it runs the latest code.
    if code_changed || live.is_latest_version == Some(false) {
        if live.is_latest_version != Some(true) {
            backend.deploy_function(region, &id).await.map_err(failed)?;
            outcome.deployed.push(desired.name.clone());
            live = read_back(backend, region, &id, &desired.name).await?;
        }
        if live.is_latest_version == Some(false) {
            return Err(FunctionsError::NotDeployed {
                function: desired.name.clone(),
            });
        }
    }
    Ok(live)
}

async fn read_back(
    backend: &dyn FunctionsBackend,
    region: SegmentRegion,
    id: &str,
    name: &str,
) -> Result<LiveFunction, FunctionsError> {
    backend
        .get_function(region, id)
        .await
        .map_err(|source| FunctionsError::Segment {
            function: name.into(),
            source,
        })?
        .ok_or_else(|| FunctionsError::Segment {
            function: name.into(),
            source: SegmentError::Status {
                path: format!("/functions/{id}"),
                status: 404,
                message: "gone right after it was written".into(),
            },
        })
}

/// The first instance `keep` accepts among those that may be `instance`:
/// a destination's source's connected destinations, or the sources; each
/// running the function of `catalog_id`.
async fn search_instances(
    backend: &dyn FunctionsBackend,
    instance: &FunctionInstance,
    catalog_id: &str,
    keep: &(dyn Fn(&LiveInstance) -> bool + Sync),
) -> Result<Option<LiveInstance>, SegmentError> {
    let source = match instance.kind {
        FunctionKind::Destination => instance.source.as_deref(),
        FunctionKind::Source => None,
    };
    backend
        .find_instance(instance.region, instance.kind, source, catalog_id, keep)
        .await
}

/// Applies the functions of the set and creates their missing instances,
/// each with the settings `settings_of` gives it (the role's ARN and the
/// external ID included, so the first event can assume the role); records
/// each instance's id on its role (`records`) once it exists.
pub(crate) async fn apply_functions(
    backend: &dyn FunctionsBackend,
    functions: &[(DesiredFunction, Vec<SettingDefinition>)],
    instances: &[FunctionInstance],
    settings_of: &dyn Fn(&FunctionInstance) -> Map<String, Value>,
    records: &dyn InstanceRecords,
    adopt: bool,
) -> Result<FunctionsOutcome, FunctionsError> {
    // Each instance found from one listing when many (never a search each).
    let listed = ListedInstances::new(backend, instances.len());
    let backend: &dyn FunctionsBackend = &listed;
    let mut outcome = FunctionsOutcome::default();
    for (desired, definitions) in functions {
        let live =
            apply_function(backend, desired, definitions.clone(), adopt, &mut outcome).await?;
        for instance in instances.iter().filter(|i| i.function == desired.name) {
            let settings = settings_of(instance);
            apply_instance(
                backend,
                &live,
                instance,
                settings,
                records,
                adopt,
                &mut outcome,
            )
            .await?;
        }
    }
    Ok(outcome)
}

/// Finds or creates one instance of `live`, then records its id.
async fn apply_instance(
    backend: &dyn FunctionsBackend,
    live: &LiveFunction,
    instance: &FunctionInstance,
    settings: Map<String, Value>,
    records: &dyn InstanceRecords,
    adopt: bool,
    outcome: &mut FunctionsOutcome,
) -> Result<(), FunctionsError> {
    let failed = |source| FunctionsError::Segment {
        function: instance.function.clone(),
        source,
    };
    let recorded = records.recorded(&instance.instance);
    let arn = settings
        .get(ROLE_ARN_SETTING)
        .and_then(Value::as_str)
        .filter(|_| adopt);
    let name = instance.instance.clone();
    let located = locate_instance(
        backend,
        instance,
        &live.catalog_id,
        recorded.as_deref(),
        arn,
    )
    .await
    .map_err(failed)?;
    let id = match located {
        Located::Recorded(found) => {
            outcome.found_instances.push((name, found.id));
            return Ok(());
        }
        Located::Elsewhere { id, why } => {
            return Err(FunctionsError::Elsewhere {
                instance: name,
                id,
                why,
            })
        }
        Located::Named(found) => {
            outcome.found_instances.push((name, found.id.clone()));
            found.id
        }
        Located::Adoptable(found) => {
            outcome.adopted_instances.push((name, found.id.clone()));
            found.id
        }
        Located::Missing => {
            let new = NewInstance {
                kind: instance.kind,
                metadata_id: live.catalog_id.clone(),
                name: instance_name(instance),
                source_id: instance.source.clone(),
                enabled: true,
                settings,
            };
            let made = backend
                .create_instance(instance.region, &new)
                .await
                .map_err(failed)?;
            outcome.created_instances.push((name, made.id.clone()));
            made.id
        }
    };
    records
        .record(&instance.instance, &id)
        .await
        .map_err(|source| FunctionsError::Record {
            instance: instance.instance.clone(),
            id,
            source,
        })
}

/// An object fnctl owns that no manifest names: `--prune` deletes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Prunable {
    /// What it is: a destination or source instance, or a function.
    pub what: PrunableKind,
    /// Its API region.
    pub region: SegmentRegion,
    /// Its Segment id.
    pub id: String,
    /// Its name (an instance's name or slug; a function's marker).
    pub name: String,
}

/// What a [`Prunable`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrunableKind {
    /// An instance (a destination or a source).
    Instance(FunctionKind),
    /// A function of that kind.
    Function(FunctionKind),
}

/// The set `--prune` compares Segment with: its scopes, with the regions
/// of their workspaces, and what it declares.
pub struct PruneScope<'a> {
    /// Each scope of the set and a region of its workspace.
    pub scopes: Vec<(String, SegmentRegion)>,
    /// The functions the set declares.
    pub functions: &'a [DesiredFunction],
    /// The instances that run them.
    pub instances: &'a [FunctionInstance],
}

/// The owned instance name `live` carries in `scope`: a destination's
/// `<instance> (fnctl:<scope>)`, a source's slug `fnctl-<scope>-<instance>`.
fn owned_instance_name<'a>(live: &'a LiveInstance, scope: &str) -> Option<&'a str> {
    match live.kind {
        FunctionKind::Destination => live
            .name
            .as_deref()?
            .strip_suffix(&format!(" (fnctl:{scope})")),
        FunctionKind::Source => live
            .slug
            .as_deref()?
            .strip_prefix(&format!("fnctl-{scope}-")),
    }
}

/// The function name in `scope`'s marker a description carries.
fn owned_function_name<'a>(description: &'a str, scope: &str) -> Option<&'a str> {
    let start = description.find(&format!("[fnctl:{scope}/"))? + scope.len() + 8;
    let rest = &description[start..];
    rest.find(']').map(|end| &rest[..end])
}

/// What `--prune` deletes in each scope of `set`, instances first: every
/// instance fnctl named that runs a function `scope` owns and that no
/// manifest instance is (by name, function and source), then every
/// function `scope` owns that no manifest declares, unless something fnctl
/// does not own still runs it. Nothing without fnctl's marker, nothing of
/// another scope.
pub(crate) async fn prunable(
    backend: &dyn FunctionsBackend,
    set: &PruneScope<'_>,
) -> Result<Vec<Prunable>, SegmentError> {
    let mut instances = Vec::new();
    let mut functions = Vec::new();
    for (scope, region) in &set.scopes {
        let mut owned: BTreeMap<String, (LiveFunction, String)> = BTreeMap::new();
        for kind in [FunctionKind::Destination, FunctionKind::Source] {
            for function in read_functions(backend, *region, kind).await? {
                if let Some(name) = owned_function_name(&function.description, scope) {
                    let name = name.to_string();
                    owned.insert(function.catalog_id.clone(), (function, name));
                }
            }
        }
        if owned.is_empty() {
            continue;
        }
        let mut kept_running: Vec<String> = Vec::new();
        for live in read_instances(backend, *region).await? {
            let Some((_, function)) = live.metadata_id.as_ref().and_then(|c| owned.get(c)) else {
                continue;
            };
            let named = owned_instance_name(&live, scope).filter(|name| {
                !set.instances.iter().any(|i| {
                    &i.scope == scope
                        && i.instance == *name
                        && i.kind == live.kind
                        && &i.function == function
                        && (i.kind == FunctionKind::Source || i.source == live.source_id)
                })
            });
            match named {
                Some(_) => instances.push(Prunable {
                    what: PrunableKind::Instance(live.kind),
                    region: *region,
                    name: live.name.clone().or(live.slug.clone()).unwrap_or_default(),
                    id: live.id,
                }),
                None => kept_running.extend(live.metadata_id.clone()),
            }
        }
        let declared = |name: &str| {
            set.functions
                .iter()
                .any(|f| &f.scope == scope && f.name == name)
        };
        for (catalog_id, (function, name)) in &owned {
            if declared(name) || kept_running.contains(catalog_id) {
                continue;
            }
            functions.push(Prunable {
                what: PrunableKind::Function(function.kind.unwrap_or(FunctionKind::Destination)),
                region: *region,
                id: function.id.clone(),
                name: marker(scope, name),
            });
        }
    }
    instances.extend(functions);
    Ok(instances)
}

/// Every destination and source of the workspace of `region`.
async fn read_instances(
    backend: &dyn FunctionsBackend,
    region: SegmentRegion,
) -> Result<Vec<LiveInstance>, SegmentError> {
    let mut all = Vec::new();
    for kind in [FunctionKind::Destination, FunctionKind::Source] {
        all.extend(list_instances(backend, region, kind).await?);
    }
    Ok(all)
}

/// What Segment holds under each id of `wanted` (its region and kind, and
/// the id its role records): `None` for an id Segment no longer has. A few
/// are read one GET each; more from one listing ([`ListedInstances`]:
/// ceil(N/200) requests instead of N).
pub(crate) async fn read_recorded(
    backend: &dyn FunctionsBackend,
    wanted: &[(SegmentRegion, FunctionKind, String)],
) -> Result<std::collections::HashMap<String, Option<LiveInstance>>, SegmentError> {
    let listed = ListedInstances::new(backend, wanted.len());
    let mut held = std::collections::HashMap::new();
    for (region, kind, id) in wanted {
        held.insert(id.clone(), listed.get_instance(*region, *kind, id).await?);
    }
    Ok(held)
}

/// Deletes what [`prunable`] found, in its order (instances first); a
/// 404 is no failure (deleted since it was read). Returns how many.
pub async fn prune(
    backend: &dyn FunctionsBackend,
    doomed: &[Prunable],
) -> Result<usize, FunctionsError> {
    for object in doomed {
        let deleted = match object.what {
            PrunableKind::Instance(kind) => {
                backend
                    .delete_instance(object.region, kind, &object.id)
                    .await
            }
            PrunableKind::Function(_) => backend.delete_function(object.region, &object.id).await,
        };
        match deleted {
            Ok(()) | Err(SegmentError::Status { status: 404, .. }) => {}
            Err(source) => {
                return Err(FunctionsError::Prune {
                    what: format!("deleting `{}` ({})", object.name, object.id),
                    source,
                })
            }
        }
    }
    Ok(doomed.len())
}

#[cfg(test)]
#[path = "functions_tests.rs"]
mod tests;
