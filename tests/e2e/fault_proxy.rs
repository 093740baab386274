//! A loopback TCP proxy of our own in front of the API server, which the tests can take down: it
//! then resets every open connection and every new one, as a client sees an API server that
//! restarts or a load balancer that loses it. TLS passes through untouched (the serving
//! certificate is for 127.0.0.1, whatever the port).

use std::io::copy;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::harness::Result;

pub struct FaultProxy {
    pub url: String,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl FaultProxy {
    /// Starts forwarding 127.0.0.1:<new port> to `target` (`host:port`).
    pub fn start(target: &str) -> Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("proxy: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (accept_up, accept_open, target) = (up.clone(), open.clone(), target.to_string());
        // Lives as long as the test process; each connection costs two copying threads.
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !accept_up.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let pipes = (client.try_clone(), server.try_clone());
                let (Ok(client_out), Ok(server_in)) = pipes else { continue };
                {
                    let mut open = accept_open.lock().unwrap();
                    open.extend([client.try_clone(), server.try_clone()].into_iter().flatten());
                }
                forward(client, server_in);
                forward(server, client_out);
            }
        });
        Ok(FaultProxy { url: format!("https://127.0.0.1:{port}"), up, open })
    }

    /// Resets every open connection and, until [`FaultProxy::restore`], every new one.
    pub fn take_down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// Copies `from` into `to` until either side closes, then closes both directions.
fn forward(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let _ = copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
