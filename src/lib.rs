//! kubectl-fluxjobs: why is a Flux pipeline of Jobs stuck, and how to get it moving again.
//!
//! Data flows one way: flags (`cli`) are resolved once into a [`context::Context`]; `cluster`
//! reads a `model::Snapshot` from a live cluster (or `snapshot` from an offline dump); the pure
//! `engine` turns it into a `report::Report`; `render` prints it. Writes live in `cluster::write`;
//! the verbs in [`commands`] are thin workflows over them, and `plan` decides what `rerun` does.
//!
//! Only what the binary and the tests need is public; everything else is the crate's own.

mod chain;
pub mod cli;
mod cluster;
pub mod commands;
pub mod context;
mod duration;
mod engine;
pub mod error;
mod model;
mod plan;
mod refs;
mod render;
mod report;
mod schema;
mod selector;
mod snapshot;
pub mod terminal;
mod verdict;
mod vocabulary;

/// What the end-to-end and CLI tests drive directly: the connection the binary builds, the writes
/// `rerun` makes, the manifest it restores from, and the capture command.
pub mod testing {
    pub use crate::cluster::{ConnectOptions, connect, get, read, write};
    pub use crate::model::{capture_command, capture_command_lines, captured_kinds, read_resources};
    pub use crate::plan::restorable;
    pub use crate::refs::NamespacedName;
}
