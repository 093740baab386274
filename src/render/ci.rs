//! `wait`'s verdict in the forms CI systems read: JUnit XML (GitLab, Jenkins: one testcase per
//! stage, a failure with the root cause), and GitHub Actions' workflow commands (an `::error`
//! annotation) and job summary (Markdown appended to `$GITHUB_STEP_SUMMARY`).

use crate::report::{RootCause, StageReport};
use crate::verdict::{Ending, Outcome, StageVerdict, WaitReport};

/// The root cause of a stage's verdict, in a few lines: the cause, its hint, the log tail.
fn cause_text(stage: Option<&StageReport>) -> String {
    let Some(stage) = stage else { return String::new() };
    let mut text = String::new();
    if let Some(cause) = &stage.root_cause {
        text.push_str(&format!("{} {}: {}\n", cause.object(), cause.summary(), cause.message));
        for event in &cause.events {
            text.push_str(&format!("event: {event}\n"));
        }
        text.push_str(&logs(cause));
    }
    if let Some(hint) = &stage.hint {
        text.push_str(&format!("hint: {hint}\n"));
    }
    text
}

fn logs(cause: &RootCause) -> String {
    cause.logs.iter().flatten().map(|line| format!("log: {line}\n")).collect()
}

/// The report's stage for a verdict.
fn stage_of<'a>(wait: &'a WaitReport, verdict: &StageVerdict) -> Option<&'a StageReport> {
    wait.report.stages.iter().find(|s| s.id() == verdict.stage)
}

/// JUnit XML: a testsuite of the stages; a stage that failed, or was not done when the wait timed
/// out, is a failure; one waiting behind a failure elsewhere is skipped.
pub(crate) fn junit(wait: &WaitReport) -> String {
    let name = match &wait.revision {
        Some(revision) => format!("kubectl fluxjobs wait --revision {revision}"),
        None => "kubectl fluxjobs wait".to_string(),
    };
    let failed = |s: &StageVerdict| {
        s.outcome == Outcome::Failed || (s.outcome == Outcome::Waiting && wait.ending != Ending::Failed)
    };
    let failures = wait.stages.iter().filter(|s| failed(s)).count();
    let skipped = wait.stages.iter().filter(|s| s.outcome == Outcome::Waiting && !failed(s)).count();
    let time = wait.elapsed_seconds.unwrap_or(0.0);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!(
        "<testsuites name=\"{n}\" tests=\"{t}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{time:.3}\">\n",
        n = escape(&name),
        t = wait.stages.len()
    ));
    xml.push_str(&format!(
        "  <testsuite name=\"{n}\" tests=\"{t}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{time:.3}\">\n",
        n = escape(&name),
        t = wait.stages.len()
    ));
    for verdict in &wait.stages {
        let stage = &verdict.stage;
        let classname = match &stage.context {
            Some(context) => format!("{context}.{}", stage.namespace),
            None => stage.namespace.clone(),
        };
        let time = verdict.done_after.unwrap_or(time);
        let name = format!("{}/{}", stage.kind.as_str(), stage.name);
        xml.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{time:.3}\"",
            escape(&classname),
            escape(&name)
        ));
        if verdict.outcome == Outcome::Done {
            xml.push_str("/>\n");
            continue;
        }
        xml.push_str(">\n");
        let kind = if failed(verdict) { "failure" } else { "skipped" };
        let type_ = if verdict.outcome == Outcome::Failed { "Failed" } else { "NotDone" };
        xml.push_str(&format!(
            "      <{kind} message=\"{}\" type=\"{type_}\">{}</{kind}>\n",
            escape(&verdict.why),
            escape(&cause_text(stage_of(wait, verdict)))
        ));
        xml.push_str("    </testcase>\n");
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// Text as XML 1.0 character data or an attribute value: the five markup characters escaped, and
/// the characters XML 1.0 does not allow (control characters from a container's log) dropped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The `::error` workflow command for a wait that did not end done: the first failed stage's
/// verdict, or what the first stage still waited for (escaped as the runner reads commands:
/// actions/toolkit packages/core src/command.ts).
pub(crate) fn github_annotation(wait: &WaitReport) -> Option<String> {
    if matches!(wait.ending, Ending::Done) {
        return None;
    }
    let worst = wait
        .stages
        .iter()
        .find(|s| s.outcome == Outcome::Failed)
        .or_else(|| wait.stages.iter().find(|s| s.outcome == Outcome::Waiting));
    let message = match worst {
        Some(s) => format!("{}: {}", s.stage, s.why),
        None => "no stage in scope".to_string(),
    };
    let title = format!("kubectl fluxjobs wait: {}", wait.ending.as_str());
    Some(format!("::error title={}::{}", escape_property(&title), escape_data(&message)))
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The job summary: how the wait ended, a table of the stages, and the root cause of the first
/// that failed with its log tail.
pub(crate) fn github_summary(wait: &WaitReport) -> String {
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    let mut md = format!("### kubectl fluxjobs wait: {}\n\n", wait.ending.as_str());
    if let Some(revision) = &wait.revision {
        md.push_str(&format!("Revision `{}`", cell(revision)));
        if let Some(secs) = wait.elapsed_seconds {
            md.push_str(&format!(", after {secs:.1}s"));
        }
        md.push_str("\n\n");
    }
    md.push_str("| stage | verdict | done after | why |\n|---|---|---|---|\n");
    for s in &wait.stages {
        let after = s.done_after.map(|secs| format!("{secs:.1}s")).unwrap_or_else(|| "-".into());
        md.push_str(&format!(
            "| {} | {} | {after} | {} |\n",
            cell(&s.stage.to_string()),
            s.outcome.as_str(),
            cell(&s.why)
        ));
    }
    if let Some(failed) = wait.stages.iter().find(|s| s.outcome == Outcome::Failed) {
        let text = cause_text(stage_of(wait, failed));
        if !text.is_empty() {
            md.push_str(&format!(
                "\n**{}**\n\n```text\n{}```\n",
                cell(&failed.stage.to_string()),
                text.replace("```", "'''")
            ));
        }
    }
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_cluster_cannot_break_the_xml_or_the_workflow_command() {
        assert_eq!(escape("a<b>&\"c'\u{1b}[31m"), "a&lt;b&gt;&amp;&quot;c&apos;[31m");
        assert_eq!(escape_data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(escape_property("a: b, c"), "a%3A b%2C c");
    }
}
