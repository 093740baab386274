//! Every check before the first write: for each write a command plans, (1) a
//! SelfSubjectAccessReview per distinct verb, resource and namespace (authorization), all at once,
//! then (2) the write itself as a server-side dry run (`dryRun=All`), so that admission
//! (ValidatingAdmissionPolicy, webhooks, quotas) says no now rather than halfway through.

use futures::future::join_all;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, PostParams};

use super::write::{self, DryRun};
use super::{ClusterError, Connection, classify, flux_api_resource, retry};
use crate::refs::{NamespacedName, ObjectRef};

/// A write a command plans to make.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PlannedWrite<'a> {
    /// Delete this Job, under a uid precondition.
    DeleteJob { job: &'a NamespacedName, uid: &'a str },
    /// Create this Job.
    CreateJob(&'a Job),
    /// Set the reconcile request annotations on a stage or source.
    RequestReconcile(&'a ObjectRef, write::Request),
}

/// What a write needs the authorizer to allow, in SelfSubjectAccessReview terms.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Access {
    verb: &'static str,
    group: String,
    resource: String,
    namespace: String,
    name: Option<String>,
}

impl Access {
    /// `jobs.batch "name"`, as [`classify`] names resources.
    fn resource_text(&self) -> String {
        let full =
            if self.group.is_empty() { self.resource.clone() } else { format!("{}.{}", self.resource, self.group) };
        match &self.name {
            Some(name) => format!("{full} {name:?}"),
            None => full,
        }
    }
}

impl PlannedWrite<'_> {
    fn access(&self) -> Access {
        match *self {
            PlannedWrite::DeleteJob { job, .. } => Access {
                verb: "delete",
                group: "batch".into(),
                resource: "jobs".into(),
                namespace: job.namespace.clone(),
                name: Some(job.name.clone()),
            },
            PlannedWrite::CreateJob(job) => Access {
                verb: "create",
                group: "batch".into(),
                resource: "jobs".into(),
                namespace: job.metadata.namespace.clone().unwrap_or_default(),
                name: None,
            },
            PlannedWrite::RequestReconcile(object, _) => {
                let resource = flux_api_resource(object.kind.as_str());
                Access {
                    verb: "patch",
                    group: resource.group,
                    resource: resource.plural,
                    namespace: object.namespace.clone(),
                    name: Some(object.name.clone()),
                }
            }
        }
    }

    /// The write as a server-side dry run.
    async fn dry_run(&self, conn: &Connection) -> Result<(), ClusterError> {
        match *self {
            PlannedWrite::DeleteJob { job, uid } => write::delete_job(conn, job, uid, DryRun::All).await.map(drop),
            PlannedWrite::CreateJob(job) => write::create_job(conn, job, DryRun::All).await.map(drop),
            PlannedWrite::RequestReconcile(object, request) => {
                write::request_reconcile(conn, object, request, &write::request_token(), DryRun::All).await
            }
        }
    }
}

/// Checks every planned write, authorization first, then admission; the first denial is the error
/// (a [`ClusterError::Forbidden`] naming verb, resource, namespace and the denying message). Returns
/// how many distinct permissions and writes were checked.
pub(crate) async fn check(conn: &Connection, writes: &[PlannedWrite<'_>]) -> Result<Checked, ClusterError> {
    let mut accesses: Vec<Access> = Vec::new();
    for access in writes.iter().map(PlannedWrite::access) {
        if !accesses.contains(&access) {
            accesses.push(access);
        }
    }
    for result in join_all(accesses.iter().map(|access| review(conn, access))).await {
        result?;
    }
    for result in join_all(writes.iter().map(|w| w.dry_run(conn))).await {
        result?;
    }
    Ok(Checked { permissions: accesses.len(), writes: writes.len() })
}

/// What [`check`] checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Checked {
    pub permissions: usize,
    pub writes: usize,
}

impl Checked {
    pub(crate) fn describe(&self) -> String {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        format!(
            "checked {} (SelfSubjectAccessReview) and {} (server-side dry run): all allowed",
            plural(self.permissions, "permission"),
            plural(self.writes, "write")
        )
    }
}

/// One SelfSubjectAccessReview (authorization.k8s.io/v1): may the current user do `access`?
async fn review(conn: &Connection, access: &Access) -> Result<(), ClusterError> {
    let request = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(access.verb.into()),
                group: Some(access.group.clone()),
                resource: Some(access.resource.clone()),
                namespace: Some(access.namespace.clone()),
                name: access.name.clone(),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(conn.client.clone());
    let resource = access.resource_text();
    let review = retry(conn, async || api.create(&PostParams::default(), &request).await)
        .await
        .map_err(|e| classify(conn, "create", "selfsubjectaccessreviews.authorization.k8s.io", None, e))?;
    let status = review.status.unwrap_or_default();
    if status.allowed {
        return Ok(());
    }
    let why =
        [status.reason, status.evaluation_error].into_iter().flatten().filter(|r| !r.is_empty()).collect::<Vec<_>>();
    let message =
        if why.is_empty() { "no RBAC rule allows it (SelfSubjectAccessReview)".to_string() } else { why.join("; ") };
    Err(ClusterError::Forbidden {
        verb: access.verb,
        resource,
        scope: format!("namespace {:?}", access.namespace),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::super::resource_name;
    use super::*;

    #[test]
    fn each_write_asks_for_the_permission_it_needs() {
        let job = NamespacedName::new("shop", "db-migration");
        let delete = PlannedWrite::DeleteJob { job: &job, uid: "u-1" }.access();
        assert_eq!((delete.verb, delete.resource_text()), ("delete", "jobs.batch \"db-migration\"".to_string()));
        let stage = ObjectRef::new("Kustomization", "shop", "app-pre-deploy");
        let patch = PlannedWrite::RequestReconcile(&stage, write::Request::Reconcile).access();
        assert_eq!(patch.resource_text(), format!("{} \"app-pre-deploy\"", resource_name("Kustomization")));
        let source = ObjectRef::new("GitRepository", "flux-system", "app");
        let patch = PlannedWrite::RequestReconcile(&source, write::Request::Reconcile).access();
        assert_eq!((patch.verb, patch.namespace.as_str()), ("patch", "flux-system"));
        assert_eq!(patch.resource_text(), format!("{} \"app\"", resource_name("GitRepository")));
    }
}
