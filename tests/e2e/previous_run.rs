//! The previous run never speaks for the current one: a Job recreated under its name is a new Job
//! (its events are by uid), and a Job kept from an earlier release is a leftover, not the stage's.

use serde_json::Value;

use crate::fixtures::Pipeline;
use crate::harness::Result;
use crate::scenarios::SETTLE;
use crate::scenarios::Scenario;
use crate::{Ctx, check, stage, state_of};

pub(crate) fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        ("a_recreated_job_is_not_spoken_for_by_the_previous_ones_events", recreated_job_events),
        ("a_job_kept_from_an_earlier_release_is_a_leftover", kept_job_is_a_leftover),
    ]
}

/// Every event text of every root cause in a report.
fn cause_events(report: &Value) -> Vec<String> {
    let stages = report["stages"].as_array().cloned().unwrap_or_default();
    let causes = stages.iter().map(|s| s["rootCause"]["events"].clone()).collect::<Vec<_>>();
    causes.iter().filter_map(Value::as_array).flatten().filter_map(|e| e.as_str().map(String::from)).collect()
}

fn jobs_named(stage: &Value, field: &str) -> Vec<String> {
    let jobs = stage[field].as_array().cloned().unwrap_or_default();
    jobs.iter().filter_map(|j| j["name"].as_str().map(String::from)).collect()
}

/// The seed migration fails; a new revision (force: true) recreates it under the same name with a
/// pod that runs on: while it runs, the old Job's BackoffLimitExceeded is nowhere.
fn recreated_job_events(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-previous-run";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_labels = vec![("fluxjobs.test/exit-code".into(), "3".into())];
    pipeline.install(&ctx.plane)?;
    let report = ctx.wait_status(ns, "the migration to fail", SETTLE, |r| state_of(r, "app-pre-deploy") == "Failed")?;
    check(cause_events(&report).iter().any(|e| e.contains("BackoffLimitExceeded")), || {
        format!("the failed Job's event is missing before the rerun: {:?}", cause_events(&report))
    })?;
    let old_uid = crate::scenarios::uid_of_job(ctx, ns, "db-migration")?;
    pipeline.migration_labels = vec![("fluxjobs.test/run-forever".into(), "true".into())];
    pipeline.publish(&ctx.plane)?;
    let report = ctx.wait_status(ns, "the recreated migration to run", SETTLE, |r| {
        let job = &stage(r, "app-pre-deploy")["jobs"][0];
        job["state"] == "Running" && job["pods"].as_array().is_some_and(|p| !p.is_empty())
    })?;
    check(crate::scenarios::uid_of_job(ctx, ns, "db-migration")? != old_uid, || "the Job was not recreated".into())?;
    // The old Job's event is still in the cluster, under the same name, with the old uid.
    let events = ctx.plane.kubectl(&[
        "-n",
        ns,
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=Job,involvedObject.name=db-migration,reason=BackoffLimitExceeded",
        "-o",
        "jsonpath={.items[*].involvedObject.uid}",
    ])?;
    check(events.contains(&old_uid), || format!("the old Job's event is gone (uids {events:?}); nothing tested"))?;
    check(!cause_events(&report).iter().any(|e| e.contains("BackoffLimitExceeded")), || {
        format!("the previous Job's event speaks for the running one: {:?}", cause_events(&report))
    })?;
    let cause = &stage(&report, "app-pre-deploy")["rootCause"];
    check(cause["reason"] == "JobRunning" && cause["name"] == "db-migration", || format!("root cause: {cause}"))?;
    let table = ctx.plugin(&["status", "-n", ns])?;
    check(!table.stdout.contains("BackoffLimitExceeded") && !table.stdout.contains("exit code 3"), || {
        format!("the table shows the previous run:\n{}", table.stdout)
    })
}

/// Migration Jobs named per release, the old one kept with `prune: disabled`: the stage holds the
/// new one only; the old, failed one is a leftover, never counted and never the root cause.
fn kept_job_is_a_leftover(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-leftover-job";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_name = "db-migrate-v1".into();
    pipeline.migration_prune_disabled = true;
    pipeline.migration_labels = vec![("fluxjobs.test/exit-code".into(), "3".into())];
    pipeline.install(&ctx.plane)?;
    ctx.wait_status(ns, "the v1 migration to fail", SETTLE, |r| state_of(r, "app-pre-deploy") == "Failed")?;
    pipeline.migration_name = "db-migrate-v2".into();
    pipeline.migration_labels = vec![("fluxjobs.test/run-forever".into(), "true".into())];
    pipeline.publish(&ctx.plane)?;
    let report = ctx.wait_status(ns, "the v2 migration to run", SETTLE, |r| {
        let pre = stage(r, "app-pre-deploy");
        pre["jobs"][0]["name"] == "db-migrate-v2" && pre["jobs"][0]["state"] == "Running"
    })?;
    // kustomize-controller kept the old Job (prune: disabled), with the stage's owner labels.
    let kept = ctx.plane.kubectl(&["-n", ns, "get", "job", "db-migrate-v1", "-o", "jsonpath={.metadata.labels}"])?;
    check(kept.contains("kustomize.toolkit.fluxcd.io/name"), || {
        format!("the old Job is not kept as a leftover: {kept}")
    })?;
    let pre = stage(&report, "app-pre-deploy");
    check(jobs_named(pre, "jobs") == ["db-migrate-v2"], || format!("jobs: {}", pre["jobs"]))?;
    check(jobs_named(pre, "leftoverJobs") == ["db-migrate-v1"], || format!("leftoverJobs: {}", pre["leftoverJobs"]))?;
    check(pre["leftoverJobs"][0]["state"] == "Failed", || format!("leftover: {}", pre["leftoverJobs"][0]))?;
    for s in report["stages"].as_array().cloned().unwrap_or_default() {
        let (cause, hint) = (&s["rootCause"], s["hint"].as_str().unwrap_or_default());
        check(!cause.to_string().contains("db-migrate-v1") && !hint.contains("db-migrate-v1"), || {
            format!("{}: the leftover speaks: {cause} / {hint}", s["name"])
        })?;
    }
    let table = ctx.plugin(&["status", "-n", ns])?;
    check(table.stdout.contains("0/1 running") && !table.stdout.contains("exit code 3"), || {
        format!("table:\n{}", table.stdout)
    })?;
    let wide = ctx.plugin(&["status", "-n", ns, "-o", "wide"])?;
    check(wide.stdout.lines().any(|l| l.contains("leftover db-migrate-v1") && l.contains("Failed")), || {
        format!("-o wide does not list the leftover:\n{}", wide.stdout)
    })?;
    // Nor is it a rerun target of the stage.
    let rerun = ctx.plugin(&["rerun", "ks/app-pre-deploy", "-n", ns, "--dry-run", "--force"])?;
    check(!rerun.stderr.contains("db-migrate-v1") && rerun.stderr.contains("db-migrate-v2"), || {
        format!("rerun ks/app-pre-deploy --dry-run (exit {}):\n{}", rerun.code, rerun.stderr)
    })
}
