//! What every stage kind has, behind one trait: the engine's walk, report assembly, rerun planning
//! and the waits read stages through [`StageObject`] and never match on their kind. A kind's own
//! semantics (a Kustomization's source, a ResourceSet's steps) stay in its own type.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{
    Condition, HelmRelease, Inventory, KubeConfigReference, Kustomization, LastSuccess, ResourceSet, StageHistory,
};
use crate::refs::{MetaNames, ObjectRef, StageId, StageKind};
use crate::vocabulary::{ConditionType, Kind};

/// A stage object of any kind, read-only.
pub trait StageObject: std::fmt::Debug + Send + Sync {
    fn stage_kind(&self) -> StageKind;
    fn meta(&self) -> &ObjectMeta;
    fn conditions(&self) -> &[Condition];
    fn inventory(&self) -> Option<&Inventory>;
    /// Paused by the user: `spec.suspend`, or its controller's annotation.
    fn suspended(&self) -> bool;
    /// The stages it depends on, in spec order.
    fn dependency_ids(&self) -> Vec<StageId>;
    /// The source it applies from, if its kind has one.
    fn source(&self) -> Option<ObjectRef>;
    /// `status.lastHandledReconcileAt`: every Flux controller writes the request it handled.
    fn last_handled_reconcile_at(&self) -> Option<&str>;
    fn last_applied_revision(&self) -> Option<&str>;
    /// The revision it last tried, when its kind records one.
    fn last_attempted_revision(&self) -> Option<&str>;
    /// An owned copy, as the commands that write hold a stage.
    fn to_stage(&self) -> Stage;
    /// What its `status.history` says, when its kind keeps one and it has entries.
    fn history(&self) -> Option<StageHistory>;
    /// The other cluster it applies to (`spec.kubeConfig`), when its kind can.
    fn kube_config(&self) -> Option<&KubeConfigReference> {
        None
    }
    /// The namespaces its spec sends objects into (`spec.targetNamespace`, a HelmRelease's
    /// `spec.storageNamespace`), when its kind has such fields.
    fn placement_namespaces(&self) -> Vec<&str> {
        vec![]
    }

    /// The one answer to "where are a stage's objects" (every walk that reads, follows, plans or
    /// reruns asks this): the namespaces its inventory names and those its spec sends objects
    /// into; its own namespace is added by the callers that list there too.
    fn applied_namespaces(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self.inventory().into_iter().flat_map(Inventory::namespaces).collect();
        out.extend(self.placement_namespaces().into_iter().filter(|ns| !ns.is_empty()).map(String::from));
        out
    }
    /// [`StageObject::applied_namespaces`] and its own.
    fn object_namespaces(&self) -> BTreeSet<String> {
        let mut out = self.applied_namespaces();
        out.insert(self.namespace().to_string());
        out
    }

    fn id(&self) -> StageId {
        StageId::of(self.stage_kind(), self.meta())
    }
    fn namespace(&self) -> &str {
        self.meta().namespace_str()
    }
    fn name(&self) -> &str {
        self.meta().name_str()
    }
    fn condition(&self, type_: ConditionType) -> Option<&Condition> {
        self.conditions().iter().find(|c| c.type_ == type_)
    }
    /// The command that resumes it when suspended.
    fn resume_command(&self) -> String {
        self.stage_kind().resume_command(self.name(), self.namespace())
    }
}

/// What both Flux stage kinds read the same way: their metadata, and the status fields fluxcd/pkg
/// apis/meta gives every Flux object (conditions, inventory, the handled reconcile request, the
/// applied revision).
macro_rules! status_fields {
    () => {
        fn meta(&self) -> &ObjectMeta {
            &self.metadata
        }
        fn conditions(&self) -> &[Condition] {
            self.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default()
        }
        fn inventory(&self) -> Option<&Inventory> {
            self.status.as_ref()?.inventory.as_ref()
        }
        fn last_handled_reconcile_at(&self) -> Option<&str> {
            self.status.as_ref()?.last_handled_reconcile_at.as_deref()
        }
        fn last_applied_revision(&self) -> Option<&str> {
            self.status.as_ref()?.last_applied_revision.as_deref()
        }
    };
}

impl StageObject for Kustomization {
    fn stage_kind(&self) -> StageKind {
        StageKind::Kustomization
    }
    status_fields!();
    fn suspended(&self) -> bool {
        self.spec.suspend
    }
    fn dependency_ids(&self) -> Vec<StageId> {
        self.spec.depends_on.iter().map(|d| self.dependency_id(d)).collect()
    }
    fn source(&self) -> Option<ObjectRef> {
        Some(Kustomization::source(self))
    }
    fn last_attempted_revision(&self) -> Option<&str> {
        self.status.as_ref()?.last_attempted_revision.as_deref()
    }
    fn to_stage(&self) -> Stage {
        Stage::Kustomization(self.clone())
    }
    fn history(&self) -> Option<StageHistory> {
        StageHistory::of_reconciliations(&self.status.as_ref()?.history)
    }
    fn kube_config(&self) -> Option<&KubeConfigReference> {
        self.spec.kube_config.as_ref()
    }
    fn placement_namespaces(&self) -> Vec<&str> {
        self.spec.target_namespace.as_deref().into_iter().collect()
    }
}

impl StageObject for ResourceSet {
    fn stage_kind(&self) -> StageKind {
        StageKind::ResourceSet
    }
    status_fields!();
    fn suspended(&self) -> bool {
        self.disabled()
    }
    /// The stages among `dependsOn` (other kinds are not stages), in spec order.
    fn dependency_ids(&self) -> Vec<StageId> {
        self.spec.depends_on.iter().filter_map(super::ResourceSetDependency::stage).collect()
    }
    /// The first input provider `spec.inputsFrom` names: a new revision arrives in its inputs. One
    /// chosen by a label selector is not followed (the ResourceSet is then judged by its Ready).
    fn source(&self) -> Option<ObjectRef> {
        let name = self.spec.inputs_from.iter().find_map(|p| p.get("name")?.as_str().filter(|n| !n.is_empty()))?;
        Some(ObjectRef::new(Kind::ResourceSetInputProvider, self.namespace(), name))
    }
    fn last_attempted_revision(&self) -> Option<&str> {
        None
    }
    fn to_stage(&self) -> Stage {
        Stage::ResourceSet(self.clone())
    }
    fn history(&self) -> Option<StageHistory> {
        StageHistory::of_reconciliations(&self.status.as_ref()?.history)
    }
}

impl StageObject for HelmRelease {
    fn stage_kind(&self) -> StageKind {
        StageKind::HelmRelease
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default()
    }
    /// A release's objects are in Helm's storage, not in an inventory; they carry the HelmRelease's
    /// owner labels.
    fn inventory(&self) -> Option<&Inventory> {
        None
    }
    fn suspended(&self) -> bool {
        self.spec.suspend
    }
    /// HelmReleases, in spec order; a dependency without a namespace is in this one (api/v2
    /// `DependsOn`, helm-controller internal/controller/helmrelease_controller.go checkDependencies).
    fn dependency_ids(&self) -> Vec<StageId> {
        let own = self.namespace();
        let namespace = |d: &super::DependencyReference| d.namespace.clone().filter(|n| !n.is_empty());
        self.spec
            .depends_on
            .iter()
            .map(|d| StageId::new(StageKind::HelmRelease, namespace(d).unwrap_or_else(|| own.to_string()), &d.name))
            .collect()
    }
    /// `spec.chartRef` (an OCIRepository or HelmChart), or the HelmChart helm-controller makes of
    /// `spec.chart`.
    fn source(&self) -> Option<ObjectRef> {
        let namespace = |r: &super::ChartReference| r.namespace.clone().filter(|n| !n.is_empty());
        if let Some(chart) = &self.spec.chart_ref {
            let ns = namespace(chart).unwrap_or_else(|| self.namespace().to_string());
            return Some(ObjectRef::new(&chart.kind, ns, &chart.name));
        }
        let template = self.spec.chart.as_ref()?;
        let ns = namespace(&template.spec.source_ref).unwrap_or_else(|| self.namespace().to_string());
        Some(ObjectRef::new(Kind::HelmChart, ns, format!("{}-{}", self.namespace(), self.name())))
    }
    fn last_handled_reconcile_at(&self) -> Option<&str> {
        self.status.as_ref()?.last_handled_reconcile_at.as_deref()
    }
    /// The chart version and digest of the last attempt; a HelmRelease records no applied revision.
    fn last_applied_revision(&self) -> Option<&str> {
        None
    }
    fn last_attempted_revision(&self) -> Option<&str> {
        self.status.as_ref()?.last_attempted_revision.as_deref()
    }
    fn to_stage(&self) -> Stage {
        Stage::HelmRelease(self.clone())
    }
    /// Its releases, newest first (api/v2 `Snapshots`): the failed ones at the front are the
    /// failing run, the newest deployed or superseded one the last success.
    fn history(&self) -> Option<StageHistory> {
        let history = &self.status.as_ref()?.history;
        if history.is_empty() {
            return None;
        }
        let succeeded = |s: &&super::ReleaseSnapshot| matches!(s.status.as_str(), "deployed" | "superseded");
        let failing: Vec<&super::ReleaseSnapshot> = history.iter().take_while(|s| !succeeded(s)).collect();
        Some(StageHistory {
            // A release snapshot's firstDeployed is the release's (its first version's); lastDeployed is this version's.
            failing_since: failing.iter().filter_map(|s| s.last_deployed.or(s.first_deployed)).min(),
            failed_attempts: failing.iter().filter(|s| s.status == "failed").count() as u64,
            last_success: history.iter().find(succeeded).map(|s| LastSuccess {
                revision: Some(s.chart_version.clone()).filter(|v| !v.is_empty()),
                time: s.last_deployed,
            }),
        })
    }
    fn kube_config(&self) -> Option<&KubeConfigReference> {
        self.spec.kube_config.as_ref()
    }
    /// Helm installs the release into `spec.targetNamespace` and keeps its storage (and so its
    /// hook Jobs' release) in `spec.storageNamespace` (helm-controller api/v2 HelmReleaseSpec
    /// `GetReleaseNamespace`, `GetStorageNamespace`).
    fn placement_namespaces(&self) -> Vec<&str> {
        [self.spec.target_namespace.as_deref(), self.spec.storage_namespace.as_deref()].into_iter().flatten().collect()
    }
}

/// A stage object of any kind, owned, as the commands that write (rerun, reconcile) hold it; they
/// read it through [`Stage::object`]. The variants are for the kind-specific rules of rerun's plan.
#[derive(Clone, Debug)]
pub enum Stage {
    Kustomization(Kustomization),
    ResourceSet(ResourceSet),
    HelmRelease(HelmRelease),
}

impl Stage {
    pub fn object(&self) -> &(dyn StageObject + 'static) {
        StageRef::from(self).object()
    }
}

/// A stage object of any kind, borrowed from a snapshot: for the rules of its kind
/// (`engine::rules`), which is why it keeps the kind.
#[derive(Clone, Copy, Debug)]
pub enum StageRef<'a> {
    Kustomization(&'a Kustomization),
    ResourceSet(&'a ResourceSet),
    HelmRelease(&'a HelmRelease),
}

impl<'a> StageRef<'a> {
    pub fn object(self) -> &'a (dyn StageObject + 'static) {
        match self {
            StageRef::Kustomization(ks) => ks,
            StageRef::ResourceSet(rset) => rset,
            StageRef::HelmRelease(hr) => hr,
        }
    }
}

impl<'a> From<&'a Stage> for StageRef<'a> {
    fn from(stage: &'a Stage) -> Self {
        match stage {
            Stage::Kustomization(ks) => StageRef::Kustomization(ks),
            Stage::ResourceSet(rset) => StageRef::ResourceSet(rset),
            Stage::HelmRelease(hr) => StageRef::HelmRelease(hr),
        }
    }
}

/// A held stage reads as any stage does.
impl std::ops::Deref for Stage {
    type Target = dyn StageObject;
    fn deref(&self) -> &Self::Target {
        self.object()
    }
}
