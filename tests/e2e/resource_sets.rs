//! The pipeline as one Flux Operator ResourceSet with ordered steps, reconciled by the real
//! flux-operator: steps and their Jobs in `status`, a failing step traced to its pod, the fix with
//! `recreateOnFailure`, and a ResourceSet waiting on a Kustomization.

use serde_json::Value;

use crate::fixtures::Pipeline;
use crate::harness::Result;
use crate::scenarios::{SETTLE, Scenario};
use crate::{Ctx, check, stage};

pub(crate) fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        ("a_resource_set_runs_its_three_steps_to_ready", three_steps_reach_ready),
        ("a_failing_migration_step_is_traced_to_its_pod", failing_step_is_traced_to_the_pod),
        ("a_fixed_step_with_recreate_on_failure_reaches_ready", fix_with_recreate_on_failure),
        ("a_resource_set_waiting_on_a_failed_kustomization_names_its_pod", waits_on_a_kustomization),
        ("rerun_of_a_resource_set_step_job_lets_flux_operator_recreate_it", rerun_of_a_step_job),
        ("rerun_of_a_failed_recreate_on_failure_job_only_requests_a_reconcile", rerun_with_recreate_on_failure),
        ("reconcile_of_a_resource_set_walks_its_kustomization_dependency_first", reconcile_walks_across_kinds),
        ("watch_keeps_a_resource_set_and_follows_its_steps", watch_follows_the_steps),
    ]
}

const RSET: &str = "shop-release";

fn steps(report: &Value) -> Vec<(String, String)> {
    let steps = stage(report, RSET)["steps"].as_array().cloned().unwrap_or_default();
    steps.iter().map(|s| (s["name"].as_str().unwrap_or("").into(), s["state"].as_str().unwrap_or("").into())).collect()
}

fn states(report: &Value) -> Vec<String> {
    steps(report).into_iter().map(|(_, state)| state).collect()
}

fn namespace(ctx: &Ctx, ns: &str) -> Result<()> {
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")).map(drop)
}

/// `status --watch` started before the ResourceSet exists: once it is shown, every later frame
/// shows it, with its steps moving on, until it is Ready.
fn watch_follows_the_steps(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-rset-watch";
    namespace(ctx, ns)?;
    let watching = crate::watching::Watching::start(&ctx.plane.kubeconfig, ns)?;
    let first = watching.next(std::time::Duration::from_secs(30), "at first")?;
    check(first["stages"] == serde_json::json!([]), || format!("first document: {first}"))?;
    ctx.plane.apply(&Pipeline::seed(ns).resource_set(RSET, false, &[]))?;
    let mut shown = false;
    let mut seen: Vec<Vec<String>> = Vec::new();
    watching.until(
        SETTLE,
        "with the ResourceSet Ready",
        |doc| {
            let present = doc["stages"].as_array().is_some_and(|s| s.iter().any(|s| s["name"] == RSET));
            check(present || !shown, || format!("a frame after the first with the ResourceSet lacks it: {doc}"))?;
            shown |= present;
            if present && seen.last() != Some(&states(doc)) {
                seen.push(states(doc));
            }
            Ok(())
        },
        |doc| {
            doc["stages"].as_array().is_some_and(|s| s.iter().any(|s| s["name"] == RSET))
                && stage(doc, RSET)["state"] == "Ready"
        },
    )?;
    check(seen.len() >= 2, || format!("the steps did not move in the frames: {seen:?}"))?;
    check(seen.last().is_some_and(|s| s.iter().all(|state| state == "Done")), || format!("steps: {seen:?}"))
}

fn three_steps_reach_ready(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-rset-ready";
    namespace(ctx, ns)?;
    ctx.plane.apply(&Pipeline::seed(ns).resource_set(RSET, false, &[]))?;
    let report = ctx.wait_status(ns, "the ResourceSet Ready", SETTLE, |r| stage(r, RSET)["state"] == "Ready")?;
    let rset = stage(&report, RSET);
    check(rset["kind"] == "ResourceSet", || format!("kind: {}", rset["kind"]))?;
    let names: Vec<String> = steps(&report).into_iter().map(|(name, _)| name).collect();
    check(names == ["pre-deploy", "deploy", "post-deploy"], || format!("steps: {names:?}"))?;
    check(states(&report) == ["Done", "Done", "Done"], || format!("states: {:?}", states(&report)))?;
    let step_jobs = |i: usize| rset["steps"][i]["jobs"].as_array().cloned().unwrap_or_default();
    check(
        step_jobs(0).len() == 1 && step_jobs(0)[0]["name"] == "db-migration" && step_jobs(0)[0]["state"] == "Complete",
        || format!("pre-deploy jobs: {:?}", step_jobs(0)),
    )?;
    check(step_jobs(1).is_empty() && step_jobs(2)[0]["name"] == "cache-refresh", || {
        format!("steps: {}", rset["steps"])
    })?;
    check(rset["rootCause"].is_null() && rset["source"].is_null(), || format!("stage: {rset}"))?;
    // The table lists the steps under the ResourceSet; `status rset/NAME` selects it.
    let out = ctx.plugin(&["status", &format!("rset/{RSET}"), "-n", ns])?;
    let lines: Vec<&str> = out.stdout.lines().collect();
    check(out.code == 0 && lines.len() == 5, || format!("table:\n{}{}", out.stdout, out.stderr))?;
    check(lines[1].starts_with(&format!("ResourceSet/{RSET} ")) && lines[1].contains("Ready"), || out.stdout.clone())?;
    check(lines[2].contains("├ 1/3 pre-deploy") && lines[2].contains("Done") && lines[2].contains("1/1 ok"), || {
        out.stdout.clone()
    })?;
    check(lines[4].contains("└ 3/3 post-deploy"), || out.stdout.clone())?;
    // Shell completion offers the ResourceSet as `rset/NAME` (kubectl's plugin-completion protocol).
    let kubeconfig = ctx.plane.kubeconfig.display().to_string();
    let completed = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-fluxjobs"))
        .args(["__complete", "status", "--kubeconfig", &kubeconfig, "-n", ns, "rset/"])
        .output()
        .map_err(|e| e.to_string())?;
    let completed = String::from_utf8_lossy(&completed.stdout);
    check(
        completed.lines().any(|l| l.starts_with(&format!("rset/{RSET}\tResourceSet, ReconciliationSucceeded"))),
        || format!("completions: {completed}"),
    )
}

fn failing_step_is_traced_to_the_pod(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-rset-failed";
    ctx.plane.write_pod_log(ns, &["applying migration 0042_add_order_totals", "migration failed"])?;
    namespace(ctx, ns)?;
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_labels = vec![("fluxjobs.test/exit-code".into(), "3".into())];
    ctx.plane.apply(&pipeline.resource_set(RSET, false, &[]))?;
    let report = ctx.wait_status(ns, "the pre-deploy step Failed", SETTLE, |r| {
        stage(r, RSET)["state"] == "Failed" && stage(r, RSET)["rootCause"]["logs"].is_array()
    })?;
    check(states(&report) == ["Failed", "NotReached", "NotReached"], || format!("states: {:?}", states(&report)))?;
    let rset = stage(&report, RSET);
    let cause = &rset["rootCause"];
    check(cause["kind"] == "Pod" && cause["exitCode"] == 3 && cause["step"] == "pre-deploy", || {
        format!("cause: {cause}")
    })?;
    check(cause["via"] == serde_json::json!([format!("Job/{ns}/db-migration")]), || format!("via: {}", cause["via"]))?;
    let logs = cause["logs"].as_array().cloned().unwrap_or_default();
    check(logs.iter().any(|l| l == "migration failed"), || format!("logs: {cause}"))?;
    check(rset["steps"][0]["rootCause"] == *cause, || format!("the step carries the cause: {}", rset["steps"][0]))?;
    let ready = rset["ready"]["message"].as_str().unwrap_or_default();
    check(ready.starts_with("reconciliation failed: step \"pre-deploy\" health check failed: "), || {
        format!("flux-operator's message: {ready}")
    })?;
    check(rset["hint"].as_str().is_some_and(|h| h.contains("kubectl fluxjobs rerun job/db-migration")), || {
        format!("hint: {}", rset["hint"])
    })?;
    ctx.capture_example(ns, "rset-failed-step")?;
    let out = ctx.plugin(&["status", "-n", ns])?;
    let chain = format!("✗ ResourceSet/{RSET} <- step pre-deploy <- Job/db-migration <- Pod/db-migration-");
    check(out.stdout.contains(&chain) && out.stdout.contains("exit code 3"), || format!("table:\n{}", out.stdout))
}

fn fix_with_recreate_on_failure(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-rset-recreate";
    namespace(ctx, ns)?;
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_labels = vec![("fluxjobs.test/exit-code".into(), "3".into())];
    ctx.plane.apply(&pipeline.resource_set(RSET, true, &[]))?;
    let failed = ctx.wait_status(ns, "the migration Job Failed", SETTLE, |r| {
        stage(r, RSET)["steps"][0]["jobs"][0]["state"] == "Failed"
    })?;
    let rset = stage(&failed, RSET);
    check(rset["hint"].as_str().is_some_and(|h| h.contains("recreateOnFailure")), || {
        format!("hint: {}", rset["hint"])
    })?;
    let old_uid = ctx.plane.kubectl(&["get", "job", "db-migration", "-n", ns, "-o", "jsonpath={.metadata.uid}"])?;
    // The fix: the migration no longer fails. flux-operator deletes the failed Job before applying
    // the step again, so the changed (immutable) pod template is no obstacle.
    ctx.plane.apply(&Pipeline::seed(ns).resource_set(RSET, true, &[]))?;
    let report = ctx.wait_status(ns, "the ResourceSet Ready", SETTLE, |r| stage(r, RSET)["state"] == "Ready")?;
    check(states(&report) == ["Done", "Done", "Done"], || format!("states: {:?}", states(&report)))?;
    let new_uid = ctx.plane.kubectl(&["get", "job", "db-migration", "-n", ns, "-o", "jsonpath={.metadata.uid}"])?;
    check(!new_uid.is_empty() && new_uid != old_uid, || format!("the Job was not recreated: {old_uid} -> {new_uid}"))
}

fn waits_on_a_kustomization(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-rset-depends";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_labels = vec![("fluxjobs.test/exit-code".into(), "3".into())];
    pipeline.install(&ctx.plane)?;
    ctx.plane.apply(&Pipeline::seed(ns).resource_set(RSET, false, &["app-pre-deploy"]))?;
    let report = ctx.wait_status(ns, "the ResourceSet Blocked on app-pre-deploy", SETTLE, |r| {
        stage(r, RSET)["state"] == "Blocked" && stage(r, RSET)["rootCause"]["kind"] == "Pod"
    })?;
    let rset = stage(&report, RSET);
    let path: Vec<&str> = rset["path"].as_array().unwrap().iter().filter_map(|p| p.as_str()).collect();
    check(path == [format!("ResourceSet/{ns}/{RSET}"), format!("{ns}/app-pre-deploy")], || format!("path: {path:?}"))?;
    check(rset["rootCause"]["exitCode"] == 3, || format!("cause: {}", rset["rootCause"]))?;
    check(rset["dependsOn"] == serde_json::json!([format!("{ns}/app-pre-deploy")]), || {
        format!("{}", rset["dependsOn"])
    })?;
    let message = rset["ready"]["message"].as_str().unwrap_or_default();
    let expected = format!(
        "Retrying dependency check: dependency kustomize.toolkit.fluxcd.io/v1/Kustomization/{ns}/app-pre-deploy not ready"
    );
    check(message.starts_with(&expected), || format!("flux-operator's message: {message}"))?;
    check(states(&report).iter().all(|s| s == "NotReached"), || format!("states: {:?}", states(&report)))?;
    // The ResourceSet is in the same pipeline as the Kustomization it waits for.
    let pipelines = report["pipelines"].as_array().cloned().unwrap_or_default();
    check(pipelines.iter().any(|p| p.as_array().is_some_and(|p| p.len() == 4)), || format!("pipelines: {pipelines:?}"))
}

fn uid_of_migration(ctx: &Ctx, ns: &str) -> Result<String> {
    ctx.plane.kubectl(&["get", "job", "db-migration", "-n", ns, "-o", "jsonpath={.metadata.uid}"])
}

fn rerun_of_a_step_job(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-rset-rerun";
    namespace(ctx, ns)?;
    ctx.plane.apply(&Pipeline::seed(ns).resource_set(RSET, false, &[]))?;
    ctx.wait_status(ns, "the ResourceSet Ready", SETTLE, |r| stage(r, RSET)["state"] == "Ready")?;
    let old_uid = uid_of_migration(ctx, ns)?;
    // The same Job named through the ResourceSet that holds it (Ready, so --force), planned only.
    let dry = ctx.plugin(&["rerun", &format!("rset/{RSET}"), "-n", ns, "--dry-run", "--force"])?;
    check(
        dry.code == 0
            && dry.stderr.contains("db-migration")
            && dry.stderr.contains(&format!("ask flux-operator to reconcile ResourceSet/{ns}/{RSET}")),
        || format!("rerun rset/{RSET} --dry-run (exit {}):\n{}", dry.code, dry.stderr),
    )?;
    check(uid_of_migration(ctx, ns)? == old_uid, || "a dry run changed the Job".into())?;
    let missing = ctx.plugin(&["rerun", "rset/nowhere", "-n", ns, "--dry-run"])?;
    check(missing.code == 1 && missing.stderr.trim() == format!("error: ResourceSet {ns}/nowhere not found"), || {
        format!("rerun rset/nowhere (exit {}):\n{}", missing.code, missing.stderr)
    })?;
    let backups = ctx.plane.dir.join("backups-rset-rerun");
    let out = ctx.rerun_migration(ns, &backups, &[])?;
    check(out.code == 0, || format!("rerun exited {}: {}", out.code, out.stderr))?;
    let expected = [
        format!(
            "delete it, then ask flux-operator to reconcile ResourceSet/{ns}/{RSET} so it recreates the Job from its ResourceSet"
        ),
        format!("requested a reconcile of ResourceSet {ns}/{RSET}"),
        "waiting for flux-operator to recreate Job".to_string(),
        "exists again (uid ".to_string(),
    ];
    for line in &expected {
        check(out.stderr.contains(line.as_str()), || format!("stderr lacks {line:?}:\n{}", out.stderr))?;
    }
    let new_uid = uid_of_migration(ctx, ns)?;
    check(!new_uid.is_empty() && new_uid != old_uid, || format!("uid {old_uid} -> {new_uid}"))?;
    ctx.wait_status(ns, "the ResourceSet Ready again", SETTLE, |r| stage(r, RSET)["state"] == "Ready").map(drop)
}

fn rerun_with_recreate_on_failure(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-rset-rerun-recreate";
    namespace(ctx, ns)?;
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_labels = vec![("fluxjobs.test/exit-code".into(), "3".into())];
    ctx.plane.apply(&pipeline.resource_set(RSET, true, &[]))?;
    ctx.wait_status(ns, "the migration Job Failed", SETTLE, |r| {
        stage(r, RSET)["steps"][0]["jobs"][0]["state"] == "Failed"
    })?;
    let backups = ctx.plane.dir.join("backups-rset-recreate");
    let out = ctx.rerun_migration(ns, &backups, &[])?;
    check(out.code == 0, || format!("rerun exited {}: {}", out.code, out.stderr))?;
    // No delete of ours: flux-operator deletes the failed Job itself.
    check(!out.stderr.contains("deleted Job") && out.stderr.contains("(recreateOnFailure)"), || out.stderr.clone())?;
    let token = out
        .stderr
        .split("(requestedAt ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .ok_or_else(|| format!("no request token in:\n{}", out.stderr))?
        .to_string();
    crate::harness::poll_until("flux-operator to handle the request", SETTLE, std::time::Duration::from_secs(1), || {
        let handled = ctx.plane.kubectl(&[
            "get",
            "resourceset",
            RSET,
            "-n",
            ns,
            "-o",
            "jsonpath={.status.lastHandledReconcileAt}",
        ])?;
        Ok(handled.trim() == token)
    })
}

fn reconcile_walks_across_kinds(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-rset-reconcile";
    Pipeline::seed(ns).install(&ctx.plane)?;
    ctx.plane.apply(&Pipeline::seed(ns).resource_set(RSET, false, &["app-pre-deploy"]))?;
    ctx.wait_status(ns, "everything Ready", SETTLE, |r| {
        r["stages"].as_array().is_some_and(|s| s.len() == 4 && s.iter().all(|s| s["state"] == "Ready"))
    })?;
    let out = ctx.plugin(&["reconcile", &format!("rset/{RSET}"), "-n", ns, "--timeout", "3m"])?;
    check(out.code == 0, || format!("reconcile exited {}: {}", out.code, out.stderr))?;
    let order = format!("reconciling in order: {ns}/app-pre-deploy -> ResourceSet/{ns}/{RSET}");
    check(out.stderr.contains(&order), || format!("stderr lacks {order:?}:\n{}", out.stderr))?;
    let done = format!("ResourceSet/{ns}/{RSET}  Ready");
    check(out.stderr.contains(&done), || format!("timeline lacks {done:?}:\n{}", out.stderr))
}
