//! What the engine keeps of each object as it is read (a LIST page, a watch event, a dump): the
//! fields its rules read, the rest dropped at once, which keeps memory low on big clusters.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use super::{HOOK_ANNOTATION, RECREATE_ON_FAILURE_ANNOTATION};
use crate::vocabulary::Kind;

/// Whether the engine reads this Event: Warnings (they are shown with causes), the Job
/// controller's `Completed` (it tells a TTL cleanup from an unexpected deletion) and the
/// scheduler's `Preempted` (a Normal event, often all that is left of a preempted pod), and an
/// input provider's events that carry the revision it exported (the only record of when it did).
/// Other events are dropped when a snapshot is read, which keeps memory low on big clusters.
pub(crate) fn event_is_relevant(event: &Event) -> bool {
    event.type_.as_deref() == Some("Warning")
        || matches!(event.reason.as_deref(), Some("Completed" | "Preempted"))
        || exported_revision(event).is_some()
}

/// flux-operator api/v1 `RevisionAnnotation`, which the input provider's controller sets on the
/// event of each reconcile that exported inputs (internal/controller/
/// resourcesetinputprovider_controller.go, with the revision in the message too).
const REVISION_ANNOTATION: &str = "fluxcd.controlplane.io/revision";

/// The revision an input provider's event says it exported.
pub(crate) fn exported_revision(event: &Event) -> Option<&str> {
    if event.involved_object.kind.as_deref() != Some(Kind::ResourceSetInputProvider.as_str()) {
        return None;
    }
    event.metadata.annotations.as_ref()?.get(REVISION_ANNOTATION).map(String::as_str)
}

/// The part of a Pod the engine reads: metadata (without managedFields and annotations) and status.
pub(crate) fn slim_pod(mut pod: Pod) -> Pod {
    pod.spec = None;
    pod.metadata.managed_fields = None;
    pod.metadata.annotations = None;
    pod
}

/// The part of a pod template the engine reads: each container's name and image.
fn slim_template(template: &mut k8s_openapi::api::core::v1::PodTemplateSpec) {
    template.metadata = None;
    if let Some(pod) = template.spec.as_mut() {
        let containers = std::mem::take(&mut pod.containers);
        *pod = k8s_openapi::api::core::v1::PodSpec {
            containers: containers
                .into_iter()
                .map(|c| k8s_openapi::api::core::v1::Container { name: c.name, image: c.image, ..Default::default() })
                .collect(),
            ..Default::default()
        };
    }
}

/// What the engine reads of a workload's metadata and pod template (see [`slim_template`]).
fn slim_workload(meta: &mut ObjectMeta, template: Option<&mut k8s_openapi::api::core::v1::PodTemplateSpec>) {
    meta.managed_fields = None;
    meta.annotations = None;
    template.into_iter().for_each(slim_template);
}

/// The part of a Job the engine reads: metadata without managedFields and annotations (but one), the spec
/// fields that decide its state, its containers' images, and its status.
pub(crate) fn slim_job(mut job: Job) -> Job {
    // The annotations the engine reads: flux-operator's recreateOnFailure, and Helm's hook
    // annotations (events, weight, delete policy).
    let kept = job.metadata.annotations.take().map(|annotations| {
        let read = |key: &String| key == RECREATE_ON_FAILURE_ANNOTATION || key.starts_with(HOOK_ANNOTATION);
        annotations.into_iter().filter(|(key, _)| read(key)).collect::<std::collections::BTreeMap<_, _>>()
    });
    slim_workload(&mut job.metadata, job.spec.as_mut().map(|s| &mut s.template));
    job.metadata.annotations = kept.filter(|a| !a.is_empty());
    job
}

/// The part of a Deployment the engine reads (see [`slim_job`]).
pub(crate) fn slim_deployment(mut deployment: Deployment) -> Deployment {
    slim_workload(&mut deployment.metadata, deployment.spec.as_mut().map(|s| &mut s.template));
    deployment
}

/// The part of a StatefulSet the engine reads: its replicas, update strategy and status (its
/// volume claim templates go).
pub(crate) fn slim_stateful_set(mut set: StatefulSet) -> StatefulSet {
    slim_workload(&mut set.metadata, set.spec.as_mut().map(|s| &mut s.template));
    if let Some(spec) = set.spec.as_mut() {
        spec.volume_claim_templates = None;
    }
    set
}

/// The part of a DaemonSet the engine reads (see [`slim_job`]).
pub(crate) fn slim_daemon_set(mut set: DaemonSet) -> DaemonSet {
    slim_workload(&mut set.metadata, set.spec.as_mut().map(|s| &mut s.template));
    set
}

/// An object's metadata as decoded: its `managedFields` (most of the metadata the API server
/// sends, and nothing the engine reads; kubectl hides them too) are skipped by the decoder instead
/// of being built as value trees and dropped.
pub(crate) fn wire_meta<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<ObjectMeta, D::Error> {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
    use std::collections::BTreeMap;
    /// `ObjectMeta` but `managedFields` (k8s.io/apimachinery pkg/apis/meta/v1 types.go).
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Wire {
        annotations: Option<BTreeMap<String, String>>,
        creation_timestamp: Option<Time>,
        deletion_grace_period_seconds: Option<i64>,
        deletion_timestamp: Option<Time>,
        finalizers: Option<Vec<String>>,
        generate_name: Option<String>,
        generation: Option<i64>,
        labels: Option<BTreeMap<String, String>>,
        name: Option<String>,
        namespace: Option<String>,
        owner_references: Option<Vec<OwnerReference>>,
        resource_version: Option<String>,
        self_link: Option<String>,
        uid: Option<String>,
    }
    // A `null` reads as none at all, as k8s-openapi reads it.
    let Some(w) = Option::<Wire>::deserialize(deserializer)? else { return Ok(ObjectMeta::default()) };
    Ok(ObjectMeta {
        annotations: w.annotations,
        creation_timestamp: w.creation_timestamp,
        deletion_grace_period_seconds: w.deletion_grace_period_seconds,
        deletion_timestamp: w.deletion_timestamp,
        finalizers: w.finalizers,
        generate_name: w.generate_name,
        generation: w.generation,
        labels: w.labels,
        managed_fields: None,
        name: w.name,
        namespace: w.namespace,
        owner_references: w.owner_references,
        resource_version: w.resource_version,
        self_link: w.self_link,
        uid: w.uid,
    })
}

/// A Job as decoded (see [`wire_meta`]), then slimmed ([`slim_job`]).
#[derive(Deserialize)]
pub struct JobWire {
    #[serde(default, deserialize_with = "wire_meta")]
    pub(crate) metadata: ObjectMeta,
    #[serde(default)]
    pub(crate) spec: Option<k8s_openapi::api::batch::v1::JobSpec>,
    #[serde(default)]
    pub(crate) status: Option<k8s_openapi::api::batch::v1::JobStatus>,
}

impl From<JobWire> for Job {
    fn from(j: JobWire) -> Job {
        slim_job(Job { metadata: j.metadata, spec: j.spec, status: j.status })
    }
}

/// A Pod as decoded: the spec is skipped by the decoder instead of being built and dropped (see
/// [`slim_pod`]), and the metadata's managedFields ([`wire_meta`]).
#[derive(Deserialize)]
pub struct SlimPod {
    #[serde(deserialize_with = "wire_meta")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub status: Option<k8s_openapi::api::core::v1::PodStatus>,
}

impl From<SlimPod> for Pod {
    fn from(p: SlimPod) -> Pod {
        slim_pod(Pod { metadata: p.metadata, spec: None, status: p.status })
    }
}
