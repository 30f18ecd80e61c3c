//! `fnctl rotate`: two-phase external-ID rotation. The work is the rotation
//! service's ([`crate::execute::rotate`]); this reads the arguments, renders
//! what happened to each instance on stderr and chooses the exit code.

use crate::cli::args::{GlobalOptions, RotateArgs};
use crate::execute::rotate::{self, Outcome, Phase, Request};
use crate::execute::DEFAULT_PARALLELISM;

/// Starts or finishes the rotation of the selected instances.
pub async fn run(global: &GlobalOptions, args: &RotateArgs) -> anyhow::Result<i32> {
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
    };
    let context = super::settings::context(DEFAULT_PARALLELISM.into());
    let context = super::settings::with_segment(context, &set.instances)?;
    let settings = super::settings::session(global);
    let outcomes = if args.auto {
        rotate::auto(
            &context,
            &settings,
            &set.instances,
            &args.bundle_dir,
            args.min_age,
        )
        .await?
    } else {
        rotate::rotate(&context, &settings, set.instances, &request).await?
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
                eprintln!(
                    "{instance}: rotation started; both IDs are accepted; {} holds the new ID (fingerprint {fingerprint}).\n  next: update the function's iamRoleExternalId setting from the bundle, then `fnctl rotate {instance} --finish` after {}",
                    bundle.display(),
                    humantime::format_duration(args.min_age)
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
