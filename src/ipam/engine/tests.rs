use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::ipam::alloc::Family;
use crate::ipam::block::{AllowFirstLast, BlockSpec};
use crate::ipam::engine::{
    allocate_any, allocate_requested, find_range_of_ip, is_compatible, is_responsible,
    is_satisfied, requested_families, requested_ips, service_labels, sharing_cross_namespace,
    EngineConfig, Families, Incompatible, IpFamilyPolicy, IpLookup, PortView, RangeRef,
    ServiceView, SvcCondition, TrafficPolicy, CLASS_BGP, CLASS_L2,
};
use crate::ipam::pool::{PoolSpec, PoolStore};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test literal")
}

fn svc(ns: &str, name: &str) -> ServiceView {
    ServiceView {
        namespace: ns.into(),
        name: name.into(),
        is_load_balancer: true,
        ..ServiceView::default()
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn port(p: u16, proto: &str) -> PortView {
    PortView {
        port: p,
        protocol: proto.into(),
    }
}

#[test]
fn responsibility() {
    let mut cfg = EngineConfig::default();
    let mut s = svc("ns", "a");
    assert!(is_responsible(&s, &cfg));
    cfg.default_lbipam = false;
    assert!(
        !is_responsible(&s, &cfg),
        "default-lb-service-ipam != lbipam"
    );
    s.load_balancer_class = Some(CLASS_L2.into());
    assert!(
        !is_responsible(&s, &cfg),
        "l2 class needs enable-l2-announcements"
    );
    cfg.classes = EngineConfig::classes_for(false, true);
    assert!(is_responsible(&s, &cfg));
    s.load_balancer_class = Some(CLASS_BGP.into());
    assert!(!is_responsible(&s, &cfg));
    cfg.classes = EngineConfig::classes_for(true, true);
    assert!(is_responsible(&s, &cfg));
    s.load_balancer_class = Some("io.cilium/node".into());
    assert!(!is_responsible(&s, &cfg));
    s.load_balancer_class = None;
    cfg.default_lbipam = true;
    s.is_load_balancer = false;
    assert!(!is_responsible(&s, &cfg), "only type LoadBalancer");
}

#[test]
fn family_table() {
    use Family::{V4, V6};
    use IpFamilyPolicy::{PreferDualStack, RequireDualStack, SingleStack};
    let f = |v4, v6| Families { v4, v6 };
    // (policy, families, cluster v4, cluster v6, expected)
    type Case = (Option<IpFamilyPolicy>, Vec<Family>, bool, bool, Families);
    let cases: Vec<Case> = vec![
        (None, vec![V6, V4], true, true, f(false, true)),
        (None, vec![], true, true, f(true, false)),
        (None, vec![], false, true, f(false, true)),
        (Some(SingleStack), vec![V6], true, false, f(false, true)),
        (Some(SingleStack), vec![], false, true, f(false, true)),
        (Some(SingleStack), vec![], false, false, f(false, false)),
        (
            Some(PreferDualStack),
            vec![V4, V6],
            true,
            true,
            f(true, true),
        ),
        (Some(PreferDualStack), vec![V6], true, true, f(false, true)),
        (
            Some(PreferDualStack),
            vec![V4, V6],
            true,
            false,
            f(true, false),
        ),
        (Some(PreferDualStack), vec![], true, true, f(true, true)),
        (Some(RequireDualStack), vec![V4], true, true, f(true, true)),
        (Some(RequireDualStack), vec![], true, false, f(true, false)),
    ];
    for (policy, families, v4, v6, want) in cases {
        let mut s = svc("ns", "a");
        s.ip_family_policy = policy;
        s.ip_families = families.clone();
        let cfg = EngineConfig {
            ipv4: v4,
            ipv6: v6,
            ..EngineConfig::default()
        };
        assert_eq!(
            requested_families(&s, &cfg),
            want,
            "{policy:?} {families:?} {v4} {v6}"
        );
    }
}

#[test]
fn synthetic_labels_override_user_labels() {
    let mut s = svc("shop", "web");
    s.labels = labels(&[("app", "web"), ("io.kubernetes.service.name", "spoof")]);
    let l = service_labels(&s);
    assert_eq!(
        l,
        labels(&[
            ("app", "web"),
            ("io.kubernetes.service.name", "web"),
            ("io.kubernetes.service.namespace", "shop"),
        ])
    );
}

#[test]
fn requested_ip_parsing() {
    let r = requested_ips(
        Some("10.0.0.1"),
        Some(" 10.0.0.1 , 10.0.0.2,bogus,10.0.0.1,,2001:db8::1"),
    );
    // Adjacent duplicate dropped, the later repeat kept (slices.CompactFunc).
    assert_eq!(
        r.ips,
        vec![
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            ip("10.0.0.1"),
            ip("2001:db8::1")
        ]
    );
    assert_eq!(r.invalid, vec!["bogus".to_owned(), String::new()]);
    assert!(requested_ips(None, None).ips.is_empty());
    // Only annotation entries are trimmed.
    assert_eq!(
        requested_ips(Some(" 10.0.0.1"), None).invalid,
        vec![" 10.0.0.1".to_owned()]
    );
    assert_eq!(
        requested_ips(Some(""), Some("")).invalid,
        Vec::<String>::new()
    );
    assert_eq!(
        sharing_cross_namespace(Some("a, b,,*")),
        vec!["a".to_owned(), "b".into(), "*".into()]
    );
}

#[test]
fn satisfaction() {
    let mut s = svc("ns", "a");
    let both = Families { v4: true, v6: true };
    s.ingress_ips = vec![ip("10.0.0.1")];
    assert!(!is_satisfied(&s, both));
    s.ingress_ips.push(ip("2001:db8::1"));
    assert!(is_satisfied(&s, both));
    let mapped = ServiceView {
        ingress_ips: vec![ip("::ffff:10.0.0.1")],
        ..svc("ns", "m")
    };
    assert!(is_satisfied(
        &mapped,
        Families {
            v4: true,
            v6: false
        }
    ));
    assert!(!is_satisfied(
        &mapped,
        Families {
            v4: false,
            v6: true
        }
    ));
    s.requested_ips = vec![ip("10.0.0.1"), ip("10.0.0.9")];
    assert!(!is_satisfied(&s, both), "requested IPs override families");
    s.ingress_ips.push(ip("10.0.0.9"));
    assert!(is_satisfied(&s, both));
}

#[test]
fn compatibility_rules_in_order() {
    let cfg = EngineConfig::default();
    let base = |ns: &str| {
        let mut s = svc(ns, "x");
        s.sharing_key = "k".into();
        s.ports = vec![port(80, "TCP")];
        s
    };
    let a = base("ns");
    let mut b = base("ns");
    b.ports = vec![port(443, "TCP")];
    assert_eq!(is_compatible(&a, &b, &cfg), Ok(()));

    let mut other_key = b.clone();
    other_key.sharing_key = "j".into();
    other_key.namespace = "elsewhere".into();
    assert_eq!(
        is_compatible(&a, &other_key, &cfg),
        Err(Incompatible::SharingKey)
    );

    let mut other_ns = b.clone();
    other_ns.namespace = "ns2".into();
    other_ns.sharing_cross_namespace = vec!["ns".into()];
    assert_eq!(
        is_compatible(&a, &other_ns, &cfg),
        Err(Incompatible::Namespace),
        "must be present on both services"
    );
    let mut a_star = a.clone();
    a_star.sharing_cross_namespace = vec!["*".into()];
    assert_eq!(is_compatible(&a_star, &other_ns, &cfg), Ok(()));

    let mut same_port = b.clone();
    same_port.ports = vec![port(80, "")];
    assert_eq!(
        is_compatible(&a, &same_port, &cfg),
        Err(Incompatible::PortProtocol),
        "unset protocol is TCP"
    );
    same_port.ports = vec![port(80, "UDP")];
    assert_eq!(is_compatible(&a, &same_port, &cfg), Ok(()));
    let legacy = EngineConfig {
        protocol_differentiation: false,
        ..EngineConfig::default()
    };
    assert_eq!(
        is_compatible(&a, &same_port, &legacy),
        Err(Incompatible::Port)
    );

    let mut local = b.clone();
    local.external_traffic_policy = TrafficPolicy::Local;
    assert_eq!(
        is_compatible(&a, &local, &cfg),
        Err(Incompatible::TrafficPolicy)
    );
    let mut a_local = a.clone();
    a_local.external_traffic_policy = TrafficPolicy::Local;
    assert_eq!(
        is_compatible(&a_local, &local, &cfg),
        Err(Incompatible::LocalSelector),
        "empty selectors never match"
    );
    a_local.selector = labels(&[("app", "x")]);
    local.selector = labels(&[("app", "x")]);
    assert_eq!(is_compatible(&a_local, &local, &cfg), Ok(()));
    local.selector = labels(&[("app", "y")]);
    assert_eq!(
        is_compatible(&a_local, &local, &cfg),
        Err(Incompatible::LocalSelector)
    );

    let reasons: Vec<&str> = [
        Incompatible::SharingKey,
        Incompatible::Namespace,
        Incompatible::Port,
        Incompatible::PortProtocol,
        Incompatible::TrafficPolicy,
        Incompatible::LocalSelector,
    ]
    .iter()
    .map(|i| i.reason())
    .collect();
    assert_eq!(
        reasons,
        vec![
            "different sharing key",
            "different and not permitted namespace",
            "same port",
            "same port and protocol",
            "different ExternalTrafficPolicy",
            "compatible ExternalTrafficPolicy local but selecting different set of pods",
        ]
    );
}

#[test]
fn condition_reasons_and_messages() {
    let a = ip("10.0.0.7");
    let cases = [
        (SvcCondition::Satisfied, "True", "satisfied", String::new()),
        (
            SvcCondition::NoPoolForIp(a),
            "False",
            "no_pool",
            "No pool exists with a CIDR containing '10.0.0.7'".into(),
        ),
        (
            SvcCondition::PoolSelectorMismatch(a),
            "False",
            "pool_selector_mismatch",
            "The pool with the CIDR containing '10.0.0.7', doesn't select this service".into(),
        ),
        (
            SvcCondition::AlreadyAllocated(a),
            "False",
            "already_allocated",
            "The IP '10.0.0.7' is already allocated to another service".into(),
        ),
        (
            SvcCondition::AlreadyAllocatedIncompatible(a, Incompatible::TrafficPolicy),
            "False",
            "already_allocated_incompatible_service",
            "The IP '10.0.0.7' is already allocated to an incompatible service. Reason: different ExternalTrafficPolicy".into(),
        ),
        (
            SvcCondition::NoPool,
            "False",
            "no_pool",
            "There are no enabled CiliumLoadBalancerIPPools that match this service".into(),
        ),
        (
            SvcCondition::OutOfIps,
            "False",
            "out_of_ips",
            "All enabled CiliumLoadBalancerIPPools that match this service ran out of allocatable IPs".into(),
        ),
    ];
    for (cond, status, reason, message) in cases {
        assert_eq!(cond.status(), status);
        assert_eq!(cond.reason(), reason);
        assert_eq!(cond.message(), message);
    }
}

fn store() -> PoolStore<u32> {
    let mut s = PoolStore::new();
    s.upsert(PoolSpec {
        name: "blue".into(),
        creation: 1,
        blocks: vec![BlockSpec::cidr("10.0.0.0/30")],
        allow_first_last: Some(AllowFirstLast::No),
        disabled: false,
    })
    .expect("valid");
    s.upsert(PoolSpec {
        name: "red".into(),
        creation: 2,
        blocks: vec![
            BlockSpec::cidr("10.0.1.0/30"),
            BlockSpec::cidr("2001:db8::/126"),
        ],
        allow_first_last: None,
        disabled: false,
    })
    .expect("valid");
    s
}

/// blue selects only `team=blue`; red selects everything.
fn selects(pool: &str, l: &BTreeMap<String, String>) -> bool {
    pool != "blue" || l.get("team").map(String::as_str) == Some("blue")
}

#[test]
fn range_lookup_reasons() {
    let mut pools = store();
    let plain = service_labels(&svc("ns", "a"));
    assert_eq!(
        find_range_of_ip(&pools, &plain, ip("10.0.0.1"), &selects),
        IpLookup::NotSelected
    );
    assert_eq!(
        find_range_of_ip(&pools, &plain, ip("10.9.0.1"), &selects),
        IpLookup::NoPool
    );
    assert_eq!(
        find_range_of_ip(&pools, &plain, ip("2001:db8::2"), &selects),
        IpLookup::Found(RangeRef {
            pool: "red".into(),
            index: 1
        })
    );
    // A disabled pool reads as no pool at all.
    let mut spec = pools.get("red").expect("pool").spec().clone();
    spec.disabled = true;
    pools.upsert(spec).expect("valid");
    assert_eq!(
        find_range_of_ip(&pools, &plain, ip("2001:db8::2"), &selects),
        IpLookup::NoPool
    );
}

#[test]
fn allocate_any_walks_selected_ranges_of_the_family() {
    let mut pools = store();
    let mut blue = svc("ns", "a");
    blue.labels = labels(&[("team", "blue")]);
    let bl = service_labels(&blue);
    // blue sorts first; /30 with first/last reserved has .1 and .2.
    let got: Vec<IpAddr> = (0..4)
        .map(|_| allocate_any(&mut pools, &bl, Family::V4, &selects, || 1).map(|(_, a)| a))
        .collect::<Result<_, _>>()
        .expect("room");
    assert_eq!(
        got,
        vec![
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            ip("10.0.1.0"),
            ip("10.0.1.1")
        ]
    );
    let (r, a) = allocate_any(&mut pools, &bl, Family::V6, &selects, || 1).expect("room");
    assert_eq!((r.pool.as_str(), r.index, a), ("red", 1, ip("2001:db8::")));
    for _ in 0..2 {
        allocate_any(&mut pools, &bl, Family::V4, &selects, || 1).expect("room");
    }
    assert_eq!(
        allocate_any(&mut pools, &bl, Family::V4, &selects, || 1),
        Err(SvcCondition::OutOfIps)
    );
    let mut none: PoolStore<u32> = PoolStore::new();
    assert_eq!(
        allocate_any(&mut none, &bl, Family::V4, &selects, || 1),
        Err(SvcCondition::NoPool)
    );
    // Selected by nothing: blue rejects, and no v4 elsewhere once red is gone.
    pools.remove("red");
    let plain = service_labels(&svc("ns", "b"));
    assert_eq!(
        allocate_any(&mut pools, &plain, Family::V4, &selects, || 1),
        Err(SvcCondition::NoPool)
    );
}

#[test]
fn allocate_requested_reasons() {
    let cfg = EngineConfig::default();
    let mut pools = store();
    let mut a = svc("ns", "a");
    a.ports = vec![port(80, "TCP")];
    let no_sharers = |_: &u32| Vec::new();

    assert_eq!(
        allocate_requested(
            &mut pools,
            &a,
            ip("10.9.9.9"),
            &cfg,
            &selects,
            no_sharers,
            1
        ),
        Err(SvcCondition::NoPoolForIp(ip("10.9.9.9")))
    );
    assert_eq!(
        allocate_requested(
            &mut pools,
            &a,
            ip("10.0.0.1"),
            &cfg,
            &selects,
            no_sharers,
            1
        ),
        Err(SvcCondition::PoolSelectorMismatch(ip("10.0.0.1")))
    );
    assert_eq!(
        allocate_requested(
            &mut pools,
            &a,
            ip("10.0.1.2"),
            &cfg,
            &selects,
            no_sharers,
            1
        ),
        Ok(Some(RangeRef {
            pool: "red".into(),
            index: 0
        }))
    );
    assert_eq!(
        allocate_requested(
            &mut pools,
            &a,
            ip("10.0.1.2"),
            &cfg,
            &selects,
            no_sharers,
            2
        ),
        Err(SvcCondition::AlreadyAllocated(ip("10.0.1.2")))
    );

    // With a sharing key the holder's group decides.
    let mut holder = a.clone();
    holder.sharing_key = "k".into();
    let mut b = svc("ns", "b");
    b.sharing_key = "k".into();
    b.ports = vec![port(80, "TCP")];
    let group = |_: &u32| vec![holder.clone()];
    assert_eq!(
        allocate_requested(&mut pools, &b, ip("10.0.1.2"), &cfg, &selects, group, 2),
        Err(SvcCondition::AlreadyAllocatedIncompatible(
            ip("10.0.1.2"),
            Incompatible::PortProtocol
        ))
    );
    b.ports = vec![port(443, "TCP")];
    assert_eq!(
        allocate_requested(&mut pools, &b, ip("10.0.1.2"), &cfg, &selects, group, 2),
        Ok(None),
        "compatible: join the group"
    );

    // A reserved first/last address is simply already allocated, key or not.
    let mut blue = b.clone();
    blue.labels = labels(&[("team", "blue")]);
    assert_eq!(
        allocate_requested(&mut pools, &blue, ip("10.0.0.0"), &cfg, &selects, group, 3),
        Err(SvcCondition::AlreadyAllocated(ip("10.0.0.0")))
    );
}
