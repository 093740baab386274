//! Printing a [`Report`]: kubectl-like tables (with the chain to each root cause below them), and
//! JSON/YAML in the schema documented in README.

use std::collections::HashSet;

use comfy_table::{Cell, Color, Table, presets};
use k8s_openapi::jiff::Timestamp;
use owo_colors::OwoColorize;

use crate::cli::OutputFormat;
use crate::duration::age;
use crate::refs::{ObjectRef, StageId};
use crate::report::{JobReport, JobState, Report, RootCause, StageReport, StageState, StepState};
use crate::terminal::inert;

#[derive(Clone, Copy, Debug)]
pub(crate) struct RenderOptions {
    pub format: OutputFormat,
    pub color: bool,
    pub no_headers: bool,
    /// Stages of every namespace may be shown (`-A`, a dump): a NAMESPACE column then appears when
    /// the stages shown are in more than one namespace.
    pub namespace_column: bool,
    /// Show a CONTEXT column first, and the context on every chain line (output that spans
    /// several contexts).
    pub context_column: bool,
    /// One line per context instead of every stage (`--summary`).
    pub summary: bool,
    pub now: Timestamp,
    /// The terminal's width when printing to one: the MESSAGE column shrinks so that a row fits
    /// (80 columns included). `None` (piped) keeps messages at 60 characters.
    pub width: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot encode the report as JSON")]
    Json(#[from] serde_json::Error),
    #[error("cannot encode the report as YAML")]
    Yaml(#[from] serde_saphyr::SerializeError),
    #[error("cannot write the report")]
    Io(#[from] std::io::Error),
}

pub(crate) fn render(report: &Report, options: &RenderOptions) -> Result<String, RenderError> {
    let mut out = Vec::new();
    write(report, options, &mut out)?;
    Ok(String::from_utf8(out).expect("rendered as UTF-8"))
}

/// Writes the report to `out`; JSON and YAML are streamed, so a big report is never held twice.
pub(crate) fn write(report: &Report, options: &RenderOptions, out: &mut dyn std::io::Write) -> Result<(), RenderError> {
    if options.summary {
        let summary = report.summary();
        return write_document(&summary, options, out, || summary_table(&summary, options));
    }
    write_document(report, options, out, || render_table(report, options))
}

/// `document` as JSON or YAML (streamed), or the table `table` draws.
fn write_document<T: serde::Serialize>(
    document: &T,
    options: &RenderOptions,
    out: &mut dyn std::io::Write,
    table: impl FnOnce() -> String,
) -> Result<(), RenderError> {
    match options.format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, document)?;
            out.write_all(b"\n")?;
        }
        OutputFormat::Yaml => serde_saphyr::to_io_writer(&mut &mut *out, document)?,
        OutputFormat::Table | OutputFormat::Wide => out.write_all(table().as_bytes())?,
    }
    Ok(())
}

/// A table as kubectl prints one: no borders, coloured only when asked.
fn kubectl_table(o: &RenderOptions) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    if o.color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
}

/// The table's lines: three spaces between columns, none after the last, no trailing blanks.
fn table_lines(mut table: Table, columns: usize) -> String {
    let last = columns - 1;
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, if i == last { 0 } else { 3 }));
    }
    let mut text = String::new();
    for line in table.lines() {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

pub(crate) mod ci;
mod summary;
pub(crate) mod wait;
use summary::summary_table;

/// What MESSAGE keeps on a narrow terminal, however little room the other columns leave.
const MIN_MESSAGE_WIDTH: usize = 10;

fn render_table(report: &Report, o: &RenderOptions) -> String {
    let namespaces: HashSet<&str> = report.stages.iter().map(|s| s.namespace.as_str()).collect();
    let o = &RenderOptions { namespace_column: o.namespace_column && namespaces.len() > 1, ..*o };
    let wide = o.format == OutputFormat::Wide;
    let mut out = String::new();
    if report.stages.is_empty() {
        return out;
    }
    let mut table = kubectl_table(o);
    let mut header = vec![];
    if o.context_column {
        header.push("CONTEXT");
    }
    if o.namespace_column {
        header.push("NAMESPACE");
    }
    header.extend(["STAGE", "STATE", "AGE", "REVISION", "JOBS"]);
    if wide {
        header.extend(["SUSPENDED", "SOURCE", "DEPENDS-ON", "HISTORY"]);
    }
    header.push("MESSAGE");
    if wide {
        header.push("FLUX MESSAGE");
    }
    if !o.no_headers {
        table.set_header(header.clone());
    }
    // On a terminal MESSAGE takes the rest of the line; piped and in -o wide it is whole.
    let message_width = match o.width {
        Some(width) if !wide => width.saturating_sub(fixed_width(report, o, &header)).max(MIN_MESSAGE_WIDTH),
        _ => usize::MAX,
    };
    let by_id: std::collections::HashMap<StageId, &StageReport> = report.stages.iter().map(|s| (s.id(), s)).collect();
    for (i, pipeline) in report.pipelines.iter().enumerate() {
        if i > 0 {
            table.add_row(vec![Cell::new(""); header.len()]);
        }
        for stage in pipeline.iter().filter_map(|id| by_id.get(id)) {
            table.add_row(stage_row(stage, o, wide, message_width));
            for row in child_rows(stage, o, &header, message_width) {
                table.add_row(row);
            }
        }
    }
    out.push_str(&table_lines(table, header.len()));
    out.push_str(&render_causes(report, o));
    for w in &report.warnings {
        let label = if o.color { "warning:".yellow().to_string() } else { "warning:".to_string() };
        out.push_str(&format!("\n{label} {}\n", inert(w)));
    }
    out
}

fn state_color(state: StageState) -> Color {
    match state {
        StageState::Ready => Color::Green,
        StageState::Progressing => Color::Cyan,
        StageState::Waiting => Color::Blue,
        StageState::Blocked => Color::Yellow,
        StageState::Failed => Color::Red,
        StageState::Suspended => Color::Magenta,
        StageState::Unknown => Color::Grey,
    }
}

/// The width of every column before MESSAGE, with the 3-space gaps.
fn fixed_width(report: &Report, o: &RenderOptions, header: &[&str]) -> usize {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for stage in &report.stages {
        for row in std::iter::once(stage_row(stage, o, false, 0)).chain(child_rows(stage, o, header, 0)) {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.content().chars().count());
            }
        }
    }
    widths[..widths.len() - 1].iter().map(|w| w + 3).sum()
}

fn stage_row(stage: &StageReport, o: &RenderOptions, wide: bool, message_width: usize) -> Vec<Cell> {
    let mut row = vec![];
    if o.context_column {
        row.push(Cell::new(inert(stage.context.as_deref().unwrap_or("-"))));
    }
    if o.namespace_column {
        row.push(Cell::new(&stage.namespace));
    }
    let age = stage
        .created
        .as_deref()
        .and_then(|c| c.parse::<Timestamp>().ok())
        .map(|t| age(o.now, t))
        .unwrap_or_else(|| "<unknown>".into());
    let flux_message = stage.ready.as_ref().map(|r| r.message.lines().next().unwrap_or_default()).unwrap_or_default();
    let flux_message =
        if stage.ready.is_none() && !stage.suspended { "waiting to be reconciled" } else { flux_message };
    // MESSAGE is our diagnosis; Flux's own Ready message only while the stage is Ready (or has no
    // root cause), since for a stage that waits it may be stale.
    let diagnosis = match stage.state {
        StageState::Ready => None,
        _ => stage.diagnosis(&stage.namespace),
    };
    let message = inert(diagnosis.as_deref().unwrap_or(flux_message));
    row.push(Cell::new(stage_label(&stage.id(), &stage.namespace)));
    row.push(Cell::new(stage.state.as_str()).fg(state_color(stage.state)));
    row.push(Cell::new(age));
    // On a terminal the table must fit: an attempted revision shows its commit alone, and below
    // 100 columns as `COMMIT*`.
    row.push(Cell::new(revision_column(stage, (!wide).then_some(o.width).flatten())));
    // Jobs in another cluster that was not read are neither ok nor missing.
    let unread_remote = stage.remote.as_ref().is_some_and(|r| !r.followed);
    row.push(Cell::new(if unread_remote { "remote".to_string() } else { jobs_summary(&stage.jobs) }));
    if wide {
        row.push(Cell::new(if stage.suspended { "True" } else { "False" }));
        row.push(Cell::new(inert(&stage.source.as_ref().map(ObjectRef::to_string).unwrap_or_default())));
        row.push(Cell::new(inert(&depends_on_column(stage))));
        row.push(Cell::new(history_column(stage, o.now)));
        row.push(Cell::new(message));
        row.push(Cell::new(inert(flux_message)));
    } else {
        row.push(Cell::new(truncate(&message, message_width)));
    }
    row
}

/// What `status.history` says, in a few words: `failing for 12m (3 attempts), last ok 2h ago`, `ok`.
fn history_column(stage: &StageReport, now: Timestamp) -> String {
    let Some(history) = &stage.history else { return String::new() };
    let last_ok = history.last_success.as_ref().map(|ok| match ok.time {
        Some(time) => format!("last ok {} ago", age(now, time)),
        None => "last ok".to_string(),
    });
    match (history.failing_since, last_ok) {
        (Some(since), last_ok) => {
            let attempts = history.failed_attempts;
            let plural = if attempts == 1 { "" } else { "s" };
            let mut text = format!("failing for {} ({attempts} attempt{plural})", age(now, since));
            text.push_str(&last_ok.map(|ok| format!(", {ok}")).unwrap_or_else(|| ", never ok".into()));
            text
        }
        (None, Some(_)) => "ok".to_string(),
        (None, None) => String::new(),
    }
}

/// `ns/name`, or `ns/name@readyExpr (VALUE)` (Flux writes a dependency as `[ns/]name[@readyExpr]`,
/// fluxcd/pkg apis/meta DependencyReference.String()); VALUE is true, false or `not evaluated`.
fn depends_on_column(stage: &StageReport) -> String {
    let entry = |id: &StageId| match stage.ready_exprs.iter().find(|e| &e.dependency == id) {
        Some(e) => {
            let value = e.value.map(|v| v.to_string()).unwrap_or_else(|| "not evaluated".into());
            format!("{id}@{} ({value})", e.expression)
        }
        None => id.to_string(),
    };
    stage.depends_on.iter().map(entry).collect::<Vec<_>>().join(",")
}

/// The applied revision; for a stage that never applied one, the revision it tried, so that the
/// commit that fails is in sight: `main@sha1:1a2b3c4d (attempted)`, `1a2b3c4d (attempted)` when
/// `compact`.
/// What a terminal narrower than this shows of an attempted revision: `COMMIT*`.
const NARROW: usize = 100;

/// REVISION: the applied one, else the attempted one; on a terminal (`width`) an attempted one
/// shows its commit alone.
fn revision_column(stage: &StageReport, width: Option<usize>) -> String {
    match (&stage.revision, &stage.attempted_revision) {
        (Some(applied), _) => short_revision(applied),
        (None, Some(attempted)) => {
            let revision = short_revision(attempted);
            let commit = match revision.rsplit_once(':') {
                Some((_, digest)) if width.is_some() => digest.to_string(),
                _ => revision,
            };
            match width {
                Some(width) if width < NARROW => format!("{commit}*"),
                _ => format!("{commit} (attempted)"),
            }
        }
        (None, None) => String::new(),
    }
}

/// `main@sha1:1a2b3c4d...` -> `main@sha1:1a2b3c4d`: hex digests cut to 8 like flux CLI's TruncateHex.
pub(crate) fn short_revision(revision: &str) -> String {
    match revision.rsplit_once(':') {
        Some((prefix, hex)) if hex.len() > 8 && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
            format!("{prefix}:{}", &hex[..8])
        }
        _ => revision.to_string(),
    }
}

/// How the table names a stage: a Kustomization by its name, a ResourceSet as `ResourceSet/name`,
/// each with its namespace when it is not `home`'s.
fn stage_label(id: &StageId, home: &str) -> String {
    id.label(home)
}

/// The rows under a stage, drawn as a tree (`├` ... the last `└`): a ResourceSet's steps
/// (`├ 1/3 pre-deploy`), a HelmRelease's hook Jobs (`└ hook my-app-db-migrate`), and in `-o wide`
/// its leftover Jobs (`└ leftover db-migrate-v2-4-0`); each with its state, its Jobs and its root
/// cause.
fn child_rows(stage: &StageReport, o: &RenderOptions, header: &[&str], message_width: usize) -> Vec<Vec<Cell>> {
    let home = stage.namespace.as_str();
    let headline = |cause: &RootCause| format!("{} {}", cause.object().short(home), cause.summary());
    let steps = stage.steps.iter().flatten().enumerate().map(|(i, step)| {
        let total = stage.steps.as_ref().map_or(0, Vec::len);
        let color = match step.state {
            StepState::Done => Color::Green,
            StepState::Applying => Color::Cyan,
            StepState::Failed => Color::Red,
            StepState::NotReached => Color::Grey,
        };
        let message = match (&step.root_cause, step.unmapped) {
            (Some(cause), _) => headline(cause),
            (None, true) => "some objects not mapped (templated names)".into(),
            (None, false) => String::new(),
        };
        let label = format!("{}/{total} {}", i + 1, inert(&step.name));
        (label, Cell::new(step.state.as_str()).fg(color), jobs_summary(&step.jobs), message)
    });
    let hooks = stage.hooks.iter().flatten().map(|hook| {
        let message = match &hook.root_cause {
            Some(cause) => headline(cause),
            None => format!("hook: {}", hook.events.join(",")),
        };
        let label = format!("hook {}", inert(&hook.name));
        (label, Cell::new(hook.state.as_str()).fg(job_color(hook.state)), String::new(), message)
    });
    // Leftover Jobs (kept, no longer the stage's) are shown in -o wide only, never counted.
    let wide = o.format == OutputFormat::Wide;
    let leftovers = stage.leftover_jobs.iter().filter(|_| wide).map(|job| {
        let message = format!("leftover: not in {}'s inventory, not counted", inert(&stage.name));
        let label = format!("leftover {}", inert(&job.name));
        (label, Cell::new(job.state.as_str()).fg(job_color(job.state)), String::new(), message)
    });
    let children: Vec<_> = steps.chain(hooks).chain(leftovers).collect();
    let total = children.len();
    let message_column = header.iter().position(|h| *h == "MESSAGE").unwrap_or(header.len() - 1);
    children
        .into_iter()
        .enumerate()
        .map(|(i, (label, state, jobs, message))| {
            let mut row = vec![];
            if o.context_column {
                row.push(Cell::new(""));
            }
            if o.namespace_column {
                row.push(Cell::new(""));
            }
            let branch = if i + 1 == total { "└" } else { "├" };
            row.push(Cell::new(format!("{branch} {label}")));
            row.push(state);
            row.extend([Cell::new(""), Cell::new(""), Cell::new(jobs)]);
            while row.len() < message_column {
                row.push(Cell::new(""));
            }
            row.push(Cell::new(truncate(&inert(&message), message_width)));
            row
        })
        .collect()
}

fn job_color(state: JobState) -> Color {
    match state {
        JobState::Complete => Color::Green,
        JobState::Running => Color::Cyan,
        JobState::Failed => Color::Red,
        JobState::Pending | JobState::Suspended => Color::Yellow,
        JobState::Missing => Color::Grey,
    }
}

/// `1/1 ok`, `0/1 failed`, `0/2 running`, `-` when there are no Jobs.
fn jobs_summary(jobs: &[JobReport]) -> String {
    if jobs.is_empty() {
        return "-".into();
    }
    let total = jobs.len();
    let complete = jobs.iter().filter(|j| j.state == JobState::Complete).count();
    let worst = [JobState::Failed, JobState::Missing, JobState::Suspended, JobState::Pending, JobState::Running]
        .into_iter()
        .find(|s| jobs.iter().any(|j| j.state == *s));
    let word = match worst {
        None => "ok",
        Some(JobState::Failed) => "failed",
        Some(JobState::Missing) => "missing",
        Some(JobState::Suspended) => "suspended",
        Some(JobState::Pending) => "pending",
        Some(_) => "running",
    };
    format!("{complete}/{total} {word}")
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else if width <= 3 {
        s.chars().take(width).collect()
    } else {
        format!("{}...", s.chars().take(width - 3).collect::<String>())
    }
}

/// A root cause told once: its context, object and reason.
type CauseKey<'a> = (Option<&'a str>, ObjectRef, &'a str);

/// The chain of each distinct root cause, from its most downstream stage:
/// `app-post-deploy <- app-deploy <- app-pre-deploy <- Job/db-migration <- Pod/db-migration-b2m8s: exit code 3 (Error)`.
fn render_causes(report: &Report, o: &RenderOptions) -> String {
    let mut out = String::new();
    let mut shown: HashSet<CauseKey> = HashSet::new();
    // With stages of several namespaces shown, chains name each stage with its namespace.
    let namespaces: HashSet<&str> = report.stages.iter().map(|s| s.namespace.as_str()).collect();
    let qualified = namespaces.len() > 1;
    // Pipelines in the table's order; downstream stages come last in each, so each is walked
    // backwards: its longest chain first.
    let mut pipelines = Vec::new();
    let mut rest = report.stages.as_slice();
    for pipeline in &report.pipelines {
        let (group, after) = rest.split_at(pipeline.len().min(rest.len()));
        pipelines.push(group);
        rest = after;
    }
    let ordered: Vec<&StageReport> = pipelines.iter().flat_map(|group| group.iter().rev()).collect();
    // A Waiting stage is no alarm: no chain of its own, one line per pipeline below.
    let ordered: Vec<&StageReport> = ordered.into_iter().filter(|s| s.state != StageState::Waiting).collect();
    // Each distinct cause once, where it is first met, told from the stage with the longest path
    // to it (another pipeline may reach it through more stages, e.g. a Kustomization whose health
    // check names a HelmRelease that is a pipeline of its own).
    let mut longest: std::collections::HashMap<CauseKey, &StageReport> = std::collections::HashMap::new();
    for stage in &ordered {
        if let Some(cause) = &stage.root_cause {
            let entry =
                longest.entry((stage.context.as_deref(), cause.object(), cause.reason.as_str())).or_insert(stage);
            if stage.path.len() > entry.path.len() {
                *entry = stage;
            }
        }
    }
    for first in ordered {
        let Some(cause) = &first.root_cause else {
            continue;
        };
        let key = (first.context.as_deref(), cause.object(), cause.reason.as_str());
        if !shown.insert(key.clone()) {
            continue;
        }
        let stage = longest[&key];
        let Some(cause) = &stage.root_cause else { continue };
        out.push('\n');
        out.push_str(&chain_line(stage, cause, o, qualified));
        out.push('\n');
        if !cause.message.is_empty() {
            out.push_str(&format!("  {}\n", inert(&cause.message)));
        }
        if let Some(logs) = cause.logs.as_ref().filter(|l| !l.is_empty()) {
            let container = cause.container.as_deref().unwrap_or("container");
            out.push_str(&format!("  last log lines of {}:\n", inert(container)));
            for line in logs {
                out.push_str(&format!("    | {}\n", inert(line)));
            }
        }
        if !cause.events.is_empty() {
            out.push_str("  events:\n");
            for e in &cause.events {
                out.push_str(&format!("    {}\n", inert(e)));
            }
        }
        if let Some(hint) = &stage.hint {
            let label = if o.color { "hint:".bold().to_string() } else { "hint:".to_string() };
            out.push_str(&format!("  {label} {}\n", inert(hint)));
        }
    }
    for group in pipelines {
        out.push_str(&waiting_line(group, o, qualified));
    }
    out
}

/// The most downstream Waiting stage of a pipeline, in one line with its hint:
/// `◎ app-post-deploy waits for app-pre-deploy (Job/db-migration running 12s); nothing to fix; ...`.
fn waiting_line(pipeline: &[StageReport], o: &RenderOptions, qualified: bool) -> String {
    let Some(stage) = pipeline.iter().rev().find(|s| s.state == StageState::Waiting) else {
        return String::new();
    };
    let home = if qualified { "" } else { stage.namespace.as_str() };
    let what = stage.waiting_for.as_deref().unwrap_or_default();
    let marker = if o.color { "◎".color(owo_colors::AnsiColors::Blue).to_string() } else { "◎".to_string() };
    let context = match (&stage.context, o.context_column) {
        (Some(context), true) => format!("[{}] ", inert(context)),
        _ => String::new(),
    };
    let hint = stage.hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default();
    format!(
        "\n{marker} {context}{} waits for {}{}\n",
        inert(&stage_label(&stage.id(), home)),
        inert(what),
        inert(&hint)
    )
}

fn chain_line(stage: &StageReport, cause: &RootCause, o: &RenderOptions, qualified: bool) -> String {
    let home = &stage.namespace;
    let stage_home = if qualified { "" } else { home.as_str() };
    let mut parts: Vec<String> = stage.path.iter().map(|id| stage_label(id, stage_home)).collect();
    if let Some(step) = &cause.step {
        parts.push(format!("step {step}"));
    }
    if let Some(cluster) = &cause.cluster {
        parts.push(format!("cluster {cluster}"));
    }
    parts.extend(cause.via.iter().map(|v| v.short(home)));
    let object = cause.object();
    // A cause that is the last stage of the path itself is not named twice.
    let is_last_stage = stage.path.last().map(ObjectRef::stage).as_ref() == Some(&object);
    if !is_last_stage {
        parts.push(object.short(home));
    }
    let summary = match cause.exit_code {
        Some(code) => format!("exit code {code} ({})", inert(cause.reason.as_str())),
        None => inert(cause.reason.as_str()).into_owned(),
    };
    // A stage still working towards Ready is not a failure yet.
    let (marker, color) = match stage.state {
        StageState::Progressing | StageState::Unknown => ("…", owo_colors::AnsiColors::Yellow),
        _ => ("✗", owo_colors::AnsiColors::Red),
    };
    let (marker, summary) = if o.color {
        (marker.color(color).to_string(), summary.color(color).bold().to_string())
    } else {
        (marker.to_string(), summary)
    };
    let context = match (&stage.context, o.context_column) {
        (Some(context), true) => format!("[{}] ", inert(context)),
        _ => String::new(),
    };
    format!("{marker} {context}{}: {summary}", inert(&parts.join(" <- ")))
}

/// For `--exit-code`: whether any shown stage is Blocked or Failed.
pub(crate) fn has_blocked_or_failed(report: &Report) -> bool {
    report.stages.iter().any(|s| matches!(s.state, StageState::Blocked | StageState::Failed))
}

impl crate::terminal::BrokenPipe for RenderError {
    fn is_broken_pipe(&self) -> bool {
        match self {
            RenderError::Io(e) => e.kind() == std::io::ErrorKind::BrokenPipe,
            RenderError::Json(e) => e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe),
            RenderError::Yaml(_) => false,
        }
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
