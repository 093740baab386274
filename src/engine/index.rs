//! Lookup tables over a snapshot, built once per diagnosis: objects by name, pods by owner, events
//! by object, a stage's Jobs. Pure lookups: the rules that read them live in the rooms that use them.

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

use crate::model::{
    Inventory, Kustomization, NamedObject, RemoteCluster, Snapshot, Source, StageObject, StageRef, parse_inventory_id,
};
use crate::refs::{MetaNames, NamespacedName, ObjectRef, StageId, StageKind};
use crate::vocabulary::Kind;

/// Lookup tables over a snapshot, built once per diagnosis.
pub(crate) struct Index<'a> {
    pub now: Timestamp,
    kustomizations: HashMap<Names<'a>, &'a Kustomization>,
    stages: HashMap<Owner<'a>, StageRef<'a>>,
    sources: HashMap<(&'a str, &'a str, &'a str), &'a Source>,
    jobs: HashMap<(&'a str, &'a str), &'a Job>,
    pods: HashMap<(&'a str, &'a str), &'a Pod>,
    deployments: HashMap<(&'a str, &'a str), &'a Deployment>,
    stateful_sets: HashMap<(&'a str, &'a str), &'a StatefulSet>,
    daemon_sets: HashMap<(&'a str, &'a str), &'a DaemonSet>,
    /// Pods by the uid, and by the reference, of their controller owner.
    pods_by_owner_uid: HashMap<&'a str, Vec<&'a Pod>>,
    pods_by_owner: HashMap<Ref<'a>, Vec<&'a Pod>>,
    /// Pods of Deployments: owned by ReplicaSet `<deployment>-<pod-template-hash>`.
    pods_by_deployment: HashMap<Names<'a>, Vec<&'a Pod>>,
    events: HashMap<Ref<'a>, Vec<&'a Event>>,
    /// Objects carrying a stage kind's owner labels, by owning stage.
    labelled_jobs: HashMap<Owner<'a>, Vec<&'a Job>>,
    labelled_deployments: HashMap<Owner<'a>, Vec<&'a Deployment>>,
    labelled_pod_sets: HashMap<Owner<'a>, Vec<ObjectRef>>,
    named_objects: HashMap<Ref<'a>, &'a NamedObject>,
    /// The other clusters stages apply to, as read, with an index over each one's objects.
    remote_clusters: &'a [RemoteCluster],
    remote_indexes: HashMap<NamespacedName, &'a Index<'a>>,
}

/// Keys borrowed from the snapshot (no copy of a name per object): `(namespace, name)` and
/// `(kind, namespace, name)`; lookups borrow them from a [`NamespacedName`] or [`ObjectRef`].
type Names<'a> = (&'a str, &'a str);
type Ref<'a> = (&'a str, &'a str, &'a str);
/// A stage: its kind, namespace and name.
type Owner<'a> = (StageKind, &'a str, &'a str);

fn owner_key<'a>(stage: &'a dyn StageObject) -> Owner<'a> {
    (stage.stage_kind(), stage.namespace(), stage.name())
}

fn names(id: &NamespacedName) -> Names<'_> {
    (&id.namespace, &id.name)
}

fn reference(object: &ObjectRef) -> Ref<'_> {
    (object.kind.as_str(), &object.namespace, &object.name)
}

/// The stage that applied an object, as borrowed names, from the owner labels its controller
/// stamps on it.
fn owner_names(meta: &ObjectMeta) -> Option<Owner<'_>> {
    let labels = meta.labels.as_ref()?;
    StageKind::ALL.into_iter().find_map(|kind| {
        let (name, namespace) = kind.info().owner_labels;
        Some((kind, labels.get(namespace)?.as_str(), labels.get(name)?.as_str()))
    })
}

/// The stage that applied an object, from the owner labels its controller stamps on it.
pub(crate) fn owner_of(meta: &ObjectMeta) -> Option<StageId> {
    owner_names(meta).map(|(kind, ns, name)| StageId::new(kind, ns, name))
}

impl<'a> Index<'a> {
    pub(crate) fn new(snapshot: &'a Snapshot) -> Self {
        let names = |meta: &'a ObjectMeta| (meta.namespace_str(), meta.name_str());
        let mut index = Index {
            now: snapshot.now,
            kustomizations: snapshot.kustomizations.iter().map(|k| ((k.namespace(), k.name()), k)).collect(),
            stages: HashMap::new(),
            sources: snapshot.sources.iter().map(|s| ((s.kind.as_str(), s.namespace(), s.name()), s)).collect(),
            jobs: snapshot.jobs.iter().map(|j| (names(&j.metadata), j)).collect(),
            pods: snapshot.pods.iter().map(|p| (names(&p.metadata), p)).collect(),
            deployments: snapshot.deployments.iter().map(|d| (names(&d.metadata), d)).collect(),
            stateful_sets: snapshot.stateful_sets.iter().map(|d| (names(&d.metadata), d)).collect(),
            daemon_sets: snapshot.daemon_sets.iter().map(|d| (names(&d.metadata), d)).collect(),
            pods_by_owner_uid: HashMap::new(),
            pods_by_owner: HashMap::new(),
            pods_by_deployment: HashMap::new(),
            events: HashMap::new(),
            labelled_jobs: HashMap::new(),
            labelled_deployments: HashMap::new(),
            labelled_pod_sets: HashMap::new(),
            named_objects: snapshot
                .named_objects
                .iter()
                .map(|o| ((o.kind.as_str(), o.metadata.namespace_str(), o.metadata.name_str()), o))
                .collect(),
            remote_clusters: &snapshot.remotes,
            remote_indexes: HashMap::new(),
        };
        for stage in snapshot.stage_refs() {
            index.stages.insert(owner_key(stage.object()), stage);
        }
        for pod in &snapshot.pods {
            let hash = pod.metadata.labels.as_ref().and_then(|l| l.get("pod-template-hash"));
            let ns = pod.metadata.namespace_str();
            for owner in pod.metadata.owner_references.iter().flatten() {
                index.pods_by_owner_uid.entry(owner.uid.as_str()).or_default().push(pod);
                index.pods_by_owner.entry((&owner.kind, ns, &owner.name)).or_default().push(pod);
                // No ReplicaSet LIST needed: the ReplicaSet's name is the Deployment's plus the hash.
                if let (Some(hash), Kind::ReplicaSet) = (hash, Kind::from(&owner.kind))
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
        }
        for deploy in &snapshot.deployments {
            if let Some(owner) = owner_names(&deploy.metadata) {
                index.labelled_deployments.entry(owner).or_default().push(deploy);
            }
        }
        let stateful = snapshot.stateful_sets.iter().map(|s| ("StatefulSet", &s.metadata));
        for (kind, meta) in stateful.chain(snapshot.daemon_sets.iter().map(|s| ("DaemonSet", &s.metadata))) {
            if let Some(owner) = owner_names(meta) {
                index.labelled_pod_sets.entry(owner).or_default().push(ObjectRef::of(kind, meta));
            }
        }
        index
    }

    /// The stage `id`, of any kind, as the snapshot holds it (the engine reads it through
    /// [`super::rules::StageRules`]: `Index::stage`).
    pub(crate) fn stage_object(&self, id: &StageId) -> Option<StageRef<'a>> {
        self.stages.get(&(id.kind, id.namespace.as_str(), id.name.as_str())).copied()
    }

    /// A Kustomization, for the rules only Kustomizations have (their `dependsOn` names Kustomizations).
    pub(crate) fn kustomization(&self, id: &StageId) -> Option<&'a Kustomization> {
        if id.kind != StageKind::Kustomization {
            return None;
        }
        self.kustomizations.get(&(id.namespace.as_str(), id.name.as_str())).copied()
    }

    pub(crate) fn source(&self, source: &ObjectRef) -> Option<&'a Source> {
        self.sources.get(&(source.kind.as_str(), source.namespace.as_str(), source.name.as_str())).copied()
    }

    pub(crate) fn job(&self, ns: &str, name: &str) -> Option<&'a Job> {
        self.jobs.get(&(ns, name)).copied()
    }

    /// An object of a kind no LIST covers, read because a stage names it.
    pub(crate) fn named_object(&self, object: &ObjectRef) -> Option<&'a NamedObject> {
        self.named_objects.get(&(object.kind.as_str(), object.namespace.as_str(), object.name.as_str())).copied()
    }

    /// A Pod by name (a Helm test hook is often a bare Pod).
    pub(crate) fn pod(&self, ns: &str, name: &str) -> Option<&'a Pod> {
        self.pods.get(&(ns, name)).copied()
    }

    pub(crate) fn deployment(&self, ns: &str, name: &str) -> Option<&'a Deployment> {
        self.deployments.get(&(ns, name)).copied()
    }

    pub(crate) fn stateful_set(&self, ns: &str, name: &str) -> Option<&'a StatefulSet> {
        self.stateful_sets.get(&(ns, name)).copied()
    }

    pub(crate) fn daemon_set(&self, ns: &str, name: &str) -> Option<&'a DaemonSet> {
        self.daemon_sets.get(&(ns, name)).copied()
    }

    /// The Pods a StatefulSet or DaemonSet owns (their controller owner, no ReplicaSet between).
    pub(crate) fn pods_owned_by(&self, owner: &ObjectRef) -> Vec<&'a Pod> {
        let key = (owner.kind.as_str(), owner.namespace.as_str(), owner.name.as_str());
        self.pods_by_owner.get(&key).cloned().unwrap_or_default()
    }

    /// The StatefulSets and DaemonSets a stage applied (its inventory) or that carry its owner
    /// labels (a HelmRelease's), as object references.
    pub(crate) fn stage_pod_sets(&self, stage: &dyn StageObject) -> Vec<ObjectRef> {
        let mut out: Vec<ObjectRef> = Vec::new();
        for kind in ["StatefulSet", "DaemonSet"] {
            for id in inventory_objects(stage.inventory(), "apps", kind) {
                out.push(ObjectRef::new(kind, &id.namespace, &id.name));
            }
        }
        out.extend(self.labelled_pod_sets.get(&owner_key(stage)).into_iter().flatten().cloned());
        out.sort_by_key(|o| o.to_string());
        out.dedup();
        out
    }

    /// The Pods a Job owns: by owner uid (a recreated Job of the same name owns new Pods), or by
    /// owner name when the Job has no uid (hand-written fixtures).
    pub(crate) fn pods_of_job(&self, job: &Job) -> Vec<&'a Pod> {
        let pods = match job.metadata.uid.as_deref() {
            Some(uid) => self.pods_by_owner_uid.get(uid),
            None => self.pods_by_owner.get(&("Job", job.metadata.namespace_str(), job.metadata.name_str())),
        };
        pods.cloned().unwrap_or_default()
    }

    /// The Pods of a Deployment (see `pods_by_deployment`).
    pub(crate) fn pods_of_deployment(&self, deployment: &NamespacedName) -> Vec<&'a Pod> {
        self.pods_by_deployment.get(&names(deployment)).cloned().unwrap_or_default()
    }

    /// The object `object` names as the snapshot holds it now, when it holds it: the instance
    /// its events must belong to.
    fn instance(&self, object: &ObjectRef) -> Option<&'a ObjectMeta> {
        let (ns, name) = (object.namespace.as_str(), object.name.as_str());
        match object.kind {
            Kind::Job => self.job(ns, name).map(|o| &o.metadata),
            Kind::Pod => self.pod(ns, name).map(|o| &o.metadata),
            Kind::Deployment => self.deployment(ns, name).map(|o| &o.metadata),
            Kind::StatefulSet => self.stateful_set(ns, name).map(|o| &o.metadata),
            Kind::DaemonSet => self.daemon_set(ns, name).map(|o| &o.metadata),
            _ => match object.as_stage() {
                Some(id) => self.stage_object(&id).map(|s| s.object().meta()),
                None => self.named_object(object).map(|o| &o.metadata),
            },
        }
    }

    /// When an input provider exported the revision it has now: the first of its events naming that
    /// revision since one named another (it writes the revision on the event of every reconcile,
    /// and a reconcile that exports nothing new names the same one again). `None` when no event
    /// names it (expired after the API server's event TTL, or dropped by client-go's spam filter).
    pub(crate) fn exported_at(&self, provider: &ObjectRef, revision: &str) -> Option<Timestamp> {
        let mut exports: Vec<(Timestamp, &str)> = self
            .events
            .get(&reference(provider))
            .into_iter()
            .flatten()
            .filter_map(|e| Some((first_time(e)?, crate::model::exported_revision(e)?)))
            .collect();
        exports.sort();
        let run = exports.iter().rev().take_while(|(_, r)| *r == revision);
        run.last().map(|(time, _)| *time)
    }

    /// Warning events of one object, oldest first. An object recreated under the same name is a
    /// new object: while the snapshot holds it, only the events of that instance count (see
    /// [`of_instance`]); once it is gone, every event left under its name tells what happened.
    pub(crate) fn warnings(&self, object: &ObjectRef) -> Vec<&'a Event> {
        let instance = self.instance(object);
        let mut events: Vec<&Event> = self
            .events
            .get(&reference(object))
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|e| e.type_.as_deref() == Some("Warning"))
                    .filter(|e| instance.is_none_or(|meta| of_instance(e, meta)))
                    .collect()
            })
            .unwrap_or_default();
        events.sort_by_key(|e| event_time(e));
        events
    }

    /// Warning events of one object, oldest first, as `Reason: message (xN)`; at most the last five.
    pub(crate) fn warning_events(&self, object: &ObjectRef) -> Vec<String> {
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

    /// What the events of a Job's pods that are gone still say (the Job controller deleted them
    /// at backoffLimit, the scheduler preempted them, or the Job was deleted with them): their
    /// Warning events and `Preempted` (kubernetes pkg/scheduler/framework/preemption/executor.go,
    /// a Normal event), as `Pod/NAME Reason: message`, oldest first, at most the last five. A
    /// Job's pods are named after it (kubernetes pkg/controller/job: GenerateName `<job>-`).
    pub(crate) fn gone_pod_events(&self, job: &ObjectRef) -> Vec<String> {
        let prefix = format!("{}-", job.name);
        let mut events: Vec<&Event> = self
            .events
            .iter()
            .filter(|((kind, ns, name), _)| {
                *kind == "Pod" && *ns == job.namespace && name.starts_with(&prefix) && self.pod(ns, name).is_none()
            })
            .flat_map(|(_, v)| v.iter().copied())
            .filter(|e| e.type_.as_deref() == Some("Warning") || e.reason.as_deref() == Some("Preempted"))
            .collect();
        events.sort_by_key(|e| event_time(e));
        let start = events.len().saturating_sub(5);
        events[start..]
            .iter()
            .map(|e| {
                format!(
                    "Pod/{} {}: {}",
                    e.involved_object.name.as_deref().unwrap_or_default(),
                    e.reason.as_deref().unwrap_or_default(),
                    e.message.as_deref().unwrap_or_default().trim()
                )
            })
            .collect()
    }

    /// The reason of a failure the Job controller recorded on a Job (a Warning event
    /// `BackoffLimitExceeded`, `DeadlineExceeded`, ...), kept after the Job is gone.
    pub(crate) fn job_failed_before(&self, job: &NamespacedName) -> Option<String> {
        let events = self.events.get(&("Job", job.namespace.as_str(), job.name.as_str()))?;
        let failed = ["BackoffLimitExceeded", "DeadlineExceeded", "PodFailurePolicy", "MaxFailedIndexesExceeded"];
        events.iter().rev().find_map(|e| e.reason.as_deref().filter(|r| failed.contains(r)).map(str::to_string))
    }

    /// Whether any event says the Job completed (the Job controller records `Completed`), used to
    /// tell a TTL cleanup from an unexpected deletion once the Job is gone.
    pub(crate) fn job_completed_before(&self, job: &NamespacedName) -> bool {
        self.events
            .get(&("Job", job.namespace.as_str(), job.name.as_str()))
            .is_some_and(|v| v.iter().any(|e| e.reason.as_deref() == Some("Completed")))
    }

    /// With indexes over the objects of the other clusters read (by the Secret of their kubeconfig).
    pub(crate) fn with_remote_indexes(mut self, indexes: HashMap<NamespacedName, &'a Index<'a>>) -> Self {
        self.remote_indexes = indexes;
        self
    }

    /// The other cluster a kubeconfig Secret reaches, as read, and the index over its objects.
    pub(crate) fn remote(&self, secret: &NamespacedName) -> Option<(&'a RemoteCluster, Option<&'a Index<'a>>)> {
        let cluster = self.remote_clusters.iter().find(|c| &c.secret == secret)?;
        Some((cluster, self.remote_indexes.get(secret).copied()))
    }

    /// The Jobs a stage holds, as its controller says: those its inventory lists (kustomize-controller
    /// and flux-operator write `status.inventory` after every apply, whatever a Job's
    /// `kustomize.toolkit.fluxcd.io/prune: disabled` says: kustomize-controller
    /// internal/controller/kustomization_controller.go `apply`, then `obj.Status.Inventory =
    /// newInventory`). A Job that only carries the stage's owner labels is a leftover of an
    /// earlier revision. A kind without an inventory (a HelmRelease: its release and hooks carry
    /// the owner labels), or a stage whose first apply has not written one yet, holds the Jobs
    /// carrying its labels.
    pub(crate) fn stage_jobs(&self, stage: &dyn StageObject) -> StageJobs<'a> {
        let labelled = self.labelled_jobs.get(&owner_key(stage)).map(Vec::as_slice).unwrap_or_default();
        let mut seen = BTreeSet::new();
        let mut jobs = StageJobs::default();
        for id in inventory_objects(stage.inventory(), "batch", "Job") {
            if !seen.insert(id.clone()) {
                continue;
            }
            match self.job(&id.namespace, &id.name) {
                Some(job) => jobs.live.push(job),
                None => jobs.missing.push(id),
            }
        }
        for job in labelled {
            let id = NamespacedName::of(&job.metadata);
            if !seen.contains(&id) {
                match holds_job(stage, &id) {
                    true => jobs.live.push(job),
                    false => jobs.leftovers.push(job),
                }
                seen.insert(id);
            }
        }
        let by_name = |a: &&Job, b: &&Job| a.metadata.name.cmp(&b.metadata.name);
        jobs.live.sort_by(by_name);
        jobs.leftovers.sort_by(by_name);
        jobs
    }

    pub(crate) fn stage_deployments(&self, stage: &dyn StageObject) -> Vec<&'a Deployment> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for id in inventory_objects(stage.inventory(), "apps", "Deployment") {
            if let Some(d) = self.deployment(&id.namespace, &id.name)
                && seen.insert(id)
            {
                out.push(d);
            }
        }
        for d in self.labelled_deployments.get(&owner_key(stage)).into_iter().flatten() {
            if seen.insert(NamespacedName::of(&d.metadata)) {
                out.push(d);
            }
        }
        out
    }
}

/// Whether `event` is about the object instance `meta`: the instance whose uid it names
/// (`involvedObject.uid`, which every controller's event recorder fills in from the object:
/// client-go tools/reference `GetReference`); an event without a uid (written by hand, or by an
/// old recorder) counts only if it was last seen at or after the instance was created.
fn of_instance(event: &Event, meta: &ObjectMeta) -> bool {
    match (event.involved_object.uid.as_deref().filter(|u| !u.is_empty()), meta.uid.as_deref()) {
        (Some(event_uid), Some(uid)) => event_uid == uid,
        _ => match (event_time(event), meta.creation_timestamp.as_ref()) {
            (Some(seen), Some(created)) => seen >= created.0,
            _ => true,
        },
    }
}

/// Whether `stage` holds the Job `job` that carries its owner labels (see [`Index::stage_jobs`]):
/// it is in the stage's inventory, or the stage has none.
pub(crate) fn holds_job(stage: &dyn StageObject, job: &NamespacedName) -> bool {
    stage.inventory().is_none() || inventory_objects(stage.inventory(), "batch", "Job").contains(job)
}

/// The Jobs of one stage (see [`Index::stage_jobs`]), each list by name.
#[derive(Debug, Default)]
pub(crate) struct StageJobs<'a> {
    /// The Jobs it holds that exist.
    pub live: Vec<&'a Job>,
    /// The Jobs its inventory lists that are gone from the cluster.
    pub missing: Vec<NamespacedName>,
    /// Jobs carrying its owner labels that it no longer holds (kept by `prune: disabled`, or not
    /// yet garbage-collected): never counted, never a root cause.
    pub leftovers: Vec<&'a Job>,
}

/// When an event first happened (an aggregated event's later occurrences are in `lastTimestamp`).
fn first_time(e: &Event) -> Option<Timestamp> {
    e.first_timestamp.as_ref().map(|t| t.0).or_else(|| e.event_time.as_ref().map(|t| t.0)).or_else(|| event_time(e))
}

fn event_time(e: &Event) -> Option<Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
}

/// The objects of one group and kind in an inventory (ids as [`parse_inventory_id`] reads them).
pub(crate) fn inventory_objects(inventory: Option<&Inventory>, group: &str, kind: &str) -> Vec<NamespacedName> {
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

#[cfg(test)]
mod tests {
    use crate::model::parse_inventory_id;

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
