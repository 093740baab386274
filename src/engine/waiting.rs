//! A rollout in progress is not an alarm: a stage blocked on its dependencies only *waits* while
//! nothing upstream is wrong. kustomize-controller (like helm-controller and flux-operator)
//! re-checks a dependent's dependencies only every `--requeue-dependency`, so during a good rollout
//! every dependent sits at `DependencyNotReady` for up to that long after the stage before it is
//! Ready (measured on the harness: the seed pipeline spends 59 of its 60 s so; see
//! kustomize-controller internal/controller/kustomization_controller.go, `checkDependencies` and
//! the `RequeueAfter: r.requeueDependency` it returns).

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::index::Index;
use super::resolution::Resolution;
use super::rules::{Reconciling, StageRules};
use super::state::NEW_STAGE_GRACE;
use crate::duration::{human, parse_go_duration};
use crate::model::StageObject;
use crate::refs::StageId;
use crate::report::{Reason, RootCause, StageState};
use crate::vocabulary::{ConditionStatus, ConditionType};

/// How much longer than its controller's dependency requeue a re-check may take (a busy
/// controller's queue, the 1 s resolution of condition times) before the block counts as stuck.
pub(crate) const RECHECK_MARGIN: SignedDuration = SignedDuration::from_secs(30);

/// The causes of a stage still reconciling that say nothing is wrong yet: a Job running, its
/// controller at work, a rollout of replicas in progress whose pods show no problem (the workload
/// rules look at the pods first and name any pod that cannot start or keeps failing).
fn nothing_wrong(cause: &RootCause) -> bool {
    // Deployments (engine/workload.rs deployment_cause), StatefulSets and DaemonSets
    // (pod_set_rollout) rolling out without a failing condition; the Deployment controller's own
    // reason for it is `MinimumReplicasUnavailable` (pkg/controller/deployment/util).
    matches!(
        cause.reason,
        Reason::JobRunning
            | Reason::Progressing
            | Reason::GenerationNotObserved
            | Reason::RevisionNotUpToDate
            | Reason::ReplicasUnavailable
            | Reason::ReplicasNotReady
            | Reason::RolloutIncomplete
            | Reason::PodsUnavailable
    ) || cause.reason == "MinimumReplicasUnavailable"
}

/// Causes the dependent's own dependency check names, not the dependency's progress: a readyExpr
/// false, a dependency not found, a cycle.
fn decided_by_the_dependent(cause: &RootCause) -> bool {
    matches!(cause.reason, Reason::ReadyExprNotMet | Reason::DependencyNotFound | Reason::DependencyCycle)
}

/// `--requeue-dependency` of the controller of `stage`'s kind, its default.
fn requeue_dependency(stage: &dyn StageObject) -> SignedDuration {
    parse_go_duration(stage.stage_kind().info().requeue_dependency).unwrap_or(SignedDuration::from_secs(30))
}

/// When the last of `stage`'s dependencies became Ready, when all of them are (and are stages the
/// snapshot holds); `None` otherwise.
pub(crate) fn dependencies_ready_since(index: &Index, stage: &dyn StageObject) -> Option<Timestamp> {
    let mut newest = None;
    for id in stage.dependency_ids() {
        let dep = index.stage(&id)?;
        if !dep.healthy() {
            return None;
        }
        let since = dep.condition(ConditionType::Ready).and_then(|c| c.last_transition_time);
        newest = newest.max(since);
    }
    newest
}

/// Whether the re-check of `stage`'s dependencies, all Ready since `since`, is overdue by far.
pub(crate) fn recheck_overdue(index: &Index, stage: &dyn StageObject, since: Timestamp) -> bool {
    index.now.duration_since(since) > requeue_dependency(stage) + RECHECK_MARGIN
}

/// What a Blocked stage (`home` its namespace) waits for, in words, when nothing upstream is
/// wrong; `None` when it is blocked for real.
pub(super) fn waiting_for(index: &Index, resolution: &Resolution, home: &str) -> Option<String> {
    let at_id = resolution.path.last()?;
    let at = index.stage(at_id)?;
    let cause = &resolution.cause;
    let label = at_id.label(home);
    match at.own_state(index) {
        StageState::Progressing => {
            let reconciling = at.reconciling();
            if reconciling.as_ref().is_some_and(|r| r.past_timeout(index.now)) {
                return None;
            }
            // What the dependent's own check decided stands, whatever the dependency does.
            if decided_by_the_dependent(cause) {
                return None;
            }
            let applying = reconciling.as_ref().is_some_and(|r| !r.checking_health);
            if !applying && !nothing_wrong(cause) {
                return None;
            }
            Some(format!("{label} ({})", progress(index, at, cause, reconciling.as_ref(), home)))
        }
        // Never reconciled yet, but created moments ago: its controller picks it up within seconds.
        StageState::Unknown => {
            let created = at.meta().creation_timestamp.as_ref()?;
            let age = index.now.duration_since(created.0);
            (cause.reason == Reason::NotReconciled && age < NEW_STAGE_GRACE)
                .then(|| format!("{label} (created {} ago, not reconciled yet)", human(age)))
        }
        // Every dependency of `at` is Ready: its controller has not re-checked them yet.
        StageState::Blocked
            if cause.reason == Reason::DependencyNotReady && cause.object().as_stage().as_ref() == Some(at_id) =>
        {
            let since = dependencies_ready_since(index, at)?;
            if recheck_overdue(index, at, since) {
                return None;
            }
            let deps: Vec<String> = at.dependency_ids().iter().map(|d| d.label(home)).collect();
            let what = format!(
                "{} to re-check {} (Ready {} ago, every {})",
                at.stage_kind().controller(),
                deps.join(", "),
                human(index.now.duration_since(since)),
                human(requeue_dependency(at))
            );
            Some(if at_id.namespace == home && resolution.path.len() == 1 { what } else { format!("{label}: {what}") })
        }
        // Its source fetching its first artifact (Ready=Unknown while source-controller reconciles).
        StageState::Blocked
            if index
                .source(&cause.object())
                .and_then(|s| s.ready())
                .is_some_and(|c| c.status == ConditionStatus::Unknown) =>
        {
            let fetching = format!("{} fetching", cause.object().short(home));
            Some(if resolution.path.len() == 1 && at_id.namespace == home {
                fetching
            } else {
                format!("{label}: {fetching}")
            })
        }
        // A dependency Ready at the revision before the source's new one: its controller was
        // queued by the source change itself and takes it up at once.
        StageState::Ready if cause.reason == Reason::RevisionNotUpToDate => {
            let blocked = index.stage(resolution.path.first()?)?;
            // The later of the dependent's check and the dependency's last Ready (helm- and
            // kustomize-controller write lastAppliedRevision a few ms after Ready).
            let ready_since =
                |s: &dyn StageObject| s.condition(ConditionType::Ready).and_then(|c| c.last_transition_time);
            let since = ready_since(blocked).max(ready_since(at))?;
            (!recheck_overdue(index, blocked, since)).then(|| format!("{label} to apply the new revision"))
        }
        _ => None,
    }
}

/// How far a stage still reconciling got: `Job/db-migration running 12s`, `reconciling for 3s`.
fn progress(
    index: &Index,
    at: &dyn StageRules,
    cause: &RootCause,
    reconciling: Option<&Reconciling>,
    home: &str,
) -> String {
    let object = cause.object();
    if cause.reason == Reason::JobRunning
        && let Some(job) = index.job(&object.namespace, &object.name)
    {
        let started = job.status.as_ref().and_then(|s| s.start_time.as_ref());
        return match started {
            Some(t) => format!("{} running {}", object.short(home), human(index.now.duration_since(t.0))),
            None => format!("{} starting", object.short(home)),
        };
    }
    let for_how_long = reconciling.and_then(|r| r.since).map(|t| human(index.now.duration_since(t)));
    if object.as_stage().is_some_and(|id| id == at.id()) || reconciling.is_some_and(|r| !r.checking_health) {
        return match for_how_long {
            Some(age) => format!("reconciling for {age}"),
            None => "reconciling".into(),
        };
    }
    format!("{}: {}", object.short(home), cause.message.lines().next().unwrap_or_default())
}

/// The state a stage shows: a Blocked stage that only waits is Waiting.
pub(super) fn shown_state(own: StageState, waiting: Option<&String>) -> StageState {
    match (own, waiting) {
        (StageState::Blocked, Some(_)) => StageState::Waiting,
        (state, _) => state,
    }
}

/// The one-line hint of a Waiting stage: a reconcile of it, which goes through the chain at once
/// instead of waiting for each controller's dependency requeue.
pub(super) fn skip_the_wait(id: &StageId) -> String {
    format!("nothing to fix; to skip the dependency re-checks: {}", super::hints::reconcile_stage(id))
}

/// A stage still blocked although every dependency is ready now: the block is stale until its
/// controller checks again, after its dependency requeue; long after that, the controller is not
/// checking (down, not watching the namespace, or throttled).
pub(crate) fn dependencies_ready_now(index: &Index, stage: &dyn StageObject) -> Resolution {
    let (id, info) = (stage.id(), stage.stage_kind().info());
    let ready = stage.condition(ConditionType::Ready).map(|c| c.message.as_str()).unwrap_or_default();
    let since = dependencies_ready_since(index, stage);
    let message = match since.filter(|since| recheck_overdue(index, stage, *since)) {
        Some(since) => format!(
            "{ready}; its dependencies have been Ready for {}, far longer than {} takes to re-check them (every --requeue-dependency, {} by default): is it running, watching this namespace, not throttled?",
            crate::duration::human(index.now.duration_since(since)),
            info.controller,
            info.requeue_dependency
        ),
        None => format!(
            "{ready}; its dependencies are ready now, {} re-checks them every --requeue-dependency ({} by default)",
            info.controller, info.requeue_dependency
        ),
    };
    let cause = super::resolution::stage_cause(stage, Reason::DependencyNotReady, message);
    Resolution::at(&id, cause, super::hints::reconcile_stage(&id))
}
