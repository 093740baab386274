//! What `rerun --wait` and `reconcile` share, as flux2's cmd/flux/reconcile.go serves its verbs:
//! waiting for a stage after a reconcile request and saying how it ended, and explaining a failure
//! with the status engine.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::cli::OutputFormat;
use crate::cluster::wait::{StageOutcome, stage_settled};
use crate::cluster::{self, Connection};
use crate::context::Context;
use crate::duration::took;
use crate::engine::RequestOutcome;
use crate::engine::{self, Filter};
use crate::error::one_line;
use crate::refs::StageId;
use crate::render::{self, RenderOptions};
use crate::terminal::{self, Glyph};

/// How a stage ended after a reconcile request, in one word for a timeline.
#[derive(Clone, Debug, PartialEq)]
pub enum Settled {
    Ready,
    /// The Ready reason kustomize-controller gave, or `timed out`.
    NotReady(String),
}

impl Settled {
    pub fn word(&self) -> &str {
        match self {
            Settled::Ready => "Ready",
            Settled::NotReady(why) => why,
        }
    }
}

/// Waits until kustomize-controller handled `token` on `stage` and prints how it ended, as
/// `{label} Ready at REV (took)`, `{label} REASON: message` or `{label} not Ready after T (last)`.
pub async fn settle(conn: &Connection, stage: &StageId, label: &str, token: &str, timeout: Duration) -> Settled {
    let start = tokio::time::Instant::now();
    match stage_settled(conn, stage, token, timeout).await {
        StageOutcome::Handled(RequestOutcome::Ready(revision)) => {
            let at = revision.map(|r| format!(" at {r}")).unwrap_or_default();
            terminal::step(Glyph::Done, &format!("{label} Ready{at} ({})", took(start.elapsed())));
            Settled::Ready
        }
        StageOutcome::Handled(RequestOutcome::Failed { reason, message }) => {
            terminal::step(Glyph::Failed, &format!("{label} {reason}: {message}"));
            Settled::NotReady(reason.to_string())
        }
        StageOutcome::TimedOut { handled: true, last } => {
            terminal::step(Glyph::Failed, &format!("{label} not Ready after {} ({last})", took(timeout)));
            Settled::NotReady("timed out".into())
        }
        // Its status is from before the request: say so rather than present it as the outcome.
        StageOutcome::TimedOut { handled: false, last } => {
            let controller = stage.kind.controller();
            terminal::step(
                Glyph::Failed,
                &format!(
                    "{label} {controller} did not handle the reconcile request within {} (is it running, and does it watch this namespace?); its status from before the request: {last}",
                    took(timeout)
                ),
            );
            Settled::NotReady("request not handled".into())
        }
    }
}

/// Prints, on stderr, what `status STAGE` would print for a stage: the chain to its root cause
/// (with log lines), read fresh from the cluster.
pub async fn explain(conn: &Connection, ctx: &Context, stage: &StageId, logs: u32) {
    let ns = stage.namespace.as_str();
    let snapshot = match cluster::read_snapshot(conn, Some(ns), None, &mut |w| terminal::warn(&w)).await {
        Ok(mut s) => {
            s.now = Timestamp::now();
            s
        }
        Err(e) => return terminal::warn(&format!("cannot read the cluster to explain the failure: {}", one_line(&e))),
    };
    let filter = Filter { namespace: Some(ns.to_string()), stages: vec![stage.to_string()], selector: None };
    let mut report = match engine::diagnose(&snapshot, &filter) {
        Ok(r) => r,
        Err(e) => return terminal::warn(&e.to_string()),
    };
    if logs > 0 {
        super::status::attach_logs(conn, &mut report, logs, &mut |w| crate::terminal::warn(&w)).await;
    }
    let options = RenderOptions {
        format: OutputFormat::Table,
        color: terminal::stderr_color(ctx.color),
        no_headers: false,
        namespace_column: false,
        context_column: false,
        summary: false,
        now: snapshot.now,
        width: None,
    };
    if let Ok(text) = render::render(&report, &options) {
        eprint!("\n{text}");
    }
}
