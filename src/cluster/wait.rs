//! Waiting on the cluster: one polling helper with a condition function, as flux2's
//! `wait.PollImmediate(interval, timeout, condition)` (fluxcd/flux2 cmd/flux/reconcile.go), and the
//! conditions the commands wait for. What counts as Ready is the engine's to say
//! ([`crate::engine::state`]); these only read and ask it.

use std::time::Duration;

use tokio::time::Instant;

use super::get::{get_job, get_stage, source_handled};
use super::{ClusterError, Connection};
use crate::chain::one_line;
use crate::engine::{RequestOutcome, request_outcome, rules};
use crate::refs::{NamespacedName, ObjectRef, StageId};
use crate::vocabulary::ConditionType;

/// How often a condition is checked: one GET a second, about as `flux reconcile` polls.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Checks `condition` at once and then every `interval`, until it gives a value (`Ok(Some)`), fails,
/// or `timeout` has passed (`Ok(None)`).
pub(crate) async fn poll<T, E>(
    interval: Duration,
    timeout: Duration,
    mut condition: impl AsyncFnMut() -> Result<Option<T>, E>,
) -> Result<Option<T>, E> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = condition().await? {
            return Ok(Some(value));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(interval).await;
    }
}

/// Whether `condition` comes to hold within `timeout`, checked every [`POLL_INTERVAL`].
async fn holds_within(
    timeout: Duration,
    mut condition: impl AsyncFnMut() -> Result<bool, ClusterError>,
) -> Result<bool, ClusterError> {
    let held = poll(POLL_INTERVAL, timeout, async || Ok::<_, ClusterError>(condition().await?.then_some(()))).await?;
    Ok(held.is_some())
}

/// Whether the Job with `uid` is gone within `timeout` (a Job of the same name with another uid
/// counts as gone), as kube-rs `await_condition(api, name, is_deleted(uid))`.
pub(crate) async fn job_gone(
    conn: &Connection,
    job: &NamespacedName,
    uid: &str,
    timeout: Duration,
) -> Result<bool, ClusterError> {
    holds_within(timeout, async || Ok(get_job(conn, job).await?.is_none_or(|j| j.metadata.uid.as_deref() != Some(uid))))
        .await
}

/// How a stage ended after a reconcile request.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum StageOutcome {
    /// kustomize-controller handled the request, with this outcome (or the stage was deleted).
    Handled(RequestOutcome),
    /// Not settled within the timeout: the controller handled the request but the stage is still
    /// on its way (`handled`), or it never handled it, so `last` (the Ready condition or read error
    /// last seen) may date from before the request.
    TimedOut { handled: bool, last: String },
}

/// Follows a stage until kustomize-controller has handled the reconcile request `token` and the
/// engine calls the outcome final. Read errors are retried until the timeout.
pub(crate) async fn stage_settled(conn: &Connection, stage: &StageId, token: &str, timeout: Duration) -> StageOutcome {
    let mut last = String::from("no status yet");
    let mut handled = false;
    let settled = poll(POLL_INTERVAL, timeout, async || {
        match get_stage(conn, stage).await {
            Ok(Some(object)) => {
                if let Some(outcome) = request_outcome(rules(&object), token) {
                    return Ok(Some(StageOutcome::Handled(outcome)));
                }
                handled |= rules(&object).last_handled_reconcile_at() == Some(token);
                if let Some(ready) = object.condition(ConditionType::Ready) {
                    last = format!("{}: {}", ready.reason, ready.message);
                }
            }
            Ok(None) => {
                let message = format!("{} {stage} was deleted", stage.kind.as_str());
                return Ok(Some(StageOutcome::Handled(RequestOutcome::Failed { reason: "NotFound".into(), message })));
            }
            Err(e) => last = one_line(&e),
        }
        Ok::<_, std::convert::Infallible>(None)
    })
    .await;
    match settled {
        Ok(Some(outcome)) => outcome,
        Ok(None) => StageOutcome::TimedOut { handled, last },
        Err(never) => match never {},
    }
}

/// Whether source-controller handled the reconcile request `token` on `source` within `timeout`.
pub(crate) async fn source_fetched(
    conn: &Connection,
    source: &ObjectRef,
    token: &str,
    timeout: Duration,
) -> Result<bool, ClusterError> {
    holds_within(timeout, async || Ok(source_handled(conn, source).await?.as_deref() == Some(token))).await
}

/// How a deleted Job came back after its stage's reconcile request.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Back {
    /// A Job of that name exists again, with this uid.
    Recreated(String),
    /// kustomize-controller handled the request (`status.lastHandledReconcileAt`) and no Job of
    /// that name exists: the stage did not apply it.
    HandledWithoutJob,
}

/// Waits until the Job is back or kustomize-controller handled the request `token` on `stage`.
/// kustomize-controller writes `lastHandledReconcileAt` only when a reconcile ends (finalizeStatus
/// in fluxcd/kustomize-controller internal/controller/kustomization_controller.go), after the health
/// check of a `wait: true` stage, so the recreated Job usually shows first.
pub(crate) async fn job_back(
    conn: &Connection,
    job: &NamespacedName,
    old_uid: &str,
    stage: &StageId,
    token: &str,
    timeout: Duration,
) -> Result<Option<Back>, ClusterError> {
    poll(POLL_INTERVAL, timeout, async || {
        if let Some(live) = get_job(conn, job).await?
            && live.metadata.uid.as_deref() != Some(old_uid)
        {
            return Ok(Some(Back::Recreated(live.metadata.uid.unwrap_or_default())));
        }
        let stage = get_stage(conn, stage).await?;
        let handled = stage.as_ref().and_then(|s| s.last_handled_reconcile_at()) == Some(token);
        Ok::<_, ClusterError>(handled.then_some(Back::HandledWithoutJob))
    })
    .await
}
