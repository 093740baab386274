//! `kubectl fluxjobs status`: the dependsOn chain, each stage's state, its Jobs, and the root cause
//! of every block.

use std::process::ExitCode;

use k8s_openapi::jiff::Timestamp;

use crate::cli::StatusArgs;
use crate::cluster;
use crate::context::Context;
use crate::engine;
use crate::error::Error;
use crate::refs::StageKind;
use crate::render::{self, RenderOptions};
use crate::report::Report;
use crate::terminal;

pub(crate) mod read;
pub(crate) mod watch;

/// Exit status of `--exit-code` when a shown stage is Blocked or Failed.
pub const EXIT_BLOCKED: u8 = 3;
/// Exit status of `--exit-code` when there is nothing to check: no stage in the scope (a typo in
/// `-n`, or the context's namespace while the stages live in flux-system) must not pass a CI gate.
pub const EXIT_NOTHING: u8 = 4;

pub async fn run(ctx: &Context, args: &StatusArgs) -> Result<ExitCode, Error> {
    let (sources, fleet) = read::sources(ctx, args)?;
    let mut views = read::read_all(ctx, args, sources, fleet).await?;
    let unreadable = views.iter().filter(|v| v.report.contexts.iter().any(|c| c.error.is_some())).count();
    // A watch keeps each context's report as its first frame; otherwise they move into one.
    let report = if args.watch {
        Report::merge(views.iter().map(|v| v.report.clone()))
    } else {
        Report::merge(views.iter_mut().map(|v| std::mem::take(&mut v.report)))
    };
    let nothing = report.stages.is_empty();
    if let (true, true, Some(stage), true) = (fleet, nothing, args.stages.first(), unreadable < views.len()) {
        return Err(engine::EngineError::UnknownStage(
            stage.clone(),
            format!(" in any of the {} contexts read", views.len() - unreadable),
        )
        .into());
    }
    if fleet && nothing && unreadable < views.len() {
        terminal::warn(&nothing_found_in_contexts(views.len() - unreadable, ctx));
    }
    let options = RenderOptions {
        format: args.output,
        color: terminal::stdout_color(ctx.color),
        no_headers: args.no_headers,
        namespace_column: views.iter().all(|v| v.scope.is_none()),
        context_column: fleet,
        summary: args.summary,
        // Dumps each have their own time: ages from the newest, never negative.
        now: views.iter().filter_map(|v| v.now).max().unwrap_or_else(Timestamp::now),
        width: terminal::stdout_width(),
    };
    if args.watch {
        let first = render::render(&report, &options).map_err(Error::Stdout)?;
        terminal::print_data(&first).map_err(|e| Error::Stdout(e.into()))?;
        watch::watch(views, args, options, first, fleet).await;
        return Ok(ExitCode::SUCCESS);
    }
    drop(views);
    terminal::write_data(|out| render::write(&report, &options, out)).map_err(Error::Stdout)?;
    if unreadable > 0 {
        return Ok(ExitCode::FAILURE);
    }
    if args.exit_code && render::has_blocked_or_failed(&report) {
        return Ok(ExitCode::from(EXIT_BLOCKED));
    }
    if args.exit_code && nothing {
        return Ok(ExitCode::from(EXIT_NOTHING));
    }
    Ok(ExitCode::SUCCESS)
}

/// No stage in any context read: where they were looked for.
fn nothing_found_in_contexts(read: usize, ctx: &Context) -> String {
    let plural = if read == 1 { "" } else { "s" };
    let found = format!("no Flux {} found in the {read} context{plural} read", stage_kinds());
    if ctx.all_namespaces {
        format!("{found}, in any namespace")
    } else {
        format!("{found}, each in its namespace (-n, else the context's own): try -A for all namespaces")
    }
}

/// The kinds a dump lacks that its own objects say exist: Jobs when a stage's inventory names one,
/// Pods when a Job ran some. (Events expire after an hour, so a dump without them is no sign.)
fn dump_lacks(snapshot: &crate::model::Snapshot) -> Vec<&'static str> {
    let lacks = |plural: &str| snapshot.dump_lacks.contains(&plural);
    let inventory_jobs =
        snapshot.stages().any(|s| !engine::inventory_objects(s.inventory(), "batch", "Job").is_empty());
    let jobs_ran = snapshot
        .jobs
        .iter()
        .filter_map(|j| j.status.as_ref())
        .any(|s| s.active.unwrap_or(0) + s.succeeded.unwrap_or(0) + s.failed.unwrap_or(0) > 0);
    let mut out = Vec::new();
    if lacks("jobs") && inventory_jobs {
        out.push("jobs");
    }
    if lacks("pods") && jobs_ran {
        out.push("pods");
    }
    out
}

/// No stage in scope: where to look instead, when stages live in other namespaces.
fn nothing_found(namespace: Option<&str>, elsewhere: Vec<String>) -> String {
    let kinds = stage_kinds();
    let Some(ns) = namespace else { return format!("no Flux {kinds} found in any namespace") };
    let elsewhere: std::collections::BTreeSet<String> = elsewhere.into_iter().filter(|other| other != ns).collect();
    let found = format!("no Flux {kinds} found in namespace {ns:?}");
    match elsewhere.len() {
        0 => found,
        1 => {
            let other = elsewhere.first().expect("one");
            format!("{found}; there are some in namespace {other:?}: try -n {other}, or -A for all namespaces")
        }
        n => format!("{found}; there are some in {n} other namespaces: try -A for all namespaces"),
    }
}

/// `Kustomizations, ResourceSets or HelmReleases`.
fn stage_kinds() -> String {
    let kinds: Vec<String> = StageKind::ALL.iter().map(|k| format!("{}s", k.as_str())).collect();
    match kinds.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Fetches the log tails the report's root causes show and attaches them; a log that cannot be
/// read is a warning.
pub(crate) async fn attach_logs(
    conn: &cluster::Connection,
    report: &mut Report,
    lines: u32,
    warn: &mut crate::terminal::Warn<'_>,
) {
    let sources = report.log_sources();
    for (source, logs) in sources.iter().zip(cluster::read::container_logs(conn, &sources, Some(lines)).await) {
        match logs {
            Ok(logs) => report.attach_logs(source, &logs),
            Err(warning) => warn(warning),
        }
    }
}
