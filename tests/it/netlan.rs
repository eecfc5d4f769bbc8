//! A throw-away Ethernet LAN made of network namespaces, for tests that need real peers.
//!
//! ```text
//!   ns <id>-br:   br0 ── p0 ── p1 ── …         (bridge, multicast snooping off)
//!                        │     │
//!   ns <id>-h0:  eth0 ───┘     │               10.77.0.1/24  fd77::1/64
//!   ns <id>-h1:  eth0 ─────────┘               10.77.0.2/24  fd77::2/64
//! ```
//!
//! Every name carries the pid and a counter, so tests run in parallel; everything lives in
//! namespaces this helper created (the root namespace only sees `/run/netns/<id>-*`), so no
//! frame ever leaves them. [`Lan`] deletes its namespaces on drop, which also runs on panic.
//! IPv6 duplicate address detection is off (`accept_dad=0`, `nodad`) so addresses are usable
//! at once.
//!
//! Tests call [`Lan::try_new`]; it returns `None` (after printing that the test skipped) only when
//! not root and `CI` is unset. Under CI a non-root run fails instead of passing silently.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The IPv4 subnet every LAN uses inside its own namespaces.
pub const V4_PREFIX: &str = "10.77.0";
/// The IPv6 /64 every LAN uses inside its own namespaces (ULA).
pub const V6_PREFIX: &str = "fd77::";

/// True when the current process runs as root (uid 0).
pub fn is_root() -> bool {
    // SAFETY: getuid never fails and has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// Decides whether a netns test may run. Panics when it cannot run under CI.
pub fn can_run(test: &str) -> bool {
    if is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: needs root to build network namespaces, and CI is set: failing");
    }
    // Straight to the stderr handle: libtest would swallow eprintln! of a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: needs root for network namespaces (CI is unset)"
    );
    false
}

/// One host of the LAN: its own namespace with `eth0` on the bridge.
#[derive(Debug, Clone)]
pub struct Host {
    /// The short name the test gave it ("client", "a", …).
    pub name: String,
    /// The namespace name (`ip netns exec <ns>`).
    pub ns: String,
    /// Its interface on the LAN.
    pub ifname: String,
    pub mac: String,
    pub ipv4: Ipv4Addr,
    pub ipv6: Ipv6Addr,
    /// Its IPv6 link-local address.
    pub link_local: Ipv6Addr,
}

/// A LAN of namespaces on one bridge.
pub struct Lan {
    pub id: String,
    pub bridge_ns: String,
    hosts: Vec<Host>,
    by_name: HashMap<String, usize>,
}

/// Runs a command and returns its output; panics with stderr when it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn ip(args: &[&str]) -> Output {
    run_ok(Command::new("ip").args(args))
}

impl Lan {
    /// Builds a LAN with one host per name (host i gets 10.77.0.(i+1) and fd77::(i+1)), or
    /// returns None when the test must skip (see [`can_run`]).
    pub fn try_new(test: &str, hosts: &[&str]) -> Option<Lan> {
        if !can_run(test) {
            return None;
        }
        Some(Lan::new(hosts))
    }

    /// Builds the LAN; panics on failure (after tearing down what was built).
    pub fn new(hosts: &[&str]) -> Lan {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("lbt{}-{n}", std::process::id());
        let mut lan = Lan {
            bridge_ns: format!("{id}-br"),
            id,
            hosts: Vec::new(),
            by_name: HashMap::new(),
        };
        // `lan` is dropped (and cleans up) if anything below panics.
        lan.add_ns(&lan.bridge_ns.clone());
        lan.ns_ip(
            &lan.bridge_ns.clone(),
            &[
                "link",
                "add",
                "br0",
                "type",
                "bridge",
                "mcast_snooping",
                "0",
                "forward_delay",
                "0",
                "stp_state",
                "0",
            ],
        );
        lan.ns_ip(&lan.bridge_ns.clone(), &["link", "set", "br0", "up"]);
        for name in hosts {
            lan.add_host(name);
        }
        lan
    }

    fn add_ns(&self, ns: &str) {
        ip(&["netns", "add", ns]);
        let sysctls = [
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
            // Router solicitations and MLD reports would only add noise to captures.
            "net.ipv6.conf.default.router_solicitations=0",
        ];
        for s in sysctls {
            run_ok(Command::new("ip").args(["netns", "exec", ns, "sysctl", "-qw", s]));
        }
        self.ns_ip(ns, &["link", "set", "lo", "up"]);
    }

    fn ns_ip(&self, ns: &str, args: &[&str]) -> Output {
        let mut full = vec!["-n", ns];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// Adds a host on the bridge and returns it.
    pub fn add_host(&mut self, name: &str) -> Host {
        assert!(!self.by_name.contains_key(name), "host {name} exists");
        let i = self.hosts.len();
        let ns = format!("{}-{name}", self.id);
        self.add_ns(&ns);
        let port = format!("p{i}");
        let br = self.bridge_ns.clone();
        self.ns_ip(
            &br,
            &[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ],
        );
        self.ns_ip(&br, &["link", "set", &port, "master", "br0", "up"]);
        let ipv4: Ipv4Addr = format!("{V4_PREFIX}.{}", i + 1).parse().expect("v4");
        let ipv6: Ipv6Addr = format!("{V6_PREFIX}{:x}", i + 1).parse().expect("v6");
        self.ns_ip(&ns, &["addr", "add", &format!("{ipv4}/24"), "dev", "eth0"]);
        self.ns_ip(
            &ns,
            &["addr", "add", &format!("{ipv6}/64"), "dev", "eth0", "nodad"],
        );
        self.ns_ip(&ns, &["link", "set", "eth0", "up"]);
        let mac = self.read_mac(&ns, "eth0");
        let link_local = self.wait_link_local(&ns, "eth0");
        let host = Host {
            name: name.to_string(),
            ns,
            ifname: "eth0".to_string(),
            mac,
            ipv4,
            ipv6,
            link_local,
        };
        self.by_name.insert(name.to_string(), i);
        self.hosts.push(host.clone());
        host
    }

    fn read_mac(&self, ns: &str, dev: &str) -> String {
        let out = self.ns_ip(ns, &["-br", "link", "show", "dev", dev]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .nth(2)
            .unwrap_or_else(|| panic!("no MAC in {text:?}"))
            .to_lowercase()
    }

    fn wait_link_local(&self, ns: &str, dev: &str) -> Ipv6Addr {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = self.ns_ip(
                ns,
                &["-6", "-o", "addr", "show", "dev", dev, "scope", "link"],
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let found = text
                .split_whitespace()
                .skip_while(|w| *w != "inet6")
                .nth(1)
                .and_then(|a| a.split('/').next())
                .and_then(|a| a.parse().ok());
            // "tentative" would mean DAD still runs, which accept_dad=0 should prevent.
            if let Some(a) = found.filter(|_| !text.contains("tentative")) {
                return a;
            }
            assert!(
                Instant::now() < deadline,
                "no link-local on {ns}/{dev}: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The host with this name.
    pub fn host(&self, name: &str) -> &Host {
        let i = self
            .by_name
            .get(name)
            .unwrap_or_else(|| panic!("no host {name}"));
        &self.hosts[*i]
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// A `Command` that runs `program args…` inside `host`'s namespace.
    pub fn command(&self, host: &str, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.host(host).ns, program])
            .args(args);
        c
    }

    /// Runs a command in `host`'s namespace and returns its output, whatever the exit status.
    pub fn exec(&self, host: &str, program: &str, args: &[&str]) -> Output {
        self.command(host, program, args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program} in {host}: {e}"))
    }

    /// Runs a command in `host`'s namespace and panics unless it succeeds.
    pub fn exec_ok(&self, host: &str, program: &str, args: &[&str]) -> Output {
        run_ok(self.command(host, program, args).stdin(Stdio::null()))
    }

    /// Runs `ip ARGS` in `host`'s namespace (panics on failure).
    pub fn ip(&self, host: &str, args: &[&str]) -> Output {
        self.ns_ip(&self.host(host).ns.clone(), args)
    }

    /// Adds an address (CIDR) to `host`'s eth0; IPv6 ones without DAD.
    pub fn add_addr(&self, host: &str, cidr: &str) {
        let mut args = vec!["addr", "add", cidr, "dev", "eth0"];
        if cidr.contains(':') {
            args.push("nodad");
        }
        self.ip(host, &args);
    }

    /// Removes an address (CIDR) from `host`'s eth0.
    pub fn del_addr(&self, host: &str, cidr: &str) {
        self.ip(host, &["addr", "del", cidr, "dev", "eth0"]);
    }

    /// Starts a long-running command in `host`'s namespace; it is killed when the handle drops.
    pub fn spawn(&self, host: &str, program: &str, args: &[&str]) -> Spawned {
        let child = self
            .command(host, program, args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {program} in {host}: {e}"));
        Spawned::new(child)
    }

    /// Starts `tcpdump -i eth0 -n -e -l FILTER` in `host`'s namespace and waits until it
    /// listens, so nothing sent afterwards is missed.
    pub fn tcpdump(&self, host: &str, filter: &[&str]) -> Capture {
        let mut args = vec!["-i", "eth0", "-n", "-e", "-l", "-U"];
        args.extend_from_slice(filter);
        let mut sp = self.spawn(host, "tcpdump", &args);
        let stderr = sp
            .child
            .as_mut()
            .and_then(|c| c.stderr.take())
            .expect("tcpdump stderr");
        let mut reader = BufReader::new(stderr);
        let mut line = String::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            line.clear();
            let n = reader.read_line(&mut line).unwrap_or(0);
            if line.contains("listening on") {
                break;
            }
            assert!(
                n > 0 && Instant::now() < deadline,
                "tcpdump in {host} did not start: {line}"
            );
        }
        Capture {
            proc: sp,
            _stderr: reader,
        }
    }

    /// Runs `f` on a thread that has entered `host`'s network namespace (for raw sockets
    /// opened from the test itself). Nothing else in the process changes namespace.
    pub fn in_netns<T: Send + 'static>(
        &self,
        host: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let path = PathBuf::from("/run/netns").join(&self.host(host).ns);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path)
                .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
            // SAFETY: a valid namespace fd; setns only affects this (fresh) thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace destroys its veth ends, and with them their peers.
        let mut all: Vec<String> = self.hosts.iter().map(|h| h.ns.clone()).collect();
        all.push(self.bridge_ns.clone());
        for ns in all {
            let _ = Command::new("ip")
                .args(["netns", "del", &ns])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A child process started by [`Lan::spawn`]; killed and reaped on drop. Its stdout is
/// drained from the start, so a chatty process (tcpdump during a burst) never blocks on a full
/// pipe and drops what it should have printed.
pub struct Spawned {
    child: Option<Child>,
    stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Spawned {
    fn new(mut child: Child) -> Spawned {
        let stdout = child.stdout.take().map(|mut out| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = std::io::Read::read_to_end(&mut out, &mut buf);
                buf
            })
        });
        Spawned {
            child: Some(child),
            stdout,
        }
    }

    /// Reaps the child and returns its output with the drained stdout.
    fn finish(&mut self, child: Child) -> Output {
        let mut out = child.wait_with_output().expect("wait");
        if let Some(t) = self.stdout.take() {
            out.stdout = t.join().unwrap_or_default();
        }
        out
    }

    /// Waits for the process to exit and returns its output.
    pub fn wait(mut self) -> Output {
        let child = self.child.take().expect("child");
        self.finish(child)
    }

    /// Waits at most `timeout`; kills it after that. Returns the output and whether it exited
    /// by itself.
    pub fn wait_timeout(mut self, timeout: Duration) -> (Output, bool) {
        let mut child = self.child.take().expect("child");
        let deadline = Instant::now() + timeout;
        let mut exited = false;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if !exited {
            let _ = child.kill();
        }
        (self.finish(child), exited)
    }

    /// Sends SIGTERM (then waits) and returns the output.
    pub fn terminate(mut self) -> Output {
        let child = self.child.take().expect("child");
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: signalling our own child by its pid.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        self.finish(child)
    }

    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A running tcpdump (see [`Lan::tcpdump`]).
pub struct Capture {
    proc: Spawned,
    // Kept open so tcpdump's exit statistics never hit a closed pipe.
    _stderr: BufReader<std::process::ChildStderr>,
}

impl Capture {
    /// Stops the capture and returns the decoded lines it printed.
    pub fn stop(self) -> String {
        // Give the kernel a moment to hand over frames sent just before.
        std::thread::sleep(Duration::from_millis(100));
        let out = self.proc.terminate();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
