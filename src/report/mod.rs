//! Renderers of plans and drift reports as text, JSON and markdown. Every
//! JSON document carries [`FORMAT_VERSION`] so CI scripts can rely on it.

pub mod drift;
pub mod functions;
pub mod notice;
pub mod plan;
pub mod style;

pub use crate::model::FORMAT_VERSION;

/// An error and its causes on one line, `error: cause: cause` (progress
/// lines and the failure list of apply and rotate, which CI logs and `grep`
/// read line by line).
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        line.push_str(": ");
        line.push_str(&next.to_string());
        cause = next.source();
    }
    line
}
