//! The diagnosis result: what `status` prints, and the stable JSON/YAML schema documented in
//! README ("JSON schema"). Field names are camelCase, as in Kubernetes objects.

use serde::Serialize;

/// The state of one stage (one Kustomization).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum StageState {
    Ready,
    Progressing,
    /// Waits on something upstream: a dependency or its source.
    Blocked,
    /// Its own build, apply or health check failed.
    Failed,
    Suspended,
    Unknown,
}

impl StageState {
    pub fn as_str(self) -> &'static str {
        match self {
            StageState::Ready => "Ready",
            StageState::Progressing => "Progressing",
            StageState::Blocked => "Blocked",
            StageState::Failed => "Failed",
            StageState::Suspended => "Suspended",
            StageState::Unknown => "Unknown",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum JobState {
    Complete,
    Failed,
    Running,
    Pending,
    Suspended,
    /// In the stage's inventory but gone from the cluster.
    Missing,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Complete => "Complete",
            JobState::Failed => "Failed",
            JobState::Running => "Running",
            JobState::Pending => "Pending",
            JobState::Suspended => "Suspended",
            JobState::Missing => "Missing",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Connected groups of stages, each in dependency order (upstream first), as `ns/name`.
    pub pipelines: Vec<Vec<String>>,
    /// Every shown stage, pipeline by pipeline, in dependency order.
    pub stages: Vec<StageReport>,
    /// Findings that do not block anything but break the pattern's assumptions.
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadyCondition {
    pub status: String,
    pub reason: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageReport {
    pub namespace: String,
    pub name: String,
    pub state: StageState,
    pub depends_on: Vec<String>,
    pub suspended: bool,
    /// `status.lastAppliedRevision`.
    pub revision: Option<String>,
    /// `Kind/ns/name` of `spec.sourceRef`.
    pub source: String,
    /// The artifact revision the source offers now, when known.
    pub source_revision: Option<String>,
    pub ready: Option<ReadyCondition>,
    pub jobs: Vec<JobReport>,
    pub root_cause: Option<RootCause>,
    /// Stage ids (`ns/name`) from this stage to the stage at fault; empty when Ready.
    pub path: Vec<String>,
    pub hint: Option<String>,
    /// `metadata.creationTimestamp`, RFC 3339.
    pub created: Option<String>,
    /// The `dependsOn` entries with a `readyExpr`, each evaluated on the snapshot; omitted when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ready_exprs: Vec<ReadyExprReport>,
}

/// One `dependsOn[].readyExpr` and its value on the snapshot's objects.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadyExprReport {
    /// `ns/name` of the dependency.
    pub dependency: String,
    pub expression: String,
    /// The expression's value; null when it could not be evaluated here (see `error`) or the
    /// dependency does not exist.
    pub value: Option<bool>,
    pub error: Option<String>,
}

impl StageReport {
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobReport {
    pub namespace: String,
    pub name: String,
    pub state: JobState,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub images: Vec<String>,
    pub pods: Vec<PodReport>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodReport {
    pub name: String,
    pub phase: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub exit_code: Option<i32>,
}

/// The object actually at fault.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RootCause {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub reason: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The container the cause is about, when it is a container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Objects between the last stage of `path` and this one, e.g. `["Job/shop/db-migration"]`.
    pub via: Vec<String>,
    /// Warning events of this object and of the objects in `via`, oldest first.
    pub events: Vec<String>,
    /// The container's last log lines, when fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<Vec<String>>,
}

impl RootCause {
    pub fn reference(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}
