//! Names of fnctl's contract (SPEC.md) that the tests check against: Segment's
//! accounts, fnctl's default role path and name, its inline policy and its
//! tag keys. Spelled out here rather than taken from src/, so a test fails
//! when fnctl drifts from the contract instead of following it.

use super::moto::MOTO_ACCOUNT;

/// Segment's AWS account that assumes the roles of destination functions.
pub const DESTINATION_ACCOUNT: &str = "458175278816";
/// Segment's AWS account that assumes the roles of source functions.
pub const SOURCE_ACCOUNT: &str = "300240842537";
/// The role path every test manifest uses (`defaults.rolePath`).
pub const PATH: &str = "/segment-functions/";
/// The name of the inline policy fnctl writes on each role.
pub const INLINE: &str = "fnctl-permissions";

/// Tag keys of the external-ID lifecycle (SPEC "External IDs", issue 5).
pub const TAG_EXTERNAL_ID: &str = "fnctl:external-id";
pub const TAG_CREATED: &str = "fnctl:external-id-created";
pub const TAG_PENDING: &str = "fnctl:rotation-pending";
pub const TAG_STARTED: &str = "fnctl:rotation-started";

/// `segment-fn-<instance>`, fnctl's default role name.
pub fn role_of(instance: &str) -> String {
    format!("segment-fn-{instance}")
}

/// The ARN of `role` under [`PATH`] in moto's default account.
pub fn role_arn(role: &str) -> String {
    format!("arn:aws:iam::{MOTO_ACCOUNT}:role{PATH}{role}")
}
