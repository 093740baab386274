//! A rollout in progress is not an alarm: while a good revision rolls through the seed pipeline,
//! `status --exit-code` never exits 3 and every stage not Ready is Progressing or Waiting; a
//! revision whose migration fails exits 3 within seconds of the Job's Failed condition.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fixtures::Pipeline;
use crate::harness::Result;
use crate::scenarios::{SETTLE, Scenario};
use crate::{Ctx, check, stage};

pub(crate) fn all() -> Vec<(&'static str, Scenario)> {
    vec![("a_good_rollout_never_fails_exit_code_and_a_failed_migration_does_at_once", rollout_is_no_alarm)]
}

const STAGES: [&str; 3] = ["app-pre-deploy", "app-deploy", "app-post-deploy"];

fn ready_at(report: &Value, revision: &str) -> bool {
    STAGES.iter().all(|s| stage(report, s)["state"] == "Ready" && stage(report, s)["revision"] == revision)
}

/// `status -n NS --exit-code -o json`: its exit status and report.
fn gate(ctx: &Ctx, ns: &str) -> Result<(i32, Value)> {
    let out = ctx.plugin(&["status", "-n", ns, "--exit-code", "-o", "json"])?;
    let report = serde_json::from_str(&out.stdout).map_err(|e| format!("invalid JSON ({e}): {}", out.stdout))?;
    Ok((out.code, report))
}

fn rollout_is_no_alarm(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-rollout";
    let mut pipeline = Pipeline::seed(ns);
    let first = pipeline.install(&ctx.plane)?;
    ctx.wait_status(ns, "every stage Ready", SETTLE, |r| ready_at(r, &first))?;
    // Good revisions: a new tag on the app and both Jobs (force: true recreates both Jobs). Most
    // rollouts hold each dependent at DependencyNotReady until its --requeue-dependency tick (the
    // Waiting this tests), but kustomize-controller sometimes takes a dependent up only once its
    // dependency is Ready again (seen in a loaded full run: 17 s, no DependencyNotReady at all); then
    // another good revision is published, up to three.
    let mut seen = BTreeSet::new();
    for tag in ["2.0.0", "2.0.1", "2.0.2"] {
        pipeline.tag = tag.into();
        let revision = pipeline.publish(&ctx.plane)?;
        let start = Instant::now();
        loop {
            let (code, report) = gate(ctx, ns)?;
            for s in STAGES {
                let state = stage(&report, s)["state"].as_str().unwrap_or("<absent>").to_string();
                check(["Ready", "Progressing", "Waiting"].contains(&state.as_str()), || {
                    format!("{s} is {state} during a good rollout at {:?}: {report:#}", start.elapsed())
                })?;
                seen.insert(state);
            }
            check(code == 0, || {
                format!("--exit-code exited {code} during a good rollout at {:?}: {report:#}", start.elapsed())
            })?;
            if ready_at(&report, &revision) {
                break;
            }
            check(start.elapsed() < SETTLE, || format!("not Ready at {revision} within {SETTLE:?}: {report:#}"))?;
            std::thread::sleep(Duration::from_secs(1));
        }
        eprintln!("e2e: good rollout {tag} took {:.0}s; states seen: {seen:?}", start.elapsed().as_secs_f64());
        if seen.contains("Waiting") {
            break;
        }
    }
    check(seen.contains("Waiting"), || format!("no stage was ever Waiting, so nothing was tested: {seen:?}"))?;

    // A revision whose migration exits 3: exit 3 within seconds of the Job's Failed condition.
    pipeline.tag = "3.0.0".into();
    pipeline.migration_labels = vec![("fluxjobs.test/exit-code".into(), "3".into())];
    pipeline.publish(&ctx.plane)?;
    let start = Instant::now();
    let report = loop {
        let (code, report) = gate(ctx, ns)?;
        if code == 3 {
            break report;
        }
        check(code == 0, || format!("--exit-code exited {code}: {report:#}"))?;
        check(start.elapsed() < SETTLE, || format!("never exit 3 within {SETTLE:?}: {report:#}"))?;
        std::thread::sleep(Duration::from_secs(1));
    };
    let said_at = k8s_openapi::jiff::Timestamp::now();
    let failed_at = migration_failed_at(ctx, ns)?;
    let after = said_at.duration_since(failed_at);
    eprintln!(
        "e2e: --exit-code said 3 {after:#} after the Job's Failed condition, {:?} after the push",
        start.elapsed()
    );
    // The condition time has 1 s resolution and each poll is a second apart.
    check(after < k8s_openapi::jiff::SignedDuration::from_secs(8), || {
        format!("exit 3 came {after:#} after the Job failed: {report:#}")
    })?;
    // app-deploy says so once kustomize-controller has taken it up at the new revision: until then it
    // is still Ready at the previous one (seen in a full run), which is no alarm of its own.
    let blocked_by_the_pod = |r: &Value| {
        stage(r, "app-deploy")["state"] == "Blocked" && stage(r, "app-deploy")["rootCause"]["exitCode"] == 3
    };
    if !blocked_by_the_pod(&report) {
        let deploy = stage(&report, "app-deploy");
        check(deploy["state"] == "Ready", || format!("app-deploy when exit 3 came: {deploy:#}"))?;
        ctx.wait_status(ns, "app-deploy blocked by the migration's pod", SETTLE, blocked_by_the_pod)?;
    }
    Ok(())
}

/// When the migration Job's Failed condition was written (waiting for it: the Job controller writes
/// Failed after FailureTarget, once the pod is gone, so the pod's exit may be seen and said before).
pub(crate) fn migration_failed_at(ctx: &Ctx, ns: &str) -> Result<k8s_openapi::jiff::Timestamp> {
    let mut failed_at = String::new();
    crate::harness::poll_until("the Job's Failed condition", SETTLE, Duration::from_millis(500), || {
        failed_at = ctx.plane.kubectl(&[
            "-n",
            ns,
            "get",
            "job",
            "db-migration",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Failed\")].lastTransitionTime}",
        ])?;
        Ok(!failed_at.trim().is_empty())
    })?;
    let failed_at: k8s_openapi::jiff::Timestamp =
        failed_at.trim().parse().map_err(|e| format!("Job Failed condition time {failed_at:?}: {e}"))?;
    Ok(failed_at)
}
