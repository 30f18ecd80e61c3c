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

pub use decode::{decode_document, DocumentError, MAXIMUM_DOCUMENT_BYTES};
pub use diff::document_diff;
pub use normalize::{equivalent, normalize, pretty};
