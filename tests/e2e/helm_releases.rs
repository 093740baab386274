//! HelmReleases on the real helm-controller: pre/post-deploy Jobs run as Helm hooks, their
//! failures followed from the HelmRelease down to the hook Job's pod.

use crate::harness::Result;
use crate::scenarios::{SETTLE, Scenario};
use crate::{Ctx, check, stage_of_kind};

pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        ("a_failing_pre_install_hook_is_the_root_cause_of_its_helm_release", failing_pre_install_hook),
        (
            "a_kustomization_applying_a_failing_helm_release_leads_into_it",
            kustomization_applying_a_failing_helm_release,
        ),
        ("a_failing_pre_upgrade_hook_after_a_good_release_is_the_root_cause", failing_pre_upgrade_hook),
    ]
}

/// A chart of one release: a ConfigMap and a hook Job `NAME-db-migrate`.
struct Chart<'a> {
    name: &'a str,
    version: &'a str,
    /// `helm.sh/hook` of the Job.
    hook: &'a str,
    /// `helm.sh/hook-delete-policy`, when set.
    delete_policy: Option<&'a str>,
    /// The pod exits with this code (kwok stage `pod-exit-code`); `None`: it completes.
    exit_code: Option<u8>,
    /// Node pool (label `fluxjobs.test/pool`) the hook runs in, the flaky node included.
    pool: Option<&'a str>,
}

impl<'a> Chart<'a> {
    fn new(version: &'a str, exit_code: Option<u8>) -> Self {
        Chart { name: "my-app", version, hook: "pre-install,pre-upgrade", delete_policy: None, exit_code, pool: None }
    }

    /// Namespace `ns` with the chart published as OCIRepository NAME.
    fn publish(&self, ctx: &Ctx, ns: &str) -> Result<String> {
        let (name, version) = (self.name, self.version);
        ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
        let chart = format!("apiVersion: v2\nname: {name}\nversion: {version}\n");
        let labels = match self.exit_code {
            Some(code) => format!("    metadata:\n      labels:\n        fluxjobs.test/exit-code: \"{code}\"\n"),
            None => String::new(),
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
        let files = [("Chart.yaml", chart), ("templates/configmap.yaml", config), ("templates/db-migrate.yaml", hook)];
        let files: Vec<(&str, &str)> = files.iter().map(|(path, text)| (*path, text.as_str())).collect();
        ctx.plane.publish_chart(ns, name, name, version, &files)
    }
}

/// Namespace `ns` with chart `my-app` at `version` published as OCIRepository `my-app`, its hook
/// `pre-install,pre-upgrade` exiting with `exit_code`, or completing.
fn publish_chart(ctx: &Ctx, ns: &str, version: &str, exit_code: Option<u8>) -> Result<String> {
    Chart::new(version, exit_code).publish(ctx, ns)
}

fn helm_release(ns: &str) -> String {
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
    let report = ctx.wait_status(ns, "the HelmRelease to fail on its hook", SETTLE, |r| {
        stage_of_kind(r, "HelmRelease", "my-app")["state"] == "Failed"
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
    check(hint.contains(&format!("flux reconcile helmrelease my-app -n {ns} --force")), || format!("hint: {hint}"))?;
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

/// A Kustomization stage `apps` applies the HelmRelease and health-checks it (`wait: true`); a
/// stage `smoke-tests` depends on it. The hook fails: the chain goes from `smoke-tests` through
/// `apps` into the HelmRelease, down to the hook's pod.
fn kustomization_applying_a_failing_helm_release(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-helm-ks";
    publish_chart(ctx, ns, "1.2.0", Some(3))?;
    let smoke = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: smoke\ndata:\n  ok: \"true\"\n";
    let release = helm_release(ns);
    ctx.plane.publish(ns, "app", &[("apps/helmrelease.yaml", &release), ("smoke/configmap.yaml", smoke)])?;
    let stage = |name: &str, path: &str, deps: &str| {
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{deps}  sourceRef:\n    kind: GitRepository\n    name: app\n  path: {path}\n  targetNamespace: {ns}\n  interval: 60m\n  retryInterval: 20s\n  timeout: 1m\n  prune: true\n  wait: true\n"
        )
    };
    ctx.plane.apply(&stage("apps", "./apps", ""))?;
    ctx.plane.apply(&stage("smoke-tests", "./smoke", "  dependsOn:\n  - name: apps\n"))?;
    let report = ctx.wait_status(ns, "apps to fail its health check on the HelmRelease", SETTLE, |r| {
        crate::state_of(r, "apps") == "Failed" && crate::state_of(r, "smoke-tests") == "Blocked"
    })?;
    let smoke = stage_of_kind(&report, "Kustomization", "smoke-tests");
    let path = &smoke["path"];
    let expected =
        serde_json::json!([format!("{ns}/smoke-tests"), format!("{ns}/apps"), format!("HelmRelease/{ns}/my-app")]);
    check(*path == expected, || format!("path: {path}"))?;
    let cause = &smoke["rootCause"];
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
