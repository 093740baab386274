//! Jobs and non-Job workloads (Deployments, StatefulSets, DaemonSets): their state, and the object
//! at fault when they do not succeed, down to the pod `pods` judges.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, DeploymentCondition, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;

use super::index::Index;
use super::pods::{PodProblem, pod_not_ready, pod_problem, start_failure};
use crate::refs::{MetaNames, NamespacedName, ObjectRef};
use crate::report::{JobReport, JobState, PodReport, Reason, RootCause};
use crate::vocabulary::{ConditionStatus, ConditionType, Kind, KubeCondition, PodPhase};

/// A Job's state and the reason of the condition that decided it.
///
/// Order follows how the Job controller finishes a Job: `FailureTarget`/`SuccessCriteriaMet` are set
/// first while pods terminate, then `Failed`/`Complete` (kubernetes pkg/controller/job/job_controller.go).
pub(crate) fn job_state(job: &Job) -> (JobState, Option<String>, Option<String>) {
    let status = job.status.as_ref();
    let cond = |t: ConditionType| {
        status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.is(t.clone(), ConditionStatus::True)))
    };
    if let Some(c) = cond(ConditionType::Failed).or_else(|| cond(ConditionType::FailureTarget)) {
        return (JobState::Failed, c.reason.clone(), c.message.clone());
    }
    if let Some(c) = cond(ConditionType::Complete) {
        return (JobState::Complete, c.reason.clone(), c.message.clone());
    }
    if job.spec.as_ref().and_then(|s| s.suspend).unwrap_or(false) {
        let c = cond(ConditionType::Suspended);
        return (
            JobState::Suspended,
            Some(c.and_then(|c| c.reason.clone()).unwrap_or_else(|| "JobSuspended".into())),
            Some(c.and_then(|c| c.message.clone()).unwrap_or_else(|| "Job suspended".into())),
        );
    }
    match status.and_then(|s| s.start_time.as_ref()) {
        None => (JobState::Pending, None, None),
        Some(_) => (JobState::Running, None, None),
    }
}

pub(crate) fn job_report(index: &Index, job: &Job) -> JobReport {
    let (state, reason, message) = job_state(job);
    let pods = index.pods_of_job(job).into_iter().map(pod_report).collect();
    JobReport {
        namespace: job.metadata.namespace_str().to_string(),
        name: job.metadata.name_str().to_string(),
        state,
        reason,
        message,
        images: job_images(job),
        pods,
    }
}

pub(crate) fn job_images(job: &Job) -> Vec<String> {
    job.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| p.containers.iter().filter_map(|c| c.image.clone()).collect())
        .unwrap_or_default()
}

fn pod_report(pod: &Pod) -> PodReport {
    let problem = pod_problem(pod);
    let status = pod.status.as_ref();
    PodReport {
        name: pod.metadata.name_str().to_string(),
        phase: status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Unknown".into()),
        reason: problem.as_ref().map(|p| p.reason.clone()),
        message: problem.as_ref().map(|p| p.message.clone()),
        exit_code: problem.and_then(|p| p.exit_code),
    }
}

fn cause_from_pod(index: &Index, pod: &Pod, problem: PodProblem, via: Vec<ObjectRef>) -> RootCause {
    let object = ObjectRef::of(Kind::Pod, &pod.metadata);
    let mut events: Vec<String> = via.iter().flat_map(|v| index.warning_events(v)).collect();
    events.extend(index.warning_events(&object));
    // The scheduler's FailedScheduling event repeats the PodScheduled message word for word, and
    // a start failure is its own newest event.
    if !problem.message.is_empty() {
        events.retain(|e| !e.contains(problem.message.as_str()));
        // ... and an event the message quotes (the readiness probe's `Unhealthy`) is said once.
        events.retain(|e| {
            let text = e.split_once(": ").map_or(e.as_str(), |(_, text)| text);
            let text = text.rsplit_once(" (x").map_or(text, |(text, _)| text);
            !problem.message.contains(text)
        });
    }
    RootCause {
        exit_code: problem.exit_code,
        container: problem.container,
        via,
        ..RootCause::new(object, Reason::from(problem.reason), problem.message).with_events(events)
    }
}

pub(super) fn newest_first(mut pods: Vec<&Pod>) -> Vec<&Pod> {
    pods.sort_by(|a, b| {
        let t = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
        t(b).cmp(&t(a)).then_with(|| b.metadata.name.cmp(&a.metadata.name))
    });
    pods
}

/// The label that hands a Job to Kueue, which keeps it suspended until its queue admits it
/// (sigs.k8s.io/kueue pkg/controller/constants/constants.go QueueLabel).
pub(crate) const KUEUE_QUEUE_LABEL: &str = "kueue.x-k8s.io/queue-name";

/// The object at fault for a Job that is not Complete, if one can be named: the newest Pod with a
/// problem, else the Job itself when it failed or is suspended.
pub(crate) fn job_cause(index: &Index, job: &Job) -> Option<RootCause> {
    let object = ObjectRef::of(Kind::Job, &job.metadata);
    let (state, reason, message) = job_state(job);
    if state == JobState::Complete {
        return None;
    }
    let pods = newest_first(index.pods_of_job(job));
    let problem = |pod: &Pod| pod_problem(pod).or_else(|| start_failure(index, pod));
    // A Job runs its attempts one after another: while the newest runs with nothing wrong, the
    // failed ones before it are history (see `attempts`), not the cause.
    if state != JobState::Failed
        && let Some(newest) = pods.first()
        && matches!(PodPhase::of(newest), PodPhase::Pending | PodPhase::Running)
        && problem(newest).is_none()
    {
        return None;
    }
    for pod in &pods {
        if let Some(problem) = problem(pod) {
            return Some(cause_from_pod(index, pod, problem, vec![object]));
        }
    }
    if pods.is_empty()
        && state != JobState::Suspended
        && let Some(cause) = creation_failure(index, &object)
    {
        return Some(cause);
    }
    let (reason, message) = match state {
        JobState::Failed => (
            Reason::from(reason.unwrap_or_else(|| "Failed".into())),
            message.unwrap_or_else(|| "the Job failed".into()),
        ),
        JobState::Suspended => match job.metadata.labels.as_ref().and_then(|l| l.get(KUEUE_QUEUE_LABEL)) {
            Some(queue) => (
                Reason::AwaitingAdmission { queue: queue.clone() },
                format!("Kueue keeps the Job suspended until LocalQueue {queue} admits it"),
            ),
            None => (Reason::JobSuspended, "the Job is suspended (spec.suspend: true)".into()),
        },
        _ => return None,
    };
    let mut events = index.warning_events(&object);
    // Its pods are gone (deleted at backoffLimit with restartPolicy OnFailure, preempted, or
    // removed): what their events still say is the evidence left.
    let gone = if pods.is_empty() { index.gone_pod_events(&object) } else { vec![] };
    let message = if gone.is_empty() { message } else { format!("{message}; its pods are gone, their events remain") };
    events.extend(gone);
    Some(RootCause::new(object, reason, message).with_events(events))
}

/// The attempts of a Job that has run more than one pod, newest first: `attempt 2 running
/// (Pod/x); attempt 1: Pod/y exit code 3 (Error)`.
pub(crate) fn attempts(index: &Index, job: &Job) -> Option<String> {
    let pods = newest_first(index.pods_of_job(job));
    if pods.len() < 2 {
        return None;
    }
    let count = pods.len();
    let said = pods.iter().enumerate().map(|(i, pod)| {
        let phase = PodPhase::of(pod);
        let what = match pod_problem(pod) {
            Some(p) => match p.exit_code {
                Some(code) => format!("exit code {code} ({})", p.reason),
                None => p.reason,
            },
            None => phase.as_str().to_lowercase(),
        };
        format!("attempt {} Pod/{} {what}", count - i, pod.metadata.name_str())
    });
    Some(said.collect::<Vec<_>>().join("; "))
}

/// The cause a Pod of its own (no Job above it, as a bare Helm test hook) shows, if it has a problem.
pub(crate) fn pod_cause(index: &Index, pod: &Pod) -> Option<RootCause> {
    let problem = pod_problem(pod).or_else(|| start_failure(index, pod))?;
    Some(cause_from_pod(index, pod, problem, vec![]))
}

/// The object at fault for a Deployment that is not available or not progressing: one of its Pods
/// with a problem, else the Deployment with the condition that says so.
pub(crate) fn deployment_cause(index: &Index, deploy: &Deployment) -> Option<RootCause> {
    let stuck = deployment_trouble(deploy)?;
    let unavailable = deploy.status.as_ref().and_then(|s| s.unavailable_replicas).unwrap_or(0);
    let object = ObjectRef::of(Kind::Deployment, &deploy.metadata);
    let pods = newest_replica_set_pods(index, deploy, stuck.and_then(|c| c.message.as_deref()));
    let problem = |pod: &Pod| pod_problem(pod).or_else(|| start_failure(index, pod));
    if let Some((pod, problem)) = pods.iter().find_map(|p| Some((*p, problem(p)?))) {
        return Some(cause_from_pod(index, pod, problem, vec![object]));
    }
    if let Some((pod, problem)) = pods.iter().find_map(|p| Some((*p, pod_not_ready(index, p)?))) {
        return Some(cause_from_pod(index, pod, problem, vec![object]));
    }
    let (reason, message) = match stuck {
        Some(c) => {
            (Reason::from(c.reason.clone().unwrap_or_else(|| c.type_.clone())), c.message.clone().unwrap_or_default())
        }
        None => (
            Reason::ReplicasUnavailable,
            format!(
                "{unavailable} of {} replicas unavailable",
                deploy.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
            ),
        ),
    };
    let events = index.warning_events(&object);
    Some(RootCause::new(object, reason, message).with_events(events))
}

/// Whether a Deployment is not available or not progressing, from its status alone: `Some` with
/// the condition that says so (if one does) when it is not done, `None` when it is.
pub(crate) fn deployment_trouble(deploy: &Deployment) -> Option<Option<&DeploymentCondition>> {
    let status = deploy.status.as_ref()?;
    let conds = status.conditions.as_deref().unwrap_or_default();
    // ReplicaFailure=True (FailedCreate): the ReplicaSet controller cannot create pods
    // (kubernetes pkg/controller/replicaset/replica_set.go), the most specific of the three.
    let stuck = conds
        .iter()
        .find(|c| c.is(ConditionType::ReplicaFailure, ConditionStatus::True))
        .or_else(|| conds.iter().find(|c| c.is(ConditionType::Progressing, ConditionStatus::False)))
        .or_else(|| conds.iter().find(|c| c.is(ConditionType::Available, ConditionStatus::False)));
    let unavailable = status.unavailable_replicas.unwrap_or(0);
    (stuck.is_some() || unavailable > 0).then_some(stuck)
}

/// The pods of a Deployment's newest ReplicaSet, newest first: the one its Progressing message
/// names (`ReplicaSet "app-7c9f8d6b5" has timed out progressing.` or `... is progressing.`,
/// kubernetes pkg/controller/deployment/util/deployment_util.go), else the newest pod's. The pods
/// of older ReplicaSets still serving are not what the rollout waits for.
fn newest_replica_set_pods<'a>(index: &Index<'a>, deploy: &Deployment, progressing: Option<&str>) -> Vec<&'a Pod> {
    let pods = newest_first(index.pods_of_deployment(&NamespacedName::of(&deploy.metadata)));
    let named = progressing.and_then(|m| m.strip_prefix("ReplicaSet \"")?.split('"').next());
    let owner = |pod: &Pod| {
        pod.metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| Kind::from(&o.kind) == Kind::ReplicaSet)
            .map(|o| o.name.clone())
    };
    let Some(newest) = named.map(str::to_string).or_else(|| pods.first().and_then(|p| owner(p))) else {
        return pods;
    };
    pods.into_iter().filter(|p| owner(p).as_deref() == Some(newest.as_str())).collect()
}

/// How far a StatefulSet or DaemonSet is from done, as kstatus judges it
/// (sigs.k8s.io/cli-utils pkg/kstatus/status/core.go `stsConditions`, `daemonsetConditions`);
/// `None` when it is done.
fn pod_set_rollout(index: &Index, object: &ObjectRef) -> Option<(Reason, String)> {
    let (ns, name) = (object.namespace.as_str(), object.name.as_str());
    match object.kind {
        Kind::StatefulSet => stateful_set_rollout(index.stateful_set(ns, name)?),
        Kind::DaemonSet => daemon_set_rollout(index.daemon_set(ns, name)?),
        _ => None,
    }
}

/// How far a StatefulSet is from done ([`pod_set_rollout`]).
pub(crate) fn stateful_set_rollout(set: &StatefulSet) -> Option<(Reason, String)> {
    let spec = set.spec.as_ref()?;
    let status = set.status.clone().unwrap_or_default();
    let desired = spec.replicas.unwrap_or(1);
    let partition =
        spec.update_strategy.as_ref().and_then(|u| u.rolling_update.as_ref()).and_then(|r| r.partition).unwrap_or(0);
    let ready = status.ready_replicas.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    if ready < desired {
        return Some((Reason::ReplicasNotReady, format!("{ready} of {desired} replicas ready")));
    }
    let (current, update) = (status.current_revision.unwrap_or_default(), status.update_revision.unwrap_or_default());
    let rolled = if partition > 0 { updated >= desired - partition } else { current == update };
    if !rolled {
        let held = if partition > 0 {
            format!(
                "; rollingUpdate.partition {partition} keeps the pods below ordinal {partition} at the old revision"
            )
        } else {
            String::new()
        };
        return Some((
            Reason::RolloutIncomplete,
            format!("{updated} of {desired} replicas at revision {update} (current {current}){held}"),
        ));
    }
    None
}

/// How far a DaemonSet is from done ([`pod_set_rollout`]).
pub(crate) fn daemon_set_rollout(set: &DaemonSet) -> Option<(Reason, String)> {
    let status = set.status.clone().unwrap_or_default();
    let desired = status.desired_number_scheduled;
    let available = status.number_available.unwrap_or(0);
    let updated = status.updated_number_scheduled.unwrap_or(0);
    if available < desired {
        return Some((Reason::PodsUnavailable, format!("{} of {desired} pods available", available)));
    }
    if updated < desired {
        return Some((Reason::RolloutIncomplete, format!("{updated} of {desired} pods updated")));
    }
    None
}

/// The object at fault for a StatefulSet or DaemonSet that is not done: one of its Pods with a
/// problem, or running but not Ready, else the set with how far its rollout got.
pub(crate) fn pod_set_cause(index: &Index, object: &ObjectRef) -> Option<RootCause> {
    let (reason, message) = pod_set_rollout(index, object)?;
    let pods = newest_first(index.pods_owned_by(object));
    let problem = |pod: &Pod| pod_problem(pod).or_else(|| start_failure(index, pod));
    if let Some((pod, problem)) = pods.iter().find_map(|p| Some((*p, problem(p)?))) {
        return Some(cause_from_pod(index, pod, problem, vec![object.clone()]));
    }
    if let Some((pod, problem)) = pods.iter().find_map(|p| Some((*p, pod_not_ready(index, p)?))) {
        return Some(cause_from_pod(index, pod, problem, vec![object.clone()]));
    }
    Some(RootCause::new(object.clone(), reason, message).with_events(index.warning_events(object)))
}

/// A Job without pods whose controller cannot create them: its newest `FailedCreate` event
/// (`Error creating: ...`, kubernetes pkg/controller/controller_utils.go) names what refused it. The
/// Job controller keeps retrying with backoff, so the Job goes on by itself once that is fixed.
fn creation_failure(index: &Index, job: &ObjectRef) -> Option<RootCause> {
    let warnings = index.warnings(job);
    let event = warnings.iter().rev().find(|e| e.reason.as_deref() == Some("FailedCreate"))?;
    let error = super::messages::pod_creation_error(event.message.as_deref().unwrap_or_default());
    let message = format!("the Job controller cannot create its pod: {error}");
    let mut events = index.warning_events(job);
    events.retain(|e| !e.starts_with("FailedCreate: "));
    Some(RootCause::new(job.clone(), Reason::from("FailedCreate"), message).with_events(events))
}

/// `repository` and `tag` of an image reference (`registry:5000/org/app:v1@sha256:...`).
pub(crate) fn split_image(image: &str) -> (&str, Option<&str>) {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_slash = without_digest.rfind('/').map(|i| i + 1).unwrap_or(0);
    match without_digest[last_slash..].rfind(':') {
        Some(i) => (&without_digest[..last_slash + i], Some(&without_digest[last_slash + i + 1..])),
        None => (without_digest, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_image_references() {
        assert_eq!(split_image("ghcr.io/org/app:v1.2"), ("ghcr.io/org/app", Some("v1.2")));
        assert_eq!(split_image("registry:5000/app"), ("registry:5000/app", None));
        assert_eq!(split_image("registry:5000/app:v2@sha256:ab"), ("registry:5000/app", Some("v2")));
        assert_eq!(split_image("busybox"), ("busybox", None));
    }
}
