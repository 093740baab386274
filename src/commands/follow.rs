//! Waiting for a stage after a reconcile request, and explaining a failure with the status engine;
//! shared by `rerun --wait` and `reconcile`.

use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;

use crate::cli::{GlobalArgs, OutputFormat};
use crate::cluster::{self, Connection, write};
use crate::engine::{self, Filter};
use crate::model::Kustomization;
use crate::render::{self, RenderOptions};
use crate::terminal;

/// How a stage ended after a reconcile request.
pub enum StageOutcome {
    /// Ready at this revision.
    Ready(Option<String>),
    /// kustomize-controller handled the request and the stage is not Ready: reason, message.
    Failed(String, String),
    TimedOut(String),
}

/// Polls the Kustomization (one GET per second, as `flux reconcile` polls every 2s) until
/// kustomize-controller has handled `token` (`status.lastHandledReconcileAt`) and the stage is
/// Ready for its current generation, or it failed. Ready=False with `DependencyNotReady` or
/// `Progressing` is not final: the controller retries those by itself.
pub async fn wait_stage(conn: &Connection, ns: &str, name: &str, token: &str, timeout: Duration) -> StageOutcome {
    let start = Instant::now();
    let mut last = String::from("no status yet");
    loop {
        match write::get_kustomization(conn, ns, name).await {
            Ok(Some(ks)) => {
                if let Some(outcome) = judge(&ks, token) {
                    return outcome;
                }
                if let Some(ready) = ks.condition("Ready") {
                    last = format!("{}: {}", ready.reason, ready.message);
                }
            }
            Ok(None) => {
                return StageOutcome::Failed("NotFound".into(), format!("Kustomization {ns}/{name} was deleted"));
            }
            Err(e) => last = e.to_string(),
        }
        if start.elapsed() > timeout {
            return StageOutcome::TimedOut(last);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The outcome once `token` was handled; `None` while waiting.
pub fn judge(ks: &Kustomization, token: &str) -> Option<StageOutcome> {
    let status = ks.status.as_ref()?;
    if status.last_handled_reconcile_at.as_deref() != Some(token) {
        return None;
    }
    let ready = ks.condition("Ready")?;
    let current = ks.metadata.generation.is_none() || status.observed_generation == ks.metadata.generation;
    match ready.status.as_str() {
        "True" if current => Some(StageOutcome::Ready(status.last_applied_revision.clone())),
        "False" if !matches!(ready.reason.as_str(), "DependencyNotReady" | "Progressing" | "HealthCheckCanceled") => {
            Some(StageOutcome::Failed(ready.reason.clone(), ready.message.clone()))
        }
        _ => None,
    }
}

/// Prints, on stderr, what `status STAGE` would print for a stage: the chain to its root cause
/// (with log lines), read fresh from the cluster.
pub async fn explain(conn: &Connection, global: &GlobalArgs, stage_id: &str, logs: u32) {
    let ns = stage_id.split_once('/').map(|(ns, _)| ns).unwrap_or_default();
    let snapshot = match cluster::read_snapshot(conn, Some(ns), None, &mut |w| terminal::warn(&w)).await {
        Ok(mut s) => {
            s.now = Some(Timestamp::now());
            s
        }
        Err(e) => return terminal::warn(&format!("cannot read the cluster to explain the failure: {e}")),
    };
    let filter = Filter { namespace: Some(ns.to_string()), stage: Some(stage_id.to_string()), selector: None };
    let mut report = match engine::diagnose(&snapshot, &filter) {
        Ok(r) => r,
        Err(e) => return terminal::warn(&e.to_string()),
    };
    if logs > 0 {
        cluster::attach_logs(conn, &mut report, logs, &mut |w| terminal::warn(&w)).await;
    }
    let options = RenderOptions {
        format: OutputFormat::Table,
        color: terminal::stderr_color(global.color),
        no_headers: false,
        namespace_column: false,
        now: snapshot.now.unwrap_or_else(Timestamp::now),
        width: None,
    };
    if let Ok(text) = render::render(&report, &options) {
        eprint!("\n{text}");
    }
}

/// `1.2s`, `45s`, `2m3s`.
pub fn took(d: Duration) -> String {
    if d.as_secs() < 10 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        engine::human(k8s_openapi::jiff::SignedDuration::from_secs(d.as_secs() as i64))
    }
}

/// Parses `--timeout`.
pub fn parse_timeout(s: &str) -> anyhow::Result<Duration> {
    engine::parse_go_duration(s)
        .and_then(|d| Duration::try_from(d).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("invalid --timeout {s:?}: use a duration such as 90s or 5m"))
}
