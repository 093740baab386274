//! Reads: a [`Snapshot`] with one paginated LIST per kind (all kinds concurrently), the objects a
//! failed health check names, and log tails of root-cause pods. Single objects the commands check
//! before they write are `get`'s.

use std::collections::BTreeSet;
use std::fmt::Debug;

use futures::future::join_all;
use futures::{StreamExt, TryFutureExt};
use http::header::{self, HeaderValue};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta};
use kube::Resource;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, LogParams};
use kube::core::Request;
use serde_json::value::RawValue;

use super::{ClusterError, Connection, api_resource, classify, dynamic_api, retry};
use crate::chain::one_line;
use crate::engine::named_objects::{MAX_FETCHED, named_elsewhere};
use crate::engine::{Wanted, warning_namespaces_shown_by};
use crate::model::{Demand, Presence, READ_KINDS, ReadKind, Role, Snapshot, Want};
use crate::model::{NamedObject, protobuf};
use crate::refs::{NamespacedName, ObjectRef, StageId};
use crate::report::ContainerRef;

/// Page size of every LIST. kubectl's default is 500 (`--chunk-size`), controller-runtime's (and so
/// the flux CLI's) no limit at all; every page is a round trip and a pass of the API server over
/// its watch cache: at N = 1000 namespaces (benches/fleet.rs: 3,500 Pods, 3,000 Kustomizations,
/// 2,100 Jobs) `status -A` took about 0.5 s less with pages of 5000 than of 500 (medians of five),
/// its peak RSS unchanged. Bigger pages hold more text at once.
pub(super) const PAGE_SIZE: u32 = 5000;

/// One page of a LIST, its items left as text until their kind decodes them.
#[derive(serde::Deserialize)]
struct Page<'a> {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
}

/// Every object of one kind in scope, following `continue` tokens, each decoded into the snapshot
/// as its page arrives: only what the engine keeps is held, never every full object of a kind.
/// Objects that do not decode are skipped with a warning each.
pub(super) async fn list_kind(
    conn: &Connection,
    kind: &ReadKind,
    namespace: Option<&str>,
    selector: Option<&str>,
) -> Result<(Snapshot, Vec<String>), kube::Error> {
    let request = Request::new(DynamicObject::url_path(&api_resource(&kind.api), namespace));
    let mut params = ListParams::default().limit(PAGE_SIZE);
    let labels: Vec<&str> = selector.into_iter().chain(kind.label_selector).collect();
    if !labels.is_empty() {
        params = params.labels(&labels.join(","));
    }
    if let Some(fields) = kind.field_selector {
        params = params.fields(fields);
    }
    let mut snapshot = Snapshot::default();
    let mut warnings = Vec::new();
    loop {
        let answer = retry(conn, async || {
            let mut http = request.list(&params).map_err(kube::Error::BuildRequest)?;
            if kind.protobuf_list.is_some() {
                http.headers_mut().insert(header::ACCEPT, HeaderValue::from_static(protobuf::ACCEPT));
            }
            answer(conn, http).await
        })
        .await?;
        let next = match (answer, kind.protobuf_list) {
            (Answer::Protobuf(body), Some(decode)) => {
                decode(kind, &mut snapshot, &body).map_err(|e| not_a_list("protobuf", e))?
            }
            (Answer::Protobuf(_), None) => return Err(not_a_list("protobuf", protobuf::ProtobufError::NotAsked)),
            (Answer::Json(text), _) => {
                let page: Page = serde_json::from_str(&text).map_err(|e| not_a_list("JSON", e))?;
                for item in page.items.into_iter().flatten() {
                    if let Err(e) = kind.decode_text(&mut snapshot, item.get()) {
                        warnings.push(one_line(&MalformedObject { kind: kind.api.kind, id: item_id(item), source: e }));
                    }
                }
                page.metadata.continue_.filter(|token| !token.is_empty())
            }
        };
        match next {
            Some(token) => params = params.continue_token(&token),
            None => return Ok((snapshot, warnings)),
        }
    }
}

/// A successful answer, in the encoding the server chose.
enum Answer {
    Json(String),
    Protobuf(bytes::Bytes),
}

/// Sends a request whose answer may be protobuf; an error answer is kube's `Api` error whichever
/// its encoding, as kube makes it from JSON (kube-client src/client/mod.rs `handle_api_errors`).
async fn answer(conn: &Connection, request: http::Request<Vec<u8>>) -> Result<Answer, kube::Error> {
    let response = conn.client.send(request.map(kube::client::Body::from)).await?;
    let code = response.status();
    let is_protobuf =
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(protobuf::is_protobuf);
    let body = http_body_util::BodyExt::collect(response.into_body()).await?.to_bytes();
    if !(code.is_client_error() || code.is_server_error()) {
        return match is_protobuf {
            true => Ok(Answer::Protobuf(body)),
            // Without a copy: the body is the answer's own.
            false => String::from_utf8(Vec::from(body)).map(Answer::Json).map_err(kube::Error::FromUtf8),
        };
    }
    let text = || String::from_utf8_lossy(&body).trim().to_string();
    let status = match is_protobuf {
        true => protobuf::status(&body).ok(),
        false => serde_json::from_str::<kube::core::Status>(&text()).ok(),
    };
    let status = status
        .unwrap_or_else(|| kube::core::Status::failure(&text(), "Failed to parse error data").with_code(code.as_u16()));
    Err(kube::Error::Api(status.boxed()))
}

/// An answer to a LIST that is not a List in the `encoding` it says it is in (a proxy's error
/// page, a body cut short).
fn not_a_list(encoding: &str, e: impl std::fmt::Display) -> kube::Error {
    let message = format!("the answer is not a {encoding} List ({e})");
    kube::Error::SerdeError(serde::de::Error::custom(message))
}

/// `namespace/name` of an item that did not decode, as far as it can be read.
fn item_id(item: &RawValue) -> String {
    #[derive(serde::Deserialize)]
    struct Named {
        #[serde(default)]
        metadata: ObjectMeta,
    }
    let meta = serde_json::from_str::<Named>(item.get()).map(|n| n.metadata).unwrap_or_default();
    NamespacedName::of(&meta).to_string()
}

/// Reads everything the engine needs in `namespace` (`None`: all namespaces). Kinds the user may
/// not list are skipped with a warning on stderr; Kustomizations are required.
pub async fn read_snapshot(
    conn: &Connection,
    namespace: Option<&str>,
    selector: Option<&str>,
    warn: &mut crate::terminal::Warn<'_>,
) -> Result<Snapshot, ClusterError> {
    let (mut snapshot, warnings, early) = read_first_picture(conn, namespace, selector).await?;
    warnings.into_iter().for_each(&mut *warn);
    // Dependencies in namespaces outside the scope: one more LIST of Kustomizations (and their
    // sources) per such namespace, so that a cross-namespace chain is followed to its end.
    if namespace.is_some() {
        let mut seen: BTreeSet<String> = namespace.into_iter().map(String::from).collect();
        loop {
            let have: BTreeSet<StageId> = snapshot.stage_ids().collect();
            let wanted: BTreeSet<String> = snapshot
                .stages()
                .flat_map(|stage| stage.dependency_ids())
                .filter(|id| !have.contains(id))
                .map(|id| id.namespace)
                .filter(|ns| !seen.contains(ns))
                .collect();
            if wanted.is_empty() {
                break;
            }
            let extra = join_all(wanted.iter().map(|ns| read_namespace(conn, Some(ns), None))).await;
            let reads = wanted.iter().map(|ns| Some(ns.as_str())).zip(extra);
            merge_reads(&mut snapshot, reads, warn, "cannot follow dependencies into");
            seen.extend(wanted);
        }
    }
    // Workloads in namespaces other than the ones read: only their Jobs, Pods, Events, Deployments.
    if namespace.is_some() {
        let read: BTreeSet<String> =
            namespace.into_iter().map(String::from).chain(snapshot.stage_ids().map(|id| id.namespace)).collect();
        let extra: Vec<String> = workload_namespaces(&snapshot).into_iter().filter(|ns| !read.contains(ns)).collect();
        let results = join_all(extra.iter().map(|ns| read_workloads(conn, Some(ns), false))).await;
        let reads = extra.iter().map(|ns| Some(ns.as_str())).zip(results);
        merge_reads(&mut snapshot, reads, warn, "cannot read the workloads in");
    }
    let wanted = Wanted::of(&snapshot);
    read_when_wanted(conn, namespace, &wanted, early, &mut snapshot, warn).await;
    let named = named_objects(conn, &named_elsewhere(&snapshot), warn).await;
    snapshot.named_objects.extend(named);
    Ok(snapshot)
}

/// Above this many namespaces, an all-namespaces read LISTs a kind read when wanted once for the
/// whole cluster rather than once per namespace.
const WANTED_NAMESPACES_APART: usize = 8;

/// A part read when wanted that was read early, for the cluster, and what its read gave.
type EarlyRead = (&'static ReadKind, Result<(Snapshot, Vec<String>), ClusterError>);

/// The first picture: every kind read always, in `namespace` (`None`: all namespaces). Across
/// all namespaces, each kind's LIST tells as it comes in where it shows Warning events are wanted
/// ([`warning_namespaces_shown_by`]: stages not settled, Jobs not `Complete`); once more than
/// [`WANTED_NAMESPACES_APART`] namespaces are told, the Warning events will be wanted for the whole
/// cluster whatever the rest shows, so their LIST (the slowest of a big cluster: the API server
/// reads every event from etcd) starts then, beside the rest of the first picture rather than
/// after it.
async fn read_first_picture(
    conn: &Connection,
    namespace: Option<&str>,
    selector: Option<&str>,
) -> Result<(Snapshot, Vec<String>, Vec<EarlyRead>), ClusterError> {
    if namespace.is_some() {
        let (snapshot, warnings) = read_namespace(conn, namespace, selector).await?;
        return Ok((snapshot, warnings, Vec::new()));
    }
    let (tell, mut told) = futures::channel::mpsc::unbounded::<BTreeSet<String>>();
    // Each kind tells once it is in; the channel closes when the first picture is read, as
    // `tell_each`, which holds its sender, goes with that read.
    let tell_each = move |part: &Snapshot| drop(tell.unbounded_send(warning_namespaces_shown_by(part)));
    let first_picture = read_kinds_telling(conn, None, selector, |k| k.demand == Demand::Always, tell_each);
    let warnings_early = async {
        let mut shown = BTreeSet::new();
        while let Some(namespaces) = told.next().await {
            shown.extend(namespaces);
            if shown.len() > WANTED_NAMESPACES_APART {
                let mut early = Vec::new();
                for kind in READ_KINDS.iter().filter(|k| k.demand == Demand::WhenWanted(Want::WarningEvents)) {
                    early.push((kind, read_kinds(conn, None, None, |k| std::ptr::eq(k, kind)).await));
                }
                return early;
            }
        }
        Vec::new()
    };
    let (first_picture, early) = futures::join!(first_picture, warnings_early);
    let (snapshot, warnings) = first_picture?;
    Ok((snapshot, warnings, early))
}

/// The parts of kinds read only when wanted ([`Demand::WhenWanted`]), each in the namespaces
/// `wanted` names for it, into `snapshot`: concurrently, one LIST per part and namespace (or one
/// for the cluster when `scope` is all of it and many are wanted), but the parts `early` read
/// already. A failure is a warning: what they tell is context, not the cause.
async fn read_when_wanted(
    conn: &Connection,
    scope: Option<&str>,
    wanted: &Wanted,
    early: Vec<EarlyRead>,
    snapshot: &mut Snapshot,
    warn: &mut crate::terminal::Warn<'_>,
) {
    let mut lists: Vec<(&ReadKind, Option<&str>)> = Vec::new();
    for kind in READ_KINDS.iter() {
        let Demand::WhenWanted(want) = kind.demand else { continue };
        if early.iter().any(|(read, _)| std::ptr::eq(*read, kind)) {
            continue;
        }
        let namespaces = wanted.namespaces(want);
        match scope {
            None if namespaces.len() > WANTED_NAMESPACES_APART => lists.push((kind, None)),
            _ => lists.extend(namespaces.iter().map(|ns| (kind, Some(ns.as_str())))),
        }
    }
    let reads = join_all(lists.iter().map(|(part, ns)| read_kinds(conn, *ns, None, |k| std::ptr::eq(k, *part)))).await;
    // RBAC grants a resource whole: a refusal of a kind with a part in the first picture was said
    // then, and the refusal of one read only when wanted (events) is said once for its parts.
    let first_read: Vec<String> = READ_KINDS
        .iter()
        .filter(|k| k.demand == Demand::Always)
        .map(|k| format!("forbidden: cannot list {} ", k.api.resource()))
        .collect();
    let mut said = BTreeSet::new();
    let mut unsaid = |warning: String| {
        if !first_read.iter().any(|said| warning.starts_with(said.as_str())) && said.insert(warning.clone()) {
            warn(warning);
        }
    };
    let places = lists.iter().map(|(_, ns)| *ns);
    let early = early.into_iter().map(|(_, read)| (None, read));
    merge_reads(snapshot, early.chain(places.zip(reads)), &mut unsaid, "cannot read the other events or pods of");
}

/// Merges the reads of several namespaces (`None`: the cluster) into `snapshot`, their warnings
/// said; a read that failed is said as `failed` and the place.
fn merge_reads<'a>(
    snapshot: &mut Snapshot,
    reads: impl IntoIterator<Item = (Option<&'a str>, Result<(Snapshot, Vec<String>), ClusterError>)>,
    warn: &mut crate::terminal::Warn<'_>,
    failed: &str,
) {
    for (ns, read) in reads {
        match read {
            Ok((more, warnings)) => {
                snapshot.merge(more);
                warnings.into_iter().for_each(&mut *warn);
            }
            Err(e) => {
                let place = ns.map_or("the cluster".to_string(), |ns| format!("namespace {ns:?}"));
                warn(format!("{failed} {place}: {}", one_line(&e)));
            }
        }
    }
}

/// The objects a failed health check names whose kind no LIST covers (an operator's custom
/// resource), one GET each, at most [`MAX_FETCHED`], concurrently: the one exception to "no
/// per-object GETs". The API resource comes from the stage's inventory entry (group and version),
/// else from discovery; a kind several groups serve, a 403 or a failed lookup is a warning, never a
/// guess.
pub async fn named_objects(
    conn: &Connection,
    wanted: &[(ObjectRef, Option<String>)],
    warn: &mut crate::terminal::Warn<'_>,
) -> Vec<NamedObject> {
    if wanted.len() > MAX_FETCHED {
        warn(format!(
            "health checks name {} objects of kinds not listed; only the first {MAX_FETCHED} are read",
            wanted.len()
        ));
    }
    let wanted = &wanted[..wanted.len().min(MAX_FETCHED)];
    let mut discovery: Option<Result<kube::Discovery, kube::Error>> = None;
    let mut lookups = Vec::new();
    for (object, api_version) in wanted {
        let resource = match api_version {
            Some(api_version) => {
                let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
                let gvk = GroupVersionKind::gvk(group, version, object.kind.as_str());
                kube::discovery::pinned_kind(&conn.client, &gvk).await.map(|(r, _)| r).map_err(|e| one_line(&e))
            }
            None => {
                if discovery.is_none() {
                    discovery = Some(kube::Discovery::new(conn.client.clone()).run().await);
                }
                match discovery.as_ref().expect("just run") {
                    Ok(discovery) => {
                        let served: Vec<ApiResource> = discovery
                            .groups()
                            .flat_map(|g| g.recommended_resources())
                            .filter(|(r, _)| r.kind == object.kind.as_str())
                            .map(|(r, _)| r)
                            .collect();
                        match served.as_slice() {
                            [one] => Ok(one.clone()),
                            [] => Err(format!("no API group serves kind {}", object.kind)),
                            several => {
                                let groups: Vec<String> = several.iter().map(|r| r.group.clone()).collect();
                                Err(format!(
                                    "kind {} is served by several API groups ({}); not guessed",
                                    object.kind,
                                    groups.join(", ")
                                ))
                            }
                        }
                    }
                    Err(e) => Err(format!("discovery failed: {}", one_line(e))),
                }
            }
        };
        match resource {
            Ok(resource) => lookups.push((object, resource)),
            Err(why) => warn(format!("cannot read {object}, which a health check names: {why}")),
        }
    }
    let results = join_all(lookups.iter().map(|(object, resource)| async move {
        let api = dynamic_api(&conn.client, Some(&object.namespace), resource);
        retry(conn, async || api.get_opt(&object.name).await).await
    }))
    .await;
    let mut out = Vec::new();
    for ((object, resource), result) in lookups.iter().zip(results) {
        match result.map(|found| found.map(serde_json::to_value)) {
            Ok(Some(Ok(value))) => match serde_json::from_value::<NamedObject>(value) {
                Ok(named) => out.push(NamedObject { kind: object.kind.clone(), ..named }),
                Err(e) => warn(format!("cannot read {object}: malformed object: {e}")),
            },
            Ok(None) => {}
            Ok(Some(Err(e))) => warn(format!("cannot read {object}: {e}")),
            Err(e) => {
                let plural = if resource.group.is_empty() {
                    resource.plural.clone()
                } else {
                    format!("{}.{}", resource.plural, resource.group)
                };
                let e = classify(conn, "get", &format!("{plural} {:?}", object.name), Some(&object.namespace), e);
                warn(format!("cannot read {object}, which a health check names: {}", one_line(&e)));
            }
        }
    }
    out
}

/// One namespace's (or all namespaces') objects of every kind `status` reads (but those read when
/// wanted), and warnings about kinds that were skipped. The label selector applies to stages.
async fn read_namespace(
    conn: &Connection,
    namespace: Option<&str>,
    selector: Option<&str>,
) -> Result<(Snapshot, Vec<String>), ClusterError> {
    read_kinds(conn, namespace, selector, |kind| kind.demand == Demand::Always).await
}

/// Jobs, Pods, Events and Deployments of one namespace (or all); `every_part` reads the kinds read
/// when wanted too (in another cluster, where the stages that tell what is wanted are not).
pub(super) async fn read_workloads(
    conn: &Connection,
    namespace: Option<&str>,
    every_part: bool,
) -> Result<(Snapshot, Vec<String>), ClusterError> {
    let wanted = |kind: &ReadKind| kind.role == Role::Workload && (every_part || kind.demand == Demand::Always);
    read_kinds(conn, namespace, None, wanted).await
}

/// The objects of the kinds `wanted` selects in one namespace, for completion; kinds that cannot
/// be listed are left out.
pub async fn read_some(
    conn: &Connection,
    namespace: &str,
    wanted: impl Fn(&ReadKind) -> bool,
) -> Result<Snapshot, ClusterError> {
    read_kinds(conn, Some(namespace), None, wanted).await.map(|(snapshot, _)| snapshot)
}

/// The kinds `wanted` selects, one LIST each, concurrently.
async fn read_kinds(
    conn: &Connection,
    namespace: Option<&str>,
    selector: Option<&str>,
    wanted: impl Fn(&ReadKind) -> bool,
) -> Result<(Snapshot, Vec<String>), ClusterError> {
    read_kinds_telling(conn, namespace, selector, wanted, |_| ()).await
}

/// [`read_kinds`], showing `tell` what each kind read as soon as it is in.
async fn read_kinds_telling(
    conn: &Connection,
    namespace: Option<&str>,
    selector: Option<&str>,
    wanted: impl Fn(&ReadKind) -> bool,
    tell: impl Fn(&Snapshot),
) -> Result<(Snapshot, Vec<String>), ClusterError> {
    let kinds: Vec<&ReadKind> = READ_KINDS.iter().filter(|k| wanted(k)).collect();
    let lists = join_all(kinds.iter().map(|kind| {
        let selector = selector.filter(|_| kind.role == Role::Stage);
        list_kind(conn, kind, namespace, selector).inspect_ok(|(part, _)| tell(part))
    }))
    .await;
    let mut snapshot = Snapshot::default();
    let mut warnings = Vec::new();
    for (kind, list) in kinds.iter().zip(lists) {
        match list {
            Ok((part, malformed)) => {
                snapshot.merge(part);
                warnings.extend(malformed);
            }
            // A CRD that is not installed: none of that kind (ExternalArtifact needs Flux 2.7+,
            // ResourceSets Flux Operator).
            Err(kube::Error::Api(status)) if status.code == 404 && kind.presence == Presence::Crd => {}
            Err(e) => match classify(conn, "list", &kind.api.resource(), namespace, e) {
                // A kind read in parts is refused once for all of them.
                e @ ClusterError::Forbidden { .. } if kind.presence != Presence::Required => {
                    let warning = format!("{}; continuing without them", one_line(&e));
                    if !warnings.contains(&warning) {
                        warnings.push(warning);
                    }
                }
                e => return Err(e),
            },
        }
    }
    Ok((snapshot, warnings))
}

/// An object the API server returned that does not have its kind's shape.
#[derive(Debug, thiserror::Error)]
#[error("skipping malformed {kind} {id}")]
pub struct MalformedObject {
    kind: &'static str,
    id: String,
    #[source]
    source: serde_json::Error,
}

/// Namespaces the stages of every kind apply objects into ([`StageObject::applied_namespaces`]):
/// stages usually live in flux-system and deploy elsewhere.
pub fn workload_namespaces(snapshot: &Snapshot) -> BTreeSet<String> {
    snapshot.stages().flat_map(|stage| stage.applied_namespaces()).collect()
}

/// The last `lines` log lines of each container (all of them with `None`), concurrently (the
/// only per-object requests `status` makes); an error is one line naming the container.
pub async fn container_logs(
    conn: &Connection,
    containers: &[ContainerRef],
    lines: Option<u32>,
) -> Vec<Result<Vec<String>, String>> {
    join_all(containers.iter().map(|c| async move {
        let api: Api<Pod> = Api::namespaced(conn.client.clone(), &c.namespace);
        let params = LogParams {
            container: Some(c.container.clone()),
            tail_lines: lines.map(i64::from),
            previous: c.previous,
            ..LogParams::default()
        };
        let text = retry(conn, async || api.logs(&c.pod, &params).await).await;
        text.map(|t| t.lines().map(str::to_string).collect()).map_err(|e| {
            format!("cannot read logs of pod {}/{} container {}: {}", c.namespace, c.pod, c.container, short_error(&e))
        })
    }))
    .await
}

fn short_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => status.message.clone(),
        other => one_line(other),
    }
}

/// The namespaces that hold stages of any kind, across the cluster; none when they cannot be
/// listed (the user may see only one namespace). Read only when a namespace holds no stage, to say
/// where to look instead.
pub async fn stage_namespaces(conn: &Connection) -> Vec<String> {
    match read_kinds(conn, None, None, |kind| kind.role == Role::Stage).await {
        Ok((snapshot, _)) => snapshot.stage_ids().map(|id| id.namespace).collect(),
        Err(_) => vec![],
    }
}
