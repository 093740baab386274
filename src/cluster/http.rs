//! The HTTP client under kube's `Client`, speaking HTTP/2 when the API server offers it, as
//! client-go does (k8s.io/client-go transport/transport.go: its TLS configs offer `h2` and
//! `http/1.1` by ALPN). kube 5's own stack (kube-client src/client/builder.rs,
//! `make_generic_builder`) offers HTTP/1.1 only, so every request in flight needs a TLS connection
//! of its own: a status over 200 failed pipelines opened 200 of them for its log tails. Over
//! HTTP/2 they are streams of one connection.
//!
//! The layers are kube's, in kube's order (base URI, gzip, retry, auth, extra headers); only the
//! connector differs. Through a proxy (`proxy-url`, `HTTPS_PROXY`) kube's own stack is used whole:
//! it makes the CONNECT tunnel and sends the proxy's credentials.

use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::retry::RetryPolicy;
use kube::client::{ClientBuilder, ConfigExt};
use kube::{Client, Config};
use tower::retry::RetryLayer;
use tower::{BoxError, ServiceBuilder};
use tower_http::decompression::DecompressionLayer;

use super::request_log::RequestLog;

/// A client for `config`; every request logged on stderr when `log` is given (`-v=6`).
/// `DISABLE_HTTP2` set to anything keeps it to HTTP/1.1, as for kubectl (k8s.io/apimachinery
/// pkg/util/net/http.go, `SetTransportDefaults`).
pub(super) fn client(config: Config, log: Option<RequestLog>) -> Result<Client, kube::Error> {
    client_over(config, log, std::env::var_os("DISABLE_HTTP2").is_none_or(|v| v.is_empty()))
}

fn client_over(config: Config, log: Option<RequestLog>, http2: bool) -> Result<Client, kube::Error> {
    if config.proxy_url.is_some() {
        let builder = ClientBuilder::try_from(config)?;
        return Ok(match log {
            Some(log) => builder.with_layer(&log).build(),
            None => builder.build(),
        });
    }
    let builder = ClientBuilder::new(
        ServiceBuilder::new()
            .layer(config.base_uri_layer())
            .layer(DecompressionLayer::new().no_br().no_deflate().no_zstd().gzip(!config.disable_compression))
            .option_layer(config.default_retry.then(|| RetryLayer::new(RetryPolicy::server_retry())))
            .option_layer(config.auth_layer()?)
            .layer(config.extra_headers_layer()?)
            .map_err(BoxError::from)
            .service(
                hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector(&config, http2)?),
            ),
        config.default_namespace.clone(),
    );
    Ok(match log {
        Some(log) => builder.with_layer(&log).build(),
        None => builder.build(),
    })
}

/// TCP, then TLS offering `h2` before `http/1.1` (or only `http/1.1`), with the kubeconfig's TLS
/// settings and the configured timeouts; `http://` servers are reached without TLS (and so over
/// HTTP/1.1).
fn connector(
    config: &Config,
    http2: bool,
) -> Result<TimeoutConnector<hyper_rustls::HttpsConnector<HttpConnector>>, kube::Error> {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    let tls =
        hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config.rustls_client_config()?).https_or_http();
    let tls = match &config.tls_server_name {
        Some(name) => {
            let name = name
                .clone()
                .try_into()
                .map_err(|e| kube::Error::RustlsTls(kube::client::RustlsTlsError::InvalidServerName(e)))?;
            tls.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        }
        None => tls,
    };
    let tls = match http2 {
        true => tls.enable_all_versions().wrap_connector(tcp),
        false => tls.enable_http1().wrap_connector(tcp),
    };
    let mut connector = TimeoutConnector::new(tls);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    Ok(connector)
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper_util::rt::TokioIo;
    use tokio_rustls::rustls;

    use super::*;

    /// A TLS server on loopback offering `alpn` that answers every request with the HTTP version
    /// it came in; its URL, its certificate, and how many connections it accepted.
    async fn server(alpn: &[&[u8]]) -> (String, Vec<u8>, Arc<AtomicUsize>) {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let der = certified.cert.der().to_vec();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der.clone().into()], key)
            .unwrap();
        tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = accepted.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else { return };
                    let answer =
                        hyper::service::service_fn(|request: http::Request<hyper::body::Incoming>| async move {
                            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(format!(
                                "{:?}",
                                request.version()
                            )))))
                        });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), answer)
                        .await;
                });
            }
        });
        (url, der, accepted)
    }

    /// The answers to one request, then to 50 at once (as a status's log tails go out).
    async fn versions(url: &str, certificate: Vec<u8>, http2: bool) -> Vec<String> {
        let mut config = Config::new(url.parse().unwrap());
        config.root_cert = Some(vec![certificate]);
        let client = client_over(config, None, http2).unwrap();
        let get = || client.request_text(http::Request::get("/version").body(Vec::new()).unwrap());
        let mut out = vec![get().await.unwrap()];
        out.extend(futures::future::join_all((0..50).map(|_| get())).await.into_iter().map(Result::unwrap));
        out
    }

    #[tokio::test]
    async fn requests_in_flight_share_one_http2_connection_when_the_server_offers_it() {
        let (url, certificate, accepted) = server(&[b"h2", b"http/1.1"]).await;
        let versions = versions(&url, certificate, true).await;
        assert!(versions.iter().all(|v| v == "HTTP/2.0"), "{versions:?}");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_server_without_http2_is_spoken_to_in_http11() {
        let (url, certificate, accepted) = server(&[b"http/1.1"]).await;
        let versions = versions(&url, certificate, true).await;
        assert!(versions.iter().all(|v| v == "HTTP/1.1"), "{versions:?}");
        assert!(accepted.load(Ordering::SeqCst) > 1, "HTTP/1.1 needs a connection per request in flight");
    }

    #[tokio::test]
    async fn with_http2_disabled_a_server_offering_it_is_spoken_to_in_http11() {
        let (url, certificate, _) = server(&[b"h2", b"http/1.1"]).await;
        let versions = versions(&url, certificate, false).await;
        assert!(versions.iter().all(|v| v == "HTTP/1.1"), "{versions:?}");
    }
}
