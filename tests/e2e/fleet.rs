//! The fleet: `status` across kube contexts. Besides the main cluster (hub), two workload clusters
//! of their own (API servers over the same etcd under other prefixes): `east` runs Jobs (its own
//! Job controller and kwok) and has a pipeline whose migration exits 3; `west` has a Ready one.
//! Two more contexts cannot be read: one points at a server that is not there, one's user may read
//! nothing in east.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fault_proxy::FaultProxy;
use crate::harness::{Result, free_port, wait_until};
use crate::scenarios::Scenario;
use crate::watching::Watching;
use crate::{Ctx, check};

pub(crate) fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        ("status_across_contexts_shows_each_cluster_and_says_which_could_not_be_read", across_contexts),
        ("a_kustomization_applying_to_another_cluster_names_it_and_is_followed_into_it", hub_and_spoke),
    ]
}

/// The workload clusters, started once for the scenarios that share them.
struct Spokes {
    east: (String, PathBuf),
    west: (String, PathBuf),
}

static SPOKES: std::sync::OnceLock<std::result::Result<Spokes, String>> = std::sync::OnceLock::new();

fn spokes(ctx: &Ctx) -> Result<&'static Spokes> {
    let started = SPOKES.get_or_init(|| {
        Ok(Spokes { east: ctx.plane.start_spoke("east", true)?, west: ctx.plane.start_spoke("west", false)? })
    });
    started.as_ref().map_err(Clone::clone)
}

/// `kubectl fluxjobs` with this kubeconfig and arguments, as the other scenarios run it.
fn fleet_run(ctx: &Ctx, kubeconfig: &std::path::Path, args: &[&str]) -> Result<crate::Output> {
    ctx.plugin_with(kubeconfig, args)
}

fn kustomization(name: &str, depends_on: Option<&str>) -> String {
    let depends = depends_on.map(|d| format!("  dependsOn:\n  - name: {d}\n")).unwrap_or_default();
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  interval: 10m\n  path: ./{name}\n  prune: true\n  wait: true\n  sourceRef:\n    kind: GitRepository\n    name: shop\n{depends}"
    )
}

/// A Ready condition as kustomize-controller writes it.
fn ready(status: &str, reason: &str, message: &str) -> Value {
    json!({"type": "Ready", "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-12-01T10:00:00Z", "observedGeneration": 1})
}

/// The clusters and a kubeconfig with five contexts: hub, east, west (namespace shop, reached
/// through a fault proxy of our own), dead and forbidden.
fn fleet(ctx: &Ctx) -> Result<(PathBuf, FaultProxy)> {
    let plane = &ctx.plane;
    let Spokes { east: (east, east_kubeconfig), west: (west, west_kubeconfig) } = spokes(ctx)?;
    let revision = "main@sha1:5f1c0f2a8e0b4f6a9d3c2b1a0e9f8d7c6b5a4e3d";
    for kubeconfig in [east_kubeconfig, west_kubeconfig] {
        plane.kubectl_stdin_with(
            kubeconfig,
            &["apply", "-f", "-"],
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
        )?;
        plane.kubectl_stdin_with(kubeconfig, &["apply", "-f", "-"], &kustomization("app-pre-deploy", None))?;
    }
    // east: the migration Job runs (and exits 3) on east's own Job controller and node.
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: db-migration\n  namespace: shop\n  labels:\n    kustomize.toolkit.fluxcd.io/name: app-pre-deploy\n    kustomize.toolkit.fluxcd.io/namespace: shop\nspec:\n  backoffLimit: 0\n  template:\n    metadata:\n      labels:\n        fluxjobs.test/exit-code: \"3\"\n    spec:\n      nodeName: kwok-node-0\n      restartPolicy: Never\n      containers:\n      - name: migration\n        image: registry.example.invalid/shop/migrate:1.0.0\n";
    plane.kubectl_stdin_with(east_kubeconfig, &["apply", "-f", "-"], job)?;
    plane.kubectl_stdin_with(
        east_kubeconfig,
        &["apply", "-f", "-"],
        &kustomization("app-deploy", Some("app-pre-deploy")),
    )?;
    let patch = |kubeconfig: &std::path::Path, name: &str, status: Value| {
        let patch = json!({ "status": status }).to_string();
        let args = ["-n", "shop", "patch", "kustomization", name, "--subresource=status", "--type=merge", "-p", &patch];
        plane.kubectl_with(kubeconfig, &args)
    };
    let failed = "health check failed after 30.004s: failed early due to stalled resources: [Job/shop/db-migration status: 'Failed']";
    patch(
        east_kubeconfig,
        "app-pre-deploy",
        json!({
            "observedGeneration": 1, "lastAttemptedRevision": revision,
            "conditions": [ready("False", "HealthCheckFailed", failed)],
            "inventory": {"entries": [{"id": "shop_db-migration_batch_Job", "v": "v1"}]},
        }),
    )?;
    patch(
        east_kubeconfig,
        "app-deploy",
        json!({
            "observedGeneration": 1,
            "conditions": [ready("False", "DependencyNotReady", "dependency 'shop/app-pre-deploy' is not ready")],
        }),
    )?;
    patch(
        west_kubeconfig,
        "app-pre-deploy",
        json!({
            "observedGeneration": 1, "lastAppliedRevision": revision, "lastAttemptedRevision": revision,
            "conditions": [ready("True", "ReconciliationSucceeded", &format!("Applied revision: {revision}"))],
        }),
    )?;
    let pki = plane.dir.join("pki");
    let pki = |f: &str| pki.join(f).display().to_string();
    let dead = format!("https://127.0.0.1:{}", free_port()?);
    let hub = plane.api_server.clone();
    let west_proxy = FaultProxy::start(west.trim_start_matches("https://"))?;
    let cluster = |name: &str, server: &str| {
        format!("- name: {name}\n  cluster:\n    server: {server}\n    certificate-authority: {}\n", pki("ca.crt"))
    };
    let user = |name: &str| {
        format!(
            "- name: {name}\n  user:\n    client-certificate: {}\n    client-key: {}\n",
            pki(&format!("{name}.crt")),
            pki(&format!("{name}.key"))
        )
    };
    let context = |name: &str, cluster: &str, user: &str, ns: &str| {
        format!("- name: {name}\n  context:\n    cluster: {cluster}\n    user: {user}\n    namespace: {ns}\n")
    };
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{}{}{}{}users:\n{}{}contexts:\n{}{}{}{}{}{}current-context: hub\n",
        cluster("hub", &hub),
        cluster("east", east),
        cluster("west", &west_proxy.url),
        cluster("dead", &dead),
        user("admin"),
        user("viewer"),
        context("hub", "hub", "admin", "default"),
        context("east", "east", "admin", "shop"),
        context("west", "west", "admin", "shop"),
        context("dead", "dead", "admin", "shop"),
        context("forbidden", "east", "viewer", "shop"),
        context("east-again", "east", "admin", "shop"),
    );
    let path = plane.dir.join("kubeconfig-fleet");
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok((path, west_proxy))
}

fn across_contexts(ctx: &Ctx) -> Result<()> {
    let (kubeconfig, west_proxy) = fleet(ctx)?;
    // The Job controller and kwok of east run the migration to its failure.
    let mut last = String::new();
    wait_until("east's migration to fail", Duration::from_secs(60), || {
        let out = fleet_run(ctx, &kubeconfig, &["status", "--contexts", "east", "-o", "json", "--logs", "0"])?;
        last = out.stdout.clone();
        let report: Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        Ok(crate::stage(&report, "app-pre-deploy")["jobs"][0]["state"] == "Failed")
    })
    .map_err(|e| format!("{e}\nlast:\n{last}"))?;

    // Every context at once, each in its own namespace (hub: default, the others: shop).
    let all = ["status", "--contexts", "hub,east,west,dead,forbidden", "--logs", "0"];
    let out = fleet_run(ctx, &kubeconfig, &all)?;
    check(out.code == 1, || format!("a context could not be read: exit 1, not {}: {}", out.code, out.stderr))?;
    let warnings: Vec<&str> = out.stderr.lines().collect();
    check(warnings.len() == 2, || format!("one line per unreadable context, nothing else: {warnings:#?}"))?;
    check(
        warnings[0].starts_with("warning: context dead: cannot reach the Kubernetes API server at https://127.0.0.1:"),
        || format!("{warnings:#?}"),
    )?;
    check(warnings[1].starts_with("warning: context forbidden: forbidden: cannot list"), || format!("{warnings:#?}"))?;
    let rows: Vec<&str> = out.stdout.lines().collect();
    check(rows[0].starts_with("CONTEXT   STAGE"), || format!("CONTEXT first:\n{}", out.stdout))?;
    let row = |context: &str, stage: &str| {
        rows.iter().find(|r| r.starts_with(&format!("{context} ")) && r.contains(&format!(" {stage} "))).copied()
    };
    let east_pre = row("east", "app-pre-deploy").unwrap_or_default();
    check(east_pre.contains("Failed") && east_pre.contains("exit code 3 (Error)"), || out.stdout.clone())?;
    check(row("east", "app-deploy").is_some_and(|r| r.contains("Blocked")), || out.stdout.clone())?;
    check(row("west", "app-pre-deploy").is_some_and(|r| r.contains("Ready")), || out.stdout.clone())?;
    check(
        out.stdout.contains("✗ [east] app-deploy <- app-pre-deploy <- Job/db-migration <- Pod/db-migration-"),
        || format!("the chain says its context:\n{}", out.stdout),
    )?;
    check(out.stdout.contains("then kubectl fluxjobs rerun --context east job/db-migration -n shop\n"), || {
        format!("the hint's rerun names the cluster:\n{}", out.stdout)
    })?;

    // JSON: the contexts read and not read; references carry their context.
    let out = fleet_run(ctx, &kubeconfig, &[&all[..], &["-o", "json"]].concat())?;
    let report: Value = serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))?;
    let contexts = report["contexts"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = contexts.iter().filter_map(|c| c["name"].as_str()).collect();
    check(names == ["hub", "east", "west", "dead", "forbidden"], || format!("{names:?}"))?;
    let errors: Vec<bool> = contexts.iter().map(|c| c["error"].is_string()).collect();
    check(errors == [false, false, false, true, true], || format!("{contexts:#?}"))?;
    check(
        contexts[1]["cluster"] == "east" && contexts[1]["server"].as_str().is_some_and(|s| s.starts_with("https://")),
        || format!("{contexts:#?}"),
    )?;
    let deploy = report["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["context"] == "east" && s["name"] == "app-deploy"));
    check(
        deploy.is_some_and(|d| {
            d["dependsOn"][0] == "shop/app-pre-deploy@east" && d["path"][1] == "shop/app-pre-deploy@east"
        }),
        || format!("{deploy:#?}"),
    )?;

    // Two contexts reaching one server are both shown.
    let out = fleet_run(ctx, &kubeconfig, &["status", "--contexts", "east,east-again", "-o", "json", "--logs", "0"])?;
    let report: Value = serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))?;
    let pre: Vec<&str> = report["stages"]
        .as_array()
        .map(|s| s.iter().filter(|s| s["name"] == "app-pre-deploy").filter_map(|s| s["context"].as_str()).collect())
        .unwrap_or_default();
    check(pre == ["east", "east-again"], || format!("{report:#}"))?;

    // The summary: one line per context, unreadable ones included.
    let out = fleet_run(ctx, &kubeconfig, &["status", "--all-contexts", "--summary", "--logs", "0"])?;
    let lines: Vec<&str> = out.stdout.lines().collect();
    check(out.code == 1 && lines.len() == 7, || format!("{}\n{}", out.stdout, out.stderr))?;
    let line = |name: &str| lines.iter().find(|l| l.starts_with(&format!("{name} "))).copied().unwrap_or_default();
    let words = |l: &str| l.split_whitespace().take(7).map(str::to_string).collect::<Vec<_>>();
    check(words(line("east")) == ["east", "1", "0", "0", "0", "0", "1"], || out.stdout.clone())?;
    check(line("east").contains("shop/app-pre-deploy: Pod/db-migration-"), || out.stdout.clone())?;
    check(words(line("west")) == ["west", "1", "1", "0", "0", "0", "0"], || out.stdout.clone())?;
    check(line("dead").contains("unreadable: cannot reach the Kubernetes API server"), || out.stdout.clone())?;
    check(out.stderr.is_empty(), || {
        format!("unreadable contexts are lines of the summary, not warnings: {}", out.stderr)
    })?;

    // Exit statuses: blocked anywhere (3), all well (0), nothing anywhere (4); globs select.
    let code = |args: &[&str]| fleet_run(ctx, &kubeconfig, args).map(|o| o.code);
    check(code(&["status", "--contexts", "e*,w*", "--exit-code", "--logs", "0"])? == 3, || {
        "east is blocked: 3".into()
    })?;
    check(code(&["status", "--contexts", "west", "--exit-code"])? == 0, || "west is Ready: 0".into())?;
    check(code(&["status", "--contexts", "hub,west", "-n", "e2e-fleet-nothing", "--exit-code"])? == 4, || {
        "nothing: 4".into()
    })?;

    // wait in two clusters at once: failed in east (3), with each stage's verdict in its context.
    let out = fleet_run(ctx, &kubeconfig, &["wait", "--contexts", "east,west", "--timeout", "1m", "-o", "json"])?;
    let doc: Value = serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))?;
    check(out.code == 3 && doc["ending"] == "Failed", || format!("wait: exit {}: {doc:#}\n{}", out.code, out.stderr))?;
    let outcome = |stage: &str| {
        let stages = doc["stages"].as_array().cloned().unwrap_or_default();
        stages.iter().find(|s| s["stage"] == stage).map(|s| s["outcome"].as_str().unwrap_or_default().to_string())
    };
    check(outcome("shop/app-pre-deploy@east").as_deref() == Some("Failed"), || format!("{doc:#}"))?;
    check(outcome("shop/app-pre-deploy@west").as_deref() == Some("Done"), || format!("{doc:#}"))?;
    check(out.stderr.contains("shop/app-pre-deploy@east: Failed"), || {
        format!("the timeline names the context: {}", out.stderr)
    })?;
    check(code(&["wait", "--contexts", "west", "--timeout", "1m"])? == 0, || "wait: west is done: 0".into())?;
    // A cluster that cannot be read is no verdict: exit 1 (as status), though west is done.
    let out = fleet_run(ctx, &kubeconfig, &["wait", "--contexts", "west,dead", "--timeout", "1m"])?;
    check(out.code == 1 && out.stderr.contains("warning: context dead: cannot reach"), || {
        format!("wait with an unreadable context: exit {}: {}", out.code, out.stderr)
    })?;

    // One frame of east and west, redrawn when either changes; the dead cluster is one line, and so
    // is an outage of west, during which east still shows its changes.
    let watching = Watching::start_args(
        &kubeconfig,
        &["status", "--contexts", "east,west,dead", "--watch", "-o", "json", "--logs", "0"],
    )?;
    let west_state = |doc: &Value| {
        let stages = doc["stages"].as_array().cloned().unwrap_or_default();
        stages.iter().find(|s| s["context"] == "west").and_then(|s| s["state"].as_str().map(str::to_string))
    };
    watching.until(
        Duration::from_secs(30),
        "with west Ready",
        |_| Ok(()),
        |doc| west_state(doc).as_deref() == Some("Ready"),
    )?;
    west_proxy.take_down();
    // Longer than the ten seconds a watch gives a server before it says it is lost.
    std::thread::sleep(Duration::from_secs(12));
    let east_kubeconfig = ctx.plane.dir.join("kubeconfig-east");
    let during = "dependency 'shop/app-pre-deploy' is not ready (while west is away)";
    let patch = json!({"status": {"conditions": [ready("False", "DependencyNotReady", during)]}});
    ctx.plane.kubectl_with(
        &east_kubeconfig,
        &[
            "-n",
            "shop",
            "patch",
            "kustomization",
            "app-deploy",
            "--subresource=status",
            "--type=merge",
            "-p",
            &patch.to_string(),
        ],
    )?;
    let east_message = |doc: &Value| {
        let stages = doc["stages"].as_array().cloned().unwrap_or_default();
        stages.iter().any(|s| s["context"] == "east" && s["ready"]["message"] == during)
    };
    watching.until(Duration::from_secs(30), "with east's change while west is away", |_| Ok(()), east_message)?;
    west_proxy.restore();
    let west_kubeconfig = ctx.plane.dir.join("kubeconfig-west");
    let patch = json!({"status": {"conditions": [ready("False", "ReconciliationFailed", "kustomization path not found: stat /tmp/kustomization-1/west: no such file or directory")]}});
    ctx.plane.kubectl_with(
        &west_kubeconfig,
        &[
            "-n",
            "shop",
            "patch",
            "kustomization",
            "app-pre-deploy",
            "--subresource=status",
            "--type=merge",
            "-p",
            &patch.to_string(),
        ],
    )?;
    let doc = watching.until(
        Duration::from_secs(30),
        "with west Failed",
        |_| Ok(()),
        |doc| west_state(doc).as_deref() == Some("Failed"),
    )?;
    let east_still =
        doc["stages"].as_array().is_some_and(|s| s.iter().any(|s| s["context"] == "east" && s["state"] == "Failed"));
    check(east_still, || format!("east stays in the frame: {doc:#}"))?;
    let lines = watching.stderr();
    let said: Vec<&String> = lines.iter().filter(|l| l.contains("context dead")).collect();
    check(said.len() == 1, || format!("the dead cluster is one line: {lines:#?}"))?;
    let lost = format!("warning: context west: lost the API server at {}", west_proxy.url);
    let outage: Vec<&String> = lines.iter().filter(|l| l.contains("context west")).collect();
    check(outage.len() == 1 && outage[0].starts_with(&lost) && lines.len() == 2, || {
        format!("west's outage is one line: {lines:#?}")
    })?;
    Ok(())
}

/// A kubeconfig Secret for east as Flux wants it: everything inline.
fn inline_kubeconfig(ctx: &Ctx, server: &str, user: &str) -> Result<String> {
    let pki = ctx.plane.dir.join("pki");
    let data = |file: &str| -> Result<String> {
        let bytes = std::fs::read(pki.join(file)).map_err(|e| e.to_string())?;
        let out = std::process::Command::new("base64")
            .arg("-w0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn();
        let mut child = out.map_err(|e| e.to_string())?;
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), &bytes).map_err(|e| e.to_string())?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    Ok(format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: spoke\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\n\
         users:\n- name: flux\n  user:\n{user}\ncontexts:\n- name: spoke\n  context:\n    cluster: spoke\n    user: flux\ncurrent-context: spoke\n",
        data("ca.crt")?
    )
    .replace("{admin-certificate}", &data("admin.crt")?)
    .replace("{admin-key}", &data("admin.key")?))
}

fn secret(ns: &str, name: &str, kubeconfig: &str) -> String {
    let indented = kubeconfig.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n");
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\nstringData:\n  value: |\n{indented}\n"
    )
}

/// The real kustomize-controller in the hub applies a migration Job to east through
/// `spec.kubeConfig`; it fails there. Without --follow-kubeconfig the stage names the other
/// cluster (never "missing"); with it, the pod's exit code in east. Kubeconfigs that would run a
/// command here, or reach a server only the cluster can, are one line each; workload identity is
/// said to be unsupported.
fn hub_and_spoke(ctx: &Ctx) -> Result<()> {
    let Spokes { east: (east, _), .. } = spokes(ctx)?;
    let ns = "e2e-hub-spoke";
    let plane = &ctx.plane;
    plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    let admin = "    client-certificate-data: {admin-certificate}\n    client-key-data: {admin-key}";
    plane.apply(&secret(ns, "east-kubeconfig", &inline_kubeconfig(ctx, east, admin)?))?;
    let marker = plane.dir.join("exec-plugin-ran");
    let exec = format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [\"-c\", \"touch {}\"]",
        marker.display()
    );
    plane.apply(&secret(ns, "exec-kubeconfig", &inline_kubeconfig(ctx, east, &exec)?))?;
    plane.apply(&secret(
        ns,
        "incluster-kubeconfig",
        &inline_kubeconfig(ctx, "https://kubernetes.default.svc:443", "    token: abc")?,
    ))?;
    let job = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: remote-shop\n---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: db-migration\n  namespace: remote-shop\nspec:\n  backoffLimit: 0\n  template:\n    metadata:\n      labels:\n        fluxjobs.test/exit-code: \"3\"\n    spec:\n      nodeName: kwok-node-0\n      restartPolicy: Never\n      containers:\n      - name: migration\n        image: registry.example.invalid/shop/migrate:1.0.0\n";
    plane.publish(ns, "app", &[("pre-deploy/job.yaml", job)])?;
    let stage = |name: &str, kube_config: &str, unwatched: bool| {
        let labels = if unwatched { "  labels:\n    fluxjobs.test/unwatched: \"true\"\n" } else { "" };
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: {ns}\n{labels}spec:\n  interval: 10m\n  path: ./pre-deploy\n  prune: true\n  wait: true\n  timeout: 2m\n  sourceRef:\n    kind: GitRepository\n    name: app\n  kubeConfig:\n{kube_config}\n"
        )
    };
    plane.apply(&stage("app-pre-deploy", "    secretRef:\n      name: east-kubeconfig", false))?;
    // Stages no controller reconciles, their status as kustomize-controller writes a failed health check.
    let failed = json!({"observedGeneration": 1,
        "conditions": [ready("False", "HealthCheckFailed", "health check failed after 30.004s: failed early due to stalled resources: [Job/remote-shop/db-migration status: 'Failed']")],
        "inventory": {"entries": [{"id": "remote-shop_db-migration_batch_Job", "v": "v1"}]}});
    for (name, kube_config) in [
        ("exec-stage", "    secretRef:\n      name: exec-kubeconfig"),
        ("incluster-stage", "    secretRef:\n      name: incluster-kubeconfig"),
        ("identity-stage", "    configMapRef:\n      name: east-identity"),
    ] {
        plane.apply(&stage(name, kube_config, true))?;
        plane.patch_status(ns, "kustomization", name, &failed)?;
    }
    let report =
        ctx.wait_status(ns, "app-pre-deploy to fail its health check in east", Duration::from_secs(120), |r| {
            crate::stage(r, "app-pre-deploy")["ready"]["reason"] == "HealthCheckFailed"
        })?;
    let pre = crate::stage(&report, "app-pre-deploy");
    check(
        pre["rootCause"]["reason"] == "RemoteCluster" && pre["jobs"].as_array().is_some_and(|j| j.is_empty()),
        || format!("{pre:#}"),
    )?;
    check(pre["remote"]["secret"] == format!("{ns}/east-kubeconfig") && pre["remote"]["followed"] == false, || {
        format!("{pre:#}")
    })?;
    check(pre["hint"].as_str().is_some_and(|h| h.contains("--follow-kubeconfig")), || format!("{pre:#}"))?;
    let table = ctx.plugin(&["status", "-n", ns, "--logs", "0"])?;
    let row = table.stdout.lines().find(|l| l.starts_with("app-pre-deploy ")).unwrap_or_default().to_string();
    check(row.contains(" remote ") && !row.contains("missing"), || table.stdout.clone())?;
    check(
        row.contains(&format!("HealthCheckFailed in another cluster (kubeConfig Secret {ns}/east-kubeconfig)")),
        || table.stdout.clone(),
    )?;

    // Followed: east's pod and its exit code; one line for each kubeconfig that cannot be used.
    let out = ctx.plugin(&["status", "-n", ns, "--follow-kubeconfig", "-o", "json", "--logs", "0"])?;
    check(out.code == 0, || format!("{}\n{}", out.stdout, out.stderr))?;
    let report: Value = serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))?;
    let cause = &crate::stage(&report, "app-pre-deploy")["rootCause"];
    check(cause["kind"] == "Pod" && cause["exitCode"] == 3 && cause["cluster"] == east.as_str(), || {
        format!("{report:#}")
    })?;
    check(crate::stage(&report, "app-pre-deploy")["remote"]["followed"] == true, || format!("{report:#}"))?;
    let warnings: Vec<&str> = out.stderr.lines().collect();
    check(warnings.len() == 2, || format!("one line per unusable kubeconfig: {warnings:#?}"))?;
    check(
        warnings.iter().any(|w| {
            w.contains(&format!(
                "kubeConfig Secret {ns}/exec-kubeconfig: refusing to run the exec credential plugin \"/bin/sh\""
            ))
        }),
        || format!("{warnings:#?}"),
    )?;
    check(
        warnings.iter().any(|w| w.contains(&format!("cannot read the cluster at https://kubernetes.default.svc:443 of kubeConfig Secret {ns}/incluster-kubeconfig: cannot reach"))),
        || format!("{warnings:#?}"),
    )?;
    check(!marker.exists(), || "the exec plugin of a kubeconfig from the cluster ran here".into())?;
    let exec = crate::stage(&report, "exec-stage");
    check(
        exec["rootCause"]["reason"] == "RemoteCluster"
            && exec["hint"].as_str().is_some_and(|h| h.contains("refusing to run")),
        || format!("{exec:#}"),
    )?;
    let identity = crate::stage(&report, "identity-stage");
    check(
        identity["hint"].as_str().is_some_and(|h| h.contains("does not support spec.kubeConfig.configMapRef")),
        || format!("{identity:#}"),
    )?;
    let table = ctx.plugin(&["status", "-n", ns, "--follow-kubeconfig", "--logs", "0"])?;
    check(
        table.stdout.contains(&format!(
            "✗ app-pre-deploy <- cluster {east} <- Job/remote-shop/db-migration <- Pod/remote-shop/db-migration-"
        )),
        || table.stdout.clone(),
    )?;

    // wait: the stage failed at its revision in east. Not followed, the verdict says where its Jobs
    // are; followed, it names east's pod and exit code, read as the watch goes on.
    let wait = |extra: &[&str]| -> Result<(i32, Value, String)> {
        let args =
            [&["wait", "-n", ns, "app-pre-deploy", "--timeout", "1m", "-o", "json", "--logs", "0"][..], extra].concat();
        let out = ctx.plugin(&args)?;
        let doc: Value =
            serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}\n{}", out.stdout, out.stderr))?;
        Ok((out.code, doc, out.stderr))
    };
    let (code, doc, stderr) = wait(&[])?;
    let why = doc["stages"][0]["why"].as_str().unwrap_or_default().to_string();
    check(
        code == 3 && why.contains(&format!("it applies to another cluster, kubeConfig Secret {ns}/east-kubeconfig")),
        || format!("wait, not followed: exit {code}: {doc:#}\n{stderr}"),
    )?;
    let (code, doc, stderr) = wait(&["--follow-kubeconfig"])?;
    let cause = &crate::stage(&doc["report"], "app-pre-deploy")["rootCause"];
    check(code == 3 && cause["kind"] == "Pod" && cause["exitCode"] == 3 && cause["cluster"] == east.as_str(), || {
        format!("wait --follow-kubeconfig: exit {code}: {doc:#}\n{stderr}")
    })?;
    check(doc["stages"][0]["why"].as_str().is_some_and(|w| w.contains("exit code 3")), || format!("{doc:#}"))?;
    Ok(())
}
