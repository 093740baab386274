//! kubectl-fluxjobs: why is a Flux pipeline of Jobs stuck, and how to get it moving again.
//!
//! The diagnosis core ([`engine`]) is a pure function from a [`model::Snapshot`] to a
//! [`report::Report`]; [`cluster`] reads snapshots from a live cluster, [`snapshot`] from offline
//! dumps, and [`render`] prints reports.

pub mod cli;
pub mod cluster;
pub mod commands;
pub mod engine;
pub mod model;
pub mod render;
pub mod report;
pub mod snapshot;
pub mod terminal;
