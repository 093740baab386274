//! The backup `rerun` saves before it deletes a Job, reads back to recreate it, and names in every
//! message after the delete; and that advice, exact to how far the rerun got.

use std::path::{Path, PathBuf};

use k8s_openapi::api::batch::v1::Job;

use super::plan::{Plan, restorable};
use crate::error::Error;
use crate::refs::NamespacedName;

/// `$XDG_STATE_HOME/kubectl-fluxjobs/backups`, else `~/.local/state/kubectl-fluxjobs/backups`.
pub fn default_dir() -> Result<PathBuf, Error> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))
        .ok_or(Error::NoBackupDir)?;
    Ok(state.join("kubectl-fluxjobs/backups"))
}

/// Writes the Job's restorable manifest to `dir` and returns its path.
pub fn save(dir: &Path, job: &Job) -> Result<PathBuf, Error> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Backup { action, path, source }
    };
    std::fs::create_dir_all(dir).map_err(io("create the backup directory", dir))?;
    let id = NamespacedName::of(&job.metadata);
    let stamp = k8s_openapi::jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
    let uid = job.metadata.uid.as_deref().unwrap_or_default();
    let path = dir.join(format!("{}.{}.{}.{stamp}.yaml", id.namespace, id.name, &uid[..uid.len().min(8)]));
    let encode = |source: Box<dyn std::error::Error + Send + Sync>| Error::BackupEncode { job: id.clone(), source };
    let mut value = serde_json::to_value(restorable(job)).map_err(|e| encode(e.into()))?;
    value["apiVersion"] = "batch/v1".into();
    value["kind"] = "Job".into();
    let manifest = serde_saphyr::to_string(&value).map_err(|e| encode(e.into()))?;
    let text = format!(
        "# Job {id} (uid {uid}) saved by kubectl-fluxjobs rerun before deleting it.\n# Restore: kubectl create -f {}\n{manifest}",
        path.display(),
    );
    std::fs::write(&path, text).map_err(io("write the backup", &path))?;
    Ok(path)
}

/// The Job saved at `path`, to be created again.
pub fn load(path: &Path) -> Result<Job, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Backup {
        action: "read the backup",
        path: path.to_path_buf(),
        source,
    })?;
    serde_saphyr::from_str(&text).map_err(|e| Error::BackupUnreadable { path: path.to_path_buf(), source: e.into() })
}

/// How far a rerun got, so that an error or an interrupt tells the user exactly what to do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Progress {
    /// The delete was not confirmed by the API server (it may still have been applied).
    NothingDeleted,
    /// The Job was deleted and nothing has brought it back yet.
    Deleted,
    /// The Job exists again, or kustomize-controller was asked to recreate it.
    Restored,
}

impl Progress {
    pub fn advice(self, plan: &Plan, backup: &Path) -> String {
        let (ns, name) = (&plan.id.namespace, &plan.id.name);
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

#[cfg(test)]
mod tests {
    use super::super::plan::tests::{job, ks};
    use super::super::plan::{Mode, Plan};
    use super::*;
    use serde_json::json;

    #[test]
    fn an_interrupt_or_error_says_what_to_restore_at_each_step() {
        let plan = Plan::new(job(json!({})), Some(ks(json!({}))), Mode::FluxRecreates);
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
    fn a_saved_backup_reads_back_as_the_restorable_job() {
        let dir = std::env::temp_dir().join(format!("fluxjobs-backup-test-{}", std::process::id()));
        let path = save(&dir, &job(json!({}))).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Job shop/db-migration (uid u-1) saved by kubectl-fluxjobs rerun"), "{text}");
        let back = load(&path).unwrap();
        assert_eq!(back.metadata.name.as_deref(), Some("db-migration"));
        assert_eq!(back.metadata.uid, None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
