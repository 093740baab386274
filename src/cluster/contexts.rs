//! Choosing kubeconfig contexts for a fleet run (`status --contexts a,b,c`, `--all-contexts`): the
//! kubeconfig's contexts as kubectl merges them, and the selection grammar over their names.

use kube::config::{ExecInteractiveMode, Kubeconfig};

use super::ClusterError;
use super::connect::{ConnectOptions, load_kubeconfig};

/// One context of the kubeconfig: what a fleet run reports of it before it is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KubeContext {
    pub name: String,
    /// The kubeconfig cluster entry it uses.
    pub cluster: Option<String>,
    /// That cluster's server URL.
    pub server: Option<String>,
    /// Its user's exec credential plugin may prompt (`interactiveMode: Always`, or `IfAvailable`
    /// with a terminal on stdin): such plugins run one at a time, before the concurrent reads.
    pub prompts: bool,
}

/// The context a connection uses: `--context`, else the kubeconfig's current one.
pub(crate) fn default_context(options: &ConnectOptions) -> Result<Option<String>, ClusterError> {
    let kubeconfig = load_kubeconfig(options)?.ok_or(ClusterError::NoKubeconfig)?;
    Ok(options.context.clone().or(kubeconfig.current_context))
}

/// The contexts of the kubeconfig kubectl would load, in its order.
pub(crate) fn kubeconfig_contexts(
    options: &ConnectOptions,
    stdin_is_terminal: bool,
) -> Result<Vec<KubeContext>, ClusterError> {
    let kubeconfig = load_kubeconfig(options)?.ok_or(ClusterError::NoKubeconfig)?;
    Ok(contexts_of(&kubeconfig, stdin_is_terminal))
}

fn contexts_of(kubeconfig: &Kubeconfig, stdin_is_terminal: bool) -> Vec<KubeContext> {
    kubeconfig
        .contexts
        .iter()
        .map(|named| {
            let context = named.context.as_ref();
            let cluster = context.map(|c| c.cluster.clone()).filter(|c| !c.is_empty());
            let server = kubeconfig
                .clusters
                .iter()
                .find(|c| Some(&c.name) == cluster.as_ref())
                .and_then(|c| c.cluster.as_ref()?.server.clone());
            let user = context.and_then(|c| c.user.as_ref());
            let exec = kubeconfig
                .auth_infos
                .iter()
                .find(|a| Some(&a.name) == user)
                .and_then(|a| a.auth_info.as_ref()?.exec.as_ref());
            // kube-rs hands the plugin the terminal unless the mode is Never (kube-client
            // client/auth/mod.rs auth_exec); client-go's default is IfAvailable.
            let prompts = exec.is_some_and(|exec| match exec.interactive_mode {
                Some(ExecInteractiveMode::Always) => true,
                Some(ExecInteractiveMode::Never) => false,
                Some(ExecInteractiveMode::IfAvailable) | None => stdin_is_terminal,
            });
            KubeContext { name: named.name.clone(), cluster, server, prompts }
        })
        .collect()
}

/// An item of `--contexts` that selects no context of the kubeconfig.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--contexts: {item:?} matches no context of the kubeconfig ({known})")]
pub struct NoSuchContext {
    pub item: String,
    known: String,
}

/// The contexts `selection` names, in the kubeconfig's order, each once: a comma-separated list
/// whose items are a context's exact name (EKS ARNs with `:` and `/` included), else a glob (`*`,
/// `?`, `[...]`). An item that selects nothing is an error naming it.
pub(crate) fn select<'a>(contexts: &'a [KubeContext], selection: &str) -> Result<Vec<&'a KubeContext>, NoSuchContext> {
    let items: Vec<&str> = selection.split(',').map(str::trim).filter(|i| !i.is_empty()).collect();
    let selects = |item: &str, name: &str| {
        let exact = contexts.iter().any(|c| c.name == item);
        if exact { name == item } else { glob_matches(item, name) }
    };
    for item in &items {
        if !contexts.iter().any(|c| selects(item, &c.name)) {
            let mut names: Vec<&str> = contexts.iter().map(|c| c.name.as_str()).collect();
            let more = names.len().saturating_sub(5);
            names.truncate(5);
            let mut known = format!("it has {}", names.join(", "));
            if more > 0 {
                known.push_str(&format!(" and {more} more"));
            }
            if contexts.is_empty() {
                known = "it has none".into();
            }
            return Err(NoSuchContext { item: item.to_string(), known });
        }
    }
    Ok(contexts.iter().filter(|c| items.iter().any(|item| selects(item, &c.name))).collect())
}

/// Shell-style matching of a whole name: `*` any run (`/` and `:` of an ARN included), `?` one
/// character, `[abc]`, `[a-z]`, `[!a]` (or `[^a]`) one of a set; a pattern that is no glob (a `[`
/// without its `]`) is the name itself.
pub(crate) fn glob_matches(pattern: &str, name: &str) -> bool {
    match globset::GlobBuilder::new(pattern).literal_separator(false).build() {
        Ok(glob) => glob.compile_matcher().is_match(name),
        Err(_) => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contexts(names: &[&str]) -> Vec<KubeContext> {
        names.iter().map(|n| KubeContext { name: n.to_string(), cluster: None, server: None, prompts: false }).collect()
    }

    fn names(selected: Result<Vec<&KubeContext>, NoSuchContext>) -> Vec<String> {
        selected.expect("selects").into_iter().map(|c| c.name.clone()).collect()
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_matches("prod-*", "prod-eu"));
        assert!(!glob_matches("prod-*", "staging-prod-eu"));
        assert!(glob_matches("prod-??", "prod-eu"));
        assert!(!glob_matches("prod-?", "prod-eu"));
        assert!(glob_matches("prod-[eu]*", "prod-us-1"));
        assert!(!glob_matches("prod-[!eu]*", "prod-us-1"));
        assert!(glob_matches("prod-[a-f]*", "prod-eu"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("a[b", "a[b"), "an unclosed [ is itself");
        assert!(glob_matches("[]]x", "]x"), "a ] first in a set is a member");
    }

    #[test]
    fn an_exact_name_wins_over_its_reading_as_a_glob_and_arns_are_names() {
        let arn = "arn:aws:eks:eu-west-1:123456789012:cluster/prod[1]";
        let all = contexts(&["dev", arn, "prod1"]);
        assert_eq!(names(select(&all, arn)), vec![arn.to_string()], "not the glob prod[1] -> prod1");
        assert_eq!(names(select(&all, "prod*, dev")), vec!["dev", "prod1"], "kubeconfig order, each once");
        assert_eq!(names(select(&all, "*,dev")), vec!["dev", arn, "prod1"]);
    }

    #[test]
    fn an_item_that_selects_nothing_is_named() {
        let all = contexts(&["dev", "prod-eu"]);
        let error = select(&all, "dev,stage-*").unwrap_err();
        assert_eq!(error.item, "stage-*");
        assert_eq!(
            error.to_string(),
            "--contexts: \"stage-*\" matches no context of the kubeconfig (it has dev, prod-eu)"
        );
    }

    #[test]
    fn prompting_exec_plugins_are_known_before_reading() {
        let kubeconfig: Kubeconfig = serde_yaml_from(
            r#"
clusters:
- {name: c1, cluster: {server: "https://a:6443"}}
users:
- {name: always, user: {exec: {command: x, apiVersion: client.authentication.k8s.io/v1, interactiveMode: Always}}}
- {name: maybe, user: {exec: {command: x, apiVersion: client.authentication.k8s.io/v1, interactiveMode: IfAvailable}}}
- {name: never, user: {exec: {command: x, apiVersion: client.authentication.k8s.io/v1, interactiveMode: Never}}}
contexts:
- {name: a, context: {cluster: c1, user: always}}
- {name: b, context: {cluster: c1, user: maybe}}
- {name: c, context: {cluster: c1, user: never}}
- {name: d, context: {cluster: gone}}
"#,
        );
        let prompts = |tty| contexts_of(&kubeconfig, tty).into_iter().map(|c| c.prompts).collect::<Vec<_>>();
        assert_eq!(prompts(false), vec![true, false, false, false]);
        assert_eq!(prompts(true), vec![true, true, false, false]);
        let read = contexts_of(&kubeconfig, false);
        assert_eq!(read[0].server.as_deref(), Some("https://a:6443"));
        assert_eq!((read[3].cluster.as_deref(), read[3].server.as_deref()), (Some("gone"), None));
    }

    fn serde_yaml_from(text: &str) -> Kubeconfig {
        Kubeconfig::from_yaml(text).expect("a kubeconfig")
    }
}
