//! A non-blocking AF_PACKET socket bound to one interface and one EtherType, with a classic BPF
//! filter (from [`crate::net::bpf`]) so that the kernel drops unrelated frames before they
//! wake us up; and the IPv6 multicast membership the responder needs to hear solicitations.
//!
//! `socket2` and `nix` rather than pnet_datalink: pnet's channel is blocking (a thread per
//! socket and a polling read timeout), while the probe and the long-running responder both want
//! readiness from tokio (`AsyncFd`) and a filter attached before the socket sees its first frame.

use std::io;
use std::mem;
use std::net::{Ipv6Addr, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{self as sys, LinkAddr, SockaddrLike};
// The macro expands to calls of itself and of `setsockopt_impl!` by their bare names.
use nix::{setsockopt_impl, sockopt_impl};
use socket2::{Domain, SockFilter, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::net::bpf::Insn;
use crate::net::codec::{self, ETHERTYPE_ARP, ETHERTYPE_IPV6};

/// `sll_pkttype` of frames this host sent; AF_PACKET loops them back to every packet socket.
const PACKET_OUTGOING: u8 = libc::PACKET_OUTGOING;

sockopt_impl!(
    /// `PACKET_IGNORE_OUTGOING` (Linux >= 4.20): the kernel stops looping our own
    /// transmissions back to this socket.
    IgnoreOutgoing,
    SetOnly,
    libc::SOL_PACKET,
    libc::PACKET_IGNORE_OUTGOING,
    bool
);

/// A raw Ethernet socket on one interface.
#[derive(Debug)]
pub(crate) struct PacketSocket {
    fd: AsyncFd<Socket>,
}

/// The address that binds a packet socket to `ethertype` frames on `ifindex`.
fn link_addr(ifindex: u32, ethertype: u16) -> io::Result<LinkAddr> {
    let sll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: ethertype.to_be(),
        sll_ifindex: i32::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ifindex out of range"))?,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    // SAFETY: the pointer is to a fully initialised `sockaddr_ll` that lives across the call,
    // and the length given is exactly its size; `from_raw` only copies it (after checking the
    // family and the length), so nothing outlives `sll`. nix offers no safe constructor.
    unsafe {
        LinkAddr::from_raw(
            (&sll as *const libc::sockaddr_ll).cast(),
            Some(mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t),
        )
    }
    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a sockaddr_ll"))
}

impl PacketSocket {
    /// Opens the socket, attaches `filter`, then binds to `ifindex` / `ethertype`, in that order,
    /// so no unfiltered frame is ever queued (with protocol 0 the socket receives nothing until
    /// it is bound). `EPERM` means CAP_NET_RAW is missing. Must be called inside a tokio runtime.
    pub fn open(ifindex: u32, ethertype: u16, filter: &[Insn]) -> io::Result<Self> {
        let sock = Socket::new(Domain::PACKET, Type::RAW.nonblocking().cloexec(), None)?;
        // socket2 casts the length to u16 unchecked: a longer program would be cut short.
        if u16::try_from(filter.len()).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "BPF program too long",
            ));
        }
        let prog: Vec<SockFilter> = filter
            .iter()
            .map(|i| SockFilter::new(i.code, i.jt, i.jf, i.k))
            .collect();
        sock.attach_filter(&prog)?;
        // Best effort: saves waking up for our own transmissions; `recv` skips them anyway.
        let _ = sys::setsockopt(&sock, IgnoreOutgoing, &true);
        sys::bind(sock.as_raw_fd(), &link_addr(ifindex, ethertype)?)?;
        // SAFETY: `register_with_interest` needs the descriptor to stay open and the same for
        // the AsyncFd's life. The socket2 `Socket` owns it, closes it only on drop (which the
        // AsyncFd does after deregistering), and is never replaced: `get_mut` is not used.
        let fd = unsafe {
            AsyncFd::register_with_interest(sock, Interest::READABLE | Interest::WRITABLE)?
        };
        Ok(PacketSocket { fd })
    }

    /// Opens a socket for ARP (`ETH_P_ARP`) or IPv6 (`ETH_P_IPV6`) frames.
    pub(crate) fn open_arp(ifindex: u32, filter: &[Insn]) -> io::Result<Self> {
        Self::open(ifindex, ETHERTYPE_ARP, filter)
    }
    pub(crate) fn open_ipv6(ifindex: u32, filter: &[Insn]) -> io::Result<Self> {
        Self::open(ifindex, ETHERTYPE_IPV6, filter)
    }

    /// Sends one complete Ethernet frame out of the bound interface.
    pub async fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.fd
            .async_io(Interest::WRITABLE, |sock| sock.send(frame).map(drop))
            .await
    }

    /// Receives the next frame that this host did not send itself; returns its length.
    /// Frames longer than `buf` are truncated, which no ARP/NDP frame is.
    pub(crate) async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let (n, from) = self
                .fd
                .async_io(Interest::READABLE, |sock| {
                    sys::recvfrom::<LinkAddr>(sock.as_raw_fd(), buf).map_err(io::Error::from)
                })
                .await?;
            if from.is_some_and(|a| a.pkttype() == PACKET_OUTGOING) {
                continue;
            }
            return Ok(n);
        }
    }
}

/// Joins the solicited-node group of `ip` on `ifindex` through an IPv6 socket, so the NIC
/// accepts the 33:33:ff:… frames and MLD-snooping switches forward them (Cilium #41678, #46274).
/// The membership lasts as long as the returned socket.
pub(crate) fn join_solicited_node(ifindex: u32, ip: Ipv6Addr) -> io::Result<UdpSocket> {
    let sock = UdpSocket::bind("[::]:0")?;
    sock.join_multicast_v6(&codec::solicited_node(ip), ifindex)?;
    Ok(sock)
}
