//! A non-blocking AF_PACKET socket bound to one interface and one EtherType, with a classic BPF
//! filter so that the kernel drops unrelated frames before they wake us up.
//!
//! libc directly rather than pnet_datalink: pnet's channel is blocking (a thread per socket and
//! a polling read timeout), while the probe and the long-running responder both want readiness
//! from tokio (`AsyncFd`) and a filter attached before the socket sees its first frame.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::net::codec::{ETHERTYPE_ARP, ETHERTYPE_IPV6};

/// `sll_pkttype` of frames this host sent; AF_PACKET loops them back to every packet socket.
const PACKET_OUTGOING: u8 = 4;

/// One classic BPF instruction (same layout as `struct sock_filter`).
pub type BpfInsn = libc::sock_filter;

const fn stmt(code: u16, k: u32) -> BpfInsn {
    BpfInsn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}
const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> BpfInsn {
    BpfInsn { code, jt, jf, k }
}

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const LD_B_ABS: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
/// Snap length returned by "accept": more than any ARP/NDP frame needs.
const ACCEPT: u32 = 0x4_0000;

/// ARP frames whose sender protocol address is `ip`: replies, and both gratuitous forms.
pub fn arp_filter(ip: Ipv4Addr) -> Vec<BpfInsn> {
    vec![
        stmt(LD_W_ABS, 28), // ARP sender protocol address (14 + 14)
        jump(JEQ_K, u32::from(ip), 0, 1),
        stmt(RET_K, ACCEPT),
        stmt(RET_K, 0),
    ]
}

/// ICMPv6 Neighbor Advertisements whose target is `ip` (no IPv6 extension headers).
pub fn na_filter(ip: Ipv6Addr) -> Vec<BpfInsn> {
    let o = ip.octets();
    let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
    // Each jf counts the instructions to skip to reach the final "ret 0".
    vec![
        stmt(LD_B_ABS, 20), // IPv6 next header
        jump(JEQ_K, 58, 0, 11),
        stmt(LD_B_ABS, 54), // ICMPv6 type
        jump(JEQ_K, 136, 0, 9),
        stmt(LD_W_ABS, 62), // target address, word by word
        jump(JEQ_K, w(0), 0, 7),
        stmt(LD_W_ABS, 66),
        jump(JEQ_K, w(4), 0, 5),
        stmt(LD_W_ABS, 70),
        jump(JEQ_K, w(8), 0, 3),
        stmt(LD_W_ABS, 74),
        jump(JEQ_K, w(12), 0, 1),
        stmt(RET_K, ACCEPT),
        stmt(RET_K, 0),
    ]
}

/// Every ARP frame, or every IPv6 frame: for a responder that filters in user space.
pub fn accept_all() -> Vec<BpfInsn> {
    vec![stmt(RET_K, ACCEPT)]
}

/// A raw Ethernet socket on one interface.
#[derive(Debug)]
pub struct PacketSocket {
    fd: AsyncFd<OwnedFd>,
}

fn last_err() -> io::Error {
    io::Error::last_os_error()
}

impl PacketSocket {
    /// Opens the socket, attaches `filter`, then binds to `ifindex` / `ethertype`, in that order,
    /// so no unfiltered frame is ever queued. `EPERM` means CAP_NET_RAW is missing.
    /// Must be called inside a tokio runtime.
    pub fn open(ifindex: u32, ethertype: u16, filter: &[BpfInsn]) -> io::Result<Self> {
        // SAFETY: plain syscall; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if raw < 0 {
            return Err(last_err());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let prog = libc::sock_fprog {
            len: u16::try_from(filter.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "BPF program too long"))?,
            filter: filter.as_ptr() as *mut BpfInsn,
        };
        // SAFETY: `prog` points at `filter`, which outlives the call; the kernel copies it.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                &prog as *const _ as *const libc::c_void,
                mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(last_err());
        }
        // Best effort (Linux >= 4.20): saves waking up for our own transmissions.
        let one: libc::c_int = 1;
        // SAFETY: valid pointer and length for an int option.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_IGNORE_OUTGOING,
                &one as *const _ as *const libc::c_void,
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        // SAFETY: sockaddr_ll is plain old data; zeroed is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ethertype.to_be();
        sll.sll_ifindex = i32::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ifindex out of range"))?;
        // SAFETY: `sll` is a valid sockaddr_ll and the length matches it.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sll as *const _ as *const libc::sockaddr,
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(last_err());
        }
        // SAFETY: `fd` is owned by the AsyncFd from here on and never closed or replaced
        // behind its back.
        let fd = unsafe {
            AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE)?
        };
        Ok(PacketSocket { fd })
    }

    /// Opens a socket for ARP (`ETH_P_ARP`) or IPv6 (`ETH_P_IPV6`) frames.
    pub fn open_arp(ifindex: u32, filter: &[BpfInsn]) -> io::Result<Self> {
        Self::open(ifindex, ETHERTYPE_ARP, filter)
    }
    pub fn open_ipv6(ifindex: u32, filter: &[BpfInsn]) -> io::Result<Self> {
        Self::open(ifindex, ETHERTYPE_IPV6, filter)
    }

    /// Sends one complete Ethernet frame out of the bound interface.
    pub async fn send(&self, frame: &[u8]) -> io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            let res = guard.try_io(|fd| {
                // SAFETY: `frame` is a valid buffer of the given length.
                let n = unsafe {
                    libc::send(
                        fd.as_raw_fd(),
                        frame.as_ptr() as *const libc::c_void,
                        frame.len(),
                        0,
                    )
                };
                if n < 0 {
                    Err(last_err())
                } else {
                    Ok(())
                }
            });
            match res {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    /// Receives the next frame that this host did not send itself; returns its length.
    /// Frames longer than `buf` are truncated, which no ARP/NDP frame is.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            let res = guard.try_io(|fd| {
                // SAFETY: zeroed sockaddr_ll is valid; pointers and lengths match their buffers.
                let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
                let mut len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
                let n = unsafe {
                    libc::recvfrom(
                        fd.as_raw_fd(),
                        buf.as_mut_ptr() as *mut libc::c_void,
                        buf.len(),
                        0,
                        &mut sll as *mut _ as *mut libc::sockaddr,
                        &mut len,
                    )
                };
                if n < 0 {
                    Err(last_err())
                } else {
                    Ok((n as usize, sll.sll_pkttype))
                }
            });
            match res {
                Ok(Ok((_, PACKET_OUTGOING))) => continue,
                Ok(Ok((n, _))) => return Ok(n),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}
