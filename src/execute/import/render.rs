//! The YAML `fnctl import` writes: the manifest format the loader reads,
//! written by hand rather than by a serializer so that it reads as a
//! person would write it (the modeline, comments where a reviewer must
//! look, no `null` fields) and is byte-for-byte the same for the same input.

use std::fmt::Write as _;

use serde_json::Value;

use crate::manifest::spec::{
    BucketAccess, Effect, FunctionSpec, InstanceSpec, ManifestFile, PermissionSpec, RoleSpec,
    SegmentRegion,
};
use crate::model::function::SettingType;

/// Comment lines that go with one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comments {
    /// Above the instance: what a reviewer should know about it.
    pub above: Vec<String>,
    /// Above `allowWildcards` / `allowFindings`: the findings accepted.
    pub accepted: Vec<String>,
}

/// A manifest file with its leading comment lines and one [`Comments`] per
/// instance (in the order of `manifest.instances`).
pub(crate) fn manifest(
    header: &[String],
    manifest: &ManifestFile,
    comments: &[Comments],
) -> String {
    let mut out = String::new();
    for line in header {
        comment(&mut out, "", line);
    }
    let _ = writeln!(out, "version: {}", manifest.version);
    if let Some(defaults) = &manifest.defaults {
        out.push_str("defaults:\n");
        field(&mut out, "  ", "scope", defaults.scope.as_deref());
        field(&mut out, "  ", "account", defaults.account.as_deref());
        field(&mut out, "  ", "rolePath", defaults.role_path.as_deref());
        field(
            &mut out,
            "  ",
            "assumeRole",
            defaults.assume_role.as_deref(),
        );
        if let Some(accounts) = &defaults.segment_accounts {
            out.push_str("  segmentAccounts:\n");
            field(&mut out, "    ", "source", accounts.source.as_deref());
            field(
                &mut out,
                "    ",
                "destination",
                accounts.destination.as_deref(),
            );
        }
        if let Some(region) = defaults.segment.as_ref().and_then(|s| s.region) {
            let region = match region {
                SegmentRegion::Us => "us",
                SegmentRegion::Eu => "eu",
            };
            let _ = writeln!(out, "  segment: {{ region: {region} }}");
        }
    }
    functions(&mut out, &manifest.functions);
    if manifest.instances.is_empty() {
        out.push_str("instances: []\n");
        return out;
    }
    out.push_str("instances:\n");
    let none = Comments::default();
    for (position, spec) in manifest.instances.iter().enumerate() {
        instance(&mut out, spec, comments.get(position).unwrap_or(&none));
    }
    out
}

fn instance(out: &mut String, spec: &InstanceSpec, comments: &Comments) {
    for line in &comments.above {
        comment(out, "  ", line);
    }
    let _ = writeln!(out, "  - name: {}", scalar(&spec.name));
    let _ = writeln!(out, "    kind: {}", spec.kind.as_str());
    if let Some(role) = &spec.role {
        role_fields(out, role);
    }
    if let Some(bucket) = &spec.bucket {
        out.push_str("    bucket:\n");
        field(out, "      ", "name", Some(&bucket.name));
        field(out, "      ", "region", Some(&bucket.region));
        field(out, "      ", "prefix", bucket.prefix.as_deref());
        let access = match bucket.access {
            BucketAccess::Write => "write",
            BucketAccess::Read => "read",
            BucketAccess::ReadWrite => "read-write",
        };
        let _ = writeln!(out, "      access: {access}");
    }
    permissions(out, &spec.permissions);
    if !spec.managed_policies.is_empty() {
        out.push_str("    managedPolicies:\n");
        for arn in &spec.managed_policies {
            let _ = writeln!(out, "      - {}", scalar(arn));
        }
    }
    if let Some(segment) = &spec.segment {
        let mut parts = Vec::new();
        for (key, text) in [
            ("id", &segment.id),
            ("function", &segment.function),
            ("source", &segment.source),
        ] {
            if let Some(text) = text {
                parts.push(format!("{key}: {}", flow_scalar(text)));
            }
        }
        let _ = writeln!(out, "    segment: {{ {} }}", parts.join(", "));
    }
    map(
        out,
        "    ",
        "settings",
        spec.settings.iter().map(|(k, v)| (k, value(v))),
    );
    for line in &comments.accepted {
        comment(out, "    ", line);
    }
    if spec.allow_wildcards {
        out.push_str("    allowWildcards: true\n");
    }
    if !spec.allow_findings.is_empty() {
        let _ = writeln!(
            out,
            "    allowFindings: {}",
            flow_list(&spec.allow_findings)
        );
    }
}

/// `functions:`: each function, its code's path and its setting
/// definitions beyond fnctl's own, as Segment has them.
fn functions(out: &mut String, functions: &[FunctionSpec]) {
    if functions.is_empty() {
        return;
    }
    out.push_str("functions:\n");
    for function in functions {
        let _ = writeln!(out, "  - name: {}", scalar(&function.name));
        let _ = writeln!(out, "    kind: {}", function.kind.as_str());
        field(out, "    ", "code", Some(&function.code));
        field(out, "    ", "displayName", Some(&function.display_name));
        field(out, "    ", "description", function.description.as_deref());
        if function.settings.is_empty() {
            continue;
        }
        out.push_str("    settings:\n");
        for setting in &function.settings {
            let _ = writeln!(out, "      - name: {}", scalar(&setting.name));
            field(out, "        ", "label", setting.label.as_deref());
            field(
                out,
                "        ",
                "description",
                setting.description.as_deref(),
            );
            let kind = match setting.setting_type {
                SettingType::String => "string",
                SettingType::Boolean => "boolean",
                SettingType::Array => "array",
                SettingType::TextMap => "text-map",
            };
            let _ = writeln!(out, "        type: {kind}");
            for (key, on) in [
                ("required", setting.required),
                ("sensitive", setting.sensitive),
            ] {
                if on {
                    let _ = writeln!(out, "        {key}: true");
                }
            }
        }
    }
}

fn role_fields(out: &mut String, role: &RoleSpec) {
    out.push_str("    role:\n");
    field(out, "      ", "name", role.name.as_deref());
    field(out, "      ", "path", role.path.as_deref());
    field(out, "      ", "description", role.description.as_deref());
    if let Some(seconds) = role.max_session_duration {
        let _ = writeln!(out, "      maxSessionDuration: {seconds}");
    }
    let boundary = role.permissions_boundary.as_deref();
    field(out, "      ", "permissionsBoundary", boundary);
    let tags = role.tags.iter().map(|(k, v)| (k, scalar(v)));
    map(out, "      ", "tags", tags);
    let name = role.inline_policy_name.as_deref();
    field(out, "      ", "inlinePolicyName", name);
}

fn permissions(out: &mut String, permissions: &[PermissionSpec]) {
    if permissions.is_empty() {
        return;
    }
    out.push_str("    permissions:\n");
    for permission in permissions {
        let mut lead = "      - ";
        let mut line = |out: &mut String, text: String| {
            let _ = writeln!(out, "{lead}{text}");
            lead = "        ";
        };
        if let Some(sid) = &permission.sid {
            line(out, format!("sid: {}", scalar(sid)));
        }
        if permission.effect == Effect::Deny {
            line(out, "effect: Deny".to_string());
        }
        line(out, format!("actions: {}", flow_list(&permission.actions)));
        let resources = flow_list(&permission.resources);
        line(out, format!("resources: {resources}"));
        if let Some(conditions) = &permission.conditions {
            let text = serde_json::to_string(conditions).unwrap_or_default();
            line(out, format!("conditions: {text}"));
        }
    }
}

fn comment(out: &mut String, indent: &str, line: &str) {
    // One comment line per line of text: a line break would end the comment.
    for part in line.lines() {
        let _ = writeln!(out, "{indent}# {part}");
    }
}

fn field(out: &mut String, indent: &str, key: &str, text: Option<&str>) {
    if let Some(text) = text {
        let _ = writeln!(out, "{indent}{key}: {}", scalar(text));
    }
}

fn map<'a>(
    out: &mut String,
    indent: &str,
    key: &str,
    entries: impl Iterator<Item = (&'a String, String)>,
) {
    let mut entries = entries.peekable();
    if entries.peek().is_none() {
        return;
    }
    let _ = writeln!(out, "{indent}{key}:");
    for (name, text) in entries {
        let _ = writeln!(out, "{indent}  {}: {text}", scalar(name));
    }
}

/// A JSON value as YAML: strings as [`scalar`], anything else as JSON
/// (JSON is YAML's flow style).
fn value(value: &Value) -> String {
    match value {
        Value::String(text) => scalar(text),
        other => other.to_string(),
    }
}

/// `[a, b]`, each item plain where that is safe inside a flow list.
fn flow_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|item| flow_scalar(item)).collect();
    format!("[{}]", items.join(", "))
}

/// A string as a YAML scalar: plain where it reads back as the same
/// string, else double-quoted (a JSON string is a valid YAML one).
pub(crate) fn scalar(text: &str) -> String {
    if is_plain(text, "") {
        text.to_string()
    } else {
        quoted(text)
    }
}

/// [`scalar`] for an item of a flow list, where `,` `[` `]` `{` `}` end it.
fn flow_scalar(text: &str) -> String {
    if is_plain(text, ",[]{}") {
        text.to_string()
    } else {
        quoted(text)
    }
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// Words YAML (1.1 or 1.2) reads as something else than a string.
const SPECIAL_WORDS: &[&str] = &[
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
];

fn is_plain(text: &str, also_forbidden: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_./:@+=,*?-".contains(c);
    (first.is_ascii_alphabetic() || first == '_' || first == '/')
        && text.chars().all(allowed)
        && !text.chars().any(|c| also_forbidden.contains(c))
        && !text.ends_with(':')
        && !SPECIAL_WORDS.contains(&text.to_ascii_lowercase().as_str())
        && text.parse::<f64>().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a scalar back as the loader's YAML library does.
    fn reads_back(yaml: &str) -> Value {
        serde_yaml::from_str(yaml).expect("valid YAML")
    }

    #[test]
    fn scalars_read_back_as_the_same_strings() {
        let texts = [
            "plain-name",
            "arn:aws:s3:::bucket/segment/*",
            "*",
            "123456789012",
            "yes",
            "Null",
            "a: b",
            "with # hash",
            "",
            "1e3",
            "-leading",
            "trailing:",
            "quote\"and\\back",
            "multi\nline",
            "ünïcödé",
            "@at",
            "s3:*",
        ];
        for text in texts {
            let yaml = format!(
                "key: {}\nlist: {}\n",
                scalar(text),
                flow_list(&[text.to_string(), "b".into()])
            );
            let read = reads_back(&yaml);
            assert_eq!(read["key"], Value::String(text.into()), "{yaml}");
            assert_eq!(read["list"][0], Value::String(text.into()), "{yaml}");
            assert_eq!(read["list"][1], Value::String("b".into()), "{yaml}");
        }
        assert_eq!(
            scalar("arn:aws:iam::aws:policy/ReadOnly"),
            "arn:aws:iam::aws:policy/ReadOnly"
        );
        assert_eq!(scalar("123456789012"), "\"123456789012\"");
    }
}
