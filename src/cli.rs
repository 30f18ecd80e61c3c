//! Command-line interface: clap definitions only, no behaviour.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Keeps the IAM roles of Segment Functions true to YAML manifests.
#[derive(Debug, Parser)]
#[command(name = "fnctl", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
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
    /// More log lines on stderr (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// When to color output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Color when stdout is a terminal and NO_COLOR is not set.
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

#[derive(Debug, Args)]
pub struct WhoamiArgs {
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}
