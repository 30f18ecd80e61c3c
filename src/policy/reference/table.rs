//! Reading the embedded table (`aws-reference.tsv`, written by
//! `scripts/reference/generate.py`; its header documents the format).
//!
//! The parse is strict: any line it does not understand is an error naming
//! the line, never skipped, because a table that parses to less than it says
//! would make fnctl call real actions unknown. A failure of the embedded table
//! is a bug in fnctl, caught by the unit tests before it can ship.

use std::cmp::Ordering;

use super::arn::Pattern;
use super::model::{
    compare_ignoring_case, AccessLevel, Action, ActionResource, EscalationMethod, Reference,
    ResourceType, Service,
};

/// The format version this parser reads (`#format fnctl-aws-reference N`).
pub const FORMAT: &str = "fnctl-aws-reference 1";

/// Why a table does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AWS reference table, line {line}: {message}")]
pub struct TableError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

fn error(line: usize, message: impl Into<String>) -> TableError {
    TableError {
        line,
        message: message.into(),
    }
}

/// Parses a table. Borrows every name from `text`, hence `'static`.
pub(crate) fn parse(text: &'static str) -> Result<Reference, TableError> {
    let mut table = Table::default();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if let Some(comment) = line.strip_prefix('#') {
            table.comment(number, comment)?;
            continue;
        }
        let fields: Vec<&'static str> = line.split('\t').collect();
        match fields.as_slice() {
            ["S", prefix, name] => table.service(number, prefix, name)?,
            ["R", name, arn] => table.resource_type(number, name, arn)?,
            ["A", name, level, types] => table.action(number, name, level, types)?,
            ["E", name, actions] => table.escalation_lines.push((number, *name, *actions)),
            _ => {
                return Err(error(
                    number,
                    format!("unreadable line `{}`", shorten(line)),
                ))
            }
        }
    }
    table.finish()
}

/// What the lines read so far hold.
#[derive(Default)]
struct Table {
    sources: Vec<&'static str>,
    format_seen: bool,
    services: Vec<Service>,
    /// Escalation lines, resolved once every service is known.
    escalation_lines: Vec<(usize, &'static str, &'static str)>,
}

impl Table {
    /// `#source …` and `#format …` lines; other comments are the header's prose.
    fn comment(&mut self, number: usize, comment: &'static str) -> Result<(), TableError> {
        if let Some(source) = comment.strip_prefix("source ") {
            self.sources.push(source);
        } else if let Some(format) = comment.strip_prefix("format ") {
            if format != FORMAT {
                return Err(error(
                    number,
                    format!("format `{format}`, this fnctl reads `{FORMAT}`"),
                ));
            }
            self.format_seen = true;
        }
        Ok(())
    }

    /// `S prefix name`: a service, in order of prefix.
    fn service(
        &mut self,
        number: usize,
        prefix: &'static str,
        name: &'static str,
    ) -> Result<(), TableError> {
        let in_order = self.services.last().is_none_or(|previous| {
            compare_ignoring_case(previous.prefix, prefix) == Ordering::Less
        });
        if prefix.is_empty() || !in_order {
            return Err(error(
                number,
                format!("service prefix `{prefix}` is empty, repeated or out of order"),
            ));
        }
        self.services.push(Service {
            prefix,
            name,
            resource_types: Vec::new(),
            actions: Vec::new(),
        });
        Ok(())
    }

    /// `R name arn`: a resource type of the current service, before its actions.
    fn resource_type(
        &mut self,
        number: usize,
        name: &'static str,
        arn: &'static str,
    ) -> Result<(), TableError> {
        let service = current(&mut self.services, number)?;
        if !service.actions.is_empty() {
            return Err(error(number, "resource type after the service's actions"));
        }
        if !arn.starts_with("arn:") && arn != "*" {
            return Err(error(number, format!("`{arn}` is not an ARN format")));
        }
        service.resource_types.push(ResourceType {
            name,
            arn,
            pattern: Pattern::reference(arn),
        });
        Ok(())
    }

    /// `A name level types`: an action of the current service, in order of name.
    fn action(
        &mut self,
        number: usize,
        name: &'static str,
        level: &str,
        types: &str,
    ) -> Result<(), TableError> {
        let service_index = self.services.len().wrapping_sub(1);
        let service = current(&mut self.services, number)?;
        let access_level = AccessLevel::from_code(level)
            .ok_or_else(|| error(number, format!("unknown access level `{level}`")))?;
        let resource_types = action_resources(types, service.resource_types.len())
            .map_err(|message| error(number, message))?;
        let in_order = service
            .actions
            .last()
            .is_none_or(|previous| compare_ignoring_case(previous.name, name) == Ordering::Less);
        if name.is_empty() || !in_order {
            return Err(error(
                number,
                format!("action `{name}` is empty, repeated or out of order"),
            ));
        }
        service.actions.push(Action {
            service: service.prefix,
            name,
            access_level,
            resource_types,
            service_index,
        });
        Ok(())
    }

    /// The reference, once the format was named and a service read; each
    /// escalation method naming only known actions.
    fn finish(self) -> Result<Reference, TableError> {
        if !self.format_seen {
            return Err(error(1, format!("no `#format {FORMAT}` line")));
        }
        if self.services.is_empty() {
            return Err(error(1, "no services"));
        }
        let mut reference = Reference {
            sources: self.sources,
            services: self.services,
            escalations: Vec::new(),
        };
        for (number, name, actions) in self.escalation_lines {
            let method = escalation(&reference, number, name, actions)?;
            reference.escalations.push(method);
        }
        Ok(reference)
    }
}

/// `E name actions`: an escalation method over actions the reference knows.
fn escalation(
    reference: &Reference,
    number: usize,
    name: &'static str,
    actions: &'static str,
) -> Result<EscalationMethod, TableError> {
    let mut method = EscalationMethod {
        name,
        actions: Vec::new(),
        keys: Vec::new(),
    };
    for action in actions.split(',') {
        let known = action
            .split_once(':')
            .and_then(|(prefix, action_name)| reference.action(prefix, action_name));
        if known.is_none() {
            return Err(error(
                number,
                format!("escalation method {name} names unknown action `{action}`"),
            ));
        }
        method.actions.push(action);
        method.keys.push(action.to_ascii_lowercase());
    }
    Ok(method)
}

fn current(services: &mut [Service], number: usize) -> Result<&mut Service, TableError> {
    services
        .last_mut()
        .ok_or_else(|| error(number, "line before the first service"))
}

/// `0,2*,5`: indexes into the service's resource types, `*` when required.
fn action_resources(field: &str, defined: usize) -> Result<Vec<ActionResource>, String> {
    if field.is_empty() {
        return Ok(Vec::new());
    }
    field
        .split(',')
        .map(|item| {
            let (digits, required) = match item.strip_suffix('*') {
                Some(digits) => (digits, true),
                None => (item, false),
            };
            let index: usize = digits
                .parse()
                .map_err(|_| format!("resource type `{item}` is not an index"))?;
            if index >= defined {
                return Err(format!(
                    "resource type {index} is not defined (the service has {defined})"
                ));
            }
            Ok(ActionResource { index, required })
        })
        .collect()
}

fn shorten(line: &str) -> String {
    line.chars().take(80).collect()
}

/// The SHA-256 of the body (every line not starting with `#`, each ending
/// with a newline) and the value its `#body-sha256` header line records:
/// equal unless the body was edited by hand.
#[cfg(test)]
pub(crate) fn body_digests(text: &str) -> (String, Option<String>) {
    let mut body = String::new();
    let mut recorded = None;
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("#body-sha256 ") {
            recorded = Some(value.to_string());
        } else if !line.starts_with('#') {
            body.push_str(line);
            body.push('\n');
        }
    }
    (
        crate::fingerprint::sha256_hex(body.as_bytes(), 64),
        recorded,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = "#format fnctl-aws-reference 1\n\
        #source test 1 MIT\n\
        S\ts3\tAmazon S3\n\
        R\tbucket\tarn:${Partition}:s3:::${BucketName}\n\
        R\tobject\tarn:${Partition}:s3:::${BucketName}/${ObjectName}\n\
        A\tListAllMyBuckets\tL\t\n\
        A\tPutObject\tW\t1*\n\
        E\tDemo\ts3:putobject\n";

    #[test]
    fn a_small_table_parses() {
        let reference = parse(TINY).expect("parses");
        assert_eq!(reference.sources, ["test 1 MIT"]);
        let action = reference.action("S3", "putobject").expect("found");
        assert_eq!(action.name, "PutObject");
        assert_eq!(action.access_level, AccessLevel::Write);
        assert_eq!(
            action.resource_types,
            [ActionResource {
                index: 1,
                required: true
            }]
        );
        assert!(reference
            .action("s3", "ListAllMyBuckets")
            .is_some_and(|a| a.resource_types.is_empty()));
        assert_eq!(reference.escalation_methods()[0].actions, ["s3:putobject"]);
    }

    fn fails(text: &'static str) -> TableError {
        parse(text).expect_err("must not parse")
    }

    #[test]
    fn every_broken_line_is_an_error_naming_its_line() {
        // Out of order: look-ups are binary searches.
        assert_eq!(
            fails("#format fnctl-aws-reference 1\nS\tsqs\tSQS\nS\ts3\tS3\n").line,
            3
        );
        assert_eq!(
            fails("#format fnctl-aws-reference 1\nS\ts3\tS3\nA\tPut\tW\t\nA\tget\tR\t\n").line,
            4
        );
        assert_eq!(fails("#format fnctl-aws-reference 2\n").line, 1);
        assert!(fails("S\ts3\tS3\n").message.contains("no `#format"));
        assert_eq!(fails("#format fnctl-aws-reference 1\nA\tX\tW\t\n").line, 2);
        assert_eq!(
            fails("#format fnctl-aws-reference 1\nS\ts3\tS3\nA\tX\tQ\t\n").line,
            3
        );
        assert_eq!(
            fails("#format fnctl-aws-reference 1\nS\ts3\tS3\nA\tX\tW\t0\n").line,
            3
        );
        assert_eq!(
            fails("#format fnctl-aws-reference 1\nS\ts3\tS3\nA\tX\tW\t\nA\tx\tW\t\n").line,
            4
        );
        assert_eq!(
            fails("#format fnctl-aws-reference 1\nS\ts3\tS3\nS\tS3\tS3\n").line,
            3
        );
        assert_eq!(
            fails("#format fnctl-aws-reference 1\nS\ts3\tS3\nA\tX\tW\t\nR\tb\tarn:x\n").line,
            4
        );
        assert_eq!(
            fails("#format fnctl-aws-reference 1\nS\ts3\tS3\nR\tb\tnot-an-arn\n").line,
            3
        );
        assert_eq!(
            fails("#format fnctl-aws-reference 1\nS\ts3\tS3\nZ\n").line,
            3
        );
        assert_eq!(
            fails("#format fnctl-aws-reference 1\nS\ts3\tS3\nA\tX\tW\t\nE\tM\ts3:Y\n").line,
            4
        );
        assert_eq!(
            fails("#format fnctl-aws-reference 1\n").message,
            "no services"
        );
    }

    #[test]
    fn the_body_digest_sees_an_edit() {
        let (computed, recorded) = body_digests("#body-sha256 x\nS\ta\tb\n");
        assert_eq!(recorded.as_deref(), Some("x"));
        assert_ne!(Some(computed.clone()), recorded);
        assert_eq!(body_digests("S\ta\tb\n#c\n").0, computed);
    }
}
