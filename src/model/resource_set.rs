//! Flux Operator's `ResourceSet` (fluxcd.controlplane.io/v1), partially typed: the fields the
//! engine reads, from github.com/controlplaneio-fluxcd/flux-operator api/v1/resourceset_types.go
//! (v0.59.0). Unknown fields are tolerated, so newer operator releases still parse.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::StageObject;
use super::{Condition, Inventory};
use crate::refs::{StageId, StageKind};
use crate::vocabulary::{ConditionStatus, ConditionType};

/// `fluxcd.controlplane.io/reconcile: disabled` pauses a ResourceSet (`IsDisabled` in api/v1
/// resourceset_types.go); on an applied object it freezes that object.
pub(crate) const OPERATOR_RECONCILE_ANNOTATION: &str = "fluxcd.controlplane.io/reconcile";
/// On a Job of a step: flux-operator deletes the Job when it failed, before applying the step again
/// (`deleteFailedJobs` in internal/controller/resourceset_controller.go).
pub(crate) const RECREATE_ON_FAILURE_ANNOTATION: &str = "fluxcd.controlplane.io/recreateOnFailure";

/// Whether a Job carries `fluxcd.controlplane.io/recreateOnFailure: enabled` (flux-operator compares
/// the value exactly).
pub(crate) fn recreates_on_failure(job: &k8s_openapi::api::batch::v1::Job) -> bool {
    let annotations = job.metadata.annotations.as_ref();
    annotations.and_then(|a| a.get(RECREATE_ON_FAILURE_ANNOTATION)).is_some_and(|v| v == "enabled")
}

/// `spec.dependsOn[]` (api/v1 `Dependency`): any kind; without `ready` only existence is checked.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceSetDependency {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub ready: bool,
    pub ready_expr: Option<String>,
}

impl ResourceSetDependency {
    /// The API group of `apiVersion` (`""` for the core group).
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map(|(group, _)| group).unwrap_or_default()
    }

    /// The stage this dependency is, when it is a Kustomization or a ResourceSet.
    pub fn stage(&self) -> Option<StageId> {
        let kind = StageKind::ALL.into_iter().find(|k| k.api().group == self.group() && k.api().kind == self.kind)?;
        let namespace = self.namespace.clone().unwrap_or_default();
        Some(StageId::new(kind, namespace, &self.name))
    }

    /// How flux-operator names it in messages: `<apiVersion>/<Kind>/<ns>/<name>` (`checkDependencies`,
    /// with fluxcd/pkg ssa/utils `FmtObjMetadata`).
    pub fn display(&self) -> String {
        let namespace = self.namespace.as_deref().unwrap_or_default();
        if namespace.is_empty() {
            format!("{}/{}/{}", self.api_version, self.kind, self.name)
        } else {
            format!("{}/{}/{}/{}", self.api_version, self.kind, namespace, self.name)
        }
    }
}

/// `spec.steps[]` (api/v1 `ResourceSetStep`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceSetStep {
    pub name: String,
    pub timeout: Option<String>,
    pub resources: Vec<serde_json::Value>,
    pub resources_template: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceSetSpec {
    pub depends_on: Vec<ResourceSetDependency>,
    pub steps: Vec<ResourceSetStep>,
    /// Static input sets; each renders the resources once.
    pub inputs: Vec<BTreeMap<String, serde_json::Value>>,
    /// Input providers: their inputs are not in the ResourceSet, so names templated from them
    /// cannot be rendered here.
    pub inputs_from: Vec<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceSetStatus {
    pub conditions: Vec<Condition>,
    pub inventory: Option<Inventory>,
    pub history: Vec<super::ReconcileSnapshot>,
    pub last_applied_revision: Option<String>,
    pub last_handled_reconcile_at: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ResourceSet {
    pub metadata: ObjectMeta,
    pub spec: ResourceSetSpec,
    pub status: Option<ResourceSetStatus>,
}

super::flux_resource!(ResourceSet, StageKind::ResourceSet);

/// What only a ResourceSet has; what every stage has is [`super::StageObject`].
impl ResourceSet {
    /// Paused with `fluxcd.controlplane.io/reconcile: disabled` (any case, as `IsDisabled` compares).
    pub fn disabled(&self) -> bool {
        let annotations = self.metadata.annotations.as_ref();
        annotations
            .and_then(|a| a.get(OPERATOR_RECONCILE_ANNOTATION))
            .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
    }
    /// Ready=True for the current generation: the check flux-operator applies to a ResourceSet
    /// dependency (`HealthCheckExpr` in api/v1 common_types.go compares the condition's
    /// observedGeneration with metadata.generation).
    pub fn healthy(&self) -> bool {
        self.condition(ConditionType::Ready).is_some_and(|c| {
            c.status == ConditionStatus::True
                && (self.metadata.generation.is_none() || c.observed_generation == self.metadata.generation)
        })
    }
}
