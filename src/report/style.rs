//! Colour in reports: the caller decides whether it is wanted (the CLI reads
//! `--color`, `NO_COLOR` and the terminal); reports only apply it.

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
