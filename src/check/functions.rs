//! Drift of Segment functions and their instances: what changed in Segment
//! by hand since fnctl wrote it. Pure: the caller reads the function (with
//! code and settings) and the instances fnctl recorded on their roles, and
//! hands them in (`fnctl drift`, through `cli::drift_functions`).

use crate::check::drift::Severity;
use crate::live::segment_functions::{LiveFunction, LiveInstance};
use crate::model::function::{
    described, external_id_exposed, marker, DesiredFunction, FunctionInstance, SettingDefinition,
    EXTERNAL_ID_SETTING,
};

/// What drifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FunctionDriftCode {
    /// The function's code was changed in Segment.
    CodeChanged,
    /// The external ID's definition is not sensitive (or is gone): every
    /// workspace member can read the secret.
    ExternalIdNotSensitive,
    /// Another setting definition, the display name or the description changed.
    SettingsChanged,
    /// The owned function is gone.
    FunctionMissing,
    /// An owned instance is gone, or runs another function or from another source.
    InstanceGone,
}

impl FunctionDriftCode {
    /// The finding's kebab-case code.
    pub fn as_str(self) -> &'static str {
        match self {
            FunctionDriftCode::CodeChanged => "function-code-changed",
            FunctionDriftCode::ExternalIdNotSensitive => "external-id-not-sensitive",
            FunctionDriftCode::SettingsChanged => "function-settings-changed",
            FunctionDriftCode::FunctionMissing => "function-missing",
            FunctionDriftCode::InstanceGone => "function-instance-gone",
        }
    }

    /// How urgent it is.
    pub fn severity(self) -> Severity {
        match self {
            FunctionDriftCode::ExternalIdNotSensitive => Severity::Critical,
            FunctionDriftCode::FunctionMissing | FunctionDriftCode::InstanceGone => Severity::High,
            FunctionDriftCode::CodeChanged | FunctionDriftCode::SettingsChanged => Severity::Medium,
        }
    }
}

/// One finding about a function or one of its instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionFinding {
    /// The function's name in the set.
    pub function: String,
    /// The instance, when the finding is about one.
    pub instance: Option<String>,
    /// What drifted.
    pub code: FunctionDriftCode,
    /// One line, never a secret.
    pub message: String,
    /// A unified diff (the code's), when there is one.
    pub diff: Option<String>,
}

/// An instance fnctl recorded, and what Segment holds under its id.
#[derive(Debug, Clone)]
pub struct RecordedInstance<'a> {
    /// The instance as the manifests say.
    pub instance: &'a FunctionInstance,
    /// The id fnctl recorded when it created it.
    pub id: String,
    /// What Segment holds under that id (`None`: a 404).
    pub live: Option<LiveInstance>,
}

/// The findings of one function: `live` is the owned function read whole
/// (`None` when it is gone), `definitions` what it must declare.
pub(crate) fn function_findings(
    desired: &DesiredFunction,
    definitions: &[SettingDefinition],
    live: Option<&LiveFunction>,
    instances: &[RecordedInstance<'_>],
) -> Vec<FunctionFinding> {
    let finding =
        |code: FunctionDriftCode, instance: Option<&str>, message: String| FunctionFinding {
            function: desired.name.clone(),
            instance: instance.map(str::to_string),
            code,
            message,
            diff: None,
        };
    let mut findings = Vec::new();
    let Some(live) = live else {
        findings.push(finding(
            FunctionDriftCode::FunctionMissing,
            None,
            format!(
                "function {} is gone from Segment",
                marker(&desired.scope, &desired.name)
            ),
        ));
        return findings;
    };
    let live_definitions = live.settings.clone().unwrap_or_default();
    let external_id_declared = live_definitions
        .iter()
        .any(|d| d.name == EXTERNAL_ID_SETTING);
    if external_id_exposed(&live_definitions) || !external_id_declared {
        findings.push(finding(
            FunctionDriftCode::ExternalIdNotSensitive,
            None,
            format!("{EXTERNAL_ID_SETTING} is not declared sensitive: every workspace member can read it"),
        ));
    }
    let live_code = live.code.clone().unwrap_or_default();
    if live_code != desired.code {
        let mut code_changed = finding(
            FunctionDriftCode::CodeChanged,
            None,
            "the code in Segment is not the manifest's".into(),
        );
        code_changed.diff = Some(
            similar::TextDiff::from_lines(live_code.as_str(), desired.code.as_str())
                .unified_diff()
                .header("segment", "manifest")
                .to_string(),
        );
        findings.push(code_changed);
    }
    let mut sorted_live = live_definitions;
    sorted_live.sort_by(|a, b| a.name.cmp(&b.name));
    let mut sorted_desired =
        crate::model::function::with_live_presentation(desired, definitions.to_vec(), &sorted_live);
    sorted_desired.sort_by(|a, b| a.name.cmp(&b.name));
    if sorted_live != sorted_desired || live.description != described(desired) {
        findings.push(finding(
            FunctionDriftCode::SettingsChanged,
            None,
            "setting definitions or description changed in Segment".into(),
        ));
    }
    for recorded in instances {
        let name = recorded.instance.instance.as_str();
        let message = match &recorded.live {
            None => Some(format!("instance {} was deleted in Segment", recorded.id)),
            Some(found) if found.metadata_id.as_deref() != Some(live.catalog_id.as_str()) => {
                Some(format!("instance {} runs another function", recorded.id))
            }
            Some(found) if found.source_id != recorded.instance.source => Some(format!(
                "instance {} is connected to another source",
                recorded.id
            )),
            Some(_) => None,
        };
        if let Some(message) = message {
            findings.push(finding(
                FunctionDriftCode::InstanceGone,
                Some(name),
                message,
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::model::function::definitions as owned_definitions;
    use crate::model::segment::SegmentRegion;
    use crate::model::{FunctionKind, Origin};

    fn desired() -> DesiredFunction {
        DesiredFunction {
            name: "s3-archiver".into(),
            kind: FunctionKind::Destination,
            scope: "acme".into(),
            region: SegmentRegion::Us,
            display_name: "S3 archiver".into(),
            description: None,
            code_path: "f.js".into(),
            code: "one\n".into(),
            settings: Vec::new(),
            origin: Origin {
                file: "m.yaml".into(),
                line: 1,
            },
        }
    }

    fn live(desired: &DesiredFunction) -> LiveFunction {
        LiveFunction {
            id: "dfn_abc".into(),
            catalog_id: "abc".into(),
            kind: Some(FunctionKind::Destination),
            display_name: "S3 archiver (Acme)".into(),
            description: described(desired),
            code: Some(desired.code.clone()),
            settings: Some(owned_definitions(desired, [])),
            deployed_at: Some("t".into()),
            is_latest_version: Some(true),
        }
    }

    fn instance() -> FunctionInstance {
        FunctionInstance {
            instance: "prod".into(),
            function: "s3-archiver".into(),
            kind: FunctionKind::Destination,
            source: Some("src1".into()),
            scope: "acme".into(),
            region: SegmentRegion::Us,
        }
    }

    fn found(metadata: &str, source: &str) -> LiveInstance {
        LiveInstance {
            id: "d1".into(),
            kind: FunctionKind::Destination,
            name: Some("prod (fnctl:acme)".into()),
            slug: None,
            enabled: true,
            metadata_id: Some(metadata.into()),
            source_id: Some(source.into()),
            settings: Map::new(),
        }
    }

    fn codes(findings: &[FunctionFinding]) -> Vec<(&'static str, Severity)> {
        findings
            .iter()
            .map(|f| (f.code.as_str(), f.code.severity()))
            .collect()
    }

    #[test]
    fn a_function_as_written_has_no_finding() {
        let desired = desired();
        let definitions = owned_definitions(&desired, []);
        let instance = instance();
        let recorded = [RecordedInstance {
            instance: &instance,
            id: "d1".into(),
            live: Some(found("abc", "src1")),
        }];
        assert_eq!(
            function_findings(&desired, &definitions, Some(&live(&desired)), &recorded),
            []
        );
    }

    #[test]
    fn hand_changes_are_found_with_their_severity() {
        let desired = desired();
        let definitions = owned_definitions(&desired, []);
        let mut changed = live(&desired);
        changed.code = Some("one\ntwo\n".into());
        for definition in changed.settings.iter_mut().flatten() {
            if definition.name == EXTERNAL_ID_SETTING {
                definition.sensitive = false;
            }
        }
        let instance = instance();
        let recorded = [
            RecordedInstance {
                instance: &instance,
                id: "d1".into(),
                live: None,
            },
            RecordedInstance {
                instance: &instance,
                id: "d2".into(),
                live: Some(found("abc", "elsewhere")),
            },
            RecordedInstance {
                instance: &instance,
                id: "d3".into(),
                live: Some(found("other", "src1")),
            },
        ];
        let findings = function_findings(&desired, &definitions, Some(&changed), &recorded);
        assert_eq!(
            codes(&findings),
            [
                ("external-id-not-sensitive", Severity::Critical),
                ("function-code-changed", Severity::Medium),
                ("function-settings-changed", Severity::Medium),
                ("function-instance-gone", Severity::High),
                ("function-instance-gone", Severity::High),
                ("function-instance-gone", Severity::High),
            ]
        );
        assert_eq!(
            findings[1].diff.as_deref(),
            Some("--- segment\n+++ manifest\n@@ -1,2 +1 @@\n one\n-two\n")
        );
        assert_eq!(
            codes(&function_findings(&desired, &definitions, None, &[])),
            [("function-missing", Severity::High)]
        );
    }
}
