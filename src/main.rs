//! The `fnctl` binary: parse arguments, run the command, exit with its code.

use clap::Parser;

fn main() {
    let cli = fnctl::cli::Cli::parse();
    let code = fnctl::commands::run(cli);
    std::process::exit(code);
}
