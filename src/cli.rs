//! Command-line definitions. Flags follow kubectl's (cli-runtime genericclioptions), because
//! kubectl does not pass its own global flags to plugins.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "kubectl fluxjobs",
    bin_name = "kubectl fluxjobs",
    version,
    about = "Why is my Flux deploy stuck? Follows a dependsOn chain of Flux Kustomizations down to the failing Job, Pod and container.",
    long_about = "Why is my Flux deploy stuck?\n\n\
kubectl fluxjobs reads Flux Kustomizations chained with dependsOn (pre-deploy Jobs -> app -> post-deploy Jobs), \
their sources, Jobs, Pods and Events, and names the object actually at fault for every blocked stage: \
the pod that exited non-zero, the image that cannot be pulled, the pod that cannot be scheduled, the missing \
dependency or the suspended stage.",
    after_help = "Examples:\n  \
# Every pipeline in the current namespace\n  \
kubectl fluxjobs status\n\n  \
# One stage and everything upstream of it, in all namespaces\n  \
kubectl fluxjobs status app-post-deploy -A\n\n  \
# Fail a CI step when a stage is Blocked or Failed\n  \
kubectl fluxjobs status -n shop --exit-code -o json\n\n  \
# Diagnose an offline dump, no cluster needed\n  \
kubectl fluxjobs status --snapshot examples/failed-migration.yaml -A"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options (as kubectl's)")]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig cluster to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The kubeconfig user to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
    /// Namespace to look in (default: the context's namespace, as kubectl does).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Look in all namespaces.
    #[arg(short = 'A', long, global = true, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// How long to wait for each API request, like kubectl: `30s`, `1m`, a number of seconds, or 0 for no limit.
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s")]
    pub request_timeout: String,
    /// When to colour output: auto (a terminal, and NO_COLOR unset), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Wide,
    Json,
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show each pipeline's stages, their Jobs, and the root cause of every block.
    #[command(after_help = "Examples:\n  \
kubectl fluxjobs status\n  \
kubectl fluxjobs status app-post-deploy -n shop\n  \
kubectl fluxjobs status -A -o wide\n  \
kubectl fluxjobs status -A -o json --exit-code\n  \
kubectl get kustomizations,gitrepositories,ocirepositories,buckets,jobs,pods,events,deployments -A -o yaml > dump.yaml\n  \
kubectl fluxjobs status --snapshot dump.yaml -A")]
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Show only this stage (NAME or NAMESPACE/NAME) and everything upstream of it.
    pub stage: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Label selector on Kustomizations, e.g. `app=shop,tier!=infra`.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Do not print table headers.
    #[arg(long)]
    pub no_headers: bool,
    /// Last log lines to show of each root-cause container; 0 turns log fetching off.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub logs: u32,
    /// Read objects from a dump instead of a cluster (`-` for stdin): the output of
    /// `kubectl get kustomizations,gitrepositories,ocirepositories,buckets,jobs,pods,events,deployments -A -o yaml`.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// Exit with status 3 when a shown stage is Blocked or Failed.
    #[arg(long)]
    pub exit_code: bool,
}
