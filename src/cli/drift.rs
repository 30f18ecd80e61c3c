//! `fnctl drift`: read-only drift check for cron and CI.

use crate::check::drift::{self, FindingKind};
use crate::cli::args::{DriftArgs, Format, GlobalOptions};
use crate::plan::PlanOptions;
use crate::report::drift as drift_report;

use crate::execute::session as reconcile;

/// Exit code when drift at or above `--fail-on` is found.
pub const EXIT_DRIFT: i32 = 2;

/// Detects drift in every account of the manifests.
pub async fn run(global: &GlobalOptions, args: &DriftArgs) -> anyhow::Result<i32> {
    let set = super::settings::load_manifests(&args.manifests)?;
    let now = reconcile::now();
    let options = PlanOptions {
        now: now.clone(),
        ..PlanOptions::default()
    };
    let runs = match &args.snapshot {
        Some(path) => reconcile::observe_snapshot(path, &set.instances, &options)?,
        None => {
            reconcile::observe(
                &super::settings::session(global),
                set.instances,
                &options,
                crate::execute::DEFAULT_PARALLELISM.into(),
            )
            .await?
        }
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
        .any(|f| f.kind == FindingKind::Drift && f.severity >= args.fail_on.into());
    Ok(if alarming { EXIT_DRIFT } else { 0 })
}
