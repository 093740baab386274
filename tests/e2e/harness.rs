//! A real Kubernetes + Flux control plane on 127.0.0.1, for the end-to-end tests and for humans
//! (`cargo run --example e2e-cluster`).
//!
//! etcd, kube-apiserver (TLS, client-certificate auth, RBAC), kube-controller-manager (the Job and
//! garbage-collector controllers), kube-scheduler, kwok (a fake node and the pod lifecycle of
//! `tests/e2e/kwok-stages.yaml`) and the real Flux kustomize-controller, all built from Go modules by
//! `tests/e2e/build-tools.sh`. There is no source-controller: a test publishes its manifests as a
//! tar.gz on a local HTTP server and writes the GitRepository's artifact through the status
//! subresource, which is all kustomize-controller reads of a source (it fetches `artifact.url` and
//! checks `artifact.digest`; fluxcd/pkg `http/fetch/archive_fetcher.go`).
//!
//! Every process started here is stopped by its pid when the [`ControlPlane`] is dropped; the work
//! directory (certificates, kubeconfig, one log file per process) is removed unless
//! [`ControlPlane::keep`] was called, e.g. because a test failed.

#![allow(dead_code)] // shared by the test suite and the example; each uses a part

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) type Result<T, E = String> = std::result::Result<T, E>;

/// The repository root (this file is `tests/e2e/harness.rs`).
pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Paths of the built programs, from `tests/e2e/build-tools.sh`'s `NAME=path` lines.
pub(crate) struct Tools(HashMap<String, PathBuf>);

impl Tools {
    /// Builds (or finds cached) every program the tests use. Build progress goes to stderr.
    pub(crate) fn build() -> Result<Tools> {
        Tools::build_components(&[])
    }

    /// Builds (or finds cached) the named components of build-tools.sh (all test tools when empty).
    pub(crate) fn build_components(components: &[&str]) -> Result<Tools> {
        let script = repo_root().join("tests/e2e/build-tools.sh");
        let out = Command::new("bash")
            .arg(&script)
            .args(components)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!("{} failed ({}); see its output above", script.display(), out.status));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let map =
            text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), PathBuf::from(v))).collect();
        Ok(Tools(map))
    }

    pub(crate) fn merge(&mut self, other: &Tools) {
        self.0.extend(other.0.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    pub(crate) fn get(&self, name: &str) -> &Path {
        self.0.get(name).unwrap_or_else(|| panic!("build-tools.sh printed no {name}="))
    }
}

struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

/// What to start besides the Kubernetes control plane.
pub(crate) struct Options {
    /// Namespaces whose containers get logs from kwok (`*` for every namespace).
    pub log_namespaces: Vec<String>,
    /// Start Flux kustomize-controller and flux-operator (the benchmark writes statuses itself).
    pub flux_controllers: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { log_namespaces: vec![], flux_controllers: true }
    }
}

/// The user of `bench.crt`; only its requests are written to the API server's audit log, which is
/// how the benchmark counts the requests each tool makes.
pub(crate) const BENCH_USER: &str = "fluxjobs-bench";

pub(crate) struct ControlPlane {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub api_server: String,
    etcd_url: String,
    tools: Tools,
    processes: Mutex<Vec<Process>>,
    artifact_port: u16,
    keep: AtomicBool,
    /// Log files served by kwok as container logs, per namespace (see `kwok_config`).
    pub log_namespaces: Vec<String>,
}

/// A free TCP port on 127.0.0.1 (the OS picks it; a tiny race with other programs is accepted).
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `check` every 200 ms until it returns `Ok(true)` or `timeout` passes.
pub(crate) fn wait_until(what: &str, timeout: Duration, check: impl FnMut() -> Result<bool>) -> Result<()> {
    poll_until(what, timeout, Duration::from_millis(200), check)
}

/// Polls `check` every `every` until it returns `Ok(true)` or `timeout` passes.
pub(crate) fn poll_until(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let start = Instant::now();
    let mut last_error = String::new();
    loop {
        match check() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last_error = e,
        }
        if start.elapsed() > timeout {
            let detail = if last_error.is_empty() { String::new() } else { format!(": {last_error}") };
            return Err(format!("timed out after {timeout:?} waiting for {what}{detail}"));
        }
        thread::sleep(every);
    }
}

fn http_get_ok(port: u16, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200")
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl ControlPlane {
    /// Starts the whole control plane in a new directory under `parent`, ready for tests: the node
    /// is Ready and the Flux CRDs are Established before kustomize-controller starts.
    pub(crate) fn start(tools: Tools, parent: &Path, options: &Options) -> Result<ControlPlane> {
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        let dir = parent.join(format!("fluxjobs-e2e-{}-{stamp}", std::process::id()));
        fs::create_dir_all(dir.join("logs")).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut plane = ControlPlane {
            kubeconfig: dir.join("kubeconfig"),
            dir,
            api_server: String::new(),
            etcd_url: String::new(),
            tools,
            processes: Mutex::new(Vec::new()),
            artifact_port: 0,
            keep: AtomicBool::new(false),
            log_namespaces: options.log_namespaces.clone(),
        };
        if let Err(e) = plane.boot(options.flux_controllers) {
            plane.keep();
            return Err(format!("{e}\n(control-plane logs kept in {})", plane.dir.join("logs").display()));
        }
        Ok(plane)
    }

    fn boot(&mut self, flux_controllers: bool) -> Result<()> {
        let started = Instant::now();
        self.make_pki()?;
        let pki = self.dir.join("pki");
        let p = |f: &str| pki.join(f).display().to_string();

        let (etcd_port, peer_port) = (free_port()?, free_port()?);
        let etcd = |port: u16| format!("http://127.0.0.1:{port}");
        self.spawn(
            "etcd",
            Command::new(self.tools.get("ETCD")).args([
                "--name=e2e".to_string(),
                format!("--data-dir={}", self.dir.join("etcd").display()),
                format!("--listen-client-urls={}", etcd(etcd_port)),
                format!("--advertise-client-urls={}", etcd(etcd_port)),
                format!("--listen-peer-urls={}", etcd(peer_port)),
                format!("--initial-advertise-peer-urls={}", etcd(peer_port)),
                format!("--initial-cluster=e2e={}", etcd(peer_port)),
                "--unsafe-no-fsync=true".into(),
                "--auto-compaction-retention=1".into(),
                "--log-level=warn".into(),
            ]),
        )?;
        self.wait_process("etcd /health", Duration::from_secs(30), || Ok(http_get_ok(etcd_port, "/health")))?;

        let audit_policy = self.dir.join("audit-policy.yaml");
        fs::write(
            &audit_policy,
            format!(
                "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived, ResponseStarted]\n\
                 rules:\n- level: Metadata\n  users: [{BENCH_USER}]\n- level: None\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let api_port = free_port()?;
        self.api_server = format!("https://127.0.0.1:{api_port}");
        self.etcd_url = etcd(etcd_port);
        self.spawn(
            "kube-apiserver",
            self.api_server_command(api_port, "/registry").args([
                // One line per request of the benchmark user (see BENCH_USER); nobody else is logged.
                format!("--audit-policy-file={}", audit_policy.display()),
                format!("--audit-log-path={}", self.audit_log().display()),
                "--audit-log-mode=blocking".into(),
            ]),
        )?;
        self.write_kubeconfig(&self.kubeconfig, "e2e-admin", "admin")?;
        self.wait_process("kube-apiserver /readyz", Duration::from_secs(90), || {
            Ok(self.kubectl(&["get", "--raw", "/readyz"]).map(|o| o.trim() == "ok").unwrap_or(false))
        })?;

        let kubeconfig = self.kubeconfig.display().to_string();
        self.spawn(
            "kube-controller-manager",
            Command::new(self.tools.get("KUBE_CONTROLLER_MANAGER")).args([
                format!("--kubeconfig={kubeconfig}"),
                "--leader-elect=false".into(),
                "--bind-address=127.0.0.1".into(),
                "--secure-port=0".into(),
                format!("--root-ca-file={}", p("ca.crt")),
                format!("--service-account-private-key-file={}", p("sa.key")),
                "--v=1".into(),
            ]),
        )?;
        let scheduler_port = free_port()?;
        self.spawn(
            "kube-scheduler",
            Command::new(self.tools.get("KUBE_SCHEDULER")).args([
                format!("--kubeconfig={kubeconfig}"),
                format!("--authentication-kubeconfig={kubeconfig}"),
                format!("--authorization-kubeconfig={kubeconfig}"),
                "--leader-elect=false".into(),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={scheduler_port}"),
                "--v=1".into(),
            ]),
        )?;

        self.spawn_kwok("kwok", &self.kubeconfig)?;
        self.kubectl_stdin(&["apply", "-f", "-"], NODE)?;
        self.wait_process("the kwok node to be Ready", Duration::from_secs(60), || {
            let out = self.kubectl(&[
                "get",
                "node",
                "kwok-node-0",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ])?;
            Ok(out.trim() == "True")
        })?;

        // kustomize-controller watches every source kind, so all source CRDs must be Established
        // before it starts (kustomize-controller internal/controller/kustomization_manager.go).
        let crd_dirs = ["KUSTOMIZATION_CRDS", "SOURCE_CRDS", "FLUX_OPERATOR_CRDS", "HELM_CONTROLLER_CRDS"]
            .map(|k| self.tools.get(k));
        for dir in crd_dirs {
            self.kubectl(&["apply", "--server-side", "-f", &dir.display().to_string()])?;
        }
        self.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"])?;
        self.kubectl(&["create", "namespace", "flux-system"])?;

        self.artifact_port = serve_artifacts(self.dir.join("artifacts"))?;
        if !flux_controllers {
            return Ok(());
        }
        self.spawn(
            "kustomize-controller",
            Command::new(self.tools.get("KUSTOMIZE_CONTROLLER"))
                .env("KUBECONFIG", &self.kubeconfig)
                .env("RUNTIME_NAMESPACE", "flux-system")
                .args([
                    "--metrics-addr=0",
                    "--health-addr=0",
                    "--watch-all-namespaces=true",
                    "--enable-leader-election=false",
                    "--log-encoding=console",
                    "--no-remote-bases=true",
                    // Every scenario shares this controller, and a failing `wait: true` stage holds a
                    // worker for its whole 2-minute health check, retry after retry: with 10 workers a
                    // loaded run left dependents unchecked for over a minute (a good rollout seen as
                    // Blocked). Twenty keep the rollouts on their own schedule.
                    "--concurrent=20",
                    // Stages labelled fluxjobs.test/unwatched are invisible to it: what a stopped
                    // controller looks like to one stage, without stopping it for the other tests.
                    "--watch-label-selector=!fluxjobs.test/unwatched",
                    // --requeue-dependency stays at its default (30s), as in production: the chain
                    // reconcile test measures what `reconcile` saves against it.
                ]),
        )?;
        // flux-operator refuses to run outside FIPS mode; its web UI and metrics are not needed.
        let storage = self.dir.join("flux-operator");
        fs::create_dir_all(&storage).map_err(|e| format!("cannot create {}: {e}", storage.display()))?;
        self.spawn(
            "flux-operator",
            Command::new(self.tools.get("FLUX_OPERATOR"))
                .env("KUBECONFIG", &self.kubeconfig)
                .env("RUNTIME_NAMESPACE", "flux-system")
                .env("GODEBUG", "fips140=on")
                .arg("--enable-leader-election=false")
                .arg("--metrics-addr=0")
                .arg("--health-addr=0")
                .arg("--web-server-port=0")
                .arg("--log-encoding=console")
                .arg(format!("--storage-path={}", storage.display())),
        )?;
        // helm-controller has no --kubeconfig flag; it reads KUBECONFIG.
        self.spawn(
            "helm-controller",
            Command::new(self.tools.get("HELM_CONTROLLER"))
                .env("KUBECONFIG", &self.kubeconfig)
                .env("RUNTIME_NAMESPACE", "flux-system")
                .args([
                    "--metrics-addr=0",
                    "--health-addr=127.0.0.1:0",
                    "--enable-leader-election=false",
                    "--log-encoding=console",
                    "--watch-all-namespaces=true",
                    "--concurrent=10",
                ]),
        )?;
        eprintln!(
            "e2e: control plane up in {:.1}s at {} (work dir {})",
            started.elapsed().as_secs_f64(),
            self.api_server,
            self.dir.display()
        );
        Ok(())
    }

    /// A kube-apiserver on `port` over this plane's etcd, keeping its objects under `etcd_prefix`.
    fn api_server_command(&self, port: u16, etcd_prefix: &str) -> Command {
        let pki = self.dir.join("pki");
        let p = |f: &str| pki.join(f).display().to_string();
        let mut cmd = Command::new(self.tools.get("KUBE_APISERVER"));
        cmd.args([
            format!("--etcd-servers={}", self.etcd_url),
            format!("--etcd-prefix={etcd_prefix}"),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", self.dir.join(format!("apiserver-{port}")).display()),
            format!("--tls-cert-file={}", p("serving.crt")),
            format!("--tls-private-key-file={}", p("serving.key")),
            format!("--client-ca-file={}", p("ca.crt")),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            "--authorization-mode=RBAC".into(),
            "--allow-privileged=true".into(),
            // Loopback is not a valid advertise address for the endpoints reconciler.
            "--endpoint-reconciler-type=none".into(),
            // Lets the API server verify kwok's kubelet endpoint when it proxies `pods/log`.
            format!("--kubelet-certificate-authority={}", p("ca.crt")),
            format!("--kubelet-client-certificate={}", p("admin.crt")),
            format!("--kubelet-client-key={}", p("admin.key")),
            "--kubelet-preferred-address-types=InternalIP".into(),
            "--v=1".into(),
        ]);
        cmd
    }

    /// A second API server over the same etcd under another prefix: an empty cluster without the
    /// Flux CRDs, as users meet it before installing Flux. Returns an admin kubeconfig for it.
    pub(crate) fn start_bare_api_server(&self) -> Result<PathBuf> {
        let port = free_port()?;
        self.spawn("kube-apiserver-bare", &mut self.api_server_command(port, "/bare-registry"))?;
        let kubeconfig = self.dir.join("kubeconfig-bare");
        self.write_kubeconfig_for(&format!("https://127.0.0.1:{port}"), &kubeconfig, "e2e-admin", "admin")?;
        let ready = || -> Result<bool> {
            let out = run(Command::new(self.tools.get("KUBECTL"))
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(["get", "--raw", "/readyz"]));
            Ok(out.is_ok_and(|o| o.trim() == "ok"))
        };
        self.wait_process("the bare kube-apiserver /readyz", Duration::from_secs(90), ready)?;
        Ok(kubeconfig)
    }

    /// kwok for the cluster of `kubeconfig`, serving its node's kubelet endpoint on a port of its
    /// own.
    fn spawn_kwok(&self, name: &'static str, kubeconfig: &Path) -> Result<()> {
        let pki = self.dir.join("pki");
        let p = |f: &str| pki.join(f).display().to_string();
        let kwok_port = free_port()?;
        let kwok_config = self.kwok_config()?;
        self.spawn(
            name,
            Command::new(self.tools.get("KWOK")).args([
                format!("--kubeconfig={}", kubeconfig.display()),
                format!("--config={}", kwok_config.display()),
                "--manage-all-nodes=false".into(),
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".into(),
                "--node-lease-duration-seconds=40".into(),
                "--cidr=10.0.0.0/24".into(),
                // The node's InternalIP and kubelet port are kwok's own server, so `kubectl logs`
                // (and our log tails) reach the logs configured in kwok_config.
                "--node-ip=127.0.0.1".into(),
                format!("--node-port={kwok_port}"),
                format!("--server-address=127.0.0.1:{kwok_port}"),
                format!("--tls-cert-file={}", p("serving.crt")),
                format!("--tls-private-key-file={}", p("serving.key")),
            ]),
        )
    }

    /// Another cluster over this plane's etcd, under its own prefix, with the Flux CRDs: a workload
    /// cluster of a fleet. With `jobs`, it runs Jobs too: the Job controller (a
    /// kube-controller-manager with the controllers Jobs need) and kwok with its node, on which
    /// Job pods land by `nodeName` (no scheduler). Returns its server URL and an admin kubeconfig.
    pub(crate) fn start_spoke(&self, name: &'static str, jobs: bool) -> Result<(String, PathBuf)> {
        let port = free_port()?;
        let leak = |what: String| -> &'static str { Box::leak(what.into_boxed_str()) };
        self.spawn(
            leak(format!("kube-apiserver-{name}")),
            &mut self.api_server_command(port, &format!("/{name}-registry")),
        )?;
        let server = format!("https://127.0.0.1:{port}");
        let kubeconfig = self.dir.join(format!("kubeconfig-{name}"));
        self.write_kubeconfig_for(&server, &kubeconfig, "e2e-admin", "admin")?;
        let kubectl = |args: &[&str]| self.kubectl_with(&kubeconfig, args);
        self.wait_process(&format!("the {name} kube-apiserver /readyz"), Duration::from_secs(90), || {
            Ok(kubectl(&["get", "--raw", "/readyz"]).is_ok_and(|o| o.trim() == "ok"))
        })?;
        for dir in ["KUSTOMIZATION_CRDS", "SOURCE_CRDS", "FLUX_OPERATOR_CRDS", "HELM_CONTROLLER_CRDS"] {
            kubectl(&["apply", "--server-side", "-f", &self.tools.get(dir).display().to_string()])?;
        }
        if jobs {
            let p = self.dir.join("pki");
            self.spawn(
                leak(format!("kube-controller-manager-{name}")),
                Command::new(self.tools.get("KUBE_CONTROLLER_MANAGER")).args([
                    format!("--kubeconfig={}", kubeconfig.display()),
                    "--leader-elect=false".into(),
                    "--bind-address=127.0.0.1".into(),
                    "--secure-port=0".into(),
                    "--controllers=job-controller,serviceaccount-controller,serviceaccount-token-controller,garbage-collector-controller".into(),
                    format!("--root-ca-file={}", p.join("ca.crt").display()),
                    format!("--service-account-private-key-file={}", p.join("sa.key").display()),
                    "--v=1".into(),
                ]),
            )?;
            self.spawn_kwok(leak(format!("kwok-{name}")), &kubeconfig)?;
            self.kubectl_stdin_with(&kubeconfig, &["apply", "-f", "-"], NODE)?;
        }
        kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"])?;
        Ok((server, kubeconfig))
    }

    /// One CA signs everything: the serving certificate (API server and kwok's kubelet endpoint),
    /// the admin client certificate (group system:masters) and a restricted user's certificate.
    fn make_pki(&self) -> Result<()> {
        let pki = self.dir.join("pki");
        fs::create_dir_all(&pki).map_err(|e| e.to_string())?;
        let openssl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(&pki));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=fluxjobs-e2e-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ])?;
        let leaf = |name: &str, subject: &str, ext: &str| -> Result<()> {
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                subject,
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ])?;
            fs::write(pki.join(format!("{name}.ext")), ext).map_err(|e| e.to_string())?;
            openssl(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "3650",
                "-out",
                &format!("{name}.crt"),
                "-extfile",
                &format!("{name}.ext"),
            ])?;
            Ok(())
        };
        let client = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n";
        leaf(
            "serving",
            "/CN=kube-apiserver",
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc,DNS:kwok-node-0\n\
             basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\n",
        )?;
        leaf("admin", "/O=system:masters/CN=fluxjobs-e2e-admin", client)?;
        leaf("viewer", "/CN=fluxjobs-e2e-viewer", client)?;
        // A user whose requests a FlowSchema can send to a priority level that rejects them.
        leaf("throttled", "/CN=fluxjobs-e2e-throttled", client)?;
        leaf("bench", &format!("/O=system:masters/CN={BENCH_USER}"), client)?;
        openssl(&["genrsa", "-out", "sa.key", "2048"])?;
        openssl(&["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"])?;
        Ok(())
    }

    /// Writes a kubeconfig for one of the certificates made by `make_pki`.
    pub(crate) fn write_kubeconfig(&self, path: &Path, user: &str, cert: &str) -> Result<()> {
        self.write_kubeconfig_for(&self.api_server, path, user, cert)
    }

    fn write_kubeconfig_for(&self, server: &str, path: &Path, user: &str, cert: &str) -> Result<()> {
        let pki = self.dir.join("pki");
        let text = format!(
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- name: fluxjobs-e2e\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\n\
             users:\n- name: {user}\n  user:\n    client-certificate: {crt}\n    client-key: {key}\n\
             contexts:\n- name: fluxjobs-e2e\n  context:\n    cluster: fluxjobs-e2e\n    user: {user}\n    namespace: default\n\
             current-context: fluxjobs-e2e\n",
            ca = pki.join("ca.crt").display(),
            crt = pki.join(format!("{cert}.crt")).display(),
            key = pki.join(format!("{cert}.key")).display(),
        );
        fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// kwok's configuration: the node stages and pod-delete from kwok's module, our pod stages, and
    /// container logs for the pods of `log_namespaces` (read from `logs/<namespace>.log`).
    fn kwok_config(&self) -> Result<PathBuf> {
        let stages = self.tools.get("KWOK_MODULE_DIR").join("kustomize/stage");
        let mut config = String::new();
        for file in [
            "node/fast/node-initialize.yaml",
            "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
            "pod/fast/pod-delete.yaml",
        ] {
            let path = stages.join(file);
            let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            config.push_str(&text);
            config.push_str("\n---\n");
        }
        let ours = repo_root().join("tests/e2e/kwok-stages.yaml");
        config.push_str(&fs::read_to_string(&ours).map_err(|e| format!("cannot read {}: {e}", ours.display()))?);
        for ns in &self.log_namespaces {
            let log = self.pod_log_file(ns);
            fs::write(&log, "").map_err(|e| e.to_string())?;
            let (name, selector) = match ns.as_str() {
                "*" => ("all".to_string(), String::new()),
                ns => (ns.to_string(), format!("  selector:\n    matchNamespaces: [{ns}]\n")),
            };
            write!(
                config,
                "\n---\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterLogs\nmetadata:\n  name: logs-{name}\n\
                 spec:\n{selector}  logs:\n  - logsFile: {}\n",
                log.display()
            )
            .unwrap();
        }
        let path = self.dir.join("kwok.yaml");
        fs::write(&path, config).map_err(|e| e.to_string())?;
        Ok(path)
    }

    /// The API server's audit log: one JSON line per request of [`BENCH_USER`].
    pub(crate) fn audit_log(&self) -> PathBuf {
        self.dir.join("logs").join("audit.log")
    }

    /// The file kwok serves as the log of every container in `namespace`.
    fn pod_log_file(&self, namespace: &str) -> PathBuf {
        self.dir.join("logs").join(format!("pods-{namespace}.log"))
    }

    /// Sets the container log of every pod in `namespace` (one of `log_namespaces`), in the CRI
    /// log format kwok parses like a kubelet does (`<RFC 3339> <stream> F <line>`).
    pub(crate) fn write_pod_log(&self, namespace: &str, lines: &[&str]) -> Result<()> {
        let now = rfc3339_now();
        let text: String = lines.iter().map(|l| format!("{now} stdout F {l}\n")).collect();
        fs::write(self.pod_log_file(namespace), text).map_err(|e| e.to_string())
    }

    fn spawn(&self, name: &'static str, cmd: &mut Command) -> Result<()> {
        let log = self.dir.join("logs").join(format!("{name}.log"));
        let file = fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        self.processes.lock().unwrap().push(Process { name, child, log });
        Ok(())
    }

    /// Like [`wait_until`], and fails at once (with its log) when a started process exits.
    fn wait_process(&self, what: &str, timeout: Duration, mut check: impl FnMut() -> Result<bool>) -> Result<()> {
        wait_until(what, timeout, || {
            if let Some(exited) = self.exited_process() {
                return Err(exited);
            }
            check()
        })
        .map_err(|e| {
            let processes = self.processes.lock().unwrap();
            let logs: String =
                processes.iter().map(|p| format!("\n--- {} (last lines)\n{}", p.name, tail(&p.log, 8))).collect();
            format!("{e}{logs}")
        })
    }

    /// A started process that has exited, with its last log lines.
    pub(crate) fn exited_process(&self) -> Option<String> {
        let mut processes = self.processes.lock().unwrap();
        processes.iter_mut().find_map(|p| match p.child.try_wait() {
            Ok(Some(status)) => Some(format!("{} exited ({status}):\n{}", p.name, tail(&p.log, 20))),
            _ => None,
        })
    }

    /// The last lines of one component's log, for failure messages.
    pub(crate) fn log_tail(&self, name: &str, lines: usize) -> String {
        tail(&self.dir.join("logs").join(format!("{name}.log")), lines)
    }

    /// Keep the work directory (logs, kubeconfig) after the control plane stops.
    pub(crate) fn keep(&self) {
        self.keep.store(true, Ordering::Relaxed);
    }

    pub(crate) fn kubectl(&self, args: &[&str]) -> Result<String> {
        self.kubectl_with(&self.kubeconfig, args)
    }

    /// kubectl with this kubeconfig (another cluster's).
    pub(crate) fn kubectl_with(&self, kubeconfig: &Path, args: &[&str]) -> Result<String> {
        run(Command::new(self.tools.get("KUBECTL")).arg("--kubeconfig").arg(kubeconfig).args(args))
    }

    /// Merges `status` (a JSON object) into the status of `kind` `ns`/`name` through the status
    /// subresource, as the object's controller would write it.
    pub(crate) fn patch_status(&self, ns: &str, kind: &str, name: &str, status: &serde_json::Value) -> Result<String> {
        let patch = serde_json::json!({ "status": status }).to_string();
        self.kubectl(&["-n", ns, "patch", kind, name, "--subresource=status", "--type=merge", "-p", &patch])
    }

    pub(crate) fn kubectl_stdin(&self, args: &[&str], input: &str) -> Result<String> {
        self.kubectl_stdin_with(&self.kubeconfig, args, input)
    }

    /// kubectl with this kubeconfig (another cluster's), `input` on its stdin.
    pub(crate) fn kubectl_stdin_with(&self, kubeconfig: &Path, args: &[&str], input: &str) -> Result<String> {
        let mut child = Command::new(self.tools.get("KUBECTL"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run kubectl: {e}"))?;
        child.stdin.take().unwrap().write_all(input.as_bytes()).map_err(|e| e.to_string())?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub(crate) fn apply(&self, yaml: &str) -> Result<String> {
        self.kubectl_stdin(&["apply", "-f", "-"], yaml)
    }

    /// A program built by build-tools.sh, if it was built.
    pub(crate) fn try_tool(&self, name: &str) -> Option<&Path> {
        self.tools.0.get(name).map(PathBuf::as_path)
    }

    /// Where files under `artifacts/` of the work directory are served over HTTP.
    pub(crate) fn artifact_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.artifact_port)
    }

    /// A program built by build-tools.sh, by its `NAME=` key.
    pub(crate) fn tool(&self, name: &str) -> &Path {
        self.tools.get(name)
    }

    /// Publishes `files` (path, content) as a new revision of GitRepository `ns/name`, the way
    /// source-controller would: a gzip tarball served over HTTP, and the GitRepository status
    /// (artifact with digest and revision, Ready=True) written through the status subresource.
    /// Returns the revision (`main@sha1:<40 hex>`).
    pub(crate) fn publish(&self, ns: &str, name: &str, files: &[(&str, &str)]) -> Result<String> {
        let (sha256, artifact) = self.serve_tarball("gitrepository", ns, name, files, ".")?;
        self.apply(&format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: {name}\n  namespace: {ns}\n\
             spec:\n  url: https://git.example.invalid/{ns}/{name}.git\n  interval: 60m\n  ref:\n    branch: main\n"
        ))?;
        let revision = format!("main@sha1:{}", &sha256[..40]);
        self.write_artifact_status("gitrepository", ns, name, &sha256, &artifact, &revision)?;
        Ok(revision)
    }

    /// Publishes a Helm chart (`files` under the chart's directory `chart`) as OCIRepository
    /// `ns/name`, the way source-controller would for `spec.chartRef` of a HelmRelease: the chart
    /// archive served over HTTP and the OCIRepository's artifact written through its status.
    /// Returns the revision (`VERSION@sha256:<64 hex>`).
    pub(crate) fn publish_chart(
        &self,
        ns: &str,
        name: &str,
        chart: &str,
        version: &str,
        files: &[(&str, &str)],
    ) -> Result<String> {
        let files: Vec<(String, &str)> = files.iter().map(|(path, text)| (format!("{chart}/{path}"), *text)).collect();
        let files: Vec<(&str, &str)> = files.iter().map(|(path, text)| (path.as_str(), *text)).collect();
        let (sha256, artifact) = self.serve_tarball("ocirepository", ns, name, &files, chart)?;
        self.apply(&format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: {name}\n  namespace: {ns}\n\
             spec:\n  url: oci://registry.example.invalid/charts/{chart}\n  interval: 60m\n  ref:\n    tag: {version}\n"
        ))?;
        let revision = format!("{version}@sha256:{sha256}");
        self.write_artifact_status("ocirepository", ns, name, &sha256, &artifact, &revision)?;
        Ok(revision)
    }

    /// Writes `files` into a tarball of `top` (a directory among them, or `.`), served at
    /// `KIND/NS/NAME/<digest>.tar.gz`; returns its sha256 and that path and size.
    fn serve_tarball(
        &self,
        kind: &str,
        ns: &str,
        name: &str,
        files: &[(&str, &str)],
        top: &str,
    ) -> Result<(String, (String, u64))> {
        let content_dir = self.dir.join("sources").join(kind).join(ns).join(name);
        let _ = fs::remove_dir_all(&content_dir);
        for (path, text) in files {
            let file = content_dir.join(path);
            fs::create_dir_all(file.parent().unwrap()).map_err(|e| e.to_string())?;
            fs::write(&file, text).map_err(|e| e.to_string())?;
        }
        let staging = self.dir.join("sources").join(format!("{kind}-{ns}-{name}.tar.gz"));
        run(Command::new("tar")
            .args(["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-czf"])
            .arg(&staging)
            .arg("-C")
            .arg(&content_dir)
            .arg(top))?;
        let sha256 = run(Command::new("sha256sum").arg(&staging))?;
        let sha256 = sha256.split_whitespace().next().unwrap_or_default().to_string();
        let artifact_path = format!("{kind}/{ns}/{name}/{sha256}.tar.gz");
        let served = self.dir.join("artifacts").join(&artifact_path);
        fs::create_dir_all(served.parent().unwrap()).map_err(|e| e.to_string())?;
        let size = fs::metadata(&staging).map_err(|e| e.to_string())?.len();
        fs::rename(&staging, &served).map_err(|e| e.to_string())?;
        Ok((sha256, (artifact_path, size)))
    }

    /// The source's artifact and Ready=True, through the status subresource.
    fn write_artifact_status(
        &self,
        kind: &str,
        ns: &str,
        name: &str,
        sha256: &str,
        (artifact_path, size): &(String, u64),
        revision: &str,
    ) -> Result<()> {
        let now = rfc3339_now();
        // For the spec's current generation: a changed spec (a new tag) is then reconciled.
        let generation: i64 = self
            .kubectl(&["-n", ns, "get", kind, name, "-o", "jsonpath={.metadata.generation}"])?
            .trim()
            .parse()
            .map_err(|e| format!("the generation of {kind} {ns}/{name}: {e}"))?;
        let status = serde_json::json!({
            "observedGeneration": generation,
            "artifact": {
                "digest": format!("sha256:{sha256}"),
                "lastUpdateTime": now,
                "path": artifact_path,
                "revision": revision,
                "size": size,
                "url": format!("http://127.0.0.1:{}/{artifact_path}", self.artifact_port),
            },
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Succeeded", "observedGeneration": generation,
                 "message": format!("stored artifact for revision '{revision}'"), "lastTransitionTime": now},
                {"type": "ArtifactInStorage", "status": "True", "reason": "Succeeded", "observedGeneration": generation,
                 "message": format!("stored artifact for revision '{revision}'"), "lastTransitionTime": now},
            ],
        });
        self.patch_status(ns, kind, name, &status).map(drop)
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // Stop in reverse start order, each by its own pid: SIGTERM, then SIGKILL after 10 s.
        for p in self.processes.get_mut().unwrap().iter_mut().rev() {
            let _ = Command::new("kill").arg("-TERM").arg(p.child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = p.child.try_wait() {
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        if self.keep.load(Ordering::Relaxed) {
            eprintln!("e2e: control-plane work directory and logs kept in {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The fake node: kwok manages it (annotation), no taint so Flux-applied workloads need no
/// tolerations; capacity small enough that a test can ask for more (unschedulable).
const NODE: &str = "apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: \"0\"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: kwok-node-0
    kubernetes.io/os: linux
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: \"\"
    type: kwok
status:
  allocatable:
    cpu: \"32\"
    memory: 256Gi
    pods: \"110\"
  capacity:
    cpu: \"32\"
    memory: 256Gi
    pods: \"110\"
";

fn rfc3339_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    k8s_openapi::jiff::Timestamp::from_second(secs as i64).map(|t| t.to_string()).unwrap_or_default()
}

/// Serves files under `root` over plain HTTP/1.0 on a free loopback port, one thread per request:
/// the role source-controller's artifact storage plays in a cluster.
fn serve_artifacts(root: PathBuf) -> Result<u16> {
    fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("artifact server: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            thread::spawn(move || serve_one(stream, &root));
        }
    });
    Ok(port)
}

fn serve_one(mut stream: TcpStream, root: &Path) {
    let mut line = String::new();
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // Drain the request headers.
    let mut header = String::new();
    while reader.read_line(&mut header).map(|n| n > 2).unwrap_or(false) {
        header.clear();
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/');
    let file = root.join(path);
    let body = if path.split('/').any(|part| part == "..") { None } else { fs::read(&file).ok() };
    let _ = match body {
        Some(body) => stream
            .write_all(
                format!("HTTP/1.0 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: {}\r\n\r\n", body.len())
                    .as_bytes(),
            )
            .and_then(|_| stream.write_all(&body)),
        None => stream.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    };
}
