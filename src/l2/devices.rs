//! This node's network devices as the announcer sees them, read from `/sys/class/net` and the
//! default routes in `/proc/net/route` and `/proc/net/ipv6_route` (cheap enough to re-read every
//! second, and it needs no netlink socket).
//!
//! Selection follows Cilium's device auto-detection (`isSelectedDevice`): not loopback, not a
//! bond slave or a bridge/bond port, no name with an excluded prefix (`cilium_`, `lo`, `lxc`,
//! `cni`, `docker`), no bridge or Open vSwitch device, and a veth only when it carries a default
//! route (kind-style nodes), so pod-side interfaces are never announced on. Unlike Cilium, a
//! device needs no IP address (#41641) and hence no global route. A device that would be selected
//! but is admin-down or has no carrier is reported as `link_down`.

use std::collections::BTreeSet;
use std::path::Path;

use nix::net::if_::InterfaceFlags;

use crate::l2::policy::Device;

/// Name prefixes Cilium never auto-selects (its `excludedDevicePrefixes`).
const EXCLUDED_PREFIXES: [&str; 5] = ["cilium_", "lo", "lxc", "cni", "docker"];

/// A device with the facts `lbctl debug devices` shows.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    pub name: String,
    pub index: u32,
    pub mac: String,
    pub operstate: String,
    pub selected: bool,
    /// Would be selected, but is admin-down or has no carrier.
    pub link_down: bool,
    /// Would be selected, but this process cannot answer there (its ARP socket cannot be
    /// opened, e.g. without CAP_NET_RAW): Services announced only here are left to other nodes.
    pub unanswerable: bool,
    /// Why a device cannot announce, when it cannot.
    pub reason: Option<String>,
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Devices that carry a default route, from the text of `/proc/net/route` and
/// `/proc/net/ipv6_route`. Unreachable defaults the kernel parks on `lo` do not count.
pub(crate) fn default_route_devices(route_v4: &str, route_v6: &str) -> BTreeSet<String> {
    let v4 = route_v4.lines().skip(1).filter_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // Iface Destination Gateway Flags RefCnt Use Metric Mask …
        (f.len() >= 8 && f[1] == "00000000" && f[7] == "00000000").then(|| f[0])
    });
    let v6 = route_v6.lines().filter_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // dest dest_len src src_len nexthop metric refcnt use flags device
        (f.len() >= 10 && f[0].bytes().all(|b| b == b'0') && f[1] == "00").then(|| f[9])
    });
    v4.chain(v6)
        .filter(|d| *d != "lo")
        .map(str::to_string)
        .collect()
}

/// This network namespace's default-route devices.
pub(crate) fn default_route_devices_here() -> BTreeSet<String> {
    default_route_devices(
        &std::fs::read_to_string("/proc/net/route").unwrap_or_default(),
        &std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default(),
    )
}

/// A veth: virtual (no `device` link), no DEVTYPE, and its `iflink` names a peer.
fn is_veth(dir: &Path, uevent: &str) -> bool {
    !dir.join("device").exists()
        && !uevent.lines().any(|l| l.starts_with("DEVTYPE="))
        && read(&dir.join("iflink")) != read(&dir.join("ifindex"))
}

/// Why `name` can never announce, whatever its link state.
fn exclusion(
    dir: &Path,
    name: &str,
    flags: InterfaceFlags,
    with_default_route: &BTreeSet<String>,
) -> Option<String> {
    let ty = read(&dir.join("type"));
    if ty != "1" {
        return Some(format!("not Ethernet (type {ty})"));
    }
    if flags.contains(InterfaceFlags::IFF_LOOPBACK) {
        return Some("loopback".to_string());
    }
    if flags.contains(InterfaceFlags::IFF_SLAVE) {
        return Some("bond slave".to_string());
    }
    if let Ok(master) = std::fs::read_link(dir.join("master")) {
        let m = master
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Some(format!("bridged or bonded to {m}"));
    }
    if let Some(p) = EXCLUDED_PREFIXES.iter().find(|p| name.starts_with(**p)) {
        return Some(format!("excluded prefix {p:?}"));
    }
    let uevent = read(&dir.join("uevent"));
    if dir.join("bridge").exists() || uevent.lines().any(|l| l == "DEVTYPE=openvswitch") {
        return Some("bridge-like device".to_string());
    }
    if is_veth(dir, &uevent) && !with_default_route.contains(name) {
        return Some("veth without default route".to_string());
    }
    None
}

/// Every device under `root` (normally `/sys/class/net`), `with_default_route` naming the
/// devices that carry a default route.
pub(crate) fn scan_with(root: &Path, with_default_route: &BTreeSet<String>) -> Vec<DeviceInfo> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return vec![];
    };
    let mut out: Vec<DeviceInfo> = rd
        .flatten()
        .map(|e| {
            let dir = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let operstate = read(&dir.join("operstate"));
            // The kernel's `net_device_flags`, in hex.
            let flags = i32::from_str_radix(read(&dir.join("flags")).trim_start_matches("0x"), 16)
                .map_or(InterfaceFlags::empty(), InterfaceFlags::from_bits_truncate);
            // "unknown" is what many virtual devices report while working; only a state that
            // says the link is gone counts as down (a veth whose peer is down: lowerlayerdown).
            let no_link = !flags.contains(InterfaceFlags::IFF_UP)
                || matches!(operstate.as_str(), "down" | "lowerlayerdown" | "notpresent");
            let excluded = exclusion(&dir, &name, flags, with_default_route);
            let link_down = excluded.is_none() && no_link;
            let reason =
                excluded.or_else(|| link_down.then(|| format!("down (operstate {operstate})")));
            DeviceInfo {
                index: read(&dir.join("ifindex")).parse().unwrap_or(0),
                mac: read(&dir.join("address")),
                selected: reason.is_none(),
                link_down,
                unanswerable: false,
                reason,
                operstate,
                name,
            }
        })
        .collect();
    out.sort_by_key(|d| d.index);
    out
}

/// [`scan_with`] this namespace's default routes.
pub fn scan(root: &Path) -> Vec<DeviceInfo> {
    scan_with(root, &default_route_devices_here())
}

pub(crate) fn as_devices(infos: &[DeviceInfo]) -> Vec<Device> {
    infos
        .iter()
        .map(|d| Device {
            name: d.name.clone(),
            selected: d.selected,
            link_down: d.link_down,
            unanswerable: d.unanswerable,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `/sys/class/net/<name>`: physical unless `veth`.
    fn dev(root: &Path, name: &str, ty: &str, flags: &str, oper: &str) -> std::path::PathBuf {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for (f, v) in [
            ("type", ty),
            ("flags", flags),
            ("operstate", oper),
            ("ifindex", "3"),
            ("iflink", "3"),
            ("address", "02:00:00:00:00:01"),
            ("uevent", "INTERFACE=x"),
        ] {
            std::fs::write(d.join(f), format!("{v}\n")).unwrap();
        }
        std::fs::create_dir_all(d.join("device")).unwrap();
        d
    }

    fn veth(root: &Path, name: &str) -> std::path::PathBuf {
        let d = dev(root, name, "1", "0x1003", "up");
        std::fs::remove_dir(d.join("device")).unwrap();
        std::fs::write(d.join("iflink"), "9\n").unwrap();
        d
    }

    #[test]
    fn selection_reasons() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        dev(r, "eth0", "1", "0x1003", "up");
        dev(r, "eth1", "1", "0x1002", "down");
        dev(r, "eth2", "1", "0x1003", "lowerlayerdown");
        dev(r, "tap0", "1", "0x1003", "unknown");
        dev(r, "lo", "772", "0x9", "unknown");
        dev(r, "wg0", "65534", "0x91", "unknown");
        dev(r, "bond0s", "1", "0x1803", "up");
        let port = dev(r, "enp1", "1", "0x1003", "up");
        std::os::unix::fs::symlink("../br0", port.join("master")).unwrap();
        let br = dev(r, "br0", "1", "0x1003", "up");
        std::fs::create_dir_all(br.join("bridge")).unwrap();
        dev(r, "lxc1234", "1", "0x1003", "up");
        dev(r, "cni0", "1", "0x1003", "up");
        veth(r, "vethpod");
        veth(r, "kindeth");
        let vlan = dev(r, "eth0.100", "1", "0x1003", "up");
        std::fs::remove_dir(vlan.join("device")).unwrap();
        std::fs::write(vlan.join("uevent"), "DEVTYPE=vlan\nINTERFACE=eth0.100\n").unwrap();
        std::fs::write(vlan.join("iflink"), "2\n").unwrap();

        let got = scan_with(r, &["kindeth".to_string()].into());
        let by = |n: &str| got.iter().find(|d| d.name == n).unwrap().clone();
        let reason = |n: &str| by(n).reason.unwrap_or_default();
        assert!(by("eth0").selected);
        assert!(reason("eth1").starts_with("down"));
        assert!(by("eth1").link_down && !by("eth1").selected);
        // Admin up but the peer is down: no carrier, no announcing.
        assert!(by("eth2").link_down && !by("eth2").selected);
        assert!(by("tap0").selected && !by("tap0").link_down);
        assert!(!by("lo").link_down);
        assert!(reason("lo").starts_with("not Ethernet"));
        assert!(!by("wg0").selected);
        assert_eq!(reason("bond0s"), "bond slave");
        assert_eq!(reason("enp1"), "bridged or bonded to br0");
        assert_eq!(reason("br0"), "bridge-like device");
        assert_eq!(reason("lxc1234"), "excluded prefix \"lxc\"");
        assert_eq!(reason("cni0"), "excluded prefix \"cni\"");
        // Pod-side veths never; a veth holding the default route (a kind node's eth0) yes.
        assert_eq!(reason("vethpod"), "veth without default route");
        assert!(by("kindeth").selected);
        // A VLAN is virtual with a parent link, but not a veth.
        assert!(by("eth0.100").selected);
        // Excluded devices are not "link down": losing them never gives a lease up.
        assert!(!by("vethpod").link_down && !by("br0").link_down);
        assert!(scan_with(&r.join("missing"), &BTreeSet::new()).is_empty());
    }

    #[test]
    fn default_routes_from_proc() {
        let v4 =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                  eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                  eth1\t0000000B\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 bond0\n\
                  fd770000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth1\n\
                  00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        let got = default_route_devices(v4, v6);
        assert_eq!(got, ["bond0".to_string(), "eth0".to_string()].into());
        assert!(default_route_devices("", "garbage\n1 2 3").is_empty());
    }
}
