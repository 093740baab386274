//! The plugin's controlling terminal, as the tests set it: none (every run, so that a developer's
//! terminal never answers a question), or a pseudo-terminal of the test's own that types an answer.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Output;
use crate::harness::Result;
use crate::pty;

/// How long the plugin may take to ask (it plans and checks every write first).
const QUESTION_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `command` (made by [`pty::at_terminal_on_stdin`]) with a new pseudo-terminal as its
/// controlling terminal (stdout and stderr piped); once `[y/N]` shows on the terminal, types
/// `answer` and Enter.
pub(crate) fn answer_at_terminal(mut command: Command, answer: &str) -> Result<(Output, String)> {
    let (master, slave) = pty::open().map_err(|e| format!("openpty: {e}"))?;
    command.stdin(Stdio::from(slave));
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run kubectl-fluxjobs: {e}"))?;
    // The plugin holds the terminal now: this side's copy of it goes with the command.
    drop(command);
    let shown = Arc::new(Mutex::new(Vec::new()));
    let mut reader = std::fs::File::from(master.try_clone().map_err(|e| e.to_string())?);
    let reading = {
        let shown = shown.clone();
        // Reads until every descriptor of the terminal's other end is closed (EIO): the plugin exited.
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                shown.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let start = Instant::now();
    let mut child = child;
    let asked = loop {
        if String::from_utf8_lossy(&shown.lock().unwrap()).contains("[y/N]") {
            break true;
        }
        if child.try_wait().map_err(|e| e.to_string())?.is_some() || start.elapsed() > QUESTION_TIMEOUT {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if asked {
        let mut typing = std::fs::File::from(master);
        typing.write_all(format!("{answer}\n").as_bytes()).map_err(|e| format!("cannot type the answer: {e}"))?;
    } else {
        let _ = child.kill();
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let _ = reading.join();
    let shown = String::from_utf8_lossy(&shown.lock().unwrap()).into_owned();
    Ok((Output::of(&out), shown))
}
