//! fnctl's integration tests: one binary, one module per area (as `just`
//! does with tests/lib.rs). Each test binary links the AWS SDK; one binary
//! links it once, and libtest keeps its thread pool busy across areas
//! instead of waiting for the slowest test of each binary.
//!
//! Tests run concurrently on libtest's threads: a test never changes the
//! process environment or the current directory (it passes both to the child
//! `Command`), and every test that talks to IAM starts its own moto, whose
//! state is global to the server (see `support::moto`).

mod support;

mod architecture;
mod concurrency;
mod docs;
mod drift;
mod examples;
mod faults;
mod function_plans;
mod fuzz_loader;
mod hand_edits;
mod harness;
mod help;
mod iam_backend;
mod import;
mod install;
mod kills;
mod leases;
mod lifecycle;
mod loader_properties;
mod multi_account;
mod out_of_band;
mod plan_apply;
mod reference_lint;
mod rotation;
mod saved_plan_guard;
mod schema;
mod secrets;
mod seed_function;
mod segment_api;
mod segment_functions;
mod throttling;
mod validate;
mod verbosity_and_endpoints;
