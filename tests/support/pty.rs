//! The terminals the tests run the plugin with, without unsafe code: a pseudo-terminal from nix's
//! safe `openpty`, and a session of the plugin's own from util-linux `setsid(1)` (a process of the
//! tests' own cannot call setsid between fork and exec without `unsafe`).

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::process::Command;

/// A new pseudo-terminal: its controlling side and the terminal side a program uses.
pub(crate) fn open() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let pty = nix::pty::openpty(None, None).map_err(std::io::Error::from)?;
    Ok((pty.master, pty.slave))
}

/// `program` in a session of its own: it has no controlling terminal, as under CI or cron.
pub(crate) fn without_terminal(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new("setsid");
    command.arg(program);
    command
}

/// `program` in a session of its own whose controlling terminal is the terminal given as the
/// command's stdin (`setsid --ctty`); the program itself reads stdin from /dev/null. The terminal's
/// descriptors stay open in it for its life (openpty's are not close-on-exec), so the other end is
/// not hung up before it opens /dev/tty.
pub(crate) fn at_terminal_on_stdin(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new("setsid");
    command.args(["--ctty", "sh", "-c", "exec \"$@\" </dev/null", "sh"]).arg(program);
    command
}
