//! What the engine will read of the events that are no Warnings, known from a snapshot before it
//! is diagnosed: most events of a cluster are Normal, and the engine reads a few of them about a
//! few objects only, so the live read LISTs them only in these namespaces.

use std::collections::{BTreeSet, HashSet};

use super::index::inventory_objects;
use crate::model::Snapshot;
use crate::refs::MetaNames;
use crate::vocabulary::Kind;

/// The namespaces whose non-Warning events the engine may read: those of a Job with no pods (what
/// its gone pods left, `Preempted` among it: `Index::gone_pod_events`), of a Job a stage's
/// inventory names that is gone (whether it `Completed`: `Index::job_completed_before`), and of a
/// ResourceSet's input provider (when it exported: `Index::exported_at`). A superset is harmless:
/// it only costs a LIST.
pub(crate) fn other_events_wanted(snapshot: &Snapshot) -> BTreeSet<String> {
    // Pods by the uid of their owner, or by its namespace and name (a Job without a uid, in fixtures),
    // as `Index::pods_of_job` finds them.
    let owner_uids: HashSet<&str> = snapshot
        .pods
        .iter()
        .flat_map(|pod| pod.metadata.owner_references.iter().flatten().map(|o| o.uid.as_str()))
        .collect();
    let owner_names: HashSet<(&str, &str)> = snapshot
        .pods
        .iter()
        .flat_map(|pod| {
            pod.metadata.owner_references.iter().flatten().map(|o| (pod.metadata.namespace_str(), o.name.as_str()))
        })
        .collect();
    let jobs: HashSet<(&str, &str)> =
        snapshot.jobs.iter().map(|j| (j.metadata.namespace_str(), j.metadata.name_str())).collect();
    let mut out = BTreeSet::new();
    for job in &snapshot.jobs {
        let (ns, name) = (job.metadata.namespace_str(), job.metadata.name_str());
        let owned = match job.metadata.uid.as_deref() {
            Some(uid) => owner_uids.contains(uid),
            None => owner_names.contains(&(ns, name)),
        };
        if !owned {
            out.insert(ns.to_string());
        }
    }
    for stage in snapshot.stages() {
        for job in inventory_objects(stage.inventory(), "batch", "Job") {
            if !jobs.contains(&(job.namespace.as_str(), job.name.as_str())) {
                out.insert(job.namespace);
            }
        }
        if let Some(source) = stage.source().filter(|s| s.kind == Kind::ResourceSetInputProvider) {
            out.insert(source.namespace);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Filter, diagnose};
    use crate::snapshot::parse_snapshot;

    /// The snapshot with the non-Warning events outside `kept` dropped, as the live read leaves it.
    fn narrowed(snapshot: &Snapshot, kept: &BTreeSet<String>) -> Snapshot {
        let mut out = snapshot.clone();
        out.events.retain(|e| {
            e.type_.as_deref() == Some("Warning") || kept.contains(e.metadata.namespace.as_deref().unwrap_or_default())
        });
        out
    }

    fn json(snapshot: &Snapshot) -> String {
        serde_json::to_string(&diagnose(snapshot, &Filter::default()).expect("diagnosis")).unwrap()
    }

    #[test]
    fn every_example_reads_the_same_without_the_events_it_does_not_want() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        for entry in
            std::fs::read_dir(dir).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let snapshot = parse_snapshot(&text, "example").unwrap();
            let wanted = other_events_wanted(&snapshot);
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
        let wanted = other_events_wanted(&snapshot);
        assert!(wanted.contains("shop"), "{wanted:?}");
        assert_eq!(json(&narrowed(&snapshot, &wanted)), json(&snapshot));
        assert_ne!(json(&narrowed(&snapshot, &BTreeSet::new())), json(&snapshot), "the test can fail");
    }
}
