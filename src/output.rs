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
