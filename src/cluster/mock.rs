//! A mock API server for the I/O layer's unit tests: kube's `Client` over a service that answers
//! each request from a handler (method, path and query, body) and records what it was sent, so the
//! reads, writes and retries are tested in milliseconds rather than against a control plane.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use kube::client::Body;

use super::Connection;

/// One request as the mock API server saw it.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub body: String,
    /// Its `Accept` header.
    pub accept: String,
    /// When it arrived (tokio's clock: virtual under paused time).
    pub at: tokio::time::Instant,
}

/// An answer: its status code, `Content-Type` and body.
pub(super) struct Reply {
    pub code: u16,
    pub content_type: &'static str,
    pub body: Bytes,
}

pub(super) type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// A connection to a mock API server, and the requests it was sent, in order.
pub(super) fn connection(
    handler: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static,
) -> (Connection, Arc<Mutex<Vec<Seen>>>) {
    paced_connection(handler, |_| Duration::ZERO)
}

/// [`connection`] whose answers each wait as long as `pace` says, and whose log is in the order
/// requests arrived.
pub(super) fn paced_connection(
    handler: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static,
    pace: impl Fn(&Seen) -> Duration + Send + Sync + 'static,
) -> (Connection, Arc<Mutex<Vec<Seen>>>) {
    let json = move |request: &Seen| {
        let (code, text) = handler(request);
        Reply { code, content_type: "application/json", body: Bytes::from(text) }
    };
    replying_connection(json, pace)
}

/// [`paced_connection`] whose answers are any [`Reply`] (protobuf ones, say).
pub(super) fn replying_connection(
    handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    pace: impl Fn(&Seen) -> Duration + Send + Sync + 'static,
) -> (Connection, Arc<Mutex<Vec<Seen>>>) {
    let handler: Arc<Handler> = Arc::new(handler);
    let pace = Arc::new(pace);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let service = tower::service_fn(move |request: Request<Body>| {
        let (handler, pace, log) = (handler.clone(), pace.clone(), log.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let request = Seen {
                method: parts.method.to_string(),
                uri: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
                body: String::from_utf8_lossy(&body).into_owned(),
                accept: parts
                    .headers
                    .get(http::header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .into(),
                at: tokio::time::Instant::now(),
            };
            log.lock().unwrap().push(request.clone());
            tokio::time::sleep(pace(&request)).await;
            let reply = handler(&request);
            let response = Response::builder()
                .status(reply.code)
                .header("content-type", reply.content_type)
                .body(Full::new(reply.body))
                .expect("a valid response");
            Ok::<_, Infallible>(response)
        }
    });
    let conn = Connection {
        client: kube::Client::new(service, "default"),
        server: "https://mock".into(),
        context: None,
        cluster: None,
        default_namespace: "default".into(),
        retry_budget: Duration::from_secs(10),
        answered: Default::default(),
    };
    (conn, seen)
}

/// A `Status` body, as the API server writes errors.
pub(super) fn status(code: u16, reason: &str, message: &str) -> (u16, String) {
    let body = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message});
    (code, body.to_string())
}

/// An empty list.
pub(super) fn empty_list() -> (u16, String) {
    (200, r#"{"kind":"List","apiVersion":"v1","metadata":{},"items":[]}"#.into())
}
