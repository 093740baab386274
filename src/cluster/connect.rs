//! Connecting as kubectl does: the kubeconfig (`--kubeconfig`, else `$KUBECONFIG` merged, else
//! `~/.kube/config`, else in-cluster), the context, cluster and user it selects, and kubectl's
//! global flags over it (k8s.io/client-go tools/clientcmd overrides.go: `--server`, `--token`,
//! `--as`, `--certificate-authority`, ...).

use std::path::PathBuf;
use std::time::Duration;

use kube::Config;
use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};

use super::request_log::{self, RequestLog};
use super::{ClusterError, Connection, kubeconfig_error};

/// The kubeconfig selection flags, as kubectl has them.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<std::path::PathBuf>,
    pub context: Option<String>,
    pub cluster: Option<String>,
    pub user: Option<String>,
    /// `None` for no limit (`--request-timeout=0`).
    pub request_timeout: Option<Duration>,
    pub overrides: Overrides,
    /// kubectl's `-v`: from 6 every request is logged on stderr.
    pub verbosity: u8,
}

/// kubectl's flags that win over the kubeconfig.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub server: Option<String>,
    pub certificate_authority: Option<PathBuf>,
    pub insecure_skip_tls_verify: bool,
    pub tls_server_name: Option<String>,
    pub disable_compression: bool,
    pub token: Option<String>,
    pub client_certificate: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub impersonate: Option<String>,
    pub impersonate_uid: Option<String>,
    pub impersonate_groups: Vec<String>,
}

/// The retry budget when `--request-timeout=0` (no limit per request) is given.
const UNLIMITED_RETRY_BUDGET: Duration = Duration::from_secs(60);

/// The names the flags' own kubeconfig entries get when the kubeconfig has none to override.
const FLAGS_ENTRY: &str = "kubectl-fluxjobs-flags";

/// The kubeconfig to use, `None` when there is none (then in-cluster configuration applies).
pub(super) fn load_kubeconfig(options: &ConnectOptions) -> Result<Option<Kubeconfig>, ClusterError> {
    let unreadable = |source| kubeconfig_error(options.kubeconfig.clone(), source);
    if let Some(path) = &options.kubeconfig {
        return Kubeconfig::read_from(path).map(Some).map_err(unreadable);
    }
    let home_config = std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".kube/config"));
    if std::env::var_os("KUBECONFIG").is_none() && !home_config.is_some_and(|p| p.exists()) {
        return Ok(None);
    }
    Kubeconfig::read().map(Some).map_err(unreadable)
}

/// Applies the flags to the cluster and user entries the context selects, creating them when
/// the kubeconfig has none (`--server` and `--token` alone make a working configuration).
/// Returns the selection with those entries named.
fn apply_overrides(kubeconfig: &mut Kubeconfig, options: &ConnectOptions) -> KubeConfigOptions {
    let o = &options.overrides;
    let context_name = options.context.clone().or_else(|| kubeconfig.current_context.clone());
    let (cluster_name, user_name) = select_entries(kubeconfig, options, context_name.as_ref());
    let cluster = kubeconfig.clusters.iter_mut().find(|c| Some(&c.name) == cluster_name.as_ref());
    if let Some(cluster) = cluster.and_then(|c| c.cluster.as_mut()) {
        override_cluster(cluster, o);
    }
    let user = kubeconfig.auth_infos.iter_mut().find(|a| Some(&a.name) == user_name.as_ref());
    if let Some(user) = user.and_then(|a| a.auth_info.as_mut()) {
        override_user(user, o);
    }
    // --server on a kubeconfig without a context to use: one context of the flags' entries.
    let known_context = context_name.filter(|n| kubeconfig.contexts.iter().any(|c| &c.name == n));
    let context_name = match known_context {
        None if o.server.is_some() => {
            let context = Context {
                cluster: cluster_name.clone().unwrap_or_default(),
                user: user_name.clone(),
                ..Default::default()
            };
            kubeconfig.contexts.push(NamedContext {
                name: FLAGS_ENTRY.into(),
                context: Some(context),
                ..Default::default()
            });
            Some(FLAGS_ENTRY.to_string())
        }
        other => other.or_else(|| options.context.clone()),
    };
    KubeConfigOptions { context: context_name, cluster: cluster_name, user: user_name }
}

/// The cluster and user entries the flags apply to: `--cluster`/`--user`, else the context's; an
/// entry of the flags' own when a flag needs one and the kubeconfig has none.
fn select_entries(
    kubeconfig: &mut Kubeconfig,
    options: &ConnectOptions,
    context_name: Option<&String>,
) -> (Option<String>, Option<String>) {
    let o = &options.overrides;
    let context = kubeconfig.contexts.iter().find(|c| Some(&c.name) == context_name).and_then(|c| c.context.clone());
    let mut cluster_name = options.cluster.clone().or_else(|| context.as_ref().map(|c| c.cluster.clone()));
    let mut user_name = options.user.clone().or_else(|| context.as_ref().and_then(|c| c.user.clone()));
    let has_cluster = |k: &Kubeconfig, name: &Option<String>| k.clusters.iter().any(|c| Some(&c.name) == name.as_ref());
    if o.server.is_some() && !has_cluster(kubeconfig, &cluster_name) {
        kubeconfig.clusters.push(NamedCluster {
            name: FLAGS_ENTRY.into(),
            cluster: Some(Cluster::default()),
            ..Default::default()
        });
        cluster_name = Some(FLAGS_ENTRY.into());
    }
    let wants_user = o.token.is_some() || o.client_certificate.is_some() || o.impersonate.is_some();
    if wants_user && !kubeconfig.auth_infos.iter().any(|a| Some(&a.name) == user_name.as_ref()) {
        kubeconfig.auth_infos.push(NamedAuthInfo {
            name: FLAGS_ENTRY.into(),
            auth_info: Some(AuthInfo::default()),
            ..Default::default()
        });
        user_name = Some(FLAGS_ENTRY.into());
    }
    (cluster_name, user_name)
}

/// `--server`, `--certificate-authority`, `--insecure-skip-tls-verify`, `--tls-server-name`,
/// `--disable-compression` over the cluster entry.
fn override_cluster(cluster: &mut Cluster, o: &Overrides) {
    if let Some(server) = &o.server {
        cluster.server = Some(server.clone());
    }
    if let Some(ca) = &o.certificate_authority {
        cluster.certificate_authority = Some(ca.display().to_string());
        cluster.certificate_authority_data = None;
    }
    if o.insecure_skip_tls_verify {
        // As client-go: verification off means no CA either.
        cluster.insecure_skip_tls_verify = Some(true);
        cluster.certificate_authority = None;
        cluster.certificate_authority_data = None;
    }
    if let Some(name) = &o.tls_server_name {
        cluster.tls_server_name = Some(name.clone());
    }
    if o.disable_compression {
        cluster.disable_compression = Some(true);
    }
}

/// `--token`, `--client-certificate`, `--client-key` and impersonation over the user entry.
fn override_user(user: &mut AuthInfo, o: &Overrides) {
    if let Some(token) = &o.token {
        // The flag's token is the credential: no token file, plugin or provider instead of it.
        user.token = Some(token.clone().into());
        user.token_file = None;
        user.exec = None;
        user.auth_provider = None;
    }
    if let Some(cert) = &o.client_certificate {
        user.client_certificate = Some(cert.display().to_string());
        user.client_certificate_data = None;
    }
    if let Some(key) = &o.client_key {
        user.client_key = Some(key.display().to_string());
        user.client_key_data = None;
    }
    if let Some(who) = &o.impersonate {
        user.impersonate = Some(who.clone());
    }
    if let Some(uid) = &o.impersonate_uid {
        user.impersonate_uid = Some(uid.clone());
    }
    if !o.impersonate_groups.is_empty() {
        user.impersonate_groups = Some(o.impersonate_groups.clone());
    }
}

pub async fn connect(options: &ConnectOptions) -> Result<Connection, ClusterError> {
    let unreadable = |source| kubeconfig_error(options.kubeconfig.clone(), source);
    let kubeconfig = match load_kubeconfig(options)? {
        Some(kubeconfig) => Some(kubeconfig),
        // Nothing to read, but --server says where: the flags are the whole configuration.
        None if options.overrides.server.is_some() => Some(Kubeconfig::default()),
        None => None,
    };
    let mut selected = KubeConfigOptions::default();
    let mut config = match kubeconfig {
        Some(mut kubeconfig) => {
            let selection = apply_overrides(&mut kubeconfig, options);
            selected = selection.clone();
            Config::from_custom_kubeconfig(kubeconfig, &selection).await.map_err(unreadable)?
        }
        None => {
            let mut config = Config::incluster().map_err(|_| ClusterError::NoKubeconfig)?;
            let o = &options.overrides;
            if let Some(token) = &o.token {
                config.auth_info.token = Some(token.clone().into());
                config.auth_info.token_file = None;
            }
            config.auth_info.impersonate.clone_from(&o.impersonate);
            config.auth_info.impersonate_uid.clone_from(&o.impersonate_uid);
            if !o.impersonate_groups.is_empty() {
                config.auth_info.impersonate_groups = Some(o.impersonate_groups.clone());
            }
            config.accept_invalid_certs |= o.insecure_skip_tls_verify;
            config
        }
    };
    config.connect_timeout = options.request_timeout.or(Some(Duration::from_secs(30)));
    config.read_timeout = options.request_timeout;
    config.write_timeout = options.request_timeout;
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let default_namespace = config.default_namespace.clone();
    let log = (options.verbosity >= request_log::REQUESTS)
        .then(|| RequestLog { verbosity: options.verbosity, server: server.clone() });
    let client = super::http::client(config, log).map_err(ClusterError::Client)?;
    let retry_budget = options.request_timeout.unwrap_or(UNLIMITED_RETRY_BUDGET);
    let context = selected.context.filter(|name| name != FLAGS_ENTRY);
    let cluster = selected.cluster.filter(|name| name != FLAGS_ENTRY);
    Ok(Connection { client, server, context, cluster, default_namespace, retry_budget, answered: Default::default() })
}
