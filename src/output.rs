//! Output conventions: data on stdout, diagnostics on stderr, color only when
//! wanted (`--color`, `NO_COLOR`, a terminal).

use std::io::IsTerminal;

use crate::cli::ColorChoice;

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

/// Wraps `text` in an ANSI color when `enabled`.
pub fn paint(text: &str, color: Color, enabled: bool) -> String {
    if !enabled {
        return text.to_string();
    }
    let code = match color {
        Color::Red => "31",
        Color::Green => "32",
        Color::Yellow => "33",
        Color::Bold => "1",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Colors used in reports.
#[derive(Debug, Clone, Copy)]
pub enum Color {
    /// Removals and errors.
    Red,
    /// Additions.
    Green,
    /// Changes and warnings.
    Yellow,
    /// Headings.
    Bold,
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
    () => { $crate::output::stdout("\n") };
    ($($arg:tt)*) => { $crate::output::stdout(&format!("{}\n", format_args!($($arg)*))) };
}

/// `print!` for data on stdout that survives a closed pipe.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::stdout(&format!($($arg)*)) };
}
