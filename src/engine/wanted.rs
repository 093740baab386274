//! What the engine will read of the parts of kinds read only when wanted, known from a snapshot
//! before it is diagnosed: most events of a cluster are Normal and most of its pods belong to its
//! applications, and the engine reads a few of them about a few objects only, so the live read
//! LISTs them only in these namespaces ([`crate::model::Want`]).

use std::collections::BTreeSet;

use super::index::{Index, inventory_objects};
use super::messages::{health_check_refs, not_ready_refs};
use super::workload::{daemon_set_rollout, deployment_trouble, job_state, stateful_set_rollout};
use crate::model::{Condition, Snapshot, StageObject, Want};
use crate::refs::{MetaNames, StageId};
use crate::report::JobState;
use crate::vocabulary::{ConditionType, Kind, KubeCondition, PodPhase};

/// The namespaces where the engine reads each part read when wanted. A superset is harmless: it
/// only costs a LIST.
#[derive(Debug, Default)]
pub(crate) struct Wanted {
    warning_events: BTreeSet<String>,
    other_events: BTreeSet<String>,
    other_pods: BTreeSet<String>,
}

impl Wanted {
    pub(crate) fn of(snapshot: &Snapshot) -> Self {
        let index = Index::new(snapshot);
        let other_events = other_events_wanted(snapshot, &index);
        let other_pods = other_pods_wanted(snapshot);
        let mut warning_events = warning_events_wanted(snapshot, &index);
        warning_events.extend(other_events.iter().chain(&other_pods).cloned());
        Wanted { warning_events, other_events, other_pods }
    }

    pub(crate) fn namespaces(&self, want: Want) -> &BTreeSet<String> {
        match want {
            Want::WarningEvents => &self.warning_events,
            Want::OtherEvents => &self.other_events,
            Want::OtherPods => &self.other_pods,
        }
    }
}

/// The namespaces whose Warning events the engine may read: it reads them only into root causes,
/// about what is not done. A superset of where a root cause can be: the namespaces of every Job not
/// `Complete` and pod not `Succeeded` nor running Ready, and those of every stage that is not at
/// rest, of the stages it depends on (transitively), and of their sources and the objects their
/// conditions name. (The caller adds where the other events and pods are wanted: gone Jobs, Jobs
/// without pods, named pods, and a Deployment, StatefulSet or DaemonSet rolling out, which
/// [`other_pods_wanted`] finds.) Where everything is Ready and done, none.
fn warning_events_wanted(snapshot: &Snapshot, index: &Index) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = unfinished_job_namespaces(snapshot).collect();
    let mut want = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        out.insert(meta.namespace_str().to_string());
    };
    for pod in &snapshot.pods {
        let ns = pod.metadata.namespace_str();
        let owners = || pod.metadata.owner_references.iter().flatten().filter(|o| o.kind == "Job");
        let owned_by_complete_job = || owners().any(|o| index.job(ns, &o.name).is_some_and(job_complete));
        if !pod_at_rest(pod) && !owned_by_complete_job() {
            want(&pod.metadata);
        }
    }
    let mut todo: Vec<StageId> =
        snapshot.stages().filter(|stage| !stage_at_rest(index, *stage)).map(|stage| stage.id()).collect();
    let mut seen = BTreeSet::new();
    while let Some(id) = todo.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        out.insert(id.namespace.clone());
        let Some(stage) = index.stage_object(&id).map(|s| s.object()) else { continue };
        out.extend(stage.object_namespaces());
        out.extend(stage.source().map(|source| source.namespace));
        let named = stage
            .conditions()
            .iter()
            .flat_map(|c| health_check_refs(&c.message).into_iter().chain(not_ready_refs(&c.message)));
        out.extend(named.map(|(object, _)| object.namespace));
        todo.extend(stage.dependency_ids());
    }
    out
}

/// Whether a pod has nothing to say: it succeeded, or it runs and is Ready.
fn pod_at_rest(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    let ready = || {
        let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
        conditions.into_iter().flatten().any(|c| c.kind() == ConditionType::Ready && c.state().is_true())
    };
    match PodPhase::of(pod) {
        PodPhase::Succeeded => true,
        PodPhase::Running => ready(),
        _ => false,
    }
}

/// Whether a stage is at rest: settled ([`stage_settled`]), and its source Ready at the revision it
/// applied.
fn stage_at_rest(index: &Index, stage: &dyn StageObject) -> bool {
    let source_at_rest = stage.source().is_none_or(|source| {
        index.source(&source).is_some_and(|s| {
            let revision = s.status.as_ref().and_then(|st| st.artifact.as_ref()).map(|a| a.revision.as_str());
            s.ready().is_some_and(|c| c.status.is_true())
                && (revision.is_none() || revision == stage.last_applied_revision())
        })
    });
    stage_settled(stage) && source_at_rest
}

/// Whether a stage, read alone, is settled: not suspended, Ready at its generation, neither
/// reconciling nor stalled, its last attempt applied.
fn stage_settled(stage: &dyn StageObject) -> bool {
    let generation = stage.meta().generation;
    let current = |c: &Condition| generation.is_none() || c.observed_generation.is_none_or(|g| Some(g) == generation);
    let ready = stage.condition(ConditionType::Ready).is_some_and(|c| c.status.is_true() && current(c));
    let busy = stage
        .conditions()
        .iter()
        .any(|c| matches!(c.type_, ConditionType::Reconciling | ConditionType::Stalled) && c.status.is_true());
    let applied = stage.last_attempted_revision().is_none_or(|r| Some(r) == stage.last_applied_revision());
    !stage.suspended() && ready && !busy && applied
}

/// The namespaces whose Warning events a part of the first picture shows are wanted, read from
/// that part alone: those of the stages that are not settled and of the Jobs that are not
/// `Complete`. A subset of the namespaces [`Wanted::of`] gives for the whole snapshot, so that
/// their LIST can start as soon as one part (the Jobs, say, in protobuf) is in, before the rest.
pub(crate) fn warning_namespaces_shown_by(part: &Snapshot) -> BTreeSet<String> {
    let unsettled = part.stages().filter(|stage| !stage_settled(*stage)).map(|stage| stage.id().namespace);
    unsettled.chain(unfinished_job_namespaces(part)).collect()
}

/// Whether a Job is done: `Complete`.
fn job_complete(job: &k8s_openapi::api::batch::v1::Job) -> bool {
    job_state(job).0 == JobState::Complete
}

/// The namespaces of the Jobs that are not `Complete`.
fn unfinished_job_namespaces(snapshot: &Snapshot) -> impl Iterator<Item = String> + '_ {
    snapshot.jobs.iter().filter(|job| !job_complete(job)).map(|job| job.metadata.namespace_str().to_string())
}

/// The namespaces whose non-Warning events the engine may read: those of a Job with no pods (what
/// its gone pods left, `Preempted` among it: `Index::gone_pod_events`), of a Job a stage's
/// inventory names that is gone (whether it `Completed`: `Index::job_completed_before`), and of a
/// ResourceSet's input provider (when it exported: `Index::exported_at`).
fn other_events_wanted(snapshot: &Snapshot, index: &Index) -> BTreeSet<String> {
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
/// The snapshot as the live read leaves it: the events, and the pods no Job owns, outside the
/// namespaces `wanted` names for them dropped. (A Job's pods carry its uid label in a
/// cluster, which the fixtures do not always write: a pod with a Job owner stands for one.)
pub(in crate::engine) fn narrowed(snapshot: &Snapshot, wanted: &Wanted) -> Snapshot {
    let mut out = snapshot.clone();
    let ns = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| meta.namespace_str().to_string();
    out.events.retain(|e| {
        let part = if e.type_.as_deref() == Some("Warning") { &wanted.warning_events } else { &wanted.other_events };
        part.contains(&ns(&e.metadata))
    });
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
    fn every_example_reads_the_same_without_the_events_and_pods_it_does_not_want_and_wants_what_starts_early() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        for entry in
            std::fs::read_dir(dir).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let snapshot = parse_snapshot(&text, "example").unwrap();
            let wanted = Wanted::of(&snapshot);
            assert_eq!(json(&narrowed(&snapshot, &wanted)), json(&snapshot), "{}", entry.path().display());
            // What the live read starts early from one part of the first picture is wanted in the
            // end: the part each kind is read into, and the whole.
            let jobs = Snapshot { jobs: snapshot.jobs.clone(), ..Snapshot::default() };
            let without_jobs = Snapshot { jobs: vec![], ..snapshot.clone() };
            for part in [&snapshot, &jobs, &without_jobs] {
                let shown = warning_namespaces_shown_by(part);
                assert!(shown.is_subset(&wanted.warning_events), "{}: {shown:?}", entry.path().display());
            }
        }
    }

    /// Where every stage is Ready and every Job complete, no event is read; where a migration
    /// failed, its namespace's Warnings are, and the report would differ without them.
    #[test]
    fn warning_events_are_wanted_only_where_something_is_not_done() {
        let read = |name: &str| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name);
            parse_snapshot(&std::fs::read_to_string(path).unwrap(), name).unwrap()
        };
        let ready = read("ready.yaml");
        assert!(!ready.events.is_empty() && !ready.jobs.is_empty());
        let wanted = Wanted::of(&ready);
        assert!(wanted.warning_events.is_empty() && wanted.other_events.is_empty(), "{wanted:?}");
        let failed = read("failed-migration.yaml");
        let wanted = Wanted::of(&failed);
        let namespaces: BTreeSet<String> = failed.jobs.iter().map(|j| j.metadata.namespace_str().to_string()).collect();
        assert!(namespaces.is_subset(&wanted.warning_events), "{wanted:?}");
        assert_eq!(json(&narrowed(&failed, &wanted)), json(&failed));
        assert_ne!(json(&narrowed(&failed, &Wanted::default())), json(&failed), "the test can fail");
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
