//! The ARP/NDP codec: every frame the responder and arp-probe read comes off the wire.
#![no_main]

use lbctl::net::codec::{self, Frame, Mac};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match codec::decode(data) {
        Ok(Frame::Arp(a)) => {
            let _ = (a.is_gratuitous(), a.is_probe(), a.sender_mac.to_string());
            // Whatever decodes re-encodes to the same message.
            let again = codec::encode_arp(
                a.eth_src,
                a.eth_dst,
                a.op,
                a.sender_mac,
                a.sender_ip,
                a.target_mac,
                a.target_ip,
            );
            match codec::decode(&again) {
                Ok(Frame::Arp(b)) => assert_eq!(a, b),
                other => panic!("{a:?} re-encoded decodes as {other:?}"),
            }
        }
        Ok(Frame::NeighborSolicit(ns)) => {
            // A reply to a decoded solicitation must encode and decode again.
            let reply = codec::encode_na_reply(Mac([2, 0, 0, 0, 0, 1]), ns.target, &ns);
            assert!(
                codec::decode(&reply).is_ok(),
                "our NA reply to {ns:?} does not decode"
            );
        }
        Ok(Frame::NeighborAdvert(na)) => {
            let _ = na.owner_mac();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(m) = s.parse::<Mac>() {
            // The text form round-trips.
            assert_eq!(m.to_string().parse::<Mac>().ok(), Some(m), "{s:?}");
        }
    }
});
