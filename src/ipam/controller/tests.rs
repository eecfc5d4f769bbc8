use std::collections::BTreeMap;
use std::net::IpAddr;

use proptest::prelude::*;

use crate::ipam::alloc::Family;
use crate::ipam::block::{AllowFirstLast, BlockSpec};
use crate::ipam::controller::*;
use crate::ipam::engine::{EngineConfig, IpFamilyPolicy, PortView, ServiceView, TrafficPolicy};
use crate::ipam::pool::PoolSpec;
use crate::model::names;
use crate::model::selector::{LabelSelector, LabelSelectorRequirement};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test literal")
}

fn key(name: &str) -> ServiceKey {
    ServiceKey::new("ns", name)
}

fn view(name: &str) -> ServiceView {
    ServiceView {
        namespace: "ns".into(),
        name: name.into(),
        is_load_balancer: true,
        ports: vec![PortView {
            port: 80,
            protocol: "TCP".into(),
        }],
        ..ServiceView::default()
    }
}

fn input(v: ServiceView) -> ServiceInput {
    ServiceInput {
        view: v,
        generation: 1,
        condition: None,
    }
}

fn pool(name: &str, creation: i64, blocks: Vec<BlockSpec>) -> PoolInput {
    PoolInput {
        spec: PoolSpec {
            name: name.into(),
            creation,
            blocks,
            allow_first_last: None,
            disabled: false,
        },
        selector: None,
        generation: 1,
    }
}

fn range(start: &str, stop: &str) -> BlockSpec {
    BlockSpec::range(start, Some(stop))
}

fn ctl() -> Controller {
    Controller::new(EngineConfig::default())
}

fn cond(c: &Changes, k: &ServiceKey) -> (String, String, String) {
    let d = c
        .services
        .iter()
        .find(|(kk, _)| kk == k)
        .map(|(_, d)| d.clone())
        .expect("service in changes");
    let cs = d.condition.expect("condition");
    (cs.status, cs.reason, cs.message)
}

fn ingress(c: &Changes, k: &ServiceKey) -> Vec<IpAddr> {
    c.services
        .iter()
        .find(|(kk, _)| kk == k)
        .map(|(_, d)| d.ingress.clone())
        .expect("service in changes")
}

/// Feeds every desired Service status back as the observed one, as the cluster would echo
/// our writes, and returns how many Services changed.
fn echo(ctl: &mut Controller, changes: &Changes) -> usize {
    let mut n = 0;
    for (k, d) in &changes.services {
        let Some(mut inp) = ctl.service(k).cloned() else {
            continue;
        };
        if inp.view.ingress_ips != d.ingress || inp.condition != d.condition {
            n += 1;
        }
        inp.view.ingress_ips = d.ingress.clone();
        inp.condition = d.condition.clone();
        ctl.upsert_service(k.clone(), inp);
    }
    n
}

#[test]
fn dormant_until_first_pool_then_first_address() {
    let mut c = ctl();
    c.upsert_service(key("web"), input(view("web")));
    assert!(c.reconcile().services.is_empty(), "dormant writes nothing");
    c.upsert_pool(pool(
        "lan-vips",
        1,
        vec![range("192.168.111.200", "192.168.111.250")],
    ))
    .unwrap();
    let ch = c.reconcile();
    assert_eq!(ingress(&ch, &key("web")), vec![ip("192.168.111.200")]);
    assert_eq!(
        cond(&ch, &key("web")),
        ("True".into(), names::REASON_SATISFIED.into(), String::new())
    );
    let (_, p) = ch.pools.iter().find(|(n, _)| n == "lan-vips").unwrap();
    assert_eq!(p.counts.total.to_string(), "51");
    assert_eq!(p.counts.used.to_string(), "1");
    assert_eq!(p.counts.available.to_string(), "50");
    assert_eq!(p.conflict, None);
}

#[test]
fn every_reason_and_message() {
    let mut c = ctl();
    c.upsert_pool(pool("a", 1, vec![range("10.0.0.1", "10.0.0.2")]))
        .unwrap();
    let mut sel = pool("picky", 2, vec![BlockSpec::cidr("10.1.0.0/30")]);
    sel.selector = Some(LabelSelector {
        match_labels: Some(BTreeMap::from([("team".into(), "x".into())])),
        match_expressions: None,
    });
    sel.spec.allow_first_last = Some(AllowFirstLast::No);
    c.upsert_pool(sel).unwrap();

    c.upsert_service(key("s1"), input(view("s1")));
    c.upsert_service(key("s2"), input(view("s2")));
    let ch = c.reconcile();
    assert_eq!(cond(&ch, &key("s1")).1, "satisfied");
    assert_eq!(cond(&ch, &key("s2")).1, "satisfied");

    let mut out = view("out");
    out.ports[0].port = 81;
    c.upsert_service(key("out"), input(out));
    let ch = c.reconcile();
    assert_eq!(
        cond(&ch, &key("out")),
        (
            "False".into(),
            "out_of_ips".into(),
            names::MSG_OUT_OF_IPS.into()
        )
    );

    let mut v6 = view("v6");
    v6.ip_families = vec![Family::V6];
    v6.ip_family_policy = Some(IpFamilyPolicy::SingleStack);
    c.upsert_service(key("v6"), input(v6));
    let ch = c.reconcile();
    assert_eq!(
        cond(&ch, &key("v6")),
        (
            "False".into(),
            "no_pool".into(),
            names::MSG_NO_POOL_GENERIC.into()
        )
    );

    let cases: Vec<(&str, &str, &str, String)> = vec![
        (
            "outside",
            "192.168.111.11",
            "no_pool",
            names::msg_no_pool_for_ip("192.168.111.11"),
        ),
        (
            "mismatch",
            "10.1.0.1",
            "pool_selector_mismatch",
            names::msg_pool_selector_mismatch("10.1.0.1"),
        ),
        (
            "taken",
            "10.0.0.1",
            "already_allocated",
            names::msg_already_allocated("10.0.0.1"),
        ),
    ];
    for (name, want, reason, msg) in cases {
        let mut v = view(name);
        v.requested_ips = vec![ip(want)];
        c.upsert_service(key(name), input(v));
        let ch = c.reconcile();
        assert_eq!(
            cond(&ch, &key(name)),
            ("False".into(), reason.into(), msg),
            "{name}"
        );
        assert!(ingress(&ch, &key(name)).is_empty());
    }

    // Reserved first address of a CIDR block with allowFirstLastIPs: No.
    let mut v = view("reserved");
    v.labels.insert("team".into(), "x".into());
    v.requested_ips = vec![ip("10.1.0.0")];
    c.upsert_service(key("reserved"), input(v));
    let ch = c.reconcile();
    assert_eq!(cond(&ch, &key("reserved")).1, "already_allocated");
}

#[test]
fn incompatible_sharing_sub_reasons() {
    type Edit = fn(&mut ServiceView);
    let rules: Vec<(Edit, &str)> = vec![
        (
            |v| v.sharing_key = "other".into(),
            names::INCOMPATIBLE_SHARING_KEY,
        ),
        (
            |v| v.namespace = "elsewhere".into(),
            names::INCOMPATIBLE_NAMESPACE,
        ),
        (|_| {}, names::INCOMPATIBLE_PORT_PROTOCOL),
        (
            |v| {
                v.ports[0].port = 81;
                v.external_traffic_policy = TrafficPolicy::Local;
            },
            names::INCOMPATIBLE_ETP,
        ),
    ];
    for (edit, why) in rules {
        let mut c = ctl();
        c.upsert_pool(pool("a", 1, vec![range("10.0.0.1", "10.0.0.9")]))
            .unwrap();
        let mut first = view("first");
        first.sharing_key = "k".into();
        first.requested_ips = vec![ip("10.0.0.5")];
        c.upsert_service(key("first"), input(first));
        c.reconcile();
        let mut second = view("second");
        second.sharing_key = "k".into();
        second.requested_ips = vec![ip("10.0.0.5")];
        edit(&mut second);
        let k = ServiceKey::new(second.namespace.clone(), "second");
        c.upsert_service(k.clone(), input(second));
        let ch = c.reconcile();
        assert_eq!(
            cond(&ch, &k),
            (
                "False".into(),
                names::REASON_ALREADY_ALLOCATED_INCOMPATIBLE.into(),
                names::msg_already_allocated_incompatible("10.0.0.5", why)
            )
        );
        c.check_invariants().unwrap();
    }
    // Local with different selectors.
    let mut c = ctl();
    c.upsert_pool(pool("a", 1, vec![range("10.0.0.1", "10.0.0.9")]))
        .unwrap();
    for (n, port, app) in [("l1", 80, "a"), ("l2", 81, "b")] {
        let mut v = view(n);
        v.sharing_key = "k".into();
        v.ports[0].port = port;
        v.external_traffic_policy = TrafficPolicy::Local;
        v.selector = BTreeMap::from([("app".into(), app.into())]);
        v.requested_ips = vec![ip("10.0.0.5")];
        c.upsert_service(key(n), input(v));
    }
    let ch = c.reconcile();
    assert_eq!(
        cond(&ch, &key("l2")).2,
        names::msg_already_allocated_incompatible(
            "10.0.0.5",
            names::INCOMPATIBLE_ETP_LOCAL_SELECTOR
        )
    );
}

#[test]
fn sharing_key_shares_generic_allocation_and_frees_with_last_sharer() {
    let mut c = ctl();
    c.upsert_pool(pool("a", 1, vec![range("10.0.0.1", "10.0.0.9")]))
        .unwrap();
    for (n, p) in [("dns-tcp", 53), ("dns-udp", 54)] {
        let mut v = view(n);
        v.sharing_key = "dns".into();
        v.ports[0].port = p;
        c.upsert_service(key(n), input(v));
    }
    let ch = c.reconcile();
    assert_eq!(ingress(&ch, &key("dns-tcp")), vec![ip("10.0.0.1")]);
    assert_eq!(ingress(&ch, &key("dns-udp")), vec![ip("10.0.0.1")]);
    c.delete_service(&key("dns-tcp"));
    c.reconcile();
    assert_eq!(c.holders(ip("10.0.0.1")), vec![key("dns-udp")]);
    c.delete_service(&key("dns-udp"));
    c.reconcile();
    assert!(c.holders(ip("10.0.0.1")).is_empty());
    c.upsert_service(key("next"), input(view("next")));
    let ch = c.reconcile();
    assert_eq!(ingress(&ch, &key("next")), vec![ip("10.0.0.1")]);
}

/// Cilium's `TestSharingKey`, step by step: after service-a is recreated into key-b and gets
/// a new address (it clashes with service-c on port 80), service-b (key-b, port 81) joins the
/// group's earlier address, service-c's, as Cilium walks a key's addresses in the order they
/// joined it. Ordering them by address would pick service-a's new one (lower here).
#[test]
fn a_newcomer_joins_the_sharing_groups_earliest_compatible_address_as_cilium() {
    let mut c = ctl();
    c.upsert_pool(pool("pool-a", 1, vec![BlockSpec::cidr("10.0.10.0/24")]))
        .unwrap();
    let svc = |c: &mut Controller, name: &str, sharing_key: &str, port: Option<u16>| {
        let mut v = view(name);
        v.sharing_key = sharing_key.into();
        v.ports = port
            .map(|port| PortView {
                port,
                protocol: "TCP".into(),
            })
            .into_iter()
            .collect();
        c.upsert_service(key(name), input(v));
        let ch = c.reconcile();
        echo(c, &ch);
        let got = ingress(&ch, &key(name));
        assert_eq!(got.len(), 1, "{name}: {got:?}");
        got[0]
    };
    let a = svc(&mut c, "service-a", "key-a", None);
    assert_eq!(svc(&mut c, "service-b", "key-a", None), a);
    let ip_c = svc(&mut c, "service-c", "key-b", Some(80));
    assert_ne!(ip_c, a);
    c.delete_service(&key("service-a"));
    c.delete_service(&key("service-b"));
    c.reconcile();
    assert!(c.holders(a).is_empty(), "released with its last sharer");
    let a2 = svc(&mut c, "service-a", "key-b", Some(80));
    assert_ne!(a2, ip_c, "port 80 clashes with service-c");
    assert!(
        a2 < ip_c,
        "the scenario needs the new address to sort first: {a2} {ip_c}"
    );
    let b = svc(&mut c, "service-b", "key-b", Some(81));
    assert_eq!(
        b, ip_c,
        "service-b joins service-c's address, the group's earlier one"
    );
    c.delete_service(&key("service-c"));
    c.reconcile();
    assert_eq!(
        c.holders(ip_c),
        vec![key("service-b")],
        "kept for service-b"
    );
    c.delete_service(&key("service-b"));
    c.reconcile();
    assert!(c.holders(ip_c).is_empty());
}

#[test]
fn multiple_requested_ips_last_failure_wins() {
    let mut c = ctl();
    c.upsert_pool(pool("a", 1, vec![range("10.0.0.1", "10.0.0.9")]))
        .unwrap();
    let mut v = view("multi");
    v.requested_ips = vec![ip("10.9.9.9"), ip("10.0.0.3"), ip("10.8.8.8")];
    c.upsert_service(key("multi"), input(v));
    let ch = c.reconcile();
    assert_eq!(
        cond(&ch, &key("multi")).2,
        names::msg_no_pool_for_ip("10.8.8.8")
    );
    assert_eq!(ingress(&ch, &key("multi")), vec![ip("10.0.0.3")]);
}

#[test]
fn annotation_refused_then_accepted_after_covering_pool() {
    let mut c = ctl();
    c.upsert_pool(pool(
        "lan-vips",
        1,
        vec![range("192.168.111.200", "192.168.111.250")],
    ))
    .unwrap();
    c.upsert_service(key("web"), input(view("web")));
    let ch = c.reconcile();
    echo(&mut c, &ch);
    c.reconcile();
    let mut inp = c.service(&key("web")).cloned().unwrap();
    inp.view.requested_ips = vec![ip("192.168.111.11")];
    inp.generation = 2;
    c.upsert_service(key("web"), inp);
    let ch = c.reconcile();
    assert_eq!(
        cond(&ch, &key("web")),
        (
            "False".into(),
            "no_pool".into(),
            names::msg_no_pool_for_ip("192.168.111.11")
        )
    );
    assert!(
        ingress(&ch, &key("web")).is_empty(),
        "unrequested IP released"
    );
    let obs = ch.services[0].1.condition.clone().unwrap();
    assert_eq!(obs.observed_generation, 2);
    echo(&mut c, &ch);
    c.upsert_pool(pool(
        "low",
        2,
        vec![range("192.168.111.10", "192.168.111.19")],
    ))
    .unwrap();
    let ch = c.reconcile();
    assert_eq!(ingress(&ch, &key("web")), vec![ip("192.168.111.11")]);
    assert_eq!(cond(&ch, &key("web")).1, "satisfied");
}

#[test]
fn overlapping_pool_conflicts_and_resolves() {
    let mut c = ctl();
    c.upsert_pool(pool("old", 1, vec![BlockSpec::cidr("10.0.0.0/24")]))
        .unwrap();
    c.reconcile();
    c.upsert_pool(pool("new", 2, vec![BlockSpec::cidr("10.0.0.128/25")]))
        .unwrap();
    let ch = c.reconcile();
    let (_, p) = ch.pools.iter().find(|(n, _)| n == "new").unwrap();
    assert_eq!(
        p.conflict.as_deref(),
        Some(
            names::msg_pool_conflict("10.0.0.128", "10.0.0.255", "10.0.0.0", "10.0.0.255", "old")
                .as_str()
        )
    );
    c.upsert_pool(pool("new", 2, vec![BlockSpec::cidr("10.0.1.0/25")]))
        .unwrap();
    let ch = c.reconcile();
    let (_, p) = ch.pools.iter().find(|(n, _)| n == "new").unwrap();
    assert_eq!(p.conflict, None);
}

#[test]
fn type_change_releases_and_removes_condition() {
    let mut c = ctl();
    c.upsert_pool(pool("a", 1, vec![range("10.0.0.1", "10.0.0.1")]))
        .unwrap();
    c.upsert_service(key("web"), input(view("web")));
    let ch = c.reconcile();
    echo(&mut c, &ch);
    let mut inp = c.service(&key("web")).cloned().unwrap();
    inp.view.is_load_balancer = false;
    c.upsert_service(key("web"), inp);
    let ch = c.reconcile();
    let d = &ch
        .services
        .iter()
        .find(|(k, _)| *k == key("web"))
        .unwrap()
        .1;
    assert!(d.ingress.is_empty());
    assert_eq!(d.condition, None);
    assert!(c.holders(ip("10.0.0.1")).is_empty());
    echo(&mut c, &ch);
    assert!(
        c.reconcile().services.is_empty(),
        "cleaned once, then left alone"
    );
}

#[test]
fn foreign_class_is_never_touched() {
    let mut c = ctl();
    c.upsert_pool(pool("a", 1, vec![range("10.0.0.1", "10.0.0.9")]))
        .unwrap();
    let mut v = view("metallb");
    v.load_balancer_class = Some("metallb.io/metallb".into());
    v.ingress_ips = vec![ip("10.0.0.1")];
    c.upsert_service(key("metallb"), input(v));
    assert!(c.reconcile().services.is_empty());
}

#[test]
fn restart_imports_before_allocating_and_satisfied_wins() {
    let mut c = ctl();
    c.upsert_pool(pool("a", 1, vec![range("10.0.0.1", "10.0.0.3")]))
        .unwrap();
    // "aaa" sorts first and is unsatisfied; it must not take 10.0.0.1 from "zzz".
    let fresh = view("aaa");
    let mut held = view("zzz");
    held.ingress_ips = vec![ip("10.0.0.1")];
    let mut inp = input(held);
    inp.condition = Some(CondSpec {
        status: "True".into(),
        reason: "satisfied".into(),
        message: String::new(),
        observed_generation: 1,
    });
    c.upsert_service(key("aaa"), input(fresh));
    c.upsert_service(key("zzz"), inp);
    let ch = c.reconcile();
    assert_eq!(ingress(&ch, &key("zzz")), vec![ip("10.0.0.1")]);
    assert_eq!(ingress(&ch, &key("aaa")), vec![ip("10.0.0.2")]);
}

#[test]
fn restart_rebuilds_sharing_groups() {
    let mut c = ctl();
    c.upsert_pool(pool("a", 1, vec![range("10.0.0.1", "10.0.0.9")]))
        .unwrap();
    for (n, p) in [("x", 1), ("y", 2)] {
        let mut v = view(n);
        v.sharing_key = "k".into();
        v.ports[0].port = p;
        c.upsert_service(key(n), input(v));
    }
    let ch = c.reconcile();
    echo(&mut c, &ch);
    // Restart: a fresh controller fed the echoed objects.
    let mut d = ctl();
    d.upsert_pool(pool("a", 1, vec![range("10.0.0.1", "10.0.0.9")]))
        .unwrap();
    for k in [key("x"), key("y")] {
        d.upsert_service(k.clone(), c.service(&k).cloned().unwrap());
    }
    let ch = d.reconcile();
    assert_eq!(echo(&mut d, &ch), 0, "restart is a fixed point");
    assert_eq!(d.holders(ip("10.0.0.1")), vec![key("x"), key("y")]);
    // A third sharer joins the imported group rather than taking a new address.
    let mut z = view("z");
    z.sharing_key = "k".into();
    z.ports[0].port = 3;
    d.upsert_service(key("z"), input(z));
    let ch = d.reconcile();
    assert_eq!(ingress(&ch, &key("z")), vec![ip("10.0.0.1")]);
}

#[test]
fn disabled_pool_keeps_existing_allocations_across_restart() {
    let mut p = pool("a", 1, vec![range("10.0.0.1", "10.0.0.9")]);
    p.spec.disabled = true;
    let mut c = ctl();
    c.upsert_pool(p).unwrap();
    let mut v = view("old");
    v.ingress_ips = vec![ip("10.0.0.4")];
    let mut inp = input(v);
    inp.condition = Some(CondSpec::from_condition(
        &crate::ipam::engine::SvcCondition::Satisfied,
        1,
    ));
    c.upsert_service(key("old"), inp);
    c.upsert_service(key("new"), input(view("new")));
    let ch = c.reconcile();
    assert_eq!(ingress(&ch, &key("old")), vec![ip("10.0.0.4")]);
    assert_eq!(cond(&ch, &key("new")).1, "no_pool");
}

#[test]
fn invalid_pools_are_reported_and_change_nothing() {
    let mut c = ctl();
    c.upsert_pool(pool("good", 1, vec![range("10.0.0.1", "10.0.0.9")]))
        .unwrap();
    let bad_blocks: Vec<Vec<BlockSpec>> = vec![
        vec![BlockSpec::cidr("10.0.0.0/33")],
        vec![BlockSpec::cidr("not-a-cidr")],
        vec![range("10.0.0.9", "10.0.0.1")],
        vec![range("10.0.0.1", "fd00::1")],
        vec![BlockSpec::default()],
        vec![BlockSpec::range("10.0.0.300", None)],
    ];
    for (i, b) in bad_blocks.into_iter().enumerate() {
        let name = format!("bad{i}");
        assert!(matches!(
            c.upsert_pool(pool(&name, 2, b)),
            Err(PoolInputError::Blocks(_))
        ));
        assert!(c.pools().get(&name).is_none());
    }
    let bad_selectors = [
        ("In", None, "k"),
        ("Exists", Some(vec!["v".to_string()]), "k"),
        ("Bogus", None, "k"),
        ("In", Some(vec!["v".to_string()]), "bad key!"),
    ];
    for (i, (op, values, k)) in bad_selectors.into_iter().enumerate() {
        let mut p = pool(&format!("sel{i}"), 3, vec![range("10.2.0.1", "10.2.0.9")]);
        p.selector = Some(LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: k.into(),
                operator: op.into(),
                values,
            }]),
        });
        assert!(matches!(c.upsert_pool(p), Err(PoolInputError::Selector(_))));
    }
    // An edit that breaks a valid pool keeps the previous version in force.
    assert!(c
        .upsert_pool(pool("good", 1, vec![BlockSpec::cidr("x")]))
        .is_err());
    c.upsert_service(key("web"), input(view("web")));
    let ch = c.reconcile();
    assert_eq!(ingress(&ch, &key("web")), vec![ip("10.0.0.1")]);
    assert_eq!(c.gauges().invalid_pools, 11);
}

#[test]
fn last_pool_deleted_goes_dormant_and_reimports() {
    let mut c = ctl();
    c.upsert_pool(pool("a", 1, vec![range("10.0.0.1", "10.0.0.9")]))
        .unwrap();
    c.upsert_service(key("one"), input(view("one")));
    c.upsert_service(key("two"), input(view("two")));
    let ch = c.reconcile();
    echo(&mut c, &ch);
    c.reconcile();
    c.delete_pool("a");
    assert!(c.reconcile().services.is_empty());
    assert!(!c.is_awake());
    c.upsert_pool(pool("a", 5, vec![range("10.0.0.1", "10.0.0.9")]))
        .unwrap();
    let ch = c.reconcile();
    assert_eq!(echo(&mut c, &ch), 0);
}

#[test]
fn dual_stack_keeps_failure_of_missing_family() {
    let mut c = Controller::new(EngineConfig {
        ipv6: true,
        ..EngineConfig::default()
    });
    c.upsert_pool(pool("v6", 1, vec![BlockSpec::cidr("fd00::/120")]))
        .unwrap();
    let mut v = view("ds");
    v.ip_family_policy = Some(IpFamilyPolicy::RequireDualStack);
    c.upsert_service(key("ds"), input(v));
    let ch = c.reconcile();
    assert_eq!(ingress(&ch, &key("ds")), vec![ip("fd00::")]);
    assert_eq!(cond(&ch, &key("ds")).1, "no_pool");
}

// ------------------------------------------------------------------------------------------
// Properties
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Pool {
        name: u8,
        lo: u8,
        len: u8,
        disabled: bool,
        team: Option<u8>,
    },
    DeletePool(u8),
    Svc {
        name: u8,
        lb: bool,
        want: Option<u8>,
        key: Option<u8>,
        port: u8,
        team: u8,
        local: bool,
    },
    DeleteSvc(u8),
    Echo,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            0u8..4,
            0u8..40,
            0u8..12,
            any::<bool>(),
            proptest::option::of(0u8..2)
        )
            .prop_map(|(name, lo, len, disabled, team)| Op::Pool {
                name,
                lo,
                len,
                disabled: disabled && lo % 3 == 0,
                team
            }),
        (0u8..4).prop_map(Op::DeletePool),
        (
            0u8..12,
            prop::bool::weighted(0.9),
            proptest::option::of(0u8..50),
            proptest::option::of(0u8..2),
            0u8..3,
            0u8..2,
            prop::bool::weighted(0.2)
        )
            .prop_map(|(name, lb, want, key, port, team, local)| Op::Svc {
                name,
                lb,
                want,
                key,
                port,
                team,
                local
            }),
        (0u8..12).prop_map(Op::DeleteSvc),
        Just(Op::Echo),
    ]
}

fn addr(n: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, n])
}

fn apply(c: &mut Controller, op: &Op, creation: &mut i64) {
    match op {
        Op::Pool {
            name,
            lo,
            len,
            disabled,
            team,
        } => {
            *creation += 1;
            let mut p = pool(
                &format!("p{name}"),
                *creation,
                vec![range(
                    &addr(*lo).to_string(),
                    &addr(lo.saturating_add(*len)).to_string(),
                )],
            );
            p.spec.disabled = *disabled;
            p.selector = team.map(|t| LabelSelector {
                match_labels: Some(BTreeMap::from([("team".into(), t.to_string())])),
                match_expressions: None,
            });
            let _ = c.upsert_pool(p);
        }
        Op::DeletePool(n) => c.delete_pool(&format!("p{n}")),
        Op::Svc {
            name,
            lb,
            want,
            key: sk,
            port,
            team,
            local,
        } => {
            let k = key(&format!("s{name}"));
            let mut v = view(&k.name);
            v.is_load_balancer = *lb;
            v.requested_ips = want.map(addr).into_iter().collect();
            v.sharing_key = sk.map(|s| s.to_string()).unwrap_or_default();
            v.ports[0].port = u16::from(*port);
            v.labels.insert("team".into(), team.to_string());
            if *local {
                v.external_traffic_policy = TrafficPolicy::Local;
                v.selector = BTreeMap::from([("app".into(), team.to_string())]);
            }
            let mut inp = c.service(&k).cloned().unwrap_or_else(|| input(v.clone()));
            inp.view = ServiceView {
                ingress_ips: inp.view.ingress_ips.clone(),
                ..v
            };
            c.upsert_service(k, inp);
        }
        Op::DeleteSvc(n) => c.delete_service(&key(&format!("s{n}"))),
        Op::Echo => {}
    }
}

/// Every held address lies in a pool that selects its holder.
fn allocations_stay_in_selecting_pools(c: &Controller) -> Result<(), String> {
    for k in c.service_keys() {
        let s = c.service(k).unwrap();
        let labels = crate::ipam::engine::service_labels(&s.view);
        for ip in c.held(k) {
            let ok = c
                .pools()
                .iter()
                .any(|p| p.range_of(*ip).is_some() && c.pool_selects(p.name(), &labels));
            if !ok {
                return Err(format!("{k} holds {ip} outside every selecting pool"));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn random_edits_keep_invariants(ops in proptest::collection::vec(op(), 1..60)) {
        let mut c = ctl();
        let mut creation = 0;
        for op in &ops {
            apply(&mut c, op, &mut creation);
            let before: BTreeMap<ServiceKey, Vec<IpAddr>> =
                c.service_keys().map(|k| (k.clone(), c.held(k).to_vec())).collect();
            let ch = c.reconcile();
            // Anything neither held before nor imported from the Service's own status is a new
            // allocation, and new allocations only come from enabled, non-conflicting pools.
            for k in c.service_keys() {
                let observed = &c.service(k).unwrap().view.ingress_ips;
                for ip in c.held(k) {
                    let fresh = !before.get(k).is_some_and(|b| b.contains(ip)) && !observed.contains(ip);
                    if fresh {
                        let pool_ok = c.pools().iter().any(|p| p.allocatable() && p.range_of(*ip).is_some());
                        prop_assert!(pool_ok, "{} newly got {} from a disabled or conflicting pool", k, ip);
                    }
                }
            }
            if matches!(op, Op::Echo) || creation % 2 == 0 {
                echo(&mut c, &ch);
            }
            prop_assert_eq!(c.check_invariants(), Ok(()));
            prop_assert_eq!(allocations_stay_in_selecting_pools(&c), Ok(()));
            // A Service that says satisfied holds what it asked for.
            for (k, d) in &ch.services {
                if let Some(cs) = &d.condition {
                    let s = c.service(k).unwrap();
                    if cs.status == "True" && !s.view.requested_ips.is_empty() {
                        for want in &s.view.requested_ips {
                            prop_assert!(d.ingress.contains(want));
                        }
                    }
                    prop_assert_eq!(cs.status == "True", cs.reason == names::REASON_SATISFIED);
                }
            }
        }
    }

    #[test]
    fn import_of_a_settled_state_is_a_fixed_point(ops in proptest::collection::vec(op(), 1..40)) {
        let mut c = ctl();
        let mut creation = 0;
        let mut pools = BTreeMap::new();
        for op in &ops {
            apply(&mut c, op, &mut creation);
            if let Op::Pool { name, .. } = op {
                pools.insert(*name, creation);
            }
            let ch = c.reconcile();
            echo(&mut c, &ch);
        }
        c.mark_all_dirty();
        // Settle fully, then "restart": a fresh controller fed the same pools and Services.
        for _ in 0..3 {
            let ch = c.reconcile();
            echo(&mut c, &ch);
        }
        let mut d = ctl();
        let mut replay = 0;
        for op in &ops {
            if matches!(op, Op::Pool { .. } | Op::DeletePool(_)) {
                apply(&mut d, op, &mut replay);
            }
        }
        let before: BTreeMap<ServiceKey, Vec<IpAddr>> =
            c.service_keys().map(|k| (k.clone(), c.service(k).unwrap().view.ingress_ips.clone())).collect();
        for k in c.service_keys() {
            d.upsert_service(k.clone(), c.service(k).cloned().unwrap());
        }
        let ch = d.reconcile();
        prop_assert_eq!(echo(&mut d, &ch), 0, "restart wrote something");
        for (k, ips) in before {
            prop_assert_eq!(&d.service(&k).unwrap().view.ingress_ips, &ips);
        }
        prop_assert_eq!(d.check_invariants(), Ok(()));
    }
}
