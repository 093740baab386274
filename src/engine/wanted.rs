//! What the engine will read of the parts of kinds read only when wanted, known from a snapshot
//! before it is diagnosed: most events of a cluster are Normal and most of its pods belong to its
//! applications, and the engine reads a few of them about a few objects only, so the live read
//! LISTs them only in these namespaces ([`crate::model::Want`]).

use std::collections::BTreeSet;

use super::index::{Index, inventory_objects};
use super::messages::{health_check_refs, not_ready_refs};
use super::workload::{daemon_set_rollout, deployment_trouble, stateful_set_rollout};
use crate::model::{Snapshot, Want};
use crate::refs::MetaNames;
use crate::vocabulary::Kind;

/// The namespaces where the engine reads each part read when wanted. A superset is harmless: it
/// only costs a LIST.
#[derive(Debug, Default)]
pub(crate) struct Wanted {
    other_events: BTreeSet<String>,
    other_pods: BTreeSet<String>,
}

impl Wanted {
    pub(crate) fn of(snapshot: &Snapshot) -> Self {
        Wanted { other_events: other_events_wanted(snapshot), other_pods: other_pods_wanted(snapshot) }
    }

    pub(crate) fn namespaces(&self, want: Want) -> &BTreeSet<String> {
        match want {
            Want::OtherEvents => &self.other_events,
            Want::OtherPods => &self.other_pods,
        }
    }
}

/// The namespaces whose non-Warning events the engine may read: those of a Job with no pods (what
/// its gone pods left, `Preempted` among it: `Index::gone_pod_events`), of a Job a stage's
/// inventory names that is gone (whether it `Completed`: `Index::job_completed_before`), and of a
/// ResourceSet's input provider (when it exported: `Index::exported_at`).
fn other_events_wanted(snapshot: &Snapshot) -> BTreeSet<String> {
    let index = Index::new(snapshot);
    let mut out = BTreeSet::new();
    for job in snapshot.jobs.iter().filter(|job| index.pods_of_job(job).is_empty()) {
        out.insert(job.metadata.namespace_str().to_string());
    }
    for stage in snapshot.stages() {
        for job in inventory_objects(stage.inventory(), "batch", "Job") {
            if index.job(&job.namespace, &job.name).is_none() {
                out.insert(job.namespace);
            }
        }
        if let Some(source) = stage.source().filter(|s| s.kind == Kind::ResourceSetInputProvider) {
            out.insert(source.namespace);
        }
    }
    out
}

/// The namespaces whose pods no Job owns the engine may read: those of a Deployment, StatefulSet
/// or DaemonSet that is not done (its cause is one of its pods: `workload::deployment_cause`,
/// `pod_set_cause`), of a Pod a stage's inventory or condition names (a bare Helm hook:
/// `helm_release`), and of a Job that selects its own pods (they may carry no Job label).
fn other_pods_wanted(snapshot: &Snapshot) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut want = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        out.insert(meta.namespace_str().to_string());
    };
    snapshot.deployments.iter().filter(|d| deployment_trouble(d).is_some()).for_each(|d| want(&d.metadata));
    snapshot.stateful_sets.iter().filter(|s| stateful_set_rollout(s).is_some()).for_each(|s| want(&s.metadata));
    snapshot.daemon_sets.iter().filter(|d| daemon_set_rollout(d).is_some()).for_each(|d| want(&d.metadata));
    let selects_own =
        |job: &&k8s_openapi::api::batch::v1::Job| job.spec.as_ref().and_then(|s| s.manual_selector) == Some(true);
    snapshot.jobs.iter().filter(selects_own).for_each(|j| want(&j.metadata));
    for stage in snapshot.stages() {
        out.extend(inventory_objects(stage.inventory(), "", "Pod").into_iter().map(|p| p.namespace));
        let named = stage
            .conditions()
            .iter()
            .flat_map(|c| health_check_refs(&c.message).into_iter().chain(not_ready_refs(&c.message)));
        out.extend(named.filter(|(o, _)| o.kind == Kind::Pod).map(|(o, _)| o.namespace));
    }
    out
}

#[cfg(test)]
/// The snapshot as the live read leaves it: the non-Warning events, and the pods no Job owns,
/// outside the namespaces `wanted` names for them dropped. (A Job's pods carry its uid label in a
/// cluster, which the fixtures do not always write: a pod with a Job owner stands for one.)
pub(in crate::engine) fn narrowed(snapshot: &Snapshot, wanted: &Wanted) -> Snapshot {
    let mut out = snapshot.clone();
    let ns = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| meta.namespace_str().to_string();
    out.events.retain(|e| e.type_.as_deref() == Some("Warning") || wanted.other_events.contains(&ns(&e.metadata)));
    out.pods.retain(|p| {
        let of_job = p.metadata.owner_references.iter().flatten().any(|o| o.kind == "Job");
        of_job || wanted.other_pods.contains(&ns(&p.metadata))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Filter, diagnose};
    use crate::snapshot::parse_snapshot;

    fn json(snapshot: &Snapshot) -> String {
        serde_json::to_string(&diagnose(snapshot, &Filter::default()).expect("diagnosis")).unwrap()
    }

    #[test]
    fn every_example_reads_the_same_without_the_events_and_pods_it_does_not_want() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        for entry in
            std::fs::read_dir(dir).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let snapshot = parse_snapshot(&text, "example").unwrap();
            let wanted = Wanted::of(&snapshot);
            assert_eq!(json(&narrowed(&snapshot, &wanted)), json(&snapshot), "{}", entry.path().display());
        }
    }

    /// A Job a stage's inventory names, deleted by its TTL after it completed: the `Completed`
    /// event tells it from an unexpected deletion, so its namespace is wanted, and without it the
    /// report would differ.
    #[test]
    fn a_gone_job_wants_its_namespaces_other_events() {
        use crate::verdict::verdict_tests::{NEW, NS, git, ks, ready_at};
        let completed = serde_json::json!({
            "apiVersion": "v1", "kind": "Event", "type": "Normal", "reason": "Completed",
            "message": "Job completed", "metadata": {"name": "db-migration.1", "namespace": NS},
            "involvedObject": {"kind": "Job", "name": "db-migration", "namespace": NS},
            "lastTimestamp": "2026-11-24T10:01:00Z",
        });
        let objects = vec![git(NEW), ks("app-pre-deploy", &[], ready_at(NEW), NEW, NEW, &["db-migration"]), completed];
        let text = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects}).to_string();
        let snapshot = parse_snapshot(&text, "fixture").unwrap();
        let wanted = Wanted::of(&snapshot);
        assert!(wanted.other_events.contains("shop"), "{wanted:?}");
        assert_eq!(json(&narrowed(&snapshot, &wanted)), json(&snapshot));
        assert_ne!(json(&narrowed(&snapshot, &Wanted::default())), json(&snapshot), "the test can fail");
    }
}
