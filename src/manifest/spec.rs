//! The manifest as written in YAML: the serde types the loader reads and the
//! JSON Schema is generated from. One source of truth for both, so the schema
//! an editor validates against can never disagree with what fnctl accepts.

use std::collections::BTreeMap;

use schemars::JsonSchema;

pub use crate::model::function::SettingType;
pub use crate::model::segment::SegmentRegion;
pub use crate::model::FunctionKind;
use serde::{Deserialize, Serialize};

/// One manifest file: a format version, shared defaults and function instances.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(
    deny_unknown_fields,
    title = "fnctl manifest",
    description = "IAM roles for Segment Functions that call AWS, kept true by fnctl."
)]
pub struct ManifestFile {
    /// Manifest format version; only `1` exists.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// Settings every instance in this file inherits.
    #[serde(default)]
    pub defaults: Option<Defaults>,
    /// Segment functions (code and setting definitions) fnctl creates and updates.
    #[serde(default)]
    pub functions: Vec<FunctionSpec>,
    /// The function instances this file declares.
    #[serde(default)]
    pub instances: Vec<InstanceSpec>,
}

/// A Segment function kept in git: fnctl creates it, keeps its code and
/// setting definitions, and creates the instances that name it.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct FunctionSpec {
    /// Function name, unique in the whole manifest set; instances name it in `segment.function`.
    pub name: String,
    /// `source` or `destination`; Segment cannot change it later.
    pub kind: FunctionKind,
    /// Path of the function's JavaScript file, relative to this manifest.
    pub code: String,
    /// The name Segment's app shows.
    pub display_name: String,
    /// Description shown in Segment's app (fnctl adds its ownership marker).
    pub description: Option<String>,
    /// Setting definitions beyond fnctl's own (`iamRoleArn`, `iamRoleExternalId`, the bucket's).
    #[serde(default)]
    pub settings: Vec<SettingDefinitionSpec>,
}

/// One setting definition of a function.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct SettingDefinitionSpec {
    /// The name the code reads the setting by, e.g. `flushEvery`.
    pub name: String,
    /// What Segment's app shows; default the name.
    pub label: Option<String>,
    /// Help text.
    pub description: Option<String>,
    /// `string` (default), `boolean`, `array` or `text-map`.
    #[serde(default, rename = "type")]
    pub setting_type: SettingType,
    /// Whether every instance must set it.
    #[serde(default)]
    pub required: bool,
    /// Whether Segment masks its value.
    #[serde(default)]
    pub sensitive: bool,
}

/// Settings shared by every instance of a file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Defaults {
    /// Ownership scope: fnctl changes only roles tagged with this scope. Default `default`.
    #[schemars(length(min = 1, max = 64))]
    pub scope: Option<String>,
    /// 12-digit AWS account id (a string): fnctl refuses to change any other account.
    #[schemars(length(min = 12, max = 12))]
    pub account: Option<String>,
    /// IAM path of the roles, `/` or `/…/`. Default `/segment-functions/`.
    #[schemars(length(min = 1, max = 512))]
    pub role_path: Option<String>,
    /// Tags put on every role of this file.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Role that fnctl assumes (session name `fnctl`) to reach this file's account.
    pub assume_role: Option<String>,
    /// Segment's AWS accounts that run functions, when they differ from the documented ones.
    pub segment_accounts: Option<SegmentAccounts>,
    /// Where this file's instances live in Segment's Public API.
    pub segment: Option<SegmentDefaults>,
}

/// Segment Public API settings shared by a file's instances.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct SegmentDefaults {
    /// API region of the workspace: `us` (api.segmentapis.com, the default) or `eu` (eu1.api.segmentapis.com).
    pub region: Option<SegmentRegion>,
}

/// The Segment function instance whose settings fnctl delivers: one that
/// exists (`id`), or one fnctl creates to run a function of the set
/// (`function`, and for a destination the `source` it is connected to).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct SegmentSpec {
    /// The destination id (destination functions) or source id (source functions) in Segment.
    #[schemars(length(min = 6, max = 64))]
    pub id: Option<String>,
    /// A function of `functions:` this instance runs; fnctl creates the instance.
    pub function: Option<String>,
    /// With `function`, for a destination: the id of the source it is connected to.
    pub source: Option<String>,
}

/// Overrides of the Segment account that assumes the role, per function kind.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct SegmentAccounts {
    /// Account that runs source functions. Default `300240842537`.
    pub source: Option<String>,
    /// Account that runs destination functions. Default `458175278816`.
    pub destination: Option<String>,
}

/// One function instance and the IAM role it assumes.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct InstanceSpec {
    /// Instance name, unique in the whole manifest set; names the bundle file.
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    /// `source` or `destination`: decides which Segment account may assume the role.
    pub kind: FunctionKind,
    /// The IAM role; every field has a default.
    pub role: Option<RoleSpec>,
    /// S3 shorthand: grants access to one bucket (and prefix).
    pub bucket: Option<BucketSpec>,
    /// Extra permission statements of the inline policy `fnctl-permissions`.
    #[serde(default)]
    pub permissions: Vec<PermissionSpec>,
    /// Managed policy ARNs attached to the role, exactly as listed.
    #[serde(default)]
    #[schemars(length(max = 20))]
    pub managed_policies: Vec<String>,
    /// External ID life cycle.
    pub external_id: Option<ExternalIdSpec>,
    /// The Segment instance (destination or source, by `kind`) that fnctl delivers the settings to
    /// through Segment's Public API (token from `SEGMENT_PUBLIC_API_TOKEN`).
    pub segment: Option<SegmentSpec>,
    /// Extra, non-secret function settings merged into the bundle.
    #[serde(default)]
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Allow wildcard and privilege-escalating permissions (off by default).
    #[serde(default)]
    pub allow_wildcards: bool,
    /// Lint codes this instance accepts on purpose (e.g. `resource-exposure`,
    /// `unknown-action` for an action newer than fnctl's AWS reference).
    #[serde(default)]
    pub allow_findings: Vec<String>,
}

/// The IAM role of an instance.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RoleSpec {
    /// Role name, default `segment-fn-<instance name>`.
    #[schemars(length(min = 1, max = 64))]
    pub name: Option<String>,
    /// IAM path of this role, `/` or `/…/`, when it differs from the file's `rolePath`.
    pub path: Option<String>,
    /// Role description.
    #[schemars(length(max = 1000))]
    pub description: Option<String>,
    /// Longest session in seconds, 3600..43200. Default 3600.
    #[schemars(range(min = 3600, max = 43200))]
    pub max_session_duration: Option<i64>,
    /// ARN of a managed policy used as the permissions boundary.
    pub permissions_boundary: Option<String>,
    /// Tags of this role, on top of the file's default tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Name of the inline policy that holds `bucket` and `permissions`.
    /// Default `fnctl-permissions`; an adopted role keeps the name it has.
    pub inline_policy_name: Option<String>,
}

/// What the function may do with one S3 bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BucketAccess {
    /// `s3:PutObject` on the objects.
    #[default]
    Write,
    /// `s3:GetObject` on the objects and `s3:ListBucket` on the bucket.
    Read,
    /// Both.
    ReadWrite,
}

/// S3 shorthand for the common case: one bucket, optionally one prefix.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct BucketSpec {
    /// Bucket name.
    #[schemars(length(min = 3, max = 63))]
    pub name: String,
    /// Bucket region, becomes the `s3BucketRegion` setting.
    pub region: String,
    /// Key prefix that narrows the object ARNs, e.g. `segment/`.
    #[schemars(length(max = 1024))]
    pub prefix: Option<String>,
    /// `write` (default), `read` or `read-write`.
    #[serde(default)]
    pub access: BucketAccess,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
pub enum Effect {
    /// Grants the actions.
    #[default]
    Allow,
    /// Denies the actions.
    Deny,
}

impl Effect {
    /// IAM's spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// One extra statement of the inline policy.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PermissionSpec {
    /// The statement's `Sid`, when it has one (it names the statement; IAM ignores it).
    pub sid: Option<String>,
    /// IAM actions, e.g. `sqs:SendMessage`.
    pub actions: Vec<String>,
    /// Resource ARNs.
    pub resources: Vec<String>,
    /// `Allow` (default) or `Deny`.
    #[serde(default)]
    pub effect: Effect,
    /// An IAM `Condition` block, as is.
    pub conditions: Option<serde_json::Map<String, serde_json::Value>>,
}

/// External ID policy.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ExternalIdSpec {
    /// Rotation is due this many days after the current ID was created.
    #[schemars(range(min = 1))]
    pub rotate_after_days: Option<u32>,
}

/// The JSON Schema of a manifest file, as `fnctl schema` prints it.
pub(crate) fn json_schema() -> String {
    let schema = schemars::schema_for!(ManifestFile);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}
