//! ARP and NDP frames on Ethernet: pure encoders and decoders, no I/O.
//!
//! The probe uses the request encoders and the reply decoders; the L2 announcer reuses the reply,
//! gratuitous ARP and unsolicited Neighbor Advertisement encoders. Decoding never panics: every
//! length is checked before a field is read, and anything that is not a well-formed ARP or NDP
//! message (RFC 826, RFC 4861 §7.1 validation) comes back as a [`DecodeError`].

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use pnet_base::MacAddr;
use pnet_packet::arp::{
    ArpHardwareTypes, ArpOperation, ArpOperations, ArpPacket, MutableArpPacket,
};
use pnet_packet::ethernet::{EtherType, EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet_packet::icmpv6::ndp::{
    MutableNeighborAdvertPacket, MutableNeighborSolicitPacket, NeighborAdvertFlags,
};
use pnet_packet::icmpv6::{self, Icmpv6Code, Icmpv6Packet, Icmpv6Types};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv6::{Ipv6Packet, MutableIpv6Packet};

/// Ethernet header length (no VLAN tag).
pub const ETH_HEADER_LEN: usize = 14;
/// ARP payload length for Ethernet/IPv4.
pub(crate) const ARP_LEN: usize = 28;
/// IPv6 fixed header length.
pub const IPV6_HEADER_LEN: usize = 40;
/// NS/NA body length without options (type, code, checksum, flags/reserved, target).
pub(crate) const ND_BODY_LEN: usize = 24;
/// One link-layer address option for Ethernet (type, length=1, 6 bytes of MAC).
pub(crate) const ND_LLA_OPTION_LEN: usize = 8;
/// EtherType of ARP.
pub(crate) const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ND_OPT_SOURCE_LLA: u8 = 1;
const ND_OPT_TARGET_LLA: u8 = 2;
/// RFC 4861 requires hop limit 255 on every NDP message so that off-link senders are rejected.
const ND_HOP_LIMIT: u8 = 255;

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    pub const ZERO: Mac = Mac([0; 6]);

    pub(crate) fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
    pub(crate) fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }
    /// A locally administered address (bit 1 of the first octet), as veth, bridges and VMs use.
    pub(crate) fn is_local(&self) -> bool {
        self.0[0] & 2 == 2
    }
    /// The Ethernet multicast MAC that carries IPv6 multicast address `ip` (RFC 2464 §7).
    pub fn ipv6_multicast(ip: Ipv6Addr) -> Mac {
        let o = ip.octets();
        Mac([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }
    fn pnet(self) -> MacAddr {
        MacAddr::from(self.0)
    }
    fn from_pnet(m: MacAddr) -> Mac {
        Mac(m.octets())
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Error parsing a textual MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?} (expected six hex octets like 02:00:5e:10:00:01)")]
pub struct ParseMacError(pub String);

impl FromStr for Mac {
    type Err = ParseMacError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseMacError(s.to_string());
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for o in out.iter_mut() {
            let p = parts.next().ok_or_else(err)?;
            if p.is_empty() || p.len() > 2 {
                return Err(err());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(Mac(out))
    }
}

impl serde::Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why a frame was not accepted as ARP or NDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame truncated")]
    Truncated,
    #[error("not an ARP or IPv6 frame")]
    OtherEtherType,
    #[error("ARP is not Ethernet/IPv4")]
    ArpNotEthernetIpv4,
    #[error("unknown ARP operation")]
    ArpOperation,
    #[error("not ICMPv6")]
    NotIcmpv6,
    #[error("not a neighbor solicitation or advertisement")]
    NotNeighborDiscovery,
    #[error("NDP hop limit is not 255")]
    HopLimit,
    #[error("NDP code is not 0")]
    NdCode,
    #[error("ICMPv6 checksum mismatch")]
    Checksum,
    #[error("malformed NDP option")]
    NdOption,
    #[error("NDP target is a multicast address")]
    MulticastTarget,
    #[error("NDP message invalid for its addresses")]
    NdAddressing,
}

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArpOp {
    Request,
    Reply,
}

/// A decoded Ethernet/IPv4 ARP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub eth_src: Mac,
    pub eth_dst: Mac,
    pub op: ArpOp,
    pub sender_mac: Mac,
    pub sender_ip: Ipv4Addr,
    pub target_mac: Mac,
    pub target_ip: Ipv4Addr,
}

impl Arp {
    /// Gratuitous ARP, either form: sender and target protocol addresses are the same.
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip && !self.sender_ip.is_unspecified()
    }
    /// An RFC 5227 probe (sender IP 0.0.0.0): the sender does not own anything yet.
    pub fn is_probe(&self) -> bool {
        self.sender_ip.is_unspecified()
    }
}

/// A decoded Neighbor Solicitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborSolicit {
    pub eth_src: Mac,
    pub eth_dst: Mac,
    pub src_ip: Ipv6Addr,
    pub dst_ip: Ipv6Addr,
    pub target: Ipv6Addr,
    pub source_lla: Option<Mac>,
}

/// A decoded Neighbor Advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborAdvert {
    pub eth_src: Mac,
    pub eth_dst: Mac,
    pub src_ip: Ipv6Addr,
    pub dst_ip: Ipv6Addr,
    pub target: Ipv6Addr,
    pub router: bool,
    pub solicited: bool,
    pub override_flag: bool,
    pub target_lla: Option<Mac>,
}

impl NeighborAdvert {
    /// The MAC a neighbour cache would record: the target link-layer option, or the frame's
    /// source when the option is absent (allowed for unicast-solicited NAs).
    pub fn owner_mac(&self) -> Mac {
        self.target_lla.unwrap_or(self.eth_src)
    }
}

/// Any frame this module understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    Arp(Arp),
    NeighborSolicit(NeighborSolicit),
    NeighborAdvert(NeighborAdvert),
}

// ---------------------------------------------------------------------------------------------
// Encoders

fn ethernet(buf: &mut [u8], src: Mac, dst: Mac, ethertype: EtherType) {
    // Callers size `buf` from constants, so the header always fits.
    if let Some(mut eth) = MutableEthernetPacket::new(buf) {
        eth.set_source(src.pnet());
        eth.set_destination(dst.pnet());
        eth.set_ethertype(ethertype);
    }
}

/// Encodes an Ethernet frame carrying one ARP message.
#[allow(clippy::too_many_arguments)]
pub fn encode_arp(
    eth_src: Mac,
    eth_dst: Mac,
    op: ArpOp,
    sender_mac: Mac,
    sender_ip: Ipv4Addr,
    target_mac: Mac,
    target_ip: Ipv4Addr,
) -> Vec<u8> {
    let mut buf = vec![0u8; ETH_HEADER_LEN + ARP_LEN];
    ethernet(&mut buf, eth_src, eth_dst, EtherTypes::Arp);
    if let Some(mut arp) = MutableArpPacket::new(&mut buf[ETH_HEADER_LEN..]) {
        arp.set_hardware_type(ArpHardwareTypes::Ethernet);
        arp.set_protocol_type(EtherTypes::Ipv4);
        arp.set_hw_addr_len(6);
        arp.set_proto_addr_len(4);
        arp.set_operation(match op {
            ArpOp::Request => ArpOperations::Request,
            ArpOp::Reply => ArpOperations::Reply,
        });
        arp.set_sender_hw_addr(sender_mac.pnet());
        arp.set_sender_proto_addr(sender_ip);
        arp.set_target_hw_addr(target_mac.pnet());
        arp.set_target_proto_addr(target_ip);
    }
    buf
}

/// A broadcast "who-has `target_ip`" request. `sender_ip` may be 0.0.0.0 (an RFC 5227 probe)
/// when the interface has no IPv4 address; Linux still answers those.
pub fn encode_arp_request(src_mac: Mac, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Vec<u8> {
    encode_arp(
        src_mac,
        Mac::BROADCAST,
        ArpOp::Request,
        src_mac,
        sender_ip,
        Mac::ZERO,
        target_ip,
    )
}

/// A unicast reply "`ip` is-at `mac`" to the requester (`to_mac`, `to_ip`).
pub fn encode_arp_reply(mac: Mac, ip: Ipv4Addr, to_mac: Mac, to_ip: Ipv4Addr) -> Vec<u8> {
    encode_arp(mac, to_mac, ArpOp::Reply, mac, ip, to_mac, to_ip)
}

/// Gratuitous ARP in request form, exactly as Cilium sends on takeover: sender IP = target IP =
/// `ip`, sender HW = `mac`, target HW = broadcast, Ethernet destination broadcast.
pub(crate) fn encode_garp_request(mac: Mac, ip: Ipv4Addr) -> Vec<u8> {
    encode_arp(
        mac,
        Mac::BROADCAST,
        ArpOp::Request,
        mac,
        ip,
        Mac::BROADCAST,
        ip,
    )
}

/// Gratuitous ARP in reply form (what `arping -A` sends), for peers that only honour replies.
#[cfg(test)]
pub(crate) fn encode_garp_reply(mac: Mac, ip: Ipv4Addr) -> Vec<u8> {
    encode_arp(mac, Mac::BROADCAST, ArpOp::Reply, mac, ip, mac, ip)
}

/// The solicited-node multicast address of `ip` (ff02::1:ffXX:XXXX, RFC 4291 §2.7.1).
pub(crate) fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// All-nodes link-local multicast, where unsolicited NAs go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

fn lla_option(kind: u8, mac: Mac) -> [u8; ND_LLA_OPTION_LEN] {
    let m = mac.0;
    [kind, 1, m[0], m[1], m[2], m[3], m[4], m[5]]
}

/// Wraps an ICMPv6 body (checksum field zero) in IPv6 and Ethernet and fills the checksum.
fn ipv6_icmp_frame(
    eth_src: Mac,
    eth_dst: Mac,
    src_ip: Ipv6Addr,
    dst_ip: Ipv6Addr,
    icmp: &[u8],
) -> Vec<u8> {
    let mut buf = vec![0u8; ETH_HEADER_LEN + IPV6_HEADER_LEN + icmp.len()];
    ethernet(&mut buf, eth_src, eth_dst, EtherTypes::Ipv6);
    let l4 = ETH_HEADER_LEN + IPV6_HEADER_LEN;
    buf[l4..].copy_from_slice(icmp);
    let sum = Icmpv6Packet::new(&buf[l4..])
        .map(|p| icmpv6::checksum(&p, &src_ip, &dst_ip))
        .unwrap_or(0);
    buf[l4 + 2..l4 + 4].copy_from_slice(&sum.to_be_bytes());
    if let Some(mut ip6) = MutableIpv6Packet::new(&mut buf[ETH_HEADER_LEN..]) {
        ip6.set_version(6);
        ip6.set_payload_length(icmp.len() as u16);
        ip6.set_next_header(IpNextHeaderProtocols::Icmpv6);
        ip6.set_hop_limit(ND_HOP_LIMIT);
        ip6.set_source(src_ip);
        ip6.set_destination(dst_ip);
    }
    buf
}

/// A Neighbor Solicitation for `target`, multicast to its solicited-node group. With an
/// unspecified `src_ip` (no usable IPv6 address on the interface) the source link-layer option
/// must be left out (RFC 4861 §4.3) and responders answer to all-nodes instead of to us.
pub fn encode_neighbor_solicit(src_mac: Mac, src_ip: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let dst_ip = solicited_node(target);
    let with_option = !src_ip.is_unspecified();
    let len = ND_BODY_LEN + if with_option { ND_LLA_OPTION_LEN } else { 0 };
    let mut body = vec![0u8; len];
    if let Some(mut ns) = MutableNeighborSolicitPacket::new(&mut body) {
        ns.set_icmpv6_type(Icmpv6Types::NeighborSolicit);
        ns.set_icmpv6_code(Icmpv6Code(0));
        ns.set_target_addr(target);
    }
    if with_option {
        body[ND_BODY_LEN..].copy_from_slice(&lla_option(ND_OPT_SOURCE_LLA, src_mac));
    }
    ipv6_icmp_frame(src_mac, Mac::ipv6_multicast(dst_ip), src_ip, dst_ip, &body)
}

/// Flags of a Neighbor Advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NaFlags {
    pub router: bool,
    pub solicited: bool,
    pub override_flag: bool,
}

/// A Neighbor Advertisement for `target` at `mac`, always with the target link-layer option.
pub fn encode_neighbor_advert(
    mac: Mac,
    src_ip: Ipv6Addr,
    eth_dst: Mac,
    dst_ip: Ipv6Addr,
    target: Ipv6Addr,
    flags: NaFlags,
) -> Vec<u8> {
    let mut body = vec![0u8; ND_BODY_LEN + ND_LLA_OPTION_LEN];
    if let Some(mut na) = MutableNeighborAdvertPacket::new(&mut body) {
        na.set_icmpv6_type(Icmpv6Types::NeighborAdvert);
        na.set_icmpv6_code(Icmpv6Code(0));
        let mut f = 0u8;
        if flags.router {
            f |= NeighborAdvertFlags::Router;
        }
        if flags.solicited {
            f |= NeighborAdvertFlags::Solicited;
        }
        if flags.override_flag {
            f |= NeighborAdvertFlags::Override;
        }
        na.set_flags(f);
        na.set_target_addr(target);
    }
    body[ND_BODY_LEN..].copy_from_slice(&lla_option(ND_OPT_TARGET_LLA, mac));
    ipv6_icmp_frame(mac, eth_dst, src_ip, dst_ip, &body)
}

/// The solicited answer to `ns`: unicast back to the solicitor (or to all-nodes when the
/// solicitation came from the unspecified address, i.e. DAD), Solicited + Override set.
pub fn encode_na_reply(mac: Mac, target: Ipv6Addr, ns: &NeighborSolicit) -> Vec<u8> {
    let (eth_dst, dst_ip, solicited) = if ns.src_ip.is_unspecified() {
        (Mac::ipv6_multicast(ALL_NODES), ALL_NODES, false)
    } else {
        (ns.source_lla.unwrap_or(ns.eth_src), ns.src_ip, true)
    };
    let flags = NaFlags {
        router: false,
        solicited,
        override_flag: true,
    };
    encode_neighbor_advert(mac, target, eth_dst, dst_ip, target, flags)
}

/// Unsolicited NA on takeover, to all-nodes with Override and the target link-layer option
/// (RFC 4861 §7.2.6) so that existing neighbour cache entries switch to `mac` at once.
/// `src_ip` is the advertised address itself unless the caller has a better one (a link-local).
pub fn encode_unsolicited_na(mac: Mac, src_ip: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let flags = NaFlags {
        router: false,
        solicited: false,
        override_flag: true,
    };
    encode_neighbor_advert(
        mac,
        src_ip,
        Mac::ipv6_multicast(ALL_NODES),
        ALL_NODES,
        target,
        flags,
    )
}

// ---------------------------------------------------------------------------------------------
// Decoders

/// Decodes an Ethernet frame as ARP or NDP (NS/NA). One 802.1Q tag is skipped; AF_PACKET usually
/// strips it already, but a frame captured elsewhere may still carry it.
pub fn decode(frame: &[u8]) -> Result<Frame, DecodeError> {
    let eth = EthernetPacket::new(frame).ok_or(DecodeError::Truncated)?;
    let eth_src = Mac::from_pnet(eth.get_source());
    let eth_dst = Mac::from_pnet(eth.get_destination());
    let mut ethertype = eth.get_ethertype().0;
    let mut payload = frame.get(ETH_HEADER_LEN..).ok_or(DecodeError::Truncated)?;
    if ethertype == ETHERTYPE_VLAN {
        let inner = payload.get(2..4).ok_or(DecodeError::Truncated)?;
        ethertype = u16::from_be_bytes([inner[0], inner[1]]);
        payload = payload.get(4..).ok_or(DecodeError::Truncated)?;
    }
    match ethertype {
        ETHERTYPE_ARP => decode_arp(eth_src, eth_dst, payload).map(Frame::Arp),
        ETHERTYPE_IPV6 => decode_ndp(eth_src, eth_dst, payload),
        _ => Err(DecodeError::OtherEtherType),
    }
}

fn decode_arp(eth_src: Mac, eth_dst: Mac, payload: &[u8]) -> Result<Arp, DecodeError> {
    let arp = ArpPacket::new(payload).ok_or(DecodeError::Truncated)?;
    if arp.get_hardware_type() != ArpHardwareTypes::Ethernet
        || arp.get_protocol_type() != EtherTypes::Ipv4
        || arp.get_hw_addr_len() != 6
        || arp.get_proto_addr_len() != 4
    {
        return Err(DecodeError::ArpNotEthernetIpv4);
    }
    let op = match arp.get_operation() {
        ArpOperation(1) => ArpOp::Request,
        ArpOperation(2) => ArpOp::Reply,
        _ => return Err(DecodeError::ArpOperation),
    };
    Ok(Arp {
        eth_src,
        eth_dst,
        op,
        sender_mac: Mac::from_pnet(arp.get_sender_hw_addr()),
        sender_ip: arp.get_sender_proto_addr(),
        target_mac: Mac::from_pnet(arp.get_target_hw_addr()),
        target_ip: arp.get_target_proto_addr(),
    })
}

/// Walks NDP options; `Ok(None)` when the wanted option is absent.
fn find_lla_option(mut opts: &[u8], kind: u8) -> Result<Option<Mac>, DecodeError> {
    let mut found = None;
    while !opts.is_empty() {
        if opts.len() < 2 {
            return Err(DecodeError::NdOption);
        }
        // RFC 4861 §4.6: a zero length would loop forever and must make the packet invalid.
        let len = usize::from(opts[1]) * 8;
        if len == 0 || len > opts.len() {
            return Err(DecodeError::NdOption);
        }
        if opts[0] == kind && found.is_none() {
            let m = opts.get(2..8).ok_or(DecodeError::NdOption)?;
            found = Some(Mac([m[0], m[1], m[2], m[3], m[4], m[5]]));
        }
        opts = &opts[len..];
    }
    Ok(found)
}

fn decode_ndp(eth_src: Mac, eth_dst: Mac, payload: &[u8]) -> Result<Frame, DecodeError> {
    let ip6 = Ipv6Packet::new(payload).ok_or(DecodeError::Truncated)?;
    if ip6.get_version() != 6 {
        return Err(DecodeError::OtherEtherType);
    }
    // Extension headers before NDP are legal but never used by real stacks for NS/NA, and
    // skipping them is not worth the parser surface.
    if ip6.get_next_header() != IpNextHeaderProtocols::Icmpv6 {
        return Err(DecodeError::NotIcmpv6);
    }
    let plen = usize::from(ip6.get_payload_length());
    // Trailing bytes beyond the payload length are Ethernet padding; fewer bytes is truncation.
    let icmp = payload
        .get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + plen)
        .ok_or(DecodeError::Truncated)?;
    if icmp.len() < ND_BODY_LEN {
        return Err(DecodeError::Truncated);
    }
    let kind = icmp[0];
    if kind != Icmpv6Types::NeighborSolicit.0 && kind != Icmpv6Types::NeighborAdvert.0 {
        return Err(DecodeError::NotNeighborDiscovery);
    }
    if ip6.get_hop_limit() != ND_HOP_LIMIT {
        return Err(DecodeError::HopLimit);
    }
    if icmp[1] != 0 {
        return Err(DecodeError::NdCode);
    }
    let src_ip = ip6.get_source();
    let dst_ip = ip6.get_destination();
    let pkt = Icmpv6Packet::new(icmp).ok_or(DecodeError::Truncated)?;
    let mut zeroed = icmp.to_vec();
    zeroed[2] = 0;
    zeroed[3] = 0;
    let expected = Icmpv6Packet::new(&zeroed)
        .map(|p| icmpv6::checksum(&p, &src_ip, &dst_ip))
        .ok_or(DecodeError::Truncated)?;
    if pkt.get_checksum() != expected {
        return Err(DecodeError::Checksum);
    }
    let mut t = [0u8; 16];
    t.copy_from_slice(&icmp[8..24]);
    let target = Ipv6Addr::from(t);
    if target.is_multicast() {
        return Err(DecodeError::MulticastTarget);
    }
    let opts = &icmp[ND_BODY_LEN..];
    if kind == Icmpv6Types::NeighborSolicit.0 {
        let source_lla = find_lla_option(opts, ND_OPT_SOURCE_LLA)?;
        // DAD solicitations come from :: to a solicited-node group and carry no source option.
        if src_ip.is_unspecified() && (source_lla.is_some() || solicited_node(target) != dst_ip) {
            return Err(DecodeError::NdAddressing);
        }
        Ok(Frame::NeighborSolicit(NeighborSolicit {
            eth_src,
            eth_dst,
            src_ip,
            dst_ip,
            target,
            source_lla,
        }))
    } else {
        let flags = icmp[4];
        let solicited = flags & NeighborAdvertFlags::Solicited != 0;
        // A solicited NA sent to a multicast group is invalid (RFC 4861 §7.1.2).
        if solicited && dst_ip.is_multicast() {
            return Err(DecodeError::NdAddressing);
        }
        Ok(Frame::NeighborAdvert(NeighborAdvert {
            eth_src,
            eth_dst,
            src_ip,
            dst_ip,
            target,
            router: flags & NeighborAdvertFlags::Router != 0,
            solicited,
            override_flag: flags & NeighborAdvertFlags::Override != 0,
            target_lla: find_lla_option(opts, ND_OPT_TARGET_LLA)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAC_A: Mac = Mac([0x02, 0, 0, 0, 0, 0x0a]);
    const MAC_B: Mac = Mac([0x02, 0, 0, 0, 0, 0x0b]);

    #[test]
    fn mac_parse_and_display() {
        let m: Mac = "02:00:5E:10:00:01".parse().unwrap();
        assert_eq!(m.to_string(), "02:00:5e:10:00:01");
        assert!("02:00:5e:10:00".parse::<Mac>().is_err());
        assert!("02:00:5e:10:00:01:02".parse::<Mac>().is_err());
        assert!("02:00:5e:10:00:zz".parse::<Mac>().is_err());
        assert!("02:00:5e:10:00:".parse::<Mac>().is_err());
    }

    #[test]
    fn arp_request_round_trip() {
        let f = encode_arp_request(MAC_A, [10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        assert_eq!(f.len(), 42);
        let Frame::Arp(a) = decode(&f).unwrap() else {
            panic!("not arp")
        };
        assert_eq!(a.op, ArpOp::Request);
        assert_eq!(a.eth_dst, Mac::BROADCAST);
        assert_eq!(a.sender_mac, MAC_A);
        assert_eq!(a.target_ip, Ipv4Addr::new(10, 0, 0, 2));
        assert!(!a.is_gratuitous());
    }

    #[test]
    fn arp_reply_and_garp_forms() {
        let ip = Ipv4Addr::new(192, 168, 7, 9);
        let r = encode_arp_reply(MAC_B, ip, MAC_A, [192, 168, 7, 1].into());
        let Frame::Arp(a) = decode(&r).unwrap() else {
            panic!()
        };
        assert_eq!(
            (a.op, a.sender_ip, a.sender_mac, a.eth_dst),
            (ArpOp::Reply, ip, MAC_B, MAC_A)
        );
        let g = encode_garp_request(MAC_B, ip);
        let Frame::Arp(a) = decode(&g).unwrap() else {
            panic!()
        };
        assert!(a.is_gratuitous() && a.op == ArpOp::Request && a.target_mac == Mac::BROADCAST);
        let g = encode_garp_reply(MAC_B, ip);
        let Frame::Arp(a) = decode(&g).unwrap() else {
            panic!()
        };
        assert!(a.is_gratuitous() && a.op == ArpOp::Reply);
    }

    #[test]
    fn arp_with_padding_and_vlan() {
        let mut f = encode_arp_request(MAC_A, [10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        f.resize(60, 0);
        assert!(matches!(decode(&f), Ok(Frame::Arp(_))));
        let mut v = f[..12].to_vec();
        v.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        v.extend_from_slice(&f[12..]);
        assert!(matches!(decode(&v), Ok(Frame::Arp(_))));
    }

    #[test]
    fn arp_rejects_bad_fields() {
        let f = encode_arp_request(MAC_A, [10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        assert_eq!(decode(&f[..41]), Err(DecodeError::Truncated));
        let mut g = f.clone();
        g[ETH_HEADER_LEN + 4] = 8; // hlen
        assert_eq!(decode(&g), Err(DecodeError::ArpNotEthernetIpv4));
        let mut g = f.clone();
        g[ETH_HEADER_LEN + 7] = 3; // op
        assert_eq!(decode(&g), Err(DecodeError::ArpOperation));
        assert_eq!(decode(&[]), Err(DecodeError::Truncated));
    }

    #[test]
    fn solicited_node_and_mac() {
        let ip: Ipv6Addr = "fd00:1::12:3456".parse().unwrap();
        assert_eq!(
            solicited_node(ip),
            "ff02::1:ff12:3456".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            Mac::ipv6_multicast(solicited_node(ip)).to_string(),
            "33:33:ff:12:34:56"
        );
    }

    #[test]
    fn ns_round_trip_and_validation() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let target: Ipv6Addr = "fd00::99".parse().unwrap();
        let f = encode_neighbor_solicit(MAC_A, src, target);
        let Frame::NeighborSolicit(ns) = decode(&f).unwrap() else {
            panic!()
        };
        assert_eq!(ns.target, target);
        assert_eq!(ns.source_lla, Some(MAC_A));
        assert_eq!(ns.dst_ip, solicited_node(target));
        assert_eq!(ns.eth_dst.to_string(), "33:33:ff:00:00:99");
        // DAD form: no source option.
        let f = encode_neighbor_solicit(MAC_A, Ipv6Addr::UNSPECIFIED, target);
        let Frame::NeighborSolicit(ns) = decode(&f).unwrap() else {
            panic!()
        };
        assert_eq!(ns.source_lla, None);
    }

    #[test]
    fn na_reply_and_unsolicited() {
        let target: Ipv6Addr = "fd00::99".parse().unwrap();
        let ns_frame = encode_neighbor_solicit(MAC_A, "fe80::1".parse().unwrap(), target);
        let Frame::NeighborSolicit(ns) = decode(&ns_frame).unwrap() else {
            panic!()
        };
        let r = encode_na_reply(MAC_B, target, &ns);
        let Frame::NeighborAdvert(na) = decode(&r).unwrap() else {
            panic!()
        };
        assert!(na.solicited && na.override_flag && !na.router);
        assert_eq!(
            (na.eth_dst, na.owner_mac(), na.target),
            (MAC_A, MAC_B, target)
        );
        let u = encode_unsolicited_na(MAC_B, target, target);
        let Frame::NeighborAdvert(na) = decode(&u).unwrap() else {
            panic!()
        };
        assert!(!na.solicited && na.override_flag);
        assert_eq!(na.dst_ip, ALL_NODES);
        assert_eq!(na.target_lla, Some(MAC_B));
    }

    #[test]
    fn ndp_rejects_bad_frames() {
        let target: Ipv6Addr = "fd00::99".parse().unwrap();
        let f = encode_unsolicited_na(MAC_B, target, target);
        let l4 = ETH_HEADER_LEN + IPV6_HEADER_LEN;
        let mut g = f.clone();
        g[l4 + 2] ^= 0xff;
        assert_eq!(decode(&g), Err(DecodeError::Checksum));
        let mut g = f.clone();
        g[ETH_HEADER_LEN + 7] = 64;
        assert_eq!(decode(&g), Err(DecodeError::HopLimit));
        assert_eq!(decode(&f[..f.len() - 1]), Err(DecodeError::Truncated));
        // Zero-length option with a correct checksum must still be rejected.
        let mut body = f[l4..].to_vec();
        body[ND_BODY_LEN + 1] = 0;
        let g = ipv6_icmp_frame(MAC_B, Mac::BROADCAST, target, ALL_NODES, &{
            body[2] = 0;
            body[3] = 0;
            body
        });
        assert_eq!(decode(&g), Err(DecodeError::NdOption));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn decode_mutated_valid_frames_never_panics(
            which in 0usize..4,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            cut in any::<usize>(),
        ) {
            let ip6: Ipv6Addr = "fd00::5".parse().unwrap();
            let mut f = match which {
                0 => encode_arp_request(MAC_A, [10, 0, 0, 1].into(), [10, 0, 0, 5].into()),
                1 => encode_garp_reply(MAC_A, [10, 0, 0, 5].into()),
                2 => encode_neighbor_solicit(MAC_A, "fe80::1".parse().unwrap(), ip6),
                _ => encode_unsolicited_na(MAC_A, ip6, ip6),
            };
            for (pos, val) in flips {
                let n = f.len();
                f[pos % n] = val;
            }
            let n = f.len();
            f.truncate(cut % (n + 1));
            let _ = decode(&f);
        }

        #[test]
        fn arp_round_trips(s in any::<[u8; 6]>(), sip in any::<u32>(), tip in any::<u32>()) {
            let f = encode_arp_request(Mac(s), sip.into(), tip.into());
            let Ok(Frame::Arp(a)) = decode(&f) else { panic!("decode failed") };
            prop_assert_eq!(a.sender_mac, Mac(s));
            prop_assert_eq!(a.sender_ip, Ipv4Addr::from(sip));
            prop_assert_eq!(a.target_ip, Ipv4Addr::from(tip));
        }

        #[test]
        fn na_round_trips(m in any::<[u8; 6]>(), t in any::<u128>()) {
            let target = Ipv6Addr::from(t);
            prop_assume!(!target.is_multicast());
            let f = encode_unsolicited_na(Mac(m), target, target);
            let Ok(Frame::NeighborAdvert(na)) = decode(&f) else { panic!("decode failed") };
            prop_assert_eq!(na.target, target);
            prop_assert_eq!(na.owner_mac(), Mac(m));
        }
    }
}
