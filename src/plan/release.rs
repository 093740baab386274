//! A HelmRelease run again: `rerun hr/NAME`, or the release whose hook Jobs a rerun names. One
//! forced reconcile request per release, made after every delete of its Jobs, so that Helm runs the
//! action once and never meets a Job rerun has yet to delete.

use super::{Plan, Refusal};
use crate::cluster::preflight::PlannedWrite;
use crate::cluster::write::Request;
use crate::engine::helm_hooks::ForcedRun;
use crate::engine::rules;
use crate::model::{HelmRelease, Stage, StageObject};
use crate::refs::{NamespacedName, ObjectRef, StageId};

/// The checks of `rerun hr/NAME` before any write: not suspended, and not Ready unless `force` (a
/// forced upgrade of a healthy release is a full release in production). Returns what the forced
/// reconcile will run.
pub(crate) fn decide_release(hr: &HelmRelease, force: bool) -> Result<ForcedRun, Refusal> {
    let run = ForcedRun::of(hr);
    if hr.suspended() {
        return Err(Refusal::Suspended { stage: hr.id() });
    }
    if rules(&hr.to_stage()).healthy() && !force {
        return Err(Refusal::ReleaseReady { stage: hr.id(), action: run.action });
    }
    Ok(run)
}

/// A release to run again, after the checks.
pub(crate) struct ReleaseRun {
    pub release: Stage,
    pub object: ObjectRef,
    pub run: ForcedRun,
    /// Its Jobs the action runs again, each planned (`Mode::HelmRuns`).
    pub jobs: Vec<Plan>,
    /// Its hook Jobs the action does not run, with their events: said, left alone.
    pub skipped: Vec<(NamespacedName, String)>,
}

impl ReleaseRun {
    pub(crate) fn new(hr: &HelmRelease, run: ForcedRun) -> Self {
        ReleaseRun {
            release: hr.to_stage(),
            object: ObjectRef::stage(&hr.id()),
            run,
            jobs: Vec::new(),
            skipped: Vec::new(),
        }
    }

    pub(crate) fn id(&self) -> StageId {
        self.release.id()
    }

    /// Its Jobs' deletes, then the one forced request.
    pub(crate) fn writes(&self) -> Vec<PlannedWrite<'_>> {
        let mut writes: Vec<PlannedWrite> = self.jobs.iter().flat_map(Plan::writes).collect();
        writes.push(PlannedWrite::RequestReconcile(&self.object, Request::ForceAndReset));
        writes
    }

    pub(crate) fn describe(&self) -> String {
        let run = &self.run;
        let mut text = format!(
            "{}: ask helm-controller for a forced {} ({}), which runs its {} hooks",
            self.id(),
            run.action,
            run.why,
            run.events_text()
        );
        if self.jobs.is_empty() {
            text.push_str("; it has no Job of those now");
        }
        for (job, events) in &self.skipped {
            text.push_str(&format!("; Job {job} ({events}) is not run by it and is left alone"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::super::Mode;
    use super::super::tests::job;
    use super::*;
    use crate::engine::helm_hooks::HelmAction;
    use serde_json::json;

    fn release(status: serde_json::Value) -> HelmRelease {
        serde_json::from_value(json!({"metadata": {"name": "my-app", "namespace": "shop", "generation": 2},
                                      "spec": {}, "status": status}))
        .unwrap()
    }

    fn failed() -> HelmRelease {
        release(json!({"observedGeneration": 2, "history": [{"version": 2, "status": "failed"}],
                       "conditions": [{"type": "Ready", "status": "False", "reason": "UpgradeFailed", "observedGeneration": 2}]}))
    }

    fn ready() -> HelmRelease {
        release(json!({"observedGeneration": 2, "history": [{"version": 1, "status": "deployed"}],
                       "conditions": [{"type": "Ready", "status": "True", "reason": "InstallSucceeded", "observedGeneration": 2}]}))
    }

    fn hook_job(events: &str, policy: Option<&str>) -> k8s_openapi::api::batch::v1::Job {
        let mut annotations = json!({"helm.sh/hook": events});
        if let Some(p) = policy {
            annotations["helm.sh/hook-delete-policy"] = p.into();
        }
        job(json!({"metadata": {"name": "my-app-db-migrate", "annotations": annotations,
                                "labels": {"helm.toolkit.fluxcd.io/name": "my-app", "helm.toolkit.fluxcd.io/namespace": "shop"}}}))
    }

    fn decide_hook(hr: &HelmRelease, job: &k8s_openapi::api::batch::v1::Job, force: bool) -> Result<Mode, Refusal> {
        super::super::decide(job, Some(&hr.to_stage()), Some(&hr.id()), force, false)
    }

    #[test]
    fn a_release_that_is_ready_or_suspended_is_refused_with_the_way_out() {
        assert_eq!(decide_release(&failed(), false).unwrap().action, HelmAction::Upgrade);
        let err = decide_release(&ready(), false).unwrap_err().to_string();
        assert!(
            err.contains("HelmRelease/shop/my-app is Ready") && err.ends_with("pass --force to do it anyway"),
            "{err}"
        );
        assert!(decide_release(&ready(), true).is_ok());
        let mut suspended = failed();
        suspended.spec.suspend = true;
        let err = decide_release(&suspended, true).unwrap_err().to_string();
        assert!(err.contains("flux resume helmrelease my-app -n shop"), "{err}");
    }

    #[test]
    fn a_hook_job_the_forced_action_runs_is_left_to_helm_or_deleted_first() {
        assert_eq!(
            decide_hook(&failed(), &hook_job("pre-upgrade", None), false),
            Ok(Mode::HelmRuns { action: HelmAction::Upgrade, delete_first: false })
        );
        assert_eq!(
            decide_hook(&failed(), &hook_job("pre-install,pre-upgrade", Some("hook-succeeded")), false),
            Ok(Mode::HelmRuns { action: HelmAction::Upgrade, delete_first: true })
        );
        let err = decide_hook(&ready(), &hook_job("pre-upgrade", None), false).unwrap_err();
        assert!(matches!(err, Refusal::ReleaseReady { .. }), "{err}");
    }

    /// After a failed install the release is in Helm's storage: a forced reconcile upgrades it, and
    /// a pre-install-only hook would never run.
    #[test]
    fn a_pre_install_hook_after_a_failed_install_is_refused_saying_why_and_what_runs_it() {
        let err = decide_hook(&failed(), &hook_job("pre-install", None), true).unwrap_err().to_string();
        assert!(
            err.starts_with("Job shop/my-app-db-migrate is a pre-install hook of HelmRelease/shop/my-app"),
            "{err}"
        );
        assert!(err.contains("runs an upgrade (the latest release in Helm's storage is failed)"), "{err}");
        assert!(
            err.contains("which runs pre-upgrade, post-upgrade hooks only: only an install runs it again"),
            "{err}"
        );
        assert!(err.contains("helm uninstall my-app -n shop"), "{err}");
    }

    #[test]
    fn the_forced_request_comes_after_every_delete_of_the_release() {
        let hr = failed();
        let mut run = ReleaseRun::new(&hr, decide_release(&hr, false).unwrap());
        let own = hook_job("pre-upgrade", Some("hook-succeeded"));
        let mode = decide_hook(&hr, &own, false).unwrap();
        run.jobs.push(Plan::new(own, Some(hr.to_stage()), mode));
        let helms = hook_job("post-upgrade", None);
        let mode = decide_hook(&hr, &helms, false).unwrap();
        run.jobs.push(Plan::new(helms, Some(hr.to_stage()), mode));
        let writes = run.writes();
        assert!(
            matches!(
                writes[..],
                [PlannedWrite::DeleteJob { .. }, PlannedWrite::RequestReconcile(_, Request::ForceAndReset)]
            ),
            "{writes:?}"
        );
        assert!(
            run.jobs[0].describe().contains("delete it (its helm.sh/hook-delete-policy has no before-hook-creation")
        );
        assert!(run.jobs[1].describe().contains("Helm deletes it and creates it again"));
        assert!(run.describe().contains("forced upgrade (the latest release in Helm's storage is failed)"));
    }
}
