//! `status --follow-kubeconfig`: the other clusters stages apply to (`spec.kubeConfig.secretRef`),
//! read through the kubeconfig in that Secret, as kustomize-controller and helm-controller reach
//! them (fluxcd/pkg runtime/client impersonator.go `getRESTConfigFromSecret`: the Secret's `key`,
//! else `value`, else `value.yaml`; kubeconfig.go `ValidateKubeConfig`: inline data only, and no
//! exec plugin unless the controller runs with --insecure-kubeconfig-exec). One GET per Secret, then
//! one LIST per workload kind in the namespaces those stages use.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::read::read_workloads;
use super::{Connection, classify};
use crate::chain::one_line;
use crate::model::{RemoteCluster, Snapshot, StageObject};
use crate::refs::NamespacedName;

/// The kubeconfig Secrets the stages of `snapshot` apply to other clusters with, each once.
pub(crate) fn kubeconfig_secrets(snapshot: &Snapshot) -> Vec<NamespacedName> {
    let mut secrets: Vec<NamespacedName> = snapshot
        .stages()
        .filter_map(|stage| {
            let secret_ref = stage.kube_config()?.secret_ref.as_ref()?;
            Some(NamespacedName::new(stage.namespace(), &secret_ref.name))
        })
        .collect();
    secrets.sort();
    secrets.dedup();
    secrets
}

/// Every other cluster the stages of `snapshot` apply to by a kubeconfig Secret, read; each one
/// that cannot be is one warning naming its Secret (and server) and a [`RemoteCluster`] saying why.
pub(crate) async fn read_remote_clusters(
    conn: &Connection,
    snapshot: &Snapshot,
    request_timeout: Option<Duration>,
    warn: &mut crate::terminal::Warn<'_>,
) -> Vec<RemoteCluster> {
    // Each Secret once, with the namespaces its stages apply into.
    let mut targets: BTreeMap<NamespacedName, (Option<String>, BTreeSet<String>)> = BTreeMap::new();
    for stage in snapshot.stages() {
        let Some(secret_ref) = stage.kube_config().and_then(|k| k.secret_ref.as_ref()) else { continue };
        let secret = NamespacedName::new(stage.namespace(), &secret_ref.name);
        let entry = targets.entry(secret).or_insert_with(|| (secret_ref.key.clone(), BTreeSet::new()));
        entry.1.extend(applied_namespaces(stage));
    }
    let reads = join_all(targets.iter().map(|(secret, (key, namespaces))| async move {
        let (server, workloads) = read_one(conn, secret, key.as_deref(), namespaces, request_timeout).await;
        RemoteCluster { secret: secret.clone(), server, workloads: workloads.map(Box::new) }
    }))
    .await;
    for remote in &reads {
        if let Err(why) = &remote.workloads {
            let at = remote.server.as_ref().map(|s| format!(" at {s}")).unwrap_or_default();
            warn(format!("cannot read the cluster{at} of kubeConfig Secret {}: {why}", remote.secret));
        }
    }
    reads
}

/// The namespaces a stage's objects are in the other cluster: those it applies into, else its own.
fn applied_namespaces(stage: &dyn StageObject) -> BTreeSet<String> {
    let out = stage.applied_namespaces();
    if out.is_empty() { stage.object_namespaces() } else { out }
}

/// One other cluster: its server (once the kubeconfig is read) and its workloads, or why not.
async fn read_one(
    conn: &Connection,
    secret: &NamespacedName,
    key: Option<&str>,
    namespaces: &BTreeSet<String>,
    request_timeout: Option<Duration>,
) -> (Option<String>, Result<Snapshot, String>) {
    let kubeconfig = match kubeconfig_of(conn, secret, key).await {
        Ok(kubeconfig) => kubeconfig,
        Err(why) => return (None, Err(why)),
    };
    let server = server_of(&kubeconfig);
    let remote = match connect(kubeconfig, request_timeout).await {
        Ok(remote) => remote,
        Err(why) => return (server, Err(why)),
    };
    let reads = join_all(namespaces.iter().map(|ns| read_workloads(&remote, Some(ns), true))).await;
    let mut snapshot = Snapshot::default();
    for read in reads {
        match read {
            Ok((part, _)) => snapshot.merge(part),
            Err(e) => return (server, Err(one_line(&e))),
        }
    }
    (server, Ok(snapshot))
}

/// The kubeconfig in the Secret, checked as Flux checks it and for what must not run here.
async fn kubeconfig_of(conn: &Connection, secret: &NamespacedName, key: Option<&str>) -> Result<Kubeconfig, String> {
    let api: Api<Secret> = Api::namespaced(conn.client.clone(), &secret.namespace);
    let found = api.get_opt(&secret.name).await.map_err(|e| {
        let e = classify(conn, "get", &format!("secrets {:?}", secret.name), Some(&secret.namespace), e);
        format!("{} (--follow-kubeconfig reads the Secret)", one_line(&e))
    })?;
    let found = found.ok_or_else(|| format!("Secret {secret} not found"))?;
    let data = found.data.unwrap_or_default();
    let bytes = match key {
        Some(key) => data.get(key).ok_or_else(|| format!("Secret {secret} has no {key:?} key with a kubeconfig"))?,
        None => data
            .get("value")
            .or_else(|| data.get("value.yaml"))
            .ok_or_else(|| format!("Secret {secret} has no \"value\" key with a kubeconfig"))?,
    };
    let text = std::str::from_utf8(&bytes.0).map_err(|_| format!("the kubeconfig in Secret {secret} is not UTF-8"))?;
    let kubeconfig = Kubeconfig::from_yaml(text).map_err(|e| format!("invalid kubeconfig in Secret {secret}: {e}"))?;
    refuse_what_must_not_run(&kubeconfig)?;
    Ok(kubeconfig)
}

/// A kubeconfig from a Secret runs no command on this machine (Flux refuses exec plugins unless
/// --insecure-kubeconfig-exec) and reads no local file (fluxcd/pkg `ValidateKubeConfig`).
fn refuse_what_must_not_run(kubeconfig: &Kubeconfig) -> Result<(), String> {
    for user in &kubeconfig.auth_infos {
        let Some(auth) = &user.auth_info else { continue };
        if let Some(exec) = &auth.exec {
            let command = exec.command.as_deref().unwrap_or_default();
            return Err(format!(
                "refusing to run the exec credential plugin {command:?} of its user {:?}: a kubeconfig from the cluster runs no command here (Flux itself refuses it unless --insecure-kubeconfig-exec)",
                user.name
            ));
        }
        if let Some(provider) = &auth.auth_provider {
            return Err(format!(
                "refusing the auth-provider {:?} of its user {:?}: it runs commands here",
                provider.name, user.name
            ));
        }
        if auth.token_file.is_some() || auth.client_certificate.is_some() || auth.client_key.is_some() {
            return Err(format!("its user {:?} references a file; only inline data is supported (as Flux)", user.name));
        }
    }
    for cluster in &kubeconfig.clusters {
        if cluster.cluster.as_ref().is_some_and(|c| c.certificate_authority.is_some()) {
            return Err(format!(
                "its cluster {:?} references a certificate-authority file; only certificate-authority-data is supported (as Flux)",
                cluster.name
            ));
        }
    }
    Ok(())
}

/// The server of the kubeconfig's current context (the one Flux uses), else of its only cluster.
fn server_of(kubeconfig: &Kubeconfig) -> Option<String> {
    let context =
        kubeconfig.current_context.as_ref().and_then(|name| kubeconfig.contexts.iter().find(|c| &c.name == name));
    let cluster_name = context.and_then(|c| c.context.as_ref()).map(|c| c.cluster.clone());
    let cluster = match cluster_name {
        Some(name) => kubeconfig.clusters.iter().find(|c| c.name == name),
        None => kubeconfig.clusters.first(),
    };
    cluster.and_then(|c| c.cluster.as_ref()?.server.clone())
}

async fn connect(kubeconfig: Kubeconfig, request_timeout: Option<Duration>) -> Result<Connection, String> {
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("invalid kubeconfig: {}", one_line(&e)))?;
    config.connect_timeout = request_timeout.or(Some(Duration::from_secs(30)));
    config.read_timeout = request_timeout;
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let default_namespace = config.default_namespace.clone();
    let client = super::http::client(config, None).map_err(|e| format!("invalid kubeconfig: {}", one_line(&e)))?;
    Ok(Connection {
        client,
        server,
        context: None,
        cluster: None,
        default_namespace,
        // A cluster that is not there is said at once, not retried.
        retry_budget: Duration::ZERO,
        answered: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(user: &str) -> Kubeconfig {
        Kubeconfig::from_yaml(&format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: east\n  cluster:\n    server: https://east.example:6443\n    certificate-authority-data: Zm9v\n\
             users:\n- name: u\n  user:\n{user}\ncontexts:\n- name: east\n  context: {{cluster: east, user: u}}\ncurrent-context: east\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_kubeconfig_from_a_secret_runs_nothing_and_reads_no_file_here() {
        assert_eq!(refuse_what_must_not_run(&kubeconfig("    token: abc")), Ok(()));
        let exec = kubeconfig(
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws\n      args: [eks, get-token]",
        );
        let refused = refuse_what_must_not_run(&exec).unwrap_err();
        assert!(
            refused.starts_with("refusing to run the exec credential plugin \"aws\" of its user \"u\": "),
            "{refused}"
        );
        let file = kubeconfig("    client-certificate: /etc/cert.pem\n    client-key-data: Zm9v");
        assert!(refuse_what_must_not_run(&file).unwrap_err().contains("references a file"));
        assert_eq!(server_of(&kubeconfig("    token: abc")).as_deref(), Some("https://east.example:6443"));
    }
}
