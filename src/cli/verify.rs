//! `fnctl verify`: read-only proof that each function can assume its role
//! with the ID in its bundle and that nobody else can.

use crate::bundle;
use crate::check::verify::{verify_instance, verify_segment, Finding};
use crate::cli::args::{Format, GlobalOptions, VerifyArgs};
use crate::execute::segment;
use crate::plan::PlanOptions;

use crate::execute::session as reconcile;

/// Checks every instance; exit 1 when anything is found.
pub(crate) async fn run(global: &GlobalOptions, args: &VerifyArgs) -> anyhow::Result<i32> {
    let set = super::settings::load_manifests(
        &args.manifests,
        super::settings::in_accounts(&global.accounts),
    )?;
    let context = super::settings::context(global, crate::execute::DEFAULT_PARALLELISM.into());
    let options = PlanOptions::read_only(context.now());
    let context = super::settings::with_segment(context, &set.instances)?;
    let runs = reconcile::observe(&context, set.instances, &options).await?;
    let mut findings: Vec<Finding> = Vec::new();
    let mut checked = 0;
    let segment_settings = match context.segment() {
        Some(backend) => segment::read_all(backend, segment::targets(&runs)).await?,
        None => Vec::new(),
    };
    for run in &runs {
        for instance in &run.instances {
            let live = run.role_of(instance);
            match bundle::read(&args.bundle_dir, &instance.name) {
                Ok(on_disk) => {
                    findings.extend(verify_instance(instance, live, on_disk.as_ref()));
                    let shown = segment_settings
                        .iter()
                        .find(|(name, ..)| *name == instance.name)
                        .and_then(|(_, _, live)| live.as_ref());
                    findings.extend(verify_segment(instance, on_disk.as_ref(), shown));
                }
                Err(error) => {
                    findings.push(Finding {
                        instance: instance.name.clone(),
                        code: crate::model::codes::VerifyCode::BundleUnreadable,
                        message: format!("cannot read the bundle: {error}"),
                    });
                    // The bundle is there but unreadable: not "missing" as well.
                    findings.extend(
                        verify_instance(instance, live, None)
                            .into_iter()
                            .filter(|f| f.code != crate::model::codes::VerifyCode::BundleMissing),
                    );
                }
            }
            checked += 1;
        }
    }
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
