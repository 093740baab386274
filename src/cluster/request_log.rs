//! `-v/--v=N`: every API request on stderr, as kubectl logs them (k8s.io/client-go
//! transport/round_trippers.go, klog format): from 6 the verb, URL, status and latency; from 8 also
//! the request and response bodies, truncated. Watch responses stream forever, so their bodies are
//! never logged.

use std::io::Write;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use kube::client::Body;
use tower::{BoxError, Layer, Service};

/// The verbosity from which requests are logged, and from which bodies are.
pub(super) const REQUESTS: u8 = 6;
pub(super) const BODIES: u8 = 8;
/// How much of a body is shown, as client-go truncates them (`maxBodySize`-like).
const BODY_LIMIT: usize = 1024;

#[derive(Clone, Debug)]
pub(super) struct RequestLog {
    pub verbosity: u8,
    /// The API server's URL: requests carry only the path when this layer sees them.
    pub server: String,
}

impl<S> Layer<S> for RequestLog {
    type Service = RequestLogService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestLogService { inner, verbosity: self.verbosity, server: self.server.clone() }
    }
}

#[derive(Clone)]
pub(super) struct RequestLogService<S> {
    inner: S,
    verbosity: u8,
    server: String,
}

impl<S, B> Service<Request<Body>> for RequestLogService<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Send,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<UnsyncBoxBody<Bytes, BoxError>>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let verbosity = self.verbosity;
        let verb = request.method().to_string();
        let url = match request.uri().to_string() {
            path if path.starts_with('/') => format!("{}{path}", self.server),
            whole => whole,
        };
        let watch = url.contains("watch=true") || url.contains("watch=1");
        // Request bodies are whole in memory (kube sends `Once` bodies): a clone costs nothing.
        let request_body = if verbosity >= BODIES { request.body().try_clone() } else { None };
        let start = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            if let Some(body) = request_body
                && let Ok(bytes) = body.collect_bytes().await
                && !bytes.is_empty()
            {
                log("Request Body", &format!("url={url:?} body={:?}", truncated(&bytes)));
            }
            let response = match response.await.map_err(Into::into) {
                Ok(response) => response,
                Err(error) => {
                    let milliseconds = start.elapsed().as_millis();
                    log(
                        "Response",
                        &format!(
                            "verb={verb:?} url={url:?} status=\"\" milliseconds={milliseconds} err={:?}",
                            error.to_string()
                        ),
                    );
                    return Err(error);
                }
            };
            let status = response.status();
            let status = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or_default());
            let milliseconds = start.elapsed().as_millis();
            log("Response", &format!("verb={verb:?} url={url:?} status={status:?} milliseconds={milliseconds}"));
            let (parts, body) = response.into_parts();
            if verbosity >= BODIES && !watch {
                let bytes = body.collect().await.map_err(Into::into)?.to_bytes();
                log("Response Body", &format!("body={:?}", truncated(&bytes)));
                let full = http_body_util::Full::new(bytes).map_err(|never| match never {});
                return Ok(Response::from_parts(parts, full.boxed_unsync()));
            }
            Ok(Response::from_parts(parts, body.map_err(Into::into).boxed_unsync()))
        })
    }
}

fn truncated(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(BODY_LIMIT) {
        Some((at, _)) => format!("{} [truncated {} chars]", &text[..at], text.chars().count() - BODY_LIMIT),
        None => text.into_owned(),
    }
}

/// One klog line: `I1125 16:59:01.123456   12345 round_trippers.go:632] "Response" key=value ...`.
fn log(message: &str, fields: &str) {
    let now = k8s_openapi::jiff::Zoned::now();
    let line = format!(
        "I{} {:>7} round_trippers.go:632] {message:?} {fields}",
        now.strftime("%m%d %H:%M:%S%.6f"),
        std::process::id()
    );
    let _ = writeln!(std::io::stderr(), "{}", crate::terminal::inert(&line));
}
