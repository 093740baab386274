//! kubectl-fluxjobs: why is a Flux pipeline of Jobs stuck, and how to get it moving again.
//!
//! Data flows one way: flags ([`cli`]) are resolved once into a [`context::Context`]; [`cluster`]
//! reads a [`model::Snapshot`] from a live cluster (or [`snapshot`] from an offline dump); the pure
//! [`engine`] turns it into a [`report::Report`]; [`render`] prints it. Writes live in
//! [`cluster::write`]; the verbs in [`commands`] are thin workflows over them.

pub mod cli;
pub mod cluster;
pub mod commands;
pub mod context;
pub mod duration;
pub mod engine;
pub mod error;
pub mod model;
pub mod plan;
pub mod refs;
pub mod render;
pub mod report;
pub mod snapshot;
pub mod terminal;
