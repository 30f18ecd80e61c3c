//! The untrusted-input guarantee: the manifest loader never panics, whatever
//! the file holds — arbitrary bytes, YAML-ish text built from the manifest's
//! own field names, alias bombs, absurd nesting — and every problem it
//! reports has a real place (line and column from 1). And the promise that a
//! wrong type hides nothing: the value-by-value read agrees with serde where
//! serde reads, and mistyping one field changes no other diagnostic.

use std::path::{Path, PathBuf};

use fnctl::manifest::recover::{self, ProblemKind};
use fnctl::manifest::spec::ManifestFile;
use fnctl::manifest::{self, ManifestSet};
use proptest::prelude::*;

use crate::support::command::fnctl_offline;
use crate::support::env::{workspace, write_file};

/// Cases per property: enough to find shallow bugs, few enough to stay fast.
const CASES: u32 = 256;

/// Writes `bytes` to a fresh temp file and loads it through the library.
fn load_bytes(bytes: &[u8]) -> (ManifestSet, tempfile::TempDir) {
    let dir = workspace();
    let path = dir.path().join("manifest.yaml");
    std::fs::write(&path, bytes).expect("write manifest");
    (manifest::load(&[path]), dir)
}

/// Every diagnostic is placed at a real position of the file.
fn assert_placed(set: &ManifestSet, text: &[u8]) -> Result<(), TestCaseError> {
    // YAML breaks lines at `\r\n`, `\n` and a lone `\r`.
    let lines = 1 + text
        .iter()
        .enumerate()
        .filter(|(n, b)| **b == b'\n' || (**b == b'\r' && text.get(n + 1) != Some(&b'\n')))
        .count();
    for d in &set.diagnostics {
        prop_assert!(d.line >= 1, "line 0 in {d:?}");
        prop_assert!(d.column >= 1, "column 0 in {d:?}");
        prop_assert!(d.line <= lines + 1, "line {} past the end in {d:?}", d.line);
        prop_assert!(!d.code.as_str().is_empty(), "no code in {d:?}");
    }
    Ok(())
}

// ---------------------------------------------------------- arbitrary bytes

/// Bytes that often look like YAML: its indicators, newlines and indentation.
fn yamlish_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(
            b" \n\t-:?,[]{}#&*!|>'\"%@`~.0123456789abcdefnstuvxyz\\\r".to_vec()
        ),
        1 => any::<u8>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let (set, _dir) = load_bytes(&bytes);
        assert_placed(&set, &bytes)?;
    }

    #[test]
    fn yaml_punctuation_soup_never_panics(bytes in prop::collection::vec(yamlish_byte(), 0..512)) {
        let mut text = b"version: 1\n".to_vec();
        text.extend_from_slice(&bytes);
        let (set, _dir) = load_bytes(&text);
        assert_placed(&set, &text)?;
    }
}

// ------------------------------------------------------ grammar-built YAML

/// Field names of the manifest format, plus a few it does not have.
const KEYS: &[&str] = &[
    "version",
    "defaults",
    "scope",
    "account",
    "rolePath",
    "tags",
    "assumeRole",
    "segmentAccounts",
    "source",
    "destination",
    "instances",
    "name",
    "kind",
    "role",
    "description",
    "maxSessionDuration",
    "permissionsBoundary",
    "bucket",
    "region",
    "prefix",
    "access",
    "permissions",
    "actions",
    "resources",
    "effect",
    "conditions",
    "managedPolicies",
    "externalId",
    "rotateAfterDays",
    "settings",
    "allowWildcards",
    "bogus",
    "aws:tag",
    "fnctl:scope",
    "\"quoted key\"",
    "? complex",
];

/// Scalars a manifest might (or should never) hold.
const SCALARS: &[&str] = &[
    "1",
    "2",
    "0",
    "-1",
    "3600",
    "43201",
    "99999999999999999999999",
    "1.5",
    ".inf",
    "012345678901",
    "\"012345678901\"",
    "\"12345678901\"",
    "true",
    "null",
    "~",
    "\"\"",
    "''",
    "source",
    "destination",
    "write",
    "read-write",
    "Allow",
    "Deny",
    "\"*\"",
    "s3:*",
    "iam:PassRole",
    "sts:AssumeRole",
    "arn:aws:iam::123456789012:policy/boundary",
    "arn:aws:sqs:us-west-2:123456789012:q",
    "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "us-west-2",
    "a..b",
    "192.168.5.4",
    "xn--abc",
    "/segment-functions/",
    "segment-fn-x",
    "iamRoleArn",
    "\"\\u0000\\t\\uD800\"",
    "\"é ü 💥\"",
    "!!str 5",
    "!!binary aGVsbG8=",
    "!custom tag",
    "&anchor value",
    "*anchor",
    "*undefined",
    "|\n  literal",
    ">-\n  folded",
    "<<",
];

#[derive(Debug, Clone)]
enum Node {
    Scalar(String),
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    /// The same node in flow style (`{…}` / `[…]`).
    Flow(Box<Node>),
}

fn scalar() -> impl Strategy<Value = Node> {
    prop_oneof![
        4 => prop::sample::select(SCALARS).prop_map(|s| Node::Scalar(s.to_string())),
        1 => "[a-zA-Z0-9 _:./*@#&!?,-]{0,16}".prop_map(Node::Scalar),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-zA-Z][a-zA-Z0-9_:-]{0,8}",
    ]
}

/// A mapping without repeated keys (a repeated key is a plain error that
/// would hide every other path through the loader).
fn map_of(entries: Vec<(String, Node)>) -> Node {
    let mut seen = std::collections::HashSet::new();
    Node::Map(
        entries
            .into_iter()
            .filter(|(k, _)| seen.insert(k.clone()))
            .collect(),
    )
}

fn node() -> impl Strategy<Value = Node> {
    scalar().prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            3 => prop::collection::vec((key(), inner.clone()), 0..6).prop_map(map_of),
            2 => prop::collection::vec(inner.clone(), 0..4).prop_map(Node::Seq),
            1 => inner.prop_map(|n| Node::Flow(Box::new(n))),
        ]
    })
}

/// An instance: usually a name and a kind, then random fields.
fn instance() -> impl Strategy<Value = Node> {
    (
        any::<bool>(),
        "[a-z][a-z0-9-]{0,10}",
        prop::sample::select(&["source", "destination", "sink"][..]),
        prop::collection::vec((key(), node()), 0..5),
    )
        .prop_map(|(named, name, kind, rest)| {
            let mut entries = Vec::new();
            if named {
                entries.push(("name".to_string(), Node::Scalar(name)));
                entries.push(("kind".to_string(), Node::Scalar(kind.to_string())));
            }
            entries.extend(rest.into_iter().filter(|(k, _)| k != "name" && k != "kind"));
            map_of(entries)
        })
}

/// Scalars that read as strings: right or wrong for a field, but they get
/// past deserializing to the checks.
const STRINGS: &[&str] = &[
    "acme-events-prod",
    "Upper-Case",
    "a..b",
    "192.168.5.4",
    "xn--abc",
    "abc-s3alias",
    "us-west-2",
    "us-middle-1",
    "segment/",
    "/abs",
    "write",
    "read",
    "read-write",
    "Allow",
    "Deny",
    "\"*\"",
    "s3:*",
    "s3:PutObject",
    "iam:PassRole",
    "sts:AssumeRole",
    "arn:aws:iam::123456789012:policy/boundary",
    "arn:aws:iam::12345:policy/x",
    "arn:aws:sqs:us-west-2:123456789012:q",
    "arn:aws:s3:::bucket/*",
    "not-an-arn",
    "role name",
    "segment-fn-x",
    "iamRoleArn",
    "s3Bucket",
    "aws:tag",
    "\"\"",
    "3600",
    "100",
    "\"é ü 💥\"",
];

fn field_scalar() -> impl Strategy<Value = Node> {
    prop_oneof![
        6 => prop::sample::select(STRINGS).prop_map(|s| Node::Scalar(s.to_string())),
        1 => scalar(),
    ]
}

/// `key: value` entries for the fields that are present.
fn present(fields: Vec<(&str, Option<Node>)>) -> Node {
    map_of(
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect(),
    )
}

/// Mostly one of `good`, sometimes any field scalar.
fn one_of(good: &'static [&'static str]) -> impl Strategy<Value = Node> {
    prop_oneof![
        5 => prop::sample::select(good).prop_map(|s| Node::Scalar(s.to_string())),
        1 => field_scalar(),
    ]
}

fn scalar_list(max: usize) -> impl Strategy<Value = Node> {
    prop::collection::vec(field_scalar(), 0..max).prop_map(Node::Seq)
}

fn scalar_map(max: usize) -> impl Strategy<Value = Node> {
    prop::collection::vec((key(), field_scalar()), 0..max).prop_map(map_of)
}

/// An instance shaped like the format (right keys, random scalars), so
/// that many cases get past deserializing into the checks themselves.
fn shaped_instance() -> impl Strategy<Value = Node> {
    let role = (
        prop::option::of(field_scalar()),
        prop::option::of(field_scalar()),
        prop::option::of(one_of(&["3600", "43200", "3599", "43201", "-1"])),
        prop::option::of(field_scalar()),
        prop::option::of(scalar_map(4)),
    )
        .prop_map(|(name, description, duration, boundary, tags)| {
            present(vec![
                ("name", name),
                ("description", description),
                ("maxSessionDuration", duration),
                ("permissionsBoundary", boundary),
                ("tags", tags),
            ])
        });
    let bucket = (
        field_scalar(),
        field_scalar(),
        prop::option::of(field_scalar()),
        prop::option::of(one_of(&["write", "read", "read-write"])),
    )
        .prop_map(|(name, region, prefix, access)| {
            present(vec![
                ("name", Some(name)),
                ("region", Some(region)),
                ("prefix", prefix),
                ("access", access),
            ])
        });
    let permission = (
        scalar_list(4),
        scalar_list(3),
        prop::option::of(one_of(&["Allow", "Deny"])),
        prop::option::of(prop::collection::vec((key(), scalar_map(2)), 0..2).prop_map(map_of)),
    )
        .prop_map(|(actions, resources, effect, conditions)| {
            present(vec![
                ("actions", Some(actions)),
                ("resources", Some(resources)),
                ("effect", effect),
                ("conditions", conditions),
            ])
        });
    (
        "[a-zA-Z0-9._-]{1,70}",
        prop::sample::select(&["source", "destination"][..]),
        prop::option::of(role),
        prop::option::of(bucket),
        prop::option::of(prop::collection::vec(permission, 0..3).prop_map(Node::Seq)),
        prop::option::of(scalar_list(3)),
        prop::option::of(scalar_map(3)),
        prop::option::of(prop::sample::select(&["true", "false"][..])),
    )
        .prop_map(
            |(name, kind, role, bucket, permissions, managed, settings, wildcards)| {
                present(vec![
                    ("name", Some(Node::Scalar(name))),
                    ("kind", Some(Node::Scalar(kind.to_string()))),
                    ("role", role),
                    ("bucket", bucket),
                    ("permissions", permissions),
                    ("managedPolicies", managed),
                    ("settings", settings),
                    (
                        "allowWildcards",
                        wildcards.map(|w| Node::Scalar(w.to_string())),
                    ),
                ])
            },
        )
}

/// A document: usually `version: 1`, some top-level fields, instances.
fn document() -> impl Strategy<Value = (Node, usize)> {
    (
        prop_oneof![
            4 => Just(Some(Node::Scalar("1".into()))),
            1 => scalar().prop_map(Some),
            1 => Just(None),
        ],
        prop::collection::vec((key(), node()), 0..2),
        prop::collection::vec(prop_oneof![1 => instance(), 3 => shaped_instance()], 0..4),
        any::<bool>(),
    )
        .prop_map(|(version, top, instances, flow_instances)| {
            let count = instances.len();
            let mut entries = Vec::new();
            if let Some(version) = version {
                entries.push(("version".to_string(), version));
            }
            let list = Node::Seq(instances);
            entries.push((
                "instances".to_string(),
                if flow_instances {
                    Node::Flow(Box::new(list))
                } else {
                    list
                },
            ));
            entries.extend(
                top.into_iter()
                    .filter(|(k, _)| k != "version" && k != "instances"),
            );
            (map_of(entries), count)
        })
}

fn render_flow(node: &Node, out: &mut String) {
    match node {
        Node::Scalar(s) => out.push_str(s),
        Node::Flow(inner) => render_flow(inner, out),
        Node::Map(entries) => {
            out.push('{');
            for (n, (k, v)) in entries.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push_str(": ");
                render_flow(v, out);
            }
            out.push('}');
        }
        Node::Seq(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                render_flow(item, out);
            }
            out.push(']');
        }
    }
}

/// The value after `key:` or `-`: inline for scalars, flow and empty
/// collections, else on the following lines, indented.
fn render_value(node: &Node, indent: usize, out: &mut String) {
    match node {
        Node::Map(entries) if !entries.is_empty() => {
            out.push('\n');
            render_block(node, indent + 2, out);
        }
        Node::Seq(items) if !items.is_empty() => {
            out.push('\n');
            render_block(node, indent + 2, out);
        }
        Node::Scalar(s) => {
            out.push(' ');
            // Block scalars carry their own lines: indent them under the key.
            out.push_str(&s.replace('\n', &format!("\n{}", " ".repeat(indent + 2))));
            out.push('\n');
        }
        other => {
            out.push(' ');
            render_flow(other, out);
            out.push('\n');
        }
    }
}

fn render_block(node: &Node, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match node {
        Node::Map(entries) => {
            for (k, v) in entries {
                out.push_str(&pad);
                out.push_str(k);
                out.push(':');
                render_value(v, indent, out);
            }
        }
        Node::Seq(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                render_value(item, indent, out);
            }
        }
        other => render_value(other, indent, out),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn grammar_built_yaml_never_panics((doc, instances) in document()) {
        let mut text = String::new();
        render_block(&doc, 0, &mut text);
        let (set, _dir) = load_bytes(text.as_bytes());
        assert_placed(&set, text.as_bytes())?;
        if set.has_errors() {
            prop_assert!(!set.diagnostics.is_empty());
        } else {
            // A valid document yields every instance it declares.
            prop_assert_eq!(set.instances.len(), instances, "{}", text);
        }
    }
}

// ------------------------------------------- reading value by value

/// A manifest's content as JSON, to compare two reads of it.
fn content(manifest: &ManifestFile) -> serde_json::Value {
    serde_json::to_value(manifest).expect("a manifest serializes")
}

/// A tree position: the child taken at each level (entry of a map, element
/// of a sequence; a flow wrapper is stepped through).
type Address = Vec<usize>;

/// Leaves whose value no other check depends on, as steps under an
/// instance: a key, `#` for any element, `*` for any (plain) map key.
const INDEPENDENT_LEAVES: &[&[&str]] = &[
    &["role", "description"],
    &["role", "permissionsBoundary"],
    &["role", "maxSessionDuration"],
    &["role", "tags", "*"],
    &["bucket", "prefix"],
    &["permissions", "#", "actions", "#"],
    &["permissions", "#", "resources", "#"],
];

fn unwrap_flow(node: &Node) -> (&Node, bool) {
    match node {
        Node::Flow(inner) => (inner, true),
        other => (other, false),
    }
}

/// Follows `steps` from `node`, collecting (address, field path) of every match.
fn find_leaves(
    node: &Node,
    steps: &[&str],
    address: Address,
    field: String,
    found: &mut Vec<(Address, String)>,
) {
    let Some((step, rest)) = steps.split_first() else {
        // A scalar that is there (an empty one in a flow list is no
        // element) and defines no anchor another node may use.
        if let Node::Scalar(text) = node {
            if !text.trim().is_empty() && !text.starts_with('&') {
                found.push((address, field));
            }
        }
        return;
    };
    let (node, wrapped) = unwrap_flow(node);
    let mut address = address;
    if wrapped {
        address.push(0);
    }
    match (node, *step) {
        (Node::Seq(items), "#") => {
            for (n, item) in items.iter().enumerate() {
                let mut next = address.clone();
                next.push(n);
                find_leaves(item, rest, next, format!("{field}[{n}]"), found);
            }
        }
        (Node::Map(entries), step) => {
            for (n, (key, value)) in entries.iter().enumerate() {
                let plain = !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_:-".contains(c));
                if (step == "*" && plain) || key == step {
                    let mut next = address.clone();
                    next.push(n);
                    find_leaves(value, rest, next, format!("{field}.{key}"), found);
                }
            }
        }
        _ => {}
    }
}

fn replace_at(node: &mut Node, address: &[usize], new: Node) {
    let Some((first, rest)) = address.split_first() else {
        *node = new;
        return;
    };
    match node {
        Node::Flow(inner) => replace_at(inner, rest, new),
        Node::Map(entries) => replace_at(&mut entries[*first].1, rest, new),
        Node::Seq(items) => replace_at(&mut items[*first], rest, new),
        Node::Scalar(_) => unreachable!("addresses lead through containers"),
    }
}

/// Every independent scalar leaf of every instance of a document.
fn independent_leaves(doc: &Node) -> Vec<(Address, String)> {
    let mut found = Vec::new();
    let Node::Map(entries) = doc else {
        return found;
    };
    for (n, (key, instances)) in entries.iter().enumerate() {
        if key != "instances" {
            continue;
        }
        let (list, wrapped) = unwrap_flow(instances);
        let Node::Seq(items) = list else { continue };
        for (i, item) in items.iter().enumerate() {
            let mut address = vec![n];
            if wrapped {
                address.push(0);
            }
            address.push(i);
            for steps in INDEPENDENT_LEAVES {
                find_leaves(
                    item,
                    steps,
                    address.clone(),
                    format!("instances[{i}]"),
                    &mut found,
                );
            }
        }
    }
    found
}

/// The value at a field path like `instances[0].role.tags.k` (keys of
/// letters, digits and `_:-` only, as `find_leaves` picks them).
fn value_at<'v>(
    value: &'v mut serde_yaml::Value,
    field: &str,
) -> Option<&'v mut serde_yaml::Value> {
    let mut current = value;
    for part in field.split('.') {
        let mut pieces = part.split('[');
        let key = pieces.next()?;
        current = current.get_mut(key)?;
        for index in pieces {
            current = current.get_mut(index.strip_suffix(']')?.parse::<usize>().ok()?)?;
        }
    }
    Some(current)
}

/// (severity, code, field) of every diagnostic, sorted.
fn summary(set: &ManifestSet) -> Vec<(String, String, String)> {
    let mut list: Vec<(String, String, String)> = set
        .diagnostics
        .iter()
        .map(|d| {
            (
                format!("{:?}", d.severity),
                d.code.to_string(),
                d.field.clone(),
            )
        })
        .collect();
    list.sort();
    list
}

fn at_or_under(field: &str, leaf: &str) -> bool {
    field == leaf
        || field
            .strip_prefix(leaf)
            .is_some_and(|rest| rest.starts_with(['.', '[']))
}

/// Documents of shaped instances, which usually have independent leaves.
fn shaped_document() -> impl Strategy<Value = (Node, usize)> {
    prop::collection::vec(shaped_instance(), 1..4).prop_map(|instances| {
        let count = instances.len();
        let doc = Node::Map(vec![
            ("version".to_string(), Node::Scalar("1".into())),
            ("instances".to_string(), Node::Seq(instances)),
        ]);
        (doc, count)
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Documents without an independent leaf are skipped.
        max_global_rejects: 100_000,
        ..ProptestConfig::with_cases(CASES)
    })]

    /// The value-by-value read follows serde_yaml: where serde reads a
    /// document, it reads the same content and finds nothing but the unknown
    /// fields serde skips.
    #[test]
    fn the_lenient_read_agrees_with_serde_where_serde_reads((doc, _) in document()) {
        let mut text = String::new();
        render_block(&doc, 0, &mut text);
        // serde_yaml refuses some documents as a `Value` that it reads as a
        // manifest (an integer beyond 64 bits under an unknown field): the
        // loader then keeps the strict read's error alone, as before.
        let as_value = serde_yaml::from_str::<serde_yaml::Value>(&text);
        if let (Ok(strict), Ok(_)) = (serde_yaml::from_str::<ManifestFile>(&text), as_value) {
            let lenient = recover::read_manifest(&text);
            prop_assert!(lenient.is_some(), "the lenient read refused\n{}", text);
            let lenient = lenient.unwrap();
            prop_assert_eq!(content(&lenient.manifest), content(&strict), "{}", text);
            for problem in &lenient.problems {
                prop_assert_eq!(problem.kind, ProblemKind::UnknownField, "{:?}\n{}", problem, text);
            }
        }
    }

    /// A wrong type in one field changes nothing but that field's own
    /// diagnostics: every other problem is still reported, and nothing new
    /// appears but the wrong type itself.
    #[test]
    fn a_wrong_type_in_one_field_changes_nothing_else(
        (doc, _) in prop_oneof![document(), shaped_document()],
        pick in any::<prop::sample::Index>(),
    ) {
        let leaves = independent_leaves(&doc);
        prop_assume!(!leaves.is_empty());
        let mut text = String::new();
        render_block(&doc, 0, &mut text);
        // Documents the lenient read cannot take at all (YAML syntax, no
        // mapping) report one parse error whatever they hold.
        prop_assume!(recover::read_manifest(&text).is_some());
        let (address, leaf) = &leaves[pick.index(leaves.len())];
        let mut mistyped = doc.clone();
        let nested = Node::Flow(Box::new(Node::Seq(vec![Node::Seq(vec![Node::Scalar("x".into())])])));
        replace_at(&mut mistyped, address, nested);
        let mut mistyped_text = String::new();
        render_block(&mistyped, 0, &mut mistyped_text);
        // The rendered YAML must mean what the tree says (a scalar like `#`
        // can turn the rest of a line into a comment): the leaf is a scalar
        // before and the nested list after.
        let parsed = |text: &str| serde_yaml::from_str::<serde_yaml::Value>(text).ok();
        let (Some(mut expected_yaml), Some(changed)) = (parsed(&text), parsed(&mistyped_text)) else {
            return Err(TestCaseError::reject("not YAML"));
        };
        let replaced = value_at(&mut expected_yaml, leaf)
            .filter(|v| !v.is_sequence() && !v.is_mapping() && !v.is_null())
            .map(|v| *v = serde_yaml::from_str("[[x]]").expect("YAML"))
            .is_some();
        prop_assume!(replaced && expected_yaml == changed);

        let (before, _dir) = load_bytes(text.as_bytes());
        let (after, _dir2) = load_bytes(mistyped_text.as_bytes());
        // The reference lint judges an action by the resources (and other
        // actions) of its statements: a mistyped permission item takes away
        // part of what these findings are about, so they are not "other"
        // problems of that instance's permissions.
        let cross_field = |(_, code, field): &(String, String, String)| {
            leaf.contains(".permissions[")
                && field.split(".permissions[").next() == leaf.split(".permissions[").next()
                && ["resource-mismatch", "privilege-escalation", "resource-exposure", "unused-resource"]
                    .contains(&code.as_str())
        };
        let mut expected: Vec<(String, String, String)> = summary(&before)
            .into_iter()
            .filter(|(_, _, field)| !at_or_under(field, leaf))
            .filter(|item| !cross_field(item))
            .collect();
        expected.push(("Error".into(), "wrong-type".into(), leaf.clone()));
        expected.sort();
        let after: Vec<(String, String, String)> =
            summary(&after).into_iter().filter(|item| !cross_field(item)).collect();
        prop_assert_eq!(
            after,
            expected,
            "mistyped {}\n--- before ---\n{}\n--- after ---\n{}",
            leaf,
            text,
            mistyped_text
        );
    }
}

// ----------------------------------------------------- hostile documents

/// Ten levels of ten-fold aliases: a billion "lol"s if expanded.
fn billion_laughs() -> String {
    let mut text = String::from("version: 1\n");
    text.push_str(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names: Vec<char> = "abcdefghij".chars().collect();
    for pair in names.windows(2) {
        let (previous, current) = (pair[0], pair[1]);
        let refs = vec![format!("*{previous}"); 10].join(",");
        text.push_str(&format!("{current}: &{current} [{refs}]\n"));
    }
    text.push_str("instances: *j\n");
    text
}

#[test]
fn a_billion_laughs_is_rejected() {
    let text = billion_laughs();
    let (set, _dir) = load_bytes(text.as_bytes());
    // Unknown top-level fields are skipped without expanding their aliases;
    // `instances: *j` fails on its first element. Either way: an error.
    assert!(set.has_errors(), "{:#?}", set.diagnostics);
    assert_placed(&set, text.as_bytes()).unwrap();
}

#[test]
fn a_billion_laughs_inside_settings_is_rejected() {
    // `settings` takes any value, so nothing but the expansion limit stops it.
    let mut text =
        String::from("version: 1\ninstances:\n  - name: x\n    kind: source\n    settings:\n");
    text.push_str("      a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let names: Vec<char> = "abcdefghij".chars().collect();
    for pair in names.windows(2) {
        let refs = vec![format!("*{}", pair[0]); 10].join(",");
        text.push_str(&format!("      {}: &{} [{refs}]\n", pair[1], pair[1]));
    }
    let (set, _dir) = load_bytes(text.as_bytes());
    assert!(
        set.diagnostics.iter().any(|d| d.code == "yaml-too-complex"),
        "{:#?}",
        set.diagnostics
    );
    assert_placed(&set, text.as_bytes()).unwrap();
}

const DEPTH: usize = 10_000;

fn deep_flow_sequence() -> String {
    format!(
        "version: 1\ninstances: {}{}\n",
        "[".repeat(DEPTH),
        "]".repeat(DEPTH)
    )
}

fn deep_flow_mapping() -> String {
    format!(
        "version: 1\ninstances:\n  - name: x\n    kind: source\n    settings: {}1{}\n",
        "{a: ".repeat(DEPTH),
        "}".repeat(DEPTH)
    )
}

fn deep_block_sequence() -> String {
    format!("version: 1\ninstances:\n  {}x\n", "- ".repeat(DEPTH))
}

/// Runs in-process: the loader indexes event by event with a depth limit,
/// so hostile nesting cannot overflow the stack (if it ever did again, the
/// whole test binary would abort: a loud failure all the same).
#[test]
fn ten_thousand_deep_nesting_is_rejected() {
    for (what, text) in [
        ("flow sequence", deep_flow_sequence()),
        ("flow mapping", deep_flow_mapping()),
        ("block sequence", deep_block_sequence()),
    ] {
        eprintln!("loading a 10,000-deep {what}");
        let (set, _dir) = load_bytes(text.as_bytes());
        assert!(
            set.has_errors(),
            "{what}: 10,000-deep nesting accepted: {:#?}",
            set.diagnostics
        );
        assert_placed(&set, text.as_bytes()).unwrap();
    }
}

/// The binary too survives hostile files (a stack overflow would kill it
/// with a signal instead of exit 1).
#[test]
fn the_binary_rejects_hostile_files_with_exit_1() {
    let dir = workspace();
    let files: Vec<PathBuf> = vec![
        write_file(&dir, "laughs.yaml", &billion_laughs()),
        write_file(&dir, "deep-seq.yaml", &deep_flow_sequence()),
        write_file(&dir, "deep-map.yaml", &deep_flow_mapping()),
        write_file(&dir, "deep-block.yaml", &deep_block_sequence()),
    ];
    for file in &files {
        let out = fnctl_offline()
            .args(["validate", "--format", "json", "-f"])
            .arg(file)
            .run();
        let name = Path::new(file).file_name().unwrap().to_string_lossy();
        assert!(
            out.status == 1 && out.stdout.contains(name.as_ref()),
            "fnctl validate -f {name}: exit {} (expected 1 and a JSON report naming the file)\n--- stderr ---\n{}",
            out.status,
            out.stderr
        );
    }
}
