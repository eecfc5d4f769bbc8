//! Pure choices behind doctor's fixes, so a pasted fix fits the cluster in front of it: free
//! addresses on the segment the announcing nodes share, node labels that nearly match a policy's
//! nodeSelector, and the controller that generates a Service (and would undo a label on it).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;

/// The shortest prefix a proposal may use: nodes spread wider than this are on different L2
/// segments (L2 announcements only reach their own), so the busiest /24 is used instead.
const WIDEST_SEGMENT: u8 = 16;
/// The longest prefix a proposal may use: nodes in one /24 are taken to share at least that /24.
const NARROWEST_SEGMENT: u8 = 24;
/// Host addresses left alone at each end of the segment, where gateways and VRRP addresses
/// usually sit (they are not nodes, so doctor cannot see them).
const EDGE_RESERVE: u32 = 5;

/// The segment the nodes are on, and why, from their InternalIPs (`(node, ip)`).
pub(crate) fn segment_of(nodes: &[(String, Ipv4Addr)]) -> Option<(Ipv4Net, String)> {
    let (first_name, first) = nodes.first()?;
    let lo = nodes.iter().map(|(_, ip)| u32::from(*ip)).min()?;
    let hi = nodes.iter().map(|(_, ip)| u32::from(*ip)).max()?;
    let common = u8::try_from((lo ^ hi).leading_zeros()).unwrap_or(32);
    let list = |net: &Ipv4Net| {
        nodes
            .iter()
            .filter(|(_, ip)| net.contains(ip))
            .map(|(n, ip)| format!("{n} ({ip})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if common >= WIDEST_SEGMENT {
        let len = common.min(NARROWEST_SEGMENT);
        let net = Ipv4Net::new(*first, len).ok()?.trunc();
        let why = format!(
            "the announcing nodes' InternalIPs {} lie in {net} (the smallest prefix holding them, at most /{NARROWEST_SEGMENT})",
            list(&net)
        );
        return Some((net, why));
    }
    // Spread over several segments: the /24 holding most of them (ties: the first node's).
    let mut counts: BTreeMap<Ipv4Net, usize> = BTreeMap::new();
    for (_, ip) in nodes {
        if let Ok(net) = Ipv4Net::new(*ip, NARROWEST_SEGMENT) {
            *counts.entry(net.trunc()).or_default() += 1;
        }
    }
    let own = Ipv4Net::new(*first, NARROWEST_SEGMENT).ok()?.trunc();
    let best = counts
        .iter()
        .max_by_key(|(net, c)| (**c, **net == own))
        .map(|(net, _)| *net)?;
    let why = format!(
        "the announcing nodes are on several segments (wider than /{WIDEST_SEGMENT}); {best} holds most of them: {} (an L2 announcement reaches only its own segment; {first_name}'s is {own})",
        list(&best)
    );
    Some((best, why))
}

/// `want` consecutive free addresses in `segment`, none in `taken` (inclusive ranges of nodes,
/// pools and Service IPs), away from the segment's edges. Just after `after` (the end of the
/// pools already on this segment) when room is there, so pools stay together; otherwise the
/// highest free run; a shorter run only when no run is long enough. `None` when nothing is free.
pub(crate) fn free_block(
    segment: Ipv4Net,
    taken: &[(IpAddr, IpAddr)],
    after: Option<Ipv4Addr>,
    want: u32,
) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let want = u64::from(want.max(1));
    let net = u64::from(u32::from(segment.network()));
    let bcast = u64::from(u32::from(segment.broadcast()));
    // /31 and /32 have no network/broadcast address to skip.
    let (mut lo, mut hi) = if segment.prefix_len() >= 31 {
        (net, bcast)
    } else {
        (net + 1, bcast - 1)
    };
    if hi + 1 - lo > 2 * u64::from(EDGE_RESERVE) + want {
        lo += u64::from(EDGE_RESERVE);
        hi -= u64::from(EDGE_RESERVE);
    }
    let mut used: Vec<(u64, u64)> = taken
        .iter()
        .filter_map(|(a, b)| match (a, b) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                Some((u64::from(u32::from(*a)), u64::from(u32::from(*b))))
            }
            _ => None,
        })
        .filter(|(a, b)| a <= b && *b >= lo && *a <= hi)
        .collect();
    used.sort_unstable();
    let mut runs: Vec<(u64, u64)> = Vec::new();
    let mut next = lo;
    for (a, b) in used {
        if a > next {
            runs.push((next, a - 1));
        }
        next = next.max(b + 1);
    }
    if next <= hi {
        runs.push((next, hi));
    }
    let len = |(a, b): (u64, u64)| b + 1 - a;
    // Every value is inside the segment, so it fits an IPv4 address.
    let addr = |x: u64| Ipv4Addr::from(u32::try_from(x).unwrap_or(u32::MAX));
    let pick = |a: u64, b: u64| Some((addr(a), addr(b)));
    if let Some(after) = after.map(|a| u64::from(u32::from(a)) + 1) {
        if let Some((a, _)) = runs
            .iter()
            .map(|(a, b)| ((*a).max(after), *b))
            .find(|&(a, b)| a <= b && len((a, b)) >= want)
        {
            return pick(a, a + want - 1);
        }
    }
    if let Some(&(_, b)) = runs.iter().rev().find(|r| len(**r) >= want) {
        return pick(b + 1 - want, b);
    }
    let (a, b) = runs.iter().copied().max_by_key(|r| len(*r))?;
    pick(a, b)
}

/// Why a node label comes close to a wanted selector pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Closeness {
    /// The wanted value appears as the label's key or value under another key
    /// (`role=worker` vs `node-role.kubernetes.io/worker`).
    SameValueOtherKey,
    /// Same key, another value.
    SameKeyOtherValue,
    /// A short edit distance away (a typo).
    Typo,
}

/// A label some nodes carry that nearly matches a `want` pair of a nodeSelector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NearMiss {
    pub want: (String, String),
    pub have: (String, String),
    pub closeness: Closeness,
    /// The nodes carrying `have`, in name order.
    pub nodes: Vec<String>,
}

impl NearMiss {
    pub fn have_text(&self) -> String {
        pair_text(&self.have)
    }
    pub fn want_text(&self) -> String {
        pair_text(&self.want)
    }
}

fn pair_text((k, v): &(String, String)) -> String {
    format!("{k}={v}")
}

/// The last path segment of a label key (`node-role.kubernetes.io/worker` → `worker`).
fn key_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

fn closeness(want: &(String, String), have: &(String, String)) -> Option<Closeness> {
    let ((wk, wv), (hk, hv)) = (want, have);
    if wk == hk && wv == hv {
        return None;
    }
    // Values such as "true" or "" say nothing about which label was meant.
    let telling = |v: &str| !v.is_empty() && v != "true" && v != "false";
    let names = |v: &str| telling(v) && (v == hv || v == key_name(hk));
    if wk != hk && (names(wv) || (hv.is_empty() && key_name(hk) == key_name(wk))) {
        return Some(Closeness::SameValueOtherKey);
    }
    if wk == hk {
        return Some(Closeness::SameKeyOtherValue);
    }
    let (w, h) = (pair_text(want), pair_text(have));
    let limit = (w.len().max(h.len()) / 5).max(1);
    (strsim::levenshtein(&w, &h) <= limit).then_some(Closeness::Typo)
}

/// Every node label close to a `want` pair no node matches, closest first; each label once, with
/// all the nodes that carry it.
pub(crate) fn near_misses(
    want: &BTreeMap<String, String>,
    nodes: &[(String, BTreeMap<String, String>)],
) -> Vec<NearMiss> {
    let mut out: Vec<NearMiss> = Vec::new();
    for w in want {
        let w = (w.0.clone(), w.1.clone());
        if nodes.iter().any(|(_, l)| l.get(&w.0) == Some(&w.1)) {
            continue;
        }
        for (node, labels) in nodes {
            for (k, v) in labels {
                let have = (k.clone(), v.clone());
                let Some(c) = closeness(&w, &have) else {
                    continue;
                };
                match out.iter_mut().find(|m| m.want == w && m.have == have) {
                    Some(m) => m.nodes.push(node.clone()),
                    None => out.push(NearMiss {
                        want: w.clone(),
                        have,
                        closeness: c,
                        nodes: vec![node.clone()],
                    }),
                }
            }
        }
    }
    for m in &mut out {
        m.nodes.sort();
    }
    out.sort_by(|a, b| (a.closeness, &a.want, &a.have).cmp(&(b.closeness, &b.want, &b.have)));
    out
}

/// The object a Service is generated from; a label put on the Service is undone by its
/// controller, so a selector fix belongs on this object (or in the selector).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Generator {
    /// e.g. `Gateway`, `Deployment`, or the managing tool when only a label says so.
    pub kind: String,
    /// Empty when only the controller is known.
    pub name: String,
    /// The evidence: the owner reference or the label.
    pub evidence: String,
}

/// Well-known labels of Services that a controller writes, with the kind of their source.
const GENERATOR_LABELS: &[(&str, &str)] = &[
    ("gateway.networking.k8s.io/gateway-name", "Gateway"),
    ("istio.io/gateway-name", "Gateway"),
    ("gateway.istio.io/managed", "Gateway"),
];

/// Label values of `app.kubernetes.io/name` (and `app`) that mark an ingress controller's Service,
/// whose labels come from its Helm values.
const INGRESS_CONTROLLERS: &[&str] = &[
    "ingress-nginx",
    "traefik",
    "istio-ingressgateway",
    "contour",
    "envoy",
    "haproxy-ingress",
    "kong",
];

/// Who generates the Service: an owner reference first (it names the object), then the labels
/// controllers put on what they create.
pub(crate) fn generator(
    owners: &[(String, String)],
    labels: &BTreeMap<String, String>,
) -> Option<Generator> {
    if let Some((kind, name)) = owners.first() {
        return Some(Generator {
            kind: kind.clone(),
            name: name.clone(),
            evidence: format!("ownerReference {kind}/{name}"),
        });
    }
    for (key, kind) in GENERATOR_LABELS {
        if let Some(v) = labels.get(*key) {
            let name = if *key == "gateway.istio.io/managed" {
                String::new()
            } else {
                v.clone()
            };
            return Some(Generator {
                kind: (*kind).to_owned(),
                name,
                evidence: format!("label {key}={v}"),
            });
        }
    }
    for key in ["app.kubernetes.io/name", "app"] {
        if let Some(v) = labels.get(key) {
            if INGRESS_CONTROLLERS.contains(&v.as_str()) {
                return Some(Generator {
                    kind: v.clone(),
                    name: String::new(),
                    evidence: format!("label {key}={v}"),
                });
            }
        }
    }
    // Helm is no controller: it does not undo a label added with kubectl (its three-way merge
    // keeps it), so a Helm-installed Service is labelled like any other.
    let managed = labels
        .get("app.kubernetes.io/managed-by")
        .filter(|m| !m.eq_ignore_ascii_case("helm"))?;
    Some(Generator {
        kind: managed.clone(),
        name: String::new(),
        evidence: format!("label app.kubernetes.io/managed-by={managed}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn nodes(ips: &[&str]) -> Vec<(String, Ipv4Addr)> {
        ips.iter()
            .enumerate()
            .map(|(i, s)| (format!("n{i}"), v4(s)))
            .collect()
    }

    #[test]
    fn segment_is_the_smallest_prefix_capped_at_24() {
        let (net, why) = segment_of(&nodes(&["10.1.2.3", "10.1.2.40"])).unwrap();
        assert_eq!(net.to_string(), "10.1.2.0/24");
        assert!(why.contains("n0 (10.1.2.3), n1 (10.1.2.40)"), "{why}");
        let (net, _) = segment_of(&nodes(&["10.1.2.3", "10.1.3.4"])).unwrap();
        assert_eq!(net.to_string(), "10.1.2.0/23");
    }

    #[test]
    fn nodes_on_distant_segments_use_the_busiest_24() {
        let (net, why) = segment_of(&nodes(&["10.9.0.1", "192.168.5.2", "192.168.5.3"])).unwrap();
        assert_eq!(net.to_string(), "192.168.5.0/24");
        assert!(why.contains("several segments"), "{why}");
        assert_eq!(segment_of(&[]), None);
    }

    #[test]
    fn free_block_follows_existing_pools_and_skips_taken() {
        let seg: Ipv4Net = "192.168.111.0/24".parse().unwrap();
        let taken = [
            (ip("192.168.111.2"), ip("192.168.111.3")),
            (ip("192.168.111.240"), ip("192.168.111.241")),
            (ip("192.168.111.243"), ip("192.168.111.243")),
        ];
        assert_eq!(
            free_block(seg, &taken, Some(v4("192.168.111.241")), 5),
            Some((v4("192.168.111.244"), v4("192.168.111.248")))
        );
        // No pool on the segment: the highest run, clear of the top edge.
        assert_eq!(
            free_block(seg, &taken[..1], None, 10),
            Some((v4("192.168.111.240"), v4("192.168.111.249")))
        );
    }

    #[test]
    fn free_block_is_none_when_everything_is_taken() {
        let seg: Ipv4Net = "10.0.0.0/29".parse().unwrap();
        assert_eq!(
            free_block(seg, &[(ip("10.0.0.0"), ip("10.0.0.7"))], None, 3),
            None
        );
        // A short run is still offered when no run is long enough.
        assert_eq!(
            free_block(seg, &[(ip("10.0.0.3"), ip("10.0.0.7"))], None, 3),
            Some((v4("10.0.0.1"), v4("10.0.0.2")))
        );
    }

    proptest! {
        /// Whatever is taken, a proposal lies inside the segment, off its network and broadcast
        /// addresses, and overlaps nothing taken.
        #[test]
        fn free_block_never_overlaps_and_stays_on_segment(
            base in any::<u32>(),
            len in 20u8..=30,
            taken in prop::collection::vec((0u32..1024, 0u32..16), 0..20),
            after in prop::option::of(0u32..1024),
            want in 1u32..12,
        ) {
            let seg = Ipv4Net::new(Ipv4Addr::from(base), len).unwrap().trunc();
            let net = u32::from(seg.network());
            let ranges: Vec<(IpAddr, IpAddr)> = taken
                .iter()
                .map(|(o, l)| {
                    let a = net.wrapping_add(*o);
                    let b = a.saturating_add(*l);
                    (IpAddr::V4(a.into()), IpAddr::V4(b.into()))
                })
                .collect();
            let after = after.map(|o| Ipv4Addr::from(net.wrapping_add(o)));
            if let Some((a, b)) = free_block(seg, &ranges, after, want) {
                let (a, b) = (u32::from(a), u32::from(b));
                prop_assert!(a <= b && b - a < want);
                prop_assert!(a > net && b < u32::from(seg.broadcast()));
                for (x, y) in &ranges {
                    let (IpAddr::V4(x), IpAddr::V4(y)) = (x, y) else { continue };
                    let (x, y) = (u32::from(*x), u32::from(*y));
                    prop_assert!(b < x || a > y, "{a}-{b} overlaps {x}-{y}");
                }
            }
        }
    }

    proptest! {
        /// Nodes within a /16 are all inside the segment, which is never longer than /24.
        #[test]
        fn segment_holds_every_node_of_a_16(
            base in any::<u32>(),
            offs in prop::collection::vec(0u32..65536, 1..8),
        ) {
            let base = base & 0xffff_0000;
            let ns: Vec<(String, Ipv4Addr)> = offs
                .iter()
                .enumerate()
                .map(|(i, o)| (format!("n{i}"), Ipv4Addr::from(base | o)))
                .collect();
            let (net, _) = segment_of(&ns).unwrap();
            prop_assert!(net.prefix_len() >= WIDEST_SEGMENT && net.prefix_len() <= NARROWEST_SEGMENT);
            for (_, ip) in &ns {
                prop_assert!(net.contains(ip), "{net} misses {ip}");
            }
        }

        /// Every near miss names exactly the nodes that carry its label, and is never a pair
        /// some node already matches.
        #[test]
        fn near_misses_name_exactly_the_carriers(
            want in prop::collection::btree_map("[a-c]{1,3}", "[a-c]{0,3}", 1..3),
            nodes in prop::collection::vec(
                prop::collection::btree_map("[a-c]{1,3}", "[a-c]{0,3}", 0..4), 0..5),
        ) {
            let nodes: Vec<(String, BTreeMap<String, String>)> = nodes
                .into_iter()
                .enumerate()
                .map(|(i, l)| (format!("n{i}"), l))
                .collect();
            for m in near_misses(&want, &nodes) {
                let carriers: Vec<String> = nodes
                    .iter()
                    .filter(|(_, l)| l.get(&m.have.0) == Some(&m.have.1))
                    .map(|(n, _)| n.clone())
                    .collect();
                prop_assert_eq!(&m.nodes, &carriers);
                prop_assert!(m.have != m.want);
                prop_assert!(!nodes.iter().any(|(_, l)| l.get(&m.want.0) == Some(&m.want.1)));
            }
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn role_value_matches_the_node_role_key() {
        let want = labels(&[("role", "worker")]);
        let nodes = vec![
            (
                "cp-1".to_owned(),
                labels(&[("node-role.kubernetes.io/control-plane", "")]),
            ),
            (
                "w-2".to_owned(),
                labels(&[("node-role.kubernetes.io/worker", "")]),
            ),
            (
                "w-1".to_owned(),
                labels(&[("node-role.kubernetes.io/worker", "")]),
            ),
        ];
        let m = near_misses(&want, &nodes);
        assert_eq!(m[0].have_text(), "node-role.kubernetes.io/worker=");
        assert_eq!(m[0].closeness, Closeness::SameValueOtherKey);
        assert_eq!(m[0].nodes, ["w-1", "w-2"]);
        assert!(m.iter().all(|m| !m.nodes.contains(&"cp-1".to_owned())));
    }

    #[test]
    fn same_key_and_typos_are_near_misses_unrelated_labels_are_not() {
        let want = labels(&[("zone", "lan-a")]);
        let nodes = vec![(
            "n".to_owned(),
            labels(&[("zone", "lan-b"), ("zome", "lan-a"), ("os", "linux")]),
        )];
        let m = near_misses(&want, &nodes);
        let kinds: Vec<_> = m.iter().map(|m| (m.have_text(), m.closeness)).collect();
        assert_eq!(
            kinds,
            [
                ("zome=lan-a".to_owned(), Closeness::SameValueOtherKey),
                ("zone=lan-b".to_owned(), Closeness::SameKeyOtherValue),
            ]
        );
        // A pair some node carries is no miss at all.
        assert!(near_misses(&labels(&[("os", "linux")]), &nodes).is_empty());
    }

    #[test]
    fn generator_prefers_owner_then_well_known_labels() {
        let gw = labels(&[("gateway.networking.k8s.io/gateway-name", "web")]);
        let g = generator(&[], &gw).unwrap();
        assert_eq!((g.kind.as_str(), g.name.as_str()), ("Gateway", "web"));
        let owned = generator(&[("Gateway".into(), "edge".into())], &gw).unwrap();
        assert_eq!(owned.name, "edge");
        let nginx = generator(&[], &labels(&[("app.kubernetes.io/name", "ingress-nginx")]));
        assert_eq!(nginx.unwrap().kind, "ingress-nginx");
        assert_eq!(generator(&[], &labels(&[("app", "web")])), None);
        let helm = labels(&[("app.kubernetes.io/managed-by", "Helm")]);
        assert_eq!(generator(&[], &helm), None);
        let op = generator(
            &[],
            &labels(&[("app.kubernetes.io/managed-by", "my-operator")]),
        );
        assert_eq!(op.unwrap().kind, "my-operator");
    }
}
