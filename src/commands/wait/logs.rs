//! Logs that outlive their Job: every container of a pod of the Jobs in scope (pre- and
//! post-deploy Jobs, Helm hooks) that ends during the wait (or had failed before it) is read once,
//! as soon as it has terminated, before
//! `ttlSecondsAfterFinished` or a `helm.sh/hook-delete-policy` deletes it (helm-controller keeps no
//! hook logs: Helm deletes a `hook-failed` hook right after it failed, helm.sh/helm/v4
//! pkg/action/hooks.go). Its tail is attached to the root cause that names the pod, or its Job
//! once that is gone; with `--logs-dir` the whole log is written there as
//! `NAMESPACE_POD_CONTAINER.log`.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use crate::cluster::{self, Connection};
use crate::model::Snapshot;
use crate::refs::MetaNames;
use crate::report::{ContainerRef, Report};
use crate::terminal;
use crate::vocabulary::Kind;

/// The label the Job controller puts on its pods (and the older one), naming the Job.
const JOB_NAME_LABELS: [&str; 2] = ["batch.kubernetes.io/job-name", "job-name"];

/// One container's log, read after it terminated.
struct Kept {
    job: String,
    /// It exited non-zero: the log a Job's failure is explained by.
    failed: bool,
    tail: Vec<String>,
}

/// The logs read so far, in one context.
pub(super) struct LogKeeper {
    /// When the wait began: containers that ended before it (an earlier rollout's) are not read,
    /// unless they failed.
    since: Timestamp,
    /// Last lines attached to a root cause.
    lines: u32,
    /// `--logs-dir`: where every log is written whole.
    dir: Option<PathBuf>,
    kept: HashMap<(String, String, String), Kept>,
    /// Containers whose log could not be read (said once).
    unreadable: BTreeSet<(String, String, String)>,
}

impl LogKeeper {
    pub(super) fn new(since: Timestamp, lines: u32, dir: Option<PathBuf>) -> Self {
        LogKeeper { since, lines, dir, kept: HashMap::new(), unreadable: BTreeSet::new() }
    }

    /// Reads the logs of the containers that terminated since the last picture, then attaches
    /// tails to the root causes that have none.
    pub(super) async fn keep(&mut self, conn: &Connection, snapshot: &Snapshot, report: &mut Report) {
        if self.lines == 0 && self.dir.is_none() {
            return;
        }
        let jobs: BTreeSet<(&str, &str)> = report
            .stages
            .iter()
            .flat_map(|s| {
                let hooks = s.hooks.iter().flatten().map(|h| (h.namespace.as_str(), h.name.as_str()));
                s.jobs.iter().map(|j| (j.namespace.as_str(), j.name.as_str())).chain(hooks)
            })
            .collect();
        let mut new: Vec<(ContainerRef, String, bool)> = Vec::new();
        for pod in &snapshot.pods {
            let Some(job) = job_of(pod) else { continue };
            if !jobs.contains(&(pod.metadata.namespace_str(), job)) {
                continue;
            }
            for (container, exit_code, finished) in terminated(pod) {
                if exit_code == 0 && finished.is_some_and(|at| at < self.since) {
                    continue;
                }
                let key = (pod.metadata.namespace_str().to_string(), pod.metadata.name_str().to_string(), container);
                if self.kept.contains_key(&key) || self.unreadable.contains(&key) {
                    continue;
                }
                let source = ContainerRef { namespace: key.0, pod: key.1, container: key.2, previous: false };
                new.push((source, job.to_string(), exit_code != 0));
            }
        }
        if !new.is_empty() {
            self.read(conn, new).await;
        }
        self.attach(report);
    }

    async fn read(&mut self, conn: &Connection, new: Vec<(ContainerRef, String, bool)>) {
        let sources: Vec<ContainerRef> = new.iter().map(|(source, _, _)| source.clone()).collect();
        let whole = self.dir.is_some();
        let lines = if whole { None } else { Some(self.lines) };
        let read = cluster::read::container_logs(conn, &sources, lines).await;
        for ((source, job, failed), log) in new.into_iter().zip(read) {
            let key = (source.namespace.clone(), source.pod.clone(), source.container.clone());
            let log = match log {
                Ok(log) => log,
                Err(warning) => {
                    terminal::warn(&warning);
                    self.unreadable.insert(key);
                    continue;
                }
            };
            if let Some(dir) = &self.dir {
                let path = dir.join(format!("{}_{}_{}.log", source.namespace, source.pod, source.container));
                let text: String = log.iter().map(|l| format!("{l}\n")).collect();
                if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, text)) {
                    terminal::warn(&format!("cannot write {}: {e}", path.display()));
                }
            }
            let skip = log.len().saturating_sub(self.lines as usize);
            self.kept.insert(key, Kept { job, failed, tail: log[skip..].to_vec() });
        }
    }

    /// A root cause without a log tail gets the one kept of its pod's container, or, for a Job
    /// (gone, or failed with its pods gone), of its last failed container.
    fn attach(&self, report: &mut Report) {
        let causes = report.stages.iter_mut().flat_map(|s| {
            let hooks = s.hooks.iter_mut().flatten().filter_map(|h| h.root_cause.as_mut());
            s.root_cause.as_mut().into_iter().chain(hooks)
        });
        for cause in causes.filter(|c| c.logs.is_none()) {
            let kept = match (&cause.kind, &cause.container) {
                (Kind::Pod, Some(container)) => {
                    self.kept.get(&(cause.namespace.clone(), cause.name.clone(), container.clone()))
                }
                (Kind::Job, _) => self
                    .kept
                    .iter()
                    .filter(|((ns, _, _), kept)| *ns == cause.namespace && kept.job == cause.name && kept.failed)
                    .map(|(_, kept)| kept)
                    .next(),
                _ => None,
            };
            if let Some(kept) = kept {
                cause.logs = Some(kept.tail.clone());
            }
        }
    }
}

fn job_of(pod: &Pod) -> Option<&str> {
    let labels = pod.metadata.labels.as_ref()?;
    JOB_NAME_LABELS.iter().find_map(|l| labels.get(*l)).map(String::as_str)
}

/// The containers of the pod that have terminated, with their exit codes and when they ended.
fn terminated(pod: &Pod) -> Vec<(String, i32, Option<Timestamp>)> {
    let Some(status) = &pod.status else { return vec![] };
    let statuses = status.init_container_statuses.iter().flatten().chain(status.container_statuses.iter().flatten());
    statuses
        .filter_map(|cs| {
            let done = cs.state.as_ref()?.terminated.as_ref()?;
            Some((cs.name.clone(), done.exit_code, done.finished_at.as_ref().map(|t| t.0)))
        })
        .collect()
}
