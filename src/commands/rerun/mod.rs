//! `kubectl fluxjobs rerun`: delete a finished or stuck Job safely and let Flux recreate it.
//!
//! Kubernetes cannot restart a Job, and kustomize-controller re-creates one only when it is gone or
//! its spec changed with `force` (fluxcd/pkg ssa ResourceManager, recreate on immutable fields): a
//! failed migration stays failed until it is deleted. The order of steps is what makes it safe:
//! every check before any write ([`plan`]), a restorable backup before the delete ([`backup`]), a
//! uid precondition on the delete, and on any error or Ctrl-C after the backup the command says
//! whether the Job was deleted and how to restore it.

mod backup;
mod release;

use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use tokio::time::Instant;

use self::backup::Progress;
use super::follow;
use crate::cli::RerunArgs;
use crate::cluster::preflight::{self, PlannedWrite};
use crate::cluster::wait::Back;
use crate::cluster::write::{self, Created, Deleted, DryRun, Request};
use crate::cluster::{ClusterError, Connection, get, wait};
use crate::context::Context;
use crate::duration::{parse_timeout_flag, took};
use crate::engine::helm_hooks::ForcedRun;
use crate::engine::pods::pod_problem;
use crate::engine::workload::job_state;
use crate::engine::{holds_job, owner_of};
use crate::error::{Error, one_line};
use crate::model::Stage;
use crate::model::{HelmRelease, StageObject};
use crate::plan::{Mode, Plan, Refusal, ReleaseRun, Target, decide, decide_release, parse_target, stage_namespaces};
use crate::refs::{NamespacedName, ObjectRef, StageId, StageKind};
use crate::report::JobState;
use crate::terminal::{self, Answer, Glyph};
use crate::vocabulary::{ConditionStatus, ConditionType, KubeCondition};

/// The exit code of a command stopped by Ctrl-C, as shells report it (128 + SIGINT).
const INTERRUPTED: u8 = 130;

/// `rerun`, in its phases: plan every target and check every write before the first; say what
/// will happen (or, with `--dry-run`, all that would and stop); ask; then carry the plans out.
pub async fn run(ctx: &Context, args: &RerunArgs) -> Result<ExitCode, Error> {
    let targets = args.targets.iter().map(|t| parse_target(t)).collect::<Result<Vec<_>, _>>()?;
    let timeout = parse_timeout_flag("--timeout", &args.timeout)?;
    let conn = ctx.connect().await?;
    let ns = ctx.namespace(&conn);
    let plans = plan_all(&conn, &ns, &targets, args).await?;
    let writes: Vec<PlannedWrite> =
        plans.jobs.iter().flat_map(Plan::writes).chain(plans.releases.iter().flat_map(ReleaseRun::writes)).collect();
    let checked =
        preflight::check(&conn, &writes).await.map_err(|source| Error::Denied { command: "rerun", source })?;
    let backup_dir = match &args.backup_dir {
        Some(dir) => dir.clone(),
        None => backup::default_dir()?,
    };
    for plan in &plans.jobs {
        terminal::step(Glyph::Action, &plan.describe());
    }
    for release in &plans.releases {
        terminal::step(Glyph::Action, &release.describe());
        for plan in &release.jobs {
            terminal::step(Glyph::Action, &plan.describe());
        }
    }
    if args.dry_run {
        say_dry_run(&plans, &checked, &backup_dir);
        return Ok(ExitCode::SUCCESS);
    }
    terminal::step(Glyph::Done, &checked.describe());
    if !args.yes {
        let question = plans.question();
        match terminal::confirm(&question) {
            Answer::Yes => {}
            Answer::No => return Err(Error::Aborted),
            Answer::NoTerminal => return Err(Error::Unconfirmed),
        }
    }
    carry_out(ctx, &conn, args, &plans, &backup_dir, timeout).await
}

/// What one command does, planned: Jobs of Kustomizations and ResourceSets, each on its own, and
/// HelmReleases, each with its Jobs and one forced request.
struct Plans {
    jobs: Vec<Plan>,
    releases: Vec<ReleaseRun>,
}

impl Plans {
    fn all_jobs(&self) -> impl Iterator<Item = &Plan> {
        self.jobs.iter().chain(self.releases.iter().flat_map(|r| &r.jobs))
    }

    /// `Delete 2 Jobs as above?`, `Run HelmRelease/shop/my-app again as above?`, or both.
    fn question(&self) -> String {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let deleted = self.all_jobs().filter(|p| p.deletes()).count();
        let mut asks = Vec::new();
        if deleted > 0 {
            asks.push(format!("delete {}", plural(deleted, "Job")));
        }
        if !self.releases.is_empty() {
            let ids: Vec<String> = self.releases.iter().map(|r| r.id().to_string()).collect();
            asks.push(format!("run {} again", ids.join(", ")));
        }
        let mut question = asks.join(" and ");
        if let Some(first) = question.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        format!("{question} as above?")
    }
}

/// Every write the plans would make, and that nothing was changed.
fn say_dry_run(plans: &Plans, checked: &preflight::Checked, backup_dir: &Path) {
    for plan in plans.all_jobs() {
        terminal::step(Glyph::Waiting, &format!("dry run: would save {} to {}", plan.id, backup_dir.display()));
        if plan.deletes() {
            let delete = format!(
                "dry run: would delete Job {} (propagation Background, precondition uid {})",
                plan.id,
                plan.uid()
            );
            terminal::step(Glyph::Waiting, &delete);
        }
        if let Some(owner) = plan.owner_ref.as_ref().filter(|_| !matches!(plan.mode, Mode::HelmRuns { .. })) {
            terminal::step(Glyph::Waiting, &format!("dry run: would set reconcile.fluxcd.io/requestedAt on {owner}"));
        }
    }
    for release in &plans.releases {
        let annotations = "reconcile.fluxcd.io/forceAt, resetAt and requestedAt";
        terminal::step(Glyph::Waiting, &format!("dry run: would set {annotations} on {}", release.object));
    }
    terminal::step(Glyph::Done, &format!("dry run: {}; nothing was changed", checked.describe()));
}

/// Each plan in turn: its backup, its writes, older backups pruned once the Job is back, and with
/// `--wait` the new Job followed to its end. From the first write on, an interrupt must not leave
/// a deleted Job unexplained: Ctrl-C is caught and answered with the way to restore.
async fn carry_out(
    ctx: &Context,
    conn: &Connection,
    args: &RerunArgs,
    plans: &Plans,
    backup_dir: &Path,
    timeout: Duration,
) -> Result<ExitCode, Error> {
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut failed = false;
    for plan in &plans.jobs {
        let backup = backup::save(backup_dir, plan, &backup::log_tail(conn, plan).await)?;
        terminal::step(Glyph::Done, &format!("saved {} to {}", plan.id, backup.display()));
        let progress = Cell::new(Progress::NothingDeleted);
        let requested = tokio::select! {
            result = execute(conn, plan, &backup, timeout, &progress) => result.map_err(|e| Error::AfterBackup {
                source: Box::new(e),
                advice: progress.get().advice(plan, &backup),
            })?,
            _ = &mut interrupted => {
                eprintln!("error: interrupted\n{}", progress.get().advice(plan, &backup));
                return Ok(ExitCode::from(INTERRUPTED));
            }
        };
        if progress.get() == Progress::Restored {
            prune_older_backups(backup_dir, plan);
        }
        if args.wait {
            tokio::select! {
                ok = follow_rerun(conn, ctx, args, plan, requested.as_deref(), timeout) => failed |= !ok,
                _ = &mut interrupted => {
                    eprintln!("error: interrupted while following Job {}\n{}", plan.id, Progress::Restored.advice(plan, &backup));
                    return Ok(ExitCode::from(INTERRUPTED));
                }
            }
        }
    }
    for run in &plans.releases {
        match release::carry_out(ctx, conn, args, run, backup_dir, timeout).await? {
            Some(ok) => failed |= !ok,
            None => return Ok(ExitCode::from(INTERRUPTED)),
        }
    }
    if failed {
        return Err(Error::RerunFailed);
    }
    Ok(ExitCode::SUCCESS)
}

/// Once the Job exists again, only the newest backups of it are kept.
fn prune_older_backups(backup_dir: &Path, plan: &Plan) {
    match backup::prune(backup_dir, &plan.id) {
        Ok(0) => {}
        Ok(removed) => terminal::step(
            Glyph::Done,
            &format!(
                "removed {removed} older backup(s) of Job {} (the newest {} are kept)",
                plan.id,
                backup::KEPT_PER_JOB
            ),
        ),
        Err(e) => terminal::warn(&format!("cannot remove older backups in {}: {e}", backup_dir.display())),
    }
}

/// Every check first: one refused target refuses the whole command, before any write. Owning
/// stages are read once each however many of their Jobs are named; the Jobs of one HelmRelease
/// join its one [`ReleaseRun`].
async fn plan_all(conn: &Connection, ns: &str, targets: &[Target], args: &RerunArgs) -> Result<Plans, Error> {
    let mut plans = Plans { jobs: Vec::new(), releases: Vec::new() };
    let mut owners: HashMap<StageId, Option<Stage>> = HashMap::new();
    for target in targets {
        let jobs = match target {
            Target::Job(name) => {
                let id = NamespacedName::new(ns, name);
                vec![get::get_job(conn, &id).await?.ok_or(Error::JobNotFound(id))?]
            }
            Target::Stage(StageKind::HelmRelease, name) => {
                let id = StageId::new(StageKind::HelmRelease, ns, name);
                let Some(Stage::HelmRelease(hr)) = get::get_stage(conn, &id).await? else {
                    return Err(Error::StageNotFound(id));
                };
                let run = decide_release(&hr, args.force)?;
                let jobs = get::stage_jobs(conn, &hr, &stage_namespaces(&hr)).await?;
                release_of(&mut plans, &hr, run);
                let stage = hr.to_stage();
                for job in jobs {
                    match decide(&job, Some(&stage), Some(&id), args.force, false) {
                        Err(Refusal::HookNotRun { job, events, .. }) => {
                            release_of(&mut plans, &hr, ForcedRun::of(&hr)).skipped.push((job, events))
                        }
                        mode => add(&mut plans, job, Some(hr.to_stage()), mode?),
                    }
                }
                continue;
            }
            Target::Stage(kind, name) => {
                let id = StageId::new(*kind, ns, name);
                let stage = get::get_stage(conn, &id).await?.ok_or_else(|| Error::StageNotFound(id.clone()))?;
                // Leftovers (labelled, no longer in the inventory) are not the stage's to rerun.
                let jobs: Vec<Job> = get::stage_jobs(conn, stage.object(), &stage_namespaces(stage.object()))
                    .await?
                    .into_iter()
                    .filter(|job| holds_job(stage.object(), &NamespacedName::of(&job.metadata)))
                    .collect();
                if jobs.is_empty() {
                    return Err(Error::StageHasNoJobs(id));
                }
                jobs
            }
        };
        for job in jobs {
            let owner_id = owner_of(&job.metadata);
            let owner = match &owner_id {
                Some(id) => match owners.get(id) {
                    Some(cached) => cached.clone(),
                    None => {
                        let owner = get::get_stage(conn, id).await?;
                        owners.insert(id.clone(), owner.clone());
                        owner
                    }
                },
                None => None,
            };
            let mode = decide(&job, owner.as_ref(), owner_id.as_ref(), args.force, args.recreate)?;
            add(&mut plans, job, owner, mode);
        }
    }
    Ok(plans)
}

/// The Job's plan, once: alone, or with its HelmRelease's run.
fn add(plans: &mut Plans, job: Job, owner: Option<Stage>, mode: Mode) {
    if plans.all_jobs().any(|p| p.job.metadata.uid == job.metadata.uid) {
        return;
    }
    match (&mode, &owner) {
        (Mode::HelmRuns { .. }, Some(Stage::HelmRelease(hr))) => {
            let hr = hr.clone();
            release_of(plans, &hr, ForcedRun::of(&hr)).jobs.push(Plan::new(job, owner, mode))
        }
        _ => plans.jobs.push(Plan::new(job, owner, mode)),
    }
}

/// The run of release `hr` in `plans`, added with `run` when it is not there yet.
fn release_of<'a>(plans: &'a mut Plans, hr: &HelmRelease, run: ForcedRun) -> &'a mut ReleaseRun {
    let at = match plans.releases.iter().position(|r| r.id() == hr.id()) {
        Some(at) => at,
        None => {
            plans.releases.push(ReleaseRun::new(hr, run));
            plans.releases.len() - 1
        }
    };
    &mut plans.releases[at]
}

/// Delete, wait until gone, recreate when asked, request the reconcile, recording each step in
/// `progress`. Returns the reconcile request token, if one was sent.
async fn execute(
    conn: &Connection,
    plan: &Plan,
    backup: &Path,
    timeout: Duration,
    progress: &Cell<Progress>,
) -> Result<Option<String>, Error> {
    if plan.mode == Mode::OperatorRecreates {
        return request_and_wait(conn, plan, backup, timeout, progress).await;
    }
    delete_until_gone(conn, plan, timeout, progress).await?;
    let id = &plan.id;
    if let Mode::FromLiveSpec(_) = plan.mode {
        let manifest: Job = backup::load(backup)?;
        match write::create_job(conn, &manifest, DryRun::No).await? {
            Created::Created(job) => terminal::step(
                Glyph::Done,
                &format!("recreated Job {id} from its live spec (uid {})", job.metadata.uid.unwrap_or_default()),
            ),
            Created::Exists => {
                terminal::step(Glyph::Done, &format!("Job {id} exists again (kustomize-controller was first)"))
            }
        }
        progress.set(Progress::Restored);
    }
    request_and_wait(conn, plan, backup, timeout, progress).await
}

/// Deletes the plan's Job under its uid precondition and waits until it is gone, recording each
/// step in `progress`.
async fn delete_until_gone(
    conn: &Connection,
    plan: &Plan,
    timeout: Duration,
    progress: &Cell<Progress>,
) -> Result<(), Error> {
    let (id, uid) = (&plan.id, plan.uid());
    let deleted = write::delete_job(conn, id, uid, DryRun::No).await?;
    progress.set(match deleted {
        Deleted::Replaced => Progress::Restored,
        Deleted::Terminating => Progress::Terminating,
        Deleted::Deleted | Deleted::Gone => Progress::Deleted,
    });
    match deleted {
        Deleted::Deleted | Deleted::Terminating => {
            terminal::step(Glyph::Action, &format!("deleted Job {id} (uid {uid}); waiting until it is gone"));
            if !wait::job_gone(conn, id, uid, timeout).await? {
                return Err(Error::NotDeleted { job: id.clone(), timeout });
            }
            progress.set(Progress::Deleted);
            terminal::step(Glyph::Done, &format!("Job {id} is gone"));
        }
        Deleted::Gone => terminal::step(Glyph::Done, &format!("Job {id} was already gone")),
        Deleted::Replaced => {
            terminal::step(Glyph::Done, &format!("Job {id} was recreated meanwhile (another uid); it was left alone"))
        }
    }
    Ok(())
}

/// Requests the owning stage's reconcile and, unless the Job is already back, waits until its
/// controller recreated the Job or handled the request. Returns the request token.
async fn request_and_wait(
    conn: &Connection,
    plan: &Plan,
    backup: &Path,
    timeout: Duration,
    progress: &Cell<Progress>,
) -> Result<Option<String>, Error> {
    let (id, uid) = (&plan.id, plan.uid());
    let Some(owner) = &plan.owner else { return Ok(None) };
    let stage = owner.id();
    let controller = stage.kind.controller();
    let token = write::request_token();
    write::request_reconcile(conn, &ObjectRef::stage(&stage), Request::Reconcile, &token, DryRun::No).await?;
    terminal::step(
        Glyph::Done,
        &format!(
            "requested a reconcile of {} {}/{} (requestedAt {token})",
            stage.kind.as_str(),
            stage.namespace,
            stage.name
        ),
    );
    if progress.get() == Progress::Restored {
        return Ok(Some(token));
    }
    // Done only when the Job is back, or the controller has handled the request.
    if progress.get() == Progress::Deleted {
        progress.set(Progress::Requested);
    }
    terminal::step(Glyph::Waiting, &format!("waiting for {controller} to recreate Job {id}"));
    match wait::job_back(conn, id, uid, &stage, &token, timeout).await? {
        Some(Back::Recreated(new_uid)) => {
            terminal::step(Glyph::Done, &format!("Job {id} exists again (uid {new_uid})"))
        }
        Some(Back::HandledWithoutJob) => terminal::warn(&format!(
            "{controller} handled the reconcile request of {stage} but did not recreate Job {id}; {}",
            Progress::Deleted.advice(plan, backup)
        )),
        None => return Err(Error::NotRecreated { job: Box::new(id.clone()), stage: Box::new(stage), timeout }),
    }
    progress.set(Progress::Restored);
    Ok(Some(token))
}

/// `--wait`: the new Job from creation to Complete, then its stage to Ready. Prints the root cause
/// and returns false on failure.
async fn follow_rerun(
    conn: &Connection,
    ctx: &Context,
    args: &RerunArgs,
    plan: &Plan,
    token: Option<&str>,
    timeout: Duration,
) -> bool {
    let stage = plan.owner.as_ref().map(|s| s.id());
    if !follow_job(conn, &plan.id, plan.uid(), timeout).await {
        if let Some(stage) = &stage {
            follow::explain(conn, ctx, stage, args.logs).await;
        }
        return false;
    }
    let (Some(stage), Some(token)) = (stage, token) else { return true };
    terminal::step(Glyph::Waiting, &format!("waiting for stage {stage} to be Ready"));
    let settled = follow::settle(conn, &stage, &format!("stage {stage}"), token, timeout).await;
    if settled != follow::Settled::Ready {
        follow::explain(conn, ctx, &stage, args.logs).await;
        return false;
    }
    true
}

/// Follows the Job that replaces `old_uid`: created, scheduled, running, Complete or Failed. One
/// GET of the Job and one LIST of its Pods per poll.
async fn follow_job(conn: &Connection, id: &NamespacedName, old_uid: &str, timeout: Duration) -> bool {
    let start = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    let mut say = |line: String, glyph: Glyph| {
        if !seen.contains(&line) {
            terminal::step(glyph, &line);
            seen.push(line);
        }
    };
    say(format!("waiting for the new Job {id}"), Glyph::Waiting);
    let finished = wait::poll(wait::POLL_INTERVAL, timeout, async || {
        let job = match get::get_job(conn, id).await? {
            Some(job) if job.metadata.uid.as_deref() != Some(old_uid) => job,
            _ => return Ok(None),
        };
        let uid = job.metadata.uid.clone().unwrap_or_default();
        say(format!("Job {id} created (uid {uid})"), Glyph::Done);
        match get::job_pods(conn, &id.namespace, &uid).await {
            Ok(pods) => pods.iter().flat_map(pod_lines).for_each(|(line, glyph)| say(line, glyph)),
            Err(e) => say(format!("cannot list the pods of Job {id}: {}", one_line(&e)), Glyph::Failed),
        }
        Ok::<_, ClusterError>(match job_state(&job) {
            (JobState::Complete, _, _) => Some(Ok(())),
            (JobState::Failed, reason, message) => {
                Some(Err(format!("{}: {}", reason.unwrap_or_default(), message.unwrap_or_default())))
            }
            _ => None,
        })
    })
    .await;
    match finished {
        Ok(Some(Ok(()))) => {
            say(format!("Job {id} Complete ({})", took(start.elapsed())), Glyph::Done);
            true
        }
        Ok(Some(Err(why))) => {
            say(format!("Job {id} Failed: {why}"), Glyph::Failed);
            false
        }
        Ok(None) => {
            say(format!("Job {id} did not finish within {}", took(timeout)), Glyph::Failed);
            false
        }
        Err(e) => {
            say(format!("cannot read Job {id}: {}", one_line(&e)), Glyph::Failed);
            false
        }
    }
}

/// What a pod of the followed Job says now: scheduled where, its problem, or its phase.
fn pod_lines(pod: &k8s_openapi::api::core::v1::Pod) -> Vec<(String, Glyph)> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.as_ref();
    let mut lines = Vec::new();
    let scheduled = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.is(ConditionType::PodScheduled, ConditionStatus::True)));
    if scheduled {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
        lines.push((format!("Pod {name} scheduled on {node}"), Glyph::Done));
    }
    if let Some(problem) = pod_problem(pod) {
        let code = problem.exit_code.map(|c| format!(" (exit code {c})")).unwrap_or_default();
        lines.push((format!("Pod {name}: {}{code}: {}", problem.reason, problem.message), Glyph::Failed));
    } else if let Some(phase) = status.and_then(|s| s.phase.clone()) {
        lines.push((format!("Pod {name} {phase}"), Glyph::Waiting));
    }
    lines
}
