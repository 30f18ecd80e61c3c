//! `fnctl drift`: read-only drift check for cron and CI.

use crate::check::drift::FindingKind;
use crate::cli::args::{DriftArgs, Format, GlobalOptions};
use crate::report::drift as drift_report;

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
    // A missing token stops the run before any AWS call.
    let context = match &args.snapshot {
        Some(_) => context,
        None => super::settings::with_segment_and_functions(
            context,
            &set.instances,
            !set.functions.is_empty(),
        )?,
    };
    // Only the instances that run a function of the set are kept for the
    // functions' drift (their settings say which definitions fnctl owns).
    let running: std::collections::HashSet<&str> = set
        .function_instances
        .iter()
        .map(|i| i.instance.as_str())
        .collect();
    let function_desired: Vec<_> = set
        .instances
        .iter()
        .filter(|d| running.contains(d.name.as_str()))
        .cloned()
        .collect();
    let (mut findings, recorded) =
        crate::execute::checks::drift(&context, set.instances, args.snapshot.as_deref()).await?;
    if let Some(backend) = context.functions() {
        findings.extend(
            super::drift_functions::findings(
                backend,
                &set.functions,
                &set.function_instances,
                &function_desired,
                &recorded,
            )
            .await?,
        );
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
