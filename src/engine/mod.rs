//! The diagnosis engine: a pure function from a [`Snapshot`] to a [`Report`]. Live clusters and
//! offline dumps go through the same code.
//!
//! The rules follow what the controllers really do, and cite their sources. The rooms, leaves
//! first; each imports only rooms above it:
//! - `messages`: parsers of the messages the controllers write; `ready_expr`: CEL readyExprs;
//! - `resolution`: what the walk answers (the path, the object at fault, the hint);
//! - `state`: a Kustomization's readiness predicates; `steps`: a ResourceSet's steps and their Jobs;
//! - `index`: lookup tables over the snapshot, and [`StageRules`], what every stage kind answers;
//! - `pods`: one Pod judged by all its containers; `workload`: Jobs, Deployments, StatefulSets,
//!   DaemonSets and their pods; `catalog`: the failure catalog (a row per way a
//!   component reports a failure, with its fix); `hints`: the one next step for each cause;
//! - `named_objects`: objects no LIST covers that a health check names (custom resources);
//! - `controller_failures`: the exact fix of a failure inside kustomize-controller, from its message;
//! - `causes`: the object at fault inside a Kustomization (one function per state);
//! - `graph`: the `dependsOn` graph and the [`Filter`]; `warnings`: pipeline-wide pattern checks;
//! - `helm_hooks`: what a forced reconcile of a HelmRelease runs, and which hook Jobs with it;
//! - `kustomization`, `resource_set`, `helm_release`: each stage kind's [`StageRules`];
//! - `remote`: stages that apply to another cluster (`spec.kubeConfig`), followed or not;
//! - `resolve`: the walk from a stage that is not Ready to the stage at fault, never by kind;
//! - `stage`: assembling the [`Report`].

pub(crate) mod catalog;
mod causes;
mod controller_failures;
mod graph;
pub(crate) mod helm_hooks;
mod helm_release;
pub(crate) mod hints;
mod index;
mod kustomization;
pub(crate) mod messages;
pub(crate) mod named_objects;
pub(crate) mod pods;
mod ready_expr;
pub(crate) mod remote;
mod resolution;
mod resolve;
pub(crate) mod resource_set;
mod rules;
mod stage;
pub(crate) mod state;
mod steps;
pub(crate) mod waiting;
mod wanted;
mod warnings;
pub(crate) mod workload;

use crate::model::Snapshot;
use crate::report::Report;

pub(crate) use graph::{EngineError, Filter, Graph};
pub(crate) use index::{Index, holds_job, inventory_objects, owner_of};
pub(crate) use rules::{JobRecreation, RequestOutcome, request_outcome, rules};
pub(crate) use wanted::{Wanted, warning_namespaces_shown_by};

/// Runs the diagnosis.
pub(crate) fn diagnose(snapshot: &Snapshot, filter: &Filter) -> Result<Report, EngineError> {
    // Each other cluster read: this snapshot's stages and sources over that cluster's objects.
    let elsewhere: Vec<(crate::refs::NamespacedName, Snapshot)> = snapshot
        .remotes
        .iter()
        .filter_map(|r| Some((r.secret.clone(), snapshot.over_workloads_of(r.workloads.as_ref().ok()?))))
        .collect();
    let remote_indexes: Vec<(crate::refs::NamespacedName, Index)> =
        elsewhere.iter().map(|(secret, snapshot)| (secret.clone(), Index::new(snapshot))).collect();
    let index = Index::new(snapshot)
        .with_remote_indexes(remote_indexes.iter().map(|(secret, index)| (secret.clone(), index)).collect());
    let graph = Graph::new(snapshot);
    let shown = graph.select(&index, filter)?;
    Ok(stage::report(&index, &graph, &shown))
}

#[cfg(test)]
mod rule_tests;
