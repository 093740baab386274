//! Reports of several contexts (kubeconfig contexts, or dumps) as one: where each stage was read,
//! its references and warnings naming the context, and hints whose commands reach that cluster.

use std::sync::Arc;

use serde::Serialize;

use super::Report;
use crate::refs::StageId;

impl Report {
    /// The report of one context: every stage says where it was read, and with `qualified` (output
    /// that spans several contexts) every stage reference carries the context and every warning
    /// names it.
    pub(crate) fn in_context(mut self, read: ContextRead, qualified: bool) -> Report {
        let context = read.name.clone();
        let tag = |id: &mut StageId| {
            if let (true, Some(context)) = (qualified, &context) {
                id.context = Some(context.clone());
            }
        };
        self.pipelines.iter_mut().flatten().for_each(tag);
        for stage in &mut self.stages {
            stage.context.clone_from(&context);
            stage.qualified = qualified;
            stage.depends_on.iter_mut().for_each(tag);
            stage.path.iter_mut().for_each(tag);
            stage.ready_exprs.iter_mut().for_each(|e| tag(&mut e.dependency));
        }
        if let (true, Some(context)) = (qualified, &context) {
            for warning in &mut self.warnings {
                *warning = format!("context {context}: {warning}");
            }
            // A live context (a dump has no server) is a cluster the hints' commands can reach.
            if read.server.is_some() {
                self.hints_for_context(context);
            }
        }
        self.contexts = vec![read];
        self
    }

    /// Makes every command a hint names run against `context` (a fleet's hints name commands for
    /// one of its clusters): `kubectl fluxjobs VERB --context NAME ...`, `kubectl --context NAME
    /// ...` (kubectl refuses flags before a plugin's name), `flux --context NAME ...`.
    fn hints_for_context(&mut self, context: &str) {
        let quoted = if context.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:/@=+,".contains(c)) {
            context.to_string()
        } else {
            format!("'{}'", context.replace('\'', "'\\''"))
        };
        let flag = format!("--context {quoted}");
        for hint in self.stages.iter_mut().filter_map(|s| s.hint.as_mut()) {
            *hint = with_context_flag(hint, &flag);
        }
    }

    /// One report of several contexts' reports, in their order.
    pub(crate) fn merge(reports: impl IntoIterator<Item = Report>) -> Report {
        let mut merged = Report::default();
        for report in reports {
            merged.contexts.extend(report.contexts);
            merged.pipelines.extend(report.pipelines);
            merged.stages.extend(report.stages);
            merged.warnings.extend(report.warnings);
        }
        merged
    }

    /// The report of a context that could not be read.
    pub(crate) fn unreadable(read: ContextRead) -> Report {
        Report { contexts: vec![read], ..Report::default() }
    }
}

/// `hint` with `flag` after each `kubectl fluxjobs VERB`, `kubectl` and `flux` that starts a command.
fn with_context_flag(hint: &str, flag: &str) -> String {
    let mut out = String::with_capacity(hint.len() + flag.len());
    let mut rest = hint;
    while !rest.is_empty() {
        let at_word = out.is_empty() || out.ends_with([' ', '(', '`', ':', ';', '\n']);
        let command = if !at_word {
            None
        } else if let Some(after) = rest.strip_prefix("kubectl fluxjobs ") {
            let verb = after.split(' ').next().unwrap_or_default();
            Some((format!("kubectl fluxjobs {verb} {flag}"), "kubectl fluxjobs ".len() + verb.len()))
        } else if rest.starts_with("kubectl ") {
            Some((format!("kubectl {flag}"), 7))
        } else if rest.starts_with("flux ") {
            Some((format!("flux {flag}"), 4))
        } else {
            None
        };
        match command {
            Some((text, consumed)) => {
                out.push_str(&text);
                rest = &rest[consumed..];
            }
            None => {
                let c = rest.chars().next().expect("not empty");
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// One context (or dump) of a run, and why it could not be read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(crate) struct ContextRead {
    pub name: Option<Arc<str>>,
    /// The kubeconfig cluster entry it uses.
    pub cluster: Option<String>,
    /// The API server's URL.
    pub server: Option<String>,
    /// Why it could not be read, in one line; null when it was.
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::with_context_flag;

    #[test]
    fn hints_name_the_context_in_every_command_they_give() {
        let flag = "--context prod-eu";
        assert_eq!(
            with_context_flag(
                "fix it, then kubectl fluxjobs rerun job/db -n shop (or flux resume kustomization a -n shop)",
                flag
            ),
            "fix it, then kubectl fluxjobs rerun --context prod-eu job/db -n shop (or flux --context prod-eu resume kustomization a -n shop)"
        );
        assert_eq!(
            with_context_flag("kubectl create -f backup.yaml; see `kubectl describe pod x`", flag),
            "kubectl --context prod-eu create -f backup.yaml; see `kubectl --context prod-eu describe pod x`"
        );
        assert_eq!(
            with_context_flag("the kubectl-fluxjobs plugin and influx are no commands", flag),
            "the kubectl-fluxjobs plugin and influx are no commands"
        );
    }
}
