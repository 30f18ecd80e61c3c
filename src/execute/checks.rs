//! The read-only services behind `fnctl drift` and `fnctl verify`: read IAM
//! (or a snapshot) and Segment through the run context, then judge with the
//! pure checks of [`crate::check`] (which depends on no service: the
//! renderers in `report` use its findings). The CLI renders what they find
//! and chooses the exit code.

use std::collections::HashMap;
use std::path::Path;

use crate::bundle;
use crate::check::drift;
use crate::check::verify::{verify_instance, verify_segment, Finding};
use crate::execute::context::RunContext;
use crate::execute::segment;
use crate::execute::session::{self, AccountRun};
use crate::model::codes::VerifyCode;
use crate::model::segment::LiveSettings;
use crate::model::DesiredInstance;
use crate::plan::PlanOptions;

/// Every instance's Segment settings as one read shows them, by name.
type SegmentRead = Vec<(
    String,
    crate::model::segment::SegmentTarget,
    Option<LiveSettings>,
)>;

/// What Segment shows of `instance`, in `read`.
fn shown<'a>(read: &'a SegmentRead, instance: &str) -> Option<&'a LiveSettings> {
    read.iter()
        .find(|(name, ..)| name == instance)
        .and_then(|(_, _, live)| live.as_ref())
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
    for run in &runs {
        for instance in run.instances.iter().filter(|i| i.segment.is_some()) {
            findings.extend(drift::detect_segment(
                &run.account,
                instance,
                run.role_of(instance),
                shown(&read, &instance.name),
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
) -> anyhow::Result<Verified> {
    let options = PlanOptions::read_only(context.now());
    let runs = session::observe(context, instances, &options).await?;
    let read = read_segment(context, &runs).await?;
    let mut verified = Verified {
        findings: Vec::new(),
        checked: 0,
    };
    for run in &runs {
        for instance in &run.instances {
            let live = run.role_of(instance);
            match bundle::read(bundle_dir, &instance.name) {
                Ok(on_disk) => {
                    let found = &mut verified.findings;
                    found.extend(verify_instance(instance, live, on_disk.as_ref()));
                    let shown = shown(&read, &instance.name);
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
    Ok(verified)
}
