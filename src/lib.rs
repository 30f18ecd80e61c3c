//! fnctl keeps the AWS side of Segment Functions (IAM roles, trust and
//! permission policies, external IDs) true to YAML manifests kept in git.
//!
//! The shape: manifests → desired model → live model (read through the
//! [`iam`] backend) → [`plan::plan`], a pure function → executor → bundles.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod external_id;
pub mod manifest;
pub mod model;
pub mod output;
pub mod policy;
pub mod render;
