//! Settings resolved once from the command line, and the glue every command
//! shares: loading the manifests (their diagnostics go to stderr here).

use super::args::{GlobalOptions, ManifestOptions};
use crate::execute::session;
use crate::live::aws::AwsSettings;
use crate::manifest::{self, ManifestSet};

/// The SDK choices of the global options.
pub fn aws(global: &GlobalOptions) -> AwsSettings {
    AwsSettings {
        profile: global.profile.clone(),
        region: global.region.clone(),
    }
}

/// How a session reaches AWS, from the global options.
pub fn session(global: &GlobalOptions) -> session::Settings {
    session::Settings {
        aws: aws(global),
        accounts: global.accounts.clone(),
    }
}

/// Loads and validates manifests; invalid ones are reported and stop the run
/// before any AWS call.
pub fn load_manifests(options: &ManifestOptions) -> anyhow::Result<ManifestSet> {
    let mut set = manifest::load(&options.files);
    if set.has_errors() {
        eprint!("{}", set.render_diagnostics());
        let errors = set.diagnostics.iter().filter(|d| d.is_error()).count();
        anyhow::bail!(
            "{errors} error(s) in the manifests; nothing was sent to AWS (see `fnctl validate`)"
        );
    }
    if !set.diagnostics.is_empty() {
        eprint!("{}", set.render_diagnostics());
    }
    // Past this point commands need the instances only: the files' texts,
    // position indexes and raw documents (tens of MB at 5,000 instances) go.
    set.files = Vec::new();
    Ok(set)
}
