//! Segment's side of an instance: where its settings live (region, kind,
//! id) and how Segment shows a sensitive setting (masked, last 4 characters
//! visible). Plain data and pure rules; the HTTP client is in `live`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::external_id::ExternalId;
use super::FunctionKind;

/// The character Segment masks sensitive setting values with.
pub const MASK: char = '•';

/// How many trailing characters of a sensitive value Segment shows.
pub const VISIBLE_CHARACTERS: usize = 4;

/// Segment's API regions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SegmentRegion {
    /// `https://api.segmentapis.com`.
    #[default]
    Us,
    /// `https://eu1.api.segmentapis.com`.
    Eu,
}

impl SegmentRegion {
    /// The Public API's base URL in this region.
    pub(crate) fn base_url(self) -> &'static str {
        match self {
            SegmentRegion::Us => "https://api.segmentapis.com",
            SegmentRegion::Eu => "https://eu1.api.segmentapis.com",
        }
    }
}

/// The Segment function instance an instance's settings are delivered to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentTarget {
    /// Destination or source id in Segment.
    pub id: String,
    /// API region of the workspace.
    pub region: SegmentRegion,
    /// Destination functions live under `/destinations`, source functions under `/sources`.
    pub kind: FunctionKind,
}

impl SegmentTarget {
    /// The API path of the instance, e.g. `/destinations/abc`.
    pub(crate) fn path(&self) -> String {
        let collection = match self.kind {
            FunctionKind::Destination => "destinations",
            FunctionKind::Source => "sources",
        };
        format!("/{collection}/{}", self.id)
    }
}

/// An instance's settings as Segment shows them: sensitive values masked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveSettings {
    /// Setting name → value (sensitive ones masked with `•`).
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// Whether a value came back masked (it must never be written back).
pub(crate) fn is_masked(value: &serde_json::Value) -> bool {
    value.as_str().is_some_and(|text| text.contains(MASK))
}

/// What Segment lets a client see of a sensitive value: its last characters.
pub(crate) fn visible_suffix(text: &str) -> String {
    let unmasked: Vec<char> = text.chars().filter(|c| *c != MASK).collect();
    let start = unmasked.len().saturating_sub(VISIBLE_CHARACTERS);
    unmasked[start..].iter().collect()
}

/// Whether the value Segment shows (masked or not) may be `id`: the visible
/// characters are its last ones. With 62^4 possible endings two IDs rarely
/// share them; fnctl never sees more than Segment shows.
pub(crate) fn shows(value: &str, id: &ExternalId) -> bool {
    let suffix = visible_suffix(value);
    suffix.len() == VISIBLE_CHARACTERS.min(id.len()) && id.expose().ends_with(&suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_value_is_recognised_by_its_last_four_characters() {
        let id = ExternalId::new("abcdefghijklmnopdada");
        assert!(shows("••••••••••dada", &id));
        assert!(shows("abcdefghijklmnopdada", &id));
        assert!(!shows("••••••••••dadb", &id));
        assert!(!shows("••••", &id));
        assert!(!shows("", &id));
        assert!(is_masked(&serde_json::json!("••••dada")));
        assert!(!is_masked(&serde_json::json!("plain")));
    }

    #[test]
    fn paths_follow_the_kind() {
        let target = SegmentTarget {
            id: "abc".into(),
            region: SegmentRegion::Eu,
            kind: FunctionKind::Source,
        };
        assert_eq!(target.path(), "/sources/abc");
        assert_eq!(target.region.base_url(), "https://eu1.api.segmentapis.com");
    }
}
