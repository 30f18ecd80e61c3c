//! Scopes of N generated instances (for the fault, kill, concurrency and
//! secret tests) and the checks they share: IAM read back in one call, every
//! generated role compared with its manifest, bundle folders read and
//! checked, and which bundles the live trust policies would reject.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::percent::decode_document;
use super::spec::{role_of, DESTINATION_ACCOUNT, INLINE, PATH, SOURCE_ACCOUNT};
use super::trust::{as_list, external_ids, strings, trust_accepts};

/// Name of generated instance `i`.
pub fn instance_name(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:03}")
}

/// A manifest of `count` instances `prefix-000…` in `scope`, alternating
/// destination (write bucket, user tag) and source (read bucket).
pub fn generated_manifest(scope: &str, prefix: &str, count: usize) -> String {
    let mut text = format!(
        "version: 1\ndefaults:\n  scope: {scope}\n  rolePath: {PATH}\n  tags: {{ team: data }}\ninstances:\n"
    );
    for i in 0..count {
        let name = instance_name(prefix, i);
        if i % 2 == 0 {
            text.push_str(&format!(
                "  - name: {name}\n    kind: destination\n    role:\n      tags: {{ idx: \"{i}\" }}\n    bucket:\n      name: bucket-{name}\n      region: us-west-2\n      prefix: p{i}/\n      access: write\n"
            ));
        } else {
            text.push_str(&format!(
                "  - name: {name}\n    kind: source\n    role:\n      tags: {{ idx: \"{i}\" }}\n    bucket:\n      name: bucket-{name}\n      region: us-east-1\n      access: read\n"
            ));
        }
    }
    text
}

/// A role as GetAccountAuthorizationDetails shows it (documents decoded).
#[derive(Debug, Clone)]
pub struct LiveRole {
    pub name: String,
    pub path: String,
    pub arn: String,
    pub tags: BTreeMap<String, String>,
    pub trust: Value,
    pub inline: BTreeMap<String, Value>,
    pub attached: BTreeSet<String>,
}

impl LiveRole {
    pub fn external_ids(&self) -> Vec<String> {
        external_ids(&self.trust)
    }
}

/// Every role of the account, by name, in one GetAccountAuthorizationDetails
/// call (moto answers in one page; pages are followed anyway).
pub async fn live_roles(iam: &aws_sdk_iam::Client) -> BTreeMap<String, LiveRole> {
    let mut roles = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .get_account_authorization_details()
            .filter(aws_sdk_iam::types::EntityType::Role)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetAccountAuthorizationDetails: {e:?}"));
        for detail in page.role_detail_list() {
            let name = detail.role_name().unwrap_or_default().to_string();
            let trust = decode_document(detail.assume_role_policy_document().unwrap_or("{}"));
            let inline = detail
                .role_policy_list()
                .iter()
                .map(|p| {
                    (
                        p.policy_name().unwrap_or_default().to_string(),
                        decode_document(p.policy_document().unwrap_or("{}")),
                    )
                })
                .collect();
            let attached = detail
                .attached_managed_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string))
                .collect();
            let tags = detail
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            roles.insert(
                name.clone(),
                LiveRole {
                    name,
                    path: detail.path().unwrap_or_default().to_string(),
                    arn: detail.arn().unwrap_or_default().to_string(),
                    tags,
                    trust,
                    inline,
                    attached,
                },
            );
        }
        if page.is_truncated() {
            marker = page.marker().map(str::to_string);
        } else {
            return roles;
        }
    }
}

/// What is wrong with generated instances `0..count` of `prefix`, by role
/// name (only roles with problems), read against `roles` and `bundles`.
pub fn problems_of_all_generated(
    scope: &str,
    prefix: &str,
    count: usize,
    roles: &BTreeMap<String, LiveRole>,
    bundles: &BTreeMap<String, BundleFile>,
) -> BTreeMap<String, Vec<String>> {
    let mut by_role = BTreeMap::new();
    for i in 0..count {
        let instance = instance_name(prefix, i);
        let found = problems_of_generated(
            scope,
            prefix,
            i,
            roles.get(&role_of(&instance)),
            bundles.get(&instance).map(|b| b.external_id.as_str()),
        );
        if !found.is_empty() {
            by_role.insert(role_of(&instance), found);
        }
    }
    by_role
}

/// What is wrong with generated instance `i` (see [`generated_manifest`]),
/// given its role and its bundle's external ID; empty when all is right.
pub fn problems_of_generated(
    scope: &str,
    prefix: &str,
    i: usize,
    role: Option<&LiveRole>,
    bundle_id: Option<&str>,
) -> Vec<String> {
    let name = instance_name(prefix, i);
    let mut problems = Vec::new();
    let Some(role) = role else {
        return vec![format!("{name}: role missing")];
    };
    let account = if i.is_multiple_of(2) {
        DESTINATION_ACCOUNT
    } else {
        SOURCE_ACCOUNT
    };
    if role.path != PATH {
        problems.push(format!("{name}: path {}", role.path));
    }
    let tag = |k: &str| role.tags.get(k).map(String::as_str);
    let expected_tags = [
        ("fnctl:managed-by", "fnctl".to_string()),
        ("fnctl:scope", scope.to_string()),
        ("fnctl:instance", name.clone()),
        ("team", "data".to_string()),
        ("idx", i.to_string()),
    ];
    for (key, value) in expected_tags {
        if tag(key) != Some(value.as_str()) {
            problems.push(format!("{name}: tag {key} = {:?}", tag(key)));
        }
    }
    let ids = role.external_ids();
    if ids.len() != 1 {
        problems.push(format!(
            "{name}: {} external IDs in the trust policy",
            ids.len()
        ));
    }
    let statements = as_list(&role.trust["Statement"]);
    if statements.len() != 1 {
        problems.push(format!("{name}: {} trust statements", statements.len()));
    }
    match bundle_id {
        None => problems.push(format!("{name}: no bundle")),
        Some(id) => {
            if !trust_accepts(&role.trust, account, id) {
                problems.push(format!(
                    "{name}: the trust policy does not accept the bundle's ID"
                ));
            }
            if ids.len() == 1 && ids[0] != id {
                problems.push(format!("{name}: the bundle's ID is not the trust policy's"));
            }
        }
    }
    if role.inline.keys().collect::<Vec<_>>() != [INLINE] {
        problems.push(format!(
            "{name}: inline policies {:?}",
            role.inline.keys().collect::<Vec<_>>()
        ));
    } else {
        let mut actions = BTreeSet::new();
        let mut resources = BTreeSet::new();
        for statement in as_list(&role.inline[INLINE]["Statement"]) {
            actions.extend(strings(&statement["Action"]));
            resources.extend(strings(&statement["Resource"]));
        }
        let bucket = format!("bucket-{name}");
        let (want_actions, want_resources): (BTreeSet<String>, BTreeSet<String>) =
            if i.is_multiple_of(2) {
                (
                    ["s3:PutObject".to_string()].into(),
                    [format!("arn:aws:s3:::{bucket}/p{i}/*")].into(),
                )
            } else {
                (
                    ["s3:GetObject".to_string(), "s3:ListBucket".to_string()].into(),
                    [
                        format!("arn:aws:s3:::{bucket}/*"),
                        format!("arn:aws:s3:::{bucket}"),
                    ]
                    .into(),
                )
            };
        if actions != want_actions || resources != want_resources {
            problems.push(format!("{name}: permissions {actions:?} on {resources:?}"));
        }
    }
    if !role.attached.is_empty() {
        problems.push(format!("{name}: attached {:?}", role.attached));
    }
    problems
}

/// A bundle file as read from disk.
#[derive(Debug, Clone)]
pub struct BundleFile {
    pub instance: String,
    pub external_id: String,
    pub role_arn: String,
}

/// Checks every file of a bundle folder: each `*.json` parses as a bundle
/// with an external ID and is mode 0600; leftover temporaries are reported
/// (and must be 0600 too: they may hold a secret). Returns the bundles by
/// instance and the temporaries; panics on a half-written or open bundle.
pub fn read_bundle_dir(dir: &Path) -> (BTreeMap<String, BundleFile>, Vec<PathBuf>) {
    use std::os::unix::fs::PermissionsExt;
    let mut bundles = BTreeMap::new();
    let mut temporaries = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (bundles, temporaries);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        if file_name.ends_with(".tmp") {
            assert_eq!(
                mode & 0o077,
                0,
                "temporary {} is readable by others (mode {mode:o})",
                path.display()
            );
            temporaries.push(path);
            continue;
        }
        assert!(
            file_name.ends_with(".json"),
            "unexpected file in the bundle folder: {}",
            path.display()
        );
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "bundle {} is not JSON ({e}): half-written? {} bytes",
                path.display(),
                text.len()
            )
        });
        let instance = value["instance"].as_str().unwrap_or_default().to_string();
        assert_eq!(
            format!("{instance}.json"),
            file_name,
            "bundle {} names instance {instance:?}",
            path.display()
        );
        let external_id = value["settings"]["iamRoleExternalId"]
            .as_str()
            .unwrap_or_else(|| panic!("bundle {} has no iamRoleExternalId", path.display()))
            .to_string();
        let role_arn = value["settings"]["iamRoleArn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(mode, 0o600, "bundle {} has mode {mode:o}", path.display());
        bundles.insert(
            instance.clone(),
            BundleFile {
                instance,
                external_id,
                role_arn,
            },
        );
    }
    (bundles, temporaries)
}

/// For every bundle on disk whose role exists, the live trust policy accepts
/// its ID; returns the instances that break this.
pub fn locked_out(
    bundles: &BTreeMap<String, BundleFile>,
    roles: &BTreeMap<String, LiveRole>,
    account_of: impl Fn(&str) -> &'static str,
) -> Vec<String> {
    bundles
        .values()
        .filter(|bundle| {
            roles.get(&role_of(&bundle.instance)).is_some_and(|role| {
                !trust_accepts(
                    &role.trust,
                    account_of(&bundle.instance),
                    &bundle.external_id,
                )
            })
        })
        .map(|bundle| bundle.instance.clone())
        .collect()
}

/// The Segment account of a generated instance (even index: destination).
pub fn generated_account(instance: &str) -> &'static str {
    let index: usize = instance
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if index.is_multiple_of(2) {
        DESTINATION_ACCOUNT
    } else {
        SOURCE_ACCOUNT
    }
}

/// Every external ID in the trust policies of `roles`.
pub fn ids_in_roles(roles: &BTreeMap<String, LiveRole>) -> BTreeSet<String> {
    roles.values().flat_map(|r| r.external_ids()).collect()
}
