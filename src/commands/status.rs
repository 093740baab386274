//! `kubectl fluxjobs status`: the dependsOn chain, each stage's state, its Jobs, and the root cause
//! of every block.

use std::process::ExitCode;

use k8s_openapi::jiff::Timestamp;

use crate::cli::StatusArgs;
use crate::cluster;
use crate::context::Context;
use crate::engine::{self, Filter};
use crate::error::Error;
use crate::refs::StageKind;
use crate::render::{self, RenderOptions};
use crate::report::ContainerRef;
use crate::snapshot;
use crate::terminal;

/// Exit status of `--exit-code` when a shown stage is Blocked or Failed.
pub const EXIT_BLOCKED: u8 = 3;
/// Exit status of `--exit-code` when there is nothing to check: no stage in the scope (a typo in
/// `-n`, or the context's namespace while the stages live in flux-system) must not pass a CI gate.
pub const EXIT_NOTHING: u8 = 4;

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
    // A dump without the objects the causes are read from: say so rather than let them look gone.
    let lacking = dump_lacks(&snapshot);
    if !lacking.is_empty() {
        terminal::warn(&format!(
            "the dump holds no {}: causes below them cannot be seen, and its Jobs may show as missing; capture it with: {}",
            lacking.join(", "),
            crate::model::capture_command()
        ));
    }
    let nothing = report.stages.is_empty();
    if nothing {
        let elsewhere = match (&namespace, &live) {
            (None, _) => vec![],
            (Some(_), None) => snapshot.stage_ids().map(|id| id.namespace).collect(),
            (Some(_), Some(conn)) => cluster::read::stage_namespaces(conn).await,
        };
        terminal::warn(&nothing_found(namespace.as_deref(), elsewhere));
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
        let first = FirstFrame { text: first, logs: report.logs() };
        watch(conn, &snapshot, namespace.as_deref(), filter, args, options, first).await;
        return Ok(ExitCode::SUCCESS);
    }
    drop(snapshot);
    terminal::write_data(|out| render::write(&report, &options, out)).map_err(Error::Stdout)?;
    if args.exit_code && render::has_blocked_or_failed(&report) {
        return Ok(ExitCode::from(EXIT_BLOCKED));
    }
    if args.exit_code && nothing {
        return Ok(ExitCode::from(EXIT_NOTHING));
    }
    Ok(ExitCode::SUCCESS)
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
    let kinds: Vec<String> = StageKind::ALL.iter().map(|k| format!("{}s", k.as_str())).collect();
    let kinds = match kinds.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
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

/// The first frame of a watch: its text, and the log tails read for it.
struct FirstFrame {
    text: String,
    logs: Vec<(ContainerRef, Vec<String>)>,
}

/// `--watch`: the same view, printed again whenever the watched objects change.
async fn watch(
    conn: &cluster::Connection,
    first: &crate::model::Snapshot,
    namespace: Option<&str>,
    filter: Filter,
    args: &StatusArgs,
    options: RenderOptions,
    first_frame: FirstFrame,
) {
    let FirstFrame { text: mut last, mut logs } = first_frame;
    // The namespaces the first picture needed: the stages', their dependencies', their workloads'.
    let namespaces = namespace.map(|ns| {
        let mut set = std::collections::BTreeSet::from([ns.to_string()]);
        set.extend(first.stage_ids().map(|id| id.namespace));
        set.extend(cluster::workload_namespaces(first));
        set
    });
    // Watches carry every object; the label selector applies here.
    let filter = Filter { selector: args.selector.clone(), ..filter };
    let redraw = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && matches!(args.output, crate::cli::OutputFormat::Table | crate::cli::OutputFormat::Wide);
    // Objects a failed health check names that no watch covers (custom resources) are read again
    // when the set named changes, or after NAMED_REFRESH; a warning about one is said once.
    let mut named = NamedCache::default();
    let on_change = async |mut snapshot: crate::model::Snapshot| {
        snapshot.named_objects = named.current(conn, &snapshot).await;
        let mut report = match engine::diagnose(&snapshot, &filter) {
            Ok(report) => report,
            Err(e) => return terminal::warn(&crate::error::one_line(&e)),
        };
        // Logs are not watched: a container's tail is read once, when a cause first names it (a
        // container that ended writes no more), and kept while a cause still names it.
        let sources = report.log_sources();
        if args.logs > 0 {
            let new: Vec<ContainerRef> =
                sources.iter().filter(|s| !logs.iter().any(|(read, _)| read == *s)).cloned().collect();
            for (source, read) in new.iter().zip(cluster::read::container_logs(conn, &new, args.logs).await) {
                // One that cannot be read is said once, not on every frame.
                let lines = read.unwrap_or_else(|warning| {
                    terminal::warn(&warning);
                    vec![]
                });
                logs.push((source.clone(), lines));
            }
        }
        logs.retain(|(source, _)| sources.contains(source));
        for (source, lines) in &logs {
            report.attach_logs(source, lines);
        }
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
    };
    cluster::watch::watch(conn, namespaces, &mut |w| terminal::warn(&w), on_change).await;
}

/// How long a watch keeps objects it read because a health check names them before it reads them
/// again (they are not watched).
const NAMED_REFRESH: std::time::Duration = std::time::Duration::from_secs(10);

/// The objects a watch read because failed health checks name them.
#[derive(Default)]
struct NamedCache {
    wanted: Vec<(crate::refs::ObjectRef, Option<String>)>,
    objects: Vec<crate::model::NamedObject>,
    read_at: Option<tokio::time::Instant>,
    said: std::collections::HashSet<String>,
}

impl NamedCache {
    async fn current(
        &mut self,
        conn: &cluster::Connection,
        snapshot: &crate::model::Snapshot,
    ) -> Vec<crate::model::NamedObject> {
        let wanted = engine::named_objects::named_elsewhere(snapshot);
        let stale = self.read_at.is_none_or(|at| at.elapsed() >= NAMED_REFRESH);
        if wanted != self.wanted || (stale && !wanted.is_empty()) {
            let said = &mut self.said;
            self.objects = cluster::read::named_objects(conn, &wanted, &mut |w| {
                if said.insert(w.clone()) {
                    terminal::warn(&w);
                }
            })
            .await;
            self.wanted = wanted;
            self.read_at = Some(tokio::time::Instant::now());
        }
        self.objects.clone()
    }
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
