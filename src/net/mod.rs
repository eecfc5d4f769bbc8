//! Layer 2 on the wire: ARP/NDP codecs, links and routes, the probe engine and the
//! `arp-probe` command.
//!
//! - [`codec`]: pure encoders/decoders (requests, replies, gratuitous ARP, unsolicited NA);
//! - [`link`]: rtnetlink lookups (`ip route get`, link MAC, addresses, subnet membership);
//! - [`bpf`]: the classic BPF programs the probe and the responder attach to their sockets;
//! - [`socket`]: AF_PACKET socket with a classic BPF filter, driven by tokio, and the IPv6
//!   solicited-node multicast join;
//! - [`probe`]: [`probe::probe`] (one verdict) and [`probe::watch`] (ownership over time);
//! - [`cmd`]: `lbctl arp-probe` arguments, rendering and exit codes.

pub(crate) mod bpf;
pub mod cmd;
pub mod codec;
pub mod link;
pub mod probe;
pub mod socket;

pub(crate) use probe::ProbeError;
pub use probe::{probe, ProbeOptions};
