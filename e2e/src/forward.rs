//! A TCP forwarder from an address pods reach to a server on this machine's loopback: the test
//! PostgreSQL server listens on 127.0.0.1 only, and a release on the testbed's node reaches it
//! through [`TcpForward`] on the host end of the node's veth pair ([`crate::testbed::host_address`]).
//! Bytes are copied unchanged both ways; the server sees connections from 127.0.0.1.

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use anyhow::{Context, Result};

/// A running forwarder; stops accepting when dropped (open connections end with their peers).
pub struct TcpForward {
    /// Where it listens, `host:port`.
    pub addr: String,
    stopped: Arc<AtomicBool>,
}

impl TcpForward {
    /// Listens on a free port of `host` and forwards every connection to `target` (`host:port`).
    pub fn start(host: &str, target: &str) -> Result<TcpForward> {
        let listener = TcpListener::bind((host, 0))
            .with_context(|| format!("cannot listen on {host} to forward to {target}"))?;
        let addr = listener.local_addr()?.to_string();
        let stopped = Arc::new(AtomicBool::new(false));
        let target = target.to_owned();
        let stop = stopped.clone();
        thread::spawn(move || {
            for incoming in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = incoming else { continue };
                let target = target.clone();
                thread::spawn(move || {
                    if let Ok(server) = TcpStream::connect(&target) {
                        let _ = pipe(client, server);
                    }
                });
            }
        });
        Ok(TcpForward { addr, stopped })
    }

    /// The port it listens on.
    pub fn port(&self) -> &str {
        self.addr.rsplit_once(':').map_or("", |(_, p)| p)
    }
}

/// Copies both ways until either side closes.
fn pipe(client: TcpStream, server: TcpStream) -> io::Result<()> {
    let (mut client_read, mut server_write) = (client.try_clone()?, server.try_clone()?);
    let upstream = thread::spawn(move || {
        let _ = io::copy(&mut client_read, &mut server_write);
        let _ = server_write.shutdown(Shutdown::Write);
    });
    let (mut server_read, mut client_write) = (server, client);
    let _ = io::copy(&mut server_read, &mut client_write);
    let _ = client_write.shutdown(Shutdown::Write);
    let _ = upstream.join();
    Ok(())
}

impl Drop for TcpForward {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
    }
}
