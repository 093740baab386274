//! A Flux Operator ResourceSet as a stage: its own state, the step it is stuck at and why, and its
//! report with one entry per step. Semantics from github.com/controlplaneio-fluxcd/flux-operator
//! internal/controller/resourceset_controller.go (v0.59.0), "RSC" below.

use super::causes::missing_job_report;
use super::messages::{self, StepAction};
use super::resolve::Resolution;
use super::steps::{StepJobs, step_jobs, step_states};
use super::workload::{deployment_cause, job_cause, job_report, job_state};
use super::{Index, hints};
use crate::model::{ResourceSet, recreates_on_failure};
use crate::refs::{NamespacedName, ObjectRef};
use crate::report::{JobState, Reason, RootCause, StageState, StepReport, StepState};

/// A ResourceSet's own state.
pub fn own_state(rset: &ResourceSet) -> StageState {
    if rset.disabled() {
        return StageState::Suspended;
    }
    let Some(ready) = rset.condition("Ready") else {
        return StageState::Unknown;
    };
    // RSC marks Ready=False/DependencyNotReady on every failed dependency check, before reconciling.
    if ready.reason == "DependencyNotReady" {
        return StageState::Blocked;
    }
    // A failed reconcile keeps Reconciling=True while RSC retries with backoff (observed against
    // v0.59.0: `Applying step 1/3` beside Ready=False ReconciliationFailed), so Ready decides.
    match ready.status.as_str() {
        "False" => StageState::Failed,
        "True" if rset.healthy() && rset.condition("Reconciling").is_none_or(|c| c.status != "True") => {
            StageState::Ready
        }
        _ => StageState::Progressing,
    }
}

/// A cause that is the ResourceSet itself.
pub fn rset_cause(rset: &ResourceSet, reason: Reason, message: impl Into<String>) -> RootCause {
    RootCause::new(ObjectRef::stage(&rset.id()), reason, message)
}

/// Why a ResourceSet that is not Blocked is not Ready (Blocked is `resolve`'s dependency walk).
pub fn cause(index: &Index, rset: &ResourceSet, state: StageState) -> Resolution {
    let id = rset.id();
    let own =
        |reason: Reason, message: String, hint: String| Resolution::at(&id, rset_cause(rset, reason, message), hint);
    match state {
        StageState::Suspended => own(
            Reason::Suspended,
            "reconciliation is disabled (annotation fluxcd.controlplane.io/reconcile: disabled)".into(),
            format!("kubectl annotate resourceset {} -n {} fluxcd.controlplane.io/reconcile-", rset.name(), rset.namespace()),
        ),
        StageState::Unknown => own(
            Reason::NotReconciled,
            "never reconciled: no status conditions".into(),
            "check that flux-operator is running (kubectl get deployment -A -l app.kubernetes.io/name=flux-operator) and watches this namespace".into(),
        ),
        _ => step_cause(index, rset).unwrap_or_else(|| {
            let ready = rset.condition("Ready").cloned().unwrap_or_default();
            let (reason, message) = match ready.reason.as_str() {
                "" => (Reason::Progressing, "reconciliation in progress".to_string()),
                r if state == StageState::Progressing => (Reason::Progressing, format!("{r}: {}", messages::first_line(&ready.message))),
                r => (Reason::from(r), messages::first_line(&ready.message)),
            };
            let hint = if state == StageState::Progressing {
                "wait for flux-operator to finish".to_string()
            } else {
                events_hint(rset)
            };
            own(reason, message, hint)
        }),
    }
}

fn events_hint(rset: &ResourceSet) -> String {
    format!("kubectl events --for resourceset/{} -n {}", rset.name(), rset.namespace())
}

/// The step the ResourceSet is at (applying or failed), its position and state.
fn active_step(index: &Index, rset: &ResourceSet, steps: &[StepJobs]) -> Option<(usize, StepState)> {
    let states = step_states(rset, |at| step_done(index, &steps[at]));
    states.iter().position(|s| matches!(s, StepState::Applying | StepState::Failed)).map(|at| (at, states[at]))
}

/// Whether every Job of a step is Complete (a step without Jobs counts as done).
fn step_done(index: &Index, step: &StepJobs) -> bool {
    step.jobs.iter().all(|id| index.job(&id.namespace, &id.name).is_some_and(|j| job_state(j).0 == JobState::Complete))
}

/// The object at fault inside the step the ResourceSet is at.
fn step_cause(index: &Index, rset: &ResourceSet) -> Option<Resolution> {
    let steps = step_jobs(rset);
    let (at, state) = active_step(index, rset, &steps)?;
    let step = &rset.spec.steps[at];
    let id = rset.id();
    let ready = rset.condition("Ready").cloned().unwrap_or_default();
    let failure = messages::failed_step(&ready.message).filter(|(name, _, _)| *name == step.name);
    let at_step = |mut cause: RootCause, hint: String| {
        cause.step = Some(step.name.clone());
        Resolution::at(&id, cause, hint)
    };
    // A workload of the step that fails (a Job's pod, a Deployment), in the step's order.
    let refs = failure.map(|(_, _, error)| messages::health_check_refs(error)).unwrap_or_default();
    for job_id in &steps[at].jobs {
        if let Some(job) = index.job(&job_id.namespace, &job_id.name)
            && let Some(cause) = job_cause(index, job)
        {
            let hint = job_hint(rset, job, &cause);
            return Some(at_step(cause, hint));
        }
    }
    let position = format!("step {}/{} {:?}", at + 1, rset.spec.steps.len(), step.name);
    let mut running = steps[at].jobs.iter().filter_map(|j| index.job(&j.namespace, &j.name));
    if let Some(job) = running.find(|j| matches!(job_state(j).0, JobState::Running | JobState::Pending)) {
        let object = ObjectRef::of("Job", &job.metadata);
        let message = format!("the Job has not finished yet; flux-operator waits for it before going past {position}");
        let cause =
            RootCause::new(object.clone(), Reason::JobRunning, message).with_events(index.warning_events(&object));
        return Some(at_step(cause, hints::wait_for_job()));
    }
    for (object, status) in &refs {
        if object.kind == "Deployment"
            && let Some(d) = index.deployment(&object.namespace, &object.name)
            && let Some(cause) = deployment_cause(index, d)
        {
            let hint = hints::for_cause(&id, &cause);
            return Some(at_step(cause, hint));
        }
        if object.kind == "Job" && status == "NotFound" {
            let message = "the step's health check waits for it but it is gone from the cluster";
            let cause = RootCause::new(object.clone(), Reason::JobDeleted, message);
            return Some(at_step(cause, hints::reconcile_stage(&id)));
        }
    }
    match (state, failure) {
        (StepState::Failed, Some((_, action, error))) => {
            let hint = match action {
                StepAction::Apply => format!("fix the resources of {position} in spec.steps of {id}"),
                StepAction::JobRecreation | StepAction::HealthCheck => events_hint(rset),
            };
            let cause = rset_cause(rset, Reason::from(ready.reason.as_str()), messages::first_line(error));
            Some(at_step(cause.with_events(index.warning_events(&ObjectRef::stage(&id))), hint))
        }
        (StepState::Applying, _) => {
            let message = if steps[at].jobs.is_empty() {
                format!("applying {position}; flux-operator waits for its objects to become ready")
            } else {
                format!("applying {position}; its Jobs are not created yet")
            };
            let cause = rset_cause(rset, Reason::Progressing, message);
            Some(at_step(cause, "wait for flux-operator to finish".into()))
        }
        _ => None,
    }
}

/// The next step for a Job of a step: with recreateOnFailure flux-operator itself deletes a failed
/// Job before applying its step again (RSC `deleteFailedJobs`), so a reconcile is all it takes.
fn job_hint(rset: &ResourceSet, job: &k8s_openapi::api::batch::v1::Job, cause: &RootCause) -> String {
    let recreated = recreates_on_failure(job);
    if recreated && job_state(job).0 == JobState::Failed {
        format!(
            "fix the cause; flux-operator deletes and recreates this Job at the next reconcile (recreateOnFailure): {}",
            hints::reconcile_stage(&rset.id())
        )
    } else {
        hints::for_cause(&rset.id(), cause)
    }
}

/// The steps of a ResourceSet for its report; `cause` is the ResourceSet's own root cause, shown
/// on the step it names.
pub fn step_reports(
    index: &Index,
    rset: &ResourceSet,
    steps: &[StepJobs],
    cause: Option<&RootCause>,
) -> Vec<StepReport> {
    let states = step_states(rset, |at| step_done(index, &steps[at]));
    let inventory = super::inventory_objects(rset.inventory(), "batch", "Job");
    rset.spec
        .steps
        .iter()
        .zip(steps)
        .zip(states)
        .map(|((step, mapped), state)| {
            let jobs = mapped
                .jobs
                .iter()
                .filter_map(|id| match index.job(&id.namespace, &id.name) {
                    Some(job) => Some(job_report(index, job)),
                    None if inventory.contains(id) => Some(missing_job_report(index, id)),
                    None => None, // not created yet
                })
                .collect();
            let root_cause = cause.filter(|c| c.step.as_deref() == Some(step.name.as_str())).cloned();
            StepReport { name: step.name.clone(), state, jobs, root_cause, unmapped: mapped.unrendered }
        })
        .collect()
}

/// Jobs the ResourceSet owns that no step could be mapped to: their step names them with
/// templates rendered from input providers or functions.
pub fn unmapped_jobs(index: &Index, rset: &ResourceSet, steps: &[StepJobs]) -> Vec<ObjectRef> {
    if !steps.iter().any(|s| s.unrendered) {
        return vec![];
    }
    let (live, missing) = index.rset_jobs(rset);
    let mapped =
        |ns: &str, name: &str| steps.iter().any(|s| s.jobs.iter().any(|j| j.namespace == ns && j.name == name));
    let live = live.into_iter().map(|j| NamespacedName::of(&j.metadata));
    live.chain(missing)
        .filter(|id| !mapped(&id.namespace, &id.name))
        .map(|id| ObjectRef::new("Job", id.namespace, id.name))
        .collect()
}
