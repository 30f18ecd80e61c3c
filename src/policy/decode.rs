//! Turns the policy-document text IAM hands back into JSON.
//!
//! IAM's query API returns policy documents percent-encoded (RFC 3986),
//! aws-sdk-rust passes that text through untouched, and moto encodes some
//! responses and not others. A plain JSON document may itself contain `%`
//! (`arn:aws:s3:::bucket/100%25`), so the text is first tried as JSON as is
//! and only percent-decoded when that fails.

use percent_encoding::percent_decode_str;
use serde_json::Value;

/// The largest policy document accepted, in bytes of JSON text. IAM's own
/// limits are far smaller (10,240 characters of inline policy per role); this
/// bound only keeps a hostile or broken response from costing much.
pub const MAXIMUM_DOCUMENT_BYTES: usize = 131_072;

/// Percent-encoding at most triples a text, so raw text longer than this
/// cannot decode to an acceptable document and is refused before any work.
const MAXIMUM_RAW_BYTES: usize = 3 * MAXIMUM_DOCUMENT_BYTES;

/// Characters of context shown on each side of a JSON syntax error.
const EXCERPT_CONTEXT_CHARACTERS: usize = 30;

/// Runs of token characters at least this long are masked in excerpts: a
/// trust policy holds the external ID (48 characters from fnctl, 2 or more
/// when adopted), and an error message must never carry it.
const MASKED_RUN_CHARACTERS: usize = 16;

/// Why a policy document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The document is empty or only whitespace.
    #[error("the policy document is empty")]
    Empty,
    /// The document is larger than fnctl accepts.
    #[error("the policy document is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// Percent-decoding produced bytes that are not UTF-8.
    #[error("the policy document is not UTF-8 text once percent-decoded")]
    NotUtf8,
    /// The text (percent-decoded when `percent_decoded`) is not valid JSON.
    #[error(
        "the policy document{} is not valid JSON: {reason} at line {line}, column {column}, near `{excerpt}`",
        if *percent_decoded { " (percent-decoded)" } else { "" }
    )]
    InvalidJson {
        reason: String,
        line: usize,
        column: usize,
        /// A few dozen characters around the error, long tokens masked.
        excerpt: String,
        percent_decoded: bool,
    },
    /// The top level is valid JSON but not an object.
    #[error("the policy document's top level is {found}, not a JSON object")]
    NotAnObject { found: &'static str },
}

/// Reads a policy document as IAM, aws-sdk-rust or moto return it: plain
/// JSON, or percent-encoded JSON. `+` stays a literal plus sign, because AWS
/// encodes spaces as `%20`.
pub(crate) fn decode_document(raw: &str) -> Result<Value, DocumentError> {
    if raw.trim().is_empty() {
        return Err(DocumentError::Empty);
    }
    if raw.len() > MAXIMUM_RAW_BYTES {
        return Err(too_large(raw.len()));
    }
    let value = match serde_json::from_str::<Value>(raw) {
        Ok(value) => {
            if raw.len() > MAXIMUM_DOCUMENT_BYTES {
                return Err(too_large(raw.len()));
            }
            value
        }
        Err(raw_error) => decode_percent_encoded(raw, raw_error)?,
    };
    match value {
        Value::Object(_) => Ok(value),
        other => Err(DocumentError::NotAnObject {
            found: json_type_name(&other),
        }),
    }
}

/// The fallback once the raw text failed to parse as JSON.
fn decode_percent_encoded(raw: &str, raw_error: serde_json::Error) -> Result<Value, DocumentError> {
    // Text that starts like JSON was meant as plain JSON; its own parse error
    // is the one that helps, not whatever decoding it would produce.
    let looks_like_plain_json = raw.trim_start().starts_with(['{', '[']);
    if !raw.contains('%') || looks_like_plain_json {
        if raw.len() > MAXIMUM_DOCUMENT_BYTES {
            return Err(too_large(raw.len()));
        }
        return Err(invalid_json(raw, &raw_error, false));
    }
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| DocumentError::NotUtf8)?;
    if decoded.len() > MAXIMUM_DOCUMENT_BYTES {
        return Err(too_large(decoded.len()));
    }
    if decoded.trim().is_empty() {
        return Err(DocumentError::Empty);
    }
    serde_json::from_str(&decoded).map_err(|error| invalid_json(&decoded, &error, true))
}

fn too_large(size: usize) -> DocumentError {
    DocumentError::TooLarge {
        size,
        limit: MAXIMUM_DOCUMENT_BYTES,
    }
}

fn invalid_json(text: &str, error: &serde_json::Error, percent_decoded: bool) -> DocumentError {
    let line = error.line();
    let column = error.column();
    // serde_json appends the position to its message; it is reported apart.
    let message = error.to_string();
    let reason = match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message,
    };
    DocumentError::InvalidJson {
        reason,
        line,
        column,
        excerpt: excerpt(text, byte_offset(text, line, column)),
        percent_decoded,
    }
}

/// The byte offset serde_json's 1-based line and column point at, snapped
/// back to a character boundary (serde_json counts columns in bytes).
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        text.match_indices('\n')
            .nth(line - 2)
            .map_or(text.len(), |(index, _)| index + 1)
    };
    let mut offset = (line_start + column.saturating_sub(1)).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A one-line window of `text` around `offset`, with control characters as
/// spaces and every long token masked as `…`.
fn excerpt(text: &str, offset: usize) -> String {
    let characters: Vec<(usize, char)> = text.char_indices().collect();
    let center = characters.partition_point(|(index, _)| *index < offset);
    let start = center.saturating_sub(EXCERPT_CONTEXT_CHARACTERS);
    let end = (center + EXCERPT_CONTEXT_CHARACTERS).min(characters.len());

    // Runs are measured over the whole text, so a secret cut by the window's
    // edge is masked as well as one inside it.
    let mut masked = vec![false; characters.len()];
    let mut run_start = 0;
    for index in 0..=characters.len() {
        let in_run = characters
            .get(index)
            .is_some_and(|(_, character)| is_token_character(*character));
        if in_run {
            continue;
        }
        if index - run_start >= MASKED_RUN_CHARACTERS {
            masked[run_start..index].fill(true);
        }
        run_start = index + 1;
    }

    let mut result = String::new();
    if start > 0 {
        result.push('…');
    }
    for index in start..end {
        if masked[index] {
            if index == start || !masked[index - 1] {
                result.push('…');
            }
            continue;
        }
        let character = characters[index].1;
        result.push(if character.is_control() {
            ' '
        } else {
            character
        });
    }
    if end < characters.len() {
        result.push('…');
    }
    // A masked run at the window's edge would otherwise double the marker.
    result.replace("……", "…")
}

/// Characters that make up external IDs and other opaque tokens; `:` and `/`
/// are left out so ARNs stay readable piece by piece.
fn is_token_character(character: char) -> bool {
    character.is_alphanumeric() || matches!(character, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn plain_json_is_used_as_is() {
        let document = decode_document(r#"{"Version":"2012-10-17","Statement":[]}"#).unwrap();
        assert_eq!(document, json!({"Version": "2012-10-17", "Statement": []}));
    }

    #[test]
    fn percent_encoded_json_is_decoded() {
        let raw = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        let document = decode_document(raw).unwrap();
        assert_eq!(document, json!({"Version": "2012-10-17", "Statement": []}));
    }

    #[test]
    fn plain_json_containing_percent_is_not_decoded() {
        let raw = r#"{"Resource":"arn:aws:s3:::bucket/100%25"}"#;
        let document = decode_document(raw).unwrap();
        assert_eq!(document["Resource"], "arn:aws:s3:::bucket/100%25");
    }

    #[test]
    fn encoded_percent_sign_decodes_once() {
        let raw = "%7B%22Resource%22%3A%22arn%3Aaws%3As3%3A%3A%3Abucket%2F100%2525%22%7D";
        let document = decode_document(raw).unwrap();
        assert_eq!(document["Resource"], "arn:aws:s3:::bucket/100%25");
    }

    #[test]
    fn plus_sign_stays_literal() {
        let raw = "%7B%22Sid%22%3A%22a+b%20c%22%7D";
        let document = decode_document(raw).unwrap();
        assert_eq!(document["Sid"], "a+b c");
    }

    #[test]
    fn empty_text_is_rejected() {
        assert_eq!(decode_document("  \n"), Err(DocumentError::Empty));
    }

    #[test]
    fn oversized_documents_are_rejected() {
        let padding = " ".repeat(MAXIMUM_DOCUMENT_BYTES);
        let raw = format!("{{{padding}}}");
        assert!(matches!(
            decode_document(&raw),
            Err(DocumentError::TooLarge { size, .. }) if size == raw.len()
        ));
        // Decodes to more than the limit while the raw text is within 3 times it.
        let raw = format!("%7B{padding}%7D");
        assert!(matches!(
            decode_document(&raw),
            Err(DocumentError::TooLarge { size, .. }) if size == MAXIMUM_DOCUMENT_BYTES + 2
        ));
        // Longer than any encoding of an acceptable document: refused unread.
        let raw = "%20".repeat(MAXIMUM_DOCUMENT_BYTES + 1);
        assert!(matches!(
            decode_document(&raw),
            Err(DocumentError::TooLarge { size, .. }) if size == raw.len()
        ));
    }

    #[test]
    fn non_object_top_level_is_rejected() {
        assert_eq!(
            decode_document("[1, 2]"),
            Err(DocumentError::NotAnObject { found: "an array" })
        );
        assert_eq!(
            decode_document("%22text%22"),
            Err(DocumentError::NotAnObject { found: "a string" })
        );
    }

    #[test]
    fn invalid_json_names_the_position_and_an_excerpt() {
        let error =
            decode_document("{\"Version\": \"2012-10-17\",\n \"Statement\": [,]}").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the policy document is not valid JSON: expected value at line 2, column 16, near \
             `… \"2012-10-17\",  \"Statement\": [,]}`"
        );
    }

    #[test]
    fn invalid_encoded_json_reports_the_decoded_text() {
        let error = decode_document("%7B%22Version%22%3A%7D").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the policy document (percent-decoded) is not valid JSON: expected value at line 1, \
             column 12, near `{\"Version\":}`"
        );
    }

    #[test]
    fn invalid_utf8_after_decoding_is_rejected() {
        assert_eq!(decode_document("%7B%FF%7D"), Err(DocumentError::NotUtf8));
    }

    #[test]
    fn excerpts_never_show_long_tokens() {
        let secret = "Abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN";
        let raw = format!(r#"{{"Condition":{{"StringEquals":{{"sts:ExternalId" "{secret}"}}}}}}"#);
        let error = decode_document(&raw).unwrap_err();
        let message = error.to_string();
        assert!(!message.contains(&secret[..10]), "{message}");
        assert!(!message.contains(&secret[secret.len() - 10..]), "{message}");
        assert!(message.contains("sts:ExternalId"), "{message}");
    }

    #[test]
    fn excerpts_stay_short() {
        let raw = format!("{{\"Sid\": \"{}\" x }}", "ab ".repeat(500));
        let DocumentError::InvalidJson { excerpt, .. } = decode_document(&raw).unwrap_err() else {
            panic!("expected invalid JSON");
        };
        assert!(
            excerpt.chars().count() <= 2 * EXCERPT_CONTEXT_CHARACTERS + 2,
            "{excerpt}"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(raw in any::<String>()) {
            let _ = decode_document(&raw);
        }

        #[test]
        fn percent_heavy_text_never_panics(raw in "[%0-9A-Fa-f{}\":,\\[\\] \n\u{e9}]{0,64}") {
            if let Err(DocumentError::InvalidJson { excerpt, .. }) = decode_document(&raw) {
                prop_assert!(excerpt.chars().count() <= 2 * EXCERPT_CONTEXT_CHARACTERS + 2);
            }
        }

        #[test]
        fn encoding_any_object_round_trips(
            entries in proptest::collection::btree_map("[ -~\u{e9}]{0,12}", "[ -~\u{e9}]{0,12}", 0..5)
        ) {
            let document = Value::Object(
                entries.into_iter().map(|(key, value)| (key, Value::String(value))).collect(),
            );
            let text = document.to_string();
            let encoded =
                percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            prop_assert_eq!(decode_document(&text).unwrap(), document.clone());
            prop_assert_eq!(decode_document(&encoded).unwrap(), document);
        }
    }
}
