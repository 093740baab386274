//! Failures inside kustomize-controller (build, apply, source access), each read from the message
//! the controller writes and answered with the exact fix: the object to create or change and, where
//! one exists, the command that does it. The messages, and where they come from:
//! - fluxcd/kustomize-controller v1.9.6 internal/controller/kustomization_controller.go:
//!   `kustomization path not found: %w`, `post build failed for '%s/%s': %w`,
//!   `kustomize build failed: %w`, and the access check's `can't access '%s', cross-namespace
//!   references have been blocked` (fluxcd/pkg runtime/acl);
//! - kustomize-controller internal/decryptor/decryptor.go: `cannot get %s decryption Secret '%s': %w`,
//!   `failed to decrypt and format '%s/%s' %s data: %w`;
//! - fluxcd/pkg kustomize v1.35.7 kustomize_varsub.go: `substitute from 'ConfigMap/%s' error: %w`,
//!   `envsubst error: %w`; fluxcd/pkg envsubst v1.7.1 template.go: `variable not set (strict mode): %q`;
//! - fluxcd/pkg ssa v0.76.2 errors/errors.go `DryRunErr`: `Kind/ns/name dry-run failed (Reason): %s`,
//!   `Kind/ns/name not found: %s`; the underlying texts are the API server's (RBAC's `User "..."
//!   cannot VERB resource "RES" in API group "G" in the namespace "NS"`, a
//!   ValidatingAdmissionPolicy's `ValidatingAdmissionPolicy 'P' with binding 'B' denied request:
//!   %s`, a webhook's `admission webhook "W" denied the request: %s`) or the REST mapper's
//!   (`no matches for kind "K" in version "G/V"`).

use crate::model::{Kustomization, Source, StageObject};
use crate::vocabulary::{ConditionReason, Kind};

/// The hint for a kustomize-controller failure `message` of stage `ks` (Ready reason `reason`), when
/// the message is one of those above.
pub(super) fn hint(ks: &Kustomization, reason: &ConditionReason, message: &str) -> Option<String> {
    match reason {
        ConditionReason::BuildFailed => build(ks, message),
        ConditionReason::ReconciliationFailed => apply(ks, message),
        ConditionReason::ArtifactFailed => artifact(ks, message),
        ConditionReason::AccessDenied => access_denied(ks, message),
        ConditionReason::InvalidCELExpression => Some(format!(
            "fix the CEL expression in {} (a dependsOn readyExpr or spec.healthCheckExprs): kustomize-controller does not retry until the spec changes",
            ks.id()
        )),
        // `New reconciliation triggered by %s/%s/%s` (kustomize-controller, the QueueEventSource).
        ConditionReason::HealthCheckCanceled => {
            let trigger = message.strip_prefix("New reconciliation triggered by ").unwrap_or("a change");
            Some(format!(
                "nothing to fix: {trigger} started a new reconciliation of {} before its health check ended; kustomize-controller checks again now",
                ks.id()
            ))
        }
        _ => None,
    }
}

/// The hint for a source that cannot produce an artifact, from source-controller's Ready reason and
/// message (fluxcd/source-controller v1.9.6 internal/controller/gitrepository_controller.go:
/// `AuthenticationFailed` for a Secret it cannot use, `GitOperationFailed` with `failed to checkout
/// and determine revision: %w` around go-git's `authentication required`, `couldn't find remote ref`
/// and `repository not found`; registries answer `UNAUTHORIZED` or `DENIED`).
pub(super) fn source_hint(source: &Source, reason: &ConditionReason, message: &str) -> Option<String> {
    let id = format!("{}/{}/{}", source.kind, source.namespace(), source.name());
    let secret = source.spec.secret_ref.as_ref().map(|s| s.name.as_str());
    let credentials = match secret {
        Some(name) => {
            format!("the Secret {name} (spec.secretRef): kubectl get secret {name} -n {} -o yaml", source.namespace())
        }
        None => "a Secret named in spec.secretRef (it names none): flux create secret git|oci NAME".to_string(),
    };
    let lower = message.to_lowercase();
    if *reason == ConditionReason::AuthenticationFailed {
        return Some(format!("{id} cannot use its credentials: create or fix {credentials}"));
    }
    if ["authentication required", "authorization failed", "unauthorized", "denied:", "401", "403 forbidden"]
        .iter()
        .any(|s| lower.contains(s))
    {
        return Some(format!("{id} is refused by the repository: give it credentials it accepts in {credentials}"));
    }
    if lower.contains("couldn't find remote ref") {
        return Some(format!("the branch, tag or commit in spec.ref of {id} does not exist in the repository"));
    }
    if lower.contains("repository not found") {
        return Some(format!(
            "spec.url of {id} names no repository its credentials can see: fix the URL, or {credentials}"
        ));
    }
    None
}

/// The text between the first pair of `open` and `close` after `after`.
fn quoted<'a>(message: &'a str, after: &str, open: char, close: char) -> Option<&'a str> {
    let rest = &message[message.find(after)? + after.len()..];
    let start = rest.find(open)? + open.len_utf8();
    let end = rest[start..].find(close)?;
    Some(&rest[start..start + end])
}

fn build(ks: &Kustomization, message: &str) -> Option<String> {
    let ns = ks.namespace();
    if let Some(reference) = quoted(message, "substitute from ", '\'', '\'') {
        let (kind, name) = reference.split_once('/')?;
        let create = match kind {
            "Secret" => format!("kubectl create secret generic {name} -n {ns} --from-literal=KEY=VALUE"),
            _ => format!("kubectl create configmap {name} -n {ns} --from-literal=KEY=VALUE"),
        };
        if message.contains("not found") {
            return Some(format!(
                "create {kind} {name} in namespace {ns} with the variables ({create}), or mark it `optional: true` in spec.postBuild.substituteFrom of {}",
                ks.id()
            ));
        }
        return Some(format!("{} cannot read {kind} {ns}/{name}: see the message; {create} creates one", ks.id()));
    }
    // sigs.k8s.io/kustomize/api v0.21.1 internal/target/kusttarget.go: `accumulating resources from
    // '%s'` for a `resources` entry that is neither a file nor a directory in the source.
    if message.contains("no such file or directory")
        && let Some(entry) = quoted(message, "accumulating resources from ", '\'', '\'')
    {
        return Some(format!(
            "the kustomization.yaml at {} in the source lists `{entry}` in resources, but the source has no such file or directory: add it, or remove the entry",
            path(ks)
        ));
    }
    // kustomize-controller internal/decryptor/decryptor.go: the decryption Secret it cannot get,
    // and a file SOPS cannot decrypt with the keys it has.
    if let Some(secret) = quoted(message, "decryption Secret ", '\'', '\'') {
        return Some(format!(
            "kustomize-controller cannot read the decryption Secret {secret} (spec.decryption.secretRef of {}): create it in namespace {ns} with the private key (kubectl create secret generic {secret} -n {ns} --from-file=age.agekey=KEYFILE, or the key file of your SOPS provider)",
            ks.id()
        ));
    }
    if let Some(file) = quoted(message, "failed to decrypt and format ", '\'', '\'') {
        return Some(format!(
            "SOPS cannot decrypt {file} with the keys {} has (spec.decryption): the file was encrypted for another key; re-encrypt it for a key in the decryption Secret, or add that key there",
            ks.id()
        ));
    }
    if let Some(variable) = quoted(message, "variable not set (strict mode): ", '"', '"') {
        return Some(format!(
            "set {variable} in spec.postBuild.substitute (or a substituteFrom ConfigMap or Secret) of {}, or give it a default where the source uses it: ${{{variable}:=default}}",
            ks.id()
        ));
    }
    None
}

fn apply(ks: &Kustomization, message: &str) -> Option<String> {
    let object = message.split_whitespace().next().filter(|o| o.matches('/').count() >= 1)?;
    if let Some(user) = quoted(message, "User ", '"', '"') {
        let verb = message[message.find("\" cannot ")? + "\" cannot ".len()..].split_whitespace().next()?;
        let resource = quoted(message, "resource ", '"', '"')?;
        let group = quoted(message, "in API group ", '"', '"').unwrap_or_default();
        let full = if group.is_empty() { resource.to_string() } else { format!("{resource}.{group}") };
        let target = quoted(message, "in the namespace ", '"', '"');
        // (who, the binding's subject flag, a short name for the role)
        let (who, subject, short) = match user.strip_prefix("system:serviceaccount:").and_then(|sa| sa.split_once(':'))
        {
            Some((sa_ns, sa)) => (
                format!("ServiceAccount {sa_ns}/{sa} (spec.serviceAccountName of {})", ks.id()),
                format!("--serviceaccount={sa_ns}:{sa}"),
                sa.to_string(),
            ),
            None => (format!("user {user}"), format!("--user={user}"), "kustomize-controller".to_string()),
        };
        let role = format!("{short}-{resource}");
        let commands = match target {
            Some(ns) => format!(
                "kubectl create role {role} -n {ns} --verb={verb} --resource={full} && kubectl create rolebinding {role} -n {ns} --role={role} {subject}"
            ),
            None => format!(
                "kubectl create clusterrole {role} --verb={verb} --resource={full} && kubectl create clusterrolebinding {role} --clusterrole={role} {subject}"
            ),
        };
        let scope = target.map(|ns| format!(" in namespace {ns}")).unwrap_or_else(|| " cluster-wide".into());
        return Some(format!(
            "grant {who} `{verb}` on {full}{scope} (kustomize-controller applies as it; it applies with server-side apply, so it also needs get, list, watch and create): {commands}"
        ));
    }
    if let Some(policy) = quoted(message, "ValidatingAdmissionPolicy ", '\'', '\'') {
        return Some(format!(
            "ValidatingAdmissionPolicy {policy} refuses {object}: change it in the source as the policy's message asks, or the policy (kubectl get validatingadmissionpolicy {policy} -o yaml)"
        ));
    }
    if let Some(webhook) = quoted(message, "admission webhook ", '"', '"') {
        return Some(format!(
            "the admission webhook {webhook} refuses {object}: change it in the source as its message asks (kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations shows who serves it)"
        ));
    }
    if let Some(kind) = quoted(message, "no matches for kind ", '"', '"') {
        let version = quoted(message, "in version ", '"', '"').unwrap_or_default();
        return Some(format!(
            "no CRD serves {kind} in {version}: install it first (in an earlier stage that {} dependsOn), or fix apiVersion and kind of {object} in the source",
            ks.id()
        ));
    }
    if let Some(namespace) = quoted(message, "namespaces ", '"', '"').filter(|_| message.contains(" not found: ")) {
        return Some(format!(
            "namespace {namespace} does not exist: create it (kubectl create namespace {namespace}, or in an earlier stage that {} dependsOn), or set spec.targetNamespace",
            ks.id()
        ));
    }
    message.contains(" dry-run failed (Invalid)").then(|| {
        format!(
            "the API server rejects {object} as invalid: fix the field its message names, in the source at {}",
            path(ks)
        )
    })
}

/// fluxcd/pkg http/fetch v0.25.0 archive_fetcher.go: `failed to verify archive: computed digest
/// doesn't match provided '%s' ...`, `failed to download archive from %s (status: %s)`.
fn artifact(ks: &Kustomization, message: &str) -> Option<String> {
    let source = ks.source();
    let fetch_again = format!(
        "flux reconcile source {} {} -n {}",
        match &source.kind {
            Kind::GitRepository => "git",
            Kind::OCIRepository => "oci",
            Kind::Bucket => "bucket",
            other => other.as_str(),
        },
        source.name,
        source.namespace
    );
    if message.starts_with("kustomization path not found") {
        return Some(format!(
            "spec.path {} of {} is not a directory in the source's artifact: fix spec.path, or add the directory to {source}",
            path(ks),
            ks.id()
        ));
    }
    if message.contains("computed digest doesn't match provided") {
        return Some(format!(
            "the artifact downloaded is not the one {source} advertises (status.artifact.digest): have source-controller store it again ({fetch_again}); if it persists, the artifact storage or a proxy in between alters it"
        ));
    }
    message.starts_with("failed to download archive").then(|| {
        format!("{source}'s artifact cannot be downloaded from source-controller's storage: {fetch_again}, and check that source-controller is running")
    })
}

fn access_denied(ks: &Kustomization, message: &str) -> Option<String> {
    let source = quoted(message, "can't access ", '\'', '\'')?;
    let source_ns = source.split('/').nth(1).unwrap_or_default();
    Some(format!(
        "kustomize-controller runs with --no-cross-namespace-refs: move {source} into namespace {}, or {} into namespace {source_ns}",
        ks.namespace(),
        ks.id()
    ))
}

fn path(ks: &Kustomization) -> String {
    let path = ks.spec.path.as_deref().unwrap_or("./");
    if path.is_empty() { "./".into() } else { path.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stage() -> Kustomization {
        serde_json::from_value(json!({"metadata": {"name": "app-pre-deploy", "namespace": "shop"},
            "spec": {"path": "./pre-deploy", "sourceRef": {"kind": "GitRepository", "name": "app"}, "serviceAccountName": "deployer"}}))
        .unwrap()
    }

    #[test]
    fn a_missing_substitute_from_config_map_names_it_and_the_way_out() {
        let message = "post build failed for 'apps_v1_Deployment/my-app': substitute from 'ConfigMap/app-vars' error: configmaps \"app-vars\" not found";
        let given = super::hint(&stage(), &"BuildFailed".into(), message).unwrap();
        assert!(given.starts_with("create ConfigMap app-vars in namespace shop"), "{given}");
        assert!(given.contains("kubectl create configmap app-vars -n shop --from-literal=KEY=VALUE"), "{given}");
        assert!(given.contains("`optional: true` in spec.postBuild.substituteFrom of shop/app-pre-deploy"), "{given}");
        let strict = "post build failed for 'batch_v1_Job/db-migration': envsubst error: variable not set (strict mode): \"IMAGE_TAG\"";
        let given = super::hint(&stage(), &"BuildFailed".into(), strict).unwrap();
        assert!(
            given.starts_with("set IMAGE_TAG in spec.postBuild.substitute") && given.ends_with("${IMAGE_TAG:=default}"),
            "{given}"
        );
    }

    #[test]
    fn a_resources_entry_missing_from_the_source_is_named() {
        let message = "kustomize build failed: accumulating resources: accumulation err='accumulating resources from 'missing.yaml': open /tmp/kustomization-1/pre-deploy/missing.yaml: no such file or directory': must build at directory: not a valid directory: evalsymlink failure on '/tmp/kustomization-1/pre-deploy/missing.yaml' : lstat /tmp/kustomization-1/pre-deploy/missing.yaml: no such file or directory";
        let given = super::hint(&stage(), &"BuildFailed".into(), message).unwrap();
        assert!(
            given.starts_with("the kustomization.yaml at ./pre-deploy in the source lists `missing.yaml` in resources"),
            "{given}"
        );
    }

    #[test]
    fn sops_failures_name_the_decryption_secret_or_the_file() {
        let missing = "cannot get SOPS decryption Secret 'sops-age': secrets \"sops-age\" not found";
        let given = super::hint(&stage(), &"BuildFailed".into(), missing).unwrap();
        assert!(
            given.contains("cannot read the decryption Secret sops-age")
                && given.contains("kubectl create secret generic sops-age -n shop"),
            "{given}"
        );
        let wrong_key = "failed to decrypt and format 'shop/db-credentials' Secret data: Error getting data key: 0 successful groups required, got 0";
        let given = super::hint(&stage(), &"BuildFailed".into(), wrong_key).unwrap();
        assert!(
            given.starts_with("SOPS cannot decrypt shop/db-credentials with the keys shop/app-pre-deploy has"),
            "{given}"
        );
    }

    #[test]
    fn a_forbidden_dry_run_names_the_service_account_and_the_role_it_needs() {
        let message = "Job/shop/db-migration dry-run failed (Forbidden): jobs.batch \"db-migration\" is forbidden: User \"system:serviceaccount:shop:deployer\" cannot patch resource \"jobs\" in API group \"batch\" in the namespace \"shop\"";
        let given = super::hint(&stage(), &"ReconciliationFailed".into(), message).unwrap();
        assert!(given.starts_with("grant ServiceAccount shop/deployer (spec.serviceAccountName of shop/app-pre-deploy) `patch` on jobs.batch in namespace shop"), "{given}");
        assert!(given.ends_with("kubectl create role deployer-jobs -n shop --verb=patch --resource=jobs.batch && kubectl create rolebinding deployer-jobs -n shop --role=deployer-jobs --serviceaccount=shop:deployer"), "{given}");
        let cluster = "Namespace/shop dry-run failed (Forbidden): namespaces \"shop\" is forbidden: User \"system:serviceaccount:shop:deployer\" cannot patch resource \"namespaces\" in API group \"\" at the cluster scope";
        let given = super::hint(&stage(), &"ReconciliationFailed".into(), cluster).unwrap();
        assert!(
            given.contains("`patch` on namespaces cluster-wide")
                && given.contains("kubectl create clusterrole deployer-namespaces --verb=patch --resource=namespaces"),
            "{given}"
        );
    }

    #[test]
    fn admission_denials_name_the_policy_or_webhook() {
        let vap = "Job/shop/db-migration dry-run failed (Forbidden): jobs.batch \"db-migration\" is forbidden: ValidatingAdmissionPolicy 'jobs-need-ttl' with binding 'jobs-need-ttl' denied request: Jobs must set ttlSecondsAfterFinished";
        let given = super::hint(&stage(), &"ReconciliationFailed".into(), vap).unwrap();
        assert!(given.starts_with("ValidatingAdmissionPolicy jobs-need-ttl refuses Job/shop/db-migration"), "{given}");
        let webhook = "Job/shop/db-migration dry-run failed (Forbidden): admission webhook \"validate.kyverno.svc\" denied the request: policy require-labels";
        assert!(
            hint_of(webhook).starts_with("the admission webhook validate.kyverno.svc refuses Job/shop/db-migration")
        );
    }

    fn hint_of(message: &str) -> String {
        super::hint(&stage(), &"ReconciliationFailed".into(), message).unwrap()
    }

    #[test]
    fn a_kind_without_a_crd_and_a_missing_namespace_say_what_to_create_first() {
        let message = "Widget/shop/w dry-run failed: no matches for kind \"Widget\" in version \"example.com/v1\"";
        assert!(hint_of(message).starts_with("no CRD serves Widget in example.com/v1: install it first"));
        let missing = "Job/billing/db-migration not found: namespaces \"billing\" not found";
        assert!(
            hint_of(missing)
                .starts_with("namespace billing does not exist: create it (kubectl create namespace billing")
        );
    }

    #[test]
    fn a_source_that_cannot_fetch_names_its_credentials_or_ref() {
        let source = |secret: Option<&str>| -> Source {
            let mut spec = json!({});
            if let Some(s) = secret {
                spec["secretRef"] = json!({"name": s});
            }
            serde_json::from_value(
                json!({"kind": "GitRepository", "metadata": {"name": "app", "namespace": "shop"}, "spec": spec}),
            )
            .unwrap()
        };
        let auth = "failed to checkout and determine revision: unable to clone 'https://git.example.invalid/shop/app': authentication required";
        let given = source_hint(&source(Some("git-creds")), &"GitOperationFailed".into(), auth).unwrap();
        assert!(
            given.starts_with("GitRepository/shop/app is refused by the repository")
                && given.contains("kubectl get secret git-creds -n shop"),
            "{given}"
        );
        let given = source_hint(&source(None), &"GitOperationFailed".into(), auth).unwrap();
        assert!(given.contains("(it names none)"), "{given}");
        let missing = "failed to get secret 'shop/git-creds': secrets \"git-creds\" not found";
        assert!(
            source_hint(&source(Some("git-creds")), &"AuthenticationFailed".into(), missing)
                .unwrap()
                .starts_with("GitRepository/shop/app cannot use its credentials")
        );
        let r#ref = "failed to checkout and determine revision: unable to clone 'https://git.example.invalid/shop/app': couldn't find remote ref \"refs/heads/release\"";
        assert!(
            source_hint(&source(None), &"GitOperationFailed".into(), r#ref)
                .unwrap()
                .starts_with("the branch, tag or commit in spec.ref")
        );
        assert!(source_hint(&source(None), &"GitOperationFailed".into(), "connection refused").is_none());
    }

    #[test]
    fn a_missing_path_and_a_blocked_cross_namespace_source_say_what_to_move() {
        let path = "kustomization path not found: stat /tmp/kustomization-1/pre-deploy: no such file or directory";
        let given = super::hint(&stage(), &"ArtifactFailed".into(), path).unwrap();
        assert!(given.starts_with("spec.path ./pre-deploy of shop/app-pre-deploy is not a directory"), "{given}");
        let access = "can't access 'GitRepository/flux-system/app', cross-namespace references have been blocked";
        let given = super::hint(&stage(), &"AccessDenied".into(), access).unwrap();
        assert!(given.contains("move GitRepository/flux-system/app into namespace shop, or shop/app-pre-deploy into namespace flux-system"), "{given}");
        assert!(
            super::hint(&stage(), &"ArtifactFailed".into(), "Source artifact not found, retrying in 30s").is_none()
        );
        let canceled = "New reconciliation triggered by GitRepository/shop/app";
        let given = super::hint(&stage(), &"HealthCheckCanceled".into(), canceled).unwrap();
        assert!(
            given.starts_with(
                "nothing to fix: GitRepository/shop/app started a new reconciliation of shop/app-pre-deploy"
            ),
            "{given}"
        );
        let digest = "failed to verify archive: computed digest doesn't match provided 'sha256:0000' (check whether file size exceeds max download size)";
        let given = super::hint(&stage(), &"ArtifactFailed".into(), digest).unwrap();
        assert!(
            given.starts_with("the artifact downloaded is not the one GitRepository/shop/app advertises")
                && given.contains("flux reconcile source git app -n shop"),
            "{given}"
        );
    }
}
