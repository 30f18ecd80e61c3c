//! External IDs: the secret that keeps other Segment customers from assuming
//! a role (the confused-deputy problem). Generated from the operating
//! system's secure random source; only a short fingerprint is ever shown.

use sha2::{Digest, Sha256};

/// Length of a generated external ID.
pub const LENGTH: usize = 48;
/// Segment's recommended minimum; shorter adopted IDs get a warning.
pub const RECOMMENDED_MINIMUM: usize = 32;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A fresh external ID: 48 characters of `[A-Za-z0-9]`, drawn without modulo
/// bias from the OS random source.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut id = String::with_capacity(LENGTH);
    let mut buffer = [0u8; 64];
    while id.len() < LENGTH {
        getrandom::fill(&mut buffer)?;
        for byte in buffer {
            // 248 = 4 × 62: rejecting bytes above it keeps every letter equally likely.
            if (byte as usize) < 4 * ALPHABET.len() && id.len() < LENGTH {
                id.push(ALPHABET[byte as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(id)
}

/// A non-secret fingerprint of an ID (12 hex characters of SHA-256), safe for
/// tags and output: it tells IDs apart without revealing them.
pub fn fingerprint(id: &str) -> String {
    let digest = Sha256::digest(format!("fnctl-external-id:{id}").as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Whether `text` is a value AWS accepts for `sts:ExternalId`.
pub fn is_acceptable(text: &str) -> bool {
    (2..=1224).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_the_promised_shape_and_differ() {
        let first = generate().unwrap();
        let second = generate().unwrap();
        assert_eq!(first.len(), LENGTH);
        assert!(first.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(first, second);
        assert!(is_acceptable(&first));
    }

    #[test]
    fn fingerprints_are_short_stable_and_distinct() {
        assert_eq!(fingerprint("abc"), fingerprint("abc"));
        assert_ne!(fingerprint("abc"), fingerprint("abd"));
        assert_eq!(fingerprint("abc").len(), 12);
    }
}
