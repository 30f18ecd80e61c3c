//! Output conventions: data on stdout, diagnostics on stderr, color only when
//! wanted (`--color`, `NO_COLOR`, a terminal).

use std::io::IsTerminal;

use crate::cli::args::ColorChoice;

/// Whether to color stdout.
pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

/// Writes data to stdout. A closed pipe (`fnctl plan | head`) ends the
/// process quietly, as it does for other Unix tools, instead of panicking.
pub fn stdout(text: &str) {
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
