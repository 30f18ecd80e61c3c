//! `fnctl import`: reads the account (or its exports) and, with a Segment
//! token, the workspace; writes `<account>.yaml` under `--out`; lists what
//! was imported and what was left out, and why. Exit 0 when every Segment
//! function role was imported, 2 when some were left out, 1 on error.

use std::path::{Component, Path};
use std::sync::Arc;

use anyhow::Context as _;

use crate::cli::args::{Format, GlobalOptions, ImportArgs};
use crate::execute::import::select::SegmentAccounts;
use crate::execute::import::{self, Import, ImportOptions, Source};
use crate::live::segment::{HttpSegment, Token, TOKEN_VARIABLE, URL_VARIABLE};
use crate::model::segment::SegmentRegion;
use crate::model::{documented_segment_account, FunctionKind};

/// Where the JSON Schema is, from the repository's root (the working folder).
const SCHEMA: &str = "schemas/fnctl.schema.json";

/// Exit code when some Segment function roles were left out.
const EXIT_SKIPPED: i32 = 2;

/// Imports, writes the manifest, reports.
pub(crate) async fn run(global: &GlobalOptions, args: &ImportArgs) -> anyhow::Result<i32> {
    let context = super::settings::context(global, crate::execute::DEFAULT_PARALLELISM.into());
    let options = ImportOptions {
        scope: args.scope.clone(),
        segment_accounts: segment_accounts(&args.segment_account)?,
        segment_region: match args.segment_region.as_str() {
            "eu" => SegmentRegion::Eu,
            _ => SegmentRegion::Us,
        },
        assume_role: args.assume_role.clone(),
        schema: schema_path(&args.out),
        now: context.now(),
        out: args.out.clone(),
    };
    let context = match Token::new(std::env::var(TOKEN_VARIABLE).ok()) {
        Ok(token) => {
            let base = std::env::var(URL_VARIABLE).ok();
            // One client for instances and functions: one rate limiter.
            let client = HttpSegment::new(token, base, context.clock.clone())?;
            context
                .with_segment(Some(Arc::new(client.clone())))
                .with_functions(Some(Arc::new(client)))
        }
        Err(_) => {
            eprintln!("note: {TOKEN_VARIABLE} is not set: roles are imported without the Segment instances that use them");
            context
        }
    };
    let source = if args.snapshot.is_empty() {
        Source::Live
    } else {
        let snapshot = crate::live::snapshot::read_all(&args.snapshot)?;
        let account = snapshot
            .account
            .context("the snapshot holds no role, so no account to import")?;
        if snapshot
            .live
            .roles
            .iter()
            .all(|role| role.max_session_duration.is_none())
        {
            eprintln!("warning: no `aws iam list-roles` output among the snapshots: descriptions and session lengths are unknown and left out of the manifest, so adopting would replace IAM's own with the defaults; add it with a second --snapshot");
        }
        Source::Snapshot {
            account,
            live: snapshot.live,
        }
    };
    let import = import::import(&context, source, &options).await?;
    let written = match &import.manifest {
        Some(text) => {
            // The code first: a manifest is never on disk without its code.
            for (relative, code) in &import.code_files {
                write(&args.out, relative, code)?;
            }
            Some(write(&args.out, &import.file_name, text)?)
        }
        None => None,
    };
    for skipped in &import.skipped {
        eprintln!(
            "warning: skipped role {}: {} [{}]",
            skipped.role,
            skipped.reason,
            skipped.reason.code()
        );
    }
    for imported in &import.imported {
        for note in imported.unlinked.iter().chain(&imported.function_note) {
            eprintln!("warning: role {}: {note}", imported.role);
        }
    }
    report(&import, written.as_deref(), args.format)?;
    Ok(if import.skipped.is_empty() {
        0
    } else {
        EXIT_SKIPPED
    })
}

/// `--segment-account KIND=ACCOUNT` over the documented accounts.
fn segment_accounts(overrides: &[String]) -> anyhow::Result<SegmentAccounts> {
    let mut accounts = SegmentAccounts {
        destination: documented_segment_account(FunctionKind::Destination).to_string(),
        source: documented_segment_account(FunctionKind::Source).to_string(),
    };
    for text in overrides {
        let (kind, account) = text.split_once('=').with_context(|| {
            format!("--segment-account {text}: write KIND=ACCOUNT, e.g. destination=458175278816")
        })?;
        anyhow::ensure!(
            account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()),
            "--segment-account {text}: an AWS account id has 12 digits"
        );
        match kind {
            "destination" => accounts.destination = account.to_string(),
            "source" => accounts.source = account.to_string(),
            _ => anyhow::bail!("--segment-account {text}: the kind is `destination` or `source`"),
        }
    }
    Ok(accounts)
}

/// The modeline's path to the schema: relative from `out` to the working
/// folder's `schemas/` when `out` is a plain relative folder, else absolute.
fn schema_path(out: &Path) -> String {
    let plain = out
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if plain {
        let depth = out
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .count();
        return format!("{}{SCHEMA}", "../".repeat(depth));
    }
    std::env::current_dir()
        .map(|dir| dir.join(SCHEMA).display().to_string())
        .unwrap_or_else(|_| SCHEMA.to_string())
}

/// Writes the manifest (a temporary file renamed over it: a reader never
/// sees half a file); returns its path.
fn write(out: &Path, file_name: &str, text: &str) -> anyhow::Result<String> {
    let path = out.join(file_name);
    let folder = path.parent().unwrap_or(out);
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let leaf = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = folder.join(format!(".{leaf}.partial"));
    std::fs::write(&partial, text)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path.display().to_string())
}

fn report(import: &Import, written: Option<&str>, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let skipped: Vec<serde_json::Value> = import
                .skipped
                .iter()
                .map(|s| serde_json::json!({"role": s.role, "code": s.reason.code(), "reason": s.reason.to_string()}))
                .collect();
            let value = serde_json::json!({
                "format_version": crate::model::FORMAT_VERSION,
                "account": import.account,
                "file": written,
                "function_roles": import.function_roles,
                "imported": import.imported,
                "functions": import.functions,
                "skipped": skipped,
            });
            crate::outln!("{}", serde_json::to_string_pretty(&value)?);
        }
        Format::Text | Format::Markdown => {
            crate::outln!(
                "account {}: {} role(s) read, {} Segment function role(s), {} Segment instance(s) and {} function(s) read",
                import.account,
                import.roles_read,
                import.function_roles,
                import.segment_instances,
                import.functions_read
            );
            for imported in &import.imported {
                let segment = imported
                    .segment
                    .as_deref()
                    .map(|id| format!(", Segment {id}"))
                    .unwrap_or_default();
                let segment = match &imported.function {
                    Some(function) => format!("{segment} running function {function}"),
                    None => segment,
                };
                crate::outln!(
                    "  imported {} as {} ({}{segment})",
                    imported.role,
                    imported.instance,
                    imported.kind.as_str()
                );
            }
            for function in &import.functions {
                crate::outln!(
                    "  function {} ({}, Segment {}): {}, {} instance(s)",
                    function.name,
                    function.kind.as_str(),
                    function.id,
                    function.code,
                    function.instances
                );
            }
            for skipped in &import.skipped {
                crate::outln!("  skipped  {}: {}", skipped.role, skipped.reason.code());
            }
            match written {
                Some(path) => crate::outln!(
                    "wrote {path}: {} imported, {} skipped. Next: review it, then `fnctl plan --adopt`.",
                    import.imported.len(),
                    import.skipped.len()
                ),
                None => crate::outln!(
                    "nothing imported ({} skipped); no manifest written.",
                    import.skipped.len()
                ),
            }
        }
    }
    Ok(())
}
