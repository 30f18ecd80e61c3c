//! Colour in reports: the caller decides whether it is wanted (the CLI reads
//! `--color`, `NO_COLOR`, `CLICOLOR_FORCE` and the terminal); reports only
//! apply it, with the `anstyle` styles clap's own help uses.

use anstyle::{AnsiColor, Style};

/// Wraps `text` in its colour's escape codes when `enabled`.
pub(crate) fn paint(text: &str, color: Color, enabled: bool) -> String {
    if !enabled {
        return text.to_string();
    }
    let style = color.style();
    format!("{style}{text}{style:#}")
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

impl Color {
    fn style(self) -> Style {
        match self {
            Color::Red => AnsiColor::Red.on_default(),
            Color::Green => AnsiColor::Green.on_default(),
            Color::Yellow => AnsiColor::Yellow.on_default(),
            Color::Bold => Style::new().bold(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_colour_is_its_ansi_code_and_a_reset() {
        let painted: Vec<String> = [Color::Red, Color::Green, Color::Yellow, Color::Bold]
            .into_iter()
            .map(|color| paint("x", color, true))
            .collect();
        assert_eq!(
            painted,
            [
                "\x1b[31mx\x1b[0m",
                "\x1b[32mx\x1b[0m",
                "\x1b[33mx\x1b[0m",
                "\x1b[1mx\x1b[0m"
            ]
        );
    }

    #[test]
    fn nothing_is_added_when_colour_is_not_wanted() {
        assert_eq!(paint("x", Color::Red, false), "x");
    }
}
