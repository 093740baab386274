//! Reads: a [`Snapshot`] with one paginated LIST per kind (all kinds concurrently), the single
//! objects the commands check before they write, and log tails of root-cause pods.

use std::collections::BTreeSet;
use std::fmt::Debug;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DynamicObject, ListParams, LogParams};
use serde::de::DeserializeOwned;

use super::{ClusterError, Connection, api, classify, dynamic_source_api, resource_name, retry};
use crate::error::one_line;
use crate::model::{
    Kustomization, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, ResourceSet, SOURCE_KINDS, Snapshot, Source, Stage,
    event_is_relevant, slim_deployment, slim_job, slim_pod,
};
use crate::refs::{NamespacedName, ObjectRef, StageId, StageKind};
use crate::report::{Reason, Report};

/// Page size of every LIST, as kubectl uses (`--chunk-size` default 500).
const PAGE_SIZE: u32 = 500;

/// Every object of one kind in scope, following `continue` tokens, each passed through `keep` as
/// soon as its page arrives: only what the engine reads is held, never every full object of a kind.
async fn list_all<K, T>(
    conn: &Connection,
    api: Api<K>,
    selector: Option<&str>,
    keep: impl Fn(K) -> Option<T>,
) -> Result<Vec<T>, kube::Error>
where
    K: Clone + DeserializeOwned + Debug,
{
    let mut params = ListParams::default().limit(PAGE_SIZE);
    if let Some(sel) = selector {
        params = params.labels(sel);
    }
    let mut items = Vec::new();
    loop {
        let page = retry(conn, async || api.list(&params).await).await?;
        items.extend(page.items.into_iter().filter_map(&keep));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(items),
        }
    }
}

/// Reads everything the engine needs in `namespace` (`None`: all namespaces). Kinds the user may
/// not list are skipped with a warning on stderr; Kustomizations are required.
pub async fn read_snapshot(
    conn: &Connection,
    namespace: Option<&str>,
    selector: Option<&str>,
    warn: &mut dyn FnMut(String),
) -> Result<Snapshot, ClusterError> {
    let (mut snapshot, warnings) = read_namespace(conn, namespace, selector).await?;
    warnings.into_iter().for_each(&mut *warn);
    // Dependencies in namespaces outside the scope: one more LIST of Kustomizations (and their
    // sources) per such namespace, so that a cross-namespace chain is followed to its end.
    if namespace.is_some() {
        let mut seen: BTreeSet<String> = namespace.into_iter().map(String::from).collect();
        loop {
            let have: BTreeSet<StageId> = snapshot.stage_ids().collect();
            let wanted: BTreeSet<String> = snapshot
                .kustomizations
                .iter()
                .flat_map(|k| k.dependency_ids())
                .chain(snapshot.resource_sets.iter().flat_map(|r| r.dependency_ids()))
                .filter(|id| !have.contains(id))
                .map(|id| id.namespace)
                .filter(|ns| !seen.contains(ns))
                .collect();
            if wanted.is_empty() {
                break;
            }
            let extra = join_all(wanted.iter().map(|ns| read_namespace(conn, Some(ns), None))).await;
            for (ns, result) in wanted.iter().zip(extra) {
                seen.insert(ns.clone());
                match result {
                    Ok((more, warnings)) => {
                        merge(&mut snapshot, more);
                        warnings.into_iter().for_each(&mut *warn);
                    }
                    Err(e) => warn(format!("cannot follow dependencies into namespace {ns:?}: {}", one_line(&e))),
                }
            }
        }
    }
    // Workloads in namespaces other than the ones read: only their Jobs, Pods, Events, Deployments.
    if namespace.is_some() {
        let read: BTreeSet<String> =
            namespace.into_iter().map(String::from).chain(snapshot.stage_ids().map(|id| id.namespace)).collect();
        let extra: Vec<String> = workload_namespaces(&snapshot).into_iter().filter(|ns| !read.contains(ns)).collect();
        let results = join_all(extra.iter().map(|ns| read_workloads(conn, Some(ns)))).await;
        for (ns, result) in extra.iter().zip(results) {
            match result {
                Ok((more, warnings)) => {
                    merge(&mut snapshot, more);
                    warnings.into_iter().for_each(&mut *warn);
                }
                Err(e) => warn(format!("cannot read the workloads in namespace {ns:?}: {}", one_line(&e))),
            }
        }
    }
    Ok(snapshot)
}

fn merge(into: &mut Snapshot, more: Snapshot) {
    into.kustomizations.extend(more.kustomizations);
    into.resource_sets.extend(more.resource_sets);
    into.sources.extend(more.sources);
    into.jobs.extend(more.jobs);
    into.pods.extend(more.pods);
    into.events.extend(more.events);
    into.deployments.extend(more.deployments);
}

/// One namespace's (or all namespaces') objects, and warnings about kinds that were skipped.
async fn read_namespace(
    conn: &Connection,
    namespace: Option<&str>,
    selector: Option<&str>,
) -> Result<(Snapshot, Vec<String>), ClusterError> {
    let client = &conn.client;
    let kustomizations = list_all(conn, api::<Kustomization>(client, namespace), selector, Some);
    let sources = join_all(SOURCE_KINDS.iter().map(|kind| async move {
        let objects = list_all(conn, dynamic_source_api(client, namespace, kind), None, Some).await;
        (*kind, objects)
    }));
    let resource_sets = list_all(conn, api::<ResourceSet>(client, namespace), selector, Some);
    let workloads = read_workloads(conn, namespace);
    let (kustomizations, resource_sets, sources, workloads) =
        futures::join!(kustomizations, resource_sets, sources, workloads);

    let kustomizations =
        kustomizations.map_err(|e| classify(conn, "list", &resource_name("Kustomization"), namespace, e))?;
    let (mut snapshot, mut warnings) = workloads?;
    snapshot.kustomizations = kustomizations;
    snapshot.resource_sets = match resource_sets {
        // Flux Operator is not installed: no ResourceSet CRD.
        Err(kube::Error::Api(status)) if status.code == 404 => vec![],
        other => optional(conn, namespace, &resource_name("ResourceSet"), other, &mut warnings)?,
    };
    for (kind, result) in sources {
        let resource = resource_name(kind);
        let objects = match result {
            // A source kind whose CRD is not installed (ExternalArtifact needs Flux 2.7+).
            Err(kube::Error::Api(status)) if status.code == 404 => continue,
            other => optional(conn, namespace, &resource, other, &mut warnings)?,
        };
        for object in objects {
            match source_from_dynamic(kind, &object) {
                Ok(source) => snapshot.sources.push(source),
                Err(malformed) => warnings.push(one_line(&malformed)),
            }
        }
    }
    Ok((snapshot, warnings))
}

/// A source object the API server returned that does not have a source's shape.
#[derive(Debug, thiserror::Error)]
#[error("skipping malformed {kind} {id}")]
pub struct MalformedSource {
    kind: String,
    id: NamespacedName,
    #[source]
    source: serde_json::Error,
}

/// A source object read through the dynamic API, typed; a malformed one becomes a warning.
pub(crate) fn source_from_dynamic(kind: &str, object: &DynamicObject) -> Result<Source, MalformedSource> {
    let malformed =
        |source| MalformedSource { kind: kind.to_string(), id: NamespacedName::of(&object.metadata), source };
    let mut value = serde_json::to_value(object).map_err(malformed)?;
    value["kind"] = serde_json::Value::String(kind.to_string());
    serde_json::from_value::<Source>(value).map_err(malformed)
}

/// Jobs, Pods, Events and Deployments of one namespace (or all), one LIST each, concurrently.
async fn read_workloads(conn: &Connection, namespace: Option<&str>) -> Result<(Snapshot, Vec<String>), ClusterError> {
    let client = &conn.client;
    let (jobs, pods, events, deployments) = futures::join!(
        list_all(conn, api::<Job>(client, namespace), None, |job| Some(slim_job(job))),
        list_all(conn, api::<Pod>(client, namespace), None, |pod| Some(slim_pod(pod))),
        list_all(conn, api::<Event>(client, namespace), None, |event| event_is_relevant(&event).then_some(event)),
        list_all(conn, api::<Deployment>(client, namespace), None, |d| Some(slim_deployment(d))),
    );
    let mut warnings = Vec::new();
    let snapshot = Snapshot {
        jobs: optional(conn, namespace, "jobs.batch", jobs, &mut warnings)?,
        pods: optional(conn, namespace, "pods", pods, &mut warnings)?,
        events: optional(conn, namespace, "events", events, &mut warnings)?,
        deployments: optional(conn, namespace, "deployments.apps", deployments, &mut warnings)?,
        ..Snapshot::default()
    };
    Ok((snapshot, warnings))
}

/// Namespaces a stage applies workloads into (`spec.targetNamespace`, and the namespaces of its
/// inventory Jobs and Deployments): Kustomizations usually live in flux-system and deploy elsewhere.
pub fn workload_namespaces(snapshot: &Snapshot) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let inventories = snapshot
        .kustomizations
        .iter()
        .map(Kustomization::inventory)
        .chain(snapshot.resource_sets.iter().map(ResourceSet::inventory));
    for inventory in inventories {
        for (group, kind) in [("batch", "Job"), ("apps", "Deployment")] {
            out.extend(crate::engine::inventory_objects(inventory, group, kind).into_iter().map(|id| id.namespace));
        }
    }
    for ks in &snapshot.kustomizations {
        out.extend(ks.spec.target_namespace.iter().filter(|ns| !ns.is_empty()).cloned());
    }
    out
}

/// A kind the plugin can do without: a 403 becomes a warning, other errors stay errors.
fn optional<T>(
    conn: &Connection,
    namespace: Option<&str>,
    resource: &str,
    result: Result<Vec<T>, kube::Error>,
    warnings: &mut Vec<String>,
) -> Result<Vec<T>, ClusterError> {
    match result {
        Ok(items) => Ok(items),
        Err(e) => match classify(conn, "list", resource, namespace, e) {
            e @ ClusterError::Forbidden { .. } => {
                warnings.push(format!("{}; continuing without them", one_line(&e)));
                Ok(vec![])
            }
            e => Err(e),
        },
    }
}

/// Fetches the last `lines` log lines of every root-cause container in the report (the only
/// per-object requests the plugin makes), concurrently, and attaches them.
pub async fn attach_logs(conn: &Connection, report: &mut Report, lines: u32, warn: &mut dyn FnMut(String)) {
    let mut wanted: Vec<(String, String, String, bool)> = Vec::new();
    for stage in &report.stages {
        if let Some(c) = &stage.root_cause
            && let (true, Some(container)) = (c.kind == "Pod", &c.container)
        {
            // Waiting containers (image pull, config errors) have never run: no logs.
            let ran = c.exit_code.is_some() || c.reason == Reason::StillRunning;
            let key = (c.namespace.clone(), c.name.clone(), container.clone(), c.reason == "CrashLoopBackOff");
            if ran && !wanted.contains(&key) {
                wanted.push(key);
            }
        }
    }
    let fetched = join_all(wanted.iter().map(|(ns, pod, container, previous)| async move {
        let api: Api<Pod> = Api::namespaced(conn.client.clone(), ns);
        let params = LogParams {
            container: Some(container.clone()),
            tail_lines: Some(lines as i64),
            previous: *previous,
            ..LogParams::default()
        };
        retry(conn, async || api.logs(pod, &params).await).await
    }))
    .await;
    for ((ns, pod, container, _), result) in wanted.iter().zip(fetched) {
        match result {
            Ok(text) => {
                let lines: Vec<String> = text.lines().map(str::to_string).collect();
                // The stage's cause, and the same cause on a ResourceSet's step.
                let causes = report.stages.iter_mut().flat_map(|s| {
                    let steps = s.steps.iter_mut().flatten().filter_map(|step| step.root_cause.as_mut());
                    s.root_cause.as_mut().into_iter().chain(steps)
                });
                for c in causes {
                    if &c.namespace == ns && &c.name == pod && c.container.as_ref() == Some(container) {
                        c.logs = Some(lines.clone());
                    }
                }
            }
            Err(e) => warn(format!("cannot read logs of pod {ns}/{pod} container {container}: {}", short_error(&e))),
        }
    }
}

fn short_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => status.message.clone(),
        other => one_line(other),
    }
}

/// GET one object; `None` when it does not exist.
async fn get_opt<K>(
    conn: &Connection,
    api: Api<K>,
    resource: &str,
    ns: &str,
    name: &str,
) -> Result<Option<K>, ClusterError>
where
    K: Clone + DeserializeOwned + Debug,
{
    retry(conn, async || api.get_opt(name).await)
        .await
        .map_err(|e| classify(conn, "get", &format!("{resource} {name:?}"), Some(ns), e))
}

pub async fn get_job(conn: &Connection, job: &NamespacedName) -> Result<Option<Job>, ClusterError> {
    let api = Api::namespaced(conn.client.clone(), &job.namespace);
    get_opt(conn, api, "jobs.batch", &job.namespace, &job.name).await
}

pub async fn get_kustomization(conn: &Connection, id: &StageId) -> Result<Option<Kustomization>, ClusterError> {
    let api = Api::namespaced(conn.client.clone(), &id.namespace);
    get_opt(conn, api, &resource_name("Kustomization"), &id.namespace, &id.name).await
}

/// The stage `id`, of its kind.
pub async fn get_stage(conn: &Connection, id: &StageId) -> Result<Option<Stage>, ClusterError> {
    let (client, ns, name) = (conn.client.clone(), &id.namespace, &id.name);
    let resource = resource_name(id.kind.as_str());
    Ok(match id.kind {
        StageKind::Kustomization => {
            get_opt(conn, Api::namespaced(client, ns), &resource, ns, name).await?.map(Stage::Kustomization)
        }
        StageKind::ResourceSet => {
            get_opt(conn, Api::namespaced(client, ns), &resource, ns, name).await?.map(Stage::ResourceSet)
        }
    })
}

/// The Jobs a stage applied, found by kustomize-controller's owner labels: one LIST per namespace
/// the stage deploys into.
pub async fn stage_jobs(
    conn: &Connection,
    ks: &Kustomization,
    namespaces: &[String],
) -> Result<Vec<Job>, ClusterError> {
    let selector = format!("{OWNER_NAME_LABEL}={},{OWNER_NAMESPACE_LABEL}={}", ks.name(), ks.namespace());
    let lists = join_all(namespaces.iter().map(|ns| {
        let api: Api<Job> = Api::namespaced(conn.client.clone(), ns);
        let params = ListParams::default().labels(&selector);
        async move { (ns, retry(conn, async || api.list(&params).await).await) }
    }))
    .await;
    let mut jobs = Vec::new();
    for (ns, list) in lists {
        jobs.extend(list.map_err(|e| classify(conn, "list", "jobs.batch", Some(ns), e))?.items);
    }
    Ok(jobs)
}

/// The Pods of the Job with `uid`, by the selector label the Job controller puts on them
/// (`batch.kubernetes.io/controller-uid`, kubernetes pkg/controller/job/job_controller.go).
pub async fn job_pods(conn: &Connection, namespace: &str, uid: &str) -> Result<Vec<Pod>, ClusterError> {
    let api: Api<Pod> = Api::namespaced(conn.client.clone(), namespace);
    let params = ListParams::default().labels(&format!("batch.kubernetes.io/controller-uid={uid}"));
    let pods = retry(conn, async || api.list(&params).await);
    Ok(pods.await.map_err(|e| classify(conn, "list", "pods", Some(namespace), e))?.items)
}

/// `status.lastHandledReconcileAt` of a source, which source-controller sets like
/// kustomize-controller does.
pub async fn source_handled(conn: &Connection, source: &ObjectRef) -> Result<Option<String>, ClusterError> {
    let (kind, ns, name) = (&source.kind, &source.namespace, &source.name);
    let api = dynamic_source_api(&conn.client, Some(ns), kind);
    let object = get_opt(conn, api, &resource_name(kind), ns, name).await?;
    Ok(object.and_then(|o| o.data["status"]["lastHandledReconcileAt"].as_str().map(String::from)))
}
