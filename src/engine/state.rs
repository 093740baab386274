//! A Kustomization's readiness predicates, as kustomize-controller writes its status
//! (fluxcd/kustomize-controller internal/controller/kustomization_controller.go, "KC" below), which
//! the engine and the commands share. Nothing outside the engine judges readiness.

use k8s_openapi::jiff::SignedDuration;

use super::messages;
use crate::duration::parse_go_duration;
use crate::model::StageObject;
use crate::model::{Condition, Kustomization};
use crate::vocabulary::{ConditionReason, ConditionStatus, ConditionType};

/// How long a new Kustomization may go without conditions before that points at the controller.
pub(crate) const NEW_STAGE_GRACE: SignedDuration = SignedDuration::from_secs(30);

/// Whether `status.observedGeneration` has caught up with `metadata.generation`.
pub(crate) fn generation_observed(ks: &Kustomization) -> bool {
    let observed = ks.status.as_ref().and_then(|s| s.observed_generation);
    match (ks.metadata.generation, observed) {
        (Some(g), Some(o)) => g == o,
        (Some(_), None) => false,
        (None, _) => true, // hand-written objects without generation
    }
}

/// Whether a dependency satisfies KC's built-in check: Ready=True for its current generation.
pub(crate) fn dependency_ready(dep: &Kustomization) -> bool {
    dep.condition(ConditionType::Ready).is_some_and(|c| c.status == ConditionStatus::True) && generation_observed(dep)
}

/// The Reconciling condition while kustomize-controller runs the stage's health checks: KC marks
/// Ready Unknown when a reconcile starts, then Reconciling=True `Progressing` "Running health
/// checks ..." (KC `reconcile`, `checkHealth`). A failed check leaves that Reconciling message in
/// place with the reason `ProgressingWithRetry` beside Ready=False (KC `finalizeStatus`): that
/// check is over, not running.
pub(crate) fn health_check_running(ks: &Kustomization) -> Option<&Condition> {
    let ready_unknown = ks.condition(ConditionType::Ready).is_some_and(|c| c.status == ConditionStatus::Unknown);
    ks.condition(ConditionType::Reconciling).filter(|c| {
        ready_unknown
            && c.status == ConditionStatus::True
            && c.reason == ConditionReason::Progressing
            && messages::is_health_check_progress(&c.message)
    })
}

/// `spec.timeout`, else `interval - 30s` but at least 30s: `GetTimeout` in fluxcd/kustomize-controller
/// api/v1/kustomization_types.go (its doc comment says the default is the interval, the code does not).
pub(crate) fn stage_timeout(ks: &Kustomization) -> SignedDuration {
    if let Some(t) = ks.spec.timeout.as_deref().and_then(parse_go_duration) {
        return t;
    }
    let interval = ks.spec.interval.as_deref().and_then(parse_go_duration).unwrap_or(SignedDuration::from_mins(5));
    let t = interval - SignedDuration::from_secs(30);
    if t < SignedDuration::from_secs(30) { SignedDuration::from_secs(30) } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::{RequestOutcome, request_outcome};
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
