//! `fnctl schema`: prints the manifest JSON Schema.

/// Prints the schema generated from the loader's own types.
pub(crate) fn run() -> anyhow::Result<i32> {
    crate::cli::output::stdout(&crate::manifest::spec::json_schema());
    Ok(0)
}
