//! `fnctl validate`: parse, check and lint manifests without any AWS call.

use crate::cli::args::{Format, GlobalOptions, ValidateArgs};
use crate::manifest;
use crate::model::trust::{self, SENSITIVE};

/// Loads the manifest set and reports every problem; exit 1 when invalid.
pub(crate) fn run(global: &GlobalOptions, args: &ValidateArgs) -> anyhow::Result<i32> {
    let set = manifest::load(&args.manifests.files);
    let code = if set.has_errors() { 1 } else { 0 };
    match args.format {
        Format::Json => {
            let report = serde_json::json!({
                "format_version": "1",
                "valid": code == 0,
                "files": set.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
                "instances": if code == 0 { set.instances.len() } else { 0 },
                "diagnostics": set.diagnostics,
            });
            crate::outln!("{}", serde_json::to_string_pretty(&report)?);
        }
        Format::Text | Format::Markdown => {
            eprint!("{}", set.render_diagnostics());
            let errors = set.diagnostics.iter().filter(|d| d.is_error()).count();
            let warnings = set.diagnostics.len() - errors;
            if code == 0 {
                eprintln!(
                    "{} manifest file(s), {} instance(s): valid{}",
                    set.files.len(),
                    set.instances.len(),
                    plural_warnings(warnings)
                );
                if global.verbose > 0 {
                    print_rendered_policies(&set);
                }
            } else {
                eprintln!(
                    "{errors} error(s){} in {} manifest file(s); nothing was sent to AWS",
                    plural_warnings(warnings),
                    set.files.len()
                );
            }
        }
    }
    Ok(code)
}

fn plural_warnings(count: usize) -> String {
    if count == 0 {
        String::new()
    } else {
        format!(", {count} warning(s)")
    }
}

/// `-v`: the documents fnctl would write, external IDs as `(sensitive)`.
fn print_rendered_policies(set: &manifest::ManifestSet) {
    for instance in &set.instances {
        crate::outln!(
            "# {} (role {}{})",
            instance.name,
            instance.role_path,
            instance.role_name
        );
        let trust = trust::trust_policy(&instance.segment_account, &[SENSITIVE]);
        crate::outln!(
            "trust policy:\n{}",
            serde_json::to_string_pretty(&trust).unwrap_or_default()
        );
        match &instance.inline_policy {
            Some(policy) => crate::outln!(
                "inline policy {}:\n{}",
                instance.inline_policy_name(),
                serde_json::to_string_pretty(policy).unwrap_or_default()
            ),
            None => crate::outln!("inline policy: none"),
        }
        crate::outln!();
    }
}
