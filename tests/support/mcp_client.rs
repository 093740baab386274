//! A real MCP client, rmcp's own (not ours), driving `kubectl-fluxjobs mcp` over the stdio of a
//! child process as an assistant launches a local server.

use std::path::Path;

use rmcp::model::{CallToolRequestParams, CallToolResult, GetPromptRequestParams, Tool};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

pub(crate) struct Session {
    client: RunningService<RoleClient, ()>,
}

/// What a tool call returned, as an assistant sees it.
pub(crate) struct Answer {
    pub(crate) is_error: bool,
    /// The first text block: the short rendering, or the error message.
    pub(crate) text: String,
    pub(crate) structured: Value,
}

impl Session {
    /// Starts `program mcp ARGS` with `env`, and connects.
    pub(crate) async fn start(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Session, String> {
        let mut command = tokio::process::Command::new(program);
        command.arg("mcp").args(args).env_remove("KUBECONFIG");
        for (key, value) in env {
            command.env(key, value);
        }
        let transport = TokioChildProcess::new(command).map_err(|e| format!("cannot start the server: {e}"))?;
        let client = ().serve(transport).await.map_err(|e| format!("cannot connect: {e}"))?;
        Ok(Session { client })
    }

    /// The server's name and version, as it introduced itself.
    pub(crate) fn server(&self) -> (String, String) {
        let info = self.client.peer_info().expect("the server introduced itself");
        let server = info.server_info.as_ref().expect("its name and version");
        (server.name.clone(), server.version.clone())
    }

    pub(crate) async fn tools(&self) -> Result<Vec<Tool>, String> {
        self.client.list_all_tools().await.map_err(|e| e.to_string())
    }

    pub(crate) async fn call(&self, tool: &str, arguments: Value) -> Result<Answer, String> {
        let Value::Object(arguments) = arguments else { return Err("arguments are an object".into()) };
        let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
        let result: CallToolResult = self.client.call_tool(params).await.map_err(|e| e.to_string())?;
        let text = result.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).unwrap_or_default();
        Ok(Answer {
            is_error: result.is_error == Some(true),
            text,
            structured: result.structured_content.unwrap_or(Value::Null),
        })
    }

    /// The text of prompt `name`'s first message, with `arguments`.
    pub(crate) async fn prompt(&self, name: &str, arguments: Value) -> Result<String, String> {
        let Value::Object(arguments) = arguments else { return Err("arguments are an object".into()) };
        let prompts = self.client.list_all_prompts().await.map_err(|e| e.to_string())?;
        if !prompts.iter().any(|p| p.name == name) {
            return Err(format!("no prompt {name} among {prompts:?}"));
        }
        let params = GetPromptRequestParams::new(name).with_arguments(arguments);
        let result = self.client.get_prompt(params).await.map_err(|e| e.to_string())?;
        let first = result.messages.first().ok_or("a message")?;
        Ok(serde_json::to_value(&first.content).map_err(|e| e.to_string())?["text"].as_str().unwrap_or_default().into())
    }

    pub(crate) async fn close(self) -> Result<(), String> {
        self.client.cancel().await.map(drop).map_err(|e| e.to_string())
    }
}
