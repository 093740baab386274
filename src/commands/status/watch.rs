//! `status --watch`: each live context watched (no polling LISTs), diagnosed on every change, and one
//! frame of all of them printed again whenever it changes.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::read::{Live, View};
use crate::cli::{OutputFormat, StatusArgs};
use crate::cluster;
use crate::engine;
use crate::model::{NamedObject, RemoteCluster, Snapshot};
use crate::refs::{NamespacedName, ObjectRef};
use crate::render::{self, RenderOptions};
use crate::report::{ContainerRef, ContextRead, Report};
use crate::terminal;

/// How long a watch keeps what no watch covers (objects a health check names, the other clusters
/// stages apply to with `--follow-kubeconfig`) before it reads them again.
const UNWATCHED_REFRESH: Duration = Duration::from_secs(10);

/// Watches every live view and prints the frame of all of them again whenever it changes;
/// `first` is the frame already printed. A context that could not be read stays as it was said.
/// Runs until the process is interrupted.
pub(super) async fn watch(views: Vec<View>, args: &StatusArgs, options: RenderOptions, first: String, fleet: bool) {
    let (changed, mut changes) = tokio::sync::mpsc::unbounded_channel::<(usize, Report)>();
    let mut frames: Vec<Report> = Vec::with_capacity(views.len());
    let mut watchers = Vec::new();
    for (at, view) in views.into_iter().enumerate() {
        let read = view.report.contexts.first().cloned().unwrap_or_default();
        frames.push(view.report);
        if let Some(live) = view.live {
            watchers.push(watch_context(at, live, read, args, fleet, changed.clone(), async |_, _, _| {}));
        }
    }
    drop(changed);
    let redraw = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && matches!(args.output, OutputFormat::Table | OutputFormat::Wide);
    let printing = async {
        let mut last = first;
        while let Some((at, report)) = changes.recv().await {
            frames[at] = report;
            let options = RenderOptions { now: Timestamp::now(), ..options };
            let Ok(text) = render::render(&Report::merge(frames.iter().cloned()), &options) else { continue };
            if text != last {
                let separator = if redraw {
                    "\x1b[H\x1b[2J"
                } else if options.format == OutputFormat::Yaml {
                    "---\n"
                } else {
                    "\n"
                };
                let _ = terminal::print_data(&format!("{separator}{text}"));
                last = text;
            }
        }
    };
    futures::join!(futures::future::join_all(watchers), printing);
}

/// Watches one context and sends its report (tagged with `read`) after every change; `also` sees
/// each snapshot and its report before it is sent (`wait` keeps the logs of Jobs' pods with it).
pub(crate) async fn watch_context(
    at: usize,
    live: Live,
    read: ContextRead,
    args: &StatusArgs,
    fleet: bool,
    changed: tokio::sync::mpsc::UnboundedSender<(usize, Report)>,
    mut also: impl AsyncFnMut(&cluster::Connection, &Snapshot, &mut Report),
) {
    let Live { conn, namespaces, filter, mut logs, follow } = live;
    let name = read.name.clone().unwrap_or_else(|| "-".into());
    let warn = move |w: &str| {
        if fleet { terminal::warn(&format!("context {name}: {w}")) } else { terminal::warn(w) }
    };
    // Objects a failed health check names that no watch covers (custom resources) are read again
    // when the set named changes, or after NAMED_REFRESH; a warning about one is said once.
    let mut named: Unwatched<Vec<(ObjectRef, Option<String>)>, Vec<NamedObject>> = Unwatched::default();
    let mut remotes: Unwatched<Vec<NamespacedName>, Vec<RemoteCluster>> = Unwatched::default();
    let on_change = async |mut snapshot: Snapshot| {
        let wanted = engine::named_objects::named_elsewhere(&snapshot);
        let any = !wanted.is_empty();
        let read_named =
            async |warn: &mut crate::terminal::Warn<'_>| cluster::read::named_objects(&conn, &wanted, warn).await;
        snapshot.named_objects = named.current(wanted.clone(), any, &warn, read_named).await;
        if let Some(request_timeout) = follow {
            let secrets = cluster::remote::kubeconfig_secrets(&snapshot);
            let any = !secrets.is_empty();
            let read_remotes = async |warn: &mut crate::terminal::Warn<'_>| {
                cluster::remote::read_remote_clusters(&conn, &snapshot, request_timeout, warn).await
            };
            snapshot.remotes = remotes.current(secrets, any, &warn, read_remotes).await;
        }
        let mut report = match engine::diagnose(&snapshot, &filter) {
            Ok(report) => report,
            Err(e) => return warn(&crate::error::one_line(&e)),
        };
        // Logs are not watched: a container's tail is read once, when a cause first names it (a
        // container that ended writes no more), and kept while a cause still names it.
        let sources = report.log_sources();
        if args.logs > 0 {
            let new: Vec<ContainerRef> =
                sources.iter().filter(|s| !logs.iter().any(|(read, _)| read == *s)).cloned().collect();
            for (source, read) in new.iter().zip(cluster::read::container_logs(&conn, &new, Some(args.logs)).await) {
                // One that cannot be read is said once, not on every frame.
                let lines = read.unwrap_or_else(|warning| {
                    warn(&warning);
                    vec![]
                });
                logs.push((source.clone(), lines));
            }
        }
        logs.retain(|(source, _)| sources.contains(source));
        for (source, lines) in &logs {
            report.attach_logs(source, lines);
        }
        also(&conn, &snapshot, &mut report).await;
        let _ = changed.send((at, report.in_context(read.clone(), fleet)));
    };
    cluster::watch::watch(&conn, namespaces, &mut |w| warn(&w), on_change).await;
}

/// What a watch reads because no watch covers it (objects a failed health check names, the other
/// clusters stages apply to): read again when what is wanted (`key`) changes, or after
/// [`UNWATCHED_REFRESH`]; a warning about it is said once.
struct Unwatched<K, V> {
    key: K,
    value: V,
    read_at: Option<tokio::time::Instant>,
    said: std::collections::HashSet<String>,
}

impl<K: Default, V: Default> Default for Unwatched<K, V> {
    fn default() -> Self {
        Unwatched { key: K::default(), value: V::default(), read_at: None, said: Default::default() }
    }
}

impl<K: PartialEq, V: Clone> Unwatched<K, V> {
    /// The value for `key`, read with `read` when stale; `wanted` says whether there is anything to
    /// read at all (nothing wanted is never re-read).
    async fn current(
        &mut self,
        key: K,
        wanted: bool,
        warn: &(dyn Fn(&str) + Sync),
        read: impl AsyncFnOnce(&mut crate::terminal::Warn<'_>) -> V,
    ) -> V {
        let stale = self.read_at.is_none_or(|at| at.elapsed() >= UNWATCHED_REFRESH);
        if key != self.key || (stale && wanted) {
            let said = &mut self.said;
            self.value = read(&mut |w: String| {
                if said.insert(w.clone()) {
                    warn(&w);
                }
            })
            .await;
            self.key = key;
            self.read_at = Some(tokio::time::Instant::now());
        }
        self.value.clone()
    }
}
