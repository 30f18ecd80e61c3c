//! Read-only checks of what is live against what should be: drift (changed
//! by hand since the last apply) and verify (the function can get in, a
//! stranger cannot).

pub mod drift;
pub mod functions;
pub mod verify;

#[cfg(test)]
mod drift_tests;
