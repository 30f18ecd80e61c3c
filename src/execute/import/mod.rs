//! `fnctl import`: the Segment function roles of an account (a live read or
//! an offline export) become a manifest that says exactly what is live, so
//! that `plan --adopt` on it shows adoption only. With a Segment token, each
//! role is linked to the instance whose `iamRoleArn` names it. Every
//! instance written is checked first as a manifest (findings fnctl accepts
//! only on purpose are accepted, with a comment), then planned against its
//! live role: a role whose adoption would change anything but fnctl's tags,
//! in IAM or in Segment, is left out with the reason instead.

pub mod functions;
pub mod render;
pub mod select;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::time::SystemTime;

use anyhow::Context as _;

use self::render::Comments;
use self::select::{Candidate, SegmentAccounts, SkipReason, Unlinked, WorkspaceInstance};
use super::context::RunContext;
use crate::live::segment::{Collection, SegmentBackend, SegmentError};
use crate::live::segment_functions::{FunctionsBackend, LiveFunction};
use crate::live::IamReads;
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::spec::{Defaults, InstanceSpec, ManifestFile, SegmentDefaults};
use crate::model::operation::Operation;
use crate::model::segment::{LiveSettings, SegmentRegion};
use crate::model::{tags, DesiredInstance, FunctionKind, LiveAccount, LiveRole};
use crate::plan::planner::PlanOptions;
use crate::plan::segment::{
    decide as segment_decision, BundleId, DesiredSettings, SegmentDecision,
};
use crate::plan::Action;

/// The choices of one import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The scope the manifest gives its instances.
    pub scope: String,
    /// Segment's accounts that the trust policies admit.
    pub segment_accounts: SegmentAccounts,
    /// The workspace's API region.
    pub segment_region: SegmentRegion,
    /// The role assumed to reach the account, written to the manifest.
    pub assume_role: Option<String>,
    /// The modeline's path to the JSON Schema.
    pub schema: String,
    /// The time of the run (the self-check's plan).
    pub now: SystemTime,
    /// The folder the manifest goes to: a manifest an earlier import wrote
    /// there keeps the roles fnctl has adopted since.
    pub out: std::path::PathBuf,
}

/// Where the roles are read from.
#[derive(Debug)]
pub enum Source {
    /// The account the context reaches (through `ImportOptions::assume_role`).
    Live,
    /// An export of `account`.
    Snapshot { account: String, live: LiveAccount },
}

/// A role written to the manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Imported {
    /// IAM role name.
    pub role: String,
    /// Instance name in the manifest.
    pub instance: String,
    /// Source or destination.
    pub kind: FunctionKind,
    /// The Segment instance it is linked to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// Findings the manifest accepts on purpose (`allowWildcards`, `allowFindings`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accepted: Vec<String>,
    /// Segment instances naming the role that it is not linked to, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unlinked: Vec<String>,
    /// The function of the manifest its Segment instance runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Why its Segment instance stays `segment: { id }` though it runs a
    /// function of the workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_note: Option<String>,
}

/// A Segment function written to the manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportedFunction {
    /// Its name in the manifest.
    pub name: String,
    /// Segment's id.
    pub id: String,
    /// Source or destination.
    pub kind: FunctionKind,
    /// Its code file, relative to the manifest.
    pub code: String,
    /// How many imported instances run it.
    pub instances: usize,
}

/// A Segment function role left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// IAM role name.
    pub role: String,
    /// Why.
    pub reason: SkipReason,
}

/// What an import found and wrote.
#[derive(Debug, Clone)]
pub struct Import {
    /// The account read.
    pub account: String,
    /// The manifest's file name (`<account>.yaml`).
    pub file_name: String,
    /// The manifest, when some role was imported.
    pub manifest: Option<String>,
    /// The functions' code files: (path relative to the manifest, code).
    pub code_files: Vec<(String, String)>,
    /// The functions written to the manifest.
    pub functions: Vec<ImportedFunction>,
    /// Roles imported, by role name.
    pub imported: Vec<Imported>,
    /// Segment function roles left out, by role name.
    pub skipped: Vec<Skipped>,
    /// Segment function roles found.
    pub function_roles: usize,
    /// Roles the account holds.
    pub roles_read: usize,
    /// IAM calls of the read (0 from a snapshot).
    pub read_calls: u64,
    /// Segment instances read (0 without a token).
    pub segment_instances: usize,
    /// Segment functions read whole (0 without a token).
    pub functions_read: usize,
}

/// What an import reads of the Segment workspace.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    /// Every destination and source.
    pub instances: Vec<WorkspaceInstance>,
    /// The functions some instance naming a role runs, read whole (code
    /// and setting definitions), each once.
    pub functions: Vec<LiveFunction>,
}

/// Reads the account (or takes the snapshot) and the Segment workspace
/// when the context has a client, and makes the manifest.
pub(crate) async fn import(
    context: &RunContext,
    source: Source,
    options: &ImportOptions,
) -> anyhow::Result<Import> {
    let (account, live) = match source {
        Source::Snapshot { account, live } => (account, live),
        Source::Live => {
            let reached = context
                .accounts
                .reach(options.assume_role.as_deref())
                .await?;
            // Segment's roles may be at any path: ListRoles under `/` covers all.
            let live = reached
                .iam
                .read_roles(&["/".to_string()])
                .await
                .with_context(|| {
                    format!("reading IAM roles of account {}", reached.identity.account)
                })?;
            (reached.identity.account, live)
        }
    };
    let mut workspace = Workspace::default();
    if let Some(backend) = context.segment() {
        workspace.instances = read_workspace(backend, options.segment_region)
            .await
            .context("reading the Segment workspace's destinations and sources")?;
    }
    if let Some(backend) = context.functions() {
        workspace.functions = read_functions(backend, options.segment_region, &workspace.instances)
            .await
            .context("reading the Segment workspace's functions")?;
    }
    let earlier = earlier_roles(&options.out.join(file_name(&account)))?;
    let mut import = decide(&account, &live.roles, &workspace, &earlier, options)?;
    import.roles_read = live.roles.len();
    import.read_calls = live.read_calls;
    import.segment_instances = workspace.instances.len();
    import.functions_read = workspace.functions.len();
    Ok(import)
}

/// Every destination and source of the workspace, a list page at a time.
pub(crate) async fn read_workspace(
    backend: &dyn SegmentBackend,
    region: SegmentRegion,
) -> Result<Vec<WorkspaceInstance>, SegmentError> {
    let mut found = Vec::new();
    for kind in [FunctionKind::Destination, FunctionKind::Source] {
        let collection = Collection { region, kind };
        let mut cursor: Option<String> = None;
        loop {
            let page = backend.list(collection, cursor.as_deref()).await?;
            found.extend(page.instances.into_iter().map(|(id, live)| {
                let listed = page.listed.get(&id).cloned().unwrap_or_default();
                WorkspaceInstance {
                    id,
                    kind,
                    settings: live.settings,
                    metadata_id: listed.metadata_id,
                    source_id: listed.source_id,
                }
            }));
            match page.next {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => break,
            }
        }
    }
    Ok(found)
}

/// The functions that instances naming an IAM role run, read whole: the
/// list pages of each kind, then each such function once (never a read per
/// instance).
pub(crate) async fn read_functions(
    backend: &dyn FunctionsBackend,
    region: SegmentRegion,
    instances: &[WorkspaceInstance],
) -> Result<Vec<LiveFunction>, SegmentError> {
    let wanted: HashSet<(FunctionKind, &str)> = instances
        .iter()
        .filter(|instance| instance.role_arn().is_some())
        .filter_map(|instance| Some((instance.kind, instance.metadata_id.as_deref()?)))
        .collect();
    let mut read = Vec::new();
    for kind in [FunctionKind::Destination, FunctionKind::Source] {
        if !wanted.iter().any(|(k, _)| *k == kind) {
            continue;
        }
        let listed = crate::execute::functions::read_functions(backend, region, kind).await?;
        for function in listed {
            if !wanted.contains(&(kind, function.catalog_id.as_str())) {
                continue;
            }
            if let Some(whole) = backend.get_function(region, &function.id).await? {
                read.push(whole);
            }
        }
    }
    Ok(read)
}

/// The manifest's file name for `account`.
fn file_name(account: &str) -> String {
    format!("{account}.yaml")
}

/// The role names (lowercase, as IAM compares them) of the manifest an
/// earlier import wrote at `path`; none when there is no such file. A file
/// there that is no valid manifest is not overwritten.
fn earlier_roles(path: &Path) -> anyhow::Result<BTreeSet<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let (diagnostics, instances) = crate::manifest::check_text(path, text);
    anyhow::ensure!(
        !diagnostics.iter().any(Diagnostic::is_error),
        "{} exists and is not a valid manifest: import would overwrite it (fix or move it first)",
        path.display()
    );
    Ok(instances
        .iter()
        .map(|instance| instance.role_name.to_ascii_lowercase())
        .collect())
}

/// The manifest of `account` from its roles and the workspace's
/// instances: pure, so that a live read and a snapshot make the same bytes.
/// `earlier` are the roles of the manifest being rewritten: those fnctl
/// manages in the import's scope stay in it (they were adopted from it).
pub(crate) fn decide(
    account: &str,
    roles: &[LiveRole],
    workspace: &Workspace,
    earlier: &BTreeSet<String>,
    options: &ImportOptions,
) -> anyhow::Result<Import> {
    let mut roles: Vec<&LiveRole> = roles
        .iter()
        .filter(|role| select::is_function_role(role, &options.segment_accounts))
        .collect();
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    let managed_here = |role: &LiveRole| {
        role.is_owned_by(&options.scope) && earlier.contains(&role.name.to_ascii_lowercase())
    };
    let names = instance_names(&roles, &managed_here);
    let mut by_arn: HashMap<&str, Vec<&WorkspaceInstance>> = HashMap::new();
    for instance in &workspace.instances {
        if let Some(arn) = instance.role_arn() {
            by_arn.entry(arn).or_default().push(instance);
        }
    }
    let mut skipped = Vec::new();
    let mut candidates: Vec<(&LiveRole, Candidate)> = Vec::new();
    for (role, name) in roles.iter().zip(&names) {
        let linked = by_arn.get(role.arn.as_str()).map_or(&[][..], Vec::as_slice);
        let here = managed_here(role);
        match select::examine(role, name, &options.segment_accounts, linked, here) {
            Ok(candidate) => candidates.push((role, candidate)),
            Err(reason) => skipped.push(Skipped {
                role: role.name.clone(),
                reason,
            }),
        }
    }
    let defaults = defaults(account, &candidates, options);
    let role_path = defaults.role_path.clone().unwrap_or_default();
    let mut kept: Vec<(Imported, InstanceSpec, Comments)> = Vec::new();
    for (role, mut candidate) in candidates {
        if role.path != role_path {
            if let Some(spec) = candidate.spec.role.as_mut() {
                spec.path = Some(role.path.clone());
            }
        }
        let linked = candidate.spec.segment.as_ref().and_then(|segment| {
            by_arn
                .get(role.arn.as_str())
                .and_then(|all| all.iter().find(|i| segment.id.as_ref() == Some(&i.id)))
        });
        match check(account, &defaults, role, candidate, linked, options) {
            Ok(checked) => kept.push(checked),
            Err(reason) => skipped.push(Skipped {
                role: role.name.clone(),
                reason,
            }),
        }
    }
    skipped.sort_by(|a, b| a.role.cmp(&b.role));
    let file_name = file_name(account);
    let written = (!kept.is_empty())
        .then(|| with_functions(account, &file_name, defaults, &mut kept, workspace, options))
        .transpose()?;
    let (manifest, code_files, functions) = match written {
        Some((text, declared)) => {
            let functions = declared
                .iter()
                .map(|d| ImportedFunction {
                    name: d.spec.name.clone(),
                    id: d.live.id.clone(),
                    kind: d.spec.kind,
                    code: d.spec.code.clone(),
                    instances: kept
                        .iter()
                        .filter(|(imported, ..)| imported.function.as_ref() == Some(&d.spec.name))
                        .count(),
                })
                .collect();
            (Some(text), code_files(&declared), functions)
        }
        None => (None, Vec::new(), Vec::new()),
    };
    Ok(Import {
        account: account.to_string(),
        file_name,
        manifest,
        code_files,
        functions,
        imported: kept.into_iter().map(|(imported, ..)| imported).collect(),
        skipped,
        function_roles: roles.len(),
        roles_read: 0,
        read_calls: 0,
        segment_instances: 0,
        functions_read: 0,
    })
}

/// Each declared function's code file: (path relative to the manifest, code).
fn code_files(declared: &[functions::Declared]) -> Vec<(String, String)> {
    declared
        .iter()
        .map(|d| (d.spec.code.clone(), d.code.clone()))
        .collect()
}

/// Declares the functions the kept instances run ([`functions::declare`]),
/// checks the file with their code as `fnctl validate` would, and sends a
/// function whose adoption would change more than its marker back to
/// `segment: { id }` with why; then the file for good.
fn with_functions(
    account: &str,
    file_name: &str,
    defaults: Defaults,
    kept: &mut [(Imported, InstanceSpec, Comments)],
    workspace: &Workspace,
    options: &ImportOptions,
) -> anyhow::Result<(String, Vec<functions::Declared>)> {
    let by_id: HashMap<(FunctionKind, &str), &WorkspaceInstance> = workspace
        .instances
        .iter()
        .map(|instance| ((instance.kind, instance.id.as_str()), instance))
        .collect();
    // The workspace instance each is linked to (`segment: { id }`).
    let linked: Vec<Option<&WorkspaceInstance>> = kept
        .iter()
        .map(|(_, spec, _)| {
            let id = spec.segment.as_ref()?.id.as_deref()?;
            by_id.get(&(spec.kind, id)).copied()
        })
        .collect();
    let mut specs: Vec<InstanceSpec> = kept.iter().map(|(_, spec, _)| spec.clone()).collect();
    let (mut declared, mut notes) =
        functions::declare(&mut specs, &linked, &workspace.functions, &options.scope);
    if !declared.is_empty() {
        let trial: Vec<_> = kept
            .iter()
            .zip(&specs)
            .map(|((imported, _, comments), spec)| {
                (imported.clone(), spec.clone(), comments.clone())
            })
            .collect();
        let (_, set) = whole_file(
            account,
            file_name,
            defaults.clone(),
            &trial,
            &declared,
            options,
        )?;
        for (name, reason) in
            set.map_or_else(Vec::new, |set| functions::would_change(&set, &declared))
        {
            for (position, spec) in specs.iter_mut().enumerate() {
                if spec.segment.as_ref().and_then(|s| s.function.as_deref()) == Some(name.as_str())
                {
                    spec.segment = kept[position].1.segment.clone();
                    notes.insert(position, reason.clone());
                }
            }
            declared.retain(|function| function.spec.name != name);
        }
    }
    for (position, (imported, spec, comments)) in kept.iter_mut().enumerate() {
        *spec = specs[position].clone();
        imported.function = spec.segment.as_ref().and_then(|s| s.function.clone());
        let (Some(reason), Some(instance)) = (notes.get(&position), linked[position]) else {
            continue;
        };
        let function = functions::function_of(instance, &workspace.functions)
            .map_or_else(String::new, |f| {
                format!(" ({:?}, {})", functions::display_name(f), f.id)
            });
        let note = format!(
            "Segment instance {} runs a function{function}, kept as `segment: {{ id }}`: {reason}",
            instance.id
        );
        comments.above.push(note.clone());
        imported.function_note = Some(note);
    }
    let (text, _) = whole_file(account, file_name, defaults, kept, &declared, options)?;
    Ok((text, declared))
}

/// The file's defaults: the scope, the account guard, the path most roles
/// are at (the others say theirs), Segment's accounts and region where they
/// are not the documented ones.
fn defaults(
    account: &str,
    candidates: &[(&LiveRole, Candidate)],
    options: &ImportOptions,
) -> Defaults {
    let mut paths: BTreeMap<&str, usize> = BTreeMap::new();
    for (role, _) in candidates {
        *paths.entry(role.path.as_str()).or_default() += 1;
    }
    // The most common path; of equally common ones the first in order.
    let role_path = paths
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map_or(crate::model::DEFAULT_ROLE_PATH, |(path, _)| path);
    let documented = |kind| crate::model::documented_segment_account(kind);
    let accounts = &options.segment_accounts;
    let overridden = |kind| {
        (accounts.account(kind) != documented(kind)).then(|| accounts.account(kind).to_string())
    };
    let segment_accounts = crate::manifest::spec::SegmentAccounts {
        source: overridden(FunctionKind::Source),
        destination: overridden(FunctionKind::Destination),
    };
    Defaults {
        scope: Some(options.scope.clone()),
        account: Some(account.to_string()),
        role_path: Some(role_path.to_string()),
        tags: BTreeMap::new(),
        assume_role: options.assume_role.clone(),
        segment_accounts: (segment_accounts.source.is_some()
            || segment_accounts.destination.is_some())
        .then_some(segment_accounts),
        segment: (options.segment_region != SegmentRegion::Us).then_some(SegmentDefaults {
            region: Some(options.segment_region),
        }),
    }
}

/// Lint codes `allowWildcards: true` accepts.
const WILDCARD_CODES: &[crate::model::codes::DiagnosticCode] = &[
    crate::model::codes::DiagnosticCode::WildcardAction,
    crate::model::codes::DiagnosticCode::WildcardResource,
    crate::model::codes::DiagnosticCode::ServiceWildcard,
    crate::model::codes::DiagnosticCode::PrivilegeEscalation,
];

/// Checks a candidate as a manifest of its own: accepts what the lint
/// finds in the live grants (with a comment naming each finding), refuses
/// what stays invalid, and plans it against its role: adoption must write
/// fnctl's tags and nothing else, in IAM or in Segment.
fn check(
    account: &str,
    defaults: &Defaults,
    role: &LiveRole,
    candidate: Candidate,
    linked: Option<&&WorkspaceInstance>,
    options: &ImportOptions,
) -> Result<(Imported, InstanceSpec, Comments), SkipReason> {
    let Candidate {
        mut spec,
        mut comments,
        external_id,
        unlinked,
    } = candidate;
    let (first, mut instances) = diagnose(defaults, &spec);
    // Most live grants lint clean: one check. Else accept the wildcards,
    // then the reference lint's findings, and check what is left.
    if !first.is_empty() {
        if first.iter().any(|d| WILDCARD_CODES.contains(&d.code)) {
            spec.allow_wildcards = true;
        }
        let (second, _) = diagnose(defaults, &spec);
        let findings: BTreeSet<&str> = second
            .iter()
            .filter(|d| crate::manifest::reference_lint::ACCEPTABLE_CODES.contains(&d.code))
            .map(|d| d.code.as_str())
            .collect();
        spec.allow_findings = findings.into_iter().map(str::to_string).collect();
        let errors;
        (errors, instances) = diagnose(defaults, &spec);
        if !errors.is_empty() {
            return Err(SkipReason::Manifest {
                problems: errors
                    .iter()
                    .map(|d| format!("{}: {}", d.code, d.message))
                    .collect(),
            });
        }
    }
    let desired = instances
        .into_iter()
        .next()
        .ok_or_else(|| SkipReason::Manifest {
            problems: vec!["no instance came out of it".into()],
        })?;
    let mut accepted: Vec<String> = Vec::new();
    for diagnostic in &first {
        let code = diagnostic.code.as_str().to_string();
        if !accepted.contains(&code) {
            accepted.push(code);
        }
        comments
            .accepted
            .push(format!("{}: {}", diagnostic.code, diagnostic.message));
    }
    if !comments.accepted.is_empty() {
        comments.accepted.insert(
            0,
            "As IAM has it; accepted on purpose by `fnctl import` (review each):".into(),
        );
    }
    adoption_changes_nothing(account, &desired, role, &external_id, linked, options)?;
    let imported = Imported {
        role: role.name.clone(),
        instance: spec.name.clone(),
        kind: spec.kind,
        segment: spec.segment.as_ref().and_then(|s| s.id.clone()),
        accepted,
        unlinked: unlinked.iter().map(Unlinked::to_string).collect(),
        function: None,
        function_note: None,
    };
    Ok((imported, spec, comments))
}

/// The error diagnostics of `spec` as the one instance of a file with
/// `defaults`, and its desired instance.
fn diagnose(defaults: &Defaults, spec: &InstanceSpec) -> (Vec<Diagnostic>, Vec<DesiredInstance>) {
    let file = ManifestFile {
        version: 1,
        defaults: Some(defaults.clone()),
        functions: Vec::new(),
        instances: vec![spec.clone()],
    };
    let text = render::manifest(&[], &file, &[]);
    let (diagnostics, instances) = crate::manifest::check_text(Path::new("import.yaml"), text);
    let errors = diagnostics
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    (errors, instances)
}

/// Plans `desired` against its live role with `--adopt`: the role must be
/// adopted with tag steps on fnctl's own tags only, and the linked Segment
/// instance must already hold what the bundle will.
fn adoption_changes_nothing(
    account: &str,
    desired: &DesiredInstance,
    role: &LiveRole,
    external_id: &crate::model::external_id::ExternalId,
    linked: Option<&&WorkspaceInstance>,
    options: &ImportOptions,
) -> Result<(), SkipReason> {
    let plan_options = PlanOptions {
        adopt: true,
        ..PlanOptions::read_only(options.now)
    };
    let plan = crate::plan::planner::plan(
        account,
        std::slice::from_ref(desired),
        std::slice::from_ref(role),
        &plan_options,
    );
    let mut changes: Vec<String> = Vec::new();
    // Adopted, or (a role this manifest already holds) kept as it is.
    let adopted = plan
        .changes
        .iter()
        .any(|change| matches!(change.action, Action::Adopt | Action::Update))
        || plan.unchanged.contains(&desired.name);
    if !adopted {
        changes.extend(
            plan.notices
                .iter()
                .map(|notice| crate::report::notice::text(notice).message),
        );
        if changes.is_empty() {
            changes.push("fnctl would not adopt it".into());
        }
    }
    for step in plan.changes.iter().flat_map(|change| &change.steps) {
        let fnctl_tags_only = match &step.operation {
            Operation::TagRole { tags: written, .. } => {
                written.keys().all(|k| tags::is_fnctl_tag(k))
            }
            Operation::UntagRole { keys, .. } => keys.iter().all(|k| tags::is_fnctl_tag(k)),
            _ => false,
        };
        if !fnctl_tags_only {
            changes.push(step.reason.clone());
        }
    }
    if let (Some(instance), Some(target)) = (linked, &desired.segment) {
        let mut plain = crate::bundle::build(desired, &role.arn, external_id).settings;
        plain.remove(crate::bundle::EXTERNAL_ID_SETTING);
        let wanted = DesiredSettings {
            plain: plain.into_iter().collect(),
            secret_key: crate::bundle::EXTERNAL_ID_SETTING.to_string(),
            external_id: BundleId::Known(external_id.clone()),
        };
        let live = LiveSettings {
            settings: instance.settings.clone(),
        };
        if let SegmentDecision::Push(change) =
            segment_decision(&desired.name, target, &wanted, Some(&live))
        {
            changes.push(format!("Segment: {}", change.reason));
        }
    }
    if changes.is_empty() {
        Ok(())
    } else {
        Err(SkipReason::WouldChange { changes })
    }
}

/// The whole manifest, checked once more as a file: an import never writes
/// a manifest `fnctl validate` refuses. With functions, the file is checked
/// with their code beside it, in a folder of its own, and the loaded set
/// is given back.
fn whole_file(
    account: &str,
    file_name: &str,
    defaults: Defaults,
    kept: &[(Imported, InstanceSpec, Comments)],
    declared: &[functions::Declared],
    options: &ImportOptions,
) -> anyhow::Result<(String, Option<crate::manifest::ManifestSet>)> {
    let file = ManifestFile {
        version: 1,
        defaults: Some(defaults),
        functions: declared.iter().map(|d| d.spec.clone()).collect(),
        instances: kept.iter().map(|(_, spec, _)| spec.clone()).collect(),
    };
    let comments: Vec<Comments> = kept.iter().map(|(.., c)| c.clone()).collect();
    let header = vec![
        format!("yaml-language-server: $schema={}", options.schema),
        format!(
            "Imported by `fnctl import` from account {account}: {} role(s) as IAM has them.",
            kept.len()
        ),
        "Review, then `fnctl plan --adopt`: it shows adoption only (fnctl's tags).".to_string(),
    ];
    let text = render::manifest(&header, &file, &comments);
    let (diagnostics, set) = if declared.is_empty() {
        let (diagnostics, _) = crate::manifest::check_text(Path::new(file_name), text.clone());
        (diagnostics, None)
    } else {
        let set = load_beside_code(file_name, &text, &code_files(declared))?;
        (set.diagnostics.clone(), Some(set))
    };
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect();
    anyhow::ensure!(
        errors.is_empty(),
        "the imported manifest does not validate (a bug in fnctl import): {}",
        errors.join("; ")
    );
    Ok((text, set))
}

/// Loads the manifest `text` as `file_name` in a temporary folder with the
/// code files beside it, as `fnctl validate` would read them once written.
fn load_beside_code(
    file_name: &str,
    text: &str,
    code: &[(String, String)],
) -> anyhow::Result<crate::manifest::ManifestSet> {
    let folder =
        tempfile::tempdir().context("cannot make a temporary folder to check the manifest in")?;
    for (relative, content) in code {
        let path = folder.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, content)?;
    }
    let path = folder.path().join(file_name);
    std::fs::write(&path, text)?;
    Ok(crate::manifest::load(&[path]))
}

/// Instance names from role names: stable (the same roles give the same
/// names), valid (fnctl's alphabet, 64 characters) and distinct (`-2`,
/// `-3` after a name already given, in role-name order). `segment-fn-`,
/// the prefix fnctl's own default names have, is left out. A role adopted
/// from the manifest being rewritten keeps the name its tags record.
fn instance_names(roles: &[&LiveRole], managed_here: &dyn Fn(&LiveRole) -> bool) -> Vec<String> {
    let recorded = |role: &LiveRole| {
        role.tags
            .get(tags::INSTANCE)
            .filter(|name| crate::manifest::rules::check_instance_name(name).is_ok())
            .filter(|_| managed_here(role))
            .cloned()
    };
    let mut used: HashSet<String> = roles.iter().filter_map(|role| recorded(role)).collect();
    let mut names = Vec::with_capacity(roles.len());
    for role in roles {
        if let Some(name) = recorded(role) {
            names.push(name);
            continue;
        }
        let lowered = role.name.to_ascii_lowercase();
        let stem = lowered
            .strip_prefix("segment-fn-")
            .filter(|rest| !rest.is_empty())
            .unwrap_or(&lowered);
        names.push(unique_name(stem, "role", &mut used));
    }
    names
}

/// `text` in fnctl's alphabet for names (lowercase; other characters as
/// `-`; no leading `.` or `-`; 64 characters at most; `fallback` when
/// nothing is left), made distinct from `used` with `-2`, `-3`; the name
/// given joins `used`.
pub(crate) fn unique_name(text: &str, fallback: &str, used: &mut HashSet<String>) -> String {
    const LONGEST: usize = 64;
    let cleaned: String = text
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut base = cleaned.trim_start_matches(['.', '-']).to_string();
    if base.is_empty() {
        base = fallback.into();
    }
    base.truncate(LONGEST);
    let mut name = base.clone();
    let mut counter = 2;
    while used.contains(&name) {
        let suffix = format!("-{counter}");
        let mut stem = base.clone();
        stem.truncate(LONGEST - suffix.len());
        name = format!("{stem}{suffix}");
        counter += 1;
    }
    used.insert(name.clone());
    name
}
