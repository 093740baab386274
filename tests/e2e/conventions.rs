//! kubectl's global flags and `version`, against the real API server: impersonation, a
//! ServiceAccount token from the TokenRequest API, a server override.

use crate::fault_proxy::ConnectProxy;
use crate::harness::Result;
use crate::scenarios::Scenario;
use crate::{Ctx, check};

pub(crate) fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        ("global_flags_override_the_kubeconfig_like_kubectl", global_flags_override_the_kubeconfig),
        ("version_names_the_server_and_what_flux_serves", version_names_the_server_and_flux),
        ("proxies_carry_the_requests_as_kubectl_honours_them", proxies_carry_the_requests),
        ("verbosity_6_logs_every_request_and_8_the_bodies", verbosity_logs_requests),
        ("label_selectors_select_offline_what_the_api_server_selects", label_selectors_as_the_api_server),
    ]
}

/// A kubeconfig with the test cluster's CA and `server`, and no user.
fn anonymous_kubeconfig(ctx: &Ctx, name: &str, server: &str) -> Result<std::path::PathBuf> {
    let path = crate::kubeconfig_path(ctx, name);
    let ca = ctx.plane.dir.join("pki/ca.crt");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n    server: {server}\n    certificate-authority: {}\n\
         contexts:\n- name: e2e\n  context:\n    cluster: e2e\n    namespace: default\ncurrent-context: e2e\n",
        ca.display()
    );
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}

fn global_flags_override_the_kubeconfig(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-flags";
    ctx.plane.apply(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: reader\n  namespace: {ns}\n\
         ---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: reader\n  namespace: {ns}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}}\n\
         subjects: [{{kind: ServiceAccount, name: reader, namespace: {ns}}}]\n\
         ---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: fluxjobs-e2e-flux-view\n\
         \x20 labels: {{rbac.authorization.k8s.io/aggregate-to-view: \"true\"}}\nrules:\n\
         - apiGroups: [kustomize.toolkit.fluxcd.io, source.toolkit.fluxcd.io]\n  resources: ['*']\n  verbs: [get, list, watch]\n"
    ))?;

    // --as: the admin acts as a user without permissions, and gets that user's 403 in one line.
    let out = ctx.plugin(&["status", "-n", ns, "--as", "fluxjobs-e2e-nobody"])?;
    check(
        out.code == 1
            && out.stderr.lines().count() == 1
            && out.stderr.contains("User \"fluxjobs-e2e-nobody\" cannot list"),
        || format!("--as: exit {}: {}", out.code, out.stderr),
    )?;
    // --as-group adds groups to the impersonated identity.
    let out = ctx.plugin(&["status", "-n", ns, "--as", "fluxjobs-e2e-nobody", "--as-group", "system:masters"])?;
    check(out.code == 0, || format!("--as-group: exit {}: {}", out.code, out.stderr))?;

    // --token: a ServiceAccount token from the TokenRequest API, on a kubeconfig without a user.
    let token = ctx.plane.kubectl(&["-n", ns, "create", "token", "reader", "--duration=10m"])?;
    let bare = anonymous_kubeconfig(ctx, "no-user.kubeconfig", &ctx.plane.api_server)?;
    let out = ctx.plugin_with(&bare, &["status", "-n", ns, "-o", "json", "--token", token.trim()])?;
    check(out.code == 0 && out.stdout.contains("\"stages\""), || {
        format!("--token: exit {}: {}", out.code, out.stderr)
    })?;
    let out = ctx.plugin_with(&bare, &["status", "-n", "default", "--token", token.trim()])?;
    check(out.code == 1 && out.stderr.contains(&format!("system:serviceaccount:{ns}:reader")), || {
        format!("the token's identity elsewhere: exit {}: {}", out.code, out.stderr)
    })?;

    // --server wins over the kubeconfig's (which points nowhere here).
    let nowhere = anonymous_kubeconfig(ctx, "nowhere.kubeconfig", "https://127.0.0.1:9")?;
    let out =
        ctx.plugin_with(&nowhere, &["status", "-n", ns, "--token", token.trim(), "--server", &ctx.plane.api_server])?;
    check(out.code == 0, || format!("--server: exit {}: {}", out.code, out.stderr))?;
    let out = ctx.plugin_with(&nowhere, &["status", "-n", ns, "--token", token.trim(), "--request-timeout", "2s"])?;
    check(out.code == 1 && out.stderr.contains("https://127.0.0.1:9"), || format!("without --server: {}", out.stderr))
}

fn version_names_the_server_and_flux(ctx: &Ctx) -> Result<()> {
    let out = ctx.plugin(&["version", "-o", "json"])?;
    let v: serde_json::Value = serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))?;
    check(out.code == 0 && v["clientVersion"] == format!("v{}", env!("CARGO_PKG_VERSION")), || out.stdout.clone())?;
    check(v["serverVersion"].as_str().is_some_and(|s| s.starts_with("v1.")), || format!("server: {v}"))?;
    // The harness runs flux-operator and helm-controller too, so every stage kind's CRD is served.
    check(
        v["flux"]["kustomizations"][0] == "v1"
            && v["flux"]["resourceSets"] == serde_json::json!(["v1"])
            && v["flux"]["helmReleases"][0] == "v2",
        || format!("flux: {v}"),
    )?;
    // The harness runs kustomize-controller as a process, not a Deployment: unknown, not an error.
    check(v["flux"]["kustomizeController"].is_null(), || format!("controller: {v}"))?;
    let text = ctx.plugin(&["version"])?;
    check(
        text.stdout.contains("Flux Kustomizations (kustomize.toolkit.fluxcd.io): v1")
            && text.stdout.contains("Flux ResourceSets (fluxcd.controlplane.io): v1")
            && text.stdout.contains("Flux HelmReleases (helm.toolkit.fluxcd.io): v2"),
        || text.stdout.clone(),
    )?;
    // Unreachable: the client's line, then one error line.
    let nowhere = anonymous_kubeconfig(ctx, "version-nowhere.kubeconfig", "https://127.0.0.1:9")?;
    let out = ctx.plugin_with(&nowhere, &["version", "--request-timeout", "2s"])?;
    check(
        out.code == 1
            && out.stdout == format!("Client Version: v{}\n", env!("CARGO_PKG_VERSION"))
            && out.stderr.lines().count() == 1
            && out.stderr.contains("https://127.0.0.1:9"),
        || format!("unreachable: exit {}\n{}\n{}", out.code, out.stdout, out.stderr),
    )
}

/// The kubeconfig's `proxy-url`, then `HTTPS_PROXY` (and `NO_PROXY` exempting the server), with a
/// loopback CONNECT proxy that counts the tunnels it opened.
fn proxies_carry_the_requests(ctx: &Ctx) -> Result<()> {
    let proxy = ConnectProxy::start()?;
    let server_line = format!("server: {}", ctx.plane.api_server);
    let with_proxy = crate::kubeconfig_edited(ctx, "proxied.kubeconfig", |t| {
        t.replacen(&server_line, &format!("{server_line}\n    proxy-url: {}", proxy.url), 1)
    })?;
    let edited = std::fs::read_to_string(&with_proxy).map_err(|e| e.to_string())?;
    check(edited.contains("proxy-url: "), || "the kubeconfig has no server line to add proxy-url to".into())?;
    let out = ctx.plugin_with(&with_proxy, &["status", "-A", "-o", "json"])?;
    check(out.code == 0 && proxy.tunnels() >= 1, || {
        format!("proxy-url: exit {}, {} tunnels: {}", out.code, proxy.tunnels(), out.stderr)
    })?;

    let through_env = |no_proxy: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-fluxjobs"))
            .args(["--kubeconfig", ctx.plane.kubeconfig.to_str().unwrap(), "status", "-A", "-o", "json"])
            .env("HTTPS_PROXY", &proxy.url)
            .env("NO_PROXY", no_proxy)
            .output()
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(out.status.success())
    };
    let before = proxy.tunnels();
    check(through_env("")?, || "HTTPS_PROXY: status failed".into())?;
    check(proxy.tunnels() > before, || "HTTPS_PROXY was not used".into())?;
    let before = proxy.tunnels();
    check(through_env("127.0.0.1")?, || "NO_PROXY: status failed".into())?;
    check(proxy.tunnels() == before, || "NO_PROXY did not exempt the server".into())
}

/// `-v=6`: one klog line per request (verb, URL, status, latency) on stderr, data still alone on
/// stdout; `-v=8`: bodies too.
fn verbosity_logs_requests(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-verbosity";
    ctx.plane.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))?;
    let out = ctx.plugin(&["status", "-n", ns, "-o", "json", "-v=6"])?;
    let report: serde_json::Value =
        serde_json::from_str(&out.stdout).map_err(|e| format!("stdout is not only data ({e}): {}", out.stdout))?;
    check(out.code == 0 && report["stages"] == serde_json::json!([]), || out.stderr.clone())?;
    let requests: Vec<&str> =
        out.stderr.lines().filter(|l| l.contains("round_trippers.go:632] \"Response\" verb=\"GET\"")).collect();
    let kustomizations = format!(
        "url=\"{}/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{ns}/kustomizations?&limit=5000\" status=\"200 OK\" milliseconds=",
        ctx.plane.api_server
    );
    // One LIST per kind: Kustomizations, four source kinds, Jobs, Pods, Events, Deployments.
    check(requests.len() >= 9 && requests.iter().any(|l| l.starts_with('I') && l.contains(&kustomizations)), || {
        format!("{} request lines:\n{}", requests.len(), out.stderr)
    })?;
    check(!out.stderr.contains("Response Body"), || "bodies at -v=6".into())?;
    let out = ctx.plugin(&["status", "-n", ns, "-o", "json", "--v=8"])?;
    let bodies: Vec<&str> = out.stderr.lines().filter(|l| l.contains("\"Response Body\" body=")).collect();
    check(out.code == 0 && bodies.iter().any(|l| l.contains("KustomizationList")), || out.stderr.clone())
}

/// `-l` on a dump (filtered by the plugin, as a watch frame is) selects exactly the stages the API
/// server's LIST selects, for every form of selector.
fn label_selectors_as_the_api_server(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-selectors";
    let mut yaml = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n");
    // Suspended: nothing reconciles them, only their labels matter.
    for (name, labels) in [
        ("ks-a", "{tier: a, rank: \"1\"}"),
        ("ks-b", "{tier: b, rank: \"5\"}"),
        ("ks-c", "{tier: c}"),
        ("ks-none", "{}"),
    ] {
        yaml.push_str(&format!(
            "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {labels}\n\
             spec:\n  suspend: true\n  interval: 10m\n  path: ./\n  prune: false\n  sourceRef: {{kind: GitRepository, name: none}}\n"
        ));
    }
    ctx.plane.apply(&yaml)?;
    let dump = ctx.plane.dir.join("selectors.json");
    let listed = ctx.plane.kubectl(&["get", "kustomizations", "-n", ns, "-o", "json"])?;
    std::fs::write(&dump, listed).map_err(|e| e.to_string())?;
    let names = |out: &crate::Output| -> Result<Vec<String>> {
        let report: serde_json::Value =
            serde_json::from_str(&out.stdout).map_err(|e| format!("{e} (exit {}): {}", out.code, out.stderr))?;
        let mut names: Vec<String> = report["stages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str().map(String::from))
            .collect();
        names.sort();
        Ok(names)
    };
    for selector in
        ["tier in (a,b)", "tier notin (a)", "!tier", "tier", "tier!=c", "tier=a,rank", "rank>2", "tier in (a, c),!rank"]
    {
        let server = ctx.plane.kubectl(&["get", "kustomizations", "-n", ns, "-l", selector, "-o", "name"])?;
        let mut server: Vec<String> =
            server.lines().filter_map(|l| l.rsplit('/').next()).filter(|n| !n.is_empty()).map(String::from).collect();
        server.sort();
        let live = names(&ctx.plugin(&["status", "-n", ns, "-l", selector, "-o", "json"])?)?;
        let offline = names(&ctx.plugin(&[
            "status",
            "--snapshot",
            dump.to_str().unwrap(),
            "-n",
            ns,
            "-l",
            selector,
            "-o",
            "json",
        ])?)?;
        check(live == server && offline == server, || {
            format!("-l {selector:?}: API server {server:?}, live {live:?}, dump {offline:?}")
        })?;
    }
    // What the API server refuses is one line naming the selector, before anything is read.
    let bad = ctx.plugin(&["status", "--snapshot", dump.to_str().unwrap(), "-l", "tier in ()"])?;
    check(
        bad.code == 2 && bad.stdout.is_empty() && bad.stderr.contains("invalid label selector \"tier in ()\""),
        || format!("exit {}: {}", bad.code, bad.stderr),
    )
}
