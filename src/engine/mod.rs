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
pub mod messages;
mod ready_expr;
mod resolve;
pub mod resource_set;
mod stage;
pub mod state;
mod steps;
mod warnings;
pub mod workload;

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

use crate::model::{
    Inventory, Kustomization, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, RSET_OWNER_NAME_LABEL,
    RSET_OWNER_NAMESPACE_LABEL, ResourceSet, Snapshot, Source,
};
use crate::refs::{MetaNames, NamespacedName, ObjectRef, StageId};
use crate::report::Report;

pub use graph::Graph;

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
    /// Label selector on Kustomizations (`a=b,c!=d,e`), for snapshots; live LISTs apply it server-side.
    pub selector: Option<String>,
}

/// Lookup tables over a snapshot, built once per diagnosis.
pub struct Index<'a> {
    pub snapshot: &'a Snapshot,
    pub now: Timestamp,
    kustomizations: HashMap<Names<'a>, &'a Kustomization>,
    resource_sets: HashMap<Names<'a>, &'a ResourceSet>,
    sources: HashMap<(&'a str, &'a str, &'a str), &'a Source>,
    jobs: HashMap<(&'a str, &'a str), &'a Job>,
    deployments: HashMap<(&'a str, &'a str), &'a Deployment>,
    /// Pods by the uid, and by the reference, of their controller owner.
    pods_by_owner_uid: HashMap<&'a str, Vec<&'a Pod>>,
    pods_by_owner: HashMap<Ref<'a>, Vec<&'a Pod>>,
    /// Pods of Deployments: owned by ReplicaSet `<deployment>-<pod-template-hash>`.
    pods_by_deployment: HashMap<Names<'a>, Vec<&'a Pod>>,
    events: HashMap<Ref<'a>, Vec<&'a Event>>,
    /// Objects carrying the kustomize-controller owner labels, by owning stage.
    labelled_jobs: HashMap<Names<'a>, Vec<&'a Job>>,
    labelled_deployments: HashMap<Names<'a>, Vec<&'a Deployment>>,
    /// Jobs carrying flux-operator's ResourceSet owner labels, by owning ResourceSet.
    rset_jobs: HashMap<Names<'a>, Vec<&'a Job>>,
}

/// Keys borrowed from the snapshot (no copy of a name per object): `(namespace, name)` and
/// `(kind, namespace, name)`; lookups borrow them from a [`NamespacedName`] or [`ObjectRef`].
type Names<'a> = (&'a str, &'a str);
type Ref<'a> = (&'a str, &'a str, &'a str);

fn names(id: &NamespacedName) -> Names<'_> {
    (&id.namespace, &id.name)
}

fn reference(object: &ObjectRef) -> Ref<'_> {
    (&object.kind, &object.namespace, &object.name)
}

/// The stage that applied an object, as borrowed names (see [`owner_of`]).
fn owner_names(meta: &ObjectMeta) -> Option<Names<'_>> {
    let labels = meta.labels.as_ref()?;
    Some((labels.get(OWNER_NAMESPACE_LABEL)?, labels.get(OWNER_NAME_LABEL)?))
}

/// The ResourceSet that applied an object, as borrowed names.
fn rset_owner_names(meta: &ObjectMeta) -> Option<Names<'_>> {
    let labels = meta.labels.as_ref()?;
    Some((labels.get(RSET_OWNER_NAMESPACE_LABEL)?, labels.get(RSET_OWNER_NAME_LABEL)?))
}

/// The stage that applied an object, from the owner labels kustomize-controller or flux-operator
/// stamps on it.
pub fn owner_of(meta: &ObjectMeta) -> Option<StageId> {
    owner_names(meta)
        .map(|(ns, name)| StageId::new(ns, name))
        .or_else(|| rset_owner_names(meta).map(|(ns, name)| StageId::resource_set(ns, name)))
}

impl<'a> Index<'a> {
    pub fn new(snapshot: &'a Snapshot) -> Self {
        let names = |meta: &'a ObjectMeta| (meta.namespace_str(), meta.name_str());
        let mut index = Index {
            snapshot,
            now: snapshot.now.unwrap_or_else(Timestamp::now),
            kustomizations: snapshot.kustomizations.iter().map(|k| ((k.namespace(), k.name()), k)).collect(),
            resource_sets: snapshot.resource_sets.iter().map(|r| ((r.namespace(), r.name()), r)).collect(),
            sources: snapshot.sources.iter().map(|s| ((s.kind.as_str(), s.namespace(), s.name()), s)).collect(),
            jobs: snapshot.jobs.iter().map(|j| (names(&j.metadata), j)).collect(),
            deployments: snapshot.deployments.iter().map(|d| (names(&d.metadata), d)).collect(),
            pods_by_owner_uid: HashMap::new(),
            pods_by_owner: HashMap::new(),
            pods_by_deployment: HashMap::new(),
            events: HashMap::new(),
            labelled_jobs: HashMap::new(),
            labelled_deployments: HashMap::new(),
            rset_jobs: HashMap::new(),
        };
        for pod in &snapshot.pods {
            let hash = pod.metadata.labels.as_ref().and_then(|l| l.get("pod-template-hash"));
            let ns = pod.metadata.namespace_str();
            for owner in pod.metadata.owner_references.iter().flatten() {
                index.pods_by_owner_uid.entry(owner.uid.as_str()).or_default().push(pod);
                index.pods_by_owner.entry((&owner.kind, ns, &owner.name)).or_default().push(pod);
                // No ReplicaSet LIST needed: the ReplicaSet's name is the Deployment's plus the hash.
                if let (Some(hash), "ReplicaSet") = (hash, owner.kind.as_str())
                    && let Some(deployment) = owner.name.strip_suffix(hash.as_str()).and_then(|n| n.strip_suffix('-'))
                {
                    index.pods_by_deployment.entry((ns, deployment)).or_default().push(pod);
                }
            }
        }
        for event in &snapshot.events {
            let o = &event.involved_object;
            let key = (
                o.kind.as_deref().unwrap_or_default(),
                o.namespace.as_deref().or(event.metadata.namespace.as_deref()).unwrap_or_default(),
                o.name.as_deref().unwrap_or_default(),
            );
            index.events.entry(key).or_default().push(event);
        }
        for job in &snapshot.jobs {
            if let Some(owner) = owner_names(&job.metadata) {
                index.labelled_jobs.entry(owner).or_default().push(job);
            }
            if let Some(owner) = rset_owner_names(&job.metadata) {
                index.rset_jobs.entry(owner).or_default().push(job);
            }
        }
        for deploy in &snapshot.deployments {
            if let Some(owner) = owner_names(&deploy.metadata) {
                index.labelled_deployments.entry(owner).or_default().push(deploy);
            }
        }
        index
    }

    pub fn kustomization(&self, id: &StageId) -> Option<&'a Kustomization> {
        if id.is_resource_set() {
            return None;
        }
        self.kustomizations.get(&(id.namespace.as_str(), id.name.as_str())).copied()
    }

    pub fn resource_set(&self, id: &StageId) -> Option<&'a ResourceSet> {
        if !id.is_resource_set() {
            return None;
        }
        self.resource_sets.get(&(id.namespace.as_str(), id.name.as_str())).copied()
    }

    pub fn stage_metadata(&self, id: &StageId) -> Option<&'a ObjectMeta> {
        self.kustomization(id).map(|k| &k.metadata).or_else(|| self.resource_set(id).map(|r| &r.metadata))
    }

    /// Whether the stage exists in the snapshot, whatever its kind.
    pub fn has_stage(&self, id: &StageId) -> bool {
        self.kustomization(id).is_some() || self.resource_set(id).is_some()
    }

    /// Jobs of a ResourceSet: inventory ids, then owner labels (see [`Index::stage_jobs`]).
    pub fn rset_jobs(&self, rset: &ResourceSet) -> (Vec<&'a Job>, Vec<NamespacedName>) {
        let inventory = inventory_objects(rset.inventory(), "batch", "Job");
        let labelled = self.rset_jobs.get(&(rset.namespace(), rset.name())).map(Vec::as_slice).unwrap_or_default();
        self.jobs_of(inventory, labelled)
    }

    pub fn source(&self, source: &ObjectRef) -> Option<&'a Source> {
        self.sources.get(&(source.kind.as_str(), source.namespace.as_str(), source.name.as_str())).copied()
    }

    pub fn job(&self, ns: &str, name: &str) -> Option<&'a Job> {
        self.jobs.get(&(ns, name)).copied()
    }

    pub fn deployment(&self, ns: &str, name: &str) -> Option<&'a Deployment> {
        self.deployments.get(&(ns, name)).copied()
    }

    /// The Pods a Job owns: by owner uid (a recreated Job of the same name owns new Pods), or by
    /// owner name when the Job has no uid (hand-written fixtures).
    pub fn pods_of_job(&self, job: &Job) -> Vec<&'a Pod> {
        let pods = match job.metadata.uid.as_deref() {
            Some(uid) => self.pods_by_owner_uid.get(uid),
            None => self.pods_by_owner.get(&("Job", job.metadata.namespace_str(), job.metadata.name_str())),
        };
        pods.cloned().unwrap_or_default()
    }

    /// The Pods of a Deployment (see `pods_by_deployment`).
    pub fn pods_of_deployment(&self, deployment: &NamespacedName) -> Vec<&'a Pod> {
        self.pods_by_deployment.get(&names(deployment)).cloned().unwrap_or_default()
    }

    /// Warning events of one object, oldest first.
    pub fn warnings(&self, object: &ObjectRef) -> Vec<&'a Event> {
        let mut events: Vec<&Event> = self
            .events
            .get(&reference(object))
            .map(|v| v.iter().copied().filter(|e| e.type_.as_deref() == Some("Warning")).collect())
            .unwrap_or_default();
        events.sort_by_key(|e| event_time(e));
        events
    }

    /// Warning events of one object, oldest first, as `Reason: message (xN)`; at most the last five.
    pub fn warning_events(&self, object: &ObjectRef) -> Vec<String> {
        let events = self.warnings(object);
        let start = events.len().saturating_sub(5);
        events[start..]
            .iter()
            .map(|e| {
                let count = e.count.unwrap_or(1);
                let times = if count > 1 { format!(" (x{count})") } else { String::new() };
                format!(
                    "{}: {}{times}",
                    e.reason.as_deref().unwrap_or_default(),
                    e.message.as_deref().unwrap_or_default().trim()
                )
            })
            .collect()
    }

    /// Whether any event says the Job completed (the Job controller records `Completed`), used to
    /// tell a TTL cleanup from an unexpected deletion once the Job is gone.
    pub fn job_completed_before(&self, job: &NamespacedName) -> bool {
        self.events
            .get(&("Job", job.namespace.as_str(), job.name.as_str()))
            .is_some_and(|v| v.iter().any(|e| e.reason.as_deref() == Some("Completed")))
    }

    /// Jobs of a stage: inventory ids first (`<ns>_<name>_batch_Job`), then owner labels.
    /// Returns the live Jobs and the inventory Jobs that are gone.
    pub fn stage_jobs(&self, ks: &Kustomization) -> (Vec<&'a Job>, Vec<NamespacedName>) {
        let labelled = self.labelled_jobs.get(&(ks.namespace(), ks.name())).map(Vec::as_slice).unwrap_or_default();
        self.jobs_of(inventory_objects(ks.inventory(), "batch", "Job"), labelled)
    }

    fn jobs_of(&self, inventory: Vec<NamespacedName>, labelled: &[&'a Job]) -> (Vec<&'a Job>, Vec<NamespacedName>) {
        let mut seen = BTreeSet::new();
        let mut live = Vec::new();
        let mut missing = Vec::new();
        for id in inventory {
            if !seen.insert(id.clone()) {
                continue;
            }
            match self.job(&id.namespace, &id.name) {
                Some(job) => live.push(job),
                None => missing.push(id),
            }
        }
        for job in labelled {
            if seen.insert(NamespacedName::of(&job.metadata)) {
                live.push(job);
            }
        }
        live.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        (live, missing)
    }

    pub fn stage_deployments(&self, ks: &Kustomization) -> Vec<&'a Deployment> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for id in inventory_objects(ks.inventory(), "apps", "Deployment") {
            if let Some(d) = self.deployment(&id.namespace, &id.name)
                && seen.insert(id)
            {
                out.push(d);
            }
        }
        for d in self.labelled_deployments.get(&(ks.namespace(), ks.name())).into_iter().flatten() {
            if seen.insert(NamespacedName::of(&d.metadata)) {
                out.push(d);
            }
        }
        out
    }
}

fn event_time(e: &Event) -> Option<Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
}

/// The objects of one group and kind in an inventory.
///
/// Inventory ids are `<namespace>_<name>_<group>_<kind>`; names may contain `_`, so namespace is
/// the first field and group and kind the last two (fluxcd/cli-utils `ParseObjMetadata`).
/// flux-operator keeps the same format (its inventory is fluxcd/pkg ssa's ResourceInventory).
pub fn inventory_objects(inventory: Option<&Inventory>, group: &str, kind: &str) -> Vec<NamespacedName> {
    let Some(inventory) = inventory else {
        return vec![];
    };
    inventory
        .entries
        .iter()
        .filter_map(|e| parse_inventory_id(&e.id))
        .filter(|(_, _, g, k)| g == group && k == kind)
        .map(|(ns, name, _, _)| NamespacedName::new(ns, name))
        .collect()
}

pub fn parse_inventory_id(id: &str) -> Option<(String, String, String, String)> {
    let (ns, rest) = id.split_once('_')?;
    let (rest, kind) = rest.rsplit_once('_')?;
    let (name, group) = rest.rsplit_once('_')?;
    if name.is_empty() || kind.is_empty() {
        return None;
    }
    Some((ns.to_string(), name.to_string(), group.to_string(), kind.to_string()))
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
