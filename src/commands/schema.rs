//! `fnctl schema`: prints the manifest JSON Schema.

use std::io::Write;

/// Prints the schema generated from the loader's own types.
pub fn run() -> anyhow::Result<i32> {
    std::io::stdout().write_all(crate::manifest::spec::json_schema().as_bytes())?;
    Ok(0)
}
