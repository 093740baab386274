//! `rerun` when the cluster says no, or nobody answers: each scenario asserts what the user sees
//! (the exact line, the exit code) and that the Job is never lost: it keeps its uid when refused,
//! or the restore command printed brings it back.

use std::path::Path;
use std::time::Duration;

use crate::fault_proxy::FaultProxy;
use crate::fixtures::Pipeline;
use crate::harness::{self, Result};
use crate::scenarios::{SETTLE, Scenario, uid_of_job};
use crate::watching::Watching;
use crate::{Ctx, Output, check, stage, state_of};

pub(crate) fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        ("rerun_without_permission_to_patch_is_refused_before_any_write", refused_without_permission_to_patch),
        ("rerun_denied_by_an_admission_policy_is_refused_before_any_write", refused_by_an_admission_policy),
        ("rerun_nobody_recreates_prints_a_restore_that_works", nobody_recreates_the_job),
        ("rerun_of_a_job_held_by_a_finalizer_says_it_is_terminating", job_held_by_a_finalizer),
        ("concurrent_reruns_delete_the_job_once", concurrent_reruns_delete_once),
        ("throttled_status_and_rerun_retry_until_they_succeed", throttled_by_api_priority_and_fairness),
        ("rerun_across_an_api_server_outage", rerun_across_an_api_server_outage),
        ("forced_rerun_during_the_health_check_is_followed_by_it", forced_rerun_during_the_health_check),
        ("watch_goes_on_across_an_api_server_outage", watch_across_an_api_server_outage),
        ("watch_streams_cut_on_a_healthy_server_print_nothing", watch_streams_cut_on_a_healthy_server_print_nothing),
    ]
}

/// The seed pipeline in `ns`, its pre-deploy stage Ready (its migration Job Complete).
fn pre_deploy_done(ctx: &Ctx, ns: &str) -> Result<()> {
    Pipeline::seed(ns).install(&ctx.plane)?;
    ctx.wait_status(ns, "the pre-deploy stage to be Ready", SETTLE, |r| state_of(r, "app-pre-deploy") == "Ready")?;
    Ok(())
}

fn no_backup_in(dir: &Path) -> Result<()> {
    let saved = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    check(saved == 0, || format!("a backup was written to {} although nothing was to change", dir.display()))
}

/// A kubeconfig of a user who may read Kustomizations and read and delete Jobs in `ns`, but not
/// patch Kustomizations (which a rerun needs): a Role and RoleBinding named `name`.
pub(crate) fn user_without_patch(ctx: &Ctx, ns: &str, name: &str) -> Result<std::path::PathBuf> {
    ctx.plane.apply(&format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {name}\n  namespace: {ns}\nrules:\n\
         - apiGroups: [kustomize.toolkit.fluxcd.io]\n  resources: [kustomizations]\n  verbs: [get, list, watch]\n\
         - apiGroups: [batch]\n  resources: [jobs]\n  verbs: [get, list, watch, delete]\n\
         ---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {name}\n  namespace: {ns}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {name}}}\n\
         subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: fluxjobs-e2e-viewer}}]\n"
    ))?;
    let kubeconfig = crate::kubeconfig_path(ctx, &format!("{name}.kubeconfig"));
    ctx.plane.write_kubeconfig(&kubeconfig, "fluxjobs-e2e-viewer", "viewer")?;
    Ok(kubeconfig)
}

/// A user who may delete Jobs but not patch Kustomizations: refused before the delete, in one line
/// naming the verb, the resource and the namespace; `--dry-run` says the same.
fn refused_without_permission_to_patch(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-safety-rbac";
    pre_deploy_done(ctx, ns)?;
    let kubeconfig = user_without_patch(ctx, ns, "rerun-without-patch")?;
    let uid = uid_of_job(ctx, ns, "db-migration")?;
    let backups = ctx.plane.dir.join("backups-safety-rbac");
    let expected = format!(
        "error: refusing to rerun, nothing was changed: forbidden: cannot patch kustomizations.kustomize.toolkit.fluxcd.io \"app-pre-deploy\" in namespace \"{ns}\""
    );
    for dry_run in [false, true] {
        let mut args = vec!["rerun", "job/db-migration", "-n", ns, "--yes", "--backup-dir", backups.to_str().unwrap()];
        if dry_run {
            args.push("--dry-run");
        }
        let out = ctx.plugin_with(&kubeconfig, &args)?;
        let last = out.stderr.lines().last().unwrap_or_default();
        check(out.code == 1 && last.starts_with(&expected) && out.stdout.is_empty(), || {
            format!("dry run {dry_run}: exit {}, expected a line starting {expected:?}:\n{}", out.code, out.stderr)
        })?;
        check(!out.stderr.contains("deleted Job") && !out.stderr.contains("saved "), || {
            format!("something was changed before the refusal:\n{}", out.stderr)
        })?;
    }
    check(uid_of_job(ctx, ns, "db-migration")? == uid, || "the Job was deleted although the rerun was refused".into())?;
    no_backup_in(&backups)
}

/// A ValidatingAdmissionPolicy (built into kube-apiserver, no webhook) denying Job deletes in the
/// namespace: the server-side dry run meets it, so nothing is deleted, and the policy's message is
/// shown.
fn refused_by_an_admission_policy(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-safety-vap";
    pre_deploy_done(ctx, ns)?;
    let policy = "fluxjobs-e2e-keep-jobs";
    let message = "Jobs in this namespace are kept for audit; ask the platform team";
    ctx.plane.apply(&format!(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: {policy}\nspec:\n\
         \x20 failurePolicy: Fail\n  matchConstraints:\n    resourceRules:\n    - apiGroups: [batch]\n      apiVersions: [v1]\n\
         \x20     operations: [DELETE]\n      resources: [jobs]\n  validations:\n  - expression: \"false\"\n    message: \"{message}\"\n\
         ---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata:\n  name: {policy}\nspec:\n\
         \x20 policyName: {policy}\n  validationActions: [Deny]\n  matchResources:\n    namespaceSelector:\n\
         \x20     matchLabels: {{kubernetes.io/metadata.name: {ns}}}\n"
    ))?;
    // The API server loads policies asynchronously: wait until it enforces this one.
    harness::wait_until("the admission policy to be enforced", Duration::from_secs(60), || {
        Ok(ctx.plane.kubectl(&["-n", ns, "delete", "job", "db-migration", "--dry-run=server"]).is_err())
    })?;
    let uid = uid_of_job(ctx, ns, "db-migration")?;
    let backups = ctx.plane.dir.join("backups-safety-vap");
    let out =
        ctx.plugin(&["rerun", "job/db-migration", "-n", ns, "--yes", "--backup-dir", backups.to_str().unwrap()])?;
    let last = out.stderr.lines().last().unwrap_or_default();
    let cleanup = ctx.plane.kubectl(&["delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", policy]);
    check(
        out.code == 1
            && last.starts_with("error: refusing to rerun, nothing was changed: ")
            && last.contains(&format!("cannot delete jobs.batch \"db-migration\" in namespace \"{ns}\""))
            && last.contains(message),
        || format!("exit {}:\n{}", out.code, out.stderr),
    )?;
    check(uid_of_job(ctx, ns, "db-migration")? == uid, || "the Job was deleted although admission denies it".into())?;
    no_backup_in(&backups)?;
    cleanup.map(drop)
}

/// Nobody recreates the Job (kustomize-controller does not watch the stage: the harness runs it
/// with `--watch-label-selector=!fluxjobs.test/unwatched`, so for this stage it is as if stopped):
/// rerun says so within its timeout, exits non-zero, and the restore command it prints works.
fn nobody_recreates_the_job(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-safety-unhandled";
    pre_deploy_done(ctx, ns)?;
    ctx.plane.kubectl(&["-n", ns, "label", "kustomization", "app-pre-deploy", "fluxjobs.test/unwatched=true"])?;
    let backups = ctx.plane.dir.join("backups-safety-unhandled");
    let out = ctx.rerun_migration(ns, &backups, &["--timeout", "15s"])?;
    check(out.code == 1 && out.stderr.contains("deleted Job"), || format!("exit {}:\n{}", out.code, out.stderr))?;
    check(
        out.stderr.contains(&format!(
            "error: kustomize-controller did not recreate Job {ns}/db-migration nor handle the reconcile request of {ns}/app-pre-deploy within 15s"
        )),
        || format!("no clear line about the missing Job:\n{}", out.stderr),
    )?;
    restore_as_printed(ctx, ns, &out)
}

/// A Job a finalizer holds: the API server accepts the delete but the Job stays, terminating. rerun
/// says exactly that, once (not that it was deleted), and how to restore once it is gone.
fn job_held_by_a_finalizer(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-safety-finalizer";
    pre_deploy_done(ctx, ns)?;
    let hold = r#"{"metadata":{"finalizers":["fluxjobs.test/hold"]}}"#;
    ctx.plane.kubectl(&["-n", ns, "patch", "job", "db-migration", "--type=merge", "-p", hold])?;
    let backups = ctx.plane.dir.join("backups-safety-finalizer");
    let out = ctx.rerun_migration(ns, &backups, &["--timeout", "3s"])?;
    let release = r#"{"metadata":{"finalizers":null}}"#;
    ctx.plane.kubectl(&["-n", ns, "patch", "job", "db-migration", "--type=merge", "-p", release])?;
    check(out.code == 1, || format!("exit {}:\n{}", out.code, out.stderr))?;
    let still = format!("error: Job {ns}/db-migration is still terminating 3.0s after its delete was accepted");
    check(out.stderr.contains(&still), || format!("no terminating line:\n{}", out.stderr))?;
    check(out.stderr.contains("The delete was accepted but the Job is still terminating"), || out.stderr.clone())?;
    check(!out.stderr.contains("The Job was deleted"), || format!("two accounts:\n{}", out.stderr))
}

/// Runs the restore command rerun printed, on a Job that is missing, and checks it is back.
fn restore_as_printed(ctx: &Ctx, ns: &str, out: &Output) -> Result<()> {
    let restore = out
        .stderr
        .split("restore it with: kubectl create -f ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or_else(|| format!("no restore command:\n{}", out.stderr))?;
    check(uid_of_job(ctx, ns, "db-migration").is_err(), || "the Job exists although nothing recreated it".into())?;
    ctx.plane.kubectl(&["create", "-f", restore])?;
    check(uid_of_job(ctx, ns, "db-migration").is_ok(), || {
        "the printed restore command did not bring the Job back".into()
    })
}

/// Two reruns of one Job at once: the uid precondition lets exactly one delete happen; the other
/// finds the Job gone or replaced and follows; the Job exists again at the end.
fn concurrent_reruns_delete_once(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-safety-concurrent";
    pre_deploy_done(ctx, ns)?;
    let old = uid_of_job(ctx, ns, "db-migration")?;
    let backup_dirs: Vec<_> = (0..2).map(|i| ctx.plane.dir.join(format!("backups-safety-concurrent-{i}"))).collect();
    // Each rerun is its own process, started together.
    let outputs = std::thread::scope(|scope| {
        let handles: Vec<_> = backup_dirs
            .iter()
            .map(|backups| {
                scope.spawn(move || {
                    ctx.plugin(&[
                        "rerun",
                        "job/db-migration",
                        "-n",
                        ns,
                        "--yes",
                        "--timeout",
                        "90s",
                        "--backup-dir",
                        backups.to_str().unwrap(),
                    ])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("rerun thread")).collect::<Vec<_>>()
    });
    let outputs = outputs.into_iter().collect::<Result<Vec<_>>>()?;
    let transcript: String = outputs.iter().map(|o| format!("--- exit {}\n{}", o.code, o.stderr)).collect();
    let deletes = outputs.iter().filter(|o| o.stderr.contains(&format!("deleted Job {ns}/db-migration"))).count();
    check(deletes == 1, || format!("{deletes} deletes:\n{transcript}"))?;
    check(outputs.iter().any(|o| o.code == 0), || format!("no rerun succeeded:\n{transcript}"))?;
    for o in outputs.iter().filter(|o| o.code != 0) {
        let last = o.stderr.lines().last().unwrap_or_default();
        check(last.contains("not found") || last.contains("refusing"), || format!("unclear failure:\n{transcript}"))?;
    }
    harness::wait_until("the Job to exist again", Duration::from_secs(60), || {
        Ok(uid_of_job(ctx, ns, "db-migration").is_ok_and(|uid| !uid.is_empty() && uid != old))
    })
}

/// API Priority and Fairness: a FlowSchema sends the user's requests to a priority level of a few
/// seats that rejects (429) what does not fit. `status` runs at once (each makes nine LISTs at
/// once), then `rerun --dry-run` runs, are rejected in part; they retry and all succeed, and the
/// API server's own counter shows the rejections happened.
fn throttled_by_api_priority_and_fairness(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-safety-apf";
    let user = "fluxjobs-e2e-throttled";
    Pipeline::seed(ns).install(&ctx.plane)?;
    ctx.plane.apply(&format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: status-reader\n  namespace: {ns}\nrules:\n\
         - apiGroups: [kustomize.toolkit.fluxcd.io, source.toolkit.fluxcd.io, batch, apps, '']\n  resources: ['*']\n  verbs: [get, list, watch, patch, delete]\n\
         ---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: status-reader\n  namespace: {ns}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: status-reader}}\n\
         subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: {user}}}]\n"
    ))?;
    let kubeconfig = crate::kubeconfig_path(ctx, "throttled.kubeconfig");
    ctx.plane.write_kubeconfig(&kubeconfig, user, "throttled")?;
    let flow_schema = "fluxjobs-e2e-throttled";
    ctx.plane.apply(&format!(
        "apiVersion: flowcontrol.apiserver.k8s.io/v1\nkind: PriorityLevelConfiguration\nmetadata:\n  name: fluxjobs-e2e-tiny\nspec:\n\
         \x20 type: Limited\n  limited:\n    nominalConcurrencyShares: 1\n    lendablePercent: 0\n    borrowingLimitPercent: 0\n\
         \x20   limitResponse: {{type: Reject}}\n\
         ---\napiVersion: flowcontrol.apiserver.k8s.io/v1\nkind: FlowSchema\nmetadata:\n  name: {flow_schema}\nspec:\n\
         \x20 priorityLevelConfiguration: {{name: fluxjobs-e2e-tiny}}\n  matchingPrecedence: 100\n  distinguisherMethod: {{type: ByUser}}\n\
         \x20 rules:\n  - subjects: [{{kind: User, user: {{name: {user}}}}}]\n\
         \x20   resourceRules: [{{verbs: ['*'], apiGroups: ['*'], resources: ['*'], clusterScope: true, namespaces: ['*']}}]\n\
         \x20   nonResourceRules: [{{verbs: ['*'], nonResourceURLs: ['*']}}]\n"
    ))?;
    let rejected = || -> Result<u64> {
        let metrics = ctx.plane.kubectl(&["get", "--raw", "/metrics"])?;
        Ok(metrics
            .lines()
            .filter(|l| l.starts_with("apiserver_flowcontrol_rejected_requests_total{") && l.contains(flow_schema))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64)
    };
    // Rounds of runs at once until the API server has rejected some of their requests (it picks
    // the FlowSchema up within a second or two); every run must succeed all the same.
    let until_rejected = |what: &str, args: &[&str], succeeded: &dyn Fn(&crate::Output) -> bool| -> Result<()> {
        let before = rejected()?;
        let mut outputs = Vec::new();
        harness::poll_until(what, Duration::from_secs(60), Duration::from_secs(1), || {
            outputs.extend(std::thread::scope(|scope| {
                let runs: Vec<_> = (0..4).map(|_| scope.spawn(|| ctx.plugin_with(&kubeconfig, args))).collect();
                runs.into_iter().map(|r| r.join().expect("run thread")).collect::<Vec<_>>()
            }));
            Ok(rejected()? > before)
        })?;
        for out in outputs {
            let out = out?;
            check(succeeded(&out), || format!("throttled: exit {}\n{}\n{}", out.code, out.stdout, out.stderr))?;
        }
        Ok(())
    };
    let status = ["status", "-n", ns, "-o", "json", "--logs", "0", "--request-timeout", "60s"];
    until_rejected("status requests to be rejected (429)", &status, &|out| {
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        out.code == 0 && report["stages"].as_array().is_some_and(|s| s.len() == 3)
    })?;
    // rerun too: its reads, SelfSubjectAccessReviews and dry-run writes.
    ctx.wait_status(ns, "the pre-deploy stage to be Ready", SETTLE, |r| state_of(r, "app-pre-deploy") == "Ready")?;
    let rerun = ["rerun", "job/db-migration", "-n", ns, "--dry-run", "--yes", "--request-timeout", "60s"];
    until_rejected("rerun requests to be rejected (429)", &rerun, &|out| {
        out.code == 0 && out.stderr.contains("all allowed; nothing was changed")
    })?;
    ctx.plane.kubectl(&["delete", "flowschema", flow_schema])?;
    ctx.plane.kubectl(&["delete", "prioritylevelconfiguration", "fluxjobs-e2e-tiny"]).map(drop)
}

/// Runs the plugin, calling `on_line` with each line of its stderr as it is written.
pub(crate) fn plugin_live(kubeconfig: &Path, args: &[&str], mut on_line: impl FnMut(&str)) -> Result<Output> {
    use std::io::{BufRead, Read};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-fluxjobs"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run kubectl-fluxjobs: {e}"))?;
    let mut stderr = String::new();
    for line in std::io::BufReader::new(child.stderr.take().expect("piped")).lines() {
        let line = line.map_err(|e| e.to_string())?;
        on_line(&line);
        stderr.push_str(&line);
        stderr.push('\n');
    }
    let mut stdout = String::new();
    child.stdout.take().expect("piped").read_to_string(&mut stdout).map_err(|e| e.to_string())?;
    let status = child.wait().map_err(|e| e.to_string())?;
    Ok(Output { code: status.code().unwrap_or(-1), stdout, stderr })
}

/// The API server goes away right after the delete (a proxy of ours in front of it resets every
/// connection): back within the retry budget, the rerun completes; gone for good, it fails with
/// the restore command, which brings the Job back.
fn rerun_across_an_api_server_outage(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-safety-outage";
    pre_deploy_done(ctx, ns)?;
    let proxy = FaultProxy::start(ctx.plane.api_server.trim_start_matches("https://"))?;
    let kubeconfig =
        crate::kubeconfig_edited(ctx, "outage.kubeconfig", |t| t.replace(&ctx.plane.api_server, &proxy.url))?;
    let backups = ctx.plane.dir.join("backups-safety-outage");
    let rerun = |request_timeout: &str, on_line: &mut dyn FnMut(&str)| {
        let args =
            ["rerun", "job/db-migration", "-n", ns, "--yes", "--timeout", "90s", "--request-timeout", request_timeout];
        let mut args = args.to_vec();
        args.extend(["--backup-dir", backups.to_str().unwrap()]);
        plugin_live(&kubeconfig, &args, on_line)
    };
    let deleted = format!("deleted Job {ns}/db-migration");

    // Down for 5 s, within the 30 s retry budget.
    let old = uid_of_job(ctx, ns, "db-migration")?;
    let out = rerun("30s", &mut |line| {
        if line.contains(&deleted) {
            proxy.take_down();
            std::thread::sleep(Duration::from_secs(5));
            proxy.restore();
        }
    })?;
    check(out.code == 0 && out.stderr.contains(&format!("Job {ns}/db-migration exists again")), || {
        format!("across a 5 s outage: exit {}:\n{}", out.code, out.stderr)
    })?;
    check(uid_of_job(ctx, ns, "db-migration")? != old, || "the Job was not recreated".into())?;

    // Gone for longer than the retry budget: the exact restore advice, which works.
    ctx.wait_status(ns, "the recreated migration to complete", SETTLE, |r| {
        state_of(r, "app-pre-deploy") == "Ready"
            && stage(r, "app-pre-deploy")["jobs"].as_array().is_some_and(|j| j.iter().all(|j| j["state"] == "Complete"))
    })?;
    let out = rerun("5s", &mut |line| {
        if line.contains(&deleted) {
            proxy.take_down();
        }
    })?;
    proxy.restore();
    check(out.code == 1 && out.stderr.contains("The Job was deleted; restore it with: kubectl create -f "), || {
        format!("a lasting outage: exit {}:\n{}", out.code, out.stderr)
    })?;
    restore_as_printed(ctx, ns, &out)
}

/// A node of `pool`, tainted so that only the pool's pods (which tolerate the taint) land on it.
fn pool_node(name: &str, pool: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  annotations:\n    kwok.x-k8s.io/node: fake\n  labels:\n\
         \x20   kubernetes.io/hostname: {name}\n    kubernetes.io/os: linux\n    fluxjobs.test/pool: {pool}\nspec:\n  taints:\n\
         \x20 - key: fluxjobs.test/flaky\n    value: \"true\"\n    effect: NoSchedule\nstatus:\n\
         \x20 allocatable: {{cpu: \"32\", memory: 256Gi, pods: \"110\"}}\n  capacity: {{cpu: \"32\", memory: 256Gi, pods: \"110\"}}\n"
    )
}

/// `rerun --force` of a Job that never finishes (its pod sits on a stuck node) while
/// kustomize-controller runs the stage's health check: rerun recreates the Job from its live spec
/// itself, the running check follows the new Job (now on a healthy node) and the stage ends Ready.
fn forced_rerun_during_the_health_check(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-safety-force";
    ctx.plane.apply(&pool_node("kwok-node-stuck", ns))?;
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_pool = Some(ns.into());
    // The health check must still be running when rerun comes: well over this test's length.
    pipeline.timeout = "10m".into();
    pipeline.install(&ctx.plane)?;
    harness::wait_until("kustomize-controller to run the health check", SETTLE, || {
        let message = ctx.plane.kubectl(&[
            "-n",
            ns,
            "get",
            "kustomization",
            "app-pre-deploy",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Reconciling\")].message}",
        ])?;
        Ok(message.starts_with("Running health checks"))
    })?;
    ctx.wait_status(ns, "the migration to run", SETTLE, |r| {
        stage(r, "app-pre-deploy")["jobs"][0]["state"] == "Running"
    })?;
    // The fix: take the stuck node out of service and give the pool a healthy one.
    ctx.plane.kubectl(&["cordon", "kwok-node-stuck"])?;
    ctx.plane.apply(&pool_node("kwok-node-healthy", ns))?;
    let old = uid_of_job(ctx, ns, "db-migration")?;
    let backups = ctx.plane.dir.join("backups-safety-force");
    let out = ctx.rerun_migration(ns, &backups, &["--force", "--wait", "--timeout", "3m"])?;
    check(out.code == 0, || format!("rerun --force exited {}:\n{}", out.code, out.stderr))?;
    for expected in [
        "recreate it from its live spec (kustomize-controller is running a health check of",
        &format!("recreated Job {ns}/db-migration from its live spec"),
        "Complete",
        &format!("stage {ns}/app-pre-deploy Ready"),
    ] {
        check(out.stderr.contains(expected), || format!("rerun output lacks {expected:?}:\n{}", out.stderr))?;
    }
    check(uid_of_job(ctx, ns, "db-migration")? != old, || "the Job was not recreated".into())
}

/// The seed pipeline's pre-deploy stage Ready in `ns`, and `status --watch` on it through a fault
/// proxy of our own, past its first document.
fn watching_through_a_proxy(ctx: &Ctx, ns: &str) -> Result<(FaultProxy, Watching)> {
    pre_deploy_done(ctx, ns)?;
    let proxy = FaultProxy::start(ctx.plane.api_server.trim_start_matches("https://"))?;
    let file = format!("{ns}.kubeconfig");
    let kubeconfig = crate::kubeconfig_edited(ctx, &file, |t| t.replace(&ctx.plane.api_server, &proxy.url))?;
    let watching = Watching::start(&kubeconfig, ns)?;
    watching.next(Duration::from_secs(30), "at first")?;
    Ok((proxy, watching))
}

fn suspend_post_deploy(ctx: &Ctx, ns: &str) -> Result<()> {
    let patch = r#"{"spec":{"suspend":true}}"#;
    ctx.plane.kubectl(&["-n", ns, "patch", "kustomization", "app-post-deploy", "--type=merge", "-p", patch]).map(drop)
}

/// The watch shows the change [`suspend_post_deploy`] made, within 90 seconds.
fn shows_post_deploy_suspended(watching: &Watching, when: &str) -> Result<()> {
    let what = format!("{when} showing app-post-deploy Suspended");
    let suspended = |doc: &serde_json::Value| state_of(doc, "app-post-deploy") == "Suspended";
    watching.until(Duration::from_secs(90), &what, |_| Ok(()), suspended).map(drop)
}

/// `status --watch` while the API server goes away for a while and comes back (our proxy resets
/// every connection): one warning line for the outage, once it has not answered for ten seconds,
/// not one per watched kind, and the view follows what changed meanwhile.
fn watch_across_an_api_server_outage(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-safety-watch";
    let (proxy, watching) = watching_through_a_proxy(ctx, ns)?;
    proxy.take_down();
    // Longer than the ten seconds the watch gives the server; meanwhile a stage is suspended.
    std::thread::sleep(Duration::from_secs(10));
    suspend_post_deploy(ctx, ns)?;
    std::thread::sleep(Duration::from_secs(4));
    proxy.restore();
    shows_post_deploy_suspended(&watching, "after the outage")?;
    let lines = watching.stderr();
    let lost: Vec<&String> = lines.iter().filter(|l| l.contains("lost the API server")).collect();
    check(lost.len() == 1 && lines.len() == 1, || {
        format!("expected one line for the outage, got:\n{}", lines.join("\n"))
    })?;
    check(lost[0].starts_with(&format!("warning: lost the API server at {}", proxy.url)), || lost[0].clone())
}

/// A minute of `status --watch` on a healthy API server whose connections are cut every few
/// seconds (as the server's own timeouts, load balancers and proxies do): the watches come back by
/// themselves, nothing is printed on stderr, and a change after the last cut is still shown.
fn watch_streams_cut_on_a_healthy_server_print_nothing(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-safety-watch-cuts";
    let (proxy, watching) = watching_through_a_proxy(ctx, ns)?;
    let mut cuts = 0;
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_secs(6));
        cuts += proxy.cut();
    }
    check(cuts > 0, || "the proxy cut no connection".into())?;
    suspend_post_deploy(ctx, ns)?;
    shows_post_deploy_suspended(&watching, "after the cuts")?;
    let lines = watching.stderr();
    check(lines.is_empty(), || format!("{cuts} cut connections printed:\n{}", lines.join("\n")))
}
