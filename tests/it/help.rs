//! `fnctl --help` and every `fnctl <command> --help`, pinned by insta
//! snapshots (review changes with `cargo insta review`, or
//! `INSTA_UPDATE=always cargo test --test it help::`), and shell completions.

use crate::support::command::{fnctl_offline, Output};
use crate::support::env::{workspace, write_file};

/// The subcommands of src/cli.rs, in the order `fnctl --help` lists them.
const COMMANDS: &[&str] = &[
    "validate",
    "schema",
    "plan",
    "apply",
    "drift",
    "rotate",
    "bundle",
    "verify",
    "import",
    "iam-policy",
    "completions",
    "whoami",
];

/// Help is wrapped to the terminal: pin the width so snapshots do not
/// depend on where the tests run.
fn help(args: &[&str]) -> Output {
    let out = fnctl_offline()
        .args(args)
        .env("COLUMNS", "100")
        .env_remove("LINES")
        .run();
    out.assert_success();
    assert!(
        out.stderr.is_empty(),
        "fnctl {args:?} wrote to stderr:\n{}",
        out.stderr
    );
    out
}

/// The command names listed under "Commands:" in `fnctl --help`.
fn listed_commands(top_help: &str) -> Vec<String> {
    top_help
        .lines()
        .skip_while(|line| line.trim() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn top_level_help() {
    let out = help(&["--help"]);
    insta::assert_snapshot!("fnctl", out.stdout);
}

#[test]
fn every_listed_command_is_covered() {
    let out = help(&["--help"]);
    assert_eq!(
        listed_commands(&out.stdout),
        COMMANDS,
        "fnctl --help lists other commands than this test covers: update COMMANDS (and accept the new snapshots)"
    );
}

#[test]
fn command_help() {
    let mut missing_example = Vec::new();
    for command in COMMANDS {
        let out = help(&[command, "--help"]);
        if !out.stdout.contains("Example") {
            missing_example.push(*command);
        }
        insta::assert_snapshot!(format!("fnctl_{}", command.replace('-', "_")), out.stdout);
    }
    assert!(
        missing_example.is_empty(),
        "help without an example: {missing_example:?}"
    );
}

#[test]
fn help_subcommand_matches_dash_dash_help() {
    for command in COMMANDS {
        let flag = help(&[command, "--help"]);
        let sub = help(&["help", command]);
        assert_eq!(
            flag.stdout, sub.stdout,
            "`fnctl help {command}` differs from `fnctl {command} --help`"
        );
    }
}

#[test]
fn short_help_has_usage_and_example() {
    for command in COMMANDS {
        let short = help(&[command, "-h"]);
        assert!(
            short.stdout.contains(&format!("Usage: fnctl {command}")),
            "fnctl {command} -h:\n{}",
            short.stdout
        );
        assert!(
            short.stdout.contains("Example"),
            "fnctl {command} -h has no example:\n{}",
            short.stdout
        );
    }
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = fnctl_offline().args(["completions", shell]).run();
        out.assert_success();
        assert!(
            out.stdout.contains("fnctl"),
            "{shell} completions do not mention fnctl:\n{}",
            out.stdout
        );
        // Completions know the subcommands.
        for command in ["plan", "apply", "drift", "iam-policy"] {
            assert!(
                out.stdout.contains(command),
                "{shell} completions do not mention {command}"
            );
        }
    }
}

#[test]
fn bash_completions_are_valid_bash() {
    let out = fnctl_offline().args(["completions", "bash"]).run();
    out.assert_success();
    let dir = workspace();
    let script = write_file(dir.path(), "fnctl.bash", &out.stdout);
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("run bash -n");
    assert!(
        check.status.success(),
        "bash -n rejects the completions: {}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn unknown_command_is_a_usage_error() {
    let out = fnctl_offline().arg("plna").run();
    assert_eq!(out.status, 2, "clap usage errors exit 2: {out:?}");
    assert!(
        out.stderr.contains("plan"),
        "suggests `plan`: {}",
        out.stderr
    );
}
