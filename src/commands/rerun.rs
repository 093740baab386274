//! `kubectl fluxjobs rerun`: delete a finished or stuck Job safely and let Flux recreate it.
//!
//! Kubernetes cannot restart a Job, and kustomize-controller re-creates one only when it is gone
//! or its spec changed with `force` (flux-facts §3.3): a failed migration stays failed until it is
//! deleted. The order of steps is what makes it safe: every check before any write, a restorable
//! backup before the delete, a uid precondition on the delete, and on any error or Ctrl-C after the
//! backup the command says whether the Job was deleted and how to restore it from the backup.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use super::follow::{self, StageOutcome};
use super::status::connect_options;
use crate::cli::{GlobalArgs, RerunArgs};
use crate::cluster::write::{self, Created, Deleted};
use crate::cluster::{self, Connection};
use crate::engine::workload::{job_state, pod_problem};
use crate::model::{Kustomization, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL};
use crate::report::JobState;
use crate::terminal;

/// What the user named.
#[derive(Debug, PartialEq)]
pub enum Target {
    Job(String),
    Stage(String),
}

pub fn parse_target(s: &str) -> anyhow::Result<Target> {
    match s.split_once('/') {
        None if !s.is_empty() => Ok(Target::Job(s.to_string())),
        Some((kind, name)) if !name.is_empty() && !name.contains('/') => match kind.to_lowercase().as_str() {
            "job" | "jobs" | "job.batch" | "jobs.batch" => Ok(Target::Job(name.to_string())),
            "ks" | "kustomization" | "kustomizations" | "kustomization.kustomize.toolkit.fluxcd.io" => {
                Ok(Target::Stage(name.to_string()))
            }
            _ => bail!("cannot rerun {s:?}: name a Job (job/NAME or NAME) or a stage (ks/NAME)"),
        },
        _ => bail!("cannot rerun {s:?}: name a Job (job/NAME or NAME) or a stage (ks/NAME)"),
    }
}

/// How the Job comes back after the delete.
#[derive(Debug, PartialEq)]
pub enum Mode {
    /// kustomize-controller recreates it from Git on the requested reconcile.
    FluxRecreates,
    /// rerun recreates it from the saved live spec, for the reason given.
    FromLiveSpec(String),
}

/// The checks before any write: `Err` is a refusal with the way out.
pub fn decide(
    job: &Job,
    owner: Option<&Kustomization>,
    owner_id: Option<&str>,
    force: bool,
    recreate: bool,
) -> Result<Mode, String> {
    let id = format!(
        "{}/{}",
        job.metadata.namespace.as_deref().unwrap_or_default(),
        job.metadata.name.as_deref().unwrap_or_default()
    );
    if let Some(ks) = owner
        && ks.spec.suspend
    {
        return Err(format!(
            "Job {id} belongs to stage {} which is suspended: Flux would not recreate it. Resume it first: flux resume kustomization {} -n {}",
            ks.id(),
            ks.name(),
            ks.namespace()
        ));
    }
    match (owner_id, owner, recreate) {
        (None, _, false) => {
            return Err(format!(
                "Job {id} is not managed by Flux (no {OWNER_NAME_LABEL} label), so nothing would recreate it. Pass --recreate to recreate it from its live spec"
            ));
        }
        (Some(owner_id), None, false) => {
            return Err(format!(
                "Job {id} belongs to Kustomization {owner_id}, which does not exist (any more). Pass --recreate to recreate it from its live spec"
            ));
        }
        _ => {}
    }
    let (state, _, _) = job_state(job);
    if matches!(state, JobState::Running | JobState::Pending) && !force {
        let active = job.status.as_ref().and_then(|s| s.active).unwrap_or(0);
        return Err(format!(
            "Job {id} is still running ({active} active pod{}); pass --force to delete it anyway",
            if active == 1 { "" } else { "s" }
        ));
    }
    if recreate || owner.is_none() {
        return Ok(Mode::FromLiveSpec("--recreate".into()));
    }
    let ks = owner.expect("checked above");
    // kustomize-controller waits for a deleted Job until the health check's timeout, unless the
    // Job's manifest sets ttlSecondsAfterFinished (fluxcd/pkg ssa ExtractJobsWithTTL); without the
    // CancelHealthCheckOnNewRevision gate our reconcile request waits behind that check too.
    let checking = ks
        .condition("Reconciling")
        .is_some_and(|c| c.status == "True" && c.message.starts_with("Running health checks"));
    let has_ttl = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished).is_some();
    if checking && !has_ttl {
        return Ok(Mode::FromLiveSpec(format!(
            "kustomize-controller is running a health check of {} and would wait for the deleted Job until its timeout",
            ks.id()
        )));
    }
    Ok(Mode::FluxRecreates)
}

/// The Job as it can be created again: server-set fields stripped (uid, resourceVersion,
/// creationTimestamp, generation, managedFields, status), and the selector and labels the Job
/// controller generates from the old uid (`controller-uid`, `job-name`), which the API server sets
/// anew for the new Job.
pub fn restorable(job: &Job) -> Job {
    const GENERATED: [&str; 4] =
        ["controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name"];
    let mut job = job.clone();
    let meta = &mut job.metadata;
    meta.uid = None;
    meta.resource_version = None;
    meta.creation_timestamp = None;
    meta.generation = None;
    meta.managed_fields = None;
    meta.self_link = None;
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
    meta.finalizers = None;
    if let Some(labels) = meta.labels.as_mut() {
        labels.retain(|k, _| !GENERATED.contains(&k.as_str()));
    }
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("batch.kubernetes.io/job-tracking");
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    job.status = None;
    if let Some(spec) = job.spec.as_mut() {
        if spec.manual_selector != Some(true) {
            spec.selector = None;
        }
        if let Some(labels) = spec.template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.retain(|k, _| !GENERATED.contains(&k.as_str()));
        }
    }
    job
}

/// A Job to rerun, after the checks.
struct Plan {
    job: Job,
    owner: Option<Kustomization>,
    mode: Mode,
}

impl Plan {
    fn id(&self) -> String {
        format!("{}/{}", self.namespace(), self.name())
    }
    fn namespace(&self) -> &str {
        self.job.metadata.namespace.as_deref().unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.job.metadata.name.as_deref().unwrap_or_default()
    }
    fn uid(&self) -> &str {
        self.job.metadata.uid.as_deref().unwrap_or_default()
    }
    fn describe(&self) -> String {
        let (state, reason, _) = job_state(&self.job);
        let state = match reason {
            Some(r) => format!("{} ({r})", state.as_str()),
            None => state.as_str().to_string(),
        };
        let how = match &self.mode {
            Mode::FluxRecreates => format!(
                "delete it, then ask kustomize-controller to reconcile {} so it recreates the Job from Git",
                self.owner.as_ref().map(|k| k.id()).unwrap_or_default()
            ),
            Mode::FromLiveSpec(why) => {
                let then = match &self.owner {
                    Some(ks) => format!(", then ask kustomize-controller to reconcile {}", ks.id()),
                    None => String::new(),
                };
                format!("delete it and recreate it from its live spec ({why}){then}")
            }
        };
        format!("Job {} [{state}, uid {}]: {how}", self.id(), self.uid())
    }
}

fn owner_id(job: &Job) -> Option<(String, String)> {
    let labels = job.metadata.labels.as_ref()?;
    Some((labels.get(OWNER_NAMESPACE_LABEL)?.clone(), labels.get(OWNER_NAME_LABEL)?.clone()))
}

/// Namespaces a stage deploys Jobs into: its inventory's, its targetNamespace, its own.
fn stage_namespaces(ks: &Kustomization) -> Vec<String> {
    let mut out: Vec<String> =
        crate::engine::inventory_objects(ks, "batch", "Job").into_iter().map(|(ns, _)| ns).collect();
    out.extend(ks.spec.target_namespace.clone().filter(|ns| !ns.is_empty()));
    out.push(ks.namespace().to_string());
    out.sort();
    out.dedup();
    out
}

pub async fn run(global: &GlobalArgs, args: &RerunArgs) -> anyhow::Result<ExitCode> {
    let targets = args.targets.iter().map(|t| parse_target(t)).collect::<anyhow::Result<Vec<_>>>()?;
    let timeout = follow::parse_timeout(&args.timeout)?;
    let conn = cluster::connect(&connect_options(global)?).await?;
    let ns = global.namespace.clone().unwrap_or_else(|| conn.default_namespace.clone());

    // Every check first: one refused target refuses the whole command, before any write.
    let mut plans = Vec::new();
    // Owning Kustomizations, read once each however many of their Jobs are named.
    let mut owners: std::collections::HashMap<(String, String), Option<Kustomization>> = Default::default();
    for target in &targets {
        let jobs = match target {
            Target::Job(name) => {
                vec![write::get_job(&conn, &ns, name).await?.with_context(|| format!("Job {ns}/{name} not found"))?]
            }
            Target::Stage(name) => {
                let ks = write::get_kustomization(&conn, &ns, name)
                    .await?
                    .with_context(|| format!("Kustomization {ns}/{name} not found"))?;
                let jobs = write::stage_jobs(&conn, &ks, &stage_namespaces(&ks)).await?;
                if jobs.is_empty() {
                    bail!("stage {} has no Jobs in the cluster", ks.id());
                }
                jobs
            }
        };
        for job in jobs {
            let owner_id = owner_id(&job);
            let owner = match &owner_id {
                Some(key) => match owners.get(key) {
                    Some(cached) => cached.clone(),
                    None => {
                        let owner = write::get_kustomization(&conn, &key.0, &key.1).await?;
                        owners.insert(key.clone(), owner.clone());
                        owner
                    }
                },
                None => None,
            };
            let label = owner_id.as_ref().map(|(ns, n)| format!("{ns}/{n}"));
            let mode = decide(&job, owner.as_ref(), label.as_deref(), args.force, args.recreate)
                .map_err(|refusal| anyhow::anyhow!("refusing to rerun: {refusal}"))?;
            if !plans.iter().any(|p: &Plan| p.job.metadata.uid == job.metadata.uid) {
                plans.push(Plan { job, owner, mode });
            }
        }
    }

    let backup_dir = match &args.backup_dir {
        Some(dir) => dir.clone(),
        None => default_backup_dir()?,
    };
    for plan in &plans {
        terminal::step("►", &plan.describe());
    }
    if args.dry_run {
        for plan in &plans {
            terminal::step("◎", &format!("dry run: would save {} to {}", plan.id(), backup_dir.display()));
            terminal::step(
                "◎",
                &format!(
                    "dry run: would delete Job {} (propagation Background, precondition uid {})",
                    plan.id(),
                    plan.uid()
                ),
            );
            if let Some(ks) = &plan.owner {
                terminal::step(
                    "◎",
                    &format!("dry run: would set reconcile.fluxcd.io/requestedAt on Kustomization {}", ks.id()),
                );
            }
        }
        terminal::step("✔", "dry run: nothing was changed");
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes && terminal::interactive() {
        let question = format!("Delete {} Job{} as above?", plans.len(), if plans.len() == 1 { "" } else { "s" });
        if !terminal::confirm(&question) {
            bail!("aborted; nothing was changed");
        }
    }

    // From here on an interrupt must not leave a deleted Job unexplained: Ctrl-C is caught (after
    // the confirmation, where it still just aborts) and answered with the way to restore.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut failed = false;
    for plan in &plans {
        let backup = save_backup(&backup_dir, &plan.job)?;
        terminal::step("✔", &format!("saved {} to {}", plan.id(), backup.display()));
        let progress = Cell::new(Progress::NothingDeleted);
        let requested = tokio::select! {
            result = execute(&conn, plan, &backup, timeout, &progress) => result
                .map_err(|e| anyhow::anyhow!("{e:#}\n{}", progress.get().advice(plan, &backup)))?,
            _ = &mut interrupted => {
                eprintln!("error: interrupted\n{}", progress.get().advice(plan, &backup));
                return Ok(ExitCode::from(INTERRUPTED));
            }
        };
        if args.wait {
            tokio::select! {
                ok = follow_rerun(&conn, global, args, plan, requested.as_deref(), timeout) => failed |= !ok,
                _ = &mut interrupted => {
                    eprintln!("error: interrupted while following Job {}\n{}", plan.id(), Progress::Restored.advice(plan, &backup));
                    return Ok(ExitCode::from(INTERRUPTED));
                }
            }
        }
    }
    if failed {
        bail!("the rerun did not succeed; see above");
    }
    Ok(ExitCode::SUCCESS)
}

fn default_backup_dir() -> anyhow::Result<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))
        .context("cannot choose a backup directory: set --backup-dir, XDG_STATE_HOME or HOME")?;
    Ok(state.join("kubectl-fluxjobs/backups"))
}

fn save_backup(dir: &Path, job: &Job) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the backup directory {}", dir.display()))?;
    let stamp = k8s_openapi::jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
    let ns = job.metadata.namespace.as_deref().unwrap_or_default();
    let name = job.metadata.name.as_deref().unwrap_or_default();
    let uid = job.metadata.uid.as_deref().unwrap_or_default();
    let path = dir.join(format!("{ns}.{name}.{}.{stamp}.yaml", &uid[..uid.len().min(8)]));
    let mut value = serde_json::to_value(restorable(job))?;
    value["apiVersion"] = "batch/v1".into();
    value["kind"] = "Job".into();
    let text = format!(
        "# Job {ns}/{name} (uid {uid}) saved by kubectl-fluxjobs rerun before deleting it.\n# Restore: kubectl create -f {}\n{}",
        path.display(),
        serde_saphyr::to_string(&value)?
    );
    std::fs::write(&path, text).with_context(|| format!("cannot write the backup {}", path.display()))?;
    Ok(path)
}

/// The exit code of a command stopped by Ctrl-C, as shells report it (128 + SIGINT).
const INTERRUPTED: u8 = 130;

/// How far `execute` got, so that an error or an interrupt tells the user exactly what to do.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Progress {
    /// The delete was not confirmed by the API server (it may still have been applied).
    NothingDeleted,
    /// The Job was deleted and nothing has brought it back yet.
    Deleted,
    /// The Job exists again, or kustomize-controller was asked to recreate it.
    Restored,
}

impl Progress {
    fn advice(self, plan: &Plan, backup: &Path) -> String {
        let (ns, name) = (plan.namespace(), plan.name());
        let restore = format!("kubectl create -f {}", backup.display());
        let flux = plan.owner.as_ref().map(|ks| {
            format!(" or let Flux recreate it: flux reconcile kustomization {} -n {}", ks.name(), ks.namespace())
        });
        match self {
            Progress::NothingDeleted => format!(
                "The Job may not have been deleted; if `kubectl get job {name} -n {ns}` does not find it, restore it with: {restore}"
            ),
            Progress::Deleted => {
                format!("The Job was deleted; restore it with: {restore}{}", flux.unwrap_or_default())
            }
            Progress::Restored => format!(
                "Nothing to restore: the Job was recreated or kustomize-controller was asked to; the backup stays at {}",
                backup.display()
            ),
        }
    }
}

/// Delete, wait until gone, recreate when asked, request the reconcile, recording each step in
/// `progress`. Returns the reconcile request token, if one was sent.
async fn execute(
    conn: &Connection,
    plan: &Plan,
    backup: &Path,
    timeout: Duration,
    progress: &Cell<Progress>,
) -> anyhow::Result<Option<String>> {
    let (ns, name, uid) = (plan.namespace(), plan.name(), plan.uid());
    let deleted = write::delete_job(conn, ns, name, uid).await?;
    progress.set(match deleted {
        Deleted::Replaced => Progress::Restored,
        Deleted::Deleted | Deleted::Gone => Progress::Deleted,
    });
    match deleted {
        Deleted::Deleted => {
            terminal::step("►", &format!("deleted Job {ns}/{name} (uid {uid}); waiting until it is gone"));
            write::wait_job_gone(conn, ns, name, uid, timeout).await.map_err(anyhow::Error::msg)?;
            terminal::step("✔", &format!("Job {ns}/{name} is gone"));
        }
        Deleted::Gone => terminal::step("✔", &format!("Job {ns}/{name} was already gone")),
        Deleted::Replaced => {
            terminal::step("✔", &format!("Job {ns}/{name} was recreated meanwhile (another uid); it was left alone"))
        }
    }
    if let Mode::FromLiveSpec(_) = plan.mode {
        let text = std::fs::read_to_string(backup)?;
        let manifest: Job = serde_saphyr::from_str(&text).context("cannot read the backup back")?;
        match write::create_job(conn, &manifest).await? {
            Created::Created(job) => terminal::step(
                "✔",
                &format!("recreated Job {ns}/{name} from its live spec (uid {})", job.metadata.uid.unwrap_or_default()),
            ),
            Created::Exists => {
                terminal::step("✔", &format!("Job {ns}/{name} exists again (kustomize-controller was first)"))
            }
        }
        progress.set(Progress::Restored);
    }
    let Some(ks) = &plan.owner else { return Ok(None) };
    let token = write::request_token();
    write::request_reconcile(conn, "Kustomization", ks.namespace(), ks.name(), &token).await?;
    progress.set(Progress::Restored);
    terminal::step("✔", &format!("requested a reconcile of Kustomization {} (requestedAt {token})", ks.id()));
    Ok(Some(token))
}

/// `--wait`: the new Job from creation to Complete, then its stage to Ready. Prints the root cause
/// and returns false on failure.
async fn follow_rerun(
    conn: &Connection,
    global: &GlobalArgs,
    args: &RerunArgs,
    plan: &Plan,
    token: Option<&str>,
    timeout: Duration,
) -> bool {
    let stage_id = plan.owner.as_ref().map(|k| k.id());
    let job_ok = follow_job(conn, plan.namespace(), plan.name(), plan.uid(), timeout).await;
    if !job_ok {
        if let Some(id) = &stage_id {
            follow::explain(conn, global, id, args.logs).await;
        }
        return false;
    }
    let (Some(ks), Some(token)) = (&plan.owner, token) else { return true };
    terminal::step("◎", &format!("waiting for stage {} to be Ready", ks.id()));
    let start = Instant::now();
    match follow::wait_stage(conn, ks.namespace(), ks.name(), token, timeout).await {
        StageOutcome::Ready(revision) => {
            let at = revision.map(|r| format!(" at {r}")).unwrap_or_default();
            terminal::step("✔", &format!("stage {} Ready{at} ({})", ks.id(), follow::took(start.elapsed())));
            true
        }
        StageOutcome::Failed(reason, message) => {
            terminal::step("✗", &format!("stage {} {reason}: {message}", ks.id()));
            follow::explain(conn, global, &ks.id(), args.logs).await;
            false
        }
        StageOutcome::TimedOut(last) => {
            terminal::step("✗", &format!("stage {} not Ready after {}: {last}", ks.id(), follow::took(timeout)));
            follow::explain(conn, global, &ks.id(), args.logs).await;
            false
        }
    }
}

/// Follows the Job that replaces `old_uid`: created, scheduled, running, Complete or Failed. One
/// GET of the Job and one LIST of its Pods per second.
async fn follow_job(conn: &Connection, ns: &str, name: &str, old_uid: &str, timeout: Duration) -> bool {
    let start = Instant::now();
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), ns);
    let mut seen: Vec<String> = Vec::new();
    let mut say = |line: String, glyph: &str| {
        if !seen.contains(&line) {
            terminal::step(glyph, &line);
            seen.push(line);
        }
    };
    say(format!("waiting for the new Job {ns}/{name}"), "◎");
    loop {
        if start.elapsed() > timeout {
            say(format!("Job {ns}/{name} did not finish within {}", follow::took(timeout)), "✗");
            return false;
        }
        let job = match write::get_job(conn, ns, name).await {
            Ok(Some(job)) if job.metadata.uid.as_deref() != Some(old_uid) => job,
            Ok(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => {
                say(format!("cannot read Job {ns}/{name}: {e}"), "✗");
                return false;
            }
        };
        let uid = job.metadata.uid.clone().unwrap_or_default();
        say(format!("Job {ns}/{name} created (uid {uid})"), "✔");
        let selector = format!("batch.kubernetes.io/controller-uid={uid}");
        if let Ok(list) = pods.list(&ListParams::default().labels(&selector)).await {
            for pod in &list.items {
                let pod_name = pod.metadata.name.clone().unwrap_or_default();
                let status = pod.status.as_ref();
                let scheduled = status
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "PodScheduled" && c.status == "True"));
                if scheduled {
                    let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
                    say(format!("Pod {pod_name} scheduled on {node}"), "✔");
                }
                if let Some(problem) = pod_problem(pod) {
                    let code = problem.exit_code.map(|c| format!(" (exit code {c})")).unwrap_or_default();
                    say(format!("Pod {pod_name}: {}{code}: {}", problem.reason, problem.message), "✗");
                } else if let Some(phase) = status.and_then(|s| s.phase.clone()) {
                    say(format!("Pod {pod_name} {phase}"), "◎");
                }
            }
        }
        match job_state(&job) {
            (JobState::Complete, _, _) => {
                say(format!("Job {ns}/{name} Complete ({})", follow::took(start.elapsed())), "✔");
                return true;
            }
            (JobState::Failed, reason, message) => {
                say(
                    format!("Job {ns}/{name} Failed: {}: {}", reason.unwrap_or_default(), message.unwrap_or_default()),
                    "✗",
                );
                return false;
            }
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(extra: serde_json::Value) -> Job {
        let mut v = json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "db-migration", "namespace": "shop", "uid": "u-1", "resourceVersion": "42",
                         "creationTimestamp": "2026-11-24T10:00:00Z", "generation": 1,
                         "managedFields": [{"manager": "kustomize-controller", "operation": "Apply"}],
                         "labels": {"kustomize.toolkit.fluxcd.io/name": "app-pre-deploy", "kustomize.toolkit.fluxcd.io/namespace": "shop",
                                    "controller-uid": "u-1", "batch.kubernetes.io/controller-uid": "u-1", "job-name": "db-migration",
                                    "batch.kubernetes.io/job-name": "db-migration"}},
            "spec": {"backoffLimit": 0,
                     "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}},
                     "template": {"metadata": {"labels": {"app": "migration", "controller-uid": "u-1",
                                                           "batch.kubernetes.io/controller-uid": "u-1", "job-name": "db-migration",
                                                           "batch.kubernetes.io/job-name": "db-migration"}},
                                  "spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "app:1"}]}}},
            "status": {"startTime": "2026-11-24T10:00:00Z", "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]},
        });
        json_patch(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    fn json_patch(v: &mut serde_json::Value, patch: serde_json::Value) {
        match (v, patch) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, pv) in b {
                    json_patch(a.entry(k).or_insert(serde_json::Value::Null), pv);
                }
            }
            (slot, p) => *slot = p,
        }
    }

    fn ks(extra: serde_json::Value) -> Kustomization {
        let mut v = json!({"metadata": {"name": "app-pre-deploy", "namespace": "shop"},
                           "spec": {"sourceRef": {"kind": "GitRepository", "name": "app"}, "force": true, "wait": true}});
        json_patch(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    const OWNER: Option<&str> = Some("shop/app-pre-deploy");

    #[test]
    fn an_interrupt_or_error_says_what_to_restore_at_each_step() {
        let plan = Plan { job: job(json!({})), owner: Some(ks(json!({}))), mode: Mode::FluxRecreates };
        let backup = Path::new("/backups/shop.db-migration.yaml");
        let before = Progress::NothingDeleted.advice(&plan, backup);
        assert!(
            before.contains("may not have been deleted") && before.contains("kubectl get job db-migration -n shop")
        );
        assert!(before.contains("kubectl create -f /backups/shop.db-migration.yaml"));
        let deleted = Progress::Deleted.advice(&plan, backup);
        assert!(deleted.starts_with("The Job was deleted; restore it with: kubectl create -f /backups/"));
        assert!(deleted.ends_with("or let Flux recreate it: flux reconcile kustomization app-pre-deploy -n shop"));
        let unowned = Plan { owner: None, ..plan };
        assert!(!Progress::Deleted.advice(&unowned, backup).contains("flux reconcile"));
        assert!(Progress::Restored.advice(&unowned, backup).starts_with("Nothing to restore"));
    }

    #[test]
    fn parses_targets_like_kubectl() {
        assert_eq!(parse_target("db-migration").unwrap(), Target::Job("db-migration".into()));
        assert_eq!(parse_target("job/db-migration").unwrap(), Target::Job("db-migration".into()));
        assert_eq!(parse_target("jobs.batch/x").unwrap(), Target::Job("x".into()));
        assert_eq!(parse_target("ks/app-pre-deploy").unwrap(), Target::Stage("app-pre-deploy".into()));
        assert_eq!(parse_target("kustomization/a").unwrap(), Target::Stage("a".into()));
        assert!(parse_target("deployment/app").unwrap_err().to_string().contains("name a Job"));
        assert!(parse_target("job/").is_err());
    }

    #[test]
    fn a_finished_flux_job_is_left_to_flux() {
        assert_eq!(decide(&job(json!({})), Some(&ks(json!({}))), OWNER, false, false), Ok(Mode::FluxRecreates));
    }

    #[test]
    fn refuses_a_suspended_stage_with_the_way_out() {
        let err =
            decide(&job(json!({})), Some(&ks(json!({"spec": {"suspend": true}}))), OWNER, true, true).unwrap_err();
        assert!(err.contains("suspended") && err.contains("flux resume kustomization app-pre-deploy -n shop"), "{err}");
    }

    #[test]
    fn refuses_an_active_job_unless_forced() {
        let running = job(json!({"status": {"conditions": [], "active": 1}}));
        let err = decide(&running, Some(&ks(json!({}))), OWNER, false, false).unwrap_err();
        assert!(err.contains("still running (1 active pod)") && err.contains("--force"), "{err}");
        assert_eq!(decide(&running, Some(&ks(json!({}))), OWNER, true, false), Ok(Mode::FluxRecreates));
    }

    #[test]
    fn refuses_a_job_flux_does_not_manage_unless_recreate() {
        let mut plain = job(json!({}));
        plain.metadata.labels = None;
        let err = decide(&plain, None, None, false, false).unwrap_err();
        assert!(err.contains("not managed by Flux") && err.contains("--recreate"), "{err}");
        assert_eq!(decide(&plain, None, None, false, true), Ok(Mode::FromLiveSpec("--recreate".into())));
        let err = decide(&job(json!({})), None, OWNER, false, false).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn recreates_itself_while_kustomize_controller_health_checks_a_job_without_ttl() {
        let checking = ks(json!({"status": {"conditions": [
            {"type": "Reconciling", "status": "True", "reason": "Progressing", "message": "Running health checks for revision 'main@sha1:1' with a timeout of 5m0s"}]}}));
        let running = job(json!({"status": {"conditions": [], "active": 1}}));
        assert!(
            matches!(decide(&running, Some(&checking), OWNER, true, false), Ok(Mode::FromLiveSpec(why)) if why.contains("health check"))
        );
        let with_ttl =
            job(json!({"spec": {"ttlSecondsAfterFinished": 600}, "status": {"conditions": [], "active": 1}}));
        assert_eq!(decide(&with_ttl, Some(&checking), OWNER, true, false), Ok(Mode::FluxRecreates));
    }

    #[test]
    fn restorable_manifests_drop_server_set_fields_and_the_old_uid() {
        let r = restorable(&job(json!({})));
        let v = serde_json::to_value(&r).unwrap();
        let text = v.to_string();
        assert!(!text.contains("u-1"), "the old uid survives: {text}");
        for gone in ["resourceVersion", "creationTimestamp", "managedFields", "generation", "status", "selector"] {
            assert!(!text.contains(&format!("\"{gone}\"")), "{gone} survives: {text}");
        }
        assert_eq!(v["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"], "app-pre-deploy");
        assert_eq!(v["spec"]["template"]["metadata"]["labels"], json!({"app": "migration"}));
        assert_eq!(v["spec"]["backoffLimit"], 0);
    }
}
