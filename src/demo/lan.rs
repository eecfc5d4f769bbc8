//! The demo's LAN: when root, `lbctl lab demo` builds the story's 192.168.111.0/24 segment out
//! of network namespaces (see [`crate::netns`]), moves itself onto it as the host "you", and
//! runs the announcers as real `lbctl serve --announce` processes in the node namespaces, so
//! the VIP is answered over a real (virtual) wire and `arp-probe` and doctor's ARP rung see it.
//! Nothing touches the machine's own network: every address lives inside the namespaces, which
//! are deleted on exit, on Ctrl-C, and (for the announcers, via PDEATHSIG) if the demo dies.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use crate::netns::{Lan, NetnsError};

/// The story's nodes with their InternalIPs' last octet (scenarios/demo.yaml), and the host
/// the demo itself runs on.
pub const NODES: [(&str, u8); 2] = [("cp-1", 2), ("worker-1", 3)];
pub const YOU: (&str, u8) = ("you", 100);
const V4_PREFIX: &str = "192.168.111";
const V6_PREFIX: &str = "fd00:192:168:111::";

pub struct DemoLan {
    lan: Lan,
    /// Prefix of this run's namespaces (`<id>-<host>`): unique per process, so a test or a
    /// user can tell this run's namespaces from another demo's.
    id: String,
    dir: PathBuf,
    announcers: Vec<(String, Child)>,
}

impl DemoLan {
    /// Builds the LAN and moves the calling thread onto it as "you". Call before any runtime,
    /// listener or client exists: they must be born inside the namespace.
    pub fn build() -> Result<DemoLan, NetnsError> {
        let id = format!("lbd{}", std::process::id());
        let mut lan = Lan::new(&id, V4_PREFIX, V6_PREFIX)?;
        for (name, octet) in NODES.into_iter().chain([YOU]) {
            lan.add_host(name, octet)?;
        }
        // The nodes are kind-style: their veth eth0 holds the default route, which is what
        // makes an announcer (like Cilium) select a veth.
        for (name, _) in NODES {
            let ns = format!("{id}-{name}");
            lan.ns_ip(&ns, &["route", "add", "default", "dev", "eth0"])?;
        }
        let dir = scratch_dir(&std::env::temp_dir(), std::process::id())?;
        lan.enter(YOU.0)?;
        Ok(DemoLan {
            lan,
            id,
            dir,
            announcers: Vec::new(),
        })
    }

    /// The address the lab should listen on: "you"'s, reachable from every node.
    pub fn listen_addr(&self) -> std::net::SocketAddr {
        let ip = self
            .lan
            .host(YOU.0)
            .map(|h| h.ipv4)
            .unwrap_or([0, 0, 0, 0].into());
        (ip, 0).into()
    }

    /// Where the lab's kubeconfig goes, for the announcer processes.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// What the Ctrl-C handler runs, without owning the LAN: delete the namespaces and the
    /// scratch directory (the announcers get SIGTERM from the kernel when we exit).
    pub fn cleanup_on_signal(&self) -> impl FnOnce() + Send + 'static {
        let mut names: Vec<String> = self.lan.hosts().iter().map(|h| h.ns.clone()).collect();
        names.push(self.lan.bridge_ns.clone());
        let dir = self.dir.clone();
        move || {
            for ns in names {
                let _ = std::process::Command::new("ip")
                    .args(["netns", "del", &ns])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    pub fn mac_of(&self, node: &str) -> Option<String> {
        self.lan.host(node).map(|h| h.mac.clone())
    }

    /// The node whose eth0 has this MAC.
    pub fn node_of(&self, mac: &str) -> Option<&'static str> {
        NODES
            .iter()
            .map(|(n, _)| *n)
            .find(|n| self.mac_of(n).as_deref() == Some(&mac.to_lowercase()))
    }

    /// Starts `lbctl serve --announce` in each node's namespace, as the DaemonSet would.
    pub fn start_announcers(&mut self) -> std::io::Result<()> {
        let exe = std::env::current_exe()?;
        let kc = self.kubeconfig_path();
        for (node, _) in NODES {
            let Some(h) = self.lan.host(node) else {
                continue;
            };
            let log = std::fs::File::create(self.dir.join(format!("{node}.log")))?;
            let sock = self.dir.join(format!("{node}.sock"));
            let mut cmd = Lan::command_in(
                &h.ns,
                &exe.to_string_lossy(),
                &[
                    "serve",
                    "--no-ipam",
                    "--announce",
                    "--node-name",
                    node,
                    "--kubeconfig",
                    &kc.to_string_lossy(),
                    "--metrics-addr",
                    "127.0.0.1:0",
                    "--debug-socket",
                    &sock.to_string_lossy(),
                ],
            );
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log));
            // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death signal,
            // so an announcer never outlives a demo that was killed.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            self.announcers.push((node.to_string(), cmd.spawn()?));
        }
        Ok(())
    }

    /// Stops every announcer (they release their leases); call while the lab still runs.
    pub fn stop_announcers(&mut self) {
        for (_, mut c) in std::mem::take(&mut self.announcers) {
            terminate(&mut c);
        }
    }

    /// SIGTERM the announcer of `node` (a drained node: it releases its leases) and reap it.
    pub fn stop_announcer(&mut self, node: &str) {
        if let Some(i) = self.announcers.iter().position(|(n, _)| n == node) {
            let (_, mut child) = self.announcers.remove(i);
            terminate(&mut child);
        }
    }

    /// `lbctl arp-probe ARGS` run from "you", output straight to the terminal; its exit code.
    pub fn arp_probe(&self, args: &[&str]) -> std::io::Result<Option<i32>> {
        let exe = std::env::current_exe()?;
        let ns = self
            .lan
            .host(YOU.0)
            .map(|h| h.ns.clone())
            .unwrap_or_default();
        let mut full = vec!["arp-probe"];
        full.extend_from_slice(args);
        let status = Lan::command_in(&ns, &exe.to_string_lossy(), &full)
            .stdin(Stdio::null())
            .status()?;
        Ok(status.code())
    }

    /// `lbctl arp-probe -o json` from "you": the responder MACs.
    pub fn owners(&self, vip: &str) -> Vec<String> {
        let Ok(exe) = std::env::current_exe() else {
            return vec![];
        };
        let ns = self
            .lan
            .host(YOU.0)
            .map(|h| h.ns.clone())
            .unwrap_or_default();
        let out = Lan::command_in(
            &ns,
            &exe.to_string_lossy(),
            &["arp-probe", vip, "--timeout", "400ms", "-o", "json"],
        )
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
        let Ok(out) = out else { return vec![] };
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["responders"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["mac"].as_str().map(str::to_lowercase))
            .collect()
    }
}

/// This run's scratch directory under `base` (the lab's kubeconfig, the announcers' logs and
/// debug sockets): ours alone (see [`crate::debug::private_dir`]), so another user of a shared
/// temp directory can neither read the lab's credentials nor plant a link that the demo,
/// running as root, would write through.
fn scratch_dir(base: &Path, pid: u32) -> Result<PathBuf, NetnsError> {
    let dir = base.join(format!("lbctl-demo-{pid}"));
    crate::debug::private_dir(&dir)
        .map_err(|e| NetnsError::Unexpected(format!("creating {}: {e}", dir.display())))?;
    Ok(dir)
}

fn terminate(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let _ = child.wait();
}

impl DemoLan {
    /// The prefix of this run's namespace names.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for DemoLan {
    fn drop(&mut self) {
        self.stop_announcers();
        let _ = std::fs::remove_dir_all(&self.dir);
        // The namespaces go when `lan` drops.
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_scratch_directory_is_private_and_never_a_planted_one() {
        let base = tempfile::tempdir().unwrap();
        let dir = scratch_dir(base.path(), 42).unwrap();
        assert_eq!(dir, base.path().join("lbctl-demo-42"));
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // A link planted where the next run will look is refused, and its target left alone.
        let elsewhere = base.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, base.path().join("lbctl-demo-43")).unwrap();
        let e = scratch_dir(base.path(), 43).unwrap_err().to_string();
        assert!(e.contains("not a directory"), "{e}");
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
        // So is a directory others may write to.
        let open = base.path().join("lbctl-demo-44");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(scratch_dir(base.path(), 44).is_err());
    }
}
