//! The read-only services behind `fnctl drift` and `fnctl verify`: read IAM
//! (or a snapshot) and Segment through the run context, then judge with the
//! pure checks of [`crate::check`] (which depends on no service: the
//! renderers in `report` use its findings). The CLI renders what they find
//! and chooses the exit code.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::bundle::{self, Bundle};
use crate::check::drift;
use crate::check::verify::{verify_instance, verify_segment, Finding};
use crate::execute::context::RunContext;
use crate::execute::functions::{
    find_function, locate_instance, marker, moved, read_functions, read_recorded, Located,
};
use crate::execute::segment;
use crate::execute::session::{self, AccountRun};
use crate::live::segment::SegmentError;
use crate::live::segment_functions::{FunctionsBackend, LiveInstance};
use crate::live::segment_functions_listed::ListedInstances;
use crate::model::codes::VerifyCode;
use crate::model::function::{DesiredFunction, FunctionInstance};
use crate::model::segment::{LiveSettings, SegmentTarget};
use crate::model::DesiredInstance;
use crate::plan::PlanOptions;

/// Every instance's Segment settings as one read shows them, by name.
type SegmentRead = Vec<(
    String,
    crate::model::segment::SegmentTarget,
    Option<LiveSettings>,
)>;

/// What Segment shows of each instance of `read`, by instance name: one
/// lookup per instance, not a search of the read (5,000 instances).
fn shown_by_name(read: &SegmentRead) -> HashMap<&str, &LiveSettings> {
    read.iter()
        .filter_map(|(name, _, live)| live.as_ref().map(|live| (name.as_str(), live)))
        .collect()
}

/// The Segment settings of every instance of `runs` that names one, when
/// the context has a Segment client (one read for the whole run).
async fn read_segment(context: &RunContext, runs: &[AccountRun]) -> anyhow::Result<SegmentRead> {
    Ok(match context.segment() {
        Some(backend) => segment::read_all(backend, segment::targets(runs)).await?,
        None => Vec::new(),
    })
}

/// Where an instance's role records the Segment function instance apply
/// made for it ([`crate::model::tags::SEGMENT_INSTANCE`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordedId {
    /// The role carrying the record.
    pub(crate) role: String,
    /// Its account.
    pub(crate) account: String,
    /// The Segment instance id.
    pub(crate) id: String,
}

/// The records of every instance whose role has one, by instance name.
pub(crate) type Recorded = HashMap<String, RecordedId>;

fn recorded(runs: &[AccountRun]) -> Recorded {
    let mut found = Recorded::new();
    for run in runs {
        for instance in &run.instances {
            let Some(role) = run.role_of(instance) else {
                continue;
            };
            if let Some(id) = role.tags.get(crate::model::tags::SEGMENT_INSTANCE) {
                let record = RecordedId {
                    role: role.name.clone(),
                    account: run.account.clone(),
                    id: id.clone(),
                };
                found.insert(instance.name.clone(), record);
            }
        }
    }
    found
}

/// What Segment holds under the id each function instance's role records
/// (read at once: list pages when there are many).
pub(crate) async fn read_held(
    backend: &dyn FunctionsBackend,
    function_instances: &[FunctionInstance],
    recorded: &Recorded,
) -> Result<HashMap<String, Option<LiveInstance>>, SegmentError> {
    let wanted: Vec<_> = function_instances
        .iter()
        .filter_map(|i| {
            let record = recorded.get(&i.instance)?;
            Some((i.region, i.kind, record.id.clone()))
        })
        .collect();
    read_recorded(backend, &wanted).await
}

/// Drift of every instance: IAM against the manifests (from `snapshot`
/// instead of IAM when given, then without Segment), and Segment's settings
/// against IAM; with the Segment function instances the roles record (for
/// the functions' drift).
pub(crate) async fn drift(
    context: &RunContext,
    instances: Vec<DesiredInstance>,
    snapshot: Option<&Path>,
) -> anyhow::Result<(Vec<drift::Finding>, Recorded)> {
    let now = context.now();
    let options = PlanOptions::read_only(now);
    let runs = match snapshot {
        Some(path) => session::observe_snapshot(path, &instances, &options)?,
        None => session::observe(context, instances, &options).await?,
    };
    let mut findings: Vec<drift::Finding> = runs
        .iter()
        .flat_map(|run| drift::detect(&run.account, &run.instances, &run.live.roles, now))
        .collect();
    let records = recorded(&runs);
    if snapshot.is_some() || context.segment().is_none() {
        return Ok((findings, records));
    }
    let read = read_segment(context, &runs).await?;
    let shown = shown_by_name(&read);
    for run in &runs {
        for instance in run.instances.iter().filter(|i| i.segment.is_some()) {
            findings.extend(drift::detect_segment(
                &run.account,
                instance,
                run.role_of(instance),
                shown.get(instance.name.as_str()).copied(),
                &segment::expected_settings(run, instance),
                bundle::EXTERNAL_ID_SETTING,
            ));
        }
    }
    Ok((findings, records))
}

/// What `verify` found, and of how many instances.
pub(crate) struct Verified {
    pub(crate) findings: Vec<Finding>,
    pub(crate) checked: usize,
}

/// Verifies every instance: its role admits exactly Segment's account with
/// the ID in its bundle (in `bundle_dir`), its permissions cover what it
/// declares, and Segment holds what the bundle says.
pub(crate) async fn verify(
    context: &RunContext,
    instances: Vec<DesiredInstance>,
    bundle_dir: &Path,
    functions: &[DesiredFunction],
    function_instances: &[FunctionInstance],
) -> anyhow::Result<Verified> {
    let options = PlanOptions::read_only(context.now());
    let runs = session::observe(context, instances, &options).await?;
    let read = read_segment(context, &runs).await?;
    let shown_of = shown_by_name(&read);
    let mut verified = Verified {
        findings: Vec::new(),
        checked: 0,
    };
    let runs_a_function: HashSet<&str> = function_instances
        .iter()
        .map(|i| i.instance.as_str())
        .collect();
    let mut bundles: HashMap<String, Option<Bundle>> = HashMap::new();
    for run in &runs {
        for instance in &run.instances {
            let live = run.role_of(instance);
            match bundle::read(bundle_dir, &instance.name) {
                Ok(on_disk) => {
                    if runs_a_function.contains(instance.name.as_str()) {
                        bundles.insert(instance.name.clone(), on_disk.clone());
                    }
                    let found = &mut verified.findings;
                    found.extend(verify_instance(instance, live, on_disk.as_ref()));
                    let shown = shown_of.get(instance.name.as_str()).copied();
                    found.extend(verify_segment(instance, on_disk.as_ref(), shown));
                }
                Err(error) => {
                    verified.findings.push(Finding {
                        instance: instance.name.clone(),
                        code: VerifyCode::BundleUnreadable,
                        message: format!("cannot read the bundle: {error}"),
                    });
                    // The bundle is there but unreadable: not "missing" as well.
                    verified.findings.extend(
                        verify_instance(instance, live, None)
                            .into_iter()
                            .filter(|f| f.code != VerifyCode::BundleMissing),
                    );
                }
            }
            verified.checked += 1;
        }
    }
    if let Some(backend) = context.functions() {
        let listed = ListedInstances::new(backend, function_instances.len());
        let backend: &dyn FunctionsBackend = &listed;
        let desired: HashMap<&str, &DesiredInstance> = runs
            .iter()
            .flat_map(|run| &run.instances)
            .map(|d| (d.name.as_str(), d))
            .collect();
        let recorded = recorded(&runs);
        let each = FunctionChecks {
            backend,
            desired: &desired,
            recorded: &recorded,
            held: &read_held(backend, function_instances, &recorded).await?,
            bundles: &bundles,
        };
        for function in functions {
            let runs_it: Vec<&FunctionInstance> = function_instances
                .iter()
                .filter(|i| {
                    i.function == function.name && desired.contains_key(i.instance.as_str())
                })
                .collect();
            verified
                .findings
                .extend(each.verify(function, &runs_it).await?);
        }
    }
    Ok(verified)
}

/// What verifying the instances of a function reads from.
struct FunctionChecks<'a> {
    backend: &'a dyn FunctionsBackend,
    desired: &'a HashMap<&'a str, &'a DesiredInstance>,
    recorded: &'a Recorded,
    /// What Segment holds under each recorded id (read at once).
    held: &'a HashMap<String, Option<LiveInstance>>,
    bundles: &'a HashMap<String, Option<Bundle>>,
}

impl FunctionChecks<'_> {
    /// Each instance of `function` runs it (the manifest's code, deployed)
    /// and holds its bundle's settings (the external ID compared as Segment
    /// masks it, never shown).
    async fn verify(
        &self,
        function: &DesiredFunction,
        runs_it: &[&FunctionInstance],
    ) -> anyhow::Result<Vec<Finding>> {
        let mut found = Vec::new();
        let listed = read_functions(self.backend, function.region, function.kind).await?;
        let owned = find_function(function, &listed).filter(|f| {
            f.description
                .contains(&marker(&function.scope, &function.name))
        });
        let live = match owned {
            Some(summary) => {
                self.backend
                    .get_function(function.region, &summary.id)
                    .await?
            }
            None => None,
        };
        let Some(live) = live else {
            for instance in runs_it {
                found.push(Finding {
                    instance: instance.instance.clone(),
                    code: VerifyCode::FunctionMissing,
                    message: format!(
                        "Segment has no function {}",
                        marker(&function.scope, &function.name)
                    ),
                });
            }
            return Ok(found);
        };
        let deployed = live.code.as_deref() == Some(function.code.as_str())
            && live.is_latest_version == Some(true);
        for instance in runs_it {
            let about = |code, message: String| Finding {
                instance: instance.instance.clone(),
                code,
                message,
            };
            if !deployed {
                found.push(about(
                    VerifyCode::FunctionNotDeployed,
                    format!(
                        "function {} does not run the manifest's code ({})",
                        live.id,
                        function.code_path.display()
                    ),
                ));
            }
            // By the id its role records (read at once above); else, or
            // when Segment no longer has it, by fnctl's naming.
            let recorded = self.recorded.get(&instance.instance);
            let held = recorded
                .and_then(|r| self.held.get(&r.id))
                .cloned()
                .flatten();
            let located = match held {
                Some(found) => match moved(instance, &live.catalog_id, &found) {
                    None => Located::Recorded(found),
                    Some(why) => Located::Elsewhere { id: found.id, why },
                },
                None => {
                    locate_instance(self.backend, instance, &live.catalog_id, None, None).await?
                }
            };
            let running = match located {
                Located::Recorded(running)
                | Located::Named(running)
                | Located::Adoptable(running) => running,
                Located::Elsewhere { id, why } => {
                    found.push(about(
                        VerifyCode::FunctionInstanceElsewhere,
                        format!("Segment instance {id} {why}"),
                    ));
                    continue;
                }
                Located::Missing => {
                    found.push(about(
                        VerifyCode::SegmentInstanceMissing,
                        format!("Segment has no instance running function {}", live.id),
                    ));
                    continue;
                }
            };
            found.extend(self.settings(instance, running));
        }
        Ok(found)
    }

    /// Whether `running` holds the instance's bundle's settings.
    fn settings(&self, instance: &FunctionInstance, running: LiveInstance) -> Vec<Finding> {
        let Some(desired) = self.desired.get(instance.instance.as_str()) else {
            return Vec::new();
        };
        let Some(Some(bundle)) = self.bundles.get(&instance.instance) else {
            return Vec::new(); // The bundle's own findings say why.
        };
        let mut target = (*desired).clone();
        target.segment = Some(SegmentTarget {
            id: running.id,
            region: instance.region,
            kind: instance.kind,
        });
        let shown = LiveSettings {
            settings: running.settings,
        };
        verify_segment(&target, Some(bundle), Some(&shown))
    }
}
