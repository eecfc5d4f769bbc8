//! Throw-away Ethernet LANs made of network namespaces, built with iproute2: one namespace
//! holding a bridge, one namespace per host with `eth0` on it. `lbctl lab demo` builds one (as
//! root) so its VIP is answered by real processes on a real, if virtual, segment; the test
//! suite builds one per test.
//!
//! ```text
//!   ns <id>-br:   br0 ── p0 ── p1 ── …         (bridge, multicast snooping off)
//!                        │     │
//!   ns <id>-a:   eth0 ───┘     │               <v4 prefix>.<octet>/24  <v6 prefix><octet>/64
//!   ns <id>-b:   eth0 ─────────┘
//! ```
//!
//! Everything lives in namespaces this module created (the root namespace only sees
//! `/run/netns/<id>-*`), so no frame leaves them. [`Lan`] deletes its namespaces on drop.
//! IPv6 duplicate address detection is off (`accept_dad=0`, `nodad`) so addresses are usable
//! at once.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("cannot run `{cmd}`: {source} (is iproute2 installed?)")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{cmd}` failed: {stderr}")]
    Failed { cmd: String, stderr: String },
    #[error("{0}")]
    Unexpected(String),
    #[error("cannot enter network namespace {ns}: {source}")]
    Enter {
        ns: String,
        #[source]
        source: std::io::Error,
    },
}

/// True when the process runs as root (uid 0); building namespaces needs it.
pub fn is_root() -> bool {
    // SAFETY: getuid never fails and has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// One host of the LAN: its own namespace with `eth0` on the bridge.
#[derive(Debug, Clone)]
pub struct Host {
    /// The short name it was given ("client", "cp-1", …).
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

/// An extra, address-less interface of a host (see [`Lan::add_bare_link`]).
#[derive(Debug, Clone)]
pub struct BareLink {
    pub mac: String,
    /// Its peer's name in the bridge namespace.
    pub port: String,
}

/// A LAN of namespaces on one bridge.
#[derive(Debug)]
pub struct Lan {
    pub id: String,
    pub bridge_ns: String,
    v4_prefix: String,
    v6_prefix: String,
    hosts: Vec<Host>,
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a command; an error carries its stderr.
pub fn run(cmd: &mut Command) -> Result<Output, NetnsError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| NetnsError::Spawn {
            cmd: describe(cmd),
            source,
        })?;
    if !out.status.success() {
        return Err(NetnsError::Failed {
            cmd: describe(cmd),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

fn ip(args: &[&str]) -> Result<Output, NetnsError> {
    run(Command::new("ip").args(args))
}

impl Lan {
    /// An empty LAN (just the bridge). `id` prefixes every namespace name and must be unique
    /// on the machine; `v4_prefix` is the first three octets of the hosts' /24 ("10.77.0"),
    /// `v6_prefix` the start of their /64 ("fd77::").
    pub fn new(id: &str, v4_prefix: &str, v6_prefix: &str) -> Result<Lan, NetnsError> {
        let mut lan = Lan {
            id: id.to_string(),
            bridge_ns: format!("{id}-br"),
            v4_prefix: v4_prefix.to_string(),
            v6_prefix: v6_prefix.to_string(),
            hosts: Vec::new(),
        };
        // From here on, `lan` is dropped (and cleans up) on any error.
        let br = lan.bridge_ns.clone();
        lan.add_ns(&br)?;
        lan.ns_ip(
            &br,
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
        )?;
        lan.ns_ip(&br, &["link", "set", "br0", "up"])?;
        Ok(lan)
    }

    fn add_ns(&mut self, ns: &str) -> Result<(), NetnsError> {
        ip(&["netns", "add", ns])?;
        let sysctls = [
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
            // Router solicitations and MLD reports would only add noise to captures.
            "net.ipv6.conf.default.router_solicitations=0",
        ];
        for s in sysctls {
            run(Command::new("ip").args(["netns", "exec", ns, "sysctl", "-qw", s]))?;
        }
        self.ns_ip(ns, &["link", "set", "lo", "up"])?;
        Ok(())
    }

    /// Runs `ip -n NS ARGS`.
    pub fn ns_ip(&self, ns: &str, args: &[&str]) -> Result<Output, NetnsError> {
        let mut full = vec!["-n", ns];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// Adds a host on the bridge with addresses `<v4 prefix>.<octet>/24` and
    /// `<v6 prefix><octet in hex>/64`, and returns it.
    pub fn add_host(&mut self, name: &str, octet: u8) -> Result<Host, NetnsError> {
        if self.host(name).is_some() {
            return Err(NetnsError::Unexpected(format!("host {name} exists")));
        }
        let ns = format!("{}-{name}", self.id);
        let ipv4: Ipv4Addr = format!("{}.{octet}", self.v4_prefix)
            .parse()
            .map_err(|e| NetnsError::Unexpected(format!("IPv4 address for {name}: {e}")))?;
        let ipv6: Ipv6Addr = format!("{}{octet:x}", self.v6_prefix)
            .parse()
            .map_err(|e| NetnsError::Unexpected(format!("IPv6 address for {name}: {e}")))?;
        // Recorded before it exists, so Drop deletes a half-built host too.
        self.hosts.push(Host {
            name: name.to_string(),
            ns: ns.clone(),
            ifname: "eth0".to_string(),
            mac: String::new(),
            ipv4,
            ipv6,
            link_local: Ipv6Addr::UNSPECIFIED,
        });
        self.add_ns(&ns)?;
        let port = format!("p{}", self.hosts.len() - 1);
        let br = self.bridge_ns.clone();
        self.ns_ip(
            &br,
            &[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ],
        )?;
        self.ns_ip(&br, &["link", "set", &port, "master", "br0", "up"])?;
        self.ns_ip(&ns, &["addr", "add", &format!("{ipv4}/24"), "dev", "eth0"])?;
        self.ns_ip(
            &ns,
            &["addr", "add", &format!("{ipv6}/64"), "dev", "eth0", "nodad"],
        )?;
        self.ns_ip(&ns, &["link", "set", "eth0", "up"])?;
        let mac = self.read_mac(&ns, "eth0")?;
        let link_local = self.wait_link_local(&ns, "eth0")?;
        let host = self.hosts.last_mut().expect("pushed above");
        host.mac = mac;
        host.link_local = link_local;
        Ok(host.clone())
    }

    /// Adds a second interface `ifname` to `host`, on the same bridge, with no address at all
    /// (IPv6 off, so not even a link-local one). Returns its MAC and the bridge-side port name,
    /// whose `link set PORT down` takes the interface's carrier away.
    pub fn add_bare_link(&mut self, host: &str, ifname: &str) -> Result<BareLink, NetnsError> {
        let i = self
            .hosts
            .iter()
            .position(|h| h.name == host)
            .ok_or_else(|| NetnsError::Unexpected(format!("no host {host}")))?;
        let ns = self.hosts[i].ns.clone();
        let port = format!("p{i}{ifname}");
        let br = self.bridge_ns.clone();
        self.ns_ip(
            &br,
            &[
                "link", "add", &port, "type", "veth", "peer", "name", ifname, "netns", &ns,
            ],
        )?;
        self.ns_ip(&br, &["link", "set", &port, "master", "br0", "up"])?;
        run(Command::new("ip").args([
            "netns",
            "exec",
            &ns,
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{ifname}.disable_ipv6=1"),
        ]))?;
        self.ns_ip(&ns, &["link", "set", ifname, "up"])?;
        Ok(BareLink {
            mac: self.read_mac(&ns, ifname)?,
            port,
        })
    }

    fn read_mac(&self, ns: &str, dev: &str) -> Result<String, NetnsError> {
        let out = self.ns_ip(ns, &["-br", "link", "show", "dev", dev])?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .nth(2)
            .map(str::to_lowercase)
            .ok_or_else(|| NetnsError::Unexpected(format!("no MAC in {text:?}")))
    }

    fn wait_link_local(&self, ns: &str, dev: &str) -> Result<Ipv6Addr, NetnsError> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = self.ns_ip(
                ns,
                &["-6", "-o", "addr", "show", "dev", dev, "scope", "link"],
            )?;
            let text = String::from_utf8_lossy(&out.stdout);
            let found = text
                .split_whitespace()
                .skip_while(|w| *w != "inet6")
                .nth(1)
                .and_then(|a| a.split('/').next())
                .and_then(|a| a.parse().ok());
            // "tentative" would mean DAD still runs, which accept_dad=0 should prevent.
            if let Some(a) = found.filter(|_| !text.contains("tentative")) {
                return Ok(a);
            }
            if Instant::now() >= deadline {
                return Err(NetnsError::Unexpected(format!(
                    "no link-local address on {ns}/{dev}: {text}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The host with this name.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// A `Command` that runs `program args…` inside the namespace `ns` (with its own /sys, as
    /// `ip netns exec` remounts it, so the program sees that namespace's interfaces).
    pub fn command_in(ns: &str, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]).args(args);
        c
    }

    /// Moves the calling thread into `host`'s network namespace. Threads it starts afterwards
    /// (a Tokio runtime's workers) are born there too; sockets stay in the namespace they were
    /// opened in. `/sys` is not remounted: list interfaces through netlink, not sysfs.
    pub(crate) fn enter(&self, host: &str) -> Result<(), NetnsError> {
        use std::os::fd::AsRawFd;
        let ns = self
            .host(host)
            .map(|h| h.ns.clone())
            .ok_or_else(|| NetnsError::Unexpected(format!("no host {host}")))?;
        let path = std::path::Path::new("/run/netns").join(&ns);
        let f = std::fs::File::open(&path).map_err(|source| NetnsError::Enter {
            ns: ns.clone(),
            source,
        })?;
        // SAFETY: a valid namespace file descriptor; setns only changes this thread.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(NetnsError::Enter {
                ns,
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
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
