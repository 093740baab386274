//! The objects the diagnosis engine reads, and the [`Snapshot`] that holds them.
//!
//! Core kinds use the k8s-openapi types. Flux kinds are partial, hand-written types: they keep only
//! the fields the engine reads and tolerate unknown ones, so a newer Flux release (for example the
//! arbitrary-kind `dependsOn` planned for v2.10) still parses.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::refs::{MetaNames, ObjectRef, StageId};
use crate::vocabulary::{ConditionReason, ConditionStatus, ConditionType, Kind};

mod remote;
pub(crate) use remote::{KubeConfigReference, RemoteCluster};
mod helm_release;
mod kept;
mod kinds;
pub(crate) mod protobuf;
mod resource_set;
mod stage;
pub(crate) use helm_release::*;
pub(crate) use kept::*;
pub use kinds::*;
pub(crate) use resource_set::*;
pub(crate) use stage::*;

use crate::refs::StageKind;

/// The owner label kustomize-controller stamps on every applied object, as rerun's refusal names it.
pub(crate) const OWNER_NAME_LABEL: &str = StageKind::Kustomization.info().owner_labels.0;
/// The reconcile request annotation (fluxcd/pkg apis/meta/annotations.go).
pub(crate) const RECONCILE_REQUEST_ANNOTATION: &str = "reconcile.fluxcd.io/requestedAt";

/// A `metav1.Condition` as Flux writes it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: ConditionType,
    pub status: ConditionStatus,
    #[serde(default)]
    pub reason: ConditionReason,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub last_transition_time: Option<Timestamp>,
    #[serde(default)]
    pub observed_generation: Option<i64>,
}

/// `spec.dependsOn[]` (fluxcd/pkg apis/meta `DependencyReference`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DependencyReference {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub ready_expr: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SourceReference {
    #[serde(default)]
    pub kind: Kind,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationSpec {
    #[serde(default)]
    pub depends_on: Vec<DependencyReference>,
    #[serde(default)]
    pub source_ref: SourceReference,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub suspend: bool,
    #[serde(default)]
    pub wait: bool,
    #[serde(default)]
    pub force: bool,
    /// Where the stage applies namespaced objects that do not set their own namespace.
    #[serde(default)]
    pub target_namespace: Option<String>,
    /// Another cluster it applies to.
    #[serde(default)]
    pub kube_config: Option<KubeConfigReference>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct InventoryEntry {
    pub id: String,
    #[serde(default)]
    pub v: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Inventory {
    #[serde(default)]
    pub entries: Vec<InventoryEntry>,
}

impl Inventory {
    /// The namespaces its objects are in (cluster-scoped objects have none).
    pub fn namespaces(&self) -> impl Iterator<Item = String> + '_ {
        self.entries.iter().filter_map(|e| parse_inventory_id(&e.id)).map(|(ns, ..)| ns).filter(|ns| !ns.is_empty())
    }
}

/// An inventory id, `<namespace>_<name>_<group>_<kind>`, as `(namespace, name, group, kind)`.
///
/// Names may contain `_`, so namespace is the first field and group and kind the last two
/// (fluxcd/cli-utils `ParseObjMetadata`). flux-operator keeps the same format (its inventory is
/// fluxcd/pkg ssa's ResourceInventory).
pub(crate) fn parse_inventory_id(id: &str) -> Option<(String, String, String, String)> {
    let (ns, rest) = id.split_once('_')?;
    let (rest, kind) = rest.rsplit_once('_')?;
    let (name, group) = rest.rsplit_once('_')?;
    if name.is_empty() || kind.is_empty() {
        return None;
    }
    Some((ns.to_string(), name.to_string(), group.to_string(), kind.to_string()))
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationStatus {
    #[serde(default)]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub last_applied_revision: Option<String>,
    #[serde(default)]
    pub last_attempted_revision: Option<String>,
    #[serde(default)]
    pub last_handled_reconcile_at: Option<String>,
    #[serde(default)]
    pub inventory: Option<Inventory>,
    /// kustomize-controller 1.7+.
    #[serde(default)]
    pub history: Vec<ReconcileSnapshot>,
}

/// One entry of `status.history`, newest first (fluxcd/pkg apis/meta history.go `Snapshot`, which
/// flux-operator's ResourceSet history copies): a group of applied objects (by digest) with how its
/// reconciliations ended.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReconcileSnapshot {
    pub first_reconciled: Option<Timestamp>,
    pub last_reconciled: Option<Timestamp>,
    /// The Ready reason it ended with: `ReconciliationSucceeded`, `ReconciliationFailed`,
    /// `HealthCheckFailed`, ...
    pub last_reconciled_status: ConditionReason,
    pub total_reconciliations: u64,
    /// kustomize-controller's `revision` (and `originRevision`).
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// What `status.history` says of a stage: since when and how many times it has been failing, and
/// its last success. The same fields for every kind that keeps a history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageHistory {
    /// When the failures that are the newest entries began; `None` when the newest succeeded.
    #[schemars(with = "Option<String>")]
    pub failing_since: Option<Timestamp>,
    /// How many reconciliations (or releases) failed since then.
    pub failed_attempts: u64,
    pub last_success: Option<LastSuccess>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LastSuccess {
    pub revision: Option<String>,
    #[schemars(with = "Option<String>")]
    pub time: Option<Timestamp>,
}

impl StageHistory {
    /// From fluxcd/pkg-style snapshots, newest first (`ReconciliationSucceeded` is a success).
    pub fn of_reconciliations(history: &[ReconcileSnapshot]) -> Option<StageHistory> {
        if history.is_empty() {
            return None;
        }
        let succeeded = |s: &&ReconcileSnapshot| s.last_reconciled_status == ConditionReason::ReconciliationSucceeded;
        let failing: Vec<&ReconcileSnapshot> = history.iter().take_while(|s| !succeeded(s)).collect();
        let last_success = history
            .iter()
            .find(succeeded)
            .map(|s| LastSuccess { revision: s.metadata.get("revision").cloned(), time: s.last_reconciled });
        Some(StageHistory {
            failing_since: failing.iter().filter_map(|s| s.first_reconciled).min(),
            failed_attempts: failing.iter().map(|s| s.total_reconciliations).sum(),
            last_success,
        })
    }
}

/// A Flux `Kustomization` (kustomize.toolkit.fluxcd.io/v1), partially typed, plus the whole object
/// as read: `readyExpr` is CEL over whole objects (`self` and `dep`), so it may name any field.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Kustomization {
    pub metadata: ObjectMeta,
    pub spec: KustomizationSpec,
    pub status: Option<KustomizationStatus>,
    /// The object as the API server (or the dump) gave it, as compact JSON: text is a fraction of
    /// the memory of a value tree, and is parsed only for a readyExpr.
    #[serde(skip)]
    pub object: Arc<str>,
}

/// The typed part of a [`Kustomization`].
#[derive(Deserialize)]
struct KustomizationFields {
    #[serde(deserialize_with = "wire_meta")]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: KustomizationSpec,
    #[serde(default)]
    status: Option<KustomizationStatus>,
}

impl<'de> Deserialize<'de> for Kustomization {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object = serde_json::Value::deserialize(deserializer)?;
        let fields = KustomizationFields::deserialize(&object).map_err(serde::de::Error::custom)?;
        Ok(fields.with_object(object.to_string().into()))
    }
}

impl KustomizationFields {
    fn with_object(self, object: Arc<str>) -> Kustomization {
        Kustomization { metadata: self.metadata, spec: self.spec, status: self.status, object }
    }
}

impl Kustomization {
    /// A Kustomization from its JSON text, as [`Deserialize`] makes it from a value, without
    /// building the value: the typed part decoded from the text, the text kept (compacted).
    pub(crate) fn from_text(text: &str) -> Result<Self, serde_json::Error> {
        Ok(serde_json::from_str::<KustomizationFields>(text)?.with_object(compact(text)))
    }
}

/// JSON text without the whitespace between its tokens (a dump's indentation), as
/// `serde_json::Value::to_string` writes it; the API server's text has none, and is kept as it is.
fn compact(text: &str) -> Arc<str> {
    let whitespace = |b: &u8| matches!(b, b' ' | b'\n' | b'\r' | b'\t');
    let mut out = Vec::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in text.as_bytes() {
        if in_string {
            out.push(b);
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if !whitespace(&b) {
            out.push(b);
            in_string = b == b'"';
        }
    }
    // Only ASCII whitespace outside strings was dropped: what is left is as valid UTF-8 as the text.
    String::from_utf8(out).map_or_else(|_| text.into(), Into::into)
}

/// `kube::Resource` for a stage kind read through typed APIs, from its row of the stage kind table.
macro_rules! flux_resource {
    ($type:ty, $stage_kind:expr) => {
        impl kube::Resource for $type {
            type DynamicType = ();
            type Scope = kube::core::NamespaceResourceScope;

            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                $stage_kind.api().kind.into()
            }
            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                $stage_kind.api().group.into()
            }
            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                $stage_kind.api().version.into()
            }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                $stage_kind.api().plural.into()
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
use flux_resource;

flux_resource!(Kustomization, StageKind::Kustomization);

/// What only a Kustomization has; what every stage has is [`StageObject`].
impl Kustomization {
    /// The namespace the source lives in: `sourceRef.namespace`, defaulting to the Kustomization's.
    pub fn source_namespace(&self) -> &str {
        self.spec.source_ref.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or(self.namespace())
    }
    /// `Kind/ns/name` of `spec.sourceRef`.
    pub fn source(&self) -> ObjectRef {
        ObjectRef::new(&self.spec.source_ref.kind, self.source_namespace(), &self.spec.source_ref.name)
    }
    /// The stage a `dependsOn` entry names, its namespace defaulted to this stage's the way
    /// kustomize-controller does (`checkDependencies` in fluxcd/kustomize-controller
    /// internal/controller/kustomization_controller.go).
    pub fn dependency_id(&self, dependency: &DependencyReference) -> StageId {
        let ns = dependency.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or(self.namespace());
        StageId::kustomization(ns, &dependency.name)
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    #[serde(default)]
    pub revision: String,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    #[serde(default)]
    pub artifact: Option<Artifact>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub observed_generation: Option<i64>,
    /// A ResourceSetInputProvider's revision: the digest of the inputs it last exported
    /// (flux-operator api/v1 resourcesetinputprovider_types.go `LastExportedRevision`).
    #[serde(default, rename = "lastExportedRevision")]
    pub last_exported_revision: Option<String>,
    /// A ResourceSetInputProvider's inputs: one map per input set (a pull request, a branch, a tag),
    /// the revision a user knows among its values (`sha`, `tag`, `digest`).
    #[serde(default, rename = "exportedInputs")]
    pub exported_inputs: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct SourceSpec {
    #[serde(default)]
    pub suspend: bool,
    /// A HelmChart's source (a HelmRepository, GitRepository or Bucket in its namespace).
    #[serde(default, rename = "sourceRef")]
    pub source_ref: Option<LocalSourceReference>,
    /// The Secret with the credentials, when one is named.
    #[serde(default, rename = "secretRef")]
    pub secret_ref: Option<LocalSourceReference>,
}

/// `spec.sourceRef` of a HelmChart (source-controller api/v1 `LocalHelmChartSourceReference`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct LocalSourceReference {
    #[serde(default)]
    pub kind: Kind,
    #[serde(default)]
    pub name: String,
}

/// A Flux source (GitRepository, OCIRepository, Bucket, ExternalArtifact, HelmChart or
/// HelmRepository), or what a ResourceSet takes its inputs from (a ResourceSetInputProvider): all
/// the engine needs is the revision and the Ready condition, which every source kind has, and a
/// HelmChart's own source.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Source {
    #[serde(default)]
    pub kind: Kind,
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: SourceSpec,
    #[serde(default)]
    pub status: Option<SourceStatus>,
}

impl Source {
    pub fn namespace(&self) -> &str {
        self.metadata.namespace_str()
    }
    pub fn name(&self) -> &str {
        self.metadata.name_str()
    }
    /// The artifact's revision, or what an input provider exported last.
    pub fn artifact_revision(&self) -> Option<&str> {
        let status = self.status.as_ref()?;
        status.artifact.as_ref().map(|a| a.revision.as_str()).or(status.last_exported_revision.as_deref())
    }
    /// The text values of an input provider's exported inputs, each once, in the order exported.
    pub fn exported_values(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let inputs = self.status.iter().flat_map(|s| &s.exported_inputs);
        // `id` is the operator's own checksum of the input set, no revision of the user's.
        let values = inputs.flat_map(|input| input.iter().filter(|(key, _)| *key != "id").map(|(_, v)| v));
        for value in values.filter_map(serde_json::Value::as_str) {
            if !out.iter().any(|v| v == value) {
                out.push(value.to_string());
            }
        }
        out
    }
    pub fn ready(&self) -> Option<&Condition> {
        self.status.as_ref()?.conditions.iter().find(|c| c.type_ == ConditionType::Ready)
    }
}

/// An object of a kind `status` does not LIST (a custom resource a health check names): what kstatus
/// reads of it, its conditions.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedObject {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: Kind,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub status: NamedObjectStatus,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct NamedObjectStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

impl NamedObject {
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::of(self.kind.clone(), &self.metadata)
    }

    pub fn condition(&self, type_: ConditionType) -> Option<&Condition> {
        self.status.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// Everything the engine looks at, read either from a live cluster or from an offline dump.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub kustomizations: Vec<Kustomization>,
    pub resource_sets: Vec<ResourceSet>,
    pub helm_releases: Vec<HelmRelease>,
    pub sources: Vec<Source>,
    pub jobs: Vec<Job>,
    pub pods: Vec<Pod>,
    pub events: Vec<Event>,
    pub deployments: Vec<Deployment>,
    pub stateful_sets: Vec<StatefulSet>,
    pub daemon_sets: Vec<DaemonSet>,
    /// Objects of kinds no LIST covers that a stage names (a health check, an inventory entry): an
    /// operator's custom resources, fetched one by one live, kept from a dump.
    pub named_objects: Vec<NamedObject>,
    /// The time the snapshot was taken, for ages and elapsed health checks: now for a live cluster,
    /// the newest timestamp in the file for a dump (so a dump reads the same on any day).
    pub now: Timestamp,
    /// For a dump: the kinds its capture names that it holds no object of (plurals); a dump taken
    /// without them cannot show the causes below them. Empty for a live read.
    pub dump_lacks: Vec<&'static str>,
    /// The other clusters stages apply to, when followed (`--follow-kubeconfig`).
    pub remotes: Vec<RemoteCluster>,
}

impl Snapshot {
    /// Adds what another read found (another namespace's objects).
    pub fn merge(&mut self, more: Snapshot) {
        let Snapshot {
            kustomizations,
            resource_sets,
            helm_releases,
            sources,
            jobs,
            pods,
            events,
            deployments,
            stateful_sets,
            daemon_sets,
            named_objects,
            now: _,
            dump_lacks: _,
            remotes,
        } = more;
        self.remotes.extend(remotes);
        self.kustomizations.extend(kustomizations);
        self.resource_sets.extend(resource_sets);
        self.helm_releases.extend(helm_releases);
        self.sources.extend(sources);
        self.jobs.extend(jobs);
        self.pods.extend(pods);
        self.events.extend(events);
        self.deployments.extend(deployments);
        self.stateful_sets.extend(stateful_sets);
        self.daemon_sets.extend(daemon_sets);
        self.named_objects.extend(named_objects);
    }

    /// Every stage, of every kind: the one list of where the snapshot holds each kind, which every
    /// walk over stages goes through.
    pub fn stage_refs(&self) -> impl Iterator<Item = StageRef<'_>> + '_ {
        let kustomizations = self.kustomizations.iter().map(StageRef::Kustomization);
        let resource_sets = self.resource_sets.iter().map(StageRef::ResourceSet);
        kustomizations.chain(resource_sets).chain(self.helm_releases.iter().map(StageRef::HelmRelease))
    }

    /// Every stage, of every kind, read through what every kind has.
    pub fn stages(&self) -> impl Iterator<Item = &dyn StageObject> + '_ {
        self.stage_refs().map(|s| s.object() as &dyn StageObject)
    }

    /// The stage `id`, of its kind.
    pub fn stage(&self, id: &StageId) -> Option<Stage> {
        self.stages().find(|s| s.id() == *id).map(StageObject::to_stage)
    }

    /// Every stage's id.
    pub fn stage_ids(&self) -> impl Iterator<Item = StageId> + '_ {
        self.stages().map(|s| s.id())
    }
}
