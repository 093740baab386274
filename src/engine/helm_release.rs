//! A Flux HelmRelease as a stage: its state from the conditions helm-controller writes, and the
//! failed hook Job its message names, followed down to the pod (github.com/fluxcd/helm-controller
//! v1.6.3 internal/reconcile/*.go; the `failed early due to stalled resources: [Job/NS/NAME status:
//! 'Failed']` text is Helm v4's pkg/kube/statuswait.go, as kstatus names objects).

use k8s_openapi::api::batch::v1::Job;

use super::helm_hooks::{Hook, HookRerun};
use super::index::Index;
use super::resolution::{Resolution, stage_cause};
use super::rules::{JobRecreation, RequestOutcome, StageRules, Walk, into_dependency};
use super::waiting::dependencies_ready_now;
use super::workload::{deployment_cause, job_cause, job_state, pod_cause, pod_set_cause};
use super::{causes, hints, messages};
use crate::model::{HOOK_ANNOTATION, HelmRelease, StageObject};
use crate::refs::{ObjectRef, StageId, StageKind};
use crate::report::{HookReport, JobState, ReadyExprReport, Reason, RootCause, StageReport, StageState};
use crate::vocabulary::{ConditionReason, ConditionStatus, ConditionType, KStatus, Kind};

impl StageRules for HelmRelease {
    fn own_state(&self, _: &Index) -> StageState {
        state_of(self)
    }

    fn cause(&self, index: &Index, state: StageState) -> Resolution {
        let id = self.id();
        let own = |reason: Reason, message: String, hint: String| {
            Resolution::at(&id, stage_cause(self, reason, message), hint)
        };
        match state {
            StageState::Suspended => {
                own(Reason::Suspended, "reconciliation is suspended (spec.suspend: true)".into(), self.resume_command())
            }
            StageState::Unknown => own(
                Reason::NotReconciled,
                "never reconciled: no status conditions".into(),
                "check that helm-controller is running and watches this namespace".into(),
            ),
            _ => running_hook(index, self)
                .filter(|_| state == StageState::Progressing)
                .or_else(|| release_cause(index, self))
                .unwrap_or_else(|| {
                    let ready = self.condition(ConditionType::Ready).cloned().unwrap_or_default();
                    let reason =
                        if ready.reason.is_empty() { Reason::Progressing } else { Reason::from(ready.reason.as_str()) };
                    let hint = match state {
                        StageState::Progressing => "wait for helm-controller to finish".to_string(),
                        _ => format!("kubectl describe helmrelease {} -n {}", self.name(), self.namespace()),
                    };
                    own(reason, messages::first_line(&ready.message), hint)
                }),
        }
    }

    /// The first dependency that fails helm-controller's check, in spec order (`checkDependencies`
    /// in helm-controller internal/controller/helmrelease_controller.go): it must exist; with a
    /// readyExpr, the expression decides (helm-controller evaluates it; its verdict is taken from
    /// its message); else Ready=True with status.observedGeneration at its generation.
    fn blocked(&self, walk: &mut dyn Walk, visiting: &mut Vec<StageId>) -> Resolution {
        let id = self.id();
        let ready = self.condition(ConditionType::Ready).cloned().unwrap_or_default();
        // Its chart source has no artifact for its generation yet: helm-controller waits for it
        // (`isSourceReady` in internal/controller/helmrelease_controller.go). The source's own
        // condition, when it was read, says more: a HelmChart's down to its HelmRepository.
        if ready.reason == ConditionReason::SourceNotReady
            && let Some(source) = self.source()
        {
            if let Some((cause, hint)) = chart_source_problem(walk.index(), &source) {
                return Resolution::at(&id, cause, hint);
            }
            let hint = format!(
                "kubectl describe {} {} -n {}",
                source.kind.as_str().to_lowercase(),
                source.name,
                source.namespace
            );
            let cause =
                RootCause::new(source, Reason::from(ConditionReason::SourceNotReady.as_str()), ready.message.clone());
            return Resolution::at(&id, cause, hint);
        }
        for (dep_ref, dep_id) in self.spec.depends_on.iter().zip(self.dependency_ids()) {
            let at_dependency = |cause, hint| Resolution { path: vec![id.clone(), dep_id.clone()], cause, hint };
            let names = format!("{}/{}", dep_id.namespace, dep_id.name);
            let Some(dep) = walk.index().stage(&dep_id) else {
                let plural = StageKind::HelmRelease.api().resource();
                let message = format!("unable to get '{names}' dependency: {plural} \"{}\" not found", dep_id.name);
                let cause = RootCause::new(ObjectRef::stage(&dep_id), Reason::DependencyNotFound, message);
                return at_dependency(cause, hints::create_dependency(&dep_id, &id));
            };
            if dep_ref.ready_expr.is_some() {
                let unmet = format!("dependency '{names}' is not ready according to readyExpr eval");
                if ready.message.contains(&unmet) {
                    let cause = RootCause::new(ObjectRef::stage(&dep_id), Reason::ReadyExprNotMet, unmet);
                    return at_dependency(cause, hints::ready_expr_false(&id, &dep_id));
                }
                continue;
            }
            if dep.healthy() || visiting.contains(&dep_id) {
                continue;
            }
            let message = format!("dependency '{names}' is not ready");
            return into_dependency(walk, &id, &dep_id, visiting, message, hints::reconcile_stage(&dep_id));
        }
        dependencies_ready_now(walk.index(), self)
    }

    /// What a dependent's check asks of it: Ready=True and status.observedGeneration at its
    /// generation (`checkDependencies`).
    fn healthy(&self) -> bool {
        let observed = self.status.as_ref().and_then(|s| s.observed_generation);
        self.condition(ConditionType::Ready).is_some_and(|c| c.status == ConditionStatus::True)
            && observed == self.metadata.generation
    }

    /// helm-controller evaluates a dependency's readyExpr itself; not evaluated here (yet).
    fn ready_exprs(&self, _: &Index) -> Vec<ReadyExprReport> {
        vec![]
    }

    fn settled(&self) -> Option<RequestOutcome> {
        let ready = self.condition(ConditionType::Ready)?;
        match state_of(self) {
            StageState::Ready => Some(RequestOutcome::Ready(self.last_attempted_revision().map(str::to_string))),
            StageState::Failed => {
                Some(RequestOutcome::Failed { reason: ready.reason.clone(), message: ready.message.clone() })
            }
            _ => None,
        }
    }

    /// A hook Job is created by Helm when the action that runs its hook runs, which only a forced
    /// reconcile starts on a release that did not change.
    fn job_recreation(&self, job: &Job) -> JobRecreation {
        JobRecreation::HelmAction(HookRerun::of(self, job))
    }

    /// Its hook Jobs: the Jobs of the release annotated `helm.sh/hook`, with their events.
    fn complete_report(&self, index: &Index, report: &mut StageReport, _: &mut Vec<String>) {
        let jobs = index.stage_jobs(self).live;
        let hooks = jobs.into_iter().filter_map(|job| {
            let events = job.metadata.annotations.as_ref()?.get(HOOK_ANNOTATION)?;
            let object = ObjectRef::of(Kind::Job, &job.metadata);
            let cause = report.root_cause.as_ref().filter(|c| c.object() == object || c.via.first() == Some(&object));
            Some(HookReport {
                namespace: object.namespace,
                name: object.name,
                events: events.split(',').map(|e| e.trim().to_string()).collect(),
                state: job_state(job).0,
                root_cause: cause.cloned(),
            })
        });
        report.hooks = Some(hooks.collect());
    }
}

/// What is wrong with a chart source that was read: a HelmChart's own source (its HelmRepository,
/// in its namespace) first, with the HelmChart on the way; `None` when it was not read or is fine.
fn chart_source_problem(index: &Index, source: &ObjectRef) -> Option<(RootCause, String)> {
    let chart = index.source(source)?;
    let upstream = chart.spec.source_ref.as_ref().filter(|_| chart.kind == Kind::HelmChart);
    let upstream = upstream.map(|r| ObjectRef::new(&r.kind, chart.namespace(), &r.name));
    if let Some(upstream) = upstream.filter(|u| index.source(u).is_some())
        && let Some((mut cause, hint)) = causes::source_problem(index, &upstream)
    {
        cause.via.insert(0, source.clone());
        return Some((cause, hint));
    }
    causes::source_problem(index, source)
}

/// A HelmRelease's own state. helm-controller writes Ready=False `DependencyNotReady` while a
/// dependency is not ready, Ready=Unknown while it works, and Ready=False with the action's reason
/// (`InstallFailed`, `UpgradeFailed`, `TestFailed`, ...) when an action failed
/// (api/v2 condition_types.go).
fn state_of(hr: &HelmRelease) -> StageState {
    if hr.spec.suspend {
        return StageState::Suspended;
    }
    let Some(ready) = hr.condition(ConditionType::Ready) else {
        return StageState::Unknown;
    };
    if ready.reason == ConditionReason::DependencyNotReady || ready.reason == ConditionReason::SourceNotReady {
        return StageState::Blocked;
    }
    let observed = hr.metadata.generation.is_none() || ready.observed_generation == hr.metadata.generation;
    match ready.status {
        ConditionStatus::True if observed => StageState::Ready,
        ConditionStatus::True | ConditionStatus::Unknown => StageState::Progressing,
        _ => StageState::Failed,
    }
}

/// While helm-controller runs an action, the hook Job it waits for: a pod that cannot start (image
/// pull, scheduling) or the Job still running. Helm runs one hook at a time and waits for it up to
/// the release's timeout (helm.sh/helm/v4 pkg/action/hooks.go).
fn running_hook(index: &Index, hr: &HelmRelease) -> Option<Resolution> {
    let jobs = index.stage_jobs(hr).live;
    let job = jobs
        .into_iter()
        .find(|job| Hook::of(job).is_some() && matches!(job_state(job).0, JobState::Running | JobState::Pending))?;
    let ready = hr.condition(ConditionType::Ready).map(|c| messages::first_line(&c.message)).unwrap_or_default();
    let cause = job_cause(index, job).unwrap_or_else(|| {
        let object = ObjectRef::of(Kind::Job, &job.metadata);
        let message = format!("the hook Job has not finished yet; helm-controller: {ready}");
        RootCause::new(object.clone(), Reason::JobRunning, message).with_events(index.warning_events(&object))
    });
    let hint = "wait for the hook Job; Helm waits for it up to the release's spec.timeout".to_string();
    Some(Resolution::at(&hr.id(), cause, hint))
}

/// The object at fault in a release, down to its pod: the hook Job (or bare test Pod) Helm names as
/// failed, else a release object (Deployment, Job) its wait gave up on. A named Job that is gone
/// was deleted by its `helm.sh/hook-delete-policy` or by remediation. helm-controller names them in
/// the condition of the action that failed; after a remediation, Ready carries the remediation's
/// message and Released (or TestSuccess) still the failure (`summarize` in
/// internal/reconcile/release.go).
fn release_cause(index: &Index, hr: &HelmRelease) -> Option<Resolution> {
    let id = hr.id();
    let failing: Vec<&crate::model::Condition> =
        [ConditionType::Ready, ConditionType::Released, ConditionType::TestSuccess]
            .into_iter()
            .filter_map(|t| hr.condition(t))
            .filter(|c| c.status != ConditionStatus::True)
            .collect();
    let stalled_refs = failing.iter().flat_map(|c| messages::health_check_refs(&c.message));
    let waited_refs = failing.iter().flat_map(|c| messages::not_ready_refs(&c.message));
    let refs: Vec<(ObjectRef, KStatus)> = stalled_refs.chain(waited_refs).collect();
    let workload = |kinds: &[Kind], failed: bool| {
        refs.iter().find(|(o, status)| kinds.contains(&o.kind) && (!failed || *status == KStatus::Failed)).cloned()
    };
    let (object, status) = workload(&[Kind::Job, Kind::Pod], true)
        .or_else(|| workload(&[Kind::Deployment, Kind::StatefulSet, Kind::DaemonSet, Kind::Job, Kind::Pod], false))?;
    // Stalled=True RetriesExceeded: helm-controller does not try again until the chart, values or
    // spec change (api/v2 condition_types.go; internal/action/reset.go MustResetFailures).
    let stalled = hr
        .condition(ConditionType::Stalled)
        .filter(|c| c.status == ConditionStatus::True && c.reason == ConditionReason::RetriesExceeded);
    let retries = match stalled {
        Some(c) => {
            format!("helm-controller will not try again until the chart, values or spec change ({}); ", c.message)
        }
        None => String::new(),
    };
    // Remediated=True: the failed release was rolled back or uninstalled (internal/reconcile/
    // rollback_remediation.go, uninstall_remediation.go).
    let remediated = match hr.condition(ConditionType::Remediated).filter(|c| c.status == ConditionStatus::True) {
        Some(c) if c.reason == ConditionReason::UninstallSucceeded => {
            format!("helm-controller uninstalled the release: {}; ", c.message)
        }
        Some(c) => format!("helm-controller rolled back: {}; ", c.message),
        None => String::new(),
    };
    let job = (object.kind == Kind::Job).then(|| index.job(&object.namespace, &object.name)).flatten();
    // A hook Job runs again with the action that runs its hook; anything else with the release.
    let again = match job.filter(|job| Hook::of(job).is_some()).map(|job| HookRerun::of(hr, job)) {
        Some(HookRerun::Runs { action, .. }) => format!(
            "kubectl fluxjobs rerun job/{} -n {} (a forced {action} of the release runs it again)",
            object.name, object.namespace
        ),
        Some(HookRerun::NotRun { advice, .. }) => advice,
        None => format!("kubectl fluxjobs rerun hr/{} -n {}", hr.name(), hr.namespace()),
    };
    let hint = format!("{remediated}{retries}fix what made it fail (see its logs), then {again}");
    let gone = |what: &str| {
        let message = format!("helm-controller reported it failed; it is gone ({what})");
        RootCause::new(object.clone(), Reason::JobDeleted, message)
    };
    let waited = || {
        let message = format!("Helm waited for it to become ready and gave up (kstatus: {status})");
        RootCause::new(object.clone(), Reason::from(status.as_str()), message)
            .with_events(index.warning_events(&object))
    };
    let cause = match (&object.kind, job) {
        (_, Some(job)) => job_cause(index, job).unwrap_or_else(waited),
        (Kind::Pod, _) => match index.pod(&object.namespace, &object.name) {
            Some(pod) => pod_cause(index, pod).unwrap_or_else(waited),
            None => gone("its helm.sh/hook-delete-policy deleted it"),
        },
        (Kind::StatefulSet | Kind::DaemonSet, _) => pod_set_cause(index, &object).unwrap_or_else(waited),
        (Kind::Deployment, _) => match index.deployment(&object.namespace, &object.name) {
            Some(deployment) => deployment_cause(index, deployment).unwrap_or_else(waited),
            None => waited(),
        },
        _ => gone("its helm.sh/hook-delete-policy, or remediation, deleted it"),
    };
    Some(Resolution::at(&id, cause, hint))
}
