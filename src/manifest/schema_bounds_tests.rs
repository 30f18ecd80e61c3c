//! The schema an editor validates against and the loader agree on every
//! bound: each numeric or length bound of `schemas/fnctl.schema.json` is a
//! row here, and the loader accepts the value at it and refuses the one just
//! past it. A bound added to the schema without a row, or a row whose bound
//! the schema lost, fails the test.

use std::collections::BTreeSet;

use serde_json::Value;

use super::diagnostic::Severity;

/// The keywords that bound a value.
const BOUND_KEYWORDS: [&str; 10] = [
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
];

/// One bound: where the schema states it, and a manifest holding a value.
struct Bound {
    /// JSON pointer of the schema object holding the keyword.
    at: &'static str,
    keyword: &'static str,
    /// A manifest with `value` in the bounded place.
    manifest: fn(i64) -> String,
}

fn instance(extra: &str) -> String {
    format!("version: 1\ninstances:\n  - name: a\n    kind: source\n{extra}")
}

const BOUNDS: &[Bound] = &[
    Bound {
        at: "/properties/version",
        keyword: "minimum",
        manifest: |v| format!("version: {v}\ninstances: []\n"),
    },
    Bound {
        at: "/properties/version",
        keyword: "maximum",
        manifest: |v| format!("version: {v}\ninstances: []\n"),
    },
    Bound {
        at: "/$defs/RoleSpec/properties/maxSessionDuration",
        keyword: "minimum",
        manifest: |v| instance(&format!("    role: {{ maxSessionDuration: {v} }}\n")),
    },
    Bound {
        at: "/$defs/RoleSpec/properties/maxSessionDuration",
        keyword: "maximum",
        manifest: |v| instance(&format!("    role: {{ maxSessionDuration: {v} }}\n")),
    },
    Bound {
        at: "/$defs/ExternalIdSpec/properties/rotateAfterDays",
        keyword: "minimum",
        manifest: |v| instance(&format!("    externalId: {{ rotateAfterDays: {v} }}\n")),
    },
    Bound {
        at: "/$defs/Defaults/properties/scope",
        keyword: "minLength",
        manifest: scope,
    },
    Bound {
        at: "/$defs/Defaults/properties/scope",
        keyword: "maxLength",
        manifest: scope,
    },
    Bound {
        at: "/$defs/Defaults/properties/account",
        keyword: "minLength",
        manifest: account,
    },
    Bound {
        at: "/$defs/Defaults/properties/account",
        keyword: "maxLength",
        manifest: account,
    },
    Bound {
        at: "/$defs/Defaults/properties/rolePath",
        keyword: "minLength",
        manifest: role_path,
    },
    Bound {
        at: "/$defs/Defaults/properties/rolePath",
        keyword: "maxLength",
        manifest: role_path,
    },
    Bound {
        at: "/$defs/InstanceSpec/properties/name",
        keyword: "minLength",
        manifest: instance_name,
    },
    Bound {
        at: "/$defs/InstanceSpec/properties/name",
        keyword: "maxLength",
        manifest: instance_name,
    },
    Bound {
        at: "/$defs/InstanceSpec/properties/managedPolicies",
        keyword: "maxItems",
        manifest: |v| {
            let arns: Vec<String> = (0..v)
                .map(|n| format!("arn:aws:iam::aws:policy/Policy{n}"))
                .collect();
            instance(&format!("    managedPolicies: [{}]\n", arns.join(", ")))
        },
    },
    Bound {
        at: "/$defs/RoleSpec/properties/name",
        keyword: "minLength",
        manifest: role_name,
    },
    Bound {
        at: "/$defs/RoleSpec/properties/name",
        keyword: "maxLength",
        manifest: role_name,
    },
    Bound {
        at: "/$defs/RoleSpec/properties/description",
        keyword: "maxLength",
        manifest: |v| instance(&format!("    role: {{ description: \"{}\" }}\n", text(v))),
    },
    Bound {
        at: "/$defs/BucketSpec/properties/name",
        keyword: "minLength",
        manifest: bucket_name,
    },
    Bound {
        at: "/$defs/BucketSpec/properties/name",
        keyword: "maxLength",
        manifest: bucket_name,
    },
    Bound {
        at: "/$defs/BucketSpec/properties/prefix",
        keyword: "maxLength",
        manifest: |v| {
            instance(&format!(
                "    bucket: {{ name: exports, region: us-east-1, prefix: \"{}\" }}\n",
                text(v)
            ))
        },
    },
    Bound {
        at: "/$defs/SegmentSpec/properties/id",
        keyword: "minLength",
        manifest: segment_id,
    },
    Bound {
        at: "/$defs/SegmentSpec/properties/id",
        keyword: "maxLength",
        manifest: segment_id,
    },
];

/// `length` letters (none below zero).
fn text(length: i64) -> String {
    "a".repeat(usize::try_from(length).unwrap_or(0))
}

fn scope(length: i64) -> String {
    format!(
        "version: 1\ndefaults: {{ scope: \"{}\" }}\ninstances: []\n",
        text(length)
    )
}

fn account(length: i64) -> String {
    let digits = "1".repeat(usize::try_from(length).unwrap_or(0));
    format!("version: 1\ndefaults: {{ account: \"{digits}\" }}\ninstances: []\n")
}

fn role_path(length: i64) -> String {
    let path = match length {
        ..=0 => String::new(),
        1 => "/".into(),
        _ => format!("/{}/", text(length - 2)),
    };
    format!("version: 1\ndefaults: {{ rolePath: \"{path}\" }}\ninstances: []\n")
}

fn instance_name(length: i64) -> String {
    // The role is named, so that the default role name (longer) is not judged.
    format!(
        "version: 1\ninstances:\n  - name: \"{}\"\n    kind: source\n    role: {{ name: r }}\n",
        text(length)
    )
}

fn role_name(length: i64) -> String {
    instance(&format!("    role: {{ name: \"{}\" }}\n", text(length)))
}

fn bucket_name(length: i64) -> String {
    instance(&format!(
        "    bucket: {{ name: \"{}\", region: us-east-1 }}\n",
        text(length)
    ))
}

fn segment_id(length: i64) -> String {
    instance(&format!("    segment: {{ id: \"{}\" }}\n", text(length)))
}

/// Every (pointer, keyword, value) bound the schema states.
fn schema_bounds(at: &str, value: &Value, found: &mut Vec<(String, String, i64)>) {
    match value {
        Value::Object(fields) => {
            for (key, inner) in fields {
                if BOUND_KEYWORDS.contains(&key.as_str()) {
                    let bound = inner
                        .as_i64()
                        .unwrap_or_else(|| panic!("{at}/{key}: a bound is an integer"));
                    found.push((at.to_string(), key.clone(), bound));
                }
                let escaped = key.replace('~', "~0").replace('/', "~1");
                schema_bounds(&format!("{at}/{escaped}"), inner, found);
            }
        }
        Value::Array(items) => {
            for (index, inner) in items.iter().enumerate() {
                schema_bounds(&format!("{at}/{index}"), inner, found);
            }
        }
        _ => {}
    }
}

/// The loader's errors for a manifest text.
fn errors(text: &str) -> Vec<String> {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let path = folder.path().join("bounds.yaml");
    std::fs::write(&path, text).expect("writing the manifest");
    super::load(&[path])
        .diagnostics
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{} {}", d.code, d.message))
        .collect()
}

#[test]
fn the_loader_and_the_schema_agree_on_every_bound() {
    let schema: Value = serde_json::from_str(include_str!("../../schemas/fnctl.schema.json"))
        .expect("the checked-in schema is JSON");
    let mut stated = Vec::new();
    schema_bounds("", &schema, &mut stated);
    let in_schema: BTreeSet<(String, String)> = stated
        .iter()
        .map(|(at, keyword, _)| (at.clone(), keyword.clone()))
        .collect();
    let in_table: BTreeSet<(String, String)> = BOUNDS
        .iter()
        .map(|b| (b.at.to_string(), b.keyword.to_string()))
        .collect();
    assert_eq!(
        in_schema, in_table,
        "every bound of the schema has a row here, and every row's bound is in the schema"
    );
    for (at, keyword, bound) in &stated {
        let row = BOUNDS
            .iter()
            .find(|b| b.at == at && b.keyword == keyword)
            .expect("a row, as compared above");
        let (inside, outside) = match keyword.as_str() {
            "minimum" | "minLength" | "minItems" | "minProperties" => (*bound, bound - 1),
            "maximum" | "maxLength" | "maxItems" | "maxProperties" => (*bound, bound + 1),
            "exclusiveMinimum" => (bound + 1, *bound),
            _ => (bound - 1, *bound),
        };
        let accepted = errors(&(row.manifest)(inside));
        assert!(
            accepted.is_empty(),
            "{at} {keyword} {bound}: the loader refuses {inside}, which the schema allows: {accepted:?}"
        );
        assert!(
            !errors(&(row.manifest)(outside)).is_empty(),
            "{at} {keyword} {bound}: the loader accepts {outside}, which the schema refuses"
        );
    }
}
