//! Loopback proxies of our own. [`FaultProxy`] stands in front of the API server and can be taken
//! down: it then resets every open connection and every new one, as a client sees an API server
//! that restarts or a load balancer that loses it. [`ConnectProxy`] is an HTTP CONNECT proxy, as
//! corporate networks put between kubectl and clusters, and counts the tunnels it opened. TLS
//! passes through both untouched (the serving certificate is for 127.0.0.1, whatever the port).

use std::io::{BufRead, BufReader, Write, copy};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::harness::Result;

pub(crate) struct FaultProxy {
    pub url: String,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl FaultProxy {
    /// Starts forwarding 127.0.0.1:<new port> to `target` (`host:port`).
    pub(crate) fn start(target: &str) -> Result<FaultProxy> {
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
    pub(crate) fn take_down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Closes every open connection, as a load balancer or the server's timeouts do, and stays up
    /// for new ones; returns how many connections it closed.
    pub(crate) fn cut(&self) -> usize {
        let open: Vec<TcpStream> = self.open.lock().unwrap().drain(..).collect();
        for stream in &open {
            let _ = stream.shutdown(Shutdown::Both);
        }
        open.len() / 2
    }

    pub(crate) fn restore(&self) {
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

/// An HTTP CONNECT proxy on 127.0.0.1 that tunnels to any address asked and counts the tunnels.
pub(crate) struct ConnectProxy {
    pub url: String,
    tunnels: Arc<AtomicUsize>,
}

impl ConnectProxy {
    pub(crate) fn start() -> Result<ConnectProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("proxy: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let tunnels = Arc::new(AtomicUsize::new(0));
        let counted = tunnels.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let counted = counted.clone();
                thread::spawn(move || {
                    let _ = tunnel(client, &counted);
                });
            }
        });
        Ok(ConnectProxy { url: format!("http://127.0.0.1:{port}"), tunnels })
    }

    pub(crate) fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }
}

/// `CONNECT host:port HTTP/1.1`, headers, an empty line; then `200` and bytes both ways.
fn tunnel(client: TcpStream, counted: &AtomicUsize) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    let mut words = request.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        return (&client).write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
    };
    let server = TcpStream::connect(target)?;
    (&client).write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    counted.fetch_add(1, Ordering::SeqCst);
    forward(client.try_clone()?, server.try_clone()?);
    forward(server, client);
    Ok(())
}
