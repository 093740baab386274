//! The hint catalogue: one actionable next step for each cause, as a command the user can run.

use super::index::Index;
use super::workload::job_state;
use crate::model::Kustomization;
use crate::model::StageObject;
use crate::refs::{ObjectRef, StageId};
use crate::report::{JobState, Reason, RootCause};
use crate::vocabulary::Kind;

/// Our own chain reconcile, which does what `flux reconcile kustomization NAME -n NS` does (and first
/// reconciles whatever upstream is not Ready), without needing the flux CLI.
pub(crate) fn reconcile_stage(stage: &StageId) -> String {
    format!("kubectl fluxjobs reconcile {} -n {}", stage.target(), stage.namespace)
}

pub(crate) fn break_cycle() -> String {
    "remove one dependsOn entry of the cycle; kustomize-controller can never satisfy it".into()
}

pub(crate) fn create_dependency(dependency: &StageId, dependent: &StageId) -> String {
    let (kind, namespace, name) = (dependency.kind.as_str(), &dependency.namespace, &dependency.name);
    format!("create {kind} {namespace}/{name}, or remove it from spec.dependsOn of {dependent}")
}

/// A `dependsOn` name that exists, but as another kind than the dependent's controller looks for.
pub(crate) fn depends_on_other_kind(dependency: &StageId, found: &StageId, dependent: &StageId) -> String {
    format!(
        "{} dependsOn can name only {}s, and {found} is a {}: wait on it with a health check instead (spec.healthChecks of {dependent}, or of the stage that applies it), or remove it from spec.dependsOn",
        dependent.kind.as_str(),
        dependency.kind.as_str(),
        found.kind.as_str()
    )
}

pub(crate) fn ready_expr_false(dependent: &StageId, dependency: &StageId) -> String {
    format!(
        "the readyExpr of {dependent}'s dependency on {dependency} is false; check it against {dependency}'s status"
    )
}

pub(crate) fn ready_expr_holds_now(dependent: &Kustomization) -> String {
    format!(
        "kustomize-controller retries {} after its dependency requeue (30s by default); to go on at once: kubectl fluxjobs reconcile {} -n {}",
        dependent.id(),
        dependent.name(),
        dependent.namespace()
    )
}

pub(crate) fn wait_for_revision(dependency: &StageId, revision: &str) -> String {
    format!("wait for {dependency} to apply {revision}, or reconcile it")
}

pub(crate) fn check_controller(ks: &Kustomization) -> String {
    format!(
        "check that kustomize-controller is running and watches namespace {} (flux check; flux logs --kind Kustomization)",
        ks.namespace()
    )
}

pub(crate) fn generation() -> String {
    "kustomize-controller picks spec changes up at once; if this persists, check the controller is running".into()
}

pub(crate) fn wait_for_job() -> String {
    "wait for the Job; the stage becomes Ready when it completes".into()
}

pub(crate) fn wait_for_controller() -> String {
    "wait for kustomize-controller to finish".into()
}

pub(crate) fn see_health_check() -> String {
    "see the objects the health check names".into()
}

fn path(ks: &Kustomization) -> &str {
    ks.spec.path.as_deref().unwrap_or("./")
}

pub(crate) fn check_path(ks: &Kustomization) -> String {
    format!("check spec.path ({}) exists in the source revision", path(ks))
}

pub(crate) fn fix_manifests(ks: &Kustomization) -> String {
    format!(
        "fix the manifests applied by {}; flux build kustomization {} -n {} shows what is applied",
        ks.id(),
        ks.name(),
        ks.namespace()
    )
}

pub(crate) fn fix_build(ks: &Kustomization) -> String {
    format!(
        "fix the kustomization at {} in the source; `flux build kustomization {} -n {}` reproduces it",
        path(ks),
        ks.name(),
        ks.namespace()
    )
}

pub(crate) fn stage_events(ks: &Kustomization) -> String {
    format!("flux events --for Kustomization/{} -n {}", ks.name(), ks.namespace())
}

pub(crate) fn sources(namespace: &str) -> String {
    format!("flux get sources all -n {namespace}; the source must be Ready with an artifact")
}

/// A Job that completed after the stage's health check gave up: the next reconcile finds it
/// complete, so reconciling now saves waiting out the retry interval.
pub(crate) fn finished_late(stage: &StageId) -> String {
    format!(
        "it finished late: {} now, instead of waiting for {} to retry (spec.retryInterval, else spec.interval)",
        reconcile_stage(stage),
        stage.kind.controller()
    )
}

/// A Job slower than the stage's health check allows.
pub(crate) fn slow_job(ks: &Kustomization, job: &ObjectRef) -> String {
    format!(
        "the Job is slow, not failed: raise spec.timeout of Kustomization {} (now {}) or make the Job faster; kubectl logs job/{} -n {} shows what it does",
        ks.id(),
        crate::duration::human(super::state::stage_timeout(ks)),
        job.name,
        job.namespace
    )
}

/// An object kustomize-controller could not update in place (an immutable field).
pub(crate) fn immutable(ks: &Kustomization, object: &ObjectRef, rerunnable: bool) -> String {
    if ks.spec.force {
        return "force is on but the object could not be recreated; see the stage's events".to_string();
    }
    let force = format!(
        "set spec.force: true on Kustomization {} (or label the {} kustomize.toolkit.fluxcd.io/force: enabled) so Flux recreates it",
        ks.id(),
        object.kind
    );
    match rerunnable {
        true => format!("{force}; or: kubectl fluxjobs rerun job/{} -n {}", object.name, object.namespace),
        false => force,
    }
}

/// One actionable next step for a workload cause of stage `ks`.
pub(crate) fn for_cause(index: &Index, stage: &StageId, cause: &RootCause) -> String {
    // The Job to rerun: the one the cause is about, or the Job its pod belongs to.
    let job = cause.via.first().cloned().unwrap_or_else(|| cause.object());
    let rerun = if job.kind == Kind::Job {
        // rerun refuses a Job that is still active (a pod that cannot start keeps it so) unless
        // forced: the hint names the command that will be accepted, and says why.
        let active = index.job(&job.namespace, &job.name).map(|j| job_state(j).0);
        match active {
            Some(JobState::Running | JobState::Pending) => format!(
                "kubectl fluxjobs rerun job/{} -n {} --force (--force: the Job still counts its pod as active)",
                job.name, job.namespace
            ),
            _ => format!("kubectl fluxjobs rerun job/{} -n {}", job.name, job.namespace),
        }
    } else {
        reconcile_stage(stage)
    };
    // What recreates a pod once its template is fixed: a rerun of its Job, or for a Deployment,
    // StatefulSet or DaemonSet the next apply of the fixed manifest.
    let recreate = match cause.via.first().map(|v| &v.kind) {
        Some(kind @ (Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet)) => {
            format!("apply it (commit it; {} applies it now) and the {kind} rolls out new pods", reconcile_stage(stage))
        }
        _ => rerun.clone(),
    };
    match &cause.reason {
        Reason::JobSuspended => {
            return format!(
                "kubectl patch job {} -n {} --type=merge -p '{{\"spec\":{{\"suspend\":false}}}}'",
                cause.name, cause.namespace
            );
        }
        Reason::JobDeleted => {
            return format!("{} ({} recreates the Job)", reconcile_stage(stage), stage.kind.controller());
        }
        Reason::AwaitingAdmission { queue } => {
            return format!(
                "Kueue unsuspends it once the queue has quota (setting suspend: false by hand would be undone): kubectl describe localqueue {queue} -n {ns}; kubectl get workloads.kueue.x-k8s.io -n {ns}",
                ns = cause.namespace
            );
        }
        Reason::JobRunning => return wait_for_job(),
        Reason::FinishedLate => return finished_late(stage),
        // How far a rollout got, as this plugin reads it (no pod to blame).
        Reason::ReplicasUnavailable
        | Reason::ReplicasNotReady
        | Reason::PodsUnavailable
        | Reason::RolloutIncomplete => {
            return format!(
                "kubectl rollout status {}/{} -n {}",
                cause.kind.as_str().to_lowercase(),
                cause.name,
                cause.namespace
            );
        }
        _ => (),
    };
    if let Some(hint) = super::catalog::hint(cause, &recreate) {
        return hint;
    }
    match cause.exit_code {
        Some(_) => format!("fix what made the container fail (see its logs), then {rerun}"),
        None => rerun,
    }
}

/// A stage whose objects are in another cluster that was not read.
pub(crate) fn remote_cluster(remote: &crate::report::RemoteReport) -> String {
    let look = "look there with a kubectl context for that cluster";
    match (&remote.secret, &remote.config_map, &remote.error) {
        (Some(_), _, Some(error)) => {
            format!("its objects are in another cluster ({}), which could not be read: {error}; {look}", remote.via())
        }
        (Some(secret), _, None) => format!(
            "its objects are in another cluster, whose kubeconfig is in Secret {secret}: kubectl fluxjobs status --follow-kubeconfig diagnoses them there (it reads that Secret: get on secrets), or {look}"
        ),
        (None, Some(config_map), _) => format!(
            "its objects are in another cluster reached by workload identity (ConfigMap {config_map}): --follow-kubeconfig does not support spec.kubeConfig.configMapRef; {look}"
        ),
        (None, None, _) => format!("its objects are in another cluster (spec.kubeConfig): {look}"),
    }
}
