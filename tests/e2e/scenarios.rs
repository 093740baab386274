//! The end-to-end scenarios, asserted through `kubectl-fluxjobs status -o json` on the live cluster.

use std::time::Duration;

use serde_json::Value;

use crate::fixtures::Pipeline;
use crate::harness::Result;
use crate::{Ctx, check, stage, state_of};

pub(crate) type Scenario = fn(&Ctx) -> Result<()>;

/// Namespaces whose pods get container logs from kwok (see `ControlPlane::kwok_config`).
pub(crate) const LOG_NAMESPACES: &[&str] =
    &["e2e-failed-migration", "e2e-rset-failed", "e2e-watch-logs", "e2e-wait-helm-logs"];

pub(crate) fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        ("seed_pipeline_reaches_ready", seed_pipeline_reaches_ready),
        ("failed_migration_blocks_the_chain", failed_migration_blocks_the_chain),
        ("new_tag_with_force_recreates_the_job", new_tag_with_force_recreates_the_job),
        ("new_tag_without_force_reports_the_immutable_job", new_tag_without_force_reports_the_immutable_job),
        ("missing_dependency_is_named", missing_dependency_is_named),
        ("ready_expr_is_evaluated_on_the_live_objects", ready_expr_is_evaluated_on_the_live_objects),
        ("suspended_pre_deploy_blocks_downstream", suspended_pre_deploy_blocks_downstream),
        ("new_revision_waits_behind_a_suspended_stage", new_revision_waits_behind_a_suspended_stage),
        ("image_pull_failure_is_the_root_cause", image_pull_failure_is_the_root_cause),
        ("unschedulable_pod_is_the_root_cause", unschedulable_pod_is_the_root_cause),
        ("stages_deploying_into_another_namespace", stages_deploying_into_another_namespace),
        ("rerun_after_fixing_a_failed_migration", rerun_after_fixing_a_failed_migration),
        ("rerun_refuses_an_active_job_and_a_suspended_stage", rerun_refuses_an_active_job_and_a_suspended_stage),
        ("dry_runs_change_nothing", dry_runs_change_nothing),
        ("reconcile_with_source_waits_for_the_fetch", reconcile_with_source_waits_for_the_fetch),
        ("the_uid_precondition_protects_a_recreated_job", the_uid_precondition_protects_a_recreated_job),
        ("an_interrupted_rerun_says_how_to_restore", an_interrupted_rerun_says_how_to_restore),
        ("watch_follows_the_pipeline_to_ready", watch_follows_the_pipeline_to_ready),
        ("watch_reads_the_log_tail_of_a_cause_in_a_later_frame", watch_keeps_the_log_tail),
        ("krew_installs_the_plugin_and_kubectl_runs_it", krew_installs_the_plugin_and_kubectl_runs_it),
        ("flux_plugin_install_installs_the_plugin_and_flux_runs_it", flux_plugin_install),
        ("forbidden_user_gets_a_clear_error", forbidden_user_gets_a_clear_error),
        ("unreachable_server_is_named", unreachable_server_is_named),
        ("flux_not_installed_is_one_clear_line", flux_not_installed_is_one_clear_line),
        ("an_empty_namespace_exits_4_and_says_where_stages_are", an_empty_namespace_exits_4_and_says_where_stages_are),
    ]
}

/// `status -n NS --exit-code` where NS has no stage but others do: exit 4, and the warning says
/// where to look (read with one cluster-wide LIST of the stage kinds).
fn an_empty_namespace_exits_4_and_says_where_stages_are(ctx: &Ctx) -> Result<()> {
    let (empty, elsewhere) = ("e2e-empty", "e2e-elsewhere");
    for ns in [empty, elsewhere] {
        ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    }
    ctx.plane.apply(&format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\n  namespace: {elsewhere}\n\
         spec:\n  interval: 10m\n  prune: true\n  sourceRef: {{kind: GitRepository, name: nowhere}}\n"
    ))?;
    let out = ctx.plugin(&["status", "-n", empty, "--exit-code"])?;
    check(out.code == 4, || format!("exit {}: {}", out.code, out.stderr))?;
    let expected = format!(
        "warning: no Flux Kustomizations, ResourceSets or HelmReleases found in namespace \"{empty}\"; there are some in "
    );
    check(out.stderr.starts_with(&expected) && out.stderr.contains("try -"), || out.stderr.clone())?;
    check(out.stdout.lines().count() <= 1, || format!("stdout: {}", out.stdout))
}

const STAGES: [&str; 3] = ["app-pre-deploy", "app-deploy", "app-post-deploy"];
/// Long enough for a loaded 2-core machine: a three-stage chain settles in about a minute with
/// kustomize-controller's default 30s dependency requeue.
pub(crate) const SETTLE: Duration = Duration::from_secs(300);

fn all_ready_at(report: &Value, revision: &str) -> bool {
    STAGES.iter().all(|s| {
        let st = stage(report, s);
        st["state"] == "Ready"
            && st["revision"] == revision
            && st["sourceRevision"] == revision
            && st["rootCause"].is_null()
    })
}

fn job<'a>(report: &'a Value, stage_name: &str, job: &str) -> &'a Value {
    stage(report, stage_name)["jobs"]
        .as_array()
        .and_then(|jobs| jobs.iter().find(|j| j["name"] == job))
        .unwrap_or(&Value::Null)
}

fn seed_pipeline_reaches_ready(ctx: &Ctx) -> Result<()> {
    let pipeline = Pipeline::seed("e2e-seed");
    let start = std::time::Instant::now();
    let revision = pipeline.install(&ctx.plane)?;
    let report = ctx.wait_status("e2e-seed", "every stage Ready", SETTLE, |r| all_ready_at(r, &revision))?;
    // For comparison with the chain reconcile: Flux alone, with its 30s dependency requeue.
    eprintln!("e2e: the seed pipeline settled by itself in {:.0}s", start.elapsed().as_secs_f64());
    let order: Vec<&str> = report["stages"].as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
    check(order == STAGES, || format!("stages not in dependency order: {order:?}"))?;
    for (stage_name, job_name) in [("app-pre-deploy", "db-migration"), ("app-post-deploy", "cache-refresh")] {
        let j = job(&report, stage_name, job_name);
        check(j["state"] == "Complete", || format!("{stage_name}: job {job_name} is not Complete: {j}"))?;
    }
    check(stage(&report, "app-deploy")["dependsOn"] == serde_json::json!(["e2e-seed/app-pre-deploy"]), || {
        format!("dependsOn of app-deploy: {}", stage(&report, "app-deploy")["dependsOn"])
    })?;
    ctx.capture_example("e2e-seed", "ready")?;
    // The table says the same, and --exit-code passes.
    let table = ctx.plugin(&["status", "-n", "e2e-seed", "--exit-code"])?;
    check(table.code == 0, || format!("--exit-code on a Ready pipeline exited {}: {}", table.code, table.stderr))?;
    check(table.stdout.contains("app-post-deploy") && table.stdout.contains("1/1"), || {
        format!("table output:\n{}", table.stdout)
    })
}

fn failed_migration_blocks_the_chain(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-failed-migration";
    ctx.plane.write_pod_log(
        ns,
        &[
            "applying migration 0042_add_order_totals",
            "ALTER TABLE orders ADD COLUMN total numeric",
            "ERROR: column \"total\" of relation \"orders\" already exists",
            "migration failed",
        ],
    )?;
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_labels = vec![("fluxjobs.test/exit-code".into(), "3".into())];
    pipeline.install(&ctx.plane)?;
    let report = ctx.wait_status(ns, "pre-deploy Failed and the rest Blocked", SETTLE, |r| {
        state_of(r, "app-pre-deploy") == "Failed"
            && state_of(r, "app-deploy") == "Blocked"
            && state_of(r, "app-post-deploy") == "Blocked"
    })?;
    let post = stage(&report, "app-post-deploy");
    let cause = &post["rootCause"];
    check(cause["kind"] == "Pod" && cause["name"].as_str().unwrap_or("").starts_with("db-migration-"), || {
        format!("root cause of app-post-deploy should be the migration pod: {cause}")
    })?;
    check(cause["exitCode"] == 3, || format!("exit code missing: {cause}"))?;
    let path: Vec<&str> = post["path"].as_array().unwrap().iter().filter_map(|p| p.as_str()).collect();
    check(
        path == [format!("{ns}/app-post-deploy"), format!("{ns}/app-deploy"), format!("{ns}/app-pre-deploy")],
        || format!("path: {path:?}"),
    )?;
    check(cause["via"] == serde_json::json!([format!("Job/{ns}/db-migration")]), || format!("via: {}", cause["via"]))?;
    let logs = cause["logs"].as_array().cloned().unwrap_or_default();
    check(logs.iter().any(|l| l == "migration failed"), || format!("log tail missing from the root cause: {cause}"))?;
    let j = job(&report, "app-pre-deploy", "db-migration");
    check(j["state"] == "Failed" && j["reason"] == "BackoffLimitExceeded", || format!("migration job: {j}"))?;
    check(stage(&report, "app-pre-deploy")["ready"]["reason"] == "HealthCheckFailed", || {
        format!("pre-deploy Ready condition: {}", stage(&report, "app-pre-deploy")["ready"])
    })?;
    ctx.capture_example(ns, "failed-migration")?;
    // --exit-code turns the block into exit status 3, and the table names the pod and its logs.
    let table = ctx.plugin(&["status", "app-post-deploy", "-n", ns, "--exit-code"])?;
    check(table.code == 3, || format!("--exit-code exited {} instead of 3", table.code))?;
    check(table.stdout.contains("exit code 3") && table.stdout.contains("migration failed"), || {
        format!("table output:\n{}", table.stdout)
    })
}

fn new_tag_with_force_recreates_the_job(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-force";
    let mut pipeline = Pipeline::seed(ns);
    let first = pipeline.install(&ctx.plane)?;
    ctx.wait_status(ns, "every stage Ready", SETTLE, |r| all_ready_at(r, &first))?;
    let uid_before = ctx.plane.kubectl(&["-n", ns, "get", "job", "db-migration", "-o", "jsonpath={.metadata.uid}"])?;
    pipeline.tag = "2.0.0".into();
    let second = pipeline.publish(&ctx.plane)?;
    let report = ctx.wait_status(ns, "every stage Ready at the new revision", SETTLE, |r| all_ready_at(r, &second))?;
    let uid_after = ctx.plane.kubectl(&["-n", ns, "get", "job", "db-migration", "-o", "jsonpath={.metadata.uid}"])?;
    check(uid_before != uid_after, || "kustomize-controller did not recreate the Job".into())?;
    let j = job(&report, "app-pre-deploy", "db-migration");
    check(j["images"] == serde_json::json!([pipeline.image()]) && j["state"] == "Complete", || {
        format!("recreated Job: {j}")
    })
}

fn new_tag_without_force_reports_the_immutable_job(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-no-force";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.force = false;
    let first = pipeline.install(&ctx.plane)?;
    ctx.wait_status(ns, "every stage Ready", SETTLE, |r| all_ready_at(r, &first))?;
    pipeline.tag = "2.0.0".into();
    pipeline.publish(&ctx.plane)?;
    let report = ctx.wait_status(ns, "pre-deploy Failed on the immutable Job", SETTLE, |r| {
        state_of(r, "app-pre-deploy") == "Failed"
    })?;
    let pre = stage(&report, "app-pre-deploy");
    let cause = &pre["rootCause"];
    check(cause["kind"] == "Job" && cause["name"] == "db-migration" && cause["reason"] == "ImmutableField", || {
        format!("root cause: {cause}")
    })?;
    ctx.capture_example(ns, "immutable-job")?;
    check(pre["ready"]["reason"] == "ReconciliationFailed", || format!("Ready: {}", pre["ready"]))?;
    check(pre["hint"].as_str().unwrap_or("").contains("force"), || format!("hint: {}", pre["hint"]))
}

fn missing_dependency_is_named(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-missing-dependency";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.extra_dependency = Some("app-database".into());
    pipeline.install(&ctx.plane)?;
    let report = ctx.wait_status(ns, "app-deploy Blocked on a missing dependency", SETTLE, |r| {
        state_of(r, "app-pre-deploy") == "Ready"
            && stage(r, "app-deploy")["rootCause"]["reason"] == "DependencyNotFound"
            && state_of(r, "app-post-deploy") == "Blocked"
    })?;
    ctx.capture_example(ns, "missing-dependency")?;
    let deploy = stage(&report, "app-deploy");
    check(deploy["state"] == "Blocked" && deploy["rootCause"]["name"] == "app-database", || {
        format!("app-deploy: {deploy}")
    })?;
    check(deploy["ready"]["reason"] == "DependencyNotReady", || format!("Ready: {}", deploy["ready"]))
}

fn suspended_pre_deploy_blocks_downstream(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-suspended";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.pre_deploy_suspended = true;
    pipeline.install(&ctx.plane)?;
    let report = ctx.wait_status(ns, "downstream Blocked by the suspended stage", SETTLE, |r| {
        // Both dependents must have been reconciled once: a stage not yet picked up is Unknown.
        state_of(r, "app-pre-deploy") == "Suspended"
            && ["app-deploy", "app-post-deploy"]
                .iter()
                .all(|s| state_of(r, s) == "Blocked" && stage(r, s)["ready"]["reason"] == "DependencyNotReady")
    })?;
    ctx.capture_example(ns, "suspended")?;
    for s in ["app-deploy", "app-post-deploy"] {
        let cause = &stage(&report, s)["rootCause"];
        check(
            cause["kind"] == "Kustomization" && cause["name"] == "app-pre-deploy" && cause["reason"] == "Suspended",
            || format!("{s} root cause: {cause}"),
        )?;
    }
    Ok(())
}

/// A `readyExpr` that kustomize-controller finds false: status names it, evaluates it on the live
/// objects, and shows it in the wide table; once it holds, `reconcile` takes the chain through.
fn ready_expr_is_evaluated_on_the_live_objects(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-ready-expr";
    let expr = "has(dep.metadata.labels) && 'fluxjobs.test/go' in dep.metadata.labels";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.deploy_ready_expr = Some(expr.into());
    pipeline.install(&ctx.plane)?;
    let report = ctx.wait_status(ns, "app-deploy Blocked on its readyExpr", SETTLE, |r| {
        stage(r, "app-deploy")["rootCause"]["reason"] == "ReadyExprNotMet"
    })?;
    ctx.capture_example(ns, "ready-expr")?;
    let deploy = stage(&report, "app-deploy");
    check(
        deploy["state"] == "Blocked"
            && deploy["rootCause"]["message"].as_str().is_some_and(|m| m.ends_with("(false here too)"))
            && deploy["readyExprs"]
                == serde_json::json!([{"dependency": format!("{ns}/app-pre-deploy"), "expression": expr, "value": false, "error": null}]),
        || format!("app-deploy: {deploy}"),
    )?;
    let wide = ctx.plugin(&["status", "-n", ns, "-o", "wide"])?;
    check(wide.stdout.contains(&format!("{ns}/app-pre-deploy@{expr} (false)")), || {
        format!("wide table:\n{}", wide.stdout)
    })?;
    ctx.plane.kubectl(&["-n", ns, "label", "kustomization", "app-pre-deploy", "fluxjobs.test/go=yes"])?;
    let out = ctx.plugin(&["reconcile", "app-post-deploy", "-n", ns, "--timeout", "2m"])?;
    check(out.code == 0, || format!("reconcile exited {}:\n{}", out.code, out.stderr))?;
    let report = ctx.status(ns)?;
    check(
        STAGES.iter().all(|s| state_of(&report, s) == "Ready")
            && stage(&report, "app-deploy")["readyExprs"][0]["value"] == true,
        || format!("after the label: {report}"),
    )
}

/// A stage suspended after it applied revision 1, then revision 2 arrives: the dependents wait
/// with "revision is not up to date" (the source's artifact revision is read live), and the root
/// cause is the suspended stage.
fn new_revision_waits_behind_a_suspended_stage(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-suspended-new-revision";
    let mut pipeline = Pipeline::seed(ns);
    let first = pipeline.install(&ctx.plane)?;
    ctx.wait_status(ns, "every stage Ready", SETTLE, |r| all_ready_at(r, &first))?;
    suspend_stage(ctx, ns, "app-pre-deploy")?;
    pipeline.tag = "2.0.0".into();
    let second = pipeline.publish(&ctx.plane)?;
    let report = ctx.wait_status(ns, "app-deploy waiting for the new revision", SETTLE, |r| {
        let deploy = stage(r, "app-deploy");
        deploy["state"] == "Blocked"
            && deploy["ready"]["message"].as_str().is_some_and(|m| m.contains("revision is not up to date"))
    })?;
    let deploy = stage(&report, "app-deploy");
    let cause = &deploy["rootCause"];
    check(
        cause["name"] == "app-pre-deploy"
            && cause["reason"] == "Suspended"
            && cause["message"].as_str().is_some_and(|m| m.contains(&second)),
        || format!("app-deploy root cause: {cause}"),
    )?;
    check(deploy["sourceRevision"] == second && deploy["revision"] == first, || format!("app-deploy: {deploy}"))?;
    check(deploy["hint"].as_str().is_some_and(|h| h.contains("flux resume kustomization app-pre-deploy")), || {
        format!("hint: {}", deploy["hint"])
    })
}

fn image_pull_failure_is_the_root_cause(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-image-pull";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_labels = vec![("fluxjobs.test/image-pull".into(), "fail".into())];
    pipeline.install(&ctx.plane)?;
    let report = ctx.wait_status(ns, "the image pull failure as root cause", SETTLE, |r| {
        stage(r, "app-post-deploy")["rootCause"]["reason"] == "ImagePullBackOff"
    })?;
    ctx.capture_example(ns, "image-pull")?;
    let pre = stage(&report, "app-pre-deploy");
    check(pre["state"] == "Progressing", || format!("pre-deploy should still be running its health check: {pre}"))?;
    let cause = &pre["rootCause"];
    check(cause["kind"] == "Pod" && cause["container"] == "migration", || format!("root cause: {cause}"))?;
    check(cause["message"].as_str().unwrap_or("").contains(&pipeline.image()), || format!("message: {cause}"))?;
    hinted_rerun_is_accepted(ctx, pre["hint"].as_str().unwrap_or_default())
}

/// The `kubectl fluxjobs rerun ...` a hint names, run as written with `--dry-run`: accepted (every
/// check passes, nothing changes), not refused.
pub(crate) fn hinted_rerun_is_accepted(ctx: &Ctx, hint: &str) -> Result<()> {
    let at = hint.find("kubectl fluxjobs rerun ").ok_or_else(|| format!("the hint names no rerun: {hint}"))?;
    let command: Vec<&str> = hint[at..].split(" (").next().unwrap_or_default().split_whitespace().skip(2).collect();
    let mut args = command.clone();
    args.push("--dry-run");
    let out = ctx.plugin(&args)?;
    check(out.code == 0 && out.stderr.contains("nothing was changed"), || {
        format!("{} exited {}: {}", command.join(" "), out.code, out.stderr)
    })
}

fn unschedulable_pod_is_the_root_cause(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-unschedulable";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_cpu = Some("64".into());
    pipeline.install(&ctx.plane)?;
    let report = ctx.wait_status(ns, "the unschedulable pod as root cause", SETTLE, |r| {
        stage(r, "app-pre-deploy")["rootCause"]["reason"] == "Unschedulable" && state_of(r, "app-deploy") == "Blocked"
    })?;
    ctx.capture_example(ns, "unschedulable")?;
    let cause = &stage(&report, "app-pre-deploy")["rootCause"];
    // The scheduler's own message, e.g. "0/1 nodes are available: 1 Insufficient cpu. ..."
    check(cause["message"].as_str().unwrap_or("").contains("Insufficient cpu"), || format!("root cause: {cause}"))?;
    check(stage(&report, "app-deploy")["rootCause"]["reason"] == "Unschedulable", || {
        format!("app-deploy: {}", stage(&report, "app-deploy"))
    })?;
    hinted_rerun_is_accepted(ctx, stage(&report, "app-pre-deploy")["hint"].as_str().unwrap_or_default())
}

fn forbidden_user_gets_a_clear_error(ctx: &Ctx) -> Result<()> {
    // A user with a valid certificate and no RBAC permissions at all.
    let kubeconfig = crate::kubeconfig_path(ctx, "viewer.kubeconfig");
    ctx.plane.write_kubeconfig(&kubeconfig, "fluxjobs-e2e-viewer", "viewer")?;
    let out = ctx.plugin_with(&kubeconfig, &["status", "-n", "e2e-seed"])?;
    check(out.code == 1 && out.stdout.is_empty(), || format!("exit {} stdout {:?}", out.code, out.stdout))?;
    check(
        out.stderr.contains("forbidden")
            && out.stderr.contains("list")
            && out.stderr.contains("kustomizations")
            && out.stderr.contains("e2e-seed")
            && out.stderr.lines().count() == 1,
        || format!("stderr: {}", out.stderr),
    )?;
    // Allowed the Flux kinds, Jobs and Pods of one namespace but not its Events and Deployments:
    // the diagnosis goes on without them and says so on stderr. (Events are read only where
    // something is not done: the migration never schedules.)
    let ns = "e2e-partial-rbac";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_cpu = Some("64".into());
    pipeline.install(&ctx.plane)?;
    ctx.plane.apply(&format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: fluxjobs-partial\n  namespace: {ns}\nrules:\n\
         - apiGroups: [kustomize.toolkit.fluxcd.io]\n  resources: [kustomizations]\n  verbs: [get, list, watch]\n\
         - apiGroups: [source.toolkit.fluxcd.io]\n  resources: [gitrepositories, ocirepositories, buckets, externalartifacts]\n  verbs: [get, list, watch]\n\
         - apiGroups: [batch]\n  resources: [jobs]\n  verbs: [get, list, watch]\n\
         - apiGroups: ['']\n  resources: [pods]\n  verbs: [get, list, watch]\n\
         ---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: fluxjobs-partial\n  namespace: {ns}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: fluxjobs-partial}}\n\
         subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: fluxjobs-e2e-viewer}}]\n"
    ))?;
    let out = ctx.plugin_with(&kubeconfig, &["status", "-n", ns, "-o", "json"])?;
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
    check(out.code == 0 && report["stages"].as_array().is_some_and(|s| s.len() == 3), || {
        format!("partial access: exit {}\nstdout: {}\nstderr: {}", out.code, out.stdout, out.stderr)
    })?;
    for kind in ["events", "deployments.apps"] {
        let warning = format!("warning: forbidden: cannot list {kind} in namespace \"{ns}\"");
        check(out.stderr.contains(&warning) && out.stderr.contains("continuing without them"), || {
            format!("no warning about {kind}:\n{}", out.stderr)
        })?;
    }
    Ok(())
}

fn unreachable_server_is_named(ctx: &Ctx) -> Result<()> {
    // Port 9 (discard) on loopback: nothing listens there.
    let kubeconfig = crate::kubeconfig_edited(ctx, "unreachable.kubeconfig", |t| {
        t.replace(&ctx.plane.api_server, "https://127.0.0.1:9")
    })?;
    let out = ctx.plugin_with(&kubeconfig, &["status", "--request-timeout", "5s"])?;
    // The network's own words, not the client library's layers.
    let expected = "error: cannot reach the Kubernetes API server at https://127.0.0.1:9: Connection refused";
    check(out.code == 1 && out.stderr.starts_with(expected) && out.stderr.lines().count() == 1, || {
        format!("exit {} stderr: {}", out.code, out.stderr)
    })
}

/// The common Flux layout: Kustomizations in one namespace (flux-system), workloads in another.
/// A cluster without the Flux CRDs (a second API server over an empty etcd prefix): every command
/// says so in one line, exits 1 and prints no data.
fn flux_not_installed_is_one_clear_line(ctx: &Ctx) -> Result<()> {
    let kubeconfig = ctx.plane.start_bare_api_server()?;
    let commands: [&[&str]; 4] = [
        &["status", "-A"],
        &["status", "-n", "default", "--watch", "-o", "json"],
        &["reconcile", "app-post-deploy", "-n", "default"],
        &["rerun", "ks/app-pre-deploy", "-n", "default", "--yes"],
    ];
    for args in commands {
        let out = ctx.plugin_with(&kubeconfig, args)?;
        check(
            out.code == 1
                && out.stdout.is_empty()
                && out.stderr.lines().count() == 1
                && out.stderr.starts_with("error: Flux is not installed on https://127.0.0.1:"),
            || format!("{args:?} exited {}:\nstdout: {}\nstderr: {}", out.code, out.stdout, out.stderr),
        )?;
    }
    Ok(())
}

fn stages_deploying_into_another_namespace(ctx: &Ctx) -> Result<()> {
    let (ns, apps) = ("e2e-fleet", "e2e-fleet-apps");
    let mut pipeline = Pipeline::seed(ns);
    pipeline.target_namespace = Some(apps.into());
    pipeline.migration_labels = vec![("fluxjobs.test/exit-code".into(), "4".into())];
    pipeline.install(&ctx.plane)?;
    let report = ctx.wait_status(ns, "pre-deploy Failed", SETTLE, |r| state_of(r, "app-pre-deploy") == "Failed")?;
    let cause = &stage(&report, "app-pre-deploy")["rootCause"];
    check(cause["kind"] == "Pod" && cause["namespace"] == apps && cause["exitCode"] == 4, || {
        format!("root cause should be the pod in {apps}: {cause}")
    })?;
    let j = job(&report, "app-pre-deploy", "db-migration");
    check(j["namespace"] == apps && j["state"] == "Failed", || format!("job: {j}"))
}

/// `spec.suspend: true`, as `flux suspend kustomization` sets it.
fn suspend_stage(ctx: &Ctx, ns: &str, name: &str) -> Result<String> {
    let patch = r#"{"spec":{"suspend":true}}"#;
    ctx.plane.kubectl(&["-n", ns, "patch", "kustomization", name, "--type=merge", "--field-manager=e2e", "-p", patch])
}

pub(crate) fn uid_of_job(ctx: &Ctx, ns: &str, name: &str) -> Result<String> {
    ctx.plane.kubectl(&["-n", ns, "get", "job", name, "-o", "jsonpath={.metadata.uid}"])
}

/// Failed migration -> fix outside the Job's spec -> `rerun --wait` -> `reconcile` -> all Ready.
fn rerun_after_fixing_a_failed_migration(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-rerun";
    ctx.plane.apply(&crate::fixtures::kwok_node("kwok-node-flaky", ns, true))?;
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_pool = Some(ns.into());
    pipeline.install(&ctx.plane)?;
    ctx.wait_status(ns, "the migration to fail on the flaky node", SETTLE, |r| {
        state_of(r, "app-pre-deploy") == "Failed" && state_of(r, "app-deploy") == "Blocked"
    })?;
    // The fix: take the flaky node out of service and give the pool a healthy node.
    ctx.plane.kubectl(&["cordon", "kwok-node-flaky"])?;
    ctx.plane.kubectl(&["label", "node", "kwok-node-0", &format!("fluxjobs.test/pool={ns}")])?;
    let old_uid = uid_of_job(ctx, ns, "db-migration")?;
    let backups = ctx.plane.dir.join("backups-rerun");
    // Without --yes it asks on the terminal, whatever stdin and stderr are; with no terminal it
    // refuses; "n" changes nothing.
    let rerun = ["rerun", "job/db-migration", "-n", ns, "--wait", "--timeout", "2m", "--backup-dir"];
    let rerun: Vec<&str> = rerun.into_iter().chain([backups.to_str().unwrap()]).collect();
    let out = ctx.plugin(&rerun)?;
    check(out.code == 1 && out.stderr.lines().last().is_some_and(|l| l.contains("pass --yes")), || {
        format!("without a terminal: exit {}: {}", out.code, out.stderr)
    })?;
    let (out, terminal) = ctx.plugin_at_terminal(&rerun, "n")?;
    check(out.code == 1 && out.stderr.contains("aborted; nothing was changed"), || {
        format!("answered n: exit {}: {}\nterminal: {terminal}", out.code, out.stderr)
    })?;
    check(terminal.contains("Delete 1 Job as above? [y/N]") && !out.stderr.contains("[y/N]"), || {
        format!("the question was not asked on the terminal: {terminal:?}\nstderr: {}", out.stderr)
    })?;
    check(uid_of_job(ctx, ns, "db-migration")? == old_uid && !backups.exists(), || {
        "a refused rerun changed something".into()
    })?;
    let (out, terminal) = ctx.plugin_at_terminal(&rerun, "y")?;
    check(out.code == 0, || format!("rerun exited {}:\n{}\nterminal: {terminal}", out.code, out.stderr))?;
    for expected in [
        "saved e2e-rerun/db-migration",
        "is gone",
        "requested a reconcile",
        "Complete",
        "stage e2e-rerun/app-pre-deploy Ready",
    ] {
        check(out.stderr.contains(expected), || format!("rerun output lacks {expected:?}:\n{}", out.stderr))?;
    }
    check(out.stdout.is_empty(), || format!("rerun printed data on stdout: {}", out.stdout))?;
    let new_uid = uid_of_job(ctx, ns, "db-migration")?;
    check(new_uid != old_uid, || "the Job was not recreated".into())?;
    let saved: Vec<_> = std::fs::read_dir(&backups).map_err(|e| e.to_string())?.flatten().collect();
    check(saved.len() == 1, || format!("expected one backup, found {}", saved.len()))?;
    let backup = std::fs::read_to_string(saved[0].path()).map_err(|e| e.to_string())?;
    check(backup.contains("kind: Job") && backup.contains("name: db-migration"), || format!("backup:\n{backup}"))?;
    // The Job's stage is Ready; the dependents would wait for their dependency requeue. Reconcile
    // the chain now instead, and measure it.
    let start = std::time::Instant::now();
    let out = ctx.plugin(&["reconcile", "app-post-deploy", "-n", ns, "--timeout", "2m"])?;
    let took = start.elapsed();
    check(out.code == 0, || format!("reconcile exited {}:\n{}", out.code, out.stderr))?;
    check(
        out.stderr.contains("e2e-rerun/app-pre-deploy -> e2e-rerun/app-deploy -> e2e-rerun/app-post-deploy"),
        || format!("reconcile order:\n{}", out.stderr),
    )?;
    eprintln!(
        "e2e: chain reconcile of 3 stages took {:.1}s (kustomize-controller --requeue-dependency=30s)\n{}",
        took.as_secs_f64(),
        out.stderr
    );
    // Each stage costs its health check (kustomize-controller polls every 5s, ctrl.go
    // WaitForSetWithContext); without the reconcile requests each of the two dependent hops would
    // also wait for the dependency requeue, 30s. The whole chain must take less than one requeue.
    check(took < std::time::Duration::from_secs(30), || format!("chain reconcile took {took:?}:\n{}", out.stderr))?;
    let report = ctx.status(ns)?;
    check(STAGES.iter().all(|s| state_of(&report, s) == "Ready"), || format!("after reconcile: {report}"))
}

fn rerun_refuses_an_active_job_and_a_suspended_stage(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-rerun-refused";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_labels = vec![("fluxjobs.test/run-forever".into(), "true".into())];
    pipeline.install(&ctx.plane)?;
    ctx.wait_status(ns, "the migration to run", SETTLE, |r| {
        job(r, "app-pre-deploy", "db-migration")["state"] == "Running"
    })?;
    let uid = uid_of_job(ctx, ns, "db-migration")?;
    let out = ctx.plugin(&["rerun", "db-migration", "-n", ns, "--yes"])?;
    check(out.code == 1 && out.stderr.contains("still running") && out.stderr.contains("--force"), || {
        format!("exit {}: {}", out.code, out.stderr)
    })?;
    suspend_stage(ctx, ns, "app-pre-deploy")?;
    let out = ctx.plugin(&["rerun", "db-migration", "-n", ns, "--yes", "--force"])?;
    check(
        out.code == 1 && out.stderr.contains("suspended") && out.stderr.contains("flux resume kustomization"),
        || format!("exit {}: {}", out.code, out.stderr),
    )?;
    check(uid_of_job(ctx, ns, "db-migration")? == uid, || "a refused rerun changed the Job".into())?;
    let out = ctx.plugin(&["reconcile", "app-post-deploy", "-n", ns])?;
    check(
        out.code == 1 && out.stderr.contains("suspended stage in the chain: e2e-rerun-refused/app-pre-deploy"),
        || format!("reconcile with a suspended stage: exit {}: {}", out.code, out.stderr),
    )
}

fn dry_runs_change_nothing(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-dry-run";
    let pipeline = Pipeline::seed(ns);
    let revision = pipeline.install(&ctx.plane)?;
    ctx.wait_status(ns, "every stage Ready", SETTLE, |r| all_ready_at(r, &revision))?;
    let versions = || -> Result<String> {
        Ok(format!(
            "{} {}",
            ctx.plane.kubectl(&["-n", ns, "get", "jobs", "-o", "jsonpath={.items[*].metadata.resourceVersion}"])?,
            ctx.plane.kubectl(&[
                "-n",
                ns,
                "get",
                "kustomizations",
                "-o",
                "jsonpath={.items[*].metadata.resourceVersion}"
            ])?
        ))
    };
    let before = versions()?;
    let out = ctx.plugin(&["rerun", "ks/app-pre-deploy", "-n", ns, "--dry-run"])?;
    check(out.code == 0 && out.stderr.contains("would delete Job e2e-dry-run/db-migration"), || {
        format!("exit {}: {}", out.code, out.stderr)
    })?;
    let out = ctx.plugin(&["reconcile", "app-post-deploy", "-n", ns, "--dry-run", "--with-source"])?;
    check(out.code == 0 && out.stderr.contains("nothing was changed"), || {
        format!("exit {}: {}", out.code, out.stderr)
    })?;
    let after = versions()?;
    check(before == after, || format!("resourceVersions changed: {before} -> {after}"))
}

/// `reconcile --with-source`: the GitRepository is asked first and the stages wait until it was
/// handled. With nobody to answer the command fails naming source-controller, before touching a
/// stage; then the test answers as source-controller does (`status.lastHandledReconcileAt` set to
/// the requested token, fluxcd/pkg runtime/reconcile) and the chain goes on.
fn reconcile_with_source_waits_for_the_fetch(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-with-source";
    let revision = Pipeline::seed(ns).install(&ctx.plane)?;
    ctx.wait_status(ns, "every stage Ready", SETTLE, |r| all_ready_at(r, &revision))?;
    let requested = || {
        ctx.plane.kubectl(&[
            "-n",
            ns,
            "get",
            "gitrepository",
            "app",
            "-o",
            "jsonpath={.metadata.annotations.reconcile\\.fluxcd\\.io/requestedAt}",
        ])
    };
    let out = ctx.plugin(&["reconcile", "app-pre-deploy", "-n", ns, "--with-source", "--timeout", "3s"])?;
    check(
        out.code == 1
            && out.stderr.contains("GitRepository e2e-with-source/app did not handle the reconcile request within")
            && out.stderr.contains("is source-controller running?")
            && !out.stderr.contains("app-pre-deploy: reconcile requested"),
        || format!("with nobody fetching: exit {}: {}", out.code, out.stderr),
    )?;
    let unanswered = requested()?;
    check(!unanswered.is_empty(), || "no requestedAt on the GitRepository".into())?;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-fluxjobs"))
        .arg("--kubeconfig")
        .arg(&ctx.plane.kubeconfig)
        .args(["reconcile", "app-post-deploy", "-n", ns, "--with-source", "--timeout", "2m"])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run kubectl-fluxjobs: {e}"))?;
    let answered = (|| {
        let mut token = String::new();
        crate::harness::poll_until(
            "a new reconcile request on the GitRepository",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || {
                token = requested()?;
                Ok(!token.is_empty() && token != unanswered)
            },
        )?;
        let handled = serde_json::json!({"lastHandledReconcileAt": token});
        ctx.plane.patch_status(ns, "gitrepository", "app", &handled)
    })();
    if let Err(e) = answered {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    check(out.status.success(), || format!("reconcile --with-source exited {:?}:\n{stderr}", out.status.code()))?;
    let fetched = stderr.find("GitRepository e2e-with-source/app: fetched");
    let first_stage = stderr.find("e2e-with-source/app-pre-deploy: reconcile requested");
    check(matches!((fetched, first_stage), (Some(f), Some(s)) if f < s), || {
        format!("the source was not handled before the first stage:\n{stderr}")
    })
}

/// The uid precondition: a Job recreated under the same name is never deleted by a stale rerun;
/// and `--recreate` brings back a Job Flux does not manage, from its live spec.
fn the_uid_precondition_protects_a_recreated_job(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-precondition";
    let job = format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: backfill\n  namespace: {ns}\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: backfill\n        image: registry.example.invalid/backfill:1\n"
    );
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    ctx.plane.apply(&job)?;
    let first = uid_of_job(ctx, ns, "backfill")?;
    ctx.plane.kubectl(&["-n", ns, "delete", "job", "backfill", "--wait=true"])?;
    ctx.plane.apply(&job)?;
    let second = uid_of_job(ctx, ns, "backfill")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let (deleted, created) = runtime.block_on(async {
        use fluxjobs::testing::NamespacedName;
        use fluxjobs::testing::{get, write};
        let options = fluxjobs::testing::ConnectOptions {
            kubeconfig: Some(ctx.plane.kubeconfig.clone()),
            request_timeout: Some(std::time::Duration::from_secs(10)),
            ..Default::default()
        };
        let conn = fluxjobs::testing::connect(&options).await.map_err(|e| e.to_string())?;
        let backfill = NamespacedName::new(ns, "backfill");
        let deleted =
            write::delete_job(&conn, &backfill, &first, write::DryRun::No).await.map_err(|e| e.to_string())?;
        // The other race: recreating from a backup after someone else (kustomize-controller) did.
        let live = get::get_job(&conn, &backfill).await.map_err(|e| e.to_string())?.ok_or("no Job")?;
        let manifest = fluxjobs::testing::restorable(&live);
        let created = write::create_job(&conn, &manifest, write::DryRun::No).await.map_err(|e| e.to_string())?;
        Ok::<_, String>((deleted, created))
    })?;
    check(matches!(deleted, fluxjobs::testing::write::Deleted::Replaced), || "a stale uid deleted the Job".into())?;
    check(matches!(created, fluxjobs::testing::write::Created::Exists), || "a second create was not Exists".into())?;
    check(uid_of_job(ctx, ns, "backfill")? == second, || "the recreated Job is gone".into())?;
    ctx.plane.kubectl(&["-n", ns, "wait", "--for=condition=Complete", "--timeout=60s", "job/backfill"])?;
    // Not managed by Flux: refused without --recreate, recreated with it.
    let out = ctx.plugin(&["rerun", "job/backfill", "-n", ns, "--yes"])?;
    check(out.code == 1 && out.stderr.contains("not managed by Flux"), || {
        format!("exit {}: {}", out.code, out.stderr)
    })?;
    let backups = ctx.plane.dir.join("backups-precondition");
    let out = ctx.plugin(&[
        "rerun",
        "job/backfill",
        "-n",
        ns,
        "--yes",
        "--recreate",
        "--backup-dir",
        backups.to_str().unwrap(),
    ])?;
    check(out.code == 0 && out.stderr.contains("recreated Job e2e-precondition/backfill from its live spec"), || {
        format!("exit {}: {}", out.code, out.stderr)
    })?;
    let third = uid_of_job(ctx, ns, "backfill")?;
    check(third != second && !third.is_empty(), || "--recreate did not create a new Job".into())
}

/// Ctrl-C between the delete and the recreate: a finalizer holds the deleted Job in Terminating
/// while `rerun --recreate` waits for it to go; SIGINT then gets exit 130 and the restore command,
/// and that very command brings the Job back.
fn an_interrupted_rerun_says_how_to_restore(ctx: &Ctx) -> Result<()> {
    use std::io::{BufRead, BufReader};
    let ns = "e2e-interrupt";
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    ctx.plane.apply(&format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: report\n  namespace: {ns}\n  finalizers: [fluxjobs.test/hold]\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: report\n        image: registry.example.invalid/report:1\n"
    ))?;
    ctx.plane.kubectl(&["-n", ns, "wait", "--for=condition=Complete", "--timeout=60s", "job/report"])?;
    let old_uid = uid_of_job(ctx, ns, "report")?;
    let backups = ctx.plane.dir.join("backups-interrupt");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-fluxjobs"))
        .arg("--kubeconfig")
        .arg(&ctx.plane.kubeconfig)
        .args(["rerun", "job/report", "-n", ns, "--yes", "--recreate", "--timeout", "2m", "--backup-dir"])
        .arg(&backups)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run kubectl-fluxjobs: {e}"))?;
    let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            let _ = child.wait();
            return Err(format!("rerun ended before waiting for the deleted Job:\n{seen}"));
        }
        seen.push_str(&line);
        if line.contains("waiting until it is gone") {
            break;
        }
    }
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill").args(["-INT", &pid]).status().map_err(|e| e.to_string())?;
    check(killed.success(), || "kill -INT failed".into())?;
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).map_err(|e| e.to_string())?;
    seen.push_str(&rest);
    let code = child.wait().map_err(|e| e.to_string())?.code();
    check(code == Some(130), || format!("interrupted rerun exited {code:?}:\n{seen}"))?;
    // The held Job is terminating, not deleted: the advice says so, and when to restore.
    let restore = seen
        .lines()
        .filter(|l| l.starts_with("The delete was accepted but the Job is still terminating"))
        .find_map(|l| l.split("once it is gone, restore it with: kubectl create -f ").nth(1))
        .ok_or_else(|| format!("no restore command after the interrupt:\n{seen}"))?
        .to_string();
    // Let the held delete finish, then restore exactly as told.
    ctx.plane.kubectl(&[
        "-n",
        ns,
        "patch",
        "job",
        "report",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ])?;
    ctx.plane.kubectl(&["-n", ns, "wait", "--for=delete", "--timeout=60s", "job/report"])?;
    ctx.plane.kubectl(&["create", "-f", &restore])?;
    ctx.plane.kubectl(&["-n", ns, "wait", "--for=condition=Complete", "--timeout=60s", "job/report"])?;
    check(uid_of_job(ctx, ns, "report")? != old_uid, || "the restored Job has the old uid".into())
}

/// `status --watch` started before the migration fails: the cause that appears in a later frame gets
/// its log tail, read once, and keeps it in the frames after.
fn watch_keeps_the_log_tail(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-watch-logs";
    ctx.plane.write_pod_log(ns, &["applying migration 0042_add_order_totals", "migration failed"])?;
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    let args = ["status", "-n", ns, "--watch", "-o", "json"];
    let watching = crate::watching::Watching::start_args(&ctx.plane.kubeconfig, &args)?;
    let first = watching.next(Duration::from_secs(30), "at first")?;
    check(first["stages"] == serde_json::json!([]), || format!("first document: {first}"))?;
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_labels = vec![("fluxjobs.test/exit-code".into(), "3".into())];
    pipeline.install(&ctx.plane)?;
    let logs = |doc: &Value| stage(doc, "app-pre-deploy")["rootCause"]["logs"].clone();
    let failed = watching.until(
        SETTLE,
        "with pre-deploy Failed",
        |_| Ok(()),
        |doc| doc["stages"].as_array().is_some_and(|s| !s.is_empty()) && state_of(doc, "app-pre-deploy") == "Failed",
    )?;
    let tail = serde_json::json!(["applying migration 0042_add_order_totals", "migration failed"]);
    check(logs(&failed) == tail, || format!("no log tail on the cause of a later frame: {}", logs(&failed)))?;
    let patch = r#"{"spec":{"suspend":true}}"#;
    ctx.plane.kubectl(&["-n", ns, "patch", "kustomization", "app-post-deploy", "--type=merge", "-p", patch])?;
    let later = watching.until(
        SETTLE,
        "with app-post-deploy Suspended",
        |_| Ok(()),
        |doc| state_of(doc, "app-post-deploy") == "Suspended",
    )?;
    check(logs(&later) == tail, || format!("the log tail changed or went: {}", logs(&later)))
}

/// `status --watch -o json`: one document per change, from watches, until the pipeline is Ready.
fn watch_follows_the_pipeline_to_ready(ctx: &Ctx) -> Result<()> {
    use std::io::BufReader;
    use std::sync::mpsc;
    let ns = "e2e-watch";
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-fluxjobs"))
        .arg("--kubeconfig")
        .arg(&ctx.plane.kubeconfig)
        .args(["status", "-n", ns, "--watch", "-o", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for doc in serde_json::Deserializer::from_reader(BufReader::new(stdout)).into_iter::<Value>() {
            match doc {
                Ok(doc) => {
                    if tx.send(doc).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    let result = (|| {
        let first = rx.recv_timeout(Duration::from_secs(30)).map_err(|e| format!("no first document: {e}"))?;
        check(first["stages"] == serde_json::json!([]), || format!("first document: {first}"))?;
        let revision = Pipeline::seed(ns).install(&ctx.plane)?;
        let deadline = std::time::Instant::now() + SETTLE;
        let mut documents = 1;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let doc =
                rx.recv_timeout(left).map_err(|e| format!("no Ready document after {documents} documents: {e}"))?;
            documents += 1;
            if all_ready_at(&doc, &revision) {
                // Intermediate states were printed on the way (Progressing, Blocked, ...).
                return check(documents > 2, || format!("only {documents} documents"));
            }
        }
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// Runs `cmd`: its stdout, or an error with its stderr.
fn run(cmd: &mut std::process::Command) -> Result<String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{cmd:?} failed: {}{text}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// scripts/package.sh on the built binary, into `out`: what it printed (the archive, krew's
/// manifest, the flux CLI's).
fn package(out: &std::path::Path) -> Result<String> {
    let script = crate::harness::repo_root().join("scripts/package.sh");
    let binary = env!("CARGO_BIN_EXE_kubectl-fluxjobs");
    run(std::process::Command::new("bash").arg(script).args(["--binary", binary, "--out", out.to_str().unwrap()]))
}

/// The release archive made by scripts/package.sh, validated by krew's own validator, installed
/// with `kubectl krew install --manifest --archive` into a temporary KREW_ROOT, and run through
/// kubectl's plugin mechanism (and its plugin-completion protocol) against the live cluster.
fn krew_installs_the_plugin_and_kubectl_runs_it(ctx: &Ctx) -> Result<()> {
    use std::process::Command;
    let ns = "e2e-krew";
    let work = ctx.plane.dir.join("krew");
    let (bin, root, dist) = (work.join("bin"), work.join("root"), work.join("dist"));
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    let repo = crate::harness::repo_root();
    let packaged = package(&dist)?;
    let mut lines = packaged.lines();
    let (archive, manifest) =
        (lines.next().unwrap_or_default().to_string(), lines.next().unwrap_or_default().to_string());
    let text = std::fs::read_to_string(&manifest).map_err(|e| e.to_string())?;
    let version = format!("version: v{}", env!("CARGO_PKG_VERSION"));
    check(
        text.contains(&version) && text.contains(&format!("kubectl-fluxjobs-{}-", env!("CARGO_PKG_VERSION"))),
        || format!("manifest version or asset name is off:\n{text}"),
    )?;
    run(Command::new(ctx.plane.tool("VALIDATE_KREW_MANIFEST")).args(["-manifest", &manifest, "-skip-install"]))?;
    // The release renders all five platforms at once (--render-only over every archive).
    let all = work.join("all-platforms");
    std::fs::create_dir_all(&all).map_err(|e| e.to_string())?;
    for platform in
        ["linux-amd64.tar.gz", "linux-arm64.tar.gz", "darwin-amd64.tar.gz", "darwin-arm64.tar.gz", "windows-amd64.zip"]
    {
        let file = all.join(format!("kubectl-fluxjobs-{}-{platform}", env!("CARGO_PKG_VERSION")));
        std::fs::write(file, platform).map_err(|e| e.to_string())?;
    }
    let rendered = run(Command::new("bash").arg(repo.join("scripts/package.sh")).args([
        "--render-only",
        "--out",
        all.to_str().unwrap(),
    ]))?;
    // Its first line: krew's manifest (the flux CLI's follows).
    let rendered = rendered.lines().next().unwrap_or_default();
    run(Command::new(ctx.plane.tool("VALIDATE_KREW_MANIFEST")).args(["-manifest", rendered, "-skip-install"]))?;
    let text = std::fs::read_to_string(rendered).map_err(|e| e.to_string())?;
    check(text.matches("sha256: ").count() == 5 && text.contains("bin: kubectl-fluxjobs.exe"), || {
        format!("five-platform manifest:\n{text}")
    })?;

    // kubectl and kubectl-krew on a PATH that has no other kubectl-fluxjobs.
    for (name, target) in [("kubectl", ctx.plane.tool("KUBECTL")), ("kubectl-krew", ctx.plane.tool("KREW"))] {
        std::os::unix::fs::symlink(target, bin.join(name)).map_err(|e| e.to_string())?;
    }
    let path = format!("{}:{}:/usr/bin:/bin", root.join("bin").display(), bin.display());
    let kubectl = |args: &[&str]| {
        let mut cmd = Command::new(bin.join("kubectl"));
        cmd.args(args).env("PATH", &path).env("KREW_ROOT", &root).env("KUBECONFIG", &ctx.plane.kubeconfig);
        cmd
    };
    run(&mut kubectl(&["krew", "install", &format!("--manifest={manifest}"), &format!("--archive={archive}")]))?;
    let license = root.join(format!("store/fluxjobs/v{}/LICENSE", env!("CARGO_PKG_VERSION")));
    check(license.exists(), || format!("krew did not extract LICENSE to {}", license.display()))?;
    // (`krew list` needs the krew-index git clone, which is not reachable here; the receipt is what it reads.)
    check(root.join("receipts/fluxjobs.yaml").exists(), || "krew wrote no install receipt".into())?;
    check(run(&mut kubectl(&["plugin", "list"]))?.contains("kubectl-fluxjobs"), || {
        "kubectl plugin list lacks it".into()
    })?;

    Pipeline::seed(ns).install(&ctx.plane)?;
    let out = run(&mut kubectl(&["fluxjobs", "status", "-n", ns, "-o", "json"]))?;
    let report: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
    check(report["stages"].as_array().map(Vec::len) == Some(3), || format!("kubectl fluxjobs status: {report}"))?;

    // Plugin completion (kubectl >= 1.26 runs kubectl_complete-fluxjobs from PATH).
    let shim = run(&mut kubectl(&["fluxjobs", "completion", "kubectl-plugin"]))?;
    let shim_path = bin.join("kubectl_complete-fluxjobs");
    std::fs::write(&shim_path, shim).map_err(|e| e.to_string())?;
    run(Command::new("chmod").arg("755").arg(&shim_path))?;
    let completions = run(&mut kubectl(&["__complete", "fluxjobs", "status", "-n", ns, "app-"]))?;
    check(completions.lines().any(|l| l.starts_with("app-pre-deploy")), || format!("completions: {completions}"))?;
    let completions = run(&mut kubectl(&["__complete", "fluxjobs", "rerun", "-n", ns, "ks/"]))?;
    check(completions.lines().any(|l| l.starts_with("ks/app-post-deploy")), || format!("completions: {completions}"))?;
    // Every stage kind is a rerun target: a ResourceSet and a HelmRelease (paused: only their
    // names matter here).
    ctx.plane.apply(&format!(
        "apiVersion: fluxcd.controlplane.io/v1\nkind: ResourceSet\nmetadata:\n  name: release\n  namespace: {ns}\n\
         \x20 annotations: {{fluxcd.controlplane.io/reconcile: disabled}}\nspec:\n  resources:\n\
         \x20 - {{apiVersion: v1, kind: ConfigMap, metadata: {{name: noop, namespace: {ns}}}}}\n\
         ---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: my-app\n  namespace: {ns}\n\
         spec:\n  suspend: true\n  interval: 10m\n  chart:\n    spec: {{chart: app, sourceRef: {{kind: HelmRepository, name: none}}}}\n"
    ))?;
    let completions = run(&mut kubectl(&["__complete", "fluxjobs", "rerun", "-n", ns, ""]))?;
    for target in ["rset/release", "hr/my-app", "ks/app-pre-deploy"] {
        check(completions.lines().any(|l| l.starts_with(target)), || format!("{target} not offered: {completions}"))?;
    }
    Ok(())
}

/// The flux CLI's plugin manifest made by scripts/package.sh, served as a plugin catalog (the
/// layout of fluxcd/plugins' release: `<name>.yaml` under the catalog URL), installed by the real
/// flux CLI's `flux plugin install` (its own parsing, checksum and extraction code), and run as
/// `flux fluxjobs ...`, completion included, as the Flux GitHub Action's `plugins:` input does.
fn flux_plugin_install(ctx: &Ctx) -> Result<()> {
    use std::process::Command;
    let ns = "e2e-flux-plugin";
    let work = ctx.plane.dir.join("flux-plugin");
    let catalog = ctx.plane.dir.join("artifacts").join("flux-catalog");
    let plugins = work.join("plugins");
    std::fs::create_dir_all(&catalog).map_err(|e| e.to_string())?;
    let packaged = package(&work.join("dist"))?;
    let lines: Vec<&str> = packaged.lines().collect();
    let (archive, manifest) = (lines.first().copied().unwrap_or_default(), lines.get(2).copied().unwrap_or_default());
    check(manifest.ends_with("flux-fluxjobs.yaml"), || format!("package.sh printed: {packaged}"))?;
    // The catalog serves the manifest and the archive; the manifest's release URL points there.
    let archive_name = std::path::Path::new(archive).file_name().unwrap().to_string_lossy().into_owned();
    std::fs::copy(archive, catalog.join(&archive_name)).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(manifest).map_err(|e| e.to_string())?;
    let release = format!(
        "https://github.com/kubectl-fluxjobs/kubectl-fluxjobs/releases/download/v{}/",
        env!("CARGO_PKG_VERSION")
    );
    check(text.contains(&format!("{release}{archive_name}")), || format!("the manifest's URL: {text}"))?;
    let served = text.replace(&release, &ctx.plane.artifact_url("flux-catalog/"));
    std::fs::write(catalog.join("fluxjobs.yaml"), served).map_err(|e| e.to_string())?;

    let flux = |args: &[&str]| {
        let mut cmd = Command::new(ctx.plane.tool("FLUX"));
        cmd.args(args)
            .env("FLUXCD_PLUGIN_CATALOG", ctx.plane.artifact_url("flux-catalog/"))
            .env("FLUXCD_PLUGINS", &plugins)
            .env("HOME", &work)
            .env("KUBECONFIG", &ctx.plane.kubeconfig)
            .env("NO_COLOR", "1");
        cmd
    };
    std::fs::create_dir_all(&plugins).map_err(|e| e.to_string())?;
    run(&mut flux(&["plugin", "install", "fluxjobs"]))?;
    check(plugins.join("flux-fluxjobs").exists(), || format!("no flux-fluxjobs in {}", plugins.display()))?;
    check(plugins.join("flux-fluxjobs.yaml").exists(), || "flux wrote no install receipt".into())?;
    let listed = run(&mut flux(&["plugin", "list"]))?;
    check(listed.contains("fluxjobs") && listed.contains(env!("CARGO_PKG_VERSION")), || {
        format!("plugin list: {listed}")
    })?;

    // `flux fluxjobs wait` gates a revision, as a CI step after `flux plugin install` would.
    let revision = Pipeline::seed(ns).install(&ctx.plane)?;
    let out = run(&mut flux(&[
        "fluxjobs",
        "wait",
        "-n",
        ns,
        "--revision",
        &revision,
        "--reconcile",
        "--timeout",
        "3m",
        "-o",
        "json",
    ]))?;
    let doc: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
    check(doc["ending"] == "Done", || format!("flux fluxjobs wait: {doc:#}"))?;
    // Completion through the flux CLI's delegation (cobra's __complete protocol).
    let completions = run(&mut flux(&["__complete", "fluxjobs", "status", "-n", ns, "app-"]))?;
    check(completions.lines().any(|l| l.starts_with("app-pre-deploy")), || format!("completions: {completions}"))
}
