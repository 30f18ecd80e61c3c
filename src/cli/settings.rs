//! Settings resolved once from the command line, and the glue every command
//! shares: loading the manifests (their diagnostics go to stderr here).

use std::sync::Arc;
use std::time::Duration;

use super::args::{GlobalOptions, ManifestOptions};
use super::clock::SystemClock;
use crate::execute::context::{RunContext, Timings};
use crate::execute::{lease, session};
use crate::live::aws::{AwsAccounts, AwsSettings, DEFAULT_ATTEMPT_TIMEOUT, ENDPOINT_VARIABLES};
use crate::live::segment::{HttpSegment, Token, TOKEN_VARIABLE, URL_VARIABLE};
use crate::manifest::{self, ManifestSet};
use crate::model::DesiredInstance;

/// Shortens the SDK's attempt timeout in tests that delay answers (milliseconds).
const ATTEMPT_TIMEOUT_VARIABLE: &str = "FNCTL_ATTEMPT_TIMEOUT_MS";
/// Shortens a lease in tests that kill runs (whole seconds).
const LEASE_VARIABLE: &str = "FNCTL_LOCK_LEASE_SECONDS";
/// Shortens IAM's settle time before leases are read back (milliseconds).
const SETTLE_VARIABLE: &str = "FNCTL_LOCK_SETTLE_MS";

/// The run context of a command working on `parallelism` roles at once:
/// the accounts the SDK's credentials reach (`--account` selecting among
/// them), the system clock, and the lease timings (from the environment
/// where tests shorten them). Segment is added by [`with_segment_and_functions`].
pub(crate) fn context(global: &GlobalOptions, parallelism: usize) -> RunContext {
    let number = |variable: &str| {
        std::env::var(variable)
            .ok()
            .and_then(|value| value.parse::<u64>().ok())
    };
    let lease = number(LEASE_VARIABLE)
        .map(Duration::from_secs)
        .unwrap_or(lease::DEFAULT_LEASE);
    let settle = number(SETTLE_VARIABLE)
        .map(Duration::from_millis)
        .unwrap_or(lease::DEFAULT_SETTLE);
    let timings = Timings {
        lease: lease::Timing::new(lease, settle),
        ..Timings::default()
    };
    let accounts = Arc::new(AwsAccounts::new(aws(global), parallelism.max(1)));
    RunContext::new(Arc::new(SystemClock), timings, parallelism)
        .with_accounts(accounts, global.accounts.clone())
}

/// The SDK choices of the global options.
pub(crate) fn aws(global: &GlobalOptions) -> AwsSettings {
    AwsSettings {
        profile: global.profile.clone(),
        region: global.region.clone(),
        endpoints: ENDPOINT_VARIABLES
            .into_iter()
            .filter_map(|variable| Some((variable, std::env::var(variable).ok()?)))
            .collect(),
        attempt_timeout: std::env::var(ATTEMPT_TIMEOUT_VARIABLE)
            .ok()
            .and_then(|value| value.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_ATTEMPT_TIMEOUT),
    }
}

/// Loads and validates manifests, keeping the instances `keep` accepts
/// (see [`in_accounts`]); invalid ones are reported and stop the run before
/// any AWS call. Every file is validated whatever `keep` says.
pub(crate) fn load_manifests(
    options: &ManifestOptions,
    keep: impl FnMut(&DesiredInstance) -> bool,
) -> anyhow::Result<ManifestSet> {
    // Files go as they are checked: only the instances kept, the files'
    // paths and the lines the diagnostics quote are held past this call.
    let set = manifest::load_keeping(&options.files, keep);
    if set.has_errors() {
        eprint!("{}", set.render_diagnostics());
        let errors = set.diagnostics.iter().filter(|d| d.is_error()).count();
        anyhow::bail!(
            "{errors} error(s) in the manifests; nothing was sent to AWS (see `fnctl validate`)"
        );
    }
    if !set.diagnostics.is_empty() {
        eprint!("{}", set.render_diagnostics());
    }
    Ok(set)
}

/// The instances a session over `accounts` (`--account`; empty: every
/// account) may reconcile: those the manifests place in one of them, and
/// those whose manifest names no account, which live wherever the
/// credentials reach (the session finds out). A shard of an organisation
/// keeps its own accounts' instances only, not the whole organisation's.
pub(crate) fn in_accounts(accounts: &[String]) -> impl Fn(&DesiredInstance) -> bool + '_ {
    move |instance| {
        accounts.is_empty()
            || instance
                .target_account()
                .is_none_or(|account| accounts.iter().any(|a| a == account))
    }
}

/// [`in_accounts`], and the instances named on the command line whatever
/// their account, so that a name the manifests hold is never reported as
/// unknown.
pub(crate) fn in_accounts_or_named<'a>(
    accounts: &'a [String],
    names: &'a [String],
) -> impl Fn(&DesiredInstance) -> bool + 'a {
    let selected = in_accounts(accounts);
    move |instance| selected(instance) || names.contains(&instance.name)
}

/// `context` with the Segment client, when some instance names a Segment
/// counterpart or `functions` (the manifests declare functions), and then
/// the functions client too: one client, so one rate limiter, sharing the
/// context's clock. An error naming the variable when the token is missing.
pub(crate) fn with_segment_and_functions(
    context: RunContext,
    instances: &[DesiredInstance],
    functions: bool,
) -> anyhow::Result<RunContext> {
    // A function instance gets its settings pushed like a `segment: { id }`
    // one (apply, rotation), so functions need the settings client too.
    let settings = functions || instances.iter().any(|i| i.segment.is_some());
    if !settings && !functions {
        return Ok(context);
    }
    let token = Token::new(std::env::var(TOKEN_VARIABLE).ok())?;
    let base_override = std::env::var(URL_VARIABLE).ok();
    let client = HttpSegment::new(token, base_override, context.clock.clone())?;
    let context = match settings {
        true => context.with_segment(Some(Arc::new(client.clone()))),
        false => context,
    };
    Ok(match functions {
        true => context.with_functions(Some(Arc::new(client))),
        false => context,
    })
}

/// Reads IAM and plans every account of `instances`, then adds the Segment
/// pushes when the context has a Segment client: the read-and-plan that
/// `plan` and `apply` share.
pub(crate) async fn observe_and_plan(
    context: &RunContext,
    instances: Vec<DesiredInstance>,
    options: &crate::plan::PlanOptions,
) -> anyhow::Result<Vec<session::AccountRun>> {
    let mut runs = session::observe(context, instances, options).await?;
    if let Some(segment) = context.segment() {
        crate::execute::segment::plan_runs(segment, &mut runs, &options.bundled_ids.0).await?;
    }
    Ok(runs)
}

/// The plan options of `plan` and `apply`: `--adopt`, `--prune`, and the IDs
/// of the bundles in `--bundle-dir` (a lost ID is restored from them).
pub(crate) fn plan_options(
    reconcile: &super::args::ReconcileOptions,
    instances: &[DesiredInstance],
    now: std::time::SystemTime,
) -> crate::plan::PlanOptions {
    crate::plan::PlanOptions {
        adopt: reconcile.adopt,
        prune: reconcile.prune,
        now,
        bundled_ids: session::bundled_ids(instances, &reconcile.bundle_dir),
    }
}
