//! What the engine asks of every stage kind ([`StageRules`]): the shared walk, report assembly and
//! waits call these methods and never match on a stage's kind; each kind implements them in its
//! own room (`kustomization`, `resource_set`, `helm_release`).

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::index::Index;
use super::resolution::Resolution;
use crate::model::{StageObject, StageRef};
use crate::refs::{ObjectRef, StageId};
use crate::report::{ReadyExprReport, Reason, RootCause, StageReport, StageState};
use crate::vocabulary::{ConditionReason, ConditionStatus, ConditionType};

/// What the engine asks of a stage of any kind; each kind implements it in its own room
/// (`kustomization`, `resource_set`).
pub(crate) trait StageRules: StageObject {
    /// Its own state, from its spec and status as its controller writes them.
    fn own_state(&self, index: &Index) -> StageState;
    /// Why it is not Ready, in a state other than Ready and Blocked.
    fn cause(&self, index: &Index, state: StageState) -> Resolution;
    /// Why it is Blocked: the walk through what it waits for, in its controller's order.
    fn blocked(&self, walk: &mut dyn Walk, visiting: &mut Vec<StageId>) -> Resolution;
    /// Whether it satisfies a dependent's plain check (no readyExpr): Ready for its generation.
    fn healthy(&self) -> bool;
    /// Every `readyExpr` on its dependencies, evaluated on the snapshot.
    fn ready_exprs(&self, index: &Index) -> Vec<ReadyExprReport>;
    /// How a reconcile request ended once handled (`None` while it is not final).
    fn settled(&self) -> Option<RequestOutcome>;
    /// What its controller does with one of its Jobs that rerun deletes, once asked to reconcile.
    fn job_recreation(&self, job: &Job) -> JobRecreation;
    /// What only its kind reports (a ResourceSet's steps), and its warnings.
    fn complete_report(&self, index: &Index, report: &mut StageReport, warnings: &mut Vec<String>);
    /// Its running reconcile, when one runs: by default from the Reconciling condition every Flux
    /// controller writes (fluxcd/pkg runtime/conditions), without a timeout and as if checking health.
    fn reconciling(&self) -> Option<Reconciling> {
        let c = self.condition(ConditionType::Reconciling).filter(|c| c.status == ConditionStatus::True)?;
        Some(Reconciling { since: c.last_transition_time, timeout: None, checking_health: true })
    }
}

/// The walk through dependencies, as a stage's [`StageRules::blocked`] takes it.
pub(crate) trait Walk {
    fn index(&self) -> &Index<'_>;
    /// Why stage `id` is not Ready (`None` when it is); `visiting` guards against cycles.
    fn resolve_visiting(&mut self, id: &StageId, visiting: &mut Vec<StageId>) -> Option<Resolution>;
    /// The stage's readyExprs, evaluated once per diagnosis.
    fn ready_exprs(&mut self, stage: &dyn StageRules) -> Vec<ReadyExprReport>;
}

/// The walk into dependency `dep_id` of stage `id`, which is not ready: the dependency's own
/// resolution with `id` in front, or, when it has none, `message` on it with `hint`.
pub(super) fn into_dependency(
    walk: &mut dyn Walk,
    id: &StageId,
    dep_id: &StageId,
    visiting: &mut Vec<StageId>,
    message: String,
    hint: String,
) -> Resolution {
    let mut r = walk.resolve_visiting(dep_id, visiting).unwrap_or_else(|| {
        let cause = RootCause::new(ObjectRef::stage(dep_id), Reason::DependencyNotReady, message);
        Resolution::at(dep_id, cause, hint)
    });
    r.path.insert(0, id.clone());
    r
}

/// What a stage's controller does with a Job rerun deletes, on the requested reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JobRecreation {
    /// It applies the Job again from its source.
    Applies,
    /// It deletes the failed Job itself before applying it again, so nothing is to be deleted.
    DeletesFailedItself,
    /// It is in a health check that would wait for the deleted Job until its timeout.
    WaitsOutHealthCheck,
    /// A HelmRelease's: only a forced reconcile whose action runs the Job's hook (or, for a Job
    /// that is no hook, applies the release's manifest) creates it again.
    HelmAction(super::helm_hooks::HookRerun),
}

/// How a stage ended once its controller handled a reconcile request.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RequestOutcome {
    /// Ready for its current generation, at this revision.
    Ready(Option<String>),
    /// Not Ready, for a reason the controller does not retry by itself.
    Failed { reason: ConditionReason, message: String },
}

/// The outcome of the reconcile request `token` (`reconcile.fluxcd.io/requestedAt`), once the
/// stage's controller handled it (`status.lastHandledReconcileAt`, fluxcd/pkg apis/meta
/// ReconcileRequestStatus; flux-operator internal/controller/common.go writes the same); `None`
/// while waiting.
pub(crate) fn request_outcome(stage: &dyn StageRules, token: &str) -> Option<RequestOutcome> {
    if stage.last_handled_reconcile_at() != Some(token) {
        return None;
    }
    stage.settled()
}

/// A stage, as the engine reads it: the one place that names each kind's rules.
pub(crate) fn rules<'a>(stage: impl Into<StageRef<'a>>) -> &'a dyn StageRules {
    match stage.into() {
        StageRef::Kustomization(ks) => ks,
        StageRef::ResourceSet(rset) => rset,
        StageRef::HelmRelease(hr) => hr,
    }
}

impl<'a> Index<'a> {
    /// The stage `id`, of any kind, with its rules.
    pub(crate) fn stage(&self, id: &StageId) -> Option<&'a dyn StageRules> {
        self.stage_object(id).map(rules)
    }
}

/// A running reconcile, as a stage's controller reports it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Reconciling {
    /// Since when it has been at its current phase (the Reconciling condition's transition time).
    pub since: Option<Timestamp>,
    /// How long its controller gives it, when its kind says.
    pub timeout: Option<SignedDuration>,
    /// Past applying: its health check runs. Before that, what the workloads show is the previous
    /// apply's (a forced Job is about to be deleted and created again).
    pub checking_health: bool,
}

impl Reconciling {
    pub(super) fn past_timeout(&self, now: Timestamp) -> bool {
        match (self.since, self.timeout) {
            (Some(since), Some(timeout)) => now.duration_since(since) > timeout,
            _ => false,
        }
    }
}
