//! `wait` as the CI gate after a push, on the real kustomize-controller: each revision is
//! published as the harness publishes one (the GitRepository's artifact), and `wait --revision`
//! is started right after, while the stages still show the previous revision.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fixtures::Pipeline;
use crate::harness::Result;
use crate::scenarios::uid_of_job;
use crate::{Ctx, Output, check};

pub(crate) fn all() -> Vec<(&'static str, crate::scenarios::Scenario)> {
    vec![
        (
            "wait_gates_each_revision_through_the_pipeline_and_fails_fast_on_a_failed_migration",
            revisions_through_the_gate,
        ),
        ("wait_keeps_the_log_of_a_helm_hook_that_helm_deleted", helm_hook_log_outlives_the_hook),
        ("wait_fails_on_a_resource_set_step_and_passes_its_fix", resource_set_step),
        ("wait_follows_a_revision_through_a_resource_sets_input_provider", resource_set_input_provider),
        ("wait_goes_on_across_an_api_server_outage", across_an_outage),
        ("wait_fails_on_an_image_that_cannot_be_pulled_after_the_grace", image_pull_after_the_grace),
    ]
}

const STAGES: [&str; 3] = ["app-pre-deploy", "app-deploy", "app-post-deploy"];

/// `wait -n NS --revision REV -o json` and `extra`: its exit status, document and how long it took.
fn wait(ctx: &Ctx, ns: &str, revision: &str, extra: &[&str]) -> Result<(Output, Value, Duration)> {
    let start = Instant::now();
    let mut args = vec!["wait", "-n", ns, "--revision", revision, "-o", "json"];
    args.extend(extra);
    let out = ctx.plugin(&args)?;
    let took = start.elapsed();
    let doc = serde_json::from_str(&out.stdout)
        .map_err(|e| format!("wait printed invalid JSON ({e}): {}\nstderr: {}", out.stdout, out.stderr))?;
    eprintln!("e2e: wait --revision {revision} {extra:?} exited {} after {took:?}", out.code);
    Ok((out, doc, took))
}

fn verdicts(doc: &Value) -> Vec<(String, String)> {
    let stages = doc["stages"].as_array().cloned().unwrap_or_default();
    stages
        .iter()
        .map(|s| (s["stage"].as_str().unwrap_or("").to_string(), s["outcome"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn revisions_through_the_gate(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-wait-gate";
    let mut pipeline = Pipeline::seed(ns);
    let first = pipeline.install(&ctx.plane)?;

    // (1, 11) The first revision, with --reconcile: each stage is asked as soon as its dependency is
    // done, so the pipeline does not sit out kustomize-controller's two 30 s dependency requeues.
    let (out, doc, took) = wait(ctx, ns, &first, &["--reconcile", "--timeout", "3m"])?;
    check(out.code == 0, || format!("the first revision: exit {}: {doc:#}\n{}", out.code, out.stderr))?;
    check(took < Duration::from_secs(45), || format!("with --reconcile the rollout took {took:?}: {}", out.stderr))?;
    check(verdicts(&doc).iter().all(|(_, o)| o == "Done"), || format!("{doc:#}"))?;
    check(doc["ending"] == "Done" && doc["revision"] == first.as_str(), || format!("{doc:#}"))?;

    // (1, 3) A good revision: started while every stage is still Ready at the previous one, which is
    // no success; it ends once post-deploy's Job of the new revision is complete.
    pipeline.tag = "2.0.0".into();
    let second = pipeline.publish(&ctx.plane)?;
    let (out, doc, took) = wait(ctx, ns, &second, &["--reconcile", "--timeout", "3m"])?;
    check(out.code == 0, || format!("a good revision: exit {}: {doc:#}\n{}", out.code, out.stderr))?;
    check(took > Duration::from_secs(1), || {
        format!("done after {took:?}: the old Ready was taken for success? {doc:#}")
    })?;
    let report = &doc["report"];
    for name in STAGES {
        let s = crate::stage(report, name);
        check(s["state"] == "Ready" && s["revision"] == second.as_str(), || format!("{name}: {s:#}"))?;
    }
    let refresh = &crate::stage(report, "app-post-deploy")["jobs"][0];
    check(refresh["state"] == "Complete", || format!("post-deploy's Job: {refresh:#}"))?;
    // The timeline on stderr, in pipeline order: each stage took the revision up, then was done.
    let order: Vec<usize> =
        STAGES.iter().filter_map(|s| out.stderr.lines().position(|l| l.contains(&format!("{s}: Done")))).collect();
    check(order.len() == 3 && order.windows(2).all(|w| w[0] < w[1]), || {
        format!("timeline out of order: {}", out.stderr)
    })?;
    check(out.stderr.contains("took up"), || format!("no stage said it took the revision up: {}", out.stderr))?;

    // (2) A revision whose migration exits 3: exit 3 within seconds, well before the stage's 2m
    // timeout, naming the pod and its exit code.
    pipeline.tag = "3.0.0".into();
    pipeline.migration_labels = vec![("fluxjobs.test/exit-code".into(), "3".into())];
    let third = pipeline.publish(&ctx.plane)?;
    let junit = ctx.plane.dir.join("wait-gate.xml");
    let (out, doc, took) =
        wait(ctx, ns, &third, &["--reconcile", "--timeout", "3m", "--junit", junit.to_str().unwrap()])?;
    let ended = k8s_openapi::jiff::Timestamp::now();
    check(out.code == 3, || format!("a failed migration: exit {}: {doc:#}\n{}", out.code, out.stderr))?;
    // Within seconds of the Job's Failed condition (kustomize-controller's health check polls every
    // 5 s), whenever kustomize-controller took the revision up.
    let failed_at = crate::rollout::migration_failed_at(ctx, ns)?;
    let after = ended.duration_since(failed_at);
    eprintln!("e2e: wait said 3 {after:#} after the Job's Failed condition ({took:?} after the push)");
    check(after < k8s_openapi::jiff::SignedDuration::from_secs(15), || {
        format!("the failure was said {after:#} after the Job failed")
    })?;
    let pre = crate::stage(&doc["report"], "app-pre-deploy");
    check(pre["rootCause"]["exitCode"] == 3 && pre["rootCause"]["kind"] == "Pod", || format!("{pre:#}"))?;
    check(doc["ending"] == "Failed", || format!("{doc:#}"))?;
    // (10) The JUnit report, as GitLab reads it: the failed stage's testcase names the pod.
    let xml = std::fs::read_to_string(&junit).map_err(|e| format!("no JUnit report: {e}"))?;
    let parsed = roxmltree::Document::parse(&xml).map_err(|e| format!("malformed JUnit XML ({e}): {xml}"))?;
    let failures: Vec<_> = parsed.descendants().filter(|n| n.has_tag_name("failure")).collect();
    check(failures.len() == 1, || format!("one failure expected: {xml}"))?;
    let message = failures[0].attribute("message").unwrap_or_default();
    check(message.contains("exit code 3") && message.contains("db-migration"), || {
        format!("the failure names the pod: {xml}")
    })?;
    let table = ctx.plugin(&["wait", "-n", ns, "--revision", &third, "--timeout", "1m"])?;
    check(table.code == 3 && table.stdout.contains("exit code 3"), || format!("the table: {}", table.stdout))?;

    // (4) The fix: started while the previous revision's failure still shows, which is not this
    // revision's failure.
    pipeline.migration_labels = vec![];
    pipeline.tag = "3.0.1".into();
    let fourth = pipeline.publish(&ctx.plane)?;
    let (out, doc, _) = wait(ctx, ns, &fourth, &["--reconcile", "--timeout", "3m"])?;
    check(out.code == 0, || format!("the fix: exit {}: {doc:#}\n{}", out.code, out.stderr))?;

    // (12) A revision that changes only the app: the Jobs' specs are unchanged, so kustomize-controller
    // keeps the complete Jobs, and the revision is done without a new one.
    let jobs = || -> Result<(String, String)> {
        Ok((uid_of_job(ctx, ns, "db-migration")?, uid_of_job(ctx, ns, "cache-refresh")?))
    };
    let before = jobs()?;
    pipeline.app_labels = vec![("fluxjobs.test/revision".into(), "app-only".into())];
    let fifth = pipeline.publish(&ctx.plane)?;
    let (out, doc, _) = wait(ctx, ns, &fifth, &["--reconcile", "--timeout", "3m"])?;
    check(out.code == 0, || format!("an app-only revision: exit {}: {doc:#}\n{}", out.code, out.stderr))?;
    check(jobs()? == before, || format!("the Jobs were recreated for an app-only revision: {doc:#}"))?;

    // (7) A revision the source never reaches: exit 5 at the timeout, saying what it waits for.
    let never = "main@sha1:ffffffffffffffffffffffffffffffffffffffff";
    let (out, doc, took) = wait(ctx, ns, never, &["--timeout", "4s"])?;
    check(out.code == 5 && doc["ending"] == "TimedOut", || format!("never reached: exit {}: {doc:#}", out.code))?;
    check(took < Duration::from_secs(30), || format!("timed out after {took:?}"))?;
    let why = doc["stages"][0]["why"].as_str().unwrap_or_default();
    check(why.contains("to fetch") && why.contains(never), || format!("{doc:#}"))?;
    Ok(())
}

/// (5) A HelmRelease whose pre-install hook exits 3 with `helm.sh/hook-delete-policy: hook-failed`:
/// Helm deletes the Job right after it failed, and helm-controller keeps no log of it. wait reads
/// the pod's log as soon as it ended: the tail is in the report, the whole log in --logs-dir.
fn helm_hook_log_outlives_the_hook(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-wait-helm-logs";
    let mut chart = crate::helm_releases::Chart::new("1.2.0", Some(3));
    chart.delete_policy = Some("hook-failed");
    chart.publish(ctx, ns)?;
    let error = "ERROR: relation \"orders_v2\" does not exist";
    ctx.plane.write_pod_log(ns, &["migrating orders", error])?;
    ctx.plane.apply(&crate::helm_releases::helm_release(ns))?;
    let dir = ctx.plane.dir.join("wait-helm-logs");
    let (out, doc, took) = wait(ctx, ns, "1.2.0", &["--timeout", "3m", "--logs-dir", dir.to_str().unwrap()])?;
    check(out.code == 3, || format!("a failed hook: exit {}: {doc:#}\n{}", out.code, out.stderr))?;
    check(took < Duration::from_secs(90), || format!("took {took:?}"))?;
    let hr = crate::stage_of_kind(&doc["report"], "HelmRelease", "my-app");
    let cause = &hr["rootCause"];
    let logs = cause["logs"].as_array().cloned().unwrap_or_default();
    check(logs.iter().any(|l| l == error), || format!("the hook's log tail in the report: {hr:#}\n{}", out.stderr))?;
    // The Job is gone: Helm deleted it, so no one but wait has its log now.
    let jobs = ctx.plane.kubectl(&["-n", ns, "get", "jobs", "-o", "name"])?;
    check(jobs.trim().is_empty(), || format!("Helm did not delete the failed hook: {jobs}"))?;
    let files: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("no --logs-dir: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    let file = files
        .iter()
        .find(|f| f.starts_with(&format!("{ns}_my-app-db-migrate-")) && f.ends_with("_migrate.log"))
        .ok_or_else(|| format!("no log file of the hook's pod in --logs-dir: {files:?}"))?;
    let text = std::fs::read_to_string(dir.join(file)).map_err(|e| e.to_string())?;
    check(text.contains("migrating orders") && text.contains(error), || format!("{file}: {text}"))
}

/// (6) The pipeline as one ResourceSet (no source: judged by its own Ready): a migration step that
/// exits 3 fails the wait with the pod; the fix passes it.
fn resource_set_step(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-wait-rset";
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_labels = vec![("fluxjobs.test/exit-code".into(), "3".into())];
    ctx.plane.apply(&pipeline.resource_set("shop-release", false, &[]))?;
    let args = ["wait", "-n", ns, "rset/shop-release", "--timeout", "3m", "-o", "json"];
    let out = ctx.plugin(&args)?;
    let doc: Value = serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))?;
    check(out.code == 3, || format!("a failing step: exit {}: {doc:#}\n{}", out.code, out.stderr))?;
    let cause = &crate::stage_of_kind(&doc["report"], "ResourceSet", "shop-release")["rootCause"];
    check(cause["kind"] == "Pod" && cause["exitCode"] == 3 && cause["step"] == "pre-deploy", || format!("{cause:#}"))?;
    // The fix, with recreateOnFailure: flux-operator deletes the failed Job and creates the new one
    // (a failed Job's spec cannot be changed in place).
    pipeline.migration_labels = vec![];
    pipeline.tag = "1.0.1".into();
    ctx.plane.apply(&pipeline.resource_set("shop-release", true, &[]))?;
    let out = ctx.plugin(&args)?;
    check(out.code == 0, || format!("the fixed ResourceSet: exit {}: {}\n{}", out.code, out.stdout, out.stderr))
}

/// (13) A ResourceSet whose inputs come from a provider (a Static one, as a CI job would update it
/// with the commit it built): the revision is the sha among the provider's exported values. A sha
/// not exported times out saying so; a new one is done only once the ResourceSet rendered it, with
/// the Jobs of the new tag complete.
fn resource_set_input_provider(ctx: &Ctx) -> Result<()> {
    const FIRST: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
    const SECOND: &str = "2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e";
    let ns = "e2e-wait-rsip";
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    let mut pipeline = Pipeline::seed(ns);
    ctx.plane.apply(&pipeline.static_provider("release", FIRST))?;
    ctx.plane.apply(&pipeline.resource_set_from_provider("shop-release", "release"))?;
    let gate = |revision: &str, timeout: &str| {
        let args = ["wait", "-n", ns, "rset/shop-release", "--revision", revision, "--timeout", timeout, "-o", "json"];
        let out = ctx.plugin(&args)?;
        let doc: Value =
            serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}\n{}", out.stdout, out.stderr))?;
        Ok::<_, String>((out, doc))
    };
    let (out, doc) = gate(&FIRST[..7], "3m")?;
    check(out.code == 0, || format!("the first sha: exit {}: {doc:#}\n{}", out.code, out.stderr))?;
    let first_uid = uid_of_job(ctx, ns, "db-migration")?;

    let (out, doc) = gate(&SECOND[..7], "10s")?;
    let why = doc["stages"][0]["why"].as_str().unwrap_or_default();
    check(
        out.code == 5 && why.contains("waiting for ResourceSetInputProvider/e2e-wait-rsip/release to export 2b3c4d5"),
        || format!("a sha not exported yet: exit {}: {doc:#}", out.code),
    )?;

    // CI publishes the new commit's tag and sha; the gate starts at once, on the old Ready.
    pipeline.tag = "1.0.1".into();
    ctx.plane.apply(&pipeline.static_provider("release", SECOND))?;
    let (out, doc) = gate(SECOND, "3m")?;
    check(out.code == 0, || format!("the new sha: exit {}: {doc:#}\n{}", out.code, out.stderr))?;
    let stage = crate::stage_of_kind(&doc["report"], "ResourceSet", "shop-release");
    check(
        stage["attemptedRevision"] == stage["sourceRevision"]
            && stage["sourceInputs"].as_array().is_some_and(|v| v.contains(&SECOND.into())),
        || format!("the ResourceSet at the provider's new export: {stage:#}"),
    )?;
    // What the rule dates the export by: flux-operator's event naming the revision it exported.
    let events = ctx.plane.kubectl(&[
        "get",
        "events",
        "-n",
        ns,
        "--field-selector",
        "involvedObject.kind=ResourceSetInputProvider",
        "-o",
        "json",
    ])?;
    let events: Value = serde_json::from_str(&events).map_err(|e| e.to_string())?;
    let annotated = events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["metadata"]["annotations"]["fluxcd.controlplane.io/revision"] == stage["sourceRevision"]);
    check(annotated, || format!("no event of the provider names {}: {events:#}", stage["sourceRevision"]))?;
    let job = ctx.plane.kubectl(&["get", "job", "db-migration", "-n", ns, "-o", "json"])?;
    let job: Value = serde_json::from_str(&job).map_err(|e| e.to_string())?;
    let image = job["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap_or_default();
    let complete = job["status"]["succeeded"] == 1;
    check(image.ends_with(":1.0.1") && complete && job["metadata"]["uid"] != first_uid.as_str(), || {
        format!("done only with the new tag's migration complete: {job:#}")
    })
}

/// (9) The API server goes away for longer than a watch gives it (a proxy of ours in front of it
/// resets every connection) while the revision rolls out: one warning, and the wait goes on to the
/// right end.
fn across_an_outage(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-wait-outage";
    let first = Pipeline::seed(ns).install(&ctx.plane)?;
    let proxy = crate::fault_proxy::FaultProxy::start(ctx.plane.api_server.trim_start_matches("https://"))?;
    let kubeconfig =
        crate::kubeconfig_edited(ctx, "wait-outage.kubeconfig", |t| t.replace(&ctx.plane.api_server, &proxy.url))?;
    let args = ["wait", "-n", ns, "--revision", &first, "--reconcile", "--timeout", "3m", "-o", "json"];
    let mut down = false;
    let out = crate::safety::plugin_live(&kubeconfig, &args, |line| {
        if !down && line.contains("app-pre-deploy: Done") {
            down = true;
            proxy.take_down();
            std::thread::sleep(Duration::from_secs(12));
            proxy.restore();
        }
    })?;
    check(down, || format!("the outage never happened: {}", out.stderr))?;
    let doc: Value = serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}\n{}", out.stdout, out.stderr))?;
    check(out.code == 0 && doc["ending"] == "Done", || format!("across an outage: exit {}: {}", out.code, out.stderr))?;
    let lost: Vec<&str> = out.stderr.lines().filter(|l| l.contains("lost the API server")).collect();
    check(lost.len() == 1, || format!("the outage is one warning: {}", out.stderr))?;
    check(verdicts(&doc).iter().all(|(_, o)| o == "Done"), || format!("{doc:#}"))
}

/// A migration whose image cannot be pulled: the kubelet retries for ever, so the wait fails on it,
/// but only once it has lasted longer than --grace.
fn image_pull_after_the_grace(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-wait-image-pull";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_labels = vec![("fluxjobs.test/image-pull".into(), "fail".into())];
    let first = pipeline.install(&ctx.plane)?;
    let checked = image_pull_checks(ctx, ns, &first);
    // Its stages would hold a kustomize-controller worker in a health check for their whole timeout,
    // retry after retry, and the suite shares that controller (10 workers): they go once checked.
    ctx.plane.kubectl(&["-n", ns, "delete", "kustomizations", "--all", "--wait=false"])?;
    checked
}

fn image_pull_checks(ctx: &Ctx, ns: &str, first: &str) -> Result<()> {
    // Within the default grace (2m): not a failure yet; the timeout comes first.
    let (out, doc, _) = wait(ctx, ns, first, &["--reconcile", "--timeout", "15s"])?;
    check(out.code == 5, || format!("within the grace: exit {}: {doc:#}\n{}", out.code, out.stderr))?;
    let why = doc["stages"][0]["why"].as_str().unwrap_or_default();
    check(why.contains("ImagePullBackOff") || why.contains("ErrImagePull"), || format!("{doc:#}"))?;
    // Past a grace of 5s: exit 3 naming the pod.
    let (out, doc, took) = wait(ctx, ns, first, &["--grace", "5s", "--timeout", "1m"])?;
    check(out.code == 3, || format!("past the grace: exit {}: {doc:#}\n{}", out.code, out.stderr))?;
    check(took < Duration::from_secs(30), || format!("took {took:?}"))?;
    let why = doc["stages"][0]["why"].as_str().unwrap_or_default();
    check(why.contains("for longer than 5.0s") && why.contains("Pod/db-migration-"), || format!("{doc:#}"))
}
