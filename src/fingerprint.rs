//! fnctl's one way to fingerprint, checksum and digest: SHA-256 as hex. A
//! leaf module (it depends on nothing of fnctl's), so every layer can use it.

/// The first `hex_digits` (at most 64) lowercase hexadecimal digits of the
/// SHA-256 of `data`: fnctl's one way to fingerprint, checksum and digest.
/// The digests fnctl persists (tags, saved plans) are pinned by
/// `model/golden_tests.rs`.
pub(crate) fn sha256_hex(data: &[u8], hex_digits: usize) -> String {
    use sha2::{Digest, Sha256};
    let mut hex: String = Sha256::digest(data)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    hex.truncate(hex_digits);
    hex
}
