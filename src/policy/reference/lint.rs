//! The statement lint that needs the reference: actions that do not exist,
//! actions a statement cannot grant on its resources, privilege escalation
//! and resource exposure.
//!
//! Pure: lists of strings in, typed findings out, each naming the list
//! (actions or resources) and the index in it, so the manifest layer can
//! point at the file, line and column of the item. Only Allow statements are
//! to be passed in: a Deny that names nothing or too much only narrows what
//! the role can do, so the caller leaves Deny statements out.
//!
//! A wildcard action (`s3:Put*`, `s3:*`, `*`) is judged by what it expands
//! to, and only by the expansions its statement's resources reach: `s3:Put*`
//! on `arn:aws:s3:::b/*` grants `s3:PutObjectAcl` (exposure) but not
//! `s3:PutBucketPolicy` (which needs the bucket ARN), and it is a resource
//! mismatch only when *no* expansion is reached, so a wildcard that does its
//! job is never reported for the expansions it does not need.

use std::collections::{HashMap, HashSet};

use super::arn::Pattern;
use super::escalation;
use super::glob;
use super::model::{AccessLevel, Action, Reference};

/// Which list of a statement a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// The `actions` list.
    Action,
    /// The `resources` list.
    Resource,
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingKind {
    /// The action is not `service:action` (nor `*`).
    MalformedAction,
    /// The service prefix is unknown.
    UnknownService {
        /// The prefix as written.
        service: String,
        /// A known prefix a few edits away.
        suggestion: Option<&'static str>,
    },
    /// The service is known, the action is not (or a wildcard matches none
    /// of its actions).
    UnknownAction {
        /// A known action of the same service a few edits away, as
        /// `service:Action`; never offered for a wildcard.
        suggestion: Option<String>,
    },
    /// None of the statement's resources can name a resource the action
    /// acts on (for a wildcard: that any of its expansions acts on), so the
    /// statement grants nothing for it.
    ResourceMismatch {
        /// The ARN formats the action needs (`*` for one that supports no
        /// resource type), without repeats.
        needed: Vec<&'static str>,
    },
    /// The action completes, with the others the policy grants, a published
    /// privilege escalation method.
    PrivilegeEscalation {
        /// The methods it takes part in.
        methods: Vec<&'static str>,
        /// The actions it grants that take part (its expansions, for a wildcard).
        actions: Vec<String>,
    },
    /// The action can change who may access a resource: access level
    /// "Permissions management" (resource policies, ACLs, grants).
    ResourceExposure {
        /// The actions it grants at that level (its expansions, for a wildcard).
        actions: Vec<String>,
    },
    /// The resource is reached by none of the statement's actions: it is
    /// dead weight, or the action meant for it is missing. Reported only
    /// when every action of the statement is known and reaches some
    /// resource (else that action's finding says it). A warning rather than
    /// an error: `s3:PutObject` on both `b` and `b/*` works, it just says
    /// more than it grants.
    UnusedResource,
}

impl FindingKind {
    /// Stable kebab-case code.
    #[cfg(test)]
    pub(crate) fn code(&self) -> &'static str {
        match self {
            FindingKind::MalformedAction => "malformed-action",
            FindingKind::UnknownService { .. } => "unknown-service",
            FindingKind::UnknownAction { .. } => "unknown-action",
            FindingKind::ResourceMismatch { .. } => "resource-mismatch",
            FindingKind::PrivilegeEscalation { .. } => "privilege-escalation",
            FindingKind::ResourceExposure { .. } => "resource-exposure",
            FindingKind::UnusedResource => "unused-resource",
        }
    }
}

/// One finding in one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Index of the statement in the list given to [`Reference::lint_policy`]
    /// (0 for [`Reference::lint_statement`]).
    pub statement: usize,
    /// The list the item is in.
    pub part: Part,
    /// The item's index in that list.
    pub index: usize,
    /// What is wrong.
    pub kind: FindingKind,
}

impl Finding {
    /// Stable kebab-case code.
    #[cfg(test)]
    pub(crate) fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// One sentence for people; `item` is the text of the action or
    /// resource the finding points at.
    pub(crate) fn message(&self, item: &str) -> String {
        match &self.kind {
            FindingKind::MalformedAction => format!("`{item}` is not an action (service:Action)"),
            FindingKind::UnknownService {
                service,
                suggestion,
            } => {
                format!(
                    "`{service}` is not an AWS service prefix{}",
                    did_you_mean(suggestion.as_deref())
                )
            }
            FindingKind::UnknownAction { suggestion } => {
                format!(
                    "`{item}` is not an AWS action{}",
                    did_you_mean(suggestion.as_deref())
                )
            }
            FindingKind::ResourceMismatch { needed } => {
                if needed.as_slice() == ["*"] {
                    format!("`{item}` grants nothing here: it takes only resource `*`")
                } else {
                    format!(
                        "`{item}` grants nothing here: no resource of the statement is {}",
                        list(needed, " or ")
                    )
                }
            }
            FindingKind::PrivilegeEscalation { methods, actions } => format!(
                "`{item}` lets the function escalate its privileges: with it the policy grants all \
                 of escalation method {} (through {})",
                list(methods, ", "),
                list(actions, ", ")
            ),
            FindingKind::ResourceExposure { actions } => format!(
                "`{item}` can change who may access resources: {} (access level \
                 Permissions management)",
                list(actions, ", ")
            ),
            FindingKind::UnusedResource => {
                format!("`{item}` is reached by none of the statement's actions")
            }
        }
    }
}

/// Items in backquotes, the first few only: `s3:*` grants dozens.
fn list(items: &[impl AsRef<str>], separator: &str) -> String {
    const SHOWN: usize = 5;
    let mut text: Vec<String> = items
        .iter()
        .take(SHOWN)
        .map(|i| format!("`{}`", i.as_ref()))
        .collect();
    if items.len() > SHOWN {
        text.push(format!("{} more", items.len() - SHOWN));
    }
    text.join(separator)
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

/// One Allow statement's lists, as the manifest declares them.
#[derive(Debug, Clone, Copy)]
pub struct Statement<'a> {
    /// `actions`: `service:Action`, wildcards allowed.
    pub actions: &'a [String],
    /// `resources`: ARNs, wildcards and policy variables allowed.
    pub resources: &'a [String],
}

/// What one action item of a statement grants.
struct Granted<'r> {
    statement: usize,
    index: usize,
    actions: Vec<&'r Action>,
}

impl Reference {
    /// Lints one Allow statement; escalation methods are looked for within
    /// it alone. See [`Reference::lint_policy`].
    pub(crate) fn lint_statement(&self, actions: &[String], resources: &[String]) -> Vec<Finding> {
        self.lint_policy(&[Statement { actions, resources }])
    }

    /// Lints the Allow statements of one policy (one function instance's
    /// permissions). Every check is per statement except escalation, whose
    /// methods may be completed by actions of different statements.
    /// Findings come in statement, list and index order.
    pub(crate) fn lint_policy(&self, statements: &[Statement<'_>]) -> Vec<Finding> {
        let mut findings = Vec::new();
        let mut granted = Vec::new();
        for (number, statement) in statements.iter().enumerate() {
            self.lint_one(number, statement, &mut findings, &mut granted);
        }
        self.escalations(&granted, &mut findings);
        findings.sort_by_key(|f| (f.statement, f.part, f.index));
        findings
    }

    fn lint_one<'r>(
        &'r self,
        number: usize,
        statement: &Statement<'_>,
        findings: &mut Vec<Finding>,
        granted: &mut Vec<Granted<'r>>,
    ) {
        let resources: Vec<Pattern> = statement
            .resources
            .iter()
            .map(|r| Pattern::resource(r))
            .collect();
        // Which resources each (service, resource type) can name, computed
        // once per statement: `s3:*` asks about the same few types hundreds
        // of times.
        let mut reached_by_type: HashMap<(usize, usize), Vec<bool>> = HashMap::new();
        let star = Pattern::star();
        let reached_by_star: Vec<bool> = resources.iter().map(|r| r.intersects(&star)).collect();
        let mut used = vec![false; resources.len()];
        // Unused resources are only worth a word in a statement whose every
        // action is known and reaches something: otherwise the finding on
        // the action already explains the resource.
        let mut every_action_works = true;

        for (index, item) in statement.actions.iter().enumerate() {
            let finding = |kind| Finding {
                statement: number,
                part: Part::Action,
                index,
                kind,
            };
            let expanded = match self.resolve(item) {
                Ok(expanded) => expanded,
                Err(kind) => {
                    every_action_works = false;
                    findings.push(finding(kind));
                    continue;
                }
            };
            let mut reached = Vec::new();
            for action in &expanded {
                let hits = self.reached(action, &resources, &reached_by_star, &mut reached_by_type);
                if hits.iter().any(|&hit| hit) {
                    reached.push(*action);
                    for (slot, hit) in used.iter_mut().zip(hits) {
                        *slot |= hit;
                    }
                }
            }
            if reached.is_empty() {
                every_action_works = false;
                let mut needed = Vec::new();
                for action in &expanded {
                    for format in self.needed_formats(action) {
                        if !needed.contains(&format) {
                            needed.push(format);
                        }
                    }
                }
                findings.push(finding(FindingKind::ResourceMismatch { needed }));
                continue;
            }
            let exposed: Vec<String> = reached
                .iter()
                .filter(|a| a.access_level == AccessLevel::PermissionsManagement)
                .map(|a| a.full_name())
                .collect();
            if !exposed.is_empty() {
                findings.push(finding(FindingKind::ResourceExposure { actions: exposed }));
            }
            granted.push(Granted {
                statement: number,
                index,
                actions: reached,
            });
        }

        if every_action_works && !statement.actions.is_empty() {
            for (index, used) in used.iter().enumerate() {
                if !used {
                    findings.push(Finding {
                        statement: number,
                        part: Part::Resource,
                        index,
                        kind: FindingKind::UnusedResource,
                    });
                }
            }
        }
    }

    /// The actions an item names, or why it names none.
    fn resolve(&self, item: &str) -> Result<Vec<&Action>, FindingKind> {
        let item = item.trim();
        if item == "*" {
            return Ok(self.expand(item));
        }
        let Some((prefix, name)) = item.split_once(':') else {
            return Err(FindingKind::MalformedAction);
        };
        if prefix.is_empty() || name.is_empty() || name.contains(':') {
            return Err(FindingKind::MalformedAction);
        }
        if !glob::is_pattern(prefix) && self.service(prefix).is_none() {
            return Err(FindingKind::UnknownService {
                service: prefix.to_string(),
                suggestion: self.suggest_service(prefix),
            });
        }
        let expanded = self.expand(item);
        if expanded.is_empty() {
            let suggestion = if glob::is_pattern(item) {
                None
            } else {
                self.suggest(prefix, name)
            };
            return Err(FindingKind::UnknownAction { suggestion });
        }
        Ok(expanded)
    }

    /// For each resource of the statement, whether it can name a resource
    /// the action acts on.
    fn reached(
        &self,
        action: &Action,
        resources: &[Pattern],
        reached_by_star: &[bool],
        reached_by_type: &mut HashMap<(usize, usize), Vec<bool>>,
    ) -> Vec<bool> {
        if action.resource_types.is_empty() {
            return reached_by_star.to_vec();
        }
        let service = self.service_of(action);
        let mut hits = vec![false; resources.len()];
        for entry in &action.resource_types {
            let by_resource = reached_by_type
                .entry((action.service_index, entry.index))
                .or_insert_with(|| {
                    let format = &service.resource_types[entry.index].pattern;
                    resources.iter().map(|r| r.intersects(format)).collect()
                });
            for (hit, &reaches) in hits.iter_mut().zip(by_resource.iter()) {
                *hit |= reaches;
            }
        }
        hits
    }

    /// Escalation methods completed by what the statements grant together.
    fn escalations(&self, granted: &[Granted<'_>], findings: &mut Vec<Finding>) {
        let keys: HashSet<String> = granted
            .iter()
            .flat_map(|g| g.actions.iter().map(|a| a.full_name().to_ascii_lowercase()))
            .collect();
        let complete = escalation::complete(self.escalation_methods(), &keys);
        if complete.is_empty() {
            return;
        }
        for item in granted {
            let mut methods = Vec::new();
            let mut actions = Vec::new();
            for action in &item.actions {
                let key = action.full_name().to_ascii_lowercase();
                let mut takes_part = false;
                for method in &complete {
                    if escalation::takes_part(method, &key) {
                        takes_part = true;
                        if !methods.contains(&method.name) {
                            methods.push(method.name);
                        }
                    }
                }
                if takes_part {
                    actions.push(action.full_name());
                }
            }
            if !methods.is_empty() {
                findings.push(Finding {
                    statement: item.statement,
                    part: Part::Action,
                    index: item.index,
                    kind: FindingKind::PrivilegeEscalation { methods, actions },
                });
            }
        }
    }
}
