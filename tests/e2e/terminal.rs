//! The plugin's controlling terminal, as the tests set it: none (every run, so that a developer's
//! terminal never answers a question), or a pseudo-terminal of the test's own that types an answer.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Output;
use crate::harness::Result;

/// How long the plugin may take to ask (it plans and checks every write first).
const QUESTION_TIMEOUT: Duration = Duration::from_secs(120);

/// `command` in a session of its own: it has no controlling terminal, as under CI or cron.
pub fn without_terminal(mut command: Command) -> Command {
    // SAFETY: setsid is async-signal-safe, the only kind of call allowed between fork and exec.
    unsafe {
        command.pre_exec(|| if libc::setsid() < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) });
    }
    command
}

/// Runs `command` with a new pseudo-terminal as its controlling terminal (stdin from /dev/null,
/// stdout and stderr piped); once `[y/N]` shows on the terminal, types `answer` and Enter.
pub fn answer_at_terminal(mut command: Command, answer: &str) -> Result<(Output, String)> {
    let (mut master_fd, mut slave_fd) = (0, 0);
    // SAFETY: openpty writes the two descriptors it opens; the null arguments are optional.
    let opened = unsafe {
        libc::openpty(&mut master_fd, &mut slave_fd, std::ptr::null_mut(), std::ptr::null(), std::ptr::null())
    };
    if opened != 0 {
        return Err(format!("openpty: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: both descriptors were just opened by openpty and are owned here alone.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master_fd), OwnedFd::from_raw_fd(slave_fd)) };
    let slave_raw = slave.as_raw_fd();
    // SAFETY: setsid and ioctl are async-signal-safe. The child keeps the slave open for its life,
    // so that the terminal's other end is not hung up (EIO on the master) before it opens /dev/tty.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(slave_raw, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run kubectl-fluxjobs: {e}"))?;
    drop(slave);
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
