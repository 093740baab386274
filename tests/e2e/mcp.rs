//! `kubectl fluxjobs mcp` driven by MCP clients no one here wrote, on the live cluster: rmcp's own
//! client, and the MCP Inspector's CLI (`@modelcontextprotocol/inspector` from npm), which also
//! checks every structured result against the tool's output schema.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fixtures::Pipeline;
use crate::harness::{self, Result};
use crate::mcp_client::Session;
use crate::scenarios::{SETTLE, Scenario, uid_of_job};
use crate::{Ctx, check, state_of};

pub(crate) fn all() -> Vec<(&'static str, Scenario)> {
    vec![("mcp_explains_a_failed_migration_and_reruns_it_only_when_allowed_and_permitted", explains_and_reruns)]
}

/// The Inspector's version line: 2.x, the one that runs here on node 20.
const INSPECTOR: &str = "@modelcontextprotocol/inspector@2";

fn program() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-fluxjobs"))
}

fn explains_and_reruns(ctx: &Ctx) -> Result<()> {
    let ns = "e2e-mcp";
    let mut pipeline = Pipeline::seed(ns);
    pipeline.migration_labels = vec![("fluxjobs.test/exit-code".into(), "3".into())];
    pipeline.install(&ctx.plane)?;
    ctx.wait_status(ns, "the migration to fail", SETTLE, |r| state_of(r, "app-pre-deploy") == "Failed")?;
    let kubeconfig = ctx.plane.kubeconfig.to_str().ok_or("kubeconfig path")?.to_string();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(read_tools(ns, &kubeconfig))?;
    inspector(ns, &kubeconfig)?;
    let forbidden = crate::safety::user_without_patch(ctx, ns, "mcp-without-patch")?;
    let forbidden = forbidden.to_str().ok_or("kubeconfig path")?;
    runtime.block_on(write_tools(ctx, ns, &kubeconfig, forbidden))
}

/// status, explain and wait_verdict on the live failure, as an assistant calls them.
async fn read_tools(ns: &str, kubeconfig: &str) -> Result<()> {
    let session = Session::start(program(), &["--kubeconfig", kubeconfig], &[]).await?;
    let status = session.call("status", json!({"namespace": ns})).await?;
    let stage = crate::stage(&status.structured, "app-pre-deploy");
    let cause = &stage["rootCause"];
    check(!status.is_error && cause["kind"] == "Pod" && cause["exitCode"] == 3, || {
        format!("status: the failed migration's pod and exit code: {}\n{}", status.text, status.structured)
    })?;
    check(status.text.contains("(exit code 3)"), || format!("status text: {}", status.text))?;
    let explain = session.call("explain", json!({"stage": "app-post-deploy", "namespace": ns})).await?;
    let chain = format!("chain: {ns}/app-post-deploy -> {ns}/app-deploy -> {ns}/app-pre-deploy");
    check(explain.text.contains(&chain) && explain.text.contains("exited with code 3"), || {
        format!("explain of the blocked stage: {}", explain.text)
    })?;
    let verdict = session.call("wait_verdict", json!({"namespace": ns})).await?;
    check(verdict.structured["ending"] == "Failed", || format!("wait_verdict: {}", verdict.text))?;
    let contexts = session.call("contexts", json!({})).await?;
    check(contexts.structured["contexts"].as_array().is_some_and(|c| !c.is_empty()), || {
        format!("contexts: {}", contexts.text)
    })?;
    session.close().await
}

/// The Inspector's CLI lists the tools and calls status on the live cluster; it refuses a result
/// that does not match the tool's output schema.
fn inspector(ns: &str, kubeconfig: &str) -> Result<()> {
    let run = |args: &[&str]| -> Result<Value> {
        let out = Command::new("npx")
            .args(["-y", INSPECTOR, "--cli"])
            .arg(program())
            .args(["mcp", "--kubeconfig", kubeconfig])
            .args(args)
            .output()
            .map_err(|e| format!("npx (node >= 20) runs the MCP Inspector: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        check(out.status.success(), || format!("the Inspector {args:?}: {}\n{stdout}\n{stderr}", out.status))?;
        serde_json::from_str(&stdout).map_err(|e| format!("the Inspector printed no JSON ({e}): {stdout}\n{stderr}"))
    };
    let tools = run(&["--method", "tools/list"])?;
    let names: Vec<&str> = tools["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    check(names == ["status", "explain", "wait_verdict", "contexts"], || {
        format!("the Inspector's tool list: {tools}")
    })?;
    let namespace = format!("namespace={ns}");
    let status = run(&["--method", "tools/call", "--tool-name", "status", "--tool-arg", &namespace])?;
    let cause = &crate::stage(&status["structuredContent"], "app-pre-deploy")["rootCause"];
    check(status.get("error").is_none() && cause["exitCode"] == 3, || format!("the Inspector's status call: {status}"))
}

/// rerun: absent without --allow-writes; a dry run plans and changes nothing; a forbidden user's
/// call is a tool error naming the verb and resource; dryRun false runs the Job again.
async fn write_tools(ctx: &Ctx, ns: &str, kubeconfig: &str, forbidden: &str) -> Result<()> {
    let uid = uid_of_job(ctx, ns, "db-migration")?;
    let target = json!({"targets": ["job/db-migration"], "namespace": ns});
    let denied = Session::start(program(), &["--kubeconfig", forbidden, "--allow-writes"], &[]).await?;
    let refused = denied.call("rerun", target.clone()).await?;
    let expected = format!(
        "forbidden: cannot patch kustomizations.kustomize.toolkit.fluxcd.io \"app-pre-deploy\" in namespace \"{ns}\""
    );
    check(refused.is_error && refused.text.starts_with("rerun: ") && refused.text.contains(&expected), || {
        format!("a forbidden user's rerun: {}", refused.text)
    })?;
    denied.close().await?;

    let session = Session::start(program(), &["--kubeconfig", kubeconfig, "--allow-writes"], &[]).await?;
    let plan = session.call("rerun", target.clone()).await?;
    let steps = plan.structured["steps"].as_array().cloned().unwrap_or_default();
    let first = steps.first().and_then(Value::as_str).unwrap_or_default();
    check(
        !plan.is_error
            && plan.structured["dryRun"] == true
            && first.contains("db-migration")
            && plan.text.contains("dry run: would delete Job")
            && plan.text.contains("nothing was changed"),
        || format!("the dry run's plan: {}", plan.structured),
    )?;
    check(uid_of_job(ctx, ns, "db-migration")? == uid, || "a dry run changed the Job".into())?;
    let order = session.call("reconcile", json!({"stage": "app-post-deploy", "namespace": ns})).await?;
    let chain = format!("{ns}/app-pre-deploy -> {ns}/app-deploy -> {ns}/app-post-deploy");
    check(!order.is_error && order.structured["dryRun"] == true && order.text.contains(&chain), || {
        format!("reconcile's dry run: {}", order.structured)
    })?;

    let mut run = target;
    run["dryRun"] = false.into();
    let ran = session.call("rerun", run).await?;
    check(!ran.is_error && ran.structured["exitCode"] == 0, || format!("the rerun: {}", ran.structured))?;
    harness::poll_until("the Job to be recreated", Duration::from_secs(60), Duration::from_secs(1), || {
        Ok(uid_of_job(ctx, ns, "db-migration").is_ok_and(|now| !now.is_empty() && now != uid))
    })?;
    session.close().await
}
