//! Times are `SystemTime` inside fnctl; RFC 3339 text only at the edge where
//! an IAM tag or a JSON document holds it. Written with seconds precision
//! (`2026-06-01T00:00:00Z`), the form every persisted tag has always had.

use std::time::SystemTime;

/// A tag holds text that is not an RFC 3339 time: what it means (an ID's
/// age, a rotation's start) cannot be known, so the caller says so rather
/// than guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tag {tag} holds `{value}`, not an RFC 3339 time")]
pub struct UnreadableTime {
    /// The tag.
    pub tag: &'static str,
    /// What it holds.
    pub value: String,
}

/// The time as a tag or JSON holds it: RFC 3339, UTC, whole seconds.
pub(crate) fn to_text(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// The time `tag` holds (`value`), read as fnctl always has (RFC 3339,
/// leniently: a space for `T` or a missing `Z` is accepted).
pub(crate) fn from_tag(tag: &'static str, value: &str) -> Result<SystemTime, UnreadableTime> {
    humantime::parse_rfc3339_weak(value).map_err(|_| UnreadableTime {
        tag,
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_time_reads_back_as_written() {
        let text = "2026-06-01T12:34:56Z";
        let time = from_tag("fnctl:external-id-created", text).unwrap();
        assert_eq!(to_text(time), text);
        // Sub-second precision never reaches a tag.
        assert_eq!(to_text(time + std::time::Duration::from_millis(900)), text);
    }

    #[test]
    fn a_tag_that_is_not_a_time_is_an_error_naming_the_tag() {
        let error = from_tag("fnctl:external-id-created", "last tuesday").unwrap_err();
        assert_eq!(
            error.to_string(),
            "tag fnctl:external-id-created holds `last tuesday`, not an RFC 3339 time"
        );
    }
}
