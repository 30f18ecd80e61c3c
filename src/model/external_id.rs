//! External IDs: the secret that keeps other Segment customers from assuming
//! a role (the confused-deputy problem). Generated from the operating
//! system's secure random source; only a short fingerprint is ever shown.

/// Length of a generated external ID.
pub const LENGTH: usize = 48;
/// Segment's recommended minimum; shorter adopted IDs get a warning.
pub const RECOMMENDED_MINIMUM: usize = 32;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// An external ID: a secret. `Debug` and `Display` show `(sensitive)` and a
/// fingerprint, never the value, so no log line, error or failing assertion
/// can leak it; [`ExternalId::expose`] is the one way to the value (bundles,
/// trust policies sent to IAM).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExternalId(String);

impl ExternalId {
    /// Wraps a value read from IAM, a bundle or a test.
    pub fn new(value: impl Into<String>) -> Self {
        ExternalId(value.into())
    }

    /// A fresh external ID: 48 characters of `[A-Za-z0-9]`, drawn without
    /// modulo bias from the OS random source.
    pub(crate) fn generate() -> Result<Self, getrandom::Error> {
        random_token().map(ExternalId)
    }

    /// The secret itself, for the places that must carry it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// A non-secret fingerprint (12 hex characters of SHA-256), safe for tags
    /// and output: it tells IDs apart without revealing them.
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.0)
    }

    /// Length in characters (shorter than Segment recommends gets a warning).
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the ID is empty (never for a valid one).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Comparing with a literal keeps tests and checks readable; it reveals nothing.
impl PartialEq<&str> for ExternalId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Debug for ExternalId {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "ExternalId((sensitive) {})", self.fingerprint())
    }
}

impl std::fmt::Display for ExternalId {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("(sensitive)")
    }
}

/// 48 characters of `[A-Za-z0-9]` from the OS random source (also used for
/// lease owners, which are not secret).
pub(crate) fn random_token() -> Result<String, getrandom::Error> {
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

/// The fingerprint of a raw value (see [`ExternalId::fingerprint`]).
fn fingerprint_of(id: &str) -> String {
    crate::model::digest::sha256_hex(format!("fnctl-external-id:{id}").as_bytes(), 12)
}

/// Whether `text` is a value AWS accepts for `sts:ExternalId`.
pub(crate) fn is_acceptable(text: &str) -> bool {
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
        let first = ExternalId::generate().unwrap();
        let second = ExternalId::generate().unwrap();
        assert_eq!(first.len(), LENGTH);
        assert!(first.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(first, second);
        assert!(is_acceptable(first.expose()));
    }

    #[test]
    fn fingerprints_are_short_stable_and_distinct() {
        let id = |text: &str| ExternalId::new(text).fingerprint();
        assert_eq!(id("abc"), id("abc"));
        assert_ne!(id("abc"), id("abd"));
        assert_eq!(id("abc").len(), 12);
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let id = ExternalId::new("SuperSecretValue0123456789");
        for shown in [
            format!("{id:?}"),
            format!("{id}"),
            format!("{:?}", vec![id.clone()]),
        ] {
            assert!(!shown.contains("SuperSecret"), "{shown}");
            assert!(shown.contains("(sensitive)"), "{shown}");
        }
        assert_eq!(id.expose(), "SuperSecretValue0123456789");
    }
}
