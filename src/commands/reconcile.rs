//! `kubectl fluxjobs reconcile STAGE`: reconcile a stage and everything upstream of it, in
//! dependency order, each only after the previous one is Ready.
//!
//! kustomize-controller never wakes a dependent when its dependency becomes Ready: the dependent
//! retries on its own after `--requeue-dependency` (30s by default) per hop (flux-facts §2.6).
//! Requesting each stage's reconcile right after its dependency is Ready removes that wait.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::follow::{self, StageOutcome};
use super::status::connect_options;
use crate::cli::{GlobalArgs, ReconcileArgs};
use crate::cluster::{self, write};
use crate::engine::Graph;
use crate::model::Kustomization;
use crate::terminal;

/// What happened to one stage, for the timeline.
struct Step {
    id: String,
    result: String,
    took: Option<Duration>,
}

pub async fn run(global: &GlobalArgs, args: &ReconcileArgs) -> anyhow::Result<ExitCode> {
    let timeout = follow::parse_timeout(&args.timeout)?;
    let conn = cluster::connect(&connect_options(global)?).await?;
    let ns = match args.stage.split_once('/') {
        Some((ns, _)) => ns.to_string(),
        None => global.namespace.clone().unwrap_or_else(|| conn.default_namespace.clone()),
    };
    let snapshot = cluster::read_snapshot(&conn, Some(&ns), None, &mut |w| terminal::warn(&w)).await?;
    let graph = Graph::new(&snapshot.kustomizations);
    let target = graph.resolve_stage(&args.stage, Some(&ns))?;
    if let Some(cycle) = graph.cycle(&target) {
        bail!("stage {target} is in a dependency cycle ({cycle}); kustomize-controller can never reconcile it");
    }
    let plan = graph.plan(&target, args.downstream);
    let stages: Vec<&Kustomization> =
        plan.iter().filter_map(|id| snapshot.kustomizations.iter().find(|k| &k.id() == id)).collect();
    let missing: Vec<&String> = plan.iter().filter(|id| !stages.iter().any(|k| &&k.id() == id)).collect();
    if let Some(id) = missing.first() {
        bail!("stage {target} depends on {id}, which does not exist; create it or remove it from dependsOn");
    }
    let suspended: Vec<String> = stages.iter().filter(|k| k.spec.suspend).map(|k| k.id()).collect();
    if !suspended.is_empty() && !args.skip_suspended {
        bail!(
            "suspended stage{} in the chain: {} (resume with flux resume kustomization, or pass --skip-suspended)",
            if suspended.len() == 1 { "" } else { "s" },
            suspended.join(", ")
        );
    }

    let order: Vec<String> = stages.iter().map(|k| k.id()).collect();
    terminal::step("►", &format!("reconciling in order: {}", order.join(" -> ")));
    if args.dry_run {
        if args.with_source {
            for (kind, sns, name) in sources(&stages) {
                terminal::step("◎", &format!("dry run: would request a reconcile of {kind} {sns}/{name}"));
            }
        }
        for ks in &stages {
            let what = if ks.spec.suspend { "skip (suspended)" } else { "request a reconcile and wait for Ready" };
            terminal::step("◎", &format!("dry run: {}: would {what}", ks.id()));
        }
        terminal::step("✔", "dry run: nothing was changed");
        return Ok(ExitCode::SUCCESS);
    }

    let start = Instant::now();
    if args.with_source {
        for (kind, sns, name) in sources(&stages) {
            reconcile_source(&conn, &kind, &sns, &name, timeout).await?;
        }
    }
    let mut timeline = Vec::new();
    let mut failure = None;
    for ks in &stages {
        let id = ks.id();
        if ks.spec.suspend {
            terminal::step("◎", &format!("{id}: skipped (suspended)"));
            timeline.push(Step { id, result: "skipped (suspended)".into(), took: None });
            continue;
        }
        let step_start = Instant::now();
        let token = write::request_token();
        write::request_reconcile(&conn, "Kustomization", ks.namespace(), ks.name(), &token).await?;
        terminal::step("►", &format!("{id}: reconcile requested"));
        let outcome = follow::wait_stage(&conn, ks.namespace(), ks.name(), &token, timeout).await;
        let took = step_start.elapsed();
        match outcome {
            StageOutcome::Ready(revision) => {
                let at = revision.map(|r| format!(" at {r}")).unwrap_or_default();
                terminal::step("✔", &format!("{id}: Ready{at} ({})", follow::took(took)));
                timeline.push(Step { id, result: "Ready".into(), took: Some(took) });
            }
            StageOutcome::Failed(reason, message) => {
                terminal::step("✗", &format!("{id}: {reason}: {message}"));
                timeline.push(Step { id: id.clone(), result: reason, took: Some(took) });
                failure = Some(id);
                break;
            }
            StageOutcome::TimedOut(last) => {
                terminal::step("✗", &format!("{id}: not Ready after {} ({last})", follow::took(timeout)));
                timeline.push(Step { id: id.clone(), result: "timed out".into(), took: Some(took) });
                failure = Some(id);
                break;
            }
        }
    }
    print_timeline(&timeline, start.elapsed());
    if let Some(id) = failure {
        follow::explain(&conn, global, &id, args.logs).await;
        bail!("stage {id} did not become Ready; the stages after it were not reconciled");
    }
    Ok(ExitCode::SUCCESS)
}

/// The distinct sources of the stages, as (kind, namespace, name).
fn sources(stages: &[&Kustomization]) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    for ks in stages {
        let r = &ks.spec.source_ref;
        let key = (r.kind.clone(), ks.source_namespace().to_string(), r.name.clone());
        if !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

/// Asks the source to fetch and waits until source-controller handled the request, like
/// `flux reconcile --with-source`. ExternalArtifacts are produced by other controllers and cannot
/// be asked (flux2 cmd/flux/reconcile_with_source.go).
async fn reconcile_source(
    conn: &cluster::Connection,
    kind: &str,
    ns: &str,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    if !matches!(kind, "GitRepository" | "OCIRepository" | "Bucket") {
        terminal::warn(&format!(
            "cannot reconcile source {kind} {ns}/{name}: only GitRepository, OCIRepository and Bucket can be asked to fetch"
        ));
        return Ok(());
    }
    let token = write::request_token();
    let start = Instant::now();
    write::request_reconcile(conn, kind, ns, name, &token).await?;
    terminal::step("►", &format!("{kind} {ns}/{name}: reconcile requested"));
    loop {
        if write::source_handled(conn, kind, ns, name).await?.as_deref() == Some(token.as_str()) {
            terminal::step("✔", &format!("{kind} {ns}/{name}: fetched ({})", follow::took(start.elapsed())));
            return Ok(());
        }
        if start.elapsed() > timeout {
            bail!(
                "{kind} {ns}/{name} did not handle the reconcile request within {} (is source-controller running?)",
                follow::took(timeout)
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn print_timeline(steps: &[Step], total: Duration) {
    let width = steps.iter().map(|s| s.id.len()).max().unwrap_or(5).max(5);
    eprintln!("\n{:width$}  {:20}  TOOK", "STAGE", "RESULT");
    for s in steps {
        let took = s.took.map(follow::took).unwrap_or_else(|| "-".into());
        eprintln!("{:width$}  {:20}  {took}", s.id, s.result);
    }
    eprintln!("total {}", follow::took(total));
}
