//! Percent-encoding as IAM's query API carries policy documents: IAM returns
//! documents URL-encoded (moto only some of them), and the fault proxy reads
//! form bodies and quotes documents encoded in the AWS errors it fakes.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

/// Everything but RFC 3986's unreserved characters is encoded.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `%XX` sequences decoded; a `%` not followed by two hex digits is kept.
pub fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, NOT_UNRESERVED).to_string()
}

/// A policy document as IAM returns it, parsed: as is when it is JSON, else
/// percent-decoded first. The panic does not quote the document: it may hold
/// an external ID.
pub fn decode_document(text: &str) -> Value {
    if let Ok(value) = serde_json::from_str(text) {
        return value;
    }
    serde_json::from_str(&decode(text)).unwrap_or_else(|e| panic!("document is not JSON ({e})"))
}
