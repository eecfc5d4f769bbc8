//! Issue #10 §1: doctor's fixes fit the cluster in front of it. Each scenario asserts the fix's
//! content (addresses, labels, commands), not only the failing rung.

use serde_json::Value;

use crate::doctor::{fails_at, finding, passes, Doc};

fn text<'a>(v: &'a Value, check: &str, field: &str) -> &'a str {
    finding(v, check)[field].as_str().unwrap_or_default()
}

/// Out of addresses: the new block is on the nodes' segment, right after the pools already
/// there, past a requested IP, a foreign ingress IP, an external IP and a node's address; never
/// off the LAN.
#[test]
fn capacity_fix_proposes_free_addresses_on_the_nodes_segment() {
    let v = fails_at(
        "doctor-capacity-segment",
        2,
        "capacity",
        &["ippool demo-pool"],
    );
    let fix = text(&v, "capacity", "fix");
    assert!(
        fix.contains("\"start\":\"10.20.30.216\",\"stop\":\"10.20.30.225\""),
        "{fix}"
    );
    assert!(fix.contains("10.20.30.0/24"), "names the segment: {fix}");
    assert!(fix.contains("cp-1 (10.20.30.11)"), "says why: {fix}");
    assert!(!fix.contains("172.16."), "off the LAN: {fix}");
}

/// No pool at all: the proposed pool's block is on the nodes' /24 (192.168.111.0/24 in the
/// scenario), clear of the node addresses and the edges of the segment.
#[test]
fn new_pool_fix_uses_the_nodes_segment() {
    let v = fails_at(
        "doctor-no-pool",
        2,
        "pools-exist",
        &["CiliumLoadBalancerIPPool"],
    );
    let fix = text(&v, "pools-exist", "fix");
    assert!(fix.contains("start: \"192.168.111.240\""), "{fix}");
    assert!(fix.contains("stop: \"192.168.111.249\""), "{fix}");
    assert!(fix.contains("192.168.111.0/24"), "{fix}");
    assert!(!fix.contains("192.0.2."), "no documentation range: {fix}");
}

/// A nodeSelector of `role=worker` on nodes labelled `node-role.kubernetes.io/worker`: the near
/// miss is shown, both fixes name it, and the control-plane node is never proposed.
#[test]
fn node_selector_fix_names_the_near_miss_not_the_control_plane() {
    let v = fails_at(
        "doctor-node-selector-near-miss",
        3,
        "policy-nodes",
        &[
            "kubectl label node worker-1 worker-2 role=worker",
            "\"nodeSelector\":{\"matchLabels\":{\"node-role.kubernetes.io/worker\":\"\"}",
        ],
    );
    let obs = text(&v, "policy-nodes", "observed");
    assert!(
        obs.contains("node-role.kubernetes.io/worker= on worker-1, worker-2"),
        "{obs}"
    );
    let fix = text(&v, "policy-nodes", "fix");
    assert!(!fix.contains("cp-1"), "{fix}");
}

/// The BGP class on a cluster without BGP but with L2 announcements: move to the L2 class (or
/// none) by recreating the Service; never "enable BGP"; later rungs say nothing announces it.
#[test]
fn bgp_class_without_bgp_moves_to_the_l2_class() {
    let v = fails_at(
        "doctor-bgp-class-on-l2",
        0,
        "lb-class",
        &[
            "io.cilium/l2-announcer",
            "kubectl get -n demo svc/demo-web -o yaml > svc.yaml",
            "kubectl replace --force -f svc.yaml",
            "immutable",
        ],
    );
    let fix = text(&v, "lb-class", "fix");
    assert!(!fix.contains("enable-bgp-control-plane"), "{fix}");
    for check in ["l2-policy", "arp-probe", "lease"] {
        let f = finding(&v, check);
        assert_eq!(f["verdict"], "skip", "{check}");
        let obs = f["observed"].as_str().unwrap();
        assert!(!obs.contains("announced over BGP"), "{check}: {obs}");
        assert!(obs.contains("nothing here serves it"), "{check}: {obs}");
    }
}

/// A Service generated for a Gateway: the missing label goes on the Gateway (its controller
/// would undo one on the Service), or the selector changes.
#[test]
fn generated_service_label_goes_on_the_gateway() {
    let v = fails_at(
        "doctor-generated-service",
        2,
        "pool-selection",
        &[
            "kubectl -n demo patch gateway web",
            "\"infrastructure\":{\"labels\":{\"color\":\"blue\"}}",
            "ownerReference Gateway/web",
            "kubectl edit ippool demo-pool",
        ],
    );
    let fix = text(&v, "pool-selection", "fix");
    assert!(!fix.contains("kubectl label -n demo svc/demo-web"), "{fix}");
}

/// Four pools select the Service: which can serve it and why, and no pool picked by name
/// (Cilium tries them in random order).
#[test]
fn several_pools_are_explained_not_picked_by_name() {
    let v = passes("doctor-several-pools", Some("pool-selection"));
    let obs = text(&v, "pool-selection", "observed");
    for line in [
        "pool pool-a: serviceSelector",
        "pool pool-v6: ",
        "not the Service's family",
        "pool pool-off: ",
        "disabled",
        "2 pools can serve it",
    ] {
        assert!(obs.contains(line), "{line}: {obs}");
    }
    let fix = text(&v, "pool-selection", "fix");
    assert!(fix.contains("random order"), "{fix}");
    assert!(fix.contains("pool-a or pool-b"), "{fix}");
    assert!(
        fix.contains("to draw only from pool-a") && fix.contains("to draw only from pool-b"),
        "{fix}"
    );
    assert!(
        !fix.contains("pool-v6") && !fix.contains("pool-off"),
        "{fix}"
    );
}

/// The scenarios load into a lab (a malformed file would fail every test above less clearly).
#[test]
fn fix_scenarios_load() {
    for s in [
        "doctor-capacity-segment",
        "doctor-node-selector-near-miss",
        "doctor-bgp-class-on-l2",
        "doctor-generated-service",
        "doctor-several-pools",
    ] {
        let d = Doc::new(s);
        let (v, _) = d.doctor();
        assert_eq!(v["service"]["name"], "demo-web", "{s}");
    }
}
