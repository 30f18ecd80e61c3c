//! Command-line interface: clap definitions only, no behaviour.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::check::drift::Severity;

/// `fnctl --version`: the version and the commit it was built from
/// (build.rs; "unknown" where the build had neither git nor a packaged
/// crate's record of it).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("FNCTL_COMMIT"),
    ")"
);

/// Keeps the IAM roles of Segment Functions true to YAML manifests.
#[derive(Debug, Parser)]
#[command(name = "fnctl", version = VERSION, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Global options")]
pub struct GlobalOptions {
    /// AWS profile to use (default: the SDK's standard credential chain).
    #[arg(long, global = true, env = "AWS_PROFILE", hide_env_values = true)]
    pub profile: Option<String>,
    /// AWS region for STS (IAM is global).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// When to color output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Only reconcile these accounts (repeatable): shards an organisation across CI jobs.
    #[arg(long = "account", value_name = "ID", global = true)]
    pub accounts: Vec<String>,
    /// More log lines on stderr (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// When to color output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Color when stdout is a terminal or CLICOLOR_FORCE is set, unless NO_COLOR is set.
    Auto,
    /// Always color.
    Always,
    /// Never color.
    Never,
}

/// Manifest selection, shared by the commands that read manifests.
#[derive(Debug, Args, Clone, Default)]
pub struct ManifestOptions {
    /// Manifest files or folders (repeatable); default `manifests/`.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,
}

/// Output format of reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For machines (carries `format_version`).
    Json,
    /// For a pull-request comment.
    Markdown,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse, check and lint manifests; makes no AWS call.
    #[command(after_help = "Example:\n  fnctl validate -f manifests/ --format json")]
    Validate(ValidateArgs),
    /// Print the manifest JSON Schema.
    #[command(after_help = "Example:\n  fnctl schema > schemas/fnctl.schema.json")]
    Schema,
    /// Show what apply would change in IAM, with semantic policy diffs.
    #[command(
        after_help = "Examples:\n  fnctl plan\n  fnctl plan --detailed-exitcode --out plan.json\n  fnctl plan --format markdown > comment.md\n\nExit codes: 0 no changes (or any success without --detailed-exitcode), 2 changes (--detailed-exitcode), 1 error."
    )]
    Plan(PlanArgs),
    /// Make IAM match the manifests and write the settings bundles.
    #[command(
        after_help = "Examples:\n  fnctl apply                      # shows the plan, asks for confirmation\n  fnctl apply --auto-approve       # CI\n  fnctl apply --plan plan.json --auto-approve\n\nExit codes: 0 done, 1 error (every failure is listed)."
    )]
    Apply(ApplyArgs),
    /// Read-only drift check for cron: findings with category and severity.
    #[command(
        after_help = "Examples:\n  fnctl drift                         # exit 2 when IAM was changed by hand\n  fnctl drift --fail-on high --format json\n  fnctl drift --snapshot gaad.json    # offline, from `aws iam get-account-authorization-details`\n\nExit codes: 0 no drift at or above --fail-on, 2 drift, 1 error. Pending manifest changes never count as drift."
    )]
    Drift(DriftArgs),
    /// Rotate external IDs in two phases, without downtime.
    #[command(
        after_help = "Examples:\n  fnctl rotate s3-archiver-prod --start   # new ID beside the old; bundle gets the new one\n  # ...update the function's settings from the bundle, wait for cached sessions to expire...\n  fnctl rotate s3-archiver-prod --finish  # old ID removed\n  fnctl rotate --due --start              # every instance older than rotateAfterDays\n  fnctl rotate --auto                     # cron: start due rotations, push to Segment, finish safe ones\n\nExit codes: 0 done, 1 error."
    )]
    Rotate(RotateArgs),
    /// Write settings bundles from IAM as it is (no changes).
    #[command(
        after_help = "Example:\n  fnctl bundle --out-dir bundles/ --instance s3-archiver-prod"
    )]
    Bundle(BundleArgs),
    /// Check that each function can assume its role with its bundle, and nobody else can.
    #[command(
        after_help = "Example:\n  fnctl verify --bundle-dir bundles/\n\nExit codes: 0 fine, 1 findings or error."
    )]
    Verify(VerifyArgs),
    /// Write manifests for the Segment function roles an account already has.
    #[command(
        after_help = "Examples:\n  fnctl import --out manifests/        # then: fnctl plan --adopt (adoption only)\n  fnctl import --out manifests/ --snapshot gaad.json --snapshot list-roles.json\n  SEGMENT_PUBLIC_API_TOKEN=... fnctl import --out manifests/   # links roles to instances\n\nExit codes: 0 every Segment function role imported, 2 some skipped (each named, with why), 1 error."
    )]
    Import(ImportArgs),
    /// Print the least-privilege IAM policy fnctl's own CI role needs.
    #[command(
        name = "iam-policy",
        after_help = "Examples:\n  fnctl iam-policy > fnctl-deployer-policy.json\n  fnctl iam-policy --read-only     # for plan, drift and verify jobs"
    )]
    IamPolicy(IamPolicyArgs),
    /// Print shell completions.
    #[command(after_help = "Example:\n  fnctl completions bash > /etc/bash_completion.d/fnctl")]
    Completions(CompletionsArgs),
    /// Show the account, ARN and endpoint the credentials reach.
    #[command(after_help = "Example:\n  AWS_PROFILE=prod fnctl whoami")]
    Whoami(WhoamiArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub manifests: ManifestOptions,
    /// `text` (compiler-style diagnostics on stderr) or `json` (on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Options shared by plan and apply.
#[derive(Debug, Args, Clone)]
pub struct ReconcileOptions {
    #[command(flatten)]
    pub manifests: ManifestOptions,
    /// Take over roles that exist without fnctl's tags (keeps their external ID).
    #[arg(long)]
    pub adopt: bool,
    /// Delete owned roles of the manifests' scopes that no manifest names.
    #[arg(long)]
    pub prune: bool,
    /// Where settings bundles are (apply writes them there; a trust policy
    /// that lost its ID is restored from them).
    #[arg(long, value_name = "DIR", default_value = crate::bundle::DEFAULT_BUNDLE_DIR)]
    pub bundle_dir: PathBuf,
    /// How many IAM writes (and per-role reads) run at once, per account.
    #[arg(long, default_value_t = crate::execute::DEFAULT_PARALLELISM, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub reconcile: ReconcileOptions,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Save the plan as JSON, for `apply --plan`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 2 when there are changes, 0 when there are none.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Plan against an offline snapshot (`aws iam get-account-authorization-details` JSON) instead of IAM.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub manifests: ManifestOptions,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Lowest severity that makes the exit code 2.
    #[arg(long, value_enum, default_value_t = SeverityArg::Warning)]
    pub fail_on: SeverityArg,
    /// Read an offline snapshot (`aws iam get-account-authorization-details` JSON) instead of IAM.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub reconcile: ReconcileOptions,
    /// Apply a plan saved by `plan --out`; refused if IAM changed since.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["adopt", "prune"])]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation (needed when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("phase").required(true).args(["start", "finish", "auto"])))]
pub struct RotateArgs {
    #[command(flatten)]
    pub manifests: ManifestOptions,
    /// Instances to rotate.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Phase 1: add a new external ID beside the current one and write the bundle with it
    /// (and push it to Segment for instances with `segment:`).
    #[arg(long)]
    pub start: bool,
    /// Phase 2: remove the old external ID.
    #[arg(long)]
    pub finish: bool,
    /// Select instances whose ID is older than their rotateAfterDays.
    #[arg(long)]
    pub due: bool,
    /// Select every instance.
    #[arg(long)]
    pub all: bool,
    /// `--finish` refuses rotations younger than this (functions cache sessions).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub min_age: std::time::Duration,
    /// Finish even if the rotation is younger than --min-age (or Segment's copy is).
    #[arg(long)]
    pub force: bool,
    /// The cron form: finish every rotation that is safe to finish, push new IDs to
    /// Segment, start every rotation that is due (rotateAfterDays); nothing else.
    #[arg(long, conflicts_with_all = ["start", "finish", "due", "all", "force", "names"])]
    pub auto: bool,
    /// Where settings bundles are written.
    #[arg(long, value_name = "DIR", default_value = crate::bundle::DEFAULT_BUNDLE_DIR)]
    pub bundle_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    #[command(flatten)]
    pub manifests: ManifestOptions,
    /// Where bundles are written.
    #[arg(long, value_name = "DIR", default_value = crate::bundle::DEFAULT_BUNDLE_DIR)]
    pub out_dir: PathBuf,
    /// Only these instances (repeatable).
    #[arg(long = "instance", value_name = "NAME")]
    pub instances: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub manifests: ManifestOptions,
    /// Where the bundles to check are.
    #[arg(long, value_name = "DIR", default_value = crate::bundle::DEFAULT_BUNDLE_DIR)]
    pub bundle_dir: PathBuf,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Folder the manifest is written to, as `<account>.yaml`.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Read exports instead of IAM (repeatable): `aws iam get-account-authorization-details`
    /// JSON, and `aws iam list-roles` JSON for the descriptions and session lengths GAAD lacks.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Vec<PathBuf>,
    /// Segment's account of a kind when it is not the documented one (repeatable).
    #[arg(long, value_name = "KIND=ACCOUNT")]
    pub segment_account: Vec<String>,
    /// The ownership scope the manifest gives its instances.
    #[arg(long, default_value = crate::model::DEFAULT_SCOPE)]
    pub scope: String,
    /// Role to assume to reach the account (also written to the manifest).
    #[arg(long, value_name = "ARN")]
    pub assume_role: Option<String>,
    /// API region of the Segment workspace.
    #[arg(long, default_value = "us", value_parser = ["us", "eu"])]
    pub segment_region: String,
    /// `text` or `json` (imported and skipped roles, with why).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    #[command(flatten)]
    pub manifests: ManifestOptions,
    /// Only what plan, drift, verify and bundle need (no writes).
    #[arg(long)]
    pub read_only: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct WhoamiArgs {
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `--fail-on`: the lowest drift severity that fails the run (mirrors
/// [`Severity`] so the core stays free of clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    /// For information; never an alert by default.
    Info,
    /// Worth a look.
    Warning,
    /// Function or policy changed in a way that matters.
    Medium,
    /// Broadened permissions or a locked-out function.
    High,
    /// Strangers may be able to assume the role.
    Critical,
}

impl From<SeverityArg> for Severity {
    fn from(argument: SeverityArg) -> Self {
        match argument {
            SeverityArg::Info => Severity::Info,
            SeverityArg::Warning => Severity::Warning,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::High => Severity::High,
            SeverityArg::Critical => Severity::Critical,
        }
    }
}
