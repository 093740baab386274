//! Stages that apply to another cluster (`spec.kubeConfig`, a management cluster deploying to
//! workload clusters): their Jobs, Pods and Events are there, not here. Followed
//! (`--follow-kubeconfig`), a stage is diagnosed over that cluster's objects as if they were local;
//! not followed, what failed there is said to be there, never "missing".

use super::hints;
use super::index::Index;
use super::resolution::{Resolution, stage_cause};
use crate::model::{READ_KINDS, RemoteCluster, Role, StageObject};
use crate::refs::NamespacedName;
use crate::report::{Reason, RemoteReport};
use crate::vocabulary::{ConditionType, Kind};

/// Where a stage's objects are.
pub(crate) enum Site<'i, 'a> {
    Here,
    /// In another cluster whose objects were read: `index` is over them.
    Read {
        index: &'i Index<'a>,
        cluster: &'a RemoteCluster,
        report: RemoteReport,
    },
    /// In another cluster not read (not followed, a dump, workload identity), or that could not be.
    Unread(RemoteReport),
}

impl<'i, 'a> Site<'i, 'a> {
    /// The index a stage's own objects are looked up in.
    pub(crate) fn index(&self, here: &'i Index<'a>) -> &'i Index<'a> {
        match self {
            Site::Read { index, .. } => index,
            _ => here,
        }
    }

    pub(crate) fn report(&self) -> Option<RemoteReport> {
        match self {
            Site::Here => None,
            Site::Read { report, .. } | Site::Unread(report) => Some(report.clone()),
        }
    }
}

/// Where `stage`'s objects are.
pub(crate) fn site<'i, 'a>(index: &'i Index<'a>, stage: &dyn StageObject) -> Site<'i, 'a> {
    let Some(kube_config) = stage.kube_config() else { return Site::Here };
    let secret = kube_config.secret_ref.as_ref().map(|r| NamespacedName::new(stage.namespace(), &r.name));
    let config_map = kube_config.config_map_ref.as_ref().map(|r| format!("{}/{}", stage.namespace(), r.name));
    let mut report = RemoteReport {
        secret: secret.as_ref().map(ToString::to_string),
        config_map,
        server: None,
        followed: false,
        error: None,
    };
    let Some((cluster, remote_index)) = secret.as_ref().and_then(|s| index.remote(s)) else {
        return Site::Unread(report);
    };
    report.server.clone_from(&cluster.server);
    match (&cluster.workloads, remote_index) {
        (Ok(_), Some(remote_index)) => {
            report.followed = true;
            Site::Read { index: remote_index, cluster, report }
        }
        (Err(error), _) => {
            report.error = Some(error.clone());
            Site::Unread(report)
        }
        (Ok(_), None) => Site::Unread(report),
    }
}

/// Whether a cause is about the stage's applied objects (a Job, a Pod, a health check on them),
/// rather than about the stage's own build, apply or source.
fn about_applied_objects(stage: &dyn StageObject, r: &Resolution) -> bool {
    let object = r.cause.object();
    match object.as_stage() {
        Some(id) if id == stage.id() => r.cause.reason == "HealthCheckFailed" || r.cause.reason == Reason::JobDeleted,
        Some(_) => false,
        None => !READ_KINDS.iter().any(|k| k.role == Role::Source && k.api.kind == object.kind.as_str()),
    }
}

/// The resolution of a stage whose objects are in another cluster: followed, the cause found
/// there names the cluster; not followed, a cause about them is the stage's own message, said to
/// be in that cluster, with how to look there.
pub(crate) fn explain(stage: &dyn StageObject, site: &Site, mut r: Resolution) -> Resolution {
    match site {
        Site::Here => r,
        Site::Read { cluster, report, .. } => {
            if about_applied_objects(stage, &r) {
                r.cause.cluster.clone_from(&cluster.server);
                let server = cluster.server.as_deref().unwrap_or("?");
                r.hint =
                    format!("in the cluster at {server} ({}): {}", report.via(), rerun_elsewhere(stage, &r, report));
            }
            r
        }
        Site::Unread(report) if about_applied_objects(stage, &r) => {
            let ready = stage.condition(ConditionType::Ready);
            let observed = ready.map(|c| c.reason.to_string()).unwrap_or_else(|| r.cause.reason.to_string());
            let message = ready.map(|c| c.message.clone()).unwrap_or_else(|| r.cause.message.clone());
            let cause = stage_cause(stage, Reason::RemoteCluster { observed, via: report.via() }, message);
            Resolution { cause, hint: hints::remote_cluster(report), ..r }
        }
        Site::Unread(_) => r,
    }
}

/// A hint's rerun reaches the cluster the command runs against, not the one the Job is in: there,
/// the Job is deleted by hand and the stage reconciled, which applies it again.
fn rerun_elsewhere(stage: &dyn StageObject, r: &Resolution, report: &RemoteReport) -> String {
    let Some(at) = r.hint.find("kubectl fluxjobs rerun ") else { return r.hint.clone() };
    let job = std::iter::once(r.cause.object()).chain(r.cause.via.iter().cloned()).find(|o| o.kind == Kind::Job);
    let Some(job) = job else { return r.hint.clone() };
    let before = r.hint[..at].trim_end().trim_end_matches(", then").trim_end_matches(',');
    format!(
        "{before}; then delete the Job in that cluster (kubectl --kubeconfig <the kubeconfig in {}> delete job {} -n {}) and {}, which applies it again (rerun reaches one cluster only)",
        report.via().trim_start_matches("kubeConfig "),
        job.name,
        job.namespace,
        hints::reconcile_stage(&stage.id())
    )
}
