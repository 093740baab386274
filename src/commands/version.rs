//! `kubectl fluxjobs version`: this client's version and, as `kubectl version` does, the server's;
//! plus what Flux serves there (the API versions of every stage kind, from the kind table) and the
//! version of kustomize-controller when its Deployment can be read.

use std::process::ExitCode;

use serde::Serialize;

use crate::cli::{VersionArgs, VersionFormat};
use crate::cluster::{Connection, get};
use crate::context::Context;
use crate::error::{Error, one_line};
use crate::refs::{Controller, StageKind};
use crate::terminal;

/// Where `flux install` puts kustomize-controller (fluxcd/flux2 manifests).
const FLUX_NAMESPACE: &str = "flux-system";

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Versions {
    client_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flux: Option<Flux>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Flux {
    /// Per stage kind (`kustomizations`, `resourceSets`, `helmReleases`): the versions of its API
    /// group served, preferred first; empty when its controller's CRDs are not installed.
    #[serde(flatten)]
    stages: std::collections::BTreeMap<String, Vec<String>>,
    /// The image tag of flux-system/kustomize-controller, when its Deployment can be read.
    kustomize_controller: Option<String>,
}

pub async fn run(ctx: &Context, args: &VersionArgs) -> Result<ExitCode, Error> {
    let mut versions = Versions { client_version: crate::cli::VERSION.to_string(), ..Versions::default() };
    let server = if args.client { Ok(()) } else { read_server(ctx, &mut versions).await };
    let text = match args.output {
        Some(VersionFormat::Json) => serde_json::to_string_pretty(&versions).map(|t| t + "\n").map_err(Into::into),
        Some(VersionFormat::Yaml) => serde_saphyr::to_string(&versions).map_err(Into::into),
        None => Ok(table(&versions)),
    };
    let text = text.map_err(Error::Stdout)?;
    terminal::print_data(&text).map_err(|e| Error::Stdout(e.into()))?;
    // The client's line is printed even when the server cannot be reached, as kubectl does.
    server.map(|()| ExitCode::SUCCESS)
}

async fn read_server(ctx: &Context, versions: &mut Versions) -> Result<(), Error> {
    let conn = ctx.connect().await?;
    versions.server_version = Some(get::server_version(&conn).await?);
    let groups = get::api_groups(&conn).await?;
    let served = |name: &str| -> Vec<String> {
        let group = groups.groups.iter().find(|g| g.name == name);
        let preferred = group.and_then(|g| g.preferred_version.as_ref()).map(|v| v.version.clone());
        let mut versions: Vec<String> =
            group.map(|g| g.versions.iter().map(|v| v.version.clone()).collect()).unwrap_or_default();
        versions.sort_by_key(|v| Some(v) != preferred.as_ref());
        versions
    };
    versions.flux = Some(Flux {
        stages: StageKind::ALL.into_iter().map(|kind| (json_key(kind), served(kind.info().api.group))).collect(),
        kustomize_controller: kustomize_controller(&conn).await,
    });
    Ok(())
}

/// The image tag of kustomize-controller's Deployment; `None` when it is not there or not readable
/// (a warning says which).
async fn kustomize_controller(conn: &Connection) -> Option<String> {
    match get::get_deployment(conn, FLUX_NAMESPACE, Controller::Kustomize.name()).await {
        Ok(deployment) => {
            let spec = deployment?.spec?.template.spec?;
            // flux2's manifests name the container `manager`.
            let container = spec.containers.iter().find(|c| c.name == "manager").or(spec.containers.first())?;
            let image = container.image.clone()?;
            let without_digest = image.split('@').next().unwrap_or(&image).to_string();
            without_digest.rsplit_once(':').map(|(_, tag)| tag.to_string())
        }
        Err(e) => {
            terminal::warn(&format!("kustomize-controller's version is unknown: {}", one_line(&e)));
            None
        }
    }
}

/// A stage kind's key in the JSON document: its plural in camelCase (`helmReleases`).
fn json_key(kind: StageKind) -> String {
    let name = kind.as_str();
    let mut key: String = name[..1].to_lowercase();
    key.push_str(&name[1..]);
    key + "s"
}

fn table(v: &Versions) -> String {
    let mut out = format!("Client Version: {}\n", v.client_version);
    if let Some(server) = &v.server_version {
        out.push_str(&format!("Server Version: {server}\n"));
    }
    if let Some(flux) = &v.flux {
        let served = |versions: &[String]| match versions {
            [] => "not served".to_string(),
            all => all.join(", "),
        };
        for kind in StageKind::ALL {
            let versions = flux.stages.get(&json_key(kind)).map(Vec::as_slice).unwrap_or_default();
            let api = &kind.info().api;
            out.push_str(&format!("Flux {}s ({}): {}\n", api.kind, api.group, served(versions)));
        }
        let controller = flux.kustomize_controller.as_deref().unwrap_or("unknown (no readable Deployment)");
        out.push_str(&format!("kustomize-controller ({FLUX_NAMESPACE}): {controller}\n"));
    }
    out
}
