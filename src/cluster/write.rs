//! The writes `rerun` and `reconcile` make, and the reads they poll while waiting. Every write is a
//! single request with an explicit field manager; nothing here loops over objects.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions, PropagationPolicy};
use serde::de::DeserializeOwned;

use super::{ClusterError, Connection, classify, dynamic_source_api, resource_name};
use crate::model::{Kustomization, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, RECONCILE_REQUEST_ANNOTATION};

/// The field manager of every write. It must not start with `kubectl`: kustomize-controller takes
/// over fields of managers with that prefix, which would revert our edits on Kustomizations that a
/// parent Kustomization manages (KC ctrl.go apply(), fluxcd/pkg ssa/patch.go matchFieldManager).
pub const FIELD_MANAGER: &str = "fluxjobs";

/// GET one object; `None` when it does not exist.
async fn get_opt<K>(
    conn: &Connection,
    api: Api<K>,
    resource: &str,
    ns: &str,
    name: &str,
) -> Result<Option<K>, ClusterError>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.get_opt(name).await {
        Ok(object) => Ok(object),
        Err(e) => Err(classify(conn, "get", &format!("{resource} {name:?}"), Some(ns), e)),
    }
}

pub async fn get_job(conn: &Connection, ns: &str, name: &str) -> Result<Option<Job>, ClusterError> {
    get_opt(conn, Api::namespaced(conn.client.clone(), ns), "jobs.batch", ns, name).await
}

pub async fn get_kustomization(conn: &Connection, ns: &str, name: &str) -> Result<Option<Kustomization>, ClusterError> {
    get_opt(conn, Api::namespaced(conn.client.clone(), ns), &resource_name("Kustomization"), ns, name).await
}

/// The Jobs a stage applied, found by kustomize-controller's owner labels: one LIST per namespace
/// the stage deploys into.
pub async fn stage_jobs(
    conn: &Connection,
    ks: &Kustomization,
    namespaces: &[String],
) -> Result<Vec<Job>, ClusterError> {
    let selector = format!("{OWNER_NAME_LABEL}={},{OWNER_NAMESPACE_LABEL}={}", ks.name(), ks.namespace());
    let lists = futures::future::join_all(namespaces.iter().map(|ns| {
        let api: Api<Job> = Api::namespaced(conn.client.clone(), ns);
        let params = ListParams::default().labels(&selector);
        async move { (ns, api.list(&params).await) }
    }))
    .await;
    let mut jobs = Vec::new();
    for (ns, list) in lists {
        jobs.extend(list.map_err(|e| classify(conn, "list", "jobs.batch", Some(ns), e))?.items);
    }
    Ok(jobs)
}

pub enum Deleted {
    /// Deleted now (the API server accepted it; the Job may still be terminating).
    Deleted,
    /// Already gone.
    Gone,
    /// A Job of that name exists with another uid: recreated meanwhile, and left alone.
    Replaced,
}

/// Deletes one Job with Background propagation (as kustomize-controller's force does) and a uid
/// precondition, so a Job recreated meanwhile under the same name is never deleted.
pub async fn delete_job(conn: &Connection, ns: &str, name: &str, uid: &str) -> Result<Deleted, ClusterError> {
    let api: Api<Job> = Api::namespaced(conn.client.clone(), ns);
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: Some(Preconditions { uid: Some(uid.to_string()), resource_version: None }),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(Deleted::Deleted),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Deleted::Gone),
        // A failed uid precondition is a 409 Conflict.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Deleted::Replaced),
        Err(e) => Err(classify(conn, "delete", &format!("jobs.batch {name:?}"), Some(ns), e)),
    }
}

/// Waits until the Job with `uid` no longer exists (a Job of the same name with another uid counts
/// as gone). Polls one GET per second, as `flux reconcile` polls.
pub async fn wait_job_gone(
    conn: &Connection,
    ns: &str,
    name: &str,
    uid: &str,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match get_job(conn, ns, name).await.map_err(|e| e.to_string())? {
            None => return Ok(()),
            Some(job) if job.metadata.uid.as_deref() != Some(uid) => return Ok(()),
            Some(_) => {}
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("Job {ns}/{name} was not deleted within {}s (finalizers?)", timeout.as_secs()));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub enum Created {
    Created(Box<Job>),
    /// Someone (kustomize-controller) created it first.
    Exists,
}

pub async fn create_job(conn: &Connection, job: &Job) -> Result<Created, ClusterError> {
    let ns = job.metadata.namespace.as_deref().unwrap_or("default");
    let api: Api<Job> = Api::namespaced(conn.client.clone(), ns);
    let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
    match api.create(&params, job).await {
        Ok(job) => Ok(Created::Created(Box::new(job))),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Created::Exists),
        Err(e) => Err(classify(conn, "create", "jobs.batch", Some(ns), e)),
    }
}

/// A new reconcile request token, as the flux CLI writes it (RFC 3339 with nanoseconds).
pub fn request_token() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// Sets `reconcile.fluxcd.io/requestedAt` on a Kustomization or source (merge patch, field manager
/// [`FIELD_MANAGER`]). Merge patches carry no resourceVersion, so they do not conflict; a 409 from
/// an admission race is retried.
pub async fn request_reconcile(
    conn: &Connection,
    kind: &str,
    ns: &str,
    name: &str,
    token: &str,
) -> Result<(), ClusterError> {
    let patch = serde_json::json!({"metadata": {"annotations": {RECONCILE_REQUEST_ANNOTATION: token}}});
    let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
    let mut attempt = 0;
    loop {
        let result = if kind == "Kustomization" {
            let api: Api<Kustomization> = Api::namespaced(conn.client.clone(), ns);
            api.patch(name, &params, &Patch::Merge(&patch)).await.map(|_| ())
        } else {
            dynamic_source_api(&conn.client, Some(ns), kind)
                .patch(name, &params, &Patch::Merge(&patch))
                .await
                .map(|_| ())
        };
        match result {
            Ok(()) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < 5 => attempt += 1,
            Err(e) => return Err(classify(conn, "patch", &format!("{} {name:?}", resource_name(kind)), Some(ns), e)),
        }
    }
}

/// `status.lastHandledReconcileAt` of a source, which source-controller sets like
/// kustomize-controller does.
pub async fn source_handled(
    conn: &Connection,
    kind: &str,
    ns: &str,
    name: &str,
) -> Result<Option<String>, ClusterError> {
    let resource = resource_name(kind);
    let object = get_opt(conn, dynamic_source_api(&conn.client, Some(ns), kind), &resource, ns, name).await?;
    Ok(object.and_then(|o| o.data["status"]["lastHandledReconcileAt"].as_str().map(String::from)))
}
