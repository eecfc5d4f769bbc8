//! Answers ARP requests and IPv6 Neighbor Solicitations for the VIPs this node leads, from
//! AF_PACKET sockets, so no address needs to be configured on the interface; announces takeovers
//! with gratuitous ARP (request form) and unsolicited NAs.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::l2::announcer::{Entry, Table};
use crate::l2::consistency::Serving;
use crate::l2::garp::GarpSchedule;
use crate::net::bpf;
use crate::net::codec::{self, Frame};
use crate::net::socket::{join_solicited_node, PacketSocket};

/// How many gratuitous announcements follow a takeover, and how far apart: Linux replaces a
/// neighbour entry at once only on a true gratuitous ARP, and ignores other updates for a second
/// after confirming the old entry, so one packet can be lost on a busy LAN.
pub(crate) const GARP_COUNT: usize = 3;
pub(crate) const GARP_SPACING: Duration = Duration::from_millis(500);

/// Counters per (IP, interface), for `/metrics` and `lbctl debug`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    pub requests_seen: u64,
    pub answered: u64,
    /// Requests seen while the lease could not be proven (renew deadline passed): not answered.
    pub fenced: u64,
    pub gratuitous_sent: u64,
}

pub(crate) type Stats = Arc<Mutex<BTreeMap<(IpAddr, String), Counters>>>;

fn bump(stats: &Stats, ip: IpAddr, iface: &str, f: impl FnOnce(&mut Counters)) {
    let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
    f(s.entry((ip, iface.to_string())).or_default());
}

/// Whether this process can answer on an interface (`Err` says why not, e.g. no CAP_NET_RAW for
/// the ARP socket), keyed by (name, ifindex) so a recreated interface is tried afresh. The
/// announcer does not contend for Services that could only be announced where it cannot.
pub(crate) type Unanswerable = Arc<Mutex<BTreeMap<(String, u32), Result<(), String>>>>;

/// Opens (and closes) the ARP socket the responder would use on `ifindex`: whether this process
/// can answer there at all. Must be called inside a Tokio runtime.
pub(crate) fn probe_arp_socket(ifindex: u32) -> std::io::Result<()> {
    PacketSocket::open_arp(ifindex, &bpf::arp_requests()).map(drop)
}

/// Fault injection for tests of the announcer's self-check (`LBCTL_L2_FAULTS`, comma-separated):
/// `skip-first-responder-update` makes the responder ignore the first table that has entries,
/// as if an update had been lost, so the table and what is served disagree.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    pub skip_first_update: bool,
}

impl Faults {
    pub(crate) fn from_env() -> Faults {
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
    let arp = match PacketSocket::open_arp(link.index, &bpf::arp_requests()) {
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
    let nd = PacketSocket::open_ipv6(link.index, &bpf::neighbor_solicits()).ok();
    let link_local = link
        .addrs
        .iter()
        .map(|a| a.net.addr())
        .find_map(|a| match a {
            IpAddr::V6(v6) if v6.segments()[0] == 0xfe80 => Some(v6),
            _ => None,
        });
    let mut announced: HashMap<IpAddr, Instant> = HashMap::new();
    let mut groups: HashMap<Ipv6Addr, UdpSocket> = HashMap::new();
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
pub(crate) fn deserves_answer(req: &codec::Arp) -> bool {
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
}
