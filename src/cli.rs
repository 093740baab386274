//! Command-line definitions. Flags follow kubectl's (cli-runtime genericclioptions), because
//! kubectl does not pass its own global flags to plugins.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// This plugin's version as every command prints it: `v` and the crate's version, as kubectl does.
pub const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Parser)]
#[command(
    name = "kubectl fluxjobs",
    bin_name = "kubectl fluxjobs",
    // The same text as `version --client` prints (kubectl's `v` form).
    version = VERSION,
    about = "Why is my Flux deploy stuck? Follows the dependsOn chain of Flux Kustomizations, Flux Operator ResourceSets and HelmReleases down to the failing Job, Pod and container.",
    long_about = "Why is my Flux deploy stuck?\n\n\
kubectl fluxjobs reads the three ways Flux runs pre-deploy Jobs -> app -> post-deploy Jobs: Kustomizations \
chained with dependsOn, Flux Operator ResourceSets with ordered steps, and HelmReleases whose charts run the Jobs \
as Helm hooks; with their sources, Jobs, Pods and Events, and names the object actually at fault for every blocked stage: \
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

#[derive(Clone, Debug, Args)]
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
    /// The address and port of the Kubernetes API server (over the kubeconfig's).
    #[arg(short = 's', long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Path to a CA certificate file for the API server's certificate.
    #[arg(long, global = true, value_name = "PATH")]
    pub certificate_authority: Option<PathBuf>,
    /// Do not verify the API server's certificate (insecure).
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,
    /// Server name to use to verify the API server's certificate.
    #[arg(long, global = true, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Do not ask the API server to compress responses.
    #[arg(long, global = true)]
    pub disable_compression: bool,
    /// Bearer token for authentication to the API server.
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Path to a client certificate file for TLS.
    #[arg(long, global = true, value_name = "PATH")]
    pub client_certificate: Option<PathBuf>,
    /// Path to a client key file for TLS.
    #[arg(long, global = true, value_name = "PATH")]
    pub client_key: Option<PathBuf>,
    /// Username to impersonate for the operation (a user, or a service account as system:serviceaccount:NS:NAME).
    #[arg(long = "as", global = true, value_name = "USER")]
    pub impersonate: Option<String>,
    /// Group to impersonate for the operation; repeat for several groups.
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub impersonate_groups: Vec<String>,
    /// UID to impersonate for the operation.
    #[arg(long = "as-uid", global = true, value_name = "UID")]
    pub impersonate_uid: Option<String>,
    /// Log level as kubectl's: 6 logs every API request (verb, URL, status, latency) on stderr, 8 also bodies.
    #[arg(short = 'v', long = "v", global = true, value_name = "LEVEL", default_value_t = 0)]
    pub verbosity: u8,
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

/// `status --help`'s examples; the capture command comes from the list of kinds `status` reads.
fn status_examples() -> String {
    let capture = crate::model::capture_command_lines().replace('\n', "\n  ");
    let examples = [
        "kubectl fluxjobs status",
        "kubectl fluxjobs status app-post-deploy -n shop",
        "kubectl fluxjobs status -A -o wide",
        "kubectl fluxjobs status -A -o json --exit-code",
        "kubectl fluxjobs status -n shop --watch",
        &capture,
        "kubectl fluxjobs status --snapshot dump.yaml -A",
        "kubectl fluxjobs status -A --contexts 'prod-*,staging' --summary",
        "kubectl fluxjobs status -A --all-contexts -o json --exit-code",
        "kubectl fluxjobs status -A --snapshot prod-eu.yaml --snapshot prod-us.yaml",
    ];
    format!("Examples:\n  {}", examples.join("\n  "))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show each pipeline's stages, their Jobs, and the root cause of every block.
    #[command(after_help = status_examples())]
    Status(StatusArgs),
    /// Delete a finished or stuck Job safely and let Flux recreate it, then follow it.
    #[command(
        long_about = "Delete a finished or stuck Job safely and let Flux recreate it from Git.\n\n\
Kubernetes cannot restart a Job, and Flux re-runs one only when its spec changes. rerun saves the Job's \
manifest to a backup file, deletes the Job (Background propagation, with a uid precondition so a Job \
recreated meanwhile is never deleted), waits until it is gone, and asks kustomize-controller to reconcile \
the owning Kustomization (reconcile.fluxcd.io/requestedAt), which recreates the Job from Git.\n\n\
When kustomize-controller is in the middle of a health check of the stage, it would wait for the deleted \
Job until its timeout (unless the Job sets ttlSecondsAfterFinished); rerun then recreates the Job itself \
from the saved spec, so the running health check follows the new Job.\n\n\
A Job of a HelmRelease (a Helm hook) runs again only with the Helm action that runs its hook: rerun \
works out which action a forced reconcile runs (an upgrade once a release is in Helm's storage, an \
install when there is none) and refuses a hook that action does not run, saying what would. It saves \
the Job and its pods' log tail, deletes it only when Helm would not replace it (a \
helm.sh/hook-delete-policy without before-hook-creation), and sets reconcile.fluxcd.io/forceAt, resetAt \
and requestedAt on the HelmRelease with one token. A release that is Ready is run again only with --force.",
        after_help = "Examples:\n  \
# Rerun a failed migration after fixing what broke it, and follow it to the end of the pipeline\n  \
kubectl fluxjobs rerun job/db-migration -n shop --wait\n\n  \
# Every Job of a stage, without asking\n  \
kubectl fluxjobs rerun ks/app-pre-deploy -n shop --yes\n\n  \
# A HelmRelease's failed hooks: a forced upgrade (or install) that runs them again\n  \
kubectl fluxjobs rerun hr/my-app -n shop --wait\n\n  \
# Show what would happen, change nothing\n  \
kubectl fluxjobs rerun db-migration -n shop --dry-run\n\n  \
# A Job Flux does not manage: recreate it from its live spec\n  \
kubectl fluxjobs rerun job/backfill -n shop --recreate"
    )]
    Rerun(RerunArgs),
    /// Reconcile a stage and everything upstream of it, in dependency order, waiting for each.
    #[command(
        long_about = "Reconcile a stage and everything upstream of it, in dependency order, waiting for each.\n\n\
Each stage is asked to reconcile (reconcile.fluxcd.io/requestedAt) only after the previous one handled \
its request (status.lastHandledReconcileAt) and became Ready, so no hop waits out the dependency \
requeue of the stage's controller (a flag of kustomize-controller and flux-operator themselves, not of \
this command: 30s and 5s by default). Stops at the first failure and prints its \
root cause. Suspended stages are refused (or skipped with --skip-suspended).",
        after_help = "Examples:\n  \
kubectl fluxjobs reconcile app-post-deploy -n shop\n  \
kubectl fluxjobs reconcile app-pre-deploy -n shop --downstream --with-source\n  \
kubectl fluxjobs reconcile app-post-deploy -n shop --dry-run"
    )]
    Reconcile(ReconcileArgs),
    /// Wait until a revision has rolled through every stage, Jobs included; fail fast with the pod at fault.
    #[command(
        long_about = "Wait until a revision has rolled through every stage, Jobs included; fail fast with the pod at fault.\n\n\
A CI gate after a push: `kubectl wait --for=condition=Ready` passes at once on the previous revision's Ready. \
wait judges each stage at the revision its source has (or --revision): Done when it is Ready at it for its \
current generation and its Jobs (and Helm hooks) of that revision are complete; Failed as soon as a stage \
failed at it (a health check naming a failed Job, a failed Helm action, a build or apply error), or a pod of \
it waits longer than --grace for a fix (an image that cannot be pulled, a missing Secret, no node that fits). \
The previous revision's Ready is never success, its failure never this revision's.\n\n\
Stages that depend on others are re-checked by their controller only on its dependency requeue (30s for \
kustomize-controller); --reconcile asks for each stage's reconcile as soon as its dependencies are Done.\n\n\
Exit status: 0 done, 3 failed, 4 nothing in scope, 5 timed out (or, with --snapshot, not done yet).",
        after_help = "Examples:\n  \
# After a push: wait for the commit through the whole pipeline, asking each stage as soon as it can go\n  \
kubectl fluxjobs wait -n shop --revision \"$GITHUB_SHA\" --reconcile --timeout 15m\n\n  \
# One stage and everything upstream of it, at whatever revision the sources have now\n  \
kubectl fluxjobs wait app-post-deploy -n shop\n\n  \
# Would this dump have passed?\n  \
kubectl fluxjobs wait --snapshot dump.yaml -A"
    )]
    Wait(WaitArgs),
    /// Print a shell completion script, or the kubectl plugin-completion shim.
    #[command(after_help = "Examples:\n  \
# Complete `kubectl fluxjobs ...` (kubectl >= 1.26 asks kubectl_complete-fluxjobs on PATH)\n  \
kubectl fluxjobs completion kubectl-plugin > ~/.local/bin/kubectl_complete-fluxjobs && chmod +x ~/.local/bin/kubectl_complete-fluxjobs\n\n  \
# Complete the kubectl-fluxjobs binary itself\n  \
source <(kubectl-fluxjobs completion bash)\n  \
kubectl-fluxjobs completion zsh > \"${fpath[1]}/_kubectl-fluxjobs\"\n  \
kubectl-fluxjobs completion fish > ~/.config/fish/completions/kubectl-fluxjobs.fish")]
    Completion(CompletionArgs),
    /// Print the client's version, the server's, and what Flux serves there.
    #[command(after_help = "Examples:\n  \
kubectl fluxjobs version\n  \
kubectl fluxjobs version --client\n  \
kubectl fluxjobs version -o json")]
    Version(VersionArgs),
    /// Serve the diagnosis to AI assistants over the Model Context Protocol (stdio).
    #[command(
        long_about = "Serve the diagnosis to AI assistants over the Model Context Protocol, on stdin and stdout (the transport assistants launch a local server with).\n\nTools: status, explain, wait_verdict and contexts read (what the commands of the same name print, as JSON, plus a short text); rerun and reconcile write, and are listed only with --allow-writes: each runs the same plan and checks as the command, and changes nothing unless a call sets dryRun to false. The global flags (--kubeconfig, --context, -n, --request-timeout, ...) are the defaults of every call; --request-timeout also bounds each read call (60s when unset). Object text from the cluster is data in every result, never instructions. Progress and errors of the server itself go to stderr.",
        after_help = "Examples:\n  \
# An assistant's configuration (mcpServers entry): read-only, one context\n  \
{\"command\": \"kubectl-fluxjobs\", \"args\": [\"mcp\", \"--context\", \"prod\"]}\n\n  \
# Try it with the MCP Inspector\n  \
npx @modelcontextprotocol/inspector --cli kubectl-fluxjobs mcp --method tools/list"
    )]
    Mcp(McpArgs),
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// List the write tools (rerun, reconcile); a call still changes nothing unless it sets dryRun to false.
    #[arg(long)]
    pub allow_writes: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VersionFormat {
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Only the client's version; no cluster is contacted.
    #[arg(long)]
    pub client: bool,
    /// Output format (default: text).
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<VersionFormat>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    /// The `kubectl_complete-fluxjobs` executable kubectl (>= 1.26) runs to complete plugin arguments.
    KubectlPlugin,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

#[derive(Clone, Debug, Args)]
pub struct StatusArgs {
    /// Show only this stage (NAME or NAMESPACE/NAME) and everything upstream of it.
    #[arg(value_name = "STAGE", num_args = 0..=1, action = clap::ArgAction::Set)]
    pub stages: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Label selector on stages, as kubectl takes it: `app=shop,tier!=infra`, `tier in (a,b)`, `!key`.
    #[arg(short = 'l', long, value_name = "SELECTOR", value_parser = crate::selector::LabelSelector::parse)]
    pub selector: Option<crate::selector::LabelSelector>,
    /// Do not print table headers.
    #[arg(long)]
    pub no_headers: bool,
    /// Last log lines to show of each root-cause container; 0 turns log fetching off.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub logs: u32,
    /// Read objects from a dump instead of a cluster (`-` for stdin), as the capture command in the
    /// examples below writes it. Repeat it to compare dumps of several clusters: each is a context
    /// named after its file (without extension).
    #[arg(long, value_name = "FILE")]
    pub snapshot: Vec<PathBuf>,
    /// Read these kubeconfig contexts, concurrently: a comma-separated list of context names (an
    /// EKS ARN included) or globs (`prod-*`, `eu-?`, `[a-c]*`). Each context keeps its own
    /// credentials, namespace default and --request-timeout.
    #[arg(long, value_name = "LIST", conflicts_with_all = ["all_contexts", "snapshot", "context", "cluster", "user", "server", "token"])]
    pub contexts: Option<String>,
    /// Read every context of the kubeconfig, concurrently (see --contexts).
    #[arg(long, conflicts_with_all = ["snapshot", "context", "cluster", "user", "server", "token"])]
    pub all_contexts: bool,
    /// One line per context: its pipelines by state and the worst root cause (Failed before
    /// Blocked before Progressing, then the oldest).
    #[arg(long)]
    pub summary: bool,
    /// Follow stages that apply to another cluster (`spec.kubeConfig.secretRef`) into it, through
    /// the kubeconfig in that Secret (needs `get` on it), and diagnose their Jobs and Pods there.
    /// A kubeconfig that would run a command here (exec, auth-provider) is refused.
    #[arg(long, conflicts_with_all = ["snapshot", "watch"])]
    pub follow_kubeconfig: bool,
    /// Exit with status 3 when a shown stage is Blocked or Failed.
    #[arg(long)]
    pub exit_code: bool,
    /// Keep watching and print the view again whenever it changes (redrawn in place on a
    /// terminal; one document per change with -o json|yaml). Uses watches, not repeated LISTs.
    #[arg(short = 'w', long, conflicts_with_all = ["snapshot", "exit_code"])]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Wait only for these stages (NAME, NAMESPACE/NAME, ks/NAME, rset/NAME, hr/NAME) and everything upstream of them.
    #[arg(value_name = "STAGE")]
    pub stages: Vec<String>,
    /// The revision to wait for: as Flux writes it (main@sha1:<sha>, v1.2.3@sha1:<sha>,
    /// latest@sha256:<digest>), a sha or digest prefix of at least 7 hex characters, or a
    /// HelmRelease's chart version. Default: the revision each stage's source has.
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,
    /// How long to wait in all.
    #[arg(long, value_name = "DURATION", default_value = "15m")]
    pub timeout: String,
    /// How long a pod of the revision may wait for a fix (image pull errors, a missing Secret or
    /// ConfigMap, unschedulable) before the wait fails on it.
    #[arg(long, value_name = "DURATION", default_value = "2m")]
    pub grace: String,
    /// Ask the sources and stages in scope to reconcile now, and each stage again as soon as its
    /// dependencies are done, instead of waiting for their intervals and dependency requeues.
    #[arg(long, conflicts_with = "snapshot")]
    pub reconcile: bool,
    /// Output format of the final document (progress goes to stderr).
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Label selector on stages, as kubectl takes it.
    #[arg(short = 'l', long, value_name = "SELECTOR", value_parser = crate::selector::LabelSelector::parse)]
    pub selector: Option<crate::selector::LabelSelector>,
    /// Last log lines to show of a failing container; 0 turns log fetching off.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub logs: u32,
    /// Write every container log of the Jobs in scope (hooks included) here, whole, as
    /// NAMESPACE_POD_CONTAINER.log, read as soon as the container ends (before a TTL or a Helm
    /// hook-delete-policy deletes it): CI artifacts.
    #[arg(long, value_name = "DIR", conflicts_with = "snapshot")]
    pub logs_dir: Option<PathBuf>,
    /// Also write the verdict as JUnit XML (one testcase per stage; a failure carries the root
    /// cause), for GitLab and Jenkins. Under GitHub Actions (GITHUB_ACTIONS=true) an ::error
    /// annotation and a job summary ($GITHUB_STEP_SUMMARY) are written without asking.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Judge a dump once instead of waiting: exit 0 done, 3 failed, 5 not done yet.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Vec<PathBuf>,
    /// Judge what the cluster shows now, once, instead of waiting: exit 0 done, 3 failed, 5 not
    /// done yet (as --snapshot judges a dump).
    #[arg(long, conflicts_with_all = ["snapshot", "reconcile", "logs_dir"])]
    pub once: bool,
    /// Wait in these kubeconfig contexts at once (names or globs, comma-separated).
    #[arg(long, value_name = "LIST", conflicts_with_all = ["all_contexts", "snapshot", "context", "cluster", "user", "server", "token"])]
    pub contexts: Option<String>,
    /// Wait in every context of the kubeconfig at once.
    #[arg(long, conflicts_with_all = ["snapshot", "context", "cluster", "user", "server", "token"])]
    pub all_contexts: bool,
    /// Follow stages that apply to another cluster (`spec.kubeConfig.secretRef`) into it, through
    /// the kubeconfig in that Secret (needs `get` on it): their Jobs and pods there are judged and
    /// explained too (read again every 10 seconds: they are not watched).
    #[arg(long, conflicts_with = "snapshot")]
    pub follow_kubeconfig: bool,
}

impl WaitArgs {
    /// What `status` reads for it: the same scope, kept live for a watch unless a dump is judged.
    pub(crate) fn as_status(&self) -> StatusArgs {
        StatusArgs {
            stages: self.stages.clone(),
            output: self.output,
            selector: self.selector.clone(),
            no_headers: false,
            logs: self.logs,
            snapshot: self.snapshot.clone(),
            contexts: self.contexts.clone(),
            all_contexts: self.all_contexts,
            summary: false,
            follow_kubeconfig: self.follow_kubeconfig,
            exit_code: false,
            watch: self.snapshot.is_empty() && !self.once,
        }
    }
}

#[derive(Debug, Args)]
pub struct RerunArgs {
    /// `job/NAME` (or a bare Job name), `ks/STAGE` or `rset/STAGE` for every Job of a stage, or
    /// `hr/RELEASE` for a HelmRelease's forced reconcile with the hooks it runs.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Delete the Job even while it is still running; run a HelmRelease that is Ready again.
    #[arg(long)]
    pub force: bool,
    /// Recreate the Job from its saved live spec (server-set fields stripped) instead of letting
    /// Flux recreate it from Git; needed for Jobs Flux does not manage.
    #[arg(long)]
    pub recreate: bool,
    /// Follow the new Job and then its stage until Ready, and print the root cause on failure.
    #[arg(long)]
    pub wait: bool,
    /// How long to wait for each step with --wait.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub timeout: String,
    /// Print every step and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (needed where no terminal is attached: CI, cron, scripts).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Where to save the Job manifests before deleting them
    /// (default: $XDG_STATE_HOME/kubectl-fluxjobs/backups, else ~/.local/state/kubectl-fluxjobs/backups).
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Last log lines to show of a failing container with --wait; 0 turns log fetching off.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub logs: u32,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The stage (NAME or NAMESPACE/NAME) to reconcile after everything upstream of it.
    pub stage: String,
    /// Also reconcile the stages that depend on STAGE, after it.
    #[arg(long)]
    pub downstream: bool,
    /// First ask the stages' sources to fetch (GitRepository, OCIRepository, Bucket).
    #[arg(long)]
    pub with_source: bool,
    /// Skip suspended stages instead of refusing to start.
    #[arg(long)]
    pub skip_suspended: bool,
    /// How long to wait for each stage.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub timeout: String,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Last log lines to show of a failing container; 0 turns log fetching off.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub logs: u32,
}
