//! `status --watch`: one watch per kind (kube-runtime reflectors keep the objects), and a fresh
//! snapshot for the engine whenever something changed, at most twice a second. No polling LISTs.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::{BoxStream, SelectAll};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::Api;
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;

use super::read::source_from_dynamic;
use super::{Connection, api, dynamic_source_api, source_api_resource};
use crate::model::{Kustomization, SOURCE_KINDS, Snapshot};

/// What a watch stream reports: its kind finished its initial listing, something changed, or an
/// error (the watcher retries with backoff by itself), transient or not.
enum Signal {
    Listed(&'static str),
    Changed,
    Failed { kind: &'static str, error: String, transient: bool },
}

/// Whether a watch error is the API server being away for a while (see [`super::transient`]).
fn is_transient(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(e) | watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => {
            super::transient(e).is_some()
        }
        watcher::Error::WatchError(status) => super::transient_status(status.code),
        watcher::Error::NoResourceVersion => false,
    }
}

/// Whether the API server answers now (`GET /version`, within two seconds).
async fn answers(conn: &Connection) -> bool {
    let probe = tokio::time::timeout(Duration::from_secs(2), conn.client.apiserver_version());
    probe.await.is_ok_and(|version| version.is_ok())
}

/// Says so once per outage of the API server, however many watches fail in it, and once per kind
/// for errors that are not an outage (a CRD that is not installed fails forever).
#[derive(Default)]
struct Outages {
    /// Whether the API server is away (watches fail transiently and none has worked since).
    away: bool,
    warned_kinds: HashSet<&'static str>,
}

impl Outages {
    /// A failed watch: the line to print, if any.
    fn failed(
        &mut self,
        server: &str,
        kind: &'static str,
        error: &str,
        transient: bool,
        required: bool,
    ) -> Option<String> {
        if transient {
            if self.away {
                return None;
            }
            self.away = true;
            return Some(format!(
                "lost the API server at {server} ({error}); the view stays as it was until it answers again"
            ));
        }
        let not_installed = error.contains("404");
        (self.warned_kinds.insert(kind) && (required || !not_installed)).then(|| format!("watching {kind}: {error}"))
    }

    /// The API server answers again: the outage, if one was on, is over.
    fn answered(&mut self) {
        self.away = false;
    }
}

fn signals<K>(
    kind: &'static str,
    stream: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
) -> BoxStream<'static, Signal>
where
    K: Send + 'static,
{
    stream
        .map(move |item| match item {
            Ok(watcher::Event::InitDone) => Signal::Listed(kind),
            Ok(_) => Signal::Changed,
            Err(e) => Signal::Failed { kind, transient: is_transient(&e), error: e.to_string() },
        })
        .boxed()
}

fn reflect<K>(kind: &'static str, api: Api<K>, streams: &mut SelectAll<BoxStream<'static, Signal>>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()).default_backoff());
    streams.push(signals(kind, stream));
    reader
}

/// Namespaces to keep: `None` keeps all.
fn keep(
    namespaces: &Option<BTreeSet<String>>,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> bool {
    namespaces.as_ref().is_none_or(|set| meta.namespace.as_ref().is_some_and(|ns| set.contains(ns)))
}

fn objects<K: kube::Resource + Clone>(store: &Store<K>, namespaces: &Option<BTreeSet<String>>) -> Vec<K>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store.state().iter().filter(|o| keep(namespaces, o.meta())).map(|o| (**o).clone()).collect()
}

/// Watches the namespaces (all when `None`) and calls `on_change` with a snapshot after every
/// burst of changes. Runs until the process is interrupted.
pub async fn watch(
    conn: &Connection,
    namespaces: Option<BTreeSet<String>>,
    warn: &mut dyn FnMut(String),
    on_change: &mut dyn FnMut(Snapshot),
) {
    // One namespace: namespaced watches; several: cluster-wide watches, filtered here.
    let scope = match &namespaces {
        Some(set) if set.len() == 1 => set.iter().next().cloned(),
        _ => None,
    };
    let scope = scope.as_deref();
    let client = &conn.client;
    let mut streams = SelectAll::new();
    let kustomizations = reflect("kustomizations", api::<Kustomization>(client, scope), &mut streams);
    let jobs = reflect("jobs", api::<Job>(client, scope), &mut streams);
    let pods = reflect("pods", api::<Pod>(client, scope), &mut streams);
    let events = reflect("events", api::<Event>(client, scope), &mut streams);
    let deployments = reflect("deployments", api::<Deployment>(client, scope), &mut streams);
    let mut sources = Vec::new();
    for kind in SOURCE_KINDS {
        let api = dynamic_source_api(client, scope, kind);
        let writer = Writer::new(source_api_resource(kind));
        let reader = writer.as_reader();
        let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()).default_backoff());
        streams.push(signals(kind, stream));
        sources.push((kind, reader));
    }

    // The first picture waits for the kinds the diagnosis cannot do without.
    let required: HashSet<&str> = ["kustomizations", "jobs", "pods", "events", "deployments"].into();
    let mut listed: HashSet<&str> = HashSet::new();
    let mut outages = Outages::default();
    let mut dirty = false;
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            signal = streams.next() => match signal {
                Some(Signal::Listed(kind)) => { listed.insert(kind); dirty = true; }
                Some(Signal::Changed) => dirty = true,
                Some(Signal::Failed { kind, error, transient }) => {
                    if let Some(line) = outages.failed(&conn.server, kind, &error, transient, required.contains(kind)) {
                        warn(line);
                    }
                }
                None => return,
            },
            _ = ticker.tick() => {
                // The watches fail one by one and recover silently (a re-watch from the last
                // resourceVersion emits nothing), so the outage ends when the server answers.
                if outages.away && answers(conn).await {
                    outages.answered();
                }
                if dirty && required.is_subset(&listed) {
                    dirty = false;
                    let mut snapshot = Snapshot {
                        kustomizations: objects(&kustomizations, &namespaces),
                        jobs: objects(&jobs, &namespaces),
                        pods: objects(&pods, &namespaces),
                        events: objects(&events, &namespaces),
                        deployments: objects(&deployments, &namespaces),
                        now: Some(k8s_openapi::jiff::Timestamp::now()),
                        ..Snapshot::default()
                    };
                    for (kind, store) in &sources {
                        for object in store.state() {
                            if keep(&namespaces, &object.metadata)
                                && let Ok(source) = source_from_dynamic(kind, &object) {
                                    snapshot.sources.push(source);
                                }
                        }
                    }
                    on_change(snapshot);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_outage_and_one_per_kind_that_cannot_be_watched() {
        let mut outages = Outages::default();
        let kinds = ["kustomizations", "jobs", "pods", "events", "deployments", "GitRepository", "Bucket"];
        let lines: Vec<String> =
            kinds.iter().filter_map(|k| outages.failed("https://api", k, "connection refused", true, true)).collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("lost the API server at https://api (connection refused)"), "{lines:?}");
        assert_eq!(outages.failed("https://api", "jobs", "connection refused", true, true), None);
        outages.answered();
        assert!(outages.failed("https://api", "pods", "connection reset", true, true).is_some(), "a second outage");
        // A CRD that is not installed: never for an optional kind, once for a required one.
        assert_eq!(outages.failed("https://api", "ExternalArtifact", "404 page not found", false, false), None);
        assert!(outages.failed("https://api", "kustomizations", "403 forbidden", false, true).is_some());
        assert_eq!(outages.failed("https://api", "kustomizations", "403 forbidden", false, true), None);
    }
}
