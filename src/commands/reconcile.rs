//! `kubectl fluxjobs reconcile STAGE`: reconcile a stage and everything upstream of it, in
//! dependency order, each only after the previous one is Ready.
//!
//! kustomize-controller never wakes a dependent when its dependency becomes Ready: the dependent
//! retries on its own after `--requeue-dependency` (30s by default) per hop (fluxcd/kustomize-controller
//! internal/controller/kustomization_controller.go, the DependencyNotReady requeue). Requesting each
//! stage's reconcile right after its dependency is Ready removes that wait.

use std::process::ExitCode;
use std::time::Duration;

use tokio::time::Instant;

use super::follow;
use crate::cli::ReconcileArgs;
use crate::cluster::preflight::{self, PlannedWrite};
use crate::cluster::write::{DryRun, Request};
use crate::cluster::{self, Connection, wait, write};
use crate::context::Context;
use crate::duration::{parse_timeout_flag, took};
use crate::engine::Graph;
use crate::error::Error;
use crate::model::Stage;
use crate::refs::{ObjectRef, StageId};
use crate::terminal::{self, Glyph};
use crate::vocabulary::Kind;

/// What happened to one stage, for the timeline.
struct Step {
    id: StageId,
    result: String,
    took: Option<Duration>,
}

/// `reconcile`, in its phases: the stages to walk, in dependency order; every request checked
/// before the first; then (or, with `--dry-run`, instead) each stage in turn until one is not Ready.
pub async fn run(ctx: &Context, args: &ReconcileArgs) -> Result<ExitCode, Error> {
    let timeout = parse_timeout_flag("--timeout", &args.timeout)?;
    let conn = ctx.connect().await?;
    let stages = chain(ctx, &conn, args).await?;
    let order: Vec<String> = stages.iter().map(|s| s.id().to_string()).collect();
    terminal::step(Glyph::Action, &format!("reconciling in order: {}", order.join(" -> ")));
    let fetchable: Vec<ObjectRef> =
        if args.with_source { sources(&stages).into_iter().filter(can_fetch).collect() } else { vec![] };
    let requested: Vec<ObjectRef> =
        stages.iter().filter(|s| !s.suspended()).map(|s| ObjectRef::stage(&s.id())).collect();
    let writes: Vec<PlannedWrite> =
        fetchable.iter().chain(&requested).map(|o| PlannedWrite::RequestReconcile(o, Request::Reconcile)).collect();
    let checked =
        preflight::check(&conn, &writes).await.map_err(|source| Error::Denied { command: "reconcile", source })?;
    if args.dry_run {
        say_dry_run(&stages, &checked, args.with_source);
        return Ok(ExitCode::SUCCESS);
    }
    terminal::step(Glyph::Done, &checked.describe());
    let start = Instant::now();
    if args.with_source {
        for source in sources(&stages) {
            reconcile_source(&conn, &source, timeout).await?;
        }
    }
    let (timeline, failure) = walk(&conn, &stages, timeout).await?;
    print_timeline(&timeline, start.elapsed());
    if let Some(id) = failure {
        follow::explain(&conn, ctx, &id, args.logs).await;
        return Err(Error::StageNotReady(id));
    }
    Ok(ExitCode::SUCCESS)
}

/// The stage named and everything upstream of it (with `--downstream`, also what depends on it),
/// in dependency order; refused when it is in a cycle, misses a dependency, or holds a suspended
/// stage that `--skip-suspended` does not allow.
async fn chain(ctx: &Context, conn: &Connection, args: &ReconcileArgs) -> Result<Vec<Stage>, Error> {
    let ns = Graph::named_namespace(&args.stage).unwrap_or_else(|| ctx.namespace(conn));
    let snapshot = cluster::read_snapshot(conn, Some(&ns), None, &mut |w| terminal::warn(&w)).await?;
    let graph = Graph::new(&snapshot);
    let target = graph.resolve_stage(&args.stage, Some(&ns))?;
    if let Some(cycle) = graph.cycle(&target) {
        return Err(Error::Cycle { stage: target.clone(), cycle: cycle.to_string() });
    }
    let plan = graph.plan(&target, args.downstream);
    let stages: Vec<Stage> = plan.iter().filter_map(|id| snapshot.stage(id)).collect();
    if let Some(missing) = plan.iter().find(|id| !stages.iter().any(|s| &s.id() == *id)) {
        return Err(Error::MissingDependency { stage: Box::new(target), dependency: Box::new(missing.clone()) });
    }
    let suspended: Vec<StageId> = stages.iter().filter(|s| s.suspended()).map(|s| s.id()).collect();
    if !suspended.is_empty() && !args.skip_suspended {
        return Err(Error::SuspendedInChain(suspended));
    }
    Ok(stages)
}

/// Every request the run would send, and that nothing was changed.
fn say_dry_run(stages: &[Stage], checked: &preflight::Checked, with_source: bool) {
    if with_source {
        for source in sources(stages) {
            terminal::step(
                Glyph::Waiting,
                &format!("dry run: would request a reconcile of {} {}", source.kind, source.id()),
            );
        }
    }
    for stage in stages {
        let what = if stage.suspended() { "skip (suspended)" } else { "request a reconcile and wait for Ready" };
        terminal::step(Glyph::Waiting, &format!("dry run: {}: would {what}", stage.id()));
    }
    terminal::step(Glyph::Done, &format!("dry run: {}; nothing was changed", checked.describe()));
}

/// Each stage in turn: a reconcile request, followed until its controller says how it ended; the
/// walk stops at the first stage that is not Ready (returned).
async fn walk(conn: &Connection, stages: &[Stage], timeout: Duration) -> Result<(Vec<Step>, Option<StageId>), Error> {
    let mut timeline = Vec::new();
    for stage in stages {
        let id = stage.id();
        if stage.suspended() {
            terminal::step(Glyph::Waiting, &format!("{id}: skipped (suspended)"));
            timeline.push(Step { id, result: "skipped (suspended)".into(), took: None });
            continue;
        }
        let step_start = Instant::now();
        let token = write::request_token();
        write::request_reconcile(conn, &ObjectRef::stage(&id), Request::Reconcile, &token, DryRun::No).await?;
        terminal::step(Glyph::Action, &format!("{id}: reconcile requested"));
        let settled = follow::settle(conn, &id, &format!("{id}:"), &token, timeout).await;
        timeline.push(Step { id: id.clone(), result: settled.word().to_string(), took: Some(step_start.elapsed()) });
        if settled != follow::Settled::Ready {
            return Ok((timeline, Some(id)));
        }
    }
    Ok((timeline, None))
}

/// The distinct sources of the stages (a ResourceSet's is its first named input provider).
fn sources(stages: &[Stage]) -> Vec<ObjectRef> {
    let mut out: Vec<ObjectRef> = Vec::new();
    for source in stages.iter().filter_map(|s| s.source()) {
        if !out.contains(&source) {
            out.push(source);
        }
    }
    out
}

/// Whether this source fetches on request: source-controller's kinds (ExternalArtifacts are
/// produced by other controllers and cannot be asked; fluxcd/flux2 cmd/flux/reconcile_with_source.go),
/// and an input provider, which flux-operator asks its service again on a request (not forced: a
/// provider's `spec.schedule` is a deploy window, and only `forceAt` overrides it, as
/// `flux-operator reconcile rsip --force` in cmd/cli/reconcile_inputprovider.go does on purpose).
pub(crate) fn can_fetch(source: &ObjectRef) -> bool {
    matches!(source.kind, Kind::GitRepository | Kind::OCIRepository | Kind::Bucket | Kind::ResourceSetInputProvider)
}

/// Asks the source to fetch and waits until source-controller handled the request, like
/// `flux reconcile --with-source`.
async fn reconcile_source(conn: &Connection, source: &ObjectRef, timeout: Duration) -> Result<(), Error> {
    let (kind, id) = (&source.kind, source.id());
    if !can_fetch(source) {
        terminal::warn(&format!(
            "cannot reconcile source {kind} {id}: only GitRepository, OCIRepository, Bucket and ResourceSetInputProvider can be asked to fetch"
        ));
        return Ok(());
    }
    let token = write::request_token();
    let start = Instant::now();
    write::request_reconcile(conn, source, Request::Reconcile, &token, DryRun::No).await?;
    terminal::step(Glyph::Action, &format!("{kind} {id}: reconcile requested"));
    if !wait::source_fetched(conn, source, &token, timeout).await? {
        return Err(Error::SourceNotHandled { kind: kind.clone(), source_id: id, timeout });
    }
    terminal::step(Glyph::Done, &format!("{kind} {id}: fetched ({})", took(start.elapsed())));
    Ok(())
}

fn print_timeline(steps: &[Step], total: Duration) {
    let ids: Vec<String> = steps.iter().map(|s| s.id.to_string()).collect();
    let width = ids.iter().map(String::len).max().unwrap_or(5).max(5);
    eprintln!("\n{:width$}  {:20}  TOOK", "STAGE", "RESULT");
    for (s, id) in steps.iter().zip(&ids) {
        let took = s.took.map(took).unwrap_or_else(|| "-".into());
        eprintln!("{id:width$}  {:20}  {took}", s.result);
    }
    eprintln!("total {}", took(total));
}
