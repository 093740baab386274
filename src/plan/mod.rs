//! What `rerun` will do, decided before any write and without touching the cluster: the targets
//! the user named, the checks that refuse a Job (with the way out), how the Job comes back, and the
//! manifest it can be created again from.

use std::fmt;

use k8s_openapi::api::batch::v1::Job;

mod release;

pub use release::{ReleaseRun, decide_release};

use crate::cluster::preflight::PlannedWrite;
use crate::cluster::write::Request;
use crate::engine::helm_hooks::{HelmAction, HookRerun};
use crate::engine::workload::job_state;
use crate::engine::{JobRecreation, rules};
use crate::model::StageObject;
use crate::model::{HOOK_DELETE_POLICY_ANNOTATION, Kustomization, OWNER_NAME_LABEL, Stage};
use crate::refs::{NamespacedName, ObjectRef, StageId, StageKind};
use crate::report::JobState;

/// A target `rerun` cannot take.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("cannot rerun {0:?}: name a Job (job/NAME or NAME), a Kustomization (ks/NAME) or a HelmRelease (hr/NAME)")]
pub struct BadTarget(String);

/// What the user named.
#[derive(Debug, PartialEq)]
pub enum Target {
    Job(String),
    /// A Kustomization (its Jobs) or a HelmRelease (its forced reconcile, with the hooks it runs).
    Stage(StageKind, String),
}

/// `job/NAME`, `NAME`, `ks/STAGE` or `hr/RELEASE`, with kubectl's resource aliases.
pub fn parse_target(s: &str) -> Result<Target, BadTarget> {
    let bad = || BadTarget(s.to_string());
    match s.split_once('/') {
        None if !s.is_empty() => Ok(Target::Job(s.to_string())),
        Some((kind, name)) if !name.is_empty() && !name.contains('/') => match kind.to_lowercase().as_str() {
            "job" | "jobs" | "job.batch" | "jobs.batch" => Ok(Target::Job(name.to_string())),
            kind => match StageKind::parse_user(kind) {
                Some(kind @ (StageKind::Kustomization | StageKind::HelmRelease)) => {
                    Ok(Target::Stage(kind, name.to_string()))
                }
                _ => Err(bad()),
            },
        },
        _ => Err(bad()),
    }
}

/// Why rerun recreates the Job itself instead of leaving it to kustomize-controller.
#[derive(Clone, Debug, PartialEq)]
pub enum RecreateReason {
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
pub enum Mode {
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
pub fn decide(
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
pub struct Plan {
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
    pub fn new(job: Job, owner: Option<Stage>, mode: Mode) -> Self {
        let owner_ref = owner.as_ref().map(|stage| ObjectRef::stage(&stage.id()));
        Plan { id: NamespacedName::of(&job.metadata), manifest: restorable(&job), job, owner, owner_ref, mode }
    }

    /// Whether rerun deletes the Job (otherwise its controller, or Helm, does).
    pub fn deletes(&self) -> bool {
        match self.mode {
            Mode::OperatorRecreates => false,
            Mode::HelmRuns { delete_first, .. } => delete_first,
            Mode::FluxRecreates | Mode::FromLiveSpec(_) => true,
        }
    }

    pub fn uid(&self) -> &str {
        self.job.metadata.uid.as_deref().unwrap_or_default()
    }

    /// The writes this rerun will make, for the checks before the first: the delete, the create
    /// from the manifest when rerun recreates the Job, the owning stage's reconcile request.
    pub fn writes(&self) -> Vec<PlannedWrite<'_>> {
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

    pub fn describe(&self) -> String {
        let (state, reason, _) = job_state(&self.job);
        let state = match reason {
            Some(r) => format!("{} ({r})", state.as_str()),
            None => state.as_str().to_string(),
        };
        let owner = self.owner.as_ref().map(|s| s.id());
        let controller = owner.as_ref().map(|id| id.kind.controller()).unwrap_or_default();
        let owner = owner.map(|id| id.to_string()).unwrap_or_default();
        let how = match &self.mode {
            Mode::FluxRecreates => {
                let from = if controller == "flux-operator" { "its ResourceSet" } else { "Git" };
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
pub fn stage_namespaces(ks: &Kustomization) -> Vec<String> {
    let mut out: Vec<String> =
        crate::engine::inventory_objects(ks.inventory(), "batch", "Job").into_iter().map(|id| id.namespace).collect();
    out.extend(ks.spec.target_namespace.clone().filter(|ns| !ns.is_empty()));
    out.push(ks.namespace().to_string());
    out.sort();
    out.dedup();
    out
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
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    pub fn job(extra: serde_json::Value) -> Job {
        let mut v = json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "db-migration", "namespace": "shop", "uid": "u-1", "resourceVersion": "42",
                         "creationTimestamp": "2026-11-24T10:00:00Z", "generation": 1,
                         "managedFields": [{"manager": "kustomize-controller", "operation": "Apply"}],
                         "labels": {"kustomize.toolkit.fluxcd.io/name": "app-pre-deploy", "kustomize.toolkit.fluxcd.io/namespace": "shop",
                                    "controller-uid": "u-1", "batch.kubernetes.io/controller-uid": "u-1", "job-name": "db-migration",
                                    "batch.kubernetes.io/job-name": "db-migration"}},
            "spec": {"backoffLimit": 0,
                     "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}},
                     "template": {"metadata": {"labels": {"app": "migration", "controller-uid": "u-1",
                                                           "batch.kubernetes.io/controller-uid": "u-1", "job-name": "db-migration",
                                                           "batch.kubernetes.io/job-name": "db-migration"}},
                                  "spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "app:1"}]}}},
            "status": {"startTime": "2026-11-24T10:00:00Z", "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]},
        });
        json_patch(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    fn json_patch(v: &mut serde_json::Value, patch: serde_json::Value) {
        match (v, patch) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, pv) in b {
                    json_patch(a.entry(k).or_insert(serde_json::Value::Null), pv);
                }
            }
            (slot, p) => *slot = p,
        }
    }

    pub fn ks(extra: serde_json::Value) -> Kustomization {
        let mut v = json!({"metadata": {"name": "app-pre-deploy", "namespace": "shop"},
                           "spec": {"sourceRef": {"kind": "GitRepository", "name": "app"}, "force": true, "wait": true}});
        json_patch(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    fn owner() -> StageId {
        StageId::kustomization("shop", "app-pre-deploy")
    }

    #[test]
    fn parses_targets_like_kubectl() {
        assert_eq!(parse_target("db-migration").unwrap(), Target::Job("db-migration".into()));
        assert_eq!(parse_target("job/db-migration").unwrap(), Target::Job("db-migration".into()));
        assert_eq!(parse_target("jobs.batch/x").unwrap(), Target::Job("x".into()));
        let ks = |name: &str| Target::Stage(StageKind::Kustomization, name.into());
        assert_eq!(parse_target("ks/app-pre-deploy").unwrap(), ks("app-pre-deploy"));
        assert_eq!(parse_target("kustomization/a").unwrap(), ks("a"));
        assert_eq!(parse_target("hr/my-app").unwrap(), Target::Stage(StageKind::HelmRelease, "my-app".into()));
        assert_eq!(
            parse_target("helmreleases.helm.toolkit.fluxcd.io/x").unwrap(),
            Target::Stage(StageKind::HelmRelease, "x".into())
        );
        assert!(parse_target("rset/release").unwrap_err().to_string().contains("hr/NAME"));
        assert!(parse_target("deployment/app").unwrap_err().to_string().contains("name a Job"));
        assert!(parse_target("job/").is_err());
    }

    #[test]
    fn a_finished_flux_job_is_left_to_flux() {
        assert_eq!(
            decide(&job(json!({})), Some(&Stage::Kustomization(ks(json!({})))), Some(&owner()), false, false),
            Ok(Mode::FluxRecreates)
        );
    }

    #[test]
    fn refuses_a_suspended_stage_with_the_way_out() {
        let suspended = ks(json!({"spec": {"suspend": true}}));
        let err = decide(&job(json!({})), Some(&Stage::Kustomization(suspended)), Some(&owner()), true, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("suspended") && err.contains("flux resume kustomization app-pre-deploy -n shop"), "{err}");
    }

    #[test]
    fn refuses_an_active_job_unless_forced() {
        let running = job(json!({"status": {"conditions": [], "active": 1}}));
        let err = decide(&running, Some(&Stage::Kustomization(ks(json!({})))), Some(&owner()), false, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("still running (1 active pod)") && err.contains("--force"), "{err}");
        assert_eq!(
            decide(&running, Some(&Stage::Kustomization(ks(json!({})))), Some(&owner()), true, false),
            Ok(Mode::FluxRecreates)
        );
    }

    #[test]
    fn refuses_a_job_flux_does_not_manage_unless_recreate() {
        let mut plain = job(json!({}));
        plain.metadata.labels = None;
        let err = decide(&plain, None, None, false, false).unwrap_err().to_string();
        assert!(err.contains("not managed by Flux") && err.contains("--recreate"), "{err}");
        assert_eq!(decide(&plain, None, None, false, true), Ok(Mode::FromLiveSpec(RecreateReason::Asked)));
        let err = decide(&job(json!({})), None, Some(&owner()), false, false).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn recreates_itself_while_kustomize_controller_health_checks_a_job_without_ttl() {
        let checking = ks(json!({"status": {"conditions": [
            {"type": "Ready", "status": "Unknown", "reason": "Progressing", "message": "Reconciliation in progress"},
            {"type": "Reconciling", "status": "True", "reason": "Progressing", "message": "Running health checks for revision 'main@sha1:1' with a timeout of 5m0s"}]}}));
        let running = job(json!({"status": {"conditions": [], "active": 1}}));
        let mode =
            decide(&running, Some(&Stage::Kustomization(checking.clone())), Some(&owner()), true, false).unwrap();
        assert_eq!(mode, Mode::FromLiveSpec(RecreateReason::HealthCheckRunning(owner())));
        assert!(RecreateReason::HealthCheckRunning(owner()).to_string().contains("health check"));
        let with_ttl =
            job(json!({"spec": {"ttlSecondsAfterFinished": 600}, "status": {"conditions": [], "active": 1}}));
        assert_eq!(
            decide(&with_ttl, Some(&Stage::Kustomization(checking.clone())), Some(&owner()), true, false),
            Ok(Mode::FluxRecreates)
        );
    }

    /// Every `kubectl fluxjobs rerun ...` a hint names, on every example, is a command the planner
    /// accepts in that state (a hint must never lead to a refusal); and the cases that need one
    /// keep one. The engine's rule fixtures check the same on every run (`rule_tests::run`).
    #[test]
    fn every_rerun_a_hint_names_is_accepted_by_the_planner() {
        let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut named = Vec::new();
        for entry in std::fs::read_dir(&examples).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let snapshot = crate::snapshot::read_snapshot(&path).unwrap();
            let report = crate::engine::diagnose(&snapshot, &crate::engine::Filter::default()).unwrap();
            match hinted_reruns_accepted(&snapshot, &report) {
                Ok(0) => {}
                Ok(_) => named.push(path.file_name().unwrap().to_string_lossy().into_owned()),
                Err(e) => panic!("{}: {e}", path.display()),
            }
        }
        assert!(named.iter().any(|n| n == "failed-migration.yaml"), "failed-migration names a rerun: {named:?}");
    }

    /// examples/failed-migration.yaml: the check failed (Ready=False HealthCheckFailed) and
    /// kustomize-controller left its "Running health checks" message with ProgressingWithRetry.
    #[test]
    fn a_failed_health_check_is_not_read_as_running() {
        let failed = ks(json!({"status": {"conditions": [
            {"type": "Reconciling", "status": "True", "reason": "ProgressingWithRetry", "message": "Running health checks for revision 'main@sha1:1' with a timeout of 5m0s"},
            {"type": "Ready", "status": "False", "reason": "HealthCheckFailed", "message": "health check failed after 5.0s"}]}}));
        let job_failed = job(json!({"status": {"conditions": [{"type": "Failed", "status": "True"}]}}));
        assert_eq!(
            decide(&job_failed, Some(&Stage::Kustomization(failed)), Some(&owner()), false, false),
            Ok(Mode::FluxRecreates)
        );
    }

    #[test]
    fn a_resource_set_recreates_a_failed_job_itself_when_annotated() {
        let rset: crate::model::ResourceSet =
            serde_json::from_value(json!({"metadata": {"name": "release", "namespace": "shop"}})).unwrap();
        let rset = Stage::ResourceSet(rset);
        let id = StageId::resource_set("shop", "release");
        let annotated =
            job(json!({"metadata": {"annotations": {"fluxcd.controlplane.io/recreateOnFailure": "enabled"}}}));
        assert_eq!(decide(&annotated, Some(&rset), Some(&id), false, false), Ok(Mode::OperatorRecreates));
        assert_eq!(decide(&job(json!({})), Some(&rset), Some(&id), false, false), Ok(Mode::FluxRecreates));
        let plan = Plan::new(annotated, Some(rset), Mode::OperatorRecreates);
        let writes = plan.writes();
        assert!(
            matches!(writes[..], [PlannedWrite::RequestReconcile(_, Request::Reconcile)]),
            "only a reconcile request: {writes:?}"
        );
        assert!(plan.describe().contains("recreateOnFailure"), "{}", plan.describe());
        let disabled: crate::model::ResourceSet = serde_json::from_value(
            json!({"metadata": {"name": "release", "namespace": "shop", "annotations": {"fluxcd.controlplane.io/reconcile": "disabled"}}}),
        )
        .unwrap();
        let err = decide(&job(json!({})), Some(&Stage::ResourceSet(disabled)), Some(&id), false, false).unwrap_err();
        assert!(
            err.to_string().contains("kubectl annotate resourceset release -n shop fluxcd.controlplane.io/reconcile-"),
            "{err}"
        );
    }

    #[test]
    fn restorable_manifests_drop_server_set_fields_and_the_old_uid() {
        let r = restorable(&job(json!({})));
        let v = serde_json::to_value(&r).unwrap();
        let text = v.to_string();
        assert!(!text.contains("u-1"), "the old uid survives: {text}");
        for gone in ["resourceVersion", "creationTimestamp", "managedFields", "generation", "status", "selector"] {
            assert!(!text.contains(&format!("\"{gone}\"")), "{gone} survives: {text}");
        }
        assert_eq!(v["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"], "app-pre-deploy");
        assert_eq!(v["spec"]["template"]["metadata"]["labels"], json!({"app": "migration"}));
        assert_eq!(v["spec"]["backoffLimit"], 0);
    }
}
