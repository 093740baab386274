//! `status --watch -o json` run as a user runs it: its documents and its stderr lines collected as
//! they come, so scenarios can wait for a change and then assert everything it printed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::Result;

pub(crate) struct Watching {
    child: std::process::Child,
    documents: Receiver<Value>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Watching {
    /// `kubectl fluxjobs status -n NS --watch -o json --logs 0` with this kubeconfig.
    pub(crate) fn start(kubeconfig: &Path, ns: &str) -> Result<Watching> {
        Watching::start_args(kubeconfig, &["status", "-n", ns, "--watch", "-o", "json", "--logs", "0"])
    }

    /// The plugin with these arguments (a `status --watch -o json`) and this kubeconfig.
    pub(crate) fn start_args(kubeconfig: &Path, args: &[&str]) -> Result<Watching> {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-fluxjobs"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let (docs, documents) = channel::<Value>();
        std::thread::spawn(move || {
            for doc in serde_json::Deserializer::from_reader(BufReader::new(stdout)).into_iter::<Value>() {
                if doc.map(|d| docs.send(d)).is_err() {
                    return;
                }
            }
        });
        let lines = Arc::new(Mutex::new(Vec::new()));
        let collected = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                collected.lock().unwrap().push(line);
            }
        });
        Ok(Watching { child, documents, lines })
    }

    /// The next document, within `timeout`.
    pub(crate) fn next(&self, timeout: Duration, what: &str) -> Result<Value> {
        self.documents.recv_timeout(timeout).map_err(|e| format!("no document {what}: {e}"))
    }

    /// Documents until one satisfies `done` (returned), within `timeout`; `each` sees every one.
    pub(crate) fn until(
        &self,
        timeout: Duration,
        what: &str,
        mut each: impl FnMut(&Value) -> Result<()>,
        done: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let doc = self.next(left, what)?;
            each(&doc)?;
            if done(&doc) {
                return Ok(doc);
            }
        }
    }

    /// What it printed on stderr so far.
    pub(crate) fn stderr(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
