//! The diagnosis engine: a pure function from a [`Snapshot`] to a [`Report`]. Live clusters and
//! offline dumps go through the same code.
//!
//! The rules follow what the controllers really do, and cite their sources. The rooms:
//! - [`state`]: each stage's own state, judged from its spec and status;
//! - `resolve`: the walk from a stage that is not Ready, through `dependsOn`, to the stage at fault;
//! - `causes`: the object at fault inside that stage (one function per state);
//! - [`messages`]: parsers of the messages the controllers write;
//! - `hints`: the one next step for each cause; `warnings`: pipeline-wide pattern checks;
//! - [`workload`]: Jobs, Pods and Deployments; [`graph`]: the `dependsOn` graph;
//! - `stage`: assembling the [`Report`].

mod causes;
mod graph;
pub mod hints;
mod index;
mod kustomization;
pub mod messages;
mod ready_expr;
mod resolution;
mod resolve;
pub mod resource_set;
mod stage;
pub mod state;
mod steps;
mod warnings;
pub mod workload;

use crate::model::Snapshot;
use crate::report::Report;

pub use graph::Graph;
pub use index::{
    Index, JobRecreation, RequestOutcome, StageRules, inventory_objects, owner_of, parse_inventory_id, request_outcome,
    rules,
};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EngineError {
    #[error("stage {0:?} not found{1}")]
    UnknownStage(String, String),
}

/// Which stages to show.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only stages in this namespace (and what they depend on); `None` for all.
    pub namespace: Option<String>,
    /// Only this stage (`name` or `ns/name`) and everything upstream of it.
    pub stage: Option<String>,
    /// Label selector on stages (`a=b,c!=d,e`), for snapshots; live LISTs apply it server-side.
    pub selector: Option<String>,
}

/// Runs the diagnosis.
pub fn diagnose(snapshot: &Snapshot, filter: &Filter) -> Result<Report, EngineError> {
    let index = Index::new(snapshot);
    let graph = Graph::new(snapshot);
    let shown = graph.select(&index, filter)?;
    Ok(stage::report(&index, &graph, &shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_inventory_ids() {
        assert_eq!(
            parse_inventory_id("apps_db-migration_batch_Job"),
            Some(("apps".into(), "db-migration".into(), "batch".into(), "Job".into()))
        );
        assert_eq!(
            parse_inventory_id("default_podinfo__Service"),
            Some(("default".into(), "podinfo".into(), "".into(), "Service".into()))
        );
        assert_eq!(
            parse_inventory_id("apps_my_job_batch_Job"),
            Some(("apps".into(), "my_job".into(), "batch".into(), "Job".into()))
        );
        assert_eq!(parse_inventory_id("garbage"), None);
    }
}

#[cfg(test)]
mod rule_tests;
