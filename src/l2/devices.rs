//! This node's network devices as the announcer sees them, read from `/sys/class/net` (cheap
//! enough to re-read on every recompute, and it needs no netlink socket).

use std::path::Path;

use crate::l2::policy::Device;

/// A device with the facts `lbctl debug devices` shows.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    pub name: String,
    pub index: u32,
    pub mac: String,
    pub operstate: String,
    pub selected: bool,
    /// Ethernet and not loopback, but without link (admin down or no carrier).
    pub link_down: bool,
    /// Why a device cannot announce, when it cannot.
    pub reason: Option<String>,
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Every device under `root` (normally `/sys/class/net`). Selected devices are Ethernet, not
/// loopback and not down. Unlike Cilium, a device needs no IP address to be selected (#41641).
pub fn scan(root: &Path) -> Vec<DeviceInfo> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return vec![];
    };
    let mut out: Vec<DeviceInfo> = rd
        .flatten()
        .map(|e| {
            let dir = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let ty = read(&dir.join("type"));
            let operstate = read(&dir.join("operstate"));
            let flags = u32::from_str_radix(read(&dir.join("flags")).trim_start_matches("0x"), 16)
                .unwrap_or(0);
            let up = flags & 0x1 != 0;
            // "unknown" is what many virtual devices report while working; only a state that
            // says the link is gone counts as down (a veth whose peer is down: lowerlayerdown).
            let no_link = matches!(operstate.as_str(), "down" | "lowerlayerdown" | "notpresent");
            let mut link_down = false;
            let reason = if ty != "1" {
                Some(format!("not Ethernet (type {ty})"))
            } else if flags & 0x8 != 0 {
                Some("loopback".to_string())
            } else if !up || no_link {
                link_down = true;
                Some(format!("down (operstate {operstate})"))
            } else {
                None
            };
            DeviceInfo {
                index: read(&dir.join("ifindex")).parse().unwrap_or(0),
                mac: read(&dir.join("address")),
                selected: reason.is_none(),
                link_down,
                reason,
                operstate,
                name,
            }
        })
        .collect();
    out.sort_by_key(|d| d.index);
    out
}

pub fn as_devices(infos: &[DeviceInfo]) -> Vec<Device> {
    infos
        .iter()
        .map(|d| Device {
            name: d.name.clone(),
            selected: d.selected,
            link_down: d.link_down,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(root: &Path, name: &str, ty: &str, flags: &str, oper: &str) {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for (f, v) in [
            ("type", ty),
            ("flags", flags),
            ("operstate", oper),
            ("ifindex", "3"),
            ("address", "02:00:00:00:00:01"),
        ] {
            std::fs::write(d.join(f), format!("{v}\n")).unwrap();
        }
    }

    #[test]
    fn selection_reasons() {
        let t = tempfile::tempdir().unwrap();
        dev(t.path(), "eth0", "1", "0x1003", "up");
        dev(t.path(), "eth1", "1", "0x1002", "down");
        dev(t.path(), "eth2", "1", "0x1003", "lowerlayerdown");
        dev(t.path(), "tap0", "1", "0x1003", "unknown");
        dev(t.path(), "lo", "772", "0x9", "unknown");
        dev(t.path(), "wg0", "65534", "0x91", "unknown");
        let got = scan(t.path());
        let by = |n: &str| got.iter().find(|d| d.name == n).unwrap().clone();
        assert!(by("eth0").selected);
        assert!(by("eth1").reason.unwrap().starts_with("down"));
        assert!(by("eth1").link_down && !by("eth1").selected);
        // Admin up but the peer is down: no carrier, no announcing.
        assert!(by("eth2").link_down && !by("eth2").selected);
        assert!(by("tap0").selected && !by("tap0").link_down);
        assert!(!by("lo").link_down);
        assert!(by("lo").reason.unwrap().starts_with("not Ethernet"));
        assert!(!by("wg0").selected);
        assert!(scan(&t.path().join("missing")).is_empty());
    }
}
