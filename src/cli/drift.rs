//! `fnctl drift`: read-only drift check for cron and CI.

use crate::check::drift::{self, FindingKind};
use crate::cli::args::{DriftArgs, Format, GlobalOptions};
use crate::execute::segment;
use crate::plan::PlanOptions;
use crate::report::drift as drift_report;

use crate::execute::session as reconcile;

/// Exit code when drift at or above `--fail-on` is found.
pub const EXIT_DRIFT: i32 = 2;

/// Detects drift in every account of the manifests.
pub(crate) async fn run(global: &GlobalOptions, args: &DriftArgs) -> anyhow::Result<i32> {
    // A snapshot is of one account, whatever `--account` says (see
    // `observe_snapshot`): it needs every instance to pick its own.
    let accounts: &[String] = match &args.snapshot {
        Some(_) => &[],
        None => &global.accounts,
    };
    let set =
        super::settings::load_manifests(&args.manifests, super::settings::in_accounts(accounts))?;
    let context = super::settings::context(global, crate::execute::DEFAULT_PARALLELISM.into());
    let now = context.now();
    let options = PlanOptions::read_only(now);
    // A missing token stops the run before any AWS call.
    let context = match &args.snapshot {
        Some(_) => context,
        None => super::settings::with_segment(context, &set.instances)?,
    };
    let runs = match &args.snapshot {
        Some(path) => reconcile::observe_snapshot(path, &set.instances, &options)?,
        None => reconcile::observe(&context, set.instances, &options).await?,
    };
    let mut findings: Vec<drift::Finding> = runs
        .iter()
        .flat_map(|run| drift::detect(&run.account, &run.instances, &run.live.roles, now))
        .collect();
    {
        if let Some(backend) = context.segment() {
            let read = segment::read_all(backend, segment::targets(&runs)).await?;
            for run in &runs {
                for instance in run.instances.iter().filter(|i| i.segment.is_some()) {
                    let live = read
                        .iter()
                        .find(|(name, ..)| *name == instance.name)
                        .and_then(|(_, _, live)| live.as_ref());
                    findings.extend(drift::detect_segment(
                        &run.account,
                        instance,
                        run.role_of(instance),
                        live,
                        &segment::expected_settings(run, instance),
                        crate::bundle::EXTERNAL_ID_SETTING,
                    ));
                }
            }
        }
    }
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
