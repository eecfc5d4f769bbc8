//! Peers that keep TCP open but stop talking: a listener that accepts and never answers, and a
//! proxy whose connections can be frozen for good (a hung proxy or load balancer in front of
//! the API server). Plain threads and blocking sockets: the code under test runs in another
//! process.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A kubeconfig whose only cluster is `http://addr`.
pub fn write_kubeconfig(path: &Path, addr: SocketAddr) {
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: default\ncurrent-context: c\nusers:\n- name: u\n  user: {{}}\n"
        ),
    )
    .unwrap();
}

/// Accepts every connection and holds it open without reading or answering; closes them all
/// on drop.
pub struct Silent {
    pub addr: SocketAddr,
    done: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Silent {
    pub fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(Vec::new()));
        let (d, h) = (done.clone(), held.clone());
        std::thread::spawn(move || {
            while !d.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => h.lock().unwrap().push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Silent { addr, done, held }
    }

    pub fn accepted(&self) -> usize {
        self.held.lock().unwrap().len()
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        for s in self.held.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Forwards to `upstream` until [`Proxy::freeze`]; from then on every connection open at that
/// moment stays open but silent forever, and new ones are accepted and never forwarded, until
/// [`Proxy::thaw`]. Connections made after the thaw work again.
pub struct Proxy {
    pub addr: SocketAddr,
    frozen: Arc<AtomicBool>,
    epoch: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let frozen = Arc::new(AtomicBool::new(false));
        let epoch = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (f, e, d) = (frozen.clone(), epoch.clone(), done.clone());
        std::thread::spawn(move || {
            while !d.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let mine = e.load(Ordering::Relaxed);
                let live = {
                    let (f, e, d) = (f.clone(), e.clone(), d.clone());
                    // Frozen at birth: dead for good, like the ones frozen in flight.
                    let dead_at_birth = f.load(Ordering::Relaxed);
                    move || {
                        !d.load(Ordering::Relaxed)
                            && !dead_at_birth
                            && !f.load(Ordering::Relaxed)
                            && e.load(Ordering::Relaxed) == mine
                    }
                };
                let done = d.clone();
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let live = live.clone();
                    let done = done.clone();
                    std::thread::spawn(move || pump(from, to, live, done));
                }
            }
        });
        Proxy {
            addr,
            frozen,
            epoch,
            done,
        }
    }

    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::Relaxed);
    }

    pub fn thaw(&self) {
        self.epoch.fetch_add(1, Ordering::Relaxed);
        self.frozen.store(false, Ordering::Relaxed);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, live: impl Fn() -> bool, done: Arc<AtomicBool>) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 16 * 1024];
    loop {
        if done.load(Ordering::Relaxed) {
            break;
        }
        if !live() {
            // Hold both ends open and say nothing (reading nothing either).
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if !live() {
                    // Swallowed by the hung proxy.
                    continue;
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
