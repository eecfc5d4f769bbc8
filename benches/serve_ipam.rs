//! `lbctl serve --ipam` against the lab, against its goals:
//! - 10,000 new Services → all satisfied (goal ≤ 2 s, one status write each);
//! - restart with 10,000 satisfied Services → 0 writes, 0 IPs changed, ready ≤ 1 s;
//! - RSS of serve at 10,000 Services (goal ≤ 64 MiB);
//! - plus the pure controller alone (no API server) for the same 10,000, to separate engine
//!   cost from lab/HTTP cost.
//!
//! Run: `cargo bench --bench serve_ipam` (builds lbctl in release). `SERVE_BENCH_N` changes the
//! number of Services. The lab runs in this process; serve is the real binary, in a process
//! of its own, because its RSS is one of the figures.

#[path = "common.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, PostParams};
use lbctl::ipam::{Controller, EngineConfig, PoolInput, PoolSpec, ServiceInput, ServiceKey};
use lbctl::lab::{Lab, Scenario};
use lbctl::model::pool::{v2, IpBlock};
use serde_json::json;

#[global_allocator]
static GLOBAL: common::Counting = common::Counting;

struct Serve {
    child: Child,
    addr: String,
    /// Holds this serve's debug socket, away from the default path a real serve may use.
    _dir: tempfile::TempDir,
}

impl Serve {
    fn start(kubeconfig: &std::path::Path) -> Serve {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_lbctl"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args([
                "serve",
                "--no-announce",
                "--node-name",
                "bench",
                "--metrics-addr",
                "127.0.0.1:0",
                "--lease-duration",
                "2s",
                "--renew-deadline",
                "1500ms",
                "--retry-period",
                "200ms",
            ])
            .arg("--debug-socket")
            .arg(dir.path().join("debug.sock"))
            .env("LBCTL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("lbctl serve starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut addr = String::new();
        for line in lines.by_ref() {
            let line = line.expect("line");
            if let Some(url) = line.strip_prefix("metrics on http://") {
                addr = url.trim_end_matches("/metrics").to_owned();
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Serve {
            child,
            addr,
            _dir: dir,
        }
    }

    fn metric(&self, name: &str) -> Option<f64> {
        let mut s = TcpStream::connect(&self.addr).ok()?;
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
    }

    fn rss_kib(&self) -> Option<u64> {
        common::rss_kib(self.child.id())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_patches(lab: &Lab) -> usize {
    lab.requests()
        .iter()
        .filter(|r| {
            r.verb() == "patch" && r.path.contains("/services/") && r.path.ends_with("/status")
        })
        .count()
}

fn svc(i: usize) -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": format!("svc-{i:05}"), "namespace": "bench", "labels": {"app": "bench"}},
        "spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false, "selector": {"app": format!("a{i}")},
                 "ports": [{"port": 80, "protocol": "TCP"}]},
    }))
    .expect("service literal")
}

fn pure_controller(n: usize) -> (Duration, usize) {
    let live0 = common::live();
    let mut c = Controller::new(EngineConfig::default());
    let _ = c.upsert_pool(PoolInput {
        spec: PoolSpec {
            name: "bench".into(),
            creation: 1,
            blocks: vec![lbctl::ipam::BlockSpec::cidr("10.128.0.0/16")],
            allow_first_last: None,
            disabled: false,
        },
        selector: None,
        generation: 1,
    });
    let t0 = Instant::now();
    for i in 0..n {
        // Shaped like the lab's Services as converted: one label, one port (the pod selector is
        // kept only for `externalTrafficPolicy: Local`).
        let view = lbctl::ipam::ServiceView {
            namespace: "bench".into(),
            name: format!("svc-{i:05}"),
            is_load_balancer: true,
            labels: BTreeMap::from([("app".to_owned(), "bench".to_owned())]),
            ports: vec![lbctl::ipam::engine::PortView {
                port: 80,
                protocol: "TCP".into(),
            }],
            ..Default::default()
        };
        c.upsert_service(
            ServiceKey::new("bench", view.name.clone()),
            ServiceInput {
                view,
                generation: 1,
                condition: None,
            },
        );
    }
    let changes = c.reconcile();
    let took = t0.elapsed();
    assert_eq!(changes.services.len(), n);
    drop(changes);
    let bytes = common::live() - live0;
    std::hint::black_box(&c);
    (took, bytes)
}

fn main() {
    let n: usize = std::env::var("SERVE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    println!("serve --ipam bench, {n} Services");
    let (took, bytes) = pure_controller(n);
    println!(
        "  pure controller: {n} Services allocated in {took:?}; holds {:.1} MiB ({} B/Service)",
        bytes as f64 / 1_048_576.0,
        bytes / n.max(1)
    );

    let scenario = Scenario::parse(
        "bench",
        "apiVersion: lab.lbctl.io/v1\nkind: Include\nmetadata:\n  name: cilium-crds\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench\n",
    )
    .expect("scenario");
    let lab = Lab::start("127.0.0.1:0".parse().expect("addr"), &[scenario]).expect("lab");
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = dir.path().join("kubeconfig");
    lab.write_kubeconfig(&kc).expect("kubeconfig");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = rt.block_on(async { lab.client().expect("client") });

    let t0 = Instant::now();
    rt.block_on(async {
        let pools: Api<v2::CiliumLoadBalancerIPPool> = Api::all(client.clone());
        let pool = v2::CiliumLoadBalancerIPPool::new(
            "bench",
            v2::CiliumLoadBalancerIPPoolSpec {
                blocks: Some(vec![IpBlock {
                    cidr: Some("10.128.0.0/16".into()),
                    ..IpBlock::default()
                }]),
                ..Default::default()
            },
        );
        pools
            .create(&PostParams::default(), &pool)
            .await
            .expect("pool");
        let api: Api<Service> = Api::namespaced(client.clone(), "bench");
        futures::stream::iter(0..n)
            .map(|i| {
                let api = api.clone();
                async move { api.create(&PostParams::default(), &svc(i)).await }
            })
            .buffer_unordered(8)
            .for_each(|r| async move {
                r.expect("service created");
            })
            .await;
    });
    println!(
        "  setup: {n} pending Services created in the lab in {:?}",
        t0.elapsed()
    );
    lab.clear_requests();

    // 1. Convergence: serve starts with n pending Services.
    let t0 = Instant::now();
    let serve = Serve::start(&kc);
    while status_patches(&lab) < n {
        if t0.elapsed() > Duration::from_secs(120) {
            panic!("not converged: {} writes", status_patches(&lab));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let converged = t0.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let writes = status_patches(&lab);
    let (satisfied, before) = rt.block_on(async {
        let api: Api<Service> = Api::namespaced(client.clone(), "bench");
        let list = api.list(&ListParams::default()).await.expect("list");
        let mut ips = BTreeMap::new();
        let mut ok = 0;
        for s in &list.items {
            let st = s.status.clone().unwrap_or_default();
            if st
                .conditions
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "cilium.io/IPAMRequestSatisfied" && c.status == "True")
            {
                ok += 1;
            }
            let ip = st
                .load_balancer
                .and_then(|l| l.ingress)
                .and_then(|i| i.first().and_then(|i| i.ip.clone()));
            ips.insert(s.metadata.name.clone().unwrap_or_default(), ip);
        }
        (ok, ips)
    });
    let rss = serve.rss_kib().unwrap_or(0);
    println!(
        "  convergence: {satisfied}/{n} satisfied, {writes} status writes, spawn→last write {converged:?}"
    );
    println!(
        "  RSS of serve holding {n} Services: {:.1} MiB",
        rss as f64 / 1024.0
    );
    drop(serve);

    // 2. Restart with n satisfied Services.
    lab.clear_requests();
    let t0 = Instant::now();
    let serve = Serve::start(&kc);
    while serve.metric("lbctl_lbipam_leader") != Some(1.0) {
        if t0.elapsed() > Duration::from_secs(60) {
            panic!("restart never led");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let ready = t0.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let writes = lab
        .requests()
        .iter()
        .filter(|r| r.is_write() && !r.path.contains("/leases"))
        .count();
    let after = rt.block_on(async {
        let api: Api<Service> = Api::namespaced(client.clone(), "bench");
        let list = api.list(&ListParams::default()).await.expect("list");
        list.items
            .iter()
            .map(|s| {
                (
                    s.metadata.name.clone().unwrap_or_default(),
                    s.status
                        .clone()
                        .and_then(|s| s.load_balancer)
                        .and_then(|l| l.ingress)
                        .and_then(|i| i.first().and_then(|i| i.ip.clone())),
                )
            })
            .collect::<BTreeMap<_, _>>()
    });
    let changed = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .count();
    println!(
        "  restart: ready as leader (all imported, first pass done) in {ready:?}; {writes} writes; {changed} IPs changed"
    );
    println!(
        "  RSS of serve after restart: {:.1} MiB",
        serve.rss_kib().unwrap_or(0) as f64 / 1024.0
    );
}
