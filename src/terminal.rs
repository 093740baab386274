//! Terminal conventions: when to colour, where diagnostics go (stderr; stdout carries only data),
//! and text from the cluster made inert before it reaches a terminal.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use owo_colors::OwoColorize;

use crate::cli::ColorChoice;

tokio::task_local! {
    /// Where a command's output goes while `mcp` runs it for a tool call ([`capture`]).
    static TRANSCRIPT: Arc<Mutex<Transcript>>;
}

/// Set by `mcp`: stdout carries the protocol, so data printed outside a [`capture`] goes to stderr.
static STDOUT_IS_PROTOCOL: AtomicBool = AtomicBool::new(false);

/// What a command printed while captured: its data (stdout) and its progress and warnings (stderr),
/// one line each, made inert.
#[derive(Clone, Debug, Default)]
pub struct Transcript {
    pub data: String,
    pub lines: Vec<String>,
}

/// Runs `work` with everything it prints kept in a [`Transcript`] instead of written out; a
/// question finds no terminal. Tasks it spawns print as usual.
pub async fn capture<T>(work: impl Future<Output = T>) -> (T, Transcript) {
    let transcript = Arc::new(Mutex::new(Transcript::default()));
    let out = TRANSCRIPT.scope(transcript.clone(), work).await;
    let transcript = transcript.lock().map(|t| t.clone()).unwrap_or_default();
    (out, transcript)
}

/// Reserves stdout for a protocol: from now on only [`capture`]d output reaches a caller.
pub fn reserve_stdout() {
    STDOUT_IS_PROTOCOL.store(true, Ordering::Relaxed);
}

/// Keeps a line in the current transcript; false when nothing is captured.
fn captured_line(line: String) -> bool {
    TRANSCRIPT.try_with(|t| t.lock().map(|mut t| t.lines.push(line)).is_ok()).unwrap_or(false)
}

/// Colour on stdout: `--color always|never` wins; `auto` colours only a terminal, and never when
/// `NO_COLOR` is set to a non-empty value (no-color.org) or `TERM=dumb`.
pub fn stdout_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => auto_color() && std::io::stdout().is_terminal(),
    }
}

fn auto_color() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    !no_color && !dumb
}

/// Cluster text (event, condition and termination messages, log lines: written by whoever runs a
/// workload or may create Events) in a visible, inert form, so that it cannot move the cursor,
/// clear the screen, set the title or recolour what follows (the class of kubectl's
/// CVE-2021-25743). As kubectl's `printers.EscapeTerminal` (k8s.io/cli-runtime pkg/printers/terminal.go)
/// ESC becomes `^[` and CR `\r`; further, LF becomes `\n` (a message cannot forge the next line),
/// other C0 controls and DEL caret notation (`^G`, `^?`), and C1 controls and bidirectional
/// overrides `<U+XXXX>`. Tabs stay. JSON and YAML need none of this: their encoders escape.
pub fn inert(text: &str) -> Cow<'_, str> {
    let unsafe_char =
        |c: char| (c.is_control() && c != '\t') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.contains(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push(c),
            '\u{0}'..='\u{1f}' => {
                out.push('^');
                out.push(char::from(c as u8 + b'@'));
            }
            '\u{7f}' => out.push_str("^?"),
            c if unsafe_char(c) => {
                let _ = write!(out, "<U+{:04X}>", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Where a read says what it could not do, one line each: stderr, or a list said later. `Send`, so
/// that reads of several clusters run on threads of their own.
pub type Warn<'a> = dyn FnMut(String) + Send + 'a;

/// A warning on stderr.
pub fn warn(message: &str) {
    if captured_line(format!("warning: {}", inert(message))) {
        return;
    }
    let label = if auto_color() && std::io::stderr().is_terminal() {
        "warning:".yellow().bold().to_string()
    } else {
        "warning:".to_string()
    };
    let _ = writeln!(std::io::stderr(), "{label} {}", inert(message));
}

/// Writes data to stdout; a closed pipe (`| head`) is not an error.
pub fn print_data(text: &str) -> std::io::Result<()> {
    match write_data(|out| out.write_all(text.as_bytes())) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Streams data to stdout through a buffer; a closed pipe (`| head`) is not an error.
pub fn write_data<E>(write: impl FnOnce(&mut dyn Write) -> Result<(), E>) -> Result<(), E>
where
    E: From<std::io::Error> + BrokenPipe,
{
    if let Ok(transcript) = TRANSCRIPT.try_with(Arc::clone) {
        let mut data = Vec::new();
        write(&mut data)?;
        if let Ok(mut transcript) = transcript.lock() {
            transcript.data.push_str(&String::from_utf8_lossy(&data));
        }
        return Ok(());
    }
    if STDOUT_IS_PROTOCOL.load(Ordering::Relaxed) {
        return write(&mut std::io::stderr().lock());
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let result = write(&mut out).and_then(|()| out.flush().map_err(E::from));
    match result {
        Err(e) if e.is_broken_pipe() => Ok(()),
        other => other,
    }
}

/// Errors that may be a closed stdout pipe.
pub trait BrokenPipe {
    fn is_broken_pipe(&self) -> bool;
}

impl BrokenPipe for std::io::Error {
    fn is_broken_pipe(&self) -> bool {
        self.kind() == std::io::ErrorKind::BrokenPipe
    }
}

/// What a progress step is, shown with the flux CLI's glyphs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Glyph {
    /// `►` something starts.
    Action,
    /// `✔` it succeeded.
    Done,
    /// `◎` waiting, or what a dry run would do.
    Waiting,
    /// `✗` it failed.
    Failed,
}

impl Glyph {
    fn text(self) -> &'static str {
        match self {
            Glyph::Action => "►",
            Glyph::Done => "✔",
            Glyph::Waiting => "◎",
            Glyph::Failed => "✗",
        }
    }
}

/// One progress step on stderr, coloured on a terminal.
pub fn step(glyph: Glyph, message: &str) {
    let text = glyph.text();
    if captured_line(format!("{text} {}", inert(message))) {
        return;
    }
    let glyph = if auto_color() && std::io::stderr().is_terminal() {
        match glyph {
            Glyph::Done => text.green().to_string(),
            Glyph::Failed => text.red().to_string(),
            Glyph::Waiting => text.yellow().to_string(),
            Glyph::Action => text.cyan().to_string(),
        }
    } else {
        text.to_string()
    };
    let _ = writeln!(std::io::stderr(), "{glyph} {}", inert(message));
}

/// The answer to a yes/no question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    /// No terminal is attached to ask on (a CI job, cron, a pipe from another program).
    NoTerminal,
}

/// Asks a yes/no question on the controlling terminal, whatever stdin, stdout and stderr are
/// (`rerun ... 2>&1 | tee log` still asks): `/dev/tty` on Unix, the console on Windows. `Yes` only
/// when the answer starts with y.
pub fn confirm(question: &str) -> Answer {
    if TRANSCRIPT.try_with(|_| ()).is_ok() {
        return Answer::NoTerminal;
    }
    let Ok((input, mut output)) = controlling_terminal() else { return Answer::NoTerminal };
    if write!(output, "{question} [y/N] ").and_then(|()| output.flush()).is_err() {
        return Answer::NoTerminal;
    }
    let mut answer = String::new();
    match std::io::BufReader::new(input).read_line(&mut answer) {
        Ok(_) if answer.trim_start().to_lowercase().starts_with('y') => Answer::Yes,
        Ok(_) => Answer::No,
        Err(_) => Answer::NoTerminal,
    }
}

/// The terminal to read an answer from and write a question to.
#[cfg(not(windows))]
fn controlling_terminal() -> std::io::Result<(std::fs::File, std::fs::File)> {
    let tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    Ok((tty.try_clone()?, tty))
}

#[cfg(windows)]
fn controlling_terminal() -> std::io::Result<(std::fs::File, std::fs::File)> {
    let input = std::fs::OpenOptions::new().read(true).write(true).open("CONIN$")?;
    let output = std::fs::OpenOptions::new().read(true).write(true).open("CONOUT$")?;
    Ok((input, output))
}

/// Colour on stderr, for reports printed there (`rerun --wait` failures).
pub fn stderr_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => auto_color() && std::io::stderr().is_terminal(),
    }
}

/// The terminal's width when stdout is one (`COLUMNS` wins, as for kubectl's own table printer).
pub fn stdout_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(columns);
    }
    terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| w.0 as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_text_cannot_drive_the_terminal() {
        // Title, clear screen, colour: each escape sequence shows as text.
        assert_eq!(inert("\x1b]0;title\x07\x1b[2J\x1b[31mred"), "^[]0;title^G^[[2J^[[31mred");
        // Erase the line above, then forge one.
        assert_eq!(inert("ok\x1b[1A\x1b[2K\r\nfake"), "ok^[[1A^[[2K\\r\\nfake");
        // C1 CSI, DEL, a right-to-left override.
        assert_eq!(inert("a\u{9b}2Jb\u{7f}\u{202e}c"), "a<U+009B>2Jb^?<U+202E>c");
        // Ordinary text, tabs and non-ASCII letters are left alone, without a copy.
        assert!(matches!(inert("exit code 3\tété ✗"), Cow::Borrowed(_)));
    }
}
