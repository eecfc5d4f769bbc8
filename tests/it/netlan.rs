//! A throw-away Ethernet LAN made of network namespaces, for tests that need real peers: the
//! library's `lbctl::netns::Lan` (10.77.0.(i+1)/24 and fd77::(i+1)/64 for host i) plus what
//! tests need on top (processes in a host's namespace, tcpdump, threads inside a namespace).
//!
//! Every name carries the pid and a counter, so tests run in parallel; the namespaces are
//! deleted on drop, which also runs on panic.
//!
//! Tests call [`Lan::try_new`]; it returns `None` (after printing that the test skipped) only when
//! not root and `CI` is unset. Under CI a non-root run fails instead of passing silently.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
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

pub use lbctl::netns::is_root;

#[path = "skip.rs"]
pub mod skip_helper;

/// Decides whether a netns test may run. Panics when it cannot run under CI.
pub fn can_run(test: &str) -> bool {
    if is_root() {
        return true;
    }
    skip_helper::skip(test, "needs root for network namespaces");
    false
}

pub use lbctl::netns::Host;

/// A LAN of namespaces on one bridge (see `lbctl::netns`); panics instead of returning errors.
pub struct Lan {
    inner: lbctl::netns::Lan,
}

/// Runs a command and returns its output; panics with stderr when it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    lbctl::netns::run(cmd).unwrap_or_else(|e| panic!("{e}"))
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
        let inner = lbctl::netns::Lan::new(&id, V4_PREFIX, V6_PREFIX)
            .unwrap_or_else(|e| panic!("building LAN {id}: {e}"));
        let mut lan = Lan { inner };
        for name in hosts {
            lan.add_host(name);
        }
        lan
    }

    /// Adds a host on the bridge and returns it.
    pub fn add_host(&mut self, name: &str) -> Host {
        let octet = u8::try_from(self.inner.hosts().len() + 1).expect("at most 254 hosts");
        self.inner
            .add_host(name, octet)
            .unwrap_or_else(|e| panic!("adding host {name}: {e}"))
    }

    /// Adds an address-less interface `ifname` to `host` on the same bridge.
    pub fn add_bare_link(&mut self, host: &str, ifname: &str) -> lbctl::netns::BareLink {
        self.inner
            .add_bare_link(host, ifname)
            .unwrap_or_else(|e| panic!("adding {ifname} to {host}: {e}"))
    }

    /// Takes the carrier away from (or gives it back to) an interface added with
    /// [`Lan::add_bare_link`], by setting its bridge-side peer down (or up).
    pub fn set_carrier(&self, link: &lbctl::netns::BareLink, on: bool) {
        let state = if on { "up" } else { "down" };
        self.inner
            .ns_ip(&self.inner.bridge_ns, &["link", "set", &link.port, state])
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The namespace that holds the bridge (host i's port on it is `p<i>`).
    pub fn bridge_ns(&self) -> &str {
        &self.inner.bridge_ns
    }

    /// The host with this name.
    pub fn host(&self, name: &str) -> &Host {
        self.inner
            .host(name)
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    pub fn hosts(&self) -> &[Host] {
        self.inner.hosts()
    }

    /// A `Command` that runs `program args…` inside `host`'s namespace.
    pub fn command(&self, host: &str, program: &str, args: &[&str]) -> Command {
        lbctl::netns::Lan::command_in(&self.host(host).ns, program, args)
    }

    /// `lbctl serve --no-ipam --announce` for `node` in its namespace, with the lease timings
    /// (duration, renew deadline, retry period), metrics on a free port and its debug socket
    /// `dir/<node>.sock`. The caller sets up stdio and spawns it.
    pub fn serve_announce(
        &self,
        node: &str,
        lbctl: &str,
        kubeconfig: &std::path::Path,
        dir: &std::path::Path,
        timings: [&str; 3],
    ) -> Command {
        let kc = kubeconfig.to_string_lossy();
        let sock = dir.join(format!("{node}.sock"));
        let sock = sock.to_string_lossy();
        self.command(
            node,
            lbctl,
            &[
                "serve",
                "--no-ipam",
                "--announce",
                "--node-name",
                node,
                "--kubeconfig",
                &kc,
                "--lease-duration",
                timings[0],
                "--renew-deadline",
                timings[1],
                "--retry-period",
                timings[2],
                "--metrics-addr",
                "127.0.0.1:0",
                "--debug-socket",
                &sock,
            ],
        )
    }

    /// Responder MACs (lowercase) that `lbctl arp-probe -o json` sees for `ip` from `host`'s
    /// eth0: two requests `interval` apart, answers collected for `timeout`, then a duplicate
    /// window of `dup_window` (all as arp-probe durations, e.g. "50ms").
    pub fn arp_owners(
        &self,
        host: &str,
        lbctl: &str,
        ip: &str,
        [interval, timeout, dup_window]: [&str; 3],
    ) -> Vec<String> {
        let out = self.exec(
            host,
            lbctl,
            &[
                "arp-probe",
                ip,
                "-i",
                "eth0",
                "--count",
                "2",
                "--interval",
                interval,
                "--timeout",
                timeout,
                "--dup-window",
                dup_window,
                "-o",
                "json",
            ],
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["responders"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["mac"].as_str().map(str::to_lowercase))
            .collect()
    }

    /// The rows of `lbctl debug l2-announce -o json` asked of the serve in `host` that listens
    /// on `sock` (`lbctl` is the binary); empty when it does not answer (yet).
    pub fn l2_announce_rows(
        &self,
        host: &str,
        lbctl: &str,
        sock: &std::path::Path,
    ) -> Vec<serde_json::Value> {
        let sock = sock.to_string_lossy();
        let out = self.exec(
            host,
            lbctl,
            &["debug", "l2-announce", "--socket", &sock, "-o", "json"],
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
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
        self.inner
            .ns_ip(&self.host(host).ns, args)
            .unwrap_or_else(|e| panic!("{e}"))
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
