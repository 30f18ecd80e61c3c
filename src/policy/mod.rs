//! IAM policy documents as fnctl reads, compares and shows them: decoding
//! the text IAM returns, normalizing a document into a canonical form so that
//! comparison is semantic rather than textual, and diffing two documents for
//! plans. Everything here is pure: no I/O, no AWS SDK types.

pub mod decode;
pub mod diff;
pub mod evaluate;
pub mod glob;
pub mod normalize;
pub mod reference;

pub(crate) use decode::decode_document;
pub(crate) use diff::document_diff;
pub(crate) use normalize::normalize;
