//! Failures inside kustomize-controller, each made real on the harness (RBAC, a
//! ValidatingAdmissionPolicy, a missing CRD, a missing ConfigMap, a missing path), with the exact
//! fix `status` gives for kustomize-controller's own message.

use std::time::Duration;

use crate::harness::{self, Result};
use crate::scenarios::{SETTLE, Scenario};
use crate::{Ctx, check, stage};

pub(crate) fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        ("a_stage_applying_as_a_service_account_without_rbac_names_the_role_it_needs", service_account_without_rbac),
        ("a_missing_substitute_from_config_map_is_named_with_the_way_out", missing_substitute_from),
        ("a_kind_without_a_crd_says_to_install_it_first", kind_without_crd),
        ("an_admission_policy_denying_an_applied_object_is_named", denied_by_an_admission_policy),
        ("a_missing_path_in_the_source_is_named", missing_path),
        ("a_nested_kustomization_failing_is_followed_into", nested_kustomization),
        ("a_custom_resource_a_health_check_names_is_read_and_is_the_cause", custom_resource),
        ("an_artifact_failing_its_digest_is_named_with_the_fetch_again", artifact_digest_mismatch),
        ("a_build_error_names_the_missing_resources_entry", build_error),
    ]
}

/// The source's kustomization.yaml lists a file the source does not have: the build fails and the
/// hint names the entry.
fn build_error(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-fail-build";
    let kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- configmap.yaml\n- missing.yaml\n";
    let app = failing_stage(
        ctx,
        ns,
        &[("app/kustomization.yaml", kustomization), ("app/configmap.yaml", CONFIG_MAP)],
        "",
        "BuildFailed",
    )?;
    let message = app["ready"]["message"].as_str().unwrap_or_default();
    let hint = hint_of(&app);
    check(hint.starts_with("the kustomization.yaml at ./app in the source lists `missing.yaml` in resources"), || {
        format!("hint: {hint}\nmessage: {message}")
    })
}

/// The source advertises a digest its artifact does not have (written in its status as
/// source-controller would, but wrong): kustomize-controller's download fails its check.
fn artifact_digest_mismatch(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-fail-digest";
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    ctx.plane.publish(ns, "app", &[("app/configmap.yaml", CONFIG_MAP)])?;
    let wrong = format!("sha256:{}", "0".repeat(64));
    ctx.plane.patch_status(ns, "gitrepository", "app", &serde_json::json!({"artifact": {"digest": wrong}}))?;
    ctx.plane.apply(&format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\n  namespace: {ns}\nspec:\n  sourceRef:\n    kind: GitRepository\n    name: app\n  path: ./app\n  interval: 60m\n  retryInterval: 10s\n  prune: true\n"
    ))?;
    let report = ctx.wait_status(ns, "the download to fail its digest", SETTLE, |r| {
        stage(r, "app")["ready"]["reason"] == "ArtifactFailed"
    })?;
    let app = stage(&report, "app");
    let message = app["ready"]["message"].as_str().unwrap_or_default();
    check(message.contains(&format!("computed digest doesn't match provided '{wrong}'")), || {
        format!("kustomize-controller: {message}")
    })?;
    let hint = hint_of(app);
    check(
        hint.starts_with(&format!("the artifact downloaded is not the one GitRepository/{ns}/app advertises"))
            && hint.contains(&format!("flux reconcile source git app -n {ns}")),
        || format!("hint: {hint}"),
    )
}

/// A stage applies a custom resource (a CRD of the test's own) whose operator, played by the test,
/// writes Stalled=True: kustomize-controller's health check fails on it, and `status` reads that one
/// object (one GET, its API group from the inventory) and shows its condition as the cause.
fn custom_resource(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-custom-resource";
    ctx.plane.apply(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names:\n    kind: Widget\n    plural: widgets\n    singular: widget\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    subresources:\n      status: {}\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n",
    )?;
    ctx.plane.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "crd/widgets.example.com"])?;
    let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: large\n";
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    ctx.plane.publish(ns, "app", &[("app/widget.yaml", widget)])?;
    // The operator has already given up on it when the stage applies it (kstatus reads an object
    // without conditions as Current, so the status must be there before the health check).
    ctx.plane.apply(&format!(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: {ns}\nspec:\n  size: large\n"
    ))?;
    let status = serde_json::json!({"conditions": [
        {"type": "Ready", "status": "False", "reason": "ProvisioningFailed", "message": "quota exceeded in region eu-1", "lastTransitionTime": "2026-12-01T00:00:00Z"},
        {"type": "Stalled", "status": "True", "reason": "ProvisioningFailed", "message": "quota exceeded in region eu-1", "lastTransitionTime": "2026-12-01T00:00:00Z"}]});
    ctx.plane.patch_status(ns, "widget", "w", &status)?;
    ctx.plane.apply(&format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\n  namespace: {ns}\nspec:\n  sourceRef:\n    kind: GitRepository\n    name: app\n  path: ./app\n  targetNamespace: {ns}\n  interval: 60m\n  timeout: 1m\n  prune: true\n  wait: true\n"
    ))?;
    let report = ctx.wait_status(ns, "the health check to fail on the Widget", SETTLE, |r| {
        stage(r, "app")["rootCause"]["kind"] == "Widget"
    })?;
    let app = stage(&report, "app");
    let cause = &app["rootCause"];
    check(
        cause["name"] == "w"
            && cause["reason"] == "ProvisioningFailed"
            && cause["message"] == "Stalled True: quota exceeded in region eu-1",
        || format!("cause: {cause}\nmessage: {}", app["ready"]["message"]),
    )?;
    let hint = hint_of(app);
    check(hint == format!("kubectl describe widget.example.com w -n {ns}"), || format!("hint: {hint}"))?;
    // `--watch` reads it too (no watch covers it): again when the objects named change, or after
    // 10 s, on the next frame. The operator's new message shows once a watched object changes.
    let watching = crate::watching::Watching::start(&ctx.plane.kubeconfig, ns)?;
    let first = watching.next(Duration::from_secs(30), "first frame")?;
    check(stage(&first, "app")["rootCause"]["message"] == "Stalled True: quota exceeded in region eu-1", || {
        format!("first frame: {}", stage(&first, "app")["rootCause"])
    })?;
    let status = serde_json::json!({"conditions": [
        {"type": "Ready", "status": "False", "reason": "ProvisioningFailed", "message": "quota exceeded in region eu-2", "lastTransitionTime": "2026-12-01T00:01:00Z"},
        {"type": "Stalled", "status": "True", "reason": "ProvisioningFailed", "message": "quota exceeded in region eu-2", "lastTransitionTime": "2026-12-01T00:01:00Z"}]});
    ctx.plane.patch_status(ns, "widget", "w", &status)?;
    std::thread::sleep(Duration::from_secs(11));
    ctx.plane.kubectl(&["-n", ns, "annotate", "kustomization", "app", "fluxjobs.test/nudge=1", "--overwrite"])?;
    watching.until(
        Duration::from_secs(60),
        "the Widget's new message",
        |_| Ok(()),
        |doc| stage(doc, "app")["rootCause"]["message"] == "Stalled True: quota exceeded in region eu-2",
    )?;
    let warnings = watching.stderr();
    check(warnings.is_empty(), || format!("stderr: {warnings:?}"))
}

/// Stage `parent` (`wait: true`) applies Kustomization `child`, whose migration Job exits 3; stage
/// `after` depends on `parent`. The chain goes from `after` through `parent` (its health check
/// names `child`) into `child`, down to the Job's pod.
fn nested_kustomization(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-nested";
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    let child = format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: child\n  namespace: {ns}\nspec:\n  sourceRef:\n    kind: GitRepository\n    name: app\n  path: ./child\n  targetNamespace: {ns}\n  interval: 60m\n  timeout: 1m\n  prune: true\n  wait: true\n  force: true\n"
    );
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: db-migration\nspec:\n  backoffLimit: 0\n  template:\n    metadata:\n      labels:\n        fluxjobs.test/exit-code: \"3\"\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: migrate\n        image: registry.example.invalid/shop/app:1.0.0\n";
    ctx.plane.publish(
        ns,
        "app",
        &[("parent/child.yaml", &child), ("child/job.yaml", job), ("after/configmap.yaml", CONFIG_MAP)],
    )?;
    let stage_yaml = |name: &str, deps: &str| {
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{deps}  sourceRef:\n    kind: GitRepository\n    name: app\n  path: ./{name}\n  interval: 60m\n  timeout: 2m\n  prune: true\n  wait: true\n"
        )
    };
    ctx.plane.apply(&stage_yaml("parent", ""))?;
    ctx.plane.apply(&stage_yaml("after", "  dependsOn:\n  - name: parent\n"))?;
    let report = ctx.wait_status(ns, "after to be blocked down to the child's Job", SETTLE, |r| {
        stage(r, "after")["rootCause"]["exitCode"] == 3 && crate::state_of(r, "child") == "Failed"
    })?;
    let after = stage(&report, "after");
    let path = &after["path"];
    let expected = serde_json::json!([format!("{ns}/after"), format!("{ns}/parent"), format!("{ns}/child")]);
    check(*path == expected, || format!("path: {path}"))?;
    let cause = &after["rootCause"];
    check(cause["kind"] == "Pod" && cause["via"][0] == format!("Job/{ns}/db-migration"), || format!("cause: {cause}"))?;
    let out = ctx.plugin(&["status", "-n", ns])?;
    check(out.stdout.contains("after <- parent <- child <- Job/db-migration <- Pod/db-migration-"), || {
        format!("table:\n{}", out.stdout)
    })
}

/// Namespace `ns`, source `app` with `files`, and Kustomization `app` applying `./app` with
/// `extra` spec lines; waits until its Ready reason is `reason` and returns its report.
fn failing_stage(ctx: &Ctx, ns: &str, files: &[(&str, &str)], extra: &str, reason: &str) -> Result<serde_json::Value> {
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    ctx.plane.publish(ns, "app", files)?;
    ctx.plane.apply(&format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\n  namespace: {ns}\nspec:\n  sourceRef:\n    kind: GitRepository\n    name: app\n  path: ./app\n  targetNamespace: {ns}\n  interval: 60m\n  retryInterval: 10s\n  timeout: 1m\n  prune: true\n{extra}"
    ))?;
    let report = ctx.wait_status(ns, &format!("the stage to fail with {reason}"), SETTLE, |r| {
        stage(r, "app")["ready"]["reason"] == reason
    })?;
    Ok(stage(&report, "app").clone())
}

fn hint_of(stage: &serde_json::Value) -> String {
    stage["hint"].as_str().unwrap_or_default().to_string()
}

const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  greeting: hello\n";

/// kustomize-controller applies as ServiceAccount `deployer`, which no Role grants anything: the
/// dry run is Forbidden, and the hint names the ServiceAccount, the verb, the resource and the
/// commands that grant them.
fn service_account_without_rbac(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-fail-rbac";
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: deployer\n  namespace: {ns}\n"))?;
    let app = failing_stage(
        ctx,
        ns,
        &[("app/configmap.yaml", CONFIG_MAP)],
        "  serviceAccountName: deployer\n",
        "ReconciliationFailed",
    )?;
    let message = app["ready"]["message"].as_str().unwrap_or_default();
    check(message.contains(&format!("User \"system:serviceaccount:{ns}:deployer\" cannot ")), || {
        format!("kustomize-controller: {message}")
    })?;
    let hint = hint_of(&app);
    check(
        hint.starts_with(&format!("grant ServiceAccount {ns}/deployer (spec.serviceAccountName of {ns}/app) `"))
            && hint.contains(&format!("--serviceaccount={ns}:deployer")),
        || format!("hint: {hint}\nmessage: {message}"),
    )
}

/// `postBuild.substituteFrom` names a ConfigMap that does not exist: the hint names it, the
/// command that creates it, and `optional: true`.
fn missing_substitute_from(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-fail-substitute";
    let extra = "  postBuild:\n    substituteFrom:\n    - kind: ConfigMap\n      name: app-vars\n";
    let app = failing_stage(ctx, ns, &[("app/configmap.yaml", CONFIG_MAP)], extra, "BuildFailed")?;
    let message = app["ready"]["message"].as_str().unwrap_or_default();
    check(message.contains("substitute from 'ConfigMap/app-vars' error: configmaps \"app-vars\" not found"), || {
        format!("kustomize-controller: {message}")
    })?;
    let hint = hint_of(&app);
    check(
        hint.starts_with(&format!(
            "create ConfigMap app-vars in namespace {ns} with the variables (kubectl create configmap app-vars -n {ns}"
        )) && hint.contains("`optional: true` in spec.postBuild.substituteFrom"),
        || format!("hint: {hint}"),
    )
}

/// The source holds an object of a kind no CRD serves (not the Widget another scenario installs):
/// the dry run finds no mapping.
fn kind_without_crd(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-fail-crd";
    let gizmo = "apiVersion: nowhere.example.com/v1\nkind: Gizmo\nmetadata:\n  name: g\nspec: {}\n";
    let app = failing_stage(
        ctx,
        ns,
        &[("app/gizmo.yaml", gizmo), ("app/configmap.yaml", CONFIG_MAP)],
        "",
        "ReconciliationFailed",
    )?;
    let message = app["ready"]["message"].as_str().unwrap_or_default();
    check(message.contains("no matches for kind \"Gizmo\" in version \"nowhere.example.com/v1\""), || {
        format!("kustomize-controller: {message}")
    })?;
    let hint = hint_of(&app);
    check(hint.starts_with("no CRD serves Gizmo in nowhere.example.com/v1: install it first"), || {
        format!("hint: {hint}")
    })
}

/// A ValidatingAdmissionPolicy denies ConfigMaps labelled `tier: forbidden` in the namespace; the
/// stage applies one: the policy is named.
fn denied_by_an_admission_policy(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-fail-vap";
    let policy = "fluxjobs-e2e-no-forbidden-tier";
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    ctx.plane.apply(&format!(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: {policy}\nspec:\n\
         \x20 failurePolicy: Fail\n  matchConstraints:\n    resourceRules:\n    - apiGroups: [\"\"]\n      apiVersions: [v1]\n\
         \x20     operations: [CREATE, UPDATE]\n      resources: [configmaps]\n  validations:\n\
         \x20 - expression: \"!has(object.metadata.labels) || !('tier' in object.metadata.labels) || object.metadata.labels['tier'] != 'forbidden'\"\n\
         \x20   message: \"the forbidden tier is not allowed here\"\n\
         ---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata:\n  name: {policy}\nspec:\n\
         \x20 policyName: {policy}\n  validationActions: [Deny]\n  matchResources:\n    namespaceSelector:\n\
         \x20     matchLabels: {{kubernetes.io/metadata.name: {ns}}}\n"
    ))?;
    let probe = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\n  namespace: {ns}\n  labels:\n    tier: forbidden\n"
    );
    let probe_file = ctx.plane.dir.join("vap-probe.yaml");
    std::fs::write(&probe_file, probe).map_err(|e| e.to_string())?;
    harness::wait_until("the admission policy to be enforced", Duration::from_secs(60), || {
        Ok(ctx.plane.kubectl(&["create", "--dry-run=server", "-f", probe_file.to_str().unwrap()]).is_err())
    })?;
    let denied = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels:\n    tier: forbidden\ndata:\n  greeting: hello\n";
    let app = failing_stage(ctx, ns, &[("app/configmap.yaml", denied)], "", "ReconciliationFailed");
    let cleanup = ctx.plane.kubectl(&["delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", policy]);
    let app = app?;
    let hint = hint_of(&app);
    check(hint.starts_with(&format!("ValidatingAdmissionPolicy {policy} refuses ConfigMap/{ns}/settings")), || {
        format!("hint: {hint}\nmessage: {}", app["ready"]["message"])
    })?;
    cleanup.map(drop)
}

/// spec.path names a directory the source does not have.
fn missing_path(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-fail-path";
    let app = failing_stage(ctx, ns, &[("deploy/configmap.yaml", CONFIG_MAP)], "", "ArtifactFailed")?;
    let message = app["ready"]["message"].as_str().unwrap_or_default();
    check(message.starts_with("kustomization path not found"), || format!("kustomize-controller: {message}"))?;
    let hint = hint_of(&app);
    check(hint.starts_with(&format!("spec.path ./app of {ns}/app is not a directory in the source's artifact")), || {
        format!("hint: {hint}")
    })
}
