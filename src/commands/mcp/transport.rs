//! stdio as rmcp's sink and stream of messages, one JSON text per line (the MCP stdio transport),
//! with every line that is no message answered as JSON-RPC 2.0 says (rmcp's own stdio reader skips
//! a line that is not JSON without a word): `-32700` for text that is not JSON, `-32600` for JSON
//! that is no request, with the request's id when it has one. One task owns stdout, so an answer
//! of ours never interleaves with rmcp's.

use futures::channel::mpsc::{self, SendError};
use futures::{Sink, SinkExt, Stream, StreamExt};
use rmcp::RoleServer;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Why a message could not be written.
#[derive(Debug, thiserror::Error)]
pub(super) enum LineError {
    #[error("stdout is closed")]
    Closed(#[from] SendError),
    #[error("cannot encode a message: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The server's side of stdio: what rmcp writes to, and what it reads.
pub(super) fn stdio() -> (
    impl Sink<TxJsonRpcMessage<RoleServer>, Error = LineError> + Send + Unpin + 'static,
    impl Stream<Item = RxJsonRpcMessage<RoleServer>> + Send + Unpin + 'static,
) {
    let (lines, mut to_write) = mpsc::unbounded::<String>();
    tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = to_write.next().await {
            let written = async {
                stdout.write_all(line.as_bytes()).await?;
                stdout.write_all(b"\n").await?;
                stdout.flush().await
            };
            if written.await.is_err() {
                break;
            }
        }
    });
    let answers = lines.clone();
    let sink = lines.with(|message: TxJsonRpcMessage<RoleServer>| {
        futures::future::ready(serde_json::to_string(&message).map_err(LineError::from))
    });
    let input = BufReader::new(tokio::io::stdin()).lines();
    let stream = futures::stream::unfold((input, answers), |(mut input, answers)| async move {
        while let Ok(Some(line)) = input.next_line().await {
            match message(&line) {
                Ok(Some(message)) => return Some((message, (input, answers))),
                Ok(None) => {}
                Err(answer) => {
                    let _ = answers.unbounded_send(answer.to_string());
                }
            }
        }
        None
    });
    (sink, Box::pin(stream))
}

/// A line as a message; `None` for a blank line; otherwise the error answer to write back.
fn message(line: &str) -> Result<Option<RxJsonRpcMessage<RoleServer>>, Value> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let value: Value =
        serde_json::from_str(line).map_err(|e| error(Value::Null, -32700, &format!("Parse error: {e}")))?;
    let id = value.get("id").filter(|id| id.is_string() || id.is_number()).cloned().unwrap_or(Value::Null);
    serde_json::from_value(value).map(Some).map_err(|e| error(id, -32600, &format!("Invalid request: {e}")))
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(line: &str) -> Option<Value> {
        message(line).err()
    }

    #[test]
    fn a_line_that_is_no_message_gets_the_json_rpc_error_for_it() {
        assert_eq!(answer("not json").unwrap()["error"]["code"], -32700);
        assert_eq!(answer("not json").unwrap()["id"], Value::Null);
        let no_method = answer(r#"{"jsonrpc":"2.0","id":7,"params":{}}"#).unwrap();
        assert_eq!((no_method["error"]["code"].as_i64(), no_method["id"].as_i64()), (Some(-32600), Some(7)));
        assert!(answer("").is_none() && message("   ").unwrap().is_none());
        let request = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        assert!(message(request).unwrap().is_some());
    }
}
