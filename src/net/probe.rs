//! The probe engine: who answers ARP (IPv4) or NDP (IPv6) for an address on the local segment.
//!
//! [`probe`] sends a few requests and returns as soon as it can give a verdict: the first answer
//! plus a short duplicate-detection window, or the timeout when nobody answers. [`watch`] keeps
//! probing and listening for gratuitous ARP / unsolicited NA and reports ownership changes.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::ControlFlow;
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;

use crate::net::bpf;
use crate::net::codec::{self, ArpOp, Frame, Mac};
use crate::net::link::{self, Egress, LinkError};
use crate::net::socket::PacketSocket;

/// Why a probe could not run. [`ProbeError::exit_code`] maps it to the CLI's exit codes.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("permission denied opening a raw socket on {iface}: CAP_NET_RAW is required")]
    PermissionDenied { iface: String },
    #[error("no such interface: {0}")]
    NoSuchInterface(String),
    #[error("interface {0} has no Ethernet address, ARP/NDP cannot run there")]
    NotEthernet(String),
    #[error("interface {0} is down")]
    InterfaceDown(String),
    #[error("no route to {0}")]
    NoRoute(IpAddr),
    #[error("{0} is not a unicast address that ARP/NDP can resolve")]
    InvalidAddress(IpAddr),
    #[error("raw socket on {iface}: {source}")]
    Io {
        iface: String,
        #[source]
        source: io::Error,
    },
    #[error("netlink: {0}")]
    Netlink(String),
}

impl ProbeError {
    /// 2 for a bad address (usage), 3 for permission, interface and I/O problems.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            ProbeError::InvalidAddress(_) => 2,
            _ => 3,
        }
    }
    pub(crate) fn is_permission_denied(&self) -> bool {
        matches!(self, ProbeError::PermissionDenied { .. })
    }
}

impl From<LinkError> for ProbeError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::NoSuchInterface(n) => ProbeError::NoSuchInterface(n),
            LinkError::NoRoute(ip) => ProbeError::NoRoute(ip),
            LinkError::Netlink(m) => ProbeError::Netlink(m),
            LinkError::Io(e) => ProbeError::Netlink(e.to_string()),
        }
    }
}

/// Timings of one probe.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Most requests to send.
    pub count: u32,
    /// Gap between requests.
    pub interval: Duration,
    /// Give up when nobody has answered by then (from the first request).
    pub timeout: Duration,
    /// After the first answer, keep listening this long for a second owner.
    pub dup_window: Duration,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            count: 3,
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(1),
            dup_window: Duration::from_millis(300),
        }
    }
}

/// ARP for IPv4, NDP for IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Arp,
    Ndp,
}

/// Where the probe ran.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProbeInterface {
    pub name: String,
    pub index: u32,
    pub mac: Mac,
    /// The source address put in requests (None: 0.0.0.0 / ::).
    pub source_ip: Option<IpAddr>,
    /// True when chosen by the kernel's route lookup, false when given with `-i`.
    pub from_route: bool,
    /// Whether the address lies on one of the interface's subnets.
    pub on_subnet: bool,
    /// The gateway the kernel would route through instead (then only proxy ARP can answer).
    pub gateway: Option<IpAddr>,
    /// The probed address is configured on this very interface (the kernel never answers
    /// its own requests on the wire, so nobody else may show up).
    pub address_is_local: bool,
}

/// One MAC that answered.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Responder {
    pub mac: Mac,
    pub replies: u32,
    /// From the first request to this responder's first answer.
    #[serde(serialize_with = "ser_ms")]
    pub first_reply: Duration,
    #[serde(serialize_with = "ser_ms")]
    pub rtt_min: Duration,
    #[serde(serialize_with = "ser_ms")]
    pub rtt_avg: Duration,
    #[serde(serialize_with = "ser_ms")]
    pub rtt_max: Duration,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(duration_ms(*d))
}

/// Milliseconds with microsecond precision, as the JSON schema carries them.
pub(crate) fn duration_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The outcome of a probe.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProbeReport {
    pub ip: IpAddr,
    pub protocol: Protocol,
    pub interface: ProbeInterface,
    pub requests_sent: u32,
    #[serde(serialize_with = "ser_ms")]
    pub elapsed: Duration,
    /// In order of first answer.
    pub responders: Vec<Responder>,
    /// Frames that passed the kernel filter but were not valid answers for this address.
    pub ignored_frames: u64,
}

/// The one-word answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    OneOwner,
    NoAnswer,
    MultipleOwners,
}

impl ProbeReport {
    pub fn verdict(&self) -> Verdict {
        verdict_of(self.responders.len())
    }
}

fn verdict_of(n: usize) -> Verdict {
    match n {
        0 => Verdict::NoAnswer,
        1 => Verdict::OneOwner,
        _ => Verdict::MultipleOwners,
    }
}

/// How an answer was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    /// ARP reply to a request.
    Reply,
    /// Gratuitous ARP, request form (sender IP = target IP), as Cilium sends.
    GarpRequest,
    /// Gratuitous ARP, reply form (`arping -A`).
    GarpReply,
    /// Neighbor Advertisement with the Solicited flag.
    SolicitedNa,
    /// Neighbor Advertisement without it: an announcement (or an answer to a DAD-style NS).
    UnsolicitedNa,
}

impl AnswerKind {
    /// Announcements assert a takeover instead of answering a question.
    pub(crate) fn is_announcement(self) -> bool {
        matches!(
            self,
            AnswerKind::GarpRequest | AnswerKind::GarpReply | AnswerKind::UnsolicitedNa
        )
    }
    pub fn describe(self) -> &'static str {
        match self {
            AnswerKind::Reply => "ARP reply",
            AnswerKind::GarpRequest => "gratuitous ARP (request)",
            AnswerKind::GarpReply => "gratuitous ARP (reply)",
            AnswerKind::SolicitedNa => "neighbor advertisement",
            AnswerKind::UnsolicitedNa => "unsolicited neighbor advertisement",
        }
    }
}

/// Classifies a frame as evidence that `mac` owns `ip`; None for anything else. Pure, so the
/// garbage-resistance of the probe is the decoder's plus this match.
pub fn classify(frame: &[u8], ip: IpAddr, local_mac: Mac) -> Option<(Mac, AnswerKind)> {
    let (mac, kind) = match (codec::decode(frame).ok()?, ip) {
        (Frame::Arp(a), IpAddr::V4(v4)) => {
            if a.sender_ip != v4 {
                return None;
            }
            let kind = match (a.op, a.is_gratuitous()) {
                (ArpOp::Reply, false) => AnswerKind::Reply,
                (ArpOp::Reply, true) => AnswerKind::GarpReply,
                (ArpOp::Request, true) => AnswerKind::GarpRequest,
                // The owner asking about someone else: not an answer about `ip`.
                (ArpOp::Request, false) => return None,
            };
            (a.sender_mac, kind)
        }
        (Frame::NeighborAdvert(na), IpAddr::V6(v6)) => {
            if na.target != v6 {
                return None;
            }
            let kind = if na.solicited {
                AnswerKind::SolicitedNa
            } else {
                AnswerKind::UnsolicitedNa
            };
            (na.owner_mac(), kind)
        }
        _ => return None,
    };
    if mac == local_mac || mac.is_multicast() || mac.is_zero() {
        return None;
    }
    Some((mac, kind))
}

/// An open probe on one interface: the socket plus the request to send.
struct Session {
    sock: PacketSocket,
    ip: IpAddr,
    iface: ProbeInterface,
    request: Vec<u8>,
}

fn check_target(ip: IpAddr) -> Result<(), ProbeError> {
    let bad = match ip {
        IpAddr::V4(v4) => {
            v4.is_unspecified() || v4.is_loopback() || v4.is_multicast() || v4.is_broadcast()
        }
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_loopback() || v6.is_multicast(),
    };
    if bad {
        Err(ProbeError::InvalidAddress(ip))
    } else {
        Ok(())
    }
}

impl Session {
    async fn open(ip: IpAddr, iface: Option<&str>) -> Result<Session, ProbeError> {
        check_target(ip)?;
        let Egress {
            link,
            from_route,
            gateway,
            on_subnet,
        } = link::egress(ip, iface).await?;
        let mac = link
            .mac
            .filter(|_| !link.loopback)
            .ok_or_else(|| ProbeError::NotEthernet(link.name.clone()))?;
        if !link.up {
            return Err(ProbeError::InterfaceDown(link.name.clone()));
        }
        let (sock, source_ip, request) = match ip {
            IpAddr::V4(v4) => {
                let src = link.ipv4_source_for(ip);
                let src4 = match src {
                    Some(IpAddr::V4(s)) => s,
                    _ => Ipv4Addr::UNSPECIFIED,
                };
                let sock = PacketSocket::open_arp(link.index, &bpf::arp_from(v4));
                (sock, src, codec::encode_arp_request(mac, src4, v4))
            }
            IpAddr::V6(v6) => {
                let src = link.ipv6_source_for(ip);
                let src6 = match src {
                    Some(IpAddr::V6(s)) => s,
                    _ => Ipv6Addr::UNSPECIFIED,
                };
                let sock = PacketSocket::open_ipv6(link.index, &bpf::neighbor_adverts_for(v6));
                (sock, src, codec::encode_neighbor_solicit(mac, src6, v6))
            }
        };
        let sock = sock.map_err(|e| match e.raw_os_error().map(Errno::from_raw) {
            Some(Errno::EPERM | Errno::EACCES) => ProbeError::PermissionDenied {
                iface: link.name.clone(),
            },
            Some(Errno::ENODEV) => ProbeError::NoSuchInterface(link.name.clone()),
            _ => ProbeError::Io {
                iface: link.name.clone(),
                source: e,
            },
        })?;
        Ok(Session {
            sock,
            ip,
            iface: ProbeInterface {
                name: link.name.clone(),
                index: link.index,
                mac,
                source_ip,
                from_route,
                on_subnet,
                gateway,
                address_is_local: link.has_addr(ip),
            },
            request,
        })
    }

    fn io_err(&self, e: io::Error) -> ProbeError {
        ProbeError::Io {
            iface: self.iface.name.clone(),
            source: e,
        }
    }

    fn protocol(&self) -> Protocol {
        if self.ip.is_ipv4() {
            Protocol::Arp
        } else {
            Protocol::Ndp
        }
    }
}

/// Per-MAC accumulator.
struct Tally {
    replies: u32,
    first: Duration,
    min: Duration,
    max: Duration,
    sum: Duration,
}

/// Probes `ip` on `iface` (or the kernel's egress interface for it) and reports every MAC that
/// answered. Returns as soon as the verdict is known: first answer + `dup_window`, or `timeout`.
pub async fn probe(
    ip: IpAddr,
    iface: Option<&str>,
    opts: ProbeOptions,
) -> Result<ProbeReport, ProbeError> {
    let s = Session::open(ip, iface).await?;
    let count = opts.count.max(1);
    let start = Instant::now();
    let timeout_at = start + opts.timeout;
    let mut sent: Vec<Instant> = Vec::with_capacity(count as usize);
    let mut next_send = start;
    let mut done_at = timeout_at;
    let mut order: Vec<Mac> = Vec::new();
    let mut tally: BTreeMap<Mac, Tally> = BTreeMap::new();
    let mut ignored = 0u64;
    let mut buf = vec![0u8; 2048];
    loop {
        let now = Instant::now();
        if now >= done_at {
            break;
        }
        if sent.len() < count as usize && now >= next_send {
            // Stamped before the syscall, as arping does: on a veth the kernel's answer can be
            // queued before send() even returns.
            let at = Instant::now();
            s.sock.send(&s.request).await.map_err(|e| s.io_err(e))?;
            sent.push(at);
            next_send += opts.interval;
            continue;
        }
        let wake = if sent.len() < count as usize {
            next_send.min(done_at)
        } else {
            done_at
        };
        let n = match tokio::time::timeout_at(wake.into(), s.sock.recv(&mut buf)).await {
            Err(_elapsed) => continue,
            Ok(r) => r.map_err(|e| s.io_err(e))?,
        };
        let at = Instant::now();
        let Some(frame) = buf.get(..n) else { continue };
        let Some((mac, kind)) = classify(frame, ip, s.iface.mac) else {
            ignored += 1;
            continue;
        };
        // Probe answers only; a gratuitous request during the probe is not a reply.
        if kind == AnswerKind::GarpRequest {
            ignored += 1;
            continue;
        }
        let Some(first_sent) = sent.first() else {
            continue;
        };
        // Replies carry no request id: measure against the latest request sent before it,
        // the same convention as arping.
        let last_sent = sent.iter().rev().find(|t| **t <= at).unwrap_or(first_sent);
        let rtt = at.duration_since(*last_sent);
        let t = tally.entry(mac).or_insert_with(|| {
            order.push(mac);
            Tally {
                replies: 0,
                first: at.duration_since(*first_sent),
                min: rtt,
                max: rtt,
                sum: Duration::ZERO,
            }
        });
        t.replies += 1;
        t.min = t.min.min(rtt);
        t.max = t.max.max(rtt);
        t.sum += rtt;
        if order.len() == 1 && t.replies == 1 {
            done_at = done_at.min(at + opts.dup_window);
        }
    }
    let responders = order
        .iter()
        .filter_map(|m| {
            let t = tally.get(m)?;
            Some(Responder {
                mac: *m,
                replies: t.replies,
                first_reply: t.first,
                rtt_min: t.min,
                rtt_avg: t.sum / t.replies.max(1),
                rtt_max: t.max,
            })
        })
        .collect();
    Ok(ProbeReport {
        ip,
        protocol: s.protocol(),
        interface: s.iface.clone(),
        requests_sent: sent.len() as u32,
        elapsed: start.elapsed(),
        responders,
        ignored_frames: ignored,
    })
}

/// Timings of [`watch`].
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// A request goes out every `interval`, so moves without an announcement are seen too.
    pub interval: Duration,
    /// Answers are collected this long after each request before the round is judged.
    pub dup_window: Duration,
    /// Stop after this long (None: until the future is dropped).
    pub duration: Option<Duration>,
    /// Silent rounds before a known owner is declared gone (one lost reply is not a move).
    pub misses: u32,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            interval: Duration::from_secs(1),
            dup_window: Duration::from_millis(300),
            duration: None,
            misses: 2,
        }
    }
}

/// Something [`watch`] reports.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WatchEvent {
    /// Watching started on this interface.
    Started {
        #[serde(serialize_with = "ser_time")]
        time: SystemTime,
        ip: IpAddr,
        protocol: Protocol,
        interface: ProbeInterface,
    },
    /// A gratuitous ARP or unsolicited NA for the address.
    Announcement {
        #[serde(serialize_with = "ser_time")]
        time: SystemTime,
        mac: Mac,
        kind: AnswerKind,
    },
    /// The set of owners changed (the first one reported is the initial state).
    Owners {
        #[serde(serialize_with = "ser_time")]
        time: SystemTime,
        owners: Vec<Mac>,
        /// None for the initial state.
        previous: Option<Vec<Mac>>,
        verdict: Verdict,
        /// What made the change visible: a probe round or an announcement kind.
        cause: ChangeCause,
    },
}

/// Why the owner set changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeCause {
    Probe,
    Announcement,
}

fn ser_time<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&rfc3339(*t))
}

/// RFC 3339 UTC timestamp with milliseconds.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        d.subsec_millis()
    )
}

/// What [`watch`] ended with.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WatchSummary {
    pub owners: Vec<Mac>,
    pub verdict: Verdict,
    pub changes: u32,
    pub announcements: u32,
}

/// Owner-set bookkeeping for [`watch`], kept apart from the socket loop.
struct Owners {
    current: Option<BTreeSet<Mac>>,
    changes: u32,
}

impl Owners {
    /// Records `new` and returns the event to emit when it differs from the current set.
    fn set(&mut self, new: BTreeSet<Mac>, cause: ChangeCause) -> Option<WatchEvent> {
        if self.current.as_ref() == Some(&new) {
            return None;
        }
        let previous = self.current.as_ref().map(|o| o.iter().copied().collect());
        let owners: Vec<Mac> = new.iter().copied().collect();
        self.current = Some(new);
        self.changes += 1;
        Some(WatchEvent::Owners {
            time: SystemTime::now(),
            verdict: verdict_of(owners.len()),
            owners,
            previous,
            cause,
        })
    }
    fn known(&self) -> bool {
        self.current.as_ref().is_some_and(|o| !o.is_empty())
    }
}

/// Watches who owns `ip`: probes every `interval` and listens for announcements, calling
/// `on_event` for the start, for every announcement and for every change of the owner set.
/// Returning `ControlFlow::Break` from `on_event` ends the watch (e.g. stdout was closed).
pub async fn watch(
    ip: IpAddr,
    iface: Option<&str>,
    opts: WatchOptions,
    mut on_event: impl FnMut(&WatchEvent) -> ControlFlow<()>,
) -> Result<WatchSummary, ProbeError> {
    let s = Session::open(ip, iface).await?;
    let mut stop = on_event(&WatchEvent::Started {
        time: SystemTime::now(),
        ip,
        protocol: s.protocol(),
        interface: s.iface.clone(),
    })
    .is_break();
    let start = Instant::now();
    let end = opts.duration.map(|d| start + d);
    let judge_after = opts.dup_window.min(opts.interval);
    let mut owners = Owners {
        current: None,
        changes: 0,
    };
    let mut round: BTreeSet<Mac> = BTreeSet::new();
    let mut silent_rounds = 0u32;
    let mut next_send = start;
    let mut judge_at: Option<Instant> = None;
    let mut announcements = 0u32;
    let mut buf = vec![0u8; 2048];

    while !stop {
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            break;
        }
        if judge_at.is_some_and(|j| now >= j) {
            judge_at = None;
            let seen = std::mem::take(&mut round);
            let event = if seen.is_empty() && owners.known() {
                silent_rounds += 1;
                if silent_rounds >= opts.misses.max(1) {
                    owners.set(seen, ChangeCause::Probe)
                } else {
                    None
                }
            } else {
                silent_rounds = 0;
                owners.set(seen, ChangeCause::Probe)
            };
            if let Some(e) = event {
                stop = on_event(&e).is_break();
            }
            continue;
        }
        if now >= next_send {
            s.sock.send(&s.request).await.map_err(|e| s.io_err(e))?;
            let sent_at = Instant::now();
            judge_at = Some(sent_at + judge_after);
            next_send += opts.interval;
            if next_send < sent_at {
                // We fell behind (suspended terminal, slow host): do not burst to catch up.
                next_send = sent_at + opts.interval;
            }
            continue;
        }
        let mut wake = judge_at.map_or(next_send, |j| j.min(next_send));
        if let Some(e) = end {
            wake = wake.min(e);
        }
        let n = match tokio::time::timeout_at(wake.into(), s.sock.recv(&mut buf)).await {
            Err(_elapsed) => continue,
            Ok(r) => r.map_err(|e| s.io_err(e))?,
        };
        let Some(frame) = buf.get(..n) else { continue };
        let Some((mac, kind)) = classify(frame, ip, s.iface.mac) else {
            continue;
        };
        if kind.is_announcement() {
            // Answers earlier in this round predate the takeover; keeping them would report
            // the old and the new owner together for one round.
            round.clear();
            round.insert(mac);
            announcements += 1;
            silent_rounds = 0;
            stop = on_event(&WatchEvent::Announcement {
                time: SystemTime::now(),
                mac,
                kind,
            })
            .is_break();
            // An announcement claims the address outright; a second owner that still answers
            // shows up again at the next probe round.
            if let Some(e) = owners.set(BTreeSet::from([mac]), ChangeCause::Announcement) {
                stop |= on_event(&e).is_break();
            }
        } else {
            round.insert(mac);
        }
    }
    let list: Vec<Mac> = owners.current.unwrap_or_default().into_iter().collect();
    Ok(WatchSummary {
        verdict: verdict_of(list.len()),
        owners: list,
        changes: owners.changes,
        announcements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ME: Mac = Mac([2, 0, 0, 0, 0, 1]);
    const HIM: Mac = Mac([2, 0, 0, 0, 0, 2]);

    #[test]
    fn classify_arp() {
        let ip: Ipv4Addr = "10.1.1.5".parse().unwrap();
        let reply = codec::encode_arp_reply(HIM, ip, ME, "10.1.1.1".parse().unwrap());
        assert_eq!(
            classify(&reply, ip.into(), ME),
            Some((HIM, AnswerKind::Reply))
        );
        let other = codec::encode_arp_reply(HIM, "10.1.1.6".parse().unwrap(), ME, ip);
        assert_eq!(classify(&other, ip.into(), ME), None);
        let garp = codec::encode_garp_request(HIM, ip);
        assert_eq!(
            classify(&garp, ip.into(), ME),
            Some((HIM, AnswerKind::GarpRequest))
        );
        let garp = codec::encode_garp_reply(HIM, ip);
        assert_eq!(
            classify(&garp, ip.into(), ME),
            Some((HIM, AnswerKind::GarpReply))
        );
        let own = codec::encode_garp_reply(ME, ip);
        assert_eq!(classify(&own, ip.into(), ME), None);
        let req = codec::encode_arp_request(HIM, ip, "10.1.1.1".parse().unwrap());
        assert_eq!(classify(&req, ip.into(), ME), None);
        // An IPv6 frame never answers for an IPv4 address.
        let na = codec::encode_unsolicited_na(
            HIM,
            "fd00::5".parse().unwrap(),
            "fd00::5".parse().unwrap(),
        );
        assert_eq!(classify(&na, ip.into(), ME), None);
    }

    #[test]
    fn classify_ndp() {
        let ip: Ipv6Addr = "fd00::5".parse().unwrap();
        let na = codec::encode_unsolicited_na(HIM, ip, ip);
        assert_eq!(
            classify(&na, ip.into(), ME),
            Some((HIM, AnswerKind::UnsolicitedNa))
        );
        let ns = codec::encode_neighbor_solicit(ME, "fe80::1".parse().unwrap(), ip);
        let Ok(Frame::NeighborSolicit(ns)) = codec::decode(&ns) else {
            panic!()
        };
        let reply = codec::encode_na_reply(HIM, ip, &ns);
        assert_eq!(
            classify(&reply, ip.into(), ME),
            Some((HIM, AnswerKind::SolicitedNa))
        );
        let other = codec::encode_unsolicited_na(HIM, ip, "fd00::6".parse().unwrap());
        assert_eq!(classify(&other, ip.into(), ME), None);
    }

    #[test]
    fn timestamps() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.789Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn rejects_unprobeable_targets() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "ff02::1",
        ] {
            assert!(check_target(ip.parse().unwrap()).is_err(), "{ip}");
        }
        assert!(check_target("10.0.0.1".parse().unwrap()).is_ok());
    }

    proptest! {
        #[test]
        fn classify_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..160), v6 in any::<bool>()) {
            let ip: IpAddr = if v6 { "fd00::5".parse().unwrap() } else { "10.0.0.5".parse().unwrap() };
            let _ = classify(&bytes, ip, ME);
        }
    }
}
