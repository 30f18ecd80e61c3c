//! One module per subcommand: glue between the CLI, the pure core and AWS.
//! Errors are rendered here, uv-style: `error: …`, then `Caused by:` lines.

mod apply;
mod apply_functions;
pub mod args;
mod bundle;
mod clock;
mod drift;
mod drift_functions;
mod iam_policy;
mod import;
mod logging;
pub mod output;
mod plan;
mod plan_functions;
mod rotate;
mod schema;
mod settings;
mod validate;
mod verify;
mod whoami;

#[cfg(test)]
mod apply_tests;

use args::{Cli, Command};

/// Exit code of a run that failed.
pub const EXIT_ERROR: i32 = 1;

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let global = cli.global;
    logging::install(global.verbose);
    let result = match cli.command {
        Command::Validate(args) => validate::run(&global, &args),
        Command::Schema => schema::run(),
        Command::Plan(args) => with_runtime(plan::run(&global, &args)),
        Command::Apply(args) => with_runtime(apply::run(&global, &args)),
        Command::IamPolicy(args) => iam_policy::run(&global, &args),
        Command::Import(args) => with_runtime(import::run(&global, &args)),
        Command::Completions(args) => {
            use clap::CommandFactory;
            clap_complete::generate(
                args.shell,
                &mut Cli::command(),
                "fnctl",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
        Command::Drift(args) => with_runtime(drift::run(&global, &args)),
        Command::Rotate(args) => with_runtime(rotate::run(&global, &args)),
        Command::Bundle(args) => with_runtime(bundle::run(&global, &args)),
        Command::Verify(args) => with_runtime(verify::run(&global, &args)),
        Command::Whoami(args) => with_runtime(whoami::run(&global, &args)),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            report_error(&error);
            EXIT_ERROR
        }
    }
}

/// Runs async command code on a multi-threaded tokio runtime.
fn with_runtime<F: std::future::Future<Output = anyhow::Result<i32>>>(
    future: F,
) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(future)
}

/// Prints an error chain on stderr.
pub(crate) fn report_error(error: &anyhow::Error) {
    eprintln!("error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  Caused by: {cause}");
    }
}
