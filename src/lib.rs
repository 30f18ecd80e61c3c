//! fnctl keeps the AWS side of Segment Functions (IAM roles, trust and
//! permission policies, external IDs) true to YAML manifests kept in git.
//!
//! The shape: manifests → desired model → live model (read through the
//! [`iam`] backend) → [`plan::plan`], a pure function → executor → bundles.

pub mod accounts;
pub mod apply;
pub mod aws;
pub mod bundle;
pub mod cli;
pub mod commands;
pub mod digest;
pub mod drift;
pub mod drift_report;
pub mod external_id;
pub mod iam;
pub mod lock;
pub mod manifest;
pub mod model;
pub mod output;
pub mod plan;
pub mod policy;
pub mod render;
pub mod rotate;
pub mod snapshot;
pub mod tags;
pub mod verify;
