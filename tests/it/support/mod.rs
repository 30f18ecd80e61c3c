//! The harness of fnctl's integration tests, one concept per module.
//!
//! - [`moto`]: a private moto server per test, SDK clients and raw HTTP for it.
//! - [`aws_cli`]: the AWS CLI's exports of an account's roles (`--snapshot`).
//! - [`command`]: the built `fnctl` binary run against a moto (or offline).
//! - [`env`]: one test's world (moto, workspace, SDK client, everything
//!   fnctl printed) that checks on drop that no external ID leaked.
//! - [`spec`]: the contract's names (Segment's accounts, role path, tags).
//! - [`standard`]: the reconcile tests' two-instance manifest and its checks.
//! - [`generated`]: scopes of N generated instances and their checks.
//! - [`trust`]: an independent reading of trust policies (not fnctl's).
//! - [`external_id`]: external IDs as the tests make and compare them.
//! - [`percent`]: percent-encoding of policy documents.
//! - [`transcript`]: what fnctl printed, searched for leaked external IDs.
//! - [`fault_proxy`]: a fault-injecting HTTP proxy between fnctl and moto.
//! - [`segment`]: Segment's Public API: the test server behind Prism.

pub mod aws_cli;
pub mod command;
pub mod env;
pub mod external_id;
pub mod fault_proxy;
pub mod generated;
pub mod moto;
pub mod percent;
pub mod segment;
pub mod spec;
pub mod standard;
pub mod transcript;
pub mod trust;
