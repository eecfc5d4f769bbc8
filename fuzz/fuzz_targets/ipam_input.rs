//! Pool blocks and requested-IP annotations: what users write into pools and Services, read by
//! the IPAM engine (block parsing, the pool store, allocation) and by doctor.
#![no_main]

use lbctl::ipam::block::{parse_blocks, BlockSpec};
use lbctl::ipam::engine::{requested_ips, sharing_cross_namespace};
use lbctl::ipam::pool::{PoolSpec, PoolStore};
use libfuzzer_sys::fuzz_target;

fn opt(s: &str) -> Option<String> {
    (s != "~").then(|| s.to_owned())
}

fuzz_target!(|data: &[u8]| {
    // Line 1: the ips annotation; line 2: spec.loadBalancerIP (`~`: unset); line 3: the
    // cross-namespace annotation; then one block per line as `cidr|start|stop` (`~`: unset).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let ann = lines.next().unwrap_or_default();
    let lb_ip = opt(lines.next().unwrap_or("~"));
    let cross = lines.next().unwrap_or_default();
    let blocks: Vec<BlockSpec> = lines
        .take(16)
        .map(|l| {
            let mut f = l.split('|');
            BlockSpec {
                cidr: f.next().and_then(opt),
                start: f.next().and_then(opt),
                stop: f.next().and_then(opt),
            }
        })
        .collect();
    let req = requested_ips(lb_ip.as_deref(), Some(ann));
    let _ = sharing_cross_namespace(Some(cross));

    let parsed = parse_blocks(&blocks);
    let mut store: PoolStore<String> = PoolStore::new();
    let up = store.upsert(PoolSpec {
        name: "a".into(),
        creation: 1,
        blocks: blocks.clone(),
        allow_first_last: None,
        disabled: false,
    });
    assert_eq!(parsed.is_ok(), up.is_ok(), "parse_blocks and the store disagree");
    if let Ok(ranges) = &parsed {
        for r in ranges {
            assert!(r.from <= r.to, "{r:?}");
        }
        // A second pool with the same blocks conflicts with the first (when it has any).
        let _ = store.upsert(PoolSpec {
            name: "b".into(),
            creation: 2,
            blocks,
            allow_first_last: None,
            disabled: false,
        });
        store.settle_conflicts();
        if let Some(p) = store.get_mut("a") {
            let before = p.counts();
            for ip in &req.ips {
                if let Some(r) = p.range_of(*ip) {
                    let _ = p.ranges_mut()[r].alloc(*ip, "svc".to_owned());
                }
            }
            let after = p.counts();
            assert!(after.used >= before.used);
            assert!(after.used <= after.total, "{after:?}");
            let _ = p.ranges_mut().first_mut().map(|r| r.alloc_any("any".into()));
        }
    }

    // Doctor on a Service asking for these IPs from a pool made of these blocks.
    let blocks_json: Vec<serde_json::Value> = text
        .split('\n')
        .skip(3)
        .take(16)
        .map(|l| {
            let mut f = l.split('|');
            serde_json::json!({"cidr": f.next(), "start": f.next(), "stop": f.next()})
        })
        .collect();
    let pool = serde_json::json!({
        "metadata": {"name": "p", "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {"blocks": blocks_json},
    });
    let svc = serde_json::json!({
        "metadata": {"name": "s", "namespace": "n", "annotations": {
            "lbipam.cilium.io/ips": ann,
            "lbipam.cilium.io/sharing-cross-namespace": cross,
            "lbipam.cilium.io/sharing-key": "k",
        }},
        "spec": {"type": "LoadBalancer", "loadBalancerIP": lb_ip, "ports": [{"port": 80}]},
        "status": {"loadBalancer": {"ingress": req.ips.iter().map(|ip| serde_json::json!({"ip": ip.to_string()})).collect::<Vec<_>>()}},
    });
    let snap = lbctl::doctor::Snapshot {
        pools: Some(vec![pool]),
        policies: Some(vec![]),
        services: vec![svc.clone()],
        ..Default::default()
    };
    let report = lbctl::doctor::Cluster::new(&snap).diagnose(&svc);
    let _ = report.summary();
});
