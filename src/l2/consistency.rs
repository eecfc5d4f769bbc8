//! The announcer's self-check: every (VIP, interface) this node leads must be in its
//! responder's table, and nothing else may be. A holder that is not in the table is the worst
//! failure an announcer has (the VIP is black-holed while the lease says all is well, and no
//! other node takes over), so the check runs continuously, logs and counts every mismatch, and
//! repairs it by republishing the table.
//!
//! The responder applies a new table a few milliseconds after the announcer publishes it, so a
//! single look can catch a mismatch that is merely in flight. Only one seen at two consecutive
//! looks (a second apart) is confirmed; [`confirmed`] makes that decision.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// (VIP, interface).
pub(crate) type Key = (IpAddr, String);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Led, but the responder does not answer for it: the VIP is black-holed.
    Missing,
    /// Answered for (or about to be) without leading it; fencing keeps it silent, but the table
    /// is wrong.
    Extra,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Mismatch {
    pub kind: Kind,
    pub ip: IpAddr,
    pub interface: String,
}

/// What the responder serves: per interface, (the interface task's id, the VIPs it has applied).
/// An interface whose task has ended (e.g. its socket could not be opened) has no entry.
pub type Serving = Arc<Mutex<BTreeMap<String, (u64, BTreeSet<IpAddr>)>>>;

/// The served set as (VIP, interface) keys.
pub(crate) fn served_keys(serving: &Serving) -> BTreeSet<Key> {
    serving
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .flat_map(|(iface, (_, ips))| ips.iter().map(move |ip| (*ip, iface.clone())))
        .collect()
}

/// Both directions of the difference between what this node leads and what it serves.
pub(crate) fn diff(led: &BTreeSet<Key>, served: &BTreeSet<Key>) -> BTreeSet<Mismatch> {
    let one = |kind: Kind, (ip, iface): &Key| Mismatch {
        kind,
        ip: *ip,
        interface: iface.clone(),
    };
    led.difference(served)
        .map(|k| one(Kind::Missing, k))
        .chain(served.difference(led).map(|k| one(Kind::Extra, k)))
        .collect()
}

/// The mismatches seen at both of two consecutive looks.
pub fn confirmed(previous: &BTreeSet<Mismatch>, now: &BTreeSet<Mismatch>) -> BTreeSet<Mismatch> {
    previous.intersection(now).cloned().collect()
}

/// What the announcer reports about itself (the self-check's findings and how long each
/// recompute took), shared with `lbctl debug` and `/metrics`.
#[derive(Debug)]
pub struct Health {
    /// Confirmed mismatches ever found (each was logged and repaired).
    pub mismatches: Counter,
    /// Repairs made (one republish can repair several mismatches).
    pub repairs: Counter,
    /// The confirmed mismatches of the latest look (empty once repaired).
    pub current: Mutex<BTreeSet<Mismatch>>,
    /// One recompute of what to contend for and announce, from the stores to the published
    /// table.
    pub recompute_duration: Histogram,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            mismatches: Counter::default(),
            repairs: Counter::default(),
            current: Mutex::default(),
            // 1 ms to 33 s: a recompute also writes policy status, so an API stall shows.
            recompute_duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
        }
    }
}

impl Health {
    pub(crate) fn record(&self, found: &BTreeSet<Mismatch>) {
        if !found.is_empty() {
            self.mismatches.inc_by(found.len() as u64);
            self.repairs.inc();
        }
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = found.clone();
    }

    pub fn mismatches_total(&self) -> u64 {
        self.mismatches.get()
    }

    pub fn current(&self) -> BTreeSet<Mismatch> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(ip: &str, iface: &str) -> Key {
        (ip.parse().unwrap(), iface.to_string())
    }

    #[test]
    fn diff_finds_both_directions_per_interface() {
        let led: BTreeSet<Key> = [
            k("10.0.0.1", "eth0"),
            k("10.0.0.1", "eth1"),
            k("fd00::1", "eth0"),
        ]
        .into();
        let served: BTreeSet<Key> = [
            k("10.0.0.1", "eth0"),
            k("fd00::1", "eth1"),
            k("10.0.0.9", "eth0"),
        ]
        .into();
        let d = diff(&led, &served);
        let got: Vec<(Kind, String, &str)> = d
            .iter()
            .map(|m| (m.kind, m.ip.to_string(), m.interface.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Kind::Missing, "10.0.0.1".into(), "eth1"),
                (Kind::Missing, "fd00::1".into(), "eth0"),
                (Kind::Extra, "10.0.0.9".into(), "eth0"),
                (Kind::Extra, "fd00::1".into(), "eth1"),
            ]
        );
        assert!(diff(&led, &led).is_empty());
        assert!(diff(&BTreeSet::new(), &BTreeSet::new()).is_empty());
    }

    #[test]
    fn only_a_mismatch_seen_twice_is_confirmed() {
        let led: BTreeSet<Key> = [k("10.0.0.1", "eth0"), k("10.0.0.2", "eth0")].into();
        let first = diff(&led, &[k("10.0.0.2", "eth0")].into());
        // In flight at the first look, applied by the second: nothing to report.
        let second = diff(&led, &led);
        assert!(confirmed(&first, &second).is_empty());
        // Still missing a second later: confirmed.
        let again = diff(&led, &[k("10.0.0.2", "eth0")].into());
        let c = confirmed(&first, &again);
        assert_eq!(c.len(), 1);
        assert_eq!(c.first().unwrap().kind, Kind::Missing);
        assert!(confirmed(&BTreeSet::new(), &again).is_empty());
    }

    #[test]
    fn served_keys_flattens_per_interface() {
        let s: Serving = Arc::default();
        s.lock()
            .unwrap()
            .insert("eth0".into(), (1, ["10.0.0.1".parse().unwrap()].into()));
        s.lock()
            .unwrap()
            .insert("eth1".into(), (2, BTreeSet::new()));
        assert_eq!(served_keys(&s), [k("10.0.0.1", "eth0")].into());
    }
}
