//! The `fnctl` binary: parse arguments, run the command, exit with its code.

use clap::Parser;

fn main() {
    let cli = fnctl::cli::args::Cli::parse();
    let code = fnctl::cli::run(cli);
    std::process::exit(code);
}
