//! HelmReleases on the real helm-controller: pre/post-deploy Jobs run as Helm hooks, their
//! failures followed from the HelmRelease down to the hook Job's pod.

use crate::harness::Result;
use crate::scenarios::{SETTLE, Scenario};
use crate::{Ctx, check, stage_of_kind};

pub(crate) fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        ("a_failing_pre_install_hook_is_the_root_cause_of_its_helm_release", failing_pre_install_hook),
        (
            "a_kustomization_applying_a_failing_helm_release_leads_into_it",
            kustomization_applying_a_failing_helm_release,
        ),
        ("a_failing_pre_upgrade_hook_after_a_good_release_is_the_root_cause", failing_pre_upgrade_hook),
        ("rerun_runs_failed_hooks_again_in_one_forced_upgrade_per_release", rerun_failed_hooks),
        ("rerun_refuses_a_pre_install_only_hook_after_a_failed_install", pre_install_only_hook_refused),
        (
            "a_release_depending_on_a_failed_one_and_reconcile_of_a_release_applied_by_a_kustomization",
            release_depending_on_a_failed_one,
        ),
        ("a_failing_post_upgrade_hook_rolled_back_by_remediation_is_the_root_cause", post_upgrade_hook_rolled_back),
        ("a_failing_test_hook_is_the_root_cause_of_its_helm_release", failing_test_hook),
        ("a_chart_template_waiting_for_its_helm_repository_leads_to_it", chart_from_a_failing_helm_repository),
        ("a_release_deployment_that_never_becomes_ready_is_the_root_cause", release_deployment_never_ready),
        ("a_kustomization_waiting_on_a_release_leads_to_its_running_hook", kustomization_waiting_on_a_running_hook),
        ("a_release_deploying_into_another_namespace_is_diagnosed_under_n", release_into_another_namespace),
    ]
}

/// A HelmRelease kept in one namespace (as in flux-system) installing into another
/// (`targetNamespace`), its pre-install hook failing: `status -n` of the release's namespace
/// reads the target namespace's Jobs and Pods and goes down to the hook's pod, and the hint names
/// the Job where it is. No other stage of that namespace deploys there.
fn release_into_another_namespace(ctx: &Ctx) -> Result<()> {
    let (home, target) = ("e2e-helm-home", "e2e-helm-target");
    publish_chart(ctx, home, "1.2.0", Some(3))?;
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {target}\n"))?;
    ctx.plane.apply(&release_of(home, "my-app", &format!("  targetNamespace: {target}\n")))?;
    let report = ctx.wait_status(home, "the release to fail on its hook's pod", SETTLE, |r| {
        let hr = stage_of_kind(r, "HelmRelease", "my-app");
        hr["state"] == "Failed" && hr["rootCause"]["kind"] == "Pod"
    })?;
    let hr = stage_of_kind(&report, "HelmRelease", "my-app");
    let cause = &hr["rootCause"];
    check(
        cause["namespace"] == target
            && cause["exitCode"] == 3
            && cause["via"][0] == format!("Job/{target}/my-app-db-migrate"),
        || format!("root cause: {cause}"),
    )?;
    check(hr["hooks"][0]["name"] == "my-app-db-migrate" && hr["hooks"][0]["state"] == "Failed", || {
        format!("hooks: {}", hr["hooks"])
    })?;
    let hint = hr["hint"].as_str().unwrap_or_default();
    check(hint.contains(&format!("kubectl fluxjobs rerun job/my-app-db-migrate -n {target}")), || {
        format!("hint: {hint}")
    })
}

/// A `wait: true` Kustomization applies a HelmRelease whose pre-install hook runs on: while
/// kustomize-controller's health check waits, the chain goes from the next stage through the
/// Kustomization (its inventory lists the HelmRelease) into the release, to the running hook Job.
fn kustomization_waiting_on_a_running_hook(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-helm-waiting";
    Chart { run_forever: true, ..Chart::new("1.2.0", None) }.publish(ctx, ns)?;
    apps_and_smoke_tests(ctx, ns, "  timeout: 5m\n")?;
    let report = ctx.wait_status(ns, "smoke-tests to wait on the release's running hook", SETTLE, |r| {
        let smoke = stage_of_kind(r, "Kustomization", "smoke-tests");
        smoke["rootCause"]["kind"] == "Job" && crate::state_of(r, "apps") == "Progressing"
    })?;
    let cause = cause_through_apps(&report, ns)?;
    let message = cause["message"].as_str().unwrap_or_default();
    check(
        cause["name"] == "my-app-db-migrate"
            && cause["reason"] == "JobRunning"
            && message.contains("helm-controller: Running 'install' action with timeout of 2m0s"),
        || format!("root cause: {cause}"),
    )
}

/// A release whose Deployment never becomes ready: Helm's wait fails on it once it passes its
/// progress deadline, and the root cause is the Deployment's pod that runs but is not Ready (via
/// the Deployment); the hint names the release's rerun.
fn release_deployment_never_ready(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-helm-deployment";
    Chart { never_ready_app: true, ..Chart::new("1.2.0", None) }.publish(ctx, ns)?;
    ctx.plane.apply(&helm_release(ns))?;
    let report = ctx
        .wait_status(ns, "the install to fail on the Deployment", SETTLE, |r| {
            let hr = stage_of_kind(r, "HelmRelease", "my-app");
            hr["state"] == "Failed" && hr["rootCause"]["via"][0] == format!("Deployment/{ns}/my-app")
        })
        .map_err(|e| format!("{e}\n{}", release_yaml(ctx, ns, "my-app")))?;
    let hr = stage_of_kind(&report, "HelmRelease", "my-app");
    let ready = hr["ready"]["message"].as_str().unwrap_or_default();
    check(ready.contains(&format!("Deployment/{ns}/my-app")), || format!("helm-controller's message: {ready}"))?;
    let cause = &hr["rootCause"];
    check(cause["kind"] == "Pod" && cause["reason"] == "ContainersNotReady", || format!("root cause: {cause}"))?;
    let hint = hr["hint"].as_str().unwrap_or_default();
    check(hint.ends_with(&format!("then kubectl fluxjobs rerun hr/my-app -n {ns}")), || format!("hint: {hint}"))
}

/// A HelmRelease with `spec.chart` from a HelmRepository that cannot fetch its index (its status
/// written as source-controller writes it; the suite runs no source-controller). helm-controller
/// makes the HelmChart and waits for it (SourceNotReady); the cause is the HelmRepository, via the
/// HelmChart.
fn chart_from_a_failing_helm_repository(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-helm-repo";
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    ctx.plane.apply(&format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: charts\n  namespace: {ns}\nspec:\n  url: https://charts.example.invalid\n  interval: 60m\n"
    ))?;
    // source-controller internal/controller/helmrepository_controller.go, a 404 on the index.
    let failure = "failed to fetch Helm repository index: failed to cache index to temporary file: failed to fetch https://charts.example.invalid/index.yaml : 404 Not Found";
    let status = serde_json::json!({"observedGeneration": 1, "conditions": [
        {"type": "Ready", "status": "False", "reason": "FailedArtifact", "observedGeneration": 1,
         "message": failure, "lastTransitionTime": "2026-12-01T00:00:00Z"}]});
    ctx.plane.patch_status(ns, "helmrepository", "charts", &status)?;
    ctx.plane.apply(&format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: my-app\n  namespace: {ns}\nspec:\n  interval: 60m\n  chart:\n    spec:\n      chart: my-app\n      version: 1.2.0\n      sourceRef:\n        kind: HelmRepository\n        name: charts\n"
    ))?;
    let report = ctx
        .wait_status(ns, "the release to wait for its chart", SETTLE, |r| {
            stage_of_kind(r, "HelmRelease", "my-app")["rootCause"]["kind"] == "HelmRepository"
        })
        .map_err(|e| format!("{e}\n{}", release_yaml(ctx, ns, "my-app")))?;
    let hr = stage_of_kind(&report, "HelmRelease", "my-app");
    let ready = hr["ready"]["message"].as_str().unwrap_or_default();
    check(
        hr["state"] == "Blocked" && ready.starts_with(&format!("HelmChart '{ns}/{ns}-my-app' is not ready")),
        || format!("state {}, helm-controller's message: {ready}", hr["state"]),
    )?;
    let cause = &hr["rootCause"];
    check(
        cause["name"] == "charts"
            && cause["message"] == format!("the source has no artifact: {failure}")
            && cause["via"][0] == format!("HelmChart/{ns}/{ns}-my-app"),
        || format!("root cause: {cause}"),
    )
}

/// The HelmRelease as helm-controller left it, for a failure message.
fn release_yaml(ctx: &Ctx, ns: &str, name: &str) -> String {
    ctx.plane.kubectl(&["-n", ns, "get", "helmrelease", name, "-o", "yaml"]).unwrap_or_else(|e| e)
}

/// A good release 1.2.0, then 1.3.0 whose post-upgrade hook exits 3, with upgrade remediation
/// (`retries: 1`, rollback): helm-controller upgrades, fails, rolls back, tries once more, rolls
/// back again and stops. The root cause is still the hook Job's pod, and the rollback is said.
fn post_upgrade_hook_rolled_back(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-helm-remediation";
    let chart = |version, exit_code| Chart { hook: "post-install,post-upgrade", ..Chart::new(version, exit_code) };
    chart("1.2.0", None).publish(ctx, ns)?;
    let remediation = "  upgrade:\n    remediation:\n      retries: 1\n      strategy: rollback\n";
    ctx.plane.apply(&release_of(ns, "my-app", remediation))?;
    ctx.wait_status(ns, "release 1.2.0 to be Ready", SETTLE, |r| {
        stage_of_kind(r, "HelmRelease", "my-app")["state"] == "Ready"
    })?;
    chart("1.3.0", Some(3)).publish(ctx, ns)?;
    let report = ctx
        .wait_status(ns, "the upgrade to be rolled back twice and stop", SETTLE, |r| {
            let hr = stage_of_kind(r, "HelmRelease", "my-app");
            hr["state"] == "Failed"
                && hr["ready"]["reason"] == "RollbackSucceeded"
                && hr["hint"].as_str().is_some_and(|h| h.contains("will not try again"))
        })
        .map_err(|e| format!("{e}\n{}", release_yaml(ctx, ns, "my-app")))?;
    let hr = stage_of_kind(&report, "HelmRelease", "my-app");
    let cause = &hr["rootCause"];
    check(
        cause["kind"] == "Pod" && cause["exitCode"] == 3 && cause["via"][0] == format!("Job/{ns}/my-app-db-migrate"),
        || format!("root cause: {cause}\n{}", release_yaml(ctx, ns, "my-app")),
    )?;
    let hint = hr["hint"].as_str().unwrap_or_default();
    // The second rollback goes to the release the first one made (v3, a copy of v1).
    let rolled_back = format!("helm-controller rolled back: Helm rollback to previous release {ns}/my-app.v");
    let again =
        format!("kubectl fluxjobs rerun job/my-app-db-migrate -n {ns} (a forced upgrade of the release runs it again)");
    check(
        hint.starts_with(&rolled_back)
            && hint.contains(" with chart my-app@1.2.0+")
            && hint.contains("(Failed to upgrade after 2 attempt(s))")
            && hint.ends_with(&again),
        || format!("hint: {hint}"),
    )
}

/// A release whose test hook (`helm.sh/hook: test`, `spec.test.enable: true`) exits 3: the
/// release installed, the test failed, and the root cause is the test Job's pod.
fn failing_test_hook(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-helm-test";
    Chart { hook: "test", ..Chart::new("1.2.0", Some(3)) }.publish(ctx, ns)?;
    ctx.plane.apply(&release_of(ns, "my-app", "  test:\n    enable: true\n"))?;
    let report = ctx
        .wait_status(ns, "the test hook to fail", SETTLE, |r| {
            let hr = stage_of_kind(r, "HelmRelease", "my-app");
            hr["state"] == "Failed" && hr["ready"]["reason"] == "TestFailed"
        })
        .map_err(|e| format!("{e}\n{}", release_yaml(ctx, ns, "my-app")))?;
    let hr = stage_of_kind(&report, "HelmRelease", "my-app");
    let cause = &hr["rootCause"];
    check(
        cause["kind"] == "Pod" && cause["exitCode"] == 3 && cause["via"][0] == format!("Job/{ns}/my-app-db-migrate"),
        || format!("root cause: {cause}\nhint: {}\n{}", hr["hint"], release_yaml(ctx, ns, "my-app")),
    )?;
    let hint = hr["hint"].as_str().unwrap_or_default();
    check(hint.contains(&format!("kubectl fluxjobs rerun job/my-app-db-migrate -n {ns}")), || format!("hint: {hint}"))
}

/// Two releases whose hooks fail on a broken node: `my-app` (no delete policy: Helm replaces its
/// Job) and `my-worker` (`hook-succeeded`: Helm would meet the failed Job, so rerun deletes it
/// first). After the fix, one `rerun` of both hook Jobs runs each release's forced upgrade once;
/// both end Ready. Then a rerun of the Ready release is refused without --force.
fn rerun_failed_hooks(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-helm-rerun";
    ctx.plane.apply(&crate::fixtures::kwok_node("kwok-node-flaky-helm", ns, true))?;
    let app = Chart { pool: Some(ns), ..Chart::new("1.2.0", None) };
    app.publish(ctx, ns)?;
    let worker = Chart { name: "my-worker", delete_policy: Some("hook-succeeded"), ..app };
    worker.publish(ctx, ns)?;
    ctx.plane.apply(&release_of(ns, "my-app", ""))?;
    ctx.plane.apply(&release_of(ns, "my-worker", ""))?;
    // Until the failed install is in status.history too: helm-controller writes the Ready condition
    // first (fluxcd/pkg runtime/patch), and the action a forced reconcile runs is read from the history.
    ctx.wait_status(ns, "both hooks to fail on the broken node, the failed installs recorded", SETTLE, |r| {
        ["my-app", "my-worker"].iter().all(|name| {
            let release = stage_of_kind(r, "HelmRelease", name);
            release["rootCause"]["exitCode"] == 3 && !release["history"].is_null()
        })
    })?;
    ctx.plane.kubectl(&["cordon", "kwok-node-flaky-helm"])?;
    // The fix of the broken environment: a healthy node in the pool.
    ctx.plane.apply(&crate::fixtures::kwok_node("kwok-node-helm", ns, false))?;
    let old_app = crate::scenarios::uid_of_job(ctx, ns, "my-app-db-migrate")?;
    let old_worker = crate::scenarios::uid_of_job(ctx, ns, "my-worker-db-migrate")?;
    let backups = ctx.plane.dir.join("backups-helm-rerun");
    let out = ctx.plugin(&[
        "rerun",
        "job/my-app-db-migrate",
        "job/my-worker-db-migrate",
        "-n",
        ns,
        "--yes",
        "--wait",
        "--timeout",
        "3m",
        "--backup-dir",
        backups.to_str().unwrap(),
    ])?;
    check(out.code == 0, || format!("rerun exited {}:\n{}", out.code, out.stderr))?;
    for expected in [
        format!("deleted Job {ns}/my-worker-db-migrate (uid {old_worker})"),
        format!(
            "requested a forced upgrade of HelmRelease/{ns}/my-app (reconcile.fluxcd.io/forceAt, resetAt and requestedAt"
        ),
        format!("requested a forced upgrade of HelmRelease/{ns}/my-worker"),
        format!("Job {ns}/my-app-db-migrate exists again (uid "),
        format!("HelmRelease/{ns}/my-app Ready"),
        format!("HelmRelease/{ns}/my-worker Ready"),
    ] {
        check(out.stderr.contains(&expected), || format!("missing {expected:?} in:\n{}", out.stderr))?;
    }
    check(!out.stderr.contains(&format!("deleted Job {ns}/my-app-db-migrate")), || {
        format!("rerun deleted a Job Helm replaces itself:\n{}", out.stderr)
    })?;
    check(out.stderr.matches("requested a forced upgrade").count() == 2, || {
        format!("one forced request per release:\n{}", out.stderr)
    })?;
    let new_app = crate::scenarios::uid_of_job(ctx, ns, "my-app-db-migrate")?;
    check(!new_app.is_empty() && new_app != old_app, || format!("my-app's hook Job uid {new_app} (was {old_app})"))?;
    // hook-succeeded: Helm deleted the new Job once it ran.
    let worker_left =
        ctx.plane.kubectl(&["-n", ns, "get", "job", "my-worker-db-migrate", "--ignore-not-found", "-o", "name"])?;
    check(worker_left.trim().is_empty(), || format!("my-worker's succeeded hook Job is still there: {worker_left}"))?;
    let saved: Vec<String> = std::fs::read_dir(&backups)
        .map_err(|e| format!("no backups: {e}"))?
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect();
    check(
        saved.len() == 2
            && saved.iter().all(|text| text.contains("# The last 50 log lines of each container of its pods:")),
        || format!("backups: {saved:?}"),
    )?;
    let report = ctx.status(ns)?;
    for name in ["my-app", "my-worker"] {
        let hr = stage_of_kind(&report, "HelmRelease", name);
        check(hr["state"] == "Ready", || format!("{name}: {hr}"))?;
    }
    let out = ctx.plugin(&["rerun", "hr/my-app", "-n", ns, "--yes"])?;
    check(
        out.code == 1
            && out.stderr.contains(&format!("HelmRelease/{ns}/my-app is Ready"))
            && out.stderr.contains("pass --force"),
        || format!("rerun of a Ready release: exit {}: {}", out.code, out.stderr),
    )?;
    check(crate::scenarios::uid_of_job(ctx, ns, "my-app-db-migrate")? == new_app, || {
        "a refused rerun changed the Job".into()
    })
}

/// A `pre-install`-only hook fails: the failed install is in Helm's storage, so a forced reconcile
/// would run an upgrade, which does not run the hook. rerun refuses before any write and says what
/// would run it.
fn pre_install_only_hook_refused(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-helm-preinstall";
    Chart { hook: "pre-install", ..Chart::new("1.2.0", Some(3)) }.publish(ctx, ns)?;
    ctx.plane.apply(&helm_release(ns))?;
    // Until Stalled (see `failing_pre_install_hook`: the history follows the conditions).
    ctx.wait_status(ns, "the pre-install hook to fail and the release to stall", SETTLE, |r| {
        let hr = stage_of_kind(r, "HelmRelease", "my-app");
        hr["rootCause"]["exitCode"] == 3 && hr["hint"].as_str().is_some_and(|h| h.contains("will not try again"))
    })?;
    let uid = crate::scenarios::uid_of_job(ctx, ns, "my-app-db-migrate")?;
    let out = ctx.plugin(&["rerun", "job/my-app-db-migrate", "-n", ns, "--yes", "--force"])?;
    let expected = format!(
        "Job {ns}/my-app-db-migrate is a pre-install hook of HelmRelease/{ns}/my-app, and a forced reconcile of it now runs an upgrade (the latest release in Helm's storage is failed), which runs pre-upgrade, post-upgrade hooks only: only an install runs it again"
    );
    check(
        out.code == 1
            && out.stderr.contains(&expected)
            && out.stderr.contains(&format!("helm uninstall my-app -n {ns}")),
        || format!("exit {}: {}", out.code, out.stderr),
    )?;
    check(out.stderr.lines().count() == 1, || format!("one line: {}", out.stderr))?;
    let force =
        ctx.plane.kubectl(&["-n", ns, "get", "helmrelease", "my-app", "-o", "jsonpath={.metadata.annotations}"])?;
    check(crate::scenarios::uid_of_job(ctx, ns, "my-app-db-migrate")? == uid && !force.contains("forceAt"), || {
        format!("a refused rerun wrote something: annotations {force}")
    })
}

/// HelmRelease `my-app`, applied by Kustomization `apps`, depends on HelmRelease `my-db`, whose hook
/// fails: `my-app` is Blocked with `my-db`'s hook pod as its root cause. A new `my-db` chart fixes
/// it; then `reconcile hr/my-app` walks `my-db` and `apps` before `my-app`, each Ready.
fn release_depending_on_a_failed_one(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-helm-deps";
    Chart { name: "my-db", ..Chart::new("1.0.0", Some(3)) }.publish(ctx, ns)?;
    publish_chart(ctx, ns, "1.2.0", None)?;
    let app = release_of(ns, "my-app", "  dependsOn:\n  - name: my-db\n");
    ctx.plane.publish(ns, "app", &[("apps/helmrelease.yaml", &app)])?;
    ctx.plane.apply(&release_of(ns, "my-db", ""))?;
    ctx.plane.apply(&format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: {ns}\nspec:\n  sourceRef:\n    kind: GitRepository\n    name: app\n  path: ./apps\n  targetNamespace: {ns}\n  interval: 60m\n  timeout: 3m\n  prune: true\n"
    ))?;
    let report = ctx.wait_status(ns, "my-app to be blocked by my-db's failed hook", SETTLE, |r| {
        stage_of_kind(r, "HelmRelease", "my-app")["state"] == "Blocked"
            && stage_of_kind(r, "HelmRelease", "my-app")["rootCause"]["kind"] == "Pod"
    })?;
    let app = stage_of_kind(&report, "HelmRelease", "my-app");
    let ready = app["ready"]["message"].as_str().unwrap_or_default();
    check(ready.contains(&format!("dependency '{ns}/my-db' is not ready")), || {
        format!("helm-controller's message: {ready}")
    })?;
    let path = &app["path"];
    check(*path == serde_json::json!([format!("HelmRelease/{ns}/my-app"), format!("HelmRelease/{ns}/my-db")]), || {
        format!("path: {path}")
    })?;
    check(
        app["rootCause"]["exitCode"] == 3 && app["rootCause"]["via"][0] == format!("Job/{ns}/my-db-db-migrate"),
        || format!("root cause: {}", app["rootCause"]),
    )?;
    Chart { name: "my-db", ..Chart::new("1.0.1", None) }.publish(ctx, ns)?;
    ctx.wait_status(ns, "every release Ready after the fix", SETTLE, |r| {
        ["my-app", "my-db"].iter().all(|name| stage_of_kind(r, "HelmRelease", name)["state"] == "Ready")
    })?;
    let out = ctx.plugin(&["reconcile", "hr/my-app", "-n", ns, "--timeout", "2m"])?;
    check(out.code == 0, || format!("reconcile exited {}:\n{}", out.code, out.stderr))?;
    let order = out.stderr.lines().find(|l| l.contains("reconciling in order:")).unwrap_or_default();
    let at = |what: &str| order.find(what).unwrap_or(usize::MAX);
    let (db, apps, app) =
        (at(&format!("HelmRelease/{ns}/my-db")), at(&format!("{ns}/apps")), at(&format!("HelmRelease/{ns}/my-app")));
    check(db < app && apps < app && app != usize::MAX, || format!("order: {order}"))?;
    for stage in [
        format!("HelmRelease/{ns}/my-db: Ready"),
        format!("{ns}/apps: Ready"),
        format!("HelmRelease/{ns}/my-app: Ready"),
    ] {
        check(out.stderr.contains(&stage), || format!("missing {stage:?} in:\n{}", out.stderr))?;
    }
    Ok(())
}

/// A chart of one release: a ConfigMap and a hook Job `NAME-db-migrate`.
pub(crate) struct Chart<'a> {
    name: &'a str,
    version: &'a str,
    /// `helm.sh/hook` of the Job.
    hook: &'a str,
    /// `helm.sh/hook-delete-policy`, when set.
    pub(crate) delete_policy: Option<&'a str>,
    /// The pod exits with this code (kwok stage `pod-exit-code`); `None`: it completes.
    exit_code: Option<u8>,
    /// Node pool (label `fluxjobs.test/pool`) the hook runs in, the flaky node included.
    pool: Option<&'a str>,
    /// The hook's pod runs and never completes (kwok stage `pod-run-forever`).
    run_forever: bool,
    /// A Deployment NAME whose pods run but never become ready (kwok stage), with a 10 s progress
    /// deadline.
    never_ready_app: bool,
}

impl<'a> Chart<'a> {
    pub(crate) fn new(version: &'a str, exit_code: Option<u8>) -> Self {
        Chart {
            name: "my-app",
            version,
            hook: "pre-install,pre-upgrade",
            delete_policy: None,
            exit_code,
            pool: None,
            run_forever: false,
            never_ready_app: false,
        }
    }

    /// Namespace `ns` with the chart published as OCIRepository NAME.
    pub(crate) fn publish(&self, ctx: &Ctx, ns: &str) -> Result<String> {
        let (name, version) = (self.name, self.version);
        ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
        let chart = format!("apiVersion: v2\nname: {name}\nversion: {version}\n");
        let labels = match (self.exit_code, self.run_forever) {
            (Some(code), _) => format!("    metadata:\n      labels:\n        fluxjobs.test/exit-code: \"{code}\"\n"),
            (None, true) => "    metadata:\n      labels:\n        fluxjobs.test/run-forever: \"true\"\n".to_string(),
            (None, false) => String::new(),
        };
        let placement = self.pool.map(|p| format!(
            "      nodeSelector:\n        fluxjobs.test/pool: {p}\n      tolerations:\n      - key: fluxjobs.test/flaky\n        operator: Exists\n        effect: NoSchedule\n"
        )).unwrap_or_default();
        let policy = self.delete_policy.map(|p| format!("    helm.sh/hook-delete-policy: {p}\n")).unwrap_or_default();
        let config = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  greeting: hello\n");
        let hook = format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}-db-migrate\n  annotations:\n    helm.sh/hook: {}\n    helm.sh/hook-weight: \"0\"\n{policy}spec:\n  backoffLimit: 0\n  template:\n{labels}    spec:\n{placement}      restartPolicy: Never\n      containers:\n      - name: migrate\n        image: registry.example.invalid/shop/app:{version}\n        command: [sh, -c, \"echo migrating\"]\n",
            self.hook
        );
        let mut files =
            vec![("Chart.yaml", chart), ("templates/configmap.yaml", config), ("templates/db-migrate.yaml", hook)];
        if self.never_ready_app {
            let deployment = format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 1\n  progressDeadlineSeconds: 10\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n        fluxjobs.test/never-ready: \"true\"\n    spec:\n      containers:\n      - name: app\n        image: registry.example.invalid/shop/app:{version}\n"
            );
            files.push(("templates/deployment.yaml", deployment));
        }
        let files: Vec<(&str, &str)> = files.iter().map(|(path, text)| (*path, text.as_str())).collect();
        ctx.plane.publish_chart(ns, name, name, version, &files)
    }
}

/// Namespace `ns` with chart `my-app` at `version` published as OCIRepository `my-app`, its hook
/// `pre-install,pre-upgrade` exiting with `exit_code`, or completing.
fn publish_chart(ctx: &Ctx, ns: &str, version: &str, exit_code: Option<u8>) -> Result<String> {
    Chart::new(version, exit_code).publish(ctx, ns)
}

pub(crate) fn helm_release(ns: &str) -> String {
    release_of(ns, "my-app", "")
}

/// HelmRelease `name` of chart `name`, with `extra` spec lines (indented two spaces).
fn release_of(ns: &str, name: &str, extra: &str) -> String {
    format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  interval: 60m\n  timeout: 2m\n  chartRef:\n    kind: OCIRepository\n    name: {name}\n{extra}"
    )
}

/// A pre-install hook exiting 3: the HelmRelease is Failed with helm-controller's own message, and
/// the root cause is the hook Job's pod, exit code 3; the table's chain goes down to it.
fn failing_pre_install_hook(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-helm-hook";
    publish_chart(ctx, ns, "1.2.0", Some(3))?;
    ctx.plane.apply(&helm_release(ns))?;
    // Until Stalled: helm-controller patches the conditions before the rest of the status
    // (fluxcd/pkg runtime/patch/patch.go), so for a moment Ready says InstallFailed while
    // status.history is still the one the install cleared.
    let report = ctx.wait_status(ns, "the HelmRelease to fail on its hook and stall", SETTLE, |r| {
        let hr = stage_of_kind(r, "HelmRelease", "my-app");
        hr["state"] == "Failed" && hr["hint"].as_str().is_some_and(|h| h.contains("will not try again"))
    })?;
    let hr = stage_of_kind(&report, "HelmRelease", "my-app");
    let ready = hr["ready"]["message"].as_str().unwrap_or_default();
    let expected = format!(
        "failed pre-install: failed early due to stalled resources: [Job/{ns}/my-app-db-migrate status: 'Failed']"
    );
    check(
        ready.starts_with(&format!("Helm install failed for release {ns}/my-app with chart my-app@1.2.0+"))
            && ready.ends_with(&expected),
        || format!("helm-controller's message: {ready}"),
    )?;
    let cause = &hr["rootCause"];
    check(
        cause["kind"] == "Pod" && cause["exitCode"] == 3 && cause["via"][0] == format!("Job/{ns}/my-app-db-migrate"),
        || format!("root cause: {cause}"),
    )?;
    let hint = hr["hint"].as_str().unwrap_or_default();
    check(
        hint.starts_with("helm-controller will not try again until the chart, values or spec change (Failed to install after 1 attempt(s))")
            && hint.ends_with(&format!("then kubectl fluxjobs rerun job/my-app-db-migrate -n {ns} (a forced upgrade of the release runs it again)")),
        || format!("hint: {hint}"),
    )?;
    let out = ctx.plugin(&["status", "-n", ns])?;
    check(
        out.stdout.contains("HelmRelease/my-app <- Job/my-app-db-migrate <- Pod/my-app-db-migrate-")
            && out.stdout.contains(": exit code 3 (Error)"),
        || format!("table:\n{}", out.stdout),
    )?;
    // The hook is also pre-upgrade, and the failed install is in Helm's storage: a forced
    // reconcile runs an upgrade, which runs it; Helm replaces the Job itself (no delete policy).
    let uid = crate::scenarios::uid_of_job(ctx, ns, "my-app-db-migrate")?;
    let out = ctx.plugin(&["rerun", "job/my-app-db-migrate", "-n", ns, "--dry-run"])?;
    check(
        out.code == 0
            && out.stderr.contains(&format!("HelmRelease/{ns}/my-app: ask helm-controller for a forced upgrade (the latest release in Helm's storage is failed)"))
            && out.stderr.contains("Helm deletes it and creates it again (before-hook-creation)")
            && out.stderr.contains("would set reconcile.fluxcd.io/forceAt, resetAt and requestedAt")
            && !out.stderr.contains("would delete"),
        || format!("rerun --dry-run of a hook Job: exit {}: {}", out.code, out.stderr),
    )?;
    check(crate::scenarios::uid_of_job(ctx, ns, "my-app-db-migrate")? == uid, || "a dry run changed the Job".into())?;
    ctx.capture_example(ns, "helm-hook-failed")
}

/// The root cause of `smoke-tests`, whose chain must go through `apps` into HelmRelease `my-app`.
fn cause_through_apps<'a>(report: &'a serde_json::Value, ns: &str) -> Result<&'a serde_json::Value> {
    let smoke = stage_of_kind(report, "Kustomization", "smoke-tests");
    let path = &smoke["path"];
    let expected =
        serde_json::json!([format!("{ns}/smoke-tests"), format!("{ns}/apps"), format!("HelmRelease/{ns}/my-app")]);
    check(*path == expected, || format!("path: {path}"))?;
    Ok(&smoke["rootCause"])
}

/// Stages `apps` (applies HelmRelease `my-app`, `wait: true`) and `smoke-tests` (depends on it), with
/// `timing` spec lines, from source `app`.
fn apps_and_smoke_tests(ctx: &Ctx, ns: &str, timing: &str) -> Result<()> {
    let smoke = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: smoke\ndata:\n  ok: \"true\"\n";
    let release = helm_release(ns);
    ctx.plane.publish(ns, "app", &[("apps/helmrelease.yaml", &release), ("smoke/configmap.yaml", smoke)])?;
    let stage = |name: &str, path: &str, deps: &str| {
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{deps}  sourceRef:\n    kind: GitRepository\n    name: app\n  path: {path}\n  targetNamespace: {ns}\n  interval: 60m\n{timing}  prune: true\n  wait: true\n"
        )
    };
    ctx.plane.apply(&stage("apps", "./apps", ""))?;
    ctx.plane.apply(&stage("smoke-tests", "./smoke", "  dependsOn:\n  - name: apps\n"))?;
    Ok(())
}

/// A Kustomization stage `apps` applies the HelmRelease and health-checks it (`wait: true`); a
/// stage `smoke-tests` depends on it. The hook fails: the chain goes from `smoke-tests` through
/// `apps` into the HelmRelease, down to the hook's pod.
fn kustomization_applying_a_failing_helm_release(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-helm-ks";
    publish_chart(ctx, ns, "1.2.0", Some(3))?;
    apps_and_smoke_tests(ctx, ns, "  retryInterval: 20s\n  timeout: 1m\n")?;
    let report = ctx.wait_status(ns, "apps to fail its health check on the HelmRelease", SETTLE, |r| {
        crate::state_of(r, "apps") == "Failed" && crate::state_of(r, "smoke-tests") == "Blocked"
    })?;
    let cause = cause_through_apps(&report, ns)?;
    check(cause["kind"] == "Pod" && cause["exitCode"] == 3, || format!("root cause: {cause}"))?;
    let apps = stage_of_kind(&report, "Kustomization", "apps");
    let health = apps["ready"]["message"].as_str().unwrap_or_default();
    check(health.contains(&format!("[HelmRelease/{ns}/my-app status: 'Failed']")), || {
        format!("kustomize-controller's message: {health}")
    })?;
    let out = ctx.plugin(&["status", "-n", ns])?;
    check(
        out.stdout
            .contains("smoke-tests <- apps <- HelmRelease/my-app <- Job/my-app-db-migrate <- Pod/my-app-db-migrate-"),
        || format!("table:\n{}", out.stdout),
    )
}

/// A good release 1.2.0 (its hook completes), then 1.3.0 whose pre-upgrade hook exits 3: Failed
/// with helm-controller's upgrade message, the root cause the new hook Job's pod.
fn failing_pre_upgrade_hook(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-helm-upgrade";
    publish_chart(ctx, ns, "1.2.0", None)?;
    ctx.plane.apply(&helm_release(ns))?;
    ctx.wait_status(ns, "release 1.2.0 to be Ready", SETTLE, |r| {
        stage_of_kind(r, "HelmRelease", "my-app")["state"] == "Ready"
    })?;
    publish_chart(ctx, ns, "1.3.0", Some(3))?;
    let report = ctx.wait_status(ns, "the upgrade to fail on its hook", SETTLE, |r| {
        let hr = stage_of_kind(r, "HelmRelease", "my-app");
        hr["state"] == "Failed" && hr["rootCause"]["kind"] == "Pod"
    })?;
    let hr = stage_of_kind(&report, "HelmRelease", "my-app");
    let ready = hr["ready"]["message"].as_str().unwrap_or_default();
    check(
        ready.starts_with(&format!("Helm upgrade failed for release {ns}/my-app with chart my-app@1.3.0+"))
            && ready.contains("pre-upgrade hooks failed")
            && ready.contains(&format!("[Job/{ns}/my-app-db-migrate status: 'Failed']")),
        || format!("helm-controller's message: {ready}"),
    )?;
    let cause = &hr["rootCause"];
    check(cause["exitCode"] == 3 && cause["via"][0] == format!("Job/{ns}/my-app-db-migrate"), || {
        format!("root cause: {cause}")
    })?;
    let images = &hr["jobs"][0]["images"];
    check(images[0] == "registry.example.invalid/shop/app:1.3.0", || format!("the new hook Job: {images}"))
}
