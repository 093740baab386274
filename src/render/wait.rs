//! `wait`'s document: the status table of the last picture (with its root causes), then one line
//! per stage with its verdict, and how the wait ended.

use comfy_table::{Cell, Color};

use super::{
    MIN_MESSAGE_WIDTH, RenderError, RenderOptions, kubectl_table, render_table, table_lines, truncate, write_document,
};
use crate::terminal::inert;
use crate::verdict::{Ending, Outcome, WaitReport};

/// Writes the wait's document to `out` (JSON and YAML: the whole [`WaitReport`]).
pub(crate) fn write(
    wait: &WaitReport,
    options: &RenderOptions,
    out: &mut dyn std::io::Write,
) -> Result<(), RenderError> {
    write_document(wait, options, out, || wait_table(wait, options))
}

fn wait_table(wait: &WaitReport, o: &RenderOptions) -> String {
    let mut text = render_table(&wait.report, o);
    if !wait.stages.is_empty() {
        let header = ["STAGE", "VERDICT", "DONE AFTER", "WHY"];
        let rows: Vec<Vec<Cell>> = wait
            .stages
            .iter()
            .map(|s| {
                let color = match s.outcome {
                    Outcome::Done => Color::Green,
                    Outcome::Failed => Color::Red,
                    Outcome::Waiting => Color::Blue,
                };
                let after = s.done_after.map(|secs| format!("{secs:.1}s")).unwrap_or_else(|| "-".into());
                vec![
                    Cell::new(inert(&s.stage.label(""))),
                    Cell::new(s.outcome.as_str()).fg(color),
                    Cell::new(after),
                    Cell::new(inert(&s.why)),
                ]
            })
            .collect();
        let fixed: usize = (0..header.len() - 1)
            .map(|i| rows.iter().map(|r| r[i].content().chars().count()).max().unwrap_or(0).max(header[i].len()) + 3)
            .sum();
        let why_width = o.width.map_or(usize::MAX, |w| w.saturating_sub(fixed).max(MIN_MESSAGE_WIDTH));
        let mut table = kubectl_table(o);
        if !o.no_headers {
            table.set_header(header);
        }
        for mut row in rows {
            let why = row.pop().map(|c| c.content()).unwrap_or_default();
            row.push(Cell::new(truncate(&why, why_width)));
            table.add_row(row);
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&table_lines(table, header.len()));
    }
    let at = wait.revision.as_deref().map(|r| format!(" at {}", inert(r))).unwrap_or_default();
    let took = wait.elapsed_seconds.map(|s| format!(" after {s:.1}s")).unwrap_or_default();
    let ending = match wait.ending {
        Ending::Done => format!("done{at}{took}"),
        Ending::Failed => format!("failed{at}{took}"),
        Ending::TimedOut => format!("timed out{took}: not done{at}"),
        Ending::NotDoneYet => format!("not done{at} when the dump was taken"),
        Ending::NothingInScope => "nothing to wait for: no stage in scope".into(),
    };
    text.push_str(&format!("\nwait: {ending}\n"));
    text
}
