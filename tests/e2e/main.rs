//! End-to-end tests: the real `kubectl-fluxjobs` binary against a real control plane with the real
//! Flux kustomize-controller (see `harness.rs`). Each test owns a namespace; all share one cluster.
//!
//! They need the programs built by `tests/e2e/build-tools.sh` (minutes on a cold machine), so they
//! run when `FLUXJOBS_E2E=1` is set, as `tests/run-all.sh` (README's test command) does; plain
//! `cargo test` lists them as ignored.

mod controller_failures;
mod conventions;
mod diagnosis;
mod fault_proxy;
mod fixtures;
mod fleet;
mod harness;
mod helm_releases;
mod mcp;
// What the CLI tests call of it too (the server's name) is not needed here.
#[allow(dead_code)]
#[path = "../support/mcp_client.rs"]
mod mcp_client;
mod previous_run;
#[path = "../support/pty.rs"]
mod pty;
mod resource_sets;
mod revision_gate;
mod rollout;
mod safety;
mod scenarios;
mod terminal;
mod watching;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;

use harness::{ControlPlane, Result};

pub struct Ctx {
    pub(crate) plane: ControlPlane,
}

/// What one run of the plugin printed.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    fn of(out: &std::process::Output) -> Self {
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Ctx {
    /// Runs the built plugin with the test cluster's kubeconfig.
    pub fn plugin(&self, args: &[&str]) -> Result<Output> {
        self.plugin_with(&self.plane.kubeconfig, args)
    }

    pub fn plugin_with(&self, kubeconfig: &std::path::Path, args: &[&str]) -> Result<Output> {
        let out = self
            .command(pty::without_terminal(env!("CARGO_BIN_EXE_kubectl-fluxjobs")), kubeconfig, args)
            .output()
            .map_err(|e| format!("cannot run kubectl-fluxjobs: {e}"))?;
        Ok(Output::of(&out))
    }

    /// Runs the plugin as at a user's terminal, with its stdin from nowhere and its stdout and stderr
    /// piped (as in `rerun ... 2>&1 | tee log`): types `answer` at its question. Returns what it
    /// printed and what the terminal showed.
    pub fn plugin_at_terminal(&self, args: &[&str], answer: &str) -> Result<(Output, String)> {
        let command = pty::at_terminal_on_stdin(env!("CARGO_BIN_EXE_kubectl-fluxjobs"));
        terminal::answer_at_terminal(self.command(command, &self.plane.kubeconfig, args), answer)
    }

    /// `command` (the plugin, run in a session of its own) with the kubeconfig and `args`.
    fn command(&self, mut command: Command, kubeconfig: &std::path::Path, args: &[&str]) -> Command {
        command.arg("--kubeconfig").arg(kubeconfig).args(args).env_remove("KUBECONFIG").env("NO_COLOR", "1");
        command
    }

    /// `rerun job/db-migration -n NS --yes --backup-dir BACKUPS` and `extra` flags.
    pub fn rerun_migration(&self, ns: &str, backups: &std::path::Path, extra: &[&str]) -> Result<Output> {
        let mut args = vec!["rerun", "job/db-migration", "-n", ns, "--yes", "--backup-dir", backups.to_str().unwrap()];
        args.extend(extra);
        self.plugin(&args)
    }

    /// `status -n NS -o json`, parsed.
    pub fn status(&self, ns: &str) -> Result<Value> {
        let out = self.plugin(&["status", "-n", ns, "-o", "json"])?;
        if out.code != 0 {
            return Err(format!("status -n {ns} exited {}: {}", out.code, out.stderr));
        }
        serde_json::from_str(&out.stdout).map_err(|e| format!("status printed invalid JSON ({e}): {}", out.stdout))
    }

    /// Polls `status -n NS -o json` until `done` holds; on timeout the error shows the last report
    /// and kustomize-controller's last log lines.
    pub fn wait_status(&self, ns: &str, what: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Result<Value> {
        let mut last = Value::Null;
        // Once a second: each status run makes about ten LISTs, and many tests poll at once.
        let waited = harness::poll_until(what, timeout, Duration::from_secs(1), || {
            if let Some(exited) = self.plane.exited_process() {
                return Err(exited);
            }
            last = self.status(ns)?;
            Ok(done(&last))
        });
        match waited {
            Ok(()) => Ok(last),
            Err(e) => Err(format!(
                "{e}\nlast status:\n{}\nkustomize-controller (last lines):\n{}",
                serde_json::to_string_pretty(&last).unwrap_or_default(),
                self.plane.log_tail("kustomize-controller", 15)
            )),
        }
    }
}

impl Ctx {
    /// With `FLUXJOBS_CAPTURE_EXAMPLES=DIR`, dumps namespace `ns` the way README tells users to
    /// capture a snapshot, into `DIR/<name>.yaml`, with the namespace renamed to `shop`: that is how
    /// the offline examples under `examples/` are made, from the real controllers' output.
    pub fn capture_example(&self, ns: &str, name: &str) -> Result<()> {
        let Some(dir) = std::env::var_os("FLUXJOBS_CAPTURE_EXAMPLES") else {
            return Ok(());
        };
        let kinds = fluxjobs::testing::captured_kinds();
        let dump = self.plane.kubectl(&["get", &kinds, "-n", ns, "-o", "yaml"])?;
        let path = PathBuf::from(dir).join(format!("{name}.yaml"));
        std::fs::write(&path, dump.replace(ns, "shop")).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// The stage named `name` of a status report.
pub fn stage<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["stages"].as_array().and_then(|stages| stages.iter().find(|s| s["name"] == name)).unwrap_or(&Value::Null)
}

/// The stage of this kind and name in a report.
pub fn stage_of_kind<'a>(report: &'a Value, kind: &str, name: &str) -> &'a Value {
    let stages = report["stages"].as_array();
    stages.and_then(|stages| stages.iter().find(|s| s["kind"] == kind && s["name"] == name)).unwrap_or(&Value::Null)
}

pub fn state_of(report: &Value, name: &str) -> String {
    stage(report, name)["state"].as_str().unwrap_or("<absent>").to_string()
}

pub fn check(condition: bool, what: impl FnOnce() -> String) -> Result<()> {
    if condition { Ok(()) } else { Err(what()) }
}

fn main() {
    let mut args = Arguments::from_args();
    let enabled = std::env::var_os("FLUXJOBS_E2E").is_some_and(|v| v == "1");
    if args.test_threads.is_none() {
        // The tests mostly wait on controllers; running them side by side keeps the suite short.
        args.test_threads = Some(8);
    }
    let mut scenarios = scenarios::all();
    scenarios.extend(safety::all());
    scenarios.extend(resource_sets::all());
    scenarios.extend(helm_releases::all());
    scenarios.extend(diagnosis::all());
    scenarios.extend(controller_failures::all());
    scenarios.extend(conventions::all());
    scenarios.extend(fleet::all());
    scenarios.extend(previous_run::all());
    scenarios.extend(rollout::all());
    scenarios.extend(revision_gate::all());
    scenarios.extend(mcp::all());
    let needs_cluster = enabled && !args.list && scenarios.iter().any(|(name, _)| selected(&args, name));
    let ctx = if needs_cluster {
        let options = harness::Options {
            log_namespaces: scenarios::LOG_NAMESPACES.iter().map(|s| s.to_string()).collect(),
            ..harness::Options::default()
        };
        let started =
            harness::Tools::build().and_then(|tools| ControlPlane::start(tools, &std::env::temp_dir(), &options));
        match started {
            Ok(plane) => Some(Arc::new(Ctx { plane })),
            Err(e) => {
                // Fail loudly: CI must never pass with the end-to-end suite silently skipped.
                eprintln!("error: the end-to-end control plane did not start: {e}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    let trials = scenarios
        .into_iter()
        .map(|(name, test)| {
            let ctx = ctx.clone();
            Trial::test(name, move || match ctx {
                Some(ctx) => test(&ctx).map_err(Failed::from),
                None => Ok(()),
            })
            .with_ignored_flag(!enabled)
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    if let Some(ctx) = ctx {
        if conclusion.has_failed() {
            ctx.plane.keep();
        }
        drop(ctx);
    }
    if !enabled && !args.list {
        eprintln!("note: end-to-end tests are ignored; run tests/run-all.sh or set FLUXJOBS_E2E=1");
    }
    conclusion.exit();
}

fn selected(args: &Arguments, name: &str) -> bool {
    let filter_ok = match &args.filter {
        Some(f) if args.exact => name == f,
        Some(f) => name.contains(f.as_str()),
        None => true,
    };
    filter_ok && !args.skip.iter().any(|s| name.contains(s.as_str()))
}

pub fn kubeconfig_path(ctx: &Ctx, name: &str) -> PathBuf {
    ctx.plane.dir.join(name)
}

/// A copy of the test cluster's kubeconfig named `name`, with `edit` applied to its text.
pub fn kubeconfig_edited(ctx: &Ctx, name: &str, edit: impl FnOnce(&str) -> String) -> Result<PathBuf> {
    let path = kubeconfig_path(ctx, name);
    let text = std::fs::read_to_string(&ctx.plane.kubeconfig).map_err(|e| e.to_string())?;
    std::fs::write(&path, edit(&text)).map_err(|e| e.to_string())?;
    Ok(path)
}
