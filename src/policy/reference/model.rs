//! The reference as fnctl holds it once parsed: services, their resource
//! types and actions, and the escalation methods; and the questions asked of
//! it (look-ups ignoring case, wildcard expansion, did-you-mean, whether a
//! statement's resources can reach an action's resource types).
//!
//! Every name borrows from the embedded text (`&'static str`) and look-ups
//! are binary searches in the table's own order, so parsing copies no name
//! and builds no map.

use std::cmp::Ordering;

use super::arn::Pattern;
use super::{glob, suggest};

/// The Service Authorization Reference's access levels, as AWS names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessLevel {
    /// Lists resources (`s3:ListBucket`).
    List,
    /// Reads a resource (`s3:GetObject`).
    Read,
    /// Creates, changes or deletes a resource (`s3:PutObject`).
    Write,
    /// Changes only tags.
    Tagging,
    /// Changes who may do what: resource policies, ACLs, grants, IAM
    /// (`s3:PutBucketPolicy`, `kms:CreateGrant`). fnctl reports these as
    /// resource exposure, as cloudsplaining does.
    PermissionsManagement,
}

impl AccessLevel {
    /// AWS's name of the level.
    #[cfg(test)]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AccessLevel::List => "List",
            AccessLevel::Read => "Read",
            AccessLevel::Write => "Write",
            AccessLevel::Tagging => "Tagging",
            AccessLevel::PermissionsManagement => "Permissions management",
        }
    }

    /// The one-letter code of the embedded table.
    pub(super) fn from_code(code: &str) -> Option<AccessLevel> {
        Some(match code {
            "L" => AccessLevel::List,
            "R" => AccessLevel::Read,
            "W" => AccessLevel::Write,
            "T" => AccessLevel::Tagging,
            "P" => AccessLevel::PermissionsManagement,
            _ => return None,
        })
    }
}

/// One kind of resource a service's actions act on, with its ARN format.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// AWS's name of the type, e.g. `object`.
    pub name: &'static str,
    /// Its ARN format, e.g. `arn:${Partition}:s3:::${BucketName}/${ObjectName}`.
    pub arn: &'static str,
    pub(super) pattern: Pattern,
}

/// One resource type an action takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionResource {
    /// Index into the service's [`Service::resource_types`].
    pub index: usize,
    /// Whether AWS marks the type required (`*` in the reference's table).
    /// fnctl's resource check does not depend on it: see
    /// [`Reference::matches_any_resource`].
    pub required: bool,
}

/// One action of a service.
#[derive(Debug, Clone)]
pub struct Action {
    /// The service prefix, e.g. `s3`.
    pub service: &'static str,
    /// The action's name as AWS spells it, e.g. `PutObject`.
    pub name: &'static str,
    /// Its access level.
    pub access_level: AccessLevel,
    /// The resource types it acts on; empty when it only takes `*`.
    pub resource_types: Vec<ActionResource>,
    pub(super) service_index: usize,
}

impl Action {
    /// `service:Name`, as a policy writes it.
    pub(crate) fn full_name(&self) -> String {
        format!("{}:{}", self.service, self.name)
    }
}

/// One AWS service.
#[derive(Debug, Clone)]
pub struct Service {
    /// The prefix of its actions, e.g. `s3`.
    pub prefix: &'static str,
    /// Its name, e.g. `Amazon S3`.
    pub name: &'static str,
    /// Its resource types, in the table's order.
    pub resource_types: Vec<ResourceType>,
    /// Its actions, sorted by name ignoring ASCII case.
    pub actions: Vec<Action>,
}

impl Service {
    /// The action called `name`, ignoring case.
    pub(crate) fn action(&self, name: &str) -> Option<&Action> {
        self.actions
            .binary_search_by(|action| compare_ignoring_case(action.name, name))
            .ok()
            .map(|index| &self.actions[index])
    }
}

/// The order of the table's services and actions: ASCII case ignored. A
/// binary search in that order finds names without allocating a lower-cased
/// key, and parsing builds no maps.
pub(super) fn compare_ignoring_case(a: &str, b: &str) -> Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// A published way for a principal to give itself more access: the actions
/// that together complete it.
#[derive(Debug, Clone)]
pub struct EscalationMethod {
    /// Its name in cloudsplaining's list, e.g. `EditExistingLambdaFunctionWithRole`.
    pub name: &'static str,
    /// `service:Name` of each action it needs.
    pub actions: Vec<&'static str>,
    /// The same, lower-cased: the keys it is checked with.
    pub(super) keys: Vec<String>,
}

/// Whether a statement's resources can reach an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceMatch {
    /// Some resource can name a resource of one of the action's types (or
    /// can be `*`, for an action that takes no resource type).
    Reaches,
    /// None can: the statement grants nothing for the action. `needed` are
    /// the ARN formats (or `*`) that would.
    GrantsNothing {
        /// ARN formats of the action's resource types, or `["*"]`.
        needed: Vec<&'static str>,
    },
}

/// The AWS Service Authorization Reference, as embedded in fnctl.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The `#source` lines of the table: generator input, version, licence.
    pub sources: Vec<&'static str>,
    /// Sorted by prefix ignoring ASCII case.
    pub(super) services: Vec<Service>,
    pub(super) escalations: Vec<EscalationMethod>,
}

impl Reference {
    /// Every service, sorted by prefix.
    #[cfg(test)]
    pub(crate) fn services(&self) -> &[Service] {
        &self.services
    }

    /// The service with this prefix, ignoring case.
    pub(crate) fn service(&self, prefix: &str) -> Option<&Service> {
        self.services
            .binary_search_by(|service| compare_ignoring_case(service.prefix, prefix))
            .ok()
            .map(|index| &self.services[index])
    }

    /// The action `name` of service `prefix`, ignoring case.
    pub(crate) fn action(&self, prefix: &str, name: &str) -> Option<&Action> {
        self.service(prefix)?.action(name)
    }

    /// The service an action belongs to.
    pub(crate) fn service_of(&self, action: &Action) -> &Service {
        &self.services[action.service_index]
    }

    /// The resource types of an action with their ARN formats, and whether
    /// each is required.
    pub(crate) fn resource_types<'a>(
        &'a self,
        action: &'a Action,
    ) -> impl Iterator<Item = (&'a ResourceType, bool)> + 'a {
        let service = self.service_of(action);
        action
            .resource_types
            .iter()
            .map(move |entry| (&service.resource_types[entry.index], entry.required))
    }

    /// The actions an IAM action pattern grants: `s3:PutObject`, `s3:Put*`,
    /// `s3:*Object`, `s3:Get?bject`, `s3:*`, `*`, ignoring case. A wildcard
    /// in the prefix (`s*:Get*`) is matched against every prefix. Empty
    /// when nothing matches, including for text that is not `service:action`.
    pub(crate) fn expand(&self, pattern: &str) -> Vec<&Action> {
        if pattern.trim() == "*" {
            return self
                .services
                .iter()
                .flat_map(|s| s.actions.iter())
                .collect();
        }
        let Some((prefix, name)) = pattern.split_once(':') else {
            return Vec::new();
        };
        let services: Vec<&Service> = if glob::is_pattern(prefix) {
            self.services
                .iter()
                .filter(|s| glob::matches(prefix, s.prefix))
                .collect()
        } else {
            self.service(prefix).into_iter().collect()
        };
        let mut actions = Vec::new();
        for service in services {
            if glob::is_pattern(name) {
                actions.extend(
                    service
                        .actions
                        .iter()
                        .filter(|a| glob::matches(name, a.name)),
                );
            } else {
                actions.extend(service.action(name));
            }
        }
        actions
    }

    /// A known action of the same service whose name is a few edits from
    /// `name` (`s3`, `PutObjekt` → `s3:PutObject`), when the service is
    /// known and `name` is not itself an action.
    pub(crate) fn suggest(&self, prefix: &str, name: &str) -> Option<String> {
        let service = self.service(prefix)?;
        if service.action(name).is_some() {
            return None;
        }
        suggest::closest(name, service.actions.iter().map(|a| a.name))
            .map(|found| format!("{}:{found}", service.prefix))
    }

    /// A known service prefix a few edits from `prefix` (`dynamdb` → `dynamodb`).
    pub(crate) fn suggest_service(&self, prefix: &str) -> Option<&'static str> {
        if self.service(prefix).is_some() {
            return None;
        }
        suggest::closest(prefix, self.services.iter().map(|s| s.prefix))
    }

    /// The escalation methods fnctl knows, from cloudsplaining's list.
    pub(crate) fn escalation_methods(&self) -> &[EscalationMethod] {
        &self.escalations
    }

    /// Whether any of `resources` (a statement's `Resource` list, IAM
    /// wildcards and policy variables allowed) can name a resource the
    /// action acts on.
    ///
    /// Semantics, chosen so that "grants nothing" is never said of a grant
    /// that works:
    /// * an action with resource types is reached when some resource could
    ///   be an ARN of *any* of its types, required or not. parliament asks
    ///   instead that *every* required type be matched in the statement, which
    ///   flags statements split across several statements (ec2:RunInstances
    ///   on instance ARNs here, on subnets there) that together do work;
    /// * an action without resource types takes only `*` (as parliament
    ///   says), so only a resource that can be `*` reaches it;
    /// * a resource with wildcards reaches a type when *some* expansion of
    ///   the wildcard is an ARN of that type (`arn:aws:s3:::b*` reaches
    ///   buckets and objects); see `arn::Pattern::intersects`.
    #[cfg(test)]
    pub(crate) fn matches_any_resource(
        &self,
        action: &Action,
        resources: &[String],
    ) -> ResourceMatch {
        let formats: Vec<&Pattern> = if action.resource_types.is_empty() {
            Vec::new()
        } else {
            self.resource_types(action)
                .map(|(t, _)| &t.pattern)
                .collect()
        };
        let star = Pattern::star();
        let reaches = resources.iter().any(|resource| {
            let resource = Pattern::resource(resource);
            if formats.is_empty() {
                resource.intersects(&star)
            } else {
                formats.iter().any(|format| resource.intersects(format))
            }
        });
        if reaches {
            ResourceMatch::Reaches
        } else {
            ResourceMatch::GrantsNothing {
                needed: self.needed_formats(action),
            }
        }
    }

    /// The ARN formats an action's resources must have, or `*`.
    pub(crate) fn needed_formats(&self, action: &Action) -> Vec<&'static str> {
        if action.resource_types.is_empty() {
            return vec!["*"];
        }
        self.resource_types(action).map(|(t, _)| t.arn).collect()
    }
}
