//! Output conventions: data on stdout, diagnostics on stderr, color only when
//! wanted (`--color`, `NO_COLOR`, `CLICOLOR_FORCE`, a terminal).

use std::ffi::OsStr;
use std::io::IsTerminal;

use crate::cli::args::ColorChoice;

/// Whether to color stdout, from `--color`, the environment and stdout.
pub(crate) fn use_color(choice: ColorChoice) -> bool {
    color_wanted(
        choice,
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("CLICOLOR_FORCE").as_deref(),
        std::io::stdout().is_terminal(),
    )
}

/// The color decision, in the order anstream (clap's colouring) takes it:
/// `--color always|never` wins; under `auto` a non-empty `NO_COLOR`
/// (no-color.org) turns color off, else a non-empty `CLICOLOR_FORCE`
/// (bixense.com/clicolors) turns it on even in a pipe, else color follows
/// whether stdout is a terminal. anstream's own `AutoStream::choice` reads
/// the process environment itself, so the same rules are a pure function
/// here, testable without touching the environment.
pub(crate) fn color_wanted(
    choice: ColorChoice,
    no_color: Option<&OsStr>,
    clicolor_force: Option<&OsStr>,
    is_terminal: bool,
) -> bool {
    let set = |value: Option<&OsStr>| value.is_some_and(|value| !value.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if set(no_color) => false,
        ColorChoice::Auto if set(clicolor_force) => true,
        ColorChoice::Auto => is_terminal,
    }
}

/// Writes data to stdout. A closed pipe (`fnctl plan | head`) ends the
/// process quietly, as it does for other Unix tools, instead of panicking.
pub(crate) fn stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(error) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {error}");
        std::process::exit(1);
    }
}

/// The epilogue of a command that finished what it could and failed the
/// rest, one shape for apply and rotate: the count, what a re-run does,
/// then each failure on its own line (CI logs and `grep` read them alike).
pub(crate) fn report_failures(rerun: &str, failures: &[String]) {
    if failures.is_empty() {
        return;
    }
    eprintln!("{} failure(s); {rerun}:", failures.len());
    for failure in failures {
        eprintln!("  - {failure}");
    }
}

/// `println!` for data on stdout that survives a closed pipe.
#[macro_export]
macro_rules! outln {
    () => { $crate::cli::output::stdout("\n") };
    ($($arg:tt)*) => { $crate::cli::output::stdout(&format!("{}\n", format_args!($($arg)*))) };
}

/// `print!` for data on stdout that survives a closed pipe.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::stdout(&format!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(
        choice: ColorChoice,
        no_color: Option<&str>,
        force: Option<&str>,
        terminal: bool,
    ) -> bool {
        color_wanted(
            choice,
            no_color.map(OsStr::new),
            force.map(OsStr::new),
            terminal,
        )
    }

    #[test]
    fn the_color_option_wins_over_the_environment_and_the_terminal() {
        for no_color in [None, Some(""), Some("1")] {
            for force in [None, Some(""), Some("1")] {
                for terminal in [false, true] {
                    assert!(wanted(ColorChoice::Always, no_color, force, terminal));
                    assert!(!wanted(ColorChoice::Never, no_color, force, terminal));
                }
            }
        }
    }

    #[test]
    fn auto_colors_a_terminal_only() {
        assert!(wanted(ColorChoice::Auto, None, None, true));
        assert!(!wanted(ColorChoice::Auto, None, None, false));
    }

    #[test]
    fn auto_honours_a_non_empty_no_color_even_on_a_terminal() {
        assert!(!wanted(ColorChoice::Auto, Some("1"), None, true));
        assert!(!wanted(ColorChoice::Auto, Some("0"), None, true));
        assert!(wanted(ColorChoice::Auto, Some(""), None, true));
    }

    #[test]
    fn auto_honours_a_non_empty_clicolor_force_even_in_a_pipe() {
        assert!(wanted(ColorChoice::Auto, None, Some("1"), false));
        assert!(!wanted(ColorChoice::Auto, None, Some(""), false));
        assert!(wanted(ColorChoice::Auto, Some(""), Some("1"), false));
    }

    #[test]
    fn no_color_wins_over_clicolor_force() {
        assert!(!wanted(ColorChoice::Auto, Some("1"), Some("1"), true));
        assert!(!wanted(ColorChoice::Auto, Some("1"), Some("1"), false));
    }
}
