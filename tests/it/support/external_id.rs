//! External IDs as the tests make and compare them.

/// A 48-character `[A-Za-z0-9]` ID of the test's own (for simulated crashes).
pub fn test_id(seed: &str) -> String {
    let mut id: String = seed.chars().filter(char::is_ascii_alphanumeric).collect();
    while id.len() < 48 {
        id.push('0');
    }
    id.truncate(48);
    id
}

/// fnctl's fingerprint of an ID, the value its tags hold.
pub fn fingerprint(id: &str) -> String {
    fnctl::model::external_id::ExternalId::new(id).fingerprint()
}

/// `ids` in order, to compare sets of IDs with a readable failure.
pub fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// The shape SPEC gives a generated ID: 48 characters of `[A-Za-z0-9]`.
pub fn assert_external_id_shape(id: &str) {
    assert_eq!(id.len(), 48, "external ID length");
    assert!(
        id.bytes().all(|b| b.is_ascii_alphanumeric()),
        "external ID is not [A-Za-z0-9]"
    );
}
