//! Which Helm action a forced reconcile of a HelmRelease runs, and so which of its hook Jobs run
//! again, and whether Helm replaces a hook's old Job by itself. Rerun's plan asks this before any
//! write, so that a hook the action does not run is refused instead of waited for.
//!
//! The action: github.com/fluxcd/helm-controller v1.6.3 internal/reconcile/state.go
//! `DetermineReleaseState` (the latest release in Helm's storage, as `status.history` records it)
//! and internal/reconcile/atomic_release.go `actionForState` (with `reconcile.fluxcd.io/forceAt`
//! unhandled: no release, or an uninstalled one, is installed; any other, failed, deployed or
//! pending, is upgraded). A test hook runs after a successful install or upgrade when
//! `spec.test.enable` is set (the `ReleaseStatusUntested` state that follows).
//! The hooks: helm.sh/helm/v4 pkg/action/install.go and upgrade.go run their `pre-` and `post-`
//! events, pkg/action/hooks.go `execHookWithDelayedShutdown` runs the hooks of one event.

use std::fmt;

use k8s_openapi::api::batch::v1::Job;

use crate::model::{HOOK_ANNOTATION, HOOK_DELETE_POLICY_ANNOTATION, HelmRelease, StageObject};

/// A Helm action that runs hooks and that a forced reconcile starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelmAction {
    Install,
    Upgrade,
}

impl HelmAction {
    pub fn as_str(self) -> &'static str {
        match self {
            HelmAction::Install => "install",
            HelmAction::Upgrade => "upgrade",
        }
    }

    /// The hook events the action runs (helm.sh/helm/v4 pkg/release/v1 hook.go event names).
    pub fn events(self) -> [&'static str; 2] {
        match self {
            HelmAction::Install => ["pre-install", "post-install"],
            HelmAction::Upgrade => ["pre-upgrade", "post-upgrade"],
        }
    }
}

impl fmt::Display for HelmAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Helm test hook events (`test-success` is Helm 2's name, still accepted).
const TEST_EVENTS: [&str; 2] = ["test", "test-success"];

/// What a forced reconcile of a release runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ForcedRun {
    pub action: HelmAction,
    /// Why that action, in the release's terms (`the latest release in Helm's storage is failed`).
    pub why: String,
    /// Whether its test hooks run after the action succeeds.
    pub tests: bool,
}

impl ForcedRun {
    /// What `reconcile.fluxcd.io/forceAt` (with `resetAt`, which clears exhausted retries) makes
    /// helm-controller run now.
    pub(crate) fn of(hr: &HelmRelease) -> ForcedRun {
        let latest = hr.status.as_ref().and_then(|s| s.history.first());
        let (action, why) = match latest.map(|r| r.status.as_str()) {
            None => (HelmAction::Install, "no release is recorded in its status.history".to_string()),
            Some("uninstalled") => {
                (HelmAction::Install, "the latest release in Helm's storage is uninstalled".to_string())
            }
            Some(status) => (HelmAction::Upgrade, format!("the latest release in Helm's storage is {status}")),
        };
        ForcedRun { action, why, tests: hr.spec.test.as_ref().is_some_and(|t| t.enable) }
    }

    /// Whether it runs a hook with these events.
    pub(crate) fn runs(&self, hook: &Hook) -> bool {
        hook.events
            .iter()
            .any(|e| self.action.events().contains(&e.as_str()) || (self.tests && TEST_EVENTS.contains(&e.as_str())))
    }

    /// The hook events it runs, for messages: `pre-upgrade, post-upgrade` (`, test`).
    pub(crate) fn events_text(&self) -> String {
        let mut events = self.action.events().join(", ");
        if self.tests {
            events.push_str(", test");
        }
        events
    }
}

/// A Job's Helm hook annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hook {
    pub events: Vec<String>,
    pub delete_policies: Vec<String>,
}

/// `before-hook-creation`: Helm deletes the hook's old object before it creates the new one.
const BEFORE_HOOK_CREATION: &str = "before-hook-creation";

impl Hook {
    /// The hook a Job is (`None`: not a hook).
    pub(crate) fn of(job: &Job) -> Option<Hook> {
        let annotations = job.metadata.annotations.as_ref()?;
        let list = |key: &str| -> Vec<String> {
            let text = annotations.get(key).map(String::as_str).unwrap_or_default();
            text.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_string).collect()
        };
        let events = list(HOOK_ANNOTATION);
        (!events.is_empty()).then(|| Hook { events, delete_policies: list(HOOK_DELETE_POLICY_ANNOTATION) })
    }

    /// Whether Helm deletes the old Job itself before it creates the hook again: with
    /// `before-hook-creation`, which is also the policy of a hook that names none
    /// (`hookSetDeletePolicy`). Otherwise the new hook's create would meet the old Job.
    pub(crate) fn replaced_by_helm(&self) -> bool {
        self.delete_policies.is_empty() || self.delete_policies.iter().any(|p| p == BEFORE_HOOK_CREATION)
    }

    /// `pre-install` or `pre-install,pre-upgrade`, as annotated.
    pub(crate) fn events_text(&self) -> String {
        self.events.join(",")
    }
}

/// Whether a forced reconcile runs a Job of a release again, as rerun's plan needs it. A Job of the
/// release that is no hook is created again by the install or upgrade itself, once deleted (Helm
/// creates the objects of its manifest that are missing), and never replaced by Helm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HookRerun {
    /// It runs; `replaced_by_helm` when Helm deletes the old Job itself ([`Hook::replaced_by_helm`]).
    Runs { action: HelmAction, replaced_by_helm: bool },
    /// It does not: the hook's events, the action that runs and why, and what would run the hook.
    NotRun { events: String, run: ForcedRun, advice: String },
}

impl HookRerun {
    /// For a Job of release `hr`.
    pub(crate) fn of(hr: &HelmRelease, job: &Job) -> HookRerun {
        let run = ForcedRun::of(hr);
        match Hook::of(job) {
            None => HookRerun::Runs { action: run.action, replaced_by_helm: false },
            Some(hook) if run.runs(&hook) => {
                HookRerun::Runs { action: run.action, replaced_by_helm: hook.replaced_by_helm() }
            }
            Some(hook) => {
                let advice = not_run_advice(hr, &run, &hook);
                HookRerun::NotRun { events: hook.events_text(), run, advice }
            }
        }
    }
}

/// Why a forced reconcile does not run a hook, and what would.
pub(crate) fn not_run_advice(hr: &HelmRelease, run: &ForcedRun, hook: &Hook) -> String {
    let runs_on = |action: HelmAction| hook.events.iter().any(|e| action.events().contains(&e.as_str()));
    let is_test = hook.events.iter().any(|e| TEST_EVENTS.contains(&e.as_str()));
    let rerun = format!("kubectl fluxjobs rerun hr/{} -n {}", hr.name(), hr.namespace());
    if runs_on(HelmAction::Install) && run.action == HelmAction::Upgrade {
        let release = hr.spec.release_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| {
            match hr.spec.target_namespace.as_deref().filter(|n| !n.is_empty()) {
                Some(target) => format!("{target}-{}", hr.name()),
                None => hr.name().to_string(),
            }
        });
        let storage = hr.spec.storage_namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or(hr.namespace());
        format!(
            "only an install runs it again: add pre-upgrade to its {HOOK_ANNOTATION} annotation in the chart, or uninstall the release (helm uninstall {release} -n {storage}) and then {rerun}"
        )
    } else if runs_on(HelmAction::Upgrade) && run.action == HelmAction::Install {
        format!(
            "only an upgrade runs it again, once the release is installed: add pre-install to its {HOOK_ANNOTATION} annotation in the chart, or {rerun} to install it first"
        )
    } else if is_test {
        "helm-controller runs test hooks only with spec.test.enable: true".to_string()
    } else {
        "helm-controller runs install, upgrade and test hooks only, and Helm runs rollback and delete hooks only in a rollback or uninstall".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn release(extra: serde_json::Value) -> HelmRelease {
        let mut v = json!({"metadata": {"name": "my-app", "namespace": "shop"}, "spec": {}, "status": {}});
        for (k, val) in extra.as_object().unwrap() {
            v[k].as_object_mut().unwrap().extend(val.as_object().unwrap().clone());
        }
        serde_json::from_value(v).unwrap()
    }

    fn hook(events: &str, policy: Option<&str>) -> Hook {
        let mut annotations = json!({HOOK_ANNOTATION: events});
        if let Some(p) = policy {
            annotations[HOOK_DELETE_POLICY_ANNOTATION] = p.into();
        }
        let job: Job = serde_json::from_value(json!({"metadata": {"name": "h", "annotations": annotations}})).unwrap();
        Hook::of(&job).unwrap()
    }

    #[test]
    fn a_failed_install_in_storage_is_upgraded_and_runs_no_pre_install_hook() {
        let hr = release(json!({"status": {"history": [{"name": "my-app", "version": 1, "status": "failed"}]}}));
        let run = ForcedRun::of(&hr);
        assert_eq!(run.action, HelmAction::Upgrade);
        assert!(run.why.contains("failed"), "{}", run.why);
        assert!(!run.runs(&hook("pre-install", None)));
        assert!(run.runs(&hook("pre-install,pre-upgrade", None)));
        assert!(run.runs(&hook("post-upgrade", None)));
        let advice = not_run_advice(&hr, &run, &hook("pre-install", None));
        assert!(
            advice.contains("helm uninstall my-app -n shop") && advice.contains("rerun hr/my-app -n shop"),
            "{advice}"
        );
    }

    #[test]
    fn no_release_or_an_uninstalled_one_is_installed() {
        assert_eq!(ForcedRun::of(&release(json!({}))).action, HelmAction::Install);
        let uninstalled = release(json!({"status": {"history": [{"version": 2, "status": "uninstalled"}]}}));
        let run = ForcedRun::of(&uninstalled);
        assert_eq!(run.action, HelmAction::Install);
        assert!(run.runs(&hook("pre-install", None)) && !run.runs(&hook("pre-upgrade", None)));
        assert!(not_run_advice(&uninstalled, &run, &hook("pre-upgrade", None)).contains("only an upgrade"));
    }

    #[test]
    fn test_hooks_run_only_when_tests_are_enabled() {
        let deployed = json!({"history": [{"version": 3, "status": "deployed"}]});
        let off = release(json!({"status": deployed}));
        let on = release(json!({"spec": {"test": {"enable": true}}, "status": deployed}));
        assert!(!ForcedRun::of(&off).runs(&hook("test", None)));
        assert!(ForcedRun::of(&on).runs(&hook("test", None)));
        assert!(ForcedRun::of(&on).events_text().ends_with(", test"));
        assert!(not_run_advice(&off, &ForcedRun::of(&off), &hook("test", None)).contains("spec.test.enable"));
    }

    #[test]
    fn helm_replaces_a_hook_job_only_with_before_hook_creation_or_no_policy() {
        assert!(hook("pre-upgrade", None).replaced_by_helm());
        assert!(hook("pre-upgrade", Some("before-hook-creation,hook-succeeded")).replaced_by_helm());
        assert!(!hook("pre-upgrade", Some("hook-succeeded")).replaced_by_helm());
        assert!(!hook("pre-upgrade", Some(" hook-failed ")).replaced_by_helm());
        assert_eq!(hook("pre-install, pre-upgrade", None).events, ["pre-install", "pre-upgrade"]);
    }
}
