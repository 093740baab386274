//! Another cluster a stage applies to: `spec.kubeConfig`, and what `--follow-kubeconfig` read of it.

use serde::{Deserialize, Serialize};

use super::Snapshot;

/// `spec.kubeConfig` (fluxcd/pkg apis/meta reference_types.go `KubeConfigReference`): the cluster a
/// Kustomization or HelmRelease applies to instead of its own, from a kubeconfig in a Secret of
/// its namespace, or by workload identity from a ConfigMap's settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct KubeConfigReference {
    pub secret_ref: Option<SecretKeyReference>,
    pub config_map_ref: Option<LocalObjectReference>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct SecretKeyReference {
    pub name: String,
    /// The data key holding the kubeconfig; unset: `value`, else `value.yaml`.
    pub key: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct LocalObjectReference {
    pub name: String,
}

/// Another cluster a stage applies to (`spec.kubeConfig`), as `status --follow-kubeconfig` read
/// it: the workloads found there, or why they could not be read.
#[derive(Clone, Debug)]
pub struct RemoteCluster {
    /// The Secret holding its kubeconfig (in the stage's namespace).
    pub secret: crate::refs::NamespacedName,
    /// Its API server, as the kubeconfig names it.
    pub server: Option<String>,
    /// Its Jobs, Pods, Events, Deployments, StatefulSets and DaemonSets, in the namespaces the
    /// stages applying there use; `Err` says in one line why they could not be read.
    pub workloads: Result<Box<Snapshot>, String>,
}

impl Snapshot {
    /// This snapshot's stages and sources with another cluster's workloads (Jobs, Pods, Events,
    /// Deployments, StatefulSets, DaemonSets) instead of its own.
    pub fn over_workloads_of(&self, other: &Snapshot) -> Snapshot {
        Snapshot {
            kustomizations: self.kustomizations.clone(),
            resource_sets: self.resource_sets.clone(),
            helm_releases: self.helm_releases.clone(),
            sources: self.sources.clone(),
            jobs: other.jobs.clone(),
            pods: other.pods.clone(),
            events: other.events.clone(),
            deployments: other.deployments.clone(),
            stateful_sets: other.stateful_sets.clone(),
            daemon_sets: other.daemon_sets.clone(),
            named_objects: vec![],
            now: self.now,
            dump_lacks: vec![],
            remotes: vec![],
        }
    }
}
