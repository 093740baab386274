//! The failure catalog: one row per way the kubelet, the container runtime, the scheduler, the Job,
//! ReplicaSet and Deployment controllers and admission say that a pod, a Job or a rollout failed,
//! with the message variants that change the fix. Each row names the component's source it was
//! read from, what we print, and the fix with the field to change; [`hint`] picks the rows of a
//! root cause, so a new failure mode is one row here (and its fixture comes from its example).
//! README's catalog table is [`markdown`] of this table (checked by a test).

use crate::report::{Failure, RootCause};

/// Who wrote what a row matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Component {
    Kubelet,
    Runtime,
    Scheduler,
    JobController,
    DeploymentController,
    Admission,
    /// Read by this plugin from several fields (a pattern no component names).
    Plugin,
}

#[cfg(test)]
impl Component {
    fn as_str(self) -> &'static str {
        match self {
            Component::Kubelet => "kubelet",
            Component::Runtime => "container runtime",
            Component::Scheduler => "scheduler",
            Component::JobController => "Job controller",
            Component::DeploymentController => "Deployment controller",
            Component::Admission => "admission",
            Component::Plugin => "kubectl-fluxjobs",
        }
    }
}

/// What owns the pod at fault: the fix of a crash loop differs between a Job (recreated by a
/// rerun) and a Deployment, StatefulSet or DaemonSet (rolled out again by the next apply).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    Any,
    Job,
    Rollout,
}

/// What happens once the fix is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Then {
    /// The pod template changes: a Job must be recreated (a rerun), a rollout picks it up when the
    /// fixed manifest is applied.
    Recreate,
    /// The component retries by itself.
    Retries(&'static str),
    /// Nothing more to do (waiting is the answer, or the fix says it all).
    Done,
}

/// Where a row's example sits, as the component writes it; the catalog fixtures are built from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Said {
    /// A pod condition of this type (status False for PodScheduled and Ready, True otherwise),
    /// with the row's reason and the example as its message.
    PodCondition(&'static str),
    /// A container's `state.waiting`; `last` is its previous termination (reason, exit code).
    Waiting { last: Option<(&'static str, i32)> },
    /// A container's `state.terminated` with this exit code.
    Terminated(i32),
    /// The pod's own `status.reason` and `status.message` (phase Failed).
    PodStatus,
    /// A Warning event on a pod that stays Pending.
    PodEvent,
    /// A Job's Failed condition.
    JobCondition,
    /// A Warning event on a Job without pods.
    JobEvent,
    /// A Deployment's Progressing=False condition.
    DeploymentCondition,
    /// Several fields at once (the example describes them).
    Pattern,
}

#[cfg(test)]
impl Said {
    fn as_str(self) -> String {
        match self {
            Said::PodCondition(t) => format!("pod condition `{t}`"),
            Said::Waiting { last: None } => "container `state.waiting`".into(),
            Said::Waiting { last: Some(_) } => "container `state.waiting`, `lastState.terminated`, events".into(),
            Said::Terminated(_) => "container `state.terminated`".into(),
            Said::PodStatus => "pod `status.reason`".into(),
            Said::PodEvent => "pod Warning event".into(),
            Said::JobCondition => "Job `Failed` condition".into(),
            Said::JobEvent => "Job Warning event".into(),
            Said::DeploymentCondition => "Deployment `Progressing` condition".into(),
            Said::Pattern => "pod and container status".into(),
        }
    }
}

/// One way a failure is reported, and its fix.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(test), expect(dead_code, reason = "README's table and the fixtures read the rest"))]
pub(crate) struct Row {
    /// A stable name (fixtures and README).
    pub(crate) id: &'static str,
    pub(crate) component: Component,
    pub(crate) said: Said,
    /// The reason as the component writes it (the cause's reason).
    pub(crate) reason: &'static str,
    /// Substrings of the message or the events, any of which selects this row; empty for the row
    /// that covers the reason's other messages.
    pub(crate) variants: &'static [&'static str],
    pub(crate) owner: Owner,
    /// What it is, in words.
    pub(crate) name: &'static str,
    /// The fix; `{container}`, `{pod}`, `{ns}`, `{spec}` (the pod spec's path in the owner's
    /// manifest), `{owner}` (`job/NAME`, `deployment/NAME`) and `{disruption}` (for a Job's pod, how
    /// a podFailurePolicy keeps a disruption from counting) are filled in.
    pub(crate) fix: &'static str,
    pub(crate) then: Then,
    /// The upstream file that writes it.
    pub(crate) source: &'static str,
    /// A message as the component writes it.
    pub(crate) example: &'static str,
}

const KUBELET_RETRIES: &str = "the kubelet retries by itself";
const SCHEDULER_RETRIES: &str = "the scheduler retries by itself when nodes change";
const JOB_RETRIES: &str = "the Job controller retries by itself once that is fixed";
const SCHEDULER: &str = "kubernetes pkg/scheduler/framework/plugins";
const RUNTIME_MANAGER: &str = "kubernetes pkg/kubelet/kuberuntime/kuberuntime_container.go";
const IMAGES: &str = "kubernetes pkg/kubelet/images/image_manager.go";
const EVICTION: &str = "kubernetes pkg/kubelet/eviction/helpers.go";
const JOB_CONTROLLER: &str = "kubernetes pkg/controller/job/job_controller.go";
const DISRUPTION: &str = "k8s.io/api core/v1 types.go (DisruptionTarget reasons)";

macro_rules! row {
    ($id:literal, $component:ident, $said:expr, $reason:literal, [$($variant:literal),*], $owner:ident,
     $name:literal, $fix:literal, $then:expr, $source:expr, $example:literal) => {
        Row {
            id: $id,
            component: Component::$component,
            said: $said,
            reason: $reason,
            variants: &[$($variant),*],
            owner: Owner::$owner,
            name: $name,
            fix: $fix,
            then: $then,
            source: $source,
            example: $example,
        }
    };
}

/// The catalog. Within one reason, rows with variants come before the row without.
pub(crate) static CATALOG: &[Row] = &[
    // The scheduler: PodScheduled=False, reason Unschedulable, one clause per filter plugin.
    row!(
        "unschedulable-node-selector",
        Scheduler,
        Said::PodCondition("PodScheduled"),
        "Unschedulable",
        ["didn't match Pod's node affinity/selector"],
        Any,
        "no node matches the pod's nodeSelector or required node affinity",
        "make {spec}.nodeSelector or affinity.nodeAffinity match a node's labels (kubectl get nodes --show-labels), or label a node",
        Then::Recreate,
        SCHEDULER,
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    ),
    row!(
        "unschedulable-taint",
        Scheduler,
        Said::PodCondition("PodScheduled"),
        "Unschedulable",
        ["untolerated taint", "had taints that the pod didn't tolerate"],
        Any,
        "every node has a taint the pod does not tolerate",
        "add a toleration for the node's taint to {spec}.tolerations (kubectl describe nodes | grep Taints), or remove the taint",
        Then::Recreate,
        SCHEDULER,
        "0/2 nodes are available: 2 node(s) had untolerated taint(s). preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    ),
    row!(
        "unschedulable-cordoned",
        Scheduler,
        Said::PodCondition("PodScheduled"),
        "Unschedulable",
        ["node(s) were unschedulable"],
        Any,
        "the nodes are cordoned",
        "uncordon a node (kubectl uncordon NODE) or add one",
        Then::Retries(SCHEDULER_RETRIES),
        SCHEDULER,
        "0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    ),
    row!(
        "unschedulable-insufficient",
        Scheduler,
        Said::PodCondition("PodScheduled"),
        "Unschedulable",
        ["Insufficient "],
        Any,
        "no node has the CPU, memory or other resource the pod requests",
        "lower {spec}.containers[].resources.requests or add capacity (kubectl describe nodes: Allocated resources)",
        Then::Recreate,
        SCHEDULER,
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    ),
    row!(
        "unschedulable-too-many-pods",
        Scheduler,
        Said::PodCondition("PodScheduled"),
        "Unschedulable",
        ["Too many pods"],
        Any,
        "the nodes run their maximum number of pods",
        "add nodes or raise the kubelet's maxPods",
        Then::Retries(SCHEDULER_RETRIES),
        SCHEDULER,
        "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    ),
    row!(
        "unschedulable-pod-affinity",
        Scheduler,
        Said::PodCondition("PodScheduled"),
        "Unschedulable",
        ["didn't match pod affinity rules"],
        Any,
        "no node runs the pods its podAffinity requires",
        "fix {spec}.affinity.podAffinity (its labelSelector and topologyKey) or start the pods it needs first",
        Then::Recreate,
        SCHEDULER,
        "0/2 nodes are available: 2 node(s) didn't match pod affinity rules. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    ),
    row!(
        "unschedulable-anti-affinity",
        Scheduler,
        Said::PodCondition("PodScheduled"),
        "Unschedulable",
        ["didn't match pod anti-affinity rules", "didn't satisfy existing pods anti-affinity rules"],
        Any,
        "pod anti-affinity leaves no node",
        "relax {spec}.affinity.podAntiAffinity (preferred instead of required) or add nodes",
        Then::Recreate,
        SCHEDULER,
        "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    ),
    row!(
        "unschedulable-topology-spread",
        Scheduler,
        Said::PodCondition("PodScheduled"),
        "Unschedulable",
        ["didn't match pod topology spread constraints"],
        Any,
        "a topology spread constraint leaves no node",
        "relax {spec}.topologySpreadConstraints (maxSkew, or whenUnsatisfiable: ScheduleAnyway) or add nodes in the missing zone",
        Then::Recreate,
        SCHEDULER,
        "0/3 nodes are available: 3 node(s) didn't match pod topology spread constraints. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    ),
    row!(
        "unschedulable-host-port",
        Scheduler,
        Said::PodCondition("PodScheduled"),
        "Unschedulable",
        ["didn't have free ports for the requested pod ports"],
        Any,
        "the hostPort the pod asks for is taken on every node",
        "drop or change {spec}.containers[].ports[].hostPort",
        Then::Recreate,
        SCHEDULER,
        "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    ),
    row!(
        "unschedulable-unbound-pvc",
        Scheduler,
        Said::PodCondition("PodScheduled"),
        "Unschedulable",
        ["unbound immediate PersistentVolumeClaims", "didn't find available persistent volumes to bind"],
        Any,
        "a PersistentVolumeClaim the pod mounts is not bound",
        "see why the claim is Pending (kubectl describe pvc -n {ns}: its StorageClass and provisioner)",
        Then::Retries(SCHEDULER_RETRIES),
        SCHEDULER,
        "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    ),
    row!(
        "unschedulable-volume-node-affinity",
        Scheduler,
        Said::PodCondition("PodScheduled"),
        "Unschedulable",
        ["didn't match PersistentVolume's node affinity", "had no available volume zone"],
        Any,
        "the pod's volume is bound to a zone or node no schedulable node is in",
        "add a node in the volume's zone, or recreate the claim where the nodes are (kubectl get pv -o wide)",
        Then::Retries(SCHEDULER_RETRIES),
        SCHEDULER,
        "0/2 nodes are available: 2 node(s) didn't match PersistentVolume's node affinity. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    ),
    row!(
        "unschedulable",
        Scheduler,
        Said::PodCondition("PodScheduled"),
        "Unschedulable",
        [],
        Any,
        "the scheduler finds no node for the pod",
        "read the scheduler's message above: each clause is a filter every node failed (kubectl describe pod {pod} -n {ns})",
        Then::Recreate,
        SCHEDULER,
        "0/1 nodes are available: 1 node(s) had unknown conditions. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    ),
    // The kubelet pulling images (waiting reasons; the detail is in the Failed event).
    row!(
        "image-not-found",
        Kubelet,
        Said::Waiting { last: None },
        "ErrImagePull",
        ["not found", "manifest unknown", "does not exist"],
        Any,
        "the image tag or digest does not exist",
        "fix the image reference of container {container} in {owner}'s manifest",
        Then::Recreate,
        IMAGES,
        "rpc error: code = NotFound desc = failed to pull and unpack image \"registry.example.invalid/app:1.0.1\": failed to resolve reference \"registry.example.invalid/app:1.0.1\": registry.example.invalid/app:1.0.1: not found"
    ),
    row!(
        "image-unauthorized",
        Kubelet,
        Said::Waiting { last: None },
        "ErrImagePull",
        ["401 Unauthorized", "403 Forbidden", "unauthorized", "authentication required", "denied"],
        Any,
        "the registry refuses the node's credentials",
        "give the pod a pull secret for the registry ({spec}.imagePullSecrets, or the ServiceAccount's imagePullSecrets)",
        Then::Recreate,
        IMAGES,
        "failed to pull and unpack image \"registry.example.invalid/app:1.0.0\": failed to authorize: failed to fetch anonymous token: unexpected status from GET request: 401 Unauthorized"
    ),
    row!(
        "image-registry-unreachable",
        Kubelet,
        Said::Waiting { last: None },
        "ErrImagePull",
        ["no such host", "i/o timeout", "connection refused", "TLS handshake timeout"],
        Any,
        "the node cannot reach the registry",
        "check that the nodes resolve and reach the registry (DNS, firewall, proxy), or fix the registry host in the image reference",
        Then::Retries(KUBELET_RETRIES),
        IMAGES,
        "failed to do request: Head \"https://registry.example.invalid/v2/app/manifests/1.0.0\": dial tcp: lookup registry.example.invalid: no such host"
    ),
    row!(
        "image-pull",
        Kubelet,
        Said::Waiting { last: None },
        "ErrImagePull",
        [],
        Any,
        "the image cannot be pulled",
        "check the image name and tag in the source and the pull secret",
        Then::Recreate,
        IMAGES,
        "failed to pull and unpack image \"registry.example.invalid/app:1.0.0\": unexpected EOF"
    ),
    row!(
        "image-pull-backoff",
        Kubelet,
        Said::Waiting { last: None },
        "ImagePullBackOff",
        [],
        Any,
        "the kubelet backs off pulling the image after failed pulls",
        "check the image name and tag in the source and the pull secret (the pod's Failed events say which)",
        Then::Recreate,
        IMAGES,
        "Back-off pulling image \"registry.example.invalid/app:1.0.1\""
    ),
    row!(
        "invalid-image-name",
        Kubelet,
        Said::Waiting { last: None },
        "InvalidImageName",
        [],
        Any,
        "the image reference is malformed",
        "fix the image reference of container {container} (registry/repository:tag, lower case)",
        Then::Recreate,
        IMAGES,
        "Failed to apply default image tag \"registry.example.invalid/App:1.0\": couldn't parse image name \"registry.example.invalid/App:1.0\": invalid reference format: repository name must be lowercase"
    ),
    row!(
        "image-never-pull",
        Kubelet,
        Said::Waiting { last: None },
        "ErrImageNeverPull",
        [],
        Any,
        "imagePullPolicy is Never and the image is not on the node",
        "set imagePullPolicy: IfNotPresent on container {container}, or load the image onto the nodes",
        Then::Recreate,
        IMAGES,
        "Container image \"app:dev\" is not present with pull policy of Never"
    ),
    // The kubelet creating and starting containers.
    row!(
        "config-secret-missing",
        Kubelet,
        Said::Waiting { last: None },
        "CreateContainerConfigError",
        ["secret \""],
        Any,
        "a Secret the container's env or envFrom names does not exist",
        "create the Secret the message names in namespace {ns} (or mark the reference optional: true)",
        Then::Retries(KUBELET_RETRIES),
        "kubernetes pkg/kubelet/kubelet_pods.go (makeEnvironmentVariables)",
        "secret \"db-credentials\" not found"
    ),
    row!(
        "config-config-map-missing",
        Kubelet,
        Said::Waiting { last: None },
        "CreateContainerConfigError",
        ["configmap \""],
        Any,
        "a ConfigMap the container's env or envFrom names does not exist",
        "create the ConfigMap the message names in namespace {ns} (or mark the reference optional: true)",
        Then::Retries(KUBELET_RETRIES),
        "kubernetes pkg/kubelet/kubelet_pods.go (makeEnvironmentVariables)",
        "configmap \"app-settings\" not found"
    ),
    row!(
        "config-key-missing",
        Kubelet,
        Said::Waiting { last: None },
        "CreateContainerConfigError",
        ["couldn't find key"],
        Any,
        "a key an env valueFrom names is not in its Secret or ConfigMap",
        "add the key to the Secret or ConfigMap, or fix env[].valueFrom.*KeyRef.key of container {container}",
        Then::Retries(KUBELET_RETRIES),
        "kubernetes pkg/kubelet/kubelet_pods.go (makeEnvironmentVariables)",
        "couldn't find key password in Secret shop/db-credentials"
    ),
    row!(
        "run-as-non-root-root-image",
        Kubelet,
        Said::Waiting { last: None },
        "CreateContainerConfigError",
        ["runAsNonRoot and image will run as root"],
        Any,
        "runAsNonRoot is set and the image runs as root",
        "set securityContext.runAsUser to a non-zero UID for container {container}, or use an image whose USER is not root",
        Then::Recreate,
        "kubernetes pkg/kubelet/kuberuntime/security_context_others.go (verifyRunAsNonRoot)",
        "container has runAsNonRoot and image will run as root (pod: \"db-migration-x7k2p_shop(1f0e6b3a)\", container: migration)"
    ),
    row!(
        "run-as-non-root-user-name",
        Kubelet,
        Said::Waiting { last: None },
        "CreateContainerConfigError",
        ["runAsNonRoot and image has non-numeric user", "runAsNonRoot and image has an invalid user id"],
        Any,
        "runAsNonRoot is set and the image names its user by name, which the kubelet cannot check",
        "set securityContext.runAsUser to the user's numeric UID for container {container}",
        Then::Recreate,
        "kubernetes pkg/kubelet/kuberuntime/security_context_others.go (verifyRunAsNonRoot)",
        "container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root (pod: \"db-migration-x7k2p_shop(1f0e6b3a)\", container: migration)"
    ),
    row!(
        "create-container-config",
        Kubelet,
        Said::Waiting { last: None },
        "CreateContainerConfigError",
        [],
        Any,
        "the kubelet cannot build the container's configuration",
        "fix what the message names in container {container}'s spec (env, volumes, securityContext)",
        Then::Recreate,
        RUNTIME_MANAGER,
        "failed to prepare subPath for volumeMount \"data\" of container \"migration\""
    ),
    row!(
        "create-container-no-executable",
        Runtime,
        Said::Waiting { last: None },
        "CreateContainerError",
        ["executable file not found", "no such file or directory"],
        Any,
        "the command the container runs is not in the image (CRI-O fails it at create)",
        "fix command or args of container {container} (the executable is not in the image)",
        Then::Recreate,
        "cri-o server/container_create.go; opencontainers/runc",
        "container create failed: runc create failed: unable to start container process: exec: \"migrate\": executable file not found in $PATH"
    ),
    row!(
        "create-container",
        Runtime,
        Said::Waiting { last: None },
        "CreateContainerError",
        [],
        Any,
        "the container runtime cannot create the container",
        "fix what the runtime names (a mount, device or name conflict in container {container}'s spec); kubectl describe node shows the runtime's state",
        Then::Recreate,
        RUNTIME_MANAGER,
        "failed to reserve container name \"migration_db-migration-x7k2p_shop_1f0e6b3a_0\": name is reserved"
    ),
    row!(
        "post-start-hook",
        Kubelet,
        Said::Waiting { last: None },
        "PostStartHookError",
        [],
        Any,
        "the container's postStart hook failed",
        "fix lifecycle.postStart of container {container}",
        Then::Recreate,
        RUNTIME_MANAGER,
        "Exec lifecycle hook ([/bin/sh -c /hooks/warm]) for Container \"migration\" in Pod \"db-migration-x7k2p_shop(1f0e6b3a)\" failed - error: command '/bin/sh -c /hooks/warm' exited with 1: , message: \"\""
    ),
    row!(
        "start-error-no-executable",
        Runtime,
        Said::Terminated(128),
        "StartError",
        ["executable file not found", "no such file or directory"],
        Any,
        "the command the container runs is not in the image",
        "fix command or args of container {container} (the executable is not in the image)",
        Then::Recreate,
        "containerd internal/cri/server/container_start.go; opencontainers/runc",
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"migrate\": executable file not found in $PATH: unknown"
    ),
    row!(
        "start-error",
        Runtime,
        Said::Terminated(128),
        "StartError",
        [],
        Any,
        "the runtime could not start the container",
        "fix what the runtime names in container {container}'s spec (command, mounts, securityContext)",
        Then::Recreate,
        "containerd internal/cri/server/container_start.go",
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: permission denied: unknown"
    ),
    row!(
        "container-cannot-run",
        Runtime,
        Said::Terminated(128),
        "ContainerCannotRun",
        [],
        Any,
        "the runtime could not run the container",
        "fix command or args of container {container} (what the runtime names)",
        Then::Recreate,
        "cri-dockerd; CRI-O server/container_start.go",
        "OCI runtime create failed: exec: \"migrate\": executable file not found in $PATH"
    ),
    // Crash loops: a Job's pod restarts until backoffLimit; a Deployment's forever.
    row!(
        "crash-loop-oom",
        Kubelet,
        Said::Waiting { last: Some(("OOMKilled", 137)) },
        "CrashLoopBackOff",
        ["(OOMKilled)"],
        Any,
        "the container keeps being killed for running out of memory",
        "raise resources.limits.memory of container {container} (or make it use less)",
        Then::Recreate,
        RUNTIME_MANAGER,
        "back-off 1m20s restarting failed container=migration pod=db-migration-x7k2p_shop(1f0e6b3a)"
    ),
    row!(
        "crash-loop-liveness",
        Kubelet,
        Said::Waiting { last: Some(("Error", 137)) },
        "CrashLoopBackOff",
        ["Liveness probe failed", "Liveness probe errored"],
        Any,
        "the kubelet keeps killing the container because its liveness probe fails",
        "fix livenessProbe of container {container} (path, port, initialDelaySeconds, timeoutSeconds; a startupProbe for slow starts) or what makes the app stop answering it",
        Then::Recreate,
        "kubernetes pkg/kubelet/prober/prober.go; pkg/kubelet/kuberuntime/kuberuntime_manager.go",
        "back-off 2m40s restarting failed container=app pod=app-7c9f8d6b5-x2x9q_shop(7a1c)"
    ),
    row!(
        "crash-loop-job",
        Kubelet,
        Said::Waiting { last: Some(("Error", 1)) },
        "CrashLoopBackOff",
        [],
        Job,
        "the Job's container keeps failing (restartPolicy OnFailure restarts it in place)",
        "read its logs (kubectl logs {pod} -n {ns} -c {container} --previous) and fix the cause; it restarts until the Job's backoffLimit",
        Then::Recreate,
        RUNTIME_MANAGER,
        "back-off 1m20s restarting failed container=migration pod=db-migration-x7k2p_shop(1f0e6b3a)"
    ),
    row!(
        "crash-loop",
        Kubelet,
        Said::Waiting { last: Some(("Error", 1)) },
        "CrashLoopBackOff",
        [],
        Rollout,
        "the container keeps exiting and is restarted with growing back-off",
        "read its logs (kubectl logs {pod} -n {ns} -c {container} --previous) and fix the app or its configuration",
        Then::Recreate,
        RUNTIME_MANAGER,
        "back-off 5m0s restarting failed container=app pod=app-7c9f8d6b5-x2x9q_shop(7a1c)"
    ),
    // Containers that ended.
    row!(
        "oom-killed",
        Kubelet,
        Said::Terminated(137),
        "OOMKilled",
        [],
        Any,
        "the container ran out of memory and was killed",
        "raise resources.limits.memory of container {container} (or make it use less)",
        Then::Recreate,
        "kubernetes pkg/kubelet/kuberuntime/kuberuntime_container.go (toKubeContainerStatus)",
        ""
    ),
    row!(
        "killed",
        Kubelet,
        Said::Terminated(137),
        "Error",
        ["exited with code 137"],
        Any,
        "the container was killed (SIGKILL): a failed liveness probe, a stop that outlasted terminationGracePeriodSeconds, or the kernel",
        "see the pod's events for who killed it; fix livenessProbe or make container {container} stop within terminationGracePeriodSeconds",
        Then::Recreate,
        "kubernetes pkg/kubelet/kuberuntime/kuberuntime_container.go",
        ""
    ),
    row!(
        "terminated",
        Kubelet,
        Said::Terminated(143),
        "Error",
        ["exited with code 143"],
        Any,
        "the container was stopped (SIGTERM) before it finished",
        "see the pod's events for who stopped it (a deadline, a deletion, a drain)",
        Then::Recreate,
        "kubernetes pkg/kubelet/kuberuntime/kuberuntime_container.go",
        ""
    ),
    row!(
        "exit-code",
        Kubelet,
        Said::Terminated(3),
        "Error",
        [],
        Any,
        "the container exited non-zero",
        "fix what made container {container} fail (its logs)",
        Then::Recreate,
        "kubernetes pkg/kubelet/kuberuntime/kuberuntime_container.go",
        "migration failed: relation \"orders\" does not exist\n"
    ),
    // The pod as a whole.
    row!(
        "pod-deadline",
        Kubelet,
        Said::PodStatus,
        "DeadlineExceeded",
        ["Pod was active on the node"],
        Any,
        "the pod ran past its own activeDeadlineSeconds and the kubelet stopped it",
        "raise {spec}.activeDeadlineSeconds (the pod's deadline, not the Job's) or make it faster",
        Then::Recreate,
        "kubernetes pkg/kubelet/active_deadline.go",
        "Pod was active on the node longer than the specified deadline"
    ),
    row!(
        "evicted-memory",
        Kubelet,
        Said::PodStatus,
        "Evicted",
        ["low on resource: memory"],
        Any,
        "the node ran low on memory and evicted the pod (pods over their memory request go first)",
        "set resources.requests.memory of the pod's containers to what they use (kubectl top pod), or give the node more memory",
        Then::Recreate,
        EVICTION,
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: 92160Ki. Container migration was using 1529856Ki, request is 0, has larger consumption of memory. "
    ),
    row!(
        "evicted-storage",
        Kubelet,
        Said::PodStatus,
        "Evicted",
        ["ephemeral-storage", "ephemeral local storage", "Usage of EmptyDir volume"],
        Any,
        "the pod used more local disk than its limit or the node had",
        "raise resources.limits.ephemeral-storage (or the emptyDir sizeLimit the message names), or write less to local disk",
        Then::Recreate,
        EVICTION,
        "Pod ephemeral local storage usage exceeds the total limit of containers 1Gi. "
    ),
    row!(
        "evicted",
        Kubelet,
        Said::PodStatus,
        "Evicted",
        [],
        Any,
        "the node ran out of a resource and evicted the pod",
        "read which resource (above); set the pod's requests to its use, or give the node more",
        Then::Recreate,
        EVICTION,
        "The node had condition: [DiskPressure]. "
    ),
    row!(
        "node-shutdown",
        Kubelet,
        Said::PodStatus,
        "Terminated",
        ["node shutdown"],
        Any,
        "the node shut down while the pod ran",
        "nothing in the pod to fix",
        Then::Recreate,
        "kubernetes pkg/kubelet/nodeshutdown/nodeshutdown_manager_linux.go",
        "Pod was terminated in response to imminent node shutdown."
    ),
    row!(
        "kubelet-admission",
        Kubelet,
        Said::PodStatus,
        "UnexpectedAdmissionError",
        [],
        Any,
        "the kubelet refused the pod when it arrived on the node",
        "read the kubelet's message (a device plugin or resource the node no longer has); kubectl describe node",
        Then::Recreate,
        "kubernetes pkg/kubelet/lifecycle/predicate.go",
        "Allocate failed due to no healthy devices present; cannot allocate unhealthy devices nvidia.com/gpu, which is unexpected"
    ),
    row!(
        "kubelet-out-of-cpu",
        Kubelet,
        Said::PodStatus,
        "OutOfcpu",
        [],
        Any,
        "the kubelet found too little CPU left when the pod arrived (a race with other pods)",
        "lower the pod's CPU requests or add capacity",
        Then::Recreate,
        "kubernetes pkg/kubelet/lifecycle/predicate.go",
        "Pod was rejected: Node didn't have enough resource: cpu, requested: 2000, used: 1500, capacity: 2000"
    ),
    row!(
        "kubelet-out-of-memory",
        Kubelet,
        Said::PodStatus,
        "OutOfmemory",
        [],
        Any,
        "the kubelet found too little memory left when the pod arrived (a race with other pods)",
        "lower the pod's memory requests or add capacity",
        Then::Recreate,
        "kubernetes pkg/kubelet/lifecycle/predicate.go",
        "Pod was rejected: Node didn't have enough resource: memory, requested: 4294967296, used: 1073741824, capacity: 4294967296"
    ),
    // Taken away by the control plane (condition DisruptionTarget): the exit code is a symptom.
    row!(
        "preempted",
        Scheduler,
        Said::PodCondition("DisruptionTarget"),
        "PreemptionByScheduler",
        [],
        Any,
        "a pod of higher priority took its place",
        "give the pod a higher priorityClassName, or add capacity{disruption}",
        Then::Recreate,
        DISRUPTION,
        "default-scheduler: preempting to accommodate a higher priority pod"
    ),
    row!(
        "evicted-by-api",
        Admission,
        Said::PodCondition("DisruptionTarget"),
        "EvictionByEvictionAPI",
        [],
        Any,
        "someone evicted it through the eviction API (a node drain, an autoscaler)",
        "nothing in the pod to fix; a PodDisruptionBudget limits evictions{disruption}",
        Then::Recreate,
        "kubernetes pkg/registry/core/pod/storage/eviction.go",
        "Eviction API: evicting"
    ),
    row!(
        "taint-deleted",
        Kubelet,
        Said::PodCondition("DisruptionTarget"),
        "DeletionByTaintManager",
        [],
        Any,
        "the node got a NoExecute taint the pod does not tolerate",
        "see the node's taint (kubectl describe node); tolerate it in {spec}.tolerations if the pod may stay",
        Then::Recreate,
        "kubernetes pkg/controller/tainteviction/taint_eviction.go",
        "Taint manager: deleting due to NoExecute taint"
    ),
    row!(
        "kubelet-terminated",
        Kubelet,
        Said::PodCondition("DisruptionTarget"),
        "TerminationByKubelet",
        [],
        Any,
        "the kubelet stopped it (node pressure or shutdown)",
        "see the node's conditions (kubectl describe node){disruption}",
        Then::Recreate,
        DISRUPTION,
        "The node was low on resource: memory."
    ),
    row!(
        "pod-gc",
        Kubelet,
        Said::PodCondition("DisruptionTarget"),
        "DeletionByPodGC",
        [],
        Any,
        "its node is gone and the pod garbage collector deleted it",
        "nothing in the pod to fix",
        Then::Recreate,
        "kubernetes pkg/controller/podgc/gc_controller.go",
        "PodGC: node no longer exists"
    ),
    // Running but never Ready.
    row!(
        "readiness-probe",
        Kubelet,
        Said::PodCondition("Ready"),
        "ContainersNotReady",
        ["Readiness probe failed", "Readiness probe errored"],
        Any,
        "the pod runs but its readiness probe keeps failing",
        "fix readinessProbe of container {container} (path, port, timeoutSeconds) or what the app answers it (kubectl logs {pod} -n {ns} -c {container})",
        Then::Recreate,
        "kubernetes pkg/kubelet/prober/prober.go; pkg/kubelet/status/generate.go",
        "containers with unready status: [app]"
    ),
    row!(
        "not-ready",
        Kubelet,
        Said::PodCondition("Ready"),
        "ContainersNotReady",
        [],
        Any,
        "the pod runs but is not Ready",
        "see why its readiness probe fails (its logs; kubectl describe pod {pod} -n {ns})",
        Then::Done,
        "kubernetes pkg/kubelet/status/generate.go",
        "containers with unready status: [app]"
    ),
    // A kubelet start failure, told by the newest event of a pod stuck in ContainerCreating.
    row!(
        "mount-missing-object",
        Kubelet,
        Said::PodEvent,
        "FailedMount",
        ["not found"],
        Any,
        "a volume's ConfigMap, Secret or PersistentVolumeClaim does not exist",
        "create the ConfigMap, Secret or PersistentVolumeClaim the message names in namespace {ns}, or fix {spec}.volumes",
        Then::Retries(KUBELET_RETRIES),
        "kubernetes pkg/kubelet/volumemanager/volume_manager.go",
        "MountVolume.SetUp failed for volume \"config\" : configmap \"migration-config\" not found"
    ),
    row!(
        "mount",
        Kubelet,
        Said::PodEvent,
        "FailedMount",
        [],
        Any,
        "a volume cannot be mounted",
        "fix the volume the message names (its storage, its CSI driver: kubectl describe pvc, kubectl get volumeattachments)",
        Then::Retries(KUBELET_RETRIES),
        "kubernetes pkg/kubelet/volumemanager/volume_manager.go",
        "Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[data]: timed out waiting for the condition"
    ),
    row!(
        "attach-volume",
        Kubelet,
        Said::PodEvent,
        "FailedAttachVolume",
        [],
        Any,
        "a volume cannot be attached to the node",
        "see the volume's attachment (kubectl get volumeattachments; often still attached to another node)",
        Then::Retries(KUBELET_RETRIES),
        "kubernetes pkg/controller/volume/attachdetach",
        "Multi-Attach error for volume \"pvc-1f0e\" Volume is already exclusively attached to one node and can't be attached to another"
    ),
    row!(
        "map-volume",
        Kubelet,
        Said::PodEvent,
        "FailedMapVolume",
        [],
        Any,
        "a block volume cannot be mapped",
        "see the volume's CSI driver (kubectl describe pvc)",
        Then::Retries(KUBELET_RETRIES),
        "kubernetes pkg/kubelet/volumemanager/volume_manager.go",
        "MapVolume.SetUpDevice failed for volume \"pvc-1f0e\" : device not found"
    ),
    row!(
        "sandbox",
        Runtime,
        Said::PodEvent,
        "FailedCreatePodSandBox",
        [],
        Any,
        "the node cannot create the pod's sandbox (its network, usually the CNI plugin)",
        "the node cannot start the pod (container runtime, network or devices); kubectl describe node shows its state",
        Then::Retries(KUBELET_RETRIES),
        "kubernetes pkg/kubelet/kuberuntime/kuberuntime_sandbox.go",
        "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"3f2a\": plugin type=\"calico\" failed (add): error getting ClusterInformation: connection is unauthorized"
    ),
    row!(
        "pod-container",
        Kubelet,
        Said::PodEvent,
        "FailedCreatePodContainer",
        [],
        Any,
        "the kubelet cannot create the pod's cgroup",
        "the node cannot start the pod (container runtime, network or devices); kubectl describe node shows its state",
        Then::Retries(KUBELET_RETRIES),
        "kubernetes pkg/kubelet/kubelet.go",
        "unable to ensure pod container exists: failed to create container for [kubepods besteffort pod1f0e]"
    ),
    row!(
        "dynamic-resources",
        Kubelet,
        Said::PodEvent,
        "FailedPrepareDynamicResources",
        [],
        Any,
        "the node cannot prepare the pod's ResourceClaims (a DRA driver)",
        "see the ResourceClaim and its driver (kubectl describe resourceclaims -n {ns})",
        Then::Retries(KUBELET_RETRIES),
        "kubernetes pkg/kubelet/cm/dra/manager.go",
        "Failed to prepare dynamic resources: NodePrepareResources failed for claim shop/gpu: driver unavailable"
    ),
    // The Job controller.
    row!(
        "backoff-limit-preempted",
        JobController,
        Said::JobCondition,
        "BackoffLimitExceeded",
        ["Preempted by"],
        Job,
        "its pods were preempted until the backoff limit ran out",
        "give the pod a higher priorityClassName, or add capacity; a podFailurePolicy rule (action: Ignore, onPodConditions: [{type: DisruptionTarget}]) keeps preemptions from counting",
        Then::Recreate,
        JOB_CONTROLLER,
        "Job has reached the specified backoff limit"
    ),
    row!(
        "backoff-limit",
        JobController,
        Said::JobCondition,
        "BackoffLimitExceeded",
        [],
        Job,
        "its pods failed backoffLimit + 1 times; when none is left to show, the events they left say why",
        "read the pods' events (and logs, if kept) above, fix the failure",
        Then::Recreate,
        JOB_CONTROLLER,
        "Job has reached the specified backoff limit"
    ),
    row!(
        "job-deadline",
        JobController,
        Said::JobCondition,
        "DeadlineExceeded",
        ["Job was active longer"],
        Job,
        "the Job ran past its spec.activeDeadlineSeconds and the Job controller stopped it",
        "raise spec.activeDeadlineSeconds of {owner} or make it faster",
        Then::Recreate,
        JOB_CONTROLLER,
        "Job was active longer than specified deadline"
    ),
    row!(
        "pod-failure-policy",
        JobController,
        Said::JobCondition,
        "PodFailurePolicy",
        [],
        Job,
        "a podFailurePolicy FailJob rule matched a pod's failure",
        "fix the failure the message names (container and exit code), or change spec.podFailurePolicy of {owner}",
        Then::Recreate,
        JOB_CONTROLLER,
        "Container migration for pod shop/db-migration-x7k2p failed with exit code 42 matching FailJob rule at index 0"
    ),
    row!(
        "failed-indexes",
        JobController,
        Said::JobCondition,
        "MaxFailedIndexesExceeded",
        [],
        Job,
        "more indexes failed than spec.maxFailedIndexes allows",
        "read the failed indexes' pods (status.failedIndexes of {owner}) and fix them",
        Then::Recreate,
        JOB_CONTROLLER,
        "Job has exceeded the specified maximal number of failed indexes"
    ),
    row!(
        "failed-index",
        JobController,
        Said::JobCondition,
        "FailedIndexes",
        [],
        Job,
        "some indexes failed their backoffLimitPerIndex",
        "read the failed indexes' pods (status.failedIndexes of {owner}) and fix them",
        Then::Recreate,
        JOB_CONTROLLER,
        "Job has failed indexes"
    ),
    // Admission refusing the Job controller's pods (its FailedCreate event).
    row!(
        "create-quota",
        Admission,
        Said::JobEvent,
        "FailedCreate",
        ["exceeded quota: "],
        Job,
        "a ResourceQuota refuses the pod",
        "raise the ResourceQuota or lower the pod's requests (kubectl describe resourcequota -n {ns})",
        Then::Retries(JOB_RETRIES),
        "kubernetes plugin/pkg/admission/resourcequota/controller.go",
        "Error creating: pods \"db-migration-x7k2p\" is forbidden: exceeded quota: compute, requested: requests.cpu=2, used: requests.cpu=0, limited: requests.cpu=1"
    ),
    row!(
        "create-limit-range",
        Admission,
        Said::JobEvent,
        "FailedCreate",
        [" usage per Container is ", " usage per Pod is ", " usage per PersistentVolumeClaim is "],
        Job,
        "a LimitRange refuses the pod's requests or limits",
        "fit the pod's requests and limits to the LimitRange (kubectl describe limitrange -n {ns})",
        Then::Retries(JOB_RETRIES),
        "kubernetes plugin/pkg/admission/limitranger/admission.go",
        "Error creating: pods \"db-migration-x7k2p\" is forbidden: maximum cpu usage per Container is 500m, but limit is 2"
    ),
    row!(
        "create-pod-security",
        Admission,
        Said::JobEvent,
        "FailedCreate",
        ["violates PodSecurity "],
        Job,
        "Pod Security admission refuses the pod",
        "make the pod template meet the namespace's Pod Security level (the message lists what fails), or change its pod-security.kubernetes.io/enforce label",
        Then::Retries(JOB_RETRIES),
        "k8s.io/pod-security-admission admission/admission.go",
        "Error creating: pods \"db-migration-x7k2p\" is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"migration\" must set securityContext.allowPrivilegeEscalation=false)"
    ),
    row!(
        "create-service-account",
        Admission,
        Said::JobEvent,
        "FailedCreate",
        ["error looking up service account "],
        Job,
        "the pod's ServiceAccount does not exist",
        "create the ServiceAccount or fix {spec}.serviceAccountName",
        Then::Retries(JOB_RETRIES),
        "kubernetes plugin/pkg/admission/serviceaccount/admission.go",
        "Error creating: pods \"db-migration-x7k2p\" is forbidden: error looking up service account shop/migrator: serviceaccount \"migrator\" not found"
    ),
    row!(
        "create-policy",
        Admission,
        Said::JobEvent,
        "FailedCreate",
        ["ValidatingAdmissionPolicy '", "admission webhook \""],
        Job,
        "an admission policy or webhook refuses the pod",
        "change the pod template (or the policy) as the policy's message asks",
        Then::Retries(JOB_RETRIES),
        "kubernetes staging/src/k8s.io/apiserver/pkg/admission/plugin/policy/validating",
        "Error creating: pods \"db-migration-x7k2p\" is forbidden: ValidatingAdmissionPolicy 'no-latest' with binding 'no-latest' denied request: images must be pinned"
    ),
    row!(
        "create",
        Admission,
        Said::JobEvent,
        "FailedCreate",
        [],
        Job,
        "the Job controller cannot create its pod",
        "read the message",
        Then::Retries(JOB_RETRIES),
        "kubernetes pkg/controller/controller_utils.go",
        "Error creating: Internal error occurred: resource quota evaluation timed out"
    ),
    // The Deployment controller, when no pod of the newest ReplicaSet shows a problem.
    row!(
        "progress-deadline",
        DeploymentController,
        Said::DeploymentCondition,
        "ProgressDeadlineExceeded",
        [],
        Rollout,
        "the newest ReplicaSet made no progress within progressDeadlineSeconds",
        "kubectl rollout status {owner} -n {ns}; its new pods say why",
        Then::Done,
        "kubernetes pkg/controller/deployment/util/deployment_util.go",
        "ReplicaSet \"app-7c9f8d6b5\" has timed out progressing."
    ),
    row!(
        "replica-set-create",
        DeploymentController,
        Said::DeploymentCondition,
        "FailedCreate",
        [],
        Rollout,
        "the ReplicaSet controller cannot create the Deployment's pods",
        "fix what the message names (quota, LimitRange, Pod Security, policy); the ReplicaSet controller retries by itself",
        Then::Done,
        "kubernetes pkg/controller/replicaset/replica_set.go",
        "pods \"app-7c9f8d6b5-x2x9q\" is forbidden: exceeded quota: compute"
    ),
    row!(
        "minimum-replicas",
        DeploymentController,
        Said::DeploymentCondition,
        "MinimumReplicasUnavailable",
        [],
        Rollout,
        "fewer pods are available than the rollout strategy requires",
        "kubectl rollout status {owner} -n {ns}; its pods say why",
        Then::Done,
        "kubernetes pkg/controller/deployment/util/deployment_util.go",
        "Deployment does not have minimum availability."
    ),
    // Patterns no single field names.
    row!(
        "sidecar-keeps-pod-running",
        Plugin,
        Said::Pattern,
        "SidecarKeepsPodRunning",
        [],
        Any,
        "the main container finished, but a second regular container (a proxy or mesh sidecar) keeps the pod, and so the Job, running",
        "make {container} a native sidecar: move it to {spec}.initContainers with restartPolicy: Always (Kubernetes 1.29+), so it stops when the Job's containers finish; or have it quit when the main container is done (the proxy's quit endpoint)",
        Then::Recreate,
        "kubernetes pkg/kubelet/kuberuntime/kuberuntime_container.go (computeInitContainerActions)",
        "container migration exited 0; container cloud-sql-proxy still runs"
    ),
];

/// What a root cause's evidence says, for matching rows.
pub(crate) struct Observed<'a> {
    pub(crate) reason: &'a str,
    /// The message and the events, where the variants are looked for.
    pub(crate) text: String,
    pub(crate) owner: Owner,
}

impl<'a> Observed<'a> {
    pub(crate) fn of(cause: &'a RootCause) -> Self {
        let owner_kind = cause.via.first().map(|v| v.kind.as_str()).unwrap_or(cause.kind.as_str());
        let owner = match owner_kind {
            "Job" => Owner::Job,
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => Owner::Rollout,
            _ => Owner::Any,
        };
        let mut text = cause.message.clone();
        for event in &cause.events {
            text.push('\n');
            text.push_str(event);
        }
        Observed { reason: cause.reason.as_str(), text, owner }
    }
}

/// The rows that describe what was observed: every row with a variant found in the text, else the
/// first row without variants; none when the catalog does not know the reason.
pub(crate) fn rows(observed: &Observed) -> Vec<&'static Row> {
    let candidates =
        CATALOG.iter().filter(|r| r.reason == observed.reason && (r.owner == Owner::Any || r.owner == observed.owner));
    let specific: Vec<&Row> =
        candidates.clone().filter(|r| r.variants.iter().any(|v| observed.text.contains(v))).collect();
    if !specific.is_empty() {
        return specific;
    }
    // The kubelet's back-off after failed pulls says only `Back-off pulling image`; the pull's own
    // error is in its `Failed` events, which the pull rows read.
    if observed.reason == "ImagePullBackOff" {
        let pulled = Observed { reason: "ErrImagePull", text: observed.text.clone(), owner: observed.owner };
        let specific: Vec<&Row> = rows(&pulled).into_iter().filter(|r| !r.variants.is_empty()).collect();
        if !specific.is_empty() {
            return specific;
        }
    }
    candidates.filter(|r| r.variants.is_empty()).take(1).collect()
}

/// The cause with the catalog rows that describe it.
pub(crate) fn with_failures(mut cause: RootCause) -> RootCause {
    cause.failures = rows(&Observed::of(&cause)).into_iter().map(|r| Failure { id: r.id, what: r.name }).collect();
    cause
}

/// The names a fix is filled in with.
pub(crate) struct Names<'a> {
    pub(crate) container: &'a str,
    pub(crate) pod: &'a str,
    pub(crate) namespace: &'a str,
    /// `job/NAME`, `deployment/NAME`; empty without an owner.
    pub(crate) owner: String,
    /// The pod spec's path in the owner's manifest.
    pub(crate) spec: &'static str,
    /// Whether a Job owns the pod (its backoffLimit counts failures a podFailurePolicy can ignore).
    pub(crate) of_job: bool,
}

/// What keeps a disruption from failing a Job (kubernetes pkg/controller/job/pod_failure_policy.go).
const DISRUPTION_IGNORED: &str = "; a podFailurePolicy rule (action: Ignore, onPodConditions: [{type: DisruptionTarget}]) keeps it from counting against backoffLimit";

impl Row {
    pub(crate) fn fix(&self, names: &Names) -> String {
        self.fix
            .replace("{container}", names.container)
            .replace("{pod}", names.pod)
            .replace("{ns}", names.namespace)
            .replace("{owner}", &names.owner)
            .replace("{spec}", names.spec)
            .replace("{disruption}", if names.of_job { DISRUPTION_IGNORED } else { "" })
    }
}

/// The hint of a root cause from its rows: their fixes, then what makes it go on. `recreate` is
/// what recreates the pod once its template is fixed (a rerun of the Job, or the next apply of a
/// rollout). `None` when no row knows the reason.
pub(crate) fn hint(cause: &RootCause, recreate: &str) -> Option<String> {
    let observed = Observed::of(cause);
    let rows = rows(&observed);
    let first = rows.first()?;
    let owner = cause.via.first().cloned().or_else(|| Some(cause.object()).filter(|o| o.kind != "Pod"));
    let names = Names {
        container: cause.container.as_deref().unwrap_or("(the container)"),
        pod: &cause.name,
        namespace: &cause.namespace,
        owner: owner.as_ref().map(|o| format!("{}/{}", o.kind.to_lowercase(), o.name)).unwrap_or_default(),
        spec: if owner.is_some() { "spec.template.spec" } else { "spec" },
        of_job: owner.as_ref().is_some_and(|o| o.kind == "Job"),
    };
    let mut fixes: Vec<String> = Vec::new();
    for row in &rows {
        let fix = row.fix(&names);
        if !fixes.contains(&fix) {
            fixes.push(fix);
        }
    }
    let fix = fixes.join("; ");
    Some(match first.then {
        Then::Recreate => format!("{fix}, then {recreate}"),
        Then::Retries(retries) => format!("{fix}; {retries}"),
        Then::Done => fix,
    })
}

/// README's catalog table (written and checked by a test).
#[cfg(test)]
pub(crate) fn markdown() -> String {
    let mut out = String::from(
        "| component | where | reason | message contains | on | what it is | the fix (then: recreate / retries) | read from |\n|---|---|---|---|---|---|---|---|\n",
    );
    for row in CATALOG {
        let variants = if row.variants.is_empty() {
            "(any other)".to_string()
        } else {
            row.variants.iter().map(|v| format!("`{}`", v.trim())).collect::<Vec<_>>().join(", ")
        };
        let owner = match row.owner {
            Owner::Any => "any",
            Owner::Job => "Job",
            Owner::Rollout => "Deployment, StatefulSet, DaemonSet",
        };
        let then = match row.then {
            Then::Recreate => " (then: recreate)".to_string(),
            Then::Retries(r) => format!(" ({r})"),
            Then::Done => String::new(),
        };
        out.push_str(&format!(
            "| {} | {} | `{}` | {} | {} | {} | {}{} | {} |\n",
            row.component.as_str(),
            row.said.as_str(),
            row.reason,
            variants.replace('|', "\\|"),
            owner,
            row.name,
            row.fix.replace('|', "\\|"),
            then,
            row.source
        ));
    }
    out
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
