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
/// error (the watcher retries with backoff by itself).
enum Signal {
    Listed(&'static str),
    Changed,
    Failed(&'static str, String),
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
            Err(e) => Signal::Failed(kind, e.to_string()),
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
    let mut warned: HashSet<&str> = HashSet::new();
    let mut dirty = false;
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            signal = streams.next() => match signal {
                Some(Signal::Listed(kind)) => { listed.insert(kind); dirty = true; }
                Some(Signal::Changed) => dirty = true,
                Some(Signal::Failed(kind, e)) => {
                    // A source kind whose CRD is not installed fails forever; say it once.
                    if warned.insert(kind) && (required.contains(kind) || !e.contains("404")) {
                        warn(format!("watching {kind}: {e}"));
                    }
                }
                None => return,
            },
            _ = ticker.tick() => {
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
