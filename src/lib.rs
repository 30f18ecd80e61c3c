//! fnctl keeps the AWS side of Segment Functions (IAM roles, trust and
//! permission policies, external IDs) true to YAML manifests kept in git.
//!
//! The modules follow the reconcile flow, and dependencies point one way
//! (down this list, never up):
//!
//! - [`cli`]: the only layer that knows clap, stdout, colour and exit codes;
//! - [`execute`] and [`check`]: the services (read and plan a session, apply,
//!   rotate; drift and verify) that commands call;
//! - [`report`]: plans, drift and diagnostics rendered as text, JSON, markdown;
//! - [`plan`]: the pure planner and saved plans;
//! - [`live`]: IAM behind a trait (every AWS SDK type stays in [`live::aws`]);
//! - [`bundle`]: the settings bundles each function instance needs;
//! - [`manifest`]: YAML files to the validated desired model;
//! - [`model`] and [`policy`]: plain data and the IAM policy language;
//! - [`fingerprint`]: the one SHA-256 helper, a leaf every layer may use.

pub mod bundle;
pub mod check;
pub mod cli;
pub mod execute;
pub mod fingerprint;
pub mod live;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod policy;
pub mod report;
