//! All cluster I/O. This room: building a client from kubectl-style flags, and turning API errors
//! into one clear line. The others: [`read`] (snapshots with one paginated LIST per kind, single
//! GETs, log tails), [`write`] (every write the commands make), [`preflight`] (checking every planned
//! write before the first), [`wait`] (polling until a condition holds), [`watch`] (`status --watch`).

use std::path::PathBuf;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::config::KubeconfigError;

mod connect;
pub(crate) mod contexts;
pub mod get;
mod http;
#[cfg(test)]
mod io_tests;
#[cfg(test)]
mod mock;
pub(crate) mod preflight;
pub mod read;
pub(crate) mod remote;
mod request_log;
pub(crate) mod wait;
pub(crate) mod watch;
pub mod write;

pub(crate) use connect::Overrides;
pub use connect::{ConnectOptions, connect};
pub(crate) use read::{read_snapshot, workload_namespaces};

use crate::model::{SOURCE_GROUP, flux_kind};
use crate::refs::{ApiKind, StageKind};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot load kubeconfig: none found: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config")]
    NoKubeconfig,
    #[error("cannot load kubeconfig{}", path.as_ref().map(|p| format!(": {}", p.display())).unwrap_or_default())]
    Kubeconfig {
        path: Option<PathBuf>,
        #[source]
        source: KubeconfigError,
    },
    /// kube's own text names the path a second time, quoted twice (`'"path"'`): said once here.
    #[error("cannot read kubeconfig {}", path.display())]
    KubeconfigUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot load kubeconfig")]
    Infer(#[source] kube::config::InferConfigError),
    #[error("cannot load kubeconfig")]
    Client(#[source] kube::Error),
    #[error("cannot reach the Kubernetes API server at {server}")]
    Unreachable {
        server: String,
        #[source]
        source: NetworkCause,
    },
    #[error("the API server at {server} rejected the credentials (401 Unauthorized): {message}")]
    Unauthorized { server: String, message: String },
    #[error("forbidden: cannot {verb} {resource} in {scope}: {message}")]
    Forbidden { verb: &'static str, resource: String, scope: String, message: String },
    #[error(
        "Flux is not installed on {server}: the API server does not serve kustomizations.kustomize.toolkit.fluxcd.io/v1 (Flux >= 2.0 is needed; `flux check` tells more)"
    )]
    FluxMissing { server: String },
    #[error("the API server at {server} does not serve {resource}: its CRD is not installed")]
    NotServed { server: String, resource: String },
    /// A credential plugin (or the kubeconfig's files) took longer than --request-timeout.
    #[error("no credentials for context {context:?} within {}: its exec credential plugin did not finish (--request-timeout)", crate::duration::took(*after))]
    CredentialsTimedOut { context: String, after: Duration },
    #[error("cannot {verb} {resource} in {scope}: {message}")]
    Api { verb: &'static str, resource: String, scope: String, message: String },
}

/// Why a request did not reach the API server, as the network said it: the innermost cause of the
/// client's error (a refused connection, a timeout, a certificate rejected), without the client
/// library's own layers (`ServiceError: client error (Connect)`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NetworkCause(String);

impl NetworkCause {
    fn of(e: &kube::Error) -> NetworkCause {
        let mut innermost: &dyn std::error::Error = e;
        while let Some(source) = innermost.source() {
            innermost = source;
        }
        NetworkCause(innermost.to_string())
    }
}

/// The kubeconfig error, with an unreadable file said once.
pub(crate) fn kubeconfig_error(path: Option<PathBuf>, source: KubeconfigError) -> ClusterError {
    match source {
        KubeconfigError::ReadConfig(source, path) => ClusterError::KubeconfigUnreadable { path, source },
        source => ClusterError::Kubeconfig { path, source },
    }
}

/// A connected client, its server URL (for messages), and the context's default namespace.
#[derive(Clone)]
pub struct Connection {
    pub client: Client,
    pub server: String,
    /// The kubeconfig context and cluster entry used; `None` in-cluster or from flags alone.
    pub context: Option<String>,
    pub cluster: Option<String>,
    pub default_namespace: String,
    /// How long one request may be retried on transient errors ([`retry`]): `--request-timeout`.
    pub retry_budget: Duration,
    /// Whether the API server has answered this process yet. A server that never answered is not
    /// "back in a moment" but wrong or down: no retrying then, the error comes at once.
    pub answered: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Whether an error is transient, and how long the server asks to wait: `None` when it is not
/// worth retrying. Transient: no connection or a timeout (the API server restarting, a proxy
/// resetting), 429 from API Priority and Fairness (with its Retry-After, sent as
/// `details.retryAfterSeconds`: k8s.io/apiserver pkg/server/filters/priority-and-fairness.go and
/// k8s.io/apimachinery pkg/api/errors NewTooManyRequests), 500, 502, 503 and 504.
pub(crate) fn transient(e: &kube::Error) -> Option<Option<Duration>> {
    match e {
        kube::Error::Api(status) => match status.code {
            code if transient_status(code) => Some(
                status
                    .details
                    .as_ref()
                    .map(|d| d.retry_after_seconds)
                    .filter(|s| *s > 0)
                    .map(|s| Duration::from_secs(s.into())),
            ),
            _ => None,
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => Some(None),
        _ => None,
    }
}

/// HTTP statuses that say "not now" rather than "no".
pub(crate) fn transient_status(code: u16) -> bool {
    matches!(code, 429 | 500 | 502 | 503 | 504)
}

/// Sends a request again while it fails transiently, with exponential backoff (200 ms doubling up
/// to 5 s, or the server's Retry-After), for at most the connection's retry budget; the last error
/// is returned. Only idempotent requests go through here: reads, the reconcile-request merge patch,
/// a delete under a uid precondition, a create (a repeat finds it exists).
pub(crate) async fn retry<T>(
    conn: &Connection,
    mut request: impl AsyncFnMut() -> Result<T, kube::Error>,
) -> Result<T, kube::Error> {
    let deadline = tokio::time::Instant::now() + conn.retry_budget;
    let mut backoff = Duration::from_millis(200);
    use std::sync::atomic::Ordering;
    loop {
        let error = match request().await {
            Ok(value) => {
                conn.answered.store(true, Ordering::Relaxed);
                return Ok(value);
            }
            Err(e) => e,
        };
        let server_spoke = matches!(error, kube::Error::Api(_));
        if server_spoke {
            conn.answered.store(true, Ordering::Relaxed);
        } else if !conn.answered.load(Ordering::Relaxed) {
            return Err(error);
        }
        let Some(asked) = transient(&error) else { return Err(error) };
        let pause = asked.unwrap_or(backoff);
        if tokio::time::Instant::now() + pause > deadline {
            return Err(error);
        }
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

fn scope_text(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("namespace {ns:?}"),
        None => "all namespaces".into(),
    }
}

/// The API resource of a kind the tables know.
pub(crate) fn api_resource(api: &ApiKind) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(api.group, api.version, api.kind), api.plural)
}

/// The API resource of a Flux kind an object reference names (a stage or source kind); a source
/// kind from a newer Flux follows the usual rule for CRDs.
pub(crate) fn flux_api_resource(kind: &str) -> ApiResource {
    match flux_kind(kind) {
        Some(api) => api_resource(api),
        None => ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(SOURCE_GROUP, "v1", kind),
            &format!("{}s", kind.to_lowercase()),
        ),
    }
}

/// The `resource.group` name of a stage or source kind, as errors name it.
pub(crate) fn resource_name(kind: &str) -> String {
    let resource = flux_api_resource(kind);
    format!("{}.{}", resource.plural, resource.group)
}

/// An API error as one clear line, naming the verb, the resource and the scope.
pub(crate) fn classify(
    conn: &Connection,
    verb: &'static str,
    resource: &str,
    namespace: Option<&str>,
    e: kube::Error,
) -> ClusterError {
    let scope = scope_text(namespace);
    match e {
        kube::Error::Api(status) => match status.code {
            401 => ClusterError::Unauthorized { server: conn.server.clone(), message: status.message.clone() },
            403 => ClusterError::Forbidden { verb, resource: resource.into(), scope, message: status.message.clone() },
            // A missing object is a `Status` with reason NotFound; a resource type the server does
            // not serve (its CRD is not installed) is a bare "404 page not found", which kube-client
            // turns into reason "Failed to parse error data".
            404 if status.reason != "NotFound" => {
                if resource.starts_with(&StageKind::Kustomization.api().resource()) {
                    ClusterError::FluxMissing { server: conn.server.clone() }
                } else {
                    ClusterError::NotServed { server: conn.server.clone(), resource: resource.into() }
                }
            }
            _ => ClusterError::Api { verb, resource: resource.into(), scope, message: status.message.clone() },
        },
        // The server (or a proxy before it) answered, with something else than what it sends.
        kube::Error::SerdeError(e) => {
            ClusterError::Api { verb, resource: resource.into(), scope, message: e.to_string() }
        }
        source => ClusterError::Unreachable { server: conn.server.clone(), source: NetworkCause::of(&source) },
    }
}

/// A dynamic API of any resource, in one namespace or all.
pub(crate) fn dynamic_api(client: &Client, namespace: Option<&str>, resource: &ApiResource) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
        None => Api::all_with(client.clone(), resource),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::{Status, response::StatusDetails};

    fn api_error(code: u16, retry_after_seconds: u32) -> kube::Error {
        let details: StatusDetails =
            serde_json::from_value(serde_json::json!({"retryAfterSeconds": retry_after_seconds})).unwrap();
        kube::Error::Api(Box::new(Status { code, details: Some(details), ..Status::default() }))
    }

    #[test]
    fn network_and_kubeconfig_errors_say_their_cause_once() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        let wrapped = kube::Error::Service(Box::new(refused));
        assert_eq!(NetworkCause::of(&wrapped).to_string(), "Connection refused (os error 111)");
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory (os error 2)");
        let error = kubeconfig_error(Some("/k".into()), KubeconfigError::ReadConfig(missing, "/k".into()));
        assert_eq!(crate::chain::one_line(&error), "cannot read kubeconfig /k: No such file or directory (os error 2)");
    }

    #[test]
    fn only_transient_errors_are_retried_and_retry_after_is_honoured() {
        assert_eq!(transient(&api_error(429, 3)), Some(Some(Duration::from_secs(3))));
        assert_eq!(transient(&api_error(503, 0)), Some(None));
        assert_eq!(transient(&api_error(500, 0)), Some(None));
        for permanent in [400, 401, 403, 404, 409, 422] {
            assert_eq!(transient(&api_error(permanent, 0)), None, "{permanent}");
        }
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        assert_eq!(transient(&kube::Error::Service(Box::new(refused))), Some(None));
    }

    /// How many times `retry` sends a request that always meets a refused connection.
    async fn attempts_at_refused(conn: &Connection) -> usize {
        let mut attempts = 0;
        let _ = retry(conn, async || -> Result<(), kube::Error> {
            attempts += 1;
            Err(kube::Error::Service(Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))))
        })
        .await;
        attempts
    }

    #[tokio::test(start_paused = true)]
    async fn retries_end_with_the_budget_and_return_the_last_error() {
        let client = Client::try_from(kube::Config::new("https://127.0.0.1:9".parse().unwrap())).unwrap();
        let conn = Connection {
            client,
            server: "https://127.0.0.1:9".into(),
            context: None,
            cluster: None,
            default_namespace: "default".into(),
            retry_budget: Duration::from_secs(10),
            answered: Default::default(),
        };
        let mut attempts = 0;
        let result: Result<(), kube::Error> = retry(&conn, async || {
            attempts += 1;
            Err(api_error(503, 0))
        })
        .await;
        assert!(matches!(result, Err(kube::Error::Api(s)) if s.code == 503));
        // 0.2 + 0.4 + 0.8 + 1.6 + 3.2 = 6.2 s of pauses fit in 10 s; the next (5 s) does not.
        assert_eq!(attempts, 6);
        let mut attempts = 0;
        let result = retry(&conn, async || {
            attempts += 1;
            if attempts < 3 { Err(api_error(429, 1)) } else { Ok(attempts) }
        })
        .await;
        assert_eq!(result.unwrap(), 3);
        let mut attempts = 0;
        let _ = retry(&conn, async || -> Result<(), kube::Error> {
            attempts += 1;
            Err(api_error(403, 0))
        })
        .await;
        assert_eq!(attempts, 1, "a permanent error is not retried");
        // Connection errors: at once from a server that never answered, retried once it has.
        let fresh = Connection { answered: Default::default(), ..conn };
        assert_eq!(attempts_at_refused(&fresh).await, 1, "a server that never answered is not waited for");
        fresh.answered.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(attempts_at_refused(&fresh).await, 6, "an outage after answers is retried");
    }
}
