//! The exact values fnctl persists in IAM tags, pinned.
//!
//! Changing them makes every managed role report a change (the
//! `fnctl:applied` digests) or lose track of its external ID (the
//! `fnctl:external-id` fingerprint): only change them deliberately, with a
//! migration in mind. The instance is spelled out here, not taken from the
//! shared fixtures, so that no change to test data moves these values.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::model::digest::{self, Aspect, Digests};
use crate::model::{external_id, DesiredInstance, FunctionKind, Origin};

fn pinned_instance() -> DesiredInstance {
    DesiredInstance {
        name: "orders-export".into(),
        kind: FunctionKind::Destination,
        scope: "payments".into(),
        account: Some("123456789012".into()),
        assume_role: None,
        segment_account: "458175278816".into(),
        role_name: "segment-fn-orders-export".into(),
        role_path: "/segment-functions/".into(),
        description: "Segment destination function orders-export".into(),
        default_description: false,
        max_session_duration: 3600,
        permissions_boundary: Some("arn:aws:iam::123456789012:policy/segment-boundary".into()),
        tags: BTreeMap::from([
            ("cost-center".to_string(), "4711".to_string()),
            ("team".to_string(), "data".to_string()),
        ]),
        inline_policy: Some(json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "BucketWrite",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": ["arn:aws:s3:::orders-exports/segment/*"]
            }]
        })),
        inline_policy_name: None,
        managed_policies: BTreeSet::from([
            "arn:aws:iam::aws:policy/CloudWatchLogsReadOnlyAccess".to_string()
        ]),
        rotate_after_days: Some(90),
        segment: None,
        settings: BTreeMap::new(),
        origin: Origin {
            file: "functions.yaml".into(),
            line: 7,
        },
    }
}

#[test]
fn the_applied_digest_of_a_fixed_instance_is_pinned() {
    let encoded = digest::desired(&pinned_instance()).encode();
    assert_eq!(
        encoded,
        "t=744223f7 p=e6644aa2 m=5cf15895 b=a449962a g=c7c40069 r=3d33a248"
    );
    // The tag decodes to the same digests, one per aspect.
    let decoded = Digests::decode(&encoded).expect("fnctl reads its own tag");
    assert_eq!(decoded.0.len(), 6);
    assert!(decoded.get(Aspect::Trust).is_some());
}

#[test]
fn the_external_id_fingerprint_is_pinned() {
    assert_eq!(
        external_id::ExternalId::new("AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKl")
            .fingerprint(),
        "b1875ab681f7"
    );
    assert_eq!(
        external_id::ExternalId::new("short-id-1").fingerprint(),
        "f45489b3fb86"
    );
}

/// The one SHA-256 helper every fingerprint, digest and checksum goes
/// through: a known vector, cut to the lengths fnctl persists.
#[test]
fn the_sha256_helper_is_sha256_in_lowercase_hex() {
    let full = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(digest::sha256_hex(b"abc", 64), full);
    for digits in [8, 12, 16, 24] {
        assert_eq!(digest::sha256_hex(b"abc", digits), full[..digits]);
    }
}
