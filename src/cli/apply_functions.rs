//! `apply`'s Segment functions step: after IAM and the bundles, the
//! functions of the manifests are created or updated (and deployed), and
//! their missing instances created with their bundles' settings (the
//! external ID included). Only instances whose bundle this run wrote are
//! created: an instance whose role is not right yet waits for a re-run.
//! Each instance's id is recorded on its role (IAM is the state).

use std::collections::{BTreeMap, HashMap};

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::bundle::{Bundle, EXTERNAL_ID_SETTING};
use crate::execute::functions::{
    apply_functions, desired_definitions, prune as prune_all, InstanceRecords, Prunable, PruneScope,
};
use crate::execute::segment::{deliver_many, Delivery};
use crate::execute::session::AccountRun;
use crate::live::segment_functions::FunctionsBackend;
use crate::live::shared::SharedIam;
use crate::live::{IamBackend, IamError};
use crate::model::function::{DesiredFunction, FunctionInstance};
use crate::model::operation::Operation;
use crate::model::segment::SegmentTarget;
use crate::model::tags;
use crate::model::DesiredInstance;

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
    prune: &[Prunable],
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
    let records = RoleRecords::of(runs);
    match apply_functions(
        backend,
        &with_definitions,
        &ready,
        &settings_of,
        &records,
        adopt,
    )
    .await
    {
        Ok(outcome) => {
            let mut line = format!(
                " Segment functions: {} created, {} updated, {} deployed; {} instance(s) created.",
                outcome.created.len(),
                outcome.updated.len(),
                outcome.deployed.len(),
                outcome.created_instances.len()
            );
            let existing = outcome
                .found_instances
                .iter()
                .chain(&outcome.adopted_instances);
            let pushed = push_settings(backend, existing, instances, bundles, failures).await;
            if pushed > 0 {
                line.push_str(&format!(" {pushed} instance(s)' settings pushed."));
            }
            if !prune.is_empty() {
                match prune_all(backend, prune).await {
                    Ok(count) => line.push_str(&format!(" {count} pruned.")),
                    Err(error) => failures.push(format!(
                        "Segment functions: {}",
                        crate::report::error_chain(&error)
                    )),
                }
            }
            line
        }
        Err(error) => {
            failures.push(format!(
                "Segment functions: {}",
                crate::report::error_chain(&error)
            ));
            String::new()
        }
    }
}

/// Pushes each existing instance's bundle (written by this run) into it,
/// as every `segment: { id }` instance gets it: only fnctl's keys that
/// differ, read back and confirmed. Returns how many were pushed.
async fn push_settings<'a>(
    backend: &dyn FunctionsBackend,
    existing: impl Iterator<Item = &'a (String, String)>,
    instances: &[FunctionInstance],
    bundles: &HashMap<String, Map<String, Value>>,
    failures: &mut Vec<String>,
) -> usize {
    let by_name: HashMap<&str, &FunctionInstance> =
        instances.iter().map(|i| (i.instance.as_str(), i)).collect();
    let mut deliveries = Vec::new();
    for (name, id) in existing {
        let (Some(instance), Some(settings)) = (by_name.get(name.as_str()), bundles.get(name))
        else {
            continue;
        };
        let target = SegmentTarget {
            id: id.clone(),
            region: instance.region,
            kind: instance.kind,
        };
        let bundle = Bundle {
            instance: name.clone(),
            kind: instance.kind,
            settings: settings.clone().into_iter().collect(),
            sensitive: vec![EXTERNAL_ID_SETTING.to_string()],
        };
        deliveries.push((name.clone(), target, bundle));
    }
    let results = deliver_many(backend.as_settings(), &deliveries).await;
    let mut pushed = 0;
    for ((name, target, _), result) in deliveries.iter().zip(results) {
        match result {
            Ok(Delivery::Pushed(_)) => pushed += 1,
            Ok(Delivery::Unchanged) => {}
            Err(error) => failures.push(format!(
                "instance {name}: settings not delivered to Segment {}: {}",
                target.path(),
                crate::report::error_chain(&error)
            )),
        }
    }
    pushed
}

/// What `--prune` compares Segment with: every scope of the run (its
/// instances' and its functions'), in each region its functions or its
/// `segment: { id }` instances use.
pub(crate) fn prune_scope<'a>(
    desired: impl Iterator<Item = &'a DesiredInstance>,
    functions: &'a [DesiredFunction],
    instances: &'a [FunctionInstance],
) -> PruneScope<'a> {
    let mut scopes = std::collections::BTreeSet::new();
    let mut regions: Vec<_> = functions.iter().map(|f| f.region).collect();
    for instance in desired {
        scopes.insert(instance.scope.clone());
        regions.extend(instance.segment.as_ref().map(|t| t.region));
    }
    scopes.extend(functions.iter().map(|f| f.scope.clone()));
    let mut pairs = Vec::new();
    for scope in scopes {
        for region in &regions {
            if !pairs.contains(&(scope.clone(), *region)) {
                pairs.push((scope.clone(), *region));
            }
        }
    }
    PruneScope {
        scopes: pairs,
        functions,
        instances,
    }
}

/// Whether the run needs the functions client: the manifests declare
/// functions, or `--prune` over the whole set may delete the ones fnctl
/// made before (the last function removed from the manifests), in the
/// workspace its `segment: { id }` instances name (they bring the token).
pub(crate) fn needs_functions(
    declares_functions: bool,
    prune: bool,
    accounts: &[String],
    desired: &[DesiredInstance],
) -> bool {
    declares_functions
        || (prune && accounts.is_empty() && desired.iter().any(|i| i.segment.is_some()))
}

/// Each instance's role: its account's IAM, its name, and the Segment
/// instance id its tags recorded when the run read it.
struct RoleRecords {
    roles: HashMap<String, (SharedIam, String, Option<String>)>,
}

impl RoleRecords {
    fn of(runs: &[AccountRun]) -> Self {
        let mut roles = HashMap::new();
        for run in runs {
            for instance in &run.instances {
                let live = run.role_of(instance);
                let name = live.map_or(instance.role_name.clone(), |r| r.name.clone());
                let recorded = live.and_then(|r| r.tags.get(tags::SEGMENT_INSTANCE).cloned());
                roles.insert(instance.name.clone(), (run.backend(), name, recorded));
            }
        }
        RoleRecords { roles }
    }
}

impl InstanceRecords for RoleRecords {
    fn recorded(&self, instance: &str) -> Option<String> {
        self.roles.get(instance).and_then(|(.., id)| id.clone())
    }

    fn record<'a>(&'a self, instance: &'a str, id: &'a str) -> BoxFuture<'a, Result<(), IamError>> {
        Box::pin(async move {
            // Only instances of this run's roles are applied.
            let Some((iam, role, _)) = self.roles.get(instance) else {
                return Ok(());
            };
            let tag = Operation::TagRole {
                role: role.clone(),
                tags: BTreeMap::from([(tags::SEGMENT_INSTANCE.to_string(), id.to_string())]),
            };
            iam.execute(&tag).await
        })
    }
}
