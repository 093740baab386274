//! What `status` reads: the one connection the flags select, kubeconfig contexts (`--contexts`,
//! `--all-contexts`, read concurrently) or dumps (`--snapshot`, repeatable), each diagnosed on its
//! own into a report that says where it was read.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;

use super::{attach_logs, dump_lacks, nothing_found};
use crate::cli::StatusArgs;
use crate::cluster::contexts::{self, KubeContext};
use crate::cluster::{self, ClusterError, Connection};
use crate::context::Context;
use crate::engine::{self, Filter};
use crate::error::{Error, one_line};
use crate::report::{ContainerRef, ContextRead, Report};
use crate::selector::LabelSelector;
use crate::snapshot;
use crate::terminal;

/// How many contexts are read at once.
const CONCURRENT_CONTEXTS: usize = 16;

/// How long reading may take before a terminal shows how far it got.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

/// One thing `status` reads.
pub(crate) enum Source {
    /// The connection kubectl's flags select (one context).
    Flags,
    /// A context of the kubeconfig, by name.
    Context(KubeContext),
    /// A dump, named after its file.
    Dump { path: PathBuf, name: Arc<str> },
}

impl Source {
    /// What the output says of it before it is read (a failed read says no more).
    fn read(&self) -> ContextRead {
        match self {
            Source::Flags => ContextRead::default(),
            Source::Context(c) => ContextRead {
                name: Some(c.name.as_str().into()),
                cluster: c.cluster.clone(),
                server: c.server.clone(),
                error: None,
            },
            Source::Dump { name, .. } => ContextRead { name: Some(name.clone()), ..ContextRead::default() },
        }
    }
}

/// What was read of one source: its report, and what a watch of it needs.
pub(crate) struct View {
    pub report: Report,
    /// What the read covered: one namespace, or all (`None`).
    pub scope: Option<String>,
    /// When it was read (live), or when the dump says it was made.
    pub now: Option<Timestamp>,
    /// A live read, for `--watch`.
    pub live: Option<Live>,
}

/// A live context, as a watch goes on with it.
pub(crate) struct Live {
    pub conn: Connection,
    /// The namespaces the first picture needed (the stages', their dependencies', their
    /// workloads'), `None` for all.
    pub namespaces: Option<BTreeSet<String>>,
    pub filter: Filter,
    /// The log tails the first picture shows.
    pub logs: Vec<(ContainerRef, Vec<String>)>,
    /// `--follow-kubeconfig`: the other clusters the stages apply to are read again as the watch
    /// goes on, each request within this timeout.
    pub follow: Option<Option<Duration>>,
}

/// The sources the flags name, and whether the output spans several (a fleet: `--contexts`,
/// `--all-contexts`, or more than one `--snapshot`).
pub(crate) fn sources(ctx: &Context, args: &StatusArgs) -> Result<(Vec<Source>, bool), Error> {
    if args.contexts.is_some() || args.all_contexts {
        let stdin_is_terminal = std::io::IsTerminal::is_terminal(&std::io::stdin());
        let all = contexts::kubeconfig_contexts(&ctx.connect, stdin_is_terminal)?;
        let chosen: Vec<KubeContext> = match &args.contexts {
            Some(selection) => contexts::select(&all, selection)?.into_iter().cloned().collect(),
            None => all,
        };
        if chosen.is_empty() {
            return Err(Error::Usage("--all-contexts: the kubeconfig has no contexts".into()));
        }
        return Ok((chosen.into_iter().map(Source::Context).collect(), true));
    }
    let dumps: Vec<Source> =
        args.snapshot.iter().map(|path| Source::Dump { path: path.clone(), name: dump_name(path).into() }).collect();
    let mut names = BTreeSet::new();
    for dump in &dumps {
        if let Source::Dump { path, name } = dump
            && !names.insert(name.clone())
        {
            return Err(Error::Usage(format!(
                "--snapshot: two dumps would both be context {name:?} (named after the file): rename {}",
                path.display()
            )));
        }
    }
    match dumps.len() {
        0 => Ok((vec![Source::Flags], false)),
        n => Ok((dumps, n > 1)),
    }
}

/// A dump's context name: its file name without extension (`prod-eu.yaml` -> `prod-eu`), `stdin`
/// for `-`.
fn dump_name(path: &std::path::Path) -> String {
    if path.as_os_str() == "-" {
        return "stdin".into();
    }
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

/// Reads every source. One source: its error is the command's. Several: they are read
/// concurrently (at most [`CONCURRENT_CONTEXTS`] at once; exec credential plugins that may prompt
/// first, one at a time), each one's warnings are said after all are read, in order, naming it, and
/// one that cannot be read is one warning and a report that says why.
pub(crate) async fn read_all(
    ctx: &Context,
    args: &StatusArgs,
    sources: Vec<Source>,
    fleet: bool,
) -> Result<Vec<View>, Error> {
    if !fleet {
        let source = sources.into_iter().next().expect("one source");
        return read_one(ctx, args, &source, None, false, &mut |w| terminal::warn(&w)).await.map(|view| vec![view]);
    }
    // Prompts must never interleave: such plugins run before the rest, one by one, unbounded (a
    // person is typing).
    let mut prompted: Vec<Option<Result<Connection, Error>>> = Vec::new();
    for source in &sources {
        prompted.push(match source {
            Source::Context(c) if c.prompts => {
                Some(cluster::connect(&context_options(ctx, c)).await.map_err(Error::from))
            }
            _ => None,
        });
    }
    let total = sources.len();
    let done = Arc::new(AtomicUsize::new(0));
    let (shared_ctx, shared_args) = (Arc::new(ctx.clone()), Arc::new(args.clone()));
    // Each context on a thread of its own: decoding and diagnosing are CPU work that one task would
    // do one context after another. The runtime's handle drives it there, so what its connection
    // spawns (the client's workers) lives on in the runtime for a watch.
    let runtime = tokio::runtime::Handle::current();
    let reading = futures::stream::iter(sources.into_iter().zip(prompted))
        .map(|(source, connected)| {
            let (ctx, args, done, runtime) = (shared_ctx.clone(), shared_args.clone(), done.clone(), runtime.clone());
            let (read, summary) = (source.read(), args.summary);
            let reading = tokio::task::spawn_blocking(move || {
                let mut warnings = Vec::new();
                let view = runtime.block_on(read_one(&ctx, &args, &source, connected, true, &mut |w| warnings.push(w)));
                done.fetch_add(1, Ordering::Relaxed);
                (view.map_err(|e| one_line(&e)), warnings, unread_scope(&ctx, &source))
            });
            async move {
                let name = read.name.clone().unwrap_or_else(|| "-".into());
                let (view, mut warnings, scope) = reading
                    .await
                    .unwrap_or_else(|panicked| (Err(format!("reading it failed: {panicked}")), vec![], None));
                let view = view.unwrap_or_else(|error| {
                    // A summary has a line of its own for it.
                    if !summary {
                        warnings.push(error.clone());
                    }
                    View {
                        report: Report::unreadable(ContextRead { error: Some(error), ..read }),
                        scope,
                        now: None,
                        live: None,
                    }
                });
                (view, warnings.into_iter().map(|w| format!("context {name}: {w}")).collect::<Vec<_>>())
            }
        })
        .buffered(CONCURRENT_CONTEXTS)
        .collect::<Vec<_>>();
    let read = with_progress(reading, &done, total).await;
    let mut views = Vec::with_capacity(read.len());
    for (view, warnings) in read {
        warnings.iter().for_each(|w| terminal::warn(w));
        views.push(view);
    }
    Ok(views)
}

/// What a read that failed would have covered.
fn unread_scope(ctx: &Context, source: &Source) -> Option<String> {
    match source {
        Source::Dump { .. } => ctx.offline_scope(),
        _ => (!ctx.all_namespaces).then(String::new),
    }
}

/// Runs `reading`; on a terminal, when it takes longer than [`PROGRESS_AFTER`], stderr shows how
/// many contexts are read (`7/12 contexts read`), cleared when done.
async fn with_progress<T>(reading: impl Future<Output = T>, done: &AtomicUsize, total: usize) -> T {
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let shown = std::cell::Cell::new(false);
    let progress = async {
        if !terminal {
            return std::future::pending().await;
        }
        tokio::time::sleep(PROGRESS_AFTER).await;
        loop {
            shown.set(true);
            eprint!("\r{}/{total} contexts read", done.load(Ordering::Relaxed));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let result = tokio::select! {
        result = reading => result,
        never = progress => never,
    };
    if shown.get() {
        eprint!("\r\x1b[K");
    }
    result
}

/// The flags' connection options, for one context of the kubeconfig.
fn context_options(ctx: &Context, context: &KubeContext) -> cluster::ConnectOptions {
    cluster::ConnectOptions { context: Some(context.name.clone()), ..ctx.connect.clone() }
}

/// Connects to one context within its `--request-timeout`, credential plugins included: they run
/// when the client is built, blocking, so on a thread of their own that a timeout can leave behind.
async fn connect_within_timeout(options: cluster::ConnectOptions) -> Result<Connection, Error> {
    let Some(limit) = options.request_timeout else { return Ok(cluster::connect(&options).await?) };
    let runtime = tokio::runtime::Handle::current();
    let context = options.context.clone().unwrap_or_default();
    let connecting = tokio::task::spawn_blocking(move || runtime.block_on(cluster::connect(&options)));
    match tokio::time::timeout(limit, connecting).await {
        Ok(Ok(connected)) => Ok(connected?),
        Ok(Err(panicked)) => Err(Error::Runtime(std::io::Error::other(panicked))),
        Err(_) => Err(ClusterError::CredentialsTimedOut { context, after: limit }.into()),
    }
}

/// Reads and diagnoses one source.
async fn read_one(
    ctx: &Context,
    args: &StatusArgs,
    source: &Source,
    connected: Option<Result<Connection, Error>>,
    fleet: bool,
    warn: &mut crate::terminal::Warn<'_>,
) -> Result<View, Error> {
    let conn = match (source, connected) {
        (_, Some(connected)) => Some(connected?),
        (Source::Flags, None) => Some(ctx.connect().await?),
        (Source::Context(c), None) => Some(connect_within_timeout(context_options(ctx, c)).await?),
        (Source::Dump { .. }, None) => None,
    };
    let (snapshot, scope) = match (&conn, source) {
        (Some(conn), _) => {
            let scope = ctx.scope(conn);
            let mut snapshot = cluster::read_snapshot(
                conn,
                scope.as_deref(),
                args.selector.as_ref().map(LabelSelector::as_str),
                &mut *warn,
            )
            .await?;
            if args.follow_kubeconfig {
                let timeout = ctx.connect.request_timeout;
                snapshot.remotes = cluster::remote::read_remote_clusters(conn, &snapshot, timeout, &mut *warn).await;
            }
            snapshot.now = Timestamp::now();
            (snapshot, scope)
        }
        (None, Source::Dump { path, .. }) => (snapshot::read_snapshot(path)?, ctx.offline_scope()),
        (None, _) => unreachable!("a live source is connected above"),
    };
    let filter = Filter {
        namespace: scope.clone(),
        stages: args.stages.clone(),
        // A live LIST already applied the selector on the server.
        selector: if conn.is_some() { None } else { args.selector.clone() },
    };
    let mut report = match engine::diagnose(&snapshot, &filter) {
        // A fleet shows the stage where it is; where it is not, nothing (said once if nowhere).
        Err(engine::EngineError::UnknownStage(..)) if fleet => Report::default(),
        diagnosed => diagnosed?,
    };
    if let (Some(conn), true) = (&conn, args.logs > 0) {
        attach_logs(conn, &mut report, args.logs, &mut *warn).await;
    }
    // A dump without the objects the causes are read from: say so rather than let them look gone.
    let lacking = dump_lacks(&snapshot);
    if !lacking.is_empty() {
        warn(format!(
            "the dump holds no {}: causes below them cannot be seen, and its Jobs may show as missing; capture it with: {}",
            lacking.join(", "),
            crate::model::capture_command()
        ));
    }
    // One context with nothing in scope says where there is something; a fleet says it once.
    if report.stages.is_empty() && !fleet {
        let elsewhere = match (&scope, &conn) {
            (None, _) => vec![],
            (Some(_), None) => snapshot.stage_ids().map(|id| id.namespace).collect(),
            (Some(_), Some(conn)) => cluster::read::stage_namespaces(conn).await,
        };
        warn(nothing_found(scope.as_deref(), elsewhere));
    }
    let read = match &conn {
        Some(conn) => ContextRead {
            name: conn.context.as_deref().map(Arc::from),
            cluster: conn.cluster.clone(),
            server: Some(conn.server.clone()),
            error: None,
        },
        None => source.read(),
    };
    let report = report.in_context(read, fleet);
    let live = match (conn, args.watch) {
        (Some(conn), true) => {
            // The namespaces the first picture needed: the stages', their dependencies', their workloads'.
            let namespaces = scope.as_ref().map(|ns| {
                let mut set = BTreeSet::from([ns.clone()]);
                set.extend(snapshot.stage_ids().map(|id| id.namespace));
                set.extend(cluster::workload_namespaces(&snapshot));
                set
            });
            // Watches carry every object; the label selector applies here.
            let filter = Filter { selector: args.selector.clone(), ..filter };
            let follow = args.follow_kubeconfig.then_some(ctx.connect.request_timeout);
            Some(Live { logs: report.logs(), conn, namespaces, filter, follow })
        }
        _ => None,
    };
    let now = Some(snapshot.now);
    Ok(View { report, scope, now, live })
}
