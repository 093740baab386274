//! The one error type of the commands. Each variant names what failed and where; a variant that
//! wraps another error keeps it as its `#[source]`, and [`one_line`] prints the chain once, without
//! repeating a cause that a message already contains.

use std::path::PathBuf;

pub use crate::chain::one_line;
use crate::chain::with_sources;
use crate::cluster::ClusterError;
use crate::duration::InvalidDuration;
use crate::engine::EngineError;
use crate::plan::{BadTarget, Refusal};
use crate::refs::{NamespacedName, StageId};
use crate::render::RenderError;
use crate::snapshot::SnapshotError;
use crate::vocabulary::Kind;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    InvalidDuration(#[from] InvalidDuration),
    /// Flags that cannot work together, found after parsing (exit status 2, as clap's).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    NoSuchContext(#[from] crate::cluster::contexts::NoSuchContext),
    #[error("cannot write to stdout")]
    Stdout(#[source] RenderError),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The MCP session on stdio could not start or broke off.
    #[error("mcp: {0}")]
    Mcp(String),
    #[error("cannot write the {what} {}", path.display())]
    WriteReport {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    // rerun
    #[error(transparent)]
    BadTarget(#[from] BadTarget),
    #[error("Job {0} not found")]
    JobNotFound(NamespacedName),
    #[error("{} {}/{} not found", .0.kind.as_str(), .0.namespace, .0.name)]
    StageNotFound(StageId),
    #[error("stage {0} has no Jobs in the cluster")]
    StageHasNoJobs(StageId),
    #[error("refusing to rerun: {0}")]
    Refused(Box<Refusal>),
    /// A planned write that authorization or admission would refuse, found before any write.
    #[error("refusing to {command}, nothing was changed")]
    Denied {
        command: &'static str,
        #[source]
        source: ClusterError,
    },
    #[error("cannot choose a backup directory: set --backup-dir, XDG_STATE_HOME or HOME")]
    NoBackupDir,
    #[error("cannot {action} {}", path.display())]
    Backup {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode the backup of Job {job}")]
    BackupEncode {
        job: NamespacedName,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot read the backup {} back", path.display())]
    BackupUnreadable {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("aborted; nothing was changed")]
    Aborted,
    #[error("refusing to rerun without confirmation: no terminal to ask on; pass --yes to rerun without asking")]
    Unconfirmed,
    #[error("Job {job} is still terminating {} after its delete was accepted", crate::duration::took(*.timeout))]
    NotDeleted { job: NamespacedName, timeout: std::time::Duration },
    #[error(
        "{} did not recreate Job {job} nor handle the reconcile request of {stage} within {} (is it running, and does it watch this stage?)",
        stage.kind.controller(),
        crate::duration::took(*.timeout)
    )]
    NotRecreated { job: Box<NamespacedName>, stage: Box<StageId>, timeout: std::time::Duration },
    /// An error after the backup was saved, with what to do about the Job.
    #[error("{}\n{advice}", one_line(source))]
    AfterBackup {
        #[source]
        source: Box<Error>,
        advice: String,
    },
    #[error("the rerun did not succeed; see above")]
    RerunFailed,

    // reconcile
    #[error("stage {stage} is in a dependency cycle ({cycle}); kustomize-controller can never reconcile it")]
    Cycle { stage: StageId, cycle: String },
    #[error("stage {stage} depends on {dependency}, which does not exist; create it or remove it from dependsOn")]
    MissingDependency { stage: Box<StageId>, dependency: Box<StageId> },
    #[error(
        "suspended stage{} in the chain: {} (resume with flux resume kustomization, or pass --skip-suspended)",
        if .0.len() == 1 { "" } else { "s" },
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    SuspendedInChain(Vec<StageId>),
    #[error("{kind} {source_id} did not handle the reconcile request within {} (is source-controller running?)", crate::duration::took(*.timeout))]
    SourceNotHandled { kind: Kind, source_id: NamespacedName, timeout: std::time::Duration },
    #[error("stage {0} did not become Ready; the stages after it were not reconciled")]
    StageNotReady(StageId),
}

/// What `main` prints after `error: `: the error's whole text (rerun's restore advice spans lines
/// on purpose), then its causes as [`one_line`] adds them.
pub fn for_user(e: &Error) -> String {
    with_sources(e.to_string(), e)
}

/// A refusal is boxed: it is the largest thing an error carries, and every `Result` pays its size.
impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        Error::Refused(Box::new(refusal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory (os error 2)");
        let e = Error::Snapshot(SnapshotError::Io { path: "x.yaml".into(), source: io });
        assert_eq!(for_user(&e), "cannot read snapshot x.yaml: No such file or directory (os error 2)");
    }
}
