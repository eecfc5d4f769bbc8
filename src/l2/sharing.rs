//! Services that share a VIP (LB IPAM's `lbipam.cilium.io/sharing-key`) each have their own
//! lease, elected independently, so the leases of two sharers can end up on different nodes.
//! Answering from every holder (Cilium's behaviour) puts two MACs behind one VIP and makes ARP
//! caches flap. So each VIP has one primary Service, the sharer with the smallest
//! (namespace, name), and only the holder of the primary's lease answers for it. Every node
//! derives the same primary from the same Services without any extra API write; when the
//! primary's holder dies, its lease is taken over as usual and the VIP keeps an owner.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

pub type ServiceKey = (String, String);

/// For each Service this node leads, the VIPs it answers for. `services` are the Services this
/// node contends for: (key, VIPs, whether this node leads its lease). A led Service that is not
/// the primary for one of its VIPs gets no answer for that VIP; it keeps its lease (harmless,
/// and it is ready should the Service stop sharing).
pub(crate) fn vips_to_serve<'a, I>(services: I) -> BTreeMap<ServiceKey, BTreeSet<IpAddr>>
where
    I: IntoIterator<Item = (&'a ServiceKey, &'a BTreeSet<IpAddr>, bool)>,
{
    let services: Vec<_> = services.into_iter().collect();
    let mut primary: BTreeMap<IpAddr, &ServiceKey> = BTreeMap::new();
    for (key, ips, _) in &services {
        for ip in ips.iter() {
            primary
                .entry(*ip)
                .and_modify(|p| *p = (*p).min(*key))
                .or_insert(*key);
        }
    }
    services
        .iter()
        .filter(|(_, _, leading)| *leading)
        .map(|(key, ips, _)| {
            let mine = ips
                .iter()
                .filter(|ip| primary.get(*ip) == Some(key))
                .copied()
                .collect();
            ((*key).clone(), mine)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(ns: &str, name: &str) -> ServiceKey {
        (ns.to_string(), name.to_string())
    }

    fn ips(list: &[&str]) -> BTreeSet<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn only_the_primary_sharer_answers() {
        let a = key("default", "a");
        let b = key("default", "b");
        let a_ips = ips(&["10.0.0.1"]);
        let b_ips = ips(&["10.0.0.1", "10.0.0.2"]);
        // Leading only the non-primary sharer: the shared VIP is left to A's holder.
        let got = vips_to_serve([(&a, &a_ips, false), (&b, &b_ips, true)]);
        assert_eq!(got, [(b.clone(), ips(&["10.0.0.2"]))].into());
        let got = vips_to_serve([(&a, &a_ips, true), (&b, &b_ips, false)]);
        assert_eq!(got, [(a.clone(), a_ips.clone())].into());
        // Leading both: the shared VIP once, under the primary.
        let got = vips_to_serve([(&b, &b_ips, true), (&a, &a_ips, true)]);
        assert_eq!(
            got,
            [(a.clone(), a_ips.clone()), (b.clone(), ips(&["10.0.0.2"]))].into()
        );
    }

    #[test]
    fn namespace_orders_before_name_and_unshared_vips_are_untouched() {
        let x = key("a-ns", "zzz");
        let y = key("b-ns", "aaa");
        let shared = ips(&["fd00::1"]);
        let got = vips_to_serve([(&y, &shared, true), (&x, &shared, false)]);
        assert_eq!(got, [(y.clone(), BTreeSet::new())].into());
        let solo = ips(&["10.0.0.9"]);
        assert_eq!(
            vips_to_serve([(&y, &solo, true)]),
            [(y.clone(), solo.clone())].into()
        );
        assert!(vips_to_serve([]).is_empty());
    }

    proptest! {
        /// Every node knows the same Services; each lease has at most one holder.
        #[test]
        fn at_most_one_node_serves_each_vip(
            nodes in 1usize..5,
            svcs in proptest::collection::vec(
                (0u8..3, 0u8..4, proptest::collection::btree_set(0u8..4, 1..4), any::<Option<u8>>()),
                1..8,
            ),
        ) {
            let mut services: BTreeMap<ServiceKey, (BTreeSet<IpAddr>, Option<usize>)> = BTreeMap::new();
            for (ns, name, vips, holder) in svcs {
                let k = key(&format!("ns{ns}"), &format!("svc{name}"));
                let vips = vips.iter().map(|v| IpAddr::from([10, 0, 0, *v])).collect();
                services.insert(k, (vips, holder.map(|h| h as usize % nodes)));
            }
            let mut servers: BTreeMap<IpAddr, BTreeSet<usize>> = BTreeMap::new();
            for node in 0..nodes {
                let served = vips_to_serve(
                    services.iter().map(|(k, (v, h))| (k, v, *h == Some(node))),
                );
                for ip in served.values().flatten() {
                    servers.entry(*ip).or_default().insert(node);
                }
            }
            let all: BTreeSet<IpAddr> = services.values().flat_map(|(v, _)| v).copied().collect();
            for ip in all {
                let (_, (_, holder)) = services.iter().find(|(_, (v, _))| v.contains(&ip)).unwrap();
                let got = servers.remove(&ip).unwrap_or_default();
                prop_assert!(got.len() <= 1, "{ip} served by {got:?}");
                prop_assert_eq!(got, holder.iter().copied().collect::<BTreeSet<_>>());
            }
        }
    }
}
