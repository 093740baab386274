//! What `rerun` will do, decided before any write and without touching the cluster: the targets
//! the user named, the checks that refuse a Job (with the way out), how the Job comes back, and the
//! manifest it can be created again from.

use std::fmt;

use k8s_openapi::api::batch::v1::Job;

mod release;

pub(crate) use release::{ReleaseRun, decide_release};

use crate::cluster::preflight::PlannedWrite;
use crate::cluster::write::Request;
use crate::engine::helm_hooks::{HelmAction, HookRerun};
use crate::engine::workload::job_state;
use crate::engine::{JobRecreation, rules};
use crate::model::StageObject;
use crate::model::{HOOK_DELETE_POLICY_ANNOTATION, OWNER_NAME_LABEL, Stage};
use crate::refs::{NamespacedName, ObjectRef, StageId, StageKind};
use crate::report::JobState;

/// A target `rerun` cannot take.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error(
    "cannot rerun {0:?}: name a Job (job/NAME or NAME), a Kustomization (ks/NAME), a ResourceSet (rset/NAME) or a HelmRelease (hr/NAME)"
)]
pub struct BadTarget(String);

/// What the user named.
#[derive(Debug, PartialEq)]
pub(crate) enum Target {
    Job(String),
    /// A Kustomization or ResourceSet (its Jobs) or a HelmRelease (its forced reconcile, with the
    /// hooks it runs).
    Stage(StageKind, String),
}

/// `job/NAME`, `NAME`, or a stage of any kind (`ks/STAGE`, `rset/STAGE`, `hr/RELEASE`), with
/// kubectl's resource aliases.
pub(crate) fn parse_target(s: &str) -> Result<Target, BadTarget> {
    let bad = || BadTarget(s.to_string());
    match s.split_once('/') {
        None if !s.is_empty() => Ok(Target::Job(s.to_string())),
        Some((kind, name)) if !name.is_empty() && !name.contains('/') => match kind.to_lowercase().as_str() {
            "job" | "jobs" | "job.batch" | "jobs.batch" => Ok(Target::Job(name.to_string())),
            kind => match StageKind::parse_user(kind) {
                Some(kind) => Ok(Target::Stage(kind, name.to_string())),
                None => Err(bad()),
            },
        },
        _ => Err(bad()),
    }
}

/// Why rerun recreates the Job itself instead of leaving it to kustomize-controller.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RecreateReason {
    /// `--recreate`, or nothing would recreate it (not Flux-managed).
    Asked,
    /// kustomize-controller is running a health check of this stage and would wait for the deleted
    /// Job until its timeout.
    HealthCheckRunning(StageId),
}

impl fmt::Display for RecreateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecreateReason::Asked => f.write_str("--recreate"),
            RecreateReason::HealthCheckRunning(stage) => write!(
                f,
                "kustomize-controller is running a health check of {stage} and would wait for the deleted Job until its timeout"
            ),
        }
    }
}

/// How the Job comes back after the delete.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Mode {
    /// Its controller (kustomize-controller from Git, flux-operator from the ResourceSet) recreates
    /// it on the requested reconcile.
    FluxRecreates,
    /// A failed Job of a ResourceSet annotated `fluxcd.controlplane.io/recreateOnFailure: enabled`:
    /// flux-operator deletes and recreates it itself at the next reconcile (`deleteFailedJobs` in
    /// github.com/controlplaneio-fluxcd/flux-operator internal/controller/resourceset_controller.go),
    /// so rerun only requests one.
    OperatorRecreates,
    /// rerun recreates it from the saved live spec.
    FromLiveSpec(RecreateReason),
    /// A HelmRelease's Job: helm-controller runs it again in the `action` a forced reconcile
    /// (`forceAt` and `resetAt`) starts; rerun deletes it first unless Helm replaces it itself
    /// (see [`crate::engine::helm_hooks`]).
    HelmRuns { action: HelmAction, delete_first: bool },
}

/// A refusal, with the way out.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "Job {job} belongs to stage {stage} which is suspended: Flux would not recreate it. Resume it first: {}",
        stage.kind.resume_command(&stage.name, &stage.namespace)
    )]
    StageSuspended { job: NamespacedName, stage: StageId },
    #[error(
        "Job {job} is not managed by Flux (no {OWNER_NAME_LABEL} label), so nothing would recreate it. Pass --recreate to recreate it from its live spec"
    )]
    NotManaged { job: NamespacedName },
    #[error(
        "Job {job} belongs to {} {owner}, which does not exist (any more). Pass --recreate to recreate it from its live spec",
        owner.kind.as_str()
    )]
    OwnerGone { job: NamespacedName, owner: StageId },
    #[error("Job {job} is still running ({active} active pod{}); pass --force to delete it anyway", if *active == 1 { "" } else { "s" })]
    Running { job: NamespacedName, active: i32 },
    /// `why`: what a forced reconcile of its release runs instead, and what would run the hook.
    #[error("Job {job} is a {events} hook of {why}")]
    HookNotRun { job: NamespacedName, events: String, why: String },
    #[error(
        "{stage} is suspended: helm-controller would not run it. Resume it first: {}",
        stage.kind.resume_command(&stage.name, &stage.namespace)
    )]
    Suspended { stage: StageId },
    #[error(
        "{stage} is Ready: running its hooks again means a forced {action} of a healthy release; pass --force to do it anyway"
    )]
    ReleaseReady { stage: StageId, action: HelmAction },
}

/// The checks before any write. `owner_id` is the stage the Job's owner labels name, `owner` that
/// stage as read (`None` when it does not exist).
pub(crate) fn decide(
    job: &Job,
    owner: Option<&Stage>,
    owner_id: Option<&StageId>,
    force: bool,
    recreate: bool,
) -> Result<Mode, Refusal> {
    let id = NamespacedName::of(&job.metadata);
    if let Some(stage) = owner
        && stage.suspended()
    {
        return Err(Refusal::StageSuspended { job: id, stage: stage.id() });
    }
    match (owner_id, owner, recreate) {
        (None, _, false) => return Err(Refusal::NotManaged { job: id }),
        (Some(owner_id), None, false) => return Err(Refusal::OwnerGone { job: id, owner: owner_id.clone() }),
        _ => {}
    }
    let (state, _, _) = job_state(job);
    if matches!(state, JobState::Running | JobState::Pending) && !force {
        let active = job.status.as_ref().and_then(|s| s.active).unwrap_or(0);
        return Err(Refusal::Running { job: id, active });
    }
    let Some(stage) = owner.filter(|_| !recreate) else {
        return Ok(Mode::FromLiveSpec(RecreateReason::Asked));
    };
    Ok(match rules(stage).job_recreation(job) {
        JobRecreation::Applies => Mode::FluxRecreates,
        JobRecreation::DeletesFailedItself => Mode::OperatorRecreates,
        JobRecreation::WaitsOutHealthCheck => Mode::FromLiveSpec(RecreateReason::HealthCheckRunning(stage.id())),
        JobRecreation::HelmAction(HookRerun::Runs { action, replaced_by_helm }) => {
            if rules(stage).healthy() && !force {
                return Err(Refusal::ReleaseReady { stage: stage.id(), action });
            }
            Mode::HelmRuns { action, delete_first: !replaced_by_helm }
        }
        JobRecreation::HelmAction(HookRerun::NotRun { events, run, advice }) => {
            let why = format!(
                "{}, and a forced reconcile of it now runs an {} ({}), which runs {} hooks only: {advice}",
                stage.id(),
                run.action,
                run.why,
                run.events_text()
            );
            return Err(Refusal::HookNotRun { job: id, events, why });
        }
    })
}

/// The Job as it can be created again: server-set fields stripped (uid, resourceVersion,
/// creationTimestamp, generation, managedFields, status), and the selector and labels the Job
/// controller generates from the old uid (`controller-uid`, `job-name`), which the API server sets
/// anew for the new Job.
pub fn restorable(job: &Job) -> Job {
    const GENERATED: [&str; 4] =
        ["controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name"];
    let mut job = job.clone();
    let meta = &mut job.metadata;
    meta.uid = None;
    meta.resource_version = None;
    meta.creation_timestamp = None;
    meta.generation = None;
    meta.managed_fields = None;
    meta.self_link = None;
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
    meta.finalizers = None;
    if let Some(labels) = meta.labels.as_mut() {
        labels.retain(|k, _| !GENERATED.contains(&k.as_str()));
    }
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("batch.kubernetes.io/job-tracking");
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    job.status = None;
    if let Some(spec) = job.spec.as_mut() {
        if spec.manual_selector != Some(true) {
            spec.selector = None;
        }
        if let Some(labels) = spec.template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.retain(|k, _| !GENERATED.contains(&k.as_str()));
        }
    }
    job
}

/// A Job to rerun, after the checks.
pub(crate) struct Plan {
    pub job: Job,
    /// The Job as it can be created again ([`restorable`]): what the backup holds and the create
    /// check sends.
    pub manifest: Job,
    pub id: NamespacedName,
    pub owner: Option<Stage>,
    /// `Kind/ns/name` of `owner`.
    pub owner_ref: Option<ObjectRef>,
    pub mode: Mode,
}

impl Plan {
    pub(crate) fn new(job: Job, owner: Option<Stage>, mode: Mode) -> Self {
        let owner_ref = owner.as_ref().map(|stage| ObjectRef::stage(&stage.id()));
        Plan { id: NamespacedName::of(&job.metadata), manifest: restorable(&job), job, owner, owner_ref, mode }
    }

    /// Whether rerun deletes the Job (otherwise its controller, or Helm, does).
    pub(crate) fn deletes(&self) -> bool {
        match self.mode {
            Mode::OperatorRecreates => false,
            Mode::HelmRuns { delete_first, .. } => delete_first,
            Mode::FluxRecreates | Mode::FromLiveSpec(_) => true,
        }
    }

    pub(crate) fn uid(&self) -> &str {
        self.job.metadata.uid.as_deref().unwrap_or_default()
    }

    /// The writes this rerun will make, for the checks before the first: the delete, the create
    /// from the manifest when rerun recreates the Job, the owning stage's reconcile request.
    pub(crate) fn writes(&self) -> Vec<PlannedWrite<'_>> {
        let mut writes = vec![];
        if self.deletes() {
            writes.push(PlannedWrite::DeleteJob { job: &self.id, uid: self.uid() });
        }
        if let Mode::FromLiveSpec(_) = self.mode {
            writes.push(PlannedWrite::CreateJob(&self.manifest));
        }
        // A release's one forced request is its [`ReleaseRun`]'s.
        if let Some(stage) = self.owner_ref.as_ref().filter(|_| !matches!(self.mode, Mode::HelmRuns { .. })) {
            writes.push(PlannedWrite::RequestReconcile(stage, Request::Reconcile));
        }
        writes
    }

    pub(crate) fn describe(&self) -> String {
        let (state, reason, _) = job_state(&self.job);
        let state = match reason {
            Some(r) => format!("{} ({r})", state.as_str()),
            None => state.as_str().to_string(),
        };
        let owner = self.owner.as_ref().map(|s| s.id());
        let kind = owner.as_ref().map(|id| id.kind);
        let controller = kind.map(|k| k.controller().name()).unwrap_or_default();
        let owner = owner.map(|id| id.to_string()).unwrap_or_default();
        let how = match &self.mode {
            Mode::FluxRecreates => {
                let from = if kind == Some(StageKind::ResourceSet) { "its ResourceSet" } else { "Git" };
                format!("delete it, then ask {controller} to reconcile {owner} so it recreates the Job from {from}")
            }
            Mode::OperatorRecreates => format!(
                "ask flux-operator to reconcile {owner}: it deletes and recreates the failed Job itself (recreateOnFailure)"
            ),
            Mode::FromLiveSpec(why) => {
                let then = match &self.owner {
                    Some(_) => format!(", then ask {controller} to reconcile {owner}"),
                    None => String::new(),
                };
                format!("delete it and recreate it from its live spec ({why}){then}")
            }
            Mode::HelmRuns { action, delete_first: true } => format!(
                "delete it (its {HOOK_DELETE_POLICY_ANNOTATION} has no before-hook-creation, so Helm would not replace it), then ask helm-controller for a forced {action} of {owner}, which creates it again"
            ),
            Mode::HelmRuns { action, delete_first: false } => format!(
                "ask helm-controller for a forced {action} of {owner}: Helm deletes it and creates it again (before-hook-creation)"
            ),
        };
        format!("Job {} [{state}, uid {}]: {how}", self.id, self.uid())
    }
}

/// Namespaces a stage deploys Jobs into: its inventory's, its targetNamespace, its own.
pub(crate) fn stage_namespaces(stage: &dyn StageObject) -> Vec<String> {
    stage.object_namespaces().into_iter().collect()
}

/// For the tests: every `kubectl fluxjobs rerun job/NAME|hr/NAME -n NS [--force] [--recreate]` that
/// a hint of `report` names is accepted by [`decide`] (or [`decide_release`]) on `snapshot`; how
/// many hints name one.
#[cfg(test)]
pub(crate) fn hinted_reruns_accepted(
    snapshot: &crate::model::Snapshot,
    report: &crate::report::Report,
) -> Result<usize, String> {
    use crate::refs::MetaNames;
    let mut named = 0;
    for hint in report.stages.iter().filter_map(|s| s.hint.as_deref()) {
        let Some(at) = hint.find("kubectl fluxjobs rerun ") else { continue };
        let words: Vec<&str> = hint[at..].split_whitespace().skip(3).collect();
        let word = |w: &str| w.trim_end_matches([',', ';', ')']).to_string();
        let target = word(words[0]);
        let ns = words.iter().position(|w| *w == "-n").map(|i| word(words[i + 1]));
        let (force, recreate) = (words.contains(&"--force"), words.contains(&"--recreate"));
        let ns = ns.ok_or_else(|| format!("no -n in {hint}"))?;
        let refused = match parse_target(&target) {
            Ok(Target::Job(name)) => {
                let job =
                    snapshot.jobs.iter().find(|j| j.metadata.name_str() == name && j.metadata.namespace_str() == ns);
                let job = job.ok_or_else(|| format!("no Job {ns}/{name} for the hint {hint:?}"))?;
                let owner_id = crate::engine::owner_of(&job.metadata);
                let owner = owner_id.as_ref().and_then(|id| snapshot.stage(id));
                decide(job, owner.as_ref(), owner_id.as_ref(), force, recreate).err()
            }
            Ok(Target::Stage(StageKind::HelmRelease, name)) => {
                let hr = snapshot.helm_releases.iter().find(|h| h.name() == name && h.namespace() == ns);
                let hr = hr.ok_or_else(|| format!("no HelmRelease {ns}/{name} for the hint {hint:?}"))?;
                decide_release(hr, force).err()
            }
            _ => return Err(format!("not a Job or HelmRelease target: {hint}")),
        };
        if let Some(refused) = refused {
            return Err(format!("the hint {hint:?} leads to {refused}"));
        }
        named += 1;
    }
    Ok(named)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
pub(super) mod tests;
