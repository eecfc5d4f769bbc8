//! The classic BPF programs attached to the packet sockets, so that the kernel drops unrelated
//! frames before they wake a task: the probe wants answers about one address, the responder
//! wants questions. Each program is a conjunction of "field at offset equals value" tests,
//! built by one function, so no jump offset is counted by hand.
//!
//! Offsets are from the start of the Ethernet frame (AF_PACKET `SOCK_RAW`). A program runs only
//! on frames of the EtherType its socket is bound to, so none re-checks the EtherType.

use std::net::{Ipv4Addr, Ipv6Addr};

/// One classic BPF instruction, laid out as the kernel's `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

pub(crate) const LD_B_ABS: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16;
pub(crate) const LD_H_ABS: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_ABS) as u16;
pub(crate) const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
pub(crate) const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
pub(crate) const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Snap length returned by "accept": more than any ARP/NDP frame needs.
pub(crate) const ACCEPT: u32 = 0x4_0000;

const ETH_HLEN: u32 = 14;
/// ARP operation (after htype, ptype, hlen, plen).
const ARP_OP: u32 = ETH_HLEN + 6;
/// ARP sender protocol address (after the operation and the sender hardware address).
const ARP_SENDER_IP: u32 = ETH_HLEN + 14;
/// IPv6 next header (after version/class/flow label and payload length).
const IPV6_NEXT_HEADER: u32 = ETH_HLEN + 6;
/// ICMPv6 type: right after the fixed 40-byte IPv6 header, so a packet with extension headers
/// never matches (NDP messages carry none).
const ICMPV6_TYPE: u32 = ETH_HLEN + 40;
/// NS/NA target address (after type, code, checksum and the 4-byte flags/reserved word).
const ND_TARGET: u32 = ICMPV6_TYPE + 8;

const ARP_REQUEST: u32 = 1;
const IPPROTO_ICMPV6: u32 = 58;
const ND_NEIGHBOR_SOLICIT: u32 = 135;
const ND_NEIGHBOR_ADVERT: u32 = 136;

/// A load of a byte, half-word or word (big-endian, as BPF loads them) at an absolute offset.
#[derive(Debug, Clone, Copy)]
enum Load {
    Byte(u32),
    Half(u32),
    Word(u32),
}

impl Load {
    fn insn(self) -> Insn {
        let (code, k) = match self {
            Load::Byte(k) => (LD_B_ABS, k),
            Load::Half(k) => (LD_H_ABS, k),
            Load::Word(k) => (LD_W_ABS, k),
        };
        Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }
}

fn ret(k: u32) -> Insn {
    Insn {
        code: RET_K,
        jt: 0,
        jf: 0,
        k,
    }
}

/// Accepts a frame when every load equals its value, in order, and drops it otherwise. A load
/// beyond the end of a short frame ends the program with 0 in the kernel, which drops it too.
fn accept_if_all(checks: &[(Load, u32)]) -> Vec<Insn> {
    let mut prog = Vec::with_capacity(2 * checks.len() + 2);
    for (i, &(load, value)) in checks.iter().enumerate() {
        prog.push(load.insn());
        // On a mismatch skip the remaining checks and the accept, to the final drop.
        let to_drop = 2 * (checks.len() - i) - 1;
        prog.push(Insn {
            code: JEQ_K,
            jt: 0,
            jf: u8::try_from(to_drop).expect("a filter of at most 127 checks"),
            k: value,
        });
    }
    prog.push(ret(ACCEPT));
    prog.push(ret(0));
    prog
}

/// Probe, IPv4: ARP frames whose sender protocol address is `ip`, i.e. replies and both
/// gratuitous forms (and the owner's own requests, which the probe then ignores).
pub(crate) fn arp_from(ip: Ipv4Addr) -> Vec<Insn> {
    accept_if_all(&[(Load::Word(ARP_SENDER_IP), u32::from(ip))])
}

/// Probe, IPv6: ICMPv6 Neighbor Advertisements whose target is `ip`.
pub(crate) fn neighbor_adverts_for(ip: Ipv6Addr) -> Vec<Insn> {
    let o = ip.octets();
    let word = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
    accept_if_all(&[
        (Load::Byte(IPV6_NEXT_HEADER), IPPROTO_ICMPV6),
        (Load::Byte(ICMPV6_TYPE), ND_NEIGHBOR_ADVERT),
        (Load::Word(ND_TARGET), word(0)),
        (Load::Word(ND_TARGET + 4), word(4)),
        (Load::Word(ND_TARGET + 8), word(8)),
        (Load::Word(ND_TARGET + 12), word(12)),
    ])
}

/// Responder, IPv4: ARP requests only; the daemon never copies other ARP frames.
pub(crate) fn arp_requests() -> Vec<Insn> {
    accept_if_all(&[(Load::Half(ARP_OP), ARP_REQUEST)])
}

/// Responder, IPv6: ICMPv6 Neighbor Solicitations, for any target (the responder looks the
/// target up in its table).
pub(crate) fn neighbor_solicits() -> Vec<Insn> {
    accept_if_all(&[
        (Load::Byte(IPV6_NEXT_HEADER), IPPROTO_ICMPV6),
        (Load::Byte(ICMPV6_TYPE), ND_NEIGHBOR_SOLICIT),
    ])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::net::codec::{self, ArpOp, Frame, Mac, ETHERTYPE_ARP, ETHERTYPE_IPV6};
    use crate::net::probe::classify;
    use proptest::prelude::*;

    /// What the kernel's checker (`bpf_check_classic`) insists on for the instructions we use:
    /// a non-empty program of at most BPF_MAXINSNS, every jump landing inside it, ending in a
    /// return.
    fn check(prog: &[Insn]) {
        assert!(!prog.is_empty() && prog.len() <= 4096);
        for (pc, i) in prog.iter().enumerate() {
            match i.code {
                LD_B_ABS | LD_H_ABS | LD_W_ABS | RET_K => {}
                JEQ_K => {
                    let last = pc + 1 + usize::from(i.jt.max(i.jf));
                    assert!(last < prog.len(), "jump out of the program at {pc}");
                }
                c => panic!("opcode {c:#x} not expected"),
            }
        }
        assert_eq!(
            prog.last().map(|i| i.code),
            Some(RET_K),
            "must end in a return"
        );
    }

    /// Runs a classic BPF program over a frame as the kernel does for these opcodes: loads are
    /// big-endian, and a load past the end of the frame returns 0 (drop).
    pub(crate) fn run(prog: &[Insn], pkt: &[u8]) -> u32 {
        check(prog);
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let i = prog[pc];
            let at = |n: usize| pkt.get(i.k as usize..).and_then(|s| s.get(..n));
            match i.code {
                LD_B_ABS => match at(1) {
                    Some(b) => a = u32::from(b[0]),
                    None => return 0,
                },
                LD_H_ABS => match at(2) {
                    Some(b) => a = u32::from(u16::from_be_bytes([b[0], b[1]])),
                    None => return 0,
                },
                LD_W_ABS => match at(4) {
                    Some(b) => a = u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    None => return 0,
                },
                JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                RET_K => return i.k,
                c => panic!("opcode {c:#x} not expected"),
            }
            pc += 1;
        }
    }

    /// Whether a socket bound to `ethertype` with `prog` attached would deliver `frame`.
    pub(crate) fn delivers(prog: &[Insn], ethertype: u16, frame: &[u8]) -> bool {
        frame.get(12..14) == Some(&ethertype.to_be_bytes()[..]) && run(prog, frame) > 0
    }

    const ME: Mac = Mac([2, 0, 0, 0, 0, 1]);
    const HIM: Mac = Mac([2, 0, 0, 0, 0, 2]);

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }
    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn programs_are_the_known_good_sequences() {
        let i = |code, jt, jf, k| Insn { code, jt, jf, k };
        assert_eq!(
            arp_from(v4("10.1.2.3")),
            [
                i(LD_W_ABS, 0, 0, 28),
                i(JEQ_K, 0, 1, 0x0a01_0203),
                i(RET_K, 0, 0, ACCEPT),
                i(RET_K, 0, 0, 0),
            ]
        );
        assert_eq!(
            arp_requests(),
            [
                i(LD_H_ABS, 0, 0, 20),
                i(JEQ_K, 0, 1, 1),
                i(RET_K, 0, 0, ACCEPT),
                i(RET_K, 0, 0, 0),
            ]
        );
        assert_eq!(
            neighbor_solicits(),
            [
                i(LD_B_ABS, 0, 0, 20),
                i(JEQ_K, 0, 3, 58),
                i(LD_B_ABS, 0, 0, 54),
                i(JEQ_K, 0, 1, 135),
                i(RET_K, 0, 0, ACCEPT),
                i(RET_K, 0, 0, 0),
            ]
        );
        assert_eq!(
            neighbor_adverts_for(v6("fd00:1:2:3:4:5:6:7")),
            [
                i(LD_B_ABS, 0, 0, 20),
                i(JEQ_K, 0, 11, 58),
                i(LD_B_ABS, 0, 0, 54),
                i(JEQ_K, 0, 9, 136),
                i(LD_W_ABS, 0, 0, 62),
                i(JEQ_K, 0, 7, 0xfd00_0001),
                i(LD_W_ABS, 0, 0, 66),
                i(JEQ_K, 0, 5, 0x0002_0003),
                i(LD_W_ABS, 0, 0, 70),
                i(JEQ_K, 0, 3, 0x0004_0005),
                i(LD_W_ABS, 0, 0, 74),
                i(JEQ_K, 0, 1, 0x0006_0007),
                i(RET_K, 0, 0, ACCEPT),
                i(RET_K, 0, 0, 0),
            ]
        );
    }

    /// The frames of both protocols the filters are tried on.
    fn arp_frames() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            (
                "request",
                codec::encode_arp_request(HIM, v4("10.0.0.2"), v4("10.0.0.1")),
            ),
            (
                "probe request",
                codec::encode_arp_request(HIM, Ipv4Addr::UNSPECIFIED, v4("10.0.0.1")),
            ),
            (
                "reply",
                codec::encode_arp_reply(HIM, v4("10.0.0.1"), ME, v4("10.0.0.2")),
            ),
            (
                "garp request",
                codec::encode_garp_request(HIM, v4("10.0.0.1")),
            ),
            ("garp reply", codec::encode_garp_reply(HIM, v4("10.0.0.1"))),
        ]
    }

    fn nd_frames() -> Vec<(&'static str, Vec<u8>)> {
        let ns = codec::encode_neighbor_solicit(HIM, v6("fe80::2"), v6("fd00::1"));
        let Ok(Frame::NeighborSolicit(parsed)) = codec::decode(&ns) else {
            panic!("the codec decodes its own NS")
        };
        let mut udp = ns.clone();
        udp[20] = 17; // same bytes, next header UDP
        vec![
            ("ns", ns),
            (
                "solicited na",
                codec::encode_na_reply(ME, v6("fd00::1"), &parsed),
            ),
            (
                "unsolicited na",
                codec::encode_unsolicited_na(ME, v6("fe80::1"), v6("fd00::1")),
            ),
            ("udp", udp),
        ]
    }

    #[test]
    fn responder_filters_deliver_only_questions() {
        let arp = arp_requests();
        for (name, f) in arp_frames() {
            let question = name.ends_with("request");
            assert_eq!(delivers(&arp, ETHERTYPE_ARP, &f), question, "{name}");
            // Truncated before the operation: dropped, never read past the end.
            assert!(!delivers(&arp, ETHERTYPE_ARP, &f[..21]), "{name} truncated");
        }
        let ns = neighbor_solicits();
        for (name, f) in nd_frames() {
            assert_eq!(delivers(&ns, ETHERTYPE_IPV6, &f), name == "ns", "{name}");
            assert!(!delivers(&ns, ETHERTYPE_IPV6, &f[..54]), "{name} truncated");
        }
        // Bound to one EtherType, a socket never sees the other protocol.
        for (_, f) in arp_frames() {
            assert!(!delivers(&ns, ETHERTYPE_IPV6, &f));
        }
        for (_, f) in nd_frames() {
            assert!(!delivers(&arp, ETHERTYPE_ARP, &f));
        }
    }

    #[test]
    fn probe_filters_deliver_only_frames_about_the_address() {
        let arp = arp_from(v4("10.0.0.1"));
        for (name, f) in arp_frames() {
            // Everything sent by 10.0.0.1 (all but the requests from .2 and from 0.0.0.0).
            let from_owner = !name.ends_with("request") || name == "garp request";
            assert_eq!(delivers(&arp, ETHERTYPE_ARP, &f), from_owner, "{name}");
        }
        assert!(!delivers(
            &arp_from(v4("10.0.0.9")),
            ETHERTYPE_ARP,
            &codec::encode_garp_reply(HIM, v4("10.0.0.1"))
        ));
        let na = neighbor_adverts_for(v6("fd00::1"));
        for (name, f) in nd_frames() {
            assert_eq!(
                delivers(&na, ETHERTYPE_IPV6, &f),
                name.ends_with("na"),
                "{name}"
            );
            assert!(!delivers(&na, ETHERTYPE_IPV6, &f[..77]), "{name} truncated");
        }
        // Each word of the target is compared.
        for other in ["fd01::1", "fd00:0:1::1", "fd00::1:0:0:1", "fd00::2"] {
            let f = codec::encode_unsolicited_na(HIM, v6("fe80::2"), v6(other));
            assert!(!delivers(&na, ETHERTYPE_IPV6, &f), "{other}");
        }
    }

    proptest! {
        /// The probe's filter never drops a frame that `classify` would count as an answer, and
        /// the responder's never drops a request or solicitation it would look at.
        #[test]
        fn filters_keep_every_frame_the_engines_use(
            sender in any::<[u8; 4]>(), target in any::<[u8; 4]>(),
            t6 in any::<[u8; 16]>(), mac in any::<[u8; 6]>(), op in 0u8..4,
        ) {
            let (sender, target, t6, mac) = (Ipv4Addr::from(sender), Ipv4Addr::from(target), Ipv6Addr::from(t6), Mac(mac));
            let arp = match op {
                0 => codec::encode_arp_request(mac, sender, target),
                1 => codec::encode_arp_reply(mac, sender, ME, target),
                2 => codec::encode_garp_request(mac, sender),
                _ => codec::encode_garp_reply(mac, sender),
            };
            if classify(&arp, sender.into(), ME).is_some() {
                prop_assert!(delivers(&arp_from(sender), ETHERTYPE_ARP, &arp));
            }
            if let Ok(Frame::Arp(a)) = codec::decode(&arp) {
                prop_assert_eq!(delivers(&arp_requests(), ETHERTYPE_ARP, &arp), a.op == ArpOp::Request);
            }
            let ns = codec::encode_neighbor_solicit(mac, v6("fe80::2"), t6);
            if let Ok(Frame::NeighborSolicit(parsed)) = codec::decode(&ns) {
                prop_assert!(delivers(&neighbor_solicits(), ETHERTYPE_IPV6, &ns));
                let na = codec::encode_na_reply(mac, t6, &parsed);
                if classify(&na, t6.into(), ME).is_some() {
                    prop_assert!(delivers(&neighbor_adverts_for(t6), ETHERTYPE_IPV6, &na));
                }
            }
            let na = codec::encode_unsolicited_na(mac, v6("fe80::2"), t6);
            if classify(&na, t6.into(), ME).is_some() {
                prop_assert!(delivers(&neighbor_adverts_for(t6), ETHERTYPE_IPV6, &na));
            }
        }
    }
}
