//! `fnctl drift`: read-only drift check for cron and CI.

use crate::cli::{DriftArgs, Format, GlobalOptions};
use crate::drift::{self, FindingKind};
use crate::drift_report;
use crate::plan::PlanOptions;

use super::reconcile;

/// Exit code when drift at or above `--fail-on` is found.
pub const EXIT_DRIFT: i32 = 2;

/// Detects drift in every account of the manifests.
pub async fn run(global: &GlobalOptions, args: &DriftArgs) -> anyhow::Result<i32> {
    let set = reconcile::load_manifests(&args.manifests)?;
    let now = reconcile::now();
    let options = PlanOptions {
        now: now.clone(),
        ..PlanOptions::default()
    };
    let runs = match &args.snapshot {
        Some(path) => reconcile::observe_snapshot(path, &set.instances, &options)?,
        None => reconcile::observe(global, &set.instances, &options, 8).await?,
    };
    let findings: Vec<drift::Finding> = runs
        .iter()
        .flat_map(|run| drift::detect(&run.account, &run.instances, &run.live.roles, &now))
        .collect();
    match args.format {
        Format::Text => crate::out!("{}", drift_report::text(&findings)),
        Format::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&drift_report::json(&findings))?
        ),
        Format::Markdown => crate::out!("{}", drift_report::markdown(&findings)),
    }
    let alarming = findings
        .iter()
        .any(|f| f.kind == FindingKind::Drift && f.severity >= args.fail_on);
    Ok(if alarming { EXIT_DRIFT } else { 0 })
}
