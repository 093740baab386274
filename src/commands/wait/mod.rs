//! `kubectl fluxjobs wait`: the CI gate that waits until a revision has rolled through every stage
//! in scope, and fails as soon as the cluster shows it failed.
//!
//! It reads what `status` reads, then follows each context with `status --watch`'s watches (one
//! watch per kind, no polling LISTs; an API server away for a while is a warning, not the end),
//! judging every new picture with [`verdict::judge`], the same pure function `--snapshot` judges a
//! dump with.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use tokio::time::Instant;

use super::reconcile::can_fetch;
use super::status::read::{self, View};
use super::status::watch::watch_context;
use crate::cli::WaitArgs;
use crate::cluster::Connection;
use crate::cluster::preflight::{self, PlannedWrite};
use crate::cluster::write::{self, DryRun, Request};
use crate::context::Context;
use crate::duration::{parse_timeout_flag, took};
use crate::error::{Error, one_line};
use crate::refs::{ObjectRef, StageId};
use crate::render::{self, RenderOptions};
use crate::report::{Report, StageState};
use crate::terminal::{self, Glyph};
use crate::verdict::revision::Revision;
use crate::verdict::{self, Ending, Outcome, Target, Verdict, WaitReport};

mod logs;
mod timeline;
use logs::LogKeeper;
use timeline::Timeline;

pub async fn run(ctx: &Context, args: &WaitArgs) -> Result<ExitCode, Error> {
    let revision = match &args.revision {
        Some(text) => Some(text.parse::<Revision>().map_err(|e| Error::Usage(format!("--revision: {e}")))?),
        None => None,
    };
    let target = Target { revision, grace: parse_timeout_flag("--grace", &args.grace)? };
    let timeout = parse_timeout_flag("--timeout", &args.timeout)?;
    let status_args = args.as_status();
    let start = Instant::now();
    let deadline = start + timeout;
    let (sources, fleet) = read::sources(ctx, &status_args)?;
    let views = read::read_all(ctx, &status_args, sources, fleet).await?;
    let options = RenderOptions {
        format: args.output,
        color: terminal::stdout_color(ctx.color),
        no_headers: false,
        namespace_column: views.iter().all(|v| v.scope.is_none()),
        context_column: fleet,
        summary: false,
        now: views.iter().filter_map(|v| v.now).max().unwrap_or_else(Timestamp::now),
        width: terminal::stdout_width(),
    };
    // A context that could not be read is no verdict: said as a warning when read, it makes the
    // wait end in error (exit 1) whatever the others show, as for status.
    let unreadable = views.iter().any(|v| v.report.contexts.iter().any(|c| c.error.is_some()));
    let first = Report::merge(views.iter().map(|v| v.report.clone()));
    if first.stages.is_empty() {
        let verdict = verdict::judge(&first, &target, options.now);
        return finish(args, Ending::NothingInScope, first, verdict, None, &options, unreadable);
    }
    if !args.snapshot.is_empty() || args.once {
        let verdict = verdict::judge(&first, &target, options.now);
        let ending = match verdict.outcome {
            Outcome::Done => Ending::Done,
            Outcome::Failed => Ending::Failed,
            Outcome::Waiting => Ending::NotDoneYet,
        };
        return finish(args, ending, first, verdict, None, &options, unreadable);
    }
    let connections: Vec<(Option<Arc<str>>, Connection)> = views
        .iter()
        .filter_map(|v| Some((v.report.contexts.first().and_then(|c| c.name.clone()), v.live.as_ref()?.conn.clone())))
        .collect();
    let mut requests = Requests::new(args.reconcile, fleet);
    if args.reconcile {
        requests.first(&connections, &first).await?;
    }
    let following = Following { args, status_args: &status_args, fleet, target: &target, deadline, start };
    let (ending, report, verdict, timeline) = following.follow(views, &connections, &mut requests).await;
    let live = Some((start.elapsed().as_secs_f64(), &timeline));
    finish(args, ending, report, verdict, live, &options, unreadable)
}

/// What a live wait goes by.
struct Following<'a> {
    args: &'a WaitArgs,
    status_args: &'a crate::cli::StatusArgs,
    fleet: bool,
    target: &'a Target,
    deadline: Instant,
    start: Instant,
}

impl Following<'_> {
    /// Watches every context until the verdict over all of them is Done or Failed, or the deadline.
    async fn follow(
        &self,
        views: Vec<View>,
        connections: &[(Option<Arc<str>>, Connection)],
        requests: &mut Requests,
    ) -> (Ending, Report, Verdict, Timeline) {
        let Following { args, status_args, fleet, target, deadline, start } = *self;
        let (changed, mut changes) = tokio::sync::mpsc::unbounded_channel::<(usize, Report)>();
        let mut frames: Vec<Report> = Vec::with_capacity(views.len());
        let mut watchers = Vec::new();
        // Containers that ended a second or more before the wait began are an earlier rollout's (the
        // kubelet's finishedAt has a resolution of one second).
        let began = Timestamp::now() - std::time::Duration::from_secs(1 + start.elapsed().as_secs());
        for (at, view) in views.into_iter().enumerate() {
            let read = view.report.contexts.first().cloned().unwrap_or_default();
            frames.push(view.report);
            if let Some(live) = view.live {
                let mut logs = LogKeeper::new(began, args.logs, args.logs_dir.clone());
                let keep = async move |conn: &Connection, snapshot: &crate::model::Snapshot, report: &mut Report| {
                    logs.keep(conn, snapshot, report).await
                };
                watchers.push(watch_context(at, live, read, status_args, fleet, changed.clone(), keep));
            }
        }
        drop(changed);
        let mut timeline = Timeline::default();
        let judging = async {
            let mut report = Report::merge(frames.iter().cloned());
            loop {
                let verdict = verdict::judge(&report, target, Timestamp::now());
                for (glyph, line) in timeline.observe(&report, &verdict, start.elapsed()) {
                    terminal::step(glyph, &line);
                }
                match verdict.outcome {
                    Outcome::Done => return (Ending::Done, report, verdict),
                    Outcome::Failed => return (Ending::Failed, report, verdict),
                    Outcome::Waiting => requests.dependents_done(connections, &report, &verdict, start.elapsed()).await,
                }
                tokio::select! {
                    changed = changes.recv() => match changed {
                        Some((at, frame)) => {
                            frames[at] = frame;
                            report = Report::merge(frames.iter().cloned());
                        }
                        None => return (Ending::TimedOut, report, verdict),
                    },
                    // Pods that need a fix fail the wait after the grace, with no change to wake it.
                    () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                    () = tokio::time::sleep_until(deadline) => return (Ending::TimedOut, report, verdict),
                }
            }
        };
        // The watches run until dropped; the judging ends the wait.
        let watching = async {
            futures::future::join_all(watchers).await;
            std::future::pending::<()>().await
        };
        let (ending, report, verdict) = tokio::select! {
            ended = judging => ended,
            () = watching => unreachable!("pending for ever"),
        };
        (ending, report, verdict, timeline)
    }
}

/// Prints the document and returns the exit status (1 when a context could not be read); `live`:
/// how long a live wait took, and its timeline.
fn finish(
    args: &WaitArgs,
    ending: Ending,
    report: Report,
    verdict: Verdict,
    live: Option<(f64, &Timeline)>,
    options: &RenderOptions,
    unreadable: bool,
) -> Result<ExitCode, Error> {
    let elapsed = live.map(|(secs, _)| secs);
    let stages = verdict
        .stages
        .into_iter()
        .map(|mut s| {
            s.done_after =
                live.and_then(|(_, timeline)| timeline.done_after(&s.stage.to_string())).map(|d| d.as_secs_f64());
            s
        })
        .collect();
    let wait = WaitReport { ending, revision: args.revision.clone(), elapsed_seconds: elapsed, stages, report };
    let glyph = if ending == Ending::Done { Glyph::Done } else { Glyph::Failed };
    terminal::step(glyph, &format!("wait: {}", ending.as_str()));
    terminal::write_data(|out| render::wait::write(&wait, options, out)).map_err(Error::Stdout)?;
    if let Some(path) = &args.junit {
        std::fs::write(path, render::ci::junit(&wait)).map_err(|source| Error::WriteReport {
            what: "JUnit report",
            path: path.clone(),
            source,
        })?;
    }
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        github(&wait)?;
    }
    Ok(if unreadable { ExitCode::FAILURE } else { ExitCode::from(ending.exit_status()) })
}

/// Under GitHub Actions: the `::error` annotation (workflow commands are read from stderr as from
/// stdout, which keeps stdout the document) and the job summary appended to `$GITHUB_STEP_SUMMARY`.
fn github(wait: &WaitReport) -> Result<(), Error> {
    if let Some(annotation) = render::ci::github_annotation(wait) {
        eprintln!("{annotation}");
    }
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").map(std::path::PathBuf::from) else { return Ok(()) };
    let append = || -> std::io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).create(true).open(&path)?;
        file.write_all(render::ci::github_summary(wait).as_bytes())
    };
    append().map_err(|source| Error::WriteReport { what: "GitHub job summary", path: path.clone(), source })
}

/// `--reconcile`'s requests: every source and stage at the start, then each stage once its
/// dependencies are done (kustomize-controller would re-check it only on its dependency requeue).
struct Requests {
    on: bool,
    fleet: bool,
    /// Stages asked once their dependencies were done, with the revision they were asked at: when
    /// last, and how many times.
    asked: BTreeMap<(String, Option<String>), (std::time::Duration, u8)>,
}

/// How long a stage asked to reconcile may show no sign of it (still Waiting, its source's revision
/// not attempted) before it is asked again, and how many times in all. A controller can take the
/// request while its cache still shows a dependency not Ready: kustomize-controller
/// (internal/controller/kustomization_controller.go) then fails `checkDependencies`, marks the
/// request handled all the same (`finalizeStatus`, deferred) and waits for its dependency requeue,
/// 30 s.
const ASK_AGAIN_AFTER: std::time::Duration = std::time::Duration::from_secs(5);
const MAX_ASKS: u8 = 3;

impl Requests {
    fn new(on: bool, fleet: bool) -> Self {
        Requests { on, fleet, asked: BTreeMap::new() }
    }

    /// The first requests, in every context: its sources that can be asked to fetch, then its
    /// stages; every request checked (permissions, admission) before the first is made.
    async fn first(&mut self, connections: &[(Option<Arc<str>>, Connection)], report: &Report) -> Result<(), Error> {
        for (context, conn) in connections {
            let stages: Vec<_> = report.stages.iter().filter(|s| s.context == *context || !self.fleet).collect();
            let mut objects: Vec<ObjectRef> = Vec::new();
            for source in stages.iter().filter_map(|s| s.source.clone()).filter(can_fetch) {
                if !objects.contains(&source) {
                    objects.push(source);
                }
            }
            objects.extend(stages.iter().filter(|s| !s.suspended).map(|s| ObjectRef::stage(&unqualified(&s.id()))));
            let writes: Vec<PlannedWrite> =
                objects.iter().map(|o| PlannedWrite::RequestReconcile(o, Request::Reconcile)).collect();
            let checked =
                preflight::check(conn, &writes).await.map_err(|source| Error::Denied { command: "wait", source })?;
            terminal::step(Glyph::Done, &checked.describe());
            let token = Timestamp::now().to_string();
            for object in &objects {
                write::request_reconcile(conn, object, Request::Reconcile, &token, DryRun::No).await?;
            }
            terminal::step(Glyph::Action, &format!("asked {} sources and stages to reconcile", objects.len()));
        }
        Ok(())
    }

    /// Asks each stage still waiting whose dependencies are all done to reconcile, once per
    /// revision of its source; a request that fails is a warning (the wait goes on without it).
    async fn dependents_done(
        &mut self,
        connections: &[(Option<Arc<str>>, Connection)],
        report: &Report,
        verdict: &Verdict,
        at: std::time::Duration,
    ) {
        if !self.on {
            return;
        }
        let outcome: HashMap<StageId, Outcome> = verdict.stages.iter().map(|s| (s.stage.clone(), s.outcome)).collect();
        for (stage, judged) in report.stages.iter().zip(&verdict.stages) {
            let ready = !stage.depends_on.is_empty()
                && judged.outcome == Outcome::Waiting
                && !stage.suspended
                && stage.depends_on.iter().all(|dep| {
                    let dep = match (&stage.context, self.fleet) {
                        (Some(context), true) => dep.clone().in_context(context.clone()),
                        _ => dep.clone(),
                    };
                    outcome.get(&dep) == Some(&Outcome::Done)
                });
            let key = (judged.stage.to_string(), stage.source_revision.clone());
            let asked = self.asked.get(&key).copied();
            let unanswered = |(when, times): (std::time::Duration, u8)| {
                times < MAX_ASKS
                    && at.saturating_sub(when) >= ASK_AGAIN_AFTER
                    && stage.state == StageState::Waiting
                    && stage.attempted_revision != stage.source_revision
            };
            if !ready || !asked.is_none_or(unanswered) {
                continue;
            }
            let Some((_, conn)) = connections.iter().find(|(c, _)| *c == stage.context || !self.fleet) else {
                continue;
            };
            let object = ObjectRef::stage(&unqualified(&stage.id()));
            let token = Timestamp::now().to_string();
            match write::request_reconcile(conn, &object, Request::Reconcile, &token, DryRun::No).await {
                Ok(()) if asked.is_none() => terminal::step(
                    Glyph::Action,
                    &format!("[{}] {}: its dependencies are done; asked it to reconcile", took(at), judged.stage),
                ),
                Ok(()) => terminal::step(
                    Glyph::Action,
                    &format!("[{}] {}: no sign of the request yet; asked it again", took(at), judged.stage),
                ),
                Err(e) => terminal::warn(&format!("could not ask {} to reconcile: {}", judged.stage, one_line(&e))),
            }
            self.asked.insert(key, (at, asked.map_or(1, |(_, times)| times + 1)));
        }
    }
}

/// A stage id without the context a fleet's output tags it with.
fn unqualified(id: &StageId) -> StageId {
    StageId::new(id.kind, &id.namespace, &id.name)
}
