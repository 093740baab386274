//! Fleet benchmark: `kubectl-fluxjobs status -A` against its peers on the real control plane, and
//! the offline engine against snapshot size.
//!
//!     cargo bench --bench fleet                         # N = 300 namespaces, 5 runs each
//!     cargo bench --bench fleet -- --namespaces 1000 --runs 3
//!     cargo bench --bench fleet -- --offline-from target/bench/fleet-300.json   # offline part only
//!     cargo bench --bench fleet -- --only contexts --contexts 10 --per-context 50    # fleet of clusters only
//!     cargo bench --bench fleet -- --only wait --wait-seconds 300   # the API cost and memory of a wait
//!     cargo bench --bench fleet -- --namespaces 1000 --hold     # fill, then keep the cluster up to profile by hand
//!     cargo bench --bench fleet -- --baseline OLD-BINARY          # also (a) of an older build, and whether its JSON is the same
//!
//! It starts the end-to-end control plane (tests/e2e/harness.rs) without kustomize-controller,
//! fills it with N copies of the seed pipeline (Kustomization and GitRepository statuses written
//! through the status subresource; Jobs, Deployments and their Pods run for real by the Job
//! controller, the scheduler and kwok: a mix of Complete, Failed, Running and Pending), then runs,
//! interleaved and repeated, each run starting the rotation one later: (a) `kubectl-fluxjobs
//! status -A -o json`, (b) the same as a table, (c) `kubectl get` of the same kinds `-o json` (the
//! raw transfer, the floor), (d) `flux get kustomizations -A` (what the flux CLI shows). Wall time and peak RSS come from GNU time; API
//! requests from the API server's audit log, where only the benchmark user is logged; what the API
//! server allocated, collected and spent on each run from its own `/metrics`.
//! Results go to stdout and to `target/bench/fleet.md`.
//!
//! The fleet of clusters: C more API servers over the same etcd (`--contexts`, default 10), each
//! filled with `--per-context` (default 50) namespaces of the same pipelines (statuses written, no
//! controllers), one kubeconfig context each; interleaved: (e) `status -A --all-contexts -o json`,
//! (f) the shell loop of the same C single-context runs, (g) a loop of `flux get ks -A`; and the
//! fleet run's peak RSS at 1, C/2 and C contexts (it should grow linearly). The comparison runs
//! twice: with the clusters on loopback (all of them share this machine's cores: CPU-bound), and
//! behind delay lines of our own adding `--rtt-ms` (default 50 and 100) of round trip to each
//! cluster, as clusters in other regions are.
//!
//! The cost of a wait (`--only wait`, or after the cluster part): `wait -A` for a revision no source
//! reaches, for `--wait-seconds` (default 300), over the N namespaces while Jobs churn (one created
//! and one deleted every two seconds, each run to its end by the Job controller and kwok): its API
//! requests per minute by verb from the audit log (watches, not LISTs), and its resident memory
//! sampled every ten seconds (flat over the wait).

#[path = "../tests/e2e/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};

use harness::{ControlPlane, Options, Tools};

const REV: &str = "main@sha1:5e0f7a1c2d3b4a59687766554433221100ffeedd";
const BIN: &str = env!("CARGO_BIN_EXE_kubectl-fluxjobs");

struct Args {
    /// `cluster` (one cluster, N namespaces), `contexts` (the fleet of clusters), or both.
    only: Option<String>,
    contexts: usize,
    per_context: usize,
    /// The round trips added in front of each cluster of the fleet, one comparison each.
    rtt_ms: Vec<u64>,
    /// How long the measured wait lasts.
    wait_seconds: u64,
    namespaces: usize,
    runs: usize,
    sizes_mb: Vec<usize>,
    /// A dump saved by an earlier run: skip the cluster, measure the offline engine only.
    offline_from: Option<PathBuf>,
    /// After filling, print the benchmark user's kubeconfig and keep the cluster up until killed.
    hold: bool,
    /// An older build of the plugin: its (a) is measured beside, and its document compared.
    baseline: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        only: None,
        contexts: 10,
        per_context: 50,
        rtt_ms: vec![50, 100],
        wait_seconds: 300,
        namespaces: 300,
        runs: 5,
        sizes_mb: vec![5, 50, 200],
        offline_from: None,
        hold: false,
        baseline: None,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--namespaces" => a.namespaces = value.parse().expect("--namespaces N"),
            "--runs" => a.runs = value.parse().expect("--runs N"),
            "--only" => a.only = Some(value),
            "--contexts" => a.contexts = value.parse().expect("--contexts C"),
            "--per-context" => a.per_context = value.parse().expect("--per-context N"),
            "--rtt-ms" => a.rtt_ms = value.split(',').map(|s| s.parse().expect("--rtt-ms 50,100")).collect(),
            "--offline-from" => a.offline_from = Some(PathBuf::from(value)),
            "--wait-seconds" => a.wait_seconds = value.parse().expect("--wait-seconds S"),
            "--baseline" => a.baseline = Some(PathBuf::from(value)),
            "--sizes-mb" => a.sizes_mb = value.split(',').map(|s| s.parse().expect("--sizes-mb 5,50")).collect(),
            "--bench" => {
                i += 1;
                continue;
            }
            "--hold" => {
                a.hold = true;
                i += 1;
                continue;
            }
            other => panic!("unknown argument {other}; see the header of benches/fleet.rs"),
        }
        i += 2;
    }
    a
}

fn main() {
    // `cargo test --all-targets` runs bench targets too, without `--bench`: a fleet is minutes of
    // work, so only `cargo bench` runs it.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("fleet benchmark: skipped (run it with `cargo bench --bench fleet`)");
        return;
    }
    let args = args();
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    if let Some(dump) = &args.offline_from {
        let mut report = String::new();
        let base: Value = serde_json::from_str(&std::fs::read_to_string(dump).unwrap()).unwrap();
        offline(&base, &std::env::temp_dir(), &args, &mut report);
        startup(&mut report);
        println!("{report}");
        return;
    }
    let mut tools = Tools::build().expect("control-plane programs");
    let flux = Tools::build_components(&["flux"]).ok();
    if let Some(flux) = &flux {
        tools.merge(flux);
    }
    let options = Options { log_namespaces: vec!["*".into()], flux_controllers: false };
    let plane = ControlPlane::start(tools, &std::env::temp_dir(), &options).expect("control plane");
    let bench_kubeconfig = plane.dir.join("bench.kubeconfig");
    plane.write_kubeconfig(&bench_kubeconfig, harness::BENCH_USER, "bench").unwrap();
    plane
        .write_pod_log("*", &["running migration", "ERROR: relation \"orders\" already exists", "migration failed"])
        .unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut report = String::new();
    writeln!(report, "# Fleet benchmark\n").unwrap();
    if matches!(args.only.as_deref(), None | Some("contexts")) {
        runtime.block_on(fleet_of_clusters(&plane, &args, &mut report));
    }
    if args.only.as_deref() == Some("contexts") {
        std::fs::write(out.join("fleet.md"), &report).unwrap();
        println!("{report}");
        return;
    }
    let start = Instant::now();
    let counts = runtime.block_on(fill(&plane, args.namespaces));
    eprintln!(
        "bench: fleet of {} namespaces ready in {:.0}s: {counts:?}",
        args.namespaces,
        start.elapsed().as_secs_f64()
    );

    writeln!(
        report,
        "N = {} namespaces: {} Kustomizations, {} Jobs, {} Pods, {} Events, {} Deployments; {} runs each, interleaved, each run starting the rotation one later; medians.\n",
        args.namespaces, counts["kustomizations"], counts["jobs"], counts["pods"], counts["events"], counts["deployments"], args.runs
    )
    .unwrap();
    if args.hold {
        eprintln!("bench: holding the cluster; kubeconfig (the benchmark user's): {}", bench_kubeconfig.display());
        eprintln!("bench: admin kubeconfig: {}; audit log in {}", plane.kubeconfig.display(), plane.dir.display());
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    if args.only.as_deref() == Some("wait") {
        wait_cost(&plane, &bench_kubeconfig, args.namespaces, args.wait_seconds, &mut report);
        std::fs::write(out.join("fleet.md"), &report).unwrap();
        println!("{report}");
        return;
    }
    live(&plane, &bench_kubeconfig, args.runs, args.baseline.as_deref(), "", &mut report);
    // The common case: the same cluster with every pipeline Ready.
    runtime.block_on(make_all_ready(&plane, args.namespaces));
    live(&plane, &bench_kubeconfig, args.runs, args.baseline.as_deref(), ", every pipeline Ready", &mut report);
    wait_cost(&plane, &bench_kubeconfig, args.namespaces, args.wait_seconds, &mut report);
    let dump = plane.kubectl(&["get", &fluxjobs::testing::read_resources(), "-A", "-o", "json"]).unwrap();
    std::fs::write(out.join(format!("fleet-{}.json", args.namespaces)), &dump).unwrap();
    offline(&serde_json::from_str(&dump).unwrap(), &plane.dir, &args, &mut report);
    startup(&mut report);
    std::fs::write(out.join("fleet.md"), &report).unwrap();
    println!("{report}");
}

/// Whether this build's `status -A -o json` says what `old`'s does on the same cluster, durations
/// aside (ages and "running 12s" move between the two runs).
fn same_document(old: &Path, kubeconfig: &str, report: &mut String) {
    let document = |program: &Path| {
        let out = Command::new(program).args(["--kubeconfig", kubeconfig, "status", "-A", "-o", "json"]).output();
        without_durations(&String::from_utf8_lossy(&out.expect("run status").stdout))
    };
    let (before, after) = (document(old), document(Path::new(BIN)));
    let same = before == after;
    eprintln!("bench: the document of (a) is {}the baseline's", if same { "" } else { "NOT " });
    writeln!(
        report,
        "The document of (a) is {} the baseline's ({}), durations aside.\n",
        if same { "the same as" } else { "DIFFERENT from" },
        old.display()
    )
    .unwrap();
    if !same {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
        std::fs::write(dir.join("baseline.json"), &before).unwrap();
        std::fs::write(dir.join("current.json"), &after).unwrap();
    }
}

/// The text with every duration (`12s`, `3m4s`, `1h2m`, `250ms`) replaced by `<d>`.
fn without_durations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let mut end = 0;
        let bytes = tail.as_bytes();
        // Runs of digits each followed by a unit; anything else ends the duration.
        loop {
            let digits = tail[end..].bytes().take_while(u8::is_ascii_digit).count();
            let unit = tail[end + digits..].bytes().take_while(|b| matches!(b, b'h' | b'm' | b's')).count();
            if digits == 0 || unit == 0 || unit > 2 {
                break;
            }
            end += digits + unit;
        }
        let preceded = out.chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
        let followed = bytes.get(end).is_some_and(|b| b.is_ascii_alphanumeric());
        if end > 0 && !preceded && !followed {
            out.push_str("<d>");
            rest = &tail[end..];
        } else {
            let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
            out.push_str(&tail[..digits]);
            rest = &tail[digits..];
        }
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// The fleet

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-11-24T10:00:00Z", "observedGeneration": 1})
}

/// What namespace `i` runs into: most pipelines are healthy; some have a failed, running or
/// unschedulable migration.
#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Ready,
    Failed,
    Running,
    Pending,
}

fn outcome(i: usize) -> Outcome {
    match i % 10 {
        0..=5 => Outcome::Ready,
        6 | 7 => Outcome::Failed,
        8 => Outcome::Running,
        _ => Outcome::Pending,
    }
}

fn job(ns: &str, name: &str, stage: &str, labels: Value, cpu: Option<&str>) -> Value {
    let mut container = json!({"name": "main", "image": "registry.example.invalid/shop/app:1.0.0"});
    if let Some(cpu) = cpu {
        container["resources"] = json!({"requests": {"cpu": cpu}});
    }
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": ns,
                     "labels": {"kustomize.toolkit.fluxcd.io/name": stage, "kustomize.toolkit.fluxcd.io/namespace": ns}},
        "spec": {"backoffLimit": 1, "template": {"metadata": {"labels": labels},
                 "spec": {"restartPolicy": "Never", "containers": [container]}}},
    })
}

fn kustomization(ns: &str, name: &str, deps: &[&str], ready: Value, inventory: &[String]) -> (Value, Value) {
    let object = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"dependsOn": deps.iter().map(|d| json!({"name": d})).collect::<Vec<_>>(),
                 "sourceRef": {"kind": "GitRepository", "name": "app"}, "path": format!("./{name}"),
                 "interval": "60m", "timeout": "5m", "prune": true, "wait": true, "force": true},
    });
    let ready_true = ready["status"] == "True";
    let status = json!({"status": {
        "observedGeneration": 1,
        "lastAppliedRevision": if ready_true { Value::from(REV) } else { Value::Null },
        "lastAttemptedRevision": REV,
        "conditions": [ready],
        "inventory": {"entries": inventory.iter().map(|id| json!({"id": id, "v": "v1"})).collect::<Vec<_>>()},
    }});
    (object, status)
}

fn event(ns: &str, name: &str, kind: &str, object: &str, type_: &str, reason: &str, message: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": {"kind": kind, "name": object, "namespace": ns,
                           "apiVersion": if kind == "Kustomization" { "kustomize.toolkit.fluxcd.io/v1" } else { "batch/v1" }},
        "type": type_, "reason": reason, "message": message, "count": 1,
        "firstTimestamp": "2026-11-24T10:00:00Z", "lastTimestamp": "2026-11-24T10:00:00Z",
        "source": {"component": "kustomize-controller"},
    })
}

/// (object, status patch) pairs of one namespace whose pipeline ran into `o`, in creation order.
fn namespace_objects(i: usize, o: Outcome) -> Vec<(Value, Option<Value>)> {
    let ns = format!("fleet-{i:04}");
    let ns = ns.as_str();
    let mut out: Vec<(Value, Option<Value>)> = Vec::new();
    out.push((json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}), None));
    out.push((
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "metadata": {"name": "app", "namespace": ns},
               "spec": {"url": "https://git.example.invalid/shop/app.git", "interval": "5m", "ref": {"branch": "main"}}}),
        Some(json!({"status": {"observedGeneration": 1,
            "artifact": {"revision": REV, "digest": "sha256:0f", "path": "gitrepository/x.tar.gz", "url": "http://source-controller/x.tar.gz",
                         "lastUpdateTime": "2026-11-24T10:00:00Z", "size": 1024},
            "conditions": [condition("Ready", "True", "Succeeded", &format!("stored artifact for revision '{REV}'"))]}})),
    ));
    let migration_labels = match o {
        Outcome::Failed => json!({"fluxjobs.test/exit-code": "3"}),
        Outcome::Running => json!({"fluxjobs.test/run-forever": "true"}),
        _ => json!({}),
    };
    let cpu = (o == Outcome::Pending).then_some("64");
    out.push((job(ns, "db-migration", "app-pre-deploy", migration_labels, cpu), None));
    let mut pre_inventory = vec![format!("{ns}_db-migration_batch_Job")];
    if i.is_multiple_of(2) {
        out.push((job(ns, "seed-data", "app-pre-deploy", json!({}), None), None));
        pre_inventory.push(format!("{ns}_seed-data_batch_Job"));
    }
    let pre_ready = match o {
        Outcome::Ready => condition("Ready", "True", "ReconciliationSucceeded", &format!("Applied revision: {REV}")),
        Outcome::Failed => condition(
            "Ready",
            "False",
            "HealthCheckFailed",
            &format!(
                "health check failed after 30.01s: failed early due to stalled resources: [Job/{ns}/db-migration status: 'Failed']"
            ),
        ),
        _ => condition("Ready", "Unknown", "Progressing", "Reconciliation in progress"),
    };
    let (k, s) = kustomization(ns, "app-pre-deploy", &[], pre_ready, &pre_inventory);
    out.push((k, Some(s)));
    let blocked =
        |dep: &str| condition("Ready", "False", "DependencyNotReady", &format!("dependency '{ns}/{dep}' is not ready"));
    let deploy_ready = if o == Outcome::Ready {
        condition("Ready", "True", "ReconciliationSucceeded", &format!("Applied revision: {REV}"))
    } else {
        blocked("app-pre-deploy")
    };
    if o == Outcome::Ready {
        out.push((
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "app", "namespace": ns,
                                "labels": {"kustomize.toolkit.fluxcd.io/name": "app-deploy", "kustomize.toolkit.fluxcd.io/namespace": ns}},
                   "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "app"}},
                            "template": {"metadata": {"labels": {"app": "app"}},
                                         "spec": {"containers": [{"name": "app", "image": "registry.example.invalid/shop/app:1.0.0"}]}}}}),
            None,
        ));
    }
    let deploy_inventory = if o == Outcome::Ready { vec![format!("{ns}_app_apps_Deployment")] } else { vec![] };
    let (k, s) = kustomization(ns, "app-deploy", &["app-pre-deploy"], deploy_ready.clone(), &deploy_inventory);
    out.push((k, Some(s)));
    let post_ready = if o == Outcome::Ready { deploy_ready } else { blocked("app-deploy") };
    let mut post_inventory = vec![];
    if o == Outcome::Ready {
        out.push((job(ns, "cache-refresh", "app-post-deploy", json!({}), None), None));
        post_inventory.push(format!("{ns}_cache-refresh_batch_Job"));
    }
    let (k, s) = kustomization(ns, "app-post-deploy", &["app-deploy"], post_ready, &post_inventory);
    out.push((k, Some(s)));
    // What kustomize-controller records (the Job controller, scheduler and ReplicaSet controller add theirs).
    for stage in ["app-pre-deploy", "app-deploy", "app-post-deploy"] {
        for (n, reason, message) in [
            (1, "Progressing", "Job/db-migration configured"),
            (2, "ReconciliationSucceeded", "Reconciliation finished in 1.2s, next run in 60m0s"),
            (3, "Progressing", "Health check passed in 5.0s"),
        ] {
            out.push((event(ns, &format!("{stage}.{n}"), "Kustomization", stage, "Normal", reason, message), None));
        }
    }
    if o == Outcome::Failed {
        out.push((
            event(
                ns,
                "app-pre-deploy.w",
                "Kustomization",
                "app-pre-deploy",
                "Warning",
                "HealthCheckFailed",
                "health check failed",
            ),
            None,
        ));
    }
    out
}

async fn create(client: &kube::Client, object: &Value, status: Option<&Value>) -> Result<(), String> {
    let api_version = object["apiVersion"].as_str().unwrap();
    let kind = object["kind"].as_str().unwrap();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let plural = match kind {
        "GitRepository" => "gitrepositories".to_string(),
        k => format!("{}s", k.to_lowercase()),
    };
    let ar = resource(group, version, kind, &plural);
    let name = object["metadata"]["name"].as_str().unwrap();
    let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let typed: DynamicObject = serde_json::from_value(object.clone()).map_err(|e| e.to_string())?;
    match api.create(&PostParams::default(), &typed).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => return Err(format!("create {kind} {name}: {e}")),
    }
    if let Some(status) = status {
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
            .await
            .map_err(|e| format!("status of {kind} {name}: {e}"))?;
    }
    Ok(())
}

async fn client_of(kubeconfig: &Path) -> kube::Client {
    let config =
        kube::Config::from_custom_kubeconfig(Kubeconfig::read_from(kubeconfig).unwrap(), &KubeConfigOptions::default())
            .await
            .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Namespaces `0..namespaces` of pipelines created through `client`, 16 at once.
async fn create_namespaces(client: &kube::Client, namespaces: usize) {
    let done = std::sync::atomic::AtomicUsize::new(0);
    futures::stream::iter(0..namespaces)
        .map(|i| {
            let client = client.clone();
            let done = &done;
            async move {
                for (object, status) in namespace_objects(i, outcome(i)) {
                    create(&client, &object, status.as_ref()).await.unwrap_or_else(|e| panic!("{e}"));
                }
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n.is_multiple_of(50) {
                    eprintln!("bench: {n}/{namespaces} namespaces created");
                }
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}

/// C clusters of `per_context` namespaces each, one context each, read by one fleet run against
/// the shell loops users write today.
async fn fleet_of_clusters(plane: &ControlPlane, args: &Args, report: &mut String) {
    let start = Instant::now();
    let mut contexts = Vec::new();
    for c in 0..args.contexts {
        let name: &'static str = Box::leak(format!("fleet-{c:02}").into_boxed_str());
        let (server, kubeconfig) = plane.start_spoke(name, false).expect("a cluster of the fleet");
        create_namespaces(&client_of(&kubeconfig).await, args.per_context).await;
        eprintln!("bench: cluster {name} at {server} filled ({:.0}s)", start.elapsed().as_secs_f64());
        contexts.push((name, server));
    }
    writeln!(
        report,
        "## A fleet of clusters\n\n{} API servers over one etcd, {} namespaces of pipelines each ({} Kustomizations per cluster); {} runs each, interleaved; medians.\n",
        contexts.len(),
        args.per_context,
        args.per_context * 3,
        args.runs
    )
    .unwrap();
    let kubeconfig = fleet_kubeconfig(plane, &contexts, "fleet.kubeconfig");
    writeln!(report, "On loopback (the clusters share this machine's 2 cores with the runs):\n").unwrap();
    compare_fleet_runs(plane, &kubeconfig, &contexts, args.runs, report);
    for rtt in &args.rtt_ms {
        let delayed: Vec<(&str, String)> = contexts
            .iter()
            .map(|(name, server)| (*name, DelayLine::start(server.trim_start_matches("https://"), *rtt)))
            .collect();
        let delayed_kubeconfig = fleet_kubeconfig(plane, &delayed, &format!("fleet-rtt-{rtt}.kubeconfig"));
        writeln!(
            report,
            "\nEach cluster behind a delay line adding {rtt} ms of round trip (clusters in other regions):\n"
        )
        .unwrap();
        compare_fleet_runs(plane, &delayed_kubeconfig, &delayed, args.runs, report);
    }
    let kc = kubeconfig.to_str().unwrap();
    let names: Vec<&str> = contexts.iter().map(|(n, _)| *n).collect();
    // Memory against the fleet's size: the same run over the first 1, C/2 and C contexts.
    writeln!(report, "\nPeak RSS of (e) against the number of contexts read:\n").unwrap();
    writeln!(report, "| contexts | peak RSS (median) | wall (median) |").unwrap();
    writeln!(report, "|---|---|---|").unwrap();
    let mut sizes = vec![1, names.len() / 2, names.len()];
    sizes.dedup();
    for size in sizes.into_iter().filter(|s| *s > 0) {
        let selection = names[..size].join(",");
        let ms: Vec<Measure> = (0..args.runs)
            .map(|_| {
                measure(
                    None,
                    Path::new(BIN),
                    &["--kubeconfig", kc, "status", "-A", "--contexts", &selection, "-o", "json"],
                    &[],
                )
            })
            .collect();
        let rss = median(ms.iter().map(|m| m.rss_kb).collect());
        let wall = median(ms.iter().map(|m| m.wall).collect());
        writeln!(report, "| {size} | {} MB | {:.3}s |", rss / 1024, wall.as_secs_f64()).unwrap();
        eprintln!("bench: {size} contexts: {} MB, {:.3}s", rss / 1024, wall.as_secs_f64());
    }
    writeln!(report).unwrap();
}

/// A kubeconfig with one context per cluster (the admin user).
fn fleet_kubeconfig(plane: &ControlPlane, contexts: &[(&str, String)], file: &str) -> PathBuf {
    let pki = plane.dir.join("pki");
    let mut text = String::from("apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n");
    text.push_str(&format!(
        "    client-certificate: {}\n    client-key: {}\nclusters:\n",
        pki.join("admin.crt").display(),
        pki.join("admin.key").display()
    ));
    for (name, server) in contexts {
        text.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: {server}\n    certificate-authority: {}\n",
            pki.join("ca.crt").display()
        ));
    }
    text.push_str("contexts:\n");
    for (name, _) in contexts {
        text.push_str(&format!("- name: {name}\n  context:\n    cluster: {name}\n    user: admin\n"));
    }
    let kubeconfig = plane.dir.join(file);
    std::fs::write(&kubeconfig, text).unwrap();
    kubeconfig
}

/// (e) one fleet run against (f) the loop of single-context runs and (g) the loop of flux CLI runs,
/// interleaved; a table of medians.
fn compare_fleet_runs(
    plane: &ControlPlane,
    kubeconfig: &Path,
    contexts: &[(&str, String)],
    runs: usize,
    report: &mut String,
) {
    let kc = kubeconfig.to_str().unwrap();
    let names: Vec<&str> = contexts.iter().map(|(n, _)| *n).collect();
    let bin_loop =
        format!("for c in {}; do {BIN} --kubeconfig {kc} --context $c status -A -o json; done", names.join(" "));
    let mut peers: Vec<(String, PathBuf, Vec<String>)> = vec![
        (
            format!("(e) `kubectl-fluxjobs status -A --all-contexts -o json` ({} contexts)", names.len()),
            PathBuf::from(BIN),
            ["--kubeconfig", kc, "status", "-A", "--all-contexts", "-o", "json"].map(String::from).to_vec(),
        ),
        (
            format!("(f) shell loop of {} `kubectl-fluxjobs status -A --context C -o json`", names.len()),
            PathBuf::from("/bin/sh"),
            vec!["-c".into(), bin_loop],
        ),
    ];
    if let Some(flux) = plane.try_tool("FLUX") {
        let flux_loop = format!(
            "for c in {}; do {} --kubeconfig {kc} --context $c get kustomizations -A; done",
            names.join(" "),
            flux.display()
        );
        peers.push((
            format!("(g) shell loop of {} `flux get kustomizations -A`", names.len()),
            PathBuf::from("/bin/sh"),
            vec!["-c".into(), flux_loop],
        ));
    }
    let mut results: Vec<Vec<Measure>> = peers.iter().map(|_| Vec::new()).collect();
    for run in 0..runs {
        for (i, (name, program, argv)) in peers.iter().enumerate() {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let m = measure(None, program, &argv, &[]);
            eprintln!("bench: run {run}: {name}: {:.3}s, {} MB", m.wall.as_secs_f64(), m.rss_kb / 1024);
            results[i].push(m);
        }
    }
    let loop_wall = median(results[1].iter().map(|m| m.wall).collect());
    writeln!(report, "| command | wall (median) | vs (f) | CPU (its own) | peak RSS |").unwrap();
    writeln!(report, "|---|---|---|---|---|").unwrap();
    for ((name, _, _), ms) in peers.iter().zip(&results) {
        let wall = median(ms.iter().map(|m| m.wall).collect());
        let cpu = median(ms.iter().map(|m| m.cpu).collect());
        let rss = median(ms.iter().map(|m| m.rss_kb).collect());
        writeln!(
            report,
            "| {name} | {:.3}s | {:.2}x | {:.2}s | {} MB |",
            wall.as_secs_f64(),
            wall.as_secs_f64() / loop_wall.as_secs_f64(),
            cpu.as_secs_f64(),
            rss / 1024
        )
        .unwrap();
    }
}

/// A loopback TCP proxy that delivers every chunk `rtt_ms / 2` after it arrived, each way: the
/// latency of a distant cluster without its bandwidth limits. Returns its URL.
struct DelayLine;

impl DelayLine {
    fn start(target: &str, rtt_ms: u64) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (target, one_way) = (target.to_string(), Duration::from_millis(rtt_ms / 2));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = std::net::TcpStream::connect(&target) else { continue };
                let (Ok(client_in), Ok(server_in)) = (client.try_clone(), server.try_clone()) else { continue };
                DelayLine::pipe(client_in, server, one_way);
                DelayLine::pipe(server_in, client, one_way);
            }
        });
        format!("https://127.0.0.1:{port}")
    }

    /// Copies `from` to `to`, each chunk written `delay` after it was read.
    fn pipe(mut from: std::net::TcpStream, mut to: std::net::TcpStream, delay: Duration) {
        use std::io::{Read, Write};
        let (chunks, due) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                if chunks.send((Instant::now() + delay, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            for (at, chunk) in due {
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
                if to.write_all(&chunk).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(std::net::Shutdown::Write);
        });
    }
}

async fn fill(plane: &ControlPlane, namespaces: usize) -> BTreeMap<&'static str, usize> {
    let client = client_of(&plane.kubeconfig).await;
    // Room for every pod: kwok nodes of 110 pods each (the harness starts one).
    let pods_expected = namespaces * 5;
    for n in 1..=pods_expected / 100 {
        let node = json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("kwok-bench-{n}"), "annotations": {"kwok.x-k8s.io/node": "fake"},
                         "labels": {"kubernetes.io/hostname": format!("kwok-bench-{n}"), "type": "kwok"}},
            "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                       "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"}}});
        create(&client, &node, None).await.unwrap();
    }
    create_namespaces(&client, namespaces).await;
    // Wait until the Job controller and kwok have settled every Job that can finish.
    let expected_finished: usize = (0..namespaces)
        .map(|i| match outcome(i) {
            Outcome::Ready => 2 + usize::from(i.is_multiple_of(2)),
            Outcome::Failed => 1 + usize::from(i.is_multiple_of(2)),
            _ => usize::from(i.is_multiple_of(2)),
        })
        .sum();
    let finished = |c: &k8s_openapi::api::batch::v1::JobCondition| c.type_ == "Complete" || c.type_ == "Failed";
    wait_for_jobs(&client, expected_finished, finished, "Jobs finished").await;
    let mut counts = BTreeMap::new();
    for (key, resource) in [
        ("kustomizations", "kustomizations.kustomize.toolkit.fluxcd.io"),
        ("jobs", "jobs"),
        ("pods", "pods"),
        ("events", "events"),
        ("deployments", "deployments"),
    ] {
        let out = plane.kubectl(&["get", resource, "-A", "--no-headers", "-o", "name"]).unwrap();
        counts.insert(key, out.lines().count());
    }
    counts
}

// ---------------------------------------------------------------------------------------------
// Measuring

struct Measure {
    wall: Duration,
    rss_kb: u64,
    /// User and system CPU of the program and its children.
    cpu: Duration,
    requests: BTreeMap<String, usize>,
    stdout_bytes: u64,
    /// What the API server spent meanwhile (with a control plane).
    server: Option<ServerCost>,
}

/// The API server's own counters from its `/metrics` (read as the admin): the bytes its Go heap
/// allocated, its garbage collections and its CPU. A command's cost is their change over its run,
/// less one read of `/metrics` (itself a few MB).
#[derive(Clone, Copy)]
struct ServerCost {
    alloc_mb: f64,
    gcs: f64,
    cpu_seconds: f64,
}

impl ServerCost {
    fn read(plane: &ControlPlane) -> ServerCost {
        // A figure that cannot be read stops the bench rather than reading as zero.
        let text = plane.kubectl(&["get", "--raw", "/metrics"]).expect("read the API server's /metrics");
        let value = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
                .unwrap_or_else(|| panic!("no {name} in the API server's /metrics"))
        };
        ServerCost {
            alloc_mb: value("go_memstats_alloc_bytes_total") / 1e6,
            gcs: value("go_gc_duration_seconds_count"),
            cpu_seconds: value("process_cpu_seconds_total"),
        }
    }

    fn since(self, before: ServerCost) -> ServerCost {
        ServerCost {
            alloc_mb: self.alloc_mb - before.alloc_mb,
            gcs: self.gcs - before.gcs,
            cpu_seconds: self.cpu_seconds - before.cpu_seconds,
        }
    }
}

/// Runs `cmd` under GNU time; requests are the audit-log lines it added.
fn measure(plane: Option<&ControlPlane>, program: &Path, args: &[&str], env: &[(&str, &Path)]) -> Measure {
    let audit_before = plane.map(|p| std::fs::read_to_string(p.audit_log()).unwrap_or_default().len()).unwrap_or(0);
    let server_before = plane.map(ServerCost::read);
    let time_out = std::env::temp_dir().join(format!("fluxjobs-bench-time-{}", std::process::id()));
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-f").arg("%e %M %U %S").arg("-o").arg(&time_out).arg(program).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let out = cmd.stderr(Stdio::piped()).output().expect("run under /usr/bin/time");
    let wall = start.elapsed();
    let server = plane.zip(server_before).map(|(p, before)| ServerCost::read(p).since(before));
    assert!(out.status.success(), "{program:?} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    let timing = std::fs::read_to_string(&time_out).unwrap();
    let fields: Vec<&str> = timing.split_whitespace().collect();
    let rss_kb = fields.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let seconds = |i: usize| fields.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = Duration::from_secs_f64(seconds(2) + seconds(3));
    let mut requests = BTreeMap::new();
    if let Some(p) = plane {
        let log = std::fs::read_to_string(p.audit_log()).unwrap_or_default();
        for line in log[audit_before..].lines() {
            let entry: Value = serde_json::from_str(line).unwrap_or_default();
            let verb = entry["verb"].as_str().unwrap_or("?");
            let sub = entry["objectRef"]["subresource"].as_str().map(|s| format!("/{s}")).unwrap_or_default();
            *requests.entry(format!("{verb}{sub}")).or_default() += 1;
        }
    }
    Measure { wall, rss_kb, cpu, requests, stdout_bytes: out.stdout.len() as u64, server }
}

fn median<T: Copy + PartialOrd>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

/// Turns every pipeline that is not Ready into one that is, as a fixed migration would: its
/// migration Job deleted and created again to complete, the rest of the Ready pipeline created
/// (the Deployment, the post-deploy Job), the Kustomizations' statuses Ready, the Warning event of
/// the failed health check gone; then waits for every Job to complete.
async fn make_all_ready(plane: &ControlPlane, namespaces: usize) {
    let client = client_of(&plane.kubeconfig).await;
    let not_ready: Vec<usize> = (0..namespaces).filter(|i| outcome(*i) != Outcome::Ready).collect();
    futures::stream::iter(not_ready.iter().copied())
        .map(|i| {
            let client = client.clone();
            async move {
                let ns = format!("fleet-{i:04}");
                let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(client.clone(), &ns);
                let _ = jobs.delete("db-migration", &kube::api::DeleteParams::background()).await;
                while jobs.get_opt("db-migration").await.unwrap().is_some() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), &ns);
                let _ = events.delete("app-pre-deploy.w", &Default::default()).await;
                for (object, status) in namespace_objects(i, Outcome::Ready) {
                    create(&client, &object, status.as_ref()).await.unwrap_or_else(|e| panic!("{e}"));
                }
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let expected: usize = (0..namespaces).map(|i| 2 + usize::from(i.is_multiple_of(2))).sum();
    let complete = |c: &k8s_openapi::api::batch::v1::JobCondition| c.type_ == "Complete";
    wait_for_jobs(&client, expected, complete, "Jobs complete (every pipeline Ready)").await;
}

/// Waits (20 minutes at most) until `expected` Jobs have a condition `done` says ends them.
async fn wait_for_jobs(
    client: &kube::Client,
    expected: usize,
    done: impl Fn(&k8s_openapi::api::batch::v1::JobCondition) -> bool,
    what: &str,
) {
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(1200);
    loop {
        let list = jobs.list(&Default::default()).await.unwrap();
        let ended = list
            .items
            .iter()
            .filter(|j| {
                let conditions = j.status.as_ref().and_then(|s| s.conditions.as_ref());
                conditions.is_some_and(|cs| cs.iter().any(|c| done(c) && c.status == "True"))
            })
            .count();
        eprintln!("bench: {ended}/{expected} {what}");
        if ended >= expected || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

fn live(
    plane: &ControlPlane,
    kubeconfig: &Path,
    runs: usize,
    baseline: Option<&Path>,
    title: &str,
    report: &mut String,
) {
    let kc = kubeconfig.to_str().unwrap();
    if let Some(old) = baseline {
        same_document(old, kc, report);
    }
    let kubectl = plane.tool("KUBECTL").to_path_buf();
    // The kinds `status` reads, from its own list, for the `kubectl get` floor.
    let kinds = fluxjobs::testing::read_resources();
    let mut peers: Vec<(&str, PathBuf, Vec<&str>)> = vec![
        (
            "(a) kubectl-fluxjobs status -A -o json",
            PathBuf::from(BIN),
            vec!["--kubeconfig", kc, "status", "-A", "-o", "json"],
        ),
        (
            "(b) kubectl-fluxjobs status -A",
            PathBuf::from(BIN),
            vec!["--kubeconfig", kc, "status", "-A", "--color", "never"],
        ),
        (
            "(c) kubectl get <same kinds> -A -o json",
            kubectl,
            vec!["--kubeconfig", kc, "get", &kinds, "-A", "-o", "json"],
        ),
    ];
    if let Some(old) = baseline {
        peers.push((
            "(a0) the baseline's status -A -o json",
            old.to_path_buf(),
            vec!["--kubeconfig", kc, "status", "-A", "-o", "json"],
        ));
    }
    if let Some(flux) = plane.try_tool("FLUX") {
        peers.push((
            "(d) flux get kustomizations -A",
            flux.to_path_buf(),
            vec!["--kubeconfig", kc, "get", "kustomizations", "-A"],
        ));
    }
    // What reading `/metrics` twice allocates in the API server, taken off each run's figure.
    let scrape_mb = median(
        (0..3)
            .map(|_| {
                let before = ServerCost::read(plane);
                ServerCost::read(plane).since(before).alloc_mb
            })
            .collect(),
    );
    let mut results: Vec<Vec<Measure>> = peers.iter().map(|_| Vec::new()).collect();
    // Each run starts the rotation one peer later: what a command pays for the one before it (the
    // API server's garbage collection is all or nothing, and `kubectl get` leaves most garbage)
    // falls on each peer in turn rather than always on the same one.
    for run in 0..runs {
        for i in (0..peers.len()).map(|k| (k + run) % peers.len()) {
            let (name, program, args) = &peers[i];
            let m = measure(Some(plane), program, args, &[]);
            eprintln!(
                "bench: run {run}: {name}: {:.3}s, {} MB, {:?}",
                m.wall.as_secs_f64(),
                m.rss_kb / 1024,
                m.requests
            );
            results[i].push(m);
        }
    }
    let floor = median(results[2].iter().map(|m| m.wall).collect());
    let flux = peers.iter().position(|(name, _, _)| name.starts_with("(d)"));
    let flux = flux.map(|i| median(results[i].iter().map(|m| m.wall).collect()));
    writeln!(report, "## Live cluster, all namespaces{title}\n").unwrap();
    writeln!(
        report,
        "| command | wall (median) | wall (fastest-slowest) | vs (c) | vs (d) | CPU (median) | peak RSS | API requests | output | API server: allocated (median) | its GCs (runs with one) | its CPU (median) |"
    )
    .unwrap();
    writeln!(report, "|---|---|---|---|---|---|---|---|---|---|---|---|").unwrap();
    for ((name, _, _), ms) in peers.iter().zip(&results) {
        let wall = median(ms.iter().map(|m| m.wall).collect());
        // The API server and etcd share the machine's cores with the command: single runs fall
        // into a fast and a slow group, those in which the API server collects its garbage (about
        // 0.5 s of its CPU at N = 1000, once its heap has grown by about its live size) and the
        // others; a median of few can land in either. The more a command makes it allocate, the
        // more of its runs pay for a collection: the columns on the API server show both.
        let walls = ms.iter().map(|m| m.wall);
        let (fastest, slowest) = (walls.clone().min().unwrap_or_default(), walls.max().unwrap_or_default());
        let rss = median(ms.iter().map(|m| m.rss_kb).collect());
        let requests = ms
            .last()
            .map(|m| m.requests.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        let bytes = ms.last().map(|m| m.stdout_bytes).unwrap_or(0);
        let cpu = median(ms.iter().map(|m| m.cpu).collect());
        let vs_flux = flux.map_or("-".to_string(), |d| format!("{:.2}x", wall.as_secs_f64() / d.as_secs_f64()));
        let server: Vec<ServerCost> = ms.iter().filter_map(|m| m.server).collect();
        let allocated = median(server.iter().map(|c| c.alloc_mb - scrape_mb).collect());
        let collected = server.iter().filter(|c| c.gcs > 0.0).count();
        let server_cpu = median(server.iter().map(|c| c.cpu_seconds).collect());
        writeln!(
            report,
            "| `{name}` | {:.3}s | {:.2}-{:.2}s | {:.2}x | {vs_flux} | {:.2}s | {} MB | {requests} | {} KB | {allocated:.0} MB | {collected} of {} | {server_cpu:.2}s |",
            wall.as_secs_f64(),
            fastest.as_secs_f64(),
            slowest.as_secs_f64(),
            wall.as_secs_f64() / floor.as_secs_f64(),
            cpu.as_secs_f64(),
            rss / 1024,
            bytes / 1024,
            server.len()
        )
        .unwrap();
    }
    writeln!(report).unwrap();
}

/// `wait -A` for a revision no source reaches, `seconds` long, while Jobs churn: its requests by
/// verb (from the audit log, where only the benchmark user is logged) and its memory over time.
fn wait_cost(plane: &ControlPlane, kubeconfig: &Path, namespaces: usize, seconds: u64, report: &mut String) {
    let audit_before = std::fs::read_to_string(plane.audit_log()).unwrap_or_default().len();
    let stderr = plane.dir.join("bench-wait.stderr");
    let timeout = format!("{seconds}s");
    let never = "main@sha1:ffffffffffffffffffffffffffffffffffffffff";
    let args = ["--kubeconfig", kubeconfig.to_str().unwrap(), "wait", "-A", "--revision", never];
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--timeout", &timeout, "--logs", "0", "-o", "json"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("run wait");
    let start = Instant::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Jobs churn: in namespace after namespace, a Job created (run by the Job controller and kwok)
    // and the previous one deleted, every two seconds.
    let churn = {
        let (stop, kubectl, admin) = (stop.clone(), plane.tool("KUBECTL").to_path_buf(), plane.kubeconfig.clone());
        std::thread::spawn(move || {
            let mut made = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let ns = format!("fleet-{:04}", made % namespaces);
                let job = job(&ns, &format!("churn-{made}"), "app-post-deploy", json!({}), None);
                let mut apply = Command::new(&kubectl);
                apply
                    .arg("--kubeconfig")
                    .arg(&admin)
                    .args(["apply", "-f", "-"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null());
                if let Ok(mut p) = apply.spawn() {
                    use std::io::Write;
                    let _ = p.stdin.take().map(|mut s| s.write_all(job.to_string().as_bytes()));
                    let _ = p.wait();
                }
                if made > 0 {
                    let old = format!("fleet-{:04}", (made - 1) % namespaces);
                    let _ = Command::new(&kubectl)
                        .arg("--kubeconfig")
                        .arg(&admin)
                        .args(["delete", "job", &format!("churn-{}", made - 1), "-n", &old, "--wait=false"])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                }
                made += 1;
                std::thread::sleep(Duration::from_secs(2));
            }
            made
        })
    };
    // Resident memory every ten seconds, from /proc.
    let pid = child.id();
    let rss = |field: &str| -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let mut peak = 0;
    loop {
        std::thread::sleep(Duration::from_secs(10));
        if let (Some(now), Some(hwm)) = (rss("VmRSS:"), rss("VmHWM:")) {
            samples.push((start.elapsed().as_secs(), now / 1024));
            peak = hwm / 1024;
        }
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
    }
    let status = child.wait().unwrap();
    let elapsed = start.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let churned = churn.join().unwrap_or(0);
    assert_eq!(
        status.code(),
        Some(5),
        "the wait should time out: {}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    let log = std::fs::read_to_string(plane.audit_log()).unwrap_or_default();
    let mut requests: BTreeMap<String, usize> = BTreeMap::new();
    for line in log[audit_before..].lines() {
        let entry: Value = serde_json::from_str(line).unwrap_or_default();
        let verb = entry["verb"].as_str().unwrap_or("?");
        let resource = entry["objectRef"]["resource"].as_str().unwrap_or("?");
        *requests.entry(format!("{verb} {resource}")).or_default() += 1;
    }
    let minutes = elapsed.as_secs_f64() / 60.0;
    let total: usize = requests.values().sum();
    writeln!(report, "## The cost of a wait\n").unwrap();
    writeln!(
        report,
        "`wait -A --revision <never reached> --timeout {timeout}` over the {namespaces} namespaces while {churned} Jobs were created and deleted: {:.0}s, exit 5; {total} API requests, {:.1} per minute.\n",
        elapsed.as_secs_f64(),
        total as f64 / minutes
    )
    .unwrap();
    writeln!(report, "| request | count | per minute |\n|---|---|---|").unwrap();
    for (request, count) in &requests {
        writeln!(report, "| `{request}` | {count} | {:.1} |", *count as f64 / minutes).unwrap();
    }
    let at = |i: usize| samples.get(i).map(|(t, mb)| format!("{mb} MB at {t}s")).unwrap_or_default();
    writeln!(
        report,
        "\nResident memory: {}, {}, {} (peak {peak} MB).\n",
        at(0),
        at(samples.len() / 2),
        at(samples.len().saturating_sub(1))
    )
    .unwrap();
}

/// Grows the live dump to `target` bytes by repeating it with renamed namespaces (the copies are
/// real objects: the ones the controllers wrote), as one v1 List.
fn grown_dump(base: &Value, target: usize) -> String {
    let items = base["items"].as_array().unwrap();
    let texts: Vec<String> = items.iter().map(|i| i.to_string()).collect();
    let base_len: usize = texts.iter().map(|t| t.len() + 1).sum();
    let copies = target.div_ceil(base_len).max(1);
    let mut out = String::with_capacity(copies * base_len + 64);
    out.push_str("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[");
    let mut first = true;
    for c in 0..copies {
        for t in &texts {
            if !first {
                out.push(',');
            }
            first = false;
            if c == 0 {
                out.push_str(t);
            } else {
                out.push_str(&t.replace("fleet-", &format!("c{c}-fleet-")));
            }
            if out.len() >= target {
                break;
            }
        }
        if out.len() >= target {
            break;
        }
    }
    out.push_str("]}");
    out
}

fn offline(base: &Value, work: &Path, args: &Args, report: &mut String) {
    let dir = work.join("fluxjobs-bench-dumps");
    std::fs::create_dir_all(&dir).unwrap();
    writeln!(report, "## Offline snapshots (`status --snapshot FILE -A -o json`)\n").unwrap();
    writeln!(report, "| file | wall (median) | per MB | peak RSS | RSS / file |").unwrap();
    writeln!(report, "|---|---|---|---|---|").unwrap();
    for mb in &args.sizes_mb {
        let text = grown_dump(base, mb * 1024 * 1024);
        let path = dir.join(format!("fleet-{mb}mb.json"));
        std::fs::write(&path, &text).unwrap();
        let size = text.len() as f64 / (1024.0 * 1024.0);
        drop(text);
        let ms: Vec<Measure> = (0..args.runs)
            .map(|_| {
                measure(
                    None,
                    Path::new(BIN),
                    &["status", "--snapshot", path.to_str().unwrap(), "-A", "-o", "json"],
                    &[],
                )
            })
            .collect();
        let wall = median(ms.iter().map(|m| m.wall).collect());
        let rss = median(ms.iter().map(|m| m.rss_kb).collect()) as f64 / 1024.0;
        writeln!(
            report,
            "| {size:.0} MB | {:.3}s | {:.1} ms | {rss:.0} MB | {:.2}x |",
            wall.as_secs_f64(),
            wall.as_secs_f64() * 1000.0 / size,
            rss / size
        )
        .unwrap();
        eprintln!("bench: offline {size:.0} MB: {:.3}s, {rss:.0} MB", wall.as_secs_f64());
        let _ = std::fs::remove_file(&path);
    }
    writeln!(report).unwrap();
}

fn startup(report: &mut String) {
    let runs: Vec<Duration> = (0..21)
        .map(|_| {
            let start = Instant::now();
            let out = Command::new(BIN).arg("--version").output().unwrap();
            assert!(out.status.success());
            start.elapsed()
        })
        .collect();
    let size = std::fs::metadata(BIN).map(|m| m.len()).unwrap_or(0);
    writeln!(report, "## Start-up and size\n").unwrap();
    writeln!(
        report,
        "`kubectl-fluxjobs --version`: {:.1} ms (median of 21); binary {:.1} MB (release profile, stripped).",
        median(runs).as_secs_f64() * 1000.0,
        size as f64 / (1024.0 * 1024.0)
    )
    .unwrap();
}
