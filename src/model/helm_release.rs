//! Flux's `HelmRelease` (helm.toolkit.fluxcd.io/v2), partially typed: the fields the engine reads,
//! from github.com/fluxcd/helm-controller api/v2/helmrelease_types.go (v1.6.3). Unknown fields are
//! tolerated, so newer releases still parse.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::{Condition, DependencyReference};
use crate::refs::StageKind;

/// The annotation that marks a chart's object as a Helm hook, with its events
/// (`pre-install,pre-upgrade`; helm.sh/helm/v4 pkg/release hooks).
pub(crate) const HOOK_ANNOTATION: &str = "helm.sh/hook";

/// When Helm deletes a hook's objects: `before-hook-creation` (its default when none is set),
/// `hook-succeeded`, `hook-failed` (helm.sh/helm/v4 pkg/action/hooks.go `hookSetDeletePolicy`).
pub(crate) const HOOK_DELETE_POLICY_ANNOTATION: &str = "helm.sh/hook-delete-policy";

/// `spec.chartRef` (api/v2 `CrossNamespaceSourceReference`): an OCIRepository or HelmChart; also
/// the `sourceRef` of a chart template.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ChartReference {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

/// `spec.chart` (api/v2 `HelmChartTemplate`): helm-controller makes a HelmChart of it, named
/// `NAMESPACE-NAME` after the HelmRelease, in its source's namespace
/// (internal/reconcile/helmchart_template.go, `GetHelmChartName`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct HelmChartTemplate {
    pub spec: HelmChartTemplateSpec,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HelmChartTemplateSpec {
    pub chart: String,
    pub source_ref: ChartReference,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HelmReleaseSpec {
    /// HelmReleases only (api/v2: "references to HelmRelease resources").
    pub depends_on: Vec<DependencyReference>,
    pub suspend: bool,
    pub chart_ref: Option<ChartReference>,
    pub chart: Option<HelmChartTemplate>,
    pub release_name: Option<String>,
    pub target_namespace: Option<String>,
    pub storage_namespace: Option<String>,
    pub test: Option<TestSpec>,
    /// Another cluster it installs the release in.
    pub kube_config: Option<super::KubeConfigReference>,
}

/// `spec.test` (api/v2 `Test`): whether helm-controller runs the chart's test hooks after an
/// install or upgrade.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TestSpec {
    pub enable: bool,
}

/// One release in `status.history` (api/v2 snapshot_types.go `Snapshot`), newest first.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReleaseSnapshot {
    pub name: String,
    pub namespace: String,
    pub version: i64,
    /// Helm's release status: `deployed`, `failed`, `superseded`, `uninstalled`, `pending-*`.
    pub status: String,
    pub chart_version: String,
    pub first_deployed: Option<k8s_openapi::jiff::Timestamp>,
    pub last_deployed: Option<k8s_openapi::jiff::Timestamp>,
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
    pub history: Vec<ReleaseSnapshot>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct HelmRelease {
    pub metadata: ObjectMeta,
    pub spec: HelmReleaseSpec,
    pub status: Option<HelmReleaseStatus>,
}

super::flux_resource!(HelmRelease, StageKind::HelmRelease);
