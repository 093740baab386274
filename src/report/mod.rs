//! The diagnosis result: what `status` prints, and the stable JSON/YAML schema documented in
//! README ("JSON schema"). Field names are camelCase, as in Kubernetes objects.

use serde::{Serialize, Serializer};

use std::sync::Arc;

use crate::refs::{ObjectRef, StageId, StageKind};
use crate::vocabulary::Kind;

mod contexts;
mod summary;

pub(crate) use contexts::ContextRead;
pub(crate) use summary::Summary;

/// The state of one stage, of any kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(crate) enum StageState {
    Ready,
    Progressing,
    /// Behind a rollout in progress with nothing wrong found upstream: a dependency still
    /// reconciling within its timeout (a Job running, a Deployment rolling out), or Ready and not
    /// re-checked by its controller yet. Not an alarm: `status --exit-code` passes it.
    Waiting,
    /// Waits on something upstream that will not right itself: a dependency Failed, Blocked,
    /// Suspended, missing, stuck past its timeout or reconciling on a problem, or a re-check long
    /// overdue; or its source.
    Blocked,
    /// Its own build, apply or health check failed.
    Failed,
    Suspended,
    Unknown,
}

impl StageState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StageState::Ready => "Ready",
            StageState::Progressing => "Progressing",
            StageState::Waiting => "Waiting",
            StageState::Blocked => "Blocked",
            StageState::Failed => "Failed",
            StageState::Suspended => "Suspended",
            StageState::Unknown => "Unknown",
        }
    }
}

/// How far a ResourceSet's current (or last) reconcile got with one of its steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(crate) enum StepState {
    /// Applied and healthy.
    Done,
    /// Being applied, or its health check is running.
    Applying,
    /// Its apply, Job recreation or health check failed.
    Failed,
    /// An earlier step has not finished (or the ResourceSet waits on a dependency).
    NotReached,
}

impl StepState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StepState::Done => "Done",
            StepState::Applying => "Applying",
            StepState::Failed => "Failed",
            StepState::NotReached => "NotReached",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(crate) enum JobState {
    Complete,
    Failed,
    Running,
    Pending,
    Suspended,
    /// In the stage's inventory but gone from the cluster.
    Missing,
}

impl JobState {
    pub(crate) fn as_str(self) -> &'static str {
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

#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Report {
    /// The contexts (or dumps) read, in order, and whether each could be.
    pub contexts: Vec<ContextRead>,
    /// Connected groups of stages, each in dependency order (upstream first), as `ns/name`.
    pub pipelines: Vec<Vec<StageId>>,
    /// Every shown stage, pipeline by pipeline, in dependency order.
    pub stages: Vec<StageReport>,
    /// Findings that do not block anything but break the pattern's assumptions.
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReadyCondition {
    pub status: String,
    pub reason: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// The generation of the spec the condition is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StageReport {
    /// The kubeconfig context the stage was read from (a dump's file name offline); null when the
    /// connection had no context (in-cluster).
    pub context: Option<Arc<str>>,
    /// Whether the stage's ids carry its context (output that spans several).
    #[serde(skip)]
    pub qualified: bool,
    pub kind: StageKind,
    pub namespace: String,
    pub name: String,
    pub state: StageState,
    pub depends_on: Vec<StageId>,
    pub suspended: bool,
    /// `metadata.generation`: with `ready.observedGeneration`, whether Ready is about the current spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// `status.lastAppliedRevision`.
    pub revision: Option<String>,
    /// `status.lastAttemptedRevision`: the revision of the last try, applied or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempted_revision: Option<String>,
    /// `Kind/ns/name` of `spec.sourceRef`, a HelmRelease's chart source, or the input provider a
    /// ResourceSet's `spec.inputsFrom` names first; null for a ResourceSet without one.
    pub source: Option<ObjectRef>,
    /// The artifact revision the source offers now, when known (an input provider's: the digest of
    /// the inputs it exports).
    pub source_revision: Option<String>,
    /// The values an input provider exports now (a ResourceSet's source): where a revision a user
    /// knows (a sha, a tag, a digest) is found. Omitted for other sources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_inputs: Vec<String>,
    pub ready: Option<ReadyCondition>,
    pub jobs: Vec<JobReport>,
    /// Jobs carrying the stage's owner labels that it no longer holds (not in its inventory: an
    /// earlier revision's, kept with `prune: disabled`); never counted in `jobs`, never a root
    /// cause. Omitted when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leftover_jobs: Vec<JobReport>,
    pub root_cause: Option<RootCause>,
    /// What a Waiting stage waits for and for how long, in words: `app-pre-deploy (Job/db-migration
    /// running 12s)`; omitted in other states.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// Stage ids (`ns/name`) from this stage to the stage at fault; empty when Ready.
    pub path: Vec<StageId>,
    pub hint: Option<String>,
    /// `metadata.creationTimestamp`, RFC 3339.
    pub created: Option<String>,
    /// What `status.history` says (kustomize-controller 1.7+, flux-operator, helm-controller);
    /// omitted when the stage keeps none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<crate::model::StageHistory>,
    /// The `dependsOn` entries with a `readyExpr`, each evaluated on the snapshot; omitted when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ready_exprs: Vec<ReadyExprReport>,
    /// A ResourceSet's `spec.steps`, in order; omitted for other kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepReport>>,
    /// A HelmRelease's hook Jobs (those annotated `helm.sh/hook`), by name; omitted for other kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Vec<HookReport>>,
    /// The other cluster it applies to (`spec.kubeConfig`); omitted when it applies to its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteReport>,
}

/// The other cluster a stage applies to, and whether its objects were read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RemoteReport {
    /// `ns/name` of the Secret holding its kubeconfig (`spec.kubeConfig.secretRef`).
    pub secret: Option<String>,
    /// `ns/name` of the ConfigMap of its workload identity settings (`spec.kubeConfig.configMapRef`).
    pub config_map: Option<String>,
    /// Its API server, when the kubeconfig was read.
    pub server: Option<String>,
    /// Its Jobs, Pods and Events were read, and the stage's are diagnosed there.
    pub followed: bool,
    /// Why they could not be read.
    pub error: Option<String>,
}

impl RemoteReport {
    /// How the stage reaches it, in a few words: `kubeConfig Secret shop/east-kubeconfig`.
    pub(crate) fn via(&self) -> String {
        match (&self.secret, &self.config_map) {
            (Some(secret), _) => format!("kubeConfig Secret {secret}"),
            (None, Some(config_map)) => format!("kubeConfig ConfigMap {config_map}"),
            (None, None) => "spec.kubeConfig".into(),
        }
    }
}

/// One Helm hook Job of a HelmRelease.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HookReport {
    pub namespace: String,
    pub name: String,
    /// Its `helm.sh/hook` events (`pre-install`, `pre-upgrade`, ...).
    pub events: Vec<String>,
    pub state: JobState,
    /// The stage's root cause, when it is this Job or its pod.
    pub root_cause: Option<RootCause>,
}

/// One step of a ResourceSet.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StepReport {
    pub name: String,
    pub state: StepState,
    pub jobs: Vec<JobReport>,
    /// Why this step is not done, when it is the step the ResourceSet is stuck at.
    pub root_cause: Option<RootCause>,
    /// The step's objects could not all be rendered here (names from input providers or template
    /// functions), so `jobs` may miss some; they are among the stage's `jobs`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unmapped: bool,
}

/// One `dependsOn[].readyExpr` and its value on the snapshot's objects.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReadyExprReport {
    /// `ns/name` of the dependency.
    pub dependency: StageId,
    pub expression: String,
    /// The expression's value; null when it could not be evaluated here (see `error`) or the
    /// dependency does not exist.
    pub value: Option<bool>,
    pub error: Option<String>,
}

/// A container whose log tail a root cause shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRef {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// The previous instance's log (a container in CrashLoopBackOff has restarted since it failed).
    pub previous: bool,
}

impl Report {
    /// The containers of root-cause pods that ran, each once: waiting containers (image pull,
    /// config errors) never ran and have no logs.
    pub(crate) fn log_sources(&self) -> Vec<ContainerRef> {
        let mut wanted: Vec<ContainerRef> = Vec::new();
        for c in self.stages.iter().filter_map(|s| s.root_cause.as_ref()) {
            if let (true, Some(container)) = (c.kind == Kind::Pod, &c.container) {
                let ran = c.exit_code.is_some() || c.reason == Reason::StillRunning;
                let source = ContainerRef {
                    namespace: c.namespace.clone(),
                    pod: c.name.clone(),
                    container: container.clone(),
                    previous: c.reason == "CrashLoopBackOff",
                };
                if ran && !wanted.contains(&source) {
                    wanted.push(source);
                }
            }
        }
        wanted
    }

    /// The log tails shown, by container.
    pub(crate) fn logs(&self) -> Vec<(ContainerRef, Vec<String>)> {
        let shown = |source: &ContainerRef| {
            let causes = self.stages.iter().filter_map(|s| s.root_cause.as_ref());
            causes
                .filter(|c| c.namespace == source.namespace && c.name == source.pod)
                .find(|c| c.container.as_ref() == Some(&source.container))
                .and_then(|c| c.logs.clone())
        };
        self.log_sources().into_iter().filter_map(|source| shown(&source).map(|logs| (source, logs))).collect()
    }

    /// Shows a container's log tail on every cause that names it: a stage's, and the same cause on
    /// a ResourceSet's step.
    pub(crate) fn attach_logs(&mut self, source: &ContainerRef, lines: &[String]) {
        let causes = self.stages.iter_mut().flat_map(|s| {
            let steps = s.steps.iter_mut().flatten().filter_map(|step| step.root_cause.as_mut());
            s.root_cause.as_mut().into_iter().chain(steps)
        });
        for c in causes {
            if c.namespace == source.namespace
                && c.name == source.pod
                && c.container.as_ref() == Some(&source.container)
            {
                c.logs = Some(lines.to_vec());
            }
        }
    }
}

impl StageReport {
    pub(crate) fn id(&self) -> StageId {
        let id = StageId::new(self.kind, &self.namespace, &self.name);
        match (&self.context, self.qualified) {
            (Some(context), true) => id.in_context(context.clone()),
            _ => id,
        }
    }

    /// The table's MESSAGE for a stage that is not Ready: our diagnosis in one line, from the root
    /// cause (`Pod/db-migration-grq6n exit code 3 (Error)`; a Blocked stage says by what:
    /// `blocked by app-database: not found`). `None` without a root cause. Stages outside `home`
    /// are named with their namespace.
    pub(crate) fn diagnosis(&self, home: &str) -> Option<String> {
        let cause = self.root_cause.as_ref()?;
        let object = cause.object();
        let at = self.path.last().filter(|at| **at != self.id());
        let headline = match at {
            Some(at) if ObjectRef::stage(at) == object => cause.summary(),
            _ if object == ObjectRef::stage(&self.id()) => cause.summary(),
            _ => format!("{} {}", object.short(home), cause.summary()),
        };
        Some(match (self.state, at, &self.waiting_for) {
            (StageState::Waiting, _, Some(what)) => format!("waiting for {what}"),
            (StageState::Blocked | StageState::Waiting, Some(at), _) => {
                format!("blocked by {}: {headline}", at.label(home))
            }
            // Blocked on itself: its dependencies are ready, its controller has not re-checked them.
            (StageState::Blocked | StageState::Waiting, None, _) => format!("blocked: {}", cause.message),
            _ => headline,
        })
    }
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobReport {
    pub namespace: String,
    pub name: String,
    pub state: JobState,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub images: Vec<String>,
    pub pods: Vec<PodReport>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodReport {
    pub name: String,
    pub phase: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub exit_code: Option<i32>,
}

/// The object actually at fault.
#[derive(Clone, Debug, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RootCause {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub reason: Reason,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The container the cause is about, when it is a container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Objects between the last stage of `path` and this one, e.g. `["Job/shop/db-migration"]`.
    pub via: Vec<ObjectRef>,
    /// Warning events of this object and of the objects in `via`, oldest first.
    pub events: Vec<String>,
    /// The container's last log lines, when fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<Vec<String>>,
    /// The ResourceSet step the object belongs to, when the stage at fault is a ResourceSet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The other cluster the object is in (a stage's `spec.kubeConfig`, followed): its server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The rows of the failure catalog that describe it (`src/engine/catalog/`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Failure>,
}

/// A row of the failure catalog a root cause matches: its id and what it is.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub(crate) struct Failure {
    pub id: &'static str,
    pub what: &'static str,
}

impl RootCause {
    /// `object` is at fault for `reason`; no events, no logs, nothing in between.
    pub(crate) fn new(object: ObjectRef, reason: Reason, message: impl Into<String>) -> Self {
        RootCause {
            kind: object.kind,
            namespace: object.namespace,
            name: object.name,
            reason,
            message: message.into(),
            exit_code: None,
            container: None,
            via: vec![],
            events: vec![],
            logs: None,
            step: None,
            cluster: None,
            failures: vec![],
        }
    }

    pub(crate) fn with_events(mut self, events: Vec<String>) -> Self {
        self.events = events;
        self
    }

    pub(crate) fn object(&self) -> ObjectRef {
        ObjectRef::new(&self.kind, &self.namespace, &self.name)
    }

    /// What happened to the object, in a few words: `exit code 3 (Error)`, `ImagePullBackOff`, `not
    /// found`; a controller's reason on a stage comes with the first line of its message.
    pub(crate) fn summary(&self) -> String {
        match (self.exit_code, self.reason.phrase()) {
            (Some(code), _) => format!("exit code {code} ({})", self.reason),
            (None, Some(phrase)) => phrase,
            (None, None) if self.object().as_stage().is_some() && !self.message.is_empty() => {
                format!("{}: {}", self.reason, self.message.lines().next().unwrap_or_default())
            }
            (None, None) => self.reason.to_string(),
        }
    }
}

/// Why an object is at fault. Reasons the controllers write (the kubelet's `ErrImagePull`, the Job
/// controller's `BackoffLimitExceeded`, kustomize-controller's `HealthCheckFailed`) are kept as
/// written; the ones this plugin names itself are variants. Serialized as the reason's name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Reason {
    /// The stage is in a `dependsOn` cycle.
    DependencyCycle,
    /// A `dependsOn` entry names a Kustomization that does not exist.
    DependencyNotFound,
    /// A dependency is not Ready (kustomize-controller's own reason for the dependent).
    DependencyNotReady,
    /// A `dependsOn[].readyExpr` is false.
    ReadyExprNotMet,
    /// A dependency on the same source has not applied the source's current revision.
    RevisionNotUpToDate,
    /// `spec.suspend: true`.
    Suspended,
    /// No status conditions yet.
    NotReconciled,
    /// Ready for an older generation.
    GenerationNotObserved,
    /// kustomize-controller is still working on the stage.
    Progressing,
    /// The stage's source object does not exist.
    SourceNotFound,
    /// The stage's source has no artifact.
    ArtifactMissing,
    /// An apply failed on an immutable field.
    ImmutableField,
    /// A Job the health check waits for has not finished.
    JobRunning,
    /// A Job of the stage's inventory is gone from the cluster.
    JobDeleted,
    /// A Job with `spec.suspend: true`.
    JobSuspended,
    /// A Job a queueing controller (Kueue) keeps suspended until it admits it, from this LocalQueue.
    AwaitingAdmission { queue: String },
    /// A Job still running when the stage's health check timed out: slow, not failed.
    StillRunning,
    /// A Job that completed after the stage's health check timed out on it.
    FinishedLate,
    /// What failed is in another cluster (`spec.kubeConfig`) whose objects were not read: the
    /// controller's reason, and how the stage reaches that cluster.
    RemoteCluster { observed: String, via: String },
    /// A Deployment not available, with no condition saying why.
    ReplicasUnavailable,
    /// A StatefulSet's replicas not all ready (kstatus `stsConditions`).
    ReplicasNotReady,
    /// A DaemonSet's pods not all available (kstatus `daemonsetConditions`).
    PodsUnavailable,
    /// A StatefulSet's or DaemonSet's pods not all updated to its current revision.
    RolloutIncomplete,
    /// A reason as a controller wrote it.
    Observed(String),
}

impl Reason {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Reason::DependencyCycle => "DependencyCycle",
            Reason::DependencyNotFound => "DependencyNotFound",
            Reason::DependencyNotReady => "DependencyNotReady",
            Reason::ReadyExprNotMet => "ReadyExprNotMet",
            Reason::RevisionNotUpToDate => "RevisionNotUpToDate",
            Reason::Suspended => "Suspended",
            Reason::NotReconciled => "NotReconciled",
            Reason::GenerationNotObserved => "GenerationNotObserved",
            Reason::Progressing => "Progressing",
            Reason::SourceNotFound => "SourceNotFound",
            Reason::ArtifactMissing => "ArtifactMissing",
            Reason::ImmutableField => "ImmutableField",
            Reason::JobRunning => "JobRunning",
            Reason::JobDeleted => "JobDeleted",
            Reason::JobSuspended => "JobSuspended",
            Reason::AwaitingAdmission { .. } => "AwaitingAdmission",
            Reason::RemoteCluster { .. } => "RemoteCluster",
            Reason::StillRunning => "StillRunning",
            Reason::FinishedLate => "FinishedLate",
            Reason::ReplicasUnavailable => "ReplicasUnavailable",
            Reason::ReplicasNotReady => "ReplicasNotReady",
            Reason::PodsUnavailable => "PodsUnavailable",
            Reason::RolloutIncomplete => "RolloutIncomplete",
            Reason::Observed(reason) => reason,
        }
    }
}

impl Reason {
    /// The reasons this plugin names about a stage or its source, in words for the table; the
    /// reason itself stays in JSON and in the chain line.
    fn phrase(&self) -> Option<String> {
        Some(String::from(match self {
            Reason::DependencyCycle => "in a dependsOn cycle",
            Reason::DependencyNotFound | Reason::SourceNotFound => "not found",
            Reason::DependencyNotReady => "not ready",
            Reason::ReadyExprNotMet => "readyExpr is false",
            Reason::RevisionNotUpToDate => "source revision not applied yet",
            Reason::Suspended => "suspended",
            Reason::NotReconciled => "not reconciled yet",
            Reason::GenerationNotObserved => "latest spec not reconciled yet",
            Reason::Progressing => "reconciling",
            Reason::ArtifactMissing => "no artifact",
            Reason::JobRunning => "still running",
            Reason::JobDeleted => "deleted",
            Reason::JobSuspended => "suspended",
            Reason::StillRunning => "still running at the health check timeout",
            Reason::FinishedLate => "completed after the health check timeout",
            Reason::AwaitingAdmission { queue } => return Some(format!("awaiting admission by LocalQueue {queue}")),
            Reason::RemoteCluster { observed, via } => return Some(format!("{observed} in another cluster ({via})")),
            Reason::ImmutableField
            | Reason::ReplicasUnavailable
            | Reason::ReplicasNotReady
            | Reason::PodsUnavailable
            | Reason::RolloutIncomplete
            | Reason::Observed(_) => return None,
        }))
    }
}

impl From<&str> for Reason {
    fn from(observed: &str) -> Self {
        Reason::Observed(observed.to_string())
    }
}

impl From<String> for Reason {
    fn from(observed: String) -> Self {
        Reason::Observed(observed)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

crate::schema::text_schema!(Reason, "the reason a controller wrote, or one the plugin names (README's reasons)");
