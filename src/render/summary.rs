//! `status --summary`'s table.

use comfy_table::{Cell, Color};

use super::{MIN_MESSAGE_WIDTH, RenderOptions, kubectl_table, table_lines, truncate};
use crate::report::Summary;
use crate::terminal::inert;

/// `--summary`'s table: one line per context.
pub(super) fn summary_table(summary: &Summary, o: &RenderOptions) -> String {
    let header = ["CONTEXT", "PIPELINES", "READY", "PROGRESSING", "WAITING", "BLOCKED", "FAILED", "WORST ROOT CAUSE"];
    let rows: Vec<Vec<Cell>> = summary
        .contexts
        .iter()
        .map(|c| {
            let name = Cell::new(inert(c.read.name.as_deref().unwrap_or("-")));
            let count = |n: usize, color: Color| {
                let cell = Cell::new(n);
                if n > 0 { cell.fg(color) } else { cell }
            };
            let mut row = vec![name];
            match &c.counts {
                Some(n) => row.extend([
                    Cell::new(n.pipelines),
                    count(n.ready, Color::Green),
                    count(n.progressing, Color::Cyan),
                    count(n.waiting, Color::Blue),
                    count(n.blocked, Color::Yellow),
                    count(n.failed, Color::Red),
                ]),
                None => row.extend((0..6).map(|_| Cell::new("-"))),
            }
            let message = match (&c.read.error, &c.worst) {
                (Some(error), _) => format!("unreadable: {error}"),
                (None, Some(worst)) => format!("{}: {}", worst.stage.label(""), worst.diagnosis),
                (None, None) => String::new(),
            };
            row.push(Cell::new(inert(&message)));
            row
        })
        .collect();
    let fixed: usize = (0..header.len() - 1)
        .map(|i| {
            let widest = rows.iter().map(|r| r[i].content().chars().count()).max().unwrap_or(0);
            widest.max(header[i].len()) + 3
        })
        .sum();
    let message_width = o.width.map_or(usize::MAX, |w| w.saturating_sub(fixed).max(MIN_MESSAGE_WIDTH));
    let mut table = kubectl_table(o);
    if !o.no_headers {
        table.set_header(header);
    }
    for mut row in rows {
        let message = row.pop().map(|c| c.content()).unwrap_or_default();
        row.push(Cell::new(truncate(&message, message_width)));
        table.add_row(row);
    }
    table_lines(table, header.len())
}
