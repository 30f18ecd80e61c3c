//! `fnctl verify`: read-only proof that each function can assume its role
//! with the ID in its bundle and that nobody else can; for the Segment
//! functions of the manifests, that each instance runs its function (the
//! manifest's code, deployed) and holds its bundle's settings.

use crate::cli::args::{Format, GlobalOptions, VerifyArgs};
use crate::execute::checks::Verified;

/// Checks every instance; exit 1 when anything is found.
pub(crate) async fn run(global: &GlobalOptions, args: &VerifyArgs) -> anyhow::Result<i32> {
    let set = super::settings::load_manifests(
        &args.manifests,
        super::settings::in_accounts(&global.accounts),
    )?;
    let context = super::settings::context(global, crate::execute::DEFAULT_PARALLELISM.into());
    let context = super::settings::with_segment_and_functions(
        context,
        &set.instances,
        !set.functions.is_empty(),
    )?;
    let Verified { findings, checked } = crate::execute::checks::verify(
        &context,
        set.instances,
        &args.bundle_dir,
        &set.functions,
        &set.function_instances,
    )
    .await?;
    match args.format {
        Format::Json => {
            let report = serde_json::json!({ "format_version": "1", "checked": checked, "ok": findings.is_empty(), "findings": findings });
            crate::outln!("{}", serde_json::to_string_pretty(&report)?);
        }
        Format::Text | Format::Markdown => {
            for finding in &findings {
                crate::outln!(
                    "{}: {} — {}",
                    finding.instance,
                    finding.code,
                    finding.message
                );
            }
            if findings.is_empty() {
                crate::outln!("verified {checked} instance(s): each function can assume its role with its bundle, and nobody else can.");
            } else {
                crate::outln!("{} finding(s) in {checked} instance(s).", findings.len());
            }
        }
    }
    Ok(if findings.is_empty() { 0 } else { 1 })
}
