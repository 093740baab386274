//! One module per verb, as flux2's cmd/flux does.

pub mod status;
