//! `fnctl rotate`: two-phase external-ID rotation. The work is the rotation
//! service's ([`crate::execute::rotate`]); this reads the arguments, renders
//! what happened to each instance on stderr and chooses the exit code.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::cli::args::{GlobalOptions, RotateArgs};
use crate::execute::context::RunContext;
use crate::execute::rotate::{self, Outcome, Phase, Request};
use crate::execute::DEFAULT_PARALLELISM;
use crate::manifest::ManifestSet;

/// Instances whose new ID a started rotation pushes to Segment in the same
/// run (`segment: { id }` and function instances): nobody copies their
/// setting by hand.
fn pushed_to_segment(context: &RunContext, set: &ManifestSet) -> BTreeSet<String> {
    match context.segment {
        Some(_) => set
            .instances
            .iter()
            .filter(|instance| instance.segment.is_some())
            .map(|instance| instance.name.clone())
            .chain(set.function_instances.iter().map(|f| f.instance.clone()))
            .collect(),
        None => BTreeSet::new(),
    }
}

/// Starts or finishes the rotation of the selected instances.
pub(crate) async fn run(global: &GlobalOptions, args: &RotateArgs) -> anyhow::Result<i32> {
    let set = super::settings::load_manifests(
        &args.manifests,
        super::settings::in_accounts_or_named(&global.accounts, &args.names),
    )?;
    let request = Request {
        phase: if args.start {
            Phase::Start
        } else {
            Phase::Finish {
                min_age: args.min_age,
                force: args.force,
            }
        },
        names: args.names.clone(),
        due: args.due,
        all: args.all,
        bundle_dir: args.bundle_dir.clone(),
        function_instances: set.function_instances.clone(),
    };
    let context = super::settings::context(global, DEFAULT_PARALLELISM.into());
    let has_functions = !set.function_instances.is_empty();
    let context =
        super::settings::with_segment_and_functions(context, &set.instances, has_functions)?;
    let to_segment = pushed_to_segment(&context, &set);
    let outcomes = if args.auto {
        rotate::auto(
            &context,
            &set.instances,
            &set.function_instances,
            &args.bundle_dir,
            args.min_age,
        )
        .await?
    } else {
        rotate::rotate(&context, set.instances, &request).await?
    };
    let mut failures = Vec::new();
    let mut rotated = 0;
    for outcome in outcomes {
        match outcome {
            Outcome::Started {
                instance,
                bundle,
                fingerprint,
                concurrent,
            } => {
                if concurrent {
                    eprintln!("warning: {instance}: another run rotated this role at the same time; the bundle holds the new ID IAM accepts now");
                }
                let pushed = to_segment.contains(&instance);
                eprintln!(
                    "{}",
                    started(&instance, &bundle, &fingerprint, pushed, args.min_age)
                );
                rotated += 1;
            }
            Outcome::Finished {
                instance,
                bundle,
                fingerprint,
            } => {
                eprintln!("{instance}: rotation finished; only the new ID (fingerprint {fingerprint}) is accepted; {} is current.", bundle.display());
                rotated += 1;
            }
            Outcome::Pushed { instance } => {
                eprintln!("{instance}: Segment now holds the new external ID; `--finish` (or the next `--auto`) drops the old one after {}", humantime::format_duration(args.min_age));
            }
            Outcome::Waiting { instance, why } => {
                eprintln!("{instance}: rotation in progress; {why}");
            }
            Outcome::NothingToFinish { instance } => {
                eprintln!("{instance}: no rotation in progress; nothing to finish")
            }
            Outcome::Failed { instance, error } => {
                let advice = error.advice(&instance).map(|a| format!("; {a}"));
                failures.push(format!(
                    "{instance}: {}{}",
                    crate::report::error_chain(&error),
                    advice.unwrap_or_default()
                ));
            }
        }
    }
    eprintln!(
        "{rotated} instance(s) {}.",
        if args.auto {
            "advanced (started or finished)"
        } else if args.start {
            "started rotating"
        } else {
            "finished rotating"
        }
    );
    if failures.is_empty() {
        return Ok(0);
    }
    super::output::report_failures("each says what to do", &failures);
    Ok(1)
}

/// What a started rotation prints. With Segment the push follows in the same
/// run, and its own line (delivered, or failed and why) says what is next;
/// without, the next step is the hand copy of the new setting.
fn started(
    instance: &str,
    bundle: &Path,
    fingerprint: &str,
    to_segment: bool,
    min_age: Duration,
) -> String {
    let head = format!(
        "{instance}: rotation started; both IDs are accepted; {} holds the new ID (fingerprint {fingerprint}).",
        bundle.display()
    );
    if to_segment {
        return head;
    }
    format!(
        "{head}\n  next: update the function's iamRoleExternalId setting from the bundle, then `fnctl rotate {instance} --finish` after {}",
        humantime::format_duration(min_age)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rotation whose new ID this run pushed to Segment does not ask for a
    /// hand copy of the setting; one without Segment does.
    #[test]
    fn a_started_rotation_asks_for_a_hand_copy_only_without_segment() {
        let hour = Duration::from_secs(3600);
        let bundle = Path::new("bundles/a.json");
        let pushed = started("a", bundle, "f1", true, hour);
        assert_eq!(
            pushed,
            "a: rotation started; both IDs are accepted; bundles/a.json holds the new ID (fingerprint f1)."
        );
        let by_hand = started("a", bundle, "f1", false, hour);
        assert!(by_hand.starts_with(&pushed), "{by_hand}");
        assert!(
            by_hand.ends_with("\n  next: update the function's iamRoleExternalId setting from the bundle, then `fnctl rotate a --finish` after 1h"),
            "{by_hand}"
        );
    }
}
