//! All cluster I/O: building a client from kubectl-style flags, reading a [`Snapshot`] with one
//! paginated LIST per kind (all kinds concurrently), and fetching log tails of root-cause pods.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, LogParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde::de::DeserializeOwned;

pub mod watch;
pub mod write;

use crate::model::{
    KUSTOMIZE_GROUP, Kustomization, SOURCE_GROUP, SOURCE_KINDS, Snapshot, Source, event_is_relevant, slim_deployment,
    slim_job, slim_pod, source_plural,
};
use crate::report::Report;

/// Page size of every LIST, as kubectl uses (`--chunk-size` default 500).
const PAGE_SIZE: u32 = 500;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot load kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("cannot reach the Kubernetes API server at {server}: {reason}")]
    Unreachable { server: String, reason: String },
    #[error("the API server at {server} rejected the credentials (401 Unauthorized): {message}")]
    Unauthorized { server: String, message: String },
    #[error("forbidden: cannot {verb} {resource} in {scope}: {message}")]
    Forbidden { verb: &'static str, resource: String, scope: String, message: String },
    #[error(
        "Flux is not installed on {server}: the API server does not serve kustomizations.kustomize.toolkit.fluxcd.io/v1 (Flux >= 2.0 is needed; `flux check` tells more)"
    )]
    FluxMissing { server: String },
    #[error("the API server at {server} does not serve {resource}: its CRD is not installed")]
    NotServed { server: String, resource: String },
    #[error("cannot {verb} {resource} in {scope}: {message}")]
    Api { verb: &'static str, resource: String, scope: String, message: String },
}

/// The kubeconfig selection flags, as kubectl has them.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<std::path::PathBuf>,
    pub context: Option<String>,
    pub cluster: Option<String>,
    pub user: Option<String>,
    /// `None` for no limit (`--request-timeout=0`).
    pub request_timeout: Option<Duration>,
}

/// A connected client, its server URL (for messages), and the context's default namespace.
pub struct Connection {
    pub client: Client,
    pub server: String,
    pub default_namespace: String,
}

/// Parses kubectl's `--request-timeout`: `0` (no limit), a number of seconds, or `1h2m3s`-style.
pub fn parse_request_timeout(s: &str) -> Result<Option<Duration>, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(None);
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Some(Duration::from_secs(secs)));
    }
    crate::engine::parse_go_duration(s)
        .and_then(|d| d.try_into().ok())
        .map(Some)
        .ok_or_else(|| format!("invalid --request-timeout {s:?}: use a duration such as 30s or 1m, or 0 for no limit"))
}

pub async fn connect(options: &ConnectOptions) -> Result<Connection, ClusterError> {
    let kube_options = KubeConfigOptions {
        context: options.context.clone(),
        cluster: options.cluster.clone(),
        user: options.user.clone(),
    };
    let mut config = match &options.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|e| ClusterError::Kubeconfig(format!("{}: {}", path.display(), error_chain(&e))))?;
            Config::from_custom_kubeconfig(kubeconfig, &kube_options).await.map_err(kubeconfig_error)?
        }
        // No overrides: kube-rs's inference reads $KUBECONFIG (merged) or ~/.kube/config, then in-cluster.
        None if options.context.is_none() && options.cluster.is_none() && options.user.is_none() => {
            Config::infer().await.map_err(|e| {
                let home_config = std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".kube/config"));
                if std::env::var_os("KUBECONFIG").is_none() && !home_config.is_some_and(|p| p.exists()) {
                    ClusterError::Kubeconfig(
                        "none found: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config".into(),
                    )
                } else {
                    kubeconfig_error(e)
                }
            })?
        }
        None => Config::from_kubeconfig(&kube_options).await.map_err(kubeconfig_error)?,
    };
    config.connect_timeout = options.request_timeout.or(Some(Duration::from_secs(30)));
    config.read_timeout = options.request_timeout;
    config.write_timeout = options.request_timeout;
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let default_namespace = config.default_namespace.clone();
    let client = Client::try_from(config).map_err(|e| ClusterError::Kubeconfig(error_chain(&e)))?;
    Ok(Connection { client, server, default_namespace })
}

fn kubeconfig_error(e: impl std::error::Error + 'static) -> ClusterError {
    ClusterError::Kubeconfig(error_chain(&e))
}

/// `error: cause: cause` on one line (parsers' multi-line snippets keep their first line).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let first_line = |e: &dyn std::error::Error| e.to_string().lines().next().unwrap_or_default().trim().to_string();
    let mut out = first_line(e);
    let mut source = e.source();
    while let Some(s) = source {
        let text = first_line(s);
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn scope_text(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("namespace {ns:?}"),
        None => "all namespaces".into(),
    }
}

/// The `resource.group` name of a Kustomization or source kind, as errors name it.
pub(crate) fn resource_name(kind: &str) -> String {
    match kind {
        "Kustomization" => format!("kustomizations.{KUSTOMIZE_GROUP}"),
        source => format!("{}.{SOURCE_GROUP}", source_plural(source)),
    }
}

/// An API error as one clear line, naming the verb, the resource and the scope.
pub(crate) fn classify(
    conn: &Connection,
    verb: &'static str,
    resource: &str,
    namespace: Option<&str>,
    e: kube::Error,
) -> ClusterError {
    let scope = scope_text(namespace);
    match e {
        kube::Error::Api(status) => match status.code {
            401 => ClusterError::Unauthorized { server: conn.server.clone(), message: status.message.clone() },
            403 => ClusterError::Forbidden { verb, resource: resource.into(), scope, message: status.message.clone() },
            // A missing object is a `Status` with reason NotFound; a resource type the server does
            // not serve (its CRD is not installed) is a bare "404 page not found", which kube-client
            // turns into reason "Failed to parse error data".
            404 if status.reason != "NotFound" => {
                if resource.starts_with(&resource_name("Kustomization")) {
                    ClusterError::FluxMissing { server: conn.server.clone() }
                } else {
                    ClusterError::NotServed { server: conn.server.clone(), resource: resource.into() }
                }
            }
            _ => ClusterError::Api { verb, resource: resource.into(), scope, message: status.message.clone() },
        },
        other => ClusterError::Unreachable { server: conn.server.clone(), reason: error_chain(&other) },
    }
}

/// Every object of one kind in scope, following `continue` tokens, each passed through `keep` as
/// soon as its page arrives: only what the engine reads is held, never every full object of a kind.
async fn list_all<K, T>(
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
        let page = api.list(&params).await?;
        items.extend(page.items.into_iter().filter_map(&keep));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(items),
        }
    }
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The API resource of a source kind (source.toolkit.fluxcd.io/v1, under its CRD's plural).
pub(crate) fn source_api_resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(SOURCE_GROUP, "v1", kind), &source_plural(kind))
}

pub(crate) fn dynamic_source_api(client: &Client, namespace: Option<&str>, kind: &str) -> Api<DynamicObject> {
    let resource = source_api_resource(kind);
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
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
            let have: BTreeSet<String> = snapshot.kustomizations.iter().map(|k| k.id()).collect();
            let wanted: BTreeSet<String> = snapshot
                .kustomizations
                .iter()
                .flat_map(|k| k.dependency_ids())
                .filter(|id| !have.contains(id))
                .filter_map(|id| id.split_once('/').map(|(ns, _)| ns.to_string()))
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
                    Err(e) => warn(format!("cannot follow dependencies into namespace {ns:?}: {e}")),
                }
            }
        }
    }
    // Workloads in namespaces other than the ones read: only their Jobs, Pods, Events, Deployments.
    if namespace.is_some() {
        let read: BTreeSet<String> = namespace
            .into_iter()
            .map(String::from)
            .chain(snapshot.kustomizations.iter().map(|k| k.namespace().to_string()))
            .collect();
        let extra: Vec<String> = workload_namespaces(&snapshot).into_iter().filter(|ns| !read.contains(ns)).collect();
        let results = join_all(extra.iter().map(|ns| read_workloads(conn, Some(ns)))).await;
        for (ns, result) in extra.iter().zip(results) {
            match result {
                Ok((more, warnings)) => {
                    merge(&mut snapshot, more);
                    warnings.into_iter().for_each(&mut *warn);
                }
                Err(e) => warn(format!("cannot read the workloads in namespace {ns:?}: {e}")),
            }
        }
    }
    Ok(snapshot)
}

fn merge(into: &mut Snapshot, more: Snapshot) {
    into.kustomizations.extend(more.kustomizations);
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
    let kustomizations = list_all(api::<Kustomization>(client, namespace), selector, Some);
    let sources = join_all(SOURCE_KINDS.iter().map(|kind| async move {
        let objects = list_all(dynamic_source_api(client, namespace, kind), None, Some).await;
        (*kind, objects)
    }));
    let workloads = read_workloads(conn, namespace);
    let (kustomizations, sources, workloads) = futures::join!(kustomizations, sources, workloads);

    let kustomizations =
        kustomizations.map_err(|e| classify(conn, "list", &resource_name("Kustomization"), namespace, e))?;
    let (mut snapshot, mut warnings) = workloads?;
    snapshot.kustomizations = kustomizations;
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
                Err(warning) => warnings.push(warning),
            }
        }
    }
    Ok((snapshot, warnings))
}

/// A source object read through the dynamic API, typed; a malformed one becomes a warning.
pub(crate) fn source_from_dynamic(kind: &str, object: &DynamicObject) -> Result<Source, String> {
    let mut value = serde_json::to_value(object).map_err(|e| e.to_string())?;
    value["kind"] = serde_json::Value::String(kind.to_string());
    serde_json::from_value::<Source>(value)
        .map_err(|e| format!("skipping malformed {kind} {}: {e}", crate::model::meta_id(&object.metadata)))
}

/// Jobs, Pods, Events and Deployments of one namespace (or all), one LIST each, concurrently.
async fn read_workloads(conn: &Connection, namespace: Option<&str>) -> Result<(Snapshot, Vec<String>), ClusterError> {
    let client = &conn.client;
    let (jobs, pods, events, deployments) = futures::join!(
        list_all(api::<Job>(client, namespace), None, |job| Some(slim_job(job))),
        list_all(api::<Pod>(client, namespace), None, |pod| Some(slim_pod(pod))),
        list_all(api::<Event>(client, namespace), None, |event| event_is_relevant(&event).then_some(event)),
        list_all(api::<Deployment>(client, namespace), None, |d| Some(slim_deployment(d))),
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
    for ks in &snapshot.kustomizations {
        out.extend(ks.spec.target_namespace.iter().filter(|ns| !ns.is_empty()).cloned());
        for (group, kind) in [("batch", "Job"), ("apps", "Deployment")] {
            out.extend(crate::engine::inventory_objects(ks, group, kind).into_iter().map(|(ns, _)| ns));
        }
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
                warnings.push(format!("{e}; continuing without them"));
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
            let ran = c.exit_code.is_some();
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
        api.logs(pod, &params).await
    }))
    .await;
    for ((ns, pod, container, _), result) in wanted.iter().zip(fetched) {
        match result {
            Ok(text) => {
                let lines: Vec<String> = text.lines().map(str::to_string).collect();
                for stage in &mut report.stages {
                    if let Some(c) = stage.root_cause.as_mut()
                        && &c.namespace == ns
                        && &c.name == pod
                        && c.container.as_ref() == Some(container)
                    {
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
        other => error_chain(other),
    }
}
