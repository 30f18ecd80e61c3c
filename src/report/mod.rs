//! Renderers of plans and drift reports as text, JSON and markdown. Every
//! JSON document carries [`FORMAT_VERSION`] so CI scripts can rely on it.

pub mod drift;
pub mod notice;
pub mod plan;
pub mod style;

pub use crate::model::FORMAT_VERSION;
