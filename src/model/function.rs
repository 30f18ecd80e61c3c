//! Segment functions as the manifests declare them: the function (its code,
//! names and setting definitions) and which instances run it. The setting
//! definitions fnctl owns are derived here, from the function and its
//! instances, so the planner and the checks share one answer. Plain data,
//! no I/O: the code was read by the manifest loader.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::segment::SegmentRegion;
use super::{FunctionKind, Origin};

/// The setting holding the role's ARN.
pub const ROLE_ARN_SETTING: &str = "iamRoleArn";
/// The setting holding the external ID: always sensitive.
pub const EXTERNAL_ID_SETTING: &str = "iamRoleExternalId";
/// The settings the bucket shorthand adds.
pub const BUCKET_SETTINGS: [&str; 2] = ["s3Bucket", "s3BucketRegion"];

/// The type of a setting, as Segment's `FunctionSettingV1.type` has it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SettingType {
    /// Text (Segment's `STRING`).
    #[default]
    String,
    /// `true` or `false` (`BOOLEAN`).
    Boolean,
    /// A list of texts (`ARRAY`).
    Array,
    /// A map of texts (`TEXT_MAP`).
    TextMap,
}

impl SettingType {
    /// Segment's spelling.
    pub(crate) fn segment_name(self) -> &'static str {
        match self {
            SettingType::String => "STRING",
            SettingType::Boolean => "BOOLEAN",
            SettingType::Array => "ARRAY",
            SettingType::TextMap => "TEXT_MAP",
        }
    }

    /// The type of Segment's spelling, if it is one.
    pub(crate) fn from_segment_name(name: &str) -> Option<SettingType> {
        [
            SettingType::String,
            SettingType::Boolean,
            SettingType::Array,
            SettingType::TextMap,
        ]
        .into_iter()
        .find(|t| t.segment_name() == name)
    }

    /// The type a setting's value has: an instance's extra settings are
    /// declared with the type their value shows.
    pub(crate) fn of_value(value: &serde_json::Value) -> SettingType {
        match value {
            serde_json::Value::Bool(_) => SettingType::Boolean,
            serde_json::Value::Array(_) => SettingType::Array,
            serde_json::Value::Object(_) => SettingType::TextMap,
            _ => SettingType::String,
        }
    }
}

/// One setting definition of a function (Segment's `FunctionSettingV1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingDefinition {
    /// The name the code reads, e.g. `iamRoleArn`.
    pub name: String,
    /// What Segment's app shows.
    pub label: String,
    /// Help text (Segment keeps `""` for none).
    pub description: String,
    /// Its type.
    #[serde(rename = "type")]
    pub setting_type: SettingType,
    /// Whether an instance must set it.
    pub required: bool,
    /// Whether Segment masks its value.
    pub sensitive: bool,
}

impl SettingDefinition {
    /// A definition fnctl declares itself.
    fn owned(name: &str, label: &str, description: &str, required: bool, sensitive: bool) -> Self {
        SettingDefinition {
            name: name.into(),
            label: label.into(),
            description: description.into(),
            setting_type: SettingType::String,
            required,
            sensitive,
        }
    }
}

/// A function as the manifests declare it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredFunction {
    /// Its name in the set; with the scope, it is what fnctl's ownership
    /// marker names.
    pub name: String,
    /// Destination or source.
    pub kind: FunctionKind,
    /// Ownership scope of the file that declares it.
    pub scope: String,
    /// API region of its workspace.
    pub region: SegmentRegion,
    /// The name Segment's app shows (a destination function's gets the
    /// workspace's name appended by Segment).
    pub display_name: String,
    /// The description the manifest gives, before fnctl's marker.
    pub description: Option<String>,
    /// The code file, as the manifest resolves it.
    pub code_path: PathBuf,
    /// The code, as read when the manifests were loaded.
    pub code: String,
    /// The extra definitions the manifest declares, beyond fnctl's own.
    pub settings: Vec<SettingDefinition>,
    /// Where it was declared.
    pub origin: Origin,
}

/// An instance that runs a function of the set (`segment: { function }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionInstance {
    /// The instance's name (its role, bundle and IAM records carry it).
    pub instance: String,
    /// The function it runs.
    pub function: String,
    /// Destination or source (the function's kind too, once validated).
    pub kind: FunctionKind,
    /// The source a destination instance is connected to; `None` for a
    /// source instance, which fnctl creates.
    pub source: Option<String>,
    /// Ownership scope of the file that declares it.
    pub scope: String,
    /// API region of its workspace.
    pub region: SegmentRegion,
}

/// fnctl's ownership marker of a function of `scope` named `name`.
pub fn marker(scope: &str, name: &str) -> String {
    format!("[fnctl:{scope}/{name}]")
}

/// The description fnctl writes: the manifest's, then the marker.
pub(crate) fn described(function: &DesiredFunction) -> String {
    let marker = marker(&function.scope, &function.name);
    match &function.description {
        Some(text) if !text.is_empty() => format!("{text} {marker}"),
        _ => marker,
    }
}

/// The setting definitions `function` must have: fnctl's own (the role's
/// ARN, the external ID as a sensitive setting, the bucket's when one of its
/// instances has a bucket, a definition for every other key its instances
/// carry), then the manifest's extra ones. `instance_settings` are the
/// settings of each instance that runs it, as its bundle holds them (the
/// bucket's included). Sorted by name, so a comparison never depends on
/// the order Segment or the manifests list them in.
pub fn definitions<'a>(
    function: &DesiredFunction,
    instance_settings: impl IntoIterator<Item = &'a BTreeMap<String, serde_json::Value>>,
) -> Vec<SettingDefinition> {
    let mut definitions: BTreeMap<String, SettingDefinition> = BTreeMap::new();
    for definition in [
        SettingDefinition::owned(
            ROLE_ARN_SETTING,
            "IAM role ARN",
            "The role this instance assumes (managed by fnctl).",
            true,
            false,
        ),
        SettingDefinition::owned(
            EXTERNAL_ID_SETTING,
            "IAM role external ID",
            "The external ID the role's trust policy requires (managed by fnctl).",
            true,
            true,
        ),
    ] {
        definitions.insert(definition.name.clone(), definition);
    }
    for settings in instance_settings {
        for (key, value) in settings {
            definitions.entry(key.clone()).or_insert_with(|| {
                let mut definition = SettingDefinition::owned(key, key, "", false, false);
                if BUCKET_SETTINGS.contains(&key.as_str()) {
                    definition.required = true;
                    definition.description = "Set by fnctl from the instance's bucket.".into();
                }
                definition.setting_type = SettingType::of_value(value);
                definition
            });
        }
    }
    // The manifest's own definitions win over the ones derived from values
    // (a label, a description, a type), but never over fnctl's two: the
    // manifest cannot declare those (validation refuses it).
    for definition in &function.settings {
        definitions.insert(definition.name.clone(), definition.clone());
    }
    definitions.into_values().collect()
}

/// Whether `definitions` hold the external ID as anything but a sensitive
/// setting: a value every workspace member could read.
pub(crate) fn external_id_exposed(definitions: &[SettingDefinition]) -> bool {
    definitions
        .iter()
        .any(|d| d.name == EXTERNAL_ID_SETTING && !d.sensitive)
}

/// `definitions` with the label and description Segment shows for each one
/// fnctl derives (its own two, the bucket's, the instances' keys) where the
/// live definition agrees in type, required and sensitive. Those two are
/// presentation: a function made by hand from Segment's guide ("IAM Role
/// ARN") is adopted without a rewrite, and a relabel in Segment's app is no
/// drift. The manifest's own `settings:` definitions are compared whole.
pub(crate) fn with_live_presentation(
    function: &DesiredFunction,
    mut definitions: Vec<SettingDefinition>,
    live: &[SettingDefinition],
) -> Vec<SettingDefinition> {
    for definition in &mut definitions {
        if function.settings.iter().any(|d| d.name == definition.name) {
            continue;
        }
        let Some(shown) = live.iter().find(|d| d.name == definition.name) else {
            continue;
        };
        let agrees = shown.setting_type == definition.setting_type
            && shown.required == definition.required
            && shown.sensitive == definition.sensitive;
        if agrees {
            definition.label = shown.label.clone();
            definition.description = shown.description.clone();
        }
    }
    definitions
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn function(extra: Vec<SettingDefinition>) -> DesiredFunction {
        DesiredFunction {
            name: "s3-archiver".into(),
            kind: FunctionKind::Destination,
            scope: "default".into(),
            region: SegmentRegion::Us,
            display_name: "S3 archiver".into(),
            description: None,
            code_path: "functions/s3-archiver.js".into(),
            code: "async function onTrack() {}".into(),
            settings: extra,
            origin: Origin {
                file: "m.yaml".into(),
                line: 3,
            },
        }
    }

    #[test]
    fn fnctl_declares_its_own_settings_and_every_key_of_the_instances() {
        let bucketed = BTreeMap::from([
            ("s3Bucket".to_string(), json!("acme")),
            ("s3BucketRegion".to_string(), json!("us-west-2")),
        ]);
        let flags = BTreeMap::from([
            ("gzip".to_string(), json!(true)),
            ("flushEvery".to_string(), json!(100)),
        ]);
        let mut label =
            SettingDefinition::owned("flushEvery", "Flush every", "events", false, false);
        label.setting_type = SettingType::String;
        let definitions = definitions(&function(vec![label.clone()]), [&bucketed, &flags]);
        let names: Vec<(&str, SettingType, bool, bool)> = definitions
            .iter()
            .map(|d| (d.name.as_str(), d.setting_type, d.required, d.sensitive))
            .collect();
        assert_eq!(
            names,
            [
                ("flushEvery", SettingType::String, false, false),
                ("gzip", SettingType::Boolean, false, false),
                ("iamRoleArn", SettingType::String, true, false),
                ("iamRoleExternalId", SettingType::String, true, true),
                ("s3Bucket", SettingType::String, true, false),
                ("s3BucketRegion", SettingType::String, true, false),
            ]
        );
        assert_eq!(definitions[0], label);
        assert!(!external_id_exposed(&definitions));
    }

    #[test]
    fn without_a_bucket_only_the_role_settings_are_declared() {
        let definitions = definitions(&function(Vec::new()), []);
        let names: Vec<&str> = definitions.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, [ROLE_ARN_SETTING, EXTERNAL_ID_SETTING]);
    }

    #[test]
    fn an_external_id_declared_not_sensitive_is_exposed() {
        let mut definitions = definitions(&function(Vec::new()), []);
        definitions[1].sensitive = false;
        assert!(external_id_exposed(&definitions));
    }

    #[test]
    fn setting_types_round_trip_through_segment_names() {
        for setting_type in [
            SettingType::String,
            SettingType::Boolean,
            SettingType::Array,
            SettingType::TextMap,
        ] {
            assert_eq!(
                SettingType::from_segment_name(setting_type.segment_name()),
                Some(setting_type)
            );
        }
        assert_eq!(SettingType::from_segment_name("NUMBER"), None);
    }
}
