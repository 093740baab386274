//! `kubectl fluxjobs status`: the dependsOn chain, each stage's state, its Jobs, and the root cause
//! of every block.

use std::process::ExitCode;

use k8s_openapi::jiff::Timestamp;

use crate::cli::StatusArgs;
use crate::cluster;
use crate::context::Context;
use crate::engine::{self, Filter};
use crate::error::Error;
use crate::render::{self, RenderOptions};
use crate::snapshot;
use crate::terminal;

/// Exit status of `--exit-code` when a shown stage is Blocked or Failed.
pub const EXIT_BLOCKED: u8 = 3;

pub async fn run(ctx: &Context, args: &StatusArgs) -> Result<ExitCode, Error> {
    let (snapshot, namespace, live) = match &args.snapshot {
        Some(path) => (snapshot::read_snapshot(path)?, ctx.offline_scope(), None),
        None => {
            let conn = ctx.connect().await?;
            let namespace = ctx.scope(&conn);
            let mut snapshot =
                cluster::read_snapshot(&conn, namespace.as_deref(), args.selector.as_deref(), &mut |w| {
                    terminal::warn(&w)
                })
                .await?;
            snapshot.now = Some(Timestamp::now());
            (snapshot, namespace, Some(conn))
        }
    };
    let filter = Filter {
        namespace: namespace.clone(),
        stage: args.stage.clone(),
        // A live LIST already applied the selector on the server.
        selector: if live.is_some() { None } else { args.selector.clone() },
    };
    let mut report = engine::diagnose(&snapshot, &filter)?;
    if let (Some(conn), true) = (&live, args.logs > 0) {
        attach_logs(conn, &mut report, args.logs).await;
    }
    if report.stages.is_empty() {
        let scope = match &namespace {
            Some(ns) => format!("in namespace {ns:?}"),
            None => "in any namespace".into(),
        };
        terminal::warn(&format!("no Flux Kustomizations or ResourceSets found {scope}"));
    }
    let options = RenderOptions {
        format: args.output,
        color: terminal::stdout_color(ctx.color),
        no_headers: args.no_headers,
        namespace_column: namespace.is_none(),
        now: snapshot.now.unwrap_or_else(Timestamp::now),
        width: terminal::stdout_width(),
    };
    if let (true, Some(conn)) = (args.watch, &live) {
        let first = render::render(&report, &options).map_err(Error::Stdout)?;
        terminal::print_data(&first).map_err(|e| Error::Stdout(e.into()))?;
        watch(conn, &snapshot, namespace.as_deref(), filter, args, options, first).await;
        return Ok(ExitCode::SUCCESS);
    }
    drop(snapshot);
    terminal::write_data(|out| render::write(&report, &options, out)).map_err(Error::Stdout)?;
    if args.exit_code && render::has_blocked_or_failed(&report) {
        return Ok(ExitCode::from(EXIT_BLOCKED));
    }
    Ok(ExitCode::SUCCESS)
}

/// `--watch`: the same view, printed again whenever the watched objects change.
async fn watch(
    conn: &cluster::Connection,
    first: &crate::model::Snapshot,
    namespace: Option<&str>,
    filter: Filter,
    args: &StatusArgs,
    options: RenderOptions,
    mut last: String,
) {
    // The namespaces the first picture needed: the stages', their dependencies', their workloads'.
    let namespaces = namespace.map(|ns| {
        let mut set = std::collections::BTreeSet::from([ns.to_string()]);
        set.extend(first.kustomizations.iter().map(|k| k.namespace().to_string()));
        set.extend(cluster::workload_namespaces(first));
        set
    });
    // Watches carry every object; the label selector applies here.
    let filter = Filter { selector: args.selector.clone(), ..filter };
    let redraw = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && matches!(args.output, crate::cli::OutputFormat::Table | crate::cli::OutputFormat::Wide);
    cluster::watch::watch(conn, namespaces, &mut |w| terminal::warn(&w), &mut |snapshot| {
        let report = match engine::diagnose(&snapshot, &filter) {
            Ok(report) => report,
            Err(e) => return terminal::warn(&crate::error::one_line(&e)),
        };
        let options = RenderOptions { now: snapshot.now.unwrap_or_else(Timestamp::now), ..options };
        let Ok(text) = render::render(&report, &options) else { return };
        if text != last {
            let separator = if redraw {
                "\x1b[H\x1b[2J"
            } else if options.format == crate::cli::OutputFormat::Yaml {
                "---\n"
            } else {
                "\n"
            };
            let _ = terminal::print_data(&format!("{separator}{text}"));
            last = text;
        }
    })
    .await;
}

/// Fetches the log tails the report's root causes show and attaches them; a log that cannot be
/// read is a warning.
pub(crate) async fn attach_logs(conn: &cluster::Connection, report: &mut crate::report::Report, lines: u32) {
    let sources = report.log_sources();
    for (source, logs) in sources.iter().zip(cluster::read::container_logs(conn, &sources, lines).await) {
        match logs {
            Ok(logs) => report.attach_logs(source, &logs),
            Err(warning) => terminal::warn(&warning),
        }
    }
}
