//! Answers ARP requests and IPv6 Neighbor Solicitations for the VIPs this node leads, from
//! AF_PACKET sockets, so no address needs to be configured on the interface; announces takeovers
//! with gratuitous ARP (request form) and unsolicited NAs.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::l2::announcer::{Entry, Table};
use crate::l2::consistency::Serving;
use crate::l2::garp::GarpSchedule;
use crate::net::codec::{self, Frame};
use crate::net::socket::{BpfInsn, PacketSocket};

/// How many gratuitous announcements follow a takeover, and how far apart: Linux replaces a
/// neighbour entry at once only on a true gratuitous ARP, and ignores other updates for a second
/// after confirming the old entry, so one packet can be lost on a busy LAN.
pub const GARP_COUNT: usize = 3;
pub const GARP_SPACING: Duration = Duration::from_millis(500);

/// Counters per (IP, interface), for `/metrics` and `lbctl debug`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    pub requests_seen: u64,
    pub answered: u64,
    /// Requests seen while the lease could not be proven (renew deadline passed): not answered.
    pub fenced: u64,
    pub gratuitous_sent: u64,
}

pub type Stats = Arc<Mutex<BTreeMap<(IpAddr, String), Counters>>>;

fn bump(stats: &Stats, ip: IpAddr, iface: &str, f: impl FnOnce(&mut Counters)) {
    let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
    f(s.entry((ip, iface.to_string())).or_default());
}

const LD_H_ABS: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_ABS) as u16;
const LD_B_ABS: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> BpfInsn {
    BpfInsn { code, jt, jf, k }
}

/// ARP requests only: the daemon never copies other frames.
fn arp_request_filter() -> Vec<BpfInsn> {
    vec![
        insn(LD_H_ABS, 0, 0, 20), // ARP operation
        insn(JEQ_K, 0, 1, 1),
        insn(RET_K, 0, 0, 0x4_0000),
        insn(RET_K, 0, 0, 0),
    ]
}

/// ICMPv6 Neighbor Solicitations without extension headers.
fn ns_filter() -> Vec<BpfInsn> {
    vec![
        insn(LD_B_ABS, 0, 0, 20), // IPv6 next header
        insn(JEQ_K, 0, 3, 58),
        insn(LD_B_ABS, 0, 0, 54), // ICMPv6 type
        insn(JEQ_K, 0, 1, 135),
        insn(RET_K, 0, 0, 0x4_0000),
        insn(RET_K, 0, 0, 0),
    ]
}

/// Joins the solicited-node group of `ip` on `ifindex` through an IPv6 socket, so the NIC
/// accepts the 33:33:ff:… frames and MLD-snooping switches forward them (Cilium #41678, #46274).
/// The membership lasts as long as the returned socket.
fn join_solicited_node(ifindex: u32, ip: Ipv6Addr) -> std::io::Result<std::net::UdpSocket> {
    use std::os::fd::AsRawFd;
    let sock = std::net::UdpSocket::bind("[::]:0")?;
    let mreq = libc::ipv6_mreq {
        ipv6mr_multiaddr: libc::in6_addr {
            s6_addr: codec::solicited_node(ip).octets(),
        },
        ipv6mr_interface: ifindex,
    };
    // SAFETY: valid fd and a correctly sized ipv6_mreq.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_ADD_MEMBERSHIP,
            &mreq as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::ipv6_mreq>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(sock)
}

/// Whether this process can answer on an interface (`Err` says why not, e.g. no CAP_NET_RAW for
/// the ARP socket), keyed by (name, ifindex) so a recreated interface is tried afresh. The
/// announcer does not contend for Services that could only be announced where it cannot.
pub type Unanswerable = Arc<Mutex<BTreeMap<(String, u32), Result<(), String>>>>;

/// Opens (and closes) the ARP socket the responder would use on `ifindex`: whether this process
/// can answer there at all. Must be called inside a Tokio runtime.
pub fn probe_arp_socket(ifindex: u32) -> std::io::Result<()> {
    PacketSocket::open_arp(ifindex, &arp_request_filter()).map(drop)
}

/// Fault injection for tests of the announcer's self-check (`LBCTL_L2_FAULTS`, comma-separated):
/// `skip-first-responder-update` makes the responder ignore the first table that has entries,
/// as if an update had been lost, so the table and what is served disagree.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    pub skip_first_update: bool,
}

impl Faults {
    pub fn from_env() -> Faults {
        let v = std::env::var("LBCTL_L2_FAULTS").unwrap_or_default();
        let on = |name: &str| v.split(',').any(|f| f.trim() == name);
        Faults {
            skip_first_update: on("skip-first-responder-update"),
        }
    }
}

/// Who serves what, for the self-check; an interface task's entry goes when the task does.
#[derive(Clone)]
pub struct Reporting {
    pub serving: Serving,
    pub unanswerable: Unanswerable,
}

/// Removes an interface task's entry from [`Serving`] when the task ends or is aborted, unless
/// a newer task for the same interface has replaced it.
struct ServingGuard {
    serving: Serving,
    name: String,
    task: u64,
}

impl ServingGuard {
    fn set(&self, ips: std::collections::BTreeSet<IpAddr>) {
        let mut s = self.serving.lock().unwrap_or_else(|p| p.into_inner());
        s.insert(self.name.clone(), (self.task, ips));
    }
}

impl Drop for ServingGuard {
    fn drop(&mut self) {
        let mut s = self.serving.lock().unwrap_or_else(|p| p.into_inner());
        if s.get(&self.name).is_some_and(|(t, _)| *t == self.task) {
            s.remove(&self.name);
        }
    }
}

static TASK_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Runs until `shutdown`; follows the table, one task per interface. Every table received is
/// applied (a resend of an unchanged table restarts interface tasks that have ended), which is
/// how the announcer's self-check repairs a mismatch.
pub async fn run(
    mut table: watch::Receiver<Table>,
    stats: Stats,
    report: Reporting,
    faults: Faults,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut skip_next_with_entries = faults.skip_first_update;
    let mut ifaces: HashMap<String, (watch::Sender<Vec<Entry>>, tokio::task::JoinHandle<()>)> =
        HashMap::new();
    loop {
        let by_iface: BTreeMap<String, Vec<Entry>> = {
            let t = table.borrow_and_update();
            let mut m: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
            for e in t.values() {
                m.entry(e.interface.clone()).or_default().push(e.clone());
            }
            m
        };
        if skip_next_with_entries && !by_iface.is_empty() {
            skip_next_with_entries = false;
            tracing::warn!("fault injection: ignoring this table update");
            tokio::select! {
                r = table.changed() => if r.is_err() { break },
                _ = shutdown.changed() => break,
            }
            continue;
        }
        ifaces.retain(|name, (_, task)| {
            let keep = by_iface.contains_key(name) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for (name, entries) in by_iface {
            match ifaces.get(&name) {
                Some((tx, _)) => {
                    tx.send_replace(entries);
                }
                None => {
                    let (tx, rx) = watch::channel(entries);
                    let task = tokio::spawn(serve_interface(
                        name.clone(),
                        rx,
                        stats.clone(),
                        report.clone(),
                    ));
                    ifaces.insert(name, (tx, task));
                }
            }
        }
        tokio::select! {
            r = table.changed() => if r.is_err() { break },
            _ = shutdown.changed() => break,
        }
    }
    for (_, (_, task)) in ifaces {
        task.abort();
    }
}

async fn serve_interface(
    name: String,
    mut entries: watch::Receiver<Vec<Entry>>,
    stats: Stats,
    report: Reporting,
) {
    let serving = ServingGuard {
        serving: report.serving.clone(),
        name: name.clone(),
        task: TASK_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
    };
    let link = match crate::net::link::link(Some(&name), None).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(interface = %name, error = %e, "cannot announce on interface");
            return;
        }
    };
    let Some(mac) = link.mac else {
        tracing::error!(interface = %name, "interface has no Ethernet address; cannot announce");
        return;
    };
    let arp = match PacketSocket::open_arp(link.index, &arp_request_filter()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(interface = %name, error = %e, "cannot open ARP socket (needs CAP_NET_RAW); giving up this interface's Services");
            report
                .unanswerable
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(
                    (name.clone(), link.index),
                    Err(format!("cannot open ARP socket: {e}")),
                );
            return;
        }
    };
    let nd = PacketSocket::open_ipv6(link.index, &ns_filter()).ok();
    let link_local = link
        .addrs
        .iter()
        .map(|a| a.net.addr())
        .find_map(|a| match a {
            IpAddr::V6(v6) if v6.segments()[0] == 0xfe80 => Some(v6),
            _ => None,
        });
    let mut announced: HashMap<IpAddr, Instant> = HashMap::new();
    let mut groups: HashMap<Ipv6Addr, std::net::UdpSocket> = HashMap::new();
    let mut garps = GarpSchedule::new(GARP_COUNT, GARP_SPACING);
    let mut buf = vec![0u8; 2048];
    let mut buf6 = vec![0u8; 2048];
    let mut current: BTreeMap<IpAddr, Entry> = BTreeMap::new();
    let mut fresh = true;
    loop {
        if fresh {
            // New leadership: join groups and schedule announcements; forget what is gone.
            fresh = false;
            current = entries
                .borrow_and_update()
                .iter()
                .map(|e| (e.ip, e.clone()))
                .collect();
            // A term that began again (lost and retaken between two looks) is announced again.
            announced.retain(|ip, since| {
                let keep = current.get(ip).is_some_and(|e| e.since == *since);
                if !keep {
                    garps.stop(*ip);
                }
                keep
            });
            groups.retain(|ip, _| current.contains_key(&IpAddr::V6(*ip)));
            serving.set(current.keys().copied().collect());
            let now = Instant::now();
            for (ip, e) in &current {
                if announced.insert(*ip, e.since).is_none() {
                    if let IpAddr::V6(v6) = ip {
                        match join_solicited_node(link.index, *v6) {
                            Ok(s) => {
                                groups.insert(*v6, s);
                            }
                            Err(err) => {
                                tracing::warn!(interface = %name, %ip, error = %err, "joining solicited-node group")
                            }
                        }
                    }
                    garps.start(*ip, now);
                }
            }
        }
        let next_garp = garps.next_due();
        tokio::select! {
            r = entries.changed() => {
                if r.is_err() { return }
                fresh = true;
            }
            _ = sleep_until_opt(next_garp) => {
                for ip in garps.take_due(Instant::now()) {
                    // Only while the term is provably ours (fencing applies to these too).
                    if !current.get(&ip).is_some_and(Entry::is_valid) {
                        garps.stop(ip);
                        continue;
                    }
                    let (frame, sock) = match ip {
                        IpAddr::V4(v4) => (codec::encode_garp_request(mac, v4), Some(&arp)),
                        IpAddr::V6(v6) => (
                            codec::encode_unsolicited_na(mac, link_local.unwrap_or(v6), v6),
                            nd.as_ref(),
                        ),
                    };
                    let Some(sock) = sock else { continue };
                    match sock.send(&frame).await {
                        Ok(()) => bump(&stats, ip, &name, |c| c.gratuitous_sent += 1),
                        Err(e) => {
                            tracing::warn!(%ip, interface = %name, error = %e, "sending gratuitous announcement")
                        }
                    }
                }
            }
            n = arp.recv(&mut buf) => {
                let Ok(n) = n else { continue };
                if let Ok(Frame::Arp(req)) = codec::decode(&buf[..n]) {
                    if !deserves_answer(&req) {
                        continue;
                    }
                    let ip = IpAddr::V4(req.target_ip);
                    if let Some(e) = current.get(&ip) {
                        bump(&stats, ip, &name, |c| c.requests_seen += 1);
                        if e.is_valid() {
                            let reply = codec::encode_arp_reply(mac, req.target_ip, req.sender_mac, req.sender_ip);
                            if arp.send(&reply).await.is_ok() {
                                bump(&stats, ip, &name, |c| c.answered += 1);
                            }
                        } else {
                            bump(&stats, ip, &name, |c| c.fenced += 1);
                        }
                    }
                }
            }
            n = recv_opt(nd.as_ref(), &mut buf6) => {
                let Some(Ok(n)) = n else { continue };
                if let Ok(Frame::NeighborSolicit(ns)) = codec::decode(&buf6[..n]) {
                    let ip = IpAddr::V6(ns.target);
                    if let Some(e) = current.get(&ip) {
                        bump(&stats, ip, &name, |c| c.requests_seen += 1);
                        if e.is_valid() {
                            let reply = codec::encode_na_reply(mac, ns.target, &ns);
                            if let Some(s) = nd.as_ref() {
                                if s.send(&reply).await.is_ok() {
                                    bump(&stats, ip, &name, |c| c.answered += 1);
                                }
                            }
                        } else {
                            bump(&stats, ip, &name, |c| c.fenced += 1);
                        }
                    }
                }
            }
        }
    }
}

/// Whether an ARP request (for an address we answer for) gets a reply. Not replies, not
/// gratuitous announcements, and not requests claiming a broadcast, multicast or all-zero sender
/// MAC: no host has such an address, the reply would be flooded to the whole segment (or
/// nowhere), and a forged one turns the responder into a reflector. Probes (sender IP 0.0.0.0,
/// RFC 5227) are answered, as the kernel answers them for its own addresses.
pub fn deserves_answer(req: &codec::Arp) -> bool {
    let unicast = |m: codec::Mac| !m.is_multicast() && !m.is_zero();
    req.op == codec::ArpOp::Request
        && !req.is_gratuitous()
        && unicast(req.sender_mac)
        && unicast(req.eth_src)
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn recv_opt(s: Option<&PacketSocket>, buf: &mut [u8]) -> Option<std::io::Result<usize>> {
    match s {
        Some(s) => Some(s.recv(buf).await),
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic BPF program over a frame (enough of the VM for our filters).
    fn run_bpf(prog: &[BpfInsn], pkt: &[u8]) -> u32 {
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let i = prog[pc];
            match i.code {
                LD_H_ABS => {
                    a = pkt
                        .get(i.k as usize..i.k as usize + 2)
                        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]) as u32)
                }
                LD_B_ABS => a = pkt.get(i.k as usize).copied().unwrap_or(0) as u32,
                JEQ_K => {
                    pc += if a == i.k {
                        i.jt as usize
                    } else {
                        i.jf as usize
                    };
                }
                RET_K => return i.k,
                _ => panic!("unexpected insn"),
            }
            pc += 1;
        }
    }

    #[test]
    fn requests_from_group_or_zero_senders_are_not_answered() {
        let me: codec::Mac = "02:00:00:00:00:01".parse().unwrap();
        let vip: std::net::Ipv4Addr = "10.0.0.100".parse().unwrap();
        let req = |sender_mac: &str, sender_ip: &str| codec::Arp {
            eth_src: me,
            eth_dst: codec::Mac::BROADCAST,
            op: codec::ArpOp::Request,
            sender_mac: sender_mac.parse().unwrap(),
            sender_ip: sender_ip.parse().unwrap(),
            target_mac: codec::Mac::ZERO,
            target_ip: vip,
        };
        assert!(deserves_answer(&req("02:00:00:00:00:01", "10.0.0.1")));
        // An RFC 5227 probe is answered (the kernel answers them too).
        assert!(deserves_answer(&req("02:00:00:00:00:01", "0.0.0.0")));
        for bad in [
            "ff:ff:ff:ff:ff:ff",
            "01:00:5e:00:00:01",
            "33:33:00:00:00:01",
            "00:00:00:00:00:00",
        ] {
            assert!(!deserves_answer(&req(bad, "10.0.0.1")), "{bad}");
            assert!(!deserves_answer(&req(bad, "0.0.0.0")), "{bad} probe");
        }
        let mut r = req("02:00:00:00:00:01", "10.0.0.1");
        r.eth_src = codec::Mac::BROADCAST;
        assert!(!deserves_answer(&r), "broadcast Ethernet source");
        // Gratuitous requests and replies never.
        assert!(!deserves_answer(&req("02:00:00:00:00:01", "10.0.0.100")));
        let mut r = req("02:00:00:00:00:01", "10.0.0.1");
        r.op = codec::ArpOp::Reply;
        assert!(!deserves_answer(&r));
    }

    #[test]
    fn filters_pass_only_requests_and_solicitations() {
        let mac: codec::Mac = "02:00:00:00:00:01".parse().unwrap();
        let req = codec::encode_arp_request(
            mac,
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
        );
        let rep = codec::encode_arp_reply(
            mac,
            "10.0.0.2".parse().unwrap(),
            mac,
            "10.0.0.1".parse().unwrap(),
        );
        assert!(run_bpf(&arp_request_filter(), &req) > 0);
        assert_eq!(run_bpf(&arp_request_filter(), &rep), 0);
        let target: Ipv6Addr = "fd00::10".parse().unwrap();
        let ns = codec::encode_neighbor_solicit(mac, "fe80::1".parse().unwrap(), target);
        let na = codec::encode_unsolicited_na(mac, "fe80::1".parse().unwrap(), target);
        assert!(run_bpf(&ns_filter(), &ns) > 0);
        assert_eq!(run_bpf(&ns_filter(), &na), 0);
        assert_eq!(run_bpf(&ns_filter(), &req), 0);
    }
}
