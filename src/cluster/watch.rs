//! `status --watch`: one watch per kind `status` reads ([`READ_KINDS`], the same list as the LISTs
//! and the dump decoder), objects kept as the engine keeps them, and a fresh snapshot for the engine
//! whenever something changed, at most twice a second. No polling LISTs.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::{BoxStream, SelectAll};
use kube::api::DynamicObject;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::time::Instant;

use super::{Connection, api_resource, dynamic_api};
use crate::model::{KindStore, Presence, READ_KINDS, ReadKind, Snapshot};
use crate::refs::MetaNames;

/// How long the API server may go without answering before the watch says it is lost. Watch
/// streams end all the time (the server's timeout, a load balancer, a proxy) and the watcher
/// re-establishes them by itself; only a server that answers nothing for this long is an outage.
pub(crate) const OUTAGE_AFTER: Duration = Duration::from_secs(10);

/// What one kind's watch stream reports.
enum Signal {
    Event(Box<watcher::Event<DynamicObject>>),
    /// An error (the watcher retries with backoff by itself), transient or not.
    Failed {
        error: String,
        transient: bool,
        not_served: bool,
    },
}

/// Whether a watch error is the API server being away for a while (see [`super::transient`]), or
/// a resumed watch whose resourceVersion the server no longer has (410 Expired: `too old resource
/// version`, k8s.io/apiserver pkg/storage/cacher), after which the watcher lists again by itself:
/// neither is worth a line.
fn is_transient(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(e) | watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => {
            super::transient(e).is_some()
        }
        watcher::Error::WatchError(status) => super::transient_status(status.code) || status.code == 410,
        watcher::Error::NoResourceVersion => false,
    }
}

/// Whether the resource is not served at all (its CRD is not installed).
fn is_not_served(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status)) => status.code == 404,
        watcher::Error::WatchError(status) => status.code == 404,
        _ => false,
    }
}

/// Whether the API server answers now (`GET /version`, within two seconds).
async fn answers(conn: &Connection) -> bool {
    let probe = tokio::time::timeout(Duration::from_secs(2), conn.client.apiserver_version());
    probe.await.is_ok_and(|version| version.is_ok())
}

/// Whether a watch event is the API server's answer: the watcher says `Init` before it asks
/// anything (every re-list after a failure starts with it), so it proves nothing.
fn from_server(event: &watcher::Event<DynamicObject>) -> bool {
    !matches!(event, watcher::Event::Init)
}

/// Decides what the watch says about failures: one line per outage of the API server (it has not
/// answered for [`OUTAGE_AFTER`] while watches fail), however many watches fail in it; and one line
/// per kind for errors that are not an outage (a kind the user may not watch fails forever).
struct Outages {
    /// When the API server last answered: a watch event, or `GET /version`.
    last_answer: Instant,
    /// The last transient watch failure since then, if any: the server may be away.
    failing: Option<String>,
    /// The current outage was said.
    warned: bool,
    warned_kinds: HashSet<&'static str>,
}

impl Outages {
    fn new(now: Instant) -> Self {
        Outages { last_answer: now, failing: None, warned: false, warned_kinds: HashSet::new() }
    }

    /// The API server answered: any outage is over.
    fn answered(&mut self, now: Instant) {
        self.last_answer = now;
        self.failing = None;
        self.warned = false;
    }

    /// A watch failed: the line to print at once, if any (never for a transient failure).
    fn failed(&mut self, kind: &ReadKind, error: &str, transient: bool, not_served: bool) -> Option<String> {
        if transient {
            self.failing = Some(error.to_string());
            return None;
        }
        let quiet = not_served && kind.presence == Presence::Crd; // not installed: none of that kind
        (self.warned_kinds.insert(kind.api.kind) && !quiet).then(|| format!("watching {}: {error}", kind.api.plural))
    }

    /// Whether the server should be probed: a watch failed since it last answered.
    fn suspect(&self) -> bool {
        self.failing.is_some()
    }

    /// After a probe that found no answer: the outage line, once, when it has lasted long enough.
    fn unanswered(&mut self, now: Instant, server: &str) -> Option<String> {
        let error = self.failing.as_deref()?;
        if self.warned || now.duration_since(self.last_answer) < OUTAGE_AFTER {
            return None;
        }
        self.warned = true;
        Some(format!("lost the API server at {server} ({error}); the view stays as it was until it answers again"))
    }
}

/// The watch of one kind, its events tagged with the kind's place in [`READ_KINDS`].
fn watch_kind(conn: &Connection, at: usize, scope: Option<&str>) -> BoxStream<'static, (usize, Signal)> {
    let api = dynamic_api(&conn.client, scope, &api_resource(&READ_KINDS[at].api));
    // The first LIST of each watch in pages as big as `status`'s (kube-runtime's default is 500:
    // 46 pages of events at N = 1000 namespaces).
    let config = watcher::Config::default().page_size(super::read::PAGE_SIZE);
    let config = match READ_KINDS[at].field_selector {
        Some(fields) => config.fields(fields),
        None => config,
    };
    let config = match READ_KINDS[at].label_selector {
        Some(labels) => config.labels(labels),
        None => config,
    };
    watcher(api, config)
        .default_backoff()
        .map(move |item| {
            let signal = match item {
                Ok(event) => Signal::Event(Box::new(event)),
                Err(e) => {
                    Signal::Failed { transient: is_transient(&e), not_served: is_not_served(&e), error: e.to_string() }
                }
            };
            (at, signal)
        })
        .boxed()
}

/// The object of a watch event, as the engine's decoders take it.
fn value(object: DynamicObject) -> serde_json::Value {
    serde_json::to_value(object).unwrap_or_default()
}

/// Applies one event to its kind's store; an object that does not decode is a warning.
fn apply(store: &mut dyn KindStore, kind: &ReadKind, event: watcher::Event<DynamicObject>) -> Result<(), String> {
    let decoded = match event {
        watcher::Event::Init => {
            store.restart();
            Ok(())
        }
        watcher::Event::InitApply(object) | watcher::Event::Apply(object) => store.apply(kind, value(object)),
        watcher::Event::Delete(object) => {
            store.delete(object.metadata.namespace_str(), object.metadata.name_str());
            Ok(())
        }
        watcher::Event::InitDone => {
            store.listed();
            Ok(())
        }
    };
    decoded.map_err(|e| format!("skipping a malformed {}: {e}", kind.api.kind))
}

/// Watches the namespaces (all when `None`) and calls `on_change` with a snapshot after every
/// burst of changes (it may read more, such as log tails; events wait meanwhile). Runs until the
/// process is interrupted.
pub(crate) async fn watch(
    conn: &Connection,
    namespaces: Option<BTreeSet<String>>,
    warn: &mut dyn FnMut(String),
    mut on_change: impl AsyncFnMut(Snapshot),
) {
    // One namespace: namespaced watches; several: cluster-wide watches, filtered here.
    let scope = match &namespaces {
        Some(set) if set.len() == 1 => set.iter().next().cloned(),
        _ => None,
    };
    let keep = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        namespaces.as_ref().is_none_or(|set| meta.namespace.as_ref().is_some_and(|ns| set.contains(ns)))
    };
    let mut streams = SelectAll::new();
    let mut stores: Vec<Box<dyn KindStore>> = Vec::new();
    for (at, kind) in READ_KINDS.iter().enumerate() {
        streams.push(watch_kind(conn, at, scope.as_deref()));
        stores.push(kind.new_store());
    }
    // The first picture waits until every kind is listed, or cannot be (not installed, forbidden).
    let mut settled: HashSet<usize> = HashSet::new();
    let mut outages = Outages::new(Instant::now());
    let mut dirty = false;
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            signal = streams.next() => match signal {
                Some((at, Signal::Event(event))) => {
                    if from_server(&event) {
                        outages.answered(Instant::now());
                    }
                    if matches!(*event, watcher::Event::InitDone) {
                        settled.insert(at);
                    }
                    if let Err(line) = apply(&mut *stores[at], &READ_KINDS[at], *event) {
                        warn(line);
                    }
                    dirty = true;
                }
                Some((at, Signal::Failed { error, transient, not_served })) => {
                    if !transient {
                        settled.insert(at);
                    }
                    if let Some(line) = outages.failed(&READ_KINDS[at], &error, transient, not_served) {
                        warn(line);
                    }
                }
                None => return,
            },
            _ = ticker.tick() => {
                // Re-established watches emit nothing while nothing changes, so whether the server
                // is there is asked of the server.
                if outages.suspect() {
                    if answers(conn).await {
                        outages.answered(Instant::now());
                    } else if let Some(line) = outages.unanswered(Instant::now(), &conn.server) {
                        warn(line);
                    }
                }
                if dirty && settled.len() == READ_KINDS.len() {
                    dirty = false;
                    let mut snapshot = Snapshot { now: k8s_openapi::jiff::Timestamp::now(), ..Snapshot::default() };
                    for store in &stores {
                        store.fill(&mut snapshot, &keep);
                    }
                    on_change(snapshot).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::read_kind;

    #[test]
    fn an_outage_is_said_once_and_only_after_the_server_has_not_answered_for_ten_seconds() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let jobs = read_kind("batch/v1", "Job").unwrap();
        let mut outages = Outages::new(start);
        // A stream the server or a proxy closed: the server answers the probe, nothing is said.
        assert_eq!(outages.failed(jobs, "error reading a body from connection", true, false), None);
        assert!(outages.suspect());
        outages.answered(at(1));
        assert!(!outages.suspect());
        assert_eq!(outages.unanswered(at(30), "https://api"), None, "nothing failing, nothing to say");
        // The server goes away at 40 s: unanswered probes say nothing until 10 s after its last answer.
        outages.answered(at(40));
        for kind in &READ_KINDS {
            assert_eq!(outages.failed(kind, "connection refused", true, false), None);
        }
        assert_eq!(outages.unanswered(at(45), "https://api"), None);
        let line = outages.unanswered(at(50), "https://api").expect("an outage of 10 s");
        assert!(line.starts_with("lost the API server at https://api (connection refused)"), "{line}");
        assert_eq!(outages.unanswered(at(55), "https://api"), None, "one line per outage");
        outages.answered(at(60));
        assert_eq!(outages.failed(jobs, "connection reset", true, false), None);
        assert!(outages.unanswered(at(71), "https://api").is_some(), "a second outage");
    }

    #[test]
    fn an_expired_resource_version_is_no_failure_to_say() {
        let expired = kube::core::Status::failure("too old resource version: 2778 (3403)", "Expired").with_code(410);
        assert!(is_transient(&watcher::Error::WatchError(Box::new(expired))));
        let forbidden = kube::core::Status::failure("forbidden", "Forbidden").with_code(403);
        assert!(!is_transient(&watcher::Error::WatchError(Box::new(forbidden))));
    }

    #[test]
    fn a_re_list_that_has_not_reached_the_server_is_no_answer() {
        assert!(!from_server(&watcher::Event::Init));
        assert!(from_server(&watcher::Event::InitDone));
        assert!(from_server(&watcher::Event::Apply(DynamicObject::new("a", &api_resource(&READ_KINDS[0].api)))));
    }

    #[tokio::test]
    async fn a_watch_lists_first_in_pages_as_big_as_a_status_read() {
        let (conn, seen) = crate::cluster::mock::connection(|_| crate::cluster::mock::empty_list());
        let events = READ_KINDS.iter().position(|k| k.api.plural == "events").unwrap();
        // Init (no request yet), then the end of the first LIST.
        let _ = watch_kind(&conn, events, None).take(2).collect::<Vec<_>>().await;
        let first = seen.lock().unwrap()[0].uri.clone();
        assert!(first.contains("limit=5000"), "{first}");
    }

    #[test]
    fn kinds_that_cannot_be_watched_are_said_once_and_missing_crds_never() {
        let mut outages = Outages::new(Instant::now());
        let resource_sets = read_kind("fluxcd.controlplane.io/v1", "ResourceSet").unwrap();
        let kustomizations = read_kind("kustomize.toolkit.fluxcd.io/v1", "Kustomization").unwrap();
        assert_eq!(outages.failed(resource_sets, "404 page not found", false, true), None);
        let line = outages.failed(kustomizations, "403 forbidden", false, false);
        assert_eq!(line.as_deref(), Some("watching kustomizations: 403 forbidden"));
        assert_eq!(outages.failed(kustomizations, "403 forbidden", false, false), None);
        assert!(!outages.suspect(), "not an outage");
    }
}
