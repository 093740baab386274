//! A Flux Operator ResourceSet as a stage: its own state, the step it is stuck at and why, and its
//! report with one entry per step. Semantics from github.com/controlplaneio-fluxcd/flux-operator
//! internal/controller/resourceset_controller.go (v0.59.0), "RSC" below.

use super::causes::missing_job_report;
use super::index::{Index, StageJobs};
use super::messages::{self, StepAction};
use super::resolution::{Resolution, stage_cause};
use super::rules::{JobRecreation, RequestOutcome, StageRules, Walk, into_dependency};
use super::steps::{StepJobs, step_jobs, step_states};
use super::waiting::dependencies_ready_now;
use super::workload::{deployment_cause, job_cause, job_report, job_state};
use super::{hints, ready_expr};
use crate::model::{ResourceSet, StageObject, recreates_on_failure};
use crate::refs::{NamespacedName, ObjectRef, StageId};
use crate::report::{JobState, ReadyExprReport, Reason, RootCause, StageReport, StageState, StepReport, StepState};
use crate::vocabulary::{ConditionReason, ConditionStatus, ConditionType, KStatus, Kind};
use k8s_openapi::api::batch::v1::Job;

impl StageRules for ResourceSet {
    fn own_state(&self, _: &Index) -> StageState {
        state_of(self)
    }

    fn cause(&self, index: &Index, state: StageState) -> Resolution {
        cause(index, self, state)
    }

    /// A ResourceSet waiting on a dependency: the first one that fails flux-operator's check, in
    /// spec order (`checkDependencies` in github.com/controlplaneio-fluxcd/flux-operator
    /// internal/controller/resourceset_controller.go): existence always; with `ready`, its
    /// readyExpr, else Ready for its generation (kstatus for other kinds).
    fn blocked(&self, walk: &mut dyn Walk, visiting: &mut Vec<StageId>) -> Resolution {
        let rset = self;
        let id = rset.id();
        let ready = rset.condition(ConditionType::Ready).cloned().unwrap_or_default();
        for dep in &rset.spec.depends_on {
            let display = dep.display();
            let Some(dep_id) = dep.stage() else {
                // Another kind: not read by this plugin, so the controller's message is the evidence.
                if ready.message.contains(&format!("dependency {display} ")) {
                    let object = ObjectRef::new(&dep.kind, dep.namespace.as_deref().unwrap_or_default(), &dep.name);
                    let message = ready.message.trim_start_matches("Retrying dependency check: ").to_string();
                    let hint = format!(
                        "kubectl get {} {} -n {} -o yaml",
                        dep.kind.as_str().to_lowercase(),
                        dep.name,
                        object.namespace
                    );
                    return Resolution {
                        path: vec![id.clone()],
                        cause: RootCause::new(object, Reason::DependencyNotReady, message),
                        hint,
                    };
                }
                continue;
            };
            let at_dependency = |cause, hint| Resolution { path: vec![id.clone(), dep_id.clone()], cause, hint };
            if walk.index().stage(&dep_id).is_none() {
                let message = format!("dependency {display} not found");
                let cause = RootCause::new(ObjectRef::stage(&dep_id), Reason::DependencyNotFound, message);
                return at_dependency(cause, hints::create_dependency(&dep_id, &id));
            }
            if !dep.ready {
                continue; // existence is all flux-operator checks
            }
            if let Some(expr) = &dep.ready_expr {
                if messages::operator_ready_expr_unmet(&ready.message, &display) {
                    let evaluated = walk.ready_exprs(rset).into_iter().find(|e| e.dependency == dep_id);
                    let now = match evaluated.map(|e| (e.value, e.error)) {
                        Some((Some(false), _)) => "false here too".to_string(),
                        Some((Some(true), _)) => "true on these objects now".to_string(),
                        Some((None, error)) => format!("not evaluated here: {}", error.unwrap_or_default()),
                        None => "not evaluated here".to_string(),
                    };
                    let message = format!("dependency {display} not ready: expression '{expr}' ({now})");
                    let cause = RootCause::new(ObjectRef::stage(&dep_id), Reason::ReadyExprNotMet, message);
                    return at_dependency(cause, hints::ready_expr_false(&id, &dep_id));
                }
                continue;
            }
            let dep_ready = walk.index().stage(&dep_id).is_some_and(|dep| dep.healthy());
            if dep_ready || visiting.contains(&dep_id) {
                continue;
            }
            let message = format!("dependency {display} not ready");
            return into_dependency(walk, &id, &dep_id, visiting, message, hints::reconcile_stage(&dep_id));
        }
        dependencies_ready_now(walk.index(), rset)
    }

    /// A ResourceSet's readyExprs (on dependencies with `ready: true`), evaluated the way
    /// flux-operator binds them: the dependency's fields as variables. Only a Kustomization
    /// dependency is kept whole here; others are reported as not evaluated.
    fn ready_exprs(&self, index: &Index) -> Vec<ReadyExprReport> {
        let rset = self;
        let with_expr = rset.spec.depends_on.iter().filter(|d| d.ready);
        with_expr
            .filter_map(|dep| {
                let expression = dep.ready_expr.clone()?;
                let dependency = dep.stage()?;
                let (value, error) = match index.kustomization(&dependency) {
                    Some(ks) => match ready_expr::evaluate_on(&expression, &ks.object) {
                        Ok(value) => (Some(value), None),
                        Err(e) => (None, Some(e.to_string())),
                    },
                    None if index.stage(&dependency).is_some() => {
                        (None, Some("only Kustomization dependencies are evaluated here".to_string()))
                    }
                    None => (None, None),
                };
                Some(ReadyExprReport { dependency, expression, value, error })
            })
            .collect()
    }

    /// Ready for its generation with no reconcile running, or a failure other than a dependency
    /// wait (github.com/controlplaneio-fluxcd/flux-operator internal/controller/common.go writes
    /// `lastHandledReconcileAt`).
    fn settled(&self) -> Option<RequestOutcome> {
        let ready = self.condition(ConditionType::Ready)?;
        match state_of(self) {
            StageState::Ready => Some(RequestOutcome::Ready(self.last_applied_revision().map(str::to_string))),
            StageState::Failed => {
                Some(RequestOutcome::Failed { reason: ready.reason.clone(), message: ready.message.clone() })
            }
            _ => None,
        }
    }

    fn healthy(&self) -> bool {
        ResourceSet::healthy(self)
    }

    /// flux-operator deletes a failed Job annotated `recreateOnFailure: enabled` itself
    /// (`deleteFailedJobs` in RSC); any other Job of a step it applies again on the requested
    /// reconcile (it waits for a step's Jobs within the step timeout, then retries with backoff).
    fn job_recreation(&self, job: &Job) -> JobRecreation {
        if job_state(job).0 == JobState::Failed && recreates_on_failure(job) {
            JobRecreation::DeletesFailedItself
        } else {
            JobRecreation::Applies
        }
    }

    /// Its steps, with the root cause on the step it names; Jobs no step could be mapped to.
    fn complete_report(&self, index: &Index, report: &mut StageReport, warnings: &mut Vec<String>) {
        let steps = step_jobs(self);
        report.steps = Some(step_reports(index, self, &steps, report.root_cause.as_ref()));
        if let Some((source, provider)) = report.source.as_ref().and_then(|s| Some((s, index.source(s)?))) {
            report.source_inputs = provider.exported_values();
            report.attempted_revision = inputs_taken_up(index, self, source, provider).map(str::to_string);
        }
        let id = self.id();
        warnings.extend(unmapped_jobs(index, self, &steps).into_iter().map(|job| {
            format!("{job} of {id} is not mapped to a step: its step names objects with templates rendered from input providers or functions")
        }));
    }
}

/// The revision of its input provider the ResourceSet has reconciled with (whatever the outcome).
/// RSC records no provider revision: it reconciles the moment a provider's `lastExportedRevision`
/// changes (`exportedInputsChangePredicate` in internal/controller/resourceset_manager.go) and marks
/// Ready Unknown when it starts and True or False when it ends, so a reconcile since the export
/// (its Ready condition's or its newest history entry's time) has taken the inputs up. An export
/// no event names any more is old enough for any reconcile.
fn inputs_taken_up<'a>(
    index: &Index,
    rset: &ResourceSet,
    source: &ObjectRef,
    provider: &'a crate::model::Source,
) -> Option<&'a str> {
    let revision = provider.artifact_revision()?;
    let ready = rset.condition(ConditionType::Ready).and_then(|c| c.last_transition_time);
    let history = rset.status.as_ref().and_then(|s| s.history.iter().filter_map(|h| h.last_reconciled).max());
    let reconciled = ready.max(history)?;
    let taken = index.exported_at(source, revision).is_none_or(|exported| reconciled >= exported);
    taken.then_some(revision)
}

/// A ResourceSet's own state (it needs nothing but the ResourceSet).
fn state_of(rset: &ResourceSet) -> StageState {
    if rset.disabled() {
        return StageState::Suspended;
    }
    let Some(ready) = rset.condition(ConditionType::Ready) else {
        return StageState::Unknown;
    };
    // RSC marks Ready=False/DependencyNotReady on every failed dependency check, before reconciling.
    if ready.reason == ConditionReason::DependencyNotReady {
        return StageState::Blocked;
    }
    // A failed reconcile keeps Reconciling=True while RSC retries with backoff (observed against
    // v0.59.0: `Applying step 1/3` beside Ready=False ReconciliationFailed), so Ready decides.
    match ready.status {
        ConditionStatus::False => StageState::Failed,
        ConditionStatus::True
            if rset.healthy()
                && rset.condition(ConditionType::Reconciling).is_none_or(|c| c.status != ConditionStatus::True) =>
        {
            StageState::Ready
        }
        _ => StageState::Progressing,
    }
}

/// Why a ResourceSet that is neither Ready nor Blocked is not Ready.
fn cause(index: &Index, rset: &ResourceSet, state: StageState) -> Resolution {
    let id = rset.id();
    let own =
        |reason: Reason, message: String, hint: String| Resolution::at(&id, stage_cause(rset, reason, message), hint);
    match state {
        StageState::Suspended => own(
            Reason::Suspended,
            "reconciliation is disabled (annotation fluxcd.controlplane.io/reconcile: disabled)".into(),
            rset.resume_command(),
        ),
        StageState::Unknown => own(
            Reason::NotReconciled,
            "never reconciled: no status conditions".into(),
            "check that flux-operator is running (kubectl get deployment -A -l app.kubernetes.io/name=flux-operator) and watches this namespace".into(),
        ),
        _ => step_cause(index, rset).unwrap_or_else(|| {
            let ready = rset.condition(ConditionType::Ready).cloned().unwrap_or_default();
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
    let ready = rset.condition(ConditionType::Ready).cloned().unwrap_or_default();
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
            let hint = job_hint(index, rset, job, &cause);
            return Some(at_step(cause, hint));
        }
    }
    let position = format!("step {}/{} {:?}", at + 1, rset.spec.steps.len(), step.name);
    let mut running = steps[at].jobs.iter().filter_map(|j| index.job(&j.namespace, &j.name));
    if let Some(job) = running.find(|j| matches!(job_state(j).0, JobState::Running | JobState::Pending)) {
        let object = ObjectRef::of(Kind::Job, &job.metadata);
        let message = format!("the Job has not finished yet; flux-operator waits for it before going past {position}");
        let cause =
            RootCause::new(object.clone(), Reason::JobRunning, message).with_events(index.warning_events(&object));
        return Some(at_step(cause, hints::wait_for_job()));
    }
    for (object, status) in &refs {
        if object.kind == Kind::Deployment
            && let Some(d) = index.deployment(&object.namespace, &object.name)
            && let Some(cause) = deployment_cause(index, d)
        {
            let hint = hints::for_cause(index, &id, &cause);
            return Some(at_step(cause, hint));
        }
        if object.kind == Kind::Job && *status == KStatus::NotFound {
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
            let cause = stage_cause(rset, Reason::from(ready.reason.as_str()), messages::first_line(error));
            Some(at_step(cause.with_events(index.warning_events(&ObjectRef::stage(&id))), hint))
        }
        (StepState::Applying, _) => {
            let message = if steps[at].jobs.is_empty() {
                format!("applying {position}; flux-operator waits for its objects to become ready")
            } else {
                format!("applying {position}; its Jobs are not created yet")
            };
            let cause = stage_cause(rset, Reason::Progressing, message);
            Some(at_step(cause, "wait for flux-operator to finish".into()))
        }
        _ => None,
    }
}

/// The next step for a Job of a step: with recreateOnFailure flux-operator itself deletes a failed
/// Job before applying its step again (RSC `deleteFailedJobs`), so a reconcile is all it takes.
fn job_hint(index: &Index, rset: &ResourceSet, job: &Job, cause: &RootCause) -> String {
    let recreated = recreates_on_failure(job);
    if recreated && job_state(job).0 == JobState::Failed {
        format!(
            "fix the cause; flux-operator deletes and recreates this Job at the next reconcile (recreateOnFailure): {}",
            hints::reconcile_stage(&rset.id())
        )
    } else {
        hints::for_cause(index, &rset.id(), cause)
    }
}

/// The steps of a ResourceSet for its report; `cause` is the ResourceSet's own root cause, shown
/// on the step it names.
fn step_reports(index: &Index, rset: &ResourceSet, steps: &[StepJobs], cause: Option<&RootCause>) -> Vec<StepReport> {
    let states = step_states(rset, |at| step_done(index, &steps[at]));
    let inventory = super::index::inventory_objects(rset.inventory(), "batch", "Job");
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
fn unmapped_jobs(index: &Index, rset: &ResourceSet, steps: &[StepJobs]) -> Vec<ObjectRef> {
    if !steps.iter().any(|s| s.unrendered) {
        return vec![];
    }
    let StageJobs { live, missing, .. } = index.stage_jobs(rset);
    let mapped =
        |ns: &str, name: &str| steps.iter().any(|s| s.jobs.iter().any(|j| j.namespace == ns && j.name == name));
    let live = live.into_iter().map(|j| NamespacedName::of(&j.metadata));
    live.chain(missing)
        .filter(|id| !mapped(&id.namespace, &id.name))
        .map(|id| ObjectRef::new(Kind::Job, id.namespace, id.name))
        .collect()
}
