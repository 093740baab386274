//! One Pod judged the way an operator would: the pod as a whole (eviction, scheduling,
//! disruption, the kubelet's own failure), each of its containers (init, native sidecar, regular),
//! a start the kubelet cannot make, and a pod that runs but is not Ready.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodStatus};

use super::index::Index;
use crate::refs::ObjectRef;
use crate::vocabulary::{ConditionStatus, ConditionType, Kind, KubeCondition, PodPhase};

/// What is wrong with one Pod, if anything.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PodProblem {
    pub reason: String,
    pub message: String,
    pub exit_code: Option<i32>,
    pub container: Option<String>,
}

/// Waiting reasons the kubelet sets when it cannot pull an image
/// (kubernetes pkg/kubelet/images/types.go: ErrImagePull, ImagePullBackOff, InvalidImageName, ...).
const IMAGE_PULL_REASONS: [&str; 5] =
    ["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"];

/// Looks at a Pod the way an operator would, most specific first: the pod as a whole (eviction,
/// scheduling, disruption), a container that cannot start, a container that exited non-zero, and
/// last the pod's own failure.
pub(crate) fn pod_problem(pod: &Pod) -> Option<PodProblem> {
    let status = pod.status.as_ref()?;
    let init: Vec<&ContainerStatus> = status.init_container_statuses.iter().flatten().collect();
    let regular: Vec<&ContainerStatus> = status.container_statuses.iter().flatten().collect();
    whole_pod_problem(status)
        .or_else(|| init.iter().chain(&regular).find_map(|cs| waiting_problem(cs)))
        .or_else(|| exit_problem(&init, &regular))
        .or_else(|| lingering_sidecar(pod, &regular))
        .or_else(|| {
            (PodPhase::of(pod) == PodPhase::Failed).then(|| PodProblem {
                reason: status.reason.clone().unwrap_or_else(|| "Failed".into()),
                message: status.message.clone().unwrap_or_else(|| "the pod failed".into()),
                exit_code: None,
                container: None,
            })
        })
}

impl PodProblem {
    fn of_pod(reason: String, message: String) -> Self {
        PodProblem { reason, message, exit_code: None, container: None }
    }
}

/// Evicted, unschedulable, or taken away by the control plane.
fn whole_pod_problem(status: &PodStatus) -> Option<PodProblem> {
    if status.reason.as_deref() == Some("Evicted") {
        let message = status.message.clone().unwrap_or_else(|| "the pod was evicted".into());
        return Some(PodProblem::of_pod("Evicted".into(), message));
    }
    let conditions = || status.conditions.iter().flatten();
    let unschedulable = conditions().find(|c| {
        c.is(ConditionType::PodScheduled, ConditionStatus::False) && c.reason.as_deref() == Some("Unschedulable")
    });
    if let Some(c) = unschedulable {
        return Some(PodProblem::of_pod("Unschedulable".into(), c.message.clone().unwrap_or_default()));
    }
    // The control plane took the pod away (preemption, eviction, node shutdown, taint, pod GC): a
    // container killed then (137) is a symptom, not the cause.
    if let Some(disrupted) = conditions().find(|c| c.is(ConditionType::DisruptionTarget, ConditionStatus::True)) {
        return Some(PodProblem::of_pod(
            disrupted.reason.clone().unwrap_or_else(|| "DisruptionTarget".into()),
            disrupted.message.clone().unwrap_or_else(|| "the pod was disrupted".into()),
        ));
    }
    // The kubelet failed the pod as a whole: its own activeDeadlineSeconds (DeadlineExceeded,
    // kubernetes pkg/kubelet/active_deadline.go), a node shutdown (Terminated), or its admission on
    // the node (OutOfcpu, UnexpectedAdmissionError, ...: pkg/kubelet/lifecycle/predicate.go). A
    // container it stopped then (143, 137) is a symptom.
    let reason = status
        .reason
        .clone()
        .filter(|_| PodPhase::from(status.phase.as_deref().unwrap_or_default()) == PodPhase::Failed)?;
    Some(PodProblem::of_pod(reason, status.message.clone().unwrap_or_else(|| "the pod failed".into())))
}

/// A pod of a Job whose main container finished while another regular container (a proxy or mesh
/// sidecar that is not a native sidecar) keeps running: the pod never completes, so the Job does
/// not either. Only a Job's pods: their restartPolicy is never Always (the API server validates
/// it), so a container that exited stays exited (pods are read without their spec).
fn lingering_sidecar(pod: &Pod, regular: &[&ContainerStatus]) -> Option<PodProblem> {
    let of_job = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| Kind::from(&o.kind) == Kind::Job && o.controller == Some(true));
    if !of_job || PodPhase::of(pod) != PodPhase::Running {
        return None;
    }
    let state = |cs: &&&ContainerStatus| cs.state.clone().unwrap_or_default();
    let done: Vec<&str> = regular
        .iter()
        .filter(|cs| state(cs).terminated.is_some_and(|t| t.exit_code == 0))
        .map(|cs| cs.name.as_str())
        .collect();
    let running = regular.iter().find(|cs| state(cs).running.is_some())?;
    let finished = done.first()?;
    Some(PodProblem {
        reason: "SidecarKeepsPodRunning".into(),
        message: format!(
            "container {finished} exited 0, but container {} still runs, so the pod never completes",
            running.name
        ),
        exit_code: None,
        container: Some(running.name.clone()),
    })
}

/// A container that cannot start: its image, its configuration, or a crash loop.
fn waiting_problem(cs: &ContainerStatus) -> Option<PodProblem> {
    let waiting = cs.state.as_ref()?.waiting.as_ref()?;
    let reason = waiting.reason.clone().unwrap_or_default();
    let message = waiting.message.clone().unwrap_or_default();
    let container = Some(cs.name.clone());
    if IMAGE_PULL_REASONS.contains(&reason.as_str()) {
        let message = if message.is_empty() { format!("cannot pull image {}", cs.image) } else { message };
        return Some(PodProblem { reason, message, exit_code: None, container });
    }
    // The kubelet waits in ContainerCreating and PodInitializing on its way; every other waiting
    // reason is a failure to start (CreateContainerConfigError, CreateContainerError,
    // PreStartHookError, PostStartHookError, RunContainerError: kubernetes
    // pkg/kubelet/kuberuntime/kuberuntime_container.go, pkg/kubelet/container/sync_result.go).
    if reason != "CrashLoopBackOff" {
        if matches!(reason.as_str(), "" | "ContainerCreating" | "PodInitializing") {
            return None;
        }
        let message = if message.is_empty() { format!("container {} waits: {reason}", cs.name) } else { message };
        return Some(PodProblem { reason, message, exit_code: None, container });
    }
    let last = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let detail = match last {
        Some(t) => format!(
            "container {} keeps crashing (restarts: {}), last exit code {} ({})",
            cs.name,
            cs.restart_count,
            t.exit_code,
            t.reason.as_deref().unwrap_or("Error")
        ),
        None => format!("container {} keeps crashing (restarts: {})", cs.name, cs.restart_count),
    };
    Some(PodProblem { reason, message: detail, exit_code: last.map(|t| t.exit_code), container })
}

/// A container that exited non-zero, blamed on the right one. Regular containers start only after
/// every regular init container exited 0 (kubernetes
/// pkg/kubelet/kuberuntime/kuberuntime_container.go, computeInitContainerActions). So once one
/// has run, a non-zero init container exit is a native sidecar's (restartPolicy: Always),
/// stopped with the pod: the regular containers' exits are the cause.
fn exit_problem(init: &[&ContainerStatus], regular: &[&ContainerStatus]) -> Option<PodProblem> {
    let regular_ran = regular.iter().any(|cs| {
        let state = cs.state.as_ref();
        state.is_some_and(|s| s.running.is_some() || s.terminated.is_some())
            || cs.last_state.as_ref().is_some_and(|s| s.terminated.is_some())
    });
    let blamed = regular
        .iter()
        .map(|cs| (cs, "container"))
        .chain(init.iter().filter(|_| !regular_ran).map(|cs| (cs, "init container")));
    blamed.into_iter().find_map(|(cs, role)| {
        let t = cs.state.as_ref()?.terminated.as_ref().filter(|t| t.exit_code != 0)?;
        let reason = t.reason.clone().unwrap_or_else(|| "Error".into());
        let mut message = format!("{role} {} exited with code {} ({reason})", cs.name, t.exit_code);
        // Termination messages often end in a newline (a file written with echo).
        if let Some(m) = t.message.as_deref().map(str::trim_end).filter(|m| !m.is_empty()) {
            message.push_str(": ");
            message.push_str(m);
        }
        Some(PodProblem { reason, message, exit_code: Some(t.exit_code), container: Some(cs.name.clone()) })
    })
}

/// A pod that runs but is not Ready: its containers that are not (a failing readiness probe, or
/// still starting).
pub(super) fn pod_not_ready(index: &Index, pod: &Pod) -> Option<PodProblem> {
    let status = pod.status.as_ref()?;
    let ready = status.conditions.as_ref()?.iter().find(|c| c.kind() == ConditionType::Ready)?;
    if PodPhase::of(pod) != PodPhase::Running || ready.state().is_true() {
        return None;
    }
    let unready: Vec<&str> =
        status.container_statuses.iter().flatten().filter(|c| !c.ready).map(|c| c.name.as_str()).collect();
    // The kubelet's newest `Unhealthy` event (kubernetes pkg/kubelet/prober/prober.go: `Readiness
    // probe failed: ...`) says why.
    let warnings = index.warnings(&ObjectRef::of(Kind::Pod, &pod.metadata));
    let probe =
        warnings.iter().rev().find(|e| e.reason.as_deref() == Some("Unhealthy")).and_then(|e| e.message.as_deref());
    let probe = probe.map(|m| format!("; {}", m.trim())).unwrap_or_default();
    Some(PodProblem {
        reason: ready.reason.clone().unwrap_or_else(|| "NotReady".into()),
        message: format!("running, but not Ready: containers with unready status: [{}]{probe}", unready.join(" ")),
        exit_code: None,
        container: unready.first().map(|c| c.to_string()),
    })
}

/// Warning reasons the kubelet records while it cannot start a pod's containers: volumes it cannot
/// attach or mount, a sandbox it cannot create (kubernetes pkg/kubelet/events/event.go).
const START_FAILURES: [&str; 6] = [
    "FailedMount",
    "FailedAttachVolume",
    "FailedMapVolume",
    "FailedCreatePodSandBox",
    "FailedCreatePodContainer",
    "FailedPrepareDynamicResources",
];

/// A scheduled pod the kubelet cannot start (it waits in `ContainerCreating`, which says nothing):
/// the newest of its start-failure events says why.
pub(super) fn start_failure(index: &Index, pod: &Pod) -> Option<PodProblem> {
    if PodPhase::of(pod) != PodPhase::Pending {
        return None;
    }
    let warnings = index.warnings(&ObjectRef::of(Kind::Pod, &pod.metadata));
    let event = warnings.iter().rev().find(|e| START_FAILURES.contains(&e.reason.as_deref().unwrap_or_default()))?;
    Some(PodProblem {
        reason: event.reason.clone().unwrap_or_default(),
        message: event.message.clone().unwrap_or_default().trim().to_string(),
        exit_code: None,
        container: None,
    })
}
