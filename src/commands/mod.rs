//! One module per verb, as flux2's cmd/flux does.

pub mod complete;
pub mod follow;
pub mod mcp;
pub mod reconcile;
pub mod rerun;
pub mod status;
pub mod version;
pub mod wait;
