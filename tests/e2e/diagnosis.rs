//! Root causes of Jobs whose pods never come to be: admission refuses them (ResourceQuota,
//! LimitRange, Pod Security admission, a ValidatingAdmissionPolicy), the Job controller records
//! `FailedCreate`, and `status` names what refused them instead of "wait for the Job".

use serde_json::Value;

use crate::fixtures::Pipeline;
use crate::harness::{Result, wait_until};
use crate::scenarios::{SETTLE, Scenario, hinted_rerun_is_accepted};
use crate::{Ctx, check, stage};

pub(crate) fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        ("pods_refused_by_a_resource_quota_are_the_root_cause", refused_by_a_resource_quota),
        ("pods_refused_by_a_limit_range_are_the_root_cause", refused_by_a_limit_range),
        ("pods_refused_by_pod_security_admission_are_the_root_cause", refused_by_pod_security),
        ("pods_refused_by_an_admission_policy_are_the_root_cause", refused_by_an_admission_policy),
        ("pods_of_a_missing_service_account_are_the_root_cause", refused_for_a_missing_service_account),
        ("a_health_check_timing_out_on_a_running_job_says_it_is_slow", health_check_times_out_on_a_slow_job),
        ("a_deployment_that_never_becomes_available_is_the_root_cause", deployment_never_available),
        ("statefulset_and_daemonset_pods_that_never_become_ready_are_the_root_cause", pod_sets_never_ready),
        ("a_proxy_that_is_no_native_sidecar_keeps_the_job_running", sidecar_keeps_the_job_running),
        ("a_pod_stopped_at_its_own_deadline_is_named_with_the_field", pod_deadline),
        ("a_node_selector_no_node_matches_is_named_with_the_field", node_selector_matches_no_node),
    ]
}

/// Stage `db` applies a StatefulSet whose pod runs but never becomes ready; stage `agent` a
/// DaemonSet whose pods cannot pull their image; `app` depends on both. Each stage's health check
/// waits on its set, and the root cause is the pod (via the set), as for a Deployment.
fn pod_sets_never_ready(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-pod-sets";
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    let set = |kind: &str, name: &str, label: &str, replicas: &str| {
        format!(
            "apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{replicas}  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n        {label}\n    spec:\n      containers:\n      - name: {name}\n        image: registry.example.invalid/shop/{name}:1.0.0\n"
        )
    };
    let db = set("StatefulSet", "db", "fluxjobs.test/never-ready: \"true\"", "  serviceName: db\n  replicas: 1\n");
    let agent = set("DaemonSet", "agent", "fluxjobs.test/image-pull: fail", "");
    let app = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  ok: \"true\"\n";
    ctx.plane.publish(
        ns,
        "app",
        &[("db/statefulset.yaml", &db), ("agent/daemonset.yaml", &agent), ("app/configmap.yaml", app)],
    )?;
    let stage_yaml = |name: &str, deps: &str| {
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{deps}  sourceRef:\n    kind: GitRepository\n    name: app\n  path: ./{name}\n  targetNamespace: {ns}\n  interval: 60m\n  timeout: 30s\n  prune: true\n  wait: true\n"
        )
    };
    ctx.plane.apply(&stage_yaml("db", ""))?;
    ctx.plane.apply(&stage_yaml("agent", ""))?;
    ctx.plane.apply(&stage_yaml("app", "  dependsOn:\n  - name: db\n  - name: agent\n"))?;
    let report = ctx.wait_status(ns, "both health checks to fail on their sets", SETTLE, |r| {
        crate::state_of(r, "db") == "Failed"
            && crate::state_of(r, "agent") == "Failed"
            && crate::state_of(r, "app") == "Blocked"
    })?;
    let db = stage(&report, "db");
    let ready = db["ready"]["message"].as_str().unwrap_or_default();
    check(ready.contains(&format!("StatefulSet/{ns}/db status: 'InProgress'")), || {
        format!("kustomize-controller: {ready}")
    })?;
    let cause = &db["rootCause"];
    check(
        cause["kind"] == "Pod"
            && cause["name"] == "db-0"
            && cause["reason"] == "ContainersNotReady"
            && cause["via"][0] == format!("StatefulSet/{ns}/db"),
        || format!("db's cause: {cause}"),
    )?;
    let agent = stage(&report, "agent");
    let cause = &agent["rootCause"];
    check(
        cause["kind"] == "Pod"
            && cause["reason"] == "ImagePullBackOff"
            && cause["via"][0] == format!("DaemonSet/{ns}/agent"),
        || format!("agent's cause: {cause}"),
    )?;
    let app = stage(&report, "app");
    check(app["path"][1] == format!("{ns}/db") && app["rootCause"]["name"] == "db-0", || {
        format!("app: path {} cause {}", app["path"], app["rootCause"])
    })?;
    let out = ctx.plugin(&["status", "-n", ns])?;
    check(out.stdout.contains("app <- db <- StatefulSet/db <- Pod/db-0: ContainersNotReady"), || {
        format!("table:\n{}", out.stdout)
    })
}

/// Creates `ns`, runs `prepare` (which sets up what refuses the pods, and waits until the API
/// server enforces it), installs the seed pipeline, and checks that the pre-deploy stage's root
/// cause is its Job, `FailedCreate`, with `message` in the text and `hint` in the hint.
fn refused(ctx: &Ctx, ns: &str, prepare: impl FnOnce() -> Result<()>, message: &str, hint: &str) -> Result<()> {
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    prepare()?;
    Pipeline::seed(ns).install(&ctx.plane)?;
    // The newest refusal counts: a quota, say, refuses first as "status unknown" until its
    // controller has counted the namespace.
    let report = ctx.wait_status(ns, "the Job's pod to be refused", SETTLE, |r| {
        let cause = &stage(r, "app-pre-deploy")["rootCause"];
        cause["reason"] == "FailedCreate" && cause["message"].as_str().is_some_and(|m| m.contains(message))
    })?;
    let pre = stage(&report, "app-pre-deploy");
    let cause = &pre["rootCause"];
    check(cause["kind"] == "Job" && cause["name"] == "db-migration", || format!("cause: {cause}"))?;
    let text = cause["message"].as_str().unwrap_or_default();
    check(text.starts_with("the Job controller cannot create its pod: ") && text.contains(message), || {
        format!("message lacks {message:?}: {text}")
    })?;
    let given = pre["hint"].as_str().unwrap_or_default();
    check(given.contains(hint), || format!("hint lacks {hint:?}: {given}"))?;
    // The table says the same, down from the last stage.
    let out = ctx.plugin(&["status", "-n", ns])?;
    check(out.stdout.contains("<- Job/db-migration: FailedCreate") && out.stdout.contains(message), || {
        format!("table:\n{}", out.stdout)
    })
}

fn refused_by_a_resource_quota(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-refused-quota";
    let quota = format!(
        "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: no-pods\n  namespace: {ns}\nspec:\n  hard:\n    pods: \"0\"\n"
    );
    refused(ctx, ns, || applied(ctx, ns, &quota), "exceeded quota: no-pods", "kubectl describe resourcequota")?;
    ctx.capture_example(ns, "quota-refused")
}

fn refused_by_a_limit_range(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-refused-limits";
    // Type Pod: no defaults are filled in (a Container min would become the default request,
    // kubernetes pkg/apis/core/v1/defaults.go SetDefaults_LimitRangeItem), so pods without limits
    // are refused.
    let limits = format!(
        "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: small-pods\n  namespace: {ns}\nspec:\n  limits:\n  - type: Pod\n    max:\n      cpu: 100m\n"
    );
    refused(ctx, ns, || applied(ctx, ns, &limits), "maximum cpu usage per Pod is 100m", "kubectl describe limitrange")
}

fn refused_by_pod_security(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-refused-psa";
    // A label, not an apply: the pipeline's own apply of the Namespace must not take it away.
    let prepare = || {
        ctx.plane.kubectl(&["label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted"])?;
        enforced(ctx, ns)
    };
    refused(ctx, ns, prepare, "violates PodSecurity \"restricted:latest\"", "Pod Security level")
}

fn refused_by_an_admission_policy(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-refused-policy";
    let policy = "fluxjobs-e2e-pinned-images";
    let denial = "images must be pinned by digest";
    let objects = format!(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: {policy}\nspec:\n\
         \x20 failurePolicy: Fail\n  matchConstraints:\n    resourceRules:\n    - apiGroups: ['']\n      apiVersions: [v1]\n\
         \x20     operations: [CREATE]\n      resources: [pods]\n  validations:\n\
         \x20 - expression: \"object.spec.containers.all(c, c.image.contains('@sha256:'))\"\n    message: \"{denial}\"\n\
         ---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata:\n  name: {policy}\nspec:\n\
         \x20 policyName: {policy}\n  validationActions: [Deny]\n  matchResources:\n    namespaceSelector:\n\
         \x20     matchLabels: {{kubernetes.io/metadata.name: {ns}}}\n"
    );
    let prepare = || {
        ctx.plane.apply(&objects)?;
        enforced(ctx, ns)
    };
    let result =
        refused(ctx, ns, prepare, &format!("ValidatingAdmissionPolicy '{policy}'"), "as the policy's message asks");
    ctx.plane.kubectl(&["delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", policy])?;
    result
}

fn refused_for_a_missing_service_account(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-refused-sa";
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_service_account = Some("migrator".into());
    pipeline.install(&ctx.plane)?;
    let report = ctx.wait_status(ns, "the Job's pod to be refused", SETTLE, |r| {
        stage(r, "app-pre-deploy")["rootCause"]["reason"] == "FailedCreate"
    })?;
    let pre = stage(&report, "app-pre-deploy");
    let message = pre["rootCause"]["message"].as_str().unwrap_or_default();
    check(message.contains(&format!("error looking up service account {ns}/migrator")), || message.to_string())?;
    let hint = pre["hint"].as_str().unwrap_or_default();
    check(hint.contains("create the ServiceAccount"), || hint.to_string())
}

/// Applies `objects` and waits until they are enforced.
fn applied(ctx: &Ctx, ns: &str, objects: &str) -> Result<()> {
    ctx.plane.apply(objects)?;
    enforced(ctx, ns)
}

/// Waits until the API server refuses a pod like the migration's in `ns` (policies and quotas are
/// loaded asynchronously), with a server-side dry run that creates nothing.
fn enforced(ctx: &Ctx, ns: &str) -> Result<()> {
    crate::harness::wait_until("the API server to refuse the pod", std::time::Duration::from_secs(60), || {
        let probe = [
            "-n",
            ns,
            "run",
            "probe",
            "--image=registry.example.invalid/shop/app:1.0.0",
            "--restart=Never",
            "--dry-run=server",
        ];
        Ok(ctx.plane.kubectl(&probe).is_err())
    })
}

/// A migration that runs longer than its stage's timeout: kustomize-controller's health check
/// gives up ("timeout waiting for: [Job/... status: 'InProgress']"), and the root cause is the
/// running pod, slow rather than failed, with the timeout to raise.
fn health_check_times_out_on_a_slow_job(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-slow-job";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_labels = vec![("fluxjobs.test/run-forever".into(), "true".into())];
    pipeline.timeout = "20s".into();
    pipeline.install(&ctx.plane)?;
    let report = ctx.wait_status(ns, "the health check to time out", SETTLE, |r| {
        stage(r, "app-pre-deploy")["rootCause"]["reason"] == "StillRunning"
    })?;
    let pre = stage(&report, "app-pre-deploy");
    let cause = &pre["rootCause"];
    let ready = pre["ready"]["message"].as_str().unwrap_or_default();
    check(
        pre["state"] == "Failed"
            && ready.contains("timeout waiting for: [Job/e2e-slow-job/db-migration status: 'InProgress'"),
        || format!("stage: {pre}"),
    )?;
    check(cause["kind"] == "Pod" && cause["via"][0] == "Job/e2e-slow-job/db-migration", || format!("cause: {cause}"))?;
    let message = cause["message"].as_str().unwrap_or_default();
    check(message.contains("still running when the health check gave up at the stage's 20s timeout"), || {
        message.to_string()
    })?;
    let hint = pre["hint"].as_str().unwrap_or_default();
    check(hint.contains("raise spec.timeout of Kustomization e2e-slow-job/app-pre-deploy (now 20s)"), || {
        hint.to_string()
    })
}

/// The root cause of app-pre-deploy once `done` holds for it, with its catalog rows.
fn pre_deploy_cause(ctx: &Ctx, ns: &str, what: &str, done: impl Fn(&Value) -> bool) -> Result<(Value, Vec<String>)> {
    let report = ctx.wait_status(ns, what, SETTLE, |r| done(&stage(r, "app-pre-deploy")["rootCause"]))?;
    let pre = stage(&report, "app-pre-deploy").clone();
    let failures = pre["rootCause"]["failures"].as_array().into_iter().flatten();
    let ids = failures.filter_map(|f| f["id"].as_str().map(str::to_string)).collect();
    Ok((pre, ids))
}

/// The migration runs with a proxy as a second regular container (as cloud-sql-proxy is often
/// added): the migration exits 0, the proxy runs on, the Job never completes. The cause is the
/// pod with the proxy named, and the fix is a native sidecar, not a longer timeout.
fn sidecar_keeps_the_job_running(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-sidecar";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_sidecar = true;
    pipeline.migration_labels = vec![("fluxjobs.test/sidecar".into(), "true".into())];
    pipeline.install(&ctx.plane)?;
    let (pre, ids) =
        pre_deploy_cause(ctx, ns, "the proxy keeping the pod running", |c| c["reason"] == "SidecarKeepsPodRunning")?;
    let cause = &pre["rootCause"];
    check(cause["kind"] == "Pod" && cause["container"] == "cloud-sql-proxy", || format!("cause: {cause}"))?;
    check(ids == ["sidecar-keeps-pod-running"], || format!("failures: {ids:?}"))?;
    let hint = pre["hint"].as_str().unwrap_or_default();
    check(hint.contains("initContainers with restartPolicy: Always") && !hint.contains("spec.timeout"), || {
        hint.to_string()
    })?;
    hinted_rerun_is_accepted(ctx, hint)
}

/// The migration's pod has its own activeDeadlineSeconds and runs past it: failed as the kubelet
/// fails it (a kwok stage: phase Failed, reason DeadlineExceeded, the container killed). The cause
/// is the deadline, not the exit code.
fn pod_deadline(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-pod-deadline";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_pod_deadline = Some(1);
    pipeline.migration_labels = vec![("fluxjobs.test/run-forever".into(), "true".into())];
    pipeline.install(&ctx.plane)?;
    let (pre, ids) =
        pre_deploy_cause(ctx, ns, "the pod stopped at its deadline", |c| c["reason"] == "DeadlineExceeded")?;
    let cause = &pre["rootCause"];
    check(
        cause["kind"] == "Pod"
            && cause["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Pod was active on the node longer than the specified deadline"),
        || format!("cause: {cause}"),
    )?;
    check(ids == ["pod-deadline"], || format!("failures: {ids:?}"))?;
    let hint = pre["hint"].as_str().unwrap_or_default();
    check(hint.contains("raise spec.template.spec.activeDeadlineSeconds (the pod's deadline"), || hint.to_string())?;
    hinted_rerun_is_accepted(ctx, hint)
}

/// The migration must run in a node pool no node is in: the real scheduler says no node matches
/// its node selector, and the hint names nodeSelector, not resources.
fn node_selector_matches_no_node(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-node-selector";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_pool = Some("nowhere".into());
    pipeline.install(&ctx.plane)?;
    let (pre, ids) = pre_deploy_cause(ctx, ns, "the unschedulable pod", |c| c["reason"] == "Unschedulable")?;
    let message = pre["rootCause"]["message"].as_str().unwrap_or_default();
    check(message.contains("didn't match Pod's node affinity/selector"), || message.to_string())?;
    check(ids.first().map(String::as_str) == Some("unschedulable-node-selector"), || format!("failures: {ids:?}"))?;
    let hint = pre["hint"].as_str().unwrap_or_default();
    check(hint.contains("spec.template.spec.nodeSelector") && !hint.contains("resources.requests"), || {
        hint.to_string()
    })?;
    hinted_rerun_is_accepted(ctx, hint)
}

/// The app's pods run but never become ready (a kwok stage; kwok runs no probes, so the test
/// records the kubelet's `Unhealthy` event as pkg/kubelet/prober/prober.go writes it): the
/// Deployment passes its progress deadline, kustomize-controller's health check fails early on it,
/// and the root cause is the newest ReplicaSet's pod with the failing readiness probe, fixed by the
/// next apply, never by a rerun.
fn deployment_never_available(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-never-available";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.app_labels = vec![("fluxjobs.test/never-ready".into(), "true".into())];
    pipeline.app_progress_deadline = Some(10);
    pipeline.install(&ctx.plane)?;
    // Named as soon as the deadline passes; then kustomize-controller's check fails early on it.
    let get_pods = || -> Result<Value> {
        let pods = ctx.plane.kubectl(&["get", "pods", "-n", ns, "-l", "app.kubernetes.io/name=app", "-o", "json"])?;
        serde_json::from_str(&pods).map_err(|e| format!("kubectl get pods: {e}"))
    };
    wait_until("the app's pod", SETTLE, || Ok(get_pods()?["items"].as_array().is_some_and(|p| !p.is_empty())))?;
    let pods = get_pods()?;
    let pod = &pods["items"][0]["metadata"];
    let event = serde_json::json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{}.readiness", pod["name"].as_str().unwrap_or_default()), "namespace": ns},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": ns, "name": pod["name"], "uid": pod["uid"],
                           "fieldPath": "spec.containers{app}"},
        "type": "Warning", "reason": "Unhealthy", "source": {"component": "kubelet", "host": "kwok-node-0"},
        "message": "Readiness probe failed: HTTP probe failed with statuscode: 503", "count": 4,
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z",
    });
    ctx.plane.kubectl_stdin(&["create", "-f", "-"], &event.to_string())?;
    let report = ctx.wait_status(ns, "the health check to fail on the Deployment", SETTLE, |r| {
        stage(r, "app-post-deploy")["rootCause"]["reason"] == "ContainersNotReady"
            && stage(r, "app-deploy")["state"] == "Failed"
    })?;
    let post = stage(&report, "app-post-deploy");
    let cause = &post["rootCause"];
    check(cause["kind"] == "Pod" && cause["via"][0] == format!("Deployment/{ns}/app"), || format!("cause: {cause}"))?;
    let message = cause["message"].as_str().unwrap_or_default();
    check(message.contains("Readiness probe failed: HTTP probe failed with statuscode: 503"), || message.to_string())?;
    check(cause["failures"][0]["id"] == "readiness-probe", || format!("cause: {cause}"))?;
    check(post["path"] == serde_json::json!([format!("{ns}/app-post-deploy"), format!("{ns}/app-deploy")]), || {
        format!("path: {}", post["path"])
    })?;
    let ready = stage(&report, "app-deploy")["ready"]["message"].as_str().unwrap_or_default().to_string();
    check(ready.contains(&format!("Deployment/{ns}/app status: 'Failed'")), || ready.clone())?;
    let hint = post["hint"].as_str().unwrap_or_default();
    check(hint.contains("fix readinessProbe of container app") && !hint.contains("rerun"), || hint.to_string())
}
