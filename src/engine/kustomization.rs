//! A Flux Kustomization as a stage: its own state and how it waits for its dependencies, judged
//! the way kustomize-controller writes them (fluxcd/kustomize-controller
//! internal/controller/kustomization_controller.go, "KC" below).

use super::causes::{self, source_problem};
use super::index::Index;
use super::resolution::{Resolution, stage_cause};
use super::rules::Reconciling;
use super::rules::{JobRecreation, RequestOutcome, StageRules, Walk};
use super::state::{dependency_ready, generation_observed, health_check_running, stage_timeout};
use super::waiting::dependencies_ready_now;
use super::{hints, messages, ready_expr};
use crate::model::StageObject;
use crate::model::{Condition, DependencyReference, Kustomization};
use crate::refs::{ObjectRef, StageId, StageKind};
use crate::report::{ReadyExprReport, Reason, RootCause, StageReport, StageState};
use crate::vocabulary::{ConditionReason, ConditionStatus, ConditionType};
use k8s_openapi::api::batch::v1::Job;

/// Why a dependency does not satisfy checkDependencies, in the order it checks.
enum DependencyCheck {
    Ok,
    NotFound,
    ReadyExprUnmet(String),
    NotReady,
    RevisionNotUpToDate { applied: Option<String>, wanted: String },
}

impl StageRules for Kustomization {
    /// A Kustomization's own state.
    fn own_state(&self, index: &Index) -> StageState {
        let ks = self;
        if ks.spec.suspend {
            return StageState::Suspended;
        }
        let Some(ready) = ks.condition(ConditionType::Ready) else {
            return StageState::Unknown;
        };
        // KC overwrites Ready with False/DependencyNotReady whenever a dependency check fails, even on a
        // stage that was Ready before (KC checkDependencies).
        if ready.reason == ConditionReason::DependencyNotReady {
            return StageState::Blocked;
        }
        match ready.status {
            ConditionStatus::True if generation_observed(ks) => StageState::Ready,
            // status.observedGeneration only moves when a reconcile succeeds (KC finalizeStatus):
            // Ready=True for an older generation means the new spec has not been applied yet.
            ConditionStatus::True | ConditionStatus::Unknown => StageState::Progressing,
            _ if ready.reason == ConditionReason::ArtifactFailed && source_problem(index, &ks.source()).is_some() => {
                StageState::Blocked
            }
            _ if ready.reason == ConditionReason::HealthCheckCanceled => StageState::Progressing,
            _ => StageState::Failed,
        }
    }

    fn cause(&self, index: &Index, state: StageState) -> Resolution {
        match state {
            StageState::Suspended => causes::suspended(self),
            StageState::Unknown => causes::not_reconciled(index, self),
            StageState::Progressing => causes::progressing(index, self),
            _ => causes::failed(index, self),
        }
    }

    /// A stage waiting on something upstream: its source, or its first unready dependency.
    fn blocked(&self, walk: &mut dyn Walk, visiting: &mut Vec<StageId>) -> Resolution {
        let ks = self;
        let id = ks.id();
        let ready = ks.condition(ConditionType::Ready).cloned().unwrap_or_default();
        if ready.reason == ConditionReason::ArtifactFailed
            && let Some((cause, hint)) = source_problem(walk.index(), &ks.source())
        {
            return Resolution::at(&id, cause, hint);
        }
        // kustomize-controller reports only the first failing dependency, in spec order; do the same walk but name the
        // object at the end of the chain.
        for dep_ref in &ks.spec.depends_on {
            let dep_id = ks.dependency_id(dep_ref);
            let check = check_dependency(walk.index(), ks, dep_ref, &dep_id, &ready);
            let at_dependency = |cause, hint| Resolution { path: vec![id.clone(), dep_id.clone()], cause, hint };
            match check {
                DependencyCheck::Ok => continue,
                DependencyCheck::NotFound => {
                    let cause = RootCause::new(
                        ObjectRef::stage(&dep_id),
                        Reason::DependencyNotFound,
                        messages::dependency_not_found(&dep_id),
                    );
                    // kustomize-controller looks the name up as a Kustomization only
                    // (checkDependencies in internal/controller/kustomization_controller.go).
                    let other_kind = StageKind::ALL
                        .into_iter()
                        .filter(|k| *k != dep_id.kind)
                        .map(|k| StageId::new(k, &dep_id.namespace, &dep_id.name))
                        .find(|other| walk.index().stage(other).is_some());
                    let hint = match other_kind {
                        Some(other) => hints::depends_on_other_kind(&dep_id, &other, &id),
                        None => hints::create_dependency(&dep_id, &id),
                    };
                    return at_dependency(cause, hint);
                }
                DependencyCheck::ReadyExprUnmet(expr) => {
                    let (cause, hint) = ready_expr_unmet(walk, ks, &dep_id, &expr);
                    return at_dependency(cause, hint);
                }
                check @ (DependencyCheck::NotReady | DependencyCheck::RevisionNotUpToDate { .. }) => {
                    if visiting.contains(&dep_id) {
                        continue; // a cycle; reported on the stages in it
                    }
                    let upstream = walk.resolve_visiting(&dep_id, visiting);
                    let dep = walk.index().kustomization(&dep_id).expect("checked");
                    let mut r = upstream.unwrap_or_else(|| dependency_itself(dep, &check));
                    if let DependencyCheck::RevisionNotUpToDate { wanted, .. } = &check
                        && r.cause.reason == Reason::Suspended
                        && r.path.len() == 1
                    {
                        r.cause.message = format!(
                            "{}; a new revision ({wanted}) arrived, so its dependents wait for it (\"revision is not up to date\")",
                            r.cause.message
                        );
                    }
                    r.path.insert(0, id.clone());
                    return r;
                }
            }
        }
        dependencies_ready_now(walk.index(), ks)
    }

    fn healthy(&self) -> bool {
        dependency_ready(self)
    }

    /// The Reconciling condition's phase and the stage's `spec.timeout` (KC `reconcile`: the
    /// condition's message moves from "Fetching manifests" to "Running health checks").
    fn reconciling(&self) -> Option<Reconciling> {
        let c = self.condition(ConditionType::Reconciling).filter(|c| c.status == ConditionStatus::True)?;
        Some(Reconciling {
            since: c.last_transition_time,
            timeout: Some(stage_timeout(self)),
            checking_health: health_check_running(self).is_some(),
        })
    }

    /// Every `readyExpr` of the stage, evaluated on the snapshot (once per stage).
    fn ready_exprs(&self, index: &Index) -> Vec<ReadyExprReport> {
        let ks = self;
        {
            let with_expr = ks.spec.depends_on.iter().filter_map(|d| d.ready_expr.as_ref().map(|e| (d, e)));
            with_expr
                .map(|(dep_ref, expr)| {
                    let dependency = ks.dependency_id(dep_ref);
                    let (value, error) = match index.kustomization(&dependency) {
                        Some(dep) => match ready_expr::evaluate(expr, &ks.object, &dep.object) {
                            Ok(value) => (Some(value), None),
                            Err(e) => (None, Some(e.to_string())),
                        },
                        None => (None, None),
                    };
                    ReadyExprReport { dependency, expression: expr.clone(), value, error }
                })
                .collect()
        }
    }

    /// Ready for its current generation, or Ready=False for a reason KC does not retry by itself
    /// (`DependencyNotReady`, `Progressing` and `HealthCheckCanceled` are retried).
    fn settled(&self) -> Option<RequestOutcome> {
        let ready = self.condition(ConditionType::Ready)?;
        match ready.status {
            ConditionStatus::True if generation_observed(self) => {
                Some(RequestOutcome::Ready(self.status.as_ref().and_then(|s| s.last_applied_revision.clone())))
            }
            ConditionStatus::False
                if !matches!(
                    ready.reason,
                    ConditionReason::DependencyNotReady
                        | ConditionReason::Progressing
                        | ConditionReason::HealthCheckCanceled
                ) =>
            {
                Some(RequestOutcome::Failed { reason: ready.reason.clone(), message: ready.message.clone() })
            }
            _ => None,
        }
    }

    /// KC waits for a deleted Job until the health check's timeout, unless the Job's manifest sets
    /// ttlSecondsAfterFinished (fluxcd/pkg ssa ExtractJobsWithTTL); without the
    /// CancelHealthCheckOnNewRevision gate a reconcile request waits behind that check too.
    fn job_recreation(&self, job: &Job) -> JobRecreation {
        let has_ttl = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished).is_some();
        if health_check_running(self).is_some() && !has_ttl {
            JobRecreation::WaitsOutHealthCheck
        } else {
            JobRecreation::Applies
        }
    }

    /// Everything a Kustomization reports is common to every kind.
    fn complete_report(&self, _: &Index, _: &mut StageReport, _: &mut Vec<String>) {}
}

/// A `readyExpr` the controller found false; the snapshot may be newer than its last attempt,
/// so the expression is evaluated again and the hint follows what it says now.
fn ready_expr_unmet(walk: &mut dyn Walk, ks: &Kustomization, dep_id: &StageId, expr: &str) -> (RootCause, String) {
    let evaluated = walk.ready_exprs(ks).into_iter().find(|e| &e.dependency == dep_id);
    let dep = walk.index().kustomization(dep_id).expect("checked");
    let (value, error) = evaluated.map(|e| (e.value, e.error)).unwrap_or_default();
    let unmet_hint = hints::ready_expr_false(&ks.id(), dep_id);
    let (now, hint) = match (value, error) {
        (Some(false), _) => ("false here too".to_string(), unmet_hint),
        (Some(true), _) => ("true on these objects now".to_string(), hints::ready_expr_holds_now(ks)),
        (None, e) => (format!("not evaluated here: {}", e.unwrap_or_default()), unmet_hint),
    };
    let message = format!("{}: {expr} ({now})", messages::ready_expr_unmet(dep_id));
    (stage_cause(dep, Reason::ReadyExprNotMet, message), hint)
}

/// The dependency is the stage at fault although nothing inside it is wrong.
fn dependency_itself(dep: &Kustomization, check: &DependencyCheck) -> Resolution {
    let dep_id = dep.id();
    match check {
        DependencyCheck::RevisionNotUpToDate { applied, wanted } => {
            let message = messages::revision_not_up_to_date(&dep_id, applied.as_deref(), wanted);
            let hint = hints::wait_for_revision(&dep_id, wanted);
            Resolution::at(&dep_id, stage_cause(dep, Reason::RevisionNotUpToDate, message), hint)
        }
        _ => {
            let message = messages::dependency_not_ready(&dep_id);
            Resolution::at(
                &dep_id,
                stage_cause(dep, Reason::DependencyNotReady, message),
                hints::reconcile_stage(&dep_id),
            )
        }
    }
}

/// The checks of checkDependencies, in its order.
fn check_dependency(
    index: &Index,
    ks: &Kustomization,
    dep_ref: &DependencyReference,
    dep_id: &StageId,
    ready: &Condition,
) -> DependencyCheck {
    let Some(dep) = index.kustomization(dep_id) else {
        return DependencyCheck::NotFound;
    };
    if let Some(expr) = &dep_ref.ready_expr {
        // readyExpr replaces the built-in check (unless the AdditiveCELDependencyCheck gate is on).
        // The controller's own verdict in the Ready message decides; `ready_exprs` evaluates it again.
        return if ready.message.contains(&messages::ready_expr_unmet(dep_id)) {
            DependencyCheck::ReadyExprUnmet(expr.clone())
        } else {
            DependencyCheck::Ok
        };
    }
    if !dependency_ready(dep) {
        return DependencyCheck::NotReady;
    }
    // Only a dependency on the same source must have applied that source's current revision.
    if dep.source() == ks.source()
        && let Some(wanted) = index.source(&ks.source()).and_then(|s| s.artifact_revision())
    {
        let applied = dep.status.as_ref().and_then(|s| s.last_applied_revision.clone());
        if applied.as_deref() != Some(wanted) {
            return DependencyCheck::RevisionNotUpToDate { applied, wanted: wanted.to_string() };
        }
    }
    DependencyCheck::Ok
}
