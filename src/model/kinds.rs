//! The one list of the kinds `status` reads. It feeds the live LISTs (`cluster::read`), the watch
//! (`cluster::watch`), the dump decoder (`snapshot`) and the capture command printed by README and
//! `status --help`, so they can never disagree: a new kind is one entry here (and, for a new Rust
//! type, one [`Collected`] impl saying what of it the engine keeps and where the snapshot holds it).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;

use super::{HelmRelease, JobWire, Kustomization, ResourceSet, SlimPod, Snapshot, Source};
use super::{event_is_relevant, slim_daemon_set, slim_deployment, slim_stateful_set};
use crate::refs::{ApiKind, MetaNames, StageKind};
use crate::vocabulary::Kind;

/// What a kind is to the diagnosis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A stage kind: listed with the user's label selector, followed across namespaces.
    Stage,
    /// A Flux source a stage applies from.
    Source,
    /// What stages apply and run (Jobs, Pods, Events, Deployments), read wherever stages deploy.
    Workload,
}

/// What it means when a kind cannot be listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Nothing can be diagnosed without it: every failure is an error (a 404 says Flux is missing).
    Required,
    /// A built-in kind the diagnosis can do without: a 403 is a warning, other failures errors.
    Optional,
    /// A CRD that may not be installed: a 404 means there are none, a 403 is a warning.
    Crd,
}

/// When a kind is LISTed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Demand {
    /// With the first picture.
    Always,
    /// Only in the namespaces where the first picture shows the engine will read some of it
    /// ([`crate::engine::Wanted`]); a watch keeps it always.
    WhenWanted(Want),
}

/// The parts of kinds read only when wanted, each with the namespaces where the engine reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// The Warning events.
    WarningEvents,
    /// The events that are no Warnings.
    OtherEvents,
    /// The pods no Job owns.
    OtherPods,
}

/// One kind `status` reads.
pub struct ReadKind {
    pub api: ApiKind,
    pub role: Role,
    pub presence: Presence,
    /// Whether the capture command names it (kubectl refuses a kind the cluster does not serve).
    pub captured: bool,
    /// The field selector of its LISTs and watch: the part of the kind this entry reads (a kind
    /// read in parts has one entry per part, the parts disjoint).
    pub field_selector: Option<&'static str>,
    /// The label selector of its LISTs and watch, as [`ReadKind::field_selector`].
    pub label_selector: Option<&'static str>,
    pub demand: Demand,
    /// Decodes a LIST page in protobuf into the snapshot, giving its `continue` token; `None` for
    /// the kinds read as JSON only (custom resources have no protobuf; see [`super::protobuf`]).
    pub(crate) protobuf_list: Option<DecodeProtobufList>,
    decode_text: fn(&ReadKind, &mut Snapshot, &str) -> Result<(), serde_json::Error>,
    decode_value: fn(&ReadKind, &mut Snapshot, serde_json::Value) -> Result<(), serde_json::Error>,
    new_store: fn() -> Box<dyn KindStore>,
}

impl std::fmt::Debug for ReadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadKind").field("api", &self.api).field("role", &self.role).finish_non_exhaustive()
    }
}

/// Decodes a LIST page in protobuf into the snapshot, giving its `continue` token.
pub(crate) type DecodeProtobufList =
    fn(&ReadKind, &mut Snapshot, &[u8]) -> Result<Option<String>, super::protobuf::ProtobufError>;

/// A Rust type the snapshot holds objects of a kind in.
pub(crate) trait Collected: Clone + Send + Sync + 'static {
    /// What is decoded from the wire (a Pod's spec is skipped by its decoder, never built).
    type Wire: DeserializeOwned;
    /// What the engine keeps of an object as read, or `None` when it drops it.
    fn keep(wire: Self::Wire, kind: &ReadKind) -> Option<Self>;
    /// What the engine keeps of an object given as its JSON text: the same as from its value.
    fn from_text(text: &str, kind: &ReadKind) -> Result<Option<Self>, serde_json::Error> {
        Ok(Self::keep(serde_json::from_str(text)?, kind))
    }
    /// Where the snapshot holds this type.
    fn bucket(snapshot: &mut Snapshot) -> &mut Vec<Self>;
    fn metadata(&self) -> &ObjectMeta;
}

macro_rules! collected {
    ($type:ty, $wire:ty, $field:ident, |$object:ident, $kind:ident| $keep:expr $(, text: $from_text:path)?) => {
        impl Collected for $type {
            type Wire = $wire;
            fn keep($object: $wire, $kind: &ReadKind) -> Option<Self> {
                let _ = $kind;
                $keep
            }
            $(fn from_text(text: &str, _: &ReadKind) -> Result<Option<Self>, serde_json::Error> {
                $from_text(text).map(Some)
            })?
            fn bucket(snapshot: &mut Snapshot) -> &mut Vec<Self> {
                &mut snapshot.$field
            }
            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
        }
    };
}

collected!(Kustomization, Kustomization, kustomizations, |object, kind| Some(object), text: Kustomization::from_text);
collected!(ResourceSet, ResourceSet, resource_sets, |object, kind| Some(object));
collected!(HelmRelease, HelmRelease, helm_releases, |object, kind| Some(object));
// The API server and kubectl include `kind` in custom resources; set it from the table in case.
collected!(Source, Source, sources, |object, kind| Some(Source { kind: Kind::from(kind.api.kind), ..object }));
collected!(Job, JobWire, jobs, |object, kind| Some(object.into()));
collected!(Pod, SlimPod, pods, |object, kind| Some(object.into()));
collected!(Event, Event, events, |object, kind| event_is_relevant(&object).then_some(object));
collected!(Deployment, Deployment, deployments, |object, kind| Some(slim_deployment(object)));
collected!(StatefulSet, StatefulSet, stateful_sets, |object, kind| Some(slim_stateful_set(object)));
collected!(DaemonSet, DaemonSet, daemon_sets, |object, kind| Some(slim_daemon_set(object)));

const fn entry<K: Collected>(api: ApiKind, role: Role, presence: Presence) -> ReadKind {
    ReadKind {
        api,
        role,
        presence,
        captured: true,
        field_selector: None,
        label_selector: None,
        demand: Demand::Always,
        protobuf_list: None,
        decode_text: decode_text::<K>,
        decode_value: decode_value::<K>,
        new_store: new_store::<K>,
    }
}

const fn source(kind: &'static str, plural: &'static str) -> ReadKind {
    // source-controller config/crd/bases/source.toolkit.fluxcd.io_*.yaml: English plurals.
    let api = ApiKind { kind, group: SOURCE_GROUP, version: "v1", plural };
    entry::<Source>(api, Role::Source, Presence::Crd)
}

const fn core(kind: &'static str, group: &'static str, plural: &'static str) -> ApiKind {
    ApiKind { kind, group, version: "v1", plural }
}

pub(crate) const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";

const EVENT: ApiKind = core("Event", "", "events");
const PODS_IN_PROTOBUF: DecodeProtobufList = protobuf_list::<Pod, super::protobuf::PodList>;
const POD: ApiKind = core("Pod", "", "pods");

/// The label the API server gives every pod of a Job that does not select its own
/// (kubernetes pkg/apis/batch/types.go `ControllerUidLabel`).
pub(crate) const JOB_POD_LABEL: &str = "batch.kubernetes.io/controller-uid";
const NOT_JOB_POD_LABEL: &str = "!batch.kubernetes.io/controller-uid";

/// flux-operator config/crd/bases/fluxcd.controlplane.io_resourcesetinputproviders.yaml.
const OPERATOR_INPUT_PROVIDER: ApiKind = ApiKind {
    kind: "ResourceSetInputProvider",
    group: "fluxcd.controlplane.io",
    version: "v1",
    plural: "resourcesetinputproviders",
};

/// Every kind `status` reads, in the order the capture command names them.
pub(crate) static READ_KINDS: [ReadKind; 18] = [
    entry::<Kustomization>(*StageKind::Kustomization.api(), Role::Stage, Presence::Required),
    entry::<ResourceSet>(*StageKind::ResourceSet.api(), Role::Stage, Presence::Crd),
    entry::<HelmRelease>(*StageKind::HelmRelease.api(), Role::Stage, Presence::Crd),
    // The source kinds a Kustomization's `spec.sourceRef.kind` may name
    // (fluxcd/kustomize-controller api/v1/reference_types.go), and a HelmRelease's chart sources: the
    // HelmChart helm-controller makes from `spec.chart` (or a `chartRef`) and the HelmRepository it
    // pulls from (fluxcd/helm-controller api/v2/helmrelease_types.go).
    source("GitRepository", "gitrepositories"),
    source("OCIRepository", "ocirepositories"),
    source("Bucket", "buckets"),
    source("HelmChart", "helmcharts"),
    source("HelmRepository", "helmrepositories"),
    // Flux >= 2.7 only, and rarely used: the capture command would fail on older Flux.
    source("ExternalArtifact", "externalartifacts").uncaptured(),
    // What a ResourceSet's `spec.inputsFrom` names (flux-operator api/v1 resourceset_types.go
    // `InputProviderReference`): it exports the inputs a new revision arrives in.
    entry::<Source>(OPERATOR_INPUT_PROVIDER, Role::Source, Presence::Crd),
    entry::<Job>(core("Job", "batch", "jobs"), Role::Workload, Presence::Optional)
        .in_protobuf(protobuf_list::<Job, k8s_pb::api::batch::v1::JobList>),
    // Pods in two parts: those of Jobs, whose reports list them all, and the rest (most pods of a
    // cluster: its applications'), which the engine reads only about a Deployment, StatefulSet or
    // DaemonSet that is not done, or a Pod a stage names (`engine::Wanted`). The API server labels
    // every pod a Job creates with its uid, unless the Job selects its pods itself
    // (`spec.manualSelector`; kubernetes pkg/registry/batch/job/strategy.go `generateSelector`):
    // such a Job's namespace is wanted.
    entry::<Pod>(POD, Role::Workload, Presence::Optional).labelled(JOB_POD_LABEL).in_protobuf(PODS_IN_PROTOBUF),
    entry::<Pod>(POD, Role::Workload, Presence::Optional)
        .labelled(NOT_JOB_POD_LABEL)
        .in_protobuf(PODS_IN_PROTOBUF)
        .when_wanted(Want::OtherPods)
        .uncaptured(),
    // Events in two parts (kubernetes pkg/registry/core/event/strategy.go `ToSelectableFields` has
    // `type`): the Warnings the rules read about whatever is not done, and the rest, most events of
    // a cluster, of which the engine keeps a few kinds it reads only about Jobs that are gone or
    // have no pods, and input providers (`event_is_relevant`). Both are read when wanted: the API
    // server keeps no watch cache of events (kubernetes pkg/kubeapiserver/default_storage_factory_builder.go
    // `DefaultWatchCacheSizes`: events 0), so every LIST of them reads every event of its scope
    // from etcd and filters it there, the slowest LIST of a big cluster where everything is Ready.
    // The capture command takes them all.
    entry::<Event>(EVENT, Role::Workload, Presence::Optional).selected("type=Warning").when_wanted(Want::WarningEvents),
    entry::<Event>(EVENT, Role::Workload, Presence::Optional)
        .selected("type!=Warning")
        .when_wanted(Want::OtherEvents)
        .uncaptured(),
    entry::<Deployment>(core("Deployment", "apps", "deployments"), Role::Workload, Presence::Optional),
    entry::<StatefulSet>(core("StatefulSet", "apps", "statefulsets"), Role::Workload, Presence::Optional),
    entry::<DaemonSet>(core("DaemonSet", "apps", "daemonsets"), Role::Workload, Presence::Optional),
];

/// The kind of `apiVersion` and `kind`, if `status` reads it.
pub(crate) fn read_kind(api_version: &str, kind: &str) -> Option<&'static ReadKind> {
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    READ_KINDS.iter().find(|k| k.api.kind == kind && k.api.group == group)
}

/// The entry of a stage kind.
pub(crate) fn stage_read_kind(kind: StageKind) -> &'static ReadKind {
    READ_KINDS.iter().find(|k| k.api == *kind.api()).expect("every stage kind is read")
}

/// The API of a Flux kind an object reference names: a stage kind or a source kind.
pub(crate) fn flux_kind(kind: &str) -> Option<&'static ApiKind> {
    READ_KINDS.iter().filter(|k| k.role != Role::Workload).map(|k| &k.api).find(|api| api.kind == kind)
}

/// The kinds a capture names, as `kubectl get` takes them (`kustomizations,resourcesets,...`).
pub fn captured_kinds() -> String {
    let plurals: Vec<&str> = READ_KINDS.iter().filter(|k| k.captured).map(|k| k.api.plural).collect();
    plurals.join(",")
}

/// Every kind `status` reads as `resource.group`, as `kubectl get` takes them unambiguously: what the
/// benchmark's `kubectl get` floor lists.
pub fn read_resources() -> String {
    let mut resources: Vec<String> = Vec::new();
    for resource in READ_KINDS.iter().map(|k| k.api.resource()) {
        if !resources.contains(&resource) {
            resources.push(resource);
        }
    }
    resources.join(",")
}

/// How to capture a dump `status --snapshot` reads: every kind above, all namespaces.
pub fn capture_command() -> String {
    format!("kubectl get {} -A -o yaml > dump.yaml", captured_kinds())
}

/// The same command as README and `status --help` print it: two lines joined by a backslash, so
/// that a help printer wrapping lines never breaks it (the list of kinds is one word on a line of
/// its own, which is never split) and it still works pasted into a shell (a redirection may stand
/// anywhere in a command).
pub fn capture_command_lines() -> String {
    format!("kubectl get -A -o yaml > dump.yaml \\\n  {}", captured_kinds())
}

impl ReadKind {
    const fn uncaptured(self) -> ReadKind {
        ReadKind { captured: false, ..self }
    }

    const fn selected(self, field_selector: &'static str) -> ReadKind {
        ReadKind { field_selector: Some(field_selector), ..self }
    }

    const fn labelled(self, label_selector: &'static str) -> ReadKind {
        ReadKind { label_selector: Some(label_selector), ..self }
    }

    /// Read as protobuf ([`super::protobuf`]), with `decode`.
    const fn in_protobuf(self, decode: DecodeProtobufList) -> ReadKind {
        ReadKind { protobuf_list: Some(decode), ..self }
    }

    const fn when_wanted(self, want: Want) -> ReadKind {
        ReadKind { demand: Demand::WhenWanted(want), ..self }
    }

    /// Whether this entry reads one part of its kind (another entry reads the rest).
    pub fn is_part(&self) -> bool {
        self.field_selector.is_some() || self.label_selector.is_some()
    }

    /// Adds one object, given as its JSON text, to the snapshot (if the engine keeps it).
    pub fn decode_text(&self, snapshot: &mut Snapshot, text: &str) -> Result<(), serde_json::Error> {
        (self.decode_text)(self, snapshot, text)
    }

    /// Adds one object, given as a parsed value (YAML, a watch event), to the snapshot.
    pub fn decode_value(&self, snapshot: &mut Snapshot, value: serde_json::Value) -> Result<(), serde_json::Error> {
        (self.decode_value)(self, snapshot, value)
    }

    /// An empty store of this kind's objects for a watch.
    pub fn new_store(&self) -> Box<dyn KindStore> {
        (self.new_store)()
    }
}

fn decode_text<K: Collected>(kind: &ReadKind, snapshot: &mut Snapshot, text: &str) -> Result<(), serde_json::Error> {
    K::bucket(snapshot).extend(K::from_text(text, kind)?);
    Ok(())
}

fn decode_value<K: Collected>(
    kind: &ReadKind,
    snapshot: &mut Snapshot,
    value: serde_json::Value,
) -> Result<(), serde_json::Error> {
    let wire: K::Wire = serde_json::from_value(value)?;
    K::bucket(snapshot).extend(K::keep(wire, kind));
    Ok(())
}

/// A LIST page in protobuf into the snapshot, each object kept as from JSON.
fn protobuf_list<K: Collected, L: super::protobuf::List>(
    kind: &ReadKind,
    snapshot: &mut Snapshot,
    body: &[u8],
) -> Result<Option<String>, super::protobuf::ProtobufError>
where
    L::Item: Into<K::Wire>,
{
    let (token, items) = super::protobuf::decode_list::<L>(body)?;
    K::bucket(snapshot).extend(items.into_iter().filter_map(|item| K::keep(item.into(), kind)));
    Ok(token)
}

fn new_store<K: Collected>() -> Box<dyn KindStore> {
    Box::new(TypedStore::<K> { objects: BTreeMap::new(), listing: None })
}

/// The objects of one kind a watch keeps, as the engine keeps them (slimmed when they arrive),
/// keyed by namespace and name. A watch that restarts lists everything again: the new listing
/// replaces the old one whole when it is done, so objects deleted meanwhile disappear.
pub trait KindStore: Send {
    /// A new listing starts.
    fn restart(&mut self);
    /// An object added, changed, or listed.
    fn apply(&mut self, kind: &ReadKind, object: serde_json::Value) -> Result<(), serde_json::Error>;
    fn delete(&mut self, namespace: &str, name: &str);
    /// The listing is complete.
    fn listed(&mut self);
    /// Copies the objects whose metadata `keep` accepts into the snapshot.
    fn fill(&self, snapshot: &mut Snapshot, keep: &dyn Fn(&ObjectMeta) -> bool);
}

type Objects<K> = BTreeMap<(String, String), K>;

struct TypedStore<K> {
    objects: Objects<K>,
    /// A listing under way.
    listing: Option<Objects<K>>,
}

impl<K: Collected> KindStore for TypedStore<K> {
    fn restart(&mut self) {
        self.listing = Some(BTreeMap::new());
    }

    fn apply(&mut self, kind: &ReadKind, object: serde_json::Value) -> Result<(), serde_json::Error> {
        let wire: K::Wire = serde_json::from_value(object)?;
        if let Some(object) = K::keep(wire, kind) {
            let meta = object.metadata();
            let key = (meta.namespace_str().to_string(), meta.name_str().to_string());
            self.listing.as_mut().unwrap_or(&mut self.objects).insert(key, object);
        }
        Ok(())
    }

    fn delete(&mut self, namespace: &str, name: &str) {
        self.objects.remove(&(namespace.to_string(), name.to_string()));
    }

    fn listed(&mut self) {
        if let Some(listing) = self.listing.take() {
            self.objects = listing;
        }
    }

    fn fill(&self, snapshot: &mut Snapshot, keep: &dyn Fn(&ObjectMeta) -> bool) {
        let objects = self.objects.values().filter(|o| keep(o.metadata())).cloned();
        K::bucket(snapshot).extend(objects);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_is_found_by_its_api_version_and_kind() {
        for kind in &READ_KINDS {
            let found = read_kind(&kind.api.api_version(), kind.api.kind).unwrap();
            // A kind read in parts is decoded from a dump by its first entry (they keep the same).
            assert!(std::ptr::eq(found, kind) || found.api == kind.api && kind.is_part(), "{kind:?}");
        }
        let events: Vec<_> = READ_KINDS.iter().filter(|k| k.api.kind == "Event").collect();
        assert_eq!(events.iter().filter(|k| k.captured).count(), 1, "a dump holds every event once");
        let pods: Vec<_> = READ_KINDS.iter().filter(|k| k.api.kind == "Pod").collect();
        assert_eq!(pods.iter().filter(|k| k.captured).count(), 1, "a dump holds every pod once");
        assert!(read_kind("v1", "ConfigMap").is_none());
        assert!(read_kind("example.com/v1", "Job").is_none(), "the group counts");
        for stage in StageKind::ALL {
            assert_eq!(stage_read_kind(stage).role, Role::Stage);
        }
        assert_eq!(
            read_resources(),
            "kustomizations.kustomize.toolkit.fluxcd.io,resourcesets.fluxcd.controlplane.io,helmreleases.helm.toolkit.fluxcd.io,gitrepositories.source.toolkit.fluxcd.io,ocirepositories.source.toolkit.fluxcd.io,buckets.source.toolkit.fluxcd.io,helmcharts.source.toolkit.fluxcd.io,helmrepositories.source.toolkit.fluxcd.io,externalartifacts.source.toolkit.fluxcd.io,resourcesetinputproviders.fluxcd.controlplane.io,jobs.batch,pods,events,deployments.apps,statefulsets.apps,daemonsets.apps"
        );
        assert_eq!(
            capture_command(),
            "kubectl get kustomizations,resourcesets,helmreleases,gitrepositories,ocirepositories,buckets,helmcharts,helmrepositories,resourcesetinputproviders,jobs,pods,events,deployments,statefulsets,daemonsets -A -o yaml > dump.yaml"
        );
    }

    /// An object reads the same from its text (a LIST page, a JSON dump) as from its value (a
    /// watch, a YAML dump): managedFields dropped, a Kustomization's whole object kept, and in the
    /// text compact whatever the indentation of the dump.
    #[test]
    fn an_object_reads_the_same_from_its_text_as_from_its_value() {
        let managed = json!([{"manager": "kubelet", "operation": "Update", "fieldsType": "FieldsV1",
                              "fieldsV1": {"f:status": {"f:phase": {}}}}]);
        let meta = json!({"name": "x", "namespace": "shop", "uid": "u1", "generation": 2,
                          "labels": {"app": "web"}, "managedFields": managed,
                          "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "u0"}]});
        let objects = [
            json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": meta,
                   "spec": {"path": "./a b", "sourceRef": {"kind": "GitRepository", "name": "shop"},
                            "dependsOn": [{"name": "pre", "readyExpr": "dep.status.x == \"a \\\" b\""}]},
                   "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                                              "message": "Applied revision: main@sha1:1"}]}}),
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
                   "spec": {"backoffLimit": 1, "template": {"spec": {"containers": [{"name": "m", "image": "i", "args": ["a"]}]}}},
                   "status": {"failed": 1}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": []},
                   "status": {"phase": "Failed"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {"replicas": 1},
                   "status": {"replicas": 1}}),
        ];
        for object in objects {
            let kind = read_kind(object["apiVersion"].as_str().unwrap(), object["kind"].as_str().unwrap()).unwrap();
            let (mut from_value, mut compact, mut indented) =
                (Snapshot::default(), Snapshot::default(), Snapshot::default());
            kind.decode_value(&mut from_value, object.clone()).unwrap();
            kind.decode_text(&mut compact, &object.to_string()).unwrap();
            kind.decode_text(&mut indented, &serde_json::to_string_pretty(&object).unwrap()).unwrap();
            let debug = |s: &Snapshot| format!("{:?}", (&s.kustomizations, &s.jobs, &s.pods, &s.deployments));
            assert_eq!(debug(&compact), debug(&from_value), "{object}");
            assert_eq!(debug(&indented), debug(&from_value), "{object}");
            assert!(
                !debug(&compact).contains("managed_fields: Some"),
                "managedFields are dropped: {}",
                debug(&compact)
            );
        }
    }

    #[test]
    fn a_store_keeps_what_the_engine_keeps_and_a_new_listing_replaces_the_old() {
        let pods = read_kind("v1", "Pod").unwrap();
        let events = read_kind("v1", "Event").unwrap();
        let pod = |name: &str| json!({"metadata": {"name": name, "namespace": "shop"}, "spec": {"containers": []}});
        let mut store = pods.new_store();
        store.apply(pods, pod("a")).unwrap();
        store.apply(pods, pod("b")).unwrap();
        store.delete("shop", "a");
        store.restart();
        store.apply(pods, pod("c")).unwrap();
        let names = |store: &dyn KindStore| {
            let mut snapshot = Snapshot::default();
            store.fill(&mut snapshot, &|_| true);
            snapshot.pods.iter().map(|p| p.metadata.name_str().to_string()).collect::<Vec<_>>()
        };
        assert_eq!(names(&*store), ["b"], "the old objects stay until the listing is complete");
        store.listed();
        assert_eq!(names(&*store), ["c"]);
        let mut snapshot = Snapshot::default();
        store.fill(&mut snapshot, &|_| true);
        assert!(snapshot.pods[0].spec.is_none(), "slimmed as the LISTs slim");
        let mut store = events.new_store();
        let event = |type_: &str| json!({"metadata": {"name": type_, "namespace": "shop"}, "involvedObject": {}, "type": type_});
        store.apply(events, event("Normal")).unwrap();
        store.apply(events, event("Warning")).unwrap();
        let mut snapshot = Snapshot::default();
        store.fill(&mut snapshot, &|_| true);
        assert_eq!(snapshot.events.len(), 1, "the event filter applies to watches too");
    }
}
