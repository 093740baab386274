//! Single reads the commands make before and after they write: one object by name, the Jobs of
//! a stage or the pods of a Job by their labels, the server's version and API groups, the names of
//! namespaces (for completion). `status`'s snapshot is `read`'s.

use std::fmt::Debug;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIGroupList;
use kube::api::{Api, ListParams};
use serde::de::DeserializeOwned;

use super::{ClusterError, Connection, api_resource, classify, dynamic_api, flux_api_resource, resource_name, retry};
use crate::model::{Snapshot, Stage, StageObject, stage_read_kind};
use crate::refs::{NamespacedName, ObjectRef, StageId};

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

/// The names of every namespace (metadata only).
pub async fn namespace_names(conn: &Connection) -> Result<Vec<String>, ClusterError> {
    let api: Api<Namespace> = Api::all(conn.client.clone());
    let list = retry(conn, async || api.list_metadata(&ListParams::default()).await);
    let list = list.await.map_err(|e| classify(conn, "list", "namespaces", None, e))?;
    Ok(list.items.into_iter().filter_map(|n| n.metadata.name).collect())
}

/// The API server's version (`GET /version`).
pub async fn server_version(conn: &Connection) -> Result<String, ClusterError> {
    let info = retry(conn, async || conn.client.apiserver_version().await);
    Ok(info.await.map_err(|e| classify(conn, "get", "version", None, e))?.git_version)
}

/// The API groups the server serves (discovery).
pub async fn api_groups(conn: &Connection) -> Result<APIGroupList, ClusterError> {
    let groups = retry(conn, async || conn.client.list_api_groups().await);
    groups.await.map_err(|e| classify(conn, "list", "API groups", None, e))
}

pub async fn get_deployment(conn: &Connection, ns: &str, name: &str) -> Result<Option<Deployment>, ClusterError> {
    get_opt(conn, Api::namespaced(conn.client.clone(), ns), "deployments.apps", ns, name).await
}

pub async fn get_job(conn: &Connection, job: &NamespacedName) -> Result<Option<Job>, ClusterError> {
    let api = Api::namespaced(conn.client.clone(), &job.namespace);
    get_opt(conn, api, "jobs.batch", &job.namespace, &job.name).await
}

/// The stage `id`, of its kind: decoded as the snapshot decodes stages.
pub async fn get_stage(conn: &Connection, id: &StageId) -> Result<Option<Stage>, ClusterError> {
    let kind = stage_read_kind(id.kind);
    let api = dynamic_api(&conn.client, Some(&id.namespace), &api_resource(&kind.api));
    let Some(object) = get_opt(conn, api, &kind.api.resource(), &id.namespace, &id.name).await? else {
        return Ok(None);
    };
    let mut snapshot = Snapshot::default();
    let value = serde_json::to_value(object).and_then(|value| kind.decode_value(&mut snapshot, value));
    value.map_err(|e| ClusterError::Api {
        verb: "get",
        resource: format!("{} {:?}", kind.api.resource(), id.name),
        scope: format!("namespace {:?}", id.namespace),
        message: format!("malformed object: {e}"),
    })?;
    Ok(snapshot.stage(id))
}

/// The Jobs a stage applied, found by the owner labels its controller stamps (from the stage kind
/// table): one LIST per namespace the stage deploys into.
pub async fn stage_jobs(
    conn: &Connection,
    stage: &dyn StageObject,
    namespaces: &[String],
) -> Result<Vec<Job>, ClusterError> {
    let (name_label, namespace_label) = stage.stage_kind().info().owner_labels;
    let selector = format!("{name_label}={},{namespace_label}={}", stage.name(), stage.namespace());
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
    let (kind, ns, name) = (source.kind.as_str(), &source.namespace, &source.name);
    let api = dynamic_api(&conn.client, Some(ns), &flux_api_resource(kind));
    let object = get_opt(conn, api, &resource_name(kind), ns, name).await?;
    Ok(object.and_then(|o| o.data["status"]["lastHandledReconcileAt"].as_str().map(String::from)))
}
