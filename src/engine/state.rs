//! A stage's own state, judged from its spec and status the way kustomize-controller writes them
//! (fluxcd/kustomize-controller internal/controller/kustomization_controller.go, "KC" below), and
//! the readiness predicates the commands wait on. Nothing outside the engine judges readiness.

use k8s_openapi::jiff::SignedDuration;

use super::Index;
use super::causes::source_problem;
use super::messages;
use crate::duration::parse_go_duration;
use crate::model::{Condition, Kustomization, Stage};
use crate::report::StageState;

/// How long a new Kustomization may go without conditions before that points at the controller.
pub const NEW_STAGE_GRACE: SignedDuration = SignedDuration::from_secs(30);

/// A stage's own state.
pub fn own_state(index: &Index, ks: &Kustomization) -> StageState {
    if ks.spec.suspend {
        return StageState::Suspended;
    }
    let Some(ready) = ks.condition("Ready") else {
        return StageState::Unknown;
    };
    // KC overwrites Ready with False/DependencyNotReady whenever a dependency check fails, even on a
    // stage that was Ready before (KC checkDependencies).
    if ready.reason == "DependencyNotReady" {
        return StageState::Blocked;
    }
    match ready.status.as_str() {
        "True" if generation_observed(ks) => StageState::Ready,
        // status.observedGeneration only moves when a reconcile succeeds (KC finalizeStatus):
        // Ready=True for an older generation means the new spec has not been applied yet.
        "True" | "Unknown" => StageState::Progressing,
        _ if ready.reason == "ArtifactFailed" && source_problem(index, ks).is_some() => StageState::Blocked,
        _ if ready.reason == "HealthCheckCanceled" => StageState::Progressing,
        _ => StageState::Failed,
    }
}

/// Whether `status.observedGeneration` has caught up with `metadata.generation`.
pub fn generation_observed(ks: &Kustomization) -> bool {
    let observed = ks.status.as_ref().and_then(|s| s.observed_generation);
    match (ks.metadata.generation, observed) {
        (Some(g), Some(o)) => g == o,
        (Some(_), None) => false,
        (None, _) => true, // hand-written objects without generation
    }
}

/// Whether a dependency satisfies KC's built-in check: Ready=True for its current generation.
pub fn dependency_ready(dep: &Kustomization) -> bool {
    dep.condition("Ready").is_some_and(|c| c.status == "True") && generation_observed(dep)
}

/// The Reconciling condition while kustomize-controller runs the stage's health checks.
pub fn health_check_running(ks: &Kustomization) -> Option<&Condition> {
    ks.condition("Reconciling").filter(|c| c.status == "True" && messages::is_health_check_progress(&c.message))
}

/// `spec.timeout`, else `interval - 30s` but at least 30s: `GetTimeout` in fluxcd/kustomize-controller
/// api/v1/kustomization_types.go (its doc comment says the default is the interval, the code does not).
pub fn stage_timeout(ks: &Kustomization) -> SignedDuration {
    if let Some(t) = ks.spec.timeout.as_deref().and_then(parse_go_duration) {
        return t;
    }
    let interval = ks.spec.interval.as_deref().and_then(parse_go_duration).unwrap_or(SignedDuration::from_mins(5));
    let t = interval - SignedDuration::from_secs(30);
    if t < SignedDuration::from_secs(30) { SignedDuration::from_secs(30) } else { t }
}

/// How a stage ended once kustomize-controller handled a reconcile request.
#[derive(Clone, Debug, PartialEq)]
pub enum RequestOutcome {
    /// Ready for its current generation, at this revision.
    Ready(Option<String>),
    /// Not Ready, for a reason the controller does not retry by itself.
    Failed { reason: String, message: String },
}

/// The outcome of the reconcile request `token` (`reconcile.fluxcd.io/requestedAt`), once
/// kustomize-controller handled it (`status.lastHandledReconcileAt`, fluxcd/pkg apis/meta
/// ReconcileRequestStatus); `None` while waiting. Ready=False with `DependencyNotReady`,
/// `Progressing` or `HealthCheckCanceled` is not final: the controller retries those by itself.
pub fn request_outcome(ks: &Kustomization, token: &str) -> Option<RequestOutcome> {
    let status = ks.status.as_ref()?;
    if status.last_handled_reconcile_at.as_deref() != Some(token) {
        return None;
    }
    let ready = ks.condition("Ready")?;
    match ready.status.as_str() {
        "True" if generation_observed(ks) => Some(RequestOutcome::Ready(status.last_applied_revision.clone())),
        "False" if !matches!(ready.reason.as_str(), "DependencyNotReady" | "Progressing" | "HealthCheckCanceled") => {
            Some(RequestOutcome::Failed { reason: ready.reason.clone(), message: ready.message.clone() })
        }
        _ => None,
    }
}

/// [`request_outcome`] for a stage of either kind; for a ResourceSet, flux-operator's conditions
/// (`lastHandledReconcileAt` is written by github.com/controlplaneio-fluxcd/flux-operator
/// internal/controller/common.go): Ready for its generation with no reconcile running, or a
/// failure other than a dependency wait.
pub fn stage_request_outcome(stage: &Stage, token: &str) -> Option<RequestOutcome> {
    let rset = match stage {
        Stage::Kustomization(ks) => return request_outcome(ks, token),
        Stage::ResourceSet(rset) => rset,
    };
    if stage.last_handled_reconcile_at() != Some(token) {
        return None;
    }
    let ready = rset.condition("Ready")?;
    match super::resource_set::own_state(rset) {
        StageState::Ready => {
            Some(RequestOutcome::Ready(rset.status.as_ref().and_then(|s| s.last_applied_revision.clone())))
        }
        StageState::Failed => {
            Some(RequestOutcome::Failed { reason: ready.reason.clone(), message: ready.message.clone() })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ks(status: serde_json::Value) -> Kustomization {
        serde_json::from_value(
            json!({"metadata": {"name": "a", "namespace": "shop", "generation": 2}, "status": status}),
        )
        .unwrap()
    }

    #[test]
    fn default_timeout_is_interval_minus_30s_at_least_30s() {
        let mut ks = Kustomization::default();
        ks.spec.interval = Some("60m".into());
        assert_eq!(stage_timeout(&ks), SignedDuration::from_secs(3570));
        ks.spec.interval = Some("45s".into());
        assert_eq!(stage_timeout(&ks), SignedDuration::from_secs(30));
        ks.spec.timeout = Some("5m".into());
        assert_eq!(stage_timeout(&ks), SignedDuration::from_mins(5));
    }

    #[test]
    fn a_request_is_judged_only_once_handled_and_only_when_final() {
        let ready = |generation: i64, handled: &str| {
            ks(
                json!({"observedGeneration": generation, "lastHandledReconcileAt": handled, "lastAppliedRevision": "main@sha1:1",
                      "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded"}]}),
            )
        };
        assert_eq!(request_outcome(&ready(2, "t1"), "t2"), None, "not handled yet");
        assert_eq!(request_outcome(&ready(1, "t1"), "t1"), None, "Ready for an older generation");
        assert_eq!(request_outcome(&ready(2, "t1"), "t1"), Some(RequestOutcome::Ready(Some("main@sha1:1".into()))));
        let not_ready = |reason: &str| {
            ks(json!({"observedGeneration": 2, "lastHandledReconcileAt": "t1",
                      "conditions": [{"type": "Ready", "status": "False", "reason": reason, "message": "m"}]}))
        };
        assert_eq!(request_outcome(&not_ready("DependencyNotReady"), "t1"), None);
        assert_eq!(request_outcome(&not_ready("HealthCheckCanceled"), "t1"), None);
        assert_eq!(
            request_outcome(&not_ready("HealthCheckFailed"), "t1"),
            Some(RequestOutcome::Failed { reason: "HealthCheckFailed".into(), message: "m".into() })
        );
    }
}
