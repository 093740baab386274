//! Carrying out a [`ReleaseRun`]: each Job saved with its pods' log tail (Helm deletes a hook's old
//! Job before it runs the hook again, and its logs with it), the Jobs Helm would not replace
//! deleted first, one forced request, then each Job back with a new uid; with `--wait`, each
//! followed to its end and the release to its outcome.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::backup::{self, Progress};
use super::{delete_until_gone, follow_job};
use crate::cli::RerunArgs;
use crate::cluster::Connection;
use crate::cluster::wait::{self, Back};
use crate::cluster::write::{self, DryRun, Request};
use crate::commands::follow;
use crate::context::Context;
use crate::engine::helm_hooks::Hook;
use crate::error::Error;
use crate::plan::{Plan, ReleaseRun};
use crate::terminal::{self, Glyph};

/// How a release run ended: `Some(true)` all went well, `Some(false)` a Job or the release failed
/// (said), `None` interrupted (the way to restore said).
pub(super) async fn carry_out(
    ctx: &Context,
    conn: &Connection,
    args: &RerunArgs,
    run: &ReleaseRun,
    backup_dir: &Path,
    timeout: Duration,
) -> Result<Option<bool>, Error> {
    let mut backups = Vec::new();
    for plan in &run.jobs {
        let backup = backup::save(backup_dir, plan, &backup::log_tail(conn, plan).await)?;
        terminal::step(Glyph::Done, &format!("saved {} with its pods' log tail to {}", plan.id, backup.display()));
        backups.push(backup);
    }
    let progress: Vec<Cell<Progress>> = run.jobs.iter().map(|_| Cell::new(Progress::NothingDeleted)).collect();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let (token, back) = tokio::select! {
        result = execute(conn, run, timeout, &progress) => result.map_err(|e| Error::AfterBackup {
            source: Box::new(e),
            advice: advice(run, &backups, &progress),
        })?,
        _ = &mut interrupted => {
            eprintln!("error: interrupted\n{}", advice(run, &backups, &progress));
            return Ok(None);
        }
    };
    if !args.wait {
        return Ok(Some(true));
    }
    let stage = run.id();
    let followed = async {
        for (plan, came_back) in run.jobs.iter().zip(back) {
            if came_back && !follow_job(conn, &plan.id, plan.uid(), timeout).await {
                follow::explain(conn, ctx, &stage, args.logs).await;
                return false;
            }
        }
        terminal::step(Glyph::Waiting, &format!("waiting for {stage} to be Ready"));
        if follow::settle(conn, &stage, &stage.to_string(), &token, timeout).await != follow::Settled::Ready {
            follow::explain(conn, ctx, &stage, args.logs).await;
            return false;
        }
        true
    };
    tokio::select! {
        ok = followed => Ok(Some(ok)),
        _ = &mut interrupted => {
            eprintln!("error: interrupted while following {stage}\n{}", advice(run, &backups, &progress));
            Ok(None)
        }
    }
}

/// The deletes, the forced request, and each Job back. Returns the request token and, per Job,
/// whether a new one was seen.
async fn execute(
    conn: &Connection,
    run: &ReleaseRun,
    timeout: Duration,
    progress: &[Cell<Progress>],
) -> Result<(String, Vec<bool>), Error> {
    for (plan, progress) in run.jobs.iter().zip(progress) {
        if plan.deletes() {
            delete_until_gone(conn, plan, timeout, progress).await?;
        }
    }
    let stage = run.id();
    let token = write::request_token();
    write::request_reconcile(conn, &run.object, Request::ForceAndReset, &token, DryRun::No).await?;
    terminal::step(
        Glyph::Done,
        &format!(
            "requested a forced {} of {stage} (reconcile.fluxcd.io/forceAt, resetAt and requestedAt {token})",
            run.run.action
        ),
    );
    for progress in progress {
        if matches!(progress.get(), Progress::Deleted | Progress::NothingDeleted) {
            progress.set(Progress::Requested);
        }
    }
    let mut back = Vec::new();
    for (plan, progress) in run.jobs.iter().zip(progress) {
        let id = &plan.id;
        terminal::step(Glyph::Waiting, &format!("waiting for helm-controller to run Job {id} again"));
        match wait::job_back(conn, id, plan.uid(), &stage, &token, timeout).await? {
            Some(Back::Recreated(new_uid)) => {
                terminal::step(Glyph::Done, &format!("Job {id} exists again (uid {new_uid})"));
                back.push(true);
            }
            // Helm deletes a hook Job by its policy once it ran (`hook-succeeded`, `hook-failed`).
            Some(Back::HandledWithoutJob) => {
                let deletes_after = Hook::of(&plan.job).is_some_and(|h| !h.delete_policies.is_empty());
                let line = format!(
                    "helm-controller handled the forced {} of {stage} and Job {id} does not exist now",
                    run.run.action
                );
                if deletes_after {
                    terminal::step(
                        Glyph::Done,
                        &format!("{line} (its helm.sh/hook-delete-policy deletes it once it ran)"),
                    );
                } else {
                    terminal::warn(&format!("{line}; `kubectl fluxjobs status {stage}` says why"));
                }
                back.push(false);
            }
            None => return Err(Error::NotRecreated { job: Box::new(id.clone()), stage: Box::new(stage), timeout }),
        }
        progress.set(Progress::Restored);
    }
    Ok((token, back))
}

/// What to do about each Job that rerun or Helm may have deleted and that is not back.
fn advice(run: &ReleaseRun, backups: &[PathBuf], progress: &[Cell<Progress>]) -> String {
    let lines: Vec<String> = run
        .jobs
        .iter()
        .zip(backups)
        .zip(progress)
        .filter(|((plan, _), progress)| plan.deletes() || progress.get() != Progress::NothingDeleted)
        .map(|((plan, backup), progress): ((&Plan, &PathBuf), &Cell<Progress>)| {
            format!("Job {}: {}", plan.id, progress.get().advice(plan, backup))
        })
        .collect();
    if lines.is_empty() { "Nothing was deleted.".to_string() } else { lines.join("\n") }
}
