//! The backup `rerun` saves before it deletes a Job, reads back to recreate it, and names in every
//! message after the delete; and that advice, exact to how far the rerun got.

use std::io::Write;
use std::path::{Path, PathBuf};

use k8s_openapi::api::batch::v1::Job;

use crate::cluster::{Connection, get, read};
use crate::engine::hints::reconcile_stage;
use crate::error::{Error, one_line};
use crate::plan::Plan;
use crate::refs::{Controller, NamespacedName};
use crate::report::ContainerRef;

/// `$XDG_STATE_HOME/kubectl-fluxjobs/backups`, else `~/.local/state/kubectl-fluxjobs/backups`.
pub(super) fn default_dir() -> Result<PathBuf, Error> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))
        .ok_or(Error::NoBackupDir)?;
    Ok(state.join("kubectl-fluxjobs/backups"))
}

/// How many backups of one Job are kept; older ones go once a later rerun of the same Job has
/// brought it back ([`prune`]).
pub(super) const KEPT_PER_JOB: usize = 10;

/// How many log lines of each container of the Job's pods a backup keeps.
const LOG_TAIL_LINES: u32 = 50;

/// The last lines each container of the Job's pods logged, as `# pod/container: line` comments:
/// a deleted Job (by rerun, or by Helm before it runs a hook again) takes its pods and their logs
/// with it. Best effort: what cannot be read is said in the same form.
pub(super) async fn log_tail(conn: &Connection, plan: &Plan) -> Vec<String> {
    let pods = match get::job_pods(conn, &plan.id.namespace, plan.uid()).await {
        Ok(pods) => pods,
        Err(e) => return vec![format!("cannot list the pods of Job {}: {}", plan.id, one_line(&e))],
    };
    let containers: Vec<ContainerRef> = pods
        .iter()
        .flat_map(|pod| {
            let spec = pod.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default();
            spec.iter().map(|c| ContainerRef {
                namespace: plan.id.namespace.clone(),
                pod: pod.metadata.name.clone().unwrap_or_default(),
                container: c.name.clone(),
                previous: false,
            })
        })
        .collect();
    let logs = read::container_logs(conn, &containers, Some(LOG_TAIL_LINES)).await;
    containers
        .iter()
        .zip(logs)
        .flat_map(|(c, lines)| match lines {
            Ok(lines) => lines.into_iter().map(|l| format!("{}/{}: {l}", c.pod, c.container)).collect(),
            Err(e) => vec![e],
        })
        .collect()
}

/// Writes the plan's restorable manifest to `dir`, with the log lines of its pods as comments
/// after it, and returns its path. Job specs often carry credentials in env values, so the file
/// is readable by its owner only (0600) and a directory created for it is too (0700); an existing
/// file is never overwritten.
pub(super) fn save(dir: &Path, plan: &Plan, logs: &[String]) -> Result<PathBuf, Error> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Backup { action, path, source }
    };
    private_dir(dir).map_err(io("create the backup directory", dir))?;
    let id = plan.id.clone();
    let stamp = k8s_openapi::jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
    let uid = plan.uid();
    let encode = |source: Box<dyn std::error::Error + Send + Sync>| Error::BackupEncode { job: id.clone(), source };
    let mut value = serde_json::to_value(&plan.manifest).map_err(|e| encode(e.into()))?;
    value["apiVersion"] = "batch/v1".into();
    value["kind"] = "Job".into();
    let manifest = serde_saphyr::to_string(&value).map_err(|e| encode(e.into()))?;
    let base = format!("{}.{}.{}.{stamp}", id.namespace, id.name, &uid[..uid.len().min(8)]);
    for attempt in 0.. {
        let name = if attempt == 0 { format!("{base}.yaml") } else { format!("{base}.{attempt}.yaml") };
        let path = dir.join(name);
        let mut file = match private_file(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            other => other.map_err(io("write the backup", &path))?,
        };
        let mut text = format!(
            "{HEADER}{id} (uid {uid}) saved by kubectl-fluxjobs rerun before deleting it.\n# Restore: kubectl create -f {}\n{manifest}",
            path.display(),
        );
        if !logs.is_empty() {
            text.push_str(&format!("# The last {LOG_TAIL_LINES} log lines of each container of its pods:\n"));
            for line in logs {
                text.push_str(&format!("#   {line}\n"));
            }
        }
        file.write_all(text.as_bytes()).map_err(io("write the backup", &path))?;
        return Ok(path);
    }
    unreachable!("some backup name is free")
}

/// Every backup starts so, naming the Job: `# Job ns/name (uid ...`.
const HEADER: &str = "# Job ";

#[cfg(unix)]
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Removes all but the newest [`KEPT_PER_JOB`] backups of `job` in `dir`. Called only once `job`
/// exists again, so the backup of a Job that is missing is never removed. Returns how many went.
pub(super) fn prune(dir: &Path, job: &NamespacedName) -> std::io::Result<usize> {
    let header = format!("{HEADER}{job} (uid ");
    let mut backups: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let mut first = String::new();
        let opened = std::fs::File::open(&path).map(std::io::BufReader::new);
        if opened.and_then(|mut r| std::io::BufRead::read_line(&mut r, &mut first)).is_ok()
            && first.starts_with(&header)
        {
            backups.push((entry.metadata()?.modified()?, path));
        }
    }
    backups.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
    let old = backups.split_off(backups.len().min(KEPT_PER_JOB));
    for (_, path) in &old {
        std::fs::remove_file(path)?;
    }
    Ok(old.len())
}

/// The Job saved at `path`, to be created again.
pub(super) fn load(path: &Path) -> Result<Job, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Backup {
        action: "read the backup",
        path: path.to_path_buf(),
        source,
    })?;
    serde_saphyr::from_str(&text).map_err(|e| Error::BackupUnreadable { path: path.to_path_buf(), source: e.into() })
}

/// How far a rerun got, so that an error or an interrupt tells the user exactly what to do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Progress {
    /// The delete was not confirmed by the API server (it may still have been applied).
    NothingDeleted,
    /// The API server accepted the delete, but the Job still exists (terminating: a finalizer, or
    /// the garbage collector, holds it).
    Terminating,
    /// The Job was deleted and nothing has brought it back yet.
    Deleted,
    /// The Job was deleted and kustomize-controller was asked to recreate it, which it has not
    /// done yet.
    Requested,
    /// The Job exists again, or kustomize-controller was asked to recreate it.
    Restored,
}

impl Progress {
    pub(super) fn advice(self, plan: &Plan, backup: &Path) -> String {
        let (ns, name) = (&plan.id.namespace, &plan.id.name);
        let restore = format!("kubectl create -f {}", backup.display());
        let owner = plan.owner.as_ref().map(|s| s.id());
        let controller = owner.as_ref().map_or(Controller::Kustomize, |id| id.kind.controller());
        let flux = owner.map(|id| format!(" or let Flux recreate it: {}", reconcile_stage(&id)));
        match self {
            Progress::NothingDeleted => format!(
                "The Job may not have been deleted; if `kubectl get job {name} -n {ns}` does not find it, restore it with: {restore}"
            ),
            Progress::Terminating => format!(
                "The delete was accepted but the Job is still terminating (`kubectl get job {name} -n {ns} -o jsonpath='{{.metadata.finalizers}}'` shows what holds it); once it is gone, restore it with: {restore}{}",
                flux.clone().unwrap_or_default()
            ),
            Progress::Deleted => {
                format!("The Job was deleted; restore it with: {restore}{}", flux.unwrap_or_default())
            }
            Progress::Requested => format!(
                "The Job was deleted and {controller} was asked to recreate it, but it is not back yet. If `kubectl get job {name} -n {ns}` does not find it, restore it with: {restore}"
            ),
            Progress::Restored => format!(
                "Nothing to restore: the Job exists again or {controller} recreates it; the backup stays at {}",
                backup.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::{job, ks};
    use crate::plan::{Mode, Plan};
    use serde_json::json;

    #[test]
    fn an_interrupt_or_error_says_what_to_restore_at_each_step() {
        let plan =
            Plan::new(job(json!({})), Some(crate::model::Stage::Kustomization(ks(json!({})))), Mode::FluxRecreates);
        let backup = Path::new("/backups/shop.db-migration.yaml");
        let before = Progress::NothingDeleted.advice(&plan, backup);
        assert!(
            before.contains("may not have been deleted") && before.contains("kubectl get job db-migration -n shop")
        );
        assert!(before.contains("kubectl create -f /backups/shop.db-migration.yaml"));
        // Accepted but still there: not "deleted", and the restore waits until it is gone.
        let terminating = Progress::Terminating.advice(&plan, backup);
        assert!(terminating.starts_with("The delete was accepted but the Job is still terminating"), "{terminating}");
        assert!(terminating.contains("once it is gone, restore it with: kubectl create -f /backups/"), "{terminating}");
        assert!(!terminating.contains("was deleted"), "{terminating}");
        let deleted = Progress::Deleted.advice(&plan, backup);
        assert!(deleted.starts_with("The Job was deleted; restore it with: kubectl create -f /backups/"));
        assert!(deleted.ends_with("or let Flux recreate it: kubectl fluxjobs reconcile app-pre-deploy -n shop"));
        let requested = Progress::Requested.advice(&plan, backup);
        assert!(requested.contains("not back yet") && requested.contains("kubectl create -f /backups/"), "{requested}");
        let unowned = Plan { owner: None, ..plan };
        assert!(!Progress::Deleted.advice(&unowned, backup).contains("flux reconcile"));
        assert!(Progress::Restored.advice(&unowned, backup).starts_with("Nothing to restore"));
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fluxjobs-backup-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("backups")
    }

    #[test]
    fn a_saved_backup_reads_back_as_the_restorable_job() {
        let dir = scratch("read");
        let logs = ["db-migration-x/m: ERROR: relation \"users\" does not exist".to_string()];
        let path = save(&dir, &Plan::new(job(json!({})), None, Mode::FluxRecreates), &logs).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Job shop/db-migration (uid u-1) saved by kubectl-fluxjobs rerun"), "{text}");
        assert!(text.ends_with("#   db-migration-x/m: ERROR: relation \"users\" does not exist\n"), "{text}");
        let back = load(&path).unwrap();
        assert_eq!(back.metadata.name.as_deref(), Some("db-migration"));
        assert_eq!(back.metadata.uid, None);
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn backups_are_private_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("private");
        let first = save(&dir, &Plan::new(job(json!({})), None, Mode::FluxRecreates), &[]).unwrap();
        let second = save(&dir, &Plan::new(job(json!({})), None, Mode::FluxRecreates), &[]).unwrap();
        assert_ne!(first, second, "a second backup in the same second must not replace the first");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&dir), mode(&first), mode(&second)), (0o700, 0o600, 0o600));
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn pruning_keeps_the_newest_backups_of_that_job_only() {
        let dir = scratch("prune");
        let paths: Vec<PathBuf> = (0..KEPT_PER_JOB + 2)
            .map(|_| save(&dir, &Plan::new(job(json!({})), None, Mode::FluxRecreates), &[]).unwrap())
            .collect();
        let other = save(
            &dir,
            &Plan::new(job(json!({"metadata": {"name": "db-migration-2"}})), None, Mode::FluxRecreates),
            &[],
        )
        .unwrap();
        assert_eq!(prune(&dir, &NamespacedName::new("shop", "db-migration")).unwrap(), 2);
        assert!(other.exists(), "another Job's backup was removed");
        assert!(paths[KEPT_PER_JOB + 1].exists(), "the newest backup was removed");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), KEPT_PER_JOB + 1);
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }
}
