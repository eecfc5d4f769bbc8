//! Links, addresses and routes from the kernel over rtnetlink: which interface the kernel would
//! use for an address (`ip route get`), that interface's MAC and addresses, and whether the
//! address sits on one of its subnets.

use std::net::IpAddr;

use futures::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::address::{AddressAttribute, AddressHeaderFlags};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkLayerType};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::{Handle, RouteMessageBuilder};

use crate::net::codec::Mac;

/// Errors from link and route lookups.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("no such interface: {0}")]
    NoSuchInterface(String),
    #[error("no route to {0}")]
    NoRoute(IpAddr),
    #[error("netlink: {0}")]
    Netlink(String),
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
}

/// One interface and its addresses.
#[derive(Debug, Clone)]
pub struct Link {
    pub name: String,
    pub index: u32,
    /// None for links without an Ethernet address (loopback, tun, wireguard …).
    pub mac: Option<Mac>,
    pub up: bool,
    pub loopback: bool,
    pub addrs: Vec<IfAddr>,
}

/// One address of a link with its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfAddr {
    pub net: IpNet,
    /// DAD not finished (or failed): the kernel would not use it as a source yet.
    pub tentative: bool,
}

impl Link {
    /// Whether `ip` is inside one of this link's subnets.
    pub fn on_subnet(&self, ip: IpAddr) -> bool {
        self.addrs.iter().any(|a| a.net.contains(&ip))
    }
    /// Whether `ip` is configured on this link itself.
    pub(crate) fn has_addr(&self, ip: IpAddr) -> bool {
        self.addrs.iter().any(|a| a.net.addr() == ip)
    }
    /// The IPv4 address to put in ARP requests: one on the target's subnet if any, else any.
    /// Never the target itself: a request from IP for IP is a gratuitous ARP, which announces
    /// instead of asking; the caller then sends an RFC 5227 probe from 0.0.0.0.
    pub(crate) fn ipv4_source_for(&self, ip: IpAddr) -> Option<IpAddr> {
        let v4 = || {
            self.addrs
                .iter()
                .filter(move |a| a.net.addr().is_ipv4() && a.net.addr() != ip)
        };
        v4().find(|a| a.net.contains(&ip))
            .or_else(|| v4().next())
            .map(|a| a.net.addr())
    }
    /// The IPv6 source for solicitations: a usable link-local first (the RFC 4861 norm), then
    /// another usable address on the target's subnet; never the target itself.
    pub(crate) fn ipv6_source_for(&self, ip: IpAddr) -> Option<IpAddr> {
        let v6 = || {
            self.addrs
                .iter()
                .filter(move |a| !a.tentative && a.net.addr() != ip)
                .filter_map(|a| match a.net.addr() {
                    IpAddr::V6(v6) => Some((a, v6)),
                    IpAddr::V4(_) => None,
                })
        };
        v6().find(|(_, v6)| v6.segments()[0] & 0xffc0 == 0xfe80)
            .or_else(|| v6().find(|(a, _)| a.net.contains(&ip)))
            .map(|(_, v6)| IpAddr::V6(v6))
    }
}

/// What the kernel's routing table says about a destination.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub oif: u32,
    pub gateway: Option<IpAddr>,
    pub pref_src: Option<IpAddr>,
}

fn connect() -> Result<Handle, LinkError> {
    let (conn, handle, _) = rtnetlink::new_connection()?;
    tokio::spawn(conn);
    Ok(handle)
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn netlink_err(e: rtnetlink::Error) -> LinkError {
    LinkError::Netlink(e.to_string())
}

/// `ip route get IP`.
pub(crate) async fn route_get(ip: IpAddr) -> Result<Route, LinkError> {
    let handle = connect()?;
    let prefix = if ip.is_ipv4() { 32 } else { 128 };
    let msg = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(ip, prefix)
        .map_err(|e| LinkError::Netlink(e.to_string()))?
        .build();
    let mut stream = Box::pin(handle.route().get(msg).execute());
    // The kernel answers "network unreachable" as an error message rather than an empty reply.
    let reply = match stream.try_next().await {
        Ok(Some(r)) => r,
        Ok(None) | Err(rtnetlink::Error::NetlinkError(_)) => return Err(LinkError::NoRoute(ip)),
        Err(e) => return Err(netlink_err(e)),
    };
    let mut route = Route {
        oif: 0,
        gateway: None,
        pref_src: None,
    };
    for attr in &reply.attributes {
        match attr {
            RouteAttribute::Oif(i) => route.oif = *i,
            RouteAttribute::Gateway(g) => route.gateway = route_addr(g),
            RouteAttribute::PrefSource(s) => route.pref_src = route_addr(s),
            _ => {}
        }
    }
    if route.oif == 0 {
        return Err(LinkError::NoRoute(ip));
    }
    Ok(route)
}

/// Index of the non-loopback link that carries `ip`, if any.
async fn link_with_addr(ip: IpAddr) -> Result<Option<u32>, LinkError> {
    let handle = connect()?;
    let mut addrs = Box::pin(handle.address().get().set_address_filter(ip).execute());
    while let Some(a) = addrs.try_next().await.map_err(netlink_err)? {
        let matches = a.attributes.iter().any(|attr| {
            matches!(attr, AddressAttribute::Local(x) | AddressAttribute::Address(x) if *x == ip)
        });
        if matches && a.header.index != 0 {
            return Ok(Some(a.header.index));
        }
    }
    Ok(None)
}

/// A link by name or index, with its addresses.
pub async fn link(name: Option<&str>, index: Option<u32>) -> Result<Link, LinkError> {
    let handle = connect()?;
    let mut req = handle.link().get();
    let label = match (name, index) {
        (Some(n), _) => {
            req = req.match_name(n.to_string());
            n.to_string()
        }
        (None, Some(i)) => {
            req = req.match_index(i);
            format!("ifindex {i}")
        }
        (None, None) => return Err(LinkError::NoSuchInterface(String::new())),
    };
    let mut stream = Box::pin(req.execute());
    let msg = match stream.try_next().await {
        Ok(Some(m)) => m,
        // ENODEV comes back as a netlink error message.
        Ok(None) | Err(rtnetlink::Error::NetlinkError(_)) => {
            return Err(LinkError::NoSuchInterface(label))
        }
        Err(e) => return Err(netlink_err(e)),
    };
    let mut link = Link {
        name: String::new(),
        index: msg.header.index,
        mac: None,
        up: msg.header.flags.contains(LinkFlags::Up),
        loopback: msg.header.link_layer_type == LinkLayerType::Loopback,
        addrs: Vec::new(),
    };
    let ether = msg.header.link_layer_type == LinkLayerType::Ether;
    for attr in msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n,
            LinkAttribute::Address(a) if ether && a.len() == 6 => {
                let mut m = [0u8; 6];
                m.copy_from_slice(&a);
                link.mac = Some(Mac(m));
            }
            _ => {}
        }
    }
    let mut addrs = Box::pin(
        handle
            .address()
            .get()
            .set_link_index_filter(link.index)
            .execute(),
    );
    while let Some(a) = addrs.try_next().await.map_err(netlink_err)? {
        if a.header.index != link.index {
            continue;
        }
        let mut tentative = a.header.flags.contains(AddressHeaderFlags::Tentative)
            || a.header.flags.contains(AddressHeaderFlags::Dadfailed);
        let mut addr = None;
        for attr in &a.attributes {
            match attr {
                // IFA_ADDRESS is the peer on point-to-point links; IFA_LOCAL, when present, is ours.
                AddressAttribute::Local(ip) => addr = Some(*ip),
                AddressAttribute::Address(ip) if addr.is_none() => addr = Some(*ip),
                AddressAttribute::Flags(f) => {
                    use rtnetlink::packet_route::address::AddressFlags;
                    tentative |=
                        f.contains(AddressFlags::Tentative) || f.contains(AddressFlags::Dadfailed);
                }
                _ => {}
            }
        }
        if let Some(ip) = addr {
            if let Ok(net) = IpNet::new(ip, a.header.prefix_len) {
                link.addrs.push(IfAddr { net, tentative });
            }
        }
    }
    Ok(link)
}

/// How the probe reaches an address.
#[derive(Debug, Clone)]
pub(crate) struct Egress {
    pub link: Link,
    /// True when the interface came from the routing table rather than `-i`.
    pub from_route: bool,
    /// The next hop when the route goes through a gateway (then the probe cannot see the owner).
    pub gateway: Option<IpAddr>,
    pub on_subnet: bool,
}

/// Picks the interface for probing `ip`: the named one, or the kernel's egress for `ip`.
pub(crate) async fn egress(ip: IpAddr, iface: Option<&str>) -> Result<Egress, LinkError> {
    let (link, from_route, gateway) = match iface {
        Some(name) => (link(Some(name), None).await?, false, None),
        None => {
            let r = route_get(ip).await?;
            let mut l = link(None, Some(r.oif)).await?;
            // A local address routes via lo; probe the LAN link that carries it instead, so
            // that a duplicate elsewhere on that LAN still shows up.
            if l.loopback {
                if let Some(index) = link_with_addr(ip).await? {
                    let owner = link(None, Some(index)).await?;
                    if !owner.loopback {
                        l = owner;
                    }
                }
            }
            (l, true, r.gateway)
        }
    };
    let on_subnet = link.on_subnet(ip);
    Ok(Egress {
        link,
        from_route,
        gateway,
        on_subnet,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(addrs: &[(&str, bool)]) -> Link {
        Link {
            name: "eth0".into(),
            index: 2,
            mac: Some(Mac([2, 0, 0, 0, 0, 1])),
            up: true,
            loopback: false,
            addrs: addrs
                .iter()
                .map(|(a, tentative)| IfAddr {
                    net: a.parse().unwrap(),
                    tentative: *tentative,
                })
                .collect(),
        }
    }

    #[test]
    fn source_selection() {
        let l = link(&[
            ("192.168.1.5/24", false),
            ("10.0.0.5/24", false),
            ("fd00::5/64", false),
            ("fe80::1/64", true),
            ("fe80::2/64", false),
        ]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(l.ipv4_source_for(ip("10.0.0.9")), Some(ip("10.0.0.5")));
        assert_eq!(l.ipv4_source_for(ip("172.16.0.1")), Some(ip("192.168.1.5")));
        // Probing our own address must not turn the request into a gratuitous ARP.
        assert_eq!(l.ipv4_source_for(ip("10.0.0.5")), Some(ip("192.168.1.5")));
        assert_eq!(l.ipv6_source_for(ip("fd00::9")), Some(ip("fe80::2")));
        assert!(l.on_subnet(ip("10.0.0.200")) && !l.on_subnet(ip("10.0.1.1")));
        assert!(l.has_addr(ip("fd00::5")));
        let only = link(&[("10.0.0.5/24", false)]);
        assert_eq!(only.ipv4_source_for(ip("10.0.0.5")), None);
        assert_eq!(only.ipv6_source_for(ip("fd00::1")), None);
    }
}
