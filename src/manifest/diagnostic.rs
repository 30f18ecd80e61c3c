//! Manifest problems, each with a stable kebab-case code and the file, line,
//! column and field it is about, rendered like a compiler diagnostic for
//! people and as JSON for machines.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::location::{FieldPath, Position};
pub use crate::model::codes::DiagnosticCode;

/// How bad a problem is: errors stop every command, warnings are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The manifest set is invalid; nothing is sent to AWS.
    Error,
    /// Worth fixing; does not stop anything.
    Warning,
}

/// One problem in one manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable kebab-case code, e.g. `duplicate-instance`.
    pub code: DiagnosticCode,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The manifest file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Field path inside the file, e.g. `instances[2].role.name`.
    pub field: String,
    /// How to fix it, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at a position.
    pub(crate) fn error(
        code: DiagnosticCode,
        file: &Path,
        position: Position,
        field: &FieldPath,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            file: file.to_path_buf(),
            line: position.line,
            column: position.column,
            field: field.to_string(),
            hint: None,
        }
    }

    /// The same diagnostic with a hint.
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Whether this stops the run.
    pub(crate) fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts diagnostics by file, line and column, the order a reader expects;
/// at one position by code, which orders as its text does.
pub(crate) fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.code).cmp(&(&b.file, b.line, b.column, b.code))
    });
}

/// Line `line` (1-based) of `text`, as a diagnostic quotes it.
pub(crate) fn source_line(text: &str, line: usize) -> Option<&str> {
    text.lines().nth(line.saturating_sub(1))
}

/// Renders diagnostics like a compiler: the message, the place, the source
/// line with a caret, and a hint. `line_of` gives a line of a file, if
/// known: only the lines diagnostics point at are needed, so a loader may
/// keep those and let the rest of a file's text go.
pub(crate) fn render_text<'a>(
    diagnostics: &[Diagnostic],
    line_of: impl Fn(&Path, usize) -> Option<&'a str>,
) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        let label = match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!(
            "{label}[{}]: {}\n",
            diagnostic.code, diagnostic.message
        ));
        out.push_str(&format!(
            "  --> {}:{}:{}{}\n",
            diagnostic.file.display(),
            diagnostic.line,
            diagnostic.column,
            // A problem with the whole file has no field worth naming.
            if diagnostic.field == FieldPath::root().to_string() {
                String::new()
            } else {
                format!(" ({})", diagnostic.field)
            }
        ));
        if let Some(line) = line_of(&diagnostic.file, diagnostic.line) {
            let number = diagnostic.line.to_string();
            let gutter = " ".repeat(number.len());
            let caret_offset = line
                .chars()
                .take(diagnostic.column.saturating_sub(1))
                .count();
            out.push_str(&format!("{gutter} |\n{number} | {line}\n"));
            out.push_str(&format!("{gutter} | {}^\n", " ".repeat(caret_offset)));
        }
        if let Some(hint) = &diagnostic.hint {
            out.push_str(&format!("  = hint: {hint}\n"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_source_line_with_caret_and_hint() {
        let source = "version: 1\ninstances:\n  - name: Bad Name\n";
        let field = FieldPath::root().key("instances").index(0).key("name");
        let diagnostic = Diagnostic::error(
            DiagnosticCode::InvalidName,
            Path::new("manifests/a.yaml"),
            Position {
                line: 3,
                column: 11,
            },
            &field,
            "instance name `Bad Name` has a space",
        )
        .with_hint("use letters, digits, `-`, `_` and `.`");
        let text = render_text(&[diagnostic], |_, line| source_line(source, line));
        insta::assert_snapshot!(text);
    }
}
