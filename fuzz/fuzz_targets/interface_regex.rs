//! Interface regexes of an L2 announcement policy, as the announcer evaluates them against this
//! node's devices (and as doctor reads them).
#![no_main]

use std::collections::BTreeMap;

use lbctl::l2::policy::{evaluate, Device};
use lbctl::model::policy::CiliumL2AnnouncementPolicySpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Lines: the first is a device name list (`,`-separated), the rest are patterns.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let devices: Vec<Device> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .enumerate()
        .map(|(i, n)| Device {
            name: n.to_owned(),
            selected: i % 3 != 2,
            link_down: i % 3 == 2,
        })
        .collect();
    let patterns: Vec<String> = lines.map(str::to_owned).collect();
    let spec = CiliumL2AnnouncementPolicySpec {
        interfaces: Some(patterns.clone()),
        load_balancer_ips: Some(true),
        ..Default::default()
    };
    let e = evaluate("fuzz", &spec, &BTreeMap::new(), &devices);
    match (&e.active, &e.errors.interface_regex) {
        (Some(a), None) => {
            for d in &a.devices {
                assert!(devices.iter().any(|x| &x.name == d && x.selected));
            }
        }
        (None, Some(msg)) => assert!(!msg.is_empty()),
        other => panic!("neither active nor a regex error: {other:?}"),
    }
    // Doctor reads the same policy from raw JSON.
    let raw = serde_json::json!({
        "apiVersion": "cilium.io/v2alpha1",
        "kind": "CiliumL2AnnouncementPolicy",
        "metadata": {"name": "fuzz"},
        "spec": {"interfaces": patterns, "loadBalancerIPs": true},
    });
    let snap = lbctl::doctor::Snapshot {
        policies: Some(vec![raw]),
        pools: Some(vec![]),
        ..Default::default()
    };
    let c = lbctl::doctor::Cluster::new(&snap);
    assert_eq!(c.policies.len(), 1);
    assert_eq!(
        c.policies[0].regex_errors.is_empty(),
        e.errors.interface_regex.is_none(),
        "doctor and the announcer disagree on {patterns:?}"
    );
});
