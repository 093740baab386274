//! The writes `rerun` and `reconcile` make. Every write is a single request with an explicit field
//! manager; nothing here loops over objects. Each can be sent as a server-side dry run
//! (`dryRun=All`: authorization and admission run, nothing is stored), which is how [`super::preflight`]
//! checks a whole plan before its first write.

use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions, PropagationPolicy};

use super::{ClusterError, Connection, classify, dynamic_api, flux_api_resource, resource_name, retry};
use crate::model::RECONCILE_REQUEST_ANNOTATION;
use crate::refs::{NamespacedName, ObjectRef};

/// The field manager of every write. It must not start with `kubectl`: kustomize-controller takes
/// over fields of managers with that prefix, which would revert our edits on Kustomizations that a
/// parent Kustomization manages (fluxcd/kustomize-controller
/// internal/controller/kustomization_controller.go apply(), fluxcd/pkg ssa/patch.go matchFieldManager).
pub const FIELD_MANAGER: &str = "fluxjobs";

#[derive(Debug, PartialEq)]
pub enum Deleted {
    /// Deleted now.
    Deleted,
    /// The API server accepted the delete but the Job still exists: a finalizer holds it (the
    /// answer is the object with its deletionTimestamp, not a Status).
    Terminating,
    /// Already gone.
    Gone,
    /// A Job of that name exists with another uid: recreated meanwhile, and left alone.
    Replaced,
}

/// Whether a write is made, or only checked by the API server (`dryRun=All`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DryRun {
    No,
    All,
}

impl DryRun {
    fn on(self) -> bool {
        self == DryRun::All
    }
}

/// Deletes one Job with Background propagation (as kustomize-controller's force does) and a uid
/// precondition, so a Job recreated meanwhile under the same name is never deleted.
pub async fn delete_job(
    conn: &Connection,
    job: &NamespacedName,
    uid: &str,
    dry_run: DryRun,
) -> Result<Deleted, ClusterError> {
    let (ns, name) = (job.namespace.as_str(), job.name.as_str());
    let api: Api<Job> = Api::namespaced(conn.client.clone(), ns);
    let params = DeleteParams {
        dry_run: dry_run.on(),
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: Some(Preconditions { uid: Some(uid.to_string()), resource_version: None }),
        ..DeleteParams::default()
    };
    // A repeat after a lost answer finds the Job gone (404) or replaced (409): never a second delete.
    match retry(conn, async || api.delete(name, &params).await).await {
        // The answer is the object itself (Left) while it is held, a Status (Right) once deleted.
        Ok(answer) if answer.is_left() => Ok(Deleted::Terminating),
        Ok(_) => Ok(Deleted::Deleted),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Deleted::Gone),
        // A failed uid precondition is a 409 Conflict.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Deleted::Replaced),
        Err(e) => Err(classify(conn, "delete", &format!("jobs.batch {name:?}"), Some(ns), e)),
    }
}

pub enum Created {
    Created(Box<Job>),
    /// Someone (kustomize-controller) created it first.
    Exists,
}

/// Creates a Job; one that exists already (kustomize-controller was first) is [`Created::Exists`].
/// The API server admits a create before it looks for an existing object, so a dry run that ends
/// in `Exists` has passed admission.
pub async fn create_job(conn: &Connection, job: &Job, dry_run: DryRun) -> Result<Created, ClusterError> {
    let ns = job.metadata.namespace.as_deref().unwrap_or("default");
    let api: Api<Job> = Api::namespaced(conn.client.clone(), ns);
    let params = PostParams { dry_run: dry_run.on(), field_manager: Some(FIELD_MANAGER.into()) };
    match retry(conn, async || api.create(&params, job).await).await {
        Ok(job) => Ok(Created::Created(Box::new(job))),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Created::Exists),
        Err(e) => Err(classify(conn, "create", "jobs.batch", Some(ns), e)),
    }
}

/// A new reconcile request token, as the flux CLI writes it (RFC 3339 with nanoseconds).
pub fn request_token() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// What a reconcile request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `reconcile.fluxcd.io/requestedAt`, which every Flux controller honours (flux-operator too:
    /// internal/controller/common.go).
    Reconcile,
    /// A HelmRelease's one-off forced release: `forceAt` and `resetAt` (which clears exhausted
    /// retries) beside `requestedAt`, all with one token, as `flux reconcile helmrelease --force
    /// --reset` writes them; helm-controller handles them only with a matching `requestedAt`
    /// (github.com/fluxcd/helm-controller api/v2 annotations.go `ShouldHandleForceRequest`,
    /// `ShouldHandleResetRequest`).
    ForceAndReset,
}

/// helm-controller api/v2 annotations.go (`ForceRequestAnnotation` is fluxcd/pkg apis/meta's).
const FORCE_REQUEST_ANNOTATION: &str = "reconcile.fluxcd.io/forceAt";
const RESET_REQUEST_ANNOTATION: &str = "reconcile.fluxcd.io/resetAt";

/// Sets the request's annotations on a stage or source (merge patch, field manager
/// [`FIELD_MANAGER`]). Merge patches carry no resourceVersion, so they do not conflict; a 409 from
/// an admission race is retried.
pub async fn request_reconcile(
    conn: &Connection,
    object: &ObjectRef,
    request: Request,
    token: &str,
    dry_run: DryRun,
) -> Result<(), ClusterError> {
    let (kind, ns, name) = (object.kind.as_str(), object.namespace.as_str(), object.name.as_str());
    let mut annotations = serde_json::json!({RECONCILE_REQUEST_ANNOTATION: token});
    if request == Request::ForceAndReset {
        annotations[FORCE_REQUEST_ANNOTATION] = token.into();
        annotations[RESET_REQUEST_ANNOTATION] = token.into();
    }
    let patch = serde_json::json!({"metadata": {"annotations": annotations}});
    let params =
        PatchParams { dry_run: dry_run.on(), field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
    let mut attempt = 0;
    loop {
        let api = dynamic_api(&conn.client, Some(ns), &flux_api_resource(kind));
        let result = retry(conn, async || api.patch(name, &params, &Patch::Merge(&patch)).await.map(drop)).await;
        match result {
            Ok(()) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < 5 => attempt += 1,
            Err(e) => return Err(classify(conn, "patch", &format!("{} {name:?}", resource_name(kind)), Some(ns), e)),
        }
    }
}
