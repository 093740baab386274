//! Shell completion: `completion bash|zsh|fish` scripts (clap_complete), and the hidden
//! `__complete` command that implements kubectl's plugin-completion protocol (kubectl >= 1.26 runs
//! `kubectl_complete-fluxjobs __complete <words...> <partial>` and reads cobra's format: one
//! candidate per line, `value\tdescription`, then `:<directive>`).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionArgs, CompletionShell};
use crate::cluster::{self, ConnectOptions, get, read};
use crate::error::Error;
use crate::model::{ReadKind, Role, Snapshot, StageObject};
use crate::refs::MetaNames;
use crate::vocabulary::ConditionType;

/// Cobra's ShellCompDirectiveDefault: let the shell complete file names.
const FILES: u8 = 0;
/// Cobra's ShellCompDirectiveNoFileComp.
const NO_FILES: u8 = 4;

/// The shim kubectl runs for `kubectl fluxjobs <TAB>`; krew cannot install it (krew#812).
pub const KUBECTL_PLUGIN_SHIM: &str = "#!/bin/sh\n# kubectl (>= 1.26) runs this to complete `kubectl fluxjobs ...`.\nexec kubectl-fluxjobs __complete \"$@\"\n";

pub fn script(args: &CompletionArgs) -> Result<ExitCode, Error> {
    let mut out = Vec::new();
    match args.shell {
        CompletionShell::KubectlPlugin => out.extend_from_slice(KUBECTL_PLUGIN_SHIM.as_bytes()),
        shell => {
            let shell = match shell {
                CompletionShell::Bash => clap_complete::Shell::Bash,
                CompletionShell::Zsh => clap_complete::Shell::Zsh,
                _ => clap_complete::Shell::Fish,
            };
            clap_complete::generate(shell, &mut Cli::command(), "kubectl-fluxjobs", &mut out);
        }
    }
    crate::terminal::print_data(&String::from_utf8_lossy(&out)).map_err(|e| Error::Stdout(e.into()))?;
    Ok(ExitCode::SUCCESS)
}

/// Whether `flag` (`--name` or `-x`) takes a value, as the command line declares it, so that its
/// value is not mistaken for the subcommand or a target.
fn takes_value(flag: &str) -> bool {
    let command = Cli::command();
    let all = command.get_arguments().chain(command.get_subcommands().flat_map(|s| s.get_arguments()));
    let named = |arg: &clap::Arg| match flag.strip_prefix("--") {
        Some(long) => arg.get_long() == Some(long),
        None => flag.strip_prefix('-').and_then(|s| s.chars().next()).is_some_and(|c| arg.get_short() == Some(c)),
    };
    all.filter(|arg| named(arg)).any(|arg| arg.get_action().takes_values())
}

/// What the words typed so far say.
#[derive(Debug, Default, PartialEq)]
pub struct Typed {
    pub subcommand: Option<String>,
    pub namespace: Option<String>,
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    pub positionals: usize,
}

pub fn parse_typed(words: &[String]) -> Typed {
    let mut typed = Typed::default();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        let (flag, inline) = match word.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v.to_string())),
            _ => (word.as_str(), None),
        };
        if flag.starts_with('-') {
            let value = if takes_value(flag) && inline.is_none() {
                i += 1;
                words.get(i).cloned()
            } else {
                inline
            };
            match flag {
                "-n" | "--namespace" => typed.namespace = value,
                "--kubeconfig" => typed.kubeconfig = value,
                "--context" => typed.context = value,
                _ => {}
            }
        } else if typed.subcommand.is_none() {
            typed.subcommand = Some(word.clone());
        } else {
            typed.positionals += 1;
        }
        i += 1;
    }
    typed
}

/// Runs the protocol: `words` are the arguments after `__complete`; the last one is the word being
/// completed (possibly empty).
pub async fn protocol(words: &[String]) -> ExitCode {
    let (partial, before) = match words.split_last() {
        Some((last, rest)) => (last.as_str(), rest),
        None => ("", &[][..]),
    };
    let (candidates, directive) = candidates(before, partial).await;
    let mut out = String::new();
    for (value, description) in candidates.into_iter().filter(|(v, _)| v.starts_with(partial)) {
        out.push_str(&value);
        if !description.is_empty() {
            out.push('\t');
            out.push_str(&description);
        }
        out.push('\n');
    }
    out.push_str(&format!(":{directive}\n"));
    let _ = std::io::stdout().write_all(out.as_bytes());
    ExitCode::SUCCESS
}

async fn candidates(before: &[String], partial: &str) -> (Vec<(String, String)>, u8) {
    let typed = parse_typed(before);
    let fixed = |values: &[&str]| values.iter().map(|v| (v.to_string(), String::new())).collect();
    match before.last().map(String::as_str) {
        Some("-o" | "--output") => return (fixed(&["table", "wide", "json", "yaml"]), NO_FILES),
        Some("--color") => return (fixed(&["auto", "always", "never"]), NO_FILES),
        Some("-n" | "--namespace") => return (namespaces(&typed).await, NO_FILES),
        Some("--context") => return (context_names(&typed, ""), NO_FILES),
        // A list: the item being typed, after those before its comma.
        Some("--contexts") => {
            let done = partial.rfind(',').map_or("", |at| &partial[..=at]);
            return (context_names(&typed, done), NO_FILES);
        }
        Some(
            "--kubeconfig"
            | "--snapshot"
            | "--backup-dir"
            | "--certificate-authority"
            | "--client-certificate"
            | "--client-key",
        ) => {
            return (vec![], FILES);
        }
        Some(flag) if takes_value(flag) => {
            return (vec![], NO_FILES);
        }
        _ => {}
    }
    let command = Cli::command();
    let sub = typed.subcommand.as_deref().and_then(|name| command.find_subcommand(name));
    if partial.starts_with('-') {
        let mut flags: Vec<(String, String)> = Vec::new();
        let args = command.get_arguments().chain(sub.into_iter().flat_map(|s| s.get_arguments()));
        for arg in args {
            if let Some(long) = arg.get_long() {
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                flags.push((format!("--{long}"), help.lines().next().unwrap_or_default().to_string()));
            }
        }
        return (flags, NO_FILES);
    }
    let Some(sub) = sub else {
        let subcommands = command
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| (s.get_name().to_string(), s.get_about().map(|a| a.to_string()).unwrap_or_default()))
            .collect();
        return (subcommands, NO_FILES);
    };
    match (sub.get_name(), typed.positionals) {
        ("status" | "reconcile", 0) | ("wait", _) => (stages(&typed).await, NO_FILES),
        ("rerun", _) => (rerun_targets(&typed).await, NO_FILES),
        ("completion", 0) => (fixed(&["bash", "zsh", "fish", "kubectl-plugin"]), NO_FILES),
        _ => (vec![], NO_FILES),
    }
}

async fn connection(typed: &Typed) -> Option<(cluster::Connection, String)> {
    let options = ConnectOptions {
        kubeconfig: typed.kubeconfig.clone().map(Into::into),
        context: typed.context.clone(),
        request_timeout: Some(Duration::from_secs(5)),
        ..ConnectOptions::default()
    };
    let conn = cluster::connect(&options).await.ok()?;
    let ns = typed.namespace.clone().unwrap_or_else(|| conn.default_namespace.clone());
    Some((conn, ns))
}

/// The kubeconfig's contexts (after `done`, the items of a list already typed), each described by
/// its cluster's server.
fn context_names(typed: &Typed, done: &str) -> Vec<(String, String)> {
    let options = ConnectOptions { kubeconfig: typed.kubeconfig.clone().map(Into::into), ..ConnectOptions::default() };
    let contexts = cluster::contexts::kubeconfig_contexts(&options, false).unwrap_or_default();
    contexts.into_iter().map(|c| (format!("{done}{}", c.name), c.server.unwrap_or_default())).collect()
}

async fn namespaces(typed: &Typed) -> Vec<(String, String)> {
    let Some((conn, _)) = connection(typed).await else { return vec![] };
    let names = get::namespace_names(&conn).await.unwrap_or_default();
    names.into_iter().map(|n| (n, String::new())).collect()
}

/// The objects of the kinds `wanted` selects in the namespace typed; nothing when it cannot be read.
async fn listed(typed: &Typed, wanted: impl Fn(&ReadKind) -> bool) -> Snapshot {
    let Some((conn, ns)) = connection(typed).await else { return Snapshot::default() };
    read::read_some(&conn, &ns, wanted).await.unwrap_or_default()
}

/// Stages of every kind, as `status` and `reconcile` take them (`NAME`, `rset/NAME`), with their
/// kind and Ready reason.
async fn stages(typed: &Typed) -> Vec<(String, String)> {
    let snapshot = listed(typed, |k| k.role == Role::Stage).await;
    snapshot.stages().map(|stage| (stage.id().target(), describe(stage))).collect()
}

fn describe(stage: &dyn StageObject) -> String {
    let ready = stage.condition(ConditionType::Ready).map(|c| c.reason.as_str()).unwrap_or_default();
    format!("{}, {ready}", stage.stage_kind().as_str())
}

/// What `rerun` takes: every stage as `SHORT/NAME` (`ks/`, `rset/`, `hr/`: its Jobs, or a
/// HelmRelease's forced reconcile), and Jobs as `job/NAME`.
async fn rerun_targets(typed: &Typed) -> Vec<(String, String)> {
    let snapshot = listed(typed, |k| k.role == Role::Stage || k.api.plural == "jobs").await;
    let stages = snapshot
        .stages()
        .map(|stage| (format!("{}/{}", stage.stage_kind().short_name(), stage.name()), describe(stage)));
    let jobs = snapshot.jobs.iter().map(|j| (format!("job/{}", j.metadata.name_str()), "Job".to_string()));
    stages.chain(jobs).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn every_flag_that_takes_a_value_is_known() {
        for flag in
            ["--as", "--as-group", "--token", "-s", "--server", "--certificate-authority", "--timeout", "--logs", "-n"]
        {
            assert!(takes_value(flag), "{flag}");
        }
        for flag in ["--insecure-skip-tls-verify", "--yes", "-y", "--wait", "-A", "--watch"] {
            assert!(!takes_value(flag), "{flag}");
        }
        let t = parse_typed(&words("--as dev-user -s https://x rerun job/a"));
        assert_eq!((t.subcommand.as_deref(), t.positionals), (Some("rerun"), 1));
    }

    #[test]
    fn reads_the_subcommand_namespace_and_positionals() {
        let t = parse_typed(&words("-n shop rerun --context=prod job/a"));
        assert_eq!(t.subcommand.as_deref(), Some("rerun"));
        assert_eq!(t.namespace.as_deref(), Some("shop"));
        assert_eq!(t.context.as_deref(), Some("prod"));
        assert_eq!(t.positionals, 1);
        let t = parse_typed(&words("status -o json --namespace=apps"));
        assert_eq!((t.subcommand.as_deref(), t.namespace.as_deref(), t.positionals), (Some("status"), Some("apps"), 0));
    }

    #[tokio::test]
    async fn completes_subcommands_flags_and_values_without_a_cluster() {
        let (subs, d) = candidates(&[], "").await;
        let names: Vec<&str> = subs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["status", "rerun", "reconcile", "wait", "completion", "version", "mcp"]);
        assert_eq!(d, NO_FILES);
        let (flags, _) = candidates(&words("status"), "--").await;
        for flag in
            ["--output", "--selector", "--watch", "--namespace", "--kubeconfig", "--as", "--token", "--server", "--v"]
        {
            assert!(flags.iter().any(|(f, _)| f == flag), "{flag} missing");
        }
        let (outputs, _) = candidates(&words("status -o"), "").await;
        assert_eq!(outputs.len(), 4);
        let (_, d) = candidates(&words("status --snapshot"), "").await;
        assert_eq!(d, FILES);
    }
}
