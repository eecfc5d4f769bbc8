//! `doctor svc/X` and `doctor --all -A` against a lab with 10,000 LoadBalancer Services, 100
//! pools, 50 policies and 2,000 leases (issue 3, "Speed"). Prints wall times and request counts;
//! figures go to docs/benchmarks.md.
//!
//! Run: cargo bench --bench doctor

use std::time::Instant;

use lbctl::cluster::Connection;
use lbctl::lab::{Lab, Scenario};
use serde_json::{json, Value};

const SERVICES: usize = 10_000;
const POOLS: usize = 100;
const POLICIES: usize = 50;
const LEASES: usize = 2_000;

fn objects() -> Vec<Value> {
    let mut o = Scenario::load("doctor-healthy").expect("scenario").objects;
    o.retain(|d| {
        d["kind"] != "Service" && d["kind"] != "Lease" && d["kind"] != "CiliumLoadBalancerIPPool"
    });
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        .to_string();
    for p in 0..POOLS {
        // Pool p owns 10.p.0.0/22 (1,024 addresses) for Services in namespace ns-(p % 10).
        o.push(
            json!({"apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool",
            "metadata": {"name": format!("pool-{p:03}")},
            "spec": {"blocks": [{"cidr": format!("10.{p}.0.0/22")}],
                     "serviceSelector": {"matchLabels": {"pool": format!("p{p:03}")}}}}),
        );
    }
    for p in 0..POLICIES {
        o.push(
            json!({"apiVersion": "cilium.io/v2alpha1", "kind": "CiliumL2AnnouncementPolicy",
            "metadata": {"name": format!("l2-{p:02}")},
            "spec": {"serviceSelector": {"matchLabels": {"policy": format!("l{p:02}")}},
                     "loadBalancerIPs": true, "interfaces": ["^eth0$"]}}),
        );
    }
    for ns in 0..10 {
        o.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("ns-{ns}")}}));
    }
    for i in 0..SERVICES {
        let p = i % POOLS;
        let ip = format!("10.{p}.{}.{}", (i / POOLS) / 256, (i / POOLS) % 256);
        let (ns, name) = (format!("ns-{}", i % 10), format!("svc-{i:05}"));
        o.push(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"pool": format!("p{p:03}"), "policy": format!("l{:02}", i % POLICIES)}},
            "spec": {"type": "LoadBalancer", "selector": {"app": name}, "allocateLoadBalancerNodePorts": false,
                     "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]},
            "status": {"loadBalancer": {"ingress": [{"ip": ip}]},
                       "conditions": [{"type": "cilium.io/IPAMRequestSatisfied", "status": "True",
                                       "reason": "satisfied", "message": "",
                                       "lastTransitionTime": "2025-01-01T00:00:00Z"}]}}));
        if i < LEASES {
            o.push(json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": format!("cilium-l2announce-{ns}-{name}"), "namespace": "kube-system"},
                "spec": {"holderIdentity": "worker-1", "leaseDurationSeconds": 15,
                         "renewTime": now, "leaseTransitions": 0}}));
        }
    }
    o
}

fn main() {
    let t = Instant::now();
    let scenario = Scenario {
        name: "bench".into(),
        objects: objects(),
    };
    let lab = Lab::start("127.0.0.1:0".parse().unwrap(), &[scenario]).expect("lab");
    eprintln!("lab with {SERVICES} Services ready in {:?}", t.elapsed());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let conn = rt.block_on(async {
        Connection {
            client: lab.client().unwrap(),
            context: "lbctl-lab".into(),
            default_namespace: "default".into(),
        }
    });
    let mut one = Vec::new();
    let mut requests = 0;
    for _ in 0..5 {
        lab.clear_requests();
        let t = Instant::now();
        let r = rt
            .block_on(lbctl::doctor::cmd::doctor_one(
                &conn,
                "ns-3",
                "svc-00123",
                "kube-system",
                false,
            ))
            .expect("doctor");
        one.push(t.elapsed());
        requests = lab.requests().len();
        assert!(r.first_failure().is_none(), "{}", r.summary());
    }
    one.sort();
    println!(
        "doctor svc/X: median {:?}, min {:?}, max {:?}, {requests} API requests",
        one[2], one[0], one[4]
    );
    let mut all = Vec::new();
    let mut rows = 0;
    for _ in 0..3 {
        lab.clear_requests();
        let t = Instant::now();
        rows = rt
            .block_on(lbctl::doctor::cmd::summarize_all(
                &conn,
                None,
                "kube-system",
            ))
            .expect("doctor --all")
            .len();
        all.push(t.elapsed());
        requests = lab.requests().len();
    }
    all.sort();
    println!(
        "doctor --all -A: median {:?} for {rows} Services, {requests} API requests",
        all[1]
    );
}
