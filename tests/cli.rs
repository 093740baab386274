//! Runs the built binary on the offline examples: golden files for the table and JSON output of
//! every example (`UPDATE_GOLDEN=1` rewrites them), and the command-line behaviour users rely on.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

// Only the pseudo-terminal itself: the sessions are for the end-to-end runs.
#[allow(dead_code)]
#[path = "support/pty.rs"]
mod pty;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> Output {
    run_env(args, &[])
}

fn run_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-fluxjobs"));
    cmd.args(args).current_dir(root()).env_remove("NO_COLOR").env_remove("KUBECONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run kubectl-fluxjobs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 stderr")
}

fn example(name: &str) -> String {
    format!("examples/{name}.yaml")
}

const EXAMPLES: [&str; 12] = [
    "ready",
    "failed-migration",
    "image-pull",
    "unschedulable",
    "immutable-job",
    "missing-dependency",
    "suspended",
    "ready-expr",
    "hostile-text",
    "quota-refused",
    "rset-failed-step",
    "helm-hook-failed",
];

fn golden(name: &str, actual: &str) {
    let path = root().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1 to create it)", path.display()));
    if expected != actual {
        panic!(
            "output differs from {} (UPDATE_GOLDEN=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }
}

#[test]
fn every_example_matches_its_golden_table_and_json() {
    for name in EXAMPLES {
        let table = run(&["status", "--snapshot", &example(name)]);
        assert!(table.status.success(), "{name}: {}", stderr(&table));
        golden(&format!("{name}.txt"), &stdout(&table));
        let json = run(&["status", "--snapshot", &example(name), "-o", "json"]);
        assert!(json.status.success(), "{name}: {}", stderr(&json));
        golden(&format!("{name}.json"), &stdout(&json));
    }
    for name in ["immutable-job", "ready-expr"] {
        let wide = run(&["status", "--snapshot", &example(name), "-o", "wide"]);
        golden(&format!("{name}.wide.txt"), &stdout(&wide));
    }
}

#[test]
fn json_schema_has_the_documented_fields() {
    let out = run(&["status", "--snapshot", &example("failed-migration"), "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stage = &v["stages"][2];
    for field in [
        "namespace",
        "name",
        "state",
        "dependsOn",
        "suspended",
        "revision",
        "source",
        "sourceRevision",
        "ready",
        "jobs",
        "rootCause",
        "path",
        "hint",
        "created",
    ] {
        assert!(stage.get(field).is_some(), "stage lacks {field}: {stage}");
    }
    assert_eq!(stage["state"], "Blocked");
    assert_eq!(stage["path"], serde_json::json!(["shop/app-post-deploy", "shop/app-deploy", "shop/app-pre-deploy"]));
    assert_eq!(stage["rootCause"]["exitCode"], 3);
    let job = &v["stages"][0]["jobs"][0];
    for field in ["namespace", "name", "state", "reason", "message", "pods"] {
        assert!(job.get(field).is_some(), "job lacks {field}: {job}");
    }
}

#[test]
fn yaml_output_is_the_same_report() {
    let json = run(&["status", "--snapshot", &example("failed-migration"), "-o", "json"]);
    let yaml = run(&["status", "--snapshot", &example("failed-migration"), "-o", "yaml"]);
    let from_json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let from_yaml: serde_json::Value = serde_saphyr::from_str(&stdout(&yaml)).unwrap();
    assert_eq!(from_json, from_yaml);
}

#[test]
fn exit_code_flag_reports_blocked_pipelines_with_3() {
    let failed = run(&["status", "--snapshot", &example("failed-migration"), "--exit-code"]);
    assert_eq!(failed.status.code(), Some(3));
    let ready = run(&["status", "--snapshot", &example("ready"), "--exit-code"]);
    assert_eq!(ready.status.code(), Some(0), "{}", stderr(&ready));
    // Without the flag a blocked pipeline is still a successful run of the command.
    let plain = run(&["status", "--snapshot", &example("failed-migration")]);
    assert_eq!(plain.status.code(), Some(0));
}

/// A dump taken without Jobs and Pods: said once, with the capture command, instead of a confident
/// diagnosis from what is not there.
#[test]
fn a_dump_without_jobs_or_pods_says_so() {
    let full = std::fs::read_to_string(example("failed-migration")).unwrap();
    let dir = std::env::temp_dir().join(format!("fluxjobs-cli-lacks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lacking = dir.join("no-pods.yaml");
    // Drop every Pod from the List: items start with `- apiVersion: v1\n  kind: Pod`.
    let items: Vec<&str> = full.split("\n- ").collect();
    let kept: Vec<&str> = items.iter().copied().filter(|i| !i.starts_with("apiVersion: v1\n  kind: Pod\n")).collect();
    assert!(kept.len() < items.len(), "the example has Pods");
    std::fs::write(&lacking, kept.join("\n- ")).unwrap();
    let out = run(&["status", "--snapshot", lacking.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(err.starts_with("warning: the dump holds no pods: causes below them cannot be seen"), "{err}");
    assert!(err.contains(&fluxjobs::testing::capture_command()), "{err}");
    let whole = run(&["status", "--snapshot", &example("failed-migration")]);
    assert!(stderr(&whole).is_empty(), "a whole dump: {}", stderr(&whole));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Stages of several namespaces: each chain names its stages with their namespace, and the chains
/// come in the table's order.
#[test]
fn chains_of_several_namespaces_say_their_namespace_in_the_table_order() {
    let one = std::fs::read_to_string(example("failed-migration")).unwrap();
    let other = one.replace("shop", "web").replace("uid: ", "uid: web-");
    let dir = std::env::temp_dir().join(format!("fluxjobs-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let both = dir.join("two-namespaces.yaml");
    std::fs::write(&both, format!("{other}\n---\n{one}")).unwrap();
    let out = run(&["status", "--snapshot", both.to_str().unwrap(), "--color", "never"]);
    let text = stdout(&out);
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("shop ") || l.starts_with("web ")).collect();
    let table_order: Vec<&str> = rows.iter().map(|l| l.split_whitespace().next().unwrap()).collect();
    let chains: Vec<&str> = text.lines().filter(|l| l.starts_with("✗ ")).collect();
    assert_eq!(chains.len(), 2, "{text}");
    assert!(
        chains[0].starts_with(&format!("✗ {}/app-post-deploy <- {}/app-deploy <- ", table_order[0], table_order[0])),
        "{text}"
    );
    assert!(chains[1].starts_with(&format!("✗ {}/app-post-deploy", table_order[rows.len() - 1])), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Nothing to check is not green: a namespace without stages (a typo, or the context's default
/// while the stages live elsewhere) exits 4 with `--exit-code`, and the warning says where they are.
#[test]
fn exit_code_flag_reports_nothing_to_check_with_4_and_says_where_stages_are() {
    let empty = run(&["status", "--snapshot", &example("failed-migration"), "-n", "default", "--exit-code"]);
    assert_eq!(empty.status.code(), Some(4), "{}", stderr(&empty));
    let err = stderr(&empty);
    assert_eq!(
        err.trim(),
        "warning: no Flux Kustomizations, ResourceSets or HelmReleases found in namespace \"default\"; there are some in namespace \"shop\": try -n shop, or -A for all namespaces"
    );
    let plain = run(&["status", "--snapshot", &example("failed-migration"), "-n", "default"]);
    assert_eq!(plain.status.code(), Some(0), "without the flag an empty view is a successful run");
}

#[test]
fn stage_argument_shows_the_stage_and_its_upstream_only() {
    let out = run(&["status", "app-deploy", "--snapshot", &example("failed-migration"), "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["app-pre-deploy", "app-deploy"]);
    let qualified = run(&["status", "shop/app-deploy", "--snapshot", &example("failed-migration"), "-o", "json"]);
    assert_eq!(out.stdout, qualified.stdout);
}

#[test]
fn unknown_stage_is_a_one_line_error() {
    let out = run(&["status", "app-typo", "--snapshot", &example("ready")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("error: stage \"app-typo\" not found"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty());
    // A typo close to a stage's name gets the name.
    let typo = run(&["status", "app-deplyo", "--snapshot", &example("ready")]);
    assert_eq!(stderr(&typo).trim(), "error: stage \"app-deplyo\" not found; did you mean \"app-deploy\"?");
}

#[test]
fn namespace_and_selector_filter_a_snapshot() {
    let other = run(&["status", "--snapshot", &example("ready"), "-n", "other", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&other.stdout).unwrap();
    assert_eq!(v["stages"], serde_json::json!([]));
    assert!(
        stderr(&other).contains("no Flux Kustomizations, ResourceSets or HelmReleases found in namespace \"other\"")
    );
    let selected = run(&["status", "--snapshot", &example("ready"), "-l", "team=none", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&selected.stdout).unwrap();
    assert_eq!(v["stages"], serde_json::json!([]));
}

#[test]
fn snapshot_from_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-fluxjobs"))
        .args(["status", "--snapshot", "-", "-o", "json"])
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let text = std::fs::read(root().join(example("suspended"))).unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &text).unwrap();
    let out = child.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stages"][0]["state"], "Suspended");
}

#[test]
fn unparsable_snapshots_name_file_and_line() {
    let dir = std::env::temp_dir().join(format!("fluxjobs-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\n  \"kind\": \"List\",\n  \"items\": [ oops ]\n}\n").unwrap();
    let out = run(&["status", "--snapshot", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("bad.json:3:") && err.contains("not valid JSON"), "{err}");
    let missing = run(&["status", "--snapshot", dir.join("absent.yaml").to_str().unwrap()]);
    let err = stderr(&missing);
    assert_eq!(
        err,
        format!(
            "error: cannot read snapshot {}: No such file or directory (os error 2)\n",
            dir.join("absent.yaml").display()
        ),
        "the cause once"
    );
    // A 0-byte file is a failed capture, not an empty cluster; an empty List is a cluster without stages.
    let empty = dir.join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    let out = run(&["status", "--snapshot", empty.to_str().unwrap()]);
    assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(1), ""));
    assert_eq!(
        stderr(&out),
        format!(
            "error: {} is empty: the capture that made it failed or wrote nothing; capture it again\n",
            empty.display()
        )
    );
    let list = dir.join("empty-list.yaml");
    std::fs::write(&list, "apiVersion: v1\nkind: List\nitems: []\n").unwrap();
    let out = run(&["status", "--snapshot", list.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("warning: no Flux Kustomizations, ResourceSets or HelmReleases found"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn colours_follow_the_flag_and_no_color() {
    let always = run(&["status", "--snapshot", &example("failed-migration"), "--color", "always"]);
    assert!(stdout(&always).contains("\u{1b}["), "no ANSI escapes with --color always");
    // Piped output (not a terminal) has no colour by default.
    let auto = run(&["status", "--snapshot", &example("failed-migration")]);
    assert!(!stdout(&auto).contains("\u{1b}["));
    let never = run(&["status", "--snapshot", &example("failed-migration"), "--color", "never"]);
    assert!(!stdout(&never).contains("\u{1b}["));
    // JSON is data: never coloured.
    let json = run_env(&["status", "--snapshot", &example("failed-migration"), "-o", "json", "--color", "always"], &[]);
    assert!(!stdout(&json).contains("\u{1b}["));
}

#[test]
fn no_headers_drops_the_header_row() {
    let out = run(&["status", "--snapshot", &example("ready"), "--no-headers"]);
    let text = stdout(&out);
    assert!(!text.contains("STAGE"), "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("app-")).count(), 3);
}

#[test]
fn broken_kubeconfig_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("fluxjobs-kubeconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("config");
    std::fs::write(&broken, "apiVersion: v1\nkind: Config\nclusters: [oops\n").unwrap();
    let out = run(&["status", "--kubeconfig", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("error: ") && err.contains("kubeconfig") && err.contains("line 3"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let none = run_env(&["status"], &[("HOME", dir.to_str().unwrap())]);
    assert!(stderr(&none).contains("pass --kubeconfig, set KUBECONFIG"), "{}", stderr(&none));
    let absent = run(&["status", "--kubeconfig", dir.join("absent").to_str().unwrap()]);
    assert_eq!(absent.status.code(), Some(1));
    assert!(stderr(&absent).contains("absent"), "{}", stderr(&absent));
    let bad_context = run(&["status", "--kubeconfig", "tests/fixtures/kubeconfig.yaml", "--context", "nope"]);
    assert_eq!(bad_context.status.code(), Some(1));
    assert!(stderr(&bad_context).contains("nope"), "{}", stderr(&bad_context));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_and_version() {
    let version = run(&["--version"]);
    assert_eq!(stdout(&version).trim(), format!("kubectl fluxjobs v{}", env!("CARGO_PKG_VERSION")));
    // The same version text as `version --client` (which needs no cluster).
    let client = run(&["version", "--client"]);
    assert_eq!(stdout(&client), format!("Client Version: v{}\n", env!("CARGO_PKG_VERSION")));
    let help = run(&["status", "--help"]);
    let text = stdout(&help);
    for flag in
        ["--kubeconfig", "--context", "--namespace", "--all-namespaces", "--output", "--selector", "--request-timeout"]
    {
        assert!(text.contains(flag), "status --help lacks {flag}");
    }
    assert!(text.contains("Examples:"));
}

/// The capture command comes from the one list of kinds `status` reads; README and `status --help`
/// print the same two lines (joined by a backslash, never wrapped mid-command), which a shell reads
/// as the one-line command the warnings give.
#[test]
fn readme_and_help_give_the_capture_command_of_the_kinds_status_reads() {
    let lines = fluxjobs::testing::capture_command_lines();
    let help = stdout(&run(&["status", "--help"]));
    let indented = format!("  {}", lines.replace('\n', "\n  "));
    assert!(help.contains(&indented), "status --help lacks {indented:?}:\n{help}");
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains(&format!("```sh\n{lines}\n")), "README lacks {lines:?}");
    // As a shell reads it: the continuation joined, the same words as the one-line command.
    let words = |text: &str| {
        let mut words: Vec<String> = text.replace("\\\n", " ").split_whitespace().map(String::from).collect();
        words.sort();
        words
    };
    assert_eq!(words(&lines), words(&fluxjobs::testing::capture_command()));
}

#[test]
fn completion_scripts_and_the_kubectl_plugin_shim() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completion", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        assert!(stdout(&out).contains("kubectl-fluxjobs"), "{shell} script does not name the binary");
    }
    let shim = run(&["completion", "kubectl-plugin"]);
    let text = stdout(&shim);
    assert!(text.starts_with("#!/bin/sh") && text.contains("exec kubectl-fluxjobs __complete \"$@\""), "{text}");
}

#[test]
fn the_plugin_completion_protocol_answers_in_cobras_format() {
    let out = run(&["__complete", ""]);
    let text = stdout(&out);
    assert!(text.lines().any(|l| l.starts_with("status\t")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("rerun\t")), "{text}");
    assert_eq!(text.lines().last(), Some(":4"), "{text}");
    let flags = stdout(&run(&["__complete", "status", "--o"]));
    assert!(flags.lines().any(|l| l.starts_with("--output")), "{flags}");
    let outputs = stdout(&run(&["__complete", "status", "-o", "j"]));
    assert_eq!(outputs, "json\n:4\n");
    // No cluster reachable: no candidates, never an error.
    let stages = run_env(&["__complete", "status", "--kubeconfig", "tests/fixtures/kubeconfig.yaml", ""], &[]);
    assert!(stages.status.success());
    assert_eq!(stdout(&stages), ":4\n");
    // Context names come from the kubeconfig alone; a list completes its last item.
    let kubeconfig = scratch("complete-contexts").join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- {name: c, cluster: {server: \"https://eu.example:6443\"}}\n\
         contexts:\n- {name: prod-eu, context: {cluster: c}}\n- {name: prod-us, context: {cluster: c}}\n- {name: dev, context: {cluster: c}}\n",
    )
    .unwrap();
    let kc = kubeconfig.display().to_string();
    let names = stdout(&run(&["__complete", "status", "--kubeconfig", &kc, "--context", "prod"]));
    assert_eq!(names, "prod-eu\thttps://eu.example:6443\nprod-us\thttps://eu.example:6443\n:4\n");
    let list = stdout(&run(&["__complete", "status", "--kubeconfig", &kc, "--contexts", "dev,prod-u"]));
    assert_eq!(list, "dev,prod-us\thttps://eu.example:6443\n:4\n");
}

#[test]
fn rerun_and_reconcile_have_help_with_examples_and_check_their_arguments() {
    // The controllers' own flags are not offered as if they were ours.
    let reconcile_help = stdout(&run(&["reconcile", "--help"]));
    assert!(!reconcile_help.contains("(--requeue-dependency"), "{reconcile_help}");
    for command in ["rerun", "reconcile", "completion"] {
        let help = stdout(&run(&[command, "--help"]));
        assert!(help.contains("Examples:"), "{command} --help has no examples");
    }
    let bad = run(&["rerun", "deployment/app", "--kubeconfig", "tests/fixtures/kubeconfig.yaml"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("name a Job (job/NAME or NAME), a Kustomization (ks/NAME), a ResourceSet (rset/NAME) or a HelmRelease (hr/NAME)"),
        "{}",
        stderr(&bad)
    );
    let timeout = run(&["reconcile", "app", "--timeout", "soon", "--kubeconfig", "tests/fixtures/kubeconfig.yaml"]);
    assert!(stderr(&timeout).contains("invalid --timeout"), "{}", stderr(&timeout));
    let watch = run(&["status", "--watch", "--snapshot", "examples/ready.yaml"]);
    assert_eq!(watch.status.code(), Some(2), "--watch with --snapshot must be a usage error");
}

#[test]
fn json_and_yaml_dumps_give_the_same_report() {
    // JSON dumps take the fast path (typed decoding straight from the text); YAML goes through values.
    let dir = std::env::temp_dir().join(format!("fluxjobs-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["failed-migration", "immutable-job"] {
        let yaml = std::fs::read_to_string(root().join(example(name))).unwrap();
        let value: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        let json_path = dir.join(format!("{name}.json"));
        std::fs::write(&json_path, serde_json::to_string(&value).unwrap()).unwrap();
        let from_yaml = run(&["status", "--snapshot", &example(name), "-o", "json"]);
        let from_json = run(&["status", "--snapshot", json_path.to_str().unwrap(), "-o", "json"]);
        assert!(from_json.status.success(), "{}", stderr(&from_json));
        assert_eq!(stdout(&from_yaml), stdout(&from_json), "{name}: JSON and YAML disagree");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_k9s_plugins_parse_use_k9s_keys_only_and_call_real_commands() {
    use clap::Parser;
    // k9s's plugin schema (derailed/k9s internal/config/json/schemas/plugin.json, additionalProperties
    // false): the keys a plugin may have, and those it must.
    const KEYS: [&str; 11] = [
        "shortCut",
        "override",
        "description",
        "confirm",
        "dangerous",
        "scopes",
        "command",
        "background",
        "overwriteOutput",
        "args",
        "variables",
    ];
    const REQUIRED: [&str; 4] = ["shortCut", "description", "scopes", "command"];
    let text = std::fs::read_to_string(root().join("plugin-manifest/k9s-plugins.yaml")).unwrap();
    let file: serde_json::Value = serde_saphyr::from_str(&text).expect("valid YAML");
    let plugins = file["plugins"].as_object().expect("a plugins: map");
    assert_eq!(plugins.len(), 3);
    let mut verbs = Vec::new();
    for (name, plugin) in plugins {
        for key in plugin.as_object().unwrap().keys() {
            assert!(KEYS.contains(&key.as_str()), "{name}: {key} is not a k9s plugin key");
        }
        for key in REQUIRED {
            assert!(plugin.get(key).is_some(), "{name}: k9s requires {key}");
        }
        assert_eq!(plugin["command"], "sh", "{name}");
        let script = plugin["args"][1].as_str().unwrap();
        // The words k9s hands to kubectl, with its variables filled in, must parse as our command line.
        let words = script
            .split(" 2>&1")
            .next()
            .unwrap()
            .replace("$NAME", "app")
            .replace("$NAMESPACE", "shop")
            .replace("$CONTEXT", "prod");
        let words: Vec<&str> = words.split_whitespace().collect();
        assert_eq!(&words[..2], ["kubectl", "fluxjobs"], "{name}");
        let mut argv = vec!["kubectl-fluxjobs"];
        argv.extend(&words[2..]);
        let parsed = fluxjobs::cli::Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{name}: {e}"));
        verbs.push(format!("{:?}", parsed.command).split('(').next().unwrap().to_string());
        if name == "fluxjobs-rerun" {
            assert_eq!((plugin["confirm"].as_bool(), plugin["dangerous"].as_bool()), (Some(true), Some(true)));
        }
    }
    verbs.sort();
    assert_eq!(verbs, ["Reconcile", "Rerun", "Status"]);
}

/// A new empty directory of this test's own.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fluxjobs-cli-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies examples into a temporary directory under new names: dumps "sent from" several clusters.
fn fleet_of_dumps(test: &str, files: &[(&str, &str)]) -> (PathBuf, Vec<String>) {
    let dir = scratch(test);
    let paths = files
        .iter()
        .map(|(example_name, as_name)| {
            let path = dir.join(format!("{as_name}.yaml"));
            std::fs::copy(root().join(example(example_name)), &path).unwrap();
            path.display().to_string()
        })
        .collect();
    (dir, paths)
}

#[test]
fn repeated_snapshots_are_a_fleet_each_named_after_its_file() {
    let (_dir, paths) = fleet_of_dumps(
        "fleet",
        &[("failed-migration", "prod-eu"), ("ready", "prod-us"), ("rset-failed-step", "staging")],
    );
    let mut args = vec!["status", "-A"];
    for p in &paths {
        args.extend(["--snapshot", p.as_str()]);
    }
    let table = run(&args);
    assert!(table.status.success(), "{}", stderr(&table));
    golden("fleet.txt", &stdout(&table));
    let json_args = [args.clone(), vec!["-o", "json"]].concat();
    let json: serde_json::Value = serde_json::from_slice(&run(&json_args).stdout).unwrap();
    let contexts: Vec<&str> =
        json["contexts"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(contexts, ["prod-eu", "prod-us", "staging"]);
    let first = &json["stages"][0];
    assert_eq!(first["context"], "prod-eu");
    assert_eq!(json["pipelines"][0][0], "shop/app-pre-deploy@prod-eu", "references carry their context");
    let deploy = json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "app-deploy" && s["context"] == "prod-eu")
        .unwrap();
    assert_eq!(deploy["dependsOn"][0], "shop/app-pre-deploy@prod-eu");
    assert_eq!(deploy["path"].as_array().unwrap().last().unwrap(), "shop/app-pre-deploy@prod-eu");
    // Both clusters have app-pre-deploy: one is Failed, the other Ready; nothing is merged.
    let pre: Vec<(&str, &str)> = json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "app-pre-deploy")
        .map(|s| (s["context"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(pre, [("prod-eu", "Failed"), ("prod-us", "Ready")]);
    // A dump is no cluster: its hints name no --context.
    assert!(!first["hint"].as_str().unwrap().contains("--context"), "{}", first["hint"]);
    let gate = run(&[args.clone(), vec!["--exit-code"]].concat());
    assert_eq!(gate.status.code(), Some(3), "a pipeline anywhere is blocked");
    // A stage shows where it is; nowhere, it is the one error.
    let one = run(&[args.clone(), vec!["app-deploy", "-o", "json"]].concat());
    assert!(one.status.success(), "{}", stderr(&one));
    let shown: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    let contexts: Vec<&str> =
        shown["stages"].as_array().unwrap().iter().filter_map(|s| s["context"].as_str()).collect();
    assert_eq!(contexts, ["prod-eu", "prod-eu", "prod-us", "prod-us"], "app-deploy and its upstream, where they are");
    let none = run(&[args.clone(), vec!["no-such-stage"]].concat());
    assert_eq!(none.status.code(), Some(1));
    assert_eq!(stderr(&none).trim(), "error: stage \"no-such-stage\" not found in any of the 3 contexts read");
}

#[test]
fn summary_is_one_line_per_context_with_the_worst_root_cause() {
    let (_dir, paths) =
        fleet_of_dumps("summary", &[("ready", "prod-us"), ("failed-migration", "prod-eu"), ("suspended", "dev")]);
    let mut args = vec!["status", "-A", "--summary"];
    for p in &paths {
        args.extend(["--snapshot", p.as_str()]);
    }
    let table = run(&args);
    assert!(table.status.success(), "{}", stderr(&table));
    golden("fleet-summary.txt", &stdout(&table));
    let json: serde_json::Value =
        serde_json::from_slice(&run(&[args.clone(), vec!["-o", "json"]].concat()).stdout).unwrap();
    let eu = &json["contexts"][1];
    assert_eq!(eu["name"], "prod-eu");
    assert_eq!((eu["pipelines"].as_u64(), eu["failed"].as_u64(), eu["blocked"].as_u64()), (Some(1), Some(1), Some(0)));
    assert_eq!(eu["worst"]["stage"], "shop/app-pre-deploy@prod-eu", "the Failed stage, not the Blocked ones");
    assert_eq!(eu["worst"]["state"], "Failed");
    assert_eq!(json["contexts"][0]["ready"], 1);
    assert!(json["contexts"][0]["worst"].is_null());
}

#[test]
fn two_dumps_with_one_name_and_contexts_that_select_nothing_are_usage_errors() {
    let dir = scratch("usage");
    let a = dir.join("a");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::copy(root().join(example("ready")), a.join("prod.yaml")).unwrap();
    std::fs::copy(root().join(example("ready")), dir.join("prod.yml")).unwrap();
    let (one, two) = (a.join("prod.yaml").display().to_string(), dir.join("prod.yml").display().to_string());
    let out = run(&["status", "--snapshot", &one, "--snapshot", &two]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("two dumps would both be context \"prod\""), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());

    let kubeconfig = dir.join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- {name: c, cluster: {server: \"https://127.0.0.1:9\"}}\n\
         users:\n- {name: u, user: {token: x}}\ncontexts:\n- {name: prod-eu, context: {cluster: c, user: u}}\n\
         - {name: \"arn:aws:eks:eu-west-1:1:cluster/prod\", context: {cluster: c, user: u}}\ncurrent-context: prod-eu\n",
    )
    .unwrap();
    let kc = kubeconfig.display().to_string();
    let out = run(&["status", "--kubeconfig", &kc, "--contexts", "prod-*,staging-*"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim(),
        "error: --contexts: \"staging-*\" matches no context of the kubeconfig (it has prod-eu, arn:aws:eks:eu-west-1:1:cluster/prod)"
    );
    for conflicting in
        [["--context", "prod-eu"], ["--server", "https://x"], ["--token", "t"], ["--user", "u"], ["--cluster", "c"]]
    {
        let out = run(&[&["status", "--kubeconfig", &kc, "--contexts", "prod-eu"][..], &conflicting[..]].concat());
        assert_eq!(out.status.code(), Some(2), "{conflicting:?}: {}", stderr(&out));
    }
    // Nothing listens on port 9: each context is one warning, the run exits 1 and still prints.
    let out = run(&["status", "--kubeconfig", &kc, "--all-contexts", "-o", "json", "--request-timeout", "5s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let warnings: Vec<&str> = std::str::from_utf8(&out.stderr).unwrap().lines().collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[1].starts_with("warning: context arn:aws:eks:eu-west-1:1:cluster/prod: cannot reach the Kubernetes API server at https://127.0.0.1:9"), "{warnings:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["contexts"][0]["server"], "https://127.0.0.1:9");
    assert!(json["contexts"][0]["error"].as_str().unwrap().contains("cannot reach"));
}

/// A kubeconfig whose contexts all point at a port nothing listens on, each user an exec credential
/// plugin (a shell script logging when it starts and ends) with this interactiveMode and delay.
fn exec_kubeconfig(dir: &std::path::Path, contexts: &[(&str, &str, &str)]) -> String {
    let plugin = dir.join("plugin.sh");
    std::fs::write(
        &plugin,
        "#!/bin/sh\necho \"start $1\" >> \"$LOG\"\nsleep \"$2\"\necho \"end $1\" >> \"$LOG\"\n\
         printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'\n",
    )
    .unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&plugin).status().unwrap();
    let mut text = String::from(
        "apiVersion: v1\nkind: Config\nclusters:\n- {name: c, cluster: {server: \"https://127.0.0.1:9\"}}\nusers:\n",
    );
    for (name, mode, delay) in contexts {
        text.push_str(&format!(
            "- name: {name}\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      args: [{name}, \"{delay}\"]\n      interactiveMode: {mode}\n",
            plugin.display()
        ));
    }
    text.push_str("contexts:\n");
    for (name, _, _) in contexts {
        text.push_str(&format!("- {{name: {name}, context: {{cluster: c, user: {name}}}}}\n"));
    }
    let path = dir.join("config");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn credential_plugins_that_may_prompt_run_one_at_a_time_before_the_others_run_together() {
    let dir = scratch("exec");
    let kubeconfig = exec_kubeconfig(
        &dir,
        &[
            ("quiet-1", "Never", "0.6"),
            ("asks-1", "Always", "0.3"),
            ("quiet-2", "Never", "0.6"),
            ("asks-2", "Always", "0.3"),
        ],
    );
    let log = dir.join("log");
    let out = run_env(&["status", "--kubeconfig", &kubeconfig, "--all-contexts"], &[("LOG", log.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 4, "one warning per unreachable context: {}", stderr(&out));
    let log = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    // kube-rs runs a plugin more than once while it builds a client (kube-client
    // client/auth/mod.rs), so each context's runs come in a row: asks-1's, then asks-2's, each
    // ending before the next starts, and only then the quiet ones, together.
    let asking = lines.iter().take_while(|l| l.ends_with("asks-1") || l.ends_with("asks-2")).count();
    let (asks, quiet) = lines.split_at(asking);
    assert!(
        !asks.is_empty() && asks.chunks(2).all(|pair| pair[0].replace("start", "end") == pair[1]),
        "one at a time: {log}"
    );
    let first_two = asks.iter().position(|l| l.ends_with("asks-2")).expect("asks-2 ran");
    assert!(asks[first_two..].iter().all(|l| l.ends_with("asks-2")), "asks-1 first, then asks-2: {log}");
    let mut together = quiet[..2].to_vec();
    together.sort();
    assert_eq!(together, ["start quiet-1", "start quiet-2"], "the others run at once: {log}");
}

#[test]
fn a_credential_plugin_slower_than_the_request_timeout_is_one_warning() {
    let dir = scratch("exec-slow");
    let kubeconfig = exec_kubeconfig(&dir, &[("slow", "Never", "20"), ("quick", "Never", "0")]);
    let log = dir.join("log");
    let started = std::time::Instant::now();
    let out = run_env(
        &["status", "--kubeconfig", &kubeconfig, "--all-contexts", "--request-timeout", "1s"],
        &[("LOG", log.to_str().unwrap())],
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "not waiting for the plugin: {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("warning: context slow: no credentials for context \"slow\" within 1.0s: its exec credential plugin did not finish (--request-timeout)"),
        "{err}"
    );
    assert!(
        err.contains("warning: context quick: cannot reach the Kubernetes API server at https://127.0.0.1:9"),
        "{err}"
    );
}

#[test]
fn reading_contexts_for_more_than_a_second_shows_progress_on_a_terminal_only() {
    use std::io::Read;
    let dir = scratch("progress");
    let kubeconfig = exec_kubeconfig(&dir, &[("slow-1", "Never", "0.5"), ("slow-2", "Never", "0.5")]);
    let log = dir.join("log");
    let (master, slave) = pty::open().expect("openpty");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-fluxjobs"));
    cmd.args(["status", "--kubeconfig", &kubeconfig, "--all-contexts", "--summary"])
        .env("LOG", &log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(slave));
    let child = cmd.spawn().unwrap();
    drop(cmd);
    let mut reader = std::fs::File::from(master);
    let reading = std::thread::spawn(move || {
        let (mut shown, mut buf) = (Vec::new(), [0u8; 4096]);
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            shown.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&shown).into_owned()
    });
    let out = child.wait_with_output().unwrap();
    let shown = reading.join().unwrap();
    assert!(shown.contains("\r0/2 contexts read"), "progress after a second: {shown:?}");
    assert!(shown.ends_with("\r\u{1b}[K"), "cleared when done: {shown:?}");
    assert!(stdout(&out).starts_with("CONTEXT"), "stdout is only the data: {}", stdout(&out));
    // Piped, nothing but the data and the warnings.
    let piped = run_env(
        &["status", "--kubeconfig", &kubeconfig, "--all-contexts", "--summary"],
        &[("LOG", log.to_str().unwrap())],
    );
    assert!(!stderr(&piped).contains("contexts read"), "{}", stderr(&piped));
}

#[test]
fn wait_judges_every_example_once_with_its_exit_status() {
    // 0 done, 3 failed, 5 not done when the dump was taken.
    let expected = [
        ("ready", 0),
        ("failed-migration", 3),
        ("image-pull", 5),
        ("unschedulable", 5),
        ("immutable-job", 3),
        ("missing-dependency", 5),
        ("suspended", 3),
        ("ready-expr", 5),
        ("hostile-text", 3),
        ("quota-refused", 5),
        ("rset-failed-step", 3),
        ("helm-hook-failed", 3),
    ];
    assert_eq!(expected.len(), EXAMPLES.len());
    for (name, code) in expected {
        let out = run(&["wait", "--snapshot", &example(name), "-A", "-o", "json"]);
        assert_eq!(out.status.code(), Some(code), "{name}: {}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
        let ending = doc["ending"].as_str().unwrap_or_default();
        let want = match code {
            0 => "Done",
            3 => "Failed",
            _ => "NotDoneYet",
        };
        assert_eq!(ending, want, "{name}: {doc:#}");
        assert_eq!(doc["stages"].as_array().map(Vec::len), doc["report"]["stages"].as_array().map(Vec::len), "{name}");
        // The failed stage's verdict says what failed, as status's MESSAGE does.
        if code == 3 {
            let failed =
                doc["stages"].as_array().unwrap().iter().find(|s| s["outcome"] == "Failed").expect("a failed stage");
            assert!(!failed["why"].as_str().unwrap_or_default().is_empty(), "{name}: {failed:#}");
        }
        assert!(stderr(&out).contains("wait: "), "{name}: progress on stderr: {}", stderr(&out));
    }
    let table = run(&["wait", "--snapshot", &example("failed-migration"), "-A"]);
    let text = stdout(&table);
    assert!(text.contains("VERDICT") && text.contains("wait: failed"), "{text}");
    assert!(text.contains("exit code 3"), "the root cause as status prints it: {text}");
}

#[test]
fn wait_takes_a_revision_only_in_a_form_flux_writes() {
    let out = run(&["wait", "--snapshot", &example("ready"), "-A", "--revision", "main"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--revision") && err.contains("\"main\" is not a revision"), "{err}");
    // The example's revision by a 7-character prefix: done; another revision: not reached by its source.
    let done = run(&["wait", "--snapshot", &example("ready"), "-A", "--revision", "b09241b"]);
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    let other = run(&[
        "wait",
        "--snapshot",
        &example("ready"),
        "-A",
        "--revision",
        "main@sha1:ffffffffffffffffffffffffffffffffffffffff",
        "-o",
        "json",
    ]);
    assert_eq!(other.status.code(), Some(5), "{}", stderr(&other));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&other)).unwrap();
    assert!(doc["stages"][0]["why"].as_str().unwrap().contains("to fetch"), "{doc:#}");
    // Several stages: each and everything upstream of them (status takes one).
    let two = run(&["wait", "--snapshot", &example("ready"), "-A", "app-pre-deploy", "shop/app-deploy", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&two)).unwrap();
    let stages: Vec<&str> = doc["stages"].as_array().unwrap().iter().filter_map(|s| s["stage"].as_str()).collect();
    assert_eq!(stages, ["shop/app-pre-deploy", "shop/app-deploy"], "{doc:#}");
    let status = run(&["status", "--snapshot", &example("ready"), "-A", "app-pre-deploy", "app-deploy"]);
    assert_eq!(status.status.code(), Some(2), "status takes one STAGE: {}", stderr(&status));
    // Nothing in scope: 4, as status --exit-code.
    let nothing = run(&["wait", "--snapshot", &example("ready"), "-n", "nowhere"]);
    assert_eq!(nothing.status.code(), Some(4), "{}", stderr(&nothing));
}

#[test]
fn wait_writes_junit_and_the_github_annotation_and_summary() {
    let dir = scratch("wait-ci");
    let junit = dir.join("wait.xml");
    let summary = dir.join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let out = run_env(
        &["wait", "--snapshot", &example("failed-migration"), "-A", "--junit", junit.to_str().unwrap(), "-o", "json"],
        &[("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // stdout stays the document.
    serde_json::from_str::<serde_json::Value>(&stdout(&out)).expect("JSON on stdout");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed JUnit XML");
    let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), 3, "{xml}");
    let failed: Vec<_> = cases.iter().filter(|c| c.children().any(|n| n.has_tag_name("failure"))).collect();
    assert_eq!(failed.len(), 1, "one failure, the stage at fault: {xml}");
    assert_eq!(failed[0].attribute("name"), Some("Kustomization/app-pre-deploy"));
    let failure = failed[0].children().find(|n| n.has_tag_name("failure")).unwrap();
    assert!(failure.attribute("message").unwrap().contains("exit code 3"), "{xml}");
    assert!(failure.text().unwrap_or_default().contains("hint: "), "{xml}");
    let skipped = cases.iter().filter(|c| c.children().any(|n| n.has_tag_name("skipped"))).count();
    assert_eq!(skipped, 2, "the stages behind it are skipped: {xml}");
    let suites = doc.root_element();
    assert_eq!((suites.attribute("tests"), suites.attribute("failures")), (Some("3"), Some("1")));
    // The annotation on stderr, one line, as the runner reads workflow commands.
    let annotation = stderr(&out).lines().find(|l| l.starts_with("::error ")).map(str::to_string);
    let annotation = annotation.unwrap_or_else(|| panic!("no ::error line: {}", stderr(&out)));
    assert!(annotation.starts_with("::error title=kubectl fluxjobs wait%3A Failed::"), "{annotation}");
    assert!(annotation.contains("app-pre-deploy") && annotation.contains("exit code 3"), "{annotation}");
    // The summary is appended, as Markdown with a table of the stages.
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("earlier step\n### kubectl fluxjobs wait: Failed"), "{md}");
    assert_eq!(md.lines().filter(|l| l.starts_with("| shop/")).count(), 3, "{md}");
    assert!(md.contains("```text\nPod/shop/db-migration-grq6n exit code 3 (Error)"), "{md}");
    // A wait that is done writes no annotation, and a JUnit file that cannot be written is an error.
    let done = run_env(&["wait", "--snapshot", &example("ready"), "-A"], &[("GITHUB_ACTIONS", "true")]);
    assert_eq!(done.status.code(), Some(0));
    assert!(!stderr(&done).contains("::error"), "{}", stderr(&done));
    let unwritable = run(&["wait", "--snapshot", &example("ready"), "-A", "--junit", "/nonexistent/dir/wait.xml"]);
    assert_eq!(unwritable.status.code(), Some(1));
    assert!(
        stderr(&unwritable).contains("cannot write the JUnit report /nonexistent/dir/wait.xml"),
        "{}",
        stderr(&unwritable)
    );
}

#[path = "support/mcp_client.rs"]
mod mcp_client;

fn mcp_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
}

#[test]
fn mcp_serves_the_diagnosis_to_a_real_client_and_lists_writes_only_when_allowed() {
    mcp_runtime().block_on(async {
        let program = std::path::Path::new(env!("CARGO_BIN_EXE_kubectl-fluxjobs"));
        let session = mcp_client::Session::start(program, &[], &[]).await.unwrap();
        assert_eq!(session.server(), ("kubectl-fluxjobs".to_string(), env!("CARGO_PKG_VERSION").to_string()));
        let tools = session.tools().await.unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["status", "explain", "wait_verdict", "contexts"]);
        assert!(
            tools
                .iter()
                .all(|t| t.output_schema.is_some() && t.annotations.as_ref().unwrap().read_only_hint == Some(true))
        );

        let snapshot = root().join(example("failed-migration"));
        let snapshot = snapshot.to_str().unwrap();
        let status = session.call("status", serde_json::json!({"snapshot": snapshot})).await.unwrap();
        assert!(!status.is_error, "{}", status.text);
        let cli: serde_json::Value =
            serde_json::from_str(&stdout(&run(&["status", "--snapshot", snapshot, "-o", "json"]))).unwrap();
        assert_eq!(status.structured, cli, "the tool's document is the command's");
        assert!(status.text.starts_with("Read from the cluster:"), "{}", status.text);
        assert!(status.text.contains("Pod/shop/db-migration-grq6n Error") && status.text.contains("(exit code 3)"));

        let explain =
            session.call("explain", serde_json::json!({"stage": "app-post-deploy", "snapshot": snapshot})).await;
        let explain = explain.unwrap();
        assert!(explain.text.contains("chain: shop/app-post-deploy -> shop/app-deploy -> shop/app-pre-deploy"));
        assert!(explain.text.contains("hint: fix what made container migration fail"), "{}", explain.text);

        let hostile = root().join(example("hostile-text"));
        let hostile = session.call("status", serde_json::json!({"snapshot": hostile.to_str().unwrap()})).await.unwrap();
        assert!(
            !hostile.is_error && !hostile.text.contains('\u{1b}') && hostile.text.contains("^["),
            "{}",
            hostile.text
        );

        let verdict = session.call("wait_verdict", serde_json::json!({"snapshot": snapshot})).await.unwrap();
        assert_eq!(verdict.structured["ending"], "Failed", "{}", verdict.text);

        let unknown = session.call("explain", serde_json::json!({"stage": "nope", "snapshot": snapshot})).await;
        let unknown = unknown.unwrap();
        assert!(unknown.is_error && unknown.text.starts_with("explain: stage \"nope\" not found"), "{}", unknown.text);
        let mistyped = session.call("status", serde_json::json!({"namespaces": "shop"})).await.unwrap();
        assert!(mistyped.is_error && mistyped.text.contains("unknown field `namespaces`"), "{}", mistyped.text);
        let write = session.call("rerun", serde_json::json!({"targets": ["job/db-migration"]})).await;
        assert!(write.is_err_and(|e| e.contains("--allow-writes")));
        let prompt =
            session.prompt("why_blocked", serde_json::json!({"stage": "app-deploy", "namespace": "shop"})).await;
        let prompt = prompt.unwrap();
        assert!(
            prompt.contains(r#"Call the `explain` tool with {"namespace":"shop","stage":"app-deploy"}"#),
            "{prompt}"
        );
        session.close().await.unwrap();

        let missing = root().join("target/no-such-kubeconfig");
        let env = [("KUBECONFIG", missing.to_str().unwrap())];
        let writes = mcp_client::Session::start(program, &["--allow-writes"], &env).await.unwrap();
        let tools = writes.tools().await.unwrap();
        let rerun = tools.iter().find(|t| t.name == "rerun").expect("rerun listed");
        let annotations = rerun.annotations.as_ref().unwrap();
        assert_eq!((annotations.read_only_hint, annotations.destructive_hint), (Some(false), Some(true)));
        assert!(tools.iter().any(|t| t.name == "reconcile"));
        // A kubeconfig that is not there: the command's own one-line error, as a tool error.
        let rerun =
            writes.call("rerun", serde_json::json!({"targets": ["job/db-migration"], "namespace": "shop"})).await;
        let rerun = rerun.unwrap();
        assert!(rerun.is_error && rerun.text.starts_with("rerun: ") && !rerun.text.contains('\n'), "{}", rerun.text);
        writes.close().await.unwrap();
    });
}

/// A few hundred frames that are no valid request, each answered with an error, and the server
/// still answers afterwards and exits cleanly when its client goes.
#[test]
fn mcp_answers_initialize_and_an_error_to_each_malformed_frame() {
    use std::io::{BufRead, Write};
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-fluxjobs"))
        .arg("mcp")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let (lines, answers) = std::sync::mpsc::channel();
    let output = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(output).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let next = || -> serde_json::Value {
        let line = answers.recv_timeout(std::time::Duration::from_secs(10)).expect("an answer");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    let mut send = |frame: &str| writeln!(input, "{frame}").and_then(|()| input.flush()).unwrap();
    send(
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"fuzz","version":"0"}}}"#,
    );
    let init = next();
    assert_eq!(init["result"]["serverInfo"]["name"], "kubectl-fluxjobs", "{init}");
    assert!(
        init["result"]["capabilities"]["tools"].is_object() && init["result"]["capabilities"]["prompts"].is_object()
    );
    send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);

    // xorshift: the same frames every run.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut random = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let pieces = [
        "{",
        "}",
        "[",
        "]",
        "\"",
        ":",
        ",",
        "null",
        "1e999",
        "jsonrpc",
        "\"2.0\"",
        "id",
        "method",
        "\\u0000",
        "é",
        "\u{1b}[2J",
    ];
    for n in 1..=300u64 {
        let frame = match n % 5 {
            // Not JSON (never blank: a blank line is no frame).
            0 => format!("x{}", (0..random(12)).map(|_| pieces[random(16) as usize]).collect::<String>()),
            // JSON that is no request.
            1 => ["[]", "null", "42", "\"tools/list\"", "{}", r#"{"id":1}"#][random(6) as usize].to_string(),
            // A method no MCP server has.
            2 => format!(r#"{{"jsonrpc":"2.0","id":{n},"method":"x/{}"}}"#, random(1000)),
            // A tool called with arguments of the wrong type.
            3 => format!(
                r#"{{"jsonrpc":"2.0","id":{n},"method":"tools/call","params":{{"name":"status","arguments":{{"stage":{}}}}}}}"#,
                random(1000)
            ),
            // A tool that does not exist.
            _ => format!(
                r#"{{"jsonrpc":"2.0","id":{n},"method":"tools/call","params":{{"name":"t{}","arguments":{{}}}}}}"#,
                random(99)
            ),
        };
        send(&frame);
        let answer = next();
        let error = answer["error"]["code"].as_i64().is_some() || answer["result"]["isError"] == true;
        assert!(error, "frame {n} {frame:?}: {answer}");
    }
    send(r#"{"jsonrpc":"2.0","id":1000,"method":"tools/list"}"#);
    assert_eq!(next()["result"]["tools"][0]["name"], "status");
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A cluster that is not there, and one that never answers: each call is a one-line tool error,
/// the latter within `--request-timeout`, and the server goes on.
#[test]
fn mcp_calls_to_an_unreachable_or_silent_cluster_are_bounded_tool_errors() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // Accept and hold every connection, answering nothing.
        let held: Vec<_> = silent.incoming().map_while(Result::ok).collect();
        drop(held);
    });
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = root().join("target/mcp-clusters");
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = |name: &str, port: u16| {
        let path = dir.join(format!("{name}.kubeconfig"));
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {name}\nclusters:\n- name: {name}\n  cluster:\n    server: http://127.0.0.1:{port}\n\
             contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n    namespace: shop\nusers:\n- name: {name}\n  user:\n    token: t\n"
        );
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let (silent, closed) = (kubeconfig("silent", silent_port), kubeconfig("closed", closed_port));
    mcp_runtime().block_on(async {
        let program = std::path::Path::new(env!("CARGO_BIN_EXE_kubectl-fluxjobs"));
        let args = ["--kubeconfig", closed.as_str(), "--request-timeout", "2s"];
        let session = mcp_client::Session::start(program, &args, &[]).await.unwrap();
        let refused = session.call("status", serde_json::json!({})).await.unwrap();
        assert!(
            refused.is_error && refused.text.starts_with("status: cannot reach the Kubernetes API server"),
            "{}",
            refused.text
        );
        assert!(!refused.text.contains('\n'), "{}", refused.text);
        session.close().await.unwrap();

        let args = ["--kubeconfig", silent.as_str(), "--request-timeout", "2s"];
        let session = mcp_client::Session::start(program, &args, &[]).await.unwrap();
        let start = std::time::Instant::now();
        let silent = session.call("explain", serde_json::json!({"stage": "app-deploy"})).await.unwrap();
        assert!(silent.is_error && silent.text.starts_with("explain: "), "{}", silent.text);
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "took {:?}: {}", start.elapsed(), silent.text);
        // The server still answers.
        assert_eq!(session.tools().await.unwrap().len(), 4);
        session.close().await.unwrap();
    });
}
