//! The object at fault inside one stage, one function per state of the stage: suspended, never
//! reconciled, progressing, failed; and the stage's source when it cannot get an artifact.

use super::index::{Index, StageJobs, inventory_objects};
use super::resolution::{Resolution, stage_cause};
use super::state::{NEW_STAGE_GRACE, health_check_running, stage_timeout};
use super::workload::{attempts, deployment_cause, job_cause, job_state, newest_first, pod_set_cause};
use super::{controller_failures, hints, messages, named_objects};
use crate::duration::human;
use crate::model::{Kustomization, StageObject};
use crate::refs::{NamespacedName, ObjectRef, StageId, StageKind};
use crate::report::{JobReport, JobState, Reason, RootCause};
use crate::vocabulary::{ConditionReason, ConditionStatus, ConditionType, KStatus, Kind, PodPhase};

/// `spec.suspend: true`.
pub(super) fn suspended(ks: &Kustomization) -> Resolution {
    let cause = stage_cause(ks, Reason::Suspended, "reconciliation is suspended (spec.suspend: true)");
    Resolution::at(&ks.id(), cause, ks.resume_command())
}

/// No status conditions yet: kustomize-controller writes its first condition (Reconciling) within
/// seconds of creation, so a fresh object without one is only waiting its turn.
pub(super) fn not_reconciled(index: &Index, ks: &Kustomization) -> Resolution {
    let check_controller = hints::check_controller(ks);
    let age = ks.metadata.creation_timestamp.as_ref().map(|t| index.now.duration_since(t.0));
    let (message, hint) = match age {
        Some(age) if age < NEW_STAGE_GRACE => (
            format!("not reconciled yet: created {} ago", human(age)),
            format!(
                "kustomize-controller picks new Kustomizations up within seconds; if this lasts, {check_controller}"
            ),
        ),
        Some(age) => {
            (format!("never reconciled: no status conditions {} after creation", human(age)), check_controller)
        }
        None => ("never reconciled: no status conditions".to_string(), check_controller),
    };
    Resolution::at(&ks.id(), stage_cause(ks, Reason::NotReconciled, message), hint)
}

/// kustomize-controller is still working on the stage: a new generation not applied yet, or a
/// health check waiting for a workload.
pub(super) fn progressing(index: &Index, ks: &Kustomization) -> Resolution {
    let id = ks.id();
    let ready = ks.condition(ConditionType::Ready).cloned().unwrap_or_default();
    if ready.status == ConditionStatus::True {
        let generation = ks.metadata.generation.unwrap_or_default();
        let observed = ks.status.as_ref().and_then(|s| s.observed_generation).unwrap_or_default();
        let message = format!("spec generation {generation} is not applied yet (last applied generation {observed})");
        return Resolution::at(&id, stage_cause(ks, Reason::GenerationNotObserved, message), hints::generation());
    }
    let clock = health_clock(index, ks);
    if let Some(mut r) = workload_problem(index, ks, None) {
        if let Some(clock) = &clock {
            r.cause.message = format!("{} ({clock})", r.cause.message);
        }
        return r;
    }
    if let Some(r) = unhealthy_applied_stage(index, ks, clock.as_deref()) {
        return r;
    }
    let running =
        index.stage_jobs(ks).live.into_iter().find(|j| matches!(job_state(j).0, JobState::Running | JobState::Pending));
    if let Some(job) = running {
        let object = ObjectRef::of(Kind::Job, &job.metadata);
        let said = std::iter::once("the Job has not finished yet".to_string()).chain(clock).chain(attempts(index, job));
        let message = said.collect::<Vec<_>>().join("; ");
        let events = index.warning_events(&object);
        let cause = RootCause::new(object, Reason::JobRunning, message).with_events(events);
        return Resolution::at(&id, cause, hints::wait_for_job());
    }
    let message = match &clock {
        Some(clock) => format!("{} ({clock})", ready.message),
        None => ready.message.clone(),
    };
    // A canceled health check is retried at once: its hint names what interrupted it.
    let hint = controller_failures::hint(ks, &ready.reason, &ready.message).unwrap_or_else(hints::wait_for_controller);
    Resolution::at(&id, stage_cause(ks, Reason::Progressing, message), hint)
}

/// The stage's own build, apply or health check failed (Ready=False with the controller's reason).
pub(super) fn failed(index: &Index, ks: &Kustomization) -> Resolution {
    let id = ks.id();
    let ready = ks.condition(ConditionType::Ready).cloned().unwrap_or_default();
    let own = |reason: &str, message: String, hint: String| {
        Resolution::at(&id, stage_cause(ks, Reason::from(reason), message), hint)
    };
    // The exact fix of a failure inside kustomize-controller, when its message is a known one.
    let exact = || controller_failures::hint(ks, &ready.reason, &ready.message);
    match &ready.reason {
        ConditionReason::ArtifactFailed => match source_problem(index, &ks.source()) {
            Some((cause, hint)) => Resolution::at(&id, cause, hint),
            None => own("ArtifactFailed", ready.message.clone(), exact().unwrap_or_else(|| hints::check_path(ks))),
        },
        ConditionReason::HealthCheckFailed => {
            let refs = messages::health_check_refs(&ready.message);
            workload_problem(index, ks, Some(&refs))
                .or_else(|| still_running(index, ks, &refs))
                .or_else(|| unhealthy_stage(index, ks, &refs))
                .or_else(|| named_object(index, ks, &refs))
                .unwrap_or_else(|| own("HealthCheckFailed", ready.message.clone(), hints::see_health_check()))
        }
        ConditionReason::ReconciliationFailed => immutable_field(index, ks, &ready.message).unwrap_or_else(|| {
            let hint = exact().unwrap_or_else(|| hints::fix_manifests(ks));
            own("ReconciliationFailed", messages::first_line(&ready.message), hint)
        }),
        ConditionReason::BuildFailed => {
            own("BuildFailed", messages::first_line(&ready.message), exact().unwrap_or_else(|| hints::fix_build(ks)))
        }
        reason => own(
            reason.as_str(),
            messages::first_line(&ready.message),
            exact().unwrap_or_else(|| hints::stage_events(ks)),
        ),
    }
}

/// A stage the health check names as not healthy (a HelmRelease or ResourceSet the Kustomization
/// applies): the cause is that stage, and the walk goes on into it.
fn unhealthy_stage(index: &Index, ks: &Kustomization, refs: &[(ObjectRef, KStatus)]) -> Option<Resolution> {
    let (object, status) = refs.iter().find(|(object, status)| {
        *status != KStatus::Current && object.as_stage().is_some_and(|id| index.stage(&id).is_some())
    })?;
    let message = format!("the health check of {} reports it {status}", ks.id());
    let cause = RootCause::new(object.clone(), Reason::from("HealthCheckFailed"), message);
    Some(Resolution::at(&ks.id(), cause, hints::see_health_check()))
}

/// A stage the Kustomization applied (its inventory lists it: a HelmRelease, a ResourceSet, a
/// Kustomization) that is not Ready: what a running health check of a `wait: true` stage waits for.
/// The cause is that stage, and the walk goes on into it.
fn unhealthy_applied_stage(index: &Index, ks: &Kustomization, clock: Option<&str>) -> Option<Resolution> {
    let applied = StageKind::ALL.into_iter().flat_map(|kind| {
        let api = kind.api();
        inventory_objects(ks.inventory(), api.group, api.kind)
            .into_iter()
            .map(move |id| StageId::new(kind, id.namespace, id.name))
    });
    let id = applied.filter(|id| *id != ks.id()).find(|id| index.stage(id).is_some_and(|s| !s.healthy()))?;
    let clock = clock.map(|c| format!(" ({c})")).unwrap_or_default();
    let message = format!("{} applied it and is waiting for it to be Ready{clock}", ks.id());
    let cause = RootCause::new(ObjectRef::stage(&id), Reason::Progressing, message);
    Some(Resolution::at(&ks.id(), cause, hints::wait_for_controller()))
}

/// An object of a kind no LIST covers that the health check names as not Current (an operator's
/// custom resource), read because it names it: its own condition is the cause.
fn named_object(index: &Index, ks: &Kustomization, refs: &[(ObjectRef, KStatus)]) -> Option<Resolution> {
    refs.iter().filter(|(_, status)| *status != KStatus::Current).find_map(|(object, status)| {
        let cause = named_objects::named_object_cause(index, object, status)?;
        Some(Resolution::at(&ks.id(), cause, named_objects::describe(index, object)))
    })
}

/// `elapsed of timeout` for a running health check, from the Reconciling condition's transition
/// time and the stage's timeout.
fn health_clock(index: &Index, ks: &Kustomization) -> Option<String> {
    let since = health_check_running(ks)?.last_transition_time?;
    Some(format!(
        "health check running for {} of its {} timeout",
        human(index.now.duration_since(since)),
        human(stage_timeout(ks))
    ))
}

/// The source object at fault when a stage cannot get its artifact from `object`.
pub(super) fn source_problem(index: &Index, object: &ObjectRef) -> Option<(RootCause, String)> {
    let object = object.clone();
    let cause = |reason: Reason, message: String| {
        RootCause::new(object.clone(), reason, message).with_events(index.warning_events(&object))
    };
    let hint = hints::sources(&object.namespace);
    let Some(source) = index.source(&object) else {
        let message = format!("{} '{}' not found", object.kind, object.id());
        return Some((cause(Reason::SourceNotFound, message), hint));
    };
    let ready = source.ready();
    if source.artifact_revision().is_none() {
        let message = match ready.map(|c| c.message.as_str()).filter(|m| !m.is_empty()) {
            Some(m) => format!("the source has no artifact: {m}"),
            None => "the source has no artifact".to_string(),
        };
        let hint = ready.and_then(|c| controller_failures::source_hint(source, &c.reason, &c.message)).unwrap_or(hint);
        return Some((cause(Reason::ArtifactMissing, message), hint));
    }
    match ready {
        Some(c) if c.status == ConditionStatus::False => {
            let hint = controller_failures::source_hint(source, &c.reason, &c.message).unwrap_or(hint);
            Some((cause(Reason::from(c.reason.as_str()), c.message.clone()), hint))
        }
        _ => None,
    }
}

/// The workload at fault in a stage: among `refs` (from a health-check message) when given, else
/// among all its Jobs, Deployments, StatefulSets and DaemonSets.
fn workload_problem(index: &Index, ks: &Kustomization, refs: Option<&[(ObjectRef, KStatus)]>) -> Option<Resolution> {
    let StageJobs { live: jobs, missing, .. } = index.stage_jobs(ks);
    let wanted = |object: &ObjectRef| refs.is_none_or(|refs| refs.iter().any(|(r, _)| r == object));
    let with_hint = |cause: RootCause| {
        let hint = hints::for_cause(index, &ks.id(), &cause);
        Resolution::at(&ks.id(), cause, hint)
    };
    for job in &jobs {
        if wanted(&ObjectRef::of(Kind::Job, &job.metadata))
            && let Some(cause) = job_cause(index, job)
        {
            return Some(with_hint(cause));
        }
    }
    // Jobs the health check still waits for although they are gone.
    // NotFound when the health check ran, or deleted since (a failed Job's TTL).
    let mut missing_refs = refs.into_iter().flatten().filter(|(r, status)| {
        r.kind == Kind::Job && (*status == KStatus::NotFound || index.job(&r.namespace, &r.name).is_none())
    });
    if let Some((object, status)) = missing_refs.next() {
        return Some(with_hint(missing_job_cause(index, &object.id(), *status == KStatus::NotFound)));
    }
    if refs.is_none()
        && let Some(job) = missing.first()
    {
        return Some(with_hint(missing_job_cause(index, job, false)));
    }
    for deploy in index.stage_deployments(ks) {
        if wanted(&ObjectRef::of(Kind::Deployment, &deploy.metadata))
            && let Some(cause) = deployment_cause(index, deploy)
        {
            return Some(with_hint(cause));
        }
    }
    // StatefulSets and DaemonSets it applied, and those its health check names (spec.healthChecks
    // may name objects of other stages).
    let named =
        refs.into_iter().flatten().map(|(r, _)| r).filter(|r| matches!(r.kind, Kind::StatefulSet | Kind::DaemonSet));
    let mut sets: Vec<ObjectRef> = index.stage_pod_sets(ks).into_iter().filter(|s| wanted(s)).collect();
    sets.extend(named.filter(|r| !sets.contains(r)).cloned().collect::<Vec<_>>());
    sets.iter().find_map(|set| pod_set_cause(index, set)).map(with_hint)
}

/// A health check that timed out on a Job that was still running with nothing wrong in sight:
/// the Job is slow, not failed. Its newest running pod is the cause (so its log tail is shown),
/// else the Job.
fn still_running(index: &Index, ks: &Kustomization, refs: &[(ObjectRef, KStatus)]) -> Option<Resolution> {
    let (object, _) = refs.iter().find(|(r, status)| r.kind == Kind::Job && *status == KStatus::InProgress)?;
    let job = index.job(&object.namespace, &object.name)?;
    if job_state(job).0 == JobState::Complete {
        return Some(finished_late(index, ks, object, job));
    }
    let started = job.status.as_ref().and_then(|s| s.start_time.as_ref());
    let running_for =
        started.map(|t| format!("; it started {} before the snapshot", human(index.now.duration_since(t.0))));
    let message = format!(
        "the Job was still running when the health check gave up at the stage's {} timeout{}",
        human(stage_timeout(ks)),
        running_for.unwrap_or_default()
    );
    let message = match attempts(index, job) {
        Some(attempts) => format!("{message}; {attempts}"),
        None => message,
    };
    let pods = newest_first(index.pods_of_job(job));
    let running = pods.into_iter().find(|p| PodPhase::of(p) == PodPhase::Running);
    let cause = match running {
        Some(pod) => {
            let pod_ref = ObjectRef::of(Kind::Pod, &pod.metadata);
            let container =
                pod.status.as_ref().and_then(|s| s.container_statuses.as_ref()?.first()).map(|c| c.name.clone());
            let mut events = index.warning_events(object);
            events.extend(index.warning_events(&pod_ref));
            RootCause {
                container,
                via: vec![object.clone()],
                ..RootCause::new(pod_ref, Reason::StillRunning, message).with_events(events)
            }
        }
        None => RootCause::new(object.clone(), Reason::StillRunning, message).with_events(index.warning_events(object)),
    };
    Some(Resolution::at(&ks.id(), cause, hints::slow_job(ks, object)))
}

/// A Job the health check timed out on that completed afterwards: the next reconcile finds it
/// complete; until then the stage stays failed for its retry interval.
fn finished_late(
    index: &Index,
    ks: &Kustomization,
    object: &ObjectRef,
    job: &k8s_openapi::api::batch::v1::Job,
) -> Resolution {
    let completed = job.status.as_ref().and_then(|s| s.completion_time.as_ref());
    let when =
        completed.map(|t| format!(" {} before the snapshot", human(index.now.duration_since(t.0)))).unwrap_or_default();
    let message = format!(
        "the Job completed{when}, after the health check gave up at the stage's {} timeout",
        human(stage_timeout(ks))
    );
    let cause = RootCause::new(object.clone(), Reason::FinishedLate, message).with_events(index.warning_events(object));
    Resolution::at(&ks.id(), cause, hints::finished_late(&ks.id()))
}

/// Why an inventory Job is gone from the cluster.
pub(super) fn missing_job_message(index: &Index, job: &NamespacedName) -> String {
    if index.job_completed_before(job) {
        "in the inventory but gone from the cluster: deleted after it completed (ttlSecondsAfterFinished cleanup)"
            .into()
    } else if let Some(reason) = index.job_failed_before(job) {
        format!(
            "in the inventory but gone from the cluster: deleted after it failed ({reason}; ttlSecondsAfterFinished cleanup, or by hand)"
        )
    } else {
        "in the inventory but gone from the cluster: deleted before it completed (not by the TTL controller)".into()
    }
}

/// An inventory Job that is gone, as the report lists it.
pub(super) fn missing_job_report(index: &Index, job: &NamespacedName) -> JobReport {
    JobReport {
        namespace: job.namespace.clone(),
        name: job.name.clone(),
        state: JobState::Missing,
        reason: Some("NotFound".into()),
        message: Some(missing_job_message(index, job)),
        images: vec![],
        pods: vec![],
    }
}

fn missing_job_cause(index: &Index, job: &NamespacedName, health_check_waits: bool) -> RootCause {
    let mut message = missing_job_message(index, job);
    if health_check_waits {
        // Only Jobs whose manifest sets ttlSecondsAfterFinished count as healthy when NotFound
        // (fluxcd/pkg ssa ExtractJobsWithTTL, kustomize-controller#1578); others are waited for
        // until the timeout.
        message.push_str(
            "; the health check waits for it until the timeout because its manifest has no ttlSecondsAfterFinished",
        );
    }
    let object = ObjectRef::new(Kind::Job, &job.namespace, &job.name);
    let mut events = index.warning_events(&object);
    events.extend(index.gone_pod_events(&object));
    RootCause::new(object, Reason::JobDeleted, message).with_events(events)
}

/// An immutable-field apply failure; with `force` kustomize-controller would have recreated it.
fn immutable_field(index: &Index, ks: &Kustomization, message: &str) -> Option<Resolution> {
    let (object, line) = messages::immutable_field(message)?;
    // rerun takes Jobs only, and only one that is there to recreate.
    let rerunnable = object.kind == Kind::Job && index.job(&object.namespace, &object.name).is_some();
    let hint = hints::immutable(ks, &object, rerunnable);
    let cause = RootCause::new(object, Reason::ImmutableField, messages::abbreviate_invalid_values(line));
    Some(Resolution::at(&ks.id(), cause, hint))
}
