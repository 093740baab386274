//! kubectl's global flags, checked and resolved once into what the commands use: how to connect
//! (kubeconfig selection, request timeout), which namespace, whether to colour.

use crate::cli::{ColorChoice, GlobalArgs};
use crate::cluster::{self, ClusterError, ConnectOptions, Connection, Overrides};
use crate::duration::{InvalidDuration, parse_request_timeout};

#[derive(Clone)]
pub struct Context {
    pub connect: ConnectOptions,
    /// `-n/--namespace`, when given.
    namespace: Option<String>,
    /// `-A/--all-namespaces`.
    pub all_namespaces: bool,
    pub color: ColorChoice,
}

impl Context {
    pub fn from_flags(global: &GlobalArgs) -> Result<Self, InvalidDuration> {
        Ok(Context {
            connect: ConnectOptions {
                kubeconfig: global.kubeconfig.clone(),
                context: global.context.clone(),
                cluster: global.cluster.clone(),
                user: global.user.clone(),
                request_timeout: parse_request_timeout(&global.request_timeout)?,
                overrides: Overrides {
                    server: global.server.clone(),
                    certificate_authority: global.certificate_authority.clone(),
                    insecure_skip_tls_verify: global.insecure_skip_tls_verify,
                    tls_server_name: global.tls_server_name.clone(),
                    disable_compression: global.disable_compression,
                    token: global.token.clone(),
                    client_certificate: global.client_certificate.clone(),
                    client_key: global.client_key.clone(),
                    impersonate: global.impersonate.clone(),
                    impersonate_uid: global.impersonate_uid.clone(),
                    impersonate_groups: global.impersonate_groups.clone(),
                },
                verbosity: global.verbosity,
            },
            namespace: global.namespace.clone(),
            all_namespaces: global.all_namespaces,
            color: global.color,
        })
    }

    pub async fn connect(&self) -> Result<Connection, ClusterError> {
        cluster::connect(&self.connect).await
    }

    /// The namespace to work in: `-n`, else the kubeconfig context's, as kubectl does.
    pub fn namespace(&self, conn: &Connection) -> String {
        self.namespace.clone().unwrap_or_else(|| conn.default_namespace.clone())
    }

    /// What a live read covers: every namespace with `-A`, else [`Context::namespace`].
    pub fn scope(&self, conn: &Connection) -> Option<String> {
        (!self.all_namespaces).then(|| self.namespace(conn))
    }

    /// What an offline dump is narrowed to: a dump has no current context, so all of its
    /// namespaces unless `-n` is given.
    pub fn offline_scope(&self) -> Option<String> {
        if self.all_namespaces { None } else { self.namespace.clone() }
    }
}
