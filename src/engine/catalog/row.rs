//! What a row of the failure catalog says: who reports the failure, where, in which words, and
//! the fix.

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
    pub(super) fn as_str(self) -> &'static str {
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
    pub(super) fn as_str(self) -> String {
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
