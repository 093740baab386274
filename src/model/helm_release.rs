//! Flux's `HelmRelease` (helm.toolkit.fluxcd.io/v2), partially typed: the fields the engine reads,
//! from github.com/fluxcd/helm-controller api/v2/helmrelease_types.go (v1.6.3). Unknown fields are
//! tolerated, so newer releases still parse.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::{Condition, DependencyReference};
use crate::refs::StageKind;

/// The annotation that marks a chart's object as a Helm hook, with its events
/// (`pre-install,pre-upgrade`; helm.sh/helm/v4 pkg/release hooks).
pub const HOOK_ANNOTATION: &str = "helm.sh/hook";

/// `spec.chartRef` (api/v2 `CrossNamespaceSourceReference`): an OCIRepository or HelmChart.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ChartReference {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HelmReleaseSpec {
    /// HelmReleases only (api/v2: "references to HelmRelease resources").
    pub depends_on: Vec<DependencyReference>,
    pub suspend: bool,
    pub chart_ref: Option<ChartReference>,
    pub release_name: Option<String>,
    pub target_namespace: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HelmReleaseStatus {
    pub observed_generation: Option<i64>,
    pub conditions: Vec<Condition>,
    /// The chart version and digest of the last attempt (`my-app@1.2.0+ddc5eddfbea0` in messages).
    pub last_attempted_revision: Option<String>,
    pub last_handled_reconcile_at: Option<String>,
    pub last_handled_force_at: Option<String>,
    pub last_handled_reset_at: Option<String>,
    pub failures: Option<i64>,
    pub install_failures: Option<i64>,
    pub upgrade_failures: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct HelmRelease {
    pub metadata: ObjectMeta,
    pub spec: HelmReleaseSpec,
    pub status: Option<HelmReleaseStatus>,
}

super::flux_resource!(HelmRelease, StageKind::HelmRelease);
